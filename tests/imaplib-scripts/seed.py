#!/usr/bin/env python3
"""Fills a fresh account with the mail the corpus scripts work on.

    python3 seed.py HOST PORT USER PASSWORD

Run by CPython's imaplib (not a corpus script): the same messages, flags
and internal dates for each side of tests/tests/imaplib_scripts.rs.
"""

import imaplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

ATTACHED = (
    "From: Carol <carol@example.org>\r\n"
    "To: me@example.org\r\n"
    "Subject: Scans\r\n"
    "Date: Tue, 03 Mar 2026 10:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Two files attached.\r\n"
    "--b1\r\n"
    'Content-Type: application/pdf; name="invoice.pdf"\r\n'
    'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\r\n"
    "--b1\r\n"
    "Content-Type: text/csv\r\n"
    "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.csv\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "name,total=0D=0Aalice,3=0D=0A\r\n"
    "--b1--\r\n"
)


def plain(sender, subject, body, date="Mon, 02 Mar 2026 09:00:00 +0000"):
    return (f"From: {sender}\r\nTo: me@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"\r\n{body}\r\n")


MESSAGES = [
    ("INBOX", "", '"01-Jan-2024 08:00:00 +0000"', plain("Boss <boss@example.org>", "Quarterly numbers", "See attached.")),
    ("INBOX", "\\Seen", '"15-Jun-2024 12:30:00 +0200"', plain("news@lists.example.org", "Weekly newsletter #12", "From the archive:\r\nFrom here on, news.")),
    ("INBOX", "", '"02-Feb-2026 09:15:00 +0000"', plain("news@lists.example.org", "Weekly newsletter #13", "Fresh news.")),
    ("INBOX", "", '"03-Mar-2026 10:00:00 +0000"', ATTACHED),
    ("INBOX", "\\Flagged", '"04-Mar-2026 11:00:00 -0500"', plain("=?utf-8?q?Ren=C3=A9?= <rene@example.org>", "=?utf-8?b?UsOpdW5pb24gZGUgbHVuZGk=?=", "On se voit lundi.")),
    ("INBOX", "", '"05-Mar-2026 16:45:00 +0000"', plain("Boss <boss@example.org>", "Offsite agenda", "Agenda below.")),
    ("Archive", "\\Seen", '"10-Oct-2023 10:10:10 +0000"', plain("old@example.org", "Old thread", "Ancient history.")),
    ("Work/Projects", "\\Seen \\Answered", '"11-Nov-2025 11:11:11 +0000"', plain("Boss <boss@example.org>", "Project plan", "Plan v2.")),
]

M = imaplib.IMAP4(host, port)
M.login(user, password)
for mailbox in ("Archive", "Work/Projects", "Empty"):
    M.create(mailbox)
for mailbox, flags, date, message in MESSAGES:
    typ, data = M.append(mailbox, flags or None, date, message.encode("utf-8"))
    assert typ == "OK", (typ, data)
M.logout()
