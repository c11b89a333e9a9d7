#!/usr/bin/env python3
"""Export a mailbox to stdout in mboxrd format.

usage: export_mbox.py HOST PORT USER PASSWORD [MAILBOX]
"""
import imaplib
import re
import sys
import time

host, port, user, password = sys.argv[1:5]
mailbox = sys.argv[5] if len(sys.argv) > 5 else "INBOX"

FROM_LINE = re.compile(rb"^(>*From )", re.M)

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
typ, data = M.select(mailbox, readonly=True)
if typ != "OK":
    sys.exit(f"cannot open {mailbox}: {data[0].decode()}")
out = sys.stdout.buffer
typ, data = M.fetch("1:*", "(INTERNALDATE BODY.PEEK[])")
for item in data:
    if not isinstance(item, tuple):
        continue
    when = time.strftime("%a %b %d %H:%M:%S %Y", imaplib.Internaldate2tuple(item[0]))
    body = item[1].replace(b"\r\n", b"\n")
    out.write(b"From MAILER-DAEMON " + when.encode() + b"\n")
    out.write(FROM_LINE.sub(rb">\1", body))
    if not body.endswith(b"\n"):
        out.write(b"\n")
    out.write(b"\n")
out.flush()
M.logout()
