"""The `ssl` module of scripts run by `wasimap run script.py`.

The sandboxed CPython has no OpenSSL: the host does TLS (rustls). This
module keeps the part of `ssl`'s API that imaplib scripts use to *describe*
TLS (`create_default_context(cafile=..., cadata=...)`,
`check_hostname`, `verify_mode`, `load_verify_locations`), which
`imaplib.IMAP4_SSL(ssl_context=...)` and `starttls(ssl_context=...)` turn
into the host's TLS options. What cannot be mapped (ciphers, protocol
versions, client certificates from files, wrapping sockets) raises
`NotImplementedError` naming it. The runner installs it as `ssl` only when
the real one cannot be imported.
"""

import enum as _enum

__all__ = [
    "SSLContext", "create_default_context", "SSLError", "SSLCertVerificationError",
    "CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED", "PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS",
    "Purpose", "HAS_SNI",
]

#: The host does TLS with rustls, not OpenSSL.
OPENSSL_VERSION = "wasimap host TLS (rustls)"
HAS_SNI = True


class VerifyMode(_enum.IntEnum):
    """`ssl.VerifyMode`."""

    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


CERT_NONE = VerifyMode.CERT_NONE
CERT_OPTIONAL = VerifyMode.CERT_OPTIONAL
CERT_REQUIRED = VerifyMode.CERT_REQUIRED

PROTOCOL_TLS = 2
PROTOCOL_TLS_CLIENT = 16
PROTOCOL_SSLv23 = PROTOCOL_TLS


class Purpose(_enum.Enum):
    """`ssl.Purpose`."""

    SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
    CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


class SSLError(OSError):
    """`ssl.SSLError`."""


class SSLCertVerificationError(SSLError, ValueError):
    """`ssl.SSLCertVerificationError`."""


CertificateError = SSLCertVerificationError


def _unsupported(what):
    return NotImplementedError(
        f"ssl: {what} cannot be used in wasimap's sandbox: the host does TLS itself "
        "(certificates verified against the system roots plus CAs the user granted with "
        "--allow-ca; verification off only with --allow-insecure-tls HOST:PORT)"
    )


class SSLContext:
    """What a script says about TLS, for the host to apply."""

    def __init__(self, protocol=PROTOCOL_TLS_CLIENT):
        self.protocol = protocol
        self.verify_mode = CERT_REQUIRED
        self.check_hostname = True
        #: (cafile, cadata) pairs given to `load_verify_locations`.
        self._ca_files = []
        self._ca_pem = []

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        """Adds trust anchors: `cafile` (read by the host, which must be
        granted it) or `cadata` (PEM text or bytes)."""
        if capath is not None:
            raise _unsupported("load_verify_locations(capath=...)")
        if cafile is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        if cafile is not None:
            self._ca_files.append(str(cafile))
        if cadata is not None:
            if isinstance(cadata, str):
                cadata = cadata.encode("ascii")
            self._ca_pem.append(bytes(cadata))

    def load_default_certs(self, purpose=Purpose.SERVER_AUTH):
        """The host always trusts the system roots."""

    def set_default_verify_paths(self):
        """The host always trusts the system roots."""

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        raise _unsupported("load_cert_chain (a client certificate from a file)")

    def set_ciphers(self, ciphers):
        raise _unsupported("set_ciphers")

    def set_alpn_protocols(self, protocols):
        raise _unsupported("set_alpn_protocols")

    def wrap_socket(self, *args, **kwargs):
        raise _unsupported("wrap_socket (scripts get no sockets)")

    def wrap_bio(self, *args, **kwargs):
        raise _unsupported("wrap_bio")

    @property
    def minimum_version(self):
        return None

    @minimum_version.setter
    def minimum_version(self, value):
        pass  # rustls speaks TLS 1.2 and 1.3 only, which any minimum allows

    @property
    def options(self):
        return 0

    @options.setter
    def options(self, value):
        pass  # OP_NO_SSLv2 and friends: rustls never speaks those


def create_default_context(purpose=Purpose.SERVER_AUTH, *, cafile=None, capath=None, cadata=None):
    """`ssl.create_default_context`: verification on, system roots, plus
    the CAs given."""
    ctx = SSLContext(PROTOCOL_TLS_CLIENT)
    if cafile is not None or capath is not None or cadata is not None:
        ctx.load_verify_locations(cafile, capath, cadata)
    return ctx


def _create_unverified_context(protocol=None, *, cert_reqs=CERT_NONE, check_hostname=False, purpose=None,
                               certfile=None, keyfile=None, cafile=None, capath=None, cadata=None):
    """`ssl._create_unverified_context`: verification off (the host must grant it)."""
    if certfile is not None or keyfile is not None:
        raise _unsupported("a client certificate from a file")
    ctx = SSLContext(PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = cert_reqs
    if cafile is not None or capath is not None or cadata is not None:
        ctx.load_verify_locations(cafile, capath, cadata)
    return ctx


_create_default_https_context = create_default_context
