//! Host bindings generated from the `composed` world in `wit/`.

wasmtime::component::bindgen!({
    world: "composed",
    path: "../../wit",
    with: {
        "wasimap:imap/transport.connection": crate::conn::GuardedConnection,
        "wasimap:imap/body.body": crate::body::Body,
    },
    // A body past the run's budget stops the run, as memory growth does.
    imports: { "wasimap:imap/body": trappable },
});

pub use wasimap::imap::transport::{ConnectOptions, TransportError};
pub use wasimap::imap::types::TlsOptions;

/// Bindings of the `composed-watcher` world (`wasimap watch`): the same
/// imports as [`Composed`] (one linker serves both), plus the plugin's
/// `watch` export.
pub mod watcher {
    wasmtime::component::bindgen!({
        world: "composed-watcher",
        path: "../../wit",
        with: {
            "wasimap:imap/types": crate::bindings::wasimap::imap::types,
            "wasimap:imap/transport": crate::bindings::wasimap::imap::transport,
            "wasimap:imap/secrets": crate::bindings::wasimap::imap::secrets,
            "wasimap:imap/timezone": crate::bindings::wasimap::imap::timezone,
            "wasimap:imap/progress": crate::bindings::wasimap::imap::progress,
            "wasimap:imap/body": crate::bindings::wasimap::imap::body,
        },
    });

    pub use exports::wasimap::imap::watch::{Batch, Session, TlsMode};
}
