//! imaplib's `IMAP4` class: one method per command, driving a
//! [`Session`] over a byte [`Transport`].
//!
//! This is the only layer that performs I/O. It feeds what the transport
//! returns into the session in large chunks and writes the session's
//! [`Action`]s; everything protocol-specific lives in the session.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::encode::{self, ArgKind, Piece};
use crate::error::{ImapError, Result};
use crate::framing::Framer;
use crate::sasl;
use crate::session::{Action, Poll, Session, State};
use crate::util::{self, TimeValue};
use crate::{pyrepr, DataItem, Response};
use std::time::{Duration, Instant};

/// Bytes asked of the transport per read.
pub const READ_CHUNK: usize = 64 * 1024;

/// A failure of the underlying byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The host's policy refused the connection; the text says what to grant.
    Denied(String),
    /// The connect or read timeout expired.
    Timeout,
    /// The TLS handshake or certificate verification failed.
    Tls(String),
    /// Any other I/O failure.
    Io(String),
}

impl TransportError {
    /// imaplib's translation: socket errors become `abort('socket error: ...')`;
    /// a policy denial is a usage `error`, retrying cannot help.
    pub fn into_imap(self) -> ImapError {
        match self {
            TransportError::Denied(m) => ImapError::error(m),
            TransportError::Timeout => ImapError::abort("socket error: timed out"),
            TransportError::Tls(m) => ImapError::abort(format!("TLS error: {m}")),
            TransportError::Io(m) => ImapError::abort(format!("socket error: {m}")),
        }
    }
}

/// A bidirectional byte stream to an IMAP server.
pub trait Transport {
    /// Up to `max` bytes; empty at EOF. Blocks until something arrives.
    fn read(&mut self, max: usize) -> std::result::Result<Vec<u8>, TransportError>;
    /// Writes everything.
    fn write(&mut self, data: &[u8]) -> std::result::Result<(), TransportError>;
    /// Closes both directions.
    fn shutdown(&mut self);
    /// Changes the read timeout (`None`: wait forever), for IDLE's waits.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::result::Result<(), TransportError>;
}

type TypData = (String, Vec<DataItem>);

/// What [`Imap4::next_response`] got.
enum Next {
    /// A continuation request.
    Continuation,
    /// A stored response; its first line.
    Response(Vec<u8>),
    /// The transport's read timeout expired first.
    TimedOut,
}

/// A streaming FETCH in progress.
#[derive(Debug)]
struct StreamState {
    tag: Vec<u8>,
    /// `FETCH` or `UID`, for `command_complete`'s messages.
    name: &'static str,
    /// Messages parsed but not handed out yet.
    backlog: std::collections::VecDeque<crate::typed::FetchMessage>,
}

/// An IDLE in progress.
#[derive(Debug)]
struct IdleState {
    tag: Vec<u8>,
    saved_state: State,
    deadline: Option<Instant>,
}

/// imaplib's `timeout` (seconds, `None` for none) as whole milliseconds.
///
/// # Errors
/// imaplib's `Non-blocking socket (timeout=0) is not supported` for 0, and
/// an `error` for negative or non-finite values.
pub fn timeout_millis(timeout: Option<f64>) -> Result<Option<u32>> {
    match timeout {
        None => Ok(None),
        Some(0.0) => Err(ImapError::error("Non-blocking socket (timeout=0) is not supported")),
        Some(t) if t.is_nan() || t.is_infinite() || t < 0.0 => Err(ImapError::error(format!("invalid timeout: {t}"))),
        Some(t) => Ok(Some((t * 1000.0).ceil().min(f64::from(u32::MAX)) as u32)),
    }
}

/// One step of a caller-driven AUTHENTICATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// The server's challenge, base64-decoded.
    Challenge(Vec<u8>),
    /// AUTHENTICATE completed with OK.
    Done(Response),
}

/// An AUTHENTICATE in progress.
#[derive(Debug)]
struct AuthExchange {
    tag: Vec<u8>,
    /// An initial response not sent with SASL-IR: the answer to the first
    /// challenge.
    initial: Option<Vec<u8>>,
}

/// An imaplib session over transport `T`.
pub struct Imap4<T: Transport> {
    transport: Option<T>,
    session: Session,
    tls: bool,
    endpoint: Option<(String, u16)>,
    auth: Option<AuthExchange>,
    idle: Option<IdleState>,
    /// A streaming FETCH in progress.
    stream: Option<StreamState>,
    /// The read timeout chosen at connect time, restored after IDLE waits.
    read_timeout: Option<Duration>,
    /// The caller used raw I/O (`send`, `read`, `readline`): the stream may
    /// no longer be where the session thinks it is, so secrets are refused.
    raw_used: bool,
}

fn text(s: &str) -> Piece {
    Piece::Text(s.as_bytes().to_vec())
}

fn arg(s: &str, kind: ArgKind, utf8: bool) -> Result<Piece> {
    encode::encode(s.as_bytes(), kind, utf8)
}

/// imaplib wraps flags and sort criteria in parentheses unless they are.
fn parenthesize(s: &str) -> String {
    if s.starts_with('(') && s.ends_with(')') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

/// imaplib's `MapCRLF.sub(CRLF, message)`: every CR, LF or CRLF becomes CRLF.
pub fn map_crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

impl<T: Transport> Imap4<T> {
    /// imaplib's `__init__` after `open`: reads the greeting, sets the
    /// state, asks for CAPABILITY and checks the protocol version.
    /// `seed` picks the tag prefix (imaplib uses `random`).
    ///
    /// # Errors
    /// As imaplib: `error(welcome)` for a greeting that is neither OK nor
    /// PREAUTH, `error('server not IMAP4 compliant')`, `abort` on EOF.
    pub fn connect(transport: T, seed: u64, debug: u32) -> Result<Self> {
        let mut session = Session::new(seed);
        session.debug = debug;
        let mut imap = Imap4 {
            transport: Some(transport),
            session,
            tls: false,
            endpoint: None,
            auth: None,
            idle: None,
            stream: None,
            read_timeout: None,
            raw_used: false,
        };
        match imap.handshake() {
            Ok(()) => Ok(imap),
            Err(e) => {
                imap.shutdown();
                Err(e)
            }
        }
    }

    fn handshake(&mut self) -> Result<()> {
        let welcome = self.get_response()?;
        self.session.welcome = welcome.clone().unwrap_or_default();
        if self.session.has_untagged("PREAUTH") {
            self.session.state = State::Auth;
        } else if self.session.has_untagged("OK") {
            self.session.state = State::NonAuth;
        } else {
            let shown = match &welcome {
                Some(w) => pyrepr::bytes_truncated(w, crate::error::QUOTE_LIMIT),
                None => "None".into(),
            };
            return Err(ImapError::error(shown));
        }
        self.get_capabilities()?;
        for version in ["IMAP4REV1", "IMAP4"] {
            if self.session.capabilities.iter().any(|c| c == version) {
                self.session.protocol_version = version.to_string();
                return Ok(());
            }
        }
        Err(ImapError::error("server not IMAP4 compliant"))
    }

    fn get_capabilities(&mut self) -> Result<()> {
        let r = self.capability()?;
        let last = match r.data.last() {
            None | Some(DataItem::None) => return Err(ImapError::error("no CAPABILITY response from server")),
            Some(item) => item.first_bytes().to_vec(),
        };
        self.session.capabilities = util::split_whitespace(&last.to_ascii_uppercase())
            .into_iter()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .collect();
        Ok(())
    }

    /// The protocol session (state, capabilities, untagged responses).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The transport, while connected (tests inspect what was written).
    pub fn transport_ref(&self) -> Option<&T> {
        self.transport.as_ref()
    }

    /// Mutable access to the session, e.g. to set `debug`.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn flush_log(&mut self) {
        for line in self.session.take_log() {
            eprintln!("  {} {line}", String::from_utf8_lossy(self.session.tag_prefix()));
        }
    }

    /// Records a failure of the connection itself (EOF, BYE, a line over
    /// the limit or malformed, a timeout, a transport error, a protocol
    /// violation): the stream can no longer be trusted to be where the
    /// session thinks it is, so the transport is shut and the session is
    /// closed for good ([`Session::closed`]): every later command, and any
    /// other use of the connection ([`Imap4::open`]), returns this same
    /// error, unlike imaplib, which lets a program go on reading a
    /// desynchronized stream. Every path that reads or writes the
    /// connection passes its failures through here. Returns `e`.
    fn fail(&mut self, e: ImapError) -> ImapError {
        if self.session.closed.is_none() {
            self.session.closed = Some(e.clone());
            self.shutdown();
        }
        e
    }

    /// `Err` with the failure that closed the session, if one did: checked
    /// before anything is sent, read or handed out from the buffer.
    fn open(&self) -> Result<()> {
        self.session.check_open()
    }

    /// The failure that closed the session for good, if any.
    pub fn closed_by(&self) -> Option<&ImapError> {
        self.session.closed.as_ref()
    }

    fn transport(&mut self) -> Result<&mut T> {
        self.open()?;
        self.transport
            .as_mut()
            .ok_or_else(|| ImapError::abort("socket error: connection closed"))
    }

    /// Runs a transport operation; its failure closes the connection.
    fn io<R>(&mut self, op: impl FnOnce(&mut T) -> std::result::Result<R, TransportError>) -> Result<R> {
        let r = op(self.transport()?);
        r.map_err(|e| self.fail(e.into_imap()))
    }

    /// Records the read timeout the transport was opened with.
    pub fn set_default_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Reads one chunk from the transport into the framer; the transport's
    /// own error, so IDLE can tell a timeout from a failure.
    fn read_chunk(&mut self) -> std::result::Result<(), TransportError> {
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| TransportError::Io("connection closed".into()))?;
        let data = t.read(READ_CHUNK)?;
        if data.is_empty() {
            self.session.framer().feed_eof();
        } else {
            self.session.framer().feed(&data);
        }
        Ok(())
    }

    /// imaplib's `_get_response`: `None` for a continuation, else the
    /// response's first line. A read timeout is `abort`.
    fn get_response(&mut self) -> Result<Option<Vec<u8>>> {
        match self.next_response()? {
            Next::Continuation => Ok(None),
            Next::Response(line) => Ok(Some(line)),
            Next::TimedOut => Err(self.fail(TransportError::Timeout.into_imap())),
        }
    }

    /// Reads until one response is stored or a continuation arrives; a
    /// failure closes the connection (a timeout of the transport's read is
    /// returned as [`Next::TimedOut`], for IDLE's waits).
    fn next_response(&mut self) -> Result<Next> {
        self.open()?;
        let next = self.read_response();
        next.map_err(|e| self.fail(e))
    }

    /// [`Imap4::next_response`]'s loop.
    ///
    /// With a read timeout, a response line must also arrive whole within
    /// it, counted from its first byte (literal data excepted), so a server
    /// dripping bytes slower than the timeout cannot hold the session.
    fn read_response(&mut self) -> Result<Next> {
        let mut line_started = Instant::now();
        loop {
            let polled = self.session.poll_response();
            self.flush_log();
            match polled? {
                Poll::NeedInput => {
                    if self.session.framer().is_eof() {
                        return Err(ImapError::abort("socket error: EOF"));
                    }
                    if self.session.awaiting_literal() || self.session.framer().buffered() == 0 {
                        line_started = Instant::now();
                    } else if let Some(limit) = self.read_timeout.filter(|l| line_started.elapsed() > *l) {
                        return Err(ImapError::abort(format!(
                            "socket error: timed out (a response line took longer than {limit:?})"
                        )));
                    }
                    match self.read_chunk() {
                        Ok(()) => {}
                        Err(TransportError::Timeout) => return Ok(Next::TimedOut),
                        Err(e) => return Err(e.into_imap()),
                    }
                }
                Poll::Continuation => return Ok(Next::Continuation),
                Poll::Response(line) => return Ok(Next::Response(line)),
            }
        }
    }

    fn send_bytes(&mut self, data: &[u8]) -> Result<()> {
        self.io(|t| t.write(data))
    }

    /// imaplib's `_check_bye`; a BYE closes the connection.
    fn check_bye(&mut self) -> Result<()> {
        let bye = self.session.check_bye();
        bye.map_err(|e| self.fail(e))
    }

    /// imaplib's `_command`: sends the command (waiting for continuations
    /// before synchronizing literals) and returns its tag.
    fn command(
        &mut self,
        name: &str,
        args: &[Piece],
        message: Option<&[u8]>,
        redact_after: Option<usize>,
    ) -> Result<Vec<u8>> {
        self.open()?;
        if self.auth.is_some() {
            return Err(ImapError::error(
                "AUTHENTICATE in progress: answer with authenticate-step first",
            ));
        }
        self.refuse_during_stream()?;
        let plan = self.session.start_command(name, args, message, redact_after);
        self.flush_log();
        let plan = plan?;
        for action in plan.actions {
            match action {
                Action::Send(bytes) => self.send_bytes(&bytes)?,
                Action::AwaitContinuation => loop {
                    if self.get_response()?.is_none() {
                        break;
                    }
                    if self.session.is_completed(&plan.tag) {
                        return Ok(plan.tag);
                    }
                },
            }
        }
        Ok(plan.tag)
    }

    /// imaplib's `_get_tagged_response`.
    fn get_tagged_response(&mut self, tag: &[u8], expect_bye: bool) -> Result<TypData> {
        loop {
            if let Some(result) = self.session.take_tagged(tag) {
                return Ok(result);
            }
            if expect_bye {
                if let Some(bye) = self.session.pop_untagged("BYE") {
                    return Ok(("BYE".to_string(), bye));
                }
            }
            self.check_bye()?;
            self.get_response()?;
        }
    }

    /// imaplib's `_command_complete`.
    fn command_complete(&mut self, name: &str, tag: &[u8]) -> Result<TypData> {
        let logout = name == "LOGOUT";
        if !logout {
            self.check_bye()?;
        }
        let (typ, data) = self.get_tagged_response(tag, logout).map_err(|e| {
            // `except self.abort` also catches readonly and re-raises abort.
            let prefix = format!("command: {name} => ");
            let e = match e {
                ImapError::Error(m) => ImapError::Error(format!("{prefix}{m}")),
                other => ImapError::Abort(format!("{prefix}{}", other.message())),
            };
            // Later calls get the error as the caller saw it.
            if self.session.closed.is_some() {
                self.session.closed = Some(e.clone());
            }
            e
        })?;
        if !logout {
            self.check_bye()?;
        }
        if typ == "BAD" {
            return Err(ImapError::error(format!(
                "{name} command error: {typ} {}",
                pyrepr::list(&data)
            )));
        }
        Ok((typ, data))
    }

    fn simple(&mut self, name: &str, args: &[Piece]) -> Result<TypData> {
        let tag = self.command(name, args, None, None)?;
        self.command_complete(name, &tag)
    }

    fn simple_untagged(&mut self, name: &str, args: &[Piece], untagged: &str) -> Result<Response> {
        let (typ, dat) = self.simple(name, args)?;
        let (typ, dat) = self.session.untagged_response(typ, dat, untagged);
        Ok(Response::new(typ, dat))
    }

    fn utf8(&self) -> bool {
        self.session.utf8_enabled
    }

    fn astring(&self, s: &str) -> Result<Piece> {
        arg(s, ArgKind::Astring, self.utf8())
    }

    fn structural(&self, s: &str, what: &'static str) -> Result<Piece> {
        arg(s, ArgKind::Structural(what), self.utf8())
    }

    fn search_pieces(&self, criteria: &[String]) -> Result<Vec<Piece>> {
        let refs: Vec<&[u8]> = criteria.iter().map(|c| c.as_bytes()).collect();
        encode::encode_search(&refs, self.utf8())
    }

    // ----- imaplib's public methods, in its order -----

    /// `recent()`.
    pub fn recent(&mut self) -> Result<Response> {
        let (typ, dat) = self
            .session
            .untagged_response("OK".into(), vec![DataItem::None], "RECENT");
        if dat.last().is_some_and(DataItem::is_truthy) {
            return Ok(Response::new(typ, dat));
        }
        let r = self.noop()?;
        let (typ, dat) = self.session.untagged_response(r.typ, r.data, "RECENT");
        Ok(Response::new(typ, dat))
    }

    /// `response(code)`.
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
    ) -> Result<Response> {
        let mailbox = if mailbox.is_empty() { "INBOX" } else { mailbox };
        let mut args = vec![self.astring(mailbox)?];
        if let Some(f) = flags.filter(|f| !f.is_empty()) {
            args.push(self.structural(&parenthesize(f), "flags")?);
        }
        if let Some(dt) = date_time {
            args.push(self.structural(&util::time2internaldate(dt)?, "date_time")?);
        }
        let literal = map_crlf(message);
        let tag = self.command("APPEND", &args, Some(&literal), None)?;
        // Completed while `command` waited for the continuation: the server
        // answered RFC 6855's `UTF8 (~{n}` before the message went out.
        let before_literal = self.session.is_completed(&tag);
        let result = self.command_complete("APPEND", &tag);
        if self.session.utf8_enabled {
            return self.append_utf8_fallback(&args, &literal, result, before_literal);
        }
        let (typ, dat) = result?;
        Ok(Response::new(typ, dat))
    }

    /// The UTF8 APPEND fallback (#19), self-contained so it can move with
    /// the append path. In UTF-8 mode, a server that refuses the
    /// `UTF8 (~{n}` data item stored nothing: NO before the continuation
    /// (Courier-IMAP 5.0 without flags or date: `NO Error in IMAP command
    /// received by server.`) or BAD at any point (Cyrus 3.6, which has no
    /// UTF8=ACCEPT but answers ENABLE with OK, after its LITERAL+ literal:
    /// `BAD Missing required argument to Append command`). Then the message
    /// is sent again, once, as a plain literal, and that is noted at debug
    /// level. `first` is the first attempt's completion, `before_literal`
    /// whether it came before the message was sent; any other outcome is
    /// returned unchanged, and so is the retry's.
    fn append_utf8_fallback(
        &mut self,
        args: &[Piece],
        literal: &[u8],
        first: Result<TypData>,
        before_literal: bool,
    ) -> Result<Response> {
        let refusal = match &first {
            Ok((typ, dat)) if typ == "NO" && before_literal => format!("NO {}", pyrepr::list(dat)),
            Err(ImapError::Error(m)) if m.starts_with("APPEND command error: BAD") => m.clone(),
            _ => {
                let (typ, dat) = first?;
                return Ok(Response::new(typ, dat));
            }
        };
        if self.session.debug >= 1 {
            eprintln!(
                "  {} APPEND: the server refused UTF8 (~{{{}}}) ({refusal}); retrying once with a plain literal",
                String::from_utf8_lossy(self.session.tag_prefix()),
                literal.len()
            );
        }
        self.session.utf8_enabled = false;
        let tag = self.command("APPEND", args, Some(literal), None);
        self.session.utf8_enabled = true;
        let (typ, dat) = self.command_complete("APPEND", &tag?)?;
        Ok(Response::new(typ, dat))
    }

    /// `capability()`.
    pub fn capability(&mut self) -> Result<Response> {
        self.simple_untagged("CAPABILITY", &[], "CAPABILITY")
    }

    /// `check()`.
    pub fn check(&mut self) -> Result<Response> {
        let (typ, dat) = self.simple("CHECK", &[])?;
        Ok(Response::new(typ, dat))
    }

    /// `close()`: the state is AUTH afterwards, even on failure.
    pub fn close(&mut self) -> Result<Response> {
        let r = self.simple("CLOSE", &[]);
        self.session.state = State::Auth;
        let (typ, dat) = r?;
        Ok(Response::new(typ, dat))
    }

    /// `copy(message_set, new_mailbox)`.
    pub fn copy(&mut self, message_set: &str, new_mailbox: &str) -> Result<Response> {
        let args = [self.structural(message_set, "message_set")?, self.astring(new_mailbox)?];
        let (typ, dat) = self.simple("COPY", &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `create(mailbox)`.
    pub fn create(&mut self, mailbox: &str) -> Result<Response> {
        self.mailbox_command("CREATE", mailbox)
    }

    /// `delete(mailbox)`.
    pub fn delete(&mut self, mailbox: &str) -> Result<Response> {
        self.mailbox_command("DELETE", mailbox)
    }

    fn mailbox_command(&mut self, name: &str, mailbox: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?];
        let (typ, dat) = self.simple(name, &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `deleteacl(mailbox, who)`.
    pub fn deleteacl(&mut self, mailbox: &str, who: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?, self.astring(who)?];
        let (typ, dat) = self.simple("DELETEACL", &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `enable(capability)`.
    pub fn enable(&mut self, capability: &str) -> Result<Response> {
        if !self.session.capabilities.iter().any(|c| c == "ENABLE") {
            return Err(ImapError::error("Server does not support ENABLE"));
        }
        let args = [self.structural(capability, "capability")?];
        let (typ, dat) = self.simple("ENABLE", &args)?;
        if typ == "OK" && capability.to_uppercase().contains("UTF8=ACCEPT") {
            self.session.utf8_enabled = true;
        }
        Ok(Response::new(typ, dat))
    }

    /// `expunge()`.
    pub fn expunge(&mut self) -> Result<Response> {
        self.simple_untagged("EXPUNGE", &[], "EXPUNGE")
    }

    /// `fetch(message_set, message_parts)`.
    pub fn fetch(&mut self, message_set: &str, message_parts: &str) -> Result<Response> {
        let args = [
            self.structural(message_set, "message_set")?,
            self.structural(message_parts, "message_parts")?,
        ];
        self.simple_untagged("FETCH", &args, "FETCH")
    }

    /// `getacl(mailbox)`.
    pub fn getacl(&mut self, mailbox: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?];
        self.simple_untagged("GETACL", &args, "ACL")
    }

    /// `getannotation(mailbox, entry, attribute)`.
    pub fn getannotation(&mut self, mailbox: &str, entry: &str, attribute: &str) -> Result<Response> {
        let utf8 = self.utf8();
        let args = [
            self.astring(mailbox)?,
            arg(entry, ArgKind::Raw, utf8)?,
            arg(attribute, ArgKind::Raw, utf8)?,
        ];
        self.simple_untagged("GETANNOTATION", &args, "ANNOTATION")
    }

    /// `getquota(root)`.
    pub fn getquota(&mut self, root: &str) -> Result<Response> {
        let args = [self.astring(root)?];
        self.simple_untagged("GETQUOTA", &args, "QUOTA")
    }

    /// `getquotaroot(mailbox)`: `(typ, quotaroot, quota)`.
    pub fn getquotaroot(&mut self, mailbox: &str) -> Result<(String, Vec<DataItem>, Vec<DataItem>)> {
        let args = [self.astring(mailbox)?];
        let (typ, dat) = self.simple("GETQUOTAROOT", &args)?;
        let (_, quota) = self.session.untagged_response(typ.clone(), dat.clone(), "QUOTA");
        let (typ, quotaroot) = self.session.untagged_response(typ, dat, "QUOTAROOT");
        Ok((typ, quotaroot, quota))
    }

    /// `list(directory='""', pattern='*')`.
    pub fn list(&mut self, directory: Option<&str>, pattern: Option<&str>) -> Result<Response> {
        self.list_command("LIST", directory, pattern)
    }

    /// `lsub(directory='""', pattern='*')`.
    pub fn lsub(&mut self, directory: Option<&str>, pattern: Option<&str>) -> Result<Response> {
        self.list_command("LSUB", directory, pattern)
    }

    fn list_command(&mut self, name: &str, directory: Option<&str>, pattern: Option<&str>) -> Result<Response> {
        let utf8 = self.utf8();
        let args = [
            self.astring(directory.unwrap_or("\"\""))?,
            arg(pattern.unwrap_or("*"), ArgKind::ListMailbox, utf8)?,
        ];
        self.simple_untagged(name, &args, name)
    }

    /// `login(user, password)`: a reply other than OK raises `error`.
    pub fn login(&mut self, user: &str, password: &str) -> Result<Response> {
        let utf8 = self.utf8();
        let args = [self.astring(user)?, arg(password, ArgKind::Password, utf8)?];
        let tag = self.command("LOGIN", &args, None, Some(1))?;
        let (typ, dat) = self.command_complete("LOGIN", &tag)?;
        if typ != "OK" {
            return Err(ImapError::error(dat.last().map(pyrepr::item).unwrap_or_default()));
        }
        self.session.state = State::Auth;
        Ok(Response::new(typ, dat))
    }

    /// Refuses to use a secret unless every byte exchanged so far was the
    /// session's own: after raw I/O a plugin could have left the server
    /// mid-command (an open literal, a half-sent line) so that the secret
    /// lands where the server echoes it back.
    fn check_secret_ready(&self) -> Result<()> {
        self.open()?;
        if self.raw_used {
            return Err(ImapError::error(
                "secrets are not used on a connection where raw I/O (send, read, readline) was used",
            ));
        }
        Ok(())
    }

    /// `login(user, password)` with the password from `reveal`, which the
    /// caller asks for the secret bound to this connection. The secret
    /// never appears in an error or trace of this session.
    pub fn login_secret(
        &mut self,
        user: &str,
        reveal: impl FnOnce(&mut T) -> std::result::Result<String, String>,
    ) -> Result<Response> {
        self.check_secret_ready()?;
        let secret = reveal(self.transport()?).map_err(ImapError::error)?;
        self.login(user, &secret)
    }

    /// `authenticate` with a built-in mechanism and the password or token
    /// from `reveal` (see [`Imap4::login_secret`]).
    pub fn authenticate_secret(
        &mut self,
        mechanism: &str,
        user: &str,
        reveal: impl FnOnce(&mut T) -> std::result::Result<String, String>,
    ) -> Result<Response> {
        self.check_secret_ready()?;
        let secret = reveal(self.transport()?).map_err(ImapError::error)?;
        self.authenticate(mechanism, user, &secret)
    }

    /// `logout()`: returns `('BYE', [...])` and closes the connection.
    pub fn logout(&mut self) -> Result<Response> {
        self.session.state = State::Logout;
        let r = self.simple("LOGOUT", &[]);
        self.shutdown();
        let (typ, dat) = r?;
        Ok(Response::new(typ, dat))
    }

    /// `move(message_set, new_mailbox)` (RFC 6851).
    pub fn move_(&mut self, message_set: &str, new_mailbox: &str) -> Result<Response> {
        let args = [self.structural(message_set, "message_set")?, self.astring(new_mailbox)?];
        let (typ, dat) = self.simple("MOVE", &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `myrights(mailbox)`.
    pub fn myrights(&mut self, mailbox: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?];
        self.simple_untagged("MYRIGHTS", &args, "MYRIGHTS")
    }

    /// `namespace()`.
    pub fn namespace(&mut self) -> Result<Response> {
        self.simple_untagged("NAMESPACE", &[], "NAMESPACE")
    }

    /// `noop()`.
    pub fn noop(&mut self) -> Result<Response> {
        let (typ, dat) = self.simple("NOOP", &[])?;
        Ok(Response::new(typ, dat))
    }

    /// `partial(message_num, message_part, start, length)`.
    pub fn partial(&mut self, message_num: &str, message_part: &str, start: &str, length: &str) -> Result<Response> {
        let args = [
            self.structural(message_num, "message_num")?,
            self.structural(message_part, "message_part")?,
            self.structural(start, "start")?,
            self.structural(length, "length")?,
        ];
        self.simple_untagged("PARTIAL", &args, "FETCH")
    }

    /// `proxyauth(user)`.
    pub fn proxyauth(&mut self, user: &str) -> Result<Response> {
        self.mailbox_command("PROXYAUTH", user)
    }

    /// `rename(oldmailbox, newmailbox)`.
    pub fn rename(&mut self, old: &str, new: &str) -> Result<Response> {
        let args = [self.astring(old)?, self.astring(new)?];
        let (typ, dat) = self.simple("RENAME", &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `search(charset, *criteria)`.
    pub fn search(&mut self, charset: Option<&str>, criteria: &[String]) -> Result<Response> {
        let mut args = Vec::new();
        if let Some(cs) = charset.filter(|c| !c.is_empty()) {
            if self.utf8() {
                return Err(ImapError::error("Non-None charset not valid in UTF8 mode"));
            }
            args.push(text("CHARSET"));
            args.push(self.astring(cs)?);
        }
        args.extend(self.search_pieces(criteria)?);
        self.simple_untagged("SEARCH", &args, "SEARCH")
    }

    /// `select(mailbox='INBOX', readonly=False)`.
    pub fn select(&mut self, mailbox: Option<&str>, readonly: bool) -> Result<Response> {
        let mailbox = mailbox.unwrap_or("INBOX");
        let args = [self.astring(mailbox)?];
        self.session.clear_untagged();
        self.session.is_readonly = readonly;
        let name = if readonly { "EXAMINE" } else { "SELECT" };
        let (typ, dat) = self.simple(name, &args)?;
        if typ != "OK" {
            self.session.state = State::Auth;
            return Ok(Response::new(typ, dat));
        }
        self.session.state = State::Selected;
        if self.session.has_untagged("READ-ONLY") && !readonly {
            return Err(ImapError::Readonly(format!("{mailbox} is not writable")));
        }
        let exists = self
            .session
            .get_untagged("EXISTS")
            .map(<[DataItem]>::to_vec)
            .unwrap_or_else(|| vec![DataItem::None]);
        Ok(Response::new(typ, exists))
    }

    /// `setacl(mailbox, who, what)`.
    pub fn setacl(&mut self, mailbox: &str, who: &str, what: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?, self.astring(who)?, self.astring(what)?];
        let (typ, dat) = self.simple("SETACL", &args)?;
        Ok(Response::new(typ, dat))
    }

    /// `setannotation(*args)`.
    pub fn setannotation(&mut self, args: &[String]) -> Result<Response> {
        let utf8 = self.utf8();
        let pieces = args
            .iter()
            .map(|a| arg(a, ArgKind::Raw, utf8))
            .collect::<Result<Vec<_>>>()?;
        self.simple_untagged("SETANNOTATION", &pieces, "ANNOTATION")
    }

    /// `setquota(root, limits)`.
    pub fn setquota(&mut self, root: &str, limits: &str) -> Result<Response> {
        let args = [self.astring(root)?, self.structural(limits, "limits")?];
        self.simple_untagged("SETQUOTA", &args, "QUOTA")
    }

    /// `sort(sort_criteria, charset, *search_criteria)`.
    pub fn sort(&mut self, sort_criteria: &str, charset: &str, search_criteria: &[String]) -> Result<Response> {
        let mut args = vec![
            self.structural(&parenthesize(sort_criteria), "sort_criteria")?,
            self.astring(charset)?,
        ];
        args.extend(self.search_pieces(search_criteria)?);
        self.simple_untagged("SORT", &args, "SORT")
    }

    /// `status(mailbox, names)`.
    pub fn status(&mut self, mailbox: &str, names: &str) -> Result<Response> {
        let args = [self.astring(mailbox)?, self.structural(names, "names")?];
        self.simple_untagged("STATUS", &args, "STATUS")
    }

    /// `store(message_set, command, flags)`.
    pub fn store(&mut self, message_set: &str, command: &str, flags: &str) -> Result<Response> {
        let args = [
            self.structural(message_set, "message_set")?,
            self.structural(command, "command")?,
            self.structural(&parenthesize(flags), "flags")?,
        ];
        self.simple_untagged("STORE", &args, "FETCH")
    }

    /// `subscribe(mailbox)`.
    pub fn subscribe(&mut self, mailbox: &str) -> Result<Response> {
        self.mailbox_command("SUBSCRIBE", mailbox)
    }

    /// `unsubscribe(mailbox)`.
    pub fn unsubscribe(&mut self, mailbox: &str) -> Result<Response> {
        self.mailbox_command("UNSUBSCRIBE", mailbox)
    }

    /// `thread(threading_algorithm, charset, *search_criteria)`.
    pub fn thread(&mut self, algorithm: &str, charset: &str, search_criteria: &[String]) -> Result<Response> {
        let mut args = vec![
            self.structural(algorithm, "threading_algorithm")?,
            self.astring(charset)?,
        ];
        args.extend(self.search_pieces(search_criteria)?);
        self.simple_untagged("THREAD", &args, "THREAD")
    }

    /// `uid(command, *args)`.
    pub fn uid(&mut self, command: &str, args: &[String]) -> Result<Response> {
        let command = command.to_uppercase();
        if self.session.allowed_states(&command).is_none() {
            return Err(ImapError::error(format!("Unknown IMAP4 UID command: {command}")));
        }
        self.session.check_state(&command)?;
        let mut pieces = vec![text(&command)];
        pieces.extend(self.uid_args(&command, args)?);
        let (typ, dat) = self.simple("UID", &pieces)?;
        let name = if matches!(command.as_str(), "SEARCH" | "SORT" | "THREAD") {
            command.as_str()
        } else {
            "FETCH"
        };
        let (typ, dat) = self.session.untagged_response(typ, dat, name);
        Ok(Response::new(typ, dat))
    }

    /// Encodes the arguments of `UID command` by the grammar of `command`.
    fn uid_args(&self, command: &str, args: &[String]) -> Result<Vec<Piece>> {
        let utf8 = self.utf8();
        let at = |i: usize, kind: ArgKind| arg(&args[i], kind, utf8);
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

    /// `unselect()`: the state is AUTH afterwards, even on failure.
    pub fn unselect(&mut self) -> Result<Response> {
        let r = self.simple("UNSELECT", &[]);
        self.session.state = State::Auth;
        let (typ, dat) = r?;
        Ok(Response::new(typ, dat))
    }

    /// `xatom(name, *args)`: unknown names become allowed in the current state.
    pub fn xatom(&mut self, name: &str, args: &[String]) -> Result<Response> {
        let name = name.to_uppercase();
        encode::check_line_safe(name.as_bytes())?;
        if !name.bytes().all(encode::is_atom_char) || name.is_empty() {
            return Err(ImapError::error(format!(
                "malformed command name: {}",
                pyrepr::bytes(name.as_bytes())
            )));
        }
        self.session.register_command(&name);
        let utf8 = self.utf8();
        let pieces = args
            .iter()
            .map(|a| arg(a, ArgKind::Raw, utf8))
            .collect::<Result<Vec<_>>>()?;
        let (typ, dat) = self.simple(&name, &pieces)?;
        Ok(Response::new(typ, dat))
    }

    // ----- TLS and authentication -----

    /// Whether the connection is protected by TLS (implicit or STARTTLS).
    pub fn tls_established(&self) -> bool {
        self.tls
    }

    /// Records that the transport is TLS from the start (`IMAP4_SSL`).
    pub fn set_tls_established(&mut self) {
        self.tls = true;
    }

    /// The server's host and port, for OAUTHBEARER's `host=`/`port=`.
    pub fn set_endpoint(&mut self, host: &str, port: u16) {
        self.endpoint = Some((host.to_string(), port));
    }

    /// `starttls()`: sends STARTTLS and, on OK, lets `upgrade` turn the
    /// transport into TLS, then reads the capabilities again.
    ///
    /// # Errors
    /// imaplib's: `abort('TLS session already established')`,
    /// `abort('TLS not supported by server')`,
    /// `error("Couldn't establish TLS session")`; and `abort` when the
    /// server sent bytes after its OK and before the handshake (they could
    /// be an attacker's injected plaintext responses).
    pub fn starttls(
        &mut self,
        upgrade: impl FnOnce(&mut T) -> std::result::Result<(), TransportError>,
    ) -> Result<Response> {
        if self.tls {
            return Err(ImapError::abort("TLS session already established"));
        }
        if !self.session.capabilities.iter().any(|c| c == "STARTTLS") {
            return Err(ImapError::abort("TLS not supported by server"));
        }
        let (typ, dat) = self.simple("STARTTLS", &[])?;
        if typ != "OK" {
            return Err(ImapError::error("Couldn't establish TLS session"));
        }
        if self.session.framer().buffered() > 0 {
            return Err(self.fail(ImapError::abort(
                "unexpected data after STARTTLS OK, before the TLS handshake",
            )));
        }
        self.io(upgrade)?;
        self.tls = true;
        self.get_capabilities()?;
        let (typ, dat) = self.session.untagged_response(typ, dat, "STARTTLS");
        Ok(Response::new(typ, dat))
    }

    /// `authenticate(mechanism, authobject)` with a built-in mechanism.
    ///
    /// # Errors
    /// `error` with the server's text when the reply is not OK (as
    /// imaplib), or for a mechanism that is not built in.
    pub fn authenticate(&mut self, mechanism: &str, user: &str, secret: &str) -> Result<Response> {
        let mut mech = sasl::Mechanism::new(mechanism, user, secret, self.endpoint.clone())?;
        let initial = mech.initial_response();
        let mut step = self.authenticate_start(mech.name(), initial.as_deref())?;
        if initial.is_some() {
            // Sent with SASL-IR, or as the answer to the first challenge.
            mech.initial_sent();
        }
        loop {
            match step {
                SaslStep::Done(r) => return Ok(r),
                SaslStep::Challenge(ch) => {
                    let answer = mech.respond(&ch);
                    step = self.authenticate_step(Some(&answer))?;
                }
            }
        }
    }

    /// `login_cram_md5(user, password)`.
    pub fn login_cram_md5(&mut self, user: &str, password: &str) -> Result<Response> {
        self.authenticate("CRAM-MD5", user, password)
    }

    /// Starts an AUTHENTICATE the caller drives with
    /// [`Imap4::authenticate_step`] (imaplib's authobject, turned inside
    /// out). `initial` goes with SASL-IR when the server offers it, else as
    /// the answer to the first (empty) challenge.
    pub fn authenticate_start(&mut self, mechanism: &str, initial: Option<&[u8]>) -> Result<SaslStep> {
        let mech = mechanism.to_ascii_uppercase();
        if mech.is_empty() || !mech.bytes().all(encode::is_atom_char) {
            return Err(ImapError::error(format!(
                "malformed mechanism name: {}",
                pyrepr::bytes(mech.as_bytes())
            )));
        }
        let ir = initial.is_some() && self.session.capabilities.iter().any(|c| c == "SASL-IR");
        let mut args = vec![text(&mech)];
        if ir {
            let encoded = B64.encode(initial.unwrap_or_default());
            args.push(text(if encoded.is_empty() { "=" } else { &encoded }));
        }
        let tag = self.command("AUTHENTICATE", &args, None, Some(1))?;
        self.auth = Some(AuthExchange {
            tag,
            initial: if ir { None } else { initial.map(<[u8]>::to_vec) },
        });
        self.auth_next()
    }

    /// Answers the last challenge; `None` cancels with `*`.
    pub fn authenticate_step(&mut self, response: Option<&[u8]>) -> Result<SaslStep> {
        self.open()?;
        if self.auth.is_none() {
            return Err(ImapError::error("no AUTHENTICATE in progress"));
        }
        let line = match response {
            Some(r) => format!("{}\r\n", B64.encode(r)),
            None => "*\r\n".to_string(),
        };
        if self.session.debug >= 4 {
            eprintln!(
                "  {} > <redacted SASL response>",
                String::from_utf8_lossy(self.session.tag_prefix())
            );
        }
        if let Err(e) = self.send_bytes(line.as_bytes()) {
            self.auth = None;
            return Err(e);
        }
        self.auth_next()
    }

    /// Reads until the next challenge or the completion of AUTHENTICATE.
    fn auth_next(&mut self) -> Result<SaslStep> {
        let tag = self
            .auth
            .as_ref()
            .map(|a| a.tag.clone())
            .ok_or_else(|| ImapError::error("no AUTHENTICATE in progress"))?;
        loop {
            if self.session.is_completed(&tag) {
                return self.auth_finish(&tag);
            }
            let got = self.get_response();
            let got = match got {
                Ok(g) => g,
                Err(e) => {
                    self.auth = None;
                    return Err(e);
                }
            };
            if got.is_none() {
                let challenge = self.session.continuation.clone().unwrap_or_default();
                let decoded = match B64.decode(challenge.trim_ascii()) {
                    Ok(d) => d,
                    Err(_) => {
                        self.auth = None;
                        return Err(self.fail(ImapError::abort_bytes(
                            "invalid base64 in AUTHENTICATE challenge",
                            &challenge,
                        )));
                    }
                };
                if let Some(initial) = self.auth.as_mut().and_then(|a| a.initial.take()) {
                    self.send_bytes(format!("{}\r\n", B64.encode(initial)).as_bytes())?;
                    continue;
                }
                return Ok(SaslStep::Challenge(decoded));
            }
        }
    }

    fn auth_finish(&mut self, tag: &[u8]) -> Result<SaslStep> {
        self.auth = None;
        let (typ, dat) = self.command_complete("AUTHENTICATE", tag)?;
        if typ != "OK" {
            let last = dat
                .last()
                .map(|d| String::from_utf8_lossy(d.first_bytes()).into_owned())
                .unwrap_or_default();
            return Err(ImapError::error(last));
        }
        self.session.state = State::Auth;
        Ok(SaslStep::Done(Response::new(typ, dat)))
    }

    // ----- IDLE (imaplib 3.14's Idler) -----

    /// `idle(duration)`'s `__enter__`: sends IDLE and waits for the
    /// continuation; untagged responses are queued for
    /// [`Imap4::idle_next`] from then on, and the state is IDLING.
    ///
    /// # Errors
    /// `error('Server does not support IMAP4 IDLE')`; `error('idle denied: ...')`
    /// on NO; the usual state errors.
    pub fn idle_start(&mut self, duration: Option<Duration>) -> Result<()> {
        if !self.session.capabilities.iter().any(|c| c == "IDLE") {
            return Err(ImapError::error("Server does not support IMAP4 IDLE"));
        }
        // Checked before the capture starts, so a refused IDLE cannot
        // disturb another capture (a running stream).
        self.session.check_state("IDLE")?;
        self.refuse_during_stream()?;
        self.session.start_capture(None);
        let started = self.idle_enter();
        if started.is_err() {
            self.session.end_capture();
        }
        let tag = started?;
        let saved_state = self.session.state;
        self.session.state = State::Idling;
        self.idle = Some(IdleState {
            tag,
            saved_state,
            deadline: duration.map(|d| Instant::now() + d),
        });
        Ok(())
    }

    fn idle_enter(&mut self) -> Result<Vec<u8>> {
        let tag = self.command("IDLE", &[], None, None)?;
        while let Some(resp) = self.get_response()? {
            if let Some((typ, data)) = self.session.take_tagged(&tag) {
                if typ == "NO" {
                    return Err(ImapError::error(format!("idle denied: {}", pyrepr::list(&data))));
                }
                return Err(self.fail(ImapError::abort(format!(
                    "unexpected status response: {}",
                    pyrepr::bytes(&resp)
                ))));
            }
        }
        Ok(tag)
    }

    /// The next response while idling, `(typ, [datum])`, waiting at most
    /// `timeout` (and never past the idle duration); `None` when the time
    /// is up.
    pub fn idle_next(&mut self, timeout: Option<Duration>) -> Result<Option<(String, DataItem)>> {
        self.open()?;
        let deadline = self
            .idle
            .as_ref()
            .ok_or_else(|| ImapError::error("not idling"))?
            .deadline;
        let wait_until = match (timeout.map(|t| Instant::now() + t), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        loop {
            if let Some(r) = self.session.next_captured() {
                return Ok(Some(r));
            }
            let remaining = match wait_until {
                Some(t) => match t.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Ok(None),
                },
                None => None,
            };
            if !self.idle_read(remaining)? {
                return Ok(None);
            }
        }
    }

    /// Reads and stores responses for at most `wait`; false on timeout.
    fn idle_read(&mut self, wait: Option<Duration>) -> Result<bool> {
        self.io(|t| t.set_read_timeout(wait))?;
        let next = self.next_response()?;
        let default = self.read_timeout;
        self.io(|t| t.set_read_timeout(default))?;
        Ok(!matches!(next, Next::TimedOut))
    }

    /// Python 3.14's `Idler.burst(interval)`: the next response (waiting
    /// like [`Imap4::idle_next`] with no timeout), then every response that
    /// follows within `interval` of the previous one.
    pub fn idle_burst(&mut self, interval: Duration) -> Result<Vec<(String, DataItem)>> {
        let mut out = Vec::new();
        let Some(first) = self.idle_next(None)? else {
            return Ok(out);
        };
        out.push(first);
        while let Some(r) = self.idle_next(Some(interval))? {
            out.push(r);
        }
        Ok(out)
    }

    /// `__exit__`: sends DONE, completes IDLE, restores the state; unread
    /// responses go to the untagged responses.
    pub fn idle_done(&mut self) -> Result<Response> {
        let idle = self.idle.take().ok_or_else(|| ImapError::error("not idling"))?;
        let result = self
            .send_bytes(b"DONE\r\n")
            .and_then(|()| self.command_complete("IDLE", &idle.tag));
        self.session.state = idle.saved_state;
        self.session.end_capture();
        let (typ, dat) = result?;
        Ok(Response::new(typ, dat))
    }

    /// Whether an IDLE is in progress.
    pub fn idling(&self) -> bool {
        self.idle.is_some()
    }

    // ----- streaming FETCH -----

    fn refuse_during_stream(&self) -> Result<()> {
        if self.stream.is_some() {
            return Err(ImapError::error(
                "a FETCH stream is in progress: read it to the end (or drop it) first",
            ));
        }
        Ok(())
    }

    /// Sends `FETCH message_set message_parts` (`UID FETCH` when `uid`)
    /// and returns its tag at once; [`Imap4::fetch_stream_next`] then
    /// yields the messages one by one as they arrive, so only one is held
    /// at a time. Other commands raise `error` until the stream has ended.
    ///
    /// # Errors
    /// The state and argument checks of `fetch`; a stream already running.
    pub fn fetch_stream_start(&mut self, message_set: &str, message_parts: &str, uid: bool) -> Result<Vec<u8>> {
        self.refuse_during_stream()?;
        let set = self.structural(message_set, "message_set")?;
        let parts = self.structural(message_parts, "message_parts")?;
        let (name, pieces) = if uid {
            ("UID", vec![text("FETCH"), set, parts])
        } else {
            ("FETCH", vec![set, parts])
        };
        self.check_bye()?;
        let tag = self.command(name, &pieces, None, None)?;
        // FETCH has no literal argument, so `command` read nothing: the
        // capture is on before any response to it is read.
        self.session.start_capture(Some("FETCH"));
        self.stream = Some(StreamState {
            tag: tag.clone(),
            name,
            backlog: std::collections::VecDeque::new(),
        });
        Ok(tag)
    }

    /// Whether the streaming FETCH `tag` is the one running.
    fn is_current_stream(&self, tag: &[u8]) -> bool {
        self.stream.as_ref().is_some_and(|s| s.tag == tag)
    }

    fn end_stream(&mut self) -> Option<StreamState> {
        self.session.end_capture();
        self.stream.take()
    }

    /// The next message of the streaming FETCH `tag`; `None` once the
    /// command completed with OK, and for a stream that has ended (or is
    /// not the current one).
    ///
    /// Every FETCH response counts, including unsolicited ones about other
    /// messages (a flag change by another client): callers skip messages
    /// that lack the items they asked for.
    ///
    /// # Errors
    /// `error` for a NO or BAD completion and for a FETCH response that does
    /// not parse (the stream goes on with the next one); `abort` when the
    /// connection fails, which ends the stream.
    pub fn fetch_stream_next(&mut self, tag: &[u8]) -> Result<Option<crate::typed::FetchMessage>> {
        self.open()?;
        if !self.is_current_stream(tag) {
            return Ok(None);
        }
        let next = self.stream_step();
        if self.session.closed.is_some() {
            self.end_stream();
        }
        next
    }

    fn stream_step(&mut self) -> Result<Option<crate::typed::FetchMessage>> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            if let Some(message) = stream.backlog.pop_front() {
                return Ok(Some(message));
            }
            // Each read stores one whole response, so what is queued now is
            // normally one FETCH response.
            let mut items = Vec::new();
            while let Some((_, item)) = self.session.next_captured() {
                items.push(item);
            }
            if !items.is_empty() {
                let mut messages = crate::typed::parse_fetch(&items)?.into_iter();
                if let Some(first) = messages.next() {
                    stream.backlog.extend(messages);
                    return Ok(Some(first));
                }
            }
            if self.session.is_completed(&stream.tag) {
                let done = self.end_stream().expect("checked above");
                let (typ, data) = self.command_complete(done.name, &done.tag)?;
                if typ != "OK" {
                    return Err(ImapError::error(format!(
                        "{} command error: {typ} {}",
                        done.name,
                        pyrepr::list(&data)
                    )));
                }
                return Ok(None);
            }
            self.check_bye()?;
            self.get_response()?;
        }
    }

    /// Reads the rest of the streaming FETCH `tag` and discards it without
    /// parsing, so the session can go on (a stream dropped early). This
    /// still reads every remaining response from the server. Errors end
    /// the stream silently: an abort leaves the session closed anyway.
    pub fn fetch_stream_finish(&mut self, tag: &[u8]) {
        if !self.is_current_stream(tag) {
            return;
        }
        loop {
            while self.session.next_captured().is_some() {}
            if self.session.is_completed(tag) {
                if let Some(done) = self.end_stream() {
                    let _ = self.command_complete(done.name, &done.tag);
                }
                return;
            }
            if self.check_bye().is_err() || self.get_response().is_err() {
                self.end_stream();
                return;
            }
        }
    }

    /// The tag of the IDLE in progress, if any.
    pub fn idle_tag(&self) -> Option<&[u8]> {
        self.idle.as_ref().map(|i| i.tag.as_slice())
    }

    // ----- raw access -----

    /// imaplib's `send(data)`: raw bytes, unchecked.
    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        self.raw_used = true;
        self.send_bytes(data)
    }

    /// imaplib's `read(size)`.
    pub fn read(&mut self, size: u64) -> Result<Vec<u8>> {
        self.raw_read(|f| Ok(f.read(size)))
    }

    /// imaplib's `readline()`.
    pub fn readline(&mut self) -> Result<Vec<u8>> {
        self.raw_read(Framer::readline)
    }

    /// Takes from the buffer what `take` finds there, reading more until it
    /// finds something; a failure closes the connection.
    fn raw_read(&mut self, mut take: impl FnMut(&mut Framer) -> Result<Option<Vec<u8>>>) -> Result<Vec<u8>> {
        self.open()?;
        self.raw_used = true;
        loop {
            let step = match take(self.session.framer()) {
                Ok(Some(data)) => return Ok(data),
                Ok(None) => self.read_chunk().map_err(TransportError::into_imap),
                Err(e) => Err(e),
            };
            step.map_err(|e| self.fail(e))?;
        }
    }

    /// imaplib's `shutdown()`: closes the transport.
    pub fn shutdown(&mut self) {
        if let Some(mut t) = self.transport.take() {
            t.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// A transport that replays canned server chunks and records writes
    /// (kept where the test can see them after the transport is dropped).
    #[derive(Default)]
    struct Script {
        input: VecDeque<Vec<u8>>,
        /// What a read returns once `input` is used up: EOF when `None`.
        end: Option<TransportError>,
        written: Rc<RefCell<Vec<u8>>>,
        shut: Rc<Cell<bool>>,
    }

    impl Transport for Script {
        fn read(&mut self, _max: usize) -> std::result::Result<Vec<u8>, TransportError> {
            match (self.input.pop_front(), &self.end) {
                (Some(chunk), _) => Ok(chunk),
                (None, Some(e)) => Err(e.clone()),
                (None, None) => Ok(Vec::new()),
            }
        }
        fn write(&mut self, data: &[u8]) -> std::result::Result<(), TransportError> {
            self.written.borrow_mut().extend_from_slice(data);
            Ok(())
        }
        fn shutdown(&mut self) {
            self.shut.set(true);
        }
        fn set_read_timeout(&mut self, _: Option<Duration>) -> std::result::Result<(), TransportError> {
            Ok(())
        }
    }

    fn script(chunks: &[&[u8]]) -> Script {
        Script {
            input: chunks.iter().map(|c| c.to_vec()).collect(),
            ..Script::default()
        }
    }

    fn connect(chunks: &[&[u8]]) -> Result<Imap4<Script>> {
        Imap4::connect(script(chunks), 0, 0)
    }

    const GREETING: &[u8] = b"* OK ready\r\n";
    const CAPS: &[u8] = b"* CAPABILITY IMAP4rev1 ENABLE\r\nBAAA0 OK done\r\n";

    #[test]
    fn greeting_states() {
        let imap = connect(&[GREETING, CAPS]).unwrap();
        assert_eq!(imap.session().state, State::NonAuth);
        assert_eq!(imap.session().protocol_version, "IMAP4REV1");
        assert_eq!(imap.session().welcome, b"* OK ready");
        let imap = connect(&[b"* PREAUTH hi\r\n", CAPS]).unwrap();
        assert_eq!(imap.session().state, State::Auth);
        let err = connect(&[b"* BYE go away\r\n"]).err().unwrap();
        assert_eq!(err, ImapError::error("b'* BYE go away'"));
        let err = connect(&[GREETING, b"* CAPABILITY FOO\r\nBAAA0 OK done\r\n"])
            .err()
            .unwrap();
        assert_eq!(err, ImapError::error("server not IMAP4 compliant"));
        let err = connect(&[]).err().unwrap();
        assert_eq!(err, ImapError::abort("socket error: EOF"));
    }

    #[test]
    fn bad_raises_error_no_returns() {
        let mut imap = connect(&[GREETING, CAPS, b"BAAA1 BAD nope\r\n", b"BAAA2 NO exists\r\n"]).unwrap();
        imap.session_mut().state = State::Auth;
        let err = imap.create("x").unwrap_err();
        assert_eq!(err, ImapError::error("CREATE command error: BAD [b'nope']"));
        let r = imap.create("Space Box").unwrap();
        assert_eq!(r, Response::new("NO", vec![DataItem::Bytes(b"exists".to_vec())]));
        let written = written(&imap);
        assert!(
            written.ends_with("BAAA1 CREATE x\r\nBAAA2 CREATE \"Space Box\"\r\n"),
            "{written}"
        );
    }

    #[test]
    fn bye_mid_command_aborts() {
        let mut imap = connect(&[GREETING, CAPS, b"* BYE shutting down\r\n"]).unwrap();
        let err = imap.noop().unwrap_err();
        assert_eq!(err, ImapError::abort("command: NOOP => shutting down"));
    }

    /// After `first` closed the session: the transport was shut, and every
    /// kind of call returns `first` without writing a byte.
    fn assert_closed_for_good(imap: &mut Imap4<Script>, first: &ImapError, log: &RefCell<Vec<u8>>, shut: &Cell<bool>) {
        assert!(shut.get(), "the transport was shut");
        assert_eq!(imap.closed_by(), Some(first));
        let before = log.borrow().len();
        assert_eq!(imap.noop().as_ref(), Err(first));
        assert_eq!(
            imap.search(None, &["ALL".into()]).as_ref(),
            Err(first),
            "before the state check"
        );
        let uid = imap.uid("FETCH", &["1".into(), "(FLAGS)".into()]);
        assert_eq!(uid.as_ref(), Err(first), "before the state check");
        assert_eq!(imap.send(b"A1 NOOP\r\n").as_ref(), Err(first));
        assert_eq!(imap.readline().as_ref(), Err(first));
        assert_eq!(imap.read(1).as_ref(), Err(first));
        assert_eq!(imap.authenticate_step(Some(b"x")).as_ref(), Err(first));
        assert_eq!(imap.fetch_stream_next(b"BAAA1").as_ref(), Err(first));
        assert_eq!(imap.idle_next(None).as_ref(), Err(first));
        let secret = imap.login_secret("u", |_| panic!("no secret is revealed after an abort"));
        assert_eq!(secret.as_ref(), Err(first));
        assert_eq!(imap.authenticate("PLAIN", "u", "p").as_ref(), Err(first));
        imap.session_mut().state = State::Auth;
        imap.session_mut().capabilities.push("IDLE".into());
        assert_eq!(imap.idle_start(None).as_ref(), Err(first));
        assert!(!imap.idling());
        assert_eq!(log.borrow().len(), before, "nothing was written after the abort");
    }

    /// Connects over `chunks` (then `end` once they are used up), runs a
    /// NOOP, and checks that its failure closed the session for good.
    fn noop_closes(chunks: &[&[u8]], end: Option<TransportError>) -> ImapError {
        let mut t = script(chunks);
        t.end = end;
        let (log, shut) = (t.written.clone(), t.shut.clone());
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        let first = imap.noop().unwrap_err();
        assert_closed_for_good(&mut imap, &first, &log, &shut);
        first
    }

    #[test]
    fn an_abort_closes_the_session_for_good() {
        assert_eq!(
            noop_closes(&[GREETING, CAPS], None),
            ImapError::abort("command: NOOP => socket error: EOF")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"* BYE shutting down\r\n"], None),
            ImapError::abort("command: NOOP => shutting down")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"garbage here\r\n"], None),
            ImapError::abort("command: NOOP => unexpected response: b'garbage here'")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"BAAA7 OK not ours\r\n"], None),
            ImapError::abort("command: NOOP => unexpected tagged response: b'BAAA7 OK not ours'")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS], Some(TransportError::Timeout)),
            ImapError::abort("command: NOOP => socket error: timed out")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS], Some(TransportError::Io("reset".into()))),
            ImapError::abort("command: NOOP => socket error: reset")
        );
        // imaplib's class for a line over the limit is `error`, but the
        // stream is desynchronized all the same.
        let long = vec![b'x'; crate::framing::MAXLINE + 1];
        assert_eq!(
            noop_closes(&[GREETING, CAPS, &long], None),
            ImapError::error("command: NOOP => got more than 1000000 bytes")
        );
    }

    #[test]
    fn an_abort_while_idling_or_streaming_closes_the_session() {
        let caps = b"* CAPABILITY IMAP4rev1 IDLE\r\nBAAA0 OK done\r\n";
        let t = script(&[GREETING, caps, b"+ idling\r\n", b"* 1 EXISTS\r\n"]);
        let (log, shut) = (t.written.clone(), t.shut.clone());
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        imap.session_mut().state = State::Selected;
        imap.idle_start(None).unwrap();
        assert_eq!(imap.idle_next(None).unwrap().unwrap().0, "EXISTS");
        let first = imap.idle_next(None).unwrap_err();
        assert_eq!(first, ImapError::abort("socket error: EOF"));
        let before = log.borrow().len();
        // Leaving the IDLE restores the state and sends no DONE.
        assert_eq!(imap.idle_done().unwrap_err(), first);
        assert_eq!(imap.session().state, State::Selected);
        assert_eq!(log.borrow().len(), before);
        assert_closed_for_good(&mut imap, &first, &log, &shut);

        let t = script(&[GREETING, CAPS, b"* 1 FETCH (UID 7)\r\n* BYE going down\r\n"]);
        let (log, shut) = (t.written.clone(), t.shut.clone());
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        imap.session_mut().state = State::Selected;
        let tag = imap.fetch_stream_start("1:*", "(UID)", false).unwrap();
        assert_eq!(imap.fetch_stream_next(&tag).unwrap().unwrap().uid, Some(7));
        let first = imap.fetch_stream_next(&tag).unwrap_err();
        assert_eq!(first, ImapError::abort("going down"));
        assert_eq!(imap.fetch_stream_next(&tag).unwrap_err(), first);
        imap.fetch_stream_finish(&tag);
        assert_closed_for_good(&mut imap, &first, &log, &shut);
    }

    #[test]
    fn readonly_and_error_do_not_close_the_session() {
        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"* 2 EXISTS\r\nBAAA1 OK [READ-ONLY] done\r\n",
            b"* 2 EXISTS\r\nBAAA2 OK [READ-ONLY] done\r\n",
            b"BAAA3 BAD no\r\n",
            b"BAAA4 OK noop\r\n",
        ])
        .unwrap();
        imap.session_mut().state = State::Auth;
        // A subclass of abort in imaplib, but the session is fine: the
        // mailbox can be examined read-only.
        assert!(matches!(imap.select(Some("INBOX"), false), Err(ImapError::Readonly(_))));
        assert_eq!(imap.select(Some("INBOX"), true).unwrap().typ, "OK");
        assert!(imap.create("x\r\n").is_err());
        assert!(matches!(imap.check(), Err(ImapError::Error(_))));
        assert_eq!(imap.closed_by(), None);
        assert_eq!(imap.noop().unwrap().typ, "OK");
        assert!(
            written(&imap).ends_with("BAAA3 CHECK\r\nBAAA4 NOOP\r\n"),
            "{}",
            written(&imap)
        );
    }

    #[test]
    fn readonly_after_writable_select() {
        let mut imap = connect(&[GREETING, CAPS, b"* 2 EXISTS\r\nBAAA1 OK [READ-ONLY] done\r\n"]).unwrap();
        imap.session_mut().state = State::Auth;
        let err = imap.select(Some("INBOX"), false).unwrap_err();
        assert_eq!(err, ImapError::Readonly("INBOX is not writable".into()));
    }

    #[test]
    fn login_no_raises_with_repr() {
        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"BAAA1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        ])
        .unwrap();
        let err = imap.login("u", "p").unwrap_err();
        assert_eq!(
            err,
            ImapError::error("b'[AUTHENTICATIONFAILED] Authentication failed.'")
        );
        assert_eq!(
            imap.response("AUTHENTICATIONFAILED").data,
            vec![DataItem::Bytes(Vec::new())]
        );
    }

    #[test]
    fn logout_returns_bye() {
        let mut imap = connect(&[GREETING, CAPS, b"* BYE Logging out\r\nBAAA1 OK done\r\n"]).unwrap();
        let r = imap.logout().unwrap();
        assert_eq!(r, Response::new("BYE", vec![DataItem::Bytes(b"Logging out".to_vec())]));
        assert_eq!(imap.session().state, State::Logout);
    }

    #[test]
    fn uid_checks() {
        let mut imap = connect(&[GREETING, CAPS]).unwrap();
        assert_eq!(
            imap.uid("frob", &[]).unwrap_err(),
            ImapError::error("Unknown IMAP4 UID command: FROB")
        );
        assert_eq!(
            imap.uid("fetch", &["1".into(), "(FLAGS)".into()]).unwrap_err(),
            ImapError::error("command FETCH illegal in state NONAUTH, only allowed in states SELECTED")
        );
    }

    #[test]
    fn injection_refused_before_send() {
        let mut imap = connect(&[GREETING, CAPS]).unwrap();
        imap.session_mut().state = State::Auth;
        let before = written(&imap).len();
        assert!(imap.create("x\r\nA1 DELETE INBOX").is_err());
        assert!(imap.login("u\0", "p").is_err());
        assert_eq!(written(&imap).len(), before);
    }

    fn written(imap: &Imap4<Script>) -> String {
        String::from_utf8_lossy(&imap.transport.as_ref().unwrap().written.borrow()).into_owned()
    }

    #[test]
    fn starttls_refuses_plaintext_after_ok() {
        let caps = b"* CAPABILITY IMAP4rev1 STARTTLS\r\nBAAA0 OK done\r\n";
        let mut imap = connect(&[
            GREETING,
            caps,
            b"BAAA1 OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1] injected\r\n",
        ])
        .unwrap();
        let mut upgraded = false;
        let err = imap
            .starttls(|_| {
                upgraded = true;
                Ok(())
            })
            .unwrap_err();
        assert!(err.message().starts_with("unexpected data after STARTTLS OK"), "{err}");
        assert!(!upgraded, "no handshake over a poisoned buffer");

        let mut imap = connect(&[GREETING, CAPS]).unwrap();
        assert_eq!(
            imap.starttls(|_| Ok(())).unwrap_err(),
            ImapError::abort("TLS not supported by server")
        );
        let mut imap = connect(&[GREETING, caps, b"BAAA1 NO no TLS today\r\n"]).unwrap();
        assert_eq!(
            imap.starttls(|_| Ok(())).unwrap_err(),
            ImapError::error("Couldn't establish TLS session")
        );
    }

    #[test]
    fn sasl_ir_when_offered_else_first_challenge() {
        let caps = b"* CAPABILITY IMAP4rev1 SASL-IR\r\nBAAA0 OK done\r\n";
        let mut imap = connect(&[GREETING, caps, b"BAAA1 OK welcome\r\n"]).unwrap();
        imap.authenticate("plain", "alice", "secret").unwrap();
        assert!(
            written(&imap).ends_with("BAAA1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            "{}",
            written(&imap)
        );
        assert_eq!(imap.session().state, State::Auth);

        let mut imap = connect(&[GREETING, CAPS, b"+ \r\n", b"BAAA1 OK welcome\r\n"]).unwrap();
        imap.authenticate("PLAIN", "alice", "secret").unwrap();
        assert!(
            written(&imap).ends_with("BAAA1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"),
            "{}",
            written(&imap)
        );

        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"+ PDEyMzQ+\r\n",
            b"BAAA1 NO [AUTHENTICATIONFAILED] nope\r\n",
        ])
        .unwrap();
        let err = imap.login_cram_md5("tim", "tanstaaftanstaaf").unwrap_err();
        assert_eq!(err, ImapError::error("[AUTHENTICATIONFAILED] nope"));
        assert_eq!(imap.session().state, State::NonAuth);
    }

    #[test]
    fn idle_queues_responses_and_done_restores_state() {
        let caps = b"* CAPABILITY IMAP4rev1 IDLE\r\nBAAA0 OK done\r\n";
        let mut imap = connect(&[
            GREETING,
            caps,
            b"* 2 EXPUNGE\r\n+ idling\r\n",
            b"* 1 EXISTS\r\n* 1 RECENT\r\n",
            b"BAAA1 OK IDLE terminated\r\n",
        ])
        .unwrap();
        imap.session_mut().state = State::Selected;
        imap.idle_start(None).unwrap();
        assert_eq!(imap.session().state, State::Idling);
        assert_eq!(
            imap.noop().unwrap_err().message(),
            "command NOOP illegal in state IDLING, only allowed in states NONAUTH, AUTH, SELECTED, LOGOUT"
        );
        // A response that arrived before the continuation is delivered first.
        assert_eq!(
            imap.idle_next(None).unwrap(),
            Some(("EXPUNGE".into(), DataItem::Bytes(b"2".to_vec())))
        );
        assert_eq!(
            imap.idle_next(None).unwrap(),
            Some(("EXISTS".into(), DataItem::Bytes(b"1".to_vec())))
        );
        let r = imap.idle_done().unwrap();
        assert_eq!(
            r,
            Response::new("OK", vec![DataItem::Bytes(b"IDLE terminated".to_vec())])
        );
        assert_eq!(imap.session().state, State::Selected);
        // Unread responses are left in the untagged responses.
        assert_eq!(imap.response("RECENT").data, vec![DataItem::Bytes(b"1".to_vec())]);
        assert!(written(&imap).ends_with("BAAA1 IDLE\r\nDONE\r\n"), "{}", written(&imap));
    }

    #[test]
    fn fetch_stream_yields_each_message_before_the_next_arrives() {
        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"* 1 FETCH (UID 7 BODY[] {5}\r\nhello",
            b" FLAGS (\\Seen))\r\n",
            b"* 3 EXISTS\r\n",
            b"* 2 FETCH (UID 8 BODY[] {3}\r\nbye)\r\n",
            b"BAAA1 OK done\r\n",
        ])
        .unwrap();
        imap.session_mut().state = State::Selected;
        let tag = imap.fetch_stream_start("1:*", "(UID BODY[])", false).unwrap();
        assert!(imap.noop().unwrap_err().message().contains("FETCH stream"));
        // A refused second stream or IDLE leaves the running one intact.
        assert!(imap.fetch_stream_start("1", "(UID)", false).is_err());
        imap.session_mut().capabilities.push("IDLE".into());
        assert!(imap.idle_start(None).unwrap_err().message().contains("FETCH stream"));
        let first = imap.fetch_stream_next(&tag).unwrap().unwrap();
        assert_eq!((first.seq, first.uid), (1, Some(7)));
        assert_eq!(first.sections[0].data.as_deref(), Some(&b"hello"[..]));
        // The second message has not been read from the transport yet.
        assert_eq!(imap.transport_ref().unwrap().input.len(), 3);
        let second = imap.fetch_stream_next(&tag).unwrap().unwrap();
        assert_eq!(second.sections[0].data.as_deref(), Some(&b"bye"[..]));
        assert_eq!(imap.fetch_stream_next(&tag).unwrap(), None);
        // Other responses went where imaplib puts them.
        assert_eq!(imap.response("EXISTS").data, vec![DataItem::Bytes(b"3".to_vec())]);
        assert_eq!(imap.response("FETCH").data, vec![DataItem::None]);
        assert!(written(&imap).ends_with("BAAA1 FETCH 1:* (UID BODY[])\r\n"));
    }

    #[test]
    fn fetch_stream_errors_and_early_finish() {
        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"* 1 FETCH (UID 7 FLAGS (\\Seen)\r\n",
            b"* 2 FETCH (UID 8)\r\n",
            b"BAAA1 NO some messages vanished\r\n",
            b"* 4 EXISTS\r\nBAAA2 OK noop\r\n",
        ])
        .unwrap();
        imap.session_mut().state = State::Selected;
        let tag = imap.fetch_stream_start("1:*", "(UID FLAGS)", true).unwrap();
        let e = imap.fetch_stream_next(&tag).unwrap_err();
        assert!(
            e.message().starts_with("cannot parse FETCH response: b'1 (UID 7"),
            "{e:?}"
        );
        assert_eq!(imap.fetch_stream_next(&tag).unwrap().unwrap().uid, Some(8));
        let e = imap.fetch_stream_next(&tag).unwrap_err();
        assert_eq!(e.message(), "UID command error: NO [b'some messages vanished']");
        assert_eq!(imap.fetch_stream_next(&tag).unwrap(), None);
        assert_eq!(imap.noop().unwrap().typ, "OK");

        let mut imap = connect(&[
            GREETING,
            CAPS,
            b"* 1 FETCH (UID 7)\r\n* 2 FETCH (UID 8)\r\nBAAA1 OK done\r\n",
            b"BAAA2 OK noop\r\n",
        ])
        .unwrap();
        imap.session_mut().state = State::Selected;
        let tag = imap.fetch_stream_start("1:*", "(UID)", false).unwrap();
        // A stale handle (another tag) neither reads nor ends this stream.
        imap.fetch_stream_finish(b"OLD1");
        assert_eq!(imap.fetch_stream_next(b"OLD1").unwrap(), None);
        imap.fetch_stream_finish(&tag);
        assert_eq!(imap.fetch_stream_next(&tag).unwrap(), None);
        assert_eq!(imap.noop().unwrap().typ, "OK");
    }

    #[test]
    fn idle_refused_without_capability_or_by_the_server() {
        let mut imap = connect(&[GREETING, CAPS]).unwrap();
        assert_eq!(
            imap.idle_start(None).unwrap_err(),
            ImapError::error("Server does not support IMAP4 IDLE")
        );
        let caps = b"* CAPABILITY IMAP4rev1 IDLE\r\nBAAA0 OK done\r\n";
        let mut imap = connect(&[GREETING, caps, b"BAAA1 NO not now\r\n"]).unwrap();
        imap.session_mut().state = State::Auth;
        assert_eq!(
            imap.idle_start(None).unwrap_err(),
            ImapError::error("idle denied: [b'not now']")
        );
        assert_eq!(imap.session().state, State::Auth);
        assert!(!imap.idling());
    }

    #[test]
    fn timeouts_as_imaplib() {
        assert_eq!(timeout_millis(None), Ok(None));
        assert_eq!(timeout_millis(Some(1.5)), Ok(Some(1500)));
        assert_eq!(timeout_millis(Some(0.0001)), Ok(Some(1)));
        assert_eq!(
            timeout_millis(Some(0.0)),
            Err(ImapError::error("Non-blocking socket (timeout=0) is not supported"))
        );
        assert!(timeout_millis(Some(-1.0)).is_err());
        assert!(timeout_millis(Some(f64::NAN)).is_err());
    }

    #[test]
    fn map_crlf_matches_imaplib() {
        assert_eq!(map_crlf(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd");
    }

    /// #19: NO or BAD to `UTF8 (~{n}` before the continuation, or BAD
    /// after it, is retried once with a plain literal; the retry's own
    /// refusal is the answer; a NO after the message went out is not
    /// retried.
    #[test]
    fn utf8_append_falls_back_once_to_a_plain_literal() {
        let msg = b"Subject: x\r\n\r\nhi";
        let first = "BAAA1 APPEND INBOX UTF8 (~{16}\r\n";
        let retry = "BAAA2 APPEND INBOX {16}\r\nSubject: x\r\n\r\nhi\r\n";
        let utf8_session = |server: &[&[u8]]| {
            let mut chunks: Vec<&[u8]> = vec![GREETING, CAPS];
            chunks.extend_from_slice(server);
            let mut imap = connect(&chunks).unwrap();
            imap.session_mut().state = State::Auth;
            imap.session_mut().utf8_enabled = true;
            imap
        };
        for refusal in [
            &b"BAAA1 NO Error in IMAP command received by server.\r\n"[..],
            b"BAAA1 BAD no UTF8 data item\r\n",
        ] {
            let mut imap = utf8_session(&[refusal, b"+ go\r\n", b"BAAA2 OK [APPENDUID 1 1] stored\r\n"]);
            let r = imap.append("INBOX", None, None, msg).unwrap();
            assert_eq!(r.typ, "OK");
            assert!(
                written(&imap).ends_with(&format!("{first}{retry}")),
                "{}",
                written(&imap)
            );
            assert!(imap.session().utf8_enabled, "the session stays in UTF-8 mode");
        }
        let mut imap = utf8_session(&[b"BAAA1 NO nope\r\n", b"BAAA2 NO [OVERQUOTA] full\r\n"]);
        let r = imap.append("INBOX", None, None, msg).unwrap();
        assert_eq!(
            r,
            Response::new("NO", vec![DataItem::Bytes(b"[OVERQUOTA] full".to_vec())])
        );
        assert!(!written(&imap).contains("BAAA3"), "{}", written(&imap));
        let mut imap = utf8_session(&[
            b"+ go\r\n",
            b"BAAA1 BAD Missing required argument\r\n",
            b"+ go\r\n",
            b"BAAA2 OK done\r\n",
        ]);
        assert_eq!(imap.append("INBOX", None, None, msg).unwrap().typ, "OK");
        assert!(written(&imap).ends_with(retry), "{}", written(&imap));
        let mut imap = utf8_session(&[b"+ go\r\n", b"BAAA1 NO [OVERQUOTA] full\r\n"]);
        let r = imap.append("INBOX", None, None, msg).unwrap();
        assert_eq!(r.typ, "NO");
        assert!(!written(&imap).contains("BAAA2"), "{}", written(&imap));
        // Not in UTF-8 mode: a refusal is just the answer.
        let mut imap = connect(&[GREETING, CAPS, b"BAAA1 NO nope\r\n"]).unwrap();
        imap.session_mut().state = State::Auth;
        assert_eq!(imap.append("INBOX", None, None, msg).unwrap().typ, "NO");
        assert!(!written(&imap).contains("BAAA2"), "{}", written(&imap));
    }
}
