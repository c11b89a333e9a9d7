#!/usr/bin/env python3
"""Find the attachments in INBOX: for each, its message, file name,
type, size and SHA-256 (a sandboxed script has no files to save them to;
this one prints what it would save).

usage: download_attachments.py HOST PORT USER PASSWORD
"""
import email
import hashlib
import imaplib
import sys
from email.header import decode_header, make_header

host, port, user, password = sys.argv[1:5]

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
M.select("INBOX", readonly=True)
typ, data = M.search(None, "ALL")
found = 0
for num in data[0].split():
    typ, msg_data = M.fetch(num, "(RFC822)")
    msg = email.message_from_bytes(msg_data[0][1])
    subject = str(make_header(decode_header(msg.get("Subject", ""))))
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        filename = part.get_filename()
        if not filename:
            continue
        payload = part.get_payload(decode=True)
        found += 1
        print(f"{num.decode()} [{subject}] {filename} {part.get_content_type()} "
              f"{len(payload)} bytes sha256={hashlib.sha256(payload).hexdigest()[:16]}")
print(f"{found} attachment(s)")
M.logout()
