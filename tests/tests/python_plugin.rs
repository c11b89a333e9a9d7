//! A plugin written in Python: `guest/python/report`, built with
//! componentize-py by `just build-python` into `target/python/report.wasm`,
//! run by the release `wasimap` binary against Dovecot. Its report's counts and
//! sizes are checked against the messages the test appended.
//!
//! The component embeds CPython (about 20 MB): the first run compiles it,
//! which takes about 6 s with the release host (a minute or more with the
//! debug one, hence the release binary); runs after that map the
//! compiled artifact from `target/wasimap-cache`. The first run is made once
//! per test binary (`warm_cache`), so parallel tests do not compile it twice.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::json;
use wasimap_tests::{
    b, dovecot, login_lines, plugin_login_args as login_args, prebuilt_plugin, release_wasimap_binary, root, shell,
    unique_user,
};

/// `target/python/report.wasm`; the test fails (it does not skip) without it.
fn report_plugin() -> PathBuf {
    prebuilt_plugin(
        "target/python/report.wasm",
        "just build-python` (needs `pip install componentize-py",
    )
}

/// `wasimap run` of the report plugin with loopback granted (`allow`) and
/// the shared compiled-component cache.
fn run_report(allow: bool, args: &[String]) -> Output {
    let mut cmd = Command::new(release_wasimap_binary());
    cmd.arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"));
    if allow {
        cmd.args(["--allow", &format!("127.0.0.1:{}", dovecot().imap_port())]);
    }
    cmd.arg(report_plugin()).args(args).output().unwrap()
}

/// `args` followed by `more`.
fn with(args: &[String], more: &[&str]) -> Vec<String> {
    args.iter().cloned().chain(more.iter().map(|s| s.to_string())).collect()
}

/// Runs the plugin once without arguments, which compiles and caches it
/// (and checks that a usage error is the plugin's `err`, exit 1).
fn warm_cache() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let out = run_report(false, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("wasimap: plugin failed: usage: report --user USER --password PASS"),
            "{stderr}"
        );
    });
}

fn stdout_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A message with LF line endings, as the test appends it.
fn message(from: Option<&str>, subject: &str, body: &str) -> String {
    let from = from.map(|f| format!("From: {f}\n")).unwrap_or_default();
    format!("{from}Subject: {subject}\n\n{body}\n")
}

/// Its RFC822.SIZE: APPEND turns bare LF into CRLF, and the server counts
/// the message as stored.
fn size(message: &str) -> usize {
    message.replace('\n', "\r\n").len()
}

/// A mailbox heading line of the report.
fn heading(name: &str, messages: usize, bytes: usize) -> String {
    format!("{name}: {messages} message(s), {bytes} bytes\n")
}

/// The header of a sender table.
const SENDERS: &str = "  SENDER                                MESSAGES      BYTES\n";

/// One sender row of the report.
fn row(address: &str, messages: usize, bytes: usize) -> String {
    format!("  {address:<36} {messages:>9} {bytes:>10}\n")
}

#[test]
fn report_counts_messages_and_bytes_per_sender() {
    warm_cache();
    let d = dovecot();
    let user = unique_user("pyreport");

    let budget = message(Some("The Boss <Boss@Example.org>"), "Budget", "numbers");
    let agenda = message(Some("boss@example.org"), "Agenda", &"x".repeat(300));
    let lunch = message(Some("other@example.org"), "Lunch", "at noon?");
    let rene = message(Some("=?utf-8?q?Ren=C3=A9?= <rene@example.org>"), "Salut", "ca va");
    let anonymous = message(None, "No sender", "who wrote this?");
    let weekly = message(Some("reports@example.org"), "Weekly", &"line\n".repeat(50));

    let mut seed = login_lines(&user);
    // `B&APw-ro` is `Büro` in modified UTF-7; `Reports 2024` needs quoting.
    for mailbox in ["B&APw-ro", "Empty", "Reports 2024"] {
        seed.push(json!(["create", mailbox]));
    }
    for (mailbox, m) in [
        ("INBOX", &budget),
        ("INBOX", &lunch),
        ("INBOX", &agenda),
        ("B&APw-ro", &rene),
        ("Reports 2024", &weekly),
        ("Reports 2024", &anonymous),
    ] {
        seed.push(json!(["append", mailbox, null, null, b(m)]));
    }
    let answers = shell(&seed);
    assert!(answers.iter().all(|a| a.get("error").is_none()), "{answers:#?}");

    let login = login_args(&user, d.password());
    let stdout = stdout_of(&run_report(true, &login));

    // INBOX first, then the others by their names on the server.
    let inbox = size(&budget) + size(&agenda) + size(&lunch);
    let reports = size(&weekly) + size(&anonymous);
    let total = inbox + size(&rene) + reports;
    let expected = [
        heading("INBOX", 3, inbox),
        SENDERS.into(),
        row("boss@example.org", 2, size(&budget) + size(&agenda)),
        row("other@example.org", 1, size(&lunch)),
        "\n".into(),
        heading("Büro", 1, size(&rene)),
        SENDERS.into(),
        row("rene@example.org", 1, size(&rene)),
        "\n".into(),
        heading("Empty", 0, 0),
        "\n".into(),
        heading("Reports 2024", 2, reports),
        SENDERS.into(),
        // Equal counts: more bytes first.
        row("reports@example.org", 1, size(&weekly)),
        row("(none)", 1, size(&anonymous)),
        "\n".into(),
        format!("TOTAL: 6 message(s), {total} bytes in 4 mailbox(es)\n"),
    ]
    .concat();
    assert_eq!(stdout, expected);

    // One mailbox, the top sender only.
    let stdout = stdout_of(&run_report(true, &with(&login, &["--mailbox", "INBOX", "--top", "1"])));
    let expected = [
        heading("INBOX", 3, inbox),
        SENDERS.into(),
        row("boss@example.org", 2, size(&budget) + size(&agenda)),
        "\n".into(),
        format!("TOTAL: 3 message(s), {inbox} bytes in 1 mailbox(es)\n"),
    ]
    .concat();
    assert_eq!(stdout, expected);

    // EXAMINE only: nothing was marked seen or changed.
    let mut check = login_lines(&user);
    check.push(json!(["status", "INBOX", "(MESSAGES UNSEEN)"]));
    let a = shell(&check);
    assert_eq!(a[2]["data"], json!([b("INBOX (MESSAGES 3 UNSEEN 3)")]));
}

#[test]
fn report_failures_are_the_plugins_err() {
    warm_cache();
    let port = dovecot().imap_port();
    let user = unique_user("pyreport-err");

    let out = run_report(true, &login_args(&user, "wrong"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("wasimap: plugin failed: LOGIN: IMAP error: b'[AUTHENTICATIONFAILED] Authentication failed.'"),
        "{stderr}"
    );

    let out = run_report(false, &login_args(&user, dovecot().password()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "connection to 127.0.0.1:{port} not allowed (grant it with --allow 127.0.0.1:{port})"
        )),
        "{stderr}"
    );

    let args = with(&login_args(&user, dovecot().password()), &["--mailbox", "Nope"]);
    let out = run_report(true, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("EXAMINE Nope failed: NO Mailbox doesn't exist: Nope"),
        "{stderr}"
    );
}
