//! The embedding API, in the style of wasmtime-wasi-http: a platform keeps
//! a [`WasimapCtx`] (policy and secrets) in its store data, implements
//! [`WasimapView`], and calls [`add_to_linker`] on its own `Linker`.
//!
//! ```no_run
//! use wasmtime::component::{Linker, ResourceTable};
//! use wasimap_host::{WasimapCtx, WasimapCtxView, WasimapView};
//!
//! struct MyState { table: ResourceTable, wasimap: WasimapCtx }
//! impl WasimapView for MyState {
//!     fn wasimap(&mut self) -> WasimapCtxView<'_> {
//!         WasimapCtxView { ctx: &mut self.wasimap, table: &mut self.table }
//!     }
//! }
//! # fn f(linker: &mut Linker<MyState>) -> wasmtime::Result<()> {
//! wasimap_host::add_to_linker(linker)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::bindings::wasimap::imap::{secrets, transport, types};
use crate::bindings::{ConnectOptions, TlsOptions, TransportError};
use crate::policy::{Policy, ReadError, Request};
use crate::secrets::Secrets;
use crate::transport::Connection;

/// What the wasimap imports need: the user's grants and secrets.
#[derive(Debug, Clone, Default)]
pub struct WasimapCtx {
    /// What plugins may reach.
    pub policy: Policy,
    /// Secrets the protocol component may reveal to servers.
    pub secrets: Secrets,
    /// The longest a connect or read may block when the guest asked for no
    /// timeout: a guest blocked in the host cannot see the wall-clock
    /// limit, so the host bounds its waits by it.
    pub max_blocking: Option<Duration>,
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

struct WasimapData;

impl HasData for WasimapData {
    type Data<'a> = WasimapCtxView<'a>;
}

/// Adds `wasimap:imap/{types,transport,secrets}` to `linker`.
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    transport::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    secrets::add_to_linker::<T, WasimapData>(linker, T::wasimap)?;
    Ok(())
}

impl types::Host for WasimapCtxView<'_> {}

impl secrets::Host for WasimapCtxView<'_> {
    fn reveal(&mut self, name: String) -> Result<String, String> {
        tracing::debug!(secret = %name, value = "<redacted>", "secret revealed to the protocol component");
        self.ctx.secrets.reveal(&name)
    }
}

fn table_error(e: wasmtime::component::ResourceTableError) -> TransportError {
    TransportError::Io(format!("invalid connection handle: {e}"))
}

impl WasimapCtxView<'_> {
    /// Reads the CA file named in TLS options, if any, if the policy grants
    /// the file the kernel actually opens (`..` and symlinks resolved, a
    /// regular file, at most 1 MiB). File contents never appear in errors.
    fn ca_file(&self, tls: &TlsOptions) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(path) = &tls.ca_file else { return Ok(None) };
        match self.ctx.policy.read_file(path) {
            Ok(data) => Ok(Some(data)),
            Err(ReadError::Denied(e)) => Err(TransportError::Denied(e)),
            Err(ReadError::Failed(e)) => Err(TransportError::Tls(format!("ca-file {e}"))),
        }
    }

    /// The guest's timeouts, with "none" bounded by [`WasimapCtx::max_blocking`].
    fn bounded(&self, mut options: ConnectOptions) -> ConnectOptions {
        let cap = self.max_blocking_ms();
        options.connect_timeout_ms = options.connect_timeout_ms.or(cap);
        options.read_timeout_ms = options.read_timeout_ms.or(cap);
        options
    }

    fn max_blocking_ms(&self) -> Option<u32> {
        self.ctx
            .max_blocking
            .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1))
    }

    fn push(&mut self, conn: Connection) -> Result<Resource<Connection>, TransportError> {
        self.table.push(conn).map_err(table_error)
    }

    fn conn(&mut self, conn: &Resource<Connection>) -> Result<&mut Connection, TransportError> {
        self.table.get_mut(conn).map_err(table_error)
    }
}

impl transport::Host for WasimapCtxView<'_> {
    fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<Connection>, TransportError> {
        self.ctx
            .policy
            .check(&Request::ConnectTcp { host: &host, port })
            .map_err(TransportError::Denied)?;
        let policy = &self.ctx.policy;
        let check = |addr| policy.check_address(&host, addr);
        let conn = Connection::open_tcp(&host, port, &self.bounded(options), &check)?;
        tracing::debug!(%host, port, "connected");
        self.push(conn)
    }

    fn connect_tls(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
        tls: TlsOptions,
    ) -> Result<Resource<Connection>, TransportError> {
        self.ctx
            .policy
            .check(&Request::ConnectTls { host: &host, port })
            .map_err(TransportError::Denied)?;
        let ca = self.ca_file(&tls)?;
        let policy = &self.ctx.policy;
        let check = |addr| policy.check_address(&host, addr);
        let conn = Connection::open_tls(&host, port, &self.bounded(options), &tls, ca.as_deref(), &check)?;
        tracing::debug!(%host, port, "connected with TLS");
        self.push(conn)
    }

    fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<Connection>, TransportError> {
        self.ctx
            .policy
            .check(&Request::Exec { command: &command })
            .map_err(TransportError::Denied)?;
        let conn = Connection::open_process(&command, &self.bounded(options))?;
        tracing::debug!(%command, "started");
        self.push(conn)
    }
}

impl transport::HostConnection for WasimapCtxView<'_> {
    fn read(&mut self, conn: Resource<Connection>, max: u32) -> Result<Vec<u8>, TransportError> {
        self.conn(&conn)?.read(max)
    }

    fn write(&mut self, conn: Resource<Connection>, data: Vec<u8>) -> Result<(), TransportError> {
        self.conn(&conn)?.write(&data)
    }

    fn shutdown(&mut self, conn: Resource<Connection>) {
        if let Ok(c) = self.conn(&conn) {
            c.shutdown();
        }
    }

    fn start_tls(&mut self, conn: Resource<Connection>, host: String, tls: TlsOptions) -> Result<(), TransportError> {
        let ca = self.ca_file(&tls)?;
        self.conn(&conn)?.start_tls(&host, &tls, ca.as_deref())
    }

    fn is_tls(&mut self, conn: Resource<Connection>) -> bool {
        self.table.get(&conn).is_ok_and(Connection::is_tls)
    }

    fn set_read_timeout(&mut self, conn: Resource<Connection>, ms: Option<u32>) -> Result<(), TransportError> {
        let ms = ms.or(self.max_blocking_ms());
        self.conn(&conn)?.set_read_timeout(crate::transport::duration(ms))
    }

    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        let mut c = self.table.delete(conn)?;
        c.shutdown();
        Ok(())
    }
}
