#!/usr/bin/env python3
"""What a script gets when it reaches past imaplib: a socket of its own,
a file, the environment. Under CPython each succeeds; in wasimap's
sandbox each raises the error Python raises when it is not there.

usage: sandbox_probe.py HOST PORT [FILE]
"""
import os
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
path = sys.argv[3] if len(sys.argv) > 3 else "/etc/passwd"

try:
    with socket.create_connection((host, port), timeout=5) as s:
        print("socket: connected, read", s.recv(100)[:20])
except OSError as e:
    print("socket:", type(e).__name__)

try:
    with open(path, "rb") as f:
        print("file: read", len(f.read()), "bytes")
except OSError as e:
    print("file:", type(e).__name__)

try:
    print("env: HOME =", os.environ["HOME"])
except KeyError as e:
    print("env: KeyError", e)
print("environment size:", len(os.environ))
