//! Round-trip properties of the encoder and the framer (proptest).

use proptest::prelude::*;
use wasimap_protocol::encode::{decode_astring, encode, encode_search, is_quoted, ArgKind, Piece};
use wasimap_protocol::framing::Framer;
use wasimap_protocol::util::int2ap;

fn line_safe(b: &[u8]) -> bool {
    !b.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0))
}

/// Whether `t` ends with a literal announcement (`{N}` or `{N+}`), which a
/// server would act on if it ended the command line. A lone `}` is an atom
/// character and announces nothing.
fn ends_with_announcement(t: &[u8]) -> bool {
    let Some(body) = t.strip_suffix(b"}") else {
        return false;
    };
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && body[..body.len() - digits].ends_with(b"{")
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
            prop_assert!(!ends_with_announcement(&t), "{:?}", String::from_utf8_lossy(&t));
        }
        if let Ok(pieces) = encode_search(&[b"SUBJECT", arg.as_bytes()], false) {
            for p in pieces {
                if let Piece::Text(t) = p {
                    prop_assert!(line_safe(&t));
                }
            }
        }
    }

    /// Arguments that end in `}` (found by this property once: a lone `}`
    /// is sent as an atom) and ones that spell an announcement.
    #[test]
    fn closing_braces_and_announcements(arg in prop_oneof![Just("}"), Just("a}"), Just("{5}"), Just("x{5}"), Just("{5+}"), Just("x {12}")], kind in 0..5usize) {
        let kind = [ArgKind::Astring, ArgKind::ListMailbox, ArgKind::Password, ArgKind::Structural("x"), ArgKind::Raw][kind];
        if let Ok(Piece::Text(t)) = encode(arg.as_bytes(), kind, false) {
            prop_assert!(!ends_with_announcement(&t), "{:?}", String::from_utf8_lossy(&t));
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

proptest! {
    /// The typed parsers take any bytes without panicking; what parses as
    /// FETCH comes back unchanged from its rendering.
    #[test]
    fn typed_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        use wasimap_protocol::typed::{self, render};
        let items = vec![wasimap_protocol::DataItem::Bytes(data.clone())];
        if let Ok(ms) = typed::parse_fetch(&items) {
            for m in &ms {
                prop_assert_eq!(typed::parse_fetch(&render::fetch(m)).unwrap(), vec![m.clone()]);
            }
        }
        let _ = typed::parse_list(&items);
        let _ = typed::parse_status(&items);
        let _ = typed::parse_search(&items);
        let _ = typed::parse_esearch(&items);
        let _ = typed::parse_thread(&items);
        let _ = typed::parse_namespace(&items);
        let _ = typed::header::decode(&data);
    }

    /// Envelopes with any bytes in their strings (8-bit, quotes, CR LF,
    /// NUL: rendered as literals where needed) round-trip through the raw shape.
    #[test]
    fn envelopes_round_trip(
        subject in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        name in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        mailbox in "[a-z]{1,8}",
        seq in 1u32..100_000,
    ) {
        use wasimap_protocol::typed::{self, render, Address, Envelope, FetchMessage};
        let from = vec![Address { name, adl: None, mailbox: Some(mailbox.into_bytes()), host: Some(b"example.org".to_vec()) }];
        let m = FetchMessage {
            seq,
            envelope: Some(Envelope { subject, from: from.clone(), sender: from, ..Envelope::default() }),
            ..FetchMessage::default()
        };
        prop_assert_eq!(typed::parse_fetch(&render::fetch(&m)).unwrap(), vec![m]);
    }

    /// Modified UTF-7 encodes any text and decodes it back.
    #[test]
    fn mutf7_round_trips(name in "\\PC{0,30}") {
        use wasimap_protocol::typed::mutf7;
        let wire = mutf7::encode(&name);
        prop_assert!(wire.bytes().all(|c| (0x20..0x7f).contains(&c)));
        prop_assert_eq!(mutf7::decode(&wire).unwrap(), name);
    }
}
