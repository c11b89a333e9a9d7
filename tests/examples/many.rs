//! Runs many wasimap plugin instances at once in one process on a small
//! tokio runtime (the async embedding, `Runner::run_async`) against the
//! project's private Dovecot, and prints the time, threads and memory used.
//!
//! ```text
//! cargo run --release -p wasimap-tests --example many -- [SESSIONS [WORKERS [IDLE_SECONDS]]]
//! ```
//! Defaults: 100 sessions, 2 worker threads, 2 s of IDLE each. The server
//! is started for the run (and stopped after) unless `WASIMAP_DOVECOT_ENV`
//! names the `env` file of one already running (`tests/dovecot/server.sh
//! start DIR` writes it). The guest plugins must be built (`just
//! build-guest`).

use std::process::ExitCode;
use std::time::Duration;

use wasimap_tests::many::{run, Load};

fn arg(n: usize, default: f64) -> f64 {
    std::env::args().nth(n).map_or(default, |a| {
        a.parse()
            .unwrap_or_else(|_| panic!("argument {n}: a number, not {a:?}"))
    })
}

fn main() -> ExitCode {
    let load = Load {
        sessions: arg(1, 100.0) as usize,
        workers: arg(2, 2.0) as usize,
        idle: Duration::from_secs_f64(arg(3, 2.0)),
    };
    let report = run(load);
    println!("sessions        {}", load.sessions);
    println!("worker threads  {}", load.workers);
    println!("wall time       {:.2} s", report.wall.as_secs_f64());
    println!("at once (mean)  {:.1}", report.overlap());
    println!(
        "threads         {} before, {} at peak",
        report.threads_before, report.threads_peak
    );
    println!(
        "resident memory {} KiB before, {} KiB at peak, {} KiB per session",
        report.rss_before_kib,
        report.rss_peak_kib,
        report.rss_per_session_kib()
    );
    for failure in &report.failures {
        eprintln!("{failure}");
    }
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} of {} sessions failed", report.failures.len(), load.sessions);
        ExitCode::FAILURE
    }
}
