//! One `wasimap watch` serves every account: a hostile server must not
//! delay another account's mail. Four hostile accounts attack at once:
//! two servers never answer the plugin's FETCH on the lent session (each
//! call blocks until its read timeout), as many as the watcher has CPU
//! slots (`concurrency = 2`); two never answer after LOGIN (each of the
//! watcher's own sessions blocks until its read timeout, reconnecting
//! again and again). Before the CPU slots were given up while a call
//! blocks and the worker pool grew past blocked steps, the four held every
//! call slot and all four workers for seconds at a time; the honest
//! account's new message must now be handled within [`BOUND`] of its
//! arrival.

use std::path::Path;
use std::time::{Duration, Instant};

use wasimap_tests::fake_imap::{FakeImap, Hostility};
use wasimap_tests::watching::{account, journal, manifest_with, test_dir, wait_for, Watcher, PASSWORD};

/// The longest an honest account's new message may wait while the others
/// attack.
const BOUND: Duration = Duration::from_secs(1);

fn server(uids: Vec<u32>, hostility: Hostility) -> FakeImap {
    FakeImap::serving(3, uids, hostility)
}

/// Adds five messages to the honest account one after the other; the
/// longest any took from its arrival to the journal must be within
/// `BOUND`.
fn slowest_of_five(dir: &Path, honest: &FakeImap, watcher: &Watcher) {
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let uid = honest.add_message();
        let arrived = Instant::now();
        wait_for(Duration::from_secs(30), "the honest account's new message", dir, || {
            journal(dir).contains_key(&("honest".to_string(), uid))
        });
        slowest = slowest.max(arrived.elapsed());
        // Let the attackers block again between messages.
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("slowest honest message: {slowest:?}");
    assert!(
        slowest < BOUND,
        "an honest message took {slowest:?} while the others attacked\n{}",
        watcher.log()
    );
}

#[test]
fn an_honest_accounts_mail_arrives_within_the_bound_while_two_servers_stall_the_watcher() {
    let dir = test_dir("isolation");
    let stall_fetch = [
        server((1..=50).collect(), Hostility::StallFetch),
        server((1..=50).collect(), Hostility::StallFetch),
    ];
    let stall_all = [server(vec![1], Hostility::Stall), server(vec![1], Hostility::Stall)];
    let honest = server(vec![1], Hostility::None);
    let mut accounts = account("honest", honest.port, "c", "pw", "INBOX");
    for (i, s) in stall_fetch.iter().enumerate() {
        accounts += &account(&format!("fetch-staller{i}"), s.port, "a", "pw", "INBOX");
    }
    for (i, s) in stall_all.iter().enumerate() {
        accounts += &account(&format!("staller{i}"), s.port, "b", "pw", "INBOX");
    }
    let manifest = manifest_with(&dir, "journal", &accounts, &[], "");
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(
        Duration::from_secs(30),
        "the honest account's first message",
        &dir,
        || journal(&dir).contains_key(&("honest".to_string(), 1)),
    );
    // The attacks are under way: calls blocked on their lent sessions,
    // sessions blocked after their logins.
    wait_for(Duration::from_secs(30), "every attack", &dir, || {
        let log = watcher.log();
        log.contains("fetch-staller0/INBOX calling")
            && log.contains("fetch-staller1/INBOX calling")
            && stall_all.iter().all(|s| s.accepted() >= 1)
    });
    slowest_of_five(&dir, &honest, &watcher);
    let handled = journal(&dir);
    assert!(
        handled.keys().all(|(a, _)| a == "honest"),
        "only the honest account's mail was handled"
    );
    assert!(stall_all.iter().chain(&stall_fetch).all(|s| s.accepted() >= 1));
}

/// Two accounts whose every batch costs the plugin 20 s (asleep, or
/// computing without a pause), as many as there are CPU slots: the
/// honest account's new mail still comes within the bound. A sleeping
/// call gives its slot up; a computing one gives it up at each epoch tick
/// another call waits.
fn costly_accounts_do_not_hold_the_honest_one_back(how: &str) {
    let dir = test_dir(&format!("isolation-{how}"));
    let honest = server(vec![1], Hostility::None);
    let hogs = [
        server((1..=20).collect(), Hostility::None),
        server((1..=20).collect(), Hostility::None),
    ];
    let mut accounts = account("honest", honest.port, "c", "pw", "INBOX");
    for (i, s) in hogs.iter().enumerate() {
        accounts += &account(&format!("hog{i}"), s.port, "a", "pw", "INBOX");
    }
    let manifest = manifest_with(
        &dir,
        "journal",
        &accounts,
        &[how, "20000", "--slow-accounts", "hog"],
        "",
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(
        Duration::from_secs(30),
        "both costly calls and the honest mail",
        &dir,
        || {
            let log = watcher.log();
            log.contains("hog0/INBOX calling")
                && log.contains("hog1/INBOX calling")
                && journal(&dir).contains_key(&("honest".to_string(), 1))
        },
    );
    slowest_of_five(&dir, &honest, &watcher);
}

#[test]
fn accounts_whose_calls_sleep_do_not_hold_the_honest_one_back() {
    costly_accounts_do_not_hold_the_honest_one_back("--pause-ms");
}

#[test]
fn accounts_whose_calls_compute_without_end_do_not_hold_the_honest_one_back() {
    costly_accounts_do_not_hold_the_honest_one_back("--spin-ms");
}

/// A message announced only in the answer to the look's last UID SEARCH
/// (appended while it ran, as Dovecot reports it; the IDLE after does not
/// repeat it) is searched for again at once, not left waiting for the
/// account's next announcement or the IDLE keepalive.
#[test]
fn a_message_announced_in_a_search_answer_is_not_left_waiting() {
    let dir = test_dir("late-search");
    let honest = server(vec![1], Hostility::LateSearch);
    let manifest = manifest_with(
        &dir,
        "journal",
        &account("honest", honest.port, "c", "pw", "INBOX"),
        &[],
        "",
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "the first message", &dir, || {
        journal(&dir).contains_key(&("honest".to_string(), 1))
    });
    slowest_of_five(&dir, &honest, &watcher);
}
