//! The result rules: what a completed command does with its `(typ,
//! data)`, imaplib's per-method rule ([`Finish`], named by each row of the
//! command table), and the effects a command has even when it fails.

use std::time::Duration;

use crate::client::{Client, Command, Event, Mode, Outcome};
use crate::encode::Piece;
use crate::error::{ErrorKind, ImapError, Result};
use crate::session::State;
use crate::{pyrepr, util, DataItem, Response};

/// What a completed command does with its `(typ, data)`: imaplib's
/// per-method rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// `(typ, data)` as it is.
    Plain,
    /// APPEND in UTF-8 mode: a server that refuses RFC 6855's `UTF8 (~{n}`
    /// data item stored nothing (NO before the continuation, as Courier
    /// 5.0 answers without flags and date; BAD at any point, as Cyrus 3.6
    /// answers), so the message is sent again, once, as a plain literal,
    /// and that is noted at debug level 1. A NO after the message went out
    /// (quota, size) is the answer.
    AppendUtf8 {
        /// The arguments before the message.
        args: Vec<Piece>,
        /// The message, CRLF-mapped.
        literal: Vec<u8>,
    },
    /// imaplib's `_untagged_response(typ, dat, NAME)`.
    Untagged(String),
    /// CAPABILITY at connect: sets the capabilities, checks the version.
    Handshake,
    /// CAPABILITY after STARTTLS: then STARTTLS's own result.
    AfterStartTls(Response),
    /// SELECT/EXAMINE.
    Select {
        /// The mailbox, for the `readonly` message.
        mailbox: String,
        /// Whether EXAMINE was asked for.
        readonly: bool,
    },
    /// LOGIN: anything but OK raises; the state becomes AUTH.
    Login,
    /// AUTHENTICATE: anything but OK raises with the server's text; the
    /// state becomes AUTH.
    Authenticate,
    /// CLOSE, UNSELECT: the state is AUTH afterwards, even on failure.
    ToAuth,
    /// LOGOUT: the connection is closed afterwards.
    Logout,
    /// ENABLE: `utf8` when UTF8=ACCEPT was asked for.
    Enable {
        /// Whether UTF8=ACCEPT was enabled.
        utf8: bool,
    },
    /// GETQUOTAROOT.
    Quotaroot,
    /// STARTTLS: OK hands the transport over for TLS.
    StartTls,
    /// IDLE entered: waits for the continuation.
    IdleEnter(Option<Duration>),
    /// DONE sent: the state the IDLE interrupted comes back.
    IdleDone(State),
}

impl Client {
    /// The UTF8 APPEND fallback's retry: the same APPEND with a plain
    /// literal (the session stays in UTF-8 mode); its answer is the result.
    pub(crate) fn append_plain(&mut self, args: &[Piece], literal: &[u8], refusal: &str) -> Result<Option<Event>> {
        self.session.note(|| {
            format!(
                "APPEND: the server refused UTF8 (~{{{}}}) ({refusal}); retrying once with a plain literal",
                literal.len()
            )
        });
        self.session.utf8_enabled = false;
        let started = self.start("APPEND", args, Some(literal), None, Finish::Plain);
        self.session.utf8_enabled = true;
        started.map(|()| None)
    }

    /// The effects a command has even when it fails.
    pub(crate) fn settle(&mut self, finish: &Finish) {
        match finish {
            Finish::ToAuth => self.session.state = State::Auth,
            Finish::IdleDone(saved) => {
                self.session.state = *saved;
                self.session.end_capture();
            }
            Finish::IdleEnter(_) => self.session.end_capture(),
            _ => {}
        }
    }

    /// `_command_complete` after the tagged response: the last BYE check,
    /// BAD raises, then the command's own rule.
    pub(crate) fn complete(&mut self, cmd: Command, typ: String, data: Vec<DataItem>) -> Result<Option<Event>> {
        self.settle(&cmd.finish);
        if cmd.finish == Finish::Logout {
            self.logged_out = true;
        } else if let Err(e) = self.session.check_bye() {
            return Err(self.fail(e));
        }
        if let Finish::AppendUtf8 { args, literal } = &cmd.finish {
            if typ == "BAD" || (typ == "NO" && cmd.early) {
                let refusal = format!("{typ} {}", pyrepr::list(&data));
                let (args, literal) = (args.clone(), literal.clone());
                return self.append_plain(&args, &literal, &refusal);
            }
        }
        if typ == "BAD" {
            return Err(ImapError::error_kind(
                ErrorKind::Bad,
                format!("{} command error: {typ} {}", cmd.name, pyrepr::list(&data)),
            ));
        }
        self.finish(cmd, typ, data)
    }

    pub(crate) fn finish(&mut self, cmd: Command, typ: String, data: Vec<DataItem>) -> Result<Option<Event>> {
        let done = |r: Response| Ok(Some(Event::Done(Outcome::Response(r))));
        match cmd.finish {
            Finish::Plain | Finish::AppendUtf8 { .. } | Finish::ToAuth | Finish::Logout | Finish::IdleDone(_) => {
                done(Response::new(typ, data))
            }
            Finish::Untagged(name) => {
                let (typ, data) = self.session.untagged_response(typ, data, &name);
                done(Response::new(typ, data))
            }
            Finish::Handshake => {
                let (typ, data) = self.session.untagged_response(typ, data, "CAPABILITY");
                self.read_capabilities(&data)?;
                for version in ["IMAP4REV1", "IMAP4"] {
                    if self.session.has_capability(version) {
                        self.session.protocol_version = version.to_string();
                        return done(Response::new(typ, data));
                    }
                }
                Err(self.fail(ImapError::error_kind(
                    ErrorKind::Malformed,
                    "server not IMAP4 compliant",
                )))
            }
            Finish::AfterStartTls(starttls) => {
                let (_, caps) = self.session.untagged_response(typ, data, "CAPABILITY");
                self.read_capabilities(&caps)?;
                let (typ, data) = self.session.untagged_response(starttls.typ, starttls.data, "STARTTLS");
                done(Response::new(typ, data))
            }
            Finish::Select { mailbox, readonly } => {
                if typ != "OK" {
                    self.session.state = State::Auth;
                    return done(Response::new(typ, data));
                }
                self.session.state = State::Selected;
                if self.session.has_untagged("READ-ONLY") && !readonly {
                    return Err(ImapError::readonly(format!("{mailbox} is not writable")));
                }
                let exists = self
                    .session
                    .get_untagged("EXISTS")
                    .map(<[DataItem]>::to_vec)
                    .unwrap_or_else(|| vec![DataItem::None]);
                done(Response::new(typ, exists))
            }
            Finish::Login => {
                if typ != "OK" {
                    return Err(ImapError::error_kind(
                        ErrorKind::No,
                        data.last().map(pyrepr::item).unwrap_or_default(),
                    ));
                }
                self.session.state = State::Auth;
                done(Response::new(typ, data))
            }
            Finish::Authenticate => {
                if typ != "OK" {
                    let last = data
                        .last()
                        .map(|d| String::from_utf8_lossy(d.first_bytes()).into_owned())
                        .unwrap_or_default();
                    return Err(ImapError::error_kind(ErrorKind::No, last));
                }
                self.session.state = State::Auth;
                done(Response::new(typ, data))
            }
            Finish::Enable { utf8 } => {
                if typ == "OK" && utf8 {
                    self.session.utf8_enabled = true;
                }
                done(Response::new(typ, data))
            }
            Finish::Quotaroot => {
                let (_, quota) = self.session.untagged_response(typ.clone(), data.clone(), "QUOTA");
                let (typ, quotaroot) = self.session.untagged_response(typ, data, "QUOTAROOT");
                Ok(Some(Event::Done(Outcome::Quotaroot(typ, quotaroot, quota))))
            }
            Finish::StartTls => {
                if typ != "OK" {
                    return Err(ImapError::error_kind(ErrorKind::No, "Couldn't establish TLS session"));
                }
                if self.session.framer().buffered() > 0 {
                    // Bytes before the handshake could be an attacker's
                    // injected plaintext responses.
                    return Err(self.fail(ImapError::abort(
                        ErrorKind::Malformed,
                        "unexpected data after STARTTLS OK, before the TLS handshake",
                    )));
                }
                self.mode = Mode::UpgradingTls(Response::new(typ, data));
                Ok(Some(Event::UpgradeTls))
            }
            Finish::IdleEnter(_) => {
                if typ == "NO" {
                    return Err(ImapError::error_kind(
                        ErrorKind::No,
                        format!("idle denied: {}", pyrepr::list(&data)),
                    ));
                }
                let mut line = cmd.tag;
                line.push(b' ');
                line.extend_from_slice(typ.as_bytes());
                if let Some(text) = data.first() {
                    line.push(b' ');
                    line.extend_from_slice(text.first_bytes());
                }
                Err(self.fail(ImapError::abort(
                    ErrorKind::Malformed,
                    format!("unexpected status response: {}", pyrepr::bytes(&line)),
                )))
            }
        }
    }

    /// imaplib's `_get_capabilities` on CAPABILITY's data.
    pub(crate) fn read_capabilities(&mut self, data: &[DataItem]) -> Result<()> {
        let last = match data.last() {
            None | Some(DataItem::None) => {
                return Err(self.fail(ImapError::error_kind(
                    ErrorKind::Malformed,
                    "no CAPABILITY response from server",
                )))
            }
            Some(item) => item.first_bytes().to_ascii_uppercase(),
        };
        self.session.capabilities = util::split_whitespace(&last)
            .into_iter()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .collect();
        Ok(())
    }
}
