"""imaplib for scripts run by `wasimap run script.py`.

The public API of CPython's `imaplib` (`IMAP4`, `IMAP4_SSL`,
`IMAP4_stream`, every command as a method returning `(typ, [data, ...])`,
`IMAP4.error` / `abort` / `readonly`, `Internaldate2tuple`, `Int2AP`,
`ParseFlags`, `Time2Internaldate`, `Commands`, the attributes and the
context manager, `idle()` from 3.14), implemented over the
`wasimap:imap/client` interface: the protocol component speaks IMAP and
the host makes the connections the user granted. A script written against
imaplib runs unchanged.

Differences a script can notice:

- Passwords may be `wasimap.secret("NAME")`: `login` and `login_cram_md5`
  then let the host send the secret without the script seeing it.
- `ssl_context` is described, not used: `create_default_context(cafile=...,
  cadata=...)`, `check_hostname = False` with `verify_mode = CERT_NONE`
  (the host must grant it with `--allow-insecure-tls`); anything else
  raises `NotImplementedError` (see `wasimap_ssl`).
- `socket()`, `ssl()`, `sock`, `file` do not exist: the script has no
  socket. `untagged_responses` is a snapshot (a dict built on each read);
  change it with `response(code)`, which pops.
- Arguments are encoded by the RFC 3501 grammar (`create('Space Box')`
  creates `Space Box`; CPython 3.11 sends it unquoted).
- Transport failures raise what CPython's socket and ssl modules raise,
  chosen by the error's kind, never its text: a refused connection
  `ConnectionRefusedError` (with its errno), a timeout `TimeoutError`, an
  unreachable host or another socket failure `OSError` (with its errno), a
  certificate that does not verify `ssl.SSLCertVerificationError`, another
  TLS failure `ssl.SSLError` (the `ssl` stand-in's classes). A connection
  the sandbox does not grant raises `IMAP4.error` (CPython would connect).
"""

import re
import time

from componentize_py_types import Err
from wit_world.imports import client as _client
from wit_world.imports.types import (
    CivilTime,
    DataItem_Bytes,
    DataItem_Literal,
    ErrorKind,
    ImapError_Abort,
    ImapError_Readonly,
    StructTime,
    TimeValue_Civil,
    TimeValue_Epoch,
    TimeValue_Local,
    TimeValue_Quoted,
    TimeValue_ZonedEpoch,
    TlsOptions,
)

try:
    from wasimap import Secret as _Secret
except ImportError:  # pragma: no cover - wasimap.py ships beside this file
    _Secret = ()

__version__ = "2.58"

__all__ = ["IMAP4", "IMAP4_stream", "Internaldate2tuple",
           "Int2AP", "ParseFlags", "Time2Internaldate",
           "IMAP4_SSL"]

CRLF = b'\r\n'
Debug = 0
IMAP4_PORT = 143
IMAP4_SSL_PORT = 993
AllowedVersions = ('IMAP4REV1', 'IMAP4')
_MAXLINE = 1000000
HAVE_SSL = True

#: imaplib's state table: the states each command is allowed in.
Commands = {
    'APPEND': ('AUTH', 'SELECTED'),
    'AUTHENTICATE': ('NONAUTH',),
    'CAPABILITY': ('NONAUTH', 'AUTH', 'SELECTED', 'LOGOUT'),
    'CHECK': ('SELECTED',),
    'CLOSE': ('SELECTED',),
    'COPY': ('SELECTED',),
    'CREATE': ('AUTH', 'SELECTED'),
    'DELETE': ('AUTH', 'SELECTED'),
    'DELETEACL': ('AUTH', 'SELECTED'),
    'ENABLE': ('AUTH', ),
    'EXAMINE': ('AUTH', 'SELECTED'),
    'EXPUNGE': ('SELECTED',),
    'FETCH': ('SELECTED',),
    'GETACL': ('AUTH', 'SELECTED'),
    'GETANNOTATION': ('AUTH', 'SELECTED'),
    'GETQUOTA': ('AUTH', 'SELECTED'),
    'GETQUOTAROOT': ('AUTH', 'SELECTED'),
    'IDLE': ('AUTH', 'SELECTED'),
    'MYRIGHTS': ('AUTH', 'SELECTED'),
    'LIST': ('AUTH', 'SELECTED'),
    'LOGIN': ('NONAUTH',),
    'LOGOUT': ('NONAUTH', 'AUTH', 'SELECTED', 'LOGOUT'),
    'LSUB': ('AUTH', 'SELECTED'),
    'MOVE': ('SELECTED',),
    'NAMESPACE': ('AUTH', 'SELECTED'),
    'NOOP': ('NONAUTH', 'AUTH', 'SELECTED', 'LOGOUT'),
    'PARTIAL': ('SELECTED',),
    'PROXYAUTH': ('AUTH',),
    'RENAME': ('AUTH', 'SELECTED'),
    'SEARCH': ('SELECTED',),
    'SELECT': ('AUTH', 'SELECTED'),
    'SETACL': ('AUTH', 'SELECTED'),
    'SETANNOTATION': ('AUTH', 'SELECTED'),
    'SETQUOTA': ('AUTH', 'SELECTED'),
    'SORT': ('SELECTED',),
    'STARTTLS': ('NONAUTH',),
    'STATUS': ('AUTH', 'SELECTED'),
    'STORE': ('SELECTED',),
    'SUBSCRIBE': ('AUTH', 'SELECTED'),
    'THREAD': ('SELECTED',),
    'UID': ('SELECTED',),
    'UNSUBSCRIBE': ('AUTH', 'SELECTED'),
    'UNSELECT': ('SELECTED',),
}

Mon2num = {s.encode(): n + 1 for n, s in enumerate(
    ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'])}

InternalDate = re.compile(br'.*INTERNALDATE "'
                          br'(?P<day>[ 0123][0-9])-(?P<mon>[A-Z][a-z][a-z])-(?P<year>[0-9][0-9][0-9][0-9])'
                          br' (?P<hour>[0-9][0-9]):(?P<min>[0-9][0-9]):(?P<sec>[0-9][0-9])'
                          br' (?P<zonen>[-+])(?P<zoneh>[0-9][0-9])(?P<zonem>[0-9][0-9])'
                          br'"')
Flags = re.compile(br'.*FLAGS \((?P<flags>[^\)]*)\)')


def _text(value, what="argument"):
    """A str for the WIT: str as is, bytes decoded (UTF-8, else latin-1),
    numbers in decimal, as imaplib would send them."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _opt(value, what="argument"):
    return None if value is None else _text(value, what)


def _args(values):
    """imaplib skips `None` arguments."""
    return [_text(v) for v in values if v is not None]


def _item(d):
    if isinstance(d, DataItem_Bytes):
        return d.value
    if isinstance(d, DataItem_Literal):
        return (d.value[0], d.value[1])
    return None


def _items(data):
    return [_item(d) for d in data]


def _result(r):
    return r.typ, _items(r.data)


def _time_value(date_time):
    """What Time2Internaldate accepts, as the WIT's time-value."""
    import datetime as _dt
    if isinstance(date_time, bool):
        raise ValueError("date_time not of a known type")
    if isinstance(date_time, (int, float)):
        return TimeValue_Epoch(float(date_time))
    if isinstance(date_time, _dt.datetime):
        if date_time.tzinfo is None or date_time.utcoffset() is None:
            raise ValueError("date_time must be aware")
        off = date_time.utcoffset()
        return TimeValue_Civil(CivilTime(date_time.year, date_time.month, date_time.day, date_time.hour,
                                         date_time.minute, date_time.second, int(off.total_seconds())))
    if isinstance(date_time, (tuple, time.struct_time)):
        # imaplib: a struct_time's own offset when it has one, else the
        # local zone's for its isdst; the sandbox has no zone, so the
        # host's is asked through the WIT's `local`.
        fields = tuple(date_time)
        if len(fields) < 9:
            raise ValueError("date_time not of a known type")
        gmtoff = getattr(date_time, "tm_gmtoff", None)
        if gmtoff is not None:
            return TimeValue_Civil(CivilTime(*fields[:6], int(gmtoff)))
        year, mon, mday, hour, minute, sec, wday, yday, isdst = fields[:9]
        return TimeValue_Local(StructTime(year, mon, mday, hour, minute, sec, wday, yday, isdst))
    if isinstance(date_time, str) and date_time[:1] == date_time[-1:] == '"':
        return TimeValue_Quoted(date_time)
    raise ValueError("date_time not of a known type")


def _transport_error(detail):
    """What CPython's socket or ssl module raises for a transport failure
    of this kind, or None where imaplib itself raises `abort`."""
    import wasimap_ssl
    kind, errno = detail.kind, detail.errno
    if kind == ErrorKind.REFUSED:
        return ConnectionRefusedError(errno or 111, detail.message)
    if kind == ErrorKind.TIMEOUT:
        return TimeoutError("timed out")
    if kind == ErrorKind.TLS_CERTIFICATE:
        return wasimap_ssl.SSLCertVerificationError(1, detail.message)
    if kind == ErrorKind.TLS_HANDSHAKE:
        return wasimap_ssl.SSLError(1, detail.message)
    if kind in (ErrorKind.UNREACHABLE, ErrorKind.IO) and errno is not None:
        return OSError(errno, detail.message)
    return None


def _raise(e, cls):
    """imaplib's exception for the WIT's `imap-error`."""
    v = e.value
    detail = v.value
    if isinstance(v, ImapError_Readonly):
        return cls.readonly(detail.message)
    if isinstance(v, ImapError_Abort):
        return _transport_error(detail) or cls.abort(detail.message)
    return cls.error(detail.message)


def _no_tls_options():
    return TlsOptions(None, None, None, None, None, False)


def _tls_options(ssl_context, server_hostname=None):
    """The host's TLS options for `ssl_context` (None: the defaults)."""
    opts = _no_tls_options()
    if server_hostname is not None:
        opts.server_name = server_hostname
    if ssl_context is None:
        return opts
    files = getattr(ssl_context, "_ca_files", None)
    pems = getattr(ssl_context, "_ca_pem", None)
    if files is None and pems is None:
        return _real_context_options(ssl_context, opts)
    if len(files) > 1:
        raise NotImplementedError("ssl_context: wasimap takes one cafile (or several CAs as cadata)")
    if files:
        opts.ca_file = files[0]
    if pems:
        opts.ca_pem = b"\n".join(pems)
    return _verification(ssl_context, opts)


def _verification(ctx, opts):
    none = int(getattr(ctx, "verify_mode", 2)) == 0
    if none != (not getattr(ctx, "check_hostname", True)):
        raise NotImplementedError(
            "ssl_context: the host verifies certificate and name together: turn both off "
            "(check_hostname = False, verify_mode = CERT_NONE; needs --allow-insecure-tls HOST:PORT) or neither")
    opts.dangerously_accept_invalid_certs = none
    return opts


def _real_context_options(ctx, opts):
    """A real `ssl.SSLContext` (if the sandbox had one): its CAs and its
    verification settings are mapped; nothing else is."""
    get = getattr(ctx, "get_ca_certs", None)
    if get is None:
        raise NotImplementedError(f"ssl_context of type {type(ctx).__name__} cannot be mapped to the host's TLS")
    import ssl as _ssl
    ders = get(binary_form=True)
    if ders:
        opts.ca_pem = "".join(_ssl.DER_cert_to_PEM_cert(d) for d in ders).encode("ascii")
    return _verification(ctx, opts)


class IMAP4:
    """imaplib's IMAP4 client class over wasimap's protocol component.

    `IMAP4(host='', port=IMAP4_PORT, timeout=None)`: connects (the host
    must grant HOST:PORT), reads the greeting and the capabilities.
    """

    class error(Exception):
        """imaplib's `IMAP4.error`."""

    class abort(error):
        """imaplib's `IMAP4.abort`: the connection is unusable."""

    class readonly(abort):
        """imaplib's `IMAP4.readonly`: the mailbox became read-only."""

    def __init__(self, host='', port=IMAP4_PORT, timeout=None):
        self._conn = None
        self.host = host
        self.port = port
        self.literal = None
        self.is_readonly = False
        self.tagnum = 0
        self._raw_tags = 0
        self.open(host, port, timeout)

    # ----------------------------------------------------------- plumbing

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except Err as e:
            raise _raise(e, self) from None

    def _run(self, fn, *args):
        return _result(self._call(fn, *args))

    def _c(self):
        if self._conn is None:
            raise self.abort("socket error: not connected")
        return self._conn

    def __enter__(self):
        return self

    def __exit__(self, *args):
        if self.state == "LOGOUT":
            return
        try:
            self.logout()
        except (self.error, OSError):
            pass

    def __getattr__(self, attr):
        # Allow UPPERCASE variants of IMAP command methods, as imaplib does.
        if attr in Commands:
            return getattr(self, attr.lower())
        raise AttributeError("Unknown IMAP4 command: '%s'" % attr)

    # ----------------------------------------------------------- attributes

    @property
    def state(self):
        """`NONAUTH`, `AUTH`, `SELECTED` or `LOGOUT`."""
        # The WIT enum `session-state`; its case names are imaplib's.
        return self._c().state().name if self._conn is not None else "LOGOUT"

    @property
    def capabilities(self):
        """The server's capabilities, upper-cased, as a tuple."""
        return tuple(self._c().capabilities())

    @property
    def PROTOCOL_VERSION(self):
        """`IMAP4REV1` or `IMAP4`."""
        return self._c().protocol_version()

    @property
    def welcome(self):
        """The greeting line."""
        return self._c().welcome()

    @property
    def utf8_enabled(self):
        """Whether UTF-8 mode is on (after `enable('UTF8=ACCEPT')`)."""
        return self._c().utf8_enabled()

    @property
    def debug(self):
        """The debug level; 4 or more logs the traffic to stderr."""
        return self._c().debug()

    @debug.setter
    def debug(self, level):
        self._c().set_debug(int(level))

    @property
    def tagpre(self):
        """The tag prefix of this session."""
        return self._c().tag_prefix()

    @property
    def untagged_responses(self):
        """A snapshot of the untagged responses not yet taken: `{typ: [data...]}`."""
        return {typ: _items(data) for typ, data in self._c().untagged_responses()}

    @property
    def _mode_utf8(self):
        return self.utf8_enabled

    # ----------------------------------------------------------- transport

    def open(self, host='', port=IMAP4_PORT, timeout=None):
        """Connects to `host:port` (the host must grant it)."""
        self.host = host
        self.port = port
        if timeout is not None and not timeout:
            raise ValueError('Non-blocking socket (timeout=0) is not supported')
        self._conn = self._call(_client.Imap4.open_tcp, _text(host) or "localhost", int(port),
                                None if timeout is None else float(timeout))

    def socket(self):
        """There is no socket in the sandbox: the host holds the connection."""
        raise OSError("wasimap: scripts have no sockets; the host holds the IMAP connection")

    def read(self, size):
        """Reads `size` bytes from the server."""
        return self._call(self._c().read, int(size))

    def readline(self):
        """Reads one line from the server, with its line ending."""
        return self._call(self._c().readline)

    def send(self, data):
        """Sends raw bytes to the server."""
        if isinstance(data, str):
            data = data.encode("ascii")
        self._call(self._c().send, bytes(data))

    def shutdown(self):
        """Closes the connection without LOGOUT."""
        if self._conn is not None:
            self._conn.shutdown()

    def _new_tag(self):
        """A fresh tag for a command the script writes itself with `send`."""
        self._raw_tags += 1
        return self.tagpre + b"R" + str(self._raw_tags).encode("ascii")

    # ----------------------------------------------------------- commands

    def append(self, mailbox, flags, date_time, message):
        """APPEND message to mailbox: `(typ, [data])`."""
        if isinstance(message, str):
            message = message.encode("utf-8")
        dt = None if date_time is None else _time_value(date_time)
        return self._run(self._c().append, _opt(mailbox) or "", _opt(flags), dt, bytes(message))

    def authenticate(self, mechanism, authobject):
        """AUTHENTICATE with `authobject(challenge) -> bytes|str|None` called
        for each (decoded) challenge; `None` cancels. A `wasimap.secret`
        may not be used here: use `login` or `login_cram_md5`."""
        mech = _text(mechanism).upper()
        c = self._c()
        step = self._call(c.authenticate_start, mech, None)
        while isinstance(step, _client.SaslStep_Challenge):
            answer = authobject(step.value)
            if isinstance(answer, str):
                answer = answer.encode("utf-8")
            step = self._call(c.authenticate_step, None if answer is None else bytes(answer))
        return _result(step.value)

    def capability(self):
        """CAPABILITY: `(typ, [data])`."""
        return self._run(self._c().capability)

    def check(self):
        """CHECK."""
        return self._run(self._c().check)

    def close(self):
        """CLOSE: expunge and deselect."""
        return self._run(self._c().close)

    def copy(self, message_set, new_mailbox):
        """COPY message_set new_mailbox."""
        return self._run(self._c().copy, _text(message_set), _text(new_mailbox))

    def create(self, mailbox):
        """CREATE mailbox."""
        return self._run(self._c().create, _text(mailbox))

    def delete(self, mailbox):
        """DELETE mailbox."""
        return self._run(self._c().delete, _text(mailbox))

    def deleteacl(self, mailbox, who):
        """DELETEACL mailbox who."""
        return self._run(self._c().deleteacl, _text(mailbox), _text(who))

    def enable(self, capability):
        """ENABLE capability."""
        return self._run(self._c().enable, _text(capability))

    def expunge(self):
        """EXPUNGE: data is the expunged message numbers."""
        return self._run(self._c().expunge)

    def fetch(self, message_set, message_parts):
        """FETCH message_set message_parts."""
        return self._run(self._c().fetch, _text(message_set), _text(message_parts))

    def getacl(self, mailbox):
        """GETACL mailbox."""
        return self._run(self._c().getacl, _text(mailbox))

    def getannotation(self, mailbox, entry, attribute):
        """GETANNOTATION mailbox entry attribute."""
        return self._run(self._c().getannotation, _text(mailbox), _text(entry), _text(attribute))

    def getquota(self, root):
        """GETQUOTA root."""
        return self._run(self._c().getquota, _text(root))

    def getquotaroot(self, mailbox):
        """GETQUOTAROOT mailbox: `(typ, [[quotaroot...], [quota...]])`."""
        r = self._call(self._c().getquotaroot, _text(mailbox))
        return r.typ, [_items(r.quotaroot), _items(r.quota)]

    def idle(self, duration=None):
        """IDLE (imaplib 3.14): `with M.idle(duration) as idler: for typ, data in idler: ...`."""
        return Idler(self, duration)

    def list(self, directory='""', pattern='*'):
        """LIST directory pattern."""
        return self._run(self._c().list, _opt(directory), _opt(pattern))

    def login(self, user, password):
        """LOGIN user password; `password` may be a `wasimap.secret`."""
        if isinstance(password, _Secret):
            return self._run(self._c().login_secret, _text(user), password.name)
        return self._run(self._c().login, _text(user), _text(password))

    def login_cram_md5(self, user, password):
        """AUTHENTICATE CRAM-MD5; `password` may be a `wasimap.secret`."""
        if isinstance(password, _Secret):
            return self._run(self._c().authenticate_secret, "CRAM-MD5", _text(user), password.name)
        return self._run(self._c().login_cram_md5, _text(user), _text(password))

    def logout(self):
        """LOGOUT: `('BYE', [data])`."""
        return self._run(self._c().logout)

    def lsub(self, directory='""', pattern='*'):
        """LSUB directory pattern."""
        return self._run(self._c().lsub, _opt(directory), _opt(pattern))

    def move(self, message_set, new_mailbox):
        """MOVE message_set new_mailbox (RFC 6851)."""
        return self._run(self._c().move, _text(message_set), _text(new_mailbox))

    def myrights(self, mailbox):
        """MYRIGHTS mailbox."""
        return self._run(self._c().myrights, _text(mailbox))

    def namespace(self):
        """NAMESPACE."""
        return self._run(self._c().namespace)

    def noop(self):
        """NOOP."""
        return self._run(self._c().noop)

    def partial(self, message_num, message_part, start, length):
        """PARTIAL (obsolete)."""
        return self._run(self._c().partial, _text(message_num), _text(message_part), _text(start), _text(length))

    def proxyauth(self, user):
        """PROXYAUTH user."""
        return self._run(self._c().proxyauth, _text(user))

    def recent(self):
        """The RECENT responses (a NOOP if none arrived)."""
        return self._run(self._c().recent)

    def rename(self, oldmailbox, newmailbox):
        """RENAME oldmailbox newmailbox."""
        return self._run(self._c().rename, _text(oldmailbox), _text(newmailbox))

    def response(self, code):
        """Pops the untagged responses of `code`: `(code, [data])`."""
        return _result(self._c().response(_text(code).upper()))

    def search(self, charset, *criteria):
        """SEARCH [CHARSET charset] criteria..."""
        return self._run(self._c().search, _opt(charset), _args(criteria))

    def select(self, mailbox='INBOX', readonly=False):
        """SELECT (EXAMINE when `readonly`): data is the EXISTS count."""
        r = self._run(self._c().select, _opt(mailbox), bool(readonly))
        self.is_readonly = bool(readonly)
        return r

    def setacl(self, mailbox, who, what):
        """SETACL mailbox who what."""
        return self._run(self._c().setacl, _text(mailbox), _text(who), _text(what))

    def setannotation(self, *args):
        """SETANNOTATION args..."""
        return self._run(self._c().setannotation, _args(args))

    def setquota(self, root, limits):
        """SETQUOTA root limits."""
        return self._run(self._c().setquota, _text(root), _text(limits))

    def sort(self, sort_criteria, charset, *search_criteria):
        """SORT (sort_criteria) charset search_criteria..."""
        return self._run(self._c().sort, _text(sort_criteria), _text(charset), _args(search_criteria))

    def starttls(self, ssl_context=None):
        """STARTTLS, verified as `ssl_context` says (see the module's doc)."""
        return self._run(self._c().starttls, _tls_options(ssl_context))

    def status(self, mailbox, names):
        """STATUS mailbox names."""
        return self._run(self._c().status, _text(mailbox), _text(names))

    def store(self, message_set, command, flags):
        """STORE message_set command flags."""
        return self._run(self._c().store, _text(message_set), _text(command), _text(flags))

    def subscribe(self, mailbox):
        """SUBSCRIBE mailbox."""
        return self._run(self._c().subscribe, _text(mailbox))

    def thread(self, threading_algorithm, charset, *search_criteria):
        """THREAD threading_algorithm charset search_criteria..."""
        return self._run(self._c().thread, _text(threading_algorithm), _text(charset), _args(search_criteria))

    def uid(self, command, *args):
        """UID command args..."""
        return self._run(self._c().uid, _text(command), _args(args))

    def unsubscribe(self, mailbox):
        """UNSUBSCRIBE mailbox."""
        return self._run(self._c().unsubscribe, _text(mailbox))

    def unselect(self):
        """UNSELECT (RFC 3691)."""
        return self._run(self._c().unselect)

    def xatom(self, name, *args):
        """Any command: `xatom(name, args...)`."""
        return self._run(self._c().xatom, _text(name), _args(args))

    def print_log(self):
        """imaplib keeps a debug log only in debug builds; so does this."""


class Idler:
    """imaplib 3.14's Idler: the IDLE command as a context manager that
    yields `(typ, [datum])` for each untagged response."""

    def __init__(self, imap, duration=None):
        self._imap = imap
        self._duration = duration
        self._idler = None

    def __enter__(self):
        d = None if self._duration is None else float(self._duration)
        self._idler = self._imap._call(self._imap._c().idle, d)
        return self

    def __exit__(self, exc_type, exc, tb):
        idler, self._idler = self._idler, None
        if idler is None:
            return
        try:
            self._imap._call(idler.done)
        except self._imap.error:
            if exc_type is None:
                raise
        finally:
            idler.__exit__(None, None, None)

    def __iter__(self):
        return self

    def __next__(self):
        if self._idler is None:
            raise self._imap.error("the idler is not active")
        item = self._imap._call(self._idler.next, None)
        if item is None:
            raise StopIteration
        return item[0], _items(item[1])

    def burst(self, interval=0.1):
        """The next response, then those that follow within `interval` seconds."""
        if self._idler is None:
            raise self._imap.error("the idler is not active")
        for typ, data in self._imap._call(self._idler.burst, float(interval)):
            yield typ, _items(data)


class IMAP4_SSL(IMAP4):
    """IMAP4 over implicit TLS: `IMAP4_SSL(host='', port=993, *, ssl_context=None, timeout=None)`.

    `keyfile` and `certfile` (CPython 3.11's positional arguments) would
    need the script to read files: they raise `NotImplementedError`."""

    def __init__(self, host='', port=IMAP4_SSL_PORT, keyfile=None, certfile=None, ssl_context=None, timeout=None):
        if keyfile is not None or certfile is not None:
            raise NotImplementedError("IMAP4_SSL: keyfile and certfile cannot be read in wasimap's sandbox")
        self.ssl_context = ssl_context
        IMAP4.__init__(self, host, port, timeout)

    def open(self, host='', port=IMAP4_SSL_PORT, timeout=None):
        """Connects with TLS to `host:port` (the host must grant it)."""
        self.host = host
        self.port = port
        if timeout is not None and not timeout:
            raise ValueError('Non-blocking socket (timeout=0) is not supported')
        opts = _tls_options(self.ssl_context)
        self._conn = self._call(_client.Imap4.open_tls, _text(host) or "localhost", int(port),
                                None if timeout is None else float(timeout), opts)

    def ssl(self):
        """There is no SSL socket in the sandbox: the host does TLS."""
        raise OSError("wasimap: the host does TLS; scripts have no SSL socket")


class IMAP4_stream(IMAP4):
    """IMAP4 over a command's stdin and stdout (the host must grant the
    command with --allow-exec; no shell runs it)."""

    def __init__(self, command):
        self.command = command
        IMAP4.__init__(self)

    def open(self, host=None, port=None, timeout=None):
        """Starts the command."""
        self.host = None
        self.port = None
        self._conn = self._call(_client.Imap4.open_stream, _text(self.command), None)


# ------------------------------------------------------------ utilities

def Internaldate2tuple(resp):
    """The INTERNALDATE of a FETCH response as a local `time.struct_time`
    (the host's zone, as imaplib gives it); None if there is none."""
    t = _client.internaldate2tuple(bytes(resp))
    if t is None:
        return None
    return time.struct_time((t.year, t.mon, t.mday, t.hour, t.min, t.sec, t.wday, t.yday, t.isdst))


def Int2AP(num):
    """`num` in base 16 with the digits A..P, as bytes."""
    return _client.int2ap(int(num))


def ParseFlags(resp):
    """The flags of a FETCH response's `FLAGS (...)` as a tuple of bytes."""
    return tuple(_client.parse_flags(bytes(resp)))


def Time2Internaldate(date_time):
    """`date_time` as `'"DD-Mmm-YYYY HH:MM:SS +HHMM"'`."""
    try:
        return _client.time2internaldate(_time_value(date_time))
    except Err as e:
        raise ValueError(e.value.value.message) from None

