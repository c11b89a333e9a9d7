//! Host bindings generated from the `composed` world in `wit/`.

wasmtime::component::bindgen!({
    world: "composed",
    path: "../wit",
    with: {
        "wasimap:imap/transport.connection": crate::conn::GuestConnection,
    },
});

pub use wasimap::imap::transport::{ConnectOptions, TransportError};
pub use wasimap::imap::types::TlsOptions;
