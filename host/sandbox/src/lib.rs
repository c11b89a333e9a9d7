//! # wasimap-sandbox
//!
//! The native side of wasimap: it composes a plugin with the embedded
//! protocol component, runs it under wasmtime with WASI limited to stdio,
//! clocks and random, and implements the host's imports (`transport`,
//! `secrets`, `timezone`, `progress`, `body`, and `lend` for `wasimap
//! watch`), subject to a deny-by-default [`Policy`].
//!
//! Two embeddings share one sandbox: [`add_to_linker`] with blocking
//! transports, and [`add_to_linker_async`] with tokio transports for
//! platforms that run wasmtime on an async runtime. One private module
//! names the types `bindgen!` generates; everything public is native.
//!
//! ## The public API
//!
//! - **Your own wasmtime setup**: [`WasimapCtx`] in your store data,
//!   [`WasimapView`] on it, [`add_to_linker`] or [`add_to_linker_async`],
//!   [`sleep::add_to_linker`] (sleeps ended by the deadline),
//!   [`compose::compose`] with [`PROTOCOL_COMPONENT`], then [`call_run`]
//!   or [`call_run_async`]; [`limits`] for the store's limiter and the
//!   transport's counts (`examples/embed.rs`).
//! - **Running plugins the way `wasimap run` does**: [`Runner`] and
//!   [`RunnerConfig`] (engine, artifact cache, limits, a fresh store per
//!   run), [`runner::Stdio`], [`runner::Outcome`], [`runner::RunError`].
//! - **What a plugin may reach**: [`Policy`] and [`policy`] (grants, and
//!   [`policy::Denial`], a refusal as data you word with a
//!   [`policy::Wording`]), [`Secrets`] and [`SecretSource`] ([`secrets`]: where each
//!   may be revealed), [`TlsTrust`] ([`trust`]: CAs, unverified endpoints),
//!   [`manifest`] (the same grants from a TOML file).
//! - **Showing a plugin's output**: [`progress`] (a [`progress::ProgressDisplay`]
//!   you supply) and [`terminal`] (escaping what plugins and servers wrote).
//! - **For `wasimap-watch`**: [`batch`], [`conn`] (the guarded connection
//!   every path uses), [`lend`], [`fair`], [`private_dir`] and
//!   [`transport`], with [`Runner::handle_batch`] and
//!   [`Runner::load_watcher`].

mod asyncio;
pub mod batch;
mod bindings;
mod body;
mod cache;
pub mod compose;
pub mod conn;
mod echo;
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
mod state;
mod stdio;
pub mod terminal;
mod timezone;
pub mod transport;
pub mod trust;
mod view;

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
