//! Python's `repr()` of bytes and of imaplib data lists.
//!
//! imaplib puts `%r` of server data into its exception messages
//! (`unexpected response: b'...'`, `CREATE command error: BAD [b'...']`);
//! users match on those strings, so we print them the same way.

use crate::DataItem;

/// `repr(b)` for a `bytes` object.
pub fn bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// `repr` of at most `limit` bytes of `b`, with `...` and the full length
/// when it was cut, so a hostile megabyte line does not flood a log.
pub fn bytes_truncated(b: &[u8], limit: usize) -> String {
    bytes_truncated_of(b, b.len(), limit)
}

/// [`bytes_truncated`] of a value of `len` bytes of which `b` is the start
/// (at least `limit` of them when `len` is over the limit).
pub fn bytes_truncated_of(b: &[u8], len: usize, limit: usize) -> String {
    if len <= limit {
        bytes(&b[..len.min(b.len())])
    } else {
        format!("{}... ({len} bytes)", bytes(&b[..limit.min(b.len())]))
    }
}

/// `repr()` of one data item: `None`, `b'...'` or `(b'...', b'...')`.
pub fn item(d: &DataItem) -> String {
    match d {
        DataItem::None => "None".to_string(),
        DataItem::Bytes(b) => bytes(b),
        DataItem::Literal(h, l) => format!("({}, {})", bytes(h), bytes(l)),
    }
}

/// `repr()` of an imaplib data list.
pub fn list(items: &[DataItem]) -> String {
    let inner: Vec<String> = items.iter().map(item).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_repr_matches_python() {
        assert_eq!(bytes(b"abc"), "b'abc'");
        assert_eq!(bytes(b"it's"), "b\"it's\"");
        assert_eq!(bytes(b"it's \"q\""), "b'it\\'s \"q\"'");
        assert_eq!(bytes(b"a\r\n\t\\\x00\xff"), "b'a\\r\\n\\t\\\\\\x00\\xff'");
        assert_eq!(
            list(&[DataItem::None, DataItem::Literal(b"h".to_vec(), b"l".to_vec())]),
            "[None, (b'h', b'l')]"
        );
    }

    #[test]
    fn truncation_keeps_length() {
        let long = vec![b'a'; 10];
        assert_eq!(bytes_truncated(&long, 3), "b'aaa'... (10 bytes)");
    }
}
