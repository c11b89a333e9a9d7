//! Existing imaplib scripts, unchanged, in the sandbox: each script of
//! `tests/imaplib-scripts/` runs once under CPython's own `imaplib`
//! (`python3 script.py ...`) and once as `wasimap run script.py ...`
//! (componentize-py builds it into a plugin around the sandbox's
//! `imaplib`), each against a fresh Dovecot account seeded alike by
//! `seed.py`. Their stdout, exit status and the accounts' resulting state
//! (`state.py`: mailboxes, flags, internal dates, message digests) must
//! be the same.
//!
//! Each script is its own plugin: the first `wasimap run` of a script
//! builds it (componentize-py, ~10 s) and compiles it (the release host,
//! ~5 s); later runs take both from `target/wasimap-cache`, which is what
//! `a_second_run_starts_from_the_cache` measures. The timings are printed
//! (`cargo test -- --nocapture` shows them).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use wasimap_tests::{dovecot, release_wasimap_binary, root, unique_user};

/// `tests/imaplib-scripts/NAME`.
fn script(name: &str) -> PathBuf {
    root().join("tests/imaplib-scripts").join(name)
}

/// A helper script of the corpus (`seed.py`, `state.py`) run by CPython
/// for `user`; its stdout.
fn helper(name: &str, user: &str) -> String {
    let d = dovecot();
    let out = Command::new("python3")
        .arg(script(name))
        .args(["127.0.0.1", &d.imap_port().to_string(), user, d.password()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{name} {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The script's arguments for `user`: host, port (`tls`: the implicit
/// TLS one), user, password, then `extra` (`{CA}` is the server's CA file).
fn args(user: &str, tls: bool, extra: &[&str]) -> Vec<String> {
    let d = dovecot();
    let port = if tls { d.imaps_port() } else { d.imap_port() };
    let mut a = vec!["127.0.0.1".into(), port.to_string(), user.into(), d.password().into()];
    a.extend(extra.iter().map(|e| e.replace("{CA}", d.get("WASIMAP_CA"))));
    a
}

/// `python3 SCRIPT ARGS` in UTC (the sandbox has no local zone).
fn cpython(name: &str, args: &[String]) -> Output {
    Command::new("python3")
        .arg(script(name))
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("python3")
}

/// `wasimap run` of the script with the server's ports and CA granted.
fn wasimap(name: &str, args: &[String]) -> (Output, Duration) {
    let d = dovecot();
    let grants = [
        "--allow".to_string(),
        format!("127.0.0.1:{}", d.imap_port()),
        "--allow".into(),
        format!("127.0.0.1:{}", d.imaps_port()),
        "--allow-ca".into(),
        d.get("WASIMAP_CA").into(),
    ];
    wasimap_granted(name, &grants, args)
}

/// `wasimap run` of the script with exactly the `grants` given.
fn wasimap_granted(name: &str, grants: &[String], args: &[String]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(release_wasimap_binary())
        .arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .args(grants)
        .arg(script(name))
        .args(args)
        .output()
        .expect("wasimap");
    (out, start.elapsed())
}

/// What legitimately differs between the two runs: the user names and
/// Dovecot's timings.
fn normalize(text: &str, user: &str) -> String {
    static TIMING: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\(\d+\.\d+ \+ \d+\.\d+ (?:\+ \d+\.\d+ )?secs\)").unwrap());
    TIMING.replace_all(&text.replace(user, "USER"), "(T secs)").into_owned()
}

/// Runs `name` both ways on fresh, equally seeded accounts and asserts
/// equal stdout, exit status and resulting state; returns wasimap's stdout.
fn same_both_ways(name: &str, tls: bool, extra: &[&str]) -> String {
    let (cuser, wuser) = (unique_user("pyscript-c"), unique_user("pyscript-w"));
    helper("seed.py", &cuser);
    helper("seed.py", &wuser);
    let theirs = cpython(name, &args(&cuser, tls, extra));
    let (ours, took) = wasimap(name, &args(&wuser, tls, extra));
    eprintln!("{name}: wasimap run took {:.2} s", took.as_secs_f64());
    let (t, o) = (
        normalize(&String::from_utf8_lossy(&theirs.stdout), &cuser),
        normalize(&String::from_utf8_lossy(&ours.stdout), &wuser),
    );
    assert!(
        theirs.status.success(),
        "CPython failed: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "{name}: exit status\nwasimap stderr: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        o,
        t,
        "{name}: stdout\nwasimap stderr: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(!o.is_empty(), "{name} printed nothing");
    let (ts, os) = (
        normalize(&helper("state.py", &cuser), &cuser),
        normalize(&helper("state.py", &wuser), &wuser),
    );
    assert_eq!(os, ts, "{name}: resulting mailbox state");
    o
}

#[test]
fn list_mailboxes() {
    let out = same_both_ways("list_mailboxes.py", false, &[]);
    assert!(out.contains("INBOX                       6      5\n"), "{out}");
}

#[test]
fn mark_read() {
    let out = same_both_ways("mark_read.py", false, &["boss@example.org"]);
    assert!(out.contains("still unseen: 3 4 5\n"), "{out}");
}

#[test]
fn move_newsletters() {
    let out = same_both_ways("move_newsletters.py", false, &[]);
    assert!(out.contains("Newsletters (MESSAGES 2)"), "{out}");
}

#[test]
fn delete_old() {
    let out = same_both_ways("delete_old.py", false, &["INBOX", "01-Jan-2026"]);
    assert!(out.contains("expunged: ['2', '1']"), "{out}");
}

#[test]
fn download_attachments() {
    let out = same_both_ways("download_attachments.py", false, &[]);
    assert!(out.contains("résumé.csv text/csv 21 bytes"), "{out}");
}

#[test]
fn export_mbox() {
    let out = same_both_ways("export_mbox.py", false, &[]);
    assert_eq!(out.matches("From MAILER-DAEMON ").count(), 6, "{out}");
    assert!(out.contains("\n>From the archive:\n"), "{out}");
}

#[test]
fn idle_new_mail() {
    let out = same_both_ways("idle_new_mail.py", false, &[]);
    assert!(out.contains("new mail: 8 message(s)\nIDLE done: OK\n"), "{out}");
}

#[test]
fn idle_context_manager_of_python_3_14() {
    // Python 3.14's `idle()` is not in the CPython here (3.11), so this
    // script runs under wasimap alone; what it prints follows from the
    // mail it delivers to itself (6 seeded, then 2 while idling, then 1).
    let user = unique_user("pyscript-idle");
    helper("seed.py", &user);
    let (out, took) = wasimap("idle_context.py", &args(&user, false, &[]));
    eprintln!("idle_context.py: wasimap run took {:.2} s", took.as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout,
        "INBOX has 6 message(s)\n\
         state while idling: IDLING\n\
         idle saw EXISTS 8\n\
         state after idle: SELECTED\n\
         burst: EXISTS up to 9\n\
         quiet idle: 0 response(s), ended by its duration: True\n\
         delivered: 3 message(s)\n"
    );
}

#[test]
fn insecure_tls_needs_the_hosts_consent() {
    // Verification off, as scripts for self-signed servers have it: CPython
    // connects without the CA; wasimap does only where the user granted
    // `--allow-insecure-tls` for that endpoint (and no CA is given here).
    let d = dovecot();
    let endpoint = format!("127.0.0.1:{}", d.imaps_port());
    let (cuser, wuser) = (unique_user("pyscript-insecure-c"), unique_user("pyscript-insecure-w"));
    helper("seed.py", &cuser);
    helper("seed.py", &wuser);
    let theirs = cpython("insecure_tls.py", &args(&cuser, true, &[]));
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout),
        "login: OK\nINBOX: 6 message(s)\n"
    );

    let consent = [
        "--allow".to_string(),
        endpoint.clone(),
        "--allow-insecure-tls".into(),
        endpoint.clone(),
    ];
    let (ours, _) = wasimap_granted("insecure_tls.py", &consent, &args(&wuser, true, &[]));
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    assert_eq!(ours.stdout, theirs.stdout);

    // The same script with the endpoint granted but not its insecure TLS:
    // a refusal that names the grant, before any handshake.
    let (ours, _) = wasimap_granted("insecure_tls.py", &consent[..2], &args(&wuser, true, &[]));
    let stdout = String::from_utf8_lossy(&ours.stdout);
    assert_eq!(
        stdout,
        format!(
            "connect failed: error accepting invalid certificates from {endpoint} not allowed \
             (grant it with --allow-insecure-tls {endpoint})\n"
        )
    );

    // Only the name check off: the host verifies certificate and name
    // together, so the script is told plainly instead of half-verifying.
    let (ours, _) = wasimap_granted("insecure_tls.py", &consent, &args(&wuser, true, &["hostname-only"]));
    let stdout = String::from_utf8_lossy(&ours.stdout);
    assert!(
        stdout.starts_with(
            "connect failed: NotImplementedError ssl_context: the host verifies certificate and name together"
        ),
        "{stdout}"
    );
}

#[test]
fn starttls_unseen() {
    let out = same_both_ways("starttls_unseen.py", false, &["{CA}"]);
    assert!(out.contains("STARTTLS: OK"), "{out}");
}

#[test]
fn ssl_senders() {
    let out = same_both_ways("ssl_senders.py", true, &["{CA}"]);
    assert!(out.contains("René <rene@example.org>"), "{out}");
}

#[test]
fn cram_md5_flags() {
    let out = same_both_ways("cram_md5_flags.py", false, &[]);
    assert!(out.contains("login: OK AUTH"), "{out}");
}

#[test]
fn authenticate_plain() {
    let out = same_both_ways("authenticate_plain.py", false, &[]);
    assert!(out.contains("callback calls: [b'']"), "{out}");
}

#[test]
fn archive_by_year() {
    let out = same_both_ways("archive_by_year.py", false, &[]);
    assert!(out.contains("Archive/2024: 1 message(s) OK"), "{out}");
}

/// `wasimap run` of a script outside the corpus (written under
/// `target/pyscript-tests/`), with `env` added.
fn wasimap_source(file: &str, source: &str, env: &[(&str, &str)], args: &[String]) -> Output {
    let dir = root().join("target/pyscript-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, source).unwrap();
    let mut cmd = Command::new(release_wasimap_binary());
    cmd.arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .arg(&path)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("wasimap")
}

#[test]
fn the_sandbox_gives_python_its_usual_errors() {
    let d = dovecot();
    let port = d.imap_port().to_string();
    // Even with the server granted, the script's own socket gets nowhere:
    // only the protocol component connects, through the host.
    let (out, first) = wasimap("sandbox_probe.py", &["127.0.0.1".into(), port.clone()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("socket: ") && !lines[0].contains("connected"),
        "{stdout}"
    );
    // socket.gaierror: the sandbox has no resolver either.
    assert!(
        lines[0].to_lowercase().ends_with("error"),
        "an OSError subclass: {stdout}"
    );
    assert!(
        lines[1].starts_with("file: ") && lines[1].ends_with("Error"),
        "{stdout}"
    );
    assert!(!lines[1].contains("read"), "{stdout}");
    assert_eq!(lines[2], "env: KeyError 'HOME'", "{stdout}");
    assert_eq!(lines[3], "environment size: 0", "{stdout}");

    // CPython, unsandboxed, reaches all three.
    let theirs = cpython("sandbox_probe.py", &["127.0.0.1".into(), port.clone()]);
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    assert!(theirs.starts_with("socket: connected"), "{theirs}");

    // The second run of the same script neither builds nor compiles.
    let (out, second) = wasimap("sandbox_probe.py", &["127.0.0.1".into(), port]);
    assert!(out.status.success());
    eprintln!(
        "sandbox_probe.py: first run {:.2} s, cached run {:.2} s",
        first.as_secs_f64(),
        second.as_secs_f64()
    );
    assert!(second < Duration::from_secs(5), "cached start took {second:?}");
}

#[test]
fn a_secret_logs_in_without_the_script_seeing_it() {
    let d = dovecot();
    let user = unique_user("pyscript-secret");
    let out = Command::new(release_wasimap_binary())
        .arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .args(["--allow", &format!("127.0.0.1:{}", d.imap_port())])
        .args(["--secret", "pw=env:PYSCRIPT_TEST_PASSWORD"])
        .env("PYSCRIPT_TEST_PASSWORD", d.password())
        .arg(script("secret_login.py"))
        .args(["127.0.0.1", &d.imap_port().to_string(), &user, "pw"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout,
        "login: OK Logged in\npassword seen as: wasimap.secret('pw')\nINBOX: 0 message(s)\n"
    );
}

#[test]
fn missing_componentize_py_says_how_to_install_it() {
    // A script no run has built, so nothing comes from the cache.
    let source = format!("print('never built {}')\n", unique_user("x"));
    let out = wasimap_source(
        "missing.py",
        &source,
        &[("WASIMAP_COMPONENTIZE_PY", "/nonexistent/componentize-py")],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs componentize-py, which is not installed")
            && stderr.contains("pip install componentize-py==0.25.1"),
        "{stderr}"
    );
}

#[test]
fn exit_status_and_tracebacks_are_pythons() {
    let out = wasimap_source(
        "fails.py",
        "import sys\nprint('args', sys.argv[1:])\nif sys.argv[1] == 'exit':\n    sys.exit(3)\nraise ValueError('boom')\n",
        &[],
        &["exit".into()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "args ['exit']\n");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fails.py exited with status 3"), "{stderr}");

    let out = wasimap_source(
        "fails.py",
        "import sys\nprint('args', sys.argv[1:])\nif sys.argv[1] == 'exit':\n    sys.exit(3)\nraise ValueError('boom')\n",
        &[],
        &["raise".into()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Traceback (most recent call last):") && stderr.contains("ValueError: boom"),
        "{stderr}"
    );
}

#[test]
fn transport_failures_raise_what_cpython_raises() {
    // A loopback port nobody listens on, granted to the script.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dovecot();
    let args = ["127.0.0.1".to_string(), closed.to_string()];
    let theirs = cpython("connect_errors.py", &args);
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    assert_eq!(theirs, "refused: ConnectionRefusedError 111\n");

    let mut ours_args = args.to_vec();
    ours_args.push(d.imap_port().to_string());
    let out = Command::new(release_wasimap_binary())
        .arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .args(["--allow", &format!("127.0.0.1:{closed}")])
        .arg(script("connect_errors.py"))
        .args(&ours_args)
        .output()
        .expect("wasimap");
    let ours = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The refusal as CPython has it; Dovecot's port, not granted, is the
    // sandbox's refusal, not a connection.
    assert_eq!(ours, format!("{theirs}ungranted: IMAP4.error\n"));
}

#[test]
fn imap4_stream_runs_the_granted_command() {
    let d = dovecot();
    // Dovecot's imap binary serves the user its `-u` names.
    let user = unique_user("pyscript-s");
    helper("seed.py", &user);
    let server = d.get("WASIMAP_STREAM_COMMAND");
    let args = [format!("{server} -u {user}")];
    let theirs = cpython("stream_examine.py", &args);
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let out = Command::new(release_wasimap_binary())
        .arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .args(["--allow-exec", &format!("{server} **")])
        .arg(script("stream_examine.py"))
        .args(&args)
        .output()
        .expect("wasimap");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("state: AUTH"));

    // Without the grant the command does not run.
    let out = Command::new(release_wasimap_binary())
        .arg("run")
        .arg("--cache-dir")
        .arg(root().join("target/wasimap-cache"))
        .arg(script("stream_examine.py"))
        .args(&args)
        .output()
        .expect("wasimap");
    assert!(!out.status.success());
}
