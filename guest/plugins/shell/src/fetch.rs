//! A FETCH answered as it arrives: its items are written one FETCH
//! response at a time, so the shell holds one message, not the mailbox,
//! and message bytes come from the host as a `body` (one memcpy) instead
//! of a `list<u8>` copied element by element. The line's keys come
//! `"data"` first, then `"typ"` (or the error's keys when the command
//! fails midway); docs/shell.md defines it.

use std::io::Write;

use serde_json::json;
use wasimap_protocol::scan::{bytes_below, splat, zero_bytes, HIGH_BITS};

use crate::wasimap::imap::body::Body;
use crate::wasimap::imap::client::{FetchItem, FetchStep, Imap4};
use crate::{error_fields, Args, Failure};

/// The FETCH a line asks for, if the shell streams it: `["fetch", set,
/// parts]` and `["uid", "FETCH", set, parts]`. Other shapes (a FETCH with
/// modifiers after the items) go through the ordinary path.
pub(crate) fn streamed(method: &str, a: &Args<'_>) -> Option<(String, String, bool)> {
    let strings = |from: usize| -> Option<(String, String)> {
        match &a.0[from.min(a.0.len())..] {
            [set, parts] => Some((set.as_str()?.to_owned(), parts.as_str()?.to_owned())),
            _ => None,
        }
    };
    match method {
        "fetch" => strings(0).map(|(s, p)| (s, p, false)),
        "uid" if a.0.first()?.as_str()?.eq_ignore_ascii_case("FETCH") => strings(1).map(|(s, p)| (s, p, true)),
        _ => None,
    }
}

/// Runs the FETCH and writes its answer line to `out`. A failure before
/// the first item is returned, to be answered as any other line.
pub(crate) fn answer(imap: &Imap4, out: &mut impl Write, set: &str, parts: &str, uid: bool) -> Result<(), Failure> {
    let stream = imap.fetch_items(set, parts, uid)?;
    let mut line = Vec::with_capacity(1 << 16);
    line.extend_from_slice(b"{\"data\":[");
    let mut count = 0usize;
    let end = loop {
        match stream.next() {
            Ok(FetchStep::Items(items)) => {
                for item in items {
                    if count > 0 {
                        line.push(b',');
                    }
                    count += 1;
                    match item {
                        FetchItem::Line(b) => push_bytes(&mut line, &b),
                        FetchItem::Literal((header, body)) => {
                            line.push(b'[');
                            push_bytes(&mut line, &header);
                            line.push(b',');
                            push_bytes(&mut line, &Body::into_bytes(body));
                            line.push(b']');
                        }
                    }
                }
                // The message is out of this plugin's memory before the
                // next one comes in.
                let _ = out.write_all(&line);
                line.clear();
            }
            Ok(FetchStep::Done(r)) => break Ok(r),
            // Nothing written yet: the line is an ordinary error line.
            Err(e) if count == 0 => return Err(e.into()),
            Err(e) => break Err(Failure::from(e)),
        }
    };
    if count == 0 {
        // imaplib's `[None]`: no FETCH data.
        line.extend_from_slice(b"null");
    }
    line.push(b']');
    let tail = match end {
        Ok(r) if r.typ == "OK" => json!({ "typ": r.typ }),
        // imaplib returns the NO's text as the data; here the items that
        // came before it are the data, and its text is `"text"`.
        Ok(r) => json!({ "typ": r.typ, "text": crate::items(&r.data) }),
        Err(f) => error_fields(f),
    };
    // `tail` is an object: its members follow `"data"` in the same object.
    let tail = tail.to_string();
    line.push(b',');
    line.extend_from_slice(&tail.as_bytes()[1..]);
    line.push(b'\n');
    let _ = out.write_all(&line);
    let _ = out.flush();
    Ok(())
}

/// `{"b":"..."}` with each byte as the code point of the same number
/// (latin-1), escaped as JSON: what `crate::bytes` gives, without building
/// a `String` and a `Value` for each message. Eight bytes at a time while
/// none needs escaping, as in most of a message's text.
fn push_bytes(line: &mut Vec<u8>, b: &[u8]) {
    line.reserve(b.len() + b.len() / 8 + 10);
    line.extend_from_slice(b"{\"b\":\"");
    let mut plain = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(word) = b.get(i..i + 8) {
            if !needs_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(b.len());
        for (j, &c) in b.iter().enumerate().take(end).skip(i) {
            if !(0x20..=0x7f).contains(&c) || c == b'"' || c == b'\\' {
                line.extend_from_slice(&b[plain..j]);
                push_escaped(line, c);
                plain = j + 1;
            }
        }
        i = end;
    }
    line.extend_from_slice(&b[plain..]);
    line.extend_from_slice(b"\"}");
}

/// Whether any of the eight bytes of `word` is a control character, `"`,
/// `\` or above 0x7f (each test exact as to whether a byte matches).
fn needs_escape(word: u64) -> bool {
    let control = bytes_below(word, 0x20);
    let quote = zero_bytes(word ^ splat(b'"'));
    let backslash = zero_bytes(word ^ splat(b'\\'));
    (control | quote | backslash | (word & HIGH_BITS)) != 0
}

/// Byte `c` as JSON writes the code point U+00cc inside a string, for a
/// byte that does not stand for itself.
fn push_escaped(line: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => line.extend_from_slice(b"\\\""),
        b'\\' => line.extend_from_slice(b"\\\\"),
        b'\n' => line.extend_from_slice(b"\\n"),
        b'\r' => line.extend_from_slice(b"\\r"),
        b'\t' => line.extend_from_slice(b"\\t"),
        0x08 => line.extend_from_slice(b"\\b"),
        0x0c => line.extend_from_slice(b"\\f"),
        0..=0x1f => line.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 15)],
        ]),
        // U+0080..U+00FF in UTF-8.
        _ => line.extend_from_slice(&[0xc0 | (c >> 6), 0x80 | (c & 0x3f)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_written_as_serde_json_writes_them() {
        let all: Vec<u8> = (0..=255).collect();
        // Every byte value at every offset of an eight-byte word, between
        // plain runs of every length up to two words.
        let mut mixed = Vec::new();
        for (i, &c) in all.iter().cycle().take(1024).enumerate() {
            mixed.extend(std::iter::repeat_n(b'a', i % 17));
            mixed.push(c);
        }
        for sample in [
            &all[..],
            &mixed[..],
            b"",
            b"plain",
            b"exactly8",
            b"sixteen plain by",
            b"a\"b\\c\r\n\x7f\xe9\x00",
        ] {
            let mut line = Vec::new();
            push_bytes(&mut line, sample);
            assert_eq!(String::from_utf8(line).unwrap(), crate::bytes(sample).to_string());
        }
    }
}
