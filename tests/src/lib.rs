//! Shared harness of the integration tests: one private Dovecot per test
//! run, the plugins built for wasm32-wasip2, and a runner that executes them
//! in process with captured stdio.
//!
//! The server is started once per test binary by `tests/dovecot/server.sh`
//! with `--owner-pid`, so it stops when the test process exits; set
//! `WASIMAP_DOVECOT_ENV` to the `env` file of a server already running
//! (as `just test` does) to share one across binaries.

pub mod script_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::Value;
use wasimap_host::policy::HostPattern;
use wasimap_host::runner::{Outcome, Stdio};
use wasimap_host::{Policy, Runner, RunnerConfig};
use wasmtime::component::Component;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A running private Dovecot.
#[derive(Debug)]
pub struct Dovecot {
    env: HashMap<String, String>,
}

impl Dovecot {
    /// A value of the server's `env` file (`WASIMAP_IMAP_PORT`, ...).
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the Dovecot env file"))
    }

    /// Plain IMAP port on 127.0.0.1.
    pub fn imap_port(&self) -> u16 {
        self.get("WASIMAP_IMAP_PORT").parse().unwrap()
    }

    /// Implicit-TLS port on 127.0.0.1.
    pub fn imaps_port(&self) -> u16 {
        self.get("WASIMAP_IMAPS_PORT").parse().unwrap()
    }

    /// The password every ordinary user has.
    pub fn password(&self) -> &str {
        self.get("WASIMAP_PASSWORD")
    }
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The shared Dovecot, started on first use.
pub fn dovecot() -> &'static Dovecot {
    static SERVER: OnceLock<Dovecot> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(file) = std::env::var("WASIMAP_DOVECOT_ENV") {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
            return Dovecot { env: parse_env(&text) };
        }
        let dir = root().join(format!("target/dovecot-test-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(root().join("tests/dovecot/server.sh"))
            .arg("start")
            .arg(&dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running tests/dovecot/server.sh");
        assert!(
            out.status.success(),
            "starting Dovecot failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let env = parse_env(&std::fs::read_to_string(dir.join("env")).expect("Dovecot env file"));
        Dovecot { env }
    })
}

/// A user name no other test uses (Dovecot creates the mailbox on login).
pub fn unique_user(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Path of a plugin built by this crate's build script.
pub fn plugin_path(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "shell" => env!("WASIMAP_PLUGIN_SHELL"),
        "triage" => env!("WASIMAP_PLUGIN_TRIAGE"),
        other => panic!("no plugin {other}"),
    })
}

/// The runner shared by a test binary: loopback allowed, cache in `target/`.
pub fn runner() -> &'static Runner {
    static RUNNER: OnceLock<Runner> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let d = dovecot();
        let policy = Policy::deny_all()
            .allow("127.0.0.1:*".parse::<HostPattern>().unwrap())
            .allow("localhost:*".parse::<HostPattern>().unwrap())
            .allow_exec(format!("{} *", d.get("WASIMAP_STREAM_COMMAND")))
            .allow_exec(format!("sleep * & exec {} *", d.get("WASIMAP_STREAM_COMMAND")))
            .allow_read(format!("{}/certs/*", d.get("WASIMAP_DOVECOT_DIR")));
        let config = RunnerConfig {
            policy,
            cache_dir: Some(root().join("target/wasimap-cache")),
            ..RunnerConfig::default()
        };
        Runner::new(config).expect("runner")
    })
}

/// A plugin composed and compiled once per test binary.
pub fn component(name: &str) -> &'static Component {
    static SHELL: OnceLock<Component> = OnceLock::new();
    static TRIAGE: OnceLock<Component> = OnceLock::new();
    let cell = match name {
        "shell" => &SHELL,
        "triage" => &TRIAGE,
        other => panic!("no plugin {other}"),
    };
    cell.get_or_init(|| {
        let bytes = std::fs::read(plugin_path(name)).expect("plugin wasm");
        runner().load(&bytes).expect("composing and compiling the plugin")
    })
}

/// Runs a plugin with `args` and `stdin`, capturing its output.
pub fn run_plugin(name: &str, args: &[String], stdin: &[u8]) -> Outcome {
    runner()
        .run(component(name), args, Stdio::Captured(stdin.to_vec()))
        .expect("plugin run")
}

/// Runs a shell-plugin script (one JSON value per call) and returns one
/// answer per line.
pub fn shell(script: &[Value]) -> Vec<Value> {
    let input: String = script.iter().map(|v| format!("{v}\n")).collect();
    let outcome = run_plugin("shell", &[], input.as_bytes());
    assert_eq!(
        outcome.result,
        Ok(()),
        "shell failed; stderr: {}",
        String::from_utf8_lossy(&outcome.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(outcome.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect();
    assert_eq!(answers.len(), script.len(), "one answer per line: {answers:#?}");
    answers
}

/// `{"b": ...}` for a latin-1 string.
pub fn b(s: &str) -> Value {
    serde_json::json!({ "b": s })
}

/// The open line and login for a fresh user on the plain port.
pub fn login_lines(user: &str) -> Vec<Value> {
    let d = dovecot();
    vec![
        serde_json::json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        serde_json::json!(["login", user, d.password()]),
    ]
}
