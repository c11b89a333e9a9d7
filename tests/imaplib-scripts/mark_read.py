#!/usr/bin/env python3
"""Mark every unseen message from a sender as read.

usage: mark_read.py HOST PORT USER PASSWORD SENDER
"""
import imaplib
import sys

host, port, user, password, sender = sys.argv[1:6]

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
M.select("INBOX")
typ, data = M.search(None, "UNSEEN", "FROM", sender)
nums = data[0].split()
print(f"{len(nums)} unseen message(s) from {sender}")
for num in nums:
    typ, resp = M.store(num, "+FLAGS", "\\Seen")
    print(num.decode(), typ, imaplib.ParseFlags(resp[0]))
typ, data = M.search(None, "UNSEEN")
print("still unseen:", data[0].decode() or "none")
M.close()
M.logout()
