#!/usr/bin/env python3
"""Upgrade to TLS with STARTTLS (verifying against a CA file), then list
the unseen messages of INBOX.

usage: starttls_unseen.py HOST PORT USER PASSWORD CAFILE
"""
import imaplib
import ssl
import sys

host, port, user, password, cafile = sys.argv[1:6]

context = ssl.create_default_context(cafile=cafile)
M = imaplib.IMAP4(host, int(port))
print("before:", "STARTTLS" in M.capabilities, "LOGINDISABLED" in M.capabilities)
typ, data = M.starttls(ssl_context=context)
print("STARTTLS:", typ, data)
M.login(user, password)
M.select("INBOX", readonly=True)
typ, data = M.search(None, "UNSEEN")
for num in data[0].split():
    typ, d = M.fetch(num, "(FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
    header = d[0][1].decode().strip().replace("\r\n", " | ")
    print(num.decode(), imaplib.ParseFlags(d[0][0]), header)
M.logout()
