//! The embedding API, in the style of wasmtime-wasi-http: a platform keeps
//! a [`WasimapCtx`] (policy and secrets) in its store data, implements
//! [`WasimapView`], and calls [`crate::add_to_linker`] on its own `Linker`.
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

use wasmtime::component::{Resource, ResourceTable};

use crate::conn::GuardedConnection;
use crate::limits::{bounded_wait, TransportLimits};
use crate::policy::{Denial, Grant, Policy, ReadError, Request, Wording};
use crate::progress::Progress;
use crate::secrets::{RevealError, Secrets};
use crate::transport::TlsOptions;
use crate::transport::{ConnectOptions, Stream, TransportError};
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
    /// (`lend.lent`).
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
    /// How denials are worded in the messages a plugin sees (`None`:
    /// [`crate::policy::denial::neutral`]); the CLI names its flags.
    pub wording: Option<Wording>,
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
            wording: self.wording(),
        }
    }

    /// How this context words denials.
    pub fn wording(&self) -> Wording {
        self.wording.unwrap_or(crate::policy::denial::neutral)
    }

    /// A refusal as the transport error a plugin sees, worded.
    pub(crate) fn denied(&self, denial: &Denial) -> TransportError {
        TransportError::denied(denial.worded(self.wording()))
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

fn table_error(e: wasmtime::component::ResourceTableError) -> TransportError {
    TransportError::io(format!("invalid connection handle: {e}"))
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
    ) -> wasmtime::Result<Result<String, RevealError>> {
        let defaults = self.ctx.policy.exact_endpoints();
        let c = self.table.get_mut(conn)?;
        Ok(c.reveal(&self.ctx.secrets, &name, &defaults))
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
            Err(ReadError::Denied(d)) => Err(self.ctx.denied(&d)),
            Err(ReadError::Failed(e)) => Err(TransportError::tls(format!("ca-file {e}"), None)),
        }
    }

    /// The guest's timeouts, never past the run's deadline.
    fn bounded(&self, mut options: ConnectOptions) -> ConnectOptions {
        options.connect_timeout = bounded_wait(options.connect_timeout, self.ctx.deadline);
        options.read_timeout = bounded_wait(options.read_timeout, self.ctx.deadline);
        options
    }

    /// Refuses a new connection beyond the limits.
    pub(crate) fn reserve(&self, process: bool) -> Result<(), TransportError> {
        let limits = self.ctx.limits;
        if self.ctx.open_connections >= limits.connections {
            let grant = Grant::Connections(limits.connections);
            return Err(self.ctx.denied(&Denial::new("too many open connections", grant)));
        }
        if process && self.ctx.open_processes >= limits.processes {
            let grant = Grant::Processes(limits.processes);
            return Err(self.ctx.denied(&Denial::new("too many running stream commands", grant)));
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
            .map_err(|d| self.ctx.denied(&d))?;
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
            .map_err(|d| self.ctx.denied(&d))?;
        self.ctx.trust.check(host, port, tls, self.ctx.wording())?;
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
            .map_err(|d| self.ctx.denied(&d))?;
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
        self.ctx.trust.check(host, port, tls, self.ctx.wording())?;
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
        let timeout = options.read_timeout;
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
        timeout: Option<Duration>,
    ) -> Result<(), TransportError> {
        let wait = bounded_wait(timeout, self.ctx.deadline);
        let c = self.conn(conn)?;
        c.bounded_by = wait;
        c.set_read_timeout(wait)
    }

    /// `is-tls`.
    pub(crate) fn tls_in_use<S: Stream>(&self, conn: &Resource<GuardedConnection<S>>) -> bool {
        self.table.get(conn).is_ok_and(|c| c.stream_ref().is_tls())
    }
}
