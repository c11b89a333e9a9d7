//! imaplib's exception classes, each failure with a machine-readable kind.
//!
//! imaplib tells failures apart only by class (`error`, `abort`,
//! `readonly`) and by message. A binding that must raise `TimeoutError`,
//! `ConnectionRefusedError` or `ssl.CertificateError` the way CPython does,
//! or a plugin that retries on a dropped connection but not on a refused
//! login, needs to know which failure it was without matching prose: every
//! [`ImapError`] carries an [`ErrorKind`] and, for operating-system
//! failures, the errno.

use crate::pyrepr;

/// How long a quoted piece of server input may be in an error message.
pub const QUOTE_LIMIT: usize = 300;

/// imaplib's exception class. In Python `readonly` ⊂ `abort` ⊂ `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// `IMAP4.error`: usage errors, BAD replies, failed LOGIN.
    Error,
    /// `IMAP4.abort`: the connection can no longer be trusted.
    Abort,
    /// `IMAP4.readonly`: the mailbox became read-only.
    Readonly,
}

impl ErrorClass {
    /// imaplib's name of the class.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Error => "error",
            ErrorClass::Abort => "abort",
            ErrorClass::Readonly => "readonly",
        }
    }
}

/// Declares [`ErrorKind`] from one list: each variant with its WIT name,
/// so the enum, [`ErrorKind::name`] and [`ErrorKind::ALL`] cannot drift
/// apart. types.wit's `error-kind` lists the same names in the same order
/// (`tests/command_table.rs` checks it with wit-parser), and every binding
/// converts with an exhaustive match, so a new kind is a compile error
/// wherever it is not handled.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => $name:literal,)*) => {
        /// What went wrong, independent of the message text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $kind,)*
        }

        impl ErrorKind {
            /// The kind's name as the WIT `error-kind` enum and the shell
            /// spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)*
                }
            }

            /// Every kind, in declaration order (for tables and tests).
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];
        }
    };
}

error_kinds! {
    /// The server closed the connection.
    Eof => "eof",
    /// A connect, read or response-line deadline passed.
    Timeout => "timeout",
    /// The server's host refused the connection (ECONNREFUSED).
    Refused => "refused",
    /// The host could not be resolved or reached (no route, no address).
    Unreachable => "unreachable",
    /// The server's certificate did not verify (unknown CA, wrong name,
    /// expired): Python's `ssl.SSLCertVerificationError`.
    TlsCertificate => "tls-certificate",
    /// The TLS handshake or record layer failed otherwise.
    TlsHandshake => "tls-handshake",
    /// The server said BYE.
    Bye => "bye",
    /// A tagged BAD: the server rejected the command.
    Bad => "bad",
    /// A tagged NO where imaplib raises (LOGIN, AUTHENTICATE, IDLE, …).
    No => "no",
    /// The command is not allowed in the session's state (imaplib's
    /// `command X illegal in state Y`), or another operation is running.
    State => "state",
    /// A bound was reached: the line limit, the untagged-response budget.
    Limit => "limit",
    /// The server sent something that is not IMAP: the message quotes it.
    Malformed => "malformed",
    /// The host's policy refused (a connection, a secret): a grant is
    /// missing; retrying cannot help.
    Denied => "denied",
    /// The caller's arguments are wrong (CR/LF/NUL, a bad date, an unknown
    /// mechanism, `timeout=0`): Python's `ValueError`-like mistakes.
    Usage => "usage",
    /// The mailbox became read-only (class `readonly`).
    Readonly => "readonly",
    /// Any other failure of the byte stream (see the errno, if any).
    Io => "io",
}

/// imaplib's `error`, `abort` and `readonly` exceptions, with a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ImapError {
    class: ErrorClass,
    kind: ErrorKind,
    message: String,
    errno: Option<i32>,
}

impl ImapError {
    /// An error of `class` and `kind`.
    pub fn new(class: ErrorClass, kind: ErrorKind, message: impl Into<String>) -> Self {
        ImapError {
            class,
            kind,
            message: message.into(),
            errno: None,
        }
    }

    /// An `error` of kind `usage`: the caller's arguments are wrong.
    pub fn error(msg: impl Into<String>) -> Self {
        Self::new(ErrorClass::Error, ErrorKind::Usage, msg)
    }

    /// An `error` of `kind` (bad, no, state, denied, limit, …).
    pub fn error_kind(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Self::new(ErrorClass::Error, kind, msg)
    }

    /// An `abort` of `kind`.
    pub fn abort(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Self::new(ErrorClass::Abort, kind, msg)
    }

    /// An `abort` of kind `malformed` quoting (truncated) the offending
    /// server bytes the way imaplib does: `what: b'...'`.
    pub fn malformed(what: &str, bytes: &[u8]) -> Self {
        Self::abort(
            ErrorKind::Malformed,
            format!("{what}: {}", pyrepr::bytes_truncated(bytes, QUOTE_LIMIT)),
        )
    }

    /// A `readonly`.
    pub fn readonly(msg: impl Into<String>) -> Self {
        Self::new(ErrorClass::Readonly, ErrorKind::Readonly, msg)
    }

    /// The same error with the operating system's errno.
    pub fn with_errno(mut self, errno: Option<i32>) -> Self {
        self.errno = errno;
        self
    }

    /// imaplib's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS errno, where the failure came from a system call.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// True for `abort` and `readonly`, as `isinstance(e, IMAP4.abort)`.
    pub fn is_abort(&self) -> bool {
        matches!(self.class, ErrorClass::Abort | ErrorClass::Readonly)
    }

    /// The message, whatever the class.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `prefix` before the message, as imaplib's
    /// `command: NAME => ...` wrapping does.
    pub fn prefixed(self, prefix: &str) -> Self {
        ImapError {
            message: format!("{prefix}{}", self.message),
            ..self
        }
    }

    /// The same error in another class (imaplib's `except abort: raise
    /// abort(...)` also catches `readonly`).
    pub fn with_class(self, class: ErrorClass) -> Self {
        ImapError { class, ..self }
    }
}

/// Result of imaplib operations.
pub type Result<T> = std::result::Result<T, ImapError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_distinct_wit_names() {
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')));
    }

    #[test]
    fn prefix_and_class_keep_kind_and_errno() {
        let e = ImapError::abort(ErrorKind::Refused, "socket error: refused").with_errno(Some(111));
        let p = e.clone().prefixed("command: NOOP => ");
        assert_eq!(p.message(), "command: NOOP => socket error: refused");
        assert_eq!(
            (p.kind(), p.errno(), p.class()),
            (ErrorKind::Refused, Some(111), ErrorClass::Abort)
        );
        let r = ImapError::readonly("x").with_class(ErrorClass::Abort);
        assert!(r.is_abort() && r.kind() == ErrorKind::Readonly);
    }
}
