//! `wasimap watch` and the account's secret against hostile servers: the
//! watcher's own session and the session it lends to the plugin are the
//! host's one guarded connection, so a server that sends the password
//! back (in message data, in its refusal of the login) reaches neither
//! the plugin nor its output, the log, the state or `--status`.

use std::time::Duration;

use wasimap_tests::fake_imap::{FakeImap, Hostility};
use wasimap_tests::watching::{
    account, all_files, evil_and_good, journal, manifest_with, status, test_dir, wait_for, Watcher,
};

/// A password no other text in a test contains.
const PASSWORD: &str = "hunter2-Echo-9f3a";

/// Asserts that no file under `dir` and no `--status` output contains
/// the password.
fn nowhere(dir: &std::path::Path, manifest: &std::path::Path) {
    for (path, bytes) in all_files(dir) {
        assert!(
            !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "the password is in {}:\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        );
    }
    for json in [false, true] {
        let out = status(manifest, json);
        assert!(!out.contains(PASSWORD), "the password is in --status:\n{out}");
    }
}

#[test]
fn a_server_echoing_the_password_on_the_lent_session_reaches_no_plugin_and_no_file() {
    let dir = test_dir("echo-lent");
    let server = FakeImap::serving(7, vec![1, 2, 3], Hostility::MessageId(PASSWORD.into()));
    let honest = FakeImap::serving(8, vec![1, 2], Hostility::None);
    let manifest = evil_and_good(&dir, server.port, honest.port);
    let watcher = Watcher::start(&manifest, PASSWORD);
    // The honest account's messages arrive; the hostile one's FETCH was
    // cut by the echo guard, so its batch fails and is retried.
    wait_for(Duration::from_secs(60), "the honest account's messages", &dir, || {
        journal(&dir).keys().filter(|(a, _)| a == "good").count() == 2
    });
    wait_for(
        Duration::from_secs(60),
        "a failed call of the hostile account",
        &dir,
        || watcher.log().contains("sent back a secret"),
    );
    assert!(
        journal(&dir).keys().all(|(a, _)| a == "good"),
        "nothing of the echoing server was written: {:?}",
        journal(&dir)
    );
    drop(watcher);
    nowhere(&dir, &manifest);
}

/// One account on a server that does `hostility`: each session is cut by
/// the guard before the password is read (the watcher goes on trying with
/// its backoff), and the password is nowhere.
fn each_session_cut_and_the_password_nowhere(name: &str, hostility: Hostility) {
    let dir = test_dir(name);
    let server = FakeImap::serving(7, vec![1], hostility);
    let manifest = manifest_with(
        &dir,
        "journal",
        &account("evil", server.port, "alice", "pw", "INBOX"),
        &[],
        "",
    );
    let watcher = Watcher::start(&manifest, PASSWORD);
    wait_for(Duration::from_secs(30), "three cut sessions", &dir, || {
        watcher.log().matches("sent back a secret").count() >= 3
    });
    assert!(server.accepted() >= 3);
    drop(watcher);
    nowhere(&dir, &manifest);
}

#[test]
fn a_server_quoting_the_password_in_its_login_refusal_reaches_no_log_state_or_status() {
    each_session_cut_and_the_password_nowhere(
        "echo-login",
        Hostility::RefuseLogin(format!("[AUTHENTICATIONFAILED] wrong password {PASSWORD}")),
    );
}

#[test]
fn a_server_sending_the_password_before_the_login_reaches_no_log_state_or_status() {
    // The password learnt on another connection, sent back in the
    // greeting of the next one, before this one revealed anything: the
    // guard is armed from the first byte with the secrets that may go
    // there.
    each_session_cut_and_the_password_nowhere(
        "echo-greeting",
        Hostility::Greeting(format!("[ALERT] {PASSWORD} ready")),
    );
}
