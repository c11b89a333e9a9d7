//! # wasimap-watch
//!
//! `wasimap watch`: one long-running process that watches the accounts and
//! mailboxes a manifest names and calls a watcher plugin's
//! `watch.handle(batch)` for their new messages, exactly once each
//! (`wit/watch.wit` states the guarantee).
//!
//! Layers: [`config`] (the manifest), [`session`] (the watcher's own IMAP
//! session per mailbox, the sans-IO core over the host's transports),
//! [`store`] (durable state and the exactly-once output file), [`log`],
//! [`pool`] (a fixed number of threads for any number of mailboxes),
//! `mailbox` (each mailbox's task: connect, check UIDVALIDITY, hand out
//! batches, wait, reconnect with capped exponential backoff and jitter);
//! this file is what they share: the plugin calls, the batches' records,
//! retries and dead letters, and `--status`, `--replay`, `--reset`.

pub mod config;
pub mod log;
mod mailbox;
mod memory;
pub mod pool;
pub mod session;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use wasmtime::component::Component;

use wasimap_sandbox::batch::{Batch, Session as BatchSession};
use wasimap_sandbox::compose;
use wasimap_sandbox::conn::GuardedConnection;
use wasimap_sandbox::fair::{CpuSlot, CpuSlots};
use wasimap_sandbox::manifest::Manifest;
use wasimap_sandbox::policy::{HostPattern, Policy};
use wasimap_sandbox::runner::{Grants, Outcome, Runner, RunnerConfig, Stdio, WatchCall};
use wasimap_sandbox::secrets::Secrets;
use wasimap_sandbox::terminal;
use wasimap_sandbox::transport::tcp::Lookups;
use wasimap_sandbox::trust::TlsTrust;

use config::{Account, WatchManifest};
use log::{Level, Log};
use session::{Session, SessionError};
use store::{DeadLetter, Failure, InFlight, MailboxState, Store};

/// Stack of each worker thread: plugin calls run on it (wasmtime's
/// synchronous calls do), so it has room for wasm's own limit
/// (`max_wasm_stack`, 512 KiB) and the host frames beneath it, and a
/// recursing plugin traps instead of overflowing the thread. Only touched
/// pages take memory.
const THREAD_STACK: usize = 8 << 20;

/// A session shorter than this did not prove the server well: the
/// reconnect backoff goes on growing instead of starting afresh.
const STEADY_SESSION: Duration = Duration::from_secs(60);

/// Longest error or stderr line kept in the state and the log: a plugin
/// decides what it returns, the watcher decides what it keeps.
const MAX_TEXT: usize = 1000;

/// Stderr lines of one call that are logged; the rest are counted.
const MAX_STDERR_LINES: usize = 50;

/// Logins refused in a row before an account is stopped: a wrong password
/// is refused every time, a server that is busy (`[UNAVAILABLE]`, too
/// many connections) usually not.
const LOGIN_REFUSALS: u32 = 3;

/// `text` cut to [`MAX_TEXT`] bytes (at a character boundary).
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// Default wall-clock limit of one plugin call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Set by SIGINT and SIGTERM: finish the calls in progress, log out, exit.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// How `wasimap watch` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Log format.
    pub log: Log,
    /// Trace the IMAP sessions (passwords redacted).
    pub verbose: bool,
}

/// Everything the mailbox loops share.
struct Watcher {
    manifest: WatchManifest,
    runner: Runner,
    component: Component,
    store: Store,
    /// By account name: each account's grants, made once, so that its
    /// sessions and calls share one lookup budget.
    grants: HashMap<String, Grants>,
    log: Log,
    debug: u32,
    /// The CPU slots the plugin calls of every account run under, in
    /// turn (`concurrency` of them; [`wasimap_sandbox::fair`]).
    cpu: Arc<CpuSlots>,
}

/// The runner for plugin calls: the manifest's limits, no grants (each
/// call gets its account's).
fn runner(manifest: &WatchManifest) -> Result<Runner> {
    Runner::new(runner_config(manifest)?)
}

/// The configuration of [`runner`].
fn runner_config(manifest: &WatchManifest) -> Result<RunnerConfig> {
    let mut config = RunnerConfig {
        timeout: DEFAULT_CALL_TIMEOUT,
        ..RunnerConfig::default()
    };
    if let Some(dir) = &manifest.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    // Every limit the manifest names, as `wasimap run --manifest` applies
    // them; a watcher plugin never runs commands.
    manifest.limits.apply(&mut config)?;
    config.transport_limits.processes = 0;
    Ok(config)
}

/// Loads the watcher plugin, refusing a plain plugin with the reason.
fn load_plugin(runner: &Runner, path: &Path) -> Result<Component> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the plugin {}", path.display()))?;
    let inspection = compose::inspect(&bytes)?;
    if !inspection.can_watch() {
        let mut why = inspection.problems.clone();
        if !inspection.exports.iter().any(|e| e == compose::WATCH_INTERFACE) {
            why.push(format!(
                "does not export {} (world wasimap:imap/watcher)",
                compose::WATCH_INTERFACE
            ));
        }
        bail!("{} cannot be a watcher: {}", path.display(), why.join("; "));
    }
    runner.load_watcher(&bytes)
}

/// What a call of `account`'s batches may reach: its endpoint, its
/// secret bound there, its CA file.
fn grants(manifest: &WatchManifest, account: &Account) -> Result<Grants> {
    let endpoint = account.endpoint();
    let pattern: HostPattern = endpoint.to_string().parse().map_err(anyhow::Error::msg)?;
    let one = Manifest {
        secrets: manifest
            .secrets
            .iter()
            .filter(|(name, _)| **name == account.secret)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Manifest::default()
    };
    let secrets = one
        .secrets(Secrets::none())?
        .bind(&account.secret, endpoint)
        .map_err(anyhow::Error::msg)?;
    let mut trust = TlsTrust::none();
    if let Some(ca) = &account.ca_file {
        trust = trust.allow_ca(ca).map_err(anyhow::Error::msg)?;
    }
    Ok(Grants {
        policy: Policy::deny_all().allow(pattern),
        secrets,
        trust,
        lookups: Lookups::default(),
    })
}

/// `wasimap watch --manifest FILE`: watches until SIGINT or SIGTERM.
///
/// # Errors
/// A manifest, plugin or state directory that cannot be used.
pub fn watch(manifest_path: &Path, options: Options) -> Result<()> {
    memory::few_arenas();
    let manifest = WatchManifest::load(manifest_path)?;
    let concurrency = manifest.concurrency;
    let watcher = Watcher::new(manifest, options, concurrency)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop_signal as *const () as libc::sighandler_t);
    }
    let mailboxes: usize = watcher.manifest.accounts.iter().map(|a| a.mailboxes.len()).sum();
    watcher.log.line(
        Level::Info,
        "",
        "started",
        &[
            ("accounts", watcher.manifest.accounts.len().to_string()),
            ("mailboxes", mailboxes.to_string()),
            ("pid", std::process::id().to_string()),
        ],
    );
    let tasks: Vec<mailbox::Mailbox> = watcher
        .manifest
        .accounts
        .iter()
        .flat_map(|a| a.mailboxes.iter().map(|m| mailbox::Mailbox::new(a.clone(), m.clone())))
        .collect();
    // Workers for the plugin calls at once, and two more so that sessions
    // go on while every call slot is busy.
    let workers = watcher.manifest.concurrency.max(1) + 2;
    let panicked = pool::run(tasks, workers, THREAD_STACK, &stopping, &|task, woken| {
        watcher.step(task, woken)
    })
    .context("starting the watcher's threads")?;
    if panicked > 0 {
        watcher.log.line(
            Level::Error,
            "",
            "mailbox-tasks-panicked",
            &[("count", panicked.to_string())],
        );
        bail!("{panicked} mailbox task(s) panicked; the state holds what was recorded");
    }
    watcher.log.line(Level::Info, "", "stopped", &[]);
    Ok(())
}

/// Seconds of a backoff step: `min(base * 2^(n-1), max)`, with up to a
/// quarter taken off at random so that many accounts do not retry at once.
fn backoff(base: f64, max: f64, n: u32) -> Duration {
    let full = (base * 2f64.powi(n.saturating_sub(1).min(30) as i32)).min(max);
    let jitter = f64::from(random_u32() % 1000) / 4000.0;
    Duration::from_secs_f64(full * (1.0 - jitter))
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u32
}

/// The next batch of `uids` (ascending, none done): alone while the
/// mailbox isolates failures, else up to `max`.
fn next_batch(state: &MailboxState, uids: &[u32], max: usize) -> Vec<u32> {
    // The batch handed out before the watcher stopped goes out again as
    // it was (less what is gone), so its attempt number means the same
    // messages.
    if let Some(f) = &state.in_flight {
        let again: Vec<u32> = f.uids.iter().copied().filter(|u| uids.contains(u)).collect();
        if !again.is_empty() && again.first() == uids.first() {
            return again;
        }
    }
    match uids.first() {
        None => Vec::new(),
        Some(&first) if first <= state.isolate_through => vec![first],
        Some(_) => uids
            .iter()
            .copied()
            .take(max)
            .take_while(|&u| u > state.isolate_through)
            .collect(),
    }
}

/// Which try a batch is: one more than the failed calls of its message
/// when it is alone, or than the batch the watcher handed out and did not
/// record before it stopped.
fn attempt(state: &MailboxState, batch: &[u32]) -> u32 {
    let crashed = state
        .in_flight
        .as_ref()
        .filter(|f| f.uids.first() == batch.first())
        .map_or(0, |f| f.attempt);
    let failed = match batch {
        [one] => state.failures.get(one).map_or(0, |f| f.attempts),
        _ => 0,
    };
    crashed.max(failed).saturating_add(1)
}

/// `1:3,7` for logs.
fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j].checked_add(1) == Some(uids[j + 1]) {
            j += 1;
        }
        out.push(if i == j {
            uids[i].to_string()
        } else {
            format!("{}:{}", uids[i], uids[j])
        });
        i = j + 1;
    }
    out.join(",")
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a batch's plugin call ended.
enum Handled {
    /// Recorded as handled.
    Ok,
    /// Failed; retry after this long.
    RetryAfter(Duration),
    /// Failed and split (or dead-lettered): go on at once.
    Next,
}

impl Watcher {
    /// Loads the plugin, takes the state directory, reads the secrets.
    fn new(manifest: WatchManifest, options: Options, concurrency: usize) -> Result<Watcher> {
        let calls_in_flight = manifest.calls_in_flight.unwrap_or(concurrency.saturating_mul(2));
        let runner = runner(&manifest)?;
        let component = load_plugin(&runner, &manifest.plugin)?;
        let store = Store::open(&manifest.state_dir, manifest.output.as_deref())?;
        let grants = manifest
            .accounts
            .iter()
            .map(|a| Ok((a.name.clone(), grants(&manifest, a)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        Ok(Watcher {
            manifest,
            runner,
            component,
            store,
            grants,
            log: options.log,
            debug: if options.verbose { 4 } else { 0 },
            cpu: CpuSlots::new(concurrency, calls_in_flight),
        })
    }

    fn scope(account: &Account, mailbox: &str) -> String {
        store::key(&account.name, mailbox)
    }

    /// A session on `account`'s `mailbox` under the account's grants,
    /// logged in with its secret (in the host only, for the login).
    fn open_session(&self, account: &Account, mailbox: &str) -> Result<Session, SessionError> {
        let grants = self
            .grants(account)
            .map_err(|e| SessionError::Secret(format!("{e:#}")))?;
        Session::open(
            account,
            grants,
            mailbox,
            self.read_timeout(),
            self.debug,
            self.manifest.session.use_idle,
        )
    }

    /// What `account`'s sessions and plugin calls may reach (made once
    /// per account at start: its lookup budget is shared by all of them).
    fn grants(&self, account: &Account) -> Result<&Grants> {
        self.grants
            .get(&account.name)
            .ok_or_else(|| anyhow::anyhow!("no grants for account {:?}", account.name))
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.manifest.session.read_timeout_seconds)
    }

    fn stop_mailbox(&self, account: &Account, mailbox: &str, why: String) {
        self.log.line(
            Level::Error,
            &Self::scope(account, mailbox),
            "stopped",
            &[("reason", why.clone())],
        );
        if let Err(e) = self
            .store
            .update(&account.name, mailbox, |m| m.stopped = Some(bounded(&why)))
        {
            self.fatal(&e);
        }
    }

    /// The state cannot be written: nothing can be recorded, so nothing
    /// may be handed out. The process exits; a restart goes on from the
    /// last recorded state.
    fn fatal(&self, e: &anyhow::Error) -> ! {
        self.log
            .line(Level::Error, "", "state-write-failed", &[("error", format!("{e:#}"))]);
        std::process::exit(1);
    }

    fn update(&self, account: &Account, mailbox: &str, f: impl FnOnce(&mut MailboxState)) {
        if let Err(e) = self.store.update(&account.name, mailbox, f) {
            self.fatal(&e);
        }
    }

    /// The batch for `account`'s mailbox.
    fn batch(&self, account: &Account, mailbox: &str, validity: u32, uids: Vec<u32>, attempt: u32) -> Batch {
        Batch {
            account: account.name.clone(),
            mailbox: mailbox.into(),
            uidvalidity: validity,
            uids,
            attempt,
            session: BatchSession {
                host: account.host.clone(),
                port: account.port,
                tls: account.tls,
                tls_options: session::tls_options(account),
                user: account.user.clone(),
                secret: account.secret.clone(),
            },
            args: self.manifest.plugin_args.clone(),
        }
    }

    /// Calls the plugin for `batch` with `session` lent to it, logging
    /// what it wrote to stderr; the lent connection, if it came back (for
    /// [`Session::resume`], once the outcome is recorded).
    fn call(
        &self,
        account: &Account,
        batch: &Batch,
        session: &mut Session,
        cpu: CpuSlot,
    ) -> (Outcome, Option<GuardedConnection>) {
        let grants = match self.grants(account) {
            Ok(g) => g,
            Err(e) => {
                let outcome = Outcome {
                    result: Ok(Err(format!("the account's grants: {e:#}"))),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                };
                return (outcome, None);
            }
        };
        let lend = session.lend(self.read_timeout());
        let (outcome, back) = self.runner.handle_batch(
            &self.component,
            batch,
            grants,
            Stdio::Captured(Vec::new()),
            WatchCall {
                lend,
                cpu: Some(cpu),
                stop: Some(&STOP),
            },
        );
        let scope = Self::scope(account, &batch.mailbox);
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        let mut lines = stderr.lines();
        for line in lines.by_ref().take(MAX_STDERR_LINES) {
            self.log
                .line(Level::Info, &scope, "plugin-stderr", &[("line", bounded(line))]);
        }
        let more = lines.count();
        if more > 0 {
            self.log
                .line(Level::Info, &scope, "plugin-stderr-cut", &[("lines", more.to_string())]);
        }
        (outcome, back)
    }

    /// Hands out the next batch of `uids` with `session` lent to the
    /// plugin, and records what came of it; an error if the session did
    /// not survive the call (recorded all the same).
    fn handle_one(
        &self,
        account: &Account,
        mailbox: &str,
        validity: u32,
        uids: &[u32],
        session: &mut Session,
        cpu: CpuSlot,
    ) -> Result<Handled, SessionError> {
        let scope = Self::scope(account, mailbox);
        let state = self.store.mailbox(&account.name, mailbox);
        let batch_uids = next_batch(&state, uids, self.manifest.session.batch_max);
        let attempt = attempt(&state, &batch_uids);
        if attempt > self.manifest.retry.max_attempts {
            // Handed out that often without an answer: the watcher died
            // during each call. Give up on it as on a failing one.
            return Ok(self.failed(
                account,
                mailbox,
                validity,
                &batch_uids,
                attempt.saturating_sub(1),
                "the watcher stopped during every call of this batch".into(),
            ));
        }
        // Recorded before the call: a watcher killed during it hands the
        // batch out again with the next attempt number.
        self.update(account, mailbox, |m| {
            m.in_flight = Some(InFlight {
                uids: batch_uids.clone(),
                attempt,
            });
        });
        let batch = self.batch(account, mailbox, validity, batch_uids.clone(), attempt);
        self.log.line(
            Level::Info,
            &scope,
            "calling",
            &[("uids", uid_set(&batch_uids)), ("attempt", attempt.to_string())],
        );
        let started = Instant::now();
        let (outcome, back) = self.call(account, &batch, session, cpu);
        if stopping() {
            // The call was cut short by the stop (or raced it): not a
            // failure of the batch. It stays in flight, and the next start
            // hands it out again, as after a kill.
            return Err(SessionError::Other("the watcher is stopping".into()));
        }
        // Recorded first: the session's SELECT may take a read timeout, and
        // a kill meanwhile must not hand out a batch that succeeded.
        let handled = self.record(account, &batch, started, outcome);
        session.resume(back, mailbox).map(|()| handled)
    }

    /// Records the outcome of a call of `batch`.
    fn record(&self, account: &Account, batch: &Batch, started: Instant, outcome: Outcome) -> Handled {
        let (mailbox, validity, batch_uids, attempt) =
            (batch.mailbox.as_str(), batch.uidvalidity, &batch.uids, batch.attempt);
        let scope = Self::scope(account, mailbox);
        let took = format!("{:.3}s", started.elapsed().as_secs_f64());
        let error = bounded(&match outcome.result {
            Ok(Ok(())) => {
                let n = batch_uids.len() as u64;
                let last = *batch_uids.last().expect("a batch is never empty");
                let recorded = self.store.commit(&account.name, mailbox, &outcome.stdout, |m| {
                    m.done_through(last);
                    m.in_flight = None;
                    m.counts.handled += n;
                    if attempt > 1 {
                        m.counts.retried += 1;
                    }
                });
                if let Err(e) = recorded {
                    self.fatal(&e);
                }
                self.log.line(
                    Level::Info,
                    &scope,
                    "handled",
                    &[
                        ("uids", uid_set(batch_uids)),
                        ("attempt", attempt.to_string()),
                        ("took", took),
                    ],
                );
                return Handled::Ok;
            }
            Ok(Err(message)) => message,
            Err(trap) => trap.to_string(),
        });
        self.failed(account, mailbox, validity, batch_uids, attempt, error)
    }

    /// Records a failed call of `batch_uids` (its `attempt`th): a batch of
    /// several is split, a message alone is retried after a backoff or,
    /// at the last attempt, dead-lettered.
    fn failed(
        &self,
        account: &Account,
        mailbox: &str,
        validity: u32,
        batch_uids: &[u32],
        attempt: u32,
        error: String,
    ) -> Handled {
        let scope = Self::scope(account, mailbox);
        let retry = &self.manifest.retry;
        if batch_uids.len() > 1 {
            let last = *batch_uids.last().expect("a batch is never empty");
            self.update(account, mailbox, |m| {
                m.in_flight = None;
                m.isolate_through = last;
                m.counts.failed += 1;
            });
            self.log.line(
                Level::Warn,
                &scope,
                "batch-failed",
                &[
                    ("uids", uid_set(batch_uids)),
                    ("error", error),
                    ("then", "each message alone".into()),
                ],
            );
            return Handled::Next;
        }
        let uid = batch_uids[0];
        if attempt >= retry.max_attempts {
            self.update(account, mailbox, |m| {
                m.in_flight = None;
                m.failures.remove(&uid);
                m.done_through(uid);
                m.counts.failed += 1;
                m.counts.dead_lettered += 1;
                m.dead.push(DeadLetter {
                    uid,
                    uidvalidity: validity,
                    attempts: attempt,
                    error: error.clone(),
                    at: now_unix(),
                });
            });
            self.log.line(
                Level::Error,
                &scope,
                "dead-lettered",
                &[
                    ("uid", uid.to_string()),
                    ("attempts", attempt.to_string()),
                    ("error", error),
                ],
            );
            return Handled::Next;
        }
        self.update(account, mailbox, |m| {
            m.in_flight = None;
            m.counts.failed += 1;
            m.failures.insert(
                uid,
                Failure {
                    attempts: attempt,
                    error: error.clone(),
                },
            );
        });
        let wait = backoff(retry.backoff_seconds, retry.backoff_max_seconds, attempt);
        self.log.line(
            Level::Warn,
            &scope,
            "failed",
            &[
                ("uid", uid.to_string()),
                ("attempt", attempt.to_string()),
                ("error", error),
                ("retry-in", format!("{:.1}s", wait.as_secs_f64())),
            ],
        );
        Handled::RetryAfter(wait)
    }
}

/// `wasimap watch --status`: per mailbox, its state and counts, and the
/// dead-letter list; `json` prints the state file's content instead.
///
/// # Errors
/// A manifest or state that cannot be read.
pub fn status(manifest_path: &Path, json: bool) -> Result<String> {
    let manifest = WatchManifest::load(manifest_path)?;
    let state = store::read(&manifest.state_dir)?;
    if json {
        // Escaped like the log's JSON: a dead letter's error is a plugin's.
        return Ok(terminal::json(&serde_json::to_string_pretty(&state)?).into_owned() + "\n");
    }
    let running = store::running(&manifest.state_dir);
    let mut out = format!(
        "watcher: {}\n{:<28} {:>11} {:>8} {:>8} {:>6} {:>7} {:>5} {:>10}  state\n",
        if running { "running" } else { "not running" },
        "ACCOUNT/MAILBOX",
        "UIDVALIDITY",
        "NEXT-UID",
        "HANDLED",
        "FAILED",
        "RETRIED",
        "DEAD",
        "RECONNECTS"
    );
    for account in &manifest.accounts {
        for mailbox in &account.mailboxes {
            let key = store::key(&account.name, mailbox);
            let m = state.mailboxes.get(&key).cloned().unwrap_or_default();
            out.push_str(&format!(
                "{:<28} {:>11} {:>8} {:>8} {:>6} {:>7} {:>5} {:>10}  {}\n",
                terminal::escape(&key),
                m.uidvalidity.map_or("-".into(), |v| v.to_string()),
                m.next_uid,
                m.counts.handled,
                m.counts.failed,
                m.counts.retried,
                m.dead.len(),
                m.counts.reconnects,
                m.stopped
                    .as_deref()
                    .map_or("watched".into(), |w| format!("stopped: {}", terminal::escape(w))),
            ));
        }
    }
    for m in state.mailboxes.values() {
        for d in &m.dead {
            out.push_str(&format!(
                "dead letter: {}/{} uid {} (uidvalidity {}) after {} attempt(s): {}\n",
                terminal::escape(&m.account),
                terminal::escape(&m.mailbox),
                d.uid,
                d.uidvalidity,
                d.attempts,
                terminal::escape(&d.error)
            ));
        }
        if m.counts.dead_pruned > 0 {
            out.push_str(&format!(
                "dead letters pruned: {}/{} {} (the oldest, beyond {} letters or {} KiB of errors)\n",
                terminal::escape(&m.account),
                terminal::escape(&m.mailbox),
                m.counts.dead_pruned,
                store::MAX_DEAD,
                store::MAX_DEAD_BYTES >> 10
            ));
        }
    }
    Ok(out)
}

/// `wasimap watch --replay ACCOUNT [--mailbox M] [--uid U]`: hands each
/// matching dead letter to the plugin again, alone; those that succeed
/// leave the list (and their output is recorded like any batch's). The
/// watcher must not be running. Returns how many are still dead.
///
/// # Errors
/// A running watcher, or a manifest, plugin or state that cannot be used.
pub fn replay(
    manifest_path: &Path,
    account: &str,
    mailbox: Option<&str>,
    uid: Option<u32>,
    options: Options,
) -> Result<usize> {
    let manifest = WatchManifest::load(manifest_path)?;
    let Some(acct) = manifest.accounts.iter().find(|a| a.name == account).cloned() else {
        bail!("the manifest has no account {account:?}");
    };
    let watcher = Watcher::new(manifest, options, 1)?;
    let mut left = 0;
    for mb in acct
        .mailboxes
        .iter()
        .filter(|m| mailbox.is_none_or(|x| x == m.as_str()))
    {
        let state = watcher.store.mailbox(&acct.name, mb);
        if let Some(why) = &state.stopped {
            bail!(
                "{}/{mb} is stopped ({why}): wasimap watch --reset {} first",
                acct.name,
                acct.name
            );
        }
        let mut session: Option<Session> = None;
        for dead in state.dead.iter().filter(|d| uid.is_none_or(|u| u == d.uid)) {
            let scope = Watcher::scope(&acct, mb);
            if Some(dead.uidvalidity) != state.uidvalidity {
                watcher.log.line(
                    Level::Warn,
                    &scope,
                    "replay-skipped",
                    &[
                        ("uid", dead.uid.to_string()),
                        ("reason", "the mailbox's UIDVALIDITY changed since".into()),
                    ],
                );
                left += 1;
                continue;
            }
            let attempt = dead.attempts.saturating_add(1);
            let batch = watcher.batch(&acct, mb, dead.uidvalidity, vec![dead.uid], attempt);
            if session.is_none() {
                let opened = watcher
                    .open_session(&acct, mb)
                    .map_err(|e| anyhow::anyhow!("{}/{mb}: {e}", acct.name))?;
                if opened.uidvalidity != dead.uidvalidity {
                    bail!(
                        "{}/{mb}: its UIDVALIDITY is {} now, not {}: wasimap watch --reset {} first",
                        acct.name,
                        opened.uidvalidity,
                        dead.uidvalidity,
                        acct.name
                    );
                }
                session = Some(opened);
            }
            // Counted before the call, as the watcher records a batch in
            // flight: a replay killed during it hands the next one out
            // with the next attempt number.
            let before = dead.clone();
            watcher.store.update(&acct.name, mb, |m| {
                if let Some(x) = m.dead.iter_mut().find(|x| x.names_same(&before)) {
                    x.attempts = attempt;
                }
            })?;
            let live = session.as_mut().expect("opened above");
            // One call at a time: the slot is free.
            let cpu = watcher
                .cpu
                .acquire(None, &stopping)
                .context("stopped while waiting to call the plugin")?;
            let (outcome, back) = watcher.call(&acct, &batch, live, cpu);
            let d = dead.clone();
            match outcome.result {
                Ok(Ok(())) => {
                    watcher.store.commit(&acct.name, mb, &outcome.stdout, |m| {
                        m.dead.retain(|x| !x.names_same(&d));
                        m.counts.replayed += 1;
                        m.counts.handled += 1;
                    })?;
                    watcher
                        .log
                        .line(Level::Info, &scope, "replayed", &[("uid", d.uid.to_string())]);
                }
                other => {
                    let error = bounded(&match other {
                        Ok(Err(m)) => m,
                        Err(t) => t.to_string(),
                        Ok(Ok(())) => unreachable!("matched above"),
                    });
                    watcher.store.update(&acct.name, mb, |m| {
                        m.counts.failed += 1;
                        if let Some(x) = m.dead.iter_mut().find(|x| x.names_same(&d)) {
                            x.attempts = attempt;
                            x.error = error.clone();
                        }
                    })?;
                    watcher.log.line(
                        Level::Error,
                        &scope,
                        "replay-failed",
                        &[("uid", d.uid.to_string()), ("error", error)],
                    );
                    left += 1;
                }
            }
            if session.as_mut().is_some_and(|s| s.resume(back, mb).is_err()) {
                // The next replay opens another.
                session = None;
            }
        }
        if let Some(s) = session {
            s.close();
        }
    }
    Ok(left)
}

/// `wasimap watch --reset ACCOUNT [--mailbox M]`: watches a stopped
/// mailbox again: after a UIDVALIDITY change as a first start (the
/// account's `start` says which messages), after a refused login from
/// where it stopped; its dead letters and counts are kept.
///
/// # Errors
/// A running watcher, or a manifest or state that cannot be used.
pub fn reset(manifest_path: &Path, account: &str, mailbox: Option<&str>) -> Result<usize> {
    let manifest = WatchManifest::load(manifest_path)?;
    let Some(acct) = manifest.accounts.iter().find(|a| a.name == account) else {
        bail!("the manifest has no account {account:?}");
    };
    let store = Store::open(&manifest.state_dir, manifest.output.as_deref())?;
    let mut n = 0;
    for mb in acct
        .mailboxes
        .iter()
        .filter(|m| mailbox.is_none_or(|x| x == m.as_str()))
    {
        store.update(&acct.name, mb, |m| {
            m.stopped = None;
            // After a UIDVALIDITY change the recorded UIDs mean nothing:
            // start afresh (as a first start). After a refused login they
            // still hold: go on from where the mailbox stopped.
            if std::mem::take(&mut m.stopped_by_uidvalidity) {
                m.uidvalidity = None;
                m.in_flight = None;
                m.isolate_through = 0;
                m.failures.clear();
            }
        })?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_of_the_manifest_is_applied_to_the_calls() {
        let m: WatchManifest = toml::from_str(
            r#"
            plugin = "journal.wasm"
            state-dir = "state"
            [limits]
            timeout-seconds = 7
            memory-mib = 64
            fuel = 5000
            max-connections = 2
            max-processes = 4
            max-instances = 30
            max-memories = 6
            max-tables = 9
            "#,
        )
        .unwrap();
        let c = runner_config(&m).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(7));
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.fuel, Some(5000));
        assert_eq!(c.transport_limits.connections, 2);
        assert_eq!(c.transport_limits.processes, 0, "a watcher plugin never runs commands");
        assert_eq!(
            (c.store_limits.instances, c.store_limits.memories, c.store_limits.tables),
            (30, 6, 9)
        );
        // Out of range is refused, not clamped.
        let bad: WatchManifest =
            toml::from_str("plugin = \"j.wasm\"\nstate-dir = \"s\"\n[limits]\nmax-instances = 0\n").unwrap();
        let e = runner_config(&bad).unwrap_err().to_string();
        assert!(e.contains("limits.max-instances must be at least 1"), "{e}");
    }

    #[test]
    fn batches_isolate_after_a_failure() {
        let mut s = MailboxState::default();
        assert_eq!(next_batch(&s, &[3, 4, 5, 6], 3), vec![3, 4, 5]);
        s.isolate_through = 5;
        assert_eq!(next_batch(&s, &[3, 4, 5, 6], 3), vec![3]);
        assert_eq!(next_batch(&s, &[6, 7], 3), vec![6, 7]);
        assert_eq!(next_batch(&s, &[], 3), Vec::<u32>::new());
        // A batch handed out before a stop goes out again as it was, less
        // what was expunged since.
        let s = MailboxState {
            in_flight: Some(InFlight {
                uids: vec![3, 4, 5],
                attempt: 1,
            }),
            ..MailboxState::default()
        };
        assert_eq!(next_batch(&s, &[3, 5, 6, 7], 10), vec![3, 5]);
        assert_eq!(next_batch(&s, &[6, 7], 10), vec![6, 7]);
    }

    #[test]
    fn attempts_count_failures_and_batches_cut_short() {
        let mut s = MailboxState::default();
        assert_eq!(attempt(&s, &[4]), 1);
        s.failures.insert(
            4,
            Failure {
                attempts: 2,
                error: "x".into(),
            },
        );
        assert_eq!(attempt(&s, &[4]), 3);
        s.in_flight = Some(InFlight {
            uids: vec![4],
            attempt: 3,
        });
        assert_eq!(attempt(&s, &[4]), 4);
        assert_eq!(attempt(&s, &[5, 6]), 1);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        for n in 1..40 {
            let d = backoff(1.0, 60.0, n).as_secs_f64();
            let full = (2f64.powi(n as i32 - 1)).min(60.0);
            assert!(d <= full && d >= full * 0.75, "{n}: {d}");
        }
    }

    #[test]
    fn uid_sets_are_short() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        // At the edge nothing wraps (`u32::MAX + 1` is no UID, not 0).
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        assert_eq!(uid_set(&[u32::MAX, 0]), "4294967295,0");
    }

    #[test]
    fn attempt_numbers_do_not_wrap() {
        let mut s = MailboxState::default();
        s.failures.insert(
            u32::MAX,
            Failure {
                attempts: u32::MAX,
                error: "x".into(),
            },
        );
        assert_eq!(attempt(&s, &[u32::MAX]), u32::MAX);
        s.isolate_through = u32::MAX;
        assert_eq!(next_batch(&s, &[u32::MAX], 10), vec![u32::MAX]);
    }
}
