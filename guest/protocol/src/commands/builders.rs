//! The argument builders the table's encodings do not cover: the
//! methods of the table's `written` rows (and `recent`, `response`,
//! `getquotaroot`), each one starting its command with [`Client::start`]
//! and a result rule ([`super::Finish`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::Finish;
use crate::client::{map_crlf, parenthesize, state_error, text, Auth, Client, Mode};
use crate::encode::{self, ArgKind, Piece};
use crate::error::{ErrorKind, ImapError, Result};
use crate::sasl;
use crate::session::State;
use crate::util::{self, TimeValue};
use crate::{pyrepr, DataItem, Response};

impl Client {
    /// Encodes `s` as an astring (the argument's name is for messages).
    pub(crate) fn astring_arg(&self, s: &str, _what: &'static str) -> Result<Piece> {
        self.astring(s)
    }

    /// Encodes `s` as a structural argument (sequence set, item list…).
    pub(crate) fn structural_arg(&self, s: &str, what: &'static str) -> Result<Piece> {
        self.structural(s, what)
    }

    /// `recent()`: a stored RECENT answers at once (`Some`); otherwise a
    /// NOOP is started and its result is the RECENT data.
    pub fn recent(&mut self) -> Result<Option<Response>> {
        self.check_open()?;
        let (typ, dat) = self
            .session
            .untagged_response("OK".into(), vec![DataItem::None], "RECENT");
        if dat.last().is_some_and(DataItem::is_truthy) {
            return Ok(Some(Response::new(typ, dat)));
        }
        self.start("NOOP", &[], None, None, Finish::Untagged("RECENT".into()))?;
        Ok(None)
    }

    /// `response(code)`: the stored data of `code`, without I/O.
    pub fn response(&mut self, code: &str) -> Response {
        let (_, dat) = self
            .session
            .untagged_response(code.to_string(), vec![DataItem::None], &code.to_uppercase());
        Response::new(code, dat)
    }

    /// `append(mailbox, flags, date_time, message)`.
    pub fn append(
        &mut self,
        mailbox: &str,
        flags: Option<&str>,
        date_time: Option<&TimeValue>,
        message: &[u8],
    ) -> Result<()> {
        self.check_open()?;
        let mailbox = if mailbox.is_empty() { "INBOX" } else { mailbox };
        let mut args = vec![self.astring(mailbox)?];
        if let Some(f) = flags.filter(|f| !f.is_empty()) {
            args.push(self.structural(&parenthesize(f), "flags")?);
        }
        if let Some(dt) = date_time {
            // The zone is the caller's to resolve: the protocol component
            // turns epochs and naive tuples into quoted dates in the
            // host's zone first; here (no zone in the core) they are UTC.
            args.push(self.structural(&util::time2internaldate(dt, &util::Utc)?, "date_time")?);
        }
        let literal = map_crlf(message);
        let finish = if self.session.utf8_enabled {
            Finish::AppendUtf8 {
                args: args.clone(),
                literal: literal.clone(),
            }
        } else {
            Finish::Plain
        };
        self.start("APPEND", &args, Some(&literal), None, finish)
    }

    /// `enable(capability)`.
    pub fn enable(&mut self, capability: &str) -> Result<()> {
        self.check_open()?;
        if !self.session.has_capability("ENABLE") {
            return Err(ImapError::error_kind(
                ErrorKind::State,
                "Server does not support ENABLE",
            ));
        }
        let args = [self.structural(capability, "capability")?];
        let utf8 = capability.to_uppercase().contains("UTF8=ACCEPT");
        self.start("ENABLE", &args, None, None, Finish::Enable { utf8 })
    }

    /// `getannotation(mailbox, entry, attribute)`.
    pub fn getannotation(&mut self, mailbox: &str, entry: &str, attribute: &str) -> Result<()> {
        self.check_open()?;
        let args = [
            self.astring(mailbox)?,
            self.arg(entry, ArgKind::Raw)?,
            self.arg(attribute, ArgKind::Raw)?,
        ];
        self.simple_untagged("GETANNOTATION", &args, "ANNOTATION")
    }

    /// `getquotaroot(mailbox)`: completes as [`crate::client::Outcome::Quotaroot`].
    pub fn getquotaroot(&mut self, mailbox: &str) -> Result<()> {
        self.check_open()?;
        let args = [self.astring(mailbox)?];
        self.start("GETQUOTAROOT", &args, None, None, Finish::Quotaroot)
    }

    /// `list(directory='""', pattern='*')`.
    pub fn list(&mut self, directory: Option<&str>, pattern: Option<&str>) -> Result<()> {
        self.list_command("LIST", directory, pattern)
    }

    /// `lsub(directory='""', pattern='*')`.
    pub fn lsub(&mut self, directory: Option<&str>, pattern: Option<&str>) -> Result<()> {
        self.list_command("LSUB", directory, pattern)
    }

    pub(crate) fn list_command(&mut self, name: &str, directory: Option<&str>, pattern: Option<&str>) -> Result<()> {
        self.check_open()?;
        let args = [
            self.astring(directory.unwrap_or("\"\""))?,
            self.arg(pattern.unwrap_or("*"), ArgKind::ListMailbox)?,
        ];
        self.simple_untagged(name, &args, name)
    }

    /// `login(user, password)`: a reply other than OK raises `error`.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.check_open()?;
        let args = [self.astring(user)?, self.arg(password, ArgKind::Password)?];
        self.start("LOGIN", &args, None, Some(1), Finish::Login)
    }

    /// Refuses to use a secret unless every byte exchanged so far was the
    /// session's own: after raw I/O a plugin could have left the server
    /// mid-command (an open literal, a half-sent line) so that the secret
    /// lands where the server echoes it back.
    pub fn check_secret_ready(&self) -> Result<()> {
        self.check_open()?;
        if self.raw_used {
            return Err(ImapError::error_kind(
                ErrorKind::Denied,
                "secrets are not used on a connection where raw I/O (send, read, readline) was used",
            ));
        }
        Ok(())
    }

    /// `logout()`: completes with `('BYE', [...])`; the connection is
    /// closed afterwards ([`Client::is_closed`]).
    pub fn logout(&mut self) -> Result<()> {
        self.check_open()?;
        self.session.state = State::Logout;
        self.start("LOGOUT", &[], None, None, Finish::Logout)
    }

    /// `search(charset, *criteria)`.
    pub fn search(&mut self, charset: Option<&str>, criteria: &[String]) -> Result<()> {
        self.check_open()?;
        let mut args = Vec::new();
        if let Some(cs) = charset.filter(|c| !c.is_empty()) {
            if self.session.utf8_enabled {
                return Err(ImapError::error("Non-None charset not valid in UTF8 mode"));
            }
            args.push(text("CHARSET"));
            args.push(self.astring(cs)?);
        }
        args.extend(self.search_pieces(criteria)?);
        self.simple_untagged("SEARCH", &args, "SEARCH")
    }

    /// `select(mailbox='INBOX', readonly=False)`.
    pub fn select(&mut self, mailbox: Option<&str>, readonly: bool) -> Result<()> {
        self.check_open()?;
        let mailbox = mailbox.unwrap_or("INBOX");
        let args = [self.astring(mailbox)?];
        let name = if readonly { "EXAMINE" } else { "SELECT" };
        self.check_ready(name)?;
        self.session.clear_untagged();
        self.session.is_readonly = readonly;
        let finish = Finish::Select {
            mailbox: mailbox.to_string(),
            readonly,
        };
        self.start(name, &args, None, None, finish)
    }

    /// `setannotation(*args)`.
    pub fn setannotation(&mut self, args: &[String]) -> Result<()> {
        self.check_open()?;
        let pieces = self.raw_args(args)?;
        self.simple_untagged("SETANNOTATION", &pieces, "ANNOTATION")
    }

    /// `sort(sort_criteria, charset, *search_criteria)`.
    pub fn sort(&mut self, sort_criteria: &str, charset: &str, search_criteria: &[String]) -> Result<()> {
        self.check_open()?;
        let mut args = vec![
            self.structural(&parenthesize(sort_criteria), "sort_criteria")?,
            self.astring(charset)?,
        ];
        args.extend(self.search_pieces(search_criteria)?);
        self.simple_untagged("SORT", &args, "SORT")
    }

    /// `store(message_set, command, flags)`.
    pub fn store(&mut self, message_set: &str, command: &str, flags: &str) -> Result<()> {
        self.check_open()?;
        let args = [
            self.structural(message_set, "message_set")?,
            self.structural(command, "command")?,
            self.structural(&parenthesize(flags), "flags")?,
        ];
        self.simple_untagged("STORE", &args, "FETCH")
    }

    /// `thread(threading_algorithm, charset, *search_criteria)`.
    pub fn thread(&mut self, algorithm: &str, charset: &str, search_criteria: &[String]) -> Result<()> {
        self.check_open()?;
        let mut args = vec![
            self.structural(algorithm, "threading_algorithm")?,
            self.astring(charset)?,
        ];
        args.extend(self.search_pieces(search_criteria)?);
        self.simple_untagged("THREAD", &args, "THREAD")
    }

    /// `uid(command, *args)`.
    pub fn uid(&mut self, command: &str, args: &[String]) -> Result<()> {
        self.check_open()?;
        let command = command.to_uppercase();
        if self.session.allowed_states(&command).is_none() {
            return Err(ImapError::error(format!("Unknown IMAP4 UID command: {command}")));
        }
        self.session.check_state(&command)?;
        let mut pieces = vec![text(&command)];
        pieces.extend(self.uid_args(&command, args)?);
        let untagged = if matches!(command.as_str(), "SEARCH" | "SORT" | "THREAD") {
            command
        } else {
            "FETCH".to_string()
        };
        self.start("UID", &pieces, None, None, Finish::Untagged(untagged))
    }

    /// Encodes the arguments of `UID command` by the grammar of `command`.
    pub(crate) fn uid_args(&self, command: &str, args: &[String]) -> Result<Vec<Piece>> {
        let at = |i: usize, kind: ArgKind| self.arg(&args[i], kind);
        let set = ArgKind::Structural("message_set");
        match command {
            "SEARCH" => self.search_pieces(args),
            "SORT" | "THREAD" if args.len() >= 2 => {
                let mut v = vec![at(0, ArgKind::Structural("criteria"))?, at(1, ArgKind::Astring)?];
                v.extend(self.search_pieces(&args[2..])?);
                Ok(v)
            }
            "COPY" | "MOVE" if args.len() == 2 => Ok(vec![at(0, set)?, at(1, ArgKind::Astring)?]),
            _ => (0..args.len())
                .map(|i| at(i, if i == 0 { set } else { ArgKind::Structural("argument") }))
                .collect(),
        }
    }

    /// `xatom(name, *args)`: unknown names become allowed in the current state.
    pub fn xatom(&mut self, name: &str, args: &[String]) -> Result<()> {
        self.check_open()?;
        let name = name.to_uppercase();
        encode::check_line_safe(name.as_bytes())?;
        if !name.bytes().all(encode::is_atom_char) || name.is_empty() {
            return Err(ImapError::error(format!(
                "malformed command name: {}",
                pyrepr::bytes(name.as_bytes())
            )));
        }
        let pieces = self.raw_args(args)?;
        if !matches!(self.mode, Mode::Ready) {
            // Refuses in every mode but Ready; the state table is
            // consulted only after xatom has registered the name.
            self.check_ready(&name)?;
        }
        self.session.register_command(&name);
        self.start(&name, &pieces, None, None, Finish::Plain)
    }

    // ----- TLS and authentication -----

    /// `starttls()`: on OK the next event is [`crate::client::Event::UpgradeTls`].
    ///
    /// # Errors
    /// imaplib's: `abort('TLS session already established')`,
    /// `abort('TLS not supported by server')` (both leave the session
    /// open), `error("Couldn't establish TLS session")`; and `abort` when
    /// the server sent bytes after its OK and before the handshake.
    pub fn starttls(&mut self) -> Result<()> {
        self.check_open()?;
        if self.tls {
            return Err(ImapError::abort(ErrorKind::State, "TLS session already established"));
        }
        if !self.session.has_capability("STARTTLS") {
            return Err(ImapError::abort(ErrorKind::State, "TLS not supported by server"));
        }
        self.start("STARTTLS", &[], None, None, Finish::StartTls)
    }

    /// The driver made the transport TLS after [`crate::client::Event::UpgradeTls`]: the
    /// capabilities are read again, and STARTTLS completes.
    pub fn tls_upgraded(&mut self) -> Result<()> {
        self.check_open()?;
        let Mode::UpgradingTls(starttls) = std::mem::replace(&mut self.mode, Mode::Ready) else {
            return Err(state_error("no STARTTLS is waiting for the TLS handshake"));
        };
        self.tls = true;
        self.start("CAPABILITY", &[], None, None, Finish::AfterStartTls(starttls))
    }

    /// `authenticate(mechanism, authobject)` with a built-in mechanism,
    /// which answers every challenge itself.
    pub fn authenticate(&mut self, mechanism: &str, user: &str, secret: &str) -> Result<()> {
        self.check_open()?;
        let mut mech = sasl::Mechanism::new(mechanism, user, secret, self.endpoint.clone())?;
        let initial = mech.initial_response();
        let name = mech.name().to_string();
        if initial.is_some() {
            // Sent with SASL-IR, or as the answer to the first challenge.
            mech.initial_sent();
        }
        self.start_authenticate(&name, initial.as_deref(), Some(mech))
    }

    /// Starts an AUTHENTICATE the caller drives: each challenge is an
    /// [`crate::client::Event::Challenge`], answered with [`Client::authenticate_step`]
    /// (imaplib's authobject, turned inside out). `initial` goes with
    /// SASL-IR when the server offers it, else as the answer to the first
    /// (empty) challenge.
    pub fn authenticate_start(&mut self, mechanism: &str, initial: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        self.start_authenticate(mechanism, initial, None)
    }

    pub(crate) fn start_authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<&[u8]>,
        mech: Option<sasl::Mechanism>,
    ) -> Result<()> {
        let name = mechanism.to_ascii_uppercase();
        if name.is_empty() || !name.bytes().all(encode::is_atom_char) {
            return Err(ImapError::error(format!(
                "malformed mechanism name: {}",
                pyrepr::bytes(name.as_bytes())
            )));
        }
        let ir = initial.is_some() && self.session.has_capability("SASL-IR");
        let mut args = vec![text(&name)];
        if ir {
            let encoded = B64.encode(initial.unwrap_or_default());
            args.push(text(if encoded.is_empty() { "=" } else { &encoded }));
        }
        self.start("AUTHENTICATE", &args, None, Some(1), Finish::Authenticate)?;
        let Mode::Command(cmd) = std::mem::replace(&mut self.mode, Mode::Ready) else {
            unreachable!("start sets the mode")
        };
        self.mode = Mode::Authenticating(Box::new(Auth {
            cmd: *cmd,
            initial: if ir { None } else { initial.map(<[u8]>::to_vec) },
            mech,
            awaiting_answer: false,
        }));
        Ok(())
    }

    /// Answers the last challenge of a caller-driven AUTHENTICATE; `None`
    /// cancels with `*`.
    pub fn authenticate_step(&mut self, response: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        let Mode::Authenticating(auth) = &mut self.mode else {
            return Err(state_error("no AUTHENTICATE in progress"));
        };
        if !auth.awaiting_answer {
            return Err(state_error("no AUTHENTICATE challenge is waiting for an answer"));
        }
        auth.awaiting_answer = false;
        let line = match response {
            Some(r) => format!("{}\r\n", B64.encode(r)),
            None => "*\r\n".to_string(),
        };
        self.session.trace(|| "> <redacted SASL response>".into());
        self.outbox.push_back(line.into_bytes());
        Ok(())
    }

    /// `login_cram_md5(user, password)`.
    pub fn login_cram_md5(&mut self, user: &str, password: &str) -> Result<()> {
        self.authenticate("CRAM-MD5", user, password)
    }
}
