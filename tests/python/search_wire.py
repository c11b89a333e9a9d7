#!/usr/bin/env python3
"""What CPython's imaplib puts on the wire for SEARCH, UID, SORT and THREAD.

Reads a JSON list of calls on stdin, each
    {"method": "search" | "uid" | "sort" | "thread", "args": [ARG, ...]}
where the arguments are exactly the method's positional arguments
(`search(charset, *criteria)`, `uid(command, *args)`,
`sort(sort_criteria, charset, *search_criteria)`,
`thread(threading_algorithm, charset, *search_criteria)`) and each ARG is
null (None), a string, or {"hex": "..."} for bytes (8-bit values: a str
would raise UnicodeEncodeError in imaplib's ASCII encoding).

Writes a JSON list with, per call, {"sent": HEX} (the bytes imaplib sent
for that command, its tag and the space after it removed) or
{"error": "ExceptionClass: message"}.

No network: `open`, `send`, `readline`, `read` and `shutdown` are replaced
by an in-memory server that greets, answers CAPABILITY, and answers every
other command with a tagged OK. The session is put in state SELECTED.
Used by guest/protocol/tests/search_wire.rs.
"""

import imaplib
import json
import sys


class Capture(imaplib.IMAP4):
    """imaplib.IMAP4 over an in-memory server that records each command."""

    def open(self, host="", port=imaplib.IMAP4_PORT, timeout=None):
        self.host, self.port = host, port
        self.replies = bytearray(b"* OK in-memory server ready\r\n")
        self.commands = []

    def send(self, data):
        # imaplib sends a command without an APPEND literal in one call.
        self.commands.append(bytes(data))
        tag, _, rest = bytes(data).partition(b" ")
        if rest.upper().startswith(b"CAPABILITY"):
            self.replies += b"* CAPABILITY IMAP4rev1\r\n"
        self.replies += tag + b" OK done\r\n"

    def readline(self):
        end = self.replies.find(b"\n") + 1 or len(self.replies)
        line = bytes(self.replies[:end])
        del self.replies[:end]
        return line

    def read(self, size):
        data = bytes(self.replies[:size])
        del self.replies[:size]
        return data

    def shutdown(self):
        pass


def argument(a):
    if isinstance(a, dict):
        return bytes.fromhex(a["hex"])
    return a


def run(call):
    imap = Capture()
    imap.state = "SELECTED"
    before = len(imap.commands)
    args = [argument(a) for a in call["args"]]
    try:
        getattr(imap, call["method"])(*args)
    except Exception as e:  # the answer is the exception
        return {"error": f"{type(e).__name__}: {e}"}
    sent = b"".join(imap.commands[before:])
    return {"sent": sent.partition(b" ")[2].hex()}


def main():
    calls = json.load(sys.stdin)
    json.dump([run(c) for c in calls], sys.stdout)


if __name__ == "__main__":
    main()
