//! Loading and running plugins: check, compose, compile (cached on disk),
//! instantiate in a fresh store with limits, call `run`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

use crate::batch::Batch;
use crate::cache::{self, ArtifactCache};
use crate::compose;
use crate::conn::GuardedConnection;
use crate::fair::CpuSlot;
use crate::lend::Lend;
use crate::limits::{Limit, LimitExceeded, StoreLimiter, StoreLimitsConfig, TransportLimits};
use crate::policy::Policy;
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::state::HostState;
use crate::stdio::{Bounded, HostOutput};
use crate::transport::tcp::Lookups;
use crate::trust::TlsTrust;
use crate::view::WasimapCtx;

/// Default memory limit of a plugin store (all its memories): 512 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;
/// Default wall-clock limit of a run: one hour.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest wall-clock limit a run may have: 30 days.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where a plugin's stdio goes.
#[derive(Debug, Clone, Default)]
pub enum Stdio {
    /// The host process's own stdin/stdout/stderr.
    #[default]
    Inherit,
    /// Stdin from these bytes; stdout and stderr captured in memory.
    Captured(Vec<u8>),
}

/// What `wasimap watch` gives one plugin call besides its grants.
#[derive(Debug, Default)]
pub struct WatchCall {
    /// The watcher's session, lent for the call (`lend.lent`).
    pub lend: Option<Lend>,
    /// The CPU slot the call runs wasm under: it gives it up at each
    /// epoch tick another call waits for one, and while it blocks in the
    /// host or sleeps ([`crate::fair`]).
    pub cpu: Option<CpuSlot>,
    /// The watcher's stop flag: once set, the call ends at its next epoch
    /// tick (as at its deadline) and its sleeps end (the lent session's
    /// reads look at the same flag, set on the connection by the
    /// watcher), so SIGTERM is not held up by a call.
    pub stop: Option<&'static AtomicBool>,
}

/// How plugins are run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// What plugins may reach.
    pub policy: Policy,
    /// Secrets the protocol component may send to servers.
    pub secrets: Secrets,
    /// TLS trust the user granted.
    pub trust: TlsTrust,
    /// On-disk cache of compiled components; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Memory limit of the store (all memories together), bytes.
    pub memory_limit: usize,
    /// Counts of instances, memories, tables and table elements.
    pub store_limits: StoreLimitsConfig,
    /// Open connections and child processes.
    pub transport_limits: TransportLimits,
    /// Wall-clock limit per run.
    pub timeout: Duration,
    /// Instruction budget per run (wasmtime fuel); `None` for none.
    pub fuel: Option<u64>,
    /// Where the plugin's progress reports go when the run's stdio is
    /// inherited (hidden by default; `wasimap run` draws a bar on a
    /// terminal).
    pub progress: Progress,
    /// The budget of name lookups running at once that the runs of
    /// [`RunnerConfig::grants`] share.
    pub lookups: Lookups,
    /// How denials are worded in what a plugin sees (`None`: naming no
    /// flag, [`crate::policy::denial::neutral`]; `wasimap run` names its
    /// flags).
    pub wording: Option<crate::policy::Wording>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            policy: Policy::deny_all(),
            secrets: Secrets::none(),
            trust: TlsTrust::none(),
            cache_dir: default_cache_dir(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            store_limits: StoreLimitsConfig::default(),
            transport_limits: TransportLimits::default(),
            timeout: DEFAULT_TIMEOUT,
            fuel: None,
            progress: Progress::hidden(),
            lookups: Lookups::default(),
            wording: None,
        }
    }
}

/// `$WASIMAP_CACHE_DIR`, else `$XDG_CACHE_HOME/wasimap`, else `~/.cache/wasimap`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WASIMAP_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wasimap"))
}

/// Why a run ended without the plugin's `run` returning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The plugin panicked or executed `unreachable`.
    #[error("plugin crashed (panic or unreachable code)")]
    Crashed,
    /// The wall-clock limit expired.
    #[error("plugin exceeded the time limit of {0:?}")]
    Timeout(Duration),
    /// The memory limit was reached.
    #[error("plugin exceeded the memory limit of {} MiB", .0 >> 20)]
    OutOfMemory(usize),
    /// Too many instances, memories, tables or table elements.
    #[error("plugin exceeded a store limit: {0}")]
    StoreLimit(LimitExceeded),
    /// The call stack overflowed (unbounded recursion).
    #[error("plugin overflowed its stack (unbounded recursion?)")]
    StackOverflow,
    /// The fuel budget ran out.
    #[error("plugin used up its fuel budget of {0} units")]
    OutOfFuel(u64),
    /// Any other trap or instantiation failure.
    #[error("plugin failed: {0:#}")]
    Other(anyhow::Error),
}

impl RunError {
    /// The `wasimap` exit code for this failure (1 is the plugin's own error,
    /// 2 a load or usage error).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Crashed => 3,
            RunError::Timeout(_) => 4,
            RunError::OutOfMemory(_) => 5,
            RunError::StackOverflow => 6,
            RunError::OutOfFuel(_) => 7,
            RunError::Other(_) => 8,
            RunError::StoreLimit(_) => 9,
        }
    }
}

/// What a plugin run produced.
#[derive(Debug)]
pub struct Outcome {
    /// `run`'s result, or why it did not return.
    pub result: Result<Result<(), String>, RunError>,
    /// Captured stdout (empty when inherited).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty when inherited).
    pub stderr: Vec<u8>,
}

/// What one call of a plugin may reach: the policy, the secrets and the
/// TLS trust of its store.
#[derive(Debug, Clone)]
pub struct Grants {
    /// What the plugin may connect to or run.
    pub policy: Policy,
    /// Secrets the protocol component may send, and where.
    pub secrets: Secrets,
    /// TLS trust the user granted.
    pub trust: TlsTrust,
    /// The name lookups its connections may leave running at once, shared
    /// with every call given a clone of it (one account's calls and
    /// sessions in `wasimap watch`).
    pub lookups: Lookups,
}

impl RunnerConfig {
    /// The grants every run of this configuration has (one lookup budget
    /// for all the runs of one [`Runner`]).
    pub fn grants(&self) -> Grants {
        Grants {
            policy: self.policy.clone(),
            secrets: self.secrets.clone(),
            trust: self.trust.clone(),
            lookups: self.lookups.clone(),
        }
    }
}

/// A wasmtime engine and linker set up for wasimap plugins.
pub struct Runner {
    engine: Engine,
    linker: Linker<HostState>,
    /// The same imports with async transports, for [`Runner::run_async`].
    async_linker: Linker<HostState>,
    config: RunnerConfig,
    cache: Option<ArtifactCache>,
    artifact_hits: AtomicUsize,
    compilations: AtomicUsize,
    ticker_stop: Arc<AtomicBool>,
}

/// Epoch ticks per second: the resolution of the wall-clock limit.
const TICKS_PER_SECOND: u64 = 100;

impl Runner {
    /// An engine and a linker holding WASI and the wasimap imports; the
    /// artifact cache directory is opened (and checked) if configured.
    ///
    /// # Errors
    /// A cache directory that is not the user's own, or a timeout over
    /// [`MAX_TIMEOUT`].
    pub fn new(config: RunnerConfig) -> Result<Self> {
        if config.timeout > MAX_TIMEOUT || config.timeout.is_zero() {
            anyhow::bail!(
                "the time limit must be more than 0 and at most {} s",
                MAX_TIMEOUT.as_secs()
            );
        }
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        #[cfg(feature = "profiling")]
        if std::env::var_os("WASIMAP_PERFMAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        wasm.consume_fuel(config.fuel.is_some());
        let cache = config.cache_dir.as_deref().map(ArtifactCache::open).transpose()?;
        let engine = Engine::new(&wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        crate::bindings::add_to_linker_watcher(&mut linker)?;
        crate::sleep::add_to_linker(&mut linker)?;
        // wasmtime 48 engines run sync and async calls alike
        // (`Config::async_support` no longer exists as a switch), so one
        // engine and one compiled component serve both.
        let mut async_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut async_linker)?;
        crate::bindings::add_to_linker_async(&mut async_linker)?;
        crate::sleep::add_to_linker(&mut async_linker)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1000 / TICKS_PER_SECOND));
                e.increment_epoch();
            }
        });
        Ok(Runner {
            engine,
            linker,
            async_linker,
            config,
            cache,
            artifact_hits: AtomicUsize::new(0),
            compilations: AtomicUsize::new(0),
            ticker_stop,
        })
    }

    /// The engine (for embedding and inspection).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many loads compiled (composed and compiled the plugin).
    pub fn compilations(&self) -> usize {
        self.compilations.load(Ordering::Relaxed)
    }

    /// How many loads were served from a stored artifact (no composition,
    /// no compilation).
    pub fn artifact_hits(&self) -> usize {
        self.artifact_hits.load(Ordering::Relaxed)
    }

    /// Checks a plugin's imports, composes it with the embedded protocol
    /// component ([`crate::PROTOCOL_COMPONENT`]) and compiles it, for
    /// [`Runner::run`] and [`Runner::run_async`]. With a cache directory, the compiled
    /// result is stored under a hash of the plugin, the protocol component
    /// and the engine's configuration, and the next load of the same plugin
    /// maps it (after checking it) instead of composing and compiling again.
    pub fn load(&self, plugin: &[u8]) -> Result<Component> {
        self.load_with(plugin, crate::PROTOCOL_COMPONENT, crate::PROTOCOL_DIGEST)
    }

    /// [`Runner::load`] for [`Runner::handle_batch`]: composes a watcher
    /// plugin with the watcher's protocol component
    /// ([`crate::PROTOCOL_WATCHER_COMPONENT`]), the one that can take the
    /// session the watcher lends.
    pub fn load_watcher(&self, plugin: &[u8]) -> Result<Component> {
        self.load_with(
            plugin,
            crate::PROTOCOL_WATCHER_COMPONENT,
            crate::PROTOCOL_WATCHER_DIGEST,
        )
    }

    fn load_with(&self, plugin: &[u8], protocol: &[u8], protocol_digest: &str) -> Result<Component> {
        let key = self.artifact_key(plugin, protocol_digest);
        if let Some(component) = self.cache.as_ref().and_then(|c| c.load(&self.engine, &key)) {
            self.artifact_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(component);
        }
        let composed = compose::compose(plugin, protocol)?;
        let component = Component::new(&self.engine, &composed)
            .map_err(anyhow::Error::from)
            .context("compiling the composed plugin")?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        if let Some(cache) = &self.cache {
            // A cache that cannot be written only costs the next start.
            if let Err(e) = cache.store(&component, &key) {
                tracing::debug!(error = %e, "could not store the compiled plugin");
            }
        }
        Ok(component)
    }

    fn artifact_key(&self, plugin: &[u8], protocol_digest: &str) -> cache::Key {
        use sha2::{Digest, Sha256};
        let mut engine = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut engine);
        Sha256::new()
            .chain_update(plugin)
            .chain_update(protocol_digest)
            .chain_update(std::hash::Hasher::finish(&engine).to_le_bytes())
            .finalize()
            .into()
    }

    /// Runs a loaded plugin's `run(args)`, blocking the calling thread
    /// until it returns.
    pub fn run(&self, component: &Component, args: &[String], stdio: Stdio) -> Outcome {
        let grants = self.config.grants();
        self.call(args, &stdio, &grants, WatchCall::default(), |store, linker| {
            crate::bindings::call_run(store, component, linker, args)
        })
        .0
    }

    /// Calls a loaded watcher plugin's `watch.handle(batch)` in a fresh
    /// store under `grants` (the batch's account only), with the runner's
    /// limits, blocking the calling thread until it returns. `lend` is the
    /// `watch` is what the watcher gives the call besides its grants
    /// ([`WatchCall`]); the lent session comes back with the outcome,
    /// unless the plugin's end of it is gone.
    pub fn handle_batch(
        &self,
        component: &Component,
        batch: &Batch,
        grants: &Grants,
        stdio: Stdio,
        watch: WatchCall,
    ) -> (Outcome, Option<GuardedConnection>) {
        self.call(&[], &stdio, grants, watch, |store, linker| {
            crate::bindings::call_handle(store, component, linker, batch)
        })
    }

    /// Checks that a loaded plugin links under both embeddings: every
    /// import it has (the protocol component's included) is defined by the
    /// blocking linker of [`Runner::run`] and by the async one of
    /// [`Runner::run_async`], without running anything.
    ///
    /// # Errors
    /// The first import a linker lacks, naming the embedding.
    pub fn check_links(&self, component: &Component) -> Result<()> {
        let fails =
            |e: wasmtime::Error, embedding: &str| anyhow::Error::from(e).context(format!("{embedding} cannot link it"));
        self.linker
            .instantiate_pre(component)
            .map_err(|e| fails(e, "the blocking embedding (Runner::run, wasimap run)"))?;
        self.async_linker
            .instantiate_pre(component)
            .map_err(|e| fails(e, "the async embedding (Runner::run_async)"))?;
        Ok(())
    }

    /// One blocking call into a fresh store, under the wall-clock limit;
    /// the lent session, taken back from the store before it goes.
    fn call(
        &self,
        args: &[String],
        stdio: &Stdio,
        grants: &Grants,
        watch: WatchCall,
        call: impl FnOnce(&mut Store<HostState>, &Linker<HostState>) -> wasmtime::Result<Result<(), String>>,
    ) -> (Outcome, Option<GuardedConnection>) {
        let (mut store, captured) = self.store(args, stdio, grants);
        let WatchCall { lend, cpu, stop } = watch;
        store.data_mut().wasimap.lend = lend.clone();
        store.data_mut().wasimap.stop = stop;
        if cpu.is_some() || stop.is_some() {
            // Every tick: the deadline and the stop, then the slot's turn.
            let deadline = store.data().wasimap.deadline;
            store.data_mut().wasimap.cpu = cpu;
            store.epoch_deadline_callback(move |ctx| {
                let past =
                    deadline.is_some_and(|d| Instant::now() >= d) || stop.is_some_and(|s| s.load(Ordering::SeqCst));
                let turn = past || ctx.data().wasimap.cpu.as_ref().is_none_or(|s| s.yield_turn(deadline));
                Ok(if past || !turn {
                    wasmtime::UpdateDeadline::Interrupt
                } else {
                    wasmtime::UpdateDeadline::Continue(1)
                })
            });
            store.set_epoch_deadline(1);
        } else {
            // At most MAX_TIMEOUT (checked in `new`): no overflow.
            let ticks = u64::try_from(self.config.timeout.as_millis())
                .unwrap_or(u64::MAX)
                .saturating_mul(TICKS_PER_SECOND)
                .div_ceil(1000)
                .max(1);
            store.set_epoch_deadline(ticks);
        }
        let result = call(&mut store, &self.linker);
        let lent = lend.and_then(|l| l.reclaim(&mut store.data_mut().table));
        (self.outcome(result, &mut store, captured), lent)
    }

    /// Runs a loaded plugin's `run(args)` as a future, with the async
    /// transports (tokio TCP, tokio-rustls, tokio child processes): a plugin waiting for its server
    /// suspends, and the thread polling it runs other tasks. Must be polled
    /// inside a tokio runtime with its I/O and time drivers.
    ///
    /// The sandbox is the one [`Runner::run`] sets up (same store, limits,
    /// policy and secrets). The wall-clock limit is checked at each epoch
    /// tick, where the plugin also yields to the runtime, so a plugin that
    /// computes without end cannot hold a worker thread either.
    pub async fn run_async(&self, component: &Component, args: &[String], stdio: Stdio) -> Outcome {
        let (mut store, captured) = self.store(args, &stdio, &self.config.grants());
        let deadline = store.data().wasimap.deadline;
        store.epoch_deadline_callback(move |_| {
            Ok(if deadline.is_some_and(|d| Instant::now() >= d) {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        let result = crate::bindings::call_run_async(&mut store, component, &self.async_linker, args).await;
        self.outcome(result, &mut store, captured)
    }

    /// A fresh store for one run: WASI with args and the chosen stdio only,
    /// the wasimap context (policy, secrets, trust, limits, deadline), the
    /// memory and count limiter, fuel.
    fn store(
        &self,
        args: &[String],
        stdio: &Stdio,
        grants: &Grants,
    ) -> (Store<HostState>, Option<(MemoryOutputPipe, MemoryOutputPipe)>) {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        let mut argv = vec!["plugin".to_string()];
        argv.extend_from_slice(args);
        wasi.args(&argv);
        let progress = if matches!(stdio, Stdio::Inherit) {
            self.config.progress.clone()
        } else {
            Progress::hidden()
        };
        // The host's own stdio, bounded by the run's deadline: a plugin
        // blocked on a stdin that stays open or a stdout nobody drains
        // runs no wasm, and the epoch deadline alone would not stop it.
        let deadline = Instant::now() + self.config.timeout;
        let captured = match stdio {
            Stdio::Inherit if progress.is_shown() => {
                // Progress is shown on the terminal; stdout may be one
                // too. Writes to a terminal go through the display.
                wasi.stdin(Bounded::new(wasmtime_wasi::cli::stdin(), deadline))
                    .stderr(Bounded::new(progress.output(true), deadline));
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    wasi.stdout(Bounded::new(progress.output(false), deadline));
                } else {
                    wasi.stdout(Bounded::new(HostOutput::stdout(), deadline));
                }
                None
            }
            Stdio::Inherit => {
                wasi.stdin(Bounded::new(wasmtime_wasi::cli::stdin(), deadline))
                    .stdout(Bounded::new(HostOutput::stdout(), deadline))
                    .stderr(Bounded::new(HostOutput::stderr(), deadline));
                None
            }
            Stdio::Captured(input) => {
                let (out, err) = (MemoryOutputPipe::new(64 << 20), MemoryOutputPipe::new(16 << 20));
                wasi.stdin(MemoryInputPipe::new(input.clone()))
                    .stdout(out.clone())
                    .stderr(err.clone());
                Some((out, err))
            }
        };
        let mut wasimap = WasimapCtx::new(grants.policy.clone(), grants.secrets.clone());
        wasimap.trust = grants.trust.clone();
        wasimap.lookups = grants.lookups.clone();
        wasimap.limits = self.config.transport_limits;
        wasimap.deadline = Some(deadline);
        wasimap.progress = progress;
        wasimap.wording = self.config.wording;
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            wasimap,
            limits: StoreLimiter::new(StoreLimitsConfig {
                memory_bytes: self.config.memory_limit,
                ..self.config.store_limits
            }),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        if let Some(fuel) = self.config.fuel {
            store.set_fuel(fuel).expect("fuel is enabled in the engine");
        }
        (store, captured)
    }

    /// The run's result and captured output.
    fn outcome(
        &self,
        result: wasmtime::Result<Result<(), String>>,
        store: &mut Store<HostState>,
        captured: Option<(MemoryOutputPipe, MemoryOutputPipe)>,
    ) -> Outcome {
        // A bar the plugin left open ends before the host prints anything.
        store.data_mut().wasimap.progress.finish();
        let result = result.map_err(|e| self.classify(e, store.data().limits.fired()));
        let (stdout, stderr) = match captured {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        Outcome { result, stdout, stderr }
    }

    /// The run's end by type: the limit the limiter recorded, else the
    /// trap code; never by message text.
    fn classify(&self, e: wasmtime::Error, fired: Option<Limit>) -> RunError {
        let e = anyhow::Error::from(e);
        match fired.or_else(|| e.chain().find_map(|c| c.downcast_ref::<LimitExceeded>()).map(|l| l.0)) {
            Some(Limit::Memory) => return RunError::OutOfMemory(self.config.memory_limit),
            Some(other) => return RunError::StoreLimit(LimitExceeded(other)),
            None => {}
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => RunError::Timeout(self.config.timeout),
            Some(Trap::StackOverflow) => RunError::StackOverflow,
            Some(Trap::OutOfFuel) => RunError::OutOfFuel(self.config.fuel.unwrap_or(0)),
            Some(Trap::UnreachableCodeReached) => RunError::Crashed,
            _ => RunError::Other(e),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
