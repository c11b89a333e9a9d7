//! Many plugin sessions at once in one process, on a tokio runtime with a
//! few worker threads: the async embedding ([`Runner::run_async`]) under
//! load against the private Dovecot. `tests/async_many.rs` asserts on the
//! [`Report`]; `examples/many.rs` prints it.
//!
//! Each session is the shell plugin in its own store, as its own user:
//! login, APPEND a message naming the session, SELECT, FETCH it back,
//! IDLE for a while (a read that waits on the server), DONE, LOGOUT. The
//! IDLE wait is what shows the point: run one after the other the sessions
//! would take `sessions × idle`; with fibers they wait together.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wasimap_sandbox::runner::Stdio;

use crate::{b, component, dovecot, login_lines, runner, unique_user};

/// Blocking threads the runtime may start (tokio uses them for name
/// lookups; these sessions connect to an IP literal and need none).
pub const BLOCKING_THREADS: usize = 2;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Plugin instances at once.
    pub sessions: usize,
    /// The runtime's worker threads.
    pub workers: usize,
    /// How long each session waits in IDLE.
    pub idle: Duration,
}

/// What a run of [`Load`] took.
#[derive(Debug)]
pub struct Report {
    /// From the first spawn to the last session's end.
    pub wall: Duration,
    /// Each session's own time, from its first poll to its end.
    pub sessions: Vec<Duration>,
    /// Sessions that did not end as expected, with why.
    pub failures: Vec<String>,
    /// Threads of the process just before the runtime started.
    pub threads_before: usize,
    /// Most threads seen while the sessions ran (sampled every 5 ms).
    pub threads_peak: usize,
    /// Resident memory just before the runtime started, KiB.
    pub rss_before_kib: u64,
    /// Most resident memory seen while the sessions ran, KiB.
    pub rss_peak_kib: u64,
}

impl Report {
    /// Sessions in progress at once, on average: their summed time over
    /// the wall time (1 when they run one after another).
    pub fn overlap(&self) -> f64 {
        self.sessions.iter().sum::<Duration>().as_secs_f64() / self.wall.as_secs_f64()
    }

    /// The memory the sessions added, per session, KiB.
    pub fn rss_per_session_kib(&self) -> u64 {
        self.rss_peak_kib.saturating_sub(self.rss_before_kib) / self.sessions.len().max(1) as u64
    }
}

/// A field of `/proc/self/status` (`Threads`, or `VmRSS` in KiB).
pub fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The script of session `n` for `user`.
pub fn script(user: &str, n: usize, idle: Duration) -> Vec<Value> {
    let mut lines = login_lines(user);
    lines.extend([
        json!([
            "append",
            "INBOX",
            null,
            null,
            b(&format!("Subject: session {n}\r\n\r\nhi\r\n"))
        ]),
        json!(["select", "INBOX"]),
        json!(["fetch", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"]),
        json!(["idle", null]),
        json!(["idle_next", idle.as_secs_f64()]),
        json!(["idle_done"]),
        json!(["logout"]),
    ]);
    lines
}

/// Whether `answers` are what session `n`'s script should get: every
/// command OK, its own message fetched back, the IDLE wait ended by its
/// timeout, LOGOUT's BYE.
pub fn check(answers: &[Value], n: usize) -> Result<(), String> {
    let fail = |what: &str| Err(format!("session {n}: {what}: {answers:?}"));
    if answers.len() != 9 {
        return fail("one answer per line expected");
    }
    for i in [1, 2, 3, 7] {
        if answers[i]["typ"] != "OK" {
            return fail(&format!("answer {i} is not OK"));
        }
    }
    if answers[3]["data"] != json!([b("1")]) {
        return fail("the user's own mailbox holds one message");
    }
    if !answers[4].to_string().contains(&format!("Subject: session {n}\\r\\n")) {
        return fail("FETCH did not return the session's own message");
    }
    if answers[5] != json!({"value": null}) || answers[6] != json!({"value": null}) {
        return fail("IDLE should be entered and end by its timeout");
    }
    if answers[8]["typ"] != "BYE" {
        return fail("LOGOUT answers BYE");
    }
    Ok(())
}

/// Samples the process's threads and memory until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    threads: Arc<AtomicUsize>,
    rss: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start() -> Self {
        let (stop, threads, rss) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, t, r) = (stop.clone(), threads.clone(), rss.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                t.fetch_max(status("Threads") as usize, Ordering::Relaxed);
                r.fetch_max(status("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sampler {
            stop,
            threads,
            rss,
            handle,
        }
    }

    /// Peak threads and resident KiB.
    fn finish(self) -> (usize, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("sampler");
        (self.threads.load(Ordering::Relaxed), self.rss.load(Ordering::Relaxed))
    }
}

/// Runs `load.sessions` shell sessions at once on a runtime of
/// `load.workers` threads and reports what it took.
pub fn run(load: Load) -> Report {
    // Compile (or map from the cache) and start the runner's epoch thread
    // before measuring: neither grows with the sessions.
    let (runner, shell) = (runner(), component("shell"));
    let _ = dovecot();
    let inputs: Vec<Vec<u8>> = (0..load.sessions)
        .map(|n| {
            let lines = script(&unique_user("many"), n, load.idle);
            lines.iter().map(|v| format!("{v}\n")).collect::<String>().into_bytes()
        })
        .collect();

    let sampler = Sampler::start();
    std::thread::sleep(Duration::from_millis(20));
    let (threads_before, rss_before_kib) = (status("Threads") as usize, status("VmRSS"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(load.workers)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let start = Instant::now();
    let ends = runtime.block_on(async {
        let tasks: Vec<_> = inputs
            .into_iter()
            .map(|input| {
                tokio::spawn(async move {
                    let began = Instant::now();
                    let outcome = runner.run_async(shell, &[], Stdio::Captured(input)).await;
                    (began.elapsed(), outcome)
                })
            })
            .collect();
        let mut ends = Vec::new();
        for task in tasks {
            ends.push(task.await.expect("session task"));
        }
        ends
    });
    let wall = start.elapsed();
    drop(runtime);
    let (threads_peak, rss_peak_kib) = sampler.finish();

    let mut failures = Vec::new();
    let mut sessions = Vec::new();
    for (n, (took, outcome)) in ends.into_iter().enumerate() {
        sessions.push(took);
        let answers = match outcome.result {
            Ok(Ok(())) => String::from_utf8_lossy(&outcome.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
                .collect::<Vec<Value>>(),
            other => {
                let stderr = String::from_utf8_lossy(&outcome.stderr);
                failures.push(format!("session {n}: {other:?}; stderr: {stderr}"));
                continue;
            }
        };
        if let Err(why) = check(&answers, n) {
            failures.push(why);
        }
    }
    Report {
        wall,
        sessions,
        failures,
        threads_before,
        threads_peak,
        rss_before_kib,
        rss_peak_kib,
    }
}
