#!/usr/bin/env python3
"""Capture known-answer IMAP response bytes from a real Dovecot, Cyrus or Courier.

    tests/dovecot/server.sh start /tmp/capdove     # or tests/cyrus/..., tests/courier/...
    python3 tests/captures/capture.py --env /tmp/capdove/env
    tests/dovecot/server.sh stop /tmp/capdove

The server is the one the env file names (WASIMAP_SERVER): Dovecot and Cyrus
over a plain TCP socket to 127.0.0.1, Courier over its pre-authenticated
`imapd Maildir` stream (WASIMAP_STREAM_COMMAND); no imaplib.  Logs in as a
fresh user (Cyrus: added with WASIMAP_ADD_USER_COMMAND), creates mailboxes
(under Courier's `INBOX.`), APPENDs crafted messages with fixed
INTERNALDATEs and records, for each captured command, the exact bytes the
server sent from the first response line after the command up to and
including the tagged completion line (CRLFs and literals preserved).  What a
server does not announce (MOVE, ESEARCH, CONDSTORE, ...) is not asked; what
it has beyond Dovecot (special-use, METADATA, annotations, UTF8=ACCEPT) is.
Each capture goes to guest/protocol/tests/captures/<name>.txt (Dovecot) or
captures/<server>/<name>.txt, and a README.md there gets an index of them.

The server must be fresh (server.sh start wipes all mail: on Cyrus another
user's `anyone` ACL shows up in LIST as `Other Users/...`); the script
refuses to run if the user's INBOX is not empty.  Re-running on a fresh
server gives the same bytes except for UIDVALIDITY values, the timings
Dovecot and Cyrus append to tagged OK replies, and Cyrus' MAILBOXID and
SESSIONID values.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import select
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "guest", "protocol", "tests", "captures")

CRLF = b"\r\n"


# --------------------------------------------------------------------- wire


class Lit:
    """A literal argument in a command: sync ({N}, waits for "+") or LITERAL+ ({N+})."""

    def __init__(self, data, plus=True, label=None):
        self.data = data
        self.plus = plus
        self.label = label or "%d bytes" % len(data)


class ImapError(Exception):
    pass


class Stream:
    """A pre-authenticated server on a pipe (Courier's `imapd Maildir`),
    with the socket methods Conn uses."""

    def __init__(self, argv, timeout):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0)
        self.timeout = timeout

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, n):
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            raise ImapError("no answer from the stream in %ss" % self.timeout)
        return os.read(self.proc.stdout.fileno(), n)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=self.timeout)


class Conn:
    def __init__(self, target, prefix, timeout=15.0):
        self.target = target
        if target.stream:
            self.sock = Stream(target.stream, timeout)
        else:
            self.sock = socket.create_connection(("127.0.0.1", target.port), timeout=timeout)
        self.buf = b""
        self.prefix = prefix
        self.n = 0

    def mb(self, wire):
        """A mailbox name of the Dovecot session (as sent) in this server's namespace."""
        return self.target.mb(wire)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ImapError("server closed the connection")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(CRLF)
            if i >= 0:
                line, self.buf = self.buf[: i + 2], self.buf[i + 2 :]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        """One complete server response (a line plus any literals it announces)."""
        raw = b""
        while True:
            line = self._line()
            raw += line
            m = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not m:
                return raw
            raw += self._exact(int(m.group(1)))

    def next_tag(self):
        self.n += 1
        return "%s%03d" % (self.prefix, self.n)

    def execute(self, *pieces):
        """Send one command; return (tag, client_text, server_bytes, status).

        pieces: str/bytes (sent verbatim) and Lit objects.  server_bytes is
        everything the server sent until and including the tagged line
        (for a synchronizing literal that includes the "+ " continuation).
        """
        tag = self.next_tag()
        out = tag.encode() + b" "
        shown = tag + " "
        got = b""
        for p in pieces:
            if isinstance(p, str):
                p = p.encode("utf-8")
            if isinstance(p, Lit):
                if p.plus and self.target.literal_plus:
                    out += b"{%d+}\r\n" % len(p.data) + p.data
                    shown += "{%d+}\r\n<%s>" % (len(p.data), p.label)
                else:
                    out += b"{%d}\r\n" % len(p.data)
                    shown += "{%d}\r\n<%s>" % (len(p.data), p.label)
                    self.sock.sendall(out)
                    out = b""
                    while True:
                        r = self.response()
                        got += r
                        if r.startswith(b"+"):
                            break
                        if r.startswith(tag.encode() + b" "):
                            return tag, shown, got, _status(r, tag)
                    out = p.data
            else:
                out += p
                shown += p.decode("utf-8", "backslashreplace")
        out += CRLF
        shown += "\r\n"
        self.sock.sendall(out)
        while True:
            r = self.response()
            got += r
            if r.startswith(tag.encode() + b" "):
                return tag, shown, got, _status(r, tag)


def _status(line, tag):
    return line[len(tag) + 1 :].split(b" ", 1)[0].decode()


# --------------------------------------------------------------- messages


def msg(headers, body):
    """headers: list of str lines; body: str or bytes.  Returns CRLF bytes."""
    h = CRLF.join(x.encode("utf-8") for x in headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body.replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    return h + CRLF + CRLF + body


def b64lines(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i : i + 76] for i in range(0, len(s), 76)) + "\n"


PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    b"trailer <</Root 1 0 R>>\n%%EOF\n"
)

# 1. simple text/plain, thread root
M1 = msg(
    [
        "From: Bob Builder <bob@example.net>",
        "To: Alice Example <alice@example.com>",
        "Subject: Project kickoff",
        "Date: Wed, 10 Jan 2024 08:00:00 +0000",
        "Message-ID: <m1@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
    ],
    "Hello Alice,\n\nLet's start the project on Monday.\n\n-- \nBob\n",
)

# 2. nested multipart, reply to 1
M2_BODY = "\n".join(
    [
        "This is a multi-part message in MIME format.",
        "--=_outer_boundary",
        'Content-Type: multipart/alternative; boundary="=_alt_boundary"',
        "",
        "--=_alt_boundary",
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Language: en, fr",
        "",
        "Hello Bob, voil=C3=A0 the plan.",
        "My r=C3=A9sum=C3=A9 is attached.",
        "--=_alt_boundary",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "Content-Disposition: inline",
        "",
        "<html><body><p>Hello Bob, voil\u00e0 the plan.</p></body></html>",
        "--=_alt_boundary--",
        "",
        "--=_outer_boundary",
        'Content-Type: application/pdf; name="=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?="',
        "Content-Disposition: attachment;",
        " filename*0*=UTF-8''r%C3%A9sum;",
        " filename*1*=%C3%A9.pdf;",
        ' size=' + str(len(PDF)) + '; creation-date="Thu, 11 Jan 2024 09:00:00 +0100"',
        "Content-Transfer-Encoding: base64",
        "Content-ID: <pdf.1@example.org>",
        "Content-Description: My CV (PDF)",
        "Content-MD5: " + base64.b64encode(hashlib.md5(PDF).digest()).decode(),
        "Content-Language: fr",
        "Content-Location: http://example.org/cv/resume.pdf",
        "",
        b64lines(PDF),
        "--=_outer_boundary",
        "Content-Type: message/rfc822",
        "Content-Description: forwarded message",
        "",
        "From: Carol <carol@example.com>",
        "To: Alice Example <alice@example.com>",
        "Subject: Fwd: budget",
        "Date: Tue, 9 Jan 2024 16:20:00 +0000",
        "Message-ID: <inner.1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="inner"',
        "",
        "--inner",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Budget is 10k.",
        "--inner",
        "Content-Type: text/enriched",
        "",
        "<bold>Budget</bold> is 10k.",
        "--inner--",
        "",
        "--=_outer_boundary--",
        "epilogue",
        "",
    ]
)
M2 = msg(
    [
        "From: Alice Example <alice@example.com>",
        "To: Bob Builder <bob@example.net>",
        "Subject: Re: Project kickoff",
        "Date: Thu, 11 Jan 2024 09:30:00 +0100",
        "Message-ID: <m2@example.org>",
        "In-Reply-To: <m1@example.org>",
        "References: <m1@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="=_outer_boundary"',
    ],
    M2_BODY,
)

# 3. raw 8-bit UTF-8 in Subject/From/Cc (not encoded), reply to 2
M3 = msg(
    [
        "From: Zo\u00eb \u00c5str\u00f6m \u2615 <zoe@example.se>",
        "To: Bob Builder <bob@example.net>",
        "Cc: Fran\u00e7ois <francois@example.fr>",
        "Subject: R\u00e9union caf\u00e9",
        "Date: Fri, 5 Jan 2024 23:59:59 -0800",
        "Message-ID: <m3@example.org>",
        "In-Reply-To: <m2@example.org>",
        "References: <m1@example.org> <m2@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ],
    "Caf\u00e9 \u00e0 10h ? \u2615\n",
)

# 4. RFC 2047 encoded words in Subject/From/To, reply to 1
M4 = msg(
    [
        "From: =?UTF-8?B?%s?= <jose@example.es>"
        % base64.b64encode("Jos\u00e9 M\u00fcller".encode()).decode(),
        "To: =?iso-8859-1?q?Fran=E7ois?= <francois@example.fr>",
        "Subject: =?UTF-8?B?%s?= =?ISO-8859-1?Q?_caf=E9?="
        % base64.b64encode("Re: R\u00e9union".encode()).decode(),
        "Date: Fri, 12 Jan 2024 12:00:00 +0530",
        "Message-ID: <m4@example.org>",
        "In-Reply-To: <m1@example.org>",
        "References: <m1@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
    ],
    "Caf=E9 at ten.\n",
)

# 5. missing headers: no Subject, Message-ID, Date, In-Reply-To, To, MIME
M5 = msg(
    [
        "From: lonely@example.com",
        "X-Mailer: wasimap capture.py",
    ],
    "A message without Subject, Date, Message-ID or To.\n",
)

# 6. group syntax, multiple Cc, quotes/backslashes in display names, route addr
M6 = msg(
    [
        'From: "Doe, John \\"JD\\"" <jd@example.com>',
        "Sender: Secretary <sec@example.com>",
        'Reply-To: "back\\\\slash" <bs@example.com>, replies@example.com',
        'To: undisclosed-recipients:;, Friends: a@b.c, "D. E." <d@e.f>;',
        'Cc: one@example.com, Two <two@example.com>, "Three (3)" <three@example.com> (comment),',
        " <four@example.com>",
        "Bcc: <@relay.example.net:hidden@example.com>",
        'Subject: He said "hi" \\o/',
        "Date: Sun, 14 Jan 2024 17:45:00 -0300",
        "Message-ID: <m6.quoted@example.org>",
        "In-Reply-To: <m3@example.org>",
        "References: <m1@example.org> <m2@example.org> <m3@example.org>",
    ],
    "Groups, quotes and backslashes.\n",
)

# Appended with a synchronizing literal to Archive/2024 (append_sync.txt).
M7 = msg(
    [
        "From: Archiver <archive@example.com>",
        "To: Alice Example <alice@example.com>",
        "Subject: Archived note",
        "Date: Mon, 1 Jan 2024 00:00:00 +0000",
        "Message-ID: <m7@example.org>",
    ],
    "Stored straight into Archive/2024.\n",
)

# Appended to the selected INBOX (append_selected.txt), then moved (move.txt).
M8 = msg(
    [
        "From: Mover <mover@example.com>",
        "To: Alice Example <alice@example.com>",
        "Subject: To be moved",
        "Date: Mon, 15 Jan 2024 10:00:00 +0000",
        "Message-ID: <m8@example.org>",
    ],
    "This one goes to Sent Items.\n",
)

INBOX_MESSAGES = [
    # (message, APPEND flags, APPEND date-time)
    (M1, "()", "10-Jan-2024 08:00:00 +0000"),
    (M2, "(\\Seen)", "11-Jan-2024 09:30:00 +0100"),
    (M3, "(\\Answered \\Seen)", " 5-Jan-2024 23:59:59 -0800"),
    (M4, "($Label1)", "12-Jan-2024 12:00:00 +0530"),
    (M5, "(\\Draft)", "13-Jan-2024 00:00:00 +0000"),
    (M6, "(\\Flagged)", "14-Jan-2024 17:45:00 -0300"),
]


# ------------------------------------------------------------------ capture


class Target:
    """The server a capture run talks to: how to reach it, its namespace,
    and where its answers differ from Dovecot's (which the session was
    first written for)."""

    def __init__(self, name, env, user):
        self.name = name
        self.user = user
        self.port = int(env["WASIMAP_IMAP_PORT"]) if "WASIMAP_IMAP_PORT" in env else None
        # Courier: `DIR/imapd-stream USER`, a PREAUTH session on a pipe.
        self.stream = None
        if "WASIMAP_IMAP_PORT" not in env:
            self.stream = env["WASIMAP_STREAM_COMMAND"].split() + [user]
        self.prefix, self.delim = PERSONAL[name]
        self.caps = set()
        self.literal_plus = True

    def mb(self, wire):
        if self.name == "dovecot":
            return wire
        quoted = wire.startswith('"')
        name = wire[1:-1] if quoted else wire
        if name.upper() != "INBOX":
            name = self.prefix + name
        name = name.replace("/", self.delim)
        return '"%s"' % name if quoted else name

    def has(self, cap):
        return cap.upper() in self.caps

    def learn_caps(self, data):
        """The capabilities in a CAPABILITY response or [CAPABILITY] code."""
        m = re.search(rb"(?:\* |\[)CAPABILITY ([^\]\r]*)", data)
        if m:
            self.caps = set(m.group(1).decode().upper().split())
            self.literal_plus = "LITERAL+" in self.caps


# Personal namespace prefix and delimiter of each server.
PERSONAL = {"dovecot": ("", "/"), "cyrus": ("", "/"), "courier": ("INBOX.", ".")}


class Recorder:
    def __init__(self, out_dir, server):
        self.out_dir = out_dir
        self.server = server
        self.index = []

    def save(self, name, client, data, note):
        if self.server != "dovecot":
            # The Dovecot notes describe Dovecot's bytes; other servers' are below.
            note = NOTES[self.server].get(name, "")
        path = os.path.join(self.out_dir, name + ".txt")
        with open(path, "wb") as f:
            f.write(data)
        entry = {"file": name + ".txt", "command": client}
        if note:
            entry["notes"] = note
        self.index.append(entry)
        print("== %s.txt (%d bytes)" % (name, len(data)))


def run(conn, rec, name, note, *pieces, expect="OK"):
    tag, client, data, status = conn.execute(*pieces)
    if name:
        rec.save(name, client, data, note)
    expect = EXPECT.get((conn.target.name, name), expect) if name else expect
    if expect is not None and status != expect:
        if os.environ.get("CAPTURE_LENIENT"):
            print("!! %s: expected %s, got %r" % (client.strip()[:80], expect, data[-200:]))
            return data
        raise ImapError("%s: expected %s, got %r" % (client.strip(), expect, data[-300:]))
    return data


def append_args(mailbox, flags, date, data, plus=True, label=None):
    return ("APPEND %s %s \"%s\" " % (mailbox, flags, date), Lit(data, plus=plus, label=label))


def opened(t, prefix):
    """A logged-in connection (Courier's stream starts PREAUTH) whose
    target knows the server's capabilities."""
    c = Conn(t, prefix)
    t.learn_caps(c.response())
    if t.stream is None:
        t.learn_caps(run(c, None, None, None, "LOGIN %s secret" % t.user))
    else:
        t.learn_caps(run(c, None, None, None, "CAPABILITY"))
    return c


def session_main(t, rec):
    user = t.user
    c = Conn(t, "A")
    greeting = c.response()
    t.learn_caps(greeting)
    rec.save("greeting", "(none: sent on connect)", greeting,
             "Untagged OK greeting with [CAPABILITY ...] response code (pre-login capabilities).")
    t.learn_caps(run(c, rec, "capability", "Pre-login CAPABILITY: STARTTLS, AUTH=PLAIN/LOGIN/CRAM-MD5, LITERAL+.",
                     "CAPABILITY"))
    if t.stream is None:
        t.learn_caps(run(c, rec, "login", "Tagged OK carrying [CAPABILITY ...] with the full post-login list "
                         "(QUOTA, ACL, RIGHTS=texk, CONDSTORE, QRESYNC, ESEARCH, THREAD=..., SORT, ...).",
                         "LOGIN %s secret" % user))
    data = run(c, rec, None, None, "STATUS INBOX (MESSAGES)")
    if not re.search(rb"\(MESSAGES 0\)", data):
        raise ImapError("INBOX of %r is not empty: restart the server (server.sh start wipes mail) "
                        "or pass another --user" % user)
    if t.has("ID"):
        run(c, rec, "id", "ID response: parenthesised list of quoted key/value pairs.",
            'ID ("name" "wasimap-capture" "version" "1")')
    run(c, rec, "namespace", "NAMESPACE: personal ((\"\" \"/\")), other/shared NIL.", "NAMESPACE")

    for mb in ['"Archive/2024"', '"Sent Items"', "&AOk-t&AOk-", '"Say \\"hi\\""', "Trash"]:
        run(c, rec, None, None, "CREATE " + c.mb(mb), expect=None)
    run(c, rec, "create_exists", "NO with [ALREADYEXISTS] response code.", "CREATE " + c.mb('"Sent Items"'),
        expect="NO")
    run(c, rec, "subscribe_nonexistent", "SUBSCRIBE of a missing mailbox: Dovecot answers NO "
        "(without a response code).", "SUBSCRIBE " + c.mb("Gone"), expect="NO")
    for mb in ["INBOX", '"Archive/2024"', '"Sent Items"', "&AOk-t&AOk-"]:
        run(c, rec, None, None, "SUBSCRIBE " + c.mb(mb))
    # A subscription whose mailbox is gone: create, subscribe, delete.
    run(c, rec, None, None, "CREATE " + c.mb("Gone"))
    run(c, rec, None, None, "SUBSCRIBE " + c.mb("Gone"))
    run(c, rec, None, None, "DELETE " + c.mb("Gone"))

    for i, (m, flags, date) in enumerate(INBOX_MESSAGES, 1):
        run(c, rec, "append" if i == 1 else None,
            "APPEND with a LITERAL+ literal into a non-selected mailbox: tagged OK "
            "[APPENDUID <uidvalidity> 1] (UIDPLUS).",
            *append_args("INBOX", flags, date, m, label="message %d" % i))

    run(c, rec, "status", "STATUS INBOX before any SELECT: 6 messages, all \\Recent, 4 unseen.",
        "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    if t.has("STATUS=SIZE"):
        run(c, rec, "status_size", "STATUS=SIZE extension: SIZE item (sum of RFC822.SIZE).",
            "STATUS INBOX (MESSAGES SIZE)")

    # Quota / ACL
    data = run(c, rec, "getquotaroot", "GETQUOTAROOT: * QUOTAROOT INBOX \"User quota\" then "
               "* QUOTA \"User quota\" (STORAGE used limit) (KiB).", "GETQUOTAROOT INBOX")
    m = re.search(rb'\* QUOTAROOT "?INBOX"? "?([^"\r]*)"?\r', data)
    root = m.group(1).decode() if m else "User quota"
    run(c, rec, "getquota", "GETQUOTA on the root reported by GETQUOTAROOT.",
        'GETQUOTA "%s"' % root)
    run(c, rec, "getquota_unknown", "GETQUOTA on an unknown root (\"\"): tagged NO.",
        'GETQUOTA ""', expect=None)
    run(c, rec, "myrights", "MYRIGHTS INBOX for the owner (all RFC 4314 rights).", "MYRIGHTS INBOX")
    if t.name != "courier":  # Courier's ACL has no LISTRIGHTS
        run(c, rec, "listrights", "LISTRIGHTS INBOX anyone: required rights then optional groups.",
            "LISTRIGHTS INBOX anyone")
    run(c, rec, "getacl", "GETACL INBOX with default ACLs: owner identifier only.", "GETACL INBOX")
    run(c, rec, "setacl_anyone", "SETACL for 'anyone' is refused: tagged BAD (Dovecot's "
        "acl_anyone_allow defaults to no).", "SETACL INBOX anyone lr", expect="BAD")
    for who, rights in ACL_ENTRIES[t.name]:
        run(c, rec, None, None, "SETACL INBOX %s %s" % (who, rights))
    run(c, rec, "getacl_multi", "GETACL INBOX after SETACL: several identifier/rights pairs "
        "on one line: bob, -bob (negative rights), carol@example.com, owner.", "GETACL INBOX")

    # Selecting
    run(c, rec, "examine", "EXAMINE INBOX: FLAGS, OK [PERMANENTFLAGS ()], EXISTS, RECENT, "
        "OK [UNSEEN n], [UIDVALIDITY], [UIDNEXT]; no HIGHESTMODSEQ without CONDSTORE; tagged OK [READ-ONLY].", "EXAMINE INBOX")
    run(c, rec, "select", "SELECT INBOX while INBOX is examined: * OK [CLOSED] first, then FLAGS "
        "(incl. keyword $Label1), PERMANENTFLAGS with \\*, ...; tagged OK [READ-WRITE].",
        "SELECT INBOX")

    run(c, rec, "fetch_full", "All 6 messages: UID FLAGS (\\Recent) INTERNALDATE RFC822.SIZE ENVELOPE "
        "BODYSTRUCTURE; nested multipart, message/rfc822 with embedded ENVELOPE, ENVELOPE literals "
        "(8-bit, or containing a quote/backslash), RFC 2231 filename* merged, "
        "NIL fields, groups, route address, extension data (MD5, disposition, language list, location).",
        "FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    run(c, rec, "fetch_body", "BODY (non-extensible BODYSTRUCTURE form) for all messages.",
        "FETCH 1:* (BODY)")
    run(c, rec, "fetch_sections", "HEADER.FIELDS section echoed with field list, partial BODY[1]<0> "
        "(origin only in the reply).",
        "FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[1]<0.10>)")
    run(c, rec, "fetch_sections_nested", "Nested part sections of message 2: 1.1, 1.2.MIME, "
        "3.HEADER.FIELDS, 3.1 (inside message/rfc822), BINARY[2]<0> as literal8 ~{N}, BINARY.SIZE[2].",
        "FETCH 2 (BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[3.HEADER.FIELDS (SUBJECT DATE)] "
        "BODY.PEEK[3.1]" + (" BINARY.PEEK[2]<0.16> BINARY.SIZE[2])" if t.has("BINARY") else ")"))
    run(c, rec, "fetch_edge", "Edge cases: partial beyond the end ({0} literal, origin <100000> "
        "echoed), HEADER.FIELDS with no matching field ({2} literal holding just CRLF), BODY[] of the "
        "missing-header message.",
        "FETCH 5 (BODY.PEEK[]<100000.10> BODY.PEEK[HEADER.FIELDS (X-NONEXISTENT)] BODY.PEEK[])")
    run(c, rec, "fetch_rfc822_parts", "RFC822.HEADER and RFC822.TEXT on an unseen message: the "
        "implicit \\Seen makes the server add FLAGS to the same FETCH response.",
        "FETCH 5 (RFC822.HEADER RFC822.TEXT)")
    run(c, rec, "fetch_rfc822", "UID RFC822 for all messages (raw literals incl. 8-bit); unseen ones "
        "get an extra FLAGS item because RFC822 sets \\Seen.", "FETCH 1:* (UID RFC822)")
    run(c, rec, "store", "STORE with a new keyword: untagged * FLAGS and * OK [PERMANENTFLAGS] "
        "announce $Custom before the * 1 FETCH (FLAGS ...).", "STORE 1 +FLAGS (\\Flagged $Custom)")

    # Searching, sorting, threading
    run(c, rec, "search_all", "* SEARCH 1 2 3 4 5 6", "SEARCH ALL")
    run(c, rec, "search_empty", "No matches: a bare '* SEARCH' line with no trailing space.",
        'SEARCH SUBJECT "xyzzy-no-such-subject"')
    run(c, rec, "search_utf8", "SEARCH CHARSET UTF-8 with a LITERAL+ argument (matches 8-bit and "
        "RFC 2047 subjects).", "SEARCH CHARSET UTF-8 SUBJECT ",
        Lit("caf\u00e9".encode(), label="caf\u00e9 in UTF-8"))
    if t.has("ESEARCH"):
        run(c, rec, "esearch", "ESEARCH: * ESEARCH (TAG \"A0nn\") UID MIN 1 MAX 6 ALL 1:6 COUNT 6 (COUNT after ALL).",
            "UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")
        run(c, rec, "esearch_empty", "ESEARCH with no matches: only the TAG, UID and COUNT 0.",
            "UID SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT xyzzy-no-such-subject")
    run(c, rec, "sort_arrival", "SORT by INTERNALDATE: message 3 (5-Jan) sorts first.",
        "SORT (ARRIVAL) UTF-8 ALL")
    run(c, rec, "sort_subject", "SORT by base subject (Re:, RFC 2047 decoded; NIL subject sorts "
        "as empty).", "SORT (SUBJECT) UTF-8 ALL")
    if t.has("ESORT"):
        run(c, rec, "esort", "ESORT: * ESEARCH (TAG ..) with MIN/MAX = first/last in sort order (MIN 6 MAX 3) "
            "and ALL as a comma list in sort order; COUNT last.", "SORT RETURN (ALL COUNT MIN MAX) (REVERSE DATE) UTF-8 ALL")
    run(c, rec, "thread_references", "THREAD REFERENCES: nested parenthesised threads from "
        "In-Reply-To/References.", "THREAD REFERENCES UTF-8 ALL")
    run(c, rec, "thread_orderedsubject", "THREAD ORDEREDSUBJECT: grouped by base subject.",
        "THREAD ORDEREDSUBJECT UTF-8 ALL")
    if t.has("THREAD=REFS"):
        run(c, rec, "thread_refs", "THREAD REFS (draft REFERENCES variant: threads sorted by latest message; here (5) first).",
            "THREAD REFS UTF-8 ALL")

    # UIDPLUS
    run(c, rec, "copyuid", "UID COPY: tagged OK [COPYUID <uidvalidity> 1:2 1:2].",
        'UID COPY 1:2 ' + c.mb('"Archive/2024"'))
    run(c, rec, "append_sync", "APPEND with a synchronizing literal: '+ OK' continuation request, "
        "then tagged OK [APPENDUID <uidvalidity> 3].",
        *append_args(c.mb('"Archive/2024"'), "(\\Seen $Archived)", " 1-Jan-2024 00:00:00 +0000", M7,
                     plus=False, label="message 7"))
    run(c, rec, "append_selected", "APPEND into the selected INBOX: untagged * 7 EXISTS / * 7 RECENT "
        "before the tagged OK [APPENDUID ...].",
        *append_args("INBOX", "()", "15-Jan-2024 10:00:00 +0000", M8, label="message 8"))
    if t.has("MOVE"):
        run(c, rec, "move", "UID MOVE: untagged * OK [COPYUID ...] then * 7 EXPUNGE and * 6 RECENT, "
            "tagged OK without a code.",
            'UID MOVE 7 ' + c.mb('"Sent Items"'))

    # Listing
    run(c, rec, "list_delimiter", "LIST \"\" \"\": hierarchy delimiter query, \\Noselect with empty name.",
        'LIST "" ""')
    run(c, rec, "list", "LIST all: atoms unquoted, \"Sent Items\" and \"Say \\\"hi\\\"\" quoted (escaped "
        "quotes), modified UTF-7 atom, Archive as (\\Noselect \\HasChildren).", 'LIST "" "*"')
    run(c, rec, "list_percent", "LIST top level with %.", 'LIST "" "%"')
    run(c, rec, "lsub", "LSUB: subscriptions incl. 'Gone' "
        "(deleted after subscribing); empty attribute lists ().", 'LSUB "" "*"')
    if t.has("LIST-EXTENDED"):
        run(c, rec, "list_subscribed", "LIST-EXTENDED (SUBSCRIBED): \\Subscribed, \\NonExistent for "
            "'Gone'.", 'LIST (SUBSCRIBED) "" "*"')
        run(c, rec, "list_recursivematch", "LIST (SUBSCRIBED RECURSIVEMATCH) with %: CHILDINFO "
            "extended data for Archive.", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    if t.has("LIST-STATUS"):
        run(c, rec, "list_status", "LIST-STATUS: each * LIST followed by * STATUS for selectable "
            "mailboxes (none for \\Noselect Archive); no CHILDREN attributes here.", 'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    if t.has("LIST-EXTENDED"):
        run(c, rec, "list_children", "LIST RETURN (CHILDREN SUBSCRIBED).",
            'LIST "" "*" RETURN (CHILDREN SUBSCRIBED)')

    # Errors
    run(c, rec, "bad_syntax", "Bad FETCH attribute: tagged BAD with a parse error text.",
        "FETCH 1 (NOSUCHATTR)", expect="BAD")
    run(c, rec, "select_nonexistent", "SELECT of a missing mailbox: * OK [CLOSED] for the INBOX "
        "that was selected, then a tagged NO without a response code.", 'SELECT ' + c.mb('"No/Such"'), expect="NO")
    run(c, rec, "bad_command", "Unknown command: tagged BAD.", "FROBNICATE now", expect="BAD")
    run(c, rec, "fetch_not_selected", "FETCH in authenticated state: tagged BAD "
        "(No mailbox selected).", "FETCH 1 FLAGS", expect=None)

    run(c, rec, "select_archive", "SELECT Archive/2024 (copied + appended messages, keyword "
        "$Archived).", 'SELECT ' + c.mb('"Archive/2024"'))
    run(c, rec, None, None, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    run(c, rec, "expunge", "EXPUNGE: * 1 EXPUNGE, * 2 RECENT, tagged OK.", "EXPUNGE")
    run(c, rec, "logout", "LOGOUT: * BYE then tagged OK.", "LOGOUT")
    c.close()


def session_condstore(t, rec):
    c = opened(t, "B")
    run(c, rec, "enable_condstore", "* ENABLED CONDSTORE", "ENABLE CONDSTORE")
    run(c, rec, "status_condstore", "STATUS with HIGHESTMODSEQ.",
        "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)")
    run(c, rec, "select_condstore", "SELECT after ENABLE CONDSTORE: [HIGHESTMODSEQ n]; no \\Recent "
        "left (the first session took them).", "SELECT INBOX")
    data = run(c, rec, "fetch_modseq", "FETCH UID MODSEQ FLAGS: MODSEQ (n) is a parenthesised "
               "number; all six share one value because Dovecot only starts tracking modseqs when "
               "CONDSTORE is first used.", "FETCH 1:* (UID MODSEQ FLAGS)")
    m3 = re.search(rb"\* 3 FETCH \([^\r]*MODSEQ \((\d+)\)", data)
    hi = max(int(x) for x in re.findall(rb"MODSEQ \((\d+)\)", data))
    run(c, rec, "store_condstore", "STORE with CONDSTORE enabled: the untagged FETCH carries "
        "MODSEQ (n) before FLAGS (no UID for a non-UID STORE).", "STORE 2 +FLAGS (\\Flagged)")
    run(c, rec, "store_unchangedsince", "STORE (UNCHANGEDSINCE n), n = MODSEQ of message 3: message 2 "
        "changed after n, so tagged OK [MODIFIED 2]; message 1 updated (FETCH with MODSEQ); message 3 "
        "already had \\Answered, so no FETCH for it.",
        "STORE 1:3 (UNCHANGEDSINCE %s) +FLAGS (\\Answered)" % m3.group(1).decode())
    run(c, rec, "fetch_changedsince", "FETCH (CHANGEDSINCE n): only messages changed after n; MODSEQ "
        "added implicitly at the end (after FLAGS).", "FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % hi)
    run(c, rec, "search_modseq", "SEARCH MODSEQ: * SEARCH ... (MODSEQ n) trailer.",
        "SEARCH MODSEQ %d" % hi)
    run(c, rec, None, None, "LOGOUT")
    c.close()


def session_qresync(t, rec):
    c = opened(t, "C")
    data = run(c, rec, None, None, "STATUS INBOX (UIDVALIDITY)")
    uv = re.search(rb"UIDVALIDITY (\d+)", data).group(1).decode()
    run(c, rec, "enable_qresync", "* ENABLED QRESYNC (implies CONDSTORE).", "ENABLE QRESYNC")
    run(c, rec, "select_qresync", "SELECT (QRESYNC (uidvalidity 1)): * VANISHED (EARLIER) for the "
        "moved UID 7 and FETCH (UID FLAGS MODSEQ) of all changed messages.",
        "SELECT INBOX (QRESYNC (%s 1))" % uv)
    run(c, rec, "uid_fetch_vanished", "UID FETCH (CHANGEDSINCE 1 VANISHED): * VANISHED (EARLIER) "
        "then FETCHes.", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    run(c, rec, None, None, "LOGOUT")
    c.close()


DOVECOT_QUIRKS = r"""## Notable details in the bytes

- **Literals in ENVELOPE.** Dovecot sends an ENVELOPE string as a `{N}` literal
  whenever it holds 8-bit bytes *or* a `"` or `\`: the raw UTF-8 subject and
  display names of message 3 (`{14}\r\nRéunion café`, N counts bytes) and the
  subject `He said "hi" \o/` and the names `Doe, John "JD"` / `back\slash` of
  message 6 (unescaped content, display-name quoting removed). Everything else
  is a quoted string. LIST/STATUS mailbox names instead use quoted strings with
  backslash escapes (`"Say \"hi\""`) and atoms when possible (`Trash`,
  `&AOk-t&AOk-`, `Archive/2024`).
- **RFC 2047 is not decoded** in ENVELOPE or BODYSTRUCTURE (`"=?UTF-8?B?...?="`
  as sent), but RFC 2231 continuations are merged: `filename*0*`/`filename*1*`
  come back as one `"filename*" "UTF-8''r%C3%A9sum%C3%A9.pdf"` (still
  percent-encoded, name keeps the trailing `*`), moved after the other params.
- **NIL placement.** Missing Date/Subject/To/Cc/Bcc/In-Reply-To/Message-ID are
  `NIL`; Sender and Reply-To default to From. A bare address has a NIL name.
  Groups are `(NIL NIL "name" NIL)` ... `(NIL NIL NIL NIL)`; an empty group
  is the two markers back to back. A route gives `(NIL "@relay.example.net"
  "hidden" "example.com")`. Address comments are dropped. message/rfc822 has
  NIL body params (not `()`); a part without charset (text/enriched, or no
  Content-Type at all) gets `("charset" "us-ascii")`. A single
  Content-Language is still a list (`("fr")`); disposition without params is
  `("inline" NIL)`.
- **INTERNALDATE is normalised to +0000** (Maildir keeps only a timestamp):
  APPENDed `" 5-Jan-2024 23:59:59 -0800"` reads back `"06-Jan-2024 07:59:59
  +0000"`, day zero-padded.
- **FETCH item order** follows the request, except an implicit `FLAGS`
  (from RFC822 / RFC822.TEXT setting `\Seen`) is inserted right after UID, or
  first. Section names are echoed normalised: `BODY.PEEK[1]<0.10>` ->
  `BODY[1]<0>`, BINARY uses literal8 `~{16}`. A partial beyond the end is
  `{0}\r\n` (a literal, not `""`); HEADER.FIELDS with no match is `{2}\r\n\r\n`.
- **Untagged surprises:** a STORE that introduces a keyword first sends
  `* FLAGS` and `* OK [PERMANENTFLAGS ...]`; SELECT while a mailbox is selected
  starts with `* OK [CLOSED]` (also when the SELECT then fails); MOVE/EXPUNGE/
  APPEND to the selected mailbox send `* n RECENT` updates; `* SEARCH` with no
  hits has no trailing space; ESEARCH puts COUNT after ALL; ESORT MIN/MAX are
  the first/last in sort order.
- **Refusals:** `SUBSCRIBE` to a missing mailbox -> NO; `SETACL ... anyone` ->
  BAD (`acl_anyone_allow` is off); `GETQUOTA ""` -> NO; `SETQUOTA` is not
  captured (always NO by design of the test config).
- Tagged OK text ends with timings like `(0.001 + 0.000 secs).`, sometimes
  three numbers (`(0.008 + 0.000 + 0.007 secs).`); not on the LOGIN reply.
"""


DOVECOT_README = """\
# IMAP response captures from Dovecot

Known-answer test data for the response parsers: exact bytes a real Dovecot
%(version)s sent, captured by `tests/captures/capture.py` over a raw socket
(plain IMAP on 127.0.0.1, server from `tests/dovecot/server.sh`, user `%(user)s`).

Each `<name>.txt` holds everything the server sent for one command: from the
first response line after the command up to and including the tagged
completion line. CRLFs, literals (`{N}` and literal8 `~{N}`) and 8-bit bytes
are kept as sent, so compare them as bytes (`include_bytes!`). The only
exception is `greeting.txt` (sent on connect, no command). `append_sync.txt`
starts with the `+ OK` continuation request. Tags are `A001`..., `B001`...
(CONDSTORE session) and `C001`... (QRESYNC session), in command order.

Not stable across runs: UIDVALIDITY values and the `(0.001 + 0.000 secs)`
timings on tagged OK lines. Everything else is deterministic on a fresh server.

Messages in INBOX (sequence = UID), all APPENDed with a fixed INTERNALDATE:

1. simple text/plain, `Message-ID <m1@example.org>`, thread root, flags `()`
2. multipart/mixed [multipart/alternative [text/plain utf-8 QP + Content-Language list,
   text/html 8bit inline], application/pdf attachment (RFC 2231 `filename*0*/1*`,
   RFC 2047 `name`, Content-ID/Description/MD5/Language/Location), message/rfc822
   containing multipart/alternative]; reply to 1; flags `(\\Seen)`
3. raw 8-bit UTF-8 Subject/From/Cc; INTERNALDATE 5-Jan (oldest); reply to 2; `(\\Answered \\Seen)`
4. RFC 2047 From/To/Subject (UTF-8 B + ISO-8859-1 Q); reply to 1; `($Label1)`
5. only `From: lonely@example.com` and X-Mailer: NIL date/subject/to/message-id...; `(\\Draft)`
6. groups in To (`undisclosed-recipients:;`, `Friends: ...;`), four Cc, quotes and
   backslashes in display names and Subject, Sender/Reply-To, route address in Bcc;
   reply to 3; `(\\Flagged)`

Mailboxes: `Archive/2024` (+ implicit parent `Archive`), `Sent Items`,
`&AOk-t&AOk-` ("été"), `Say "hi"`, `Trash`; subscribed: INBOX, Archive/2024,
Sent Items, &AOk-t&AOk-, Gone (does not exist).

The same session on Cyrus IMAP 3.6 and Courier-IMAP 5.0 (what each supports of it,
plus what each has beyond it) is in `cyrus/` and `courier/`, each with a README
of its own: how the server was run, what is not stable, what its bytes show.

%(quirks)s
## Index

```json
%(index)s
```
"""


def session_extras(t, rec):
    """What a server has beyond the Dovecot session: special-use mailboxes,
    METADATA and message annotations (Cyrus), UTF-8 names (Courier)."""
    c = opened(t, "D")
    if t.has("CREATE-SPECIAL-USE"):
        run(c, rec, "create_special_use", "", "CREATE Drafts (USE (\\Drafts))")
        run(c, rec, None, None, "CREATE Junk (USE (\\Junk))")
        run(c, rec, "list_special_use", "", 'LIST (SPECIAL-USE) "" "*"')
        run(c, rec, "list_return_special_use", "", 'LIST "" "%" RETURN (SPECIAL-USE)')
    if t.has("METADATA"):
        run(c, rec, "setmetadata", "", 'SETMETADATA INBOX (/private/comment "Mail to keep")')
        run(c, rec, "getmetadata", "", "GETMETADATA INBOX (/private/comment /shared/comment)")
        run(c, rec, "getmetadata_server", "", 'GETMETADATA "" (/shared/comment)')
    if t.has("ANNOTATE-EXPERIMENT-1"):
        run(c, rec, None, None, "SELECT INBOX")
        run(c, rec, "store_annotation", "", 'STORE 1 ANNOTATION (/comment (value.priv "call back"))')
        run(c, rec, "fetch_annotation", "",
            "FETCH 1:2 (UID ANNOTATION (/comment (value.priv value.shared)))")
    if t.has("UTF8=ACCEPT"):
        run(c, rec, "enable_utf8", "", "ENABLE UTF8=ACCEPT")
        run(c, rec, "list_utf8", "", 'LIST "" "*"')
        run(c, rec, "status_utf8", "", "STATUS " + c.mb('"\u00e9t\u00e9"') + " (MESSAGES UIDNEXT)")
    run(c, rec, None, None, "LOGOUT")
    c.close()


def server_version(t, env, greeting_dir):
    """The server's version as the README states it."""
    if t.name == "dovecot":
        try:
            return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    if t.name == "cyrus":
        with open(os.path.join(greeting_dir, "greeting.txt"), "rb") as f:
            m = re.search(rb"Cyrus IMAP (\S+)", f.read())
        return "Cyrus IMAP " + (m.group(1).decode() if m else "?")
    # Courier: the imapd the stream wrapper runs says it.
    with open(t.stream[0]) as f:
        m = re.search(r"(\S+/usr/bin/imapd) Maildir", f.read())
    out = subprocess.run([m.group(1), "--version"], capture_output=True, text=True,
                         env={"LD_LIBRARY_PATH": "/usr/lib/courier-authlib"}, stdin=subprocess.DEVNULL)
    return out.stdout.strip().split("/")[0]


# Filled in from what each server sent (see its README).
NOTES = {"cyrus": {}, "courier": {}}
EXPECT = {
    ("cyrus", "getquota"): "NO",  # the user's own root INBOX: NO Permission denied
    ("cyrus", "setacl_anyone"): "OK",
    ("courier", "subscribe_nonexistent"): "OK",
    ("courier", "setacl_anyone"): "OK",
    # Courier answers what it cannot parse with NO, not BAD.
    ("courier", "bad_syntax"): "NO",
    ("courier", "bad_command"): "NO",
}
ACL_ENTRIES = {
    "dovecot": [("bob", "lrs"), ('"carol@example.com"', "lrswi"), ("-bob", "w")],
    "cyrus": [("bob", "lrs"), ('"carol@example.com"', "lrswi"), ("-bob", "w")],
    # Courier's identifiers are owner, anyone, authuser, administrators, user=NAME
    # and group=NAME of users it knows (none here: user=bob is "Invalid ACL identifier").
    "courier": [("authuser", "lrs"), ("-authuser", "w")],
}
OTHER_README = """\
# IMAP response captures from %(server)s

Known-answer test data like the Dovecot captures (`../README.md` says how
the files are laid out): exact bytes a real %(version)s sent, captured by
`tests/captures/capture.py`, user `%(user)s`. Checked by
`guest/protocol/tests/typed_captures.rs`.

%(quirks)s
## Index

```json
%(index)s
```
"""
NAMES = {"dovecot": "Dovecot", "cyrus": "Cyrus IMAP", "courier": "Courier-IMAP"}
README_HEAD = {"dovecot": DOVECOT_README, "cyrus": OTHER_README, "courier": OTHER_README}
CYRUS_QUIRKS = r"""Started by `tests/cyrus/server.sh` (plain IMAP on 127.0.0.1, LOGIN with
SASL PLAIN users from its sasldb, alternate namespace), the same six
INBOX messages and mailboxes as the Dovecot captures. Tags `A...` (main
session), `B...` (CONDSTORE), `C...` (QRESYNC), `D...` (special-use,
METADATA, annotations).

Not stable across runs: UIDVALIDITY values, `MAILBOXID (...)` and
`SESSIONID=<...>` values, the timings on tagged OK lines
(`(0.000 secs 6 calls)`, `(6 msgs in 0.000 secs)`, `(0.000 sec)`).

## Notable details in the bytes

- **8-bit header bytes are replaced by `X`** when a message is APPENDed
  (`munge8bit`): message 3's subject is stored and sent as `RXXunion cafXX`,
  in ENVELOPE and in RFC822 alike.
- **ENVELOPE literals** for strings with `"` or `\` (message 6, like
  Dovecot); BODYSTRUCTURE values too (`"FILENAME*" {27}`).
- **BODYSTRUCTURE is upper case**: media types, subtypes, parameter names,
  encodings, dispositions and languages (`"TEXT" "PLAIN" ("CHARSET"
  "us-ascii")`, `("ATTACHMENT" ...)`, `("EN" "FR")`). RFC 2231 continuations
  are merged into `FILENAME*`, kept first. A part without charset
  (text/enriched) has NIL parameters. Every single part has all four
  extension fields.
- **FETCH item order is the server's**: FLAGS first, then UID, whatever was
  asked; sections in their own order (`3.HEADER.FIELDS` before `1.1`).
  BINARY comes as a plain `{16}` literal, not literal8. A partial beyond the
  end is `""`. INTERNALDATE is UTC with a space-padded day (`" 6-Jan-2024"`).
- **Alternate namespace**: `(("" "/")) (("Other Users/" "/")) (("Shared
  Folders/" "/"))`; the quota root of INBOX is `INBOX` (1 GiB), but GETQUOTA
  of it is `NO Permission denied` for the user; `GETQUOTA ""` too.
- **Searches**: ESEARCH puts COUNT first (`COUNT 6 MIN 1 MAX 6 ALL 1:6`),
  ESORT's MIN/MAX are numeric, not first/last in sort order. THREAD REFS
  puts the thread with the newest message last. Each message has its own
  MODSEQ (Dovecot gave all six one value), so SEARCH MODSEQ 16 finds 1 and 2.
- **Answers**: SUBSCRIBE of a missing mailbox `NO`; `SETACL INBOX anyone lr`
  OK; STORE (UNCHANGEDSINCE) reports `[MODIFIED 1:2]`; MOVE sends
  `* OK [COPYUID ...]`, `* 7 EXPUNGE`, no RECENT; SELECT sends `[MAILBOXID]`,
  `[URLMECH INTERNAL]`, `[ANNOTATIONS 65536]`; LIST shows `Archive` (made
  by CREATE Archive/2024) without `\Noselect`, LIST-EXTENDED says
  `\NonExistent`.
"""

COURIER_QUIRKS = r"""Run by `tests/courier/server.sh` as a pre-authenticated `imapd Maildir`
stream (`* PREAUTH Ready.`, no LOGIN), the same six INBOX messages; the
mailboxes live under the personal namespace `INBOX.` with delimiter `.`
(`INBOX.Archive.2024`, `INBOX.Sent Items`, `INBOX.&AOk-t&AOk-`, ...). Courier
has no LITERAL+, so every literal waits for `+ OK`. Tags `A...` (main
session), `D...` (UTF8=ACCEPT). No CONDSTORE, QRESYNC, ESEARCH, MOVE,
LIST-EXTENDED, BINARY, ID or STATUS=SIZE: not asked.

Not stable across runs: UIDVALIDITY values. Nothing else varies (no timings).

## Notable details in the bytes

- **SELECT and EXAMINE send no `[UIDNEXT]`** (nor UNSEEN); STATUS does.
  `* 0 RECENT` in a stream session, and no `\Recent` flags.
- **8-bit headers are RFC 2047-encoded by the server** in ENVELOPE
  (`"=?utf-8?B?UsOpdW5pb24gY2Fmw6k=?="`); strings with `"` or `\` are quoted
  with escapes, never literals.
- **Groups lose their names**: every group marker is `(NIL NIL "" NIL)`, and
  a comment between addresses (`<three@example.com> (comment),`) becomes an
  address `(NIL NIL "" NIL)` of its own. A route address keeps the route in
  the mailbox (`"@relay.example.net:hidden"`, adl NIL).
- **BODYSTRUCTURE is lower case**, a single part has three extension fields
  (MD5, disposition, language) and a multipart three (parameters,
  disposition, language), Content-Language and
  Content-Location are not reported (NIL); RFC 2231 continuations are sent
  as they are (`"filename*0*" ... "filename*1*" ...`); parts without a
  Content-Transfer-Encoding, and message/rfc822, are `"8bit"`; a part
  without Content-Type has NIL parameters.
- **HEADER.FIELDS is echoed with quoted names** (`BODY[3.HEADER.FIELDS
  ("SUBJECT" "DATE")]`). A partial beyond the end is `{0}`.
- **Quota and ACL**: `* QUOTAROOT "INBOX" "ROOT"` and `* QUOTA "ROOT"` with no
  resource list at all; `GETQUOTA ""` answers OK with `* QUOTA ""`. ACL
  identifiers are `owner`, `administrators`, `anyone`, `authuser` (a
  `user=bob` the server does not know is `NO Invalid ACL identifier.`); all
  quoted. No LISTRIGHTS.
- **Names are always quoted** in LIST/LSUB/STATUS (`"INBOX"`); with
  UTF8=ACCEPT enabled they come as UTF-8 (`"INBOX.été"`). LSUB lists the
  deleted `INBOX.Gone` as `(\HasNoChildren)`.
- **Answers**: an unknown command and a bad FETCH attribute are `NO Error in
  IMAP command received by server.` (not BAD); SUBSCRIBE of a missing
  mailbox OK; CREATE of an existing one `NO Cannot create this folder.`
  without `[ALREADYEXISTS]`; `* THREAD` and `* SORT` for nothing are bare;
  a STORE with a new keyword sends `* FLAGS` and `PERMANENTFLAGS` first.
"""

QUIRKS = {"dovecot": DOVECOT_QUIRKS, "cyrus": CYRUS_QUIRKS, "courier": COURIER_QUIRKS}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="/tmp/capdove/env", help="server.sh env file (default %(default)s)")
    ap.add_argument("--port", type=int, help="plain IMAP port (overrides --env)")
    ap.add_argument("--user", default="kat", help="fresh user to log in as (default %(default)s)")
    ap.add_argument("--out", default=None,
                    help="output directory (default captures/ for Dovecot, captures/SERVER/ otherwise)")
    ap.add_argument("--dovecot-version", default=None, help="version for README (default: asked of the server)")
    a = ap.parse_args()

    env = {}
    if a.env and os.path.exists(a.env):
        with open(a.env) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    if a.port is not None:
        env["WASIMAP_IMAP_PORT"] = str(a.port)
    server = env.get("WASIMAP_SERVER", "dovecot")
    t = Target(server, env, a.user)
    if "WASIMAP_ADD_USER_COMMAND" in env:  # Cyrus: users live in its sasldb
        subprocess.run([env["WASIMAP_ADD_USER_COMMAND"], a.user], check=True)
    out = a.out or (DEFAULT_OUT if server == "dovecot" else os.path.join(DEFAULT_OUT, server))
    os.makedirs(out, exist_ok=True)
    rec = Recorder(out, server)
    session_main(t, rec)
    if t.has("CONDSTORE"):
        session_condstore(t, rec)
    if t.has("QRESYNC"):
        session_qresync(t, rec)
    if server != "dovecot":
        session_extras(t, rec)
    version = a.dovecot_version or server_version(t, env, out)

    index = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in rec.index)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(README_HEAD[server] % {"server": NAMES[server], "version": version, "user": a.user, "quirks": QUIRKS[server],
                                       "index": "[\n" + index + "\n]"})
    print("wrote %d captures and README.md to %s" % (len(rec.index), out))


if __name__ == "__main__":
    try:
        main()
    except ImapError as e:
        print("capture.py: %s" % e, file=sys.stderr)
        sys.exit(1)
