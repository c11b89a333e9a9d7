#!/usr/bin/env python3
"""What a script sees when the server cannot be reached: the exception
CPython's socket layer raises, with its errno.

usage: connect_errors.py HOST CLOSED_PORT [UNGRANTED_PORT]
"""
import imaplib
import sys

host, closed = sys.argv[1], int(sys.argv[2])
try:
    imaplib.IMAP4(host, closed)
    print("refused: connected")
except OSError as e:
    print("refused:", type(e).__name__, e.errno)

if len(sys.argv) > 3:
    try:
        imaplib.IMAP4(host, int(sys.argv[3]))
        print("ungranted: connected")
    except imaplib.IMAP4.error as e:
        print("ungranted: IMAP4.error")
