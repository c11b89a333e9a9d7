//! What `wasimap watch` hands a watcher plugin's `watch.handle`: a batch
//! of new UIDs of one mailbox, and where and as whom its session is
//! opened (WIT `wasimap:imap/watch`'s `batch` and `session`; see that
//! interface for the exactly-once contract).

use crate::transport::TlsOptions;

/// How the session of a batch is secured; also the watch manifest's
/// `tls = "none" | "starttls" | "implicit"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (the manifest must say so).
    None,
    /// TCP, then STARTTLS before the login.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// Where and as whom the batch's mailbox is reached, for a plugin that
/// opens a session of its own besides the lent one. The secret is a name:
/// its value never enters the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Host name or address, as the manifest names it.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Plain, STARTTLS or implicit TLS.
    pub tls: TlsMode,
    /// The TLS options the watcher itself connects with.
    pub tls_options: TlsOptions,
    /// The login name.
    pub user: String,
    /// The name of the secret to log in with (`login-secret`).
    pub secret: String,
}

/// New messages of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The account's name in the manifest.
    pub account: String,
    /// The mailbox, as the server names it (modified UTF-7).
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UIDs to handle, ascending, none handled before.
    pub uids: Vec<u32>,
    /// 1 for a first try; more for a retry.
    pub attempt: u32,
    /// How to open the session.
    pub session: Session,
    /// The manifest's `plugin-args`.
    pub args: Vec<String>,
}
