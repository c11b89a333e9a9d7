//! The async embedding: for platforms that run wasmtime on tokio.
//!
//! [`crate::add_to_linker_async`] is [`crate::add_to_linker`] with async
//! transports: tokio TCP, tokio-rustls and tokio child processes
//! ([`AsyncConnection`]). A plugin waiting for its server suspends its
//! fiber and gives the worker thread back to the runtime, so a handful of
//! threads serve any number of plugin instances. Instantiate and call
//! `run` with [`crate::bindings::call_run_async`] (or use
//! [`crate::Runner::run_async`]).
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
//! wasimap_sandbox::add_to_linker_async(linker)?;
//! # Ok(()) }
//! ```
//!
//! The runtime must have its I/O and time drivers enabled
//! (`enable_all()`); child processes need tokio's signal handling, which
//! `enable_all()` includes.

mod stream;

use crate::conn::GuardedConnection;

pub use self::stream::AsyncConnection;

/// The `connection` resource of the async embedding.
pub type AsyncGuardedConnection = GuardedConnection<AsyncConnection>;
