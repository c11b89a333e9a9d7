#!/usr/bin/env python3
"""Copy read messages of INBOX into Archive/YEAR by their internal date,
then delete them from INBOX.

usage: archive_by_year.py HOST PORT USER PASSWORD
"""
import imaplib
import sys

host, port, user, password = sys.argv[1:5]

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
M.select("INBOX")
typ, data = M.uid("SEARCH", None, "SEEN")
by_year = {}
for uid in data[0].split():
    typ, d = M.uid("FETCH", uid, "(INTERNALDATE)")
    year = imaplib.Internaldate2tuple(d[0]).tm_year
    by_year.setdefault(year, []).append(uid.decode())
for year, uids in sorted(by_year.items()):
    folder = f"Archive/{year}"
    typ, _ = M.create(folder)
    typ, data = M.uid("COPY", ",".join(uids), folder)
    print(f"{folder}: {len(uids)} message(s) {typ}")
    M.uid("STORE", ",".join(uids), "+FLAGS", "(\\Deleted)")
M.expunge()
print(M.select("INBOX", readonly=True))
M.logout()
