//! Any argument either is refused (CR, LF, NUL) or encodes to something the
//! astring parser reads back as exactly the argument.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasimap_protocol::encode::{decode_astring, encode, ArgKind};

fuzz_target!(|data: &[u8]| {
    for (kind, utf8) in [(ArgKind::Astring, false), (ArgKind::Astring, true), (ArgKind::Password, false)] {
        match encode(data, kind, utf8) {
            Err(_) => assert!(data.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0))),
            Ok(piece) => {
                let decoded = decode_astring(&piece);
                // A caller's own quoting passes unchanged and is read as such.
                let expected = if kind == ArgKind::Astring && wasimap_protocol::encode::is_quoted(data, utf8) {
                    decode_astring(&wasimap_protocol::encode::Piece::Text(data.to_vec()))
                } else {
                    Some(data.to_vec())
                };
                assert_eq!(decoded, expected, "{piece:?}");
            }
        }
    }
});
