//! The `wasimap` binary itself: `wasimap run` with the triage plugin
//! against Dovecot, checked through the server's state afterwards.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;
use wasimap_tests::{b, dovecot, login_lines, plugin_path, shell, unique_user};

/// `target/debug/wasimap`, next to this test's `deps/` directory.
fn wasimap_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("wasimap");
    assert!(
        bin.exists(),
        "{} missing: build it with `cargo build -p wasimap-host` (just test does)",
        bin.display()
    );
    bin
}

/// The triage plugin's connection arguments.
fn triage_args(port: &str, user: &str, password: &str, from: &str) -> Vec<String> {
    [
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--user",
        user,
        "--password",
        password,
        "--from",
        from,
    ]
    .map(String::from)
    .to_vec()
}

fn message(from: &str, subject: &str) -> serde_json::Value {
    b(&format!("From: {from}\r\nSubject: {subject}\r\n\r\nbody\r\n"))
}

#[test]
fn triage_moves_unseen_mail_from_the_sender() {
    let d = dovecot();
    let user = unique_user("triage");
    let mut seed = login_lines(&user);
    seed.extend([
        json!(["create", "Important"]),
        json!(["append", "INBOX", null, null, message("boss@example.org", "Budget")]),
        json!(["append", "INBOX", null, null, message("other@example.org", "Lunch")]),
        json!([
            "append",
            "INBOX",
            "\\Seen",
            null,
            message("boss@example.org", "Seen already")
        ]),
        json!(["append", "INBOX", null, null, message("boss@example.org", "Agenda")]),
    ]);
    assert!(shell(&seed).iter().all(|a| a.get("error").is_none()));

    let port = d.imap_port().to_string();
    let out = Command::new(wasimap_binary())
        .args(["run", "--allow", &format!("127.0.0.1:{port}")])
        .arg(plugin_path("triage"))
        .args(triage_args(&port, &user, d.password(), "boss@example.org"))
        .args(["--move-to", "Important"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("INBOX                               4        3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 unseen message(s) from boss@example.org in INBOX"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  - Budget") && stdout.contains("  - Agenda"),
        "{stdout}"
    );
    assert!(stdout.contains("moved 2 message(s) to Important"), "{stdout}");

    let mut check = login_lines(&user);
    check.extend([
        json!(["status", "INBOX", "(MESSAGES)"]),
        json!(["status", "Important", "(MESSAGES UNSEEN)"]),
    ]);
    let a = shell(&check);
    assert_eq!(a[2]["data"], json!([b("INBOX (MESSAGES 2)")]));
    assert_eq!(a[3]["data"], json!([b("Important (MESSAGES 2 UNSEEN 2)")]));
}

#[test]
fn run_without_permission_fails_with_a_hint() {
    let d = dovecot();
    let port = d.imap_port().to_string();
    let out = Command::new(wasimap_binary())
        .arg("run")
        .arg(plugin_path("triage"))
        .args(triage_args(&port, "nobody", "x", "a@b"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "connection to 127.0.0.1:{port} not allowed (grant it with --allow 127.0.0.1:{port})"
        )),
        "{stderr}"
    );
}

#[test]
fn a_non_plugin_is_refused() {
    let out = Command::new(wasimap_binary())
        .args(["run"])
        .arg(PathBuf::from(env!("WASIMAP_PLUGIN_SHELL")).with_file_name("no-such.wasm"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.wasm"));
}
