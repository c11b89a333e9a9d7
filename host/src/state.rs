//! The store data of a plugin run, and the `transport` import over it.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::wasimap::imap::transport;
use crate::bindings::{ConnectOptions, TransportError};
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
        self.table.push(conn).map_err(table_error)
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

    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        let mut c = self.table.delete(conn)?;
        c.shutdown();
        Ok(())
    }
}
