//! Loading and running plugins: check, compose, compile (cached on disk),
//! instantiate in a fresh store with limits, call `run`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::Composed;
use crate::compose;
use crate::policy::Policy;
use crate::secrets::Secrets;
use crate::state::HostState;
use crate::view::WasimapCtx;

/// Default memory limit of a plugin store: 512 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;
/// Default wall-clock limit of a run: one hour.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where a plugin's stdio goes.
#[derive(Debug, Clone, Default)]
pub enum Stdio {
    /// The host process's own stdin/stdout/stderr.
    #[default]
    Inherit,
    /// Stdin from these bytes; stdout and stderr captured in memory.
    Captured(Vec<u8>),
}

/// How plugins are run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// What plugins may reach.
    pub policy: Policy,
    /// Secrets the protocol component may send to servers.
    pub secrets: Secrets,
    /// On-disk cache of compiled components; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Memory limit per store, bytes.
    pub memory_limit: usize,
    /// Wall-clock limit per run.
    pub timeout: Duration,
    /// Instruction budget per run (wasmtime fuel); `None` for none.
    pub fuel: Option<u64>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            policy: Policy::deny_all(),
            secrets: Secrets::none(),
            cache_dir: default_cache_dir(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            fuel: None,
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

/// A wasmtime engine and linker set up for wasimap plugins.
pub struct Runner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RunnerConfig,
    cache: Option<Cache>,
    artifact_hits: AtomicUsize,
    ticker_stop: Arc<AtomicBool>,
}

/// Epoch ticks per second: the resolution of the wall-clock limit.
const TICKS_PER_SECOND: u64 = 100;

/// The message wasmtime gives when `trap_on_grow_failure` stops a growth.
const GROW_FAILURE: &str = "forcing trap when growing memory";

impl Runner {
    /// An engine (with the on-disk cache if configured) and a linker holding
    /// WASI and the wasimap imports.
    pub fn new(config: RunnerConfig) -> Result<Self> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        #[cfg(feature = "profiling")]
        if std::env::var_os("WASIMAP_PERFMAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        wasm.consume_fuel(config.fuel.is_some());
        let cache = match &config.cache_dir {
            Some(dir) => {
                let mut cc = CacheConfig::new();
                cc.with_directory(dir);
                let cache = Cache::new(cc)
                    .map_err(anyhow::Error::from)
                    .context("setting up the compilation cache")?;
                wasm.cache(Some(cache.clone()));
                Some(cache)
            }
            None => None,
        };
        let engine = Engine::new(&wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        crate::view::add_to_linker(&mut linker)?;

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
            config,
            cache,
            artifact_hits: AtomicUsize::new(0),
            ticker_stop,
        })
    }

    /// The engine (for embedding and inspection).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compilation-cache hits and misses so far (`None` without a cache).
    pub fn cache_stats(&self) -> Option<(usize, usize)> {
        self.cache.as_ref().map(|c| (c.cache_hits(), c.cache_misses()))
    }

    /// How many loads were served from a stored artifact (no composition,
    /// no compilation).
    pub fn artifact_hits(&self) -> usize {
        self.artifact_hits.load(Ordering::Relaxed)
    }

    /// Checks a plugin's imports, composes it with the embedded protocol
    /// component and compiles it. With a cache directory, the compiled
    /// result is stored under a hash of the plugin, the protocol component
    /// and the engine's configuration, and the next load of the same plugin
    /// maps it instead of composing and compiling again.
    pub fn load(&self, plugin: &[u8]) -> Result<Component> {
        let artifact = self
            .config
            .cache_dir
            .as_ref()
            .map(|dir| self.artifact_path(dir, plugin));
        if let Some(path) = artifact.as_deref().filter(|p| p.is_file()) {
            // SAFETY: the file was written by `Component::serialize` of this
            // engine configuration (its hash is in the name) into the user's
            // own cache directory, the trust wasmtime's cache also assumes.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, path) } {
                self.artifact_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(component);
            }
        }
        let component = self.compile(plugin)?;
        if let Some(path) = artifact {
            // A cache that cannot be written only costs the next start.
            if let Err(e) = store_artifact(&component, &path) {
                tracing::debug!(error = %e, path = %path.display(), "could not store the compiled plugin");
            }
        }
        Ok(component)
    }

    fn artifact_path(&self, dir: &Path, plugin: &[u8]) -> PathBuf {
        use sha2::{Digest, Sha256};
        let mut engine = std::hash::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine);
        let digest = Sha256::new()
            .chain_update(plugin)
            .chain_update(crate::PROTOCOL_DIGEST)
            .finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        dir.join("artifacts")
            .join(format!("{hex}-{:016x}.cwasm", engine.finish()))
    }

    fn compile(&self, plugin: &[u8]) -> Result<Component> {
        let composed = compose::compose(plugin, crate::PROTOCOL_COMPONENT)?;
        Component::new(&self.engine, &composed)
            .map_err(anyhow::Error::from)
            .context("compiling the composed plugin")
    }

    /// Runs a loaded plugin's `run(args)`.
    pub fn run(&self, component: &Component, args: &[String], stdio: Stdio) -> Outcome {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        let mut argv = vec!["plugin".to_string()];
        argv.extend_from_slice(args);
        wasi.args(&argv);
        let captured = match &stdio {
            Stdio::Inherit => {
                wasi.inherit_stdin().inherit_stdout().inherit_stderr();
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
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            wasimap: WasimapCtx {
                policy: self.config.policy.clone(),
                secrets: self.config.secrets.clone(),
                max_blocking: Some(self.config.timeout),
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(self.config.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (self.config.timeout.as_millis() as u64 * TICKS_PER_SECOND)
            .div_ceil(1000)
            .max(1);
        store.set_epoch_deadline(ticks);
        if let Some(fuel) = self.config.fuel {
            store.set_fuel(fuel).expect("fuel is enabled in the engine");
        }
        let result = Composed::instantiate(&mut store, component, &self.linker)
            .and_then(|instance| instance.call_run(&mut store, args))
            .map_err(|e| self.classify(e));
        let (stdout, stderr) = match captured {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        Outcome { result, stdout, stderr }
    }

    fn classify(&self, e: wasmtime::Error) -> RunError {
        let e = anyhow::Error::from(e);
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => return RunError::Timeout(self.config.timeout),
            Some(Trap::StackOverflow) => return RunError::StackOverflow,
            Some(Trap::OutOfFuel) => return RunError::OutOfFuel(self.config.fuel.unwrap_or(0)),
            Some(Trap::UnreachableCodeReached) => return RunError::Crashed,
            _ => {}
        }
        if e.chain().any(|c| c.to_string().contains(GROW_FAILURE)) {
            return RunError::OutOfMemory(self.config.memory_limit);
        }
        RunError::Other(e)
    }
}

/// Writes atomically (temporary file, then rename) so a concurrent start
/// never maps a half-written artifact.
fn store_artifact(component: &Component, path: &Path) -> Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let dir = path.parent().context("artifact path has a directory")?;
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{}.{name}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
