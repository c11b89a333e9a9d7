//! Host bindings of the `composed` world for the async embedding: every
//! import is an `async fn` on the host (a guest blocked in one suspends its
//! fiber), `instantiate_async` and `call_run` are async. The `types`
//! interface is the blocking bindings' own, so `TlsOptions` and
//! `ErrorKind` are one type; so are `timezone`, `progress` and `body`,
//! whose functions neither block nor suspend.

wasmtime::component::bindgen!({
    world: "composed",
    path: "../../wit",
    imports: { default: async },
    exports: { default: async },
    with: {
        "wasimap:imap/types": crate::bindings::wasimap::imap::types,
        "wasimap:imap/timezone": crate::bindings::wasimap::imap::timezone,
        "wasimap:imap/progress": crate::bindings::wasimap::imap::progress,
        "wasimap:imap/body": crate::bindings::wasimap::imap::body,
        "wasimap:imap/transport.connection": crate::asyncio::AsyncGuardedConnection,
    },
    require_store_data_send: true,
});

pub use wasimap::imap::transport::{ConnectOptions, TransportError};
