#!/usr/bin/env python3
"""The shell plugin's JSON-lines protocol (docs/shell.md) over CPython's
imaplib: the reference side of the differential tests.

Reads one call per line on stdin, answers one line each on stdout.
The time zone is the environment's (TZ), as for the wasimap host.
"""

import datetime
import imaplib
import json
import ssl
import sys
import time


def to_bytes(v):
    if isinstance(v, dict) and "b" in v:
        return v["b"].encode("latin-1")
    if isinstance(v, str):
        return v.encode("utf-8")
    raise TypeError(f"expected bytes, got {v!r}")


def arg(v):
    """Bytes stay bytes; numbers become strings, as the shell plugin does."""
    if isinstance(v, dict) and "b" in v:
        return to_bytes(v)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return str(v)
    return v


def enc(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return {"b": bytes(v).decode("latin-1")}
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (bytes, bytearray)) for x in v):
        return [enc(v[0]), enc(v[1])]
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    return v


def context(tls):
    tls = tls or {}
    if tls.get("insecure"):
        ctx = ssl._create_unverified_context()
    else:
        ctx = ssl.create_default_context(cafile=tls.get("ca_file"))
    if "ca_pem" in tls:
        ctx.load_verify_locations(cadata=to_bytes(tls["ca_pem"]).decode("ascii"))
    return ctx


def authobject(mechanism, user, secret, host=None, port=None):
    mech = mechanism.upper()
    state = {"n": 0}

    def respond(challenge):
        n = state["n"]
        state["n"] += 1
        if mech == "PLAIN":
            return f"\0{user}\0{secret}".encode() if n == 0 else b""
        if mech == "LOGIN":
            return [user.encode(), secret.encode()][n] if n < 2 else b""
        if mech == "CRAM-MD5":
            import hmac
            return f"{user} {hmac.HMAC(secret.encode(), challenge, 'md5').hexdigest()}".encode()
        if mech == "XOAUTH2":
            return f"user={user}\x01auth=Bearer {secret}\x01\x01".encode() if n == 0 else b""
        raise ValueError(f"unsupported mechanism {mechanism}")

    return respond


def struct_time(t):
    return None if t is None else [t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday,
                                   t.tm_yday, t.tm_isdst]


def date_time(v):
    """The shell's date forms as Python values: a 9-element list is a
    tuple (a naive struct_time), {"datetime": [...], "utcoffset": s} an
    aware datetime (naive without "utcoffset"); others pass unchanged."""
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, dict) and "datetime" in v:
        tz = None
        if "utcoffset" in v:
            tz = datetime.timezone(datetime.timedelta(seconds=v["utcoffset"]))
        return datetime.datetime(*v["datetime"], tzinfo=tz)
    return v


def utility(name, args):
    if name == "Int2AP":
        return {"value": enc(imaplib.Int2AP(args[0]))}
    if name == "ParseFlags":
        return {"value": enc(list(imaplib.ParseFlags(to_bytes(args[0]))))}
    if name == "Internaldate2tuple":
        return {"value": struct_time(imaplib.Internaldate2tuple(to_bytes(args[0])))}
    if name == "Time2Internaldate":
        return {"value": imaplib.Time2Internaldate(date_time(args[0]))}
    return None


def open_connection(kind, args):
    timeout = None
    if args and isinstance(args[-1], dict) and "timeout" in args[-1]:
        timeout = args.pop()["timeout"]
    if kind == "IMAP4":
        return imaplib.IMAP4(args[0], int(args[1]), timeout=timeout)
    if kind == "IMAP4_SSL":
        return imaplib.IMAP4_SSL(args[0], int(args[1]), ssl_context=context(args[2] if len(args) > 2 else None),
                                 timeout=timeout)
    if kind == "IMAP4_stream":
        return imaplib.IMAP4_stream(args[0])
    raise ValueError(f"unknown connection class {kind!r}")


GETATTR = {"PROTOCOL_VERSION": "PROTOCOL_VERSION", "tagpre": "tagpre"}


def call(M, method, args):
    if method in ("getattr", "setattr") and args[0] == "_MAXLINE":
        # A module global in imaplib; the shell sets it per connection.
        if method == "setattr":
            imaplib._MAXLINE = args[1]
            return {"value": None}
        return {"value": imaplib._MAXLINE}
    if method == "getattr":
        value = getattr(M, args[0])
        if args[0] == "capabilities":
            value = list(value)
        return {"value": enc(value)}
    if method == "setattr":
        setattr(M, args[0], args[1])
        return {"value": None}
    if method == "authenticate":
        typ, data = M.authenticate(args[0], authobject(args[0], args[1], args[2]))
    elif method == "starttls":
        typ, data = M.starttls(ssl_context=context(args[0] if args else None))
    elif method == "select":
        typ, data = M.select(arg(args[0]) if args and args[0] is not None else "INBOX",
                             bool(args[1]) if len(args) > 1 else False)
    elif method in ("list", "lsub"):
        directory = args[0] if args and args[0] is not None else '""'
        pattern = args[1] if len(args) > 1 and args[1] is not None else "*"
        typ, data = getattr(M, method)(directory, pattern)
    elif method == "append":
        typ, data = M.append(arg(args[0]), arg(args[1]), date_time(args[2]), to_bytes(args[3]))
    elif method == "getquotaroot":
        typ, data = M.getquotaroot(arg(args[0]))
        return {"typ": typ, "data": [enc(data[0]), enc(data[1])]}
    elif method in ("send",):
        M.send(to_bytes(args[0]))
        return {"value": None}
    elif method == "read":
        return {"value": enc(M.read(int(args[0])))}
    elif method == "readline":
        return {"value": enc(M.readline())}
    elif method == "shutdown":
        M.shutdown()
        return {"value": None}
    else:
        fn = getattr(M, method)
        typ, data = fn(*[arg(a) for a in args])
    return {"typ": typ, "data": enc(data)}


def main():
    M = None
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            parts = json.loads(line)
            method, args = parts[0], parts[1:]
            answer = utility(method, args)
            if answer is None:
                if M is None:
                    M = open_connection(method, list(args))
                    answer = {"value": None}
                else:
                    answer = call(M, method, args)
        except imaplib.IMAP4.readonly as e:
            answer = {"error": "readonly", "message": str(e)}
        except imaplib.IMAP4.abort as e:
            answer = {"error": "abort", "message": str(e)}
        except imaplib.IMAP4.error as e:
            answer = {"error": "error", "message": str(e)}
        except Exception as e:  # not an imaplib exception (OSError, TypeError, ...): the session goes on
            answer = {"error": "exception", "message": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    time.tzset()
    main()
