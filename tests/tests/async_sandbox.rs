//! The async embedding keeps the sandbox of the blocking one (issue #17):
//! the same scripts through `Runner::run` and `Runner::run_async` get the
//! same answers for grants, TLS trust, STARTTLS, stream commands, secrets,
//! the echo guard, timeouts and limits; a plugin that computes without end
//! yields its worker thread and still ends at its deadline.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wasimap_sandbox::limits::TransportLimits;
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::runner::{Outcome, RunError, Stdio};
use wasimap_sandbox::{Policy, Runner, RunnerConfig, SecretSource, Secrets};
use wasimap_tests::script_server::{greeting, send, ScriptServer, Step};
use wasimap_tests::{
    cached_config as config, component, dovecot, login_lines, normalize, plugin_path, runner, unique_user,
    without_kinds,
};

/// A one-thread runtime for one async run: the test checks behaviour, not
/// scale (that is `async_many.rs`).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn input(script: &[Value]) -> Vec<u8> {
    script.iter().map(|v| format!("{v}\n")).collect::<String>().into_bytes()
}

fn answers(out: &Outcome) -> Vec<Value> {
    assert!(matches!(out.result, Ok(Ok(()))), "shell failed: {:?}", out.result);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect()
}

/// Runs `script(user)` through the shared runner both ways, each with a
/// user of its own, and asserts the same answers; returns them.
fn same_both_ways(script: impl Fn(&str) -> Vec<Value>) -> Vec<Value> {
    let (u1, u2) = (unique_user("sync"), unique_user("async"));
    let shell = component("shell");
    let sync = answers(&runner().run(shell, &[], Stdio::Captured(input(&script(&u1)))));
    let async_ = answers(&block_on(runner().run_async(
        shell,
        &[],
        Stdio::Captured(input(&script(&u2))),
    )));
    assert_eq!(
        normalize(&Value::from(sync), &[&u1]),
        normalize(&Value::from(async_.clone()), &[&u2])
    );
    async_
}

/// A runner of its own (`config`) and a plugin loaded by it: `run` both
/// ways; `fresh` is called before each run (a scripted server serves one).
fn outcomes(plugin: &str, args: &[&str], fresh: impl Fn() -> (RunnerConfig, Vec<u8>)) -> [Outcome; 2] {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let load = |config| {
        let runner = Runner::new(config).expect("runner");
        let c = runner.load(&std::fs::read(plugin_path(plugin)).unwrap()).expect("load");
        (runner, c)
    };
    let (config, stdin) = fresh();
    let (r, c) = load(config);
    let sync = r.run(&c, &args, Stdio::Captured(stdin));
    let (config, stdin) = fresh();
    let (r, c) = load(config);
    let async_ = block_on(r.run_async(&c, &args, Stdio::Captured(stdin)));
    [sync, async_]
}

fn allow(grant: &str) -> Policy {
    Policy::deny_all().allow(grant.parse::<HostPattern>().unwrap())
}

#[test]
fn grants_and_tls_trust_decide_alike() {
    let d = dovecot();
    let ca = json!({ "ca_file": d.get("WASIMAP_CA") });
    let a = same_both_ways(|_| vec![json!(["IMAP4", "mail.example.invalid", 143])]);
    assert_eq!(a[0]["error"], "error", "{a:?}");
    assert!(
        a[0]["message"].as_str().unwrap().contains("no grant to connect to"),
        "{a:?}"
    );

    let a = same_both_ways(|_| vec![json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port(), null])]);
    assert!(a[0]["message"].as_str().unwrap().contains("certificate"), "{a:?}");

    let a = same_both_ways(|_| {
        // Unverified TLS is granted for the implicit-TLS port only.
        vec![json!(["IMAP4_SSL", "127.0.0.1", d.imap_port(), {"insecure": true}])]
    });
    assert!(
        a[0]["message"]
            .as_str()
            .unwrap()
            .contains("no grant to accept invalid certificates"),
        "{a:?}"
    );

    let a = same_both_ways(|user| {
        vec![
            json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port(), ca.clone()]),
            json!(["login", user, d.password()]),
            json!(["logout"]),
        ]
    });
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
}

#[test]
fn starttls_streams_secrets_and_timeouts_behave_alike() {
    let d = dovecot();
    let ca = json!({ "ca_file": d.get("WASIMAP_CA") });
    let a = same_both_ways(|user| {
        vec![
            json!(["IMAP4", "127.0.0.1", d.imap_port()]),
            json!(["starttls", ca.clone()]),
            json!(["login_secret", user, "imap-password"]),
            json!(["append", "INBOX", null, null, {"b": "Subject: x\r\n\r\nbody\r\n"}]),
            json!(["select", "INBOX"]),
            json!(["fetch", "1", "(RFC822)"]),
            json!(["logout"]),
        ]
    });
    assert_eq!(a[2]["typ"], "OK", "{a:?}");
    assert!(a[5].to_string().contains("Subject: x"), "{a:?}");

    let command = d.get("WASIMAP_STREAM_COMMAND");
    let a = same_both_ways(|user| {
        vec![
            json!(["IMAP4_stream", format!("{command} -u {user}")]),
            json!(["select", "INBOX"]),
            json!(["login_secret", user, "imap-password"]),
            json!(["logout"]),
        ]
    });
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
    assert!(
        a[2]["message"].as_str().unwrap().contains("not revealed on a stream"),
        "{a:?}"
    );

    let a = same_both_ways(|user| {
        let mut s = login_lines(user);
        s[0] = json!(["IMAP4", "127.0.0.1", d.imap_port(), {"timeout": 1}]);
        s.extend([json!(["readline"]), json!(["noop"])]);
        s
    });
    assert_eq!(
        without_kinds(&a[2]),
        json!({"error": "abort", "message": "socket error: timed out"})
    );
    assert_eq!(a[3], a[2], "closed for good after the abort");
}

#[test]
fn an_echoed_secret_cuts_the_connection_alike() {
    const SECRET: &str = "asyncpass-4Rw";
    let [sync, async_] = outcomes("shell", &[], || {
        let mut steps = greeting("IMAP4rev1 AUTH=PLAIN");
        steps.push(Step::Expect);
        steps.push(send(format!("* OK {SECRET}\r\n{{tag}} OK done\r\n")));
        steps.push(Step::Sleep(Duration::from_millis(300)));
        // Leaked on purpose: it serves one run and ends with the process.
        let server = Box::leak(Box::new(ScriptServer::start(steps)));
        let secrets = Secrets::none().define("pw", SecretSource::Value(SECRET.into()));
        let script = [
            json!(["IMAP4", "127.0.0.1", server.port]),
            json!(["login_secret", "u", "pw"]),
        ];
        (
            config(allow(&format!("127.0.0.1:{}", server.port)), secrets),
            input(&script),
        )
    });
    let (sync, async_) = (answers(&sync), answers(&async_));
    assert_eq!(sync, async_);
    assert_eq!(async_[1]["error"], "abort", "{async_:?}");
    assert!(
        async_[1]["message"].as_str().unwrap().contains("sent back a secret"),
        "{async_:?}"
    );
    assert!(!format!("{async_:?}").contains(SECRET));
}

/// A flood by the hostile plugin (`args`) under `policy` and `limits`:
/// both ways stop at the same point, with the same message.
fn flood_stops_alike(args: &[&str], policy: &Policy, limits: TransportLimits, expect: &str) {
    let [sync, async_] = outcomes("hostile", args, || {
        let mut c = config(policy.clone(), Secrets::none());
        c.transport_limits = limits;
        (c, Vec::new())
    });
    assert_eq!(sync.stdout, async_.stdout);
    let stdout = String::from_utf8_lossy(&async_.stdout);
    assert!(stdout.starts_with(expect), "{stdout} {:?}", async_.result);
}

#[test]
fn connection_and_process_limits_hold_alike() {
    let d = dovecot();
    let port = d.imap_port().to_string();
    flood_stops_alike(
        &["flood", "tcp", "127.0.0.1", &port, "50"],
        &allow(&format!("127.0.0.1:{port}")),
        TransportLimits {
            connections: 5,
            processes: 2,
            ..TransportLimits::default()
        },
        "opened 5; then error (Denied): too many open connections",
    );
    let stream = d.get("WASIMAP_STREAM_COMMAND");
    flood_stops_alike(
        &["flood", "exec", &format!("{stream} -u {}", unique_user("flood")), "10"],
        &Policy::deny_all().allow_exec(format!("{stream} **")),
        TransportLimits {
            connections: 10,
            processes: 2,
            ..TransportLimits::default()
        },
        "opened 2; then error (Denied): too many running stream commands",
    );

    let [sync, async_] = outcomes("hostile", &["memory"], || {
        let mut c = config(Policy::deny_all(), Secrets::none());
        c.memory_limit = 48 << 20;
        (c, Vec::new())
    });
    for out in [sync, async_] {
        assert!(matches!(out.result, Err(RunError::OutOfMemory(_))), "{:?}", out.result);
    }
}

#[test]
fn a_silent_server_cannot_outlast_the_runs_deadline() {
    let [sync, async_] = outcomes("shell", &[], || {
        let mut steps = greeting("IMAP4rev1");
        steps.push(Step::Sleep(Duration::from_secs(30)));
        let server = Box::leak(Box::new(ScriptServer::start(steps)));
        let mut c = config(allow(&format!("127.0.0.1:{}", server.port)), Secrets::none());
        c.timeout = Duration::from_secs(2);
        let script = [
            json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 4_000_000}]),
            json!(["noop"]),
        ];
        (c, input(&script))
    });
    for out in [sync, async_] {
        match &out.result {
            Err(RunError::Timeout(_)) => {}
            Ok(Ok(())) => assert!(String::from_utf8_lossy(&out.stdout).contains("timed out"), "{out:?}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_plugin_asleep_in_the_host_is_stopped_at_its_deadline() {
    // No wasm runs while the plugin sleeps, so no epoch check can stop it:
    // the sleep itself must end at the deadline.
    let started = Instant::now();
    let [sync, async_] = outcomes("hostile", &["sleep"], || {
        let mut c = config(Policy::deny_all(), Secrets::none());
        c.timeout = Duration::from_secs(2);
        (c, Vec::new())
    });
    for out in [sync, async_] {
        assert!(matches!(out.result, Err(RunError::Timeout(_))), "{:?}", out.result);
    }
    // Two runs of 2 s each plus loading; an hour's sleep would be far more.
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
}

#[test]
fn a_plugin_that_computes_forever_yields_its_worker_and_still_times_out() {
    // One thread: the spinning plugin must give it back at each epoch
    // tick for the IMAP session beside it to run at all.
    let mut c = config(Policy::deny_all(), Secrets::none());
    c.timeout = Duration::from_secs(3);
    let spinner = Runner::new(c).expect("runner");
    let hostile = spinner
        .load(&std::fs::read(plugin_path("hostile")).unwrap())
        .expect("load");
    let user = unique_user("beside");
    let mut script = login_lines(&user);
    script.push(json!(["logout"]));
    // Compiled before the clock starts: on a cold artifact cache the
    // compile alone blocks the one thread for seconds.
    let _ = component("shell");
    let started = Instant::now();
    // One future polls both: the session makes progress only when the
    // spinner's poll returns, that is when it yields.
    let (spun, session) = block_on(async {
        let spin = async {
            let out = spinner
                .run_async(&hostile, &["loop".to_string()], Stdio::Captured(Vec::new()))
                .await;
            (out, started.elapsed())
        };
        let session = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let out = runner()
                .run_async(component("shell"), &[], Stdio::Captured(input(&script)))
                .await;
            (out, started.elapsed())
        };
        tokio::join!(spin, session)
    });
    assert!(
        matches!(spun.0.result, Err(RunError::Timeout(_))),
        "{:?}",
        spun.0.result
    );
    assert!(spun.1 < Duration::from_secs(10), "the spinning plugin ran {:?}", spun.1);
    let a = answers(&session.0);
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
    assert!(
        session.1 < spun.1,
        "the session ended at {:?}, only after the spinner ({:?})",
        session.1,
        spun.1
    );
}
