//! A plugin written in JavaScript: `guest/js/report/report.js`, built with
//! componentize-js by `just build-js` into `target/js/report.wasm`, run by
//! the release `wasimap` binary against Dovecot. Its output must equal the
//! Rust `report` plugin's (`guest/plugins/report`) on the same mailboxes,
//! byte for byte, failures included.
//!
//! The component embeds SpiderMonkey (about 15 MB): its first run compiles
//! it (about 15 s with the release host), and runs after that map the
//! compiled artifact from `target/wasimap-cache`. The first run is made
//! once per test binary (`warm_cache`), so parallel tests do not compile it
//! twice.

use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

use serde_json::json;
use wasimap_tests::{
    b, dovecot, login_lines, plugin_login_args, plugin_path, prebuilt_plugin, release_wasimap_binary, root, shell,
    unique_user,
};

/// `wasimap run PLUGIN ARGS` with loopback granted (if `allow`) and the
/// shared compiled-component cache.
fn run(plugin: &Path, allow: bool, args: &[String]) -> Output {
    let mut cmd = std::process::Command::new(release_wasimap_binary());
    cmd.arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"));
    if allow {
        cmd.args(["--allow", &format!("127.0.0.1:{}", dovecot().imap_port())]);
    }
    cmd.arg(plugin).args(args).output().unwrap()
}

fn js_report() -> &'static Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = prebuilt_plugin("target/js/report.wasm", "just build-js");
        // Compiles and caches it; a usage error is the plugin's `err`.
        let out = run(&path, false, &["--top".into()]);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "wasimap: plugin failed: --top needs a value\n"
        );
        path
    })
}

/// Runs both plugins with `args`: same exit code, same stdout, same stderr.
/// Returns the stdout.
fn same_output(allow: bool, args: &[String]) -> String {
    let js = run(js_report(), allow, args);
    let rust = run(&plugin_path("report"), allow, args);
    let text = |o: &Output| {
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(
        text(&js),
        text(&rust),
        "JavaScript (left) and Rust (right) differ for {args:?}"
    );
    text(&js).1
}

fn with(args: &[String], more: &[&str]) -> Vec<String> {
    args.iter().cloned().chain(more.iter().map(|s| s.to_string())).collect()
}

fn message(from: Option<&str>, subject: &str, body: &str) -> String {
    let from = from.map(|f| format!("From: {f}\r\n")).unwrap_or_default();
    format!("{from}Subject: {subject}\r\n\r\n{body}\r\n")
}

#[test]
fn the_javascript_report_equals_the_rust_report() {
    let user = unique_user("jsreport");
    let mut seed = login_lines(&user);
    // `&AOk-t&AOk-` is `été`, `B&APw-ro` `Büro`; `Reports 2024` needs quoting.
    for mailbox in ["&AOk-t&AOk-", "B&APw-ro", "Empty", "Reports 2024", "Zeta"] {
        seed.push(json!(["create", mailbox]));
    }
    let big = "b".repeat(500);
    let weekly = "line\r\n".repeat(50);
    for (mailbox, from, subject, body) in [
        ("INBOX", Some("The Boss <boss@example.org>"), "one", "a"),
        ("INBOX", Some("boss@EXAMPLE.org"), "two", big.as_str()),
        ("INBOX", Some("other@example.org"), "three", "c"),
        ("INBOX", Some("Zed <zed@example.org>"), "four", "c"),
        ("INBOX", Some("Amy <amy@example.org>"), "five", "c"),
        ("INBOX", Some("Ann <ann@example.org>"), "six", "c"),
        ("INBOX", Some("Bob <Bob@Example.org>"), "seven", "cc"),
        (
            "&AOk-t&AOk-",
            Some("=?utf-8?q?Ren=C3=A9?= <rene@example.org>"),
            "salut",
            "ça va",
        ),
        ("B&APw-ro", Some("undisclosed-recipients:;"), "group", "x"),
        ("Reports 2024", Some("reports@example.org"), "weekly", weekly.as_str()),
        ("Reports 2024", None, "anonymous", "who?"),
        ("Zeta", Some("z@example.org"), "last", "z"),
    ] {
        seed.push(json!(["append", mailbox, null, null, b(&message(from, subject, body))]));
    }
    let answers = shell(&seed);
    assert!(answers.iter().all(|a| a.get("error").is_none()), "{answers:#?}");

    let login = plugin_login_args(&user, dovecot().password());
    let all = same_output(true, &login);
    for line in [
        "Empty: 0 message(s), 0 bytes\n",
        "été: 1 message(s), ",
        "Büro: 1 message(s), ",
        "  (unknown)\n",
        "Reports 2024: 2 message(s), ",
        "INBOX: 7 message(s), ",
        "boss@example.org\n",
        "Bob@example.org\n",
    ] {
        assert!(all.contains(line), "{line:?} not in\n{all}");
    }
    // Mailboxes by the bytes of their wire names (`&` before letters).
    let order: Vec<&str> = all
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(order, ["été", "Büro", "Empty", "INBOX", "Reports 2024", "Zeta"]);

    for more in [
        &["--mailbox", "INBOX", "--top", "1"][..],
        &["--mailbox", "INBOX", "--top", "+3"],
        &["--mailbox", "Reports 2024"],
        &["--mailbox", "Nope"],
        &["--top", "many"],
        &["--stray"],
        &["oops"],
    ] {
        same_output(true, &with(&login, more));
    }
    // Failures: the wrong password, no grant, a missing --user.
    same_output(true, &plugin_login_args(&user, "wrong"));
    same_output(false, &login);
    same_output(true, &login[..4]);
    // EXAMINE only: nothing was marked seen.
    let mut check = login_lines(&user);
    check.push(json!(["status", "INBOX", "(UNSEEN)"]));
    assert_eq!(shell(&check)[2]["data"], json!([b("INBOX (UNSEEN 7)")]));
}
