//! # wasimap-sandbox
//!
//! The native side of wasimap: it composes a plugin with the embedded
//! protocol component, runs it under wasmtime with WASI limited to stdio,
//! clocks and random, and implements the `wasimap:imap/transport` import
//! over TCP, subject to a deny-by-default [`policy::Policy`], and
//! `wasimap:imap/progress` with a progress bar on a terminal ([`progress`]).
//!
//! Two embeddings share one sandbox: [`add_to_linker`] with blocking
//! transports, and [`add_to_linker_async`] with tokio transports
//! for platforms that run wasmtime on an async runtime. Only [`bindings`]
//! names the types `bindgen!` generates; everything else is native.

pub mod asyncio;
pub mod batch;
pub mod bindings;
pub mod body;
pub mod cache;
pub mod compose;
pub mod conn;
pub mod echo;
pub mod fair;
pub mod lend;
pub mod limits;
pub mod manifest;
pub mod policy;
pub mod private_dir;
pub mod progress;
pub mod runner;
pub mod secrets;
pub mod sleep;
pub mod state;
pub mod stdio;
pub mod terminal;
pub mod timezone;
pub mod transport;
pub mod trust;
pub mod view;

pub use bindings::{add_to_linker, add_to_linker_async, call_run, call_run_async};
pub use policy::Policy;
pub use progress::Progress;
pub use runner::{Runner, RunnerConfig};
pub use secrets::{Endpoint, SecretSource, Secrets};
pub use trust::TlsTrust;
pub use view::{WasimapCtx, WasimapCtxView, WasimapView};

/// The protocol component (`guest/component` built for wasm32-wasip2,
/// world `protocol`), embedded at build time: what a plugin is composed
/// with for `wasimap run` and in an embedding.
pub const PROTOCOL_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wasimap_protocol.wasm"));

/// SHA-256 of [`PROTOCOL_COMPONENT`], hex, computed at build time.
pub const PROTOCOL_DIGEST: &str = include_str!(concat!(env!("OUT_DIR"), "/wasimap_protocol.sha256"));

/// The watcher's build of the protocol component (feature `watcher`,
/// world `protocol-watcher`): [`PROTOCOL_COMPONENT`] plus the `lend`
/// import, so `imap4.open-lent` can take the session `wasimap watch`
/// lends. Only [`Runner::load_watcher`] composes with it.
pub const PROTOCOL_WATCHER_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wasimap_protocol_watcher.wasm"));

/// SHA-256 of [`PROTOCOL_WATCHER_COMPONENT`], hex.
pub const PROTOCOL_WATCHER_DIGEST: &str = include_str!(concat!(env!("OUT_DIR"), "/wasimap_protocol_watcher.sha256"));
