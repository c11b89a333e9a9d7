#!/usr/bin/env python3
"""Prints an account's mailbox state: every mailbox, and in each every
message's flags (without \\Recent), internal date and SHA-256.

    python3 state.py HOST PORT USER PASSWORD

tests/tests/imaplib_scripts.rs compares it between the account CPython's
run changed and the one wasimap's run changed.
"""

import hashlib
import imaplib
import re
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
M = imaplib.IMAP4(host, port)
M.login(user, password)
typ, data = M.list()
names = sorted(re.match(rb'\(.*?\) (?:"."|NIL) (.*)', line).group(1).decode() for line in data)
for name in names:
    typ, count = M.select(name, readonly=True)
    if typ != "OK":
        print(f"{name}: not selectable")
        continue
    print(f"{name}: {int(count[0])} message(s)")
    if int(count[0]):
        typ, items = M.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        for item in items:
            if not isinstance(item, tuple):
                continue
            flags = sorted(f.decode() for f in imaplib.ParseFlags(item[0]) if f != b"\\Recent")
            date = re.search(rb'INTERNALDATE "([^"]*)"', item[0]).group(1).decode()
            digest = hashlib.sha256(item[1]).hexdigest()[:16]
            print(f"  {' '.join(flags) or '-':<22} {date} {digest}")
    M.close()
M.logout()
