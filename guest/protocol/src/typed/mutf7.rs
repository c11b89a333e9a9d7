//! Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).
//!
//! Printable ASCII stands for itself, `&` is `&-`, and everything else is
//! UTF-16 in base64 (with `,` for `/`) between `&` and `-`.

use base64::alphabet::Alphabet;
use base64::engine::{general_purpose::GeneralPurposeConfig, DecodePaddingMode, GeneralPurpose};
use base64::Engine;

use crate::{ImapError, Result};

fn engine() -> GeneralPurpose {
    let alphabet = Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
        .expect("64 distinct printable characters");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    )
}

/// Encodes a name.
pub fn encode(name: &str) -> String {
    let engine = engine();
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&engine.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a name.
///
/// # Errors
/// `error` for bad base64, odd byte counts, unpaired surrogates, a shift
/// holding printable ASCII, or a byte outside printable ASCII.
pub fn decode(name: &str) -> Result<String> {
    let bad = |why: &str| ImapError::error(format!("not modified UTF-7 ({why}): {name:?}"));
    let engine = engine();
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if !(' '..='~').contains(&c) {
            return Err(bad("a character outside printable ASCII"));
        }
        if c != '&' {
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let end = rest.find('-').ok_or_else(|| bad("a shift without `-`"))?;
        let shifted = &rest[1..end];
        rest = &rest[end + 1..];
        if shifted.is_empty() {
            out.push('&');
            continue;
        }
        let bytes = engine.decode(shifted).map_err(|_| bad("bad base64"))?;
        if bytes.len() % 2 != 0 {
            return Err(bad("odd number of bytes"));
        }
        let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
        let text = String::from_utf16(&units).map_err(|_| bad("unpaired surrogate"))?;
        if text.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(bad("a shift holding printable ASCII"));
        }
        out.push_str(&text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        for (text, wire) in [
            ("été", "&AOk-t&AOk-"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("😀", "&2D3eAA-"),
            ("INBOX", "INBOX"),
        ] {
            assert_eq!(encode(text), wire);
            assert_eq!(decode(wire).unwrap(), text);
        }
        for bad in ["&Jjo", "&AGE-", "&2D0-", "é", "&A-"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
