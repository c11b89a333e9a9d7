//! `wasimap watch`'s state at the edges: the last UID there can be
//! (4294967295) is handled once and then the mailbox is done, not handed
//! out again on every look; a server announcing UIDNEXT 0 or answering a
//! SEARCH with UIDs below the watermark (or 0) hands out nothing and
//! loops on nothing; the state directory must be the user's own; a state
//! of the first layout (one `state.json`) is migrated, its dead letters
//! bounded and the pruned counted in `--status`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasimap_tests::fake_imap::{FakeImap, Hostility};
use wasimap_tests::release_wasimap_binary;
use wasimap_tests::script_server::{greeting, send, ScriptServer, Step};
use wasimap_tests::watching::{
    account, journal, manifest_with, status, test_dir, wait_for, watch_cli, Watcher, PASSWORD,
};

/// A journal manifest for one account on `port`, polling every second
/// (no IDLE: each poll is a NOOP, a STATUS and a look), with `start`.
fn polling_manifest(dir: &Path, port: u16, start: &str) -> std::path::PathBuf {
    let accounts =
        account("work", port, "alice", "pw", "INBOX").replace("start = \"all\"", &format!("start = \"{start}\""));
    let path = manifest_with(dir, "journal", &accounts, &[], "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[session]\n", "[session]\nuse-idle = false\n");
    std::fs::write(&path, text).unwrap();
    path
}

fn mailbox_state(manifest: &Path) -> Value {
    let state: Value = serde_json::from_str(&status(manifest, true)).unwrap();
    state["mailboxes"]["work/INBOX"].clone()
}

#[test]
fn a_message_with_uid_4294967295_is_handled_exactly_once() {
    let dir = test_dir("uid-max");
    let server = FakeImap::serving(u32::MAX, vec![1, u32::MAX], Hostility::None);
    let manifest = polling_manifest(&dir, server.port, "all");
    let mut watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(60), "both messages", &dir, || {
        journal(&dir).len() == 2
    });
    // Several polls (one a second): each one finds the mailbox done.
    std::thread::sleep(Duration::from_secs(5));
    assert!(watcher.running(), "{}", watcher.log());
    let lines = journal(&dir);
    assert_eq!(
        lines[&("work".to_string(), u32::MAX)],
        vec!["<m4294967295@fake>"],
        "{lines:?}"
    );
    assert!(lines.values().all(|ids| ids.len() == 1), "{lines:?}");
    assert_eq!(watcher.log().matches(" calling ").count(), 1, "{}", watcher.log());
    let m = mailbox_state(&manifest);
    assert_eq!(m["next-uid"], 1u64 << 32, "every UID there can be is done: {m}");
    assert_eq!(m["uidvalidity"], u32::MAX);
    assert_eq!(m["counts"]["handled"], 2);
    drop(watcher);
    // And after a restart, from the state.
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "the second session", &dir, || {
        server.accepted() >= 2
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(watcher.log().matches(" calling ").count(), 1, "{}", watcher.log());
    assert!(journal(&dir).values().all(|ids| ids.len() == 1));
    assert_eq!(mailbox_state(&manifest)["counts"]["handled"], 2);
}

/// A `{tag} OK` answer with `untagged` before it.
fn answer(untagged: &str) -> Step {
    send(format!("{untagged}{{tag}} OK done\r\n"))
}

#[test]
fn uidnext_0_and_search_answers_below_the_watermark_hand_out_nothing_and_do_not_loop() {
    let dir = test_dir("uidnext-0");
    // A mailbox holding 7 and 8 that says UIDNEXT 0 (no UID) and
    // UIDVALIDITY 0; `start = "new"` must not hand 7 and 8 out.
    let mut script = greeting("IMAP4rev1");
    script.extend([
        Step::Expect, // LOGIN
        answer(""),
        Step::Expect, // SELECT
        answer("* 2 EXISTS\r\n* OK [UIDVALIDITY 0] x\r\n* OK [UIDNEXT 0] x\r\n"),
        Step::Expect, // UID SEARCH UID 1:* (where new mail starts)
        answer("* SEARCH 0 7 8\r\n"),
        Step::Expect, // UID SEARCH UID 9:* (what is new)
        answer("* SEARCH 8\r\n"),
    ]);
    const POLLS: usize = 3;
    for _ in 0..POLLS {
        script.extend([
            Step::Expect, // NOOP
            answer("* 2 EXISTS\r\n"),
            Step::Expect, // STATUS INBOX (UIDVALIDITY)
            answer("* STATUS INBOX (UIDVALIDITY 0)\r\n"),
            Step::Expect, // UID SEARCH UID 9:*
            // The highest UID, below the watermark; one long gone; 0.
            answer("* SEARCH 3 0 8\r\n"),
        ]);
    }
    script.extend([Step::Expect, answer(""), Step::Close]);
    let server = ScriptServer::start(script);
    let manifest = polling_manifest(&dir, server.port, "new");
    let watcher = Watcher::start(&manifest, PASSWORD);
    let received = server.received();
    let log = watcher.log();
    drop(watcher);
    let lines: Vec<String> = received
        .iter()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
        .collect();
    let searches: Vec<&String> = lines.iter().filter(|l| l.contains("UID SEARCH")).collect();
    assert_eq!(searches.len(), 2 + POLLS, "{lines:#?}\n{log}");
    assert!(searches[0].ends_with("UID 1:*"), "{lines:#?}");
    assert!(searches[1..].iter().all(|l| l.ends_with("UID 9:*")), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("FETCH")),
        "nothing handed out: {lines:#?}"
    );
    assert!(log.contains("first-start uidvalidity=0 from-uid=9"), "{log}");
    assert!(!log.contains(" calling "), "{log}");
    assert!(journal(&dir).is_empty());
    let m = mailbox_state(&manifest);
    assert_eq!(m["next-uid"], 9, "{m}");
    assert_eq!(m["uidvalidity"], 0, "{m}");
    assert_eq!(m["counts"]["handled"], 0, "{m}");
}

#[test]
fn uidnext_going_backwards_does_not_move_the_watermark_back() {
    let dir = test_dir("uidnext-back");
    let server = FakeImap::serving(5, vec![1, 2, 3], Hostility::None);
    let manifest = polling_manifest(&dir, server.port, "all");
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(60), "the three messages", &dir, || {
        journal(&dir).len() == 3
    });
    drop(watcher);
    // The same mailbox on a server that now says UIDNEXT 2 and answers
    // `UID SEARCH UID 4:*` with its highest UID, 3.
    let mut script = greeting("IMAP4rev1");
    script.extend([
        Step::Expect, // LOGIN
        answer(""),
        Step::Expect, // SELECT
        answer("* 3 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\n* OK [UIDNEXT 2] x\r\n"),
        Step::Expect, // UID SEARCH UID 4:*
        answer("* SEARCH 3\r\n"),
        Step::Expect, // NOOP
        answer(""),
        Step::Expect, // STATUS
        answer("* STATUS INBOX (UIDVALIDITY 5)\r\n"),
        Step::Expect, // UID SEARCH UID 4:*
        answer("* SEARCH 2 3\r\n"),
        Step::Expect,
        answer(""),
        Step::Close,
    ]);
    let back = ScriptServer::start(script);
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace(&format!("port = {}", server.port), &format!("port = {}", back.port));
    std::fs::write(&manifest, text).unwrap();
    let watcher = Watcher::start(&manifest, PASSWORD);
    let lines: Vec<String> = back
        .received()
        .iter()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
        .collect();
    drop(watcher);
    let searches: Vec<&String> = lines.iter().filter(|l| l.contains("UID SEARCH")).collect();
    assert_eq!(searches.len(), 2, "{lines:#?}");
    assert!(searches.iter().all(|l| l.ends_with("UID 4:*")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("FETCH")), "{lines:#?}");
    assert!(journal(&dir).values().all(|ids| ids.len() == 1));
    let m = mailbox_state(&manifest);
    assert_eq!(m["next-uid"], 4, "{m}");
    assert_eq!(m["counts"]["handled"], 3, "{m}");
}

#[test]
fn a_shared_state_directory_is_refused_and_a_planted_link_not_followed() {
    let dir = test_dir("shared-state");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Another local user's link where the first layout wrote its temp file.
    let victim = dir.join("victim");
    std::fs::write(&victim, b"the victim's").unwrap();
    std::os::unix::fs::symlink(&victim, state.join("state.json.tmp")).unwrap();
    let manifest = manifest_with(&dir, "journal", &account("work", 9, "alice", "pw", "INBOX"), &[], "");
    let log = dir.join("watcher.log");
    let mut child = Command::new(release_wasimap_binary())
        .args(["watch", "--manifest"])
        .arg(&manifest)
        .env("WATCH_TEST_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // A watcher that took the directory would run on: bounded, then killed.
    let end = Instant::now() + Duration::from_secs(30);
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        exited.is_some_and(|s| !s.success()),
        "the watcher must refuse to start: {stderr}"
    );
    assert!(
        stderr.contains("state directory")
            && stderr.contains("writable by group or others")
            && stderr.contains("chmod go-w"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's");
    assert!(!state.join("lock").exists(), "nothing was written there");
}

#[test]
fn a_first_layout_state_is_migrated_with_its_dead_letters_bounded_and_the_pruned_shown() {
    let dir = test_dir("migrate");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let dead: Vec<String> = (1..=1003)
        .map(|u| format!(r#"{{"uid": {u}, "uidvalidity": 9, "attempts": 3, "error": "boom {u}", "at": 1}}"#))
        .collect();
    let old = format!(
        r#"{{"output-len": 0, "mailboxes": {{"work/INBOX": {{"account": "work", "mailbox": "INBOX",
          "uidvalidity": 9, "next-uid": 1004, "in-flight": null, "isolate-through": 0, "failures": {{}},
          "dead": [{}], "stopped": null, "counts": {{"handled": 0, "failed": 3009, "retried": 0,
          "dead-lettered": 1003, "replayed": 0, "reconnects": 0, "uidvalidity-changes": 0}}}}}}}}"#,
        dead.join(", ")
    );
    std::fs::write(state.join("state.json"), old).unwrap();
    let manifest = manifest_with(&dir, "journal", &account("work", 9, "alice", "pw", "INBOX"), &[], "");
    // Before a watcher opens it, --status reads the first layout as it is.
    assert_eq!(mailbox_state(&manifest)["dead"].as_array().unwrap().len(), 1003);
    // --reset opens the state as the watcher does: migrated, once.
    let out = watch_cli(&["--reset", "work"], &manifest);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!state.join("state.json").exists());
    let records: Vec<_> = std::fs::read_dir(state.join("mailboxes")).unwrap().flatten().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let m = mailbox_state(&manifest);
    let dead = m["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 1000);
    assert_eq!(dead[0]["uid"], 4, "the oldest were pruned");
    assert_eq!(m["counts"]["dead-pruned"], 3);
    assert_eq!(m["next-uid"], 1004);
    let text = status(&manifest, false);
    assert!(text.contains("dead letters pruned: work/INBOX 3 "), "{text}");
    assert_eq!(text.matches("dead letter: work/INBOX uid").count(), 1000);
}

/// The journal's lines as `(uidvalidity, uid)`, each once per time it
/// was written.
fn journal_pairs(dir: &Path) -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string(dir.join("journal.log")).unwrap_or_default();
    let mut pairs: Vec<(u32, u32)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    pairs.sort_unstable();
    pairs
}

#[test]
fn a_uidvalidity_change_across_the_edge_is_handled_once_under_each_policy() {
    // 4294967295 to 0 (what a counter that wraps would do) and 0 to
    // 4294967295: a change like any other, each message under the new
    // UIDVALIDITY handed out once (handle-all) or none of those already
    // there (skip-existing), and no loop.
    for (policy, from, to) in [("handle-all", u32::MAX, 0), ("skip-existing", 0, u32::MAX)] {
        let dir = test_dir(&format!("uidvalidity-edge-{policy}"));
        let server = FakeImap::serving(from, vec![1, 2], Hostility::None);
        let manifest = polling_manifest(&dir, server.port, "all");
        let text = std::fs::read_to_string(&manifest).unwrap().replacen(
            "[secrets]",
            &format!("on-uidvalidity-change = \"{policy}\"\n\n[secrets]"),
            1,
        );
        std::fs::write(&manifest, text).unwrap();
        let watcher = Watcher::start(&manifest, PASSWORD);
        wait_for(Duration::from_secs(30), "the first two messages", &dir, || {
            journal_pairs(&dir).len() == 2
        });
        server.recreate(to, vec![1, 2, 3]);
        let expected: Vec<(u32, u32)> = if policy == "handle-all" {
            vec![
                (from.min(to), 1),
                (from.min(to), 2),
                (from.min(to), 3),
                (from.max(to), 1),
                (from.max(to), 2),
            ]
        } else {
            vec![(from, 1), (from, 2)]
        };
        if policy == "handle-all" {
            wait_for(
                Duration::from_secs(30),
                "the re-created mailbox's messages",
                &dir,
                || journal_pairs(&dir).len() >= 5,
            );
        } else {
            wait_for(Duration::from_secs(30), "the change", &dir, || {
                mailbox_state(&manifest)["uidvalidity"] == to
            });
            // A message that arrives after the change is new under it.
            server.add_message();
            wait_for(Duration::from_secs(30), "the new message", &dir, || {
                journal_pairs(&dir).len() >= 3
            });
        }
        // Several polls more: nothing is handed out again.
        std::thread::sleep(Duration::from_secs(3));
        let mut want = expected.clone();
        if policy == "skip-existing" {
            want.push((to, 4));
            want.sort_unstable();
        }
        assert_eq!(journal_pairs(&dir), want, "{policy}\n{}", watcher.log());
        assert_eq!(mailbox_state(&manifest)["uidvalidity"], to, "{policy}");
    }
}
