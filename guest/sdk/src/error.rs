//! One error type for plugins: imaplib's three exception classes, each with
//! a [`Detail`] (the kind, imaplib's message, the OS errno), plus a command
//! that completed with `NO` (imaplib returns those; a Rust caller wants `?`
//! to stop on them).

pub use crate::bindings::wasimap::imap::types::ErrorKind;
use crate::bindings::wasimap::imap::types::ImapError;

/// What failed, for code (`kind`, `errno`) and for people (`message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// What went wrong: `Timeout`, `Refused`, `Bye`, `No`, `Denied`, ...
    /// Decide on this, never on the message.
    pub kind: ErrorKind,
    /// imaplib's message.
    pub message: String,
    /// The OS errno, when a system call failed (e.g. `ECONNREFUSED`).
    pub errno: Option<i32>,
}

impl Detail {
    /// A detail of `kind` without an errno, for errors the SDK raises
    /// itself.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Detail {
            kind,
            message: message.into(),
            errno: None,
        }
    }
}

/// What a [`crate::Client`] call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `IMAP4.error`: a usage error, a refused argument, BAD, a denial.
    Imap(Detail),
    /// `IMAP4.abort`: the connection is unusable; reconnect.
    Abort(Detail),
    /// `IMAP4.readonly`: the mailbox became read-only.
    Readonly(Detail),
    /// The server answered `NO`: the command name and the server's text.
    No {
        /// The command, e.g. `CREATE`.
        command: String,
        /// The server's text.
        text: String,
    },
}

impl Error {
    /// The kind of the failure (`No` for a command answered with NO).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Imap(d) | Error::Abort(d) | Error::Readonly(d) => d.kind,
            Error::No { .. } => ErrorKind::No,
        }
    }

    /// A usage error the SDK finds before anything is sent.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Error::Imap(Detail::new(ErrorKind::Usage, message))
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<ImapError> for Error {
    fn from(e: ImapError) -> Self {
        let detail = |d: crate::bindings::wasimap::imap::types::ErrorDetail| Detail {
            kind: d.kind,
            message: d.message,
            errno: d.errno,
        };
        match e {
            ImapError::Error(d) => Error::Imap(detail(d)),
            ImapError::Abort(d) => Error::Abort(detail(d)),
            ImapError::Readonly(d) => Error::Readonly(detail(d)),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Imap(d) => write!(f, "IMAP error: {}", d.message),
            Error::Abort(d) => write!(f, "connection aborted: {}", d.message),
            Error::Readonly(d) => write!(f, "mailbox is read-only: {}", d.message),
            Error::No { command, text } => write!(f, "{command} refused: {text}"),
        }
    }
}

impl std::error::Error for Error {}

/// So `?` works in `Plugin::run`, which returns `Result<(), String>`.
impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wasimap::imap::types::ErrorDetail;

    #[test]
    fn the_kind_and_errno_survive_and_display_keeps_the_message() {
        let e = Error::from(ImapError::Abort(ErrorDetail {
            kind: ErrorKind::Refused,
            message: "socket error: Connection refused (os error 111)".into(),
            errno: Some(111),
        }));
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(matches!(&e, Error::Abort(d) if d.errno == Some(111)));
        assert_eq!(
            e.to_string(),
            "connection aborted: socket error: Connection refused (os error 111)"
        );
        assert_eq!(
            Error::No {
                command: "CREATE".into(),
                text: String::new()
            }
            .kind(),
            ErrorKind::No
        );
    }
}
