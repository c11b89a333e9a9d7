//! The async embedding: for platforms that run wasmtime on tokio.
//!
//! [`add_to_linker_async`] is [`crate::add_to_linker`] with async
//! transports: tokio TCP, tokio-rustls and tokio child processes
//! ([`AsyncConnection`]). A plugin waiting for its server suspends its
//! fiber and gives the worker thread back to the runtime, so a handful of
//! threads serve any number of plugin instances. Instantiate with
//! [`bindings::Composed::instantiate_async`] and call `run` with `.await`
//! (or use [`crate::Runner::run_async`]).
//!
//! The sandbox is the same code as in the blocking embedding, not a copy:
//! the policy's decisions, the TLS trust, the connection and process
//! limits, the deadline bound on every blocking call, the secrets and the
//! echo guard all live in `view.rs` and `conn.rs` as methods generic over
//! the byte stream ([`crate::transport::Stream`]); this module only moves
//! bytes.
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
//! wasimap_sandbox::asyncio::add_to_linker_async(linker)?;
//! # Ok(()) }
//! ```
//!
//! The runtime must have its I/O and time drivers enabled
//! (`enable_all()`); child processes need tokio's signal handling, which
//! `enable_all()` includes.

pub mod bindings;
mod stream;

use wasmtime::component::{Linker, Resource};

use self::bindings::wasimap::imap::{secrets, transport};
use self::bindings::{ConnectOptions, TransportError};
use crate::bindings::TlsOptions;
use crate::conn::{verifies, GuardedConnection};
use crate::view::{WasimapCtxView, WasimapData, WasimapView};

pub use self::stream::AsyncConnection;

/// The `connection` resource of the async embedding.
pub type AsyncGuardedConnection = GuardedConnection<AsyncConnection>;

/// Adds `wasimap:imap/{types,transport,secrets,timezone,progress,body}` to `linker`, with async
/// transports. The store's data implements [`WasimapView`], exactly as for
/// [`crate::add_to_linker`]; WASI goes in with
/// `wasmtime_wasi::p2::add_to_linker_async`.
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker_async<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    transport::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    secrets::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    crate::view::add_shared_to_linker(linker)
}

// The two `bindgen!` runs generate the transport's records twice (wasmtime
// remaps resources and whole interfaces, not single records); the shared
// checks speak the blocking bindings' types, and these convert field by
// field at the boundary.
impl From<ConnectOptions> for crate::bindings::ConnectOptions {
    fn from(o: ConnectOptions) -> Self {
        crate::bindings::ConnectOptions {
            connect_timeout_ms: o.connect_timeout_ms,
            read_timeout_ms: o.read_timeout_ms,
        }
    }
}

impl From<crate::bindings::TransportError> for TransportError {
    fn from(e: crate::bindings::TransportError) -> Self {
        // The kind is the shared `types` interface's enum: one type.
        TransportError {
            kind: e.kind,
            message: e.message,
            errno: e.errno,
        }
    }
}

impl secrets::Host for WasimapCtxView<'_> {
    async fn reveal(&mut self, name: String, conn: Resource<AsyncGuardedConnection>) -> Result<String, String> {
        self.reveal_secret(name, &conn)
    }
}

impl transport::Host for WasimapCtxView<'_> {
    async fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let options = self.admit_tcp(&host, port, options.into())?;
        let policy = &self.ctx.policy;
        let check = |addr| policy.check_address(&host, addr);
        let conn = AsyncConnection::open_tcp(&host, port, &options, &check, &self.ctx.lookups).await?;
        tracing::debug!(%host, port, "connected");
        let defaults = self.ctx.policy.exact_endpoints();
        let grants = self.ctx.connect_grants(&defaults);
        let conn = GuardedConnection::network(conn, &host, port, false, &grants);
        Ok(self.push(conn, &options)?)
    }

    async fn connect_tls(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
        tls: TlsOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let (options, ca) = self.admit_tls(&host, port, options.into(), &tls)?;
        let policy = &self.ctx.policy;
        let check = |addr| policy.check_address(&host, addr);
        let conn =
            AsyncConnection::open_tls(&host, port, &options, &tls, ca.as_deref(), &check, &self.ctx.lookups).await?;
        tracing::debug!(%host, port, "connected with TLS");
        let verified = verifies(&host, &tls);
        let defaults = self.ctx.policy.exact_endpoints();
        let grants = self.ctx.connect_grants(&defaults);
        let conn = GuardedConnection::network(conn, &host, port, verified, &grants);
        Ok(self.push(conn, &options)?)
    }

    async fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let options = self.admit_process(&command, options.into())?;
        let conn = AsyncConnection::open_process(&command, &options)?;
        tracing::debug!(%command, "started");
        Ok(self.push(GuardedConnection::process(conn), &options)?)
    }

    /// Lending is `wasimap watch`'s, whose calls are blocking ones: the
    /// async embedding has no session to lend.
    async fn lent(&mut self) -> Option<Resource<AsyncGuardedConnection>> {
        None
    }
}

impl transport::HostConnection for WasimapCtxView<'_> {
    async fn read(&mut self, conn: Resource<AsyncGuardedConnection>, max: u32) -> Result<Vec<u8>, TransportError> {
        let c = self.near_deadline(&conn)?;
        loop {
            let data = c.stream().read(max).await?;
            if let Some(passed) = c.screen(data)? {
                return Ok(passed);
            }
        }
    }

    async fn write(&mut self, conn: Resource<AsyncGuardedConnection>, data: Vec<u8>) -> Result<(), TransportError> {
        Ok(self.near_deadline(&conn)?.stream().write(&data).await?)
    }

    async fn shutdown(&mut self, conn: Resource<AsyncGuardedConnection>) {
        if let Ok(c) = self.conn(&conn) {
            c.stream().shutdown().await;
        }
    }

    async fn start_tls(
        &mut self,
        conn: Resource<AsyncGuardedConnection>,
        host: String,
        tls: TlsOptions,
    ) -> Result<(), TransportError> {
        let ca = self.admit_start_tls(&conn, &host, &tls)?;
        let c = self.conn(&conn)?;
        c.stream().start_tls(&host, &tls, ca.as_deref()).await?;
        c.upgraded(&host, &tls);
        Ok(())
    }

    async fn is_tls(&mut self, conn: Resource<AsyncGuardedConnection>) -> bool {
        self.tls_in_use(&conn)
    }

    async fn set_read_timeout(
        &mut self,
        conn: Resource<AsyncGuardedConnection>,
        ms: Option<u32>,
    ) -> Result<(), TransportError> {
        Ok(self.set_timeout(&conn, ms)?)
    }

    async fn drop(&mut self, conn: Resource<AsyncGuardedConnection>) -> wasmtime::Result<()> {
        self.release(conn)?.stream().close().await;
        Ok(())
    }
}
