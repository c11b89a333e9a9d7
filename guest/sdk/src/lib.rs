//! # wasimap-sdk
//!
//! Write wasimap plugins in Rust. The generated bindings of the
//! `wasimap:imap/plugin` world are in [`bindings`]; this crate wraps them
//! in what Rust code expects: a [`Client`] whose methods return
//! `Result<T, Error>` with typed values, an iterator over a streaming
//! FETCH ([`Messages`]), builders for search criteria ([`Search`]) and
//! sequence sets ([`SequenceSet`]), helpers for addresses, headers and
//! dates ([`mail`]), and a progress bar for long jobs ([`Progress`]).
//!
//! A plugin is a `cdylib` crate that implements [`Plugin`] and exports it:
//!
//! ```ignore
//! use wasimap_sdk::{Client, Plugin, Search};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn run(args: Vec<String>) -> Result<(), String> {
//!         let mut imap = Client::connect_tcp("127.0.0.1", 143)?;
//!         imap.login("alice", "secret")?;
//!         let count = imap.examine("INBOX")?;
//!         let unseen = imap.search(&Search::new().unseen())?;
//!         println!("INBOX: {count} messages, {} unseen", unseen.len());
//!         imap.logout()?;
//!         Ok(())
//!     }
//! }
//!
//! wasimap_sdk::export_plugin!(Hello);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and run it
//! with `wasimap run --allow 127.0.0.1:143 hello.wasm`. Everything the
//! wrappers do not cover is on [`Client::raw`], imaplib's full method set.

/// The plugin's global allocator, with the default feature
/// `small-object-allocator`: free lists for objects of up to 512 bytes
/// (`wasimap-alloc`), since every string and list of a typed record is
/// allocated in the plugin as it crosses, and dlmalloc was a large part of
/// a typed fetch's cost. A plugin that wants its own allocator turns the
/// feature off (`default-features = false`).
#[cfg(all(target_arch = "wasm32", feature = "small-object-allocator"))]
#[global_allocator]
static ALLOCATOR: wasimap_alloc::SmallObjects = wasimap_alloc::SmallObjects::new();

/// The generated bindings of the `plugin` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "wasimap_sdk::bindings",
    });
}

/// The generated bindings of the `watcher` world: the `plugin` world's
/// imports (the same types as [`bindings`]) plus the `watch` export.
#[allow(missing_docs, clippy::all)]
pub mod watch_bindings {
    wit_bindgen::generate!({
        world: "watcher",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_watcher_world",
        default_bindings_module: "wasimap_sdk::watch_bindings",
        with: {
            "wasimap:imap/types@0.1.0": crate::bindings::wasimap::imap::types,
            "wasimap:imap/typed@0.1.0": crate::bindings::wasimap::imap::typed,
            "wasimap:imap/client@0.1.0": crate::bindings::wasimap::imap::client,
            "wasimap:imap/progress@0.1.0": crate::bindings::wasimap::imap::progress,
            "wasimap:imap/body@0.1.0": crate::bindings::wasimap::imap::body,
        },
    });
}

mod args;
mod client;
mod error;
pub mod mail;
mod progress;
mod search;
mod seqset;
pub mod watch;

pub use args::Args;
pub use bindings::wasimap::imap::body::Body;
pub use bindings::wasimap::imap::client::Imap4;
pub use bindings::wasimap::imap::typed::{
    Address, BodyPart, BodySection, Envelope, FetchMessage, ListEntry, MailboxStatus, SeqRange,
};
pub use bindings::wasimap::imap::types::{DataItem, Response, TlsOptions};
pub use bindings::Guest as Plugin;
pub use client::{take_section, Client, Messages, MoveMethod};
pub use error::{Detail, Error, ErrorKind, Result};
pub use progress::Progress;
pub use search::Search;
pub use seqset::SequenceSet;

/// The typed-results functions (`parse-fetch`, `mutf7-decode`, ...).
pub use bindings::wasimap::imap::typed;

/// Exports a type implementing [`Plugin`] and [`watch::Watcher`] as a
/// watcher plugin: `run` and `watch.handle` (world `wasimap:imap/watcher`).
#[macro_export]
macro_rules! export_watcher {
    ($plugin:ident) => {
        $crate::watch_bindings::__export_watcher_world!($plugin with_types_in $crate::watch_bindings);
    };
}

/// Exports a type implementing [`Plugin`] as the plugin's `run`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ident) => {
        $crate::bindings::__export_plugin_world!($plugin with_types_in $crate::bindings);
    };
}
