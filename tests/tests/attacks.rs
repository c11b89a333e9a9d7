//! Adversarial tests of the sandbox (issue #13): secrets a plugin tries to
//! read back or send where they are not bound, TLS trust it tries to take,
//! a compile cache it tries to poison, limits it tries to exceed, stalls it
//! tries to cause. Each attempt must end in a clear error, with the host
//! alive and nothing leaked. Grants of exec, read and connect are attacked
//! in `attack_grants.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wasimap_sandbox::limits::{StoreLimitsConfig, TransportLimits};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::runner::{Outcome, RunError, Stdio};
use wasimap_sandbox::{Endpoint, Policy, Runner, RunnerConfig, SecretSource, Secrets, TlsTrust};
use wasimap_tests::script_server::{greeting, preauth, send, ScriptServer, Step};
use wasimap_tests::{cached_config as config, dovecot, plugin_path, root, unique_user, wasimap_binary};

const SECRET: &str = "diffpass-7Qz";

fn allow(patterns: &[String]) -> Policy {
    patterns
        .iter()
        .fold(Policy::deny_all(), |p, s| p.allow(s.parse::<HostPattern>().unwrap()))
}

fn secret(value: &str) -> Secrets {
    Secrets::none().define("pw", SecretSource::Value(value.to_string()))
}

/// Runs `plugin` under `config`; the runner is dropped afterwards.
fn run(config: RunnerConfig, plugin: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    let runner = Runner::new(config).expect("runner");
    let component = runner.load(&std::fs::read(plugin_path(plugin)).unwrap()).expect("load");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    runner.run(&component, &args, Stdio::Captured(stdin.to_vec()))
}

/// Runs a shell script; returns the answers and everything the plugin
/// could print (stdout and stderr).
fn shell_with(config: RunnerConfig, script: &[Value]) -> (Vec<Value>, String) {
    let input: String = script.iter().map(|v| format!("{v}\n")).collect();
    let out = run(config, "shell", &[], input.as_bytes());
    assert!(matches!(out.result, Ok(Ok(()))), "shell failed: {:?}", out.result);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let answers = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (answers, stdout + &String::from_utf8_lossy(&out.stderr))
}

fn message(answer: &Value) -> String {
    answer["message"].as_str().unwrap_or_default().to_string()
}

fn assert_no_secret(seen: &str, secret: &str) {
    use base64::Engine;
    assert!(!seen.contains(secret), "the plugin saw the secret: {seen}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(!seen.contains(&b64[..8]), "the plugin saw the secret in base64: {seen}");
}

fn dovecot_grant() -> (String, u16) {
    let d = dovecot();
    (format!("127.0.0.1:{}", d.imap_port()), d.imap_port())
}

// ----- secrets -----

#[test]
fn raw_io_desync_cannot_make_dovecot_echo_a_secret() {
    // The reported theft: raw `send` leaves bytes before the next command,
    // a literal swallows the LOGIN, Dovecot's BAD echoes the password.
    let (grant, port) = dovecot_grant();
    let user = unique_user("desync");
    for raw in [
        vec![json!(["send", {"b": "TAG XBADCMD\r\nZ"}])],
        vec![json!(["send", {"b": "Y2 SEARCH CHARSET {17+}\r\n"}])],
        vec![json!(["send", {"b": "Y3 NOOP\r\n"}]), json!(["readline"])],
        vec![json!(["noop"]), json!(["readline"])],
    ] {
        // A readline with nothing to read ends at the read timeout.
        let mut script = vec![json!(["IMAP4", "127.0.0.1", port, {"timeout": 2}])];
        script.extend(raw.clone());
        script.push(json!(["login_secret", user, "pw"]));
        let (a, seen) = shell_with(config(allow(std::slice::from_ref(&grant)), secret(SECRET)), &script);
        let (before, last) = (&a[a.len() - 2], a.last().unwrap());
        if before["error"] == "abort" {
            // The timed-out readline closed the session for good.
            assert_eq!(last, before, "{raw:?}");
        } else {
            assert_eq!(last["error"], "error", "{raw:?}: {last}");
            assert_eq!(
                message(last),
                "secrets are not used on a connection where raw I/O (send, read, readline) was used"
            );
        }
        assert_no_secret(&seen, SECRET);
    }
}

/// A server that answers the first command after the greeting with `echo`.
fn echo_server(echo: &str) -> ScriptServer {
    let mut steps = greeting("IMAP4rev1 AUTH=PLAIN");
    steps.push(Step::Expect);
    steps.push(send(echo));
    steps.push(Step::Sleep(Duration::from_millis(300)));
    ScriptServer::start(steps)
}

#[test]
fn a_server_that_echoes_the_secret_is_cut_off_in_every_form() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let quoted = "p a\"s\\s w0rd";
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "login_secret",
            SECRET,
            format!("{{tag}} BAD Unexpected string as search key: {SECRET}\r\n"),
        ),
        ("login_secret", SECRET, format!("* OK {SECRET}\r\n{{tag}} OK done\r\n")),
        (
            "login_secret",
            quoted,
            "{tag} NO \"p a\\\"s\\\\s w0rd\" is wrong\r\n".to_string(),
        ),
        (
            "login_secret",
            SECRET,
            format!("{{tag}} NO [ALERT] {}\r\n", b64(SECRET)),
        ),
        (
            "authenticate_secret",
            SECRET,
            format!("{{tag}} NO {}\r\n", b64(&format!("\0user\0{SECRET}"))),
        ),
        // The secret as a literal inside a FETCH-like response.
        (
            "login_secret",
            SECRET,
            format!("* 1 FETCH (BODY[] {{{}}}\r\n{SECRET})\r\n{{tag}} OK\r\n", SECRET.len()),
        ),
    ];
    for (call, value, echo) in cases {
        let server = echo_server(&echo);
        let grant = format!("127.0.0.1:{}", server.port);
        let line = if call == "login_secret" {
            json!(["login_secret", "user", "pw"])
        } else {
            json!(["authenticate_secret", "PLAIN", "user", "pw"])
        };
        let (a, seen) = shell_with(
            config(allow(&[grant]), secret(value)),
            &[json!(["IMAP4", "127.0.0.1", server.port]), line],
        );
        assert_eq!(a[1]["error"], "abort", "{echo:?}: {}", a[1]);
        assert!(
            message(&a[1]).contains("the server sent back a secret revealed on this connection"),
            "{}",
            a[1]
        );
        assert_no_secret(&seen, value);
    }
}

#[test]
fn an_echo_split_across_reads_is_caught_too() {
    let mut steps = greeting("IMAP4rev1");
    steps.push(Step::Expect);
    steps.push(send("{tag} BAD Unexpected string: diffp"));
    steps.push(Step::Sleep(Duration::from_millis(200)));
    steps.push(send("ass-7Qz\r\n"));
    let server = ScriptServer::start(steps);
    let (a, seen) = shell_with(
        config(allow(&[format!("127.0.0.1:{}", server.port)]), secret(SECRET)),
        &[
            json!(["IMAP4", "127.0.0.1", server.port]),
            json!(["login_secret", "u", "pw"]),
        ],
    );
    assert_eq!(a[1]["error"], "abort", "{}", a[1]);
    assert_no_secret(&seen, SECRET);
    assert!(!seen.contains("diffp"), "not even its start: {seen}");
}

#[test]
fn a_secret_goes_only_to_the_endpoints_it_is_bound_to() {
    let d = dovecot();
    let user = unique_user("bound");
    // `127.0.0.1:*` has a wildcard: it binds no secret by default.
    let (a, _) = shell_with(
        config(allow(&["127.0.0.1:*".into()]), secret(d.password())),
        &[
            json!(["IMAP4", "127.0.0.1", d.imap_port()]),
            json!(["login_secret", user, "pw"]),
        ],
    );
    assert_eq!(
        message(&a[1]),
        format!(
            "secret \"pw\" is not bound to 127.0.0.1:{p} (no binding of \"pw\" to 127.0.0.1:{p})",
            p = d.imap_port()
        )
    );
    // Two exact grants, the secret bound to one: refused on the other,
    // and the server there never sees a LOGIN.
    let decoy = ScriptServer::start({
        let mut s = greeting("IMAP4rev1");
        s.push(Step::Expect);
        s.push(send("{tag} OK bye\r\n"));
        s
    });
    let grants = [
        format!("127.0.0.1:{}", d.imap_port()),
        format!("127.0.0.1:{}", decoy.port),
    ];
    let secrets = secret(d.password())
        .bind("pw", Endpoint::new("127.0.0.1", d.imap_port()))
        .unwrap();
    let (a, _) = shell_with(
        config(allow(&grants), secrets.clone()),
        &[
            json!(["IMAP4", "127.0.0.1", decoy.port]),
            json!(["login_secret", user, "pw"]),
            json!(["noop"]),
        ],
    );
    assert!(message(&a[1]).contains("is not bound to 127.0.0.1:"), "{}", a[1]);
    let received = decoy.received();
    assert!(
        received.iter().all(|l| !String::from_utf8_lossy(l).contains("LOGIN")),
        "{received:?}"
    );
    // The bound one works, over loopback plaintext.
    let (a, _) = shell_with(
        config(allow(&grants), secrets),
        &[
            json!(["IMAP4", "127.0.0.1", d.imap_port()]),
            json!(["login_secret", user, "pw"]),
        ],
    );
    assert_eq!(a[1]["typ"], "OK", "{}", a[1]);
}

#[test]
fn a_secret_is_never_revealed_on_a_stream_connection() {
    let d = dovecot();
    let command = d.get("WASIMAP_STREAM_COMMAND");
    let policy = Policy::deny_all()
        .allow_exec(format!("{command} **"))
        .allow_exec(format!("{command} *"));
    let (a, seen) = shell_with(
        config(policy, secret(SECRET)),
        &[
            json!(["IMAP4_stream", format!("{command} -u {}", unique_user("st"))]),
            json!(["login_secret", "u", "pw"]),
        ],
    );
    assert!(message(&a[1]).contains("not revealed on a stream"), "{a:?}");
    assert_no_secret(&seen, SECRET);
}

#[test]
fn a_secret_that_cannot_be_sent_is_refused_without_showing_it() {
    let (grant, port) = dovecot_grant();
    let file = std::env::temp_dir().join(format!("wasimap-crlf-secret-{}", std::process::id()));
    std::fs::write(&file, "hunter2-token\n\n").unwrap();
    let secrets = Secrets::none().define("pw", SecretSource::File(file.clone()));
    let (a, seen) = shell_with(
        config(allow(&[grant]), secrets),
        &[json!(["IMAP4", "127.0.0.1", port]), json!(["login_secret", "u", "pw"])],
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        message(&a[1]),
        "secret \"pw\" contains CR, LF or NUL and cannot be sent to an IMAP server"
    );
    assert!(!seen.contains("hunter2"), "{seen}");
}

#[test]
fn secrets_over_unverified_tls_need_the_plaintext_opt_in_only_off_loopback() {
    // Loopback is never "exposed"; unverified TLS to it still carries the
    // secret. (A non-loopback server is not reachable from the tests; the
    // rule for it is unit-tested in host/sandbox/src/secrets.rs.)
    let d = dovecot();
    let grant = format!("127.0.0.1:{}", d.imaps_port());
    let mut c = config(allow(std::slice::from_ref(&grant)), secret(d.password()));
    c.trust = TlsTrust::none().allow_insecure(grant.parse().unwrap());
    let (a, _) = shell_with(
        c,
        &[
            json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port(), {"insecure": true}]),
            json!(["login_secret", unique_user("tls"), "pw"]),
        ],
    );
    assert_eq!(a[1]["typ"], "OK", "{}", a[1]);
}

// ----- TLS trust -----

#[test]
fn a_plugin_cannot_turn_tls_verification_off_or_add_trust_by_itself() {
    let d = dovecot();
    let grant = format!("127.0.0.1:{}", d.imaps_port());
    let pem = std::fs::read_to_string(d.get("WASIMAP_CA")).unwrap();
    let latin1 = |s: &str| json!({ "b": s });
    for (options, flag) in [
        (json!({"insecure": true}), "no grant to accept invalid certificates"),
        (
            json!({"insecure": true, "server_hostname": "anything.example"}),
            "no grant to accept invalid certificates",
        ),
        (json!({"ca_pem": latin1(&pem)}), "no grant of a CA file"),
        (json!({"ca_file": d.get("WASIMAP_CA")}), "no grant to read"),
    ] {
        let (a, _) = shell_with(
            config(allow(std::slice::from_ref(&grant)), Secrets::none()),
            &[json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port(), options.clone()])],
        );
        assert!(
            a[0]["error"] == "error" && message(&a[0]).contains(flag),
            "{options}: {}",
            a[0]
        );
    }
    // With the user's grant, the same CA works.
    let mut c = config(allow(&[grant]), Secrets::none());
    c.trust = TlsTrust::none().allow_ca(Path::new(d.get("WASIMAP_CA"))).unwrap();
    let (a, _) = shell_with(
        c,
        &[
            json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port(), {"ca_pem": latin1(&pem)}]),
            json!(["noop"]),
        ],
    );
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
}

// ----- the compile cache -----

fn cache_runner(dir: &Path) -> anyhow::Result<Runner> {
    Runner::new(RunnerConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..RunnerConfig::default()
    })
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = root().join(format!("target/attack-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_cache_directory_with_the_users_files_loses_nothing() {
    let dir = fresh_dir("home");
    std::fs::create_dir_all(dir.join("photos")).unwrap();
    std::fs::create_dir_all(dir.join("project/src/deep")).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    std::fs::write(dir.join("photos/cat.jpg"), "jpeg").unwrap();
    std::fs::write(dir.join("project/src/deep/x.rs"), "fn main() {}").unwrap();
    let outside = fresh_dir("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious"), "keep").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    let before = files_under(&dir);

    let runner = cache_runner(&dir).unwrap();
    runner.load(&std::fs::read(plugin_path("triage")).unwrap()).unwrap();
    drop(runner);
    let after: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join("artifacts-v1")))
        .collect();
    assert_eq!(before, after, "only wasimap's own subdirectory was added");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(outside.join("precious")).unwrap(), "keep");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}

#[test]
fn a_shared_or_linked_cache_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir("shared");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = format!("{:#}", cache_runner(&dir).err().unwrap());
    assert!(err.contains("writable by group or others"), "{err}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = fresh_dir("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let err = format!("{:#}", cache_runner(&link).err().unwrap());
    assert!(err.contains("is a symlink"), "{err}");
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_poisoned_artifact_is_recompiled_not_run() {
    let dir = fresh_dir("poison");
    let artifacts = || files_under(&dir.join("artifacts-v1"));
    let runner = cache_runner(&dir).unwrap();
    let triage = std::fs::read(plugin_path("triage")).unwrap();
    let hostile = std::fs::read(plugin_path("hostile")).unwrap();
    runner.load(&triage).unwrap();
    let triage_artifact = artifacts()[0].clone();
    runner.load(&hostile).unwrap();
    drop(runner);
    let hostile_artifact = artifacts().into_iter().find(|p| *p != triage_artifact).unwrap();

    // triage's compiled code under hostile's name: not used.
    std::fs::copy(&triage_artifact, &hostile_artifact).unwrap();
    let runner = cache_runner(&dir).unwrap();
    let component = runner.load(&hostile).unwrap();
    assert_eq!((runner.artifact_hits(), runner.compilations()), (0, 1), "recompiled");
    let out = runner.run(&component, &["env".into()], Stdio::Captured(Vec::new()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "environment: []\n",
        "hostile ran, not triage"
    );
    drop(runner);

    // One flipped byte in the (re-stored) artifact, in its compiled code or
    // in its trailer: not used either; the recompiled one is stored and
    // served next time.
    let len = std::fs::metadata(&hostile_artifact).unwrap().len() as usize;
    for at in [len / 2, len - 1] {
        let mut stored = std::fs::read(&hostile_artifact).unwrap();
        stored[at] ^= 0xff;
        std::fs::write(&hostile_artifact, &stored).unwrap();
        let runner = cache_runner(&dir).unwrap();
        runner.load(&hostile).unwrap();
        assert_eq!(
            (runner.artifact_hits(), runner.compilations()),
            (0, 1),
            "byte {at} flipped"
        );
        let runner = cache_runner(&dir).unwrap();
        runner.load(&hostile).unwrap();
        assert_eq!((runner.artifact_hits(), runner.compilations()), (1, 0), "intact again");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ----- stalls and timeouts -----

#[test]
fn a_plugins_own_timeout_cannot_outlast_the_runs() {
    // A server that greets and then says nothing, and a plugin asking for
    // a read timeout of 4,000,000 s under a 2 s run.
    let server = ScriptServer::start({
        let mut s = greeting("IMAP4rev1");
        s.push(Step::Sleep(Duration::from_secs(30)));
        s
    });
    let mut c = config(allow(&[format!("127.0.0.1:{}", server.port)]), Secrets::none());
    c.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let input = format!(
        "{}\n{}\n",
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 4_000_000}]),
        json!(["noop"])
    );
    let out = run(c, "shell", &[], input.as_bytes());
    let took = started.elapsed();
    // Either the host's bounded read ended the call (abort in the plugin)
    // or the epoch deadline ended the run: never the plugin's 46 days.
    match &out.result {
        Err(RunError::Timeout(_)) => {}
        Ok(Ok(())) => assert!(String::from_utf8_lossy(&out.stdout).contains("timed out"), "{out:?}"),
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(20), "the run lasted {took:?}");
}

#[test]
fn a_server_that_stops_reading_during_a_50_mb_append_cannot_hold_the_host() {
    let server = ScriptServer::start({
        let mut s = preauth("IMAP4rev1");
        s.push(Step::Expect);
        s.push(send("+ go ahead\r\n"));
        s.push(Step::Sleep(Duration::from_secs(30)));
        s
    });
    let mut c = config(allow(&[format!("127.0.0.1:{}", server.port)]), Secrets::none());
    c.timeout = Duration::from_secs(3);
    c.memory_limit = 1 << 30;
    let body = "x".repeat(50 << 20);
    let input = format!(
        "{}\n{}\n",
        json!(["IMAP4", "127.0.0.1", server.port]),
        json!(["append", "INBOX", null, null, body])
    );
    let started = Instant::now();
    let out = run(c, "shell", &[], input.as_bytes());
    let took = started.elapsed();
    match &out.result {
        Err(RunError::Timeout(_)) => {}
        Ok(Ok(())) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.lines().nth(1).is_some_and(|l| l.contains("\"abort\"")),
                "{stdout}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(25), "the host was held for {took:?}");
}

// ----- counts -----

#[test]
fn connection_and_process_floods_stop_at_their_limits() {
    let (grant, port) = dovecot_grant();
    let mut c = config(allow(&[grant]), Secrets::none());
    c.transport_limits = TransportLimits {
        connections: 5,
        processes: 2,
        ..TransportLimits::default()
    };
    let out = run(
        c,
        "hostile",
        &["flood", "tcp", "127.0.0.1", &port.to_string(), "50"],
        b"",
    );
    assert!(matches!(out.result, Ok(Ok(()))), "{:?}", out.result);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("opened 5; then error (Denied): too many open connections (the limit is 5)"),
        "{stdout}"
    );

    let d = dovecot();
    let command = format!("{} -u {}", d.get("WASIMAP_STREAM_COMMAND"), unique_user("flood"));
    let policy = Policy::deny_all().allow_exec(format!("{} **", d.get("WASIMAP_STREAM_COMMAND")));
    let mut c = config(policy, Secrets::none());
    c.transport_limits = TransportLimits {
        connections: 10,
        processes: 2,
        ..TransportLimits::default()
    };
    let out = run(c, "hostile", &["flood", "exec", &command, "10"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("opened 2; then error (Denied): too many running stream commands"),
        "{stdout} {:?}",
        out.result
    );
}

#[test]
fn instance_memory_and_table_counts_are_limited() {
    for limits in [
        StoreLimitsConfig {
            memories: 1,
            ..StoreLimitsConfig::default()
        },
        StoreLimitsConfig {
            instances: 2,
            ..StoreLimitsConfig::default()
        },
        StoreLimitsConfig {
            tables: 1,
            ..StoreLimitsConfig::default()
        },
    ] {
        let mut c = config(Policy::deny_all(), Secrets::none());
        c.store_limits = limits;
        let out = run(c, "hostile", &["env"], b"");
        assert!(out.result.is_err(), "{limits:?}: instantiated anyway");
    }
}

#[test]
fn memory_is_limited_for_the_whole_store() {
    let mut c = config(Policy::deny_all(), Secrets::none());
    c.memory_limit = 48 << 20;
    let out = run(c, "hostile", &["memory"], b"");
    match out.result {
        Err(e @ RunError::OutOfMemory(_)) => assert_eq!(e.exit_code(), 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn numbers_that_would_overflow_are_refused() {
    for (flag, value, says) in [
        // One check for the flag and the manifest key (Limits::apply).
        (
            "--memory",
            "17592186044416",
            "(--memory, limits.memory-mib) must be from 1 to",
        ),
        (
            "--memory",
            "17592186044417",
            "(--memory, limits.memory-mib) must be from 1 to",
        ),
        ("--memory", "0", "(--memory, limits.memory-mib) must be from 1 to"),
        (
            "--timeout",
            "184467440737095.6",
            "(--timeout, limits.timeout-seconds) must be more than 0 and at most",
        ),
        ("--timeout", "NaN", "(--timeout, limits.timeout-seconds) must be"),
        ("--timeout", "-1", "(--timeout, limits.timeout-seconds) must be"),
        ("--timeout", "0", "(--timeout, limits.timeout-seconds) must be"),
        ("--max-connections", "18446744073709551616", "invalid value"),
    ] {
        let out = Command::new(wasimap_binary())
            .args(["run", &format!("{flag}={value}")])
            .arg(plugin_path("triage"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
    }
}
