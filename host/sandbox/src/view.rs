//! The embedding API, in the style of wasmtime-wasi-http: a platform keeps
//! a [`WasimapCtx`] (policy and secrets) in its store data, implements
//! [`WasimapView`], and calls [`add_to_linker`] on its own `Linker`.
//!
//! ```no_run
//! use wasmtime::component::{Linker, ResourceTable};
//! use wasimap_sandbox::{WasimapCtx, WasimapCtxView, WasimapView};
//!
//! struct MyState { table: ResourceTable, wasimap: WasimapCtx }
//! impl WasimapView for MyState {
//!     fn wasimap(&mut self) -> WasimapCtxView<'_> {
//!         WasimapCtxView { ctx: &mut self.wasimap, table: &mut self.table }
//!     }
//! }
//! # fn f(linker: &mut Linker<MyState>) -> wasmtime::Result<()> {
//! wasimap_sandbox::add_to_linker(linker)?;
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::wasimap::imap::{body, progress, secrets, timezone, transport, types};
use crate::bindings::{ConnectOptions, TlsOptions, TransportError};
use crate::conn::GuardedConnection;
use crate::limits::{bounded_wait, TransportLimits};
use crate::policy::{Policy, ReadError, Request};
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::transport::{Connection, Stream};
use crate::trust::TlsTrust;

/// What the wasimap imports need: the user's grants, secrets and limits,
/// and the store's count of open connections.
#[derive(Debug, Default)]
pub struct WasimapCtx {
    /// What plugins may reach.
    pub policy: Policy,
    /// Secrets the protocol component may reveal to servers.
    pub secrets: Secrets,
    /// TLS trust the user granted (extra CAs, unverified endpoints).
    pub trust: TlsTrust,
    /// Connections and processes open at once.
    pub limits: TransportLimits,
    /// When the run must end: no connect, resolve, read or write blocks
    /// past it, whatever timeout the guest asked for (a guest blocked in
    /// the host cannot see its epoch deadline).
    pub deadline: Option<Instant>,
    /// Where the plugin's `progress` reports go (hidden by default).
    pub progress: Progress,
    /// The session `wasimap watch` lends to this call, if any
    /// (`transport.lent`).
    pub lend: Option<crate::lend::Lend>,
    /// The name lookups this context's connections may leave running at
    /// once, shared with every other context of the same account (the
    /// watcher gives each account its own).
    pub lookups: crate::transport::tcp::Lookups,
    /// The CPU slot the call runs wasm under, if its runner shares CPU
    /// time fairly between calls ([`crate::fair`]): given up while the
    /// transport blocks.
    pub cpu: Option<crate::fair::CpuSlot>,
    /// The watcher's stop flag, for a call of `wasimap watch`: its sleeps
    /// end when it is set.
    pub stop: Option<&'static std::sync::atomic::AtomicBool>,
    open_connections: usize,
    open_processes: usize,
    pub(crate) body_bytes_in_use: usize,
}

impl WasimapCtx {
    /// What this context's network connections are opened under
    /// (`defaults`: the policy's exact endpoints, where a secret bound to
    /// none may go).
    pub(crate) fn connect_grants<'a>(
        &'a self,
        defaults: &'a [crate::secrets::Endpoint],
    ) -> crate::conn::ConnectGrants<'a> {
        crate::conn::ConnectGrants {
            policy: &self.policy,
            lookups: &self.lookups,
            secrets: &self.secrets,
            default_endpoints: defaults,
        }
    }

    /// A context with `policy` and `secrets`, default limits, no extra TLS
    /// trust, no deadline and progress hidden.
    pub fn new(policy: Policy, secrets: Secrets) -> Self {
        WasimapCtx {
            policy,
            secrets,
            ..WasimapCtx::default()
        }
    }
}

/// Borrowed access to a [`WasimapCtx`] and the store's resource table.
pub struct WasimapCtxView<'a> {
    /// Grants and secrets.
    pub ctx: &'a mut WasimapCtx,
    /// The table holding `connection` resources.
    pub table: &'a mut ResourceTable,
}

/// Implemented by store data that hosts wasimap components.
pub trait WasimapView: Send {
    /// The wasimap context and resource table of this store.
    fn wasimap(&mut self) -> WasimapCtxView<'_>;
}

/// The [`HasData`] of the wasimap imports, sync and async alike.
pub(crate) struct WasimapData;

impl HasData for WasimapData {
    type Data<'a> = WasimapCtxView<'a>;
}

/// Adds `wasimap:imap/{types,transport,secrets,timezone,progress,body}` to `linker`,
/// with the blocking transports. For a tokio embedding see
/// [`crate::asyncio::add_to_linker_async`].
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    transport::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    secrets::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    add_shared_to_linker(linker)
}

/// The imports that neither block nor suspend, one implementation for both
/// embeddings (`types`, `timezone`, `progress`, `body`): each embedding
/// adds its own `transport` and `secrets` and then these, so the two
/// cannot drift apart in what a plugin may import.
pub(crate) fn add_shared_to_linker<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    timezone::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    progress::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    body::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    Ok(())
}

impl types::Host for WasimapCtxView<'_> {}

impl progress::Host for WasimapCtxView<'_> {
    fn report(&mut self, label: String, done: u64, total: Option<u64>) {
        self.ctx.progress.report(&label, done, total);
    }

    fn finish(&mut self) {
        self.ctx.progress.finish();
    }
}

impl secrets::Host for WasimapCtxView<'_> {
    fn reveal(&mut self, name: String, conn: Resource<GuardedConnection>) -> Result<String, String> {
        self.reveal_secret(name, &conn)
    }
}

fn table_error(e: wasmtime::component::ResourceTableError) -> TransportError {
    TransportError::io(format!("invalid connection handle: {e}"))
}

fn ms(d: Option<Duration>) -> Option<u32> {
    d.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1))
}

/// What the transport imports decide before and after any I/O, written
/// once for the blocking transports (`Connection`) and the async ones
/// (`AsyncConnection`): the policy, the TLS trust, the limits, the
/// deadline and the secrets.
impl WasimapCtxView<'_> {
    /// `secrets.reveal`: the secret `name` if it may go over `conn`, which
    /// is then guarded against the server echoing it.
    pub(crate) fn reveal_secret<S: Stream>(
        &mut self,
        name: String,
        conn: &Resource<GuardedConnection<S>>,
    ) -> Result<String, String> {
        let defaults = self.ctx.policy.exact_endpoints();
        let Ok(c) = self.table.get_mut(conn) else {
            return Err("invalid connection handle".into());
        };
        c.reveal(&self.ctx.secrets, &name, &defaults)
    }

    /// Reads the CA file named in TLS options, if any, if the policy grants
    /// the file the kernel actually opens (`..` and symlinks resolved, a
    /// regular file, at most 1 MiB). File contents never appear in errors.
    fn ca_file(&self, tls: &TlsOptions) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(path) = &tls.ca_file else { return Ok(None) };
        if let Some(pem) = self.ctx.trust.granted_ca_file(std::path::Path::new(path)) {
            return Ok(Some(pem));
        }
        match self.ctx.policy.read_file(path) {
            Ok(data) => Ok(Some(data)),
            Err(ReadError::Denied(e)) => Err(TransportError::denied(e)),
            Err(ReadError::Failed(e)) => Err(TransportError::tls(format!("ca-file {e}"), None)),
        }
    }

    /// The guest's timeouts, never past the run's deadline.
    fn bounded(&self, mut options: ConnectOptions) -> ConnectOptions {
        let bound = |m: Option<u32>| ms(bounded_wait(crate::transport::duration(m), self.ctx.deadline));
        options.connect_timeout_ms = bound(options.connect_timeout_ms);
        options.read_timeout_ms = bound(options.read_timeout_ms);
        options
    }

    /// Refuses a new connection beyond the limits.
    fn reserve(&self, process: bool) -> Result<(), TransportError> {
        let limits = self.ctx.limits;
        if self.ctx.open_connections >= limits.connections {
            return Err(TransportError::denied(format!(
                "too many open connections (the limit is {}; raise it with --max-connections)",
                limits.connections
            )));
        }
        if process && self.ctx.open_processes >= limits.processes {
            return Err(TransportError::denied(format!(
                "too many running stream commands (the limit is {}; raise it with --max-processes)",
                limits.processes
            )));
        }
        Ok(())
    }

    /// Before `connect-tcp`: the policy's decision, the connection limit;
    /// the options to connect with, bounded by the deadline.
    pub(crate) fn admit_tcp(
        &self,
        host: &str,
        port: u16,
        options: ConnectOptions,
    ) -> Result<ConnectOptions, TransportError> {
        self.ctx
            .policy
            .check(&Request::ConnectTcp { host, port })
            .map_err(TransportError::denied)?;
        self.reserve(false)?;
        Ok(self.bounded(options))
    }

    /// Before `connect-tls`: as [`Self::admit_tcp`], plus the TLS trust
    /// the options ask for; also the granted CA file's contents.
    pub(crate) fn admit_tls(
        &self,
        host: &str,
        port: u16,
        options: ConnectOptions,
        tls: &TlsOptions,
    ) -> Result<(ConnectOptions, Option<Vec<u8>>), TransportError> {
        self.ctx
            .policy
            .check(&Request::ConnectTls { host, port })
            .map_err(TransportError::denied)?;
        self.ctx.trust.check(host, port, tls)?;
        self.reserve(false)?;
        let ca = self.ca_file(tls)?;
        Ok((self.bounded(options), ca))
    }

    /// Before `connect-process`: the exec grant and the process limit.
    pub(crate) fn admit_process(
        &self,
        command: &str,
        options: ConnectOptions,
    ) -> Result<ConnectOptions, TransportError> {
        self.ctx
            .policy
            .check(&Request::Exec { command })
            .map_err(TransportError::denied)?;
        self.reserve(true)?;
        Ok(self.bounded(options))
    }

    /// Before `start-tls`: the TLS trust for the connection's endpoint,
    /// the CA file, and the deadline; returns the CA file's contents.
    pub(crate) fn admit_start_tls<S: Stream>(
        &mut self,
        conn: &Resource<GuardedConnection<S>>,
        host: &str,
        tls: &TlsOptions,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        let port = self.conn(conn)?.endpoint().map_or(0, |e| e.port);
        self.ctx.trust.check(host, port, tls)?;
        let ca = self.ca_file(tls)?;
        self.near_deadline(conn)?;
        Ok(ca)
    }

    /// Hands a new connection to the guest, counted against the limits.
    pub(crate) fn push<S: Stream>(
        &mut self,
        mut conn: GuardedConnection<S>,
        options: &ConnectOptions,
    ) -> Result<Resource<GuardedConnection<S>>, TransportError> {
        // Writes get the same bound as reads: a server that stops reading
        // (say, during a large APPEND) cannot hold the host.
        let timeout = crate::transport::duration(options.read_timeout_ms);
        conn.stream().set_write_timeout(timeout)?;
        conn.bounded_by = timeout;
        conn.opened_with_read_timeout(timeout);
        let process = conn.is_process();
        let handle = self.table.push(conn).map_err(table_error)?;
        self.ctx.open_connections += 1;
        self.ctx.open_processes += usize::from(process);
        Ok(handle)
    }

    /// Takes a connection the guest dropped out of the table and the
    /// counts; the caller shuts it down.
    pub(crate) fn release<S: Stream>(
        &mut self,
        conn: Resource<GuardedConnection<S>>,
    ) -> wasmtime::Result<GuardedConnection<S>> {
        let c = self.table.delete(conn)?;
        self.ctx.open_connections = self.ctx.open_connections.saturating_sub(1);
        if c.is_process() {
            self.ctx.open_processes = self.ctx.open_processes.saturating_sub(1);
        }
        Ok(c)
    }

    /// The guest's connection behind `conn`.
    pub(crate) fn conn<S: Stream>(
        &mut self,
        conn: &Resource<GuardedConnection<S>>,
    ) -> Result<&mut GuardedConnection<S>, TransportError> {
        self.table.get_mut(conn).map_err(table_error)
    }

    /// Before a blocking call: when the time left is shorter than the
    /// timeout in force (`bounded_by`; `None` is no limit), shorten it;
    /// returns the connection.
    pub(crate) fn near_deadline<S: Stream>(
        &mut self,
        conn: &Resource<GuardedConnection<S>>,
    ) -> Result<&mut GuardedConnection<S>, TransportError> {
        let left = bounded_wait(None, self.ctx.deadline);
        let c = self.conn(conn)?;
        if let Some(left) = left {
            if c.bounded_by.is_none_or(|b| left + Duration::from_millis(500) < b) {
                c.set_read_timeout(Some(left))?;
                c.stream().set_write_timeout(Some(left))?;
                c.bounded_by = Some(left);
            }
        }
        Ok(c)
    }

    /// Runs `blocking` (a connect, read or write that waits on a peer)
    /// with the call's CPU slot given up, so that a call stalled by its
    /// server holds no other call back; the slot is waited for again
    /// after, until the deadline.
    pub(crate) fn off_cpu<R>(&mut self, blocking: impl FnOnce(&mut Self) -> R) -> R {
        let deadline = self.ctx.deadline;
        match self.ctx.cpu.clone() {
            Some(slot) => slot.release_while(|| blocking(self), deadline),
            None => blocking(self),
        }
    }

    /// `set-read-timeout`: the guest's timeout, never past the deadline.
    pub(crate) fn set_timeout<S: Stream>(
        &mut self,
        conn: &Resource<GuardedConnection<S>>,
        ms: Option<u32>,
    ) -> Result<(), TransportError> {
        let wait = bounded_wait(crate::transport::duration(ms), self.ctx.deadline);
        let c = self.conn(conn)?;
        c.bounded_by = wait;
        c.set_read_timeout(wait)
    }

    /// `is-tls`.
    pub(crate) fn tls_in_use<S: Stream>(&self, conn: &Resource<GuardedConnection<S>>) -> bool {
        self.table.get(conn).is_ok_and(|c| c.stream_ref().is_tls())
    }
}

impl transport::Host for WasimapCtxView<'_> {
    fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let options = self.admit_tcp(&host, port, options)?;
        let defaults = self.ctx.policy.exact_endpoints();
        let conn =
            self.off_cpu(|v| GuardedConnection::open_tcp(&host, port, &options, &v.ctx.connect_grants(&defaults)))?;
        tracing::debug!(%host, port, "connected");
        self.push(conn, &options)
    }

    fn connect_tls(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
        tls: TlsOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let (options, ca) = self.admit_tls(&host, port, options, &tls)?;
        let defaults = self.ctx.policy.exact_endpoints();
        let conn = self.off_cpu(|v| {
            let grants = v.ctx.connect_grants(&defaults);
            GuardedConnection::open_tls(&host, port, &options, &tls, ca.as_deref(), &grants)
        })?;
        tracing::debug!(%host, port, "connected with TLS");
        self.push(conn, &options)
    }

    fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let options = self.admit_process(&command, options)?;
        let conn = Connection::open_process(&command, &options)?;
        tracing::debug!(%command, "started");
        self.push(GuardedConnection::process(conn), &options)
    }

    fn lent(&mut self) -> Option<Resource<GuardedConnection>> {
        let lend = self.ctx.lend.clone()?;
        // Checked before the connection leaves the slot: over the limit,
        // the session stays the watcher's, untouched.
        self.reserve(false).ok()?;
        // The watcher's own connection, its echo guard armed with the
        // account's secret: the plugin reads through the same guard.
        let mut conn = lend.take()?;
        let options = ConnectOptions {
            connect_timeout_ms: None,
            read_timeout_ms: ms(bounded_wait(lend.timeout, self.ctx.deadline)),
        };
        let bounded = conn.bound_by(crate::transport::duration(options.read_timeout_ms));
        match bounded.and_then(|()| self.push(conn, &options)) {
            Ok(handle) => {
                lend.taken_as(handle.rep());
                tracing::debug!("lent the watcher's session");
                Some(handle)
            }
            // The table is full, or the socket refused its write timeout
            // (it is gone then): the watcher reconnects.
            Err(e) => {
                tracing::debug!(error = %e.message, "could not lend the watcher's session");
                None
            }
        }
    }
}

impl transport::HostConnection for WasimapCtxView<'_> {
    fn read(&mut self, conn: Resource<GuardedConnection>, max: u32) -> Result<Vec<u8>, TransportError> {
        self.off_cpu(|v| v.near_deadline(&conn)?.read(max))
    }

    fn write(&mut self, conn: Resource<GuardedConnection>, data: Vec<u8>) -> Result<(), TransportError> {
        self.off_cpu(|v| v.near_deadline(&conn)?.write(&data))
    }

    fn shutdown(&mut self, conn: Resource<GuardedConnection>) {
        if let Ok(c) = self.conn(&conn) {
            c.stream().shutdown();
        }
    }

    fn start_tls(
        &mut self,
        conn: Resource<GuardedConnection>,
        host: String,
        tls: TlsOptions,
    ) -> Result<(), TransportError> {
        let ca = self.admit_start_tls(&conn, &host, &tls)?;
        self.off_cpu(|v| v.conn(&conn)?.start_tls(&host, &tls, ca.as_deref()))
    }

    fn is_tls(&mut self, conn: Resource<GuardedConnection>) -> bool {
        self.tls_in_use(&conn)
    }

    fn set_read_timeout(&mut self, conn: Resource<GuardedConnection>, ms: Option<u32>) -> Result<(), TransportError> {
        self.set_timeout(&conn, ms)
    }

    fn drop(&mut self, conn: Resource<GuardedConnection>) -> wasmtime::Result<()> {
        let lend = self.ctx.lend.clone().filter(|l| l.is(conn.rep()));
        let mut released = self.release(conn)?;
        match lend {
            // Not closed: the watcher goes on with it.
            Some(lend) => lend.give_back(released),
            None => released.shutdown(),
        }
        Ok(())
    }
}

/// The host's local zone for the protocol component's time utilities
/// (shared by both embeddings: it neither blocks nor touches the store).
impl timezone::Host for WasimapCtxView<'_> {
    fn offset_at(&mut self, instant: i64) -> timezone::LocalOffset {
        crate::timezone::offset_at(instant)
    }

    fn from_local(&mut self, time: types::StructTime) -> Option<i64> {
        crate::timezone::from_local(&time)
    }
}
