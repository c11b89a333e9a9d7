//! # wasimap-component
//!
//! The protocol component: the WIT glue that exports `wasimap:imap/client`
//! and `wasimap:imap/typed` over the host's `wasimap:imap/transport`.
//! Conversions only; behaviour lives in the core crate, `wasimap-protocol`
//! ([`wasimap_protocol::imap4`] and below).
//!
//! Built for `wasm32-wasip2` only (a cdylib is already a component there);
//! natively the crate is empty.

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasimap_protocol::imap4::{Imap4, StreamStep, Transport, TransportError};
use wasimap_protocol::util;
use wasimap_protocol::{ErrorKind, ImapError, State};

mod typed;

/// Small objects from free lists (see `wasimap-alloc`): typed results are
/// many short strings and lists, and dlmalloc was a third of their cost.
#[global_allocator]
static ALLOCATOR: wasimap_alloc::SmallObjects = wasimap_alloc::SmallObjects::new();

// Two builds of one crate: `wasimap run` composes plugins with the plain
// `protocol` world, `wasimap watch` with `protocol-watcher`, the only one
// that imports `lend` (feature `watcher`).
#[cfg(not(feature = "watcher"))]
wit_bindgen::generate!({
    world: "protocol",
    path: "../../wit",
});
#[cfg(feature = "watcher")]
wit_bindgen::generate!({
    world: "protocol-watcher",
    path: "../../wit",
});

/// The watcher's session lent to this call, if any (`lend.lent`).
#[cfg(feature = "watcher")]
fn lent_connection() -> Option<Connection> {
    wasimap::imap::lend::lent()
}

/// Outside `wasimap watch` no session is ever lent: this build does not
/// import `lend`.
#[cfg(not(feature = "watcher"))]
fn lent_connection() -> Option<Connection> {
    None
}

use exports::wasimap::imap::client::{
    self as wit, FetchMessage, Guest, GuestFetchItems, GuestFetchStream, GuestIdler, GuestImap4, QuotarootResponse,
    SaslStep as WitStep, SessionState,
};
use wasimap::imap::body::Body;
use wasimap::imap::transport::{self as host, ConnectOptions, Connection};
use wasimap::imap::types::{
    self as t, DataItem as WitItem, ErrorDetail, ErrorKind as WitKind, ImapError as WitError, Response as WitResponse,
    TlsOptions,
};

struct Component;

export!(Component);

/// The host's connection as a [`Transport`].
struct HostTransport(Connection);

/// The WIT spelling of a core error kind.
fn wit_kind(kind: ErrorKind) -> WitKind {
    match kind {
        ErrorKind::Eof => WitKind::Eof,
        ErrorKind::Timeout => WitKind::Timeout,
        ErrorKind::Refused => WitKind::Refused,
        ErrorKind::Unreachable => WitKind::Unreachable,
        ErrorKind::TlsCertificate => WitKind::TlsCertificate,
        ErrorKind::TlsHandshake => WitKind::TlsHandshake,
        ErrorKind::Bye => WitKind::Bye,
        ErrorKind::Bad => WitKind::Bad,
        ErrorKind::No => WitKind::No,
        ErrorKind::State => WitKind::State,
        ErrorKind::Limit => WitKind::Limit,
        ErrorKind::Malformed => WitKind::Malformed,
        ErrorKind::Denied => WitKind::Denied,
        ErrorKind::Usage => WitKind::Usage,
        ErrorKind::Readonly => WitKind::Readonly,
        ErrorKind::Io => WitKind::Io,
    }
}

/// The core's kind of a WIT error kind (what the host's transport says).
fn core_kind(kind: WitKind) -> ErrorKind {
    match kind {
        WitKind::Eof => ErrorKind::Eof,
        WitKind::Timeout => ErrorKind::Timeout,
        WitKind::Refused => ErrorKind::Refused,
        WitKind::Unreachable => ErrorKind::Unreachable,
        WitKind::TlsCertificate => ErrorKind::TlsCertificate,
        WitKind::TlsHandshake => ErrorKind::TlsHandshake,
        WitKind::Bye => ErrorKind::Bye,
        WitKind::Bad => ErrorKind::Bad,
        WitKind::No => ErrorKind::No,
        WitKind::State => ErrorKind::State,
        WitKind::Limit => ErrorKind::Limit,
        WitKind::Malformed => ErrorKind::Malformed,
        WitKind::Denied => ErrorKind::Denied,
        WitKind::Usage => ErrorKind::Usage,
        WitKind::Readonly => ErrorKind::Readonly,
        WitKind::Io => ErrorKind::Io,
    }
}

fn transport_error(e: host::TransportError) -> TransportError {
    TransportError::new(core_kind(e.kind), e.message).with_errno(e.errno)
}

impl Transport for HostTransport {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        self.0
            .read(u32::try_from(max).unwrap_or(u32::MAX))
            .map_err(transport_error)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.0.write(data).map_err(transport_error)
    }

    fn shutdown(&mut self) {
        self.0.shutdown();
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        let ms = timeout.map(|t| u32::try_from(t.as_millis().max(1)).unwrap_or(u32::MAX));
        self.0.set_read_timeout(ms).map_err(transport_error)
    }
}

fn item(d: wasimap_protocol::DataItem) -> WitItem {
    match d {
        wasimap_protocol::DataItem::None => WitItem::None,
        wasimap_protocol::DataItem::Bytes(b) => WitItem::Bytes(b),
        wasimap_protocol::DataItem::Literal(h, l) => WitItem::Literal((h, l)),
    }
}

fn items(v: Vec<wasimap_protocol::DataItem>) -> Vec<WitItem> {
    v.into_iter().map(item).collect()
}

fn response(r: wasimap_protocol::Response) -> WitResponse {
    WitResponse {
        typ: r.typ,
        data: items(r.data),
    }
}

fn error(e: ImapError) -> WitError {
    use wasimap_protocol::ErrorClass;
    let detail = ErrorDetail {
        kind: wit_kind(e.kind()),
        message: e.message().to_string(),
        errno: e.errno(),
    };
    match e.class() {
        ErrorClass::Abort => WitError::Abort(detail),
        ErrorClass::Readonly => WitError::Readonly(detail),
        ErrorClass::Error => WitError::Error(detail),
    }
}

type WitResult = Result<WitResponse, WitError>;

fn done(r: wasimap_protocol::Result<wasimap_protocol::Response>) -> WitResult {
    r.map(response).map_err(error)
}

fn struct_time(s: &t::StructTime) -> util::StructTime {
    util::StructTime {
        year: s.year,
        mon: s.mon,
        mday: s.mday,
        hour: s.hour,
        min: s.min,
        sec: s.sec,
        wday: s.wday,
        yday: s.yday,
        isdst: s.isdst,
    }
}

fn wit_struct_time(s: util::StructTime) -> t::StructTime {
    t::StructTime {
        year: s.year,
        mon: s.mon,
        mday: s.mday,
        hour: s.hour,
        min: s.min,
        sec: s.sec,
        wday: s.wday,
        yday: s.yday,
        isdst: s.isdst,
    }
}

fn time_value(v: t::TimeValue) -> util::TimeValue {
    match v {
        t::TimeValue::Epoch(s) => util::TimeValue::Epoch(s),
        t::TimeValue::ZonedEpoch((s, off)) => util::TimeValue::ZonedEpoch(s, off),
        t::TimeValue::Civil(c) => util::TimeValue::Civil(util::CivilTime {
            year: c.year,
            month: c.month,
            day: c.day,
            hour: c.hour,
            minute: c.minute,
            second: c.second,
            utc_offset: c.utc_offset,
        }),
        t::TimeValue::Local(s) => util::TimeValue::Local(struct_time(&s)),
        t::TimeValue::Quoted(s) => util::TimeValue::Quoted(s),
    }
}

/// The host's local zone, through the `timezone` import: the component
/// learns offsets at instants, never the zone's rules.
struct HostZone;

impl util::LocalZone for HostZone {
    fn offset_at(&self, instant: i64) -> util::LocalOffset {
        let o = wasimap::imap::timezone::offset_at(instant);
        util::LocalOffset {
            utc_offset: o.utc_offset,
            is_dst: o.is_dst,
        }
    }

    fn mktime(&self, t: &util::StructTime) -> Option<i64> {
        wasimap::imap::timezone::from_local(wit_struct_time(*t))
    }

    fn now(&self) -> i64 {
        // WASI's wall clock; only the year matters (CPython's
        // time.timezone / time.altzone come from this year's offsets).
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A secret's value from the host, for this connection only; only this
/// component ever holds it.
fn reveal(name: &str, conn: &HostTransport) -> Result<String, String> {
    // Every kind is a refusal the plugin cannot retry its way out of: the
    // core raises `error` of kind `denied` with the host's message.
    wasimap::imap::secrets::reveal(name, &conn.0).map_err(|e| e.message)
}

/// A random tag seed: std seeds `RandomState` from WASI's random source.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// imaplib's timeout in the host's milliseconds.
fn timeout_ms(timeout: Option<f64>) -> Result<Option<u32>, WitError> {
    wasimap_protocol::imap4::timeout_millis(timeout).map_err(error)
}

/// The `imap4` resource: one session behind a `RefCell`, since WIT methods
/// take `&self`; the host name is kept for STARTTLS verification.
struct Session(Rc<RefCell<Imap4<HostTransport>>>, String);

fn read_timeout(timeout: Option<f64>) -> Option<Duration> {
    timeout.and_then(|t| Duration::try_from_secs_f64(t).ok())
}

fn options(timeout: Option<f64>) -> Result<ConnectOptions, WitError> {
    let ms = timeout_ms(timeout)?;
    Ok(ConnectOptions {
        connect_timeout_ms: ms,
        read_timeout_ms: ms,
    })
}

/// How a session begins on its connection: [`Imap4::connect`] (the
/// greeting) or [`Imap4::resume`] (a lent, logged-in session).
type Begin = fn(HostTransport, u64, u32) -> Result<Imap4<HostTransport>, ImapError>;

/// A session over `conn`, begun by `begin` (greeting or CAPABILITY).
fn start(
    conn: Result<Connection, host::TransportError>,
    read_timeout: Option<Duration>,
    host_name: &str,
    port: Option<u16>,
    tls: bool,
    begin: Begin,
) -> Result<wit::Imap4, WitError> {
    let conn = conn.map_err(|e| error(transport_error(e).into_imap()))?;
    let mut imap = begin(HostTransport(conn), random_seed(), 0).map_err(error)?;
    imap.set_default_read_timeout(read_timeout);
    if tls {
        imap.set_tls_established();
    }
    if let Some(port) = port {
        imap.set_endpoint(host_name, port);
    }
    Ok(wit::Imap4::new(Session(
        Rc::new(RefCell::new(imap)),
        host_name.to_string(),
    )))
}

fn step(s: wasimap_protocol::imap4::SaslStep) -> WitStep {
    match s {
        wasimap_protocol::imap4::SaslStep::Challenge(c) => WitStep::Challenge(c),
        wasimap_protocol::imap4::SaslStep::Done(r) => WitStep::Done(response(r)),
    }
}

impl Session {
    fn with<R>(&self, f: impl FnOnce(&mut Imap4<HostTransport>) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// The `idler` resource: shares the session with its `imap4`.
/// It knows its IDLE's tag: a stale idler (kept after `done`) must not
/// end a later IDLE when dropped.
struct Idler(Rc<RefCell<Imap4<HostTransport>>>, Vec<u8>);

impl Idler {
    /// The session, if this idler's IDLE is still the running one.
    fn current(&self) -> Result<std::cell::RefMut<'_, Imap4<HostTransport>>, WitError> {
        let imap = self.0.borrow_mut();
        if imap.idle_tag() == Some(self.1.as_slice()) {
            Ok(imap)
        } else {
            Err(error(ImapError::error_kind(ErrorKind::State, "this IDLE has ended")))
        }
    }
}

fn seconds(t: f64) -> Result<Duration, WitError> {
    Duration::try_from_secs_f64(t).map_err(|_| error(ImapError::error(format!("invalid timeout: {t}"))))
}

fn idle_item((typ, datum): (String, wasimap_protocol::DataItem)) -> (String, Vec<WitItem>) {
    (typ, vec![item(datum)])
}

impl GuestIdler for Idler {
    fn next(&self, timeout: Option<f64>) -> Result<Option<(String, Vec<WitItem>)>, WitError> {
        let timeout = timeout.map(seconds).transpose()?;
        let r = self.current()?.idle_next(timeout);
        r.map(|o| o.map(idle_item)).map_err(error)
    }

    fn burst(&self, interval: f64) -> Result<Vec<(String, Vec<WitItem>)>, WitError> {
        let interval = seconds(interval)?;
        let r = self.current()?.idle_burst(interval);
        r.map(|v| v.into_iter().map(idle_item).collect()).map_err(error)
    }

    fn done(&self) -> WitResult {
        let r = self.current()?.idle_done();
        done(r)
    }
}

impl Drop for Idler {
    fn drop(&mut self) {
        if let Ok(mut imap) = self.current() {
            let _ = imap.idle_done();
        }
    }
}

/// The `fetch-stream` resource: shares the session with its `imap4`, and
/// knows its command's tag so a stale handle never touches a later stream.
struct FetchStream(Rc<RefCell<Imap4<HostTransport>>>, Vec<u8>);

impl GuestFetchStream for FetchStream {
    fn next(&self) -> Result<Option<FetchMessage>, WitError> {
        let r = self.0.borrow_mut().fetch_stream_next(&self.1);
        r.map(|m| m.map(typed::fetch_message)).map_err(error)
    }
}

impl Drop for FetchStream {
    fn drop(&mut self) {
        self.0.borrow_mut().fetch_stream_finish(&self.1);
    }
}

/// The `fetch-items` resource: a raw streaming FETCH, shared and tagged as
/// [`FetchStream`] is.
struct FetchItems(Rc<RefCell<Imap4<HostTransport>>>, Vec<u8>);

/// A raw FETCH item with its literal handed to the host, so the plugin
/// gets a handle instead of the adapter's byte-by-byte copy.
fn fetch_item(d: wasimap_protocol::DataItem) -> Option<wit::FetchItem> {
    match d {
        wasimap_protocol::DataItem::None => None,
        wasimap_protocol::DataItem::Bytes(b) => Some(wit::FetchItem::Line(b)),
        wasimap_protocol::DataItem::Literal(h, l) => Some(wit::FetchItem::Literal((h, Body::new(&l)))),
    }
}

impl GuestFetchItems for FetchItems {
    fn next(&self) -> Result<wit::FetchStep, WitError> {
        let step = self.0.borrow_mut().fetch_items_next(&self.1).map_err(error)?;
        Ok(match step {
            StreamStep::Items(items) => wit::FetchStep::Items(items.into_iter().filter_map(fetch_item).collect()),
            StreamStep::Done(r) => wit::FetchStep::Done(response(r)),
        })
    }
}

impl Drop for FetchItems {
    fn drop(&mut self) {
        self.0.borrow_mut().fetch_stream_finish(&self.1);
    }
}

/// The WIT method for each string-argument entry of the command table.
macro_rules! string_forwarders {
    (encoded { $( $(#[$doc:meta])* $m:ident ( $($a:ident : $k:ident),* ) => $name:literal, $finish:expr; )* }) => {
        $(
            fn $m(&self, $($a: String),*) -> WitResult {
                done(self.with(|s| s.$m($(&$a),*)))
            }
        )*
    };
}

impl Guest for Component {
    type Imap4 = Session;
    type Idler = Idler;
    type FetchStream = FetchStream;
    type FetchItems = FetchItems;

    fn int2ap(num: u64) -> Vec<u8> {
        util::int2ap(num)
    }

    fn parse_flags(resp: Vec<u8>) -> Vec<Vec<u8>> {
        util::parse_flags(&resp)
    }

    fn internaldate2tuple(resp: Vec<u8>) -> Option<t::StructTime> {
        util::internaldate2tuple(&resp, &HostZone).map(wit_struct_time)
    }

    fn time2internaldate(value: t::TimeValue) -> Result<String, WitError> {
        util::time2internaldate(&time_value(value), &HostZone).map_err(error)
    }
}

impl GuestImap4 for Session {
    // Every method whose arguments are all strings, from the core's
    // command table: one forwarder each.
    wasimap_protocol::string_commands!(string_forwarders);

    fn open_tcp(host_name: String, port: u16, timeout: Option<f64>) -> Result<wit::Imap4, WitError> {
        let conn = host::connect_tcp(&host_name, port, options(timeout)?);
        start(
            conn,
            read_timeout(timeout),
            &host_name,
            Some(port),
            false,
            Imap4::connect,
        )
    }

    fn open_tls(host_name: String, port: u16, timeout: Option<f64>, tls: TlsOptions) -> Result<wit::Imap4, WitError> {
        let conn = host::connect_tls(&host_name, port, options(timeout)?, &tls);
        start(
            conn,
            read_timeout(timeout),
            &host_name,
            Some(port),
            true,
            Imap4::connect,
        )
    }

    fn open_stream(command: String, timeout: Option<f64>) -> Result<wit::Imap4, WitError> {
        let conn = host::connect_process(&command, options(timeout)?);
        start(conn, read_timeout(timeout), "", None, false, Imap4::connect)
    }

    fn open_lent(timeout: Option<f64>) -> Result<wit::Imap4, WitError> {
        let ms = timeout_ms(timeout)?;
        let conn = lent_connection().ok_or_else(|| {
            error(ImapError::error_kind(
                ErrorKind::State,
                "no session is lent to this call: `wasimap watch` lends one to the running watch.handle, one at a time",
            ))
        })?;
        // A connect's options set the read timeout; here it is set anew.
        let set = conn.set_read_timeout(ms);
        let tls = conn.is_tls();
        // No host name or port: STARTTLS and SASL's endpoint are not for a
        // logged-in session.
        start(set.map(|()| conn), read_timeout(timeout), "", None, tls, Imap4::resume)
    }

    fn starttls(&self, tls: TlsOptions) -> WitResult {
        let host_name = self.1.clone();
        done(self.with(|s| s.starttls(|t| t.0.start_tls(&host_name, &tls).map_err(transport_error))))
    }

    fn authenticate(&self, mechanism: String, user: String, secret: String) -> WitResult {
        done(self.with(|s| s.authenticate(&mechanism, &user, &secret)))
    }

    fn authenticate_start(&self, mechanism: String, initial_response: Option<Vec<u8>>) -> Result<WitStep, WitError> {
        self.with(|s| s.authenticate_start(&mechanism, initial_response.as_deref()))
            .map(step)
            .map_err(error)
    }

    fn authenticate_step(&self, response: Option<Vec<u8>>) -> Result<WitStep, WitError> {
        self.with(|s| s.authenticate_step(response.as_deref()))
            .map(step)
            .map_err(error)
    }

    fn idle(&self, duration: Option<f64>) -> Result<wit::Idler, WitError> {
        let duration = duration.map(seconds).transpose()?;
        self.with(|s| s.idle_start(duration)).map_err(error)?;
        let tag = self.with(|s| s.idle_tag().map(<[u8]>::to_vec)).unwrap_or_default();
        Ok(wit::Idler::new(Idler(self.0.clone(), tag)))
    }

    fn fetch_stream(
        &self,
        message_set: String,
        message_parts: String,
        uid: bool,
    ) -> Result<wit::FetchStream, WitError> {
        let tag = self
            .with(|s| s.fetch_stream_start(&message_set, &message_parts, uid))
            .map_err(error)?;
        Ok(wit::FetchStream::new(FetchStream(self.0.clone(), tag)))
    }

    fn fetch_items(&self, message_set: String, message_parts: String, uid: bool) -> Result<wit::FetchItems, WitError> {
        let tag = self
            .with(|s| s.fetch_items_start(&message_set, &message_parts, uid))
            .map_err(error)?;
        Ok(wit::FetchItems::new(FetchItems(self.0.clone(), tag)))
    }

    fn login_secret(&self, user: String, secret_name: String) -> WitResult {
        done(self.with(|s| s.login_secret(&user, |t| reveal(&secret_name, t))))
    }

    fn authenticate_secret(&self, mechanism: String, user: String, secret_name: String) -> WitResult {
        done(self.with(|s| s.authenticate_secret(&mechanism, &user, |t| reveal(&secret_name, t))))
    }

    fn login_cram_md5(&self, user: String, password: String) -> WitResult {
        done(self.with(|s| s.login_cram_md5(&user, &password)))
    }

    fn append(
        &self,
        mailbox: String,
        flags: Option<String>,
        date_time: Option<t::TimeValue>,
        message: Vec<u8>,
    ) -> WitResult {
        // imaplib converts the date first, in the local zone, which the
        // core does not have: it gets the quoted form.
        let dt = date_time
            .map(|v| util::time2internaldate(&time_value(v), &HostZone).map(util::TimeValue::Quoted))
            .transpose()
            .map_err(error)?;
        done(self.with(|s| s.append(&mailbox, flags.as_deref(), dt.as_ref(), &message)))
    }

    fn append_body(
        &self,
        mailbox: String,
        flags: Option<String>,
        date_time: Option<t::TimeValue>,
        message: &Body,
    ) -> WitResult {
        // From the host in one memcpy; the plugin's copy never crossed.
        let bytes = message.to_bytes();
        self.append(mailbox, flags, date_time, bytes)
    }

    fn enable(&self, capability: String) -> WitResult {
        done(self.with(|s| s.enable(&capability)))
    }

    fn getannotation(&self, mailbox: String, entry: String, attribute: String) -> WitResult {
        done(self.with(|s| s.getannotation(&mailbox, &entry, &attribute)))
    }

    fn getquotaroot(&self, mailbox: String) -> Result<QuotarootResponse, WitError> {
        self.with(|s| s.getquotaroot(&mailbox))
            .map(|(typ, quotaroot, quota)| QuotarootResponse {
                typ,
                quotaroot: items(quotaroot),
                quota: items(quota),
            })
            .map_err(error)
    }

    fn list(&self, directory: Option<String>, pattern: Option<String>) -> WitResult {
        done(self.with(|s| s.list(directory.as_deref(), pattern.as_deref())))
    }

    fn login(&self, user: String, password: String) -> WitResult {
        done(self.with(|s| s.login(&user, &password)))
    }

    fn logout(&self) -> WitResult {
        done(self.with(|s| s.logout()))
    }

    fn lsub(&self, directory: Option<String>, pattern: Option<String>) -> WitResult {
        done(self.with(|s| s.lsub(directory.as_deref(), pattern.as_deref())))
    }

    fn recent(&self) -> WitResult {
        done(self.with(|s| s.recent()))
    }

    fn response(&self, code: String) -> WitResponse {
        response(self.with(|s| s.response(&code)))
    }

    fn search(&self, charset: Option<String>, criteria: Vec<String>) -> WitResult {
        done(self.with(|s| s.search(charset.as_deref(), &criteria)))
    }

    fn select(&self, mailbox: Option<String>, readonly: bool) -> WitResult {
        done(self.with(|s| s.select(mailbox.as_deref(), readonly)))
    }

    fn setannotation(&self, args: Vec<String>) -> WitResult {
        done(self.with(|s| s.setannotation(&args)))
    }

    fn sort(&self, sort_criteria: String, charset: String, search_criteria: Vec<String>) -> WitResult {
        done(self.with(|s| s.sort(&sort_criteria, &charset, &search_criteria)))
    }

    fn store(&self, message_set: String, command: String, flags: String) -> WitResult {
        done(self.with(|s| s.store(&message_set, &command, &flags)))
    }

    fn thread(&self, threading_algorithm: String, charset: String, search_criteria: Vec<String>) -> WitResult {
        done(self.with(|s| s.thread(&threading_algorithm, &charset, &search_criteria)))
    }

    fn uid(&self, command: String, args: Vec<String>) -> WitResult {
        done(self.with(|s| s.uid(&command, &args)))
    }

    fn xatom(&self, name: String, args: Vec<String>) -> WitResult {
        done(self.with(|s| s.xatom(&name, &args)))
    }

    fn send(&self, data: Vec<u8>) -> Result<(), WitError> {
        self.with(|s| s.send(&data)).map_err(error)
    }

    fn read(&self, size: u64) -> Result<Vec<u8>, WitError> {
        self.with(|s| s.read(size)).map_err(error)
    }

    fn readline(&self) -> Result<Vec<u8>, WitError> {
        self.with(|s| s.readline()).map_err(error)
    }

    fn shutdown(&self) {
        self.with(|s| s.shutdown());
    }

    fn capabilities(&self) -> Vec<String> {
        self.with(|s| s.client().capabilities().to_vec())
    }

    fn protocol_version(&self) -> String {
        self.with(|s| s.client().protocol_version().to_string())
    }

    fn state(&self) -> SessionState {
        self.with(|s| match s.client().state() {
            State::NonAuth => SessionState::Nonauth,
            State::Auth => SessionState::Auth,
            State::Selected => SessionState::Selected,
            State::Logout => SessionState::Logout,
            State::Idling => SessionState::Idling,
        })
    }

    fn welcome(&self) -> Vec<u8> {
        self.with(|s| s.client().welcome().to_vec())
    }

    fn debug(&self) -> u32 {
        self.with(|s| s.client().debug())
    }

    fn set_debug(&self, level: u32) {
        self.with(|s| s.client_mut().set_debug(level));
    }

    fn max_line(&self) -> u64 {
        self.with(|s| u64::try_from(s.client_mut().max_line()).unwrap_or(u64::MAX))
    }

    fn set_max_line(&self, limit: u64) -> Result<(), WitError> {
        self.with(|s| s.client_mut().set_max_line(limit)).map_err(error)
    }

    fn utf8_enabled(&self) -> bool {
        self.with(|s| s.client().utf8_enabled())
    }

    fn tag_prefix(&self) -> Vec<u8> {
        self.with(|s| s.client().tag_prefix().to_vec())
    }

    fn untagged_responses(&self) -> Vec<(String, Vec<WitItem>)> {
        self.with(|s| {
            s.client()
                .session()
                .untagged_responses()
                .map(|(name, data)| (name.clone(), items(data.clone())))
                .collect()
        })
    }
}
