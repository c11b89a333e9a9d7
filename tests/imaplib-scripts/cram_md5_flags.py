#!/usr/bin/env python3
"""Log in with CRAM-MD5, then print each INBOX message's flags and
internal date (as UTC), and flag the unanswered mail from the boss.

usage: cram_md5_flags.py HOST PORT USER PASSWORD
"""
import imaplib
import sys
import time

host, port, user, password = sys.argv[1:5]

M = imaplib.IMAP4(host, int(port))
if "AUTH=CRAM-MD5" not in M.capabilities:
    sys.exit("no CRAM-MD5")
typ, data = M.login_cram_md5(user, password)
print("login:", typ, M.state)
M.select("INBOX")
typ, data = M.fetch("1:*", "(UID FLAGS INTERNALDATE)")
for line in data:
    t = imaplib.Internaldate2tuple(line)
    print(line.split()[0].decode(), time.strftime("%Y-%m-%d %H:%M:%S", t), imaplib.ParseFlags(line))
typ, data = M.search(None, "FROM", "boss@example.org", "UNANSWERED")
if data[0]:
    typ, data = M.store(data[0].decode().replace(" ", ","), "+FLAGS", "(\\Flagged)")
    print("flagged:", [d.decode() for d in data])
print(M.logout()[0])
