#!/usr/bin/env python3
"""AUTHENTICATE PLAIN with an authobject callback (as imaplib's docs
show), printing each challenge it gets, then the mailbox tree.

usage: authenticate_plain.py HOST PORT USER PASSWORD
"""
import imaplib
import sys

host, port, user, password = sys.argv[1:5]

M = imaplib.IMAP4(host, int(port))
calls = []


def plain(challenge):
    calls.append(challenge)
    return f"\0{user}\0{password}"


typ, data = M.authenticate("PLAIN", plain)
print("authenticate:", typ, data[0].decode().split(" [")[0], "callback calls:", calls)
typ, data = M.list('""', "*")
for line in sorted(data):
    print(line.decode())
typ, data = M.lsub()
print("subscribed:", data)
M.logout()
