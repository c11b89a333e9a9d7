#!/usr/bin/env python3
"""Wait in IDLE for new mail and print each new message's subject.

To be self-contained, it delivers the mail itself: a second connection
appends COUNT messages once the first is idling. Uses the raw IDLE
idiom that scripts written before Python 3.14's `idle()` use.

usage: idle_new_mail.py HOST PORT USER PASSWORD [COUNT]
"""
import imaplib
import sys

host, port, user, password = sys.argv[1:5]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 2

M = imaplib.IMAP4(host, int(port))
M.login(user, password)
if "IDLE" not in M.capabilities:
    sys.exit("server has no IDLE")
typ, data = M.select("INBOX")
exists = int(data[0])
print("INBOX has", exists, "message(s); idling")

tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
print("server:", M.readline().strip().decode())

other = imaplib.IMAP4(host, int(port))
other.login(user, password)
for i in range(count):
    other.append("INBOX", None, imaplib.Time2Internaldate(1767225600 + 60 * i), f"Subject: New mail {i + 1}\r\n\r\nHello.\r\n".encode())
other.logout()

while exists < count + int(data[0]):
    line = M.readline().strip()
    if line.endswith(b"EXISTS"):
        exists = int(line.split()[1])
        print("new mail:", exists, "message(s)")
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag):
        print("IDLE done:", line.split()[1].decode())
        break
typ, nums = M.search(None, "UNSEEN")
for num in nums[0].split()[-count:]:
    typ, d = M.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    print(num.decode(), d[0][1].decode().strip())
M.logout()
