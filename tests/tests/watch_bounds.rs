//! `wasimap watch` against servers that try to exhaust the watcher (issue
//! 28, findings 4 and 5): the watcher is one process for every account,
//! so a server announcing a 1 GiB literal, or flooding untagged responses
//! of distinct types, must cost its own account a reconnect and nothing
//! else: the watcher's memory stays bounded and the honest account next to
//! it is served.
//!
//! The servers are `fake_imap`'s, which answer every connection (so the
//! watcher's reconnects meet the attack again); every wait is bounded and
//! the watcher is killed when a test ends.

use std::time::{Duration, Instant};

use wasimap_tests::fake_imap::{FakeImap, Hostility};
use wasimap_tests::script_server::{greeting, send, ScriptServer, Step};
use wasimap_tests::watching::{evil_and_good, journal, proc_status, test_dir, wait_for, Watcher, PASSWORD};

/// What the watcher may hold resident while a server streams a 1 GiB
/// literal at it: its start-up size (tens of MiB) plus the session's
/// 64 MiB untagged limit and one read, with room to spare; the watcher
/// that buffered the whole literal grew past 1 GB.
const RSS_BOUND: u64 = 200 << 20;

/// The watcher's resident high-water mark (`VmHWM`), bytes.
fn peak_rss(watcher: &Watcher) -> u64 {
    proc_status(watcher.pid(), "VmHWM:").map_or(0, |kb| kb * 1024)
}

/// An honest account `good` with two messages beside the hostile `evil`.
fn hostile_and_honest(name: &str, hostility: Hostility) -> (std::path::PathBuf, FakeImap, FakeImap, Watcher) {
    let dir = test_dir(name);
    let evil = FakeImap::serving(7, vec![1, 2], hostility);
    let good = FakeImap::serving(8, vec![1, 2], Hostility::None);
    let watcher = Watcher::start(&evil_and_good(&dir, evil.port, good.port), PASSWORD);
    (dir, evil, good, watcher)
}

/// A server that answers SELECT with an untagged FETCH announcing
/// `{1073741824}` and then streams the gigabyte, on every connection: the
/// watcher's session aborts with kind `limit` once 64 MiB are buffered,
/// reconnects (and meets the attack again), its resident memory stays
/// under [`RSS_BOUND`] throughout, and the honest account is served.
#[test]
fn a_gigabyte_literal_costs_a_reconnect_and_keeps_the_watcher_small() {
    let (dir, evil, _good, mut watcher) = hostile_and_honest("huge-literal", Hostility::HugeLiteral(1 << 30));
    const ABORT: &str = "untagged responses exceed 64 MiB";
    let end = Instant::now() + Duration::from_secs(90);
    let mut most = 0;
    // Sampled every few ms (a buffer that grew without bound would pass
    // the bound for hundreds of ms); the high-water mark below catches
    // what falls between samples.
    loop {
        assert!(watcher.running(), "the watcher exited:\n{}", watcher.log());
        let rss = watcher.rss();
        most = most.max(rss);
        // Stopped at once: a watcher past the bound may be on its way to
        // exhausting the machine.
        assert!(rss < RSS_BOUND, "the watcher holds {rss} bytes:\n{}", watcher.log());
        let log = watcher.log();
        if log.matches(ABORT).count() >= 3 && journal(&dir).keys().filter(|(a, _)| a == "good").count() == 2 {
            break;
        }
        assert!(
            Instant::now() < end,
            "no three aborts and the honest messages within 90 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let peak = peak_rss(&watcher);
    let log = watcher.log();
    drop(watcher);
    eprintln!("resident: at most {most} bytes sampled, high-water mark {peak}");
    // The high-water mark includes start-up (a cold cache compiles the
    // plugin); the attack must not have raised it past the bound.
    assert!(peak < RSS_BOUND, "high-water mark {peak} bytes:\n{log}");
    let aborts: Vec<&str> = log.lines().filter(|l| l.contains(ABORT)).collect();
    assert!(
        aborts.iter().all(|l| l.contains("evil/INBOX") && l.contains(" warn ")),
        "{aborts:#?}"
    );
    assert!(
        evil.accepted() >= 3,
        "the watcher reconnected: {} connections",
        evil.accepted()
    );
    assert!(journal(&dir).keys().all(|(a, _)| a == "good"), "{:?}", journal(&dir));
}

/// `n` distinct type names of eight capital letters (`[A-Z-]+`, as
/// imaplib's pattern takes a type: `X1` would be type `X`).
fn distinct_types(n: usize) -> String {
    (0..n)
        .map(|i| {
            let name: String = format!("{i:08}")
                .bytes()
                .map(|d| char::from(b'A' + (d - b'0')))
                .collect();
            format!("* {name} flood\r\n")
        })
        .collect()
}

/// A server whose SELECT answer carries 100,000 untagged responses of
/// distinct types (1.8 MB) before its tagged OK: stored in linear time,
/// the session is selected (`connected` logged) within 20 s of the
/// watcher's start, and the honest account is served; stored in a list
/// searched linearly, that SELECT alone took the watcher some 42 s.
#[test]
fn distinct_untagged_types_do_not_stall_the_watcher() {
    let mut steps = greeting("IMAP4rev1");
    steps.extend([
        Step::Expect,
        send("{tag} OK logged in\r\n"),
        Step::Expect,
        send(format!(
            "* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n{}{{tag}} OK [READ-WRITE] selected\r\n",
            distinct_types(100_000)
        )),
        Step::Expect,
        Step::Close,
    ]);
    let evil = ScriptServer::start(steps);
    let dir = test_dir("distinct-types");
    let good = FakeImap::serving(8, vec![1, 2], Hostility::None);
    let watcher = Watcher::start(&evil_and_good(&dir, evil.port, good.port), PASSWORD);
    wait_for(Duration::from_secs(20), "the hostile account's session", &dir, || {
        watcher.log().lines().any(|l| l.contains(" evil/INBOX connected "))
    });
    wait_for(Duration::from_secs(20), "the honest account's messages", &dir, || {
        journal(&dir).keys().filter(|(a, _)| a == "good").count() == 2
    });
    let log = watcher.log();
    drop(watcher);
    let received = evil.received();
    assert!(
        received.iter().any(|l| l.windows(6).any(|w| w == b"SELECT")),
        "{received:?}"
    );
    assert!(!log.contains("untagged responses exceed"), "{log}");
}
