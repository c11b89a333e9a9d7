#!/usr/bin/env python3
"""A hostile IMAP server for the watcher's hostile soak
(tests/bench/watch_bench.py), written from RFC 3501 (IMAP4rev1) and
RFC 2177 (IDLE).

One thread serves every connection (non-blocking sockets and a selector).
It answers the commands a watcher and its plugin send (CAPABILITY, LOGIN,
SELECT/EXAMINE, STATUS, [UID] SEARCH, [UID] FETCH, IDLE, NOOP, LOGOUT...)
from one INBOX per user, which gains a UID every `tick` seconds (announced
as `* N EXISTS` to sessions in IDLE), so plugin calls happen on hostile
sessions too. Each connection takes the next behaviour of a cycle:

- flood: every SELECT is followed by a burst of untagged responses of
  distinct types (letters only: imaplib's type is `[A-Z-]+`); every second
  flood connection instead sends, after its first SELECT, one very long
  flood (many lines of one type, more than the watcher's untagged bound);
  otherwise the session is honest.
- stall: LOGIN is answered, then nothing more (the connection stays open
  and what the client sends is read and dropped).
- echo: honest, except that every FETCH's ENVELOPE has the user's
  password in its Message-ID.
- literal: after SELECT's tagged OK, an untagged FETCH announcing a
  literal of 1 GiB, then its bytes as fast as the client takes them, until
  it goes away.

A connection is ended with a BYE after `lifetime` seconds, so that
every account meets every behaviour. Everything is bounded: at most `max_connections` connections, a client's
command line at most 1 MiB, and the server stops at `limit` seconds, at
`stop()`, or (run as a program) when its stdin closes.

As a program: `hostile_imap.py LIMIT_SECONDS USER=PASSWORD...` prints
`port N`, serves until its stdin closes or the limit, then prints a JSON
object of counts (connections by behaviour, echoes sent, bytes sent...).
"""

import json
import os
import re
import selectors
import socket
import sys
import threading
import time

BEHAVIOURS = ("flood", "stall", "echo", "literal")
UIDVALIDITY = 77
# A line from the client longer than this ends its connection.
MAX_LINE = 1 << 20
CHUNK = 64 * 1024
LITERAL_LINE = re.compile(rb"\{(\d+)(\+?)\}\r?\n$")


def letters(n):
    """`n` in base 26 as letters (A, B, ... BA): distinct type names."""
    out = []
    while True:
        out.append(chr(ord("A") + n % 26))
        n //= 26
        if n == 0:
            return "".join(reversed(out))


def words(b):
    """The words of a command line: atoms, quoted strings (unquoted) and
    literals (their bytes), as bytes."""
    out, i = [], 0
    while i < len(b):
        c = b[i:i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c == b'"':
            j, s = i + 1, bytearray()
            while j < len(b) and b[j:j + 1] != b'"':
                if b[j:j + 1] == b"\\":
                    j += 1
                s += b[j:j + 1]
                j += 1
            out.append(bytes(s))
            i = j + 1
        elif c == b"{" and (m := re.match(rb"\{(\d+)\+?\}\r\n", b[i:])):
            start = i + m.end()
            out.append(b[start:start + int(m.group(1))])
            i = start + int(m.group(1))
        else:
            j = i
            while j < len(b) and b[j:j + 1] not in (b" ", b"\r", b"\n"):
                j += 1
            out.append(b[i:j])
            i = j
    return out


def in_set(text, values):
    """The members of `values` (ascending) in the sequence set `text`
    (`1:*`, `4`, `2,5:7`); `*` is the largest value."""
    top = values[-1] if values else 0

    def bound(s):
        return top if s == "*" else int(s)

    found = set()
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        try:
            lo, hi = bound(lo), bound(hi or lo)
        except ValueError:
            continue
        lo, hi = min(lo, hi), max(lo, hi)
        found.update(v for v in values if lo <= v <= hi)
    return sorted(found)


class Conn:
    """One client connection and where its session is."""

    def __init__(self, sock, behaviour, variant):
        self.sock = sock
        self.behaviour = behaviour
        # flood: True for the very long flood, False for distinct types.
        self.variant = variant
        self.inbuf = bytearray()
        self.command = bytearray()
        self.literal_left = 0
        self.out = bytearray()
        self.stream = None
        self.user = None
        self.selected = False
        self.selects = 0
        self.stalled = False
        self.idle_tag = None
        self.known = 0
        self.closing = False
        self.opened = time.monotonic()


class HostileImap:
    """The server; `start()` serves on 127.0.0.1 (`self.port`) in a
    thread until `stop()` or `limit` seconds."""

    def __init__(self, passwords, limit, tick=1.0, lifetime=15.0, distinct_types=100_000,
                 long_flood_bytes=96 << 20, literal_size=1 << 30, max_connections=10_000):
        self.passwords = dict(passwords)
        self.mailboxes = {u: [1, 2, 3] for u in self.passwords}
        self.limit, self.tick, self.lifetime = limit, tick, lifetime
        self.distinct = b"".join(f"* X{letters(i)} flood\r\n".encode() for i in range(distinct_types))
        self.long_flood_bytes = long_flood_bytes
        self.literal_size = literal_size
        self.max_connections = max_connections
        self.counts = {b: 0 for b in BEHAVIOURS}
        self.counts.update({"long-floods": 0, "distinct-floods": 0, "echoes": 0, "literal-bytes": 0,
                            "flood-bytes": 0, "fetches": 0, "uids-added": 0, "refused": 0, "byes": 0})
        self.accepted = 0
        self.sel = selectors.DefaultSelector()
        self.conns = {}
        self._stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.thread = None

    def start(self, stop_fd=None):
        """Serves in a thread; a readable `stop_fd` that reads nothing (a
        closed pipe) stops it too."""
        self.sel.register(self.listener, selectors.EVENT_READ, "listen")
        if stop_fd is not None:
            self.sel.register(stop_fd, selectors.EVENT_READ, "stop")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def stop(self):
        self._stop.set()
        if self.thread:
            self.thread.join(10)

    def _serve(self):
        end = time.monotonic() + self.limit
        next_tick = time.monotonic() + self.tick
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                for key, events in self.sel.select(0.05):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "stop":
                        if not os.read(key.fd, 4096):
                            self._stop.set()
                    else:
                        self._ready(key.data, events)
                if time.monotonic() >= next_tick:
                    next_tick += self.tick
                    self._grow()
        finally:
            for c in list(self.conns.values()):
                self._close(c)
            self.sel.close()
            self.listener.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            if self.accepted >= self.max_connections:
                self.counts["refused"] += 1
                sock.close()
                continue
            behaviour = BEHAVIOURS[self.accepted % len(BEHAVIOURS)]
            self.accepted += 1
            self.counts[behaviour] += 1
            variant = behaviour == "flood" and self.counts["flood"] % 2 == 0
            sock.setblocking(False)
            c = Conn(sock, behaviour, variant)
            self.conns[sock.fileno()] = c
            self.sel.register(sock, selectors.EVENT_READ, c)
            self._send(c, b"* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] hostile IMAP ready\r\n")

    def _close(self, c):
        if self.conns.pop(c.sock.fileno(), None) is not None:
            self.sel.unregister(c.sock)
            c.sock.close()

    def _want(self, c):
        """Watches `c` for writing only while it has something to send."""
        events = selectors.EVENT_READ
        if c.out or c.stream:
            events |= selectors.EVENT_WRITE
        self.sel.modify(c.sock, events, c)

    def _send(self, c, data):
        c.out += data
        self._want(c)

    def _ready(self, c, events):
        if events & selectors.EVENT_READ:
            try:
                data = c.sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._close(c)
                return
            if data and not c.stalled:
                c.inbuf += data
                self._commands(c)
                if c.sock.fileno() not in self.conns:
                    return
        if events & selectors.EVENT_WRITE:
            self._flush(c)

    def _flush(self, c):
        # A client that reads as fast as a stream is made must not keep
        # the one thread from the other connections.
        budget = 4 << 20
        while budget > 0:
            if not c.out and c.stream:
                try:
                    c.out += next(c.stream)
                except StopIteration:
                    c.stream = None
                    # What the client sent meanwhile is answered now.
                    self._commands(c)
                    if c.sock.fileno() not in self.conns:
                        return
            if not c.out:
                break
            try:
                n = c.sock.send(c.out[:CHUNK * 4])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(c)
                return
            del c.out[:n]
            budget -= n
        if c.closing and not c.out:
            self._close(c)
            return
        self._want(c)

    def _commands(self, c):
        """Answers every complete command in `c.inbuf` (none while a
        stream is being sent: responses are in order)."""
        while not c.stream and not c.stalled and not c.closing:
            if c.literal_left:
                if len(c.inbuf) < c.literal_left:
                    return
                c.command += c.inbuf[:c.literal_left]
                del c.inbuf[:c.literal_left]
                c.literal_left = 0
                continue
            i = c.inbuf.find(b"\n")
            if i < 0:
                if len(c.inbuf) + len(c.command) > MAX_LINE:
                    self._close(c)
                return
            line = bytes(c.inbuf[:i + 1])
            del c.inbuf[:i + 1]
            c.command += line
            m = LITERAL_LINE.search(line)
            if m:
                c.literal_left = int(m.group(1))
                if c.literal_left + len(c.command) > MAX_LINE:
                    self._close(c)
                    return
                if not m.group(2):
                    self._send(c, b"+ go ahead\r\n")
                continue
            command, c.command = bytes(c.command), bytearray()
            self._answer(c, command)
            if c.sock.fileno() not in self.conns:
                return

    def _grow(self):
        """Every user's INBOX gains a UID; sessions in IDLE are told.
        Connections older than `lifetime` are ended with a BYE, so that
        every account's sessions go on taking turns through the cycle."""
        for user, uids in self.mailboxes.items():
            uids.append(uids[-1] + 1)
            self.counts["uids-added"] += 1
        now = time.monotonic()
        for c in list(self.conns.values()):
            if now - c.opened > self.lifetime and not c.closing:
                self.counts["byes"] += 1
                c.closing = True
                c.stream = None
                self._send(c, b"* BYE that will do\r\n")
            elif c.idle_tag and c.user in self.mailboxes and not c.stalled:
                now = len(self.mailboxes[c.user])
                if now != c.known:
                    c.known = now
                    self._send(c, f"* {now} EXISTS\r\n".encode())

    def _answer(self, c, line):
        if c.idle_tag is not None:
            if line.strip().upper() == b"DONE":
                tag, c.idle_tag = c.idle_tag, None
                self._send(c, tag + b" OK IDLE done\r\n")
            else:
                self._send(c, b"* BAD expected DONE\r\n")
            return
        w = words(line)
        if len(w) < 2:
            self._send(c, b"* BAD no command\r\n")
            return
        tag, name, args = w[0], w[1].upper(), w[2:]
        by_uid = name == b"UID"
        if by_uid and args:
            name, args = args[0].upper(), args[1:]
        uids = self.mailboxes.get(c.user, [])
        if name == b"CAPABILITY":
            self._send(c, b"* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n" + tag + b" OK done\r\n")
        elif name == b"LOGIN" and len(args) >= 2:
            user = args[0].decode(errors="replace")
            if user not in self.passwords:
                self._send(c, tag + b" NO no such user\r\n")
                return
            c.user = user
            self._send(c, tag + b" OK logged in\r\n")
            if c.behaviour == "stall":
                c.stalled = True
        elif name in (b"SELECT", b"EXAMINE") and c.user:
            c.selected = True
            c.selects += 1
            c.known = len(uids)
            self._send(c, (f"* {len(uids)} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n"
                           f"* OK [UIDVALIDITY {UIDVALIDITY}] ok\r\n* OK [UIDNEXT {uids[-1] + 1}] ok\r\n"
                           ).encode() + tag + b" OK [READ-WRITE] selected\r\n")
            self._after_select(c)
        elif name == b"STATUS" and c.user:
            self._send(c, (f"* STATUS INBOX (MESSAGES {len(uids)} UIDVALIDITY {UIDVALIDITY} "
                           f"UIDNEXT {uids[-1] + 1})\r\n").encode() + tag + b" OK done\r\n")
        elif name == b"SEARCH" and c.selected:
            text = [a.decode(errors="replace") for a in args]
            found = uids
            if "UID" in (t.upper() for t in text):
                i = [t.upper() for t in text].index("UID")
                if i + 1 < len(text):
                    found = in_set(text[i + 1], uids)
            if not by_uid:
                found = [uids.index(u) + 1 for u in found]
            self._send(c, b"* SEARCH " + " ".join(map(str, found)).encode() + b"\r\n" + tag + b" OK done\r\n")
        elif name == b"FETCH" and c.selected and args:
            self._fetch(c, tag, by_uid, args[0].decode(errors="replace"))
        elif name == b"IDLE" and c.selected:
            c.idle_tag = tag
            c.known = len(uids)
            self._send(c, b"+ idling\r\n")
        elif name == b"LOGOUT":
            c.closing = True
            self._send(c, b"* BYE bye\r\n" + tag + b" OK done\r\n")
        elif name == b"NOOP" or name == b"CHECK":
            grown = b""
            if c.selected and len(uids) != c.known:
                c.known = len(uids)
                grown = f"* {c.known} EXISTS\r\n".encode()
            self._send(c, grown + tag + b" OK done\r\n")
        elif name in (b"CLOSE", b"UNSELECT", b"EXPUNGE", b"ENABLE"):
            if name in (b"CLOSE", b"UNSELECT"):
                c.selected = False
            self._send(c, tag + b" OK done\r\n")
        else:
            self._send(c, tag + b" BAD unknown command or wrong state\r\n")

    def _after_select(self, c):
        if c.behaviour == "flood":
            if c.variant and c.selects == 1:
                self.counts["long-floods"] += 1
                c.stream = self._long_flood()
            elif not c.variant:
                self.counts["distinct-floods"] += 1
                self.counts["flood-bytes"] += len(self.distinct)
                self._send(c, self.distinct)
        elif c.behaviour == "literal":
            c.stream = self._literal(c)
            self._want(c)

    def _long_flood(self):
        line = b"* XFLOOD " + b"f" * 1013 + b"\r\n"
        chunk = line * 1024
        sent = 0
        while sent < self.long_flood_bytes:
            sent += len(chunk)
            self.counts["flood-bytes"] += len(chunk)
            yield chunk

    def _literal(self, c):
        yield f"* 1 FETCH (BODY[] {{{self.literal_size}}}\r\n".encode()
        chunk = b"x" * CHUNK
        sent = 0
        while sent < self.literal_size:
            n = min(CHUNK, self.literal_size - sent)
            sent += n
            self.counts["literal-bytes"] += n
            yield chunk[:n]
        # The literal never gets its closing parenthesis: the server is done.
        c.closing = True

    def _fetch(self, c, tag, by_uid, text):
        uids = self.mailboxes[c.user]
        if by_uid:
            wanted = in_set(text, uids)
        else:
            wanted = [uids[s - 1] for s in in_set(text, list(range(1, len(uids) + 1)))]
        self.counts["fetches"] += 1
        r = bytearray()
        for u in wanted:
            if c.behaviour == "echo":
                self.counts["echoes"] += 1
                mid = f"<{self.passwords[c.user]}@hostile>"
            else:
                mid = f"<h{u}@hostile>"
            r += (f'* {uids.index(u) + 1} FETCH (UID {u} FLAGS (\\Seen) ENVELOPE (NIL "hostile {u}" '
                  f'NIL NIL NIL NIL NIL NIL NIL "{mid}"))\r\n').encode()
        self._send(c, bytes(r) + tag + b" OK done\r\n")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: hostile_imap.py LIMIT_SECONDS USER=PASSWORD...")
    passwords = dict(a.split("=", 1) for a in sys.argv[2:])
    server = HostileImap(passwords, float(sys.argv[1]))
    server.start(stop_fd=sys.stdin.fileno())
    print(f"port {server.port}", flush=True)
    server.thread.join()
    counts = dict(server.counts, connections=server.accepted)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
