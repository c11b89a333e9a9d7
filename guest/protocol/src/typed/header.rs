//! Header text for people: RFC 2047 encoded words (`=?charset?B|Q?...?=`)
//! and raw 8-bit UTF-8, as ENVELOPE fields and display names carry them.

use base64::Engine;

/// Decodes `value`. Encoded words in UTF-8, US-ASCII, ISO-8859-1 and
/// Windows-1252 are decoded (whitespace between two encoded words is
/// dropped, as RFC 2047 says); others, and malformed ones, stay as written.
pub fn decode(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    let mut last_was_word = false;
    let mut gap = String::new();
    while i < value.len() {
        if value[i..].starts_with(b"=?") {
            if let Some((text, used)) = encoded_word(&value[i..]) {
                if !last_was_word {
                    out.push_str(&gap);
                }
                gap.clear();
                out.push_str(&text);
                i += used;
                last_was_word = true;
                continue;
            }
        }
        let ws_end = i + value[i..]
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        if ws_end > i {
            gap.push_str(&String::from_utf8_lossy(&value[i..ws_end]).replace(['\r', '\n'], ""));
            i = ws_end;
            continue;
        }
        out.push_str(&gap);
        gap.clear();
        let next = value[i + 1..]
            .iter()
            .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'='))
            .map_or(value.len(), |p| i + 1 + p);
        out.push_str(&String::from_utf8_lossy(&value[i..next]));
        i = next;
        last_was_word = false;
    }
    out.push_str(&gap);
    out
}

/// One encoded word at the start of `b`: its text and length.
fn encoded_word(b: &[u8]) -> Option<(String, usize)> {
    let body = &b[2..];
    let q1 = body.iter().position(|&c| c == b'?')?;
    let charset = std::str::from_utf8(&body[..q1]).ok()?;
    // RFC 2231 language suffix: `UTF-8*en`.
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    let enc = *body.get(q1 + 1)?;
    if body.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let data_start = q1 + 3;
    // Encoded text holds neither `?` nor whitespace: scanning stops at the
    // first of them, so a value full of unterminated `=?` stays linear.
    let data_len = body[data_start..]
        .iter()
        .position(|&c| c == b'?' || c.is_ascii_whitespace())?;
    if body[data_start + data_len] != b'?' || body.get(data_start + data_len + 1) != Some(&b'=') {
        return None;
    }
    let data = &body[data_start..data_start + data_len];
    let bytes = match enc.to_ascii_uppercase() {
        b'B' => base64::engine::general_purpose::STANDARD
            .decode(data)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(data))
            .ok()?,
        b'Q' => q_decode(data)?,
        _ => return None,
    };
    let text = match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8_lossy(&bytes).into_owned(),
        "iso-8859-1" | "latin1" | "iso8859-1" => bytes.iter().map(|&c| char::from(c)).collect(),
        "windows-1252" | "cp1252" => bytes.iter().map(|&c| cp1252(c)).collect(),
        _ => return None,
    };
    Some((text, 2 + data_start + data_len + 2))
}

fn q_decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(data.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Windows-1252: Latin-1 except 0x80..0x9F.
fn cp1252(c: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match c {
        0x80..=0x9f => HIGH[usize::from(c - 0x80)],
        _ => char::from(c),
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc2047_examples() {
        assert_eq!(decode(b"=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
        assert_eq!(decode(b"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
        assert_eq!(decode(b"=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(decode(b"=?UTF-8?B?w6l0w6k=?="), "été");
        assert_eq!(decode(b"=?utf-8?q?caf=C3=A9_au_lait?="), "café au lait");
        assert_eq!(decode("Grüße direkt".as_bytes()), "Grüße direkt");
        assert_eq!(decode(b"=?x-unknown?Q?a?= = b"), "=?x-unknown?Q?a?= = b");
        assert_eq!(decode(b"=?windows-1252?Q?=80?="), "€");
    }

    #[test]
    fn unterminated_words_stay_linear() {
        // Quadratic scanning would take minutes here.
        let hostile = b"=?a?Q?x".repeat(300_000);
        let start = std::time::Instant::now();
        assert_eq!(decode(&hostile).len(), hostile.len());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
