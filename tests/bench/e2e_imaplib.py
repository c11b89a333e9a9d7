"""FETCH 1:* (or NOOPn) with CPython's imaplib: e2e_imaplib.py PORT USER PASSWORD ITEMS."""
import imaplib
import sys

port, user, password, items = sys.argv[1:5]
M = imaplib.IMAP4("127.0.0.1", int(port))
M.login(user, password)
if items.startswith("NOOP"):
    for _ in range(int(items[4:])):
        M.noop()
else:
    M.select("INBOX", readonly=True)
    typ, data = M.fetch("1:*", items)
    count = sum(1 for d in data if isinstance(d, tuple) or not d.startswith(b")"))
    size = sum(len(d[1]) for d in data if isinstance(d, tuple))
    print(f"{count} messages, {size} bytes")
M.logout()
