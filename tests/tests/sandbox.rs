//! The sandbox: what a plugin may not do, the limits that stop it, secrets
//! it never sees, the compilation cache, `inspect`, and the embedding API.

use std::time::Duration;

use serde_json::json;
use wasimap_sandbox::limits::{Limit, LimitExceeded, TransportLimits};
use wasimap_sandbox::runner::{RunError, Stdio};
use wasimap_sandbox::{Runner, RunnerConfig};
use wasimap_tests::{dovecot, plugin_path, root, run_plugin, shell, unique_user, without_kinds};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hostile(args: &[&str]) -> wasimap_sandbox::runner::Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run_plugin("hostile", &args, b"")
}

#[test]
fn files_sockets_and_environment_are_out_of_reach() {
    let out = hostile(&["file"]);
    assert!(
        matches!(out.result, Ok(Ok(()))),
        "{:?} {}",
        out.result,
        text(&out.stdout)
    );
    assert!(text(&out.stdout).starts_with("file refused"), "{}", text(&out.stdout));

    let addr = format!("127.0.0.1:{}", dovecot().imap_port());
    let out = hostile(&["socket", &addr]);
    assert!(
        matches!(out.result, Ok(Ok(()))),
        "{:?} {}",
        out.result,
        text(&out.stdout)
    );
    assert!(text(&out.stdout).starts_with("socket refused"), "{}", text(&out.stdout));

    std::env::set_var("WASIMAP_TEST_HOST_ONLY", "x");
    let out = hostile(&["env"]);
    assert_eq!(text(&out.stdout), "environment: []\n");
}

#[test]
fn secrets_reach_the_server_but_never_the_plugin() {
    let d = dovecot();
    let user = unique_user("probe");
    let port = d.imap_port().to_string();
    let out = hostile(&["secret", "127.0.0.1", &port, &user, "imap-password"]);
    assert!(matches!(out.result, Ok(Ok(()))), "{:?}", out.result);
    let seen = text(&out.stdout) + &text(&out.stderr);
    assert!(seen.contains("login: OK"), "the secret worked: {seen}");
    assert!(!seen.contains(d.password()), "the plugin saw the secret: {seen}");
    // The debug trace of the login shows <redacted>.
    assert!(seen.contains(&format!("LOGIN {user} <redacted>")), "{seen}");

    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["login_secret", unique_user("s"), "no-such-secret"]),
        json!(["login_secret", "quoteuser", "quote-password"]),
    ]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "unknown secret \"no-such-secret\" (no secret \"no-such-secret\" is defined)"})
    );
    assert_eq!(a[2]["typ"], "OK", "{}", a[2]);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["authenticate_secret", "PLAIN", unique_user("s"), "imap-password"]),
    ]);
    assert_eq!(a[1]["typ"], "OK", "{}", a[1]);
}

/// A runner with tight limits, for the runaway plugins.
fn limited(memory_mib: usize, timeout: Duration, fuel: Option<u64>) -> Runner {
    Runner::new(RunnerConfig {
        memory_limit: memory_mib << 20,
        timeout,
        fuel,
        cache_dir: Some(root().join("target/wasimap-cache")),
        // Small enough that `bodies` reaches it within the time limit.
        transport_limits: TransportLimits {
            body_bytes: 48 << 20,
            ..TransportLimits::default()
        },
        ..RunnerConfig::default()
    })
    .unwrap()
}

fn run_hostile(runner: &Runner, mode: &str) -> wasimap_sandbox::runner::Outcome {
    let component = runner.load(&std::fs::read(plugin_path("hostile")).unwrap()).unwrap();
    runner.run(&component, &[mode.to_string()], Stdio::Captured(Vec::new()))
}

/// Recognises the expected failure.
type Expect = fn(&RunError) -> bool;

#[test]
fn runaway_plugins_end_with_a_clear_error_and_the_host_lives_on() {
    let runner = limited(64, Duration::from_secs(2), None);
    let cases: [(&str, Expect, u8); 6] = [
        ("loop", |e| matches!(e, RunError::Timeout(_)), 4),
        (
            "bodies",
            |e| matches!(e, RunError::StoreLimit(LimitExceeded(Limit::Bodies))),
            9,
        ),
        ("sleep", |e| matches!(e, RunError::Timeout(_)), 4),
        ("memory", |e| matches!(e, RunError::OutOfMemory(_)), 5),
        ("recursion", |e| matches!(e, RunError::StackOverflow), 6),
        ("panic", |e| matches!(e, RunError::Crashed), 3),
    ];
    for (mode, expected, code) in cases {
        let out = run_hostile(&runner, mode);
        let err = out.result.expect_err(mode);
        assert!(expected(&err), "{mode}: {err}");
        assert_eq!(err.exit_code(), code, "{mode}");
        if mode == "panic" {
            assert!(
                text(&out.stderr).contains("the plugin panicked on purpose"),
                "{}",
                text(&out.stderr)
            );
        }
        // The same runner still runs plugins.
        let ok = run_hostile(&runner, "env");
        assert!(matches!(ok.result, Ok(Ok(()))), "after {mode}: {:?}", ok.result);
    }
    let fueled = limited(64, Duration::from_secs(60), Some(50_000_000));
    let err = run_hostile(&fueled, "loop").result.expect_err("fuel");
    assert!(matches!(err, RunError::OutOfFuel(50_000_000)), "{err}");
    assert_eq!(err.to_string(), "plugin used up its fuel budget of 50000000 units");
}

#[test]
fn no_session_is_lent_outside_wasimap_watch() {
    let runner = limited(64, Duration::from_secs(30), None);
    let out = run_hostile(&runner, "lent");
    assert!(matches!(out.result, Ok(Ok(()))), "{:?}", out.result);
    assert_eq!(
        text(&out.stdout).trim(),
        "lent: error (State): no session is lent to this call: `wasimap watch` lends one to the running watch.handle, one at a time"
    );
}

#[test]
fn plugins_may_not_bring_host_interfaces() {
    let err = wasimap_tests::runner()
        .load(wasimap_sandbox::PROTOCOL_COMPONENT)
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("only the protocol component may use it"), "{msg}");
}

#[test]
fn a_second_load_is_served_from_the_cache() {
    let dir = root().join(format!("target/cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || RunnerConfig {
        cache_dir: Some(dir.clone()),
        ..RunnerConfig::default()
    };
    let plugin = std::fs::read(plugin_path("triage")).unwrap();
    let first = Runner::new(config()).unwrap();
    first.load(&plugin).unwrap();
    assert_eq!(first.compilations(), 1, "cold: compiled");
    assert_eq!(first.artifact_hits(), 0);
    let second = Runner::new(config()).unwrap();
    let component = second.load(&plugin).unwrap();
    assert_eq!(second.compilations(), 0, "warm: no compilation");
    assert_eq!(second.artifact_hits(), 1, "served from the stored artifact");
    // The loaded component works.
    let out = second.run(&component, &["--help".to_string()], Stdio::Captured(Vec::new()));
    assert!(
        matches!(out.result, Ok(Err(_))),
        "triage answers its usage: {:?}",
        out.result
    );
    let _ = std::fs::remove_dir_all(&dir);
}
