//! The store data of a plugin run, and the `transport` import over it.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::wasimap::imap::{transport, types};
use crate::bindings::{ConnectOptions, TlsOptions, TransportError};
use crate::policy::{Policy, Request};
use crate::transport::Connection;

/// Everything a running plugin's store holds.
pub struct HostState {
    /// WASI: stdio, clocks, random; no filesystem, environment or sockets.
    pub wasi: WasiCtx,
    /// Resource handles owned by the guest.
    pub table: ResourceTable,
    /// What the user granted.
    pub policy: Policy,
    /// Memory limits of the store.
    pub limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn table_error(e: wasmtime::component::ResourceTableError) -> TransportError {
    TransportError::Io(format!("invalid connection handle: {e}"))
}

impl types::Host for HostState {}

impl HostState {
    /// Reads the CA file named in TLS options, if any, after checking the
    /// permission. File contents never appear in errors.
    fn ca_file(&self, tls: &TlsOptions) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(path) = &tls.ca_file else { return Ok(None) };
        self.policy
            .check(&Request::ReadFile { path })
            .map_err(TransportError::Denied)?;
        std::fs::read(path)
            .map(Some)
            .map_err(|e| TransportError::Tls(format!("ca-file {path:?}: {e}")))
    }

    fn push(&mut self, conn: Connection) -> Result<Resource<Connection>, TransportError> {
        self.table.push(conn).map_err(table_error)
    }
}

impl transport::Host for HostState {
    fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<Connection>, TransportError> {
        self.policy
            .check(&Request::ConnectTcp { host: &host, port })
            .map_err(TransportError::Denied)?;
        let conn = Connection::open_tcp(&host, port, &options)?;
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
        self.policy
            .check(&Request::ConnectTls { host: &host, port })
            .map_err(TransportError::Denied)?;
        let ca = self.ca_file(&tls)?;
        let conn = Connection::open_tls(&host, port, &options, &tls, ca.as_deref())?;
        tracing::debug!(%host, port, "connected with TLS");
        self.push(conn)
    }

    fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<Connection>, TransportError> {
        self.policy
            .check(&Request::Exec { command: &command })
            .map_err(TransportError::Denied)?;
        let conn = Connection::open_process(&command, &options)?;
        tracing::debug!(%command, "started");
        self.push(conn)
    }
}

impl transport::HostConnection for HostState {
    fn read(&mut self, conn: Resource<Connection>, max: u32) -> Result<Vec<u8>, TransportError> {
        self.table.get_mut(&conn).map_err(table_error)?.read(max)
    }

    fn write(&mut self, conn: Resource<Connection>, data: Vec<u8>) -> Result<(), TransportError> {
        self.table.get_mut(&conn).map_err(table_error)?.write(&data)
    }

    fn shutdown(&mut self, conn: Resource<Connection>) {
        if let Ok(c) = self.table.get_mut(&conn) {
            c.shutdown();
        }
    }

    fn start_tls(&mut self, conn: Resource<Connection>, host: String, tls: TlsOptions) -> Result<(), TransportError> {
        let ca = self.ca_file(&tls)?;
        self.table
            .get_mut(&conn)
            .map_err(table_error)?
            .start_tls(&host, &tls, ca.as_deref())
    }

    fn set_read_timeout(&mut self, conn: Resource<Connection>, ms: Option<u32>) -> Result<(), TransportError> {
        self.table
            .get_mut(&conn)
            .map_err(table_error)?
            .set_read_timeout(crate::transport::duration(ms))
    }

    fn is_tls(&mut self, conn: Resource<Connection>) -> bool {
        self.table.get(&conn).is_ok_and(Connection::is_tls)
    }

    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        let mut c = self.table.delete(conn)?;
        c.shutdown();
        Ok(())
    }
}
