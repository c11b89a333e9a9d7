#!/usr/bin/env python3
"""Delete the messages of a mailbox received before a date, after
printing what goes.

usage: delete_old.py HOST PORT USER PASSWORD MAILBOX DD-Mon-YYYY
"""
import email
import email.policy
import imaplib
import sys

host, port, user, password, mailbox, before = sys.argv[1:7]

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
typ, data = M.select(mailbox)
print(f"{mailbox}: {data[0].decode()} message(s)")
typ, data = M.search(None, "BEFORE", before)
doomed = data[0].split()
for num in doomed:
    typ, msg_data = M.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
    headers = email.message_from_bytes(msg_data[0][1], policy=email.policy.default)
    print(f"deleting {num.decode()}: {headers['subject']} ({headers['from']})")
    M.store(num, "+FLAGS", "\\Deleted")
typ, expunged = M.expunge()
print("expunged:", [e.decode() for e in expunged if e])
M.close()
M.logout()
