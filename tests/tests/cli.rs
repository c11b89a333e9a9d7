//! The `wasimap` binary itself: `wasimap run` with the triage plugin
//! against Dovecot, checked through the server's state afterwards.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;
use wasimap_tests::{
    b, built_artifact, dovecot, login_lines, plugin_login_args, plugin_path, shell, unique_user, wasimap_binary,
};

/// A `hostile secret ...` run that succeeded and logged in.
fn assert_logged_in(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("login: OK"), "{stdout}");
}

/// The triage plugin's connection arguments.
fn triage_args(user: &str, password: &str, from: &str) -> Vec<String> {
    let mut args = plugin_login_args(user, password);
    args.extend(["--from".to_string(), from.to_string()]);
    args
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
        .args(triage_args(&user, d.password(), "boss@example.org"))
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
        .args(triage_args("nobody", "x", "a@b"))
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

#[test]
fn inspect_tells_plugins_from_other_components() {
    let out = Command::new(wasimap_binary())
        .arg("inspect")
        .arg(plugin_path("triage"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("  wasimap:imap/client@0.1.0") && stdout.contains("runs: yes"),
        "{stdout}"
    );
    assert!(stdout.contains("exports:\n  run\n"), "{stdout}");

    let protocol = std::env::temp_dir().join(format!("wasimap-protocol-{}.wasm", std::process::id()));
    std::fs::write(&protocol, wasimap_sandbox::PROTOCOL_COMPONENT).unwrap();
    let out = Command::new(wasimap_binary())
        .arg("inspect")
        .arg(&protocol)
        .output()
        .unwrap();
    std::fs::remove_file(&protocol).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("runs: no") && stdout.contains("only the protocol component may use it"),
        "{stdout}"
    );
}

#[test]
fn limits_and_secrets_from_flags_and_manifest() {
    let d = dovecot();
    let hostile = plugin_path("hostile");
    let out = Command::new(wasimap_binary())
        .args(["run", "--timeout", "1"])
        .arg(&hostile)
        .arg("loop")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin exceeded the time limit of 1s"));

    let dir = std::env::temp_dir().join(format!("wasimap-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("wasimap.toml");
    std::fs::write(
        &manifest,
        format!(
            "allow = [\"127.0.0.1:{}\"]\n[limits]\nmemory-mib = 32\n[secrets]\nimap-password = \"env:WASIMAP_TEST_PW\"\n",
            d.imap_port()
        ),
    )
    .unwrap();
    let user = unique_user("manifest");
    let out = Command::new(wasimap_binary())
        .args(["run", "--manifest"])
        .arg(&manifest)
        .arg(&hostile)
        .args([
            "secret",
            "127.0.0.1",
            &d.imap_port().to_string(),
            &user,
            "imap-password",
        ])
        .env("WASIMAP_TEST_PW", d.password())
        .output()
        .unwrap();
    assert_logged_in(&out);

    let out = Command::new(wasimap_binary())
        .args(["run", "--manifest"])
        .arg(&manifest)
        .arg(&hostile)
        .arg("memory")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin exceeded the memory limit of 32 MiB"));

    // A secret given by flag, from a file.
    let secret_file = dir.join("pw");
    std::fs::write(&secret_file, format!("{}\n", d.password())).unwrap();
    let out = Command::new(wasimap_binary())
        .args(["run", "--allow", &format!("127.0.0.1:{}", d.imap_port()), "--secret"])
        .arg(format!("pw=file:{}", secret_file.display()))
        .arg(&hostile)
        .args([
            "secret",
            "127.0.0.1",
            &d.imap_port().to_string(),
            &unique_user("flag"),
            "pw",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("login: OK"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `host/sandbox/examples/embed.rs`: wasimap in an embedder's own wasmtime setup,
/// with the blocking linker and (`--async`) on tokio.
#[test]
fn the_embedding_example_runs_a_plugin() {
    let d = dovecot();
    let example = built_artifact("examples/embed", "`cargo test` builds the host's examples");
    let port = d.imap_port().to_string();
    let hostile = plugin_path("hostile");
    for mode in [None, Some("--async")] {
        let user = unique_user("embed");
        let out = Command::new(&example)
            .args(mode)
            .arg(&hostile)
            .arg(format!("127.0.0.1:{port}"))
            .args(["secret", "127.0.0.1", &port, &user, "imap-password"])
            .env("IMAP_PASSWORD", d.password())
            .output()
            .unwrap();
        assert_logged_in(&out);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("embed: run 1 finished: Ok(())"),
            "{mode:?}: {out:?}"
        );
    }
}

/// The example's deadline and store limits hold under both linkers: wasm
/// that computes without end is stopped by the epoch, a plugin asleep in
/// the host by the deadline clock, one that grows its memory by the
/// store's limiter, each with the reason.
#[test]
fn the_embedding_example_holds_its_deadline_and_store_limits() {
    let example = built_artifact("examples/embed", "`cargo test` builds the host's examples");
    let hostile = plugin_path("hostile");
    // The clock and the limiter are one code for both linkers; the epoch
    // ends a blocking call and an async one differently. (Each run compiles
    // the plugin with a debug host, about 10 s.)
    let past = "ran past its 2s deadline";
    for (mode, flags, job, reason) in [
        (None, ["--timeout", "2"], "loop", past),
        (None, ["--memory", "64"], "memory", "the store's Memory limit"),
        (Some("--async"), ["--timeout", "2"], "loop", past),
        (Some("--async"), ["--timeout", "2"], "sleep", past),
    ] {
        let started = std::time::Instant::now();
        let out = Command::new(&example)
            .args(mode)
            .args(flags)
            .arg(&hostile)
            .arg("127.0.0.1:1")
            .arg(job)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(reason),
            "{mode:?} {job}: {stderr}"
        );
        // A bound on a hang, not a speed: the deadline is 2 s.
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{mode:?} {job}");
    }
}

#[test]
fn a_grant_for_another_port_does_not_cover_this_one() {
    let d = dovecot();
    let port = d.imap_port().to_string();
    let out = Command::new(wasimap_binary())
        .args(["run", "--allow", &format!("127.0.0.1:{}", d.imaps_port())])
        .arg(plugin_path("triage"))
        .args(triage_args("nobody", "x", "a@b"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("connection to 127.0.0.1:{port} not allowed")),
        "{stderr}"
    );
}
