//! Shared harness of the integration tests: one private Dovecot per test
//! run, the plugins built for wasm32-wasip2, and a runner that executes them
//! in process with captured stdio.
//!
//! Each server (Dovecot, Cyrus, Courier) is started once per test binary,
//! on first use, by `tests/<name>/server.sh` with `--owner-pid`, so it stops
//! when the test process exits; set `WASIMAP_DOVECOT_ENV`,
//! `WASIMAP_CYRUS_ENV` or `WASIMAP_COURIER_ENV` to the `env` file of a
//! server already running (as `just test` does) to share one across
//! binaries.

pub mod fake_imap;
pub mod many;
pub mod proxy;
pub mod script_server;
pub mod watching;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::runner::{Outcome, Stdio};
use wasimap_sandbox::{Endpoint, Policy, Runner, RunnerConfig, SecretSource, Secrets, TlsTrust};
use wasmtime::component::Component;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A running private server (Dovecot, Cyrus or Courier), read from the
/// `env` file its `tests/<name>/server.sh` wrote.
#[derive(Debug)]
pub struct Server {
    env: HashMap<String, String>,
}

/// The Dovecot every older test uses.
pub type Dovecot = Server;

impl Server {
    /// A value of the server's `env` file (`WASIMAP_IMAP_PORT`, ...).
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the {} env file", self.name()))
    }

    /// `dovecot`, `cyrus` or `courier`.
    pub fn name(&self) -> &str {
        self.env.get("WASIMAP_SERVER").map_or("dovecot", String::as_str)
    }

    /// The server's directory.
    pub fn dir(&self) -> &str {
        self.get("WASIMAP_SERVER_DIR")
    }

    /// Plain IMAP port on 127.0.0.1.
    pub fn imap_port(&self) -> u16 {
        self.get("WASIMAP_IMAP_PORT").parse().unwrap()
    }

    /// Implicit-TLS port on 127.0.0.1.
    pub fn imaps_port(&self) -> u16 {
        self.get("WASIMAP_IMAPS_PORT").parse().unwrap()
    }

    /// The ports the server listens on (none for Courier's stream mode).
    pub fn ports(&self) -> Vec<u16> {
        ["WASIMAP_IMAP_PORT", "WASIMAP_IMAPS_PORT"]
            .iter()
            .filter_map(|k| self.env.get(*k).map(|p| p.parse().unwrap()))
            .collect()
    }

    /// The password every ordinary user has.
    pub fn password(&self) -> &str {
        self.get("WASIMAP_PASSWORD")
    }

    /// A user name no other test uses, ready to log in: Dovecot and Courier
    /// make the mailbox on first use, Cyrus needs the user in its sasldb
    /// (`WASIMAP_ADD_USER_COMMAND`).
    pub fn new_user(&self, prefix: &str) -> String {
        let user = unique_user(prefix);
        if let Some(add) = self.env.get("WASIMAP_ADD_USER_COMMAND") {
            let status = Command::new(add).arg(&user).status().expect("adding a user");
            assert!(status.success(), "{add} {user}: {status}");
        }
        user
    }

    /// The arguments the example plugins take to reach `user`'s mail:
    /// `--host`, `--port`, `--user`, `--password` where the server listens,
    /// else `--stream` with its pre-authenticated command (Courier).
    pub fn plugin_args(&self, user: &str) -> Vec<String> {
        match self.env.get("WASIMAP_IMAP_PORT") {
            Some(port) => tcp_plugin_args(port, user, self.password()),
            None => vec![
                "--stream".to_string(),
                format!("{} {user}", self.get("WASIMAP_STREAM_COMMAND")),
            ],
        }
    }

    /// `name`, written with `/` between levels, in the server's personal
    /// namespace: Courier's is `INBOX.` with `.` (`Archive/2024` →
    /// `INBOX.Archive.2024`), the others' `""` with `/`. INBOX is INBOX.
    pub fn mailbox(&self, name: &str) -> String {
        match self.name() {
            "courier" if !name.eq_ignore_ascii_case("INBOX") => format!("INBOX.{}", name.replace('/', ".")),
            _ => name.to_string(),
        }
    }

    /// The lines that open a session for `user`: TCP and LOGIN where the
    /// server listens, else its pre-authenticated stream (Courier).
    pub fn open_lines(&self, user: &str) -> Vec<Value> {
        match self.env.get("WASIMAP_IMAP_PORT") {
            Some(_) => vec![
                serde_json::json!(["IMAP4", "127.0.0.1", self.imap_port()]),
                serde_json::json!(["login", user, self.password()]),
            ],
            None => vec![serde_json::json!([
                "IMAP4_stream",
                format!("{} {user}", self.get("WASIMAP_STREAM_COMMAND"))
            ])],
        }
    }
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The server `name` named by the env file in `$env_var` (as `just test`
/// sets), else one started for this test binary (`tests/NAME/server.sh
/// start target/NAME-test-PID --owner-pid PID`).
fn start_server(name: &str, env_var: &str) -> Server {
    if let Ok(file) = std::env::var(env_var) {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        return Server { env: parse_env(&text) };
    }
    let dir = root().join(format!("target/{name}-test-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(root().join(format!("tests/{name}/server.sh")))
        .arg("start")
        .arg(&dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running tests/{name}/server.sh: {e}"));
    assert!(
        out.status.success(),
        "starting {name} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let env = parse_env(&std::fs::read_to_string(dir.join("env")).expect("server env file"));
    Server { env }
}

/// The shared Dovecot, started on first use.
pub fn dovecot() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_server("dovecot", "WASIMAP_DOVECOT_ENV"))
}

/// The shared Cyrus IMAP, started on first use.
pub fn cyrus() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_server("cyrus", "WASIMAP_CYRUS_ENV"))
}

/// The shared Courier-IMAP (stream mode), set up on first use.
pub fn courier() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| start_server("courier", "WASIMAP_COURIER_ENV"))
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
        "journal" => env!("WASIMAP_PLUGIN_JOURNAL"),
        "bench" => env!("WASIMAP_PLUGIN_BENCH"),
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
    built_artifact("wasimap", "build it with `cargo build -p wasimap` (just test does)")
}

/// `target/release/wasimap`: compiles large components (Python's CPython,
/// JavaScript's SpiderMonkey) about ten times faster than the debug build.
pub fn release_wasimap_binary() -> PathBuf {
    built_artifact(
        "../release/wasimap",
        "build it with `cargo build --release -p wasimap --bin wasimap` (just test does)",
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
    tcp_plugin_args(&dovecot().imap_port().to_string(), user, password)
}

fn tcp_plugin_args(port: &str, user: &str, password: &str) -> Vec<String> {
    [
        "--host",
        "127.0.0.1",
        "--port",
        port,
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
    runner_for(dovecot())
}

/// The runner for tests against `server`: loopback, the server's stream
/// command and certificates, the test secrets bound to its ports.
pub fn runner_for(server: &'static Server) -> &'static Runner {
    static RUNNERS: Mutex<BTreeMap<String, &'static Runner>> = Mutex::new(BTreeMap::new());
    let mut runners = RUNNERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    runners
        .entry(server.dir().to_string())
        .or_insert_with(|| Box::leak(Box::new(build_runner(server))))
}

fn build_runner(d: &Server) -> Runner {
    let mut policy = Policy::deny_all()
        .allow("127.0.0.1:*".parse::<HostPattern>().unwrap())
        .allow("localhost:*".parse::<HostPattern>().unwrap())
        .allow_read(format!("{}/certs/*", d.dir()));
    if let Some(command) = d.env.get("WASIMAP_STREAM_COMMAND") {
        policy = policy.allow_exec(format!("{command} **"));
    }
    // The grants above have wildcards, so the secrets are bound to the
    // server's endpoints explicitly.
    let mut secrets = Secrets::none()
        .define(
            "imap-password",
            SecretSource::Value(d.env.get("WASIMAP_PASSWORD").cloned().unwrap_or_default()),
        )
        .define("quote-password", SecretSource::Value("p a\"s\\s w".to_string()));
    for name in ["imap-password", "quote-password"] {
        for port in d.ports() {
            for host in ["127.0.0.1", "localhost"] {
                secrets = secrets.bind(name, Endpoint::new(host, port)).unwrap();
            }
        }
    }
    let mut trust = TlsTrust::none();
    if let Some(ca) = d.env.get("WASIMAP_CA") {
        trust = trust
            .allow_ca(Path::new(ca))
            .unwrap()
            .allow_insecure(format!("127.0.0.1:{}", d.imaps_port()).parse().unwrap());
    }
    let config = RunnerConfig {
        policy,
        secrets,
        trust,
        cache_dir: Some(root().join("target/wasimap-cache")),
        ..RunnerConfig::default()
    };
    Runner::new(config).expect("runner")
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
    component_for(dovecot(), name)
}

/// A plugin composed and compiled by [`runner_for`]`(server)`.
pub fn component_for(server: &'static Server, name: &str) -> &'static Component {
    static LOADED: Mutex<BTreeMap<(String, String), &'static Component>> = Mutex::new(BTreeMap::new());
    let runner = runner_for(server);
    let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loaded
        .entry((server.dir().to_string(), name.to_string()))
        .or_insert_with(|| {
            let bytes = std::fs::read(plugin_path(name)).expect("plugin wasm");
            Box::leak(Box::new(
                runner.load(&bytes).expect("composing and compiling the plugin"),
            ))
        })
}

/// [`shell`] against `server` (its runner's grants).
pub fn shell_on(server: &'static Server, script: &[Value]) -> Vec<Value> {
    shell_with(runner_for(server), component_for(server, "shell"), script)
}

/// Runs a plugin with `args` and `stdin`, capturing its output.
pub fn run_plugin(name: &str, args: &[String], stdin: &[u8]) -> Outcome {
    run_plugin_on(dovecot(), name, args, stdin)
}

/// [`run_plugin`] with [`runner_for`]`(server)`'s grants.
pub fn run_plugin_on(server: &'static Server, name: &str, args: &[String], stdin: &[u8]) -> Outcome {
    runner_for(server).run(component_for(server, name), args, Stdio::Captured(stdin.to_vec()))
}

/// Runs a shell-plugin script (one JSON value per call) and returns one
/// answer per line.
pub fn shell(script: &[Value]) -> Vec<Value> {
    shell_with(runner(), component("shell"), script)
}

/// [`shell`] on another runner (its own policy), with the shell plugin
/// loaded by it.
pub fn shell_with(runner: &Runner, shell: &Component, script: &[Value]) -> Vec<Value> {
    shell_with_stderr(runner, shell, script).0
}

/// [`shell_with`], also returning what the plugin wrote to stderr (the
/// debug log).
pub fn shell_with_stderr(runner: &Runner, shell: &Component, script: &[Value]) -> (Vec<Value>, String) {
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
    (answers, String::from_utf8_lossy(&outcome.stderr).into_owned())
}

/// `{"b": ...}` for a latin-1 string.
pub fn b(s: &str) -> Value {
    serde_json::json!({ "b": s })
}

/// The open line and login for a fresh user on the plain port.
pub fn login_lines(user: &str) -> Vec<Value> {
    dovecot().open_lines(user)
}

/// Runs a script through CPython's imaplib (`tests/python/imaplib_shell.py`,
/// the reference side of the differential tests), in UTC.
pub fn python_shell(script: &[Value]) -> Vec<Value> {
    python_shell_in(script, "UTC")
}

/// [`python_shell`] with the time zone `tz` (a `TZ` value).
pub fn python_shell_in(script: &[Value], tz: &str) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(root().join("tests/python/imaplib_shell.py"))
        .env("TZ", tz)
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

/// An answer without the `kind` and `errno` of an error line: CPython's
/// imaplib has neither (its exceptions are told apart by class and
/// message), so a comparison with it compares those; the kinds are
/// asserted on their own (faults.rs, transports.rs).
pub fn without_kinds(v: &Value) -> Value {
    match v {
        Value::Object(o) if o.contains_key("error") => Value::Object(
            o.iter()
                .filter(|(k, _)| *k != "kind" && *k != "errno")
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces what legitimately differs between two runs against Dovecot:
/// timings, UIDVALIDITY values, and the user names given.
pub fn normalize(v: &Value, users: &[&str]) -> Value {
    use std::sync::LazyLock;
    // Dovecot's `(0.001 + 0.000 secs)`, Cyrus's `(0.000 secs 1 calls)`.
    static TIMING: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\(\d+\.\d+ (?:\+ \d+\.\d+ (?:\+ \d+\.\d+ )?)?secs(?: \d+ calls)?\)").unwrap()
    });
    // Cyrus's per-connection and per-mailbox identifiers.
    static IDS: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(SESSIONID=<|MAILBOXID \(|EMAILID \(|THREADID \()[^>)]*").unwrap());
    static UIDVALIDITY: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(UIDVALIDITY|APPENDUID|COPYUID) \d+").unwrap());
    match v {
        Value::String(s) => {
            let mut s = TIMING.replace_all(s, "(T secs)").into_owned();
            s = UIDVALIDITY.replace_all(&s, "$1 N").into_owned();
            s = IDS.replace_all(&s, "${1}ID").into_owned();
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
    differential_on(dovecot(), prefix, calls)
}

/// [`differential`] against `server` (a fresh user of its own per side).
pub fn differential_on(
    server: &'static Server,
    prefix: &str,
    calls: impl Fn(&str) -> Vec<Value>,
) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let (wuser, puser) = (
        server.new_user(&format!("{prefix}w")),
        server.new_user(&format!("{prefix}p")),
    );
    let script = |user: &str| {
        let mut s = server.open_lines(user);
        s.extend(calls(user));
        s
    };
    let (wscript, pscript) = (script(&wuser), script(&puser));
    let ours = shell_on(server, &wscript)
        .iter()
        .map(|a| normalize(&without_kinds(a), &[&wuser]))
        .collect();
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
