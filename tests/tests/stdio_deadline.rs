//! `--timeout` bounds a plugin blocked on its stdio, not only one running
//! wasm: a read of a stdin that stays open and a write to a stdout nobody
//! drains end by the deadline (the plugin blocked in the host runs no
//! wasm, so the epoch check alone never fired), and the run ends with the
//! time limit's exit code.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasimap_tests::{plugin_path, release_wasimap_binary};

/// Runs the hostile plugin in `mode` with `--timeout 2`, its stdin and
/// stdout pipes held open by this test and never read or written; its
/// exit code and how long it ran.
fn run_blocked(mode: &str) -> (Option<i32>, Duration) {
    let started = Instant::now();
    let mut child = Command::new(release_wasimap_binary())
        .args(["run", "--timeout", "2", "--no-progress"])
        .arg(plugin_path("hostile"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The pipes stay open (held by `child`) and untouched until it exits
    // or 30 s pass.
    let end = started + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, started.elapsed())
}

#[test]
fn a_plugin_reading_a_stdin_that_stays_open_ends_at_its_timeout() {
    let (code, took) = run_blocked("stdin-wait");
    assert_eq!(code, Some(4), "the time limit's exit code (ran {took:?})");
    assert!(took < Duration::from_secs(15), "ran {took:?} with --timeout 2");
}

#[test]
fn a_plugin_writing_to_a_stdout_nobody_drains_ends_at_its_timeout() {
    let (code, took) = run_blocked("stdout-block");
    assert_eq!(code, Some(4), "the time limit's exit code (ran {took:?})");
    assert!(took < Duration::from_secs(15), "ran {took:?} with --timeout 2");
}
