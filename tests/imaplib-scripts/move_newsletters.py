#!/usr/bin/env python3
"""Move every newsletter out of INBOX into a folder (created if missing),
with MOVE when the server has it, else COPY + \\Deleted + EXPUNGE.

usage: move_newsletters.py HOST PORT USER PASSWORD [FOLDER]
"""
import imaplib
import sys

host, port, user, password = sys.argv[1:5]
folder = sys.argv[5] if len(sys.argv) > 5 else "Newsletters"

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
typ, data = M.list('""', folder)
if data == [None]:
    print("creating", folder, M.create(folder)[0])
M.select("INBOX")
typ, data = M.uid("SEARCH", None, '(OR SUBJECT "newsletter" FROM "lists.example.org")')
uids = data[0].split()
print(f"moving {len(uids)} message(s) to {folder}")
if uids:
    uid_set = b",".join(uids).decode()
    if "MOVE" in M.capabilities:
        typ, data = M.uid("MOVE", uid_set, folder)
        print("MOVE", typ)
    else:
        M.uid("COPY", uid_set, folder)
        M.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        print("EXPUNGE", M.expunge()[0])
typ, data = M.status(folder, "(MESSAGES)")
print(data[0].decode())
M.logout()
