#!/usr/bin/env python3
"""Over implicit TLS (IMAP4_SSL), count messages per sender in INBOX,
decoding RFC 2047 names, most frequent first.

usage: ssl_senders.py HOST SSLPORT USER PASSWORD CAFILE
"""
import collections
import imaplib
import ssl
import sys
from email.header import decode_header, make_header
from email.utils import parseaddr

host, port, user, password, cafile = sys.argv[1:6]

context = ssl.create_default_context()
context.load_verify_locations(cafile=cafile)
with imaplib.IMAP4_SSL(host, int(port), ssl_context=context) as M:
    M.login(user, password)
    M.select("INBOX", readonly=True)
    typ, data = M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (FROM)])")
    senders = collections.Counter()
    for item in data:
        if isinstance(item, tuple):
            raw = item[1].decode().split(":", 1)[1].strip()
            name, addr = parseaddr(str(make_header(decode_header(raw))))
            senders[f"{name} <{addr}>" if name else addr] += 1
    for sender, n in sorted(senders.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:>3}  {sender}")
    print("state:", M.state)
print("state after with:", M.state)
