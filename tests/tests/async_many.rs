//! The async embedding under load (issue #17): 100 plugin instances at
//! once in this process, on a tokio runtime with two worker threads,
//! against Dovecot. Every session must complete with its own results, the
//! sessions must wait on their servers together (not one per thread), and
//! the process must not grow a thread per session.

use std::time::Duration;

use wasimap_tests::many::{run, Load, BLOCKING_THREADS};

#[test]
fn a_hundred_sessions_run_at_once_on_two_worker_threads() {
    let load = Load {
        sessions: 100,
        workers: 2,
        idle: Duration::from_secs(2),
    };
    let report = run(load);
    eprintln!(
        "{} sessions on {} workers: wall {:.2} s, {:.1} at once on average; threads {} before, {} at peak; \
         RSS {} KiB before, {} KiB at peak ({} KiB per session)",
        load.sessions,
        load.workers,
        report.wall.as_secs_f64(),
        report.overlap(),
        report.threads_before,
        report.threads_peak,
        report.rss_before_kib,
        report.rss_peak_kib,
        report.rss_per_session_kib(),
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.sessions.len(), load.sessions);
    // Only the runtime's own threads may appear: its workers and at most
    // its blocking pool, however many sessions wait at once.
    assert!(
        report.threads_peak <= report.threads_before + load.workers + BLOCKING_THREADS,
        "threads grew from {} to {}",
        report.threads_before,
        report.threads_peak
    );
    // Each session waits 2 s in IDLE; one session per worker thread would
    // give an overlap of at most 2 and a wall time of over 100 s.
    assert!(
        report.overlap() >= 20.0,
        "sessions overlapped only {:.1}x",
        report.overlap()
    );
    assert!(report.wall < load.idle * 15, "100 sessions took {:?}", report.wall);
}
