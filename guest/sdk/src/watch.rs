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
//!         let imap = batch.open()?; // the watcher's session, the mailbox selected
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
    /// The watcher's own session, lent for this call ([`Client::lent`]):
    /// already logged in, the batch's mailbox selected again (read-write)
    /// and its UIDVALIDITY checked against the batch's. One round trip;
    /// the account's secret is never used by the plugin. Drop the client
    /// when done rather than LOGOUT (after a LOGOUT the watcher has to
    /// reconnect).
    ///
    /// # Errors
    /// No session lent, SELECT failures, a changed UIDVALIDITY.
    pub fn open(&self) -> Result<Client, String> {
        let client = Client::lent()?;
        self.select_checked(&client)?;
        Ok(client)
    }

    /// A session of the plugin's own, besides the lent one: connected as
    /// the watcher is (plain, STARTTLS or implicit TLS, with the same TLS
    /// options), logged in with the account's secret (which the plugin
    /// never sees), the mailbox selected and checked as [`Batch::open`]
    /// does.
    ///
    /// # Errors
    /// Connection, TLS, login or SELECT failures.
    pub fn open_own(&self) -> Result<Client, String> {
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
        self.select_checked(&client)?;
        Ok(client)
    }

    /// SELECTs the batch's mailbox and checks its UIDVALIDITY: the UIDs
    /// name these messages only under the batch's (the mailbox may have
    /// been made anew since the batch was made).
    fn select_checked(&self, client: &Client) -> Result<(), String> {
        client.select(&self.mailbox)?;
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
        Ok(())
    }
}

/// A watcher's `run` is its [`Plugin::run`]: implement [`Plugin`] and
/// [`Watcher`], then [`crate::export_watcher!`].
impl<T: Plugin> crate::watch_bindings::Guest for T {
    fn run(args: Vec<String>) -> Result<(), String> {
        <T as Plugin>::run(args)
    }
}
