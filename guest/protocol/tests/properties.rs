//! Round-trip properties of the encoder and the framer (proptest).

use proptest::prelude::*;
use wasimap_protocol::encode::{decode_astring, encode, encode_search, is_quoted, ArgKind, Piece};
use wasimap_protocol::framing::Framer;
use wasimap_protocol::util::int2ap;

fn line_safe(b: &[u8]) -> bool {
    !b.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0))
}

proptest! {
    /// Whatever the argument, the server reads back exactly it (or the
    /// caller's own quoting), or the argument is refused for CR/LF/NUL.
    #[test]
    fn astrings_round_trip(arg in proptest::collection::vec(any::<u8>(), 0..200), utf8 in any::<bool>()) {
        match encode(&arg, ArgKind::Astring, utf8) {
            Err(_) => prop_assert!(!line_safe(&arg)),
            Ok(piece) => {
                let expected = if is_quoted(&arg, utf8) { decode_astring(&Piece::Text(arg.clone())) } else { Some(arg.clone()) };
                prop_assert_eq!(decode_astring(&piece), expected);
            }
        }
    }

    /// Text strings (the WIT arguments) in any position never put a line
    /// break or a literal marker on the command line outside a literal.
    #[test]
    fn no_argument_breaks_the_line(arg in ".{0,80}", kind in 0..5usize) {
        let kind = [ArgKind::Astring, ArgKind::ListMailbox, ArgKind::Password, ArgKind::Structural("x"), ArgKind::Raw][kind];
        if let Ok(Piece::Text(t)) = encode(arg.as_bytes(), kind, false) {
            prop_assert!(line_safe(&t));
            prop_assert!(!t.ends_with(b"}") || is_quoted(&t, false), "{:?}", String::from_utf8_lossy(&t));
        }
        if let Ok(pieces) = encode_search(&[b"SUBJECT", arg.as_bytes()], false) {
            for p in pieces {
                if let Piece::Text(t) = p {
                    prop_assert!(line_safe(&t));
                }
            }
        }
    }

    /// Lines and literals come out the same whatever the chunking.
    #[test]
    fn framing_ignores_chunking(input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'{'), Just(b'}'), Just(b'3'), any::<u8>()], 0..400), size in 1..17usize) {
        fn lines(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
            let mut f = Framer::new();
            let mut out = Vec::new();
            let mut it = chunks.iter();
            loop {
                match f.readline().unwrap() {
                    Some(l) if l.is_empty() => return out,
                    Some(l) => out.push(l),
                    None => match it.next() {
                        Some(c) => f.feed(c),
                        None => f.feed_eof(),
                    },
                }
            }
        }
        let chunked: Vec<&[u8]> = input.chunks(size).collect();
        prop_assert_eq!(lines(&[&input]), lines(&chunked));
    }

    /// Int2AP is base 16 with the digits A..P.
    #[test]
    fn int2ap_decodes_back(n in any::<u64>()) {
        let decoded = int2ap(n).iter().fold(0u128, |acc, &d| acc * 16 + u128::from(d - b'A'));
        prop_assert_eq!(decoded, u128::from(n));
    }
}
