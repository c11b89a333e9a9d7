"""`report`: a per-mailbox size report, as a wasimap plugin written in Python.

Logs in, lists the mailboxes (or takes the one given), opens each read-only
and fetches every message's size and From header in one FETCH, then prints
one table per mailbox: message count, total bytes and the top senders.

    wasimap run --allow 127.0.0.1:143 report.wasm \\
        --host 127.0.0.1 --port 143 --user alice --password secret \\
        [--mailbox INBOX] [--top 5]

Output (sizes are the server's RFC822.SIZE, i.e. with CRLF line endings)::

    INBOX: 3 message(s), 312 bytes
      SENDER                                MESSAGES      BYTES
      boss@example.org                             2        208
      other@example.org                            1        104

    TOTAL: 3 message(s), 312 bytes in 1 mailbox(es)

Built with componentize-py against the WIT world `wasimap:imap/plugin`
(`just build-python`). The session is imaplib's: `Imap4` methods return a
`Response(typ, data)` whose data items are `DataItem_Bytes` (a line),
`DataItem_Literal` (imaplib's `(header, literal)` tuple) or
`DataItem_None_`, and failures raise `Err(ImapError_*)`. `run` reports its
own failures by raising `Err(message)`, which the host prints before
exiting 1.
"""

from __future__ import annotations

import base64
import encodings.utf_16_be  # noqa: F401  (see below)
import re
import sys
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Iterator, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports.client import Imap4
from wit_world.imports.types import (
    DataItem,
    DataItem_Bytes,
    DataItem_Literal,
    ImapError_Abort,
    ImapError_Readonly,
    Response,
)

USAGE = (
    "usage: report --user USER --password PASS [--host H] [--port P] "
    "[--mailbox M] [--top N]"
)

#: What is fetched for every message.
FETCH_ITEMS = "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM)])"

# componentize-py snapshots the interpreter after importing this module:
# a module first imported at run time (as codecs are, by name, on first use)
# is not in the component and fails with `LookupError: unknown encoding`.
# Hence the explicit `encodings.utf_16_be` import above, for modified UTF-7.

#: Seconds for the connect and for every read.
TIMEOUT = 60.0


class ReportError(Exception):
    """A failure to report to the user: becomes `run`'s `err`."""


# ------------------------------------------------------------------ options


@dataclass
class Options:
    """The plugin's command line."""

    host: str = "127.0.0.1"
    port: int = 143
    user: str = ""
    password: str = ""
    mailbox: Optional[str] = None  # None: every selectable mailbox
    top: int = 5


def parse_args(args: List[str]) -> Options:
    """Parses `--flag value` pairs; raises ReportError on bad usage."""
    o = Options()
    it = iter(args)
    for flag in it:
        value = next(it, None)
        if value is None:
            raise ReportError(f"{flag} needs a value\n{USAGE}")
        if flag == "--host":
            o.host = value
        elif flag in ("--port", "--top"):
            if not value.isdigit():
                raise ReportError(f"{flag} takes a number, not {value!r}")
            setattr(o, flag[2:], int(value))
        elif flag == "--user":
            o.user = value
        elif flag == "--password":
            o.password = value
        elif flag == "--mailbox":
            o.mailbox = value
        else:
            raise ReportError(f"unknown option {flag}\n{USAGE}")
    if not o.user:
        raise ReportError(USAGE)
    return o


# ------------------------------------------------------- talking to imaplib


def call(what: str, method, *args) -> Response:
    """Calls an `Imap4` method, turning imaplib's exceptions into
    ReportError and a non-OK status (imaplib returns `NO`) likewise."""
    try:
        r = method(*args)
    except Err as e:
        kind = {
            ImapError_Abort: "IMAP connection aborted",
            ImapError_Readonly: "mailbox became read-only",
        }.get(type(e.value), "IMAP error")
        raise ReportError(f"{what}: {kind}: {e.value.value}") from None
    if r.typ != "OK":
        text = line(r.data[0]).decode("utf-8", "replace") if r.data else ""
        raise ReportError(f"{what} failed: {r.typ} {text}")
    return r


def line(item: DataItem) -> bytes:
    """The response line of a data item (a literal's header line)."""
    if isinstance(item, DataItem_Bytes):
        return item.value
    if isinstance(item, DataItem_Literal):
        return item.value[0]
    return b""


# ------------------------------------------------------------------- LIST


def unquote(s: bytes) -> bytes:
    """Undoes RFC 3501 quoting of `"..."`."""
    return re.sub(rb"\\(.)", rb"\1", s[1:-1])


_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?:"(?:[^"\\]|\\.)*"|NIL)\s*(?P<name>.*)$', re.I)


def mailboxes(data: List[DataItem]) -> Iterator[Tuple[str, bool]]:
    """`(name, selectable)` for each LIST line `(\\Flags) "/" name`, the
    name an atom, a quoted string, or the literal of a `(header, literal)`."""
    for item in data:
        header = line(item)
        m = _LIST_LINE.match(header)
        if not m:
            continue
        if isinstance(item, DataItem_Literal):
            name = item.value[1]
        else:
            name = m.group("name").strip()
            if name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2:
                name = unquote(name)
        selectable = b"\\noselect" not in m.group("flags").lower()
        yield name.decode("utf-8", "replace"), selectable


def display_name(name: str) -> str:
    """Decodes RFC 3501 modified UTF-7 (`&AOk-t&AOk-` -> `été`) for printing;
    the raw name is what goes back to the server."""

    def decode(m: re.Match) -> str:
        b64 = m.group(1)
        if not b64:
            return "&"
        raw = b64.replace(",", "/")
        raw += "=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw).decode("utf-16-be")
        except ValueError:
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


# ------------------------------------------------------------------ FETCH


@dataclass
class Message:
    """What one FETCH response said about a message."""

    size: int
    sender: str


_MESSAGE_START = re.compile(rb"^\d+ \(")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)", re.I)


def messages(data: List[DataItem]) -> Iterator[Message]:
    """Groups imaplib's FETCH data into messages.

    A message starts with a `b'N (...'` line, or with a `(header, literal)`
    tuple whose header is that line; the lines after a literal (`b')'`, or
    `b' RFC822.SIZE 123)'` when the server put the size last) belong to it.
    Unsolicited FETCH responses (flag updates) are skipped.
    """
    text: Optional[bytes] = None
    header = b""

    def done() -> Optional[Message]:
        # A FETCH without RFC822.SIZE is unsolicited (another session
        # changed flags meanwhile): not an answer to ours.
        m = _SIZE.search(text) if text is not None else None
        return Message(int(m.group(1)), sender(header)) if m else None

    for item in data:
        if isinstance(item, DataItem_Literal):
            starts = True
            head, literal = item.value
        elif isinstance(item, DataItem_Bytes):
            head, literal = item.value, None
            starts = bool(_MESSAGE_START.match(head))
        else:
            continue
        if starts:
            msg = done()
            if msg:
                yield msg
            text, header = head, b""
        elif text is None:
            continue
        else:
            text += b" " + head
        if literal is not None:
            header += literal
    msg = done()
    if msg:
        yield msg


def sender(header: bytes) -> str:
    """The (lower-cased) address of a `From:` header block, `(none)` if
    there is none; RFC 2047 encoded words are decoded."""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", header).decode("utf-8", "replace")
    for l in unfolded.splitlines():
        name, _, value = l.partition(":")
        if name.strip().lower() == "from":
            try:
                value = str(make_header(decode_header(value)))
            except Exception:  # malformed encoded words: keep them as they are
                pass
            addresses = [a for _, a in getaddresses([value]) if a]
            if addresses:
                return addresses[0].lower()
            return value.strip() or "(none)"
    return "(none)"


# ----------------------------------------------------------------- report


@dataclass
class Stats:
    """Messages and bytes, for a mailbox or a sender."""

    messages: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.messages += 1
        self.bytes += size


@dataclass
class MailboxReport:
    """One mailbox: its totals and a `Stats` per sender."""

    name: str
    total: Stats = field(default_factory=Stats)
    senders: dict = field(default_factory=dict)

    def add(self, msg: Message) -> None:
        self.total.add(msg.size)
        self.senders.setdefault(msg.sender, Stats()).add(msg.size)

    def top(self, n: int) -> List[Tuple[str, Stats]]:
        """Senders by messages, then bytes (both descending), then address."""
        ranked = sorted(self.senders.items(), key=lambda kv: (-kv[1].messages, -kv[1].bytes, kv[0]))
        return ranked[:n]

    def write(self, top: int, out=sys.stdout) -> None:
        print(f"{display_name(self.name)}: {self.total.messages} message(s), {self.total.bytes} bytes", file=out)
        if self.senders:
            print(f"  {'SENDER':<36} {'MESSAGES':>9} {'BYTES':>10}", file=out)
            for address, s in self.top(top):
                print(f"  {address:<36} {s.messages:>9} {s.bytes:>10}", file=out)
        print(file=out)


def report_mailbox(imap: Imap4, name: str) -> MailboxReport:
    """EXAMINEs `name` and fetches size and sender of every message."""
    r = MailboxReport(name)
    selected = call(f"EXAMINE {name}", imap.select, name, True)
    exists = int(line(selected.data[0]) or b"0") if selected.data else 0
    if exists:
        fetched = call(f"FETCH in {name}", imap.fetch, "1:*", FETCH_ITEMS)
        for msg in messages(fetched.data):
            r.add(msg)
    call(f"CLOSE {name}", imap.close)
    return r


def report(o: Options, out=sys.stdout) -> None:
    """The whole job: connect, log in, report each mailbox, log out."""
    try:
        imap = Imap4.open_tcp(o.host, o.port, TIMEOUT)
    except Err as e:
        raise ReportError(f"connecting to {o.host}:{o.port}: {e.value.value}") from None
    # Leaving the `with` drops the resource: the connection closes even when
    # a step fails.
    with imap:
        call("LOGIN", imap.login, o.user, o.password)
        if o.mailbox is not None:
            names = [o.mailbox]
        else:
            listed = call("LIST", imap.list, None, None)
            names = [n for n, selectable in mailboxes(listed.data) if selectable]
            # INBOX first, the others by name: the same order on every server.
            names.sort(key=lambda n: (n.upper() != "INBOX", n))
        total, count = Stats(), 0
        for name in names:
            r = report_mailbox(imap, name)
            r.write(o.top, out)
            total.messages += r.total.messages
            total.bytes += r.total.bytes
            count += 1
        print(f"TOTAL: {total.messages} message(s), {total.bytes} bytes in {count} mailbox(es)", file=out)
        try:
            imap.logout()
        except Err:
            pass  # the report is out; a failed LOGOUT changes nothing


class WitWorld(wit_world.WitWorld):
    """The plugin's export: `run(args) -> result<_, string>`."""

    def run(self, args: List[str]) -> None:
        try:
            report(parse_args(args))
        except ReportError as e:
            raise Err(str(e))
        finally:
            sys.stdout.flush()
