//! Arbitrary bytes into every typed parser, as one response and split
//! into imaplib's `(header, literal)` shape: a value or an error, never a
//! panic, a hang or deep recursion. A FETCH that parses must survive the
//! round trip through `render`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasimap_protocol::typed::{self, render};
use wasimap_protocol::DataItem;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&c| c == 0xff).unwrap_or(data.len());
    let items = if split < data.len() {
        vec![
            DataItem::Literal(data[..split].to_vec(), data[split + 1..].to_vec()),
            DataItem::Bytes(b")".to_vec()),
        ]
    } else {
        vec![DataItem::Bytes(data.to_vec())]
    };
    if let Ok(messages) = typed::parse_fetch(&items) {
        for m in &messages {
            assert_eq!(typed::parse_fetch(&render::fetch(m)).unwrap(), vec![m.clone()]);
        }
    }
    let _ = typed::parse_list(&items);
    let _ = typed::parse_status(&items);
    let _ = typed::parse_search(&items);
    let _ = typed::parse_esearch(&items);
    let _ = typed::parse_thread(&items);
    let _ = typed::parse_quota(&items);
    let _ = typed::parse_quotaroot(&items);
    let _ = typed::parse_acl(&items);
    let _ = typed::parse_myrights(&items);
    let _ = typed::parse_namespace(&items);
    let _ = typed::parse_copyuid(&items);
    let _ = typed::parse_appenduid(&items);
    if let Ok(s) = std::str::from_utf8(data) {
        // Decoding is lenient (adjacent shifts such as `&AOk-&AOk-` are
        // read), so the property is that the canonical form decodes alike.
        if let Ok(text) = typed::mutf7::decode(s) {
            assert_eq!(typed::mutf7::decode(&typed::mutf7::encode(&text)).unwrap(), text);
        }
    }
    let _ = typed::header::decode(data);
});
