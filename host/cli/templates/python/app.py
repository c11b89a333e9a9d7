"""`{{name}}`: a wasimap plugin in Python. It logs in and prints every
mailbox with its message and unseen counts; make it do your job.

The session is imaplib's: `Imap4` methods return `Response(typ, data)` and
failures raise `Err(ImapError_*)`; `typed` parses the data. Raising
`Err(message)` from `run` makes the host print it and exit 1.
"""

import sys
from typing import List

import wit_world
from componentize_py_types import Err
from wit_world.imports import progress, typed
from wit_world.imports.client import Imap4

USAGE = "usage: {{name}} --user USER (--password PASS | --password-secret NAME) [--host H] [--port P]"


def options(args: List[str]) -> dict:
    """`--name value` pairs."""
    if len(args) % 2 or not all(a.startswith("--") for a in args[::2]):
        raise Err(USAGE)
    o = {"host": "127.0.0.1", "port": "143"}
    o.update({k[2:]: v for k, v in zip(args[::2], args[1::2])})
    if "user" not in o or not o["port"].isdigit():
        raise Err(USAGE)
    return o


def check(what: str, call, *args):
    """Calls an Imap4 method; a failure or a NO becomes `run`'s error."""
    try:
        r = call(*args)
    except Err as e:
        raise Err(f"{what}: {e.value.value.message}") from None
    if r.typ != "OK":
        raise Err(f"{what} failed: {r.typ}")
    return r


class WitWorld(wit_world.WitWorld):
    def run(self, args: List[str]) -> None:
        o = options(args)
        try:
            imap = Imap4.open_tcp(o["host"], int(o["port"]), 60.0)
        except Err as e:
            raise Err(f"connecting to {o['host']}:{o['port']}: {e.value.value.message}") from None
        with imap:
            if "password-secret" in o:
                check("LOGIN", imap.login_secret, o["user"], o["password-secret"])
            else:
                check("LOGIN", imap.login, o["user"], o.get("password", ""))
            listed = check("LIST", imap.list, None, None)
            names = [e.name for e in typed.parse_list(listed.data)
                     if "\\noselect" not in {a.lower() for a in e.attributes}]
            for done, name in enumerate(names):
                status = typed.parse_status(check("STATUS", imap.status, name, "(MESSAGES UNSEEN)").data)
                items = dict(status[0].items) if status else {}
                print(f"{typed.mutf7_decode(name):<30} {items.get('MESSAGES', 0):>6} {items.get('UNSEEN', 0):>6}")
                # Shown as a bar on a terminal, not at all otherwise.
                progress.report("{{name}}", done + 1, len(names))
            progress.finish()
            imap.logout()
        sys.stdout.flush()
