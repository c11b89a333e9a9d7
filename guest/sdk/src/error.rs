//! One error type for plugins: imaplib's three exception classes, plus a
//! command that completed with `NO` (imaplib returns those; a Rust caller
//! wants `?` to stop on them).

use crate::bindings::wasimap::imap::types::ImapError;

/// What a [`crate::Client`] call can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `IMAP4.error`: a usage error, a refused argument, or BAD.
    Imap(String),
    /// `IMAP4.abort`: the connection is unusable; reconnect.
    Abort(String),
    /// `IMAP4.readonly`: the mailbox became read-only.
    Readonly(String),
    /// The server answered `NO`: the command name and the server's text.
    No {
        /// The command, e.g. `CREATE`.
        command: String,
        /// The server's text.
        text: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<ImapError> for Error {
    fn from(e: ImapError) -> Self {
        match e {
            ImapError::Error(m) => Error::Imap(m),
            ImapError::Abort(m) => Error::Abort(m),
            ImapError::Readonly(m) => Error::Readonly(m),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Imap(m) => write!(f, "IMAP error: {m}"),
            Error::Abort(m) => write!(f, "connection aborted: {m}"),
            Error::Readonly(m) => write!(f, "mailbox is read-only: {m}"),
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
