//! # wasimap-protocol
//!
//! Python's `imaplib` rebuilt in Rust: a sans-IO IMAP4rev1 core — the
//! [`client`] state machine over the response store ([`session`]), the
//! framer ([`framing`]) and the argument encoder ([`encode`]), with every
//! method declared once in the command table ([`commands`]) — imaplib's
//! blocking `IMAP4` as a thin driver of it over any byte [`Transport`]
//! ([`imap4`]), imaplib's utility functions ([`util`]), and typed views of
//! its raw results ([`typed`]).
//!
//! The crate has no WIT glue: the protocol component is `guest/component`
//! (`wasimap-component`), which exports the WIT `client` interface over this
//! core. Plugins and benchmarks that link the core depend on this crate and
//! so can never pick up the component's imports. Built natively it is an
//! ordinary library, so unit tests, fuzzing and benchmarks need no wasm.

pub mod client;
pub mod commands;
pub mod encode;
pub mod error;
pub mod framing;
pub mod imap4;
pub mod pyrepr;
pub mod sasl;
pub mod scan;
pub mod session;
pub mod typed;
pub mod util;

pub use client::Client;
pub use error::{ErrorClass, ErrorKind, ImapError, Result};
pub use imap4::{Imap4, Transport, TransportError};
pub use session::State;

/// One element of an imaplib data list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataItem {
    /// Python's `None`.
    None,
    /// A response line without CRLF.
    Bytes(Vec<u8>),
    /// `(header, literal)`: a line that announced a literal, and the literal.
    Literal(Vec<u8>, Vec<u8>),
}

impl DataItem {
    /// The line bytes of the item (the header for a literal; empty for None).
    pub fn first_bytes(&self) -> &[u8] {
        match self {
            DataItem::None => b"",
            DataItem::Bytes(b) | DataItem::Literal(b, _) => b,
        }
    }

    /// Python truthiness: `None` and `b''` are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            DataItem::None => false,
            DataItem::Bytes(b) => !b.is_empty(),
            DataItem::Literal(..) => true,
        }
    }
}

/// imaplib's `(typ, [data, ...])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Completion status or response name.
    pub typ: String,
    /// The data list.
    pub data: Vec<DataItem>,
}

impl Response {
    /// Builds a response.
    pub fn new(typ: impl Into<String>, data: Vec<DataItem>) -> Self {
        Response { typ: typ.into(), data }
    }
}
