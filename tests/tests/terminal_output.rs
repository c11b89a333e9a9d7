//! What the host prints from a plugin or a server reaches the terminal
//! escaped (issue 28, findings 12 and 13): the real `wasimap` binary with
//! the hostile plugin's `terminal` attempt (a progress label with U+202E,
//! an error holding OSC 52, a screen erase and a forged `wasimap:` line),
//! and `wasimap watch --status` over dead letters and a stop reason with
//! the same words.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use wasimap_tests::{plugin_path, root, wasimap_binary};
use wasimap_watch::store::{DeadLetter, Store};

/// The hostile plugin's error, as the plugin wrote it.
const HOSTILE_ERROR: &str = "boom\u{1b}]52;c;b3duZWQ=\u{7}\u{1b}[2J\nwasimap: done, nothing failed\u{202e}";

/// [`HOSTILE_ERROR`] as the host must show it.
const HOSTILE_ERROR_SHOWN: &str = r"boom\u{1b}]52;c;b3duZWQ=\u{7}\u{1b}[2J\nwasimap: done, nothing failed\u{202e}";

/// Whether `c` must never reach the terminal from a plugin's words (a line
/// break is checked line by line instead).
fn hostile(c: char) -> bool {
    c != '\n'
        && (c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'))
}

/// `wasimap ARGS`, with the tests' compiled-component cache.
fn wasimap(args: &[&str]) -> Output {
    Command::new(wasimap_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("wasimap runs")
}

fn cache_dir() -> String {
    root().join("target/wasimap-cache").display().to_string()
}

#[test]
fn a_plugins_failure_message_is_shown_escaped_on_one_line() {
    let hostile_wasm = plugin_path("hostile").display().to_string();
    let out = wasimap(&["run", "--cache-dir", &cache_dir(), &hostile_wasm, "terminal"]);
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.chars().any(hostile), "{stderr:?}");
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wasimap: plugin failed: {HOSTILE_ERROR_SHOWN}")),
        "{stderr:?}"
    );
    // The forged line is inside the one real line, never a line of its own.
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("wasimap:")).count(),
        1,
        "{stderr:?}"
    );
    assert!(!stderr.lines().any(|l| l.starts_with("wasimap: done")), "{stderr:?}");
}

#[test]
fn a_progress_label_is_shown_escaped_on_a_terminal() {
    // `script` (util-linux) gives the run a pseudo-terminal, so the bar is
    // drawn; indicatif's own cursor moves are CSI sequences, the plugin's
    // words must bring no OSC and no bidi control.
    let line = [
        wasimap_binary().display().to_string(),
        "run".into(),
        "--cache-dir".into(),
        cache_dir(),
        plugin_path("hostile").display().to_string(),
        "terminal".into(),
    ]
    .iter()
    .map(|w| format!("'{w}'"))
    .collect::<Vec<_>>()
    .join(" ");
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(out.status.code(), Some(1), "{shown:?}");
    assert!(
        shown.contains(r"report-\u{202e}txt.exe"),
        "the label was drawn: {shown:?}"
    );
    assert!(shown.contains(HOSTILE_ERROR_SHOWN), "{shown:?}");
    assert!(!shown.contains('\u{202e}') && !shown.contains("\u{1b}]"), "{shown:?}");
    let csi = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    let screen = csi.replace_all(&shown, "");
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{7}'), "{screen:?}");
    assert!(
        !screen.split(['\n', '\r']).any(|l| l.starts_with("wasimap: done")),
        "{screen:?}"
    );
}

/// A fresh private directory under target/ for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = root().join(format!("target/terminal-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A watch manifest in `dir` naming one account `work` with `INBOX`.
fn manifest(dir: &Path) -> PathBuf {
    let text = format!(
        "plugin = \"{}\"\nstate-dir = \"state\"\n\n[secrets]\npw = \"env:TERMINAL_TEST_PASSWORD\"\n\n\
         [[account]]\nname = \"work\"\nhost = \"127.0.0.1\"\nport = 1\ntls = \"none\"\nuser = \"u\"\n\
         secret = \"pw\"\nmailboxes = [\"INBOX\"]\n",
        plugin_path("journal").display()
    );
    let path = dir.join("watch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn status_shows_dead_letters_and_stop_reasons_escaped() {
    let dir = test_dir("status");
    let path = manifest(&dir);
    {
        // What a hostile plugin's error and a hostile server's NO leave.
        let store = Store::open(&dir.join("state"), None).unwrap();
        store
            .update("work", "INBOX", |m| {
                m.dead.push(DeadLetter {
                    uid: 7,
                    uidvalidity: 1,
                    attempts: 3,
                    error: HOSTILE_ERROR.into(),
                    ..DeadLetter::default()
                });
                m.stopped = Some(format!("login refused: {HOSTILE_ERROR}"));
            })
            .unwrap();
    }
    let manifest = path.display().to_string();
    let out = wasimap(&["watch", "--manifest", &manifest, "--status"]);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.chars().any(hostile), "{text:?}");
    // The forged words stay inside their two rows: the mailbox's and its
    // dead letter's.
    let holding = |l: &&str| l.contains("nothing failed");
    assert_eq!(text.lines().filter(holding).count(), 2, "{text}");
    assert!(text.lines().filter(holding).all(|l| l.contains("boom")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.ends_with(&format!("stopped: login refused: {HOSTILE_ERROR_SHOWN}"))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l
                == format!("dead letter: work/INBOX uid 7 (uidvalidity 1) after 3 attempt(s): {HOSTILE_ERROR_SHOWN}")),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("wasimap: done")), "{text}");

    // JSON stays JSON, means the same, and is as safe to `cat`.
    let out = wasimap(&["watch", "--manifest", &manifest, "--status", "--json"]);
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.chars().any(hostile), "{text:?}");
    assert!(text.contains(r"\u202e"), "{text}");
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["mailboxes"]["work/INBOX"]["dead"][0]["error"], HOSTILE_ERROR);
    std::fs::remove_dir_all(&dir).unwrap();
}
