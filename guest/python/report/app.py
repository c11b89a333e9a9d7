"""`report`: a per-mailbox size report, as a wasimap plugin written in Python.

Logs in, lists the mailboxes (or takes the one given), opens each read-only
and streams every message's size and envelope in one FETCH, then prints
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
`Response(typ, data)` and failures raise `Err(ImapError_*)`. The protocol
component also does the parsing: `typed.parse_list` turns LIST data into
entries, `fetch_stream` yields one parsed `FetchMessage` at a time and
`typed.mutf7_decode` gives a mailbox name's text. `run` reports its own
failures by raising `Err(message)`, which the host prints before exiting 1.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import typed
from wit_world.imports.client import Imap4
from wit_world.imports.typed import FetchMessage
from wit_world.imports.types import (
    DataItem_Bytes,
    DataItem_Literal,
    ErrorKind,
    ImapError_Abort,
    ImapError_Readonly,
    Response,
)

USAGE = (
    "usage: report --user USER --password PASS [--host H] [--port P] "
    "[--mailbox M] [--top N]"
)

#: What is fetched for every message.
FETCH_ITEMS = "(RFC822.SIZE ENVELOPE)"

#: The sender of a message whose From has no address.
NO_SENDER = "(none)"

#: LIST attributes of a mailbox that cannot be opened (RFC 3501, RFC 5258).
UNSELECTABLE = {"\\noselect", "\\nonexistent"}

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


@contextmanager
def imap_errors(what: str) -> Iterator[None]:
    """Turns imaplib's exceptions raised inside the block into ReportError."""
    try:
        yield
    except Err as e:
        kind = {
            ImapError_Abort: "IMAP connection aborted",
            ImapError_Readonly: "mailbox became read-only",
        }.get(type(e.value), "IMAP error")
        raise ReportError(f"{what}: {kind}: {e.value.value.message}") from None


def call(what: str, method, *args) -> Response:
    """Calls an `Imap4` method; imaplib's exceptions and a non-OK status
    (imaplib returns `NO`) become ReportError."""
    with imap_errors(what):
        r = method(*args)
    if r.typ != "OK":
        text = first_line(r).decode("utf-8", "replace")
        raise ReportError(f"{what} failed: {r.typ} {text}")
    return r


def first_line(r: Response) -> bytes:
    """The first line of a response's data (a literal's header line)."""
    item = r.data[0] if r.data else None
    if isinstance(item, DataItem_Bytes):
        return item.value
    if isinstance(item, DataItem_Literal):
        return item.value[0]
    return b""


def display_name(name: str) -> str:
    """A mailbox name as sent (modified UTF-7, `B&APw-ro`) as text (`Büro`),
    for printing; the raw name is what goes back to the server."""
    try:
        return typed.mutf7_decode(name)
    except Err:
        return name  # not modified UTF-7 after all: show it as sent


def sender(msg: FetchMessage) -> str:
    """The (lower-cased) address of the message's first From address,
    NO_SENDER when it has none (a group marker is no address)."""
    addresses = msg.envelope.from_ if msg.envelope else []
    for a in addresses:
        if a.mailbox and a.host:
            return b"@".join((a.mailbox, a.host)).decode("utf-8", "replace").lower()
    return NO_SENDER


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
    senders: Dict[str, Stats] = field(default_factory=dict)

    def add(self, msg: FetchMessage) -> None:
        self.total.add(msg.size)
        self.senders.setdefault(sender(msg), Stats()).add(msg.size)

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


def selectable_mailboxes(imap: Imap4) -> List[str]:
    """The names (as sent) of every mailbox LIST shows that can be opened,
    INBOX first and the others by name: the same order on every server."""
    listed = call("LIST", imap.list, None, None)
    with imap_errors("LIST"):
        entries = typed.parse_list(listed.data)
    names = [e.name for e in entries if not UNSELECTABLE & {a.lower() for a in e.attributes}]
    return sorted(names, key=lambda n: (n.upper() != "INBOX", n))


def report_mailbox(imap: Imap4, name: str) -> MailboxReport:
    """EXAMINEs `name` and streams size and sender of every message."""
    r = MailboxReport(name)
    selected = call(f"EXAMINE {name}", imap.select, name, True)
    if int(first_line(selected) or b"0"):  # FETCH 1:* fails on an empty mailbox
        with imap_errors(f"FETCH in {name}"), imap.fetch_stream("1:*", FETCH_ITEMS, False) as stream:
            for msg in iter(stream.next, None):
                # Without a size it is not an answer to ours but an
                # unsolicited FETCH (another session changed flags).
                if msg.size is not None:
                    r.add(msg)
    call(f"CLOSE {name}", imap.close)
    return r


def report(o: Options, out=sys.stdout) -> None:
    """The whole job: connect, log in, report each mailbox, log out."""
    try:
        imap = Imap4.open_tcp(o.host, o.port, TIMEOUT)
    except Err as e:
        detail = e.value.value
        # The kind, not the message, says whether a hint can help: a
        # denial names its grant already; nobody answering is worth a hint.
        hint = ""
        if detail.kind in (ErrorKind.REFUSED, ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT):
            hint = " (is the server running, and are --host and --port right?)"
        raise ReportError(f"connecting to {o.host}:{o.port}: {detail.message}{hint}") from None
    # Leaving the `with` drops the resource: the connection closes even when
    # a step fails.
    with imap:
        call("LOGIN", imap.login, o.user, o.password)
        names = [o.mailbox] if o.mailbox is not None else selectable_mailboxes(imap)
        total = Stats()
        for name in names:
            r = report_mailbox(imap, name)
            r.write(o.top, out)
            total.messages += r.total.messages
            total.bytes += r.total.bytes
        print(f"TOTAL: {total.messages} message(s), {total.bytes} bytes in {len(names)} mailbox(es)", file=out)
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
