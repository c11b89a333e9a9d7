//! The transport's errors: each failure with its kind and, where a system
//! call failed, the OS errno, so the protocol component can say which
//! failure it was (`TimeoutError`, `ConnectionRefusedError`,
//! `ssl.SSLCertVerificationError` in CPython) without anyone reading the
//! message.

use std::io;

pub use wasimap_protocol::ErrorKind;

/// A failure of a transport: what the WIT `transport-error` carries, and
/// what the core's [`wasimap_protocol::imap4::TransportError`] is, so the
/// watcher's native session and the protocol component see one failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What failed: `denied`, `timeout`, `refused`, `unreachable`, `eof`,
    /// `tls-certificate`, `tls-handshake` or `io`.
    pub kind: ErrorKind,
    /// What the transport says, for people.
    pub message: String,
    /// The OS errno, when a system call failed.
    pub errno: Option<i32>,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

impl From<TransportError> for wasimap_protocol::imap4::TransportError {
    fn from(e: TransportError) -> Self {
        Self::new(e.kind, e.message).with_errno(e.errno)
    }
}

impl TransportError {
    /// A failure of `kind` without an errno.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
            errno: None,
        }
    }

    /// The policy refused: the message names the grant that is missing.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }

    /// A failure of the byte stream that no other kind describes.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    /// A deadline passed (connect, name lookup, read).
    pub fn timeout() -> Self {
        Self::new(ErrorKind::Timeout, "timed out")
    }

    /// The name could not be resolved, or has no address to try.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreachable, message)
    }

    /// A TLS failure: `tls-certificate` when rustls rejected the server's
    /// certificate (unknown issuer, wrong name, expired), `tls-handshake`
    /// for anything else (no common version, not TLS at all, bad setup).
    pub fn tls(message: impl Into<String>, error: Option<&rustls::Error>) -> Self {
        let kind = match error {
            Some(rustls::Error::InvalidCertificate(_)) => ErrorKind::TlsCertificate,
            _ => ErrorKind::TlsHandshake,
        };
        Self::new(kind, message)
    }

    /// An I/O error by its `io::ErrorKind`, with `raw_os_error()` as the
    /// errno. A read timeout surfaces as `WouldBlock` (EAGAIN from
    /// `SO_RCVTIMEO`); its errno is dropped because it describes the
    /// mechanism, not the failure (CPython's `TimeoutError('timed out')`
    /// has none either).
    pub fn from_io(e: &io::Error) -> Self {
        let (kind, errno) = match e.kind() {
            io::ErrorKind::WouldBlock => return Self::timeout(),
            io::ErrorKind::TimedOut => (ErrorKind::Timeout, e.raw_os_error()),
            io::ErrorKind::ConnectionRefused => (ErrorKind::Refused, e.raw_os_error()),
            io::ErrorKind::UnexpectedEof => (ErrorKind::Eof, e.raw_os_error()),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable | io::ErrorKind::AddrNotAvailable => {
                (ErrorKind::Unreachable, e.raw_os_error())
            }
            _ => (ErrorKind::Io, e.raw_os_error()),
        };
        TransportError {
            kind,
            message: e.to_string(),
            errno,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_kind_and_errno() {
        let refused = TransportError::from_io(&io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(
            (refused.kind, refused.errno),
            (ErrorKind::Refused, Some(libc::ECONNREFUSED))
        );
        let unreachable = TransportError::from_io(&io::Error::from_raw_os_error(libc::EHOSTUNREACH));
        assert_eq!(unreachable.kind, ErrorKind::Unreachable);
        let reset = TransportError::from_io(&io::Error::from_raw_os_error(libc::ECONNRESET));
        assert_eq!((reset.kind, reset.errno), (ErrorKind::Io, Some(libc::ECONNRESET)));
        let read_timeout = TransportError::from_io(&io::Error::from_raw_os_error(libc::EAGAIN));
        assert_eq!((read_timeout.kind, read_timeout.errno), (ErrorKind::Timeout, None));
        let eof = TransportError::from_io(&io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!(eof.kind, ErrorKind::Eof);
    }

    #[test]
    fn certificate_errors_are_told_from_other_tls_failures() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(TransportError::tls("x", Some(&cert)).kind, ErrorKind::TlsCertificate);
        let other = rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13);
        assert_eq!(TransportError::tls("x", Some(&other)).kind, ErrorKind::TlsHandshake);
        assert_eq!(TransportError::tls("x", None).kind, ErrorKind::TlsHandshake);
    }
}
