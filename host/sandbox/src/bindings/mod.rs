//! The WIT edge: the only module that names a type `bindgen!` generates.
//!
//! In the manner of `wasmtime-wasi`'s `p2/network.rs`: the rest of the
//! sandbox speaks native types ([`crate::transport::ConnectOptions`],
//! [`crate::transport::TransportError`] with the core's
//! [`crate::transport::ErrorKind`], [`crate::trust::TlsOptions`],
//! the core's `StructTime` and `LocalOffset`, [`crate::batch::Batch`]), and this
//! module converts at the boundary with one exhaustive `From` per type
//! ([`convert`]) and implements every `Host` trait by calling native code
//! ([`blocking`], [`tokio`], [`shared`]). The only edges from the
//! generated code back into the crate are bindgen's `with:` resource
//! mappings ([`crate::conn::GuardedConnection`], [`crate::body::Body`]).
//!
//! The list of imports is the WIT world's: both embeddings link with the
//! generated world's own `add_to_linker`, so they define the same
//! interfaces (`tests/embeddings.rs` checks every world in `wit/` against
//! both linkers).

mod blocking;
mod convert;
mod shared;
mod tokio;

use wasmtime::component::{Component, HasData, Linker};
use wasmtime::Store;

use crate::view::{WasimapCtxView, WasimapView};

/// Host bindings generated from the `composed` world in `wit/`, blocking.
mod generated {
    wasmtime::component::bindgen!({
        world: "composed",
        path: "wit",
        with: {
            "wasimap:imap/transport.connection": crate::conn::GuardedConnection,
            "wasimap:imap/body.body": crate::body::Body,
        },
        // A body past the run's budget stops the run, as memory growth does;
        // a handle the host's table does not know traps (a host bug, never
        // an answer the guest should act on).
        imports: { "wasimap:imap/body": trappable, "wasimap:imap/secrets": trappable },
    });

    /// The `composed-watcher` world (`wasimap watch`): the imports of
    /// [`Composed`] and `lend` (the runner's one blocking linker has them
    /// all, and serves both worlds), plus the plugin's `watch` export.
    pub mod watcher {
        wasmtime::component::bindgen!({
            world: "composed-watcher",
            path: "wit",
            with: {
                "wasimap:imap/types": super::wasimap::imap::types,
                "wasimap:imap/transport": super::wasimap::imap::transport,
                "wasimap:imap/secrets": super::wasimap::imap::secrets,
                "wasimap:imap/timezone": super::wasimap::imap::timezone,
                "wasimap:imap/progress": super::wasimap::imap::progress,
                "wasimap:imap/body": super::wasimap::imap::body,
            },
        });
    }
}

/// The `composed` world for the async embedding: every import is an
/// `async fn` on the host (a guest blocked in one suspends its fiber). The
/// `types` interface is the blocking bindings' own, so `tls-options` and
/// `error-kind` are one type; so are `timezone`, `progress` and `body`,
/// whose functions neither block nor suspend.
mod generated_async {
    wasmtime::component::bindgen!({
        world: "composed",
        path: "wit",
        imports: { default: async, "wasimap:imap/secrets": async | trappable },
        exports: { default: async },
        with: {
            "wasimap:imap/types": super::generated::wasimap::imap::types,
            "wasimap:imap/timezone": super::generated::wasimap::imap::timezone,
            "wasimap:imap/progress": super::generated::wasimap::imap::progress,
            "wasimap:imap/body": super::generated::wasimap::imap::body,
            "wasimap:imap/transport.connection": crate::asyncio::AsyncGuardedConnection,
        },
        require_store_data_send: true,
    });
}

/// The [`HasData`] of the wasimap imports, sync and async alike.
struct WasimapData;

impl HasData for WasimapData {
    type Data<'a> = WasimapCtxView<'a>;
}

/// Adds every import of the `composed` world that is not WASI
/// (`wasimap:imap/{types,transport,secrets,timezone,progress,body}`) to
/// `linker`, with the blocking transports. For a tokio embedding see
/// [`add_to_linker_async`].
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    generated::Composed::add_to_linker::<T, WasimapData>(linker, T::wasimap)
}

/// [`add_to_linker`] with async transports: tokio TCP, tokio-rustls and
/// tokio child processes. The store's data implements [`WasimapView`]
/// exactly as for the blocking embedding; WASI goes in with
/// `wasmtime_wasi::p2::add_to_linker_async`.
///
/// # Errors
/// When the linker already defines them.
pub fn add_to_linker_async<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    generated_async::Composed::add_to_linker::<T, WasimapData>(linker, T::wasimap)
}

/// [`add_to_linker`] and `lend`, the import only a plugin composed for
/// `wasimap watch` has (world `composed-watcher`): the runner's blocking
/// linker, which runs both kinds.
pub(crate) fn add_to_linker_watcher<T: WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    generated::watcher::ComposedWatcher::add_to_linker::<T, WasimapData>(linker, T::wasimap)
}

/// Instantiates a composed plugin with `linker` (from [`add_to_linker`])
/// and calls its `run(args)`; the inner result is the plugin's own.
///
/// # Errors
/// Instantiation failed, or the call trapped (a limit, the deadline, a
/// panic in the plugin).
pub fn call_run<T: WasimapView + 'static>(
    store: &mut Store<T>,
    component: &Component,
    linker: &Linker<T>,
    args: &[String],
) -> wasmtime::Result<Result<(), String>> {
    generated::Composed::instantiate(&mut *store, component, linker)?.call_run(store, args)
}

/// [`call_run`] for a linker from [`add_to_linker_async`], on the
/// embedder's tokio runtime.
///
/// # Errors
/// As [`call_run`].
pub async fn call_run_async<T: WasimapView + 'static>(
    store: &mut Store<T>,
    component: &Component,
    linker: &Linker<T>,
    args: &[String],
) -> wasmtime::Result<Result<(), String>> {
    let instance = generated_async::Composed::instantiate_async(&mut *store, component, linker).await?;
    instance.call_run(store, args).await
}

/// Instantiates a composed watcher plugin and calls `watch.handle(batch)`.
///
/// # Errors
/// As [`call_run`].
pub(crate) fn call_handle<T: WasimapView + 'static>(
    store: &mut Store<T>,
    component: &Component,
    linker: &Linker<T>,
    batch: &crate::batch::Batch,
) -> wasmtime::Result<Result<(), String>> {
    let instance = generated::watcher::ComposedWatcher::instantiate(&mut *store, component, linker)?;
    instance.wasimap_imap_watch().call_handle(store, &batch.clone().into())
}
