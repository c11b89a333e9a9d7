#!/usr/bin/env python3
"""Wait for new mail with the IDLE context manager of Python 3.14's
imaplib (`with M.idle(duration) as idler: for typ, data in idler`), then
collect a burst with `idler.burst()`, then let an IDLE run out its time.

To be self-contained, it delivers the mail itself: a second connection
appends messages while the first is idling.

usage: idle_context.py HOST PORT USER PASSWORD [COUNT]
"""
import imaplib
import sys
import time

host, port, user, password = sys.argv[1:5]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 2


def deliver(n, first):
    other = imaplib.IMAP4(host, int(port))
    other.login(user, password)
    for i in range(first, first + n):
        date = imaplib.Time2Internaldate(1767225600 + 60 * i)
        other.append("INBOX", None, date, f"Subject: Idle mail {i}\r\n\r\nHello.\r\n".encode())
    other.logout()


M = imaplib.IMAP4(host, int(port))
M.login(user, password)
typ, data = M.select("INBOX")
exists = int(data[0])
print("INBOX has", exists, "message(s)")

with M.idle(duration=60) as idler:
    print("state while idling:", M.state)
    deliver(count, 1)
    for typ, datum in idler:
        if typ == "EXISTS" and int(datum[0]) == exists + count:
            print("idle saw EXISTS", datum[0].decode())
            break
print("state after idle:", M.state)

with M.idle(duration=60) as idler:
    deliver(1, count + 1)
    burst = list(idler.burst(interval=2))
    print("burst: EXISTS up to", max(int(datum[0]) for typ, datum in burst if typ == "EXISTS"))

started = time.monotonic()
with M.idle(duration=1) as idler:
    quiet = list(idler)
print("quiet idle:", len(quiet), "response(s), ended by its duration:", time.monotonic() - started >= 0.9)

typ, data = M.search(None, "SUBJECT", "Idle mail")
print("delivered:", len(data[0].split()), "message(s)")
M.logout()
