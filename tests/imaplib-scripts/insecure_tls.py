#!/usr/bin/env python3
"""Connect over implicit TLS to a server with a self-signed certificate
with verification turned off, the idiom scripts use for such servers
(`check_hostname = False`, `verify_mode = CERT_NONE`), and count INBOX.
MODE `hostname-only` turns off only the name check.

usage: insecure_tls.py HOST SSLPORT USER PASSWORD [MODE]
"""
import imaplib
import ssl
import sys

host, port, user, password = sys.argv[1:5]
mode = sys.argv[5] if len(sys.argv) > 5 else "unverified"

context = ssl.create_default_context()
context.check_hostname = False
if mode == "unverified":
    context.verify_mode = ssl.CERT_NONE
try:
    M = imaplib.IMAP4_SSL(host, int(port), ssl_context=context)
except Exception as e:
    print("connect failed:", type(e).__name__, e)
    sys.exit(0)
typ, data = M.login(user, password)
print("login:", typ)
typ, data = M.select("INBOX", readonly=True)
print("INBOX:", data[0].decode(), "message(s)")
M.logout()
