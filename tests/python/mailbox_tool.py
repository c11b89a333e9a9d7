#!/usr/bin/env python3
"""What the watch tests do to a mailbox from outside, with CPython's imaplib.

usage:
  mailbox_tool.py PORT USER PASSWORD append MAILBOX PREFIX COUNT [SUBJECT [FROM]]
      appends COUNT messages with Message-ID <PREFIX-i@test> (i from 1);
      prints each Message-ID
  mailbox_tool.py PORT USER PASSWORD recreate MAILBOX
      deletes and creates MAILBOX (a new UIDVALIDITY)
  mailbox_tool.py PORT USER PASSWORD uids MAILBOX
      prints `UID MESSAGE-ID` of every message
"""
import imaplib
import sys

port, user, password, verb, mailbox = sys.argv[1:6]
M = imaplib.IMAP4("127.0.0.1", int(port))
M.login(user, password)
if verb == "append":
    prefix, count = sys.argv[6], int(sys.argv[7])
    subject = sys.argv[8] if len(sys.argv) > 8 else "watched"
    sender = sys.argv[9] if len(sys.argv) > 9 else "a@example.org"
    M.create(mailbox)
    for i in range(1, count + 1):
        mid = f"<{prefix}-{i}@test>"
        msg = f"Message-ID: {mid}\r\nSubject: {subject} {i}\r\nFrom: {sender}\r\n\r\nbody {i}\r\n"
        typ, data = M.append(mailbox, None, None, msg.encode())
        assert typ == "OK", data
        print(mid)
elif verb == "recreate":
    M.delete(mailbox)
    typ, data = M.create(mailbox)
    assert typ == "OK", data
elif verb == "uids":
    M.select(mailbox, readonly=True)
    typ, data = M.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    for item in data:
        if isinstance(item, tuple):
            uid = item[0].split(b"UID ")[1].split()[0].decode()
            mid = item[1].decode().split(":", 1)[1].strip()
            print(uid, mid)
else:
    sys.exit(f"unknown verb {verb}")
M.logout()
