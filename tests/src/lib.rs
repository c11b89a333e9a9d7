//! Shared harness of the integration tests: one private Dovecot per test
//! run, the plugins built for wasm32-wasip2, and a runner that executes them
//! in process with captured stdio.
//!
//! The server is started once per test binary by `tests/dovecot/server.sh`
//! with `--owner-pid`, so it stops when the test process exits; set
//! `WASIMAP_DOVECOT_ENV` to the `env` file of a server already running
//! (as `just test` does) to share one across binaries.

pub mod many;
pub mod script_server;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use wasimap_host::policy::HostPattern;
use wasimap_host::runner::{Outcome, Stdio};
use wasimap_host::{Endpoint, Policy, Runner, RunnerConfig, SecretSource, Secrets, TlsTrust};
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
        "hostile" => env!("WASIMAP_PLUGIN_HOSTILE"),
        "template" => env!("WASIMAP_PLUGIN_TEMPLATE"),
        "archive" => env!("WASIMAP_PLUGIN_ARCHIVE"),
        "dedupe" => env!("WASIMAP_PLUGIN_DEDUPE"),
        "mbox" => env!("WASIMAP_PLUGIN_MBOX"),
        "report" => env!("WASIMAP_PLUGIN_REPORT"),
        other => panic!("no plugin {other}"),
    })
}

/// A file cargo built beside the running test's `deps/` directory
/// (`target/debug/RELATIVE`); fails naming `how_to_build` when it is missing.
pub fn built_artifact(relative: &str, how_to_build: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(relative);
    assert!(path.exists(), "{} missing: {how_to_build}", path.display());
    path
}

/// `target/debug/wasimap`.
pub fn wasimap_binary() -> PathBuf {
    built_artifact(
        "wasimap",
        "build it with `cargo build -p wasimap-host` (just test does)",
    )
}

/// `target/release/wasimap`: compiles large components (Python's CPython,
/// JavaScript's SpiderMonkey) about ten times faster than the debug build.
pub fn release_wasimap_binary() -> PathBuf {
    built_artifact(
        "../release/wasimap",
        "build it with `cargo build --release -p wasimap-host --bin wasimap` (just test does)",
    )
}

/// A plugin built outside cargo (`target/python/report.wasm` by `just
/// build-python`, `target/js/report.wasm` by `just build-js`); fails
/// (never skips) naming the recipe when it is missing.
pub fn prebuilt_plugin(relative: &str, recipe: &str) -> PathBuf {
    let path = root().join(relative);
    assert!(path.is_file(), "{} missing: run `{recipe}`", path.display());
    path
}

/// The connection arguments the example plugins take (Rust SDK and
/// Python alike) for `user` on the plain port.
pub fn plugin_login_args(user: &str, password: &str) -> Vec<String> {
    let port = dovecot().imap_port().to_string();
    [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        user,
        "--password",
        password,
    ]
    .map(String::from)
    .to_vec()
}

/// The runner shared by a test binary: loopback allowed, cache in `target/`.
pub fn runner() -> &'static Runner {
    static RUNNER: OnceLock<Runner> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let d = dovecot();
        let policy = Policy::deny_all()
            .allow("127.0.0.1:*".parse::<HostPattern>().unwrap())
            .allow("localhost:*".parse::<HostPattern>().unwrap())
            .allow_exec(format!("{} **", d.get("WASIMAP_STREAM_COMMAND")))
            .allow_read(format!("{}/certs/*", d.get("WASIMAP_DOVECOT_DIR")));
        // The grants above have wildcards, so the secrets are bound to the
        // server's endpoints explicitly.
        let mut secrets = Secrets::none()
            .define("imap-password", SecretSource::Value(d.password().to_string()))
            .define("quote-password", SecretSource::Value("p a\"s\\s w".to_string()));
        for name in ["imap-password", "quote-password"] {
            for port in [d.imap_port(), d.imaps_port()] {
                for host in ["127.0.0.1", "localhost"] {
                    secrets = secrets.bind(name, Endpoint::new(host, port)).unwrap();
                }
            }
        }
        let trust = TlsTrust::none()
            .allow_ca(Path::new(d.get("WASIMAP_CA")))
            .unwrap()
            .allow_insecure(format!("127.0.0.1:{}", d.imaps_port()).parse().unwrap());
        let config = RunnerConfig {
            policy,
            secrets,
            trust,
            cache_dir: Some(root().join("target/wasimap-cache")),
            ..RunnerConfig::default()
        };
        Runner::new(config).expect("runner")
    })
}

/// A runner configuration granting exactly `policy` and `secrets`, with
/// the shared artifact cache in `target/` and default limits.
pub fn cached_config(policy: Policy, secrets: Secrets) -> RunnerConfig {
    RunnerConfig {
        policy,
        secrets,
        cache_dir: Some(root().join("target/wasimap-cache")),
        ..RunnerConfig::default()
    }
}

/// A runner granting exactly `policy`, with the shell plugin loaded (the
/// compiled artifact comes from the shared cache in `target/`).
pub fn runner_with(policy: Policy) -> (Runner, Component) {
    let runner = Runner::new(RunnerConfig {
        policy,
        cache_dir: Some(root().join("target/wasimap-cache")),
        ..RunnerConfig::default()
    })
    .expect("runner");
    let bytes = std::fs::read(plugin_path("shell")).expect("plugin wasm");
    let shell = runner.load(&bytes).expect("composing and compiling the shell plugin");
    (runner, shell)
}

/// A plugin composed and compiled once per test binary.
pub fn component(name: &str) -> &'static Component {
    static LOADED: Mutex<BTreeMap<String, &'static Component>> = Mutex::new(BTreeMap::new());
    let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loaded.entry(name.to_string()).or_insert_with(|| {
        let bytes = std::fs::read(plugin_path(name)).expect("plugin wasm");
        Box::leak(Box::new(
            runner().load(&bytes).expect("composing and compiling the plugin"),
        ))
    })
}

/// Runs a plugin with `args` and `stdin`, capturing its output.
pub fn run_plugin(name: &str, args: &[String], stdin: &[u8]) -> Outcome {
    runner().run(component(name), args, Stdio::Captured(stdin.to_vec()))
}

/// Runs a shell-plugin script (one JSON value per call) and returns one
/// answer per line.
pub fn shell(script: &[Value]) -> Vec<Value> {
    shell_with(runner(), component("shell"), script)
}

/// [`shell`] on another runner (its own policy), with the shell plugin
/// loaded by it.
pub fn shell_with(runner: &Runner, shell: &Component, script: &[Value]) -> Vec<Value> {
    let input: String = script.iter().map(|v| format!("{v}\n")).collect();
    let outcome = runner.run(shell, &[], Stdio::Captured(input.into_bytes()));
    assert!(
        matches!(outcome.result, Ok(Ok(()))),
        "shell failed: {:?}; stderr: {}",
        outcome.result,
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

/// Runs a script through CPython's imaplib (`tests/python/imaplib_shell.py`,
/// the reference side of the differential tests), in UTC.
pub fn python_shell(script: &[Value]) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(root().join("tests/python/imaplib_shell.py"))
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let input: String = script.iter().map(|v| format!("{v}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect();
    assert_eq!(
        answers.len(),
        script.len(),
        "python: {answers:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    answers
}

/// Replaces what legitimately differs between two runs against Dovecot:
/// timings, UIDVALIDITY values, and the user names given.
pub fn normalize(v: &Value, users: &[&str]) -> Value {
    use std::sync::LazyLock;
    static TIMING: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)").unwrap());
    static UIDVALIDITY: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(UIDVALIDITY|APPENDUID|COPYUID) \d+").unwrap());
    match v {
        Value::String(s) => {
            let mut s = TIMING.replace_all(s, "(T secs)").into_owned();
            s = UIDVALIDITY.replace_all(&s, "$1 N").into_owned();
            for user in users {
                s = s.replace(user, "USER");
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, users)).collect()),
        Value::Object(o) => {
            let typ = o.get("typ").and_then(Value::as_str).unwrap_or_default();
            Value::Object(
                o.iter()
                    .map(|(k, x)| {
                        // `untagged_responses` and `response(code)` hold bare
                        // UIDVALIDITY values.
                        let bare = is_uid_code(k) || (k == "data" && is_uid_code(typ));
                        (
                            k.clone(),
                            if bare {
                                mask_leading_number(x)
                            } else {
                                normalize(x, users)
                            },
                        )
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

fn is_uid_code(name: &str) -> bool {
    matches!(name, "UIDVALIDITY" | "COPYUID" | "APPENDUID")
}

/// `[{"b": "1795 1 1"}]` → `[{"b": "N 1 1"}]`.
fn mask_leading_number(items: &Value) -> Value {
    use std::sync::LazyLock;
    static LEADING: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"^\d+").unwrap());
    let masked = items.as_array().into_iter().flatten().map(|d| match d["b"].as_str() {
        Some(s) => serde_json::json!({ "b": LEADING.replace(s, "N") }),
        None => d.clone(),
    });
    Value::Array(masked.collect())
}

/// Runs the same session, built for a fresh user by `calls`, through
/// wasimap and through CPython's imaplib, and returns both sides'
/// normalized answers (open and login first).
pub fn differential(prefix: &str, calls: impl Fn(&str) -> Vec<Value>) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let (wuser, puser) = (unique_user(&format!("{prefix}w")), unique_user(&format!("{prefix}p")));
    let script = |user: &str| {
        let mut s = login_lines(user);
        s.extend(calls(user));
        s
    };
    let (wscript, pscript) = (script(&wuser), script(&puser));
    let ours = shell(&wscript).iter().map(|a| normalize(a, &[&wuser])).collect();
    let theirs = python_shell(&pscript).iter().map(|a| normalize(a, &[&puser])).collect();
    (
        normalize(&Value::Array(wscript), &[&wuser]).as_array().unwrap().clone(),
        ours,
        theirs,
    )
}

/// Asserts both sides answered every line alike, naming the first line
/// that differs.
pub fn assert_same(script: &[Value], ours: &[Value], theirs: &[Value]) {
    for (i, call) in script.iter().enumerate() {
        assert_eq!(
            ours[i], theirs[i],
            "line {i}: {call}\n wasimap: {}\n CPython: {}",
            ours[i], theirs[i]
        );
    }
}
