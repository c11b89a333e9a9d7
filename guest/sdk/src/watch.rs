//! Watcher plugins for `wasimap watch` (world `wasimap:imap/watcher`): a
//! plugin that also handles batches of new messages.
//!
//! ```ignore
//! use wasimap_sdk::watch::{Batch, Watcher};
//! use wasimap_sdk::{Plugin, SequenceSet};
//!
//! struct Count;
//!
//! impl Plugin for Count {
//!     fn run(_args: Vec<String>) -> Result<(), String> {
//!         Err("a watcher plugin: run it with `wasimap watch`".into())
//!     }
//! }
//!
//! impl Watcher for Count {
//!     fn handle(batch: Batch) -> Result<(), String> {
//!         let imap = batch.open()?; // logged in, the mailbox selected
//!         let messages = imap.uid_fetch(&SequenceSet::of(batch.uids.iter().copied()), "(RFC822.SIZE)")?;
//!         println!("{} new in {}", messages.len(), batch.mailbox);
//!         Ok(())
//!     }
//! }
//!
//! wasimap_sdk::export_watcher!(Count);
//! ```

use crate::{Client, Error, Plugin};

pub use crate::watch_bindings::exports::wasimap::imap::watch::{Batch, Guest as Watcher, Session, TlsMode};

impl Batch {
    /// The batch's session as [`Client`]: connected as the watcher is
    /// (plain, STARTTLS or implicit TLS, with the same TLS options),
    /// logged in with the account's secret (which the plugin never sees)
    /// and the mailbox selected read-write, its UIDVALIDITY checked
    /// against the batch's.
    ///
    /// # Errors
    /// Connection, TLS, login or SELECT failures.
    pub fn open(&self) -> Result<Client, String> {
        let s = &self.session;
        let client = match s.tls {
            TlsMode::Implicit => Client::connect_tls(&s.host, s.port, &s.tls_options)?,
            TlsMode::None | TlsMode::Starttls => Client::connect_tcp(&s.host, s.port)?,
        };
        if s.tls == TlsMode::Starttls {
            client.raw().starttls(&s.tls_options).map_err(Error::from)?;
            client.refresh_capabilities()?;
        }
        client.login_secret(&s.user, &s.secret)?;
        client.select(&self.mailbox)?;
        // The UIDs name these messages only under the batch's UIDVALIDITY
        // (the mailbox may have been made anew since the batch was made).
        let validity = client.raw().response("UIDVALIDITY");
        let now = validity.data.iter().find_map(|d| match d {
            crate::DataItem::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse::<u32>().ok(),
            _ => None,
        });
        if now != Some(self.uidvalidity) {
            return Err(format!(
                "{}: UIDVALIDITY is {now:?} now, not the batch's {}: its UIDs name other messages",
                self.mailbox, self.uidvalidity
            ));
        }
        Ok(client)
    }
}

/// A watcher's `run` is its [`Plugin::run`]: implement [`Plugin`] and
/// [`Watcher`], then [`crate::export_watcher!`].
impl<T: Plugin> crate::watch_bindings::Guest for T {
    fn run(args: Vec<String>) -> Result<(), String> {
        <T as Plugin>::run(args)
    }
}
