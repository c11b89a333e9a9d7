//! `bench`: the wasm side of `just bench`.
//!
//! - `fetch PORT USER PASSWORD ITEMS`: FETCH 1:* through the client
//!   interface, counting bytes (the end-to-end case).
//! - `stream PORT USER PASSWORD ITEMS`: the same through the streaming,
//!   typed FETCH (one message held at a time).
//! - `peer PORT USER PASSWORD ITEMS`: async-imap's job in `e2e-async-imap`,
//!   written as a plugin author would with the SDK: `Client::stream`
//!   over 1:*, each message's body taken into memory and its length
//!   added up.
//! - `noop PORT USER PASSWORD N`: N NOOPs.
//! - `parse ITERATIONS`: the parse benchmark inputs through the protocol
//!   core compiled into this plugin, printing nanoseconds per iteration.
//! - `start`: returns at once (start-up time of `wasimap run`).

#[path = "../../../../tests/bench/src/inputs.rs"]
mod inputs;

use wasimap_sdk::bindings::wasimap::imap::client::Imap4;
use wasimap_sdk::bindings::wasimap::imap::types::ImapError;
use wasimap_sdk::{Body, Client, DataItem, FetchMessage, Plugin, SequenceSet};

struct Bench;

wasimap_sdk::export_plugin!(Bench);

fn err(e: ImapError) -> String {
    format!("{e:?}")
}

fn session(a: &[String]) -> Result<Imap4, String> {
    let imap = Imap4::open_tcp("127.0.0.1", a[1].parse().map_err(|_| "port")?, Some(60.0)).map_err(err)?;
    imap.login(&a[2], &a[3]).map_err(err)?;
    Ok(imap)
}

/// The bench's ITEMS, `(RFC822)`, as `Client::stream` takes them.
fn bare(items: &str) -> &str {
    items.trim_start_matches('(').trim_end_matches(')')
}

/// The length of a message's body data, taken into this plugin's memory
/// as a program that uses the bytes must: one memcpy from the host each.
fn body_bytes(m: FetchMessage) -> usize {
    m.sections
        .into_iter()
        .filter_map(|s| s.data)
        .map(|d| Body::into_bytes(d).len())
        .sum()
}

/// async-imap's job with the SDK: stream, take each body, add up lengths.
fn peer(a: &[String]) -> Result<(), String> {
    let imap = Client::connect_tcp("127.0.0.1", a[1].parse().map_err(|_| "port")?)?;
    imap.login(&a[2], &a[3])?;
    imap.examine("INBOX")?;
    let (mut count, mut bytes) = (0, 0);
    for m in imap.stream(&SequenceSet::all(), bare(&a[4]), false)? {
        let m = m?;
        count += 1;
        bytes += body_bytes(m);
    }
    imap.logout()?;
    println!("{count} messages, {bytes} bytes");
    Ok(())
}

impl Plugin for Bench {
    fn run(a: Vec<String>) -> Result<(), String> {
        match a.first().map(String::as_str) {
            Some("fetch") => {
                let imap = session(&a)?;
                imap.select(Some("INBOX"), true).map_err(err)?;
                let r = imap.fetch("1:*", &a[4]).map_err(err)?;
                let (mut count, mut bytes) = (0, 0);
                for d in &r.data {
                    match d {
                        DataItem::Literal((_, body)) => {
                            count += 1;
                            bytes += body.len();
                        }
                        DataItem::Bytes(b) if !b.starts_with(b")") => count += 1,
                        _ => {}
                    }
                }
                drop(r);
                imap.logout().map_err(err)?;
                println!("{count} messages, {bytes} bytes");
                Ok(())
            }
            Some("stream") => {
                let imap = session(&a)?;
                imap.select(Some("INBOX"), true).map_err(err)?;
                let stream = imap.fetch_stream("1:*", &a[4], false).map_err(err)?;
                let (mut count, mut bytes) = (0, 0);
                while let Some(m) = stream.next().map_err(err)? {
                    count += 1;
                    bytes += body_bytes(m);
                }
                drop(stream);
                imap.logout().map_err(err)?;
                println!("{count} messages, {bytes} bytes");
                Ok(())
            }
            Some("noop") => {
                let imap = session(&a)?;
                let n: usize = a[4].parse().map_err(|_| "count")?;
                for _ in 0..n {
                    imap.noop().map_err(err)?;
                }
                imap.logout().map_err(err)?;
                println!("{n} NOOPs");
                Ok(())
            }
            Some("peer") => peer(&a),
            Some("start") => Ok(()),
            Some("parse") => {
                let iterations: u32 = a.get(1).and_then(|n| n.parse().ok()).unwrap_or(200);
                print!("{}", inputs::timed_parse_report(iterations));
                Ok(())
            }
            _ => Err(
                "usage: bench fetch|stream|peer|noop PORT USER PASSWORD ITEMS|N, or bench parse [ITERATIONS]".into(),
            ),
        }
    }
}
