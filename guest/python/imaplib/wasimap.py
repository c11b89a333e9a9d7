"""Helpers for imaplib scripts run by `wasimap run script.py`.

`secret(name)` stands for a secret the host holds (`wasimap run --secret
NAME=env:VAR ...`): pass it as the password of `IMAP4.login` or
`IMAP4.login_cram_md5` and the protocol component sends the value to the
server without the script ever seeing it::

    import imaplib
    try:
        from wasimap import secret
        password = secret("imap-password")      # in the sandbox
    except ImportError:
        password = os.environ["IMAP_PASSWORD"]   # under CPython

A `Secret` cannot be turned into its value: `str()` gives its name only.
"""

__all__ = ["Secret", "secret", "in_sandbox"]

#: True: this module exists only inside wasimap's sandbox.
in_sandbox = True


class Secret:
    """The name of a secret the host holds, never its value."""

    __slots__ = ("name",)

    def __init__(self, name):
        if not isinstance(name, str) or not name:
            raise ValueError("a secret's name is a non-empty str")
        self.name = name

    def __repr__(self):
        return f"wasimap.secret({self.name!r})"

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, Secret) and other.name == self.name

    def __hash__(self):
        return hash(("wasimap.Secret", self.name))


def secret(name):
    """The host's secret `name` (`--secret NAME=...`), usable as a password."""
    return Secret(name)
