//! imaplib's exception classes as one error type.

use crate::pyrepr;

/// How long a quoted piece of server input may be in an error message.
pub const QUOTE_LIMIT: usize = 300;

/// imaplib's `error`, `abort` and `readonly` exceptions.
///
/// In Python `readonly` ⊂ `abort` ⊂ `error`; [`ImapError::is_abort`] says
/// whether an error is an `abort` in that sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImapError {
    /// `IMAP4.error`: usage errors, BAD replies, failed LOGIN.
    #[error("{0}")]
    Error(String),
    /// `IMAP4.abort`: the connection can no longer be trusted.
    #[error("{0}")]
    Abort(String),
    /// `IMAP4.readonly`: the mailbox became read-only.
    #[error("{0}")]
    Readonly(String),
}

impl ImapError {
    /// An `error` with the given message.
    pub fn error(msg: impl Into<String>) -> Self {
        ImapError::Error(msg.into())
    }

    /// An `abort` with the given message.
    pub fn abort(msg: impl Into<String>) -> Self {
        ImapError::Abort(msg.into())
    }

    /// An `abort` quoting (truncated) the offending server bytes the way
    /// imaplib does: `what: b'...'`.
    pub fn abort_bytes(what: &str, bytes: &[u8]) -> Self {
        ImapError::Abort(format!("{what}: {}", pyrepr::bytes_truncated(bytes, QUOTE_LIMIT)))
    }

    /// True for `abort` and `readonly`, as `isinstance(e, IMAP4.abort)`.
    pub fn is_abort(&self) -> bool {
        matches!(self, ImapError::Abort(_) | ImapError::Readonly(_))
    }

    /// The message, whatever the class.
    pub fn message(&self) -> &str {
        match self {
            ImapError::Error(m) | ImapError::Abort(m) | ImapError::Readonly(m) => m,
        }
    }

    /// The same class with `prefix` before the message, as imaplib's
    /// `command: NAME => ...` wrapping does.
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            ImapError::Error(m) => ImapError::Error(format!("{prefix}{m}")),
            ImapError::Abort(m) => ImapError::Abort(format!("{prefix}{m}")),
            ImapError::Readonly(m) => ImapError::Readonly(format!("{prefix}{m}")),
        }
    }
}

/// Result of imaplib operations.
pub type Result<T> = std::result::Result<T, ImapError>;
