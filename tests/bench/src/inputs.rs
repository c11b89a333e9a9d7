//! The inputs of the parse benchmarks, generated the same way for every
//! contender; shared (by path) with the wasm bench plugin so native and
//! wasm parse the same bytes.

/// A 4 KB message body.
pub fn message(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!("From: sender{n}@example.org\r\nTo: bench@example.org\r\nSubject: message {n}\r\nMessage-ID: <{n}@bench>\r\n\r\n").into_bytes();
    while m.len() + 2 < size {
        m.extend_from_slice(b"lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n");
    }
    m.truncate(size - 2);
    m.extend_from_slice(b"\r\n");
    m
}

/// `* 1 FETCH (UID 1 RFC822 {4096}...)` and the tagged completion.
pub fn fetch_rfc822(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=count {
        let body = message(i, 4096);
        out.extend_from_slice(format!("* {i} FETCH (UID {i} RFC822 {{{}}}\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(b")\r\n");
    }
    out
}

/// `* N FETCH (FLAGS (...))` lines.
pub fn fetch_flags(count: usize) -> Vec<u8> {
    (1..=count)
        .flat_map(|i| format!("* {i} FETCH (FLAGS (\\Seen \\Answered $Forwarded))\r\n").into_bytes())
        .collect()
}

/// An ENVELOPE + BODYSTRUCTURE response as Dovecot 2.3 sends it (captured).
pub const ENVELOPE_BODYSTRUCTURE: &[u8] = b"* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE \"26-Nov-2026 07:10:13 +0000\" RFC822.SIZE 269 ENVELOPE (NIL \"=?UTF-8?B?w6k=?= seed\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL) BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL))\r\n";

/// `* SEARCH` with `count` numbers.
pub fn search(count: usize) -> Vec<u8> {
    let mut s = b"* SEARCH".to_vec();
    for i in 1..=count {
        s.extend_from_slice(format!(" {i}").as_bytes());
    }
    s.extend_from_slice(b"\r\n");
    s
}

/// `* LIST` lines for `count` mailboxes.
pub fn list(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| format!("* LIST (\\HasNoChildren) \"/\" \"Folder {i}/Sub\"\r\n").into_bytes())
        .collect()
}

/// The parse-benchmark inputs by name.
pub fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("fetch_rfc822_4k", fetch_rfc822(1)),
        ("fetch_flags", fetch_flags(1)),
        ("envelope_bodystructure", ENVELOPE_BODYSTRUCTURE.to_vec()),
        ("search_100k", search(100_000)),
        ("list_1000", list(1000)),
    ]
}

/// Parses every response in `input` with wasimap's session and then into
/// typed values (`typed::parse_fetch`, `parse_search`, `parse_list`),
/// which is what imap-proto and imap-codec produce; returns how many
/// responses were parsed.
pub fn wasimap_parse_typed(input: &[u8]) -> usize {
    use wasimap_protocol::session::{Poll, Session, State};
    use wasimap_protocol::typed;
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    s.set_untagged_limit(usize::MAX);
    s.framer().feed(input);
    while let Ok(Poll::Response(_)) = s.poll_response() {}
    let mut n = 0;
    for (typ, items) in s.untagged_responses() {
        n += match typ.as_str() {
            "FETCH" => typed::parse_fetch(items).map_or(0, |v| std::hint::black_box(v).len()),
            "LIST" => typed::parse_list(items).map_or(0, |v| std::hint::black_box(v).len()),
            "SEARCH" => typed::parse_search(items).map_or(0, |v| usize::from(!std::hint::black_box(v).ids.is_empty())),
            _ => 0,
        };
    }
    n
}

/// Parses every response in `input` with wasimap's session; returns how
/// many were stored.
pub fn wasimap_parse(input: &[u8]) -> usize {
    use wasimap_protocol::session::{Poll, Session, State};
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    s.set_untagged_limit(usize::MAX);
    s.framer().feed(input);
    let mut n = 0;
    while let Ok(Poll::Response(_)) = s.poll_response() {
        n += 1;
    }
    n
}

/// Times both parses of every input over `iterations` runs: one line
/// `name ns/iter count` for the raw parse and one `name/typed ...` for the
/// typed one. The native binary and the wasm bench plugin both print this,
/// so the two sides run the very same loop.
pub fn timed_parse_report(iterations: u32) -> String {
    let mut out = String::new();
    for (name, input) in inputs() {
        for (suffix, parse) in [
            ("", wasimap_parse as fn(&[u8]) -> usize),
            ("/typed", wasimap_parse_typed),
        ] {
            let start = std::time::Instant::now();
            let mut n = 0;
            for _ in 0..iterations {
                n += parse(std::hint::black_box(&input));
            }
            let ns = start.elapsed().as_nanos() / u128::from(iterations);
            out.push_str(&format!("{name}{suffix} {ns} {n}\n"));
        }
    }
    out
}
