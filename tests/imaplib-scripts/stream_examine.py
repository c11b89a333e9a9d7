#!/usr/bin/env python3
"""Look at INBOX, read-only, over a pre-authenticated stream (a local server started
as a command, as with `ssh host imapd` or Dovecot's imap binary).

usage: stream_examine.py COMMAND
"""
import imaplib
import sys

M = imaplib.IMAP4_stream(sys.argv[1])
print("state:", M.state)
print("IMAP4rev1 in capabilities:", "IMAP4rev1" in M.capabilities)
typ, data = M.select("INBOX", readonly=True)
print("select:", typ, M.state, int(data[0]) > 0)
typ, found = M.search(None, "ALL")
print("search:", typ, len(found[0].split()) == int(data[0]))
print("logout:", M.logout()[0])
