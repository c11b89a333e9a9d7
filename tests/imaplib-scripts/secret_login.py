#!/usr/bin/env python3
"""Log in with a password the script never sees: in wasimap's sandbox,
`wasimap.secret(NAME)` names the host's secret (`wasimap run --secret
NAME=env:VAR`); under CPython the password comes from $IMAP_PASSWORD.

usage: secret_login.py HOST PORT USER [SECRET-NAME]
"""
import imaplib
import os
import sys

host, port, user = sys.argv[1:4]
name = sys.argv[4] if len(sys.argv) > 4 else "imap-password"
try:
    from wasimap import secret
    password = secret(name)
except ImportError:
    password = os.environ["IMAP_PASSWORD"]

M = imaplib.IMAP4(host, int(port))
typ, data = M.login(user, password)
print("login:", typ, data[0].decode().split(" [")[0] if data[0] else None)
print("password seen as:", password)
typ, data = M.select("INBOX", readonly=True)
print("INBOX:", data[0].decode(), "message(s)")
M.logout()
