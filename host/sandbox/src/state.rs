//! The store data of a plugin run under `wasimap run`.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::view::{WasimapCtx, WasimapCtxView, WasimapView};

/// Everything a running plugin's store holds.
pub struct HostState {
    /// WASI: arguments, stdio, clocks, random; no filesystem, environment
    /// or sockets.
    pub wasi: WasiCtx,
    /// Resource handles owned by the guest (WASI's and wasimap's).
    pub table: ResourceTable,
    /// Grants and secrets.
    pub wasimap: WasimapCtx,
    /// Memory and count limits of the store.
    pub limits: crate::limits::StoreLimiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasimapView for HostState {
    fn wasimap(&mut self) -> WasimapCtxView<'_> {
        WasimapCtxView {
            ctx: &mut self.wasimap,
            table: &mut self.table,
        }
    }
}
