//! What the `wasimap watch` tests share: a directory per test, manifests
//! with quick timings, a watcher process killed when dropped, its log, its
//! output (the journal plugin's lines), `--status`, and bounded waits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{plugin_path, release_wasimap_binary, root};

/// The password of the `pw` secret every test manifest defines.
pub const PASSWORD: &str = "secret";

/// A fresh directory under target/ for one test.
pub fn test_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join(format!(
        "target/watch-test-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One plain `[[account]]` on 127.0.0.1, every message handled.
pub fn account(name: &str, port: u16, user: &str, secret: &str, mailbox: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nuser = \"{user}\"\nsecret = \"{secret}\"\nmailboxes = [\"{mailbox}\"]\nstart = \"all\"\n\n"
    )
}

/// A journal manifest in `dir` for two accounts on 127.0.0.1: `evil`
/// (user alice) on port `evil`, `good` (user bob) on port `good`.
pub fn evil_and_good(dir: &Path, evil: u16, good: u16) -> PathBuf {
    let accounts = account("evil", evil, "alice", "pw", "INBOX") + &account("good", good, "bob", "pw", "INBOX");
    manifest_with(dir, "journal", &accounts, &[], "")
}

/// A manifest in `dir` for `plugin` with quick timings for tests; `extra`
/// is TOML put before the accounts (top-level keys go first in the file).
pub fn manifest_with(dir: &Path, plugin: &str, accounts: &str, plugin_args: &[&str], limits: &str) -> PathBuf {
    let args: Vec<String> = plugin_args.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        r#"plugin = "{plugin}"
state-dir = "state"
output = "journal.log"
cache-dir = "{cache}"
plugin-args = [{args}]
concurrency = 2

[secrets]
pw = "env:WATCH_TEST_PASSWORD"
bad = "env:WATCH_TEST_WRONG"

[limits]
timeout-seconds = 60
{limits}

[retry]
max-attempts = 3
backoff-seconds = 0.1
backoff-max-seconds = 0.5

[session]
idle-seconds = 3
poll-seconds = 1
read-timeout-seconds = 5
reconnect-min-seconds = 0.2
reconnect-max-seconds = 1

{accounts}"#,
        plugin = plugin_path(plugin).display(),
        cache = root().join("target/wasimap-cache").display(),
        args = args.join(", "),
    );
    let path = dir.join("watch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `wasimap watch` (the release binary), its stderr in
/// `watcher.log` beside the manifest; killed (SIGKILL) when dropped.
pub struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Watcher {
    /// Starts watching with `manifest`; `WATCH_TEST_PASSWORD` is
    /// `password`.
    pub fn start(manifest: &Path, password: &str) -> Watcher {
        Watcher::start_with(manifest, password, None)
    }

    /// A watcher that aborts at the store's crash point `at`
    /// (`WASIMAP_WATCH_CRASH_AT`).
    pub fn start_crashing(manifest: &Path, password: &str, at: &str) -> Watcher {
        Watcher::start_with(manifest, password, Some(at))
    }

    /// [`Watcher::start`], crashing at `crash_at` if given.
    pub fn start_with(manifest: &Path, password: &str, crash_at: Option<&str>) -> Watcher {
        let log_path = manifest.with_file_name("watcher.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut command = Command::new(release_wasimap_binary());
        if let Some(at) = crash_at {
            command.env("WASIMAP_WATCH_CRASH_AT", at);
        }
        let child = command
            .args(["watch", "--manifest"])
            .arg(manifest)
            .env("WATCH_TEST_PASSWORD", password)
            .env("WATCH_TEST_WRONG", "not-the-password")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Watcher { child, log: log_path }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its resident memory now, bytes (`VmRSS`).
    pub fn rss(&self) -> u64 {
        proc_status(self.pid(), "VmRSS:").map_or(0, |kb| kb * 1024)
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Its exit, within `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the watcher did not exit within {limit:?}");
    }

    /// SIGKILL, and its end.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit within 10 s.
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: a signal to our own child.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        self.wait(Duration::from_secs(10))
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number field of `/proc/PID/status` (`Threads:`, `VmRSS:` in kB).
pub fn proc_status(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The journal plugin's lines in `dir`'s output file as `(account, uid) ->
/// message-ids` (one per time it was written).
pub fn journal(dir: &Path) -> BTreeMap<(String, u32), Vec<String>> {
    let text = std::fs::read_to_string(dir.join("journal.log")).unwrap_or_default();
    let mut out: BTreeMap<(String, u32), Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "journal line {line:?}");
        out.entry((f[0].to_string(), f[3].parse().unwrap()))
            .or_default()
            .push(f[4].to_string());
    }
    out
}

/// The Message-IDs in the journal, each with how often it appears.
pub fn journal_ids(dir: &Path) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for v in journal(dir).into_values().flatten() {
        *ids.entry(v).or_insert(0) += 1;
    }
    ids
}

/// Whether every one of `ids` is in the journal.
pub fn all_present(dir: &Path, ids: &BTreeSet<String>) -> bool {
    let have = journal_ids(dir);
    ids.iter().all(|i| have.contains_key(i))
}

/// `wasimap watch --status --json`, parsed.
pub fn status_json(manifest: &Path) -> serde_json::Value {
    serde_json::from_str(&status(manifest, true)).unwrap()
}

/// Waits until `done` holds, for at most `limit`; the watcher's log in
/// the panic message otherwise.
pub fn wait_for(limit: Duration, what: &str, dir: &Path, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}\nwatcher log:\n{}",
        std::fs::read_to_string(dir.join("watcher.log")).unwrap_or_default()
    );
}

/// `wasimap watch ARGS --manifest MANIFEST`, run to its end.
pub fn watch_cli(args: &[&str], manifest: &Path) -> std::process::Output {
    Command::new(release_wasimap_binary())
        .arg("watch")
        .args(args)
        .arg("--manifest")
        .arg(manifest)
        .output()
        .unwrap()
}

/// `wasimap watch --status` (with `--json` when `json`): its stdout.
pub fn status(manifest: &Path, json: bool) -> String {
    let args: &[&str] = if json { &["--status", "--json"] } else { &["--status"] };
    let out = watch_cli(args, manifest);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir`, read (the state, the output, the log): what a
/// secret must never be found in.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out
}
