//! [`Client`]: imaplib's session with Rust results and typed values.

use crate::bindings::wasimap::imap::body::Body;
use crate::bindings::wasimap::imap::client::{FetchStream, Imap4, SessionState};
use crate::bindings::wasimap::imap::typed::{self, FetchMessage, ListEntry, MailboxStatus};
use crate::bindings::wasimap::imap::types::{Response, TlsOptions};
use crate::{Args, Detail, Error, ErrorKind, Result, Search, SequenceSet};

/// One IMAP session.
///
/// Mailbox names are passed and returned as they go on the wire (modified
/// UTF-7 unless UTF-8 is enabled): what [`Client::list`] returns can be
/// given back as is; [`crate::typed::mutf7_encode`] makes a wire name from
/// text and [`crate::typed::mutf7_decode`] text from a wire name.
pub struct Client {
    imap: Imap4,
    /// Capabilities as of the last CAPABILITY, upper case. imaplib reads
    /// them only at connect (and after STARTTLS); servers announce more
    /// after login, so [`Client::login`] asks again.
    capabilities: std::cell::RefCell<Vec<String>>,
}

/// How [`Client::uid_move`] moved the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveMethod {
    /// `UID MOVE` (RFC 6851).
    Move,
    /// `UID COPY`, `UID STORE +FLAGS.SILENT (\Deleted)`, then expunge.
    CopyDeleteExpunge,
}

/// Completion `NO` becomes [`Error::No`].
fn ok(command: &str, r: Response) -> Result<Response> {
    if r.typ == "NO" {
        let text = r
            .data
            .iter()
            .map(|d| match d {
                crate::DataItem::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        return Err(Error::No {
            command: command.to_string(),
            text,
        });
    }
    Ok(r)
}

impl Client {
    /// Wraps an open imaplib session.
    pub fn new(imap: Imap4) -> Self {
        let capabilities = std::cell::RefCell::new(imap.capabilities());
        Client { imap, capabilities }
    }

    /// Reads the capabilities again (`CAPABILITY`).
    ///
    /// # Errors
    /// Connection failures.
    pub fn refresh_capabilities(&self) -> Result<()> {
        let r = ok("CAPABILITY", self.imap.capability()?)?;
        let caps = r
            .data
            .iter()
            .filter_map(|d| match d {
                crate::DataItem::Bytes(b) => Some(String::from_utf8_lossy(b).to_ascii_uppercase()),
                _ => None,
            })
            .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        *self.capabilities.borrow_mut() = caps;
        Ok(())
    }

    /// `IMAP4(host, port)` with a 60 s timeout.
    ///
    /// # Errors
    /// The host refused the connection (not granted with `--allow`), or the
    /// server did not greet.
    pub fn connect_tcp(host: &str, port: u16) -> Result<Self> {
        Ok(Client::new(Imap4::open_tcp(host, port, Some(60.0))?))
    }

    /// The session `wasimap watch` lends to the running `handle`
    /// (`imap4.open-lent`), with a 60 s timeout: logged in (state AUTH),
    /// no connect and no login of its own. Drop it when done rather than
    /// LOGOUT: the watcher goes on with it.
    ///
    /// # Errors
    /// No session is lent (not inside `handle`, or it is already open).
    pub fn lent() -> Result<Self> {
        Ok(Client::new(Imap4::open_lent(Some(60.0))?))
    }

    /// `IMAP4_SSL(host, port)`: implicit TLS, certificate verified.
    ///
    /// # Errors
    /// As [`Client::connect_tcp`], and TLS failures.
    pub fn connect_tls(host: &str, port: u16, tls: &TlsOptions) -> Result<Self> {
        Ok(Client::new(Imap4::open_tls(host, port, Some(60.0), tls)?))
    }

    /// Connects and logs in from the options every example plugin takes:
    /// `--host` (127.0.0.1), `--port` (143, or 993 with `--tls`), `--tls`
    /// or `--starttls`, `--ca-file PATH` (needs `--allow-read`), `--user`,
    /// and `--password` or `--password-secret NAME` (a secret the host
    /// holds: the plugin never sees it). `--stream COMMAND` runs a
    /// pre-authenticated server instead (imaplib's `IMAP4_stream`, e.g.
    /// Courier's `imapd Maildir`; needs `--allow-exec`): no login.
    ///
    /// # Errors
    /// Missing options, connection and login failures.
    pub fn from_args(args: &Args) -> std::result::Result<Self, String> {
        if let Some(command) = args.get("stream") {
            let client = Client::new(Imap4::open_stream(command, Some(60.0)).map_err(Error::from)?);
            if client.imap.state() != SessionState::Auth {
                return Err(format!("--stream {command}: the server did not greet with PREAUTH"));
            }
            client.refresh_capabilities()?;
            return Ok(client);
        }
        let host = args.get_or("host", "127.0.0.1");
        let tls = args.flag("tls");
        let port: u16 = args.parse_or("port", if tls { 993 } else { 143 })?;
        let options = TlsOptions {
            ca_pem: None,
            ca_file: args.get("ca-file").map(str::to_string),
            server_name: None,
            client_cert_pem: None,
            client_key_pem: None,
            dangerously_accept_invalid_certs: false,
        };
        let client = if tls {
            Client::connect_tls(host, port, &options)?
        } else {
            Client::connect_tcp(host, port)?
        };
        if args.flag("starttls") {
            client.imap.starttls(&options).map_err(Error::from)?;
            *client.capabilities.borrow_mut() = client.imap.capabilities();
        }
        let user = args.require("user")?;
        match (args.get("password"), args.get("password-secret")) {
            (_, Some(secret)) => client.login_secret(user, secret)?,
            (Some(password), None) => client.login(user, password)?,
            (None, None) => return Err("--password or --password-secret is required".into()),
        }
        Ok(client)
    }

    /// The underlying imaplib session, for every command not wrapped here.
    pub fn raw(&self) -> &Imap4 {
        &self.imap
    }

    /// Whether the server announced `cap` (e.g. `MOVE`, `UIDPLUS`).
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.borrow().iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// `LOGIN`, then `CAPABILITY` (servers announce more once logged in).
    ///
    /// # Errors
    /// Wrong credentials raise [`Error::Imap`], as imaplib does.
    pub fn login(&self, user: &str, password: &str) -> Result<()> {
        ok("LOGIN", self.imap.login(user, password)?)?;
        self.refresh_capabilities()
    }

    /// `LOGIN` with the password held by the host as secret `name`.
    ///
    /// # Errors
    /// As [`Client::login`]; an undefined secret.
    pub fn login_secret(&self, user: &str, name: &str) -> Result<()> {
        ok("LOGIN", self.imap.login_secret(user, name)?)?;
        self.refresh_capabilities()
    }

    /// `LIST reference pattern`, typed.
    ///
    /// # Errors
    /// NO, BAD, connection failures.
    pub fn list(&self, reference: &str, pattern: &str) -> Result<Vec<ListEntry>> {
        let r = ok("LIST", self.imap.list(Some(reference), Some(pattern))?)?;
        Ok(typed::parse_list(&r.data)?)
    }

    /// The mailbox names with their attributes, all of them (`LIST "" *`).
    ///
    /// # Errors
    /// As [`Client::list`].
    pub fn mailboxes(&self) -> Result<Vec<ListEntry>> {
        self.list("", "*")
    }

    /// `CREATE mailbox`.
    ///
    /// # Errors
    /// [`Error::No`] when it exists or cannot be created.
    pub fn create(&self, mailbox: &str) -> Result<()> {
        ok("CREATE", self.imap.create(mailbox)?).map(drop)
    }

    /// Creates `mailbox` (and so its parents, on servers that do that)
    /// unless `LIST` shows it already; true if it was created.
    ///
    /// # Errors
    /// As [`Client::create`].
    pub fn ensure_mailbox(&self, mailbox: &str) -> Result<bool> {
        let exists = self
            .list("", mailbox)?
            .iter()
            .any(|e| e.name == mailbox && !e.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\NonExistent")));
        if exists {
            return Ok(false);
        }
        self.create(mailbox)?;
        Ok(true)
    }

    /// `SELECT mailbox`: the number of messages.
    ///
    /// # Errors
    /// [`Error::No`] for a mailbox that does not exist.
    pub fn select(&self, mailbox: &str) -> Result<u32> {
        self.open(mailbox, false)
    }

    /// `EXAMINE mailbox` (read-only): the number of messages.
    ///
    /// # Errors
    /// As [`Client::select`].
    pub fn examine(&self, mailbox: &str) -> Result<u32> {
        self.open(mailbox, true)
    }

    fn open(&self, mailbox: &str, readonly: bool) -> Result<u32> {
        let command = if readonly { "EXAMINE" } else { "SELECT" };
        let r = ok(command, self.imap.select(Some(mailbox), readonly)?)?;
        Ok(match r.data.last() {
            Some(crate::DataItem::Bytes(b)) => String::from_utf8_lossy(b).trim().parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// `STATUS mailbox (items)`, e.g. `items` = `MESSAGES UNSEEN`.
    ///
    /// # Errors
    /// NO for a mailbox that does not exist.
    pub fn status(&self, mailbox: &str, items: &str) -> Result<MailboxStatus> {
        let r = ok("STATUS", self.imap.status(mailbox, &format!("({items})"))?)?;
        typed::parse_status(&r.data)?.pop().ok_or_else(|| {
            Error::Imap(Detail::new(
                ErrorKind::Malformed,
                format!("no STATUS response for {mailbox}"),
            ))
        })
    }

    /// `SEARCH criteria`: message numbers.
    ///
    /// # Errors
    /// NO/BAD for criteria the server rejects.
    pub fn search(&self, criteria: &Search) -> Result<Vec<u32>> {
        let r = ok("SEARCH", self.imap.search(self.charset(criteria), &criteria.args())?)?;
        Ok(typed::parse_search(&r.data)?.ids)
    }

    /// `CHARSET UTF-8` when a value needs it and UTF-8 mode is off.
    fn charset(&self, criteria: &Search) -> Option<&'static str> {
        (criteria.needs_utf8() && !self.imap.utf8_enabled()).then_some("UTF-8")
    }

    /// `UID SEARCH criteria`: UIDs.
    ///
    /// # Errors
    /// As [`Client::search`].
    pub fn uid_search(&self, criteria: &Search) -> Result<Vec<u32>> {
        let mut args = criteria.args();
        if let Some(charset) = self.charset(criteria) {
            args.splice(0..0, ["CHARSET".to_string(), charset.to_string()]);
        }
        let r = ok("UID SEARCH", self.imap.uid("SEARCH", &args)?)?;
        Ok(typed::parse_search(&r.data)?.ids)
    }

    /// `FETCH set (items)`, typed; holds every message at once (see
    /// [`Client::stream`] for large sets). The records are parsed inside
    /// the protocol component from the bytes as framed, so message data
    /// crosses into the plugin once, as records, not as imaplib's raw
    /// items that `parse-fetch` would have to take back.
    ///
    /// # Errors
    /// NO/BAD, connection failures, responses that do not parse.
    pub fn fetch(&self, set: &SequenceSet, items: &str) -> Result<Vec<FetchMessage>> {
        self.stream(set, items, false)?.collect()
    }

    /// `UID FETCH set (items)`, typed, as [`Client::fetch`].
    ///
    /// # Errors
    /// As [`Client::fetch`].
    pub fn uid_fetch(&self, set: &SequenceSet, items: &str) -> Result<Vec<FetchMessage>> {
        self.stream(set, items, true)?.collect()
    }

    /// `FETCH` (or `UID FETCH`) one message at a time while the response
    /// arrives: memory holds one message, whatever the mailbox size. Other
    /// commands fail until the iterator is exhausted or dropped.
    ///
    /// # Errors
    /// The state and argument checks; later errors come from the iterator.
    pub fn stream(&self, set: &SequenceSet, items: &str, uid: bool) -> Result<Messages> {
        let stream = self.imap.fetch_stream(&set.to_string(), &format!("({items})"), uid)?;
        Ok(Messages { stream: Some(stream) })
    }

    /// `UID STORE set op (flags)`, e.g. `op` = `+FLAGS.SILENT`.
    ///
    /// # Errors
    /// NO/BAD.
    pub fn uid_store(&self, set: &SequenceSet, op: &str, flags: &str) -> Result<()> {
        let args = [set.to_string(), op.to_string(), format!("({flags})")];
        ok("UID STORE", self.imap.uid("STORE", &args)?).map(drop)
    }

    /// `UID COPY set mailbox`.
    ///
    /// # Errors
    /// NO (e.g. `[TRYCREATE]` when the mailbox does not exist).
    pub fn uid_copy(&self, set: &SequenceSet, mailbox: &str) -> Result<()> {
        ok(
            "UID COPY",
            self.imap.uid("COPY", &[set.to_string(), mailbox.to_string()])?,
        )
        .map(drop)
    }

    /// Moves messages by UID: `UID MOVE` when the server has MOVE and
    /// `allow_move` is set, else `UID COPY` + `\Deleted` + `UID EXPUNGE` of
    /// just those UIDs ([`Client::uid_expunge`]).
    ///
    /// # Errors
    /// NO/BAD of any step; after a failed copy nothing is deleted. Without
    /// MOVE and UIDPLUS it refuses before changing anything: a plain
    /// EXPUNGE would also remove other messages marked `\Deleted`.
    pub fn uid_move(&self, set: &SequenceSet, mailbox: &str, allow_move: bool) -> Result<MoveMethod> {
        if set.is_empty() {
            return Err(Error::usage("empty message set"));
        }
        let use_move = allow_move && self.has_capability("MOVE");
        if !use_move && !self.has_capability("UIDPLUS") {
            return Err(Error::Imap(Detail::new(
                ErrorKind::State,
                "the server has neither MOVE nor UIDPLUS: moving would expunge other deleted messages",
            )));
        }
        if use_move {
            ok(
                "UID MOVE",
                self.imap.uid("MOVE", &[set.to_string(), mailbox.to_string()])?,
            )?;
            return Ok(MoveMethod::Move);
        }
        self.uid_copy(set, mailbox)?;
        self.uid_store(set, "+FLAGS.SILENT", "\\Deleted")?;
        self.uid_expunge(set)?;
        Ok(MoveMethod::CopyDeleteExpunge)
    }

    /// Removes the messages of `set` marked `\Deleted` with `UID EXPUNGE
    /// set` (UIDPLUS), so other deleted messages stay.
    ///
    /// # Errors
    /// NO/BAD; an empty set; a server without UIDPLUS (use
    /// `raw().expunge()` to expunge every deleted message deliberately).
    pub fn uid_expunge(&self, set: &SequenceSet) -> Result<()> {
        if set.is_empty() {
            return Err(Error::usage("empty message set"));
        }
        if !self.has_capability("UIDPLUS") {
            return Err(Error::Imap(Detail::new(
                ErrorKind::State,
                "the server lacks UIDPLUS: UID EXPUNGE is not available, and EXPUNGE would remove every deleted message",
            )));
        }
        ok("UID EXPUNGE", self.imap.uid("EXPUNGE", &[set.to_string()])?).map(drop)
    }

    /// `LOGOUT`.
    ///
    /// # Errors
    /// Connection failures.
    pub fn logout(self) -> Result<()> {
        self.imap.logout()?;
        Ok(())
    }
}

/// Takes the data of the body item `item` with section `section` (e.g.
/// `"BODY"`, `""` for `BODY[]`) out of `m`, into this plugin's memory:
/// one memcpy from the host, which held it as a [`Body`]. None when the
/// message did not carry it (an unsolicited FETCH) or the server sent NIL.
pub fn take_section(m: &mut FetchMessage, item: &str, section: &str) -> Option<Vec<u8>> {
    let s = m.sections.iter_mut().find(|s| s.item == item && s.section == section)?;
    s.data.take().map(Body::into_bytes)
}

/// A streaming FETCH as an iterator of typed messages.
pub struct Messages {
    stream: Option<FetchStream>,
}

impl Iterator for Messages {
    type Item = Result<FetchMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.stream.as_ref()?.next();
        match next {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => {
                self.stream = None;
                None
            }
            Err(e) => {
                let e = Error::from(e);
                if matches!(e, Error::Abort(_)) {
                    self.stream = None;
                }
                Some(Err(e))
            }
        }
    }
}
