//! SIGTERM ends `wasimap watch` within seconds whatever its accounts do:
//! a server that answers a SELECT one line at a time for ever (no read
//! timeout fires), a plugin call asleep for a minute. The call cut short
//! is not a failure: it stays in flight and is handed out again, once,
//! at the next start.

use std::time::{Duration, Instant};

use wasimap_tests::fake_imap::{FakeImap, Hostility};
use wasimap_tests::watching::{account, journal, manifest_with, test_dir, wait_for, Watcher, PASSWORD};

/// How long a stop may take.
const BOUND: Duration = Duration::from_secs(5);

/// Stops `watcher`, which must end within the bound, cleanly, and with
/// the sessions it cut not taken for the server's doing: no disconnect
/// warning, no reconnect.
fn stop_within_bound(watcher: Watcher, dir: &std::path::Path) {
    let started = Instant::now();
    let status = watcher.stop();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < BOUND, "the stop took {:?}", started.elapsed());
    let log = std::fs::read_to_string(dir.join("watcher.log")).unwrap();
    assert!(log.contains("info  stopped"), "{log}");
    assert!(
        !log.contains("disconnected") && !log.contains("retry-in"),
        "the stop was logged as the server's doing:\n{log}"
    );
}

#[test]
fn a_server_dripping_lines_for_ever_does_not_hold_the_stop() {
    let dir = test_dir("stop-drip");
    let server = FakeImap::serving(7, vec![1], Hostility::DripSelect);
    let manifest = manifest_with(
        &dir,
        "journal",
        &account("drip", server.port, "a", "pw", "INBOX"),
        &[],
        "",
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "the dripping SELECT", &dir, || {
        server.accepted() >= 1
    });
    // Well past the session's 5 s read timeout, which never fires.
    std::thread::sleep(Duration::from_secs(6));
    stop_within_bound(watcher, &dir);
}

#[test]
fn a_call_asleep_for_a_minute_does_not_hold_the_stop_and_is_handed_out_again() {
    let dir = test_dir("stop-sleep");
    let server = FakeImap::serving(7, vec![1, 2], Hostility::None);
    let accounts = account("slow", server.port, "a", "pw", "INBOX");
    let manifest = manifest_with(&dir, "journal", &accounts, &["--pause-ms", "60000"], "");
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "the call", &dir, || {
        watcher.log().contains("slow/INBOX calling")
    });
    std::thread::sleep(Duration::from_millis(500));
    stop_within_bound(watcher, &dir);
    assert!(journal(&dir).is_empty(), "the cut call wrote nothing");
    // Next start, without the pause: the batch again, once.
    let manifest = manifest_with(&dir, "journal", &accounts, &[], "");
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "the batch handed out again", &dir, || {
        journal(&dir).len() == 2
    });
    assert!(watcher.log().contains("attempt=2"), "{}", watcher.log());
    std::thread::sleep(Duration::from_secs(1));
    assert!(journal(&dir).values().all(|ids| ids.len() == 1), "{:?}", journal(&dir));
}
