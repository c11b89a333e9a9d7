//! The watcher's own IMAP session per mailbox: the sans-IO core
//! (`wasimap-protocol`) driven by its blocking driver over the host's
//! transports, natively. It logs in, selects the mailbox, finds new UIDs
//! and waits for more (IDLE, or a pause between looks), and lends its
//! connection to each plugin call. The connection is the host's one
//! [`GuardedConnection`]: opened under the account's grants (its policy,
//! its lookup budget), its echo guard armed by the login's reveal, so what
//! the server sends back on it is screened for the watcher and for the
//! plugin it is lent to alike.

use std::time::Duration;

use wasimap_protocol::imap4::{Imap4, Transport, TransportError as CoreError};
use wasimap_protocol::typed;
use wasimap_protocol::{Client, DataItem, ErrorKind as CoreKind, ImapError};

use wasimap_sandbox::conn::{ConnectGrants, GuardedConnection};
use wasimap_sandbox::lend::Lend;
use wasimap_sandbox::runner::Grants;
use wasimap_sandbox::transport::TlsOptions;
use wasimap_sandbox::transport::{ConnectOptions, TransportError};

use super::config::Account;
use wasimap_sandbox::batch::TlsMode;

/// How many times an empty UID SEARCH whose answer announced new messages
/// is asked again before the session waits (a server announcing without
/// end cannot keep it from waiting).
const SEARCHES_AFTER_ANNOUNCEMENTS: usize = 3;

/// The bound on a watcher session's untagged responses, bytes.
const UNTAGGED_LIMIT: usize = 64 << 20;

/// A guarded host connection as the core's blocking transport.
pub struct NativeTransport(GuardedConnection);

/// The host's transport error as the core's: the same kind, message and
/// errno (the sandbox's errors use the core's kinds).
fn core_error(e: TransportError) -> CoreError {
    e.into()
}

impl Transport for NativeTransport {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, CoreError> {
        self.0.read(max.try_into().unwrap_or(u32::MAX)).map_err(core_error)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CoreError> {
        self.0.write(data).map_err(core_error)
    }

    fn shutdown(&mut self) {
        self.0.shutdown();
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), CoreError> {
        self.0.set_read_timeout(timeout).map_err(core_error)
    }
}

/// Why a session ended.
#[derive(Debug)]
pub enum SessionError {
    /// The server refused the login: retrying will not help.
    Auth(String),
    /// The account's secret cannot be used (unset, or not for this
    /// endpoint): stop the account.
    Secret(String),
    /// Anything else (connection, TLS, BYE, timeout): reconnect.
    Other(String),
}

impl SessionError {
    fn from_imap(e: &ImapError) -> Self {
        SessionError::Other(e.to_string())
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Auth(m) => write!(f, "login refused: {m}"),
            SessionError::Secret(m) | SessionError::Other(m) => f.write_str(m),
        }
    }
}

/// A logged-in session with the mailbox selected.
pub struct Session {
    imap: Imap4<NativeTransport>,
    read_timeout: Duration,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The mailbox's UIDNEXT, when the server said it.
    pub uidnext: Option<u32>,
    idle: bool,
}

/// The TLS options of an account (also handed to the plugin).
pub fn tls_options(account: &Account) -> TlsOptions {
    TlsOptions {
        ca_file: account.ca_file.as_ref().map(|p| p.display().to_string()),
        ..TlsOptions::default()
    }
}

fn first_number(items: &[DataItem]) -> Option<u32> {
    items.iter().find_map(|i| match i {
        DataItem::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    })
}

impl Session {
    /// Connects under `grants` (the account's policy and lookup budget),
    /// logs in with the account's secret (revealed on the connection, which
    /// arms its echo guard) and selects `mailbox` (read-write, so the
    /// plugin's session sees the same mailbox state).
    pub fn open(
        account: &Account,
        grants: &Grants,
        mailbox: &str,
        read_timeout: Duration,
        debug: u32,
        use_idle: bool,
    ) -> Result<Self, SessionError> {
        let options = ConnectOptions {
            connect_timeout: Some(read_timeout),
            read_timeout: Some(read_timeout),
        };
        let ca = match &account.ca_file {
            Some(p) => Some(grants.trust.granted_ca_file(p).ok_or_else(|| {
                SessionError::Other(format!("ca-file {}: not readable as a granted CA file", p.display()))
            })?),
            None => None,
        };
        let tls = tls_options(account);
        let (host, port) = (account.host.as_str(), account.port);
        let endpoint = [account.endpoint()];
        // Armed from the first byte with the account's secret: a greeting
        // or an answer before the login that holds it is cut off too.
        let connect = ConnectGrants {
            policy: &grants.policy,
            lookups: &grants.lookups,
            secrets: &grants.secrets,
            default_endpoints: &endpoint,
            // The account's grants come from its own entry, not from flags.
            wording: wasimap_sandbox::policy::denial::neutral,
        };
        let conn = match account.tls {
            TlsMode::Implicit => GuardedConnection::open_tls(host, port, &options, &tls, ca.as_deref(), &connect),
            TlsMode::None | TlsMode::Starttls => GuardedConnection::open_tcp(host, port, &options, &connect),
        }
        .and_then(|mut c| {
            c.stop_on(&super::STOP);
            c.bound_by(Some(read_timeout)).map(|()| c)
        })
        .map_err(|e| {
            let e = core_error(e);
            SessionError::Other(format!(
                "connecting to {}:{}: {} ({})",
                account.host,
                account.port,
                e.message,
                e.kind.name()
            ))
        })?;
        // What the watcher keeps of untagged responses, in the host and
        // outside any plugin's memory limit (a plugin that leaves a FETCH
        // running on the lent session, say): an abort past it, and a
        // reconnect. Room for the UIDs of millions of messages. Set before
        // the greeting, which is untagged too.
        let mut client = Client::new(rand_seed(), debug);
        client.set_untagged_limit(UNTAGGED_LIMIT);
        let mut imap = Imap4::connect_with(NativeTransport(conn), client).map_err(|e| SessionError::from_imap(&e))?;
        imap.set_default_read_timeout(Some(read_timeout));
        imap.set_endpoint(&account.host, account.port);
        if account.tls == TlsMode::Starttls {
            let host = account.host.clone();
            imap.starttls(|t| t.0.start_tls(&host, &tls, ca.as_deref()).map_err(core_error))
                .map_err(|e| SessionError::from_imap(&e))?;
        } else if account.tls == TlsMode::Implicit {
            imap.set_tls_established();
        }
        // Revealed on the connection (never held here): the echo guard is
        // armed before the password is sent, and the trace shows
        // `<redacted>`.
        imap.login_secret(&account.user, |t| {
            t.0.reveal(&grants.secrets, &account.secret, &endpoint)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| match e.kind() {
            CoreKind::No | CoreKind::Bad => SessionError::Auth(e.to_string()),
            CoreKind::Denied => SessionError::Secret(format!("secret {:?}: {}", account.secret, e.message())),
            _ => SessionError::from_imap(&e),
        })?;
        let (uidvalidity, uidnext) = select(&mut imap, mailbox)?;
        let uidvalidity =
            uidvalidity.ok_or_else(|| SessionError::Other(format!("SELECT {mailbox} gave no UIDVALIDITY")))?;
        let idle = use_idle && imap.client().session().has_capability("IDLE");
        Ok(Session {
            imap,
            read_timeout,
            uidvalidity,
            uidnext,
            idle,
        })
    }

    /// Lends the connection for one plugin call (between two commands:
    /// nothing of the watcher's is in flight), `timeout` bounding the
    /// plugin's reads and writes.
    pub fn lend(&mut self, timeout: Duration) -> Option<Lend> {
        let conn = self.imap.lend_transport()?.0;
        Some(Lend::new(conn, Some(timeout)))
    }

    /// Takes the connection back from a plugin call and selects `mailbox`
    /// again (the plugin may have selected another, or closed it); its
    /// UIDVALIDITY must not have changed. A connection the plugin left in
    /// any other state fails here, and the watcher reconnects.
    pub fn resume(&mut self, conn: Option<GuardedConnection>, mailbox: &str) -> Result<(), SessionError> {
        let mut conn = conn.ok_or_else(|| SessionError::Other("the lent session did not come back".into()))?;
        let after = |e: String| SessionError::Other(format!("after the plugin: {e}"));
        // The plugin's bounds were its own (and its deadline's).
        conn.bound_by(Some(self.read_timeout)).map_err(|e| after(e.message))?;
        self.imap
            .restore_transport(NativeTransport(conn))
            .map_err(|e| after(e.message))?;
        let (now, _) = select(&mut self.imap, mailbox).map_err(|e| after(e.to_string()))?;
        if now != Some(self.uidvalidity) {
            return Err(SessionError::Other(format!(
                "{mailbox}: UIDVALIDITY is {now:?} after the plugin, the session selected {}",
                self.uidvalidity
            )));
        }
        self.drain()
    }

    /// Whether the server offers IDLE.
    pub fn has_idle(&self) -> bool {
        self.idle
    }

    /// The UIDs from `from` on, ascending (a UID below it, or 0, in the
    /// server's answer is dropped); none, without asking, once `from` is
    /// past the last UID there can be (`u32::MAX`).
    pub fn uids_from(&mut self, from: u64) -> Result<Vec<u32>, SessionError> {
        let Ok(from) = u32::try_from(from.max(1)) else {
            return Ok(Vec::new());
        };
        // A message appended while the SEARCH runs is announced (EXISTS)
        // in its answer, and not again in the IDLE that follows (Dovecot):
        // when the answer is empty but announced one, ask again.
        for _ in 0..SEARCHES_AFTER_ANNOUNCEMENTS {
            self.imap.response("EXISTS");
            let uids = self.search_from(from)?;
            let announced = self
                .imap
                .response("EXISTS")
                .data
                .iter()
                .any(|d| !matches!(d, DataItem::None));
            if !uids.is_empty() || !announced {
                return Ok(uids);
            }
        }
        self.search_from(from)
    }

    fn search_from(&mut self, from: u32) -> Result<Vec<u32>, SessionError> {
        let r = self
            .imap
            .uid("SEARCH", &["UID".into(), format!("{from}:*")])
            .map_err(|e| SessionError::from_imap(&e))?;
        if r.typ != "OK" {
            return Err(SessionError::Other(format!("UID SEARCH: {:?}", r.data)));
        }
        // The core's SEARCH rule, not a second parser: a malformed answer
        // is an error here too.
        let mut uids = typed::parse_search(&r.data)
            .map_err(|e| SessionError::from_imap(&e))?
            .ids;
        // `n:*` includes the highest UID even when it is below n.
        uids.retain(|&u| u >= from);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The highest UID in the mailbox plus one (the UIDNEXT the mailbox
    /// has now, as far as its messages tell): a u64, since after UID
    /// `u32::MAX` it is 2^32. A UIDNEXT of 0 is no UID and is not believed.
    pub fn next_uid_now(&mut self) -> Result<u64, SessionError> {
        if let Some(n) = self.uidnext.filter(|&n| n > 0) {
            return Ok(n.into());
        }
        Ok(self.uids_from(1)?.last().map_or(1, |&u| u64::from(u) + 1))
    }

    /// Starts waiting for mail: IDLE where the server has it (polling
    /// sessions have nothing to start).
    pub fn begin_wait(&mut self) -> Result<(), SessionError> {
        if self.idle {
            self.imap.idle_start(None).map_err(|e| SessionError::from_imap(&e))?;
        }
        Ok(())
    }

    /// Reads what the server has sent during IDLE, without waiting for
    /// more: whether it announced messages (EXISTS). An untagged NO or BAD
    /// ends the session: read here it never reaches [`Session::drain`],
    /// and Dovecot's `* NO Internal error` when the mailbox was deleted
    /// under the session comes during IDLE (such a session goes on
    /// answering from the old mailbox).
    pub fn poll_wait(&mut self) -> Result<bool, SessionError> {
        if !self.idle {
            return Ok(false);
        }
        loop {
            // A read that finds nothing at once ends the look.
            match self.imap.idle_next(Some(Duration::from_millis(1))) {
                Ok(Some((typ, _))) if typ == "EXISTS" => return Ok(true),
                Ok(Some((typ, data))) if (typ == "NO" || typ == "BAD") && ends_session(std::slice::from_ref(&data)) => {
                    return Err(SessionError::Other(format!(
                        "the server said {typ} {} during IDLE",
                        said(std::slice::from_ref(&data))
                    )));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok(false),
                Err(e) => return Err(SessionError::from_imap(&e)),
            }
        }
    }

    /// Ends the wait: DONE for IDLE, a NOOP for a polling session. Either
    /// way the server has answered by the end, so a dead connection is
    /// found within the wait plus the read timeout.
    pub fn end_wait(&mut self) -> Result<(), SessionError> {
        if self.idle {
            self.imap.idle_done().map_err(|e| SessionError::from_imap(&e))?;
        } else {
            self.imap.noop().map_err(|e| SessionError::from_imap(&e))?;
        }
        Ok(())
    }

    /// The connection's descriptor, to wait for it to become readable.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.imap.transport_ref().and_then(|t| t.0.stream_ref().raw_fd())
    }

    /// Drops the untagged responses the waits and searches left (EXISTS,
    /// RECENT, EXPUNGE, FETCH flag changes, `OK Still here`): the watcher
    /// reads the mailbox by UID SEARCH, and a session that lasts weeks must
    /// not keep them. An untagged NO or BAD is the server saying this
    /// session has a problem (Dovecot's `* NO Internal error` when the
    /// selected mailbox was deleted under it, after which the session sees
    /// no new mail): that ends the session, and the next one finds out.
    pub fn drain(&mut self) -> Result<(), SessionError> {
        for typ in ["EXISTS", "RECENT", "EXPUNGE", "FETCH", "OK", "FLAGS", "VANISHED"] {
            self.imap.response(typ);
        }
        for typ in ["NO", "BAD"] {
            // imaplib's `response` answers `[None]` when there was none.
            let data = self.imap.response(typ).data;
            if ends_session(&data) {
                return Err(SessionError::Other(format!("the server said {typ} {}", said(&data))));
            }
        }
        Ok(())
    }

    /// Whether the mailbox still has the UIDVALIDITY it was selected
    /// with, asked with STATUS: a session whose mailbox was deleted and
    /// made anew under it may go on answering from the old one and see no
    /// new mail. (Dovecot answers STATUS on the selected mailbox from the
    /// session's own view, `[CLIENTBUG]`; what gives it away there is its
    /// untagged NO during IDLE, which [`Session::poll_wait`] ends the
    /// session on. Other servers answer from the mailbox.)
    pub fn check_uidvalidity(&mut self, mailbox: &str) -> Result<(), SessionError> {
        let r = self
            .imap
            .status(mailbox, "(UIDVALIDITY)")
            .map_err(|e| SessionError::from_imap(&e))?;
        let now = typed::parse_status(&r.data)
            .map_err(|e| SessionError::from_imap(&e))?
            .iter()
            .flat_map(|st| &st.items)
            .find(|(item, _)| item.eq_ignore_ascii_case("UIDVALIDITY"))
            .and_then(|(_, v)| u32::try_from(*v).ok());
        match now {
            Some(v) if v == self.uidvalidity => Ok(()),
            other => Err(SessionError::Other(format!(
                "{mailbox}: UIDVALIDITY is {other:?} now, the session selected {}",
                self.uidvalidity
            ))),
        }
    }

    /// LOGOUT, as far as the server answers.
    pub fn close(mut self) {
        let _ = self.imap.logout();
    }
}

/// SELECT `mailbox` read-write (so the plugin's session sees the same
/// mailbox state); its UIDVALIDITY and UIDNEXT as the server said them.
fn select(imap: &mut Imap4<NativeTransport>, mailbox: &str) -> Result<(Option<u32>, Option<u32>), SessionError> {
    let r = imap
        .select(Some(mailbox), false)
        .map_err(|e| SessionError::from_imap(&e))?;
    if r.typ != "OK" {
        return Err(SessionError::Other(format!("SELECT {mailbox}: {:?}", r.data)));
    }
    Ok((
        first_number(&imap.response("UIDVALIDITY").data),
        first_number(&imap.response("UIDNEXT").data),
    ))
}

/// Whether an untagged NO or BAD says the session is in trouble: one
/// with a response code (`* NO [ALERT] ...`, `[OVERQUOTA]`) is a notice a
/// server may repeat in every IDLE, and reconnecting would not stop it.
fn ends_session(data: &[DataItem]) -> bool {
    data.iter().any(|d| match d {
        DataItem::None => false,
        DataItem::Bytes(b) => !b.trim_ascii_start().starts_with(b"["),
        DataItem::Literal(..) => true,
    })
}

/// What the server said in untagged responses, for a log line.
fn said(data: &[DataItem]) -> String {
    let text: Vec<String> = data
        .iter()
        .filter_map(|d| match d {
            DataItem::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    text.join("; ")
}

/// A tag prefix seed: imaplib's is random too.
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}
