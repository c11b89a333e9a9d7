//! The session's bounds against a hostile server (issue 28, findings 4
//! and 5, and `set-max-line`): untagged data still arriving counts
//! against the untagged limit, untagged storage is linear in the number
//! of distinct types and keeps imaplib's order, and the line limit is
//! validated.

use std::time::{Duration, Instant};

use wasimap_protocol::client::{Event, Wait};
use wasimap_protocol::framing::{MAXLINE, MAX_LINE_LIMIT};
use wasimap_protocol::session::{Poll, Session, State};
use wasimap_protocol::{Client, DataItem, ErrorClass, ErrorKind};

/// What a driver reads at once (`imap4::READ_CHUNK`).
const CHUNK: usize = 64 * 1024;

/// How much a hostile server sends before a test gives up: far more than
/// any limit here, little enough that code without the bound fails
/// instead of exhausting the machine.
const FLOOD: usize = 64 << 20;

/// A client past its greeting, in `state`, with `limit` bytes of untagged
/// room.
fn client(state: State, limit: usize, now: Instant) -> Client {
    let mut c = Client::new(0, 0);
    c.set_untagged_limit(limit);
    c.feed(b"* OK hi\r\n");
    assert_eq!(c.next(now).unwrap(), Event::Send(b"BAAA0 CAPABILITY\r\n".to_vec()));
    assert_eq!(c.next(now).unwrap(), Event::NeedInput(Wait::Default));
    c.feed(b"* CAPABILITY IMAP4rev1\r\nBAAA0 OK done\r\n");
    assert!(matches!(c.next(now).unwrap(), Event::Done(_)));
    c.force_state(state);
    c
}

/// Sends whatever is queued, then feeds the server's bytes in `CHUNK`s
/// as a driver does (one read, then `next` until it wants input), up to
/// `total` bytes of `body` after `head`. Returns the error that ended it
/// and the most the client ever held unparsed.
fn flood(c: &mut Client, head: &[u8], total: usize, now: Instant) -> (wasimap_protocol::ImapError, usize) {
    while let Event::Send(_) = c.next(now).unwrap() {}
    c.feed(head);
    let chunk = vec![b'x'; CHUNK];
    let mut most = 0;
    let mut sent = 0;
    while sent < total {
        c.feed(&chunk);
        sent += CHUNK;
        most = most.max(c.session().buffered());
        match c.next(now) {
            Ok(Event::NeedInput(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => return (e, most),
        }
    }
    panic!("{sent} bytes of a literal were taken without an error")
}

/// A literal announced as 1 GiB under a 4 MiB limit aborts as soon as
/// the buffered bytes pass the limit: the buffer never holds more than
/// the limit and one read, and the connection is closed for good.
#[test]
fn a_huge_literal_aborts_once_buffered_bytes_pass_the_limit() {
    let now = Instant::now();
    let limit = 4 << 20;
    let mut c = client(State::Selected, limit, now);
    c.noop().unwrap();
    let (e, most) = flood(&mut c, b"* 1 FETCH (BODY[] {1073741824}\r\n", FLOOD, now);
    assert_eq!((e.class(), e.kind()), (ErrorClass::Abort, ErrorKind::Limit), "{e}");
    assert_eq!(
        e.message(),
        "command: NOOP => untagged responses exceed 4 MiB: the server sent more than this session holds"
    );
    assert!(most <= limit + CHUNK, "held {most} bytes");
    assert!(most > limit - CHUNK, "aborted early, at {most} bytes");
    // Closed for good: the buffer is released and later input ignored.
    assert!(c.is_closed());
    assert_eq!(c.session().buffered(), 0);
    c.feed(&[b'x'; CHUNK]);
    assert_eq!(c.session().buffered(), 0);
    assert_eq!(c.next(now).unwrap_err(), e);
}

/// The same for a streaming FETCH (typed, wire form): one message in
/// flight must fit in the limit, whatever size it announces.
#[test]
fn a_huge_message_in_a_stream_is_bounded_by_the_limit() {
    let now = Instant::now();
    let limit = 2 << 20;
    for items in [false, true] {
        let mut c = client(State::Selected, limit, now);
        if items {
            c.fetch_items_start("1:*", "(BODY[])", true).unwrap();
        } else {
            c.fetch_stream_start("1:*", "(BODY[])", true).unwrap();
        }
        let (e, most) = flood(&mut c, b"* 1 FETCH (UID 7 BODY[] {99999999999}\r\n", FLOOD, now);
        assert_eq!(e.kind(), ErrorKind::Limit, "{e}");
        assert!(e.message().contains("untagged responses exceed 2 MiB"), "{e}");
        assert!(most <= limit + CHUNK, "held {most} bytes");
        assert!(c.is_closed());
    }
}

/// An untagged line that never ends is bounded by the untagged limit
/// too when that is the smaller bound (the line limit is raised here).
#[test]
fn an_endless_untagged_line_counts_against_the_limit() {
    let now = Instant::now();
    let limit = 1 << 20;
    let mut c = client(State::Selected, limit, now);
    c.set_max_line(MAX_LINE_LIMIT as u64).unwrap();
    c.noop().unwrap();
    let (e, most) = flood(&mut c, b"* 1 EXISTS ", FLOOD, now);
    assert_eq!(e.kind(), ErrorKind::Limit, "{e}");
    assert!(e
        .message()
        .ends_with("untagged responses exceed 1 MiB: the server sent more than this session holds"));
    assert!(most <= limit + CHUNK, "held {most} bytes");
}

/// Normal sizes are imaplib's: a message nearly as large as the limit,
/// in chunks, arrives whole and the command completes.
#[test]
fn a_literal_within_the_limit_arrives_whole() {
    let now = Instant::now();
    let limit = 4 << 20;
    let mut c = client(State::Selected, limit, now);
    c.noop().unwrap();
    while let Event::Send(_) = c.next(now).unwrap() {}
    let size = limit - 2 * CHUNK;
    c.feed(format!("* 1 FETCH (BODY[] {{{size}}}\r\n").as_bytes());
    let body = vec![b'y'; size];
    for piece in body.chunks(CHUNK) {
        assert_eq!(c.next(now).unwrap(), Event::NeedInput(Wait::Default));
        c.feed(piece);
    }
    c.feed(b")\r\nBAAA1 OK done\r\n");
    assert!(matches!(c.next(now).unwrap(), Event::Done(_)));
    let fetch = c.session().get_untagged("FETCH").unwrap();
    assert!(matches!(&fetch[0], DataItem::Literal(_, l) if l.len() == size));
}

/// A flood of distinct, long type names is counted as what it holds: the
/// names are stored, so they count, not just 64 bytes per line.
#[test]
fn distinct_type_names_count_against_the_limit() {
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    s.set_untagged_limit(1 << 20);
    let mut stored = 0;
    let err = loop {
        let name = type_name(stored, 10_000);
        s.framer().feed(format!("* {name}\r\n").as_bytes());
        match s.poll_response() {
            Ok(Poll::Response(_)) => stored += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
        assert!(
            stored < 1000,
            "{stored} distinct 10 kB names stored under a 1 MiB limit"
        );
    };
    assert_eq!(err.kind(), ErrorKind::Limit);
    // Two copies of each name are kept (the list and its index).
    assert!((40..=60).contains(&stored), "{stored}");
}

/// A distinct `[A-Z]+` type name for `i`, padded to `len` letters.
fn type_name(i: usize, len: usize) -> String {
    let mut name: String = format!("{i:08}")
        .bytes()
        .map(|d| char::from(b'A' + (d - b'0')))
        .collect();
    while name.len() < len {
        name.push('Z');
    }
    name
}

/// Stores `n` distinct types (one line each, all in one buffer, as a
/// server floods them), checks them and pops them all (the stale OK/NO/BAD
/// pops and the READ-ONLY check of each command in between). Returns the
/// time taken; panics once it passes `give_up`.
fn store_and_pop(n: usize, give_up: Duration) -> Duration {
    let started = Instant::now();
    let check = |i: usize| {
        if i.is_multiple_of(1000) && started.elapsed() > give_up {
            panic!("{n} distinct types: still at {i} after {give_up:?}, far from linear");
        }
    };
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    let mut wire = Vec::new();
    for i in 0..n {
        wire.extend_from_slice(format!("* {} {i}\r\n", type_name(i, 8)).as_bytes());
    }
    s.framer().feed(&wire);
    for i in 0..n {
        assert!(matches!(s.poll_response(), Ok(Poll::Response(_))));
        check(i);
    }
    assert_eq!(s.untagged_responses().count(), n);
    for i in (0..n).step_by(7) {
        assert!(s.has_untagged(&type_name(i, 8)));
        if i % 1000 == 0 {
            s.start_command("NOOP", &[], None, None).unwrap();
        }
    }
    for i in 0..n {
        let items = s.pop_untagged(&type_name(i, 8)).unwrap();
        assert_eq!(items, vec![DataItem::Bytes(i.to_string().into_bytes())]);
        check(i);
    }
    assert_eq!(s.untagged_responses().count(), 0);
    started.elapsed()
}

/// 100,000 distinct types cost linear work: stored and popped, they take
/// no more than about ten times what 10,000 do (a linear search made it a
/// hundred times, 42 s natively for the 100,000). The ratio is loose and
/// taken from the best of a few runs; the large run gives up as soon as
/// it is clearly quadratic, so the old code fails instead of hanging.
#[test]
fn distinct_untagged_types_are_stored_and_popped_in_linear_time() {
    let best = |n: usize, runs: usize, give_up: Duration| (0..runs).map(|_| store_and_pop(n, give_up)).min().unwrap();
    let small = best(10_000, 3, Duration::MAX);
    let large = best(100_000, 2, small * 40);
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
    eprintln!("10,000 types: {small:?}, 100,000: {large:?} ({ratio:.1} times)");
    assert!(
        ratio < 40.0,
        "10,000 types: {small:?}, 100,000: {large:?} ({ratio:.1} times)"
    );
}

/// imaplib's dict order: types listed in order of first arrival; a type
/// popped and stored again goes to the end; holes left by many pops do
/// not disturb the order or the lookups.
#[test]
fn untagged_responses_keep_their_order_after_pops() {
    let mut s = Session::new(0);
    s.force_state(State::Selected);
    let names: Vec<String> = (0..200).map(|i| type_name(i, 8)).collect();
    for (i, name) in names.iter().enumerate() {
        s.append_untagged(name, DataItem::Bytes(i.to_string().into_bytes()))
            .unwrap();
    }
    // Pop every type but each fifth one: enough holes to compact.
    for (i, name) in names.iter().enumerate() {
        if i % 5 != 0 {
            assert!(s.pop_untagged(name).is_some());
        }
    }
    s.append_untagged(&names[1], DataItem::Bytes(b"again".to_vec()))
        .unwrap();
    s.append_untagged(&names[0], DataItem::Bytes(b"more".to_vec())).unwrap();
    let listed: Vec<&str> = s.untagged_responses().map(|(t, _)| t.as_str()).collect();
    let mut expected: Vec<&str> = names.iter().step_by(5).map(String::as_str).collect();
    expected.push(&names[1]);
    assert_eq!(listed, expected);
    assert_eq!(
        s.get_untagged(&names[0]).unwrap(),
        &[DataItem::Bytes(b"0".to_vec()), DataItem::Bytes(b"more".to_vec())]
    );
    for (i, name) in names.iter().enumerate().step_by(5).skip(1) {
        assert_eq!(
            s.get_untagged(name).unwrap(),
            &[DataItem::Bytes(i.to_string().into_bytes())]
        );
    }
    assert_eq!(
        s.get_untagged(&names[1]).unwrap(),
        &[DataItem::Bytes(b"again".to_vec())]
    );
    assert!(s.get_untagged(&names[2]).is_none());
}

/// The line limit takes 1 to 1 GiB; 0 and anything larger (2^32 used to
/// wrap the framer's arithmetic in a 32-bit guest and make the next
/// command wait forever) are usage errors that leave the limit as it was.
#[test]
fn the_line_limit_is_validated() {
    let now = Instant::now();
    let mut c = client(State::Selected, 1 << 20, now);
    for bad in [0, MAX_LINE_LIMIT as u64 + 1, 1 << 32, u64::MAX] {
        let e = c.set_max_line(bad).unwrap_err();
        assert_eq!((e.class(), e.kind()), (ErrorClass::Error, ErrorKind::Usage), "{bad}");
        assert_eq!(
            e.message(),
            format!("the line limit must be between 1 and 1073741824 bytes, not {bad}")
        );
        assert_eq!(c.max_line(), MAXLINE);
    }
    c.set_max_line(MAX_LINE_LIMIT as u64).unwrap();
    assert_eq!(c.max_line(), MAX_LINE_LIMIT);
    // The largest limit works: the next command completes.
    c.noop().unwrap();
    while let Event::Send(_) = c.next(now).unwrap() {}
    c.feed(b"* 3 EXISTS\r\nBAAA1 OK done\r\n");
    assert!(matches!(c.next(now).unwrap(), Event::Done(_)));
    c.set_max_line(1).unwrap();
    assert_eq!(c.max_line(), 1);
}
