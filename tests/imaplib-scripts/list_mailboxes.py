#!/usr/bin/env python3
"""List every mailbox with its message and unseen counts.

usage: list_mailboxes.py HOST PORT USER PASSWORD
"""
import imaplib
import re
import sys

host, port, user, password = sys.argv[1:5]

LIST_RE = re.compile(r'\((?P<flags>.*?)\) "(?P<delim>.*)" (?P<name>.+)')

with imaplib.IMAP4(host, int(port)) as M:
    M.login(user, password)
    typ, data = M.list()
    total = unseen_total = 0
    print(f"{'MAILBOX':<20} {'MESSAGES':>8} {'UNSEEN':>6}")
    for line in sorted(data):
        m = LIST_RE.match(line.decode())
        name = m.group("name").strip('"')
        if "\\Noselect" in m.group("flags"):
            continue
        typ, st = M.status(f'"{name}"', "(MESSAGES UNSEEN)")
        counts = dict(re.findall(r"(MESSAGES|UNSEEN) (\d+)", st[0].decode()))
        messages, unseen = int(counts["MESSAGES"]), int(counts["UNSEEN"])
        total += messages
        unseen_total += unseen
        print(f"{name:<20} {messages:>8} {unseen:>6}")
    print(f"{'TOTAL':<20} {total:>8} {unseen_total:>6}")
