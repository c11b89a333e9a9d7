//! `wasimap watch` against a private Dovecot of its own (so it can be
//! stopped and started), through a proxy that can cut every connection:
//! each message is handled exactly once through cuts, a server restart,
//! SIGKILLs of the watcher at random moments and a plugin that fails on
//! one message; many accounts in one process; a refused login; a
//! UIDVALIDITY change. The `journal` plugin writes one line per message to
//! the watcher's output file, which is what the tests count.
//!
//! Every wait is bounded; the servers, proxies and watchers are stopped
//! when a test ends, whatever its outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasimap_tests::proxy::Proxy;
use wasimap_tests::watching::{
    account, all_present, journal, journal_ids, manifest_with, proc_status, status_json, test_dir, wait_for, Watcher,
    PASSWORD,
};
use wasimap_tests::{plugin_path, release_wasimap_binary, root};

/// A Dovecot in its own directory, stopped when dropped.
struct OwnDovecot {
    dir: PathBuf,
    port: u16,
}

fn env_port(dir: &Path) -> u16 {
    let env = std::fs::read_to_string(dir.join("env")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("WASIMAP_IMAP_PORT="))
        .unwrap()
        .parse()
        .unwrap()
}

/// Starts the Dovecot of `dir` (keeping the mail it had); its plain port.
fn start_dovecot(dir: &Path) -> u16 {
    let out = Command::new("bash")
        .env("WASIMAP_KEEP_MAIL", "1")
        .arg(root().join("tests/dovecot/server.sh"))
        .arg("start")
        .arg(dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env_port(dir)
}

impl OwnDovecot {
    fn start(dir: PathBuf) -> OwnDovecot {
        let port = start_dovecot(&dir);
        OwnDovecot { dir, port }
    }

    /// Starts it again after [`OwnDovecot::stop`], on the same mail (and
    /// other ports).
    fn start_again(&mut self) {
        self.port = start_dovecot(&self.dir);
    }

    fn stop(&self) {
        let out = Command::new("bash")
            .arg(root().join("tests/dovecot/server.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn tool(&self, user: &str, args: &[&str]) -> Vec<String> {
        let out = Command::new("python3")
            .arg(root().join("tests/python/mailbox_tool.py"))
            .args([&self.port.to_string(), user, PASSWORD])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Appends `count` messages to INBOX; their Message-IDs.
    fn append(&self, user: &str, prefix: &str, count: usize, subject: &str) -> Vec<String> {
        self.tool(user, &["append", "INBOX", prefix, &count.to_string(), subject])
    }
}

impl Drop for OwnDovecot {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("tests/dovecot/server.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// A manifest in `dir` for the journal plugin, with quick timings for tests.
fn manifest(dir: &Path, accounts: &str, plugin_args: &[&str]) -> PathBuf {
    manifest_with(dir, "journal", accounts, plugin_args, "")
}

#[test]
fn every_message_exactly_once_through_cuts_restarts_kills_and_a_failing_plugin() {
    let dir = test_dir("faults");
    let mut server = OwnDovecot::start(dir.join("dovecot"));
    let proxy = Proxy::start(server.port);
    let user = format!("watch-faults-{}", std::process::id());
    let manifest = manifest(
        &dir,
        &account("work", proxy.port(), &user, "pw", "INBOX"),
        &["--fail-subject", "POISON", "--pause-ms", "300"],
    );
    let mut expected = BTreeSet::new();
    let mut watcher = Watcher::start(&manifest, PASSWORD);

    // While it runs.
    expected.extend(server.append(&user, "running", 5, "hello"));
    wait_for(Duration::from_secs(60), "the first messages", &dir, || {
        all_present(&dir, &expected)
    });

    // Every connection cut (the watcher's IDLE and any plugin session).
    assert!(proxy.cut() >= 1, "the watcher had a connection through the proxy");
    expected.extend(server.append(&user, "after-cut", 5, "hello"));
    wait_for(Duration::from_secs(60), "messages after the cut", &dir, || {
        all_present(&dir, &expected)
    });

    // The server stopped; mail arrives as it comes back (on other ports).
    server.stop();
    std::thread::sleep(Duration::from_millis(1500));
    server.start_again();
    proxy.retarget(server.port);
    expected.extend(server.append(&user, "after-restart", 5, "hello"));
    wait_for(Duration::from_secs(60), "messages after the restart", &dir, || {
        all_present(&dir, &expected)
    });

    // SIGKILL at moments spread over the handling of new mail (each call
    // takes 300 ms and more).
    for round in 0..6 {
        expected.extend(server.append(&user, &format!("kill{round}"), 4, "hello"));
        std::thread::sleep(Duration::from_millis(150 * round as u64));
        watcher.kill();
        watcher = Watcher::start(&manifest, PASSWORD);
    }
    // And dead in the middle of a commit: the batch's lines written, the
    // state not yet.
    watcher.kill();
    watcher = Watcher::start_crashing(&manifest, PASSWORD, "after-output");
    expected.extend(server.append(&user, "crash", 3, "hello"));
    assert!(
        !watcher.wait(Duration::from_secs(60)).success(),
        "the crash point aborts"
    );
    watcher = Watcher::start(&manifest, PASSWORD);
    // One message the plugin always fails on, among others.
    expected.extend(server.append(&user, "before-poison", 2, "hello"));
    let poison = server.append(&user, "poison", 1, "POISON");
    expected.extend(server.append(&user, "after-poison", 2, "hello"));
    wait_for(Duration::from_secs(90), "every message after the kills", &dir, || {
        all_present(&dir, &expected)
    });
    wait_for(Duration::from_secs(30), "the dead letter", &dir, || {
        status_json(&manifest)["mailboxes"]["work/INBOX"]["dead"]
            .as_array()
            .is_some_and(|d| d.len() == 1)
    });
    assert!(watcher.stop().success(), "SIGTERM ends the watcher cleanly");

    let ids = journal_ids(&dir);
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let missing: Vec<_> = expected.iter().filter(|i| !ids.contains_key(*i)).collect();
    assert!(missing.is_empty(), "never handled: {missing:?}");
    assert!(!ids.contains_key(&poison[0]), "the failing message left no line");
    assert_eq!(ids.len(), expected.len());
    // Each journal line names the UID the server gave that message.
    let by_uid: BTreeMap<u32, String> = server
        .tool(&user, &["uids", "INBOX"])
        .iter()
        .map(|l| {
            let (uid, id) = l.split_once(' ').unwrap();
            (uid.parse().unwrap(), id.to_string())
        })
        .collect();
    for ((account, uid), id) in journal(&dir) {
        assert_eq!(account, "work");
        assert_eq!(Some(&id[0]), by_uid.get(&uid), "uid {uid}");
    }
    let state = status_json(&manifest);
    let mailbox = &state["mailboxes"]["work/INBOX"];
    let dead = &mailbox["dead"][0];
    assert_eq!(by_uid.get(&(dead["uid"].as_u64().unwrap() as u32)), Some(&poison[0]));
    assert_eq!(dead["attempts"], 3);
    assert!(dead["error"].as_str().unwrap().contains("POISON"), "{dead}");
    assert!(mailbox["counts"]["reconnects"].as_u64().unwrap() >= 2, "{mailbox}");
    assert_eq!(mailbox["counts"]["handled"].as_u64().unwrap() as usize, expected.len());

    // --status for people names the dead letter.
    let out = Command::new(release_wasimap_binary())
        .args(["watch", "--status", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("watcher: not running\n"), "{text}");
    assert!(text.contains("dead letter: work/INBOX uid"), "{text}");

    // A replay killed during its call: the attempt counts all the same.
    let slow = self::manifest(
        &dir,
        &account("work", proxy.port(), &user, "pw", "INBOX"),
        &["--pause-ms", "20000"],
    );
    let mut replay = Command::new(release_wasimap_binary())
        .args(["watch", "--replay", "work", "--manifest"])
        .arg(&slow)
        .env("WATCH_TEST_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), "the replay's call", &dir, || {
        status_json(&slow)["mailboxes"]["work/INBOX"]["dead"][0]["attempts"] == 4
    });
    replay.kill().unwrap();
    replay.wait().unwrap();
    assert_eq!(
        journal_ids(&dir).get(&poison[0]),
        None,
        "the killed replay wrote nothing"
    );

    // The plugin fixed (no failing subject): the dead letter replays once.
    let fixed = self::manifest(&dir, &account("work", proxy.port(), &user, "pw", "INBOX"), &[]);
    let out = Command::new(release_wasimap_binary())
        .args(["watch", "--replay", "work", "--manifest"])
        .arg(&fixed)
        .env("WATCH_TEST_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dead letters left: 0\n");
    let ids = journal_ids(&dir);
    assert_eq!(ids.get(&poison[0]), Some(&1));
    assert_eq!(ids.len(), expected.len() + 1);
    assert!(ids.values().all(|n| *n == 1));
}

#[test]
fn many_accounts_in_one_process_and_a_refused_login_stops_only_its_account() {
    const ACCOUNTS: usize = 50;
    let dir = test_dir("many");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let users: Vec<String> = (0..ACCOUNTS)
        .map(|i| format!("watch-many-{}-{i}", std::process::id()))
        .collect();
    let mut accounts: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| account(&format!("a{i}"), server.port, u, "pw", "INBOX"))
        .collect();
    accounts.push_str(&account("wrong", server.port, &users[0], "bad", "INBOX"));
    let manifest = manifest(&dir, &accounts, &[]);
    let watcher = Watcher::start(&manifest, PASSWORD);
    let mut expected = BTreeSet::new();
    for (i, u) in users.iter().enumerate() {
        expected.extend(server.append(u, &format!("many{i}"), 1, "hello"));
    }
    wait_for(Duration::from_secs(120), "a message in each account", &dir, || {
        all_present(&dir, &expected)
    });
    let busy = proc_status(watcher.pid(), "Threads:").unwrap();
    // At rest, a fixed number whatever the number of mailboxes:
    // concurrency (2) + 2 workers, the poller, the main thread, the epoch
    // ticker, and room for the runtime's own few. (The burst of 51 logins
    // at start grows the pool; the workers it added leave after 5 s
    // without work.)
    let mut threads = busy;
    let end = Instant::now() + Duration::from_secs(20);
    while threads > 12 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
        threads = proc_status(watcher.pid(), "Threads:").unwrap();
    }
    let rss_kib = proc_status(watcher.pid(), "VmRSS:").unwrap();
    eprintln!(
        "{} accounts: {busy} threads busy, {threads} at rest, {rss_kib} KiB resident",
        ACCOUNTS + 1
    );
    assert!(
        threads <= 12,
        "{threads} threads at rest for {} mailboxes",
        ACCOUNTS + 1
    );
    // The wrong password is refused three times in a row, then the
    // account stops.
    wait_for(Duration::from_secs(60), "the wrong account to stop", &dir, || {
        status_json(&manifest)["mailboxes"]["wrong/INBOX"]["stopped"].is_string()
    });
    assert!(watcher.stop().success());

    let ids = journal_ids(&dir);
    assert_eq!(ids.len(), ACCOUNTS);
    assert!(ids.values().all(|n| *n == 1));
    let state = status_json(&manifest);
    let wrong = &state["mailboxes"]["wrong/INBOX"];
    assert!(
        wrong["stopped"].as_str().unwrap().starts_with("login refused:"),
        "{wrong}"
    );
    assert_eq!(state["mailboxes"]["a0/INBOX"]["stopped"], serde_json::Value::Null);
}

#[test]
fn triage_as_a_watcher_files_new_mail_as_it_arrives() {
    let dir = test_dir("triage");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let user = format!("watch-triage-{}", std::process::id());
    server.tool(&user, &["recreate", "Important"]);
    let manifest = manifest_with(
        &dir,
        "triage",
        &account("work", server.port, &user, "pw", "INBOX"),
        &["--from", "boss@example.org", "--move-to", "Important"],
        "",
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    let boss = server.tool(
        &user,
        &["append", "INBOX", "boss", "2", "numbers", "Boss <boss@example.org>"],
    );
    let other = server.tool(&user, &["append", "INBOX", "list", "3", "digest", "list@example.org"]);
    let output = || std::fs::read_to_string(dir.join("journal.log")).unwrap_or_default();
    wait_for(Duration::from_secs(60), "the boss's messages moved", &dir, || {
        output().lines().count() == 2
    });
    wait_for(Duration::from_secs(30), "every message handed out", &dir, || {
        status_json(&manifest)["mailboxes"]["work/INBOX"]["counts"]["handled"] == 5
    });
    assert!(watcher.stop().success());
    for line in output().lines() {
        assert!(
            line.starts_with("work INBOX ") && line.ends_with(" moved to Important"),
            "{line}"
        );
    }
    let ids = |mailbox: &str| -> BTreeSet<String> {
        server
            .tool(&user, &["uids", mailbox])
            .iter()
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect()
    };
    assert_eq!(ids("Important"), boss.into_iter().collect());
    assert_eq!(ids("INBOX"), other.into_iter().collect());
}

/// A watcher on the mailbox `Jobs` of a fresh user of its own Dovecot,
/// once it has handled the two messages `Jobs` starts with: the test's
/// directory, server, user, manifest and watcher.
fn watching_jobs(name: &str) -> (PathBuf, OwnDovecot, String, PathBuf, Watcher) {
    let dir = test_dir(name);
    let server = OwnDovecot::start(dir.join("dovecot"));
    let user = format!("watch-{name}-{}", std::process::id());
    server.tool(&user, &["append", "Jobs", "first", "2"]);
    let manifest = manifest(&dir, &account("work", server.port, &user, "pw", "Jobs"), &[]);
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(60), "the first messages", &dir, || {
        journal_ids(&dir).len() == 2
    });
    (dir, server, user, manifest, watcher)
}

#[test]
fn a_uidvalidity_change_stops_the_mailbox_until_reset() {
    let (dir, server, user, manifest, watcher) = watching_jobs("uidvalidity");
    let validity = status_json(&manifest)["mailboxes"]["work/Jobs"]["uidvalidity"].clone();

    // A new mailbox under the old name: UIDs 1 and 2 name other messages
    // now. It is made while the watcher is stopped, so the change is found
    // when the next session selects it (the live case is
    // `a_mailbox_made_anew_under_a_live_session_stops_it`).
    assert!(watcher.stop().success());
    server.tool(&user, &["recreate", "Jobs"]);
    server.tool(&user, &["append", "Jobs", "second", "2"]);
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(60), "the mailbox to stop", &dir, || {
        status_json(&manifest)["mailboxes"]["work/Jobs"]["stopped"].is_string()
    });
    assert!(watcher.stop().success());
    let state = status_json(&manifest);
    let m = &state["mailboxes"]["work/Jobs"];
    assert!(m["stopped"].as_str().unwrap().contains("UIDVALIDITY changed"), "{m}");
    assert_eq!(m["uidvalidity"], validity, "the old UIDVALIDITY is kept until reset");
    assert_eq!(m["counts"]["uidvalidity-changes"], 1);
    assert_eq!(
        journal_ids(&dir).len(),
        2,
        "nothing was handed out under the new UIDVALIDITY"
    );

    // --reset: watched again from the next new message.
    let out = Command::new(release_wasimap_binary())
        .args(["watch", "--reset", "work", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(60), "the watcher to start afresh", &dir, || {
        status_json(&manifest)["mailboxes"]["work/Jobs"]["uidvalidity"] != validity
    });
    let third = server.tool(&user, &["append", "Jobs", "third", "1"]);
    wait_for(Duration::from_secs(60), "the new message", &dir, || {
        journal_ids(&dir).contains_key(&third[0])
    });
    assert!(watcher.stop().success());
    // The reset took `start = "all"`: the two messages of the new mailbox too.
    assert_eq!(journal_ids(&dir).len(), 5);
}

#[test]
fn a_mailbox_made_anew_under_a_live_session_stops_it() {
    let (dir, server, user, manifest, watcher) = watching_jobs("uidvalidity-live");
    // The watcher is in IDLE (or between two IDLEs) on the old mailbox.
    server.tool(&user, &["recreate", "Jobs"]);
    server.tool(&user, &["append", "Jobs", "second", "2"]);
    wait_for(Duration::from_secs(30), "the live session to notice", &dir, || {
        status_json(&manifest)["mailboxes"]["work/Jobs"]["stopped"].is_string()
    });
    assert!(watcher.stop().success());
    let m = &status_json(&manifest)["mailboxes"]["work/Jobs"];
    assert!(m["stopped"].as_str().unwrap().contains("UIDVALIDITY changed"), "{m}");
    assert_eq!(
        journal_ids(&dir).len(),
        2,
        "nothing handed out under the new UIDVALIDITY"
    );
}

#[test]
fn a_connection_that_goes_silent_is_found_by_the_keepalive() {
    // A black hole, not a close: the proxy drops the session's bytes both
    // ways and sends no FIN or RST, so only the watcher's own deadline
    // (DONE answered within read-timeout-seconds) can find it dead.
    let dir = test_dir("silent");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let proxy = Proxy::start(server.port);
    let user = format!("watch-silent-{}", std::process::id());
    let first: BTreeSet<String> = server.append(&user, "before", 1, "hello").into_iter().collect();
    let watcher = Watcher::start(
        &manifest(&dir, &account("work", proxy.port(), &user, "pw", "INBOX"), &[]),
        PASSWORD,
    );
    wait_for(Duration::from_secs(60), "the first message", &dir, || {
        all_present(&dir, &first)
    });
    // One connection: the plugin worked on the session the watcher lent it.
    assert_eq!(proxy.accepted(), 1, "the plugin opened a session of its own");
    let stalled_at = Instant::now();
    assert_eq!(proxy.stall(), 1);
    let later: BTreeSet<String> = server.append(&user, "after", 2, "hello").into_iter().collect();
    // idle-seconds 3 + read-timeout-seconds 5 + a reconnect of at most 1 s,
    // with room for a loaded machine.
    wait_for(Duration::from_secs(40), "the messages after the stall", &dir, || {
        all_present(&dir, &later)
    });
    let took = stalled_at.elapsed();
    assert!(watcher.stop().success());
    let log = std::fs::read_to_string(dir.join("watcher.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("disconnected"))
        .unwrap_or_else(|| panic!("no disconnect logged:\n{log}"));
    assert!(line.contains("timed out") || line.contains("timeout"), "{line}");
    assert_eq!(
        log.matches("disconnected").count(),
        1,
        "one disconnect, the stall's:\n{log}"
    );
    assert_eq!(journal_ids(&dir).len(), 3, "{:?}", journal_ids(&dir));
    assert!(
        took >= Duration::from_secs(3),
        "found before any deadline could pass: {took:?}"
    );
}

#[test]
fn a_plugin_that_logs_the_lent_session_out_costs_a_reconnect_and_nothing_else() {
    let dir = test_dir("logout");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let user = format!("watch-logout-{}", std::process::id());
    let manifest = manifest(
        &dir,
        &account("work", server.port, &user, "pw", "INBOX"),
        &["--logout", "--try-enable"],
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    let mut ids = BTreeSet::new();
    for round in 0..3 {
        let batch: BTreeSet<String> = server
            .append(&user, &format!("round{round}"), 2, "hello")
            .into_iter()
            .collect();
        wait_for(Duration::from_secs(60), "a round of messages", &dir, || {
            all_present(&dir, &batch)
        });
        ids.extend(batch);
    }
    assert!(watcher.stop().success());
    let journal = journal_ids(&dir);
    assert_eq!(journal.len(), ids.len(), "{journal:?}");
    assert!(journal.values().all(|&n| n == 1), "{journal:?}");
    let log = std::fs::read_to_string(dir.join("watcher.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("disconnected") && l.contains("after the plugin")),
        "{log}"
    );
    // What a SELECT would not undo is refused on the lent session.
    assert!(
        log.lines()
            .any(|l| l.contains("plugin-stderr") && l.contains("ENABLE is refused on a lent session")),
        "{log}"
    );
    assert_eq!(status_json(&manifest)["mailboxes"]["work/INBOX"]["counts"]["failed"], 0);
}

#[test]
fn without_idle_the_watcher_polls() {
    let dir = test_dir("poll");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let user = format!("watch-poll-{}", std::process::id());
    let path = manifest(&dir, &account("work", server.port, &user, "pw", "INBOX"), &[]);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[session]\n", "[session]\nuse-idle = false\n");
    std::fs::write(&path, text).unwrap();
    let watcher = Watcher::start(&path, PASSWORD);
    let ids: BTreeSet<String> = server.append(&user, "polled", 3, "hello").into_iter().collect();
    wait_for(Duration::from_secs(60), "the polled messages", &dir, || {
        all_present(&dir, &ids)
    });
    let later: BTreeSet<String> = server.append(&user, "polled-later", 2, "hello").into_iter().collect();
    wait_for(Duration::from_secs(60), "messages after a poll", &dir, || {
        all_present(&dir, &later)
    });
    assert!(watcher.stop().success());
    let log = std::fs::read_to_string(dir.join("watcher.log")).unwrap();
    assert!(
        log.contains("connected uidvalidity=") && log.contains(" idle=false"),
        "{log}"
    );
    assert_eq!(journal_ids(&dir).len(), 5);
}

#[test]
fn a_tls_failure_is_logged_and_retried() {
    // Implicit TLS to the server without its CA: the certificate is
    // refused, the watcher says so and tries again later; nothing stops.
    let dir = test_dir("tls");
    let server = OwnDovecot::start(dir.join("dovecot"));
    let tls_port = std::fs::read_to_string(server.dir.join("env"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("WASIMAP_IMAPS_PORT="))
        .unwrap()
        .to_string();
    let account = account("work", tls_port.parse().unwrap(), "watch-tls", "pw", "INBOX")
        .replace("tls = \"none\"", "tls = \"implicit\"");
    let watcher = Watcher::start(&manifest(&dir, &account, &[]), PASSWORD);
    let log = || std::fs::read_to_string(dir.join("watcher.log")).unwrap_or_default();
    wait_for(Duration::from_secs(60), "two failed connects", &dir, || {
        log().matches("connect-failed").count() >= 2
    });
    assert!(watcher.stop().success());
    let log = log();
    let line = log.lines().find(|l| l.contains("connect-failed")).unwrap();
    assert!(line.contains("(tls-certificate)"), "{line}");
    assert!(line.contains("retry-in="), "{line}");
    assert!(
        !log.contains("stopped reason"),
        "a TLS failure does not stop the account: {log}"
    );
}

#[test]
fn a_plain_plugin_is_not_a_watcher() {
    let dir = test_dir("plain");
    let text = std::fs::read_to_string(manifest(&dir, &account("a", 1, "u", "pw", "INBOX"), &[]))
        .unwrap()
        .replace(
            &plugin_path("journal").display().to_string(),
            &plugin_path("report").display().to_string(),
        );
    let path = dir.join("watch.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(release_wasimap_binary())
        .args(["watch", "--manifest"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot be a watcher") && stderr.contains("does not export wasimap:imap/watch@0.1.0"),
        "{stderr}"
    );
}
