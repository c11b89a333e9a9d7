//! The sans-IO imaplib client: every command, AUTHENTICATE (built-in and
//! caller-driven), IDLE, the streaming FETCH, STARTTLS's hand-over and the
//! continuation waits, as one state machine with no I/O and no clock.
//!
//! The driver (the blocking [`crate::imap4::Imap4`], or any other) starts an
//! operation with one of the command methods, then loops on
//! [`Client::next`], passing the current time:
//!
//! - [`Event::Send`]: write these bytes to the server;
//! - [`Event::NeedInput`]: read from the server and hand the bytes to
//!   [`Client::feed`] (or [`Client::feed_eof`], [`Client::timed_out`], or
//!   [`Client::transport_failed`]), waiting as [`Wait`] says;
//! - any other event is the operation's result, and the loop ends.
//!
//! One [`Mode`] says what is running. A failure of the connection itself
//! (EOF, BYE, a malformed or over-long line, a timeout, a transport error)
//! moves it to [`Mode::Closed`] for good: every later call returns that
//! same error at once and nothing more is sent, where imaplib would let a
//! program go on over a desynchronized stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::encode::{self, ArgKind, Piece};
use crate::error::{ErrorClass, ErrorKind, ImapError, Result};
use crate::sasl;
use crate::session::{Action, Poll, Session, State};
use crate::typed::FetchMessage;

pub use crate::commands::Finish;
use crate::{pyrepr, DataItem, Response};

/// How long the driver may wait for input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// As long as the connection's own read timeout allows.
    Default,
    /// Until this instant (an IDLE wait); then report [`Client::timed_out`].
    Until(Instant),
    /// For ever (an IDLE with no timeout and no duration).
    Forever,
}

/// What the driver must do next, or the result of the running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write these bytes to the server, then ask again.
    Send(Vec<u8>),
    /// Read from the server, then ask again.
    NeedInput(Wait),
    /// The command completed.
    Done(Outcome),
    /// STARTTLS was accepted: make the transport TLS now, then call
    /// [`Client::tls_upgraded`] (or [`Client::transport_failed`]).
    UpgradeTls,
    /// A caller-driven AUTHENTICATE's challenge, base64-decoded: answer
    /// with [`Client::authenticate_step`].
    Challenge(Vec<u8>),
    /// The server accepted IDLE.
    IdleStarted,
    /// A response while idling.
    IdleResponse(String, DataItem),
    /// The IDLE wait (or the idle duration) ran out.
    IdleTimeout,
    /// The next message of a streaming FETCH (boxed: it is large, and the
    /// other events are small).
    Message(Box<FetchMessage>),
    /// The streaming FETCH completed with OK.
    StreamEnd,
    /// The data items of the next FETCH response of a raw streaming FETCH,
    /// in imaplib's shape (a literal as `(header, literal)`, then the
    /// line that closes the response).
    Items(Vec<DataItem>),
    /// Bytes asked for by a raw `read`/`readline`.
    Raw(Vec<u8>),
}

/// A completed command's result in imaplib's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `(typ, [data…])`.
    Response(Response),
    /// `getquotaroot`'s `(typ, quotaroot, quota)`.
    Quotaroot(String, Vec<DataItem>, Vec<DataItem>),
}

impl Outcome {
    /// The response, for every command but `getquotaroot`.
    pub fn into_response(self) -> Response {
        match self {
            Outcome::Response(r) => r,
            Outcome::Quotaroot(typ, quotaroot, _) => Response::new(typ, quotaroot),
        }
    }
}

/// The client's mode: what is running on the connection.
#[derive(Debug)]
pub enum Mode {
    /// Waiting for the server's greeting.
    Greeting,
    /// Nothing running: a command may start.
    Ready,
    /// One command is in flight.
    Command(Box<Command>),
    /// An AUTHENTICATE exchange is in flight.
    Authenticating(Box<Auth>),
    /// STARTTLS was accepted; the driver is making the transport TLS.
    UpgradingTls(Response),
    /// IDLE is running.
    Idling(Idle),
    /// A streaming FETCH is running.
    Streaming(Stream),
    /// A raw `read(size)` or `readline()` is waiting for bytes.
    RawRead(RawRead),
    /// The connection failed (or was logged out): every call returns this.
    Closed(ImapError),
}

/// A command in flight.
#[derive(Debug)]
pub struct Command {
    pub(crate) tag: Vec<u8>,
    pub(crate) name: String,
    /// What is left to send, each batch after a continuation request.
    pub(crate) batches: VecDeque<Vec<u8>>,
    /// Whether all of the command has been handed to the driver.
    pub(crate) sent: bool,
    /// Whether `_command_complete`'s first BYE check was made.
    pub(crate) bye_checked: bool,
    /// Whether the command completed before all of it was sent (the server
    /// refused a synchronizing literal).
    pub(crate) early: bool,
    pub(crate) finish: Finish,
}

/// An AUTHENTICATE in flight.
#[derive(Debug)]
pub struct Auth {
    pub(crate) cmd: Command,
    /// An initial response not sent with SASL-IR: the answer to the first
    /// challenge.
    pub(crate) initial: Option<Vec<u8>>,
    /// A built-in mechanism answers the challenges itself.
    pub(crate) mech: Option<sasl::Mechanism>,
    /// A challenge was handed to the caller and awaits its answer.
    pub(crate) awaiting_answer: bool,
}

/// A running IDLE.
#[derive(Debug)]
pub struct Idle {
    pub(crate) tag: Vec<u8>,
    pub(crate) saved_state: State,
    /// The end of the idle duration.
    pub(crate) deadline: Option<Instant>,
    /// The end of the current wait (`idle_next`'s timeout).
    pub(crate) wait_until: Option<Instant>,
    /// The driver reported that the wait ran out.
    pub(crate) timed_out: bool,
}

/// A running streaming FETCH.
#[derive(Debug)]
pub struct Stream {
    pub(crate) tag: Vec<u8>,
    /// `FETCH` or `UID`, for the completion's messages.
    pub(crate) name: &'static str,
    /// Messages parsed but not handed out yet.
    pub(crate) backlog: VecDeque<FetchMessage>,
    /// Dropped early: read to the end without parsing.
    pub(crate) discard: bool,
    /// Hand out imaplib's data items ([`Event::Items`]) instead of
    /// parsed messages.
    pub(crate) raw: bool,
}

/// A raw read waiting for bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawRead {
    /// `read(size)`.
    Bytes(u64),
    /// `readline()`.
    Line,
}

/// One step of a caller-driven AUTHENTICATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// The server's challenge, base64-decoded.
    Challenge(Vec<u8>),
    /// AUTHENTICATE completed with OK.
    Done(Response),
}

/// imaplib's `timeout` (seconds, `None` for none) as whole milliseconds.
///
/// # Errors
/// A `usage` error for 0 (imaplib raises `ValueError('Non-blocking socket
/// (timeout=0) is not supported')`), and for negative or non-finite values.
pub fn timeout_millis(timeout: Option<f64>) -> Result<Option<u32>> {
    match timeout {
        None => Ok(None),
        Some(0.0) => Err(ImapError::error("Non-blocking socket (timeout=0) is not supported")),
        Some(t) if t.is_nan() || t.is_infinite() || t < 0.0 => Err(ImapError::error(format!("invalid timeout: {t}"))),
        Some(t) => Ok(Some((t * 1000.0).ceil().min(f64::from(u32::MAX)) as u32)),
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

pub(crate) fn text(s: &str) -> Piece {
    Piece::Text(s.as_bytes().to_vec())
}

/// imaplib wraps flags and sort criteria in parentheses unless they are.
pub(crate) fn parenthesize(s: &str) -> String {
    if s.starts_with('(') && s.ends_with(')') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

pub(crate) fn state_error(msg: &str) -> ImapError {
    ImapError::error_kind(ErrorKind::State, msg)
}

/// A command's bytes as the batches the driver sends: everything up to a
/// continuation wait goes in one write.
pub(crate) fn batches(actions: Vec<Action>) -> VecDeque<Vec<u8>> {
    let mut out = VecDeque::new();
    let mut current = Vec::new();
    for action in actions {
        match action {
            Action::Send(bytes) => current.extend_from_slice(&bytes),
            Action::AwaitContinuation => out.push_back(std::mem::take(&mut current)),
        }
    }
    out.push_back(current);
    out
}

/// One imaplib connection's protocol, without I/O.
#[derive(Debug)]
pub struct Client {
    pub(crate) session: Session,
    pub(crate) mode: Mode,
    /// Bytes for the driver to write, before anything else.
    pub(crate) outbox: VecDeque<Vec<u8>>,
    pub(crate) tls: bool,
    pub(crate) endpoint: Option<(String, u16)>,
    /// The connection's read timeout: a response line must also arrive
    /// whole within it, from its first byte.
    pub(crate) read_timeout: Option<Duration>,
    /// When the partly received line being waited for began.
    pub(crate) line_started: Option<Instant>,
    /// The caller used raw I/O (`send`, `read`, `readline`): the stream may
    /// no longer be where the session thinks it is, so secrets are refused.
    pub(crate) raw_used: bool,
    /// LOGOUT completed: the driver closes the transport; commands the
    /// LOGOUT state allows fail as on a closed socket.
    pub(crate) logged_out: bool,
    /// A session lent by its owner (`resume_authenticated`): commands that
    /// would change it for the owner, and raw I/O, are refused.
    pub(crate) borrowed: bool,
}

/// Commands a borrowed session refuses: each changes the session for its
/// owner beyond what SELECT restores (the protocol in use, compression,
/// notifications, who is logged in, TLS).
const OWNER_ONLY: [&str; 7] = [
    "ENABLE",
    "UNAUTHENTICATE",
    "COMPRESS",
    "NOTIFY",
    "LOGIN",
    "AUTHENTICATE",
    "STARTTLS",
];

impl Client {
    /// A client waiting for the greeting; `seed` picks the tag prefix
    /// (imaplib uses `random`), `debug` is imaplib's debug level.
    pub fn new(seed: u64, debug: u32) -> Self {
        let mut session = Session::new(seed);
        session.debug = debug;
        Client {
            session,
            mode: Mode::Greeting,
            outbox: VecDeque::new(),
            tls: false,
            endpoint: None,
            read_timeout: None,
            line_started: None,
            raw_used: false,
            logged_out: false,
            borrowed: false,
        }
    }

    /// A client on a connection another client logged in: no greeting,
    /// the state AUTH, CAPABILITY asked first (see `Imap4::resume`). It is
    /// borrowed: ENABLE, UNAUTHENTICATE, COMPRESS, NOTIFY, LOGIN,
    /// AUTHENTICATE, STARTTLS and raw I/O are refused, since the owner goes
    /// on with the session afterwards and would not know.
    ///
    /// # Errors
    /// None in practice: CAPABILITY is legal in AUTH.
    pub fn resume_authenticated(seed: u64, debug: u32) -> Result<Self> {
        let mut client = Client::new(seed, debug);
        client.borrowed = true;
        client.session.state = State::Auth;
        client.mode = Mode::Ready;
        client.start("CAPABILITY", &[], None, None, Finish::Handshake)?;
        Ok(client)
    }

    // ----- what the driver reads -----

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The response store (state, capabilities, untagged responses).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Bounds what untagged responses may hold at once (see
    /// [`Session::set_untagged_limit`]).
    pub fn set_untagged_limit(&mut self, bytes: usize) {
        self.session.set_untagged_limit(bytes);
    }

    /// imaplib's `state`.
    pub fn state(&self) -> State {
        self.session.state
    }

    /// imaplib's `capabilities`.
    pub fn capabilities(&self) -> &[String] {
        &self.session.capabilities
    }

    /// imaplib's `PROTOCOL_VERSION`.
    pub fn protocol_version(&self) -> &str {
        &self.session.protocol_version
    }

    /// imaplib's `welcome`.
    pub fn welcome(&self) -> &[u8] {
        &self.session.welcome
    }

    /// imaplib's `utf8_enabled`.
    pub fn utf8_enabled(&self) -> bool {
        self.session.utf8_enabled
    }

    /// imaplib's `debug`.
    pub fn debug(&self) -> u32 {
        self.session.debug
    }

    /// Sets imaplib's `debug`; 4 or more records traffic in [`Client::take_log`].
    pub fn set_debug(&mut self, level: u32) {
        self.session.debug = level;
    }

    /// Log lines recorded at `debug >= 4` since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        self.session.take_log()
    }

    /// The tag prefix (imaplib's `tagpre`).
    pub fn tag_prefix(&self) -> &[u8] {
        self.session.tag_prefix()
    }

    /// The line limit (imaplib's `_MAXLINE`).
    pub fn max_line(&mut self) -> usize {
        self.session.framer().max_line()
    }

    /// Sets the line limit for this connection, as a program assigns
    /// `imaplib._MAXLINE` (default [`crate::framing::MAXLINE`]).
    ///
    /// # Errors
    /// `usage` for 0 or more than [`crate::framing::MAX_LINE_LIMIT`]
    /// (1 GiB); the limit is then unchanged.
    pub fn set_max_line(&mut self, limit: u64) -> Result<()> {
        self.session.framer().set_max_line(limit)
    }

    /// The failure that closed the connection for good, if any.
    pub fn closed_by(&self) -> Option<&ImapError> {
        match &self.mode {
            Mode::Closed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether an IDLE is running, and its tag.
    pub fn idle_tag(&self) -> Option<&[u8]> {
        match &self.mode {
            Mode::Idling(idle) => Some(&idle.tag),
            _ => None,
        }
    }

    /// Whether the connection is TLS (implicit or after STARTTLS).
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

    /// The connection's read timeout, which also bounds how long one
    /// response line may take to arrive.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Forces imaplib's state, for tests that exercise commands without a
    /// server's login (feature `test-hooks`).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn force_state(&mut self, state: State) {
        self.session.force_state(state);
    }

    /// Forces UTF-8 mode, as tests that script a server need (feature
    /// `test-hooks`).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn force_utf8(&mut self, on: bool) {
        self.session.utf8_enabled = on;
    }

    /// Adds a capability, as tests that script a server need (feature
    /// `test-hooks`).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn force_capability(&mut self, cap: &str) {
        self.session.capabilities.push(cap.to_ascii_uppercase());
    }

    // ----- what the driver feeds -----

    /// Bytes queued for the server, without asking for the next event
    /// (a driver that must write a command before it returns).
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// Bytes received from the server; dropped once the connection is
    /// closed for good, so a driver that goes on reading cannot grow the
    /// buffer.
    pub fn feed(&mut self, data: &[u8]) {
        if !matches!(self.mode, Mode::Closed(_)) {
            self.session.framer().feed(data);
        }
    }

    /// The server closed the connection.
    pub fn feed_eof(&mut self) {
        self.session.framer().feed_eof();
    }

    /// The driver's wait ran out ([`Wait::Default`]: the connection's read
    /// timeout; [`Wait::Until`]: the IDLE wait). Returns the error that
    /// closed the connection, or `None` when the timeout is IDLE's own.
    pub fn timed_out(&mut self) -> Option<ImapError> {
        if let Mode::Idling(idle) = &mut self.mode {
            idle.timed_out = true;
            return None;
        }
        Some(self.fail(ImapError::abort(ErrorKind::Timeout, "socket error: timed out")))
    }

    /// The transport failed (or refused): the connection is closed with
    /// this error, as the running command reports it. Returns it.
    pub fn transport_failed(&mut self, e: ImapError) -> ImapError {
        self.fail(e)
    }

    /// Whether the driver should close the transport: the connection
    /// failed or was logged out.
    pub fn is_closed(&self) -> bool {
        self.logged_out || matches!(self.mode, Mode::Closed(_))
    }

    // ----- the state machine -----

    /// `Err` with the failure that closed the connection, if one did.
    pub(crate) fn check_open(&self) -> Result<()> {
        match &self.mode {
            Mode::Closed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// Closes the connection for good with `e` (as the running command
    /// reports it: inside `_command_complete`, imaplib prefixes
    /// `command: NAME => ` and makes a `readonly` an `abort`). Returns it.
    pub(crate) fn fail(&mut self, e: ImapError) -> ImapError {
        if let Mode::Closed(first) = &self.mode {
            return first.clone();
        }
        let e = match &self.mode {
            Mode::Command(cmd) if cmd.sent && cmd.bye_checked => completion_error(&cmd.name, e),
            // imaplib's fetch reads its whole response inside
            // `_command_complete`; the raw stream keeps its messages.
            Mode::Streaming(stream) if stream.raw => completion_error(stream.name, e),
            _ => e,
        };
        // What the interrupted operation does even when it fails.
        match &self.mode {
            Mode::Command(cmd) => {
                let finish = cmd.finish.clone();
                self.settle(&finish);
            }
            Mode::Idling(idle) => self.session.state = idle.saved_state,
            _ => {}
        }
        self.outbox.clear();
        self.session.end_capture();
        // Nothing is read from a closed connection: what a hostile server
        // had buffered (up to the untagged limit) is not kept alive.
        self.session.discard_input();
        self.mode = Mode::Closed(e.clone());
        e
    }

    /// The next thing for the driver to do, or the running operation's
    /// result. `now` is the current time (for the line and IDLE deadlines).
    ///
    /// # Errors
    /// The operation's error; when it is a failure of the connection the
    /// mode is [`Mode::Closed`] from then on.
    pub fn next(&mut self, now: Instant) -> Result<Event> {
        loop {
            if let Some(bytes) = self.outbox.pop_front() {
                return Ok(Event::Send(bytes));
            }
            if let Some(event) = self.ready_event(now)? {
                return Ok(event);
            }
            if !self.outbox.is_empty() {
                // The mode queued bytes (a retry): they go before any read.
                continue;
            }
            let polled = self.session.poll_response();
            match polled {
                Err(e) => return Err(self.fail(e)),
                Ok(Poll::NeedInput) => {
                    if self.session.framer().is_eof() {
                        return Err(self.fail(crate::session::eof()));
                    }
                    self.check_line_deadline(now)?;
                    return Ok(Event::NeedInput(self.wait()));
                }
                Ok(Poll::Continuation) => {
                    self.line_started = None;
                    if let Some(event) = self.on_continuation(now)? {
                        return Ok(event);
                    }
                }
                Ok(Poll::Response(line)) => {
                    self.line_started = None;
                    if matches!(self.mode, Mode::Greeting) {
                        self.on_greeting(Some(line))?;
                    }
                }
            }
        }
    }

    pub(crate) fn check_line_deadline(&mut self, now: Instant) -> Result<()> {
        if self.session.awaiting_literal() || self.session.framer().buffered() == 0 {
            self.line_started = None;
            return Ok(());
        }
        let started = *self.line_started.get_or_insert(now);
        match self.read_timeout {
            Some(limit) if now.saturating_duration_since(started) > limit => Err(self.fail(ImapError::abort(
                ErrorKind::Timeout,
                format!("socket error: timed out (a response line took longer than {limit:?})"),
            ))),
            _ => Ok(()),
        }
    }

    pub(crate) fn wait(&self) -> Wait {
        match &self.mode {
            Mode::Idling(idle) => match (idle.wait_until, idle.deadline) {
                (Some(a), Some(b)) => Wait::Until(a.min(b)),
                (Some(t), None) | (None, Some(t)) => Wait::Until(t),
                (None, None) => Wait::Forever,
            },
            _ => Wait::Default,
        }
    }

    /// What the mode can answer from what is already stored, before more
    /// input is parsed.
    pub(crate) fn ready_event(&mut self, now: Instant) -> Result<Option<Event>> {
        match &mut self.mode {
            Mode::Closed(e) => Err(e.clone()),
            Mode::Ready => Err(state_error("nothing is running on this connection")),
            Mode::UpgradingTls(_) => Err(state_error("STARTTLS: the transport is being made TLS")),
            Mode::Greeting => Ok(None),
            Mode::Command(_) => self.command_step(),
            Mode::Authenticating(auth) => {
                if auth.awaiting_answer {
                    return Err(state_error(
                        "AUTHENTICATE in progress: answer with authenticate-step first",
                    ));
                }
                if !self.session.is_completed(&auth.cmd.tag) {
                    return Ok(None);
                }
                let Mode::Authenticating(auth) = std::mem::replace(&mut self.mode, Mode::Ready) else {
                    unreachable!("matched above")
                };
                let (typ, data) = self.session.take_tagged(&auth.cmd.tag).unwrap_or_default();
                self.complete(auth.cmd, typ, data)
            }
            Mode::Idling(idle) => {
                // A response is handed out only once it is whole.
                if let Some((typ, item)) = self.session.next_whole_captured() {
                    return Ok(Some(Event::IdleResponse(typ, item)));
                }
                let until = [idle.wait_until, idle.deadline].into_iter().flatten().min();
                if std::mem::take(&mut idle.timed_out) || until.is_some_and(|t| now >= t) {
                    idle.wait_until = None;
                    return Ok(Some(Event::IdleTimeout));
                }
                Ok(None)
            }
            Mode::Streaming(_) => self.stream_step(),
            Mode::RawRead(kind) => {
                let got = match *kind {
                    RawRead::Bytes(n) => Ok(self.session.framer().read(n)),
                    RawRead::Line => self.session.framer().readline(),
                };
                match got {
                    Ok(Some(data)) => {
                        self.mode = Mode::Ready;
                        Ok(Some(Event::Raw(data)))
                    }
                    Ok(None) => Ok(Some(Event::NeedInput(Wait::Default))),
                    Err(e) => Err(self.fail(e)),
                }
            }
        }
    }

    /// A command in flight: done when its tagged response has arrived.
    pub(crate) fn command_step(&mut self) -> Result<Option<Event>> {
        let Mode::Command(cmd) = &mut self.mode else {
            return Ok(None);
        };
        if !cmd.sent {
            // imaplib's `_command` loop: waiting for a continuation, it
            // stops sending when the command completes (the server refused
            // the literal).
            if !self.session.is_completed(&cmd.tag) {
                return Ok(None);
            }
            cmd.batches.clear();
            cmd.sent = true;
            cmd.early = true;
        }
        let logout = cmd.finish == Finish::Logout;
        if !cmd.bye_checked {
            // `_command_complete`'s first `_check_bye`, outside its
            // `try`: not prefixed.
            if !logout {
                if let Err(e) = self.session.check_bye() {
                    return Err(self.fail(e));
                }
            }
            if let Mode::Command(cmd) = &mut self.mode {
                cmd.bye_checked = true;
            }
        }
        let Mode::Command(cmd) = &self.mode else {
            return Ok(None);
        };
        let tag = cmd.tag.clone();
        let result = match self.session.take_tagged(&tag) {
            Some(r) => Some(r),
            None if logout => self.session.pop_untagged("BYE").map(|bye| ("BYE".to_string(), bye)),
            None => None,
        };
        match result {
            Some((typ, data)) => {
                let Mode::Command(cmd) = std::mem::replace(&mut self.mode, Mode::Ready) else {
                    unreachable!("matched above")
                };
                self.complete(*cmd, typ, data)
            }
            None => {
                if let Err(e) = self.session.check_bye() {
                    return Err(self.fail(e));
                }
                Ok(None)
            }
        }
    }

    /// A continuation request arrived.
    pub(crate) fn on_continuation(&mut self, now: Instant) -> Result<Option<Event>> {
        match &mut self.mode {
            Mode::Greeting => self.on_greeting(None),
            Mode::Command(cmd) => {
                if let Finish::IdleEnter(duration) = cmd.finish {
                    if cmd.sent {
                        let tag = std::mem::take(&mut cmd.tag);
                        let saved_state = self.session.state;
                        self.session.state = State::Idling;
                        self.mode = Mode::Idling(Idle {
                            tag,
                            saved_state,
                            deadline: duration.map(|d| now + d),
                            wait_until: None,
                            timed_out: false,
                        });
                        return Ok(Some(Event::IdleStarted));
                    }
                }
                if !cmd.sent {
                    if let Some(batch) = cmd.batches.pop_front() {
                        self.outbox.push_back(batch);
                    }
                    cmd.sent = cmd.batches.is_empty();
                }
                // A continuation while completing is ignored, as imaplib's
                // `_get_tagged_response` does.
                Ok(None)
            }
            Mode::Authenticating(auth) => {
                let challenge = self.session.continuation.clone().unwrap_or_default();
                let Ok(decoded) = B64.decode(challenge.trim_ascii()) else {
                    return Err(self.fail(ImapError::malformed(
                        "invalid base64 in AUTHENTICATE challenge",
                        &challenge,
                    )));
                };
                let answer = match (auth.initial.take(), auth.mech.as_mut()) {
                    (Some(initial), _) => initial,
                    (None, Some(mech)) => mech.respond(&decoded),
                    (None, None) => {
                        auth.awaiting_answer = true;
                        return Ok(Some(Event::Challenge(decoded)));
                    }
                };
                self.session.trace(|| "> <redacted SASL response>".into());
                self.outbox
                    .push_back(format!("{}\r\n", B64.encode(answer)).into_bytes());
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The greeting (`None` for a continuation in its place, as imaplib's
    /// `welcome = None`).
    pub(crate) fn on_greeting(&mut self, welcome: Option<Vec<u8>>) -> Result<Option<Event>> {
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
            let kind = if self.session.has_untagged("BYE") {
                ErrorKind::Bye
            } else {
                ErrorKind::Malformed
            };
            return Err(self.fail(ImapError::error_kind(kind, shown)));
        }
        self.mode = Mode::Ready;
        self.start("CAPABILITY", &[], None, None, Finish::Handshake)?;
        Ok(None)
    }

    /// A streaming FETCH: the next message, or its completion.
    pub(crate) fn stream_step(&mut self) -> Result<Option<Event>> {
        let Mode::Streaming(stream) = &mut self.mode else {
            return Ok(None);
        };
        if let Some(message) = stream.backlog.pop_front() {
            return Ok(Some(Event::Message(Box::new(message))));
        }
        // Each poll stores one whole response, so what is queued now is
        // normally one FETCH response.
        let mut items = Vec::new();
        while let Some((_, item)) = self.session.next_whole_captured() {
            items.push(item);
        }
        if !items.is_empty() && !stream.discard {
            if stream.raw {
                return Ok(Some(Event::Items(items)));
            }
            let mut messages = crate::typed::parse_fetch(&items)?.into_iter();
            if let Some(first) = messages.next() {
                stream.backlog.extend(messages);
                return Ok(Some(Event::Message(Box::new(first))));
            }
        }
        if self.session.is_completed(&stream.tag) {
            let Mode::Streaming(stream) = std::mem::replace(&mut self.mode, Mode::Ready) else {
                unreachable!("matched above")
            };
            self.session.end_capture();
            let (typ, data) = self.session.take_tagged(&stream.tag).unwrap_or_default();
            if let Err(e) = self.session.check_bye() {
                return Err(self.fail(e));
            }
            // A raw stream ends as imaplib's fetch returns: OK (its data,
            // the FETCH items, went out before) or NO with the
            // completion's text; BAD raises, as there.
            if stream.raw && !stream.discard && typ != "BAD" {
                let data = if typ == "OK" { Vec::new() } else { data };
                return Ok(Some(Event::Done(Outcome::Response(Response::new(typ, data)))));
            }
            if typ != "OK" && !stream.discard {
                let kind = if typ == "BAD" { ErrorKind::Bad } else { ErrorKind::No };
                return Err(ImapError::error_kind(
                    kind,
                    format!("{} command error: {typ} {}", stream.name, pyrepr::list(&data)),
                ));
            }
            return Ok(Some(Event::StreamEnd));
        }
        if let Err(e) = self.session.check_bye() {
            return Err(self.fail(e));
        }
        Ok(None)
    }

    // ----- starting operations -----

    /// Refuses to start `name` unless nothing else runs and the state
    /// allows it.
    pub(crate) fn check_ready(&self, name: &str) -> Result<()> {
        self.check_open()?;
        match &self.mode {
            Mode::Ready => {}
            Mode::Authenticating(_) => {
                return Err(state_error(
                    "AUTHENTICATE in progress: answer with authenticate-step first",
                ))
            }
            Mode::Streaming(_) => {
                return Err(state_error(
                    "a FETCH stream is in progress: read it to the end (or drop it) first",
                ))
            }
            Mode::Idling(_) => {
                self.session.check_state(name)?;
                return Err(state_error("IDLE is running: call done first"));
            }
            _ => return Err(state_error("another operation is running on this connection")),
        }
        if self.logged_out {
            self.session.check_state(name)?;
            return Err(ImapError::abort(ErrorKind::Io, "socket error: connection closed"));
        }
        Ok(())
    }

    /// imaplib's `_command`: checks, allocates the tag, queues the bytes
    /// up to the first continuation wait.
    pub(crate) fn start(
        &mut self,
        name: &str,
        args: &[Piece],
        message: Option<&[u8]>,
        redact_after: Option<usize>,
        finish: Finish,
    ) -> Result<()> {
        if self.borrowed && OWNER_ONLY.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            return Err(state_error(&format!(
                "{name} is refused on a lent session: its owner goes on with the session afterwards"
            )));
        }
        self.check_ready(name)?;
        let plan = self.session.start_command(name, args, message, redact_after)?;
        let mut batches = batches(plan.actions);
        self.outbox.push_back(batches.pop_front().unwrap_or_default());
        self.mode = Mode::Command(Box::new(Command {
            tag: plan.tag,
            name: name.to_string(),
            sent: batches.is_empty(),
            batches,
            bye_checked: false,
            early: false,
            finish,
        }));
        Ok(())
    }

    pub(crate) fn simple_untagged(&mut self, name: &str, args: &[Piece], untagged: &str) -> Result<()> {
        self.start(name, args, None, None, Finish::Untagged(untagged.to_string()))
    }

    pub(crate) fn arg(&self, s: &str, kind: ArgKind) -> Result<Piece> {
        encode::encode(s.as_bytes(), kind, self.session.utf8_enabled)
    }

    pub(crate) fn astring(&self, s: &str) -> Result<Piece> {
        self.arg(s, ArgKind::Astring)
    }

    pub(crate) fn structural(&self, s: &str, what: &'static str) -> Result<Piece> {
        self.arg(s, ArgKind::Structural(what))
    }

    pub(crate) fn raw_args(&self, args: &[String]) -> Result<Vec<Piece>> {
        args.iter().map(|a| self.arg(a, ArgKind::Raw)).collect()
    }

    pub(crate) fn search_pieces(&self, criteria: &[String]) -> Result<Vec<Piece>> {
        let refs: Vec<&[u8]> = criteria.iter().map(|c| c.as_bytes()).collect();
        encode::encode_search(&refs, self.session.utf8_enabled)
    }
}

/// imaplib's `except abort: raise abort('command: NAME => …')` (which also
/// catches `readonly`) and `except error: raise error(…)`.
pub(crate) fn completion_error(name: &str, e: ImapError) -> ImapError {
    let class = if e.class() == ErrorClass::Error {
        ErrorClass::Error
    } else {
        ErrorClass::Abort
    };
    e.prefixed(&format!("command: {name} => ")).with_class(class)
}

// ----- the operations the driver drives: IDLE, the streaming FETCH, raw
// access -----
impl Client {
    // ----- IDLE (imaplib 3.14's Idler) -----

    /// `idle(duration)`'s `__enter__`: sends IDLE; the next event is
    /// [`Event::IdleStarted`] when the server accepts. Untagged responses
    /// are queued for [`Event::IdleResponse`] from then on, and the state
    /// is IDLING.
    ///
    /// # Errors
    /// `error('Server does not support IMAP4 IDLE')`; `error('idle denied: ...')`
    /// on NO; the usual state errors.
    pub fn idle_start(&mut self, duration: Option<Duration>) -> Result<()> {
        self.check_open()?;
        if !self.session.has_capability("IDLE") {
            return Err(ImapError::error_kind(
                ErrorKind::State,
                "Server does not support IMAP4 IDLE",
            ));
        }
        // `start` checks the mode and the state before the capture starts,
        // so a refused IDLE cannot disturb another capture (a running stream).
        self.start("IDLE", &[], None, None, Finish::IdleEnter(duration))?;
        self.session.start_capture(None, false);
        Ok(())
    }

    /// Sets how long the next IDLE wait may last: `timeout` from `now`
    /// (never past the idle duration); `None` for no limit but the duration.
    pub fn idle_wait(&mut self, timeout: Option<Duration>, now: Instant) -> Result<()> {
        self.check_open()?;
        let Mode::Idling(idle) = &mut self.mode else {
            return Err(state_error("not idling"));
        };
        idle.wait_until = timeout.map(|t| now + t);
        idle.timed_out = false;
        Ok(())
    }

    /// `__exit__`: sends DONE; IDLE then completes as a command, and the
    /// state it interrupted comes back. Unread responses go to the
    /// untagged responses.
    pub fn idle_done(&mut self) -> Result<()> {
        self.check_open()?;
        let Mode::Idling(_) = &self.mode else {
            return Err(state_error("not idling"));
        };
        let Mode::Idling(idle) = std::mem::replace(&mut self.mode, Mode::Ready) else {
            unreachable!("matched above")
        };
        self.outbox.push_back(b"DONE\r\n".to_vec());
        self.mode = Mode::Command(Box::new(Command {
            tag: idle.tag,
            name: "IDLE".into(),
            batches: VecDeque::new(),
            sent: true,
            bye_checked: false,
            early: false,
            finish: Finish::IdleDone(idle.saved_state),
        }));
        Ok(())
    }

    // ----- streaming FETCH -----

    /// Sends `FETCH message_set message_parts` (`UID FETCH` when `uid`)
    /// and returns its tag; each later [`Client::next`] yields one
    /// [`Event::Message`] as it arrives, so only one is held at a time,
    /// then [`Event::StreamEnd`]. Other commands are refused until then.
    ///
    /// Every FETCH response counts, including unsolicited ones about other
    /// messages (a flag change by another client): callers skip messages
    /// that lack the items they asked for.
    pub fn fetch_stream_start(&mut self, message_set: &str, message_parts: &str, uid: bool) -> Result<Vec<u8>> {
        self.start_stream(message_set, message_parts, uid, false)
    }

    /// [`Client::fetch_stream_start`] for imaplib's raw shape: each later
    /// [`Client::next`] yields the [`Event::Items`] of one FETCH response,
    /// then [`Event::Done`] with the completion, `OK` or `NO` and its text
    /// (a BAD is an `error`, as imaplib raises). The program holds one
    /// response at a time where `fetch` holds them all.
    pub fn fetch_items_start(&mut self, message_set: &str, message_parts: &str, uid: bool) -> Result<Vec<u8>> {
        self.start_stream(message_set, message_parts, uid, true)
    }

    pub(crate) fn start_stream(
        &mut self,
        message_set: &str,
        message_parts: &str,
        uid: bool,
        raw: bool,
    ) -> Result<Vec<u8>> {
        self.check_open()?;
        let set = self.structural(message_set, "message_set")?;
        let parts = self.structural(message_parts, "message_parts")?;
        let (name, pieces) = if uid {
            ("UID", vec![text("FETCH"), set, parts])
        } else {
            ("FETCH", vec![set, parts])
        };
        self.check_ready(name)?;
        if let Err(e) = self.session.check_bye() {
            return Err(self.fail(e));
        }
        self.start(name, &pieces, None, None, Finish::Plain)?;
        let Mode::Command(cmd) = std::mem::replace(&mut self.mode, Mode::Ready) else {
            unreachable!("start sets the mode")
        };
        // FETCH has no literal argument: all of it is queued, and the
        // capture is on before any response to it is read.
        self.session.start_capture(Some("FETCH"), !raw);
        self.mode = Mode::Streaming(Stream {
            tag: cmd.tag.clone(),
            name,
            backlog: VecDeque::new(),
            discard: false,
            raw,
        });
        Ok(cmd.tag)
    }

    /// Whether the streaming FETCH `tag` is the one running.
    pub fn is_current_stream(&self, tag: &[u8]) -> bool {
        matches!(&self.mode, Mode::Streaming(s) if s.tag == tag)
    }

    /// The stream `tag` was dropped early: the rest is read to the end
    /// without parsing (the next events are sends and waits, then
    /// [`Event::StreamEnd`]). False when `tag` is not the running stream.
    pub fn fetch_stream_discard(&mut self, tag: &[u8]) -> bool {
        match &mut self.mode {
            Mode::Streaming(s) if s.tag == tag => {
                s.discard = true;
                s.backlog.clear();
                true
            }
            _ => false,
        }
    }

    // ----- raw access -----

    /// imaplib's `send(data)`: the bytes for the driver to write as they
    /// are (unchecked); secrets are refused on this connection afterwards.
    pub fn send(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.check_raw()?;
        self.raw_used = true;
        Ok(data.to_vec())
    }

    /// imaplib's `read(size)`: the next event is [`Event::Raw`].
    pub fn read(&mut self, size: u64) -> Result<()> {
        self.start_raw(RawRead::Bytes(size))
    }

    /// imaplib's `readline()`: the next event is [`Event::Raw`].
    pub fn readline(&mut self) -> Result<()> {
        self.start_raw(RawRead::Line)
    }

    pub(crate) fn check_raw(&self) -> Result<()> {
        self.check_open()?;
        if self.borrowed {
            return Err(state_error(
                "raw I/O is refused on a lent session: its owner goes on with the session afterwards",
            ));
        }
        match self.mode {
            Mode::Ready if !self.session.mid_response() => Ok(()),
            // Bytes taken now would belong to a response half read, or to
            // the operation running: the session would lose its place.
            _ => Err(state_error(
                "raw I/O is refused while a command, AUTHENTICATE, IDLE or a FETCH stream is running",
            )),
        }
    }

    pub(crate) fn start_raw(&mut self, kind: RawRead) -> Result<()> {
        self.check_raw()?;
        self.raw_used = true;
        self.mode = Mode::RawRead(kind);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client past the greeting and CAPABILITY, in `state`, driven by
    /// hand: no transport and no clock but `now`.
    pub(crate) fn ready(caps: &str, state: State, now: Instant) -> Client {
        let mut c = Client::new(0, 0);
        c.feed(b"* OK hi\r\n");
        assert_eq!(c.next(now).unwrap(), Event::Send(b"BAAA0 CAPABILITY\r\n".to_vec()));
        assert_eq!(c.next(now).unwrap(), Event::NeedInput(Wait::Default));
        c.feed(format!("* CAPABILITY IMAP4rev1 {caps}\r\nBAAA0 OK done\r\n").as_bytes());
        assert!(matches!(c.next(now).unwrap(), Event::Done(_)));
        c.force_state(state);
        c
    }

    #[test]
    pub(crate) fn a_command_is_events_and_fed_bytes() {
        let now = Instant::now();
        let mut c = ready("", State::Auth, now);
        c.create("caf\u{e9}").unwrap();
        // A synchronizing literal: one write up to the wait, then the rest.
        assert_eq!(c.next(now).unwrap(), Event::Send(b"BAAA1 CREATE {5}\r\n".to_vec()));
        assert_eq!(c.next(now).unwrap(), Event::NeedInput(Wait::Default));
        c.feed(b"+ go\r\n");
        assert_eq!(c.next(now).unwrap(), Event::Send(b"caf\xc3\xa9\r\n".to_vec()));
        c.feed(b"BAAA1 OK created\r\n");
        let Event::Done(Outcome::Response(r)) = c.next(now).unwrap() else {
            panic!("not done")
        };
        assert_eq!(r, Response::new("OK", vec![DataItem::Bytes(b"created".to_vec())]));
        assert!(matches!(c.mode(), Mode::Ready));
    }

    #[test]
    pub(crate) fn the_line_limit_is_per_connection_and_its_abort_sticks() {
        let now = Instant::now();
        let mut c = ready("", State::Auth, now);
        assert_eq!(c.max_line(), crate::framing::MAXLINE);
        assert!(c.set_max_line(0).is_err());
        c.set_max_line(64).unwrap();
        c.noop().unwrap();
        assert!(matches!(c.next(now).unwrap(), Event::Send(_)));
        c.feed(&[b'*'; 65]);
        let first = c.next(now).unwrap_err();
        assert_eq!((first.class(), first.kind()), (ErrorClass::Error, ErrorKind::Limit));
        assert_eq!(first.message(), "command: NOOP => got more than 64 bytes");
        assert!(c.is_closed());
        // Every later call returns the same error and queues nothing.
        assert_eq!(c.noop().unwrap_err(), first);
        assert_eq!(c.next(now).unwrap_err(), first);
        assert_eq!(c.send(b"x").unwrap_err(), first);
        assert_eq!(c.take_outgoing(), None);
    }

    #[test]
    pub(crate) fn a_response_line_must_arrive_within_the_read_timeout() {
        let t0 = Instant::now();
        let mut c = ready("", State::Auth, t0);
        c.set_read_timeout(Some(Duration::from_secs(2)));
        c.noop().unwrap();
        assert!(matches!(c.next(t0).unwrap(), Event::Send(_)));
        c.feed(b"* 1 EXI");
        assert_eq!(c.next(t0).unwrap(), Event::NeedInput(Wait::Default));
        c.feed(b"S");
        assert_eq!(
            c.next(t0 + Duration::from_secs(1)).unwrap(),
            Event::NeedInput(Wait::Default)
        );
        let e = c.next(t0 + Duration::from_secs(3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.message().contains("a response line took longer than 2s"), "{e}");
    }

    #[test]
    pub(crate) fn idle_waits_until_the_earlier_of_timeout_and_duration() {
        let t0 = Instant::now();
        let mut c = ready("IDLE", State::Selected, t0);
        c.idle_start(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(c.next(t0).unwrap(), Event::Send(b"BAAA1 IDLE\r\n".to_vec()));
        c.feed(b"+ idling\r\n");
        assert_eq!(c.next(t0).unwrap(), Event::IdleStarted);
        assert_eq!(c.state(), State::Idling);
        c.idle_wait(Some(Duration::from_secs(3)), t0).unwrap();
        let until = t0 + Duration::from_secs(3);
        assert_eq!(c.next(t0).unwrap(), Event::NeedInput(Wait::Until(until)));
        // The driver's read timed out: IDLE's own timeout, not a failure.
        assert_eq!(c.timed_out(), None);
        assert_eq!(c.next(until).unwrap(), Event::IdleTimeout);
        c.feed(b"* 4 EXISTS\r\n");
        c.idle_wait(None, until).unwrap();
        assert_eq!(
            c.next(until).unwrap(),
            Event::IdleResponse("EXISTS".into(), DataItem::Bytes(b"4".to_vec()))
        );
        assert_eq!(
            c.next(until).unwrap(),
            Event::NeedInput(Wait::Until(t0 + Duration::from_secs(10)))
        );
        c.idle_done().unwrap();
        assert_eq!(c.next(until).unwrap(), Event::Send(b"DONE\r\n".to_vec()));
        c.feed(b"BAAA1 OK idle done\r\n");
        assert!(matches!(c.next(until).unwrap(), Event::Done(_)));
        assert_eq!(c.state(), State::Selected);
    }

    #[test]
    pub(crate) fn a_timeout_outside_idle_closes_the_connection() {
        let now = Instant::now();
        let mut c = ready("", State::Auth, now);
        c.noop().unwrap();
        assert!(matches!(c.next(now).unwrap(), Event::Send(_)));
        assert_eq!(c.next(now).unwrap(), Event::NeedInput(Wait::Default));
        let e = c.timed_out().expect("closes");
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::Timeout, "command: NOOP => socket error: timed out")
        );
        assert_eq!(c.closed_by(), Some(&e));
    }

    #[test]
    pub(crate) fn raw_reads_are_refused_while_an_operation_runs() {
        let now = Instant::now();
        let mut c = ready("", State::Selected, now);
        c.fetch_stream_start("1:*", "(UID)", false).unwrap();
        let e = c.readline().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::State);
        assert!(
            c.check_secret_ready().is_ok(),
            "a refused raw call leaves secrets usable"
        );
    }
}
