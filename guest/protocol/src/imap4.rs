//! imaplib's `IMAP4` class as a blocking driver of the sans-IO
//! [`Client`]: start an operation, then loop — write what the client wants
//! sent, read what it needs and feed it — until the client reports the
//! result. Every protocol decision is the client's; this file only moves
//! bytes and reads the clock.
//!
//! The methods that only start a command and drive it are written by the
//! command table ([`crate::commands`]); the ones here have their own
//! events (STARTTLS's hand-over, AUTHENTICATE's challenges, IDLE, the
//! streaming FETCH, raw I/O) or results.

use std::time::{Duration, Instant};

use crate::client::{Client, Event, Outcome, Wait};
use crate::error::{ErrorKind, ImapError, Result};
use crate::typed::FetchMessage;
use crate::{DataItem, Response};

pub use crate::client::{map_crlf, timeout_millis, SaslStep};

/// One step of a raw streaming FETCH ([`Imap4::fetch_items_next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// The data items of one FETCH response, in imaplib's shape.
    Items(Vec<DataItem>),
    /// The command completed: imaplib's `(typ, data)`, OK or NO with the
    /// completion's text. The stream has ended.
    Done(Response),
}

/// Bytes asked of the transport per read.
pub const READ_CHUNK: usize = 64 * 1024;

/// A failure of the underlying byte stream, with its kind and errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What failed: `denied`, `timeout`, `refused`, `unreachable`, `eof`,
    /// `tls-certificate`, `tls-handshake` or `io`.
    pub kind: ErrorKind,
    /// What the transport says.
    pub message: String,
    /// The OS errno, when a system call failed.
    pub errno: Option<i32>,
}

impl TransportError {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
            errno: None,
        }
    }

    /// A read or connect timeout.
    pub fn timeout() -> Self {
        Self::new(ErrorKind::Timeout, "timed out")
    }

    /// The same failure with the OS errno.
    pub fn with_errno(mut self, errno: Option<i32>) -> Self {
        self.errno = errno;
        self
    }

    /// imaplib's translation: socket errors become `abort('socket error: ...')`,
    /// TLS failures `abort('TLS error: ...')`; a policy denial is an
    /// `error`, retrying cannot help.
    pub fn into_imap(self) -> ImapError {
        let e = match self.kind {
            ErrorKind::Denied => ImapError::error_kind(ErrorKind::Denied, self.message),
            ErrorKind::TlsCertificate | ErrorKind::TlsHandshake => {
                ImapError::abort(self.kind, format!("TLS error: {}", self.message))
            }
            kind => ImapError::abort(kind, format!("socket error: {}", self.message)),
        };
        e.with_errno(self.errno)
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

/// An imaplib session over transport `T`.
pub struct Imap4<T: Transport> {
    transport: Option<T>,
    client: Client,
    /// The read timeout the transport was opened with.
    read_timeout: Option<Duration>,
    /// The read timeout the transport has now: changed only when a wait
    /// needs another, so a command costs no extra system calls.
    transport_timeout: Option<Duration>,
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
        Self::open(transport, Client::new(seed, debug))
    }

    /// [`Imap4::connect`] with a client set up beforehand (its limits
    /// apply to the greeting and the first CAPABILITY too).
    ///
    /// # Errors
    /// As [`Imap4::connect`].
    pub fn connect_with(transport: T, client: Client) -> Result<Self> {
        Self::open(transport, client)
    }

    /// Drives `client`'s first operation (the greeting, or CAPABILITY)
    /// over `transport`; a failure shuts the transport.
    fn open(transport: T, client: Client) -> Result<Self> {
        let mut imap = Imap4 {
            transport: Some(transport),
            client,
            read_timeout: None,
            transport_timeout: None,
        };
        match imap.run() {
            Ok(_) => Ok(imap),
            Err(e) => {
                imap.shutdown();
                Err(e)
            }
        }
    }

    /// A session on a connection another session logged in (`wasimap
    /// watch` lends its own to a plugin): no greeting to read, the state
    /// is AUTH and CAPABILITY is asked as after a greeting. Whatever the
    /// lender had selected is not assumed: SELECT it again to see it.
    ///
    /// # Errors
    /// As [`Imap4::connect`]'s CAPABILITY: `abort` on EOF or a malformed
    /// answer, `error('server not IMAP4 compliant')`.
    pub fn resume(transport: T, seed: u64, debug: u32) -> Result<Self> {
        Self::open(transport, Client::resume_authenticated(seed, debug)?)
    }

    /// Lends the transport out between two commands (the watcher lends its
    /// session to a plugin). Until [`Imap4::restore_transport`] the session
    /// must not be used: a command then fails as on a closed connection,
    /// and that failure sticks.
    pub fn lend_transport(&mut self) -> Option<T> {
        self.transport.take()
    }

    /// Takes a lent transport back. The borrower may have changed its read
    /// timeout: the one this session believes in force is set again.
    ///
    /// # Errors
    /// Setting the timeout failed (the connection is gone).
    pub fn restore_transport(&mut self, mut transport: T) -> std::result::Result<(), TransportError> {
        let set = transport.set_read_timeout(self.transport_timeout);
        self.transport = Some(transport);
        set
    }

    /// The protocol client (state, capabilities, untagged responses).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Mutable access to the client, e.g. to set `debug` or the line limit.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The transport, while connected (tests inspect what was written).
    pub fn transport_ref(&self) -> Option<&T> {
        self.transport.as_ref()
    }

    /// The failure that closed the session for good, if any.
    pub fn closed_by(&self) -> Option<&ImapError> {
        self.client.closed_by()
    }

    /// Records the read timeout the transport was opened with.
    pub fn set_default_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
        self.transport_timeout = timeout;
        self.client.set_read_timeout(timeout);
    }

    /// Whether the connection is protected by TLS (implicit or STARTTLS).
    pub fn tls_established(&self) -> bool {
        self.client.tls_established()
    }

    /// Records that the transport is TLS from the start (`IMAP4_SSL`).
    pub fn set_tls_established(&mut self) {
        self.client.set_tls_established();
    }

    /// The server's host and port, for OAUTHBEARER's `host=`/`port=`.
    pub fn set_endpoint(&mut self, host: &str, port: u16) {
        self.client.set_endpoint(host, port);
    }

    // ----- the loop -----

    /// Drives the running operation to its next result event.
    fn drive(&mut self) -> Result<Event> {
        let event = self.drive_io();
        if self.client.is_closed() {
            self.shutdown();
        }
        event
    }

    fn drive_io(&mut self) -> Result<Event> {
        loop {
            let event = self.client.next(Instant::now());
            self.flush_log();
            match event? {
                Event::Send(bytes) => self.write(&bytes)?,
                Event::NeedInput(wait) => self.fill(wait)?,
                other => return Ok(other),
            }
        }
    }

    /// Drives a command to its completion.
    pub(crate) fn run_outcome(&mut self) -> Result<Outcome> {
        match self.drive()? {
            Event::Done(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    /// Drives a command to its completion, in imaplib's `(typ, data)`.
    pub(crate) fn run(&mut self) -> Result<Response> {
        self.run_outcome().map(Outcome::into_response)
    }

    fn flush_log(&mut self) {
        if self.client.debug() >= 1 {
            let prefix = String::from_utf8_lossy(self.client.tag_prefix()).into_owned();
            for line in self.client.take_log() {
                eprintln!("  {prefix} {line}");
            }
        }
    }

    fn closed() -> ImapError {
        ImapError::abort(ErrorKind::Io, "socket error: connection closed")
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let written = match self.transport.as_mut() {
            Some(t) => t.write(bytes).map_err(TransportError::into_imap),
            None => Err(Self::closed()),
        };
        written.map_err(|e| self.client.transport_failed(e))
    }

    /// One read from the transport into the client, waiting as `wait` says.
    fn fill(&mut self, wait: Wait) -> Result<()> {
        let timeout = match wait {
            Wait::Default => self.read_timeout,
            Wait::Forever => None,
            Wait::Until(t) => match t.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return self.timed_out(),
            },
        };
        let Some(t) = self.transport.as_mut() else {
            return Err(self.client.transport_failed(Self::closed()));
        };
        if timeout != self.transport_timeout {
            if let Err(e) = t.set_read_timeout(timeout) {
                return Err(self.client.transport_failed(e.into_imap()));
            }
            self.transport_timeout = timeout;
        }
        match t.read(READ_CHUNK) {
            Ok(data) if data.is_empty() => self.client.feed_eof(),
            Ok(data) => self.client.feed(&data),
            Err(e) if e.kind == ErrorKind::Timeout => return self.timed_out(),
            Err(e) => return Err(self.client.transport_failed(e.into_imap())),
        }
        Ok(())
    }

    fn timed_out(&mut self) -> Result<()> {
        match self.client.timed_out() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ----- methods with their own results or events -----

    /// `recent()`.
    pub fn recent(&mut self) -> Result<Response> {
        match self.client.recent()? {
            Some(r) => Ok(r),
            None => self.run(),
        }
    }

    /// `response(code)`.
    pub fn response(&mut self, code: &str) -> Response {
        self.client.response(code)
    }

    /// `getquotaroot(mailbox)`: `(typ, quotaroot, quota)`.
    pub fn getquotaroot(&mut self, mailbox: &str) -> Result<(String, Vec<DataItem>, Vec<DataItem>)> {
        self.client.getquotaroot(mailbox)?;
        match self.run_outcome()? {
            Outcome::Quotaroot(typ, quotaroot, quota) => Ok((typ, quotaroot, quota)),
            Outcome::Response(r) => Ok((r.typ, r.data, Vec::new())),
        }
    }

    /// The secret from `reveal` (which the caller asks for the secret bound
    /// to this connection), once the client allows secrets here.
    fn secret(&mut self, reveal: impl FnOnce(&mut T) -> std::result::Result<String, String>) -> Result<String> {
        self.client.check_secret_ready()?;
        let Some(t) = self.transport.as_mut() else {
            return Err(self.client.transport_failed(Self::closed()));
        };
        reveal(t).map_err(|m| ImapError::error_kind(ErrorKind::Denied, m))
    }

    /// `login(user, password)` with the password from `reveal`. The secret
    /// never appears in an error or trace of this session.
    pub fn login_secret(
        &mut self,
        user: &str,
        reveal: impl FnOnce(&mut T) -> std::result::Result<String, String>,
    ) -> Result<Response> {
        let secret = self.secret(reveal)?;
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
        let secret = self.secret(reveal)?;
        self.authenticate(mechanism, user, &secret)
    }

    /// `starttls()`: sends STARTTLS and, on OK, lets `upgrade` turn the
    /// transport into TLS, then reads the capabilities again.
    ///
    /// # Errors
    /// imaplib's (see [`Client::starttls`]); a failed upgrade closes the
    /// connection.
    pub fn starttls(
        &mut self,
        upgrade: impl FnOnce(&mut T) -> std::result::Result<(), TransportError>,
    ) -> Result<Response> {
        self.client.starttls()?;
        match self.drive()? {
            Event::UpgradeTls => {}
            other => return Err(unexpected(&other)),
        }
        let upgraded = match self.transport.as_mut() {
            Some(t) => upgrade(t).map_err(TransportError::into_imap),
            None => Err(Self::closed()),
        };
        if let Err(e) = upgraded {
            let e = self.client.transport_failed(e);
            self.shutdown();
            return Err(e);
        }
        self.client.tls_upgraded()?;
        self.run()
    }

    /// Starts an AUTHENTICATE the caller drives with
    /// [`Imap4::authenticate_step`].
    pub fn authenticate_start(&mut self, mechanism: &str, initial: Option<&[u8]>) -> Result<SaslStep> {
        self.client.authenticate_start(mechanism, initial)?;
        self.sasl_step()
    }

    /// Answers the last challenge; `None` cancels with `*`.
    pub fn authenticate_step(&mut self, response: Option<&[u8]>) -> Result<SaslStep> {
        self.client.authenticate_step(response)?;
        self.sasl_step()
    }

    fn sasl_step(&mut self) -> Result<SaslStep> {
        match self.drive()? {
            Event::Challenge(c) => Ok(SaslStep::Challenge(c)),
            Event::Done(outcome) => Ok(SaslStep::Done(outcome.into_response())),
            other => Err(unexpected(&other)),
        }
    }

    // ----- IDLE (imaplib 3.14's Idler) -----

    /// `idle(duration)`'s `__enter__`: sends IDLE and waits for the
    /// continuation; untagged responses are queued for
    /// [`Imap4::idle_next`] from then on, and the state is IDLING.
    pub fn idle_start(&mut self, duration: Option<Duration>) -> Result<()> {
        self.client.idle_start(duration)?;
        match self.drive()? {
            Event::IdleStarted => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The next response while idling, `(typ, [datum])`, waiting at most
    /// `timeout` (and never past the idle duration); `None` when the time
    /// is up.
    pub fn idle_next(&mut self, timeout: Option<Duration>) -> Result<Option<(String, DataItem)>> {
        self.client.idle_wait(timeout, Instant::now())?;
        match self.drive()? {
            Event::IdleResponse(typ, item) => Ok(Some((typ, item))),
            Event::IdleTimeout => Ok(None),
            other => Err(unexpected(&other)),
        }
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
        self.client.idle_done()?;
        self.run()
    }

    /// Whether an IDLE is in progress.
    pub fn idling(&self) -> bool {
        self.client.idle_tag().is_some()
    }

    /// The tag of the IDLE in progress, if any.
    pub fn idle_tag(&self) -> Option<&[u8]> {
        self.client.idle_tag()
    }

    // ----- streaming FETCH -----

    /// Sends `FETCH message_set message_parts` (`UID FETCH` when `uid`)
    /// and returns its tag at once; [`Imap4::fetch_stream_next`] then
    /// yields the messages one by one as they arrive.
    pub fn fetch_stream_start(&mut self, message_set: &str, message_parts: &str, uid: bool) -> Result<Vec<u8>> {
        let tag = self.client.fetch_stream_start(message_set, message_parts, uid)?;
        self.send_stream_command(tag)
    }

    /// Starts a FETCH whose responses come in imaplib's raw shape, one at
    /// a time ([`Imap4::fetch_items_next`]); returns its tag.
    ///
    /// # Errors
    /// As [`Imap4::fetch_stream_start`].
    pub fn fetch_items_start(&mut self, message_set: &str, message_parts: &str, uid: bool) -> Result<Vec<u8>> {
        let tag = self.client.fetch_items_start(message_set, message_parts, uid)?;
        self.send_stream_command(tag)
    }

    fn send_stream_command(&mut self, tag: Vec<u8>) -> Result<Vec<u8>> {
        while let Some(bytes) = self.client.take_outgoing() {
            if let Err(e) = self.write(&bytes) {
                self.shutdown();
                return Err(e);
            }
        }
        Ok(tag)
    }

    /// The next message of the streaming FETCH `tag`; `None` once the
    /// command completed with OK, and for a stream that has ended (or is
    /// not the current one).
    ///
    /// # Errors
    /// `error` for a NO or BAD completion and for a FETCH response that does
    /// not parse (the stream goes on with the next one); `abort` when the
    /// connection fails.
    pub fn fetch_stream_next(&mut self, tag: &[u8]) -> Result<Option<FetchMessage>> {
        self.client.check_open()?;
        if !self.client.is_current_stream(tag) {
            return Ok(None);
        }
        match self.drive()? {
            Event::Message(m) => Ok(Some(*m)),
            Event::StreamEnd => Ok(None),
            other => Err(unexpected(&other)),
        }
    }

    /// The next step of the raw stream `tag`: the data items of one FETCH
    /// response while they arrive, then the completion, OK or NO.
    ///
    /// # Errors
    /// `error` for a BAD completion, a stream that is not the current one
    /// (it has ended), and the state checks; `abort` when the connection
    /// fails.
    pub fn fetch_items_next(&mut self, tag: &[u8]) -> Result<StreamStep> {
        self.client.check_open()?;
        if !self.client.is_current_stream(tag) {
            return Err(ImapError::error_kind(ErrorKind::State, "this FETCH stream has ended"));
        }
        match self.drive()? {
            Event::Items(items) => Ok(StreamStep::Items(items)),
            Event::Done(outcome) => Ok(StreamStep::Done(outcome.into_response())),
            other => Err(unexpected(&other)),
        }
    }

    /// Reads the rest of the streaming FETCH `tag` and discards it without
    /// parsing, so the session can go on (a stream dropped early). Errors
    /// end the stream silently: an abort leaves the session closed anyway.
    pub fn fetch_stream_finish(&mut self, tag: &[u8]) {
        if !self.client.fetch_stream_discard(tag) {
            return;
        }
        while let Ok(Event::Message(_) | Event::Items(_)) = self.drive() {}
    }

    // ----- raw access -----

    /// imaplib's `send(data)`: raw bytes, unchecked.
    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        let bytes = self.client.send(data)?;
        let sent = self.write(&bytes);
        if self.client.is_closed() {
            self.shutdown();
        }
        sent
    }

    /// imaplib's `read(size)`.
    pub fn read(&mut self, size: u64) -> Result<Vec<u8>> {
        self.client.read(size)?;
        self.raw()
    }

    /// imaplib's `readline()`.
    pub fn readline(&mut self) -> Result<Vec<u8>> {
        self.client.readline()?;
        self.raw()
    }

    fn raw(&mut self) -> Result<Vec<u8>> {
        match self.drive()? {
            Event::Raw(bytes) => Ok(bytes),
            other => Err(unexpected(&other)),
        }
    }

    /// imaplib's `shutdown()`: closes the transport.
    pub fn shutdown(&mut self) {
        if let Some(mut t) = self.transport.take() {
            t.shutdown();
        }
    }
}

/// An event the operation cannot produce: a bug in the client, reported
/// rather than panicking inside a plugin's session.
fn unexpected(event: &Event) -> ImapError {
    ImapError::error_kind(ErrorKind::State, format!("internal error: unexpected event {event:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::session::State;
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

    /// A session forced into SELECTED whose server, after the greeting and
    /// CAPABILITY, sends `responses`.
    fn selected(responses: &[&[u8]]) -> Imap4<Script> {
        let mut chunks = vec![GREETING, CAPS];
        chunks.extend_from_slice(responses);
        let mut imap = connect(&chunks).unwrap();
        imap.client_mut().force_state(State::Selected);
        imap
    }

    const GREETING: &[u8] = b"* OK ready\r\n";
    const CAPS: &[u8] = b"* CAPABILITY IMAP4rev1 ENABLE\r\nBAAA0 OK done\r\n";

    #[test]
    fn greeting_states() {
        let imap = connect(&[GREETING, CAPS]).unwrap();
        assert_eq!(imap.client().state(), State::NonAuth);
        assert_eq!(imap.client().protocol_version(), "IMAP4REV1");
        assert_eq!(imap.client().welcome(), b"* OK ready");
        let imap = connect(&[b"* PREAUTH hi\r\n", CAPS]).unwrap();
        assert_eq!(imap.client().state(), State::Auth);
        let err = connect(&[b"* BYE go away\r\n"]).err().unwrap();
        assert_eq!(err, ImapError::error_kind(ErrorKind::Bye, "b'* BYE go away'"));
        let err = connect(&[GREETING, b"* CAPABILITY FOO\r\nBAAA0 OK done\r\n"])
            .err()
            .unwrap();
        assert_eq!(
            err,
            ImapError::error_kind(ErrorKind::Malformed, "server not IMAP4 compliant")
        );
        let err = connect(&[]).err().unwrap();
        assert_eq!(err, crate::session::eof());
    }

    #[test]
    fn a_resumed_session_reads_no_greeting_and_starts_in_auth() {
        let chunks: [&[u8]; 3] = [CAPS, b"BAAA1 OK [READ-WRITE] selected\r\n", b"BAAA2 OK noop\r\n"];
        let mut imap = Imap4::resume(script(&chunks), 0, 0).unwrap();
        assert_eq!(imap.client().state(), State::Auth);
        assert!(imap.client().session().has_capability("ENABLE"));
        imap.select(Some("INBOX"), false).unwrap();
        assert_eq!(imap.client().state(), State::Selected);
        assert_eq!(written(&imap), "BAAA0 CAPABILITY\r\nBAAA1 SELECT INBOX\r\n");
        // Lent out and back, the session goes on where it was.
        let lent = imap.lend_transport().unwrap();
        assert!(imap.transport_ref().is_none());
        imap.restore_transport(lent).unwrap();
        assert_eq!(imap.noop().unwrap().typ, "OK");
        assert!(written(&imap).ends_with("BAAA2 NOOP\r\n"));
        // What would change the session for its owner is refused, and
        // nothing is sent for it.
        for err in [
            imap.enable("UTF8=ACCEPT").unwrap_err(),
            imap.xatom("unauthenticate", &[]).unwrap_err(),
            imap.send(b"X ENABLE IMAP4rev2\r\n").unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::State, "{err}");
            assert!(err.to_string().contains("lent session"), "{err}");
        }
        assert!(written(&imap).ends_with("BAAA2 NOOP\r\n"));
        let err = Imap4::resume(script(&[b"* BYE no\r\n"]), 0, 0).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Bye);
    }

    #[test]
    fn bad_raises_error_no_returns() {
        let mut imap = connect(&[GREETING, CAPS, b"BAAA1 BAD nope\r\n", b"BAAA2 NO exists\r\n"]).unwrap();
        imap.client_mut().force_state(State::Auth);
        let err = imap.create("x").unwrap_err();
        assert_eq!(
            err,
            ImapError::error_kind(ErrorKind::Bad, "CREATE command error: BAD [b'nope']")
        );
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
        assert_eq!(err, ImapError::abort(ErrorKind::Bye, "command: NOOP => shutting down"));
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
        imap.client_mut().force_state(State::Auth);
        imap.client_mut().force_capability("IDLE");
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
            ImapError::abort(ErrorKind::Eof, "command: NOOP => socket error: EOF")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"* BYE shutting down\r\n"], None),
            ImapError::abort(ErrorKind::Bye, "command: NOOP => shutting down")
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"garbage here\r\n"], None),
            ImapError::abort(
                ErrorKind::Malformed,
                "command: NOOP => unexpected response: b'garbage here'"
            )
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS, b"BAAA7 OK not ours\r\n"], None),
            ImapError::abort(
                ErrorKind::Malformed,
                "command: NOOP => unexpected tagged response: b'BAAA7 OK not ours'"
            )
        );
        assert_eq!(
            noop_closes(&[GREETING, CAPS], Some(TransportError::timeout())),
            ImapError::abort(ErrorKind::Timeout, "command: NOOP => socket error: timed out")
        );
        assert_eq!(
            noop_closes(
                &[GREETING, CAPS],
                Some(TransportError::new(ErrorKind::Io, "reset").with_errno(Some(104)))
            ),
            ImapError::abort(ErrorKind::Io, "command: NOOP => socket error: reset").with_errno(Some(104))
        );
        // imaplib's class for a line over the limit is `error`, but the
        // stream is desynchronized all the same.
        let long = vec![b'x'; crate::framing::MAXLINE + 1];
        assert_eq!(
            noop_closes(&[GREETING, CAPS, &long], None),
            ImapError::error_kind(ErrorKind::Limit, "command: NOOP => got more than 1000000 bytes")
        );
    }

    #[test]
    fn an_abort_while_idling_or_streaming_closes_the_session() {
        let caps = b"* CAPABILITY IMAP4rev1 IDLE\r\nBAAA0 OK done\r\n";
        let t = script(&[GREETING, caps, b"+ idling\r\n", b"* 1 EXISTS\r\n"]);
        let (log, shut) = (t.written.clone(), t.shut.clone());
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        imap.client_mut().force_state(State::Selected);
        imap.idle_start(None).unwrap();
        assert_eq!(imap.idle_next(None).unwrap().unwrap().0, "EXISTS");
        let first = imap.idle_next(None).unwrap_err();
        assert_eq!(first, crate::session::eof());
        let before = log.borrow().len();
        // Leaving the IDLE restores the state and sends no DONE.
        assert_eq!(imap.idle_done().unwrap_err(), first);
        assert_eq!(imap.client().state(), State::Selected);
        assert_eq!(log.borrow().len(), before);
        assert_closed_for_good(&mut imap, &first, &log, &shut);

        let t = script(&[GREETING, CAPS, b"* 1 FETCH (UID 7)\r\n* BYE going down\r\n"]);
        let (log, shut) = (t.written.clone(), t.shut.clone());
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        imap.client_mut().force_state(State::Selected);
        let tag = imap.fetch_stream_start("1:*", "(UID)", false).unwrap();
        assert_eq!(imap.fetch_stream_next(&tag).unwrap().unwrap().uid, Some(7));
        let first = imap.fetch_stream_next(&tag).unwrap_err();
        assert_eq!(first, ImapError::abort(ErrorKind::Bye, "going down"));
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
        imap.client_mut().force_state(State::Auth);
        // A subclass of abort in imaplib, but the session is fine: the
        // mailbox can be examined read-only.
        assert!(matches!(imap.select(Some("INBOX"), false), Err(e) if e.kind() == ErrorKind::Readonly));
        assert_eq!(imap.select(Some("INBOX"), true).unwrap().typ, "OK");
        assert!(imap.create("x\r\n").is_err());
        assert!(matches!(imap.check(), Err(e) if e.class() == crate::ErrorClass::Error));
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
        imap.client_mut().force_state(State::Auth);
        let err = imap.select(Some("INBOX"), false).unwrap_err();
        assert_eq!(err, ImapError::readonly("INBOX is not writable"));
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
            ImapError::error_kind(ErrorKind::No, "b'[AUTHENTICATIONFAILED] Authentication failed.'")
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
        assert_eq!(imap.client().state(), State::Logout);
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
            ImapError::error_kind(
                ErrorKind::State,
                "command FETCH illegal in state NONAUTH, only allowed in states SELECTED"
            )
        );
    }

    #[test]
    fn injection_refused_before_send() {
        let mut imap = connect(&[GREETING, CAPS]).unwrap();
        imap.client_mut().force_state(State::Auth);
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
            ImapError::abort(ErrorKind::State, "TLS not supported by server")
        );
        let mut imap = connect(&[GREETING, caps, b"BAAA1 NO no TLS today\r\n"]).unwrap();
        assert_eq!(
            imap.starttls(|_| Ok(())).unwrap_err(),
            ImapError::error_kind(ErrorKind::No, "Couldn't establish TLS session")
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
        assert_eq!(imap.client().state(), State::Auth);

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
        assert_eq!(err, ImapError::error_kind(ErrorKind::No, "[AUTHENTICATIONFAILED] nope"));
        assert_eq!(imap.client().state(), State::NonAuth);
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
        imap.client_mut().force_state(State::Selected);
        imap.idle_start(None).unwrap();
        assert_eq!(imap.client().state(), State::Idling);
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
        assert_eq!(imap.client().state(), State::Selected);
        // Unread responses are left in the untagged responses.
        assert_eq!(imap.response("RECENT").data, vec![DataItem::Bytes(b"1".to_vec())]);
        assert!(written(&imap).ends_with("BAAA1 IDLE\r\nDONE\r\n"), "{}", written(&imap));
    }

    #[test]
    fn fetch_stream_yields_each_message_before_the_next_arrives() {
        let mut imap = selected(&[
            b"* 1 FETCH (UID 7 BODY[] {5}\r\nhello",
            b" FLAGS (\\Seen))\r\n",
            b"* 3 EXISTS\r\n",
            b"* 2 FETCH (UID 8 BODY[] {3}\r\nbye)\r\n",
            b"BAAA1 OK done\r\n",
        ]);
        let tag = imap.fetch_stream_start("1:*", "(UID BODY[])", false).unwrap();
        assert!(imap.noop().unwrap_err().message().contains("FETCH stream"));
        // A refused second stream or IDLE leaves the running one intact.
        assert!(imap.fetch_stream_start("1", "(UID)", false).is_err());
        imap.client_mut().force_capability("IDLE");
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
    fn a_raw_fetch_stream_hands_out_imaplib_items_one_response_at_a_time() {
        let mut imap = selected(&[
            b"* 1 FETCH (UID 7 BODY[] {5}\r\nhello",
            b" FLAGS (\\Seen))\r\n",
            b"* 3 EXISTS\r\n",
            b"* 2 FETCH (UID 8)\r\n",
            b"BAAA1 NO some messages vanished\r\n",
            b"BAAA2 OK noop\r\n",
        ]);
        let tag = imap.fetch_items_start("1:*", "(UID BODY[])", false).unwrap();
        assert!(imap.noop().unwrap_err().message().contains("FETCH stream"));
        let first = imap.fetch_items_next(&tag).unwrap();
        assert_eq!(
            first,
            StreamStep::Items(vec![
                DataItem::Literal(b"1 (UID 7 BODY[] {5}".to_vec(), b"hello".to_vec()),
                DataItem::Bytes(b" FLAGS (\\Seen))".to_vec()),
            ])
        );
        // The second response has not been read from the transport yet.
        assert_eq!(imap.transport_ref().unwrap().input.len(), 4);
        let second = imap.fetch_items_next(&tag).unwrap();
        assert_eq!(second, StreamStep::Items(vec![DataItem::Bytes(b"2 (UID 8)".to_vec())]));
        // A NO completes it as imaplib's fetch returns: typ and text.
        let done = imap.fetch_items_next(&tag).unwrap();
        assert_eq!(
            done,
            StreamStep::Done(Response::new(
                "NO",
                vec![DataItem::Bytes(b"some messages vanished".to_vec())]
            ))
        );
        assert!(imap.fetch_items_next(&tag).unwrap_err().message().contains("ended"));
        assert_eq!(imap.response("EXISTS").data, vec![DataItem::Bytes(b"3".to_vec())]);
        assert_eq!(imap.noop().unwrap().typ, "OK");

        // BAD raises; a raw stream dropped early is read to its end.
        let mut imap = selected(&[b"BAAA1 BAD no such item\r\n"]);
        let tag = imap.fetch_items_start("1", "(X)", false).unwrap();
        let e = imap.fetch_items_next(&tag).unwrap_err();
        assert_eq!(e.message(), "FETCH command error: BAD [b'no such item']");
        let mut imap = selected(&[
            b"* 1 FETCH (UID 7)\r\n* 2 FETCH (UID 8)\r\nBAAA1 OK done\r\n",
            b"BAAA2 OK noop\r\n",
        ]);
        let tag = imap.fetch_items_start("1:*", "(UID)", false).unwrap();
        imap.fetch_stream_finish(&tag);
        assert_eq!(imap.noop().unwrap().typ, "OK");
    }

    #[test]
    fn fetch_stream_errors_and_early_finish() {
        let mut imap = selected(&[
            b"* 1 FETCH (UID 7 FLAGS (\\Seen)\r\n",
            b"* 2 FETCH (UID 8)\r\n",
            b"BAAA1 NO some messages vanished\r\n",
            b"* 4 EXISTS\r\nBAAA2 OK noop\r\n",
        ]);
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

        let mut imap = selected(&[
            b"* 1 FETCH (UID 7)\r\n* 2 FETCH (UID 8)\r\nBAAA1 OK done\r\n",
            b"BAAA2 OK noop\r\n",
        ]);
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
            ImapError::error_kind(ErrorKind::State, "Server does not support IMAP4 IDLE")
        );
        let caps = b"* CAPABILITY IMAP4rev1 IDLE\r\nBAAA0 OK done\r\n";
        let mut imap = connect(&[GREETING, caps, b"BAAA1 NO not now\r\n"]).unwrap();
        imap.client_mut().force_state(State::Auth);
        assert_eq!(
            imap.idle_start(None).unwrap_err(),
            ImapError::error_kind(ErrorKind::No, "idle denied: [b'not now']")
        );
        assert_eq!(imap.client().state(), State::Auth);
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
            imap.client_mut().force_state(State::Auth);
            imap.client_mut().force_utf8(true);
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
            assert!(imap.client().utf8_enabled(), "the session stays in UTF-8 mode");
        }
        // The retry is written before the driver reads again: a server
        // that waits for it must not leave the client waiting too.
        let t = script(&[GREETING, CAPS, b"BAAA1 NO refused\r\n"]);
        let log = t.written.clone();
        let mut imap = Imap4::connect(t, 0, 0).unwrap();
        imap.client_mut().force_state(State::Auth);
        imap.client_mut().force_utf8(true);
        assert!(imap.append("INBOX", None, None, msg).is_err(), "EOF after the refusal");
        assert!(String::from_utf8_lossy(&log.borrow()).ends_with("BAAA2 APPEND INBOX {16}\r\n"));
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
        imap.client_mut().force_state(State::Auth);
        assert_eq!(imap.append("INBOX", None, None, msg).unwrap().typ, "NO");
        assert!(!written(&imap).contains("BAAA2"), "{}", written(&imap));
    }
}
