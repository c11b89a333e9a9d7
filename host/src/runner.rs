//! Loading and running plugins: compose, compile (cached on disk),
//! instantiate in a fresh store with limits, call `run`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::Composed;
use crate::compose;
use crate::policy::Policy;
use crate::state::HostState;

/// Default memory limit of a plugin store.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;

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
    /// On-disk cache of compiled components; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Memory limit per store, bytes.
    pub memory_limit: usize,
    /// Wall-clock limit per run; `None` for none.
    pub timeout: Option<Duration>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            policy: Policy::deny_all(),
            cache_dir: default_cache_dir(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            timeout: None,
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

/// What a plugin run produced.
#[derive(Debug)]
pub struct Outcome {
    /// `run`'s result: `Err` carries the plugin's message.
    pub result: Result<(), String>,
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
    ticker_stop: Arc<AtomicBool>,
}

/// Epoch ticks per second: the resolution of the wall-clock limit.
const TICKS_PER_SECOND: u64 = 100;

impl Runner {
    /// An engine (with the on-disk cache if configured) and a linker holding
    /// WASI and the transport.
    pub fn new(config: RunnerConfig) -> Result<Self> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        if let Some(dir) = &config.cache_dir {
            let mut cc = CacheConfig::new();
            cc.with_directory(dir);
            wasm.cache(Some(
                Cache::new(cc)
                    .map_err(anyhow::Error::from)
                    .context("setting up the compilation cache")?,
            ));
        }
        let engine = Engine::new(&wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Composed::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;

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
            ticker_stop,
        })
    }

    /// The engine (for cache statistics and embedding).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Composes a plugin with the embedded protocol component and compiles
    /// it (served from the on-disk cache when compiled before).
    pub fn load(&self, plugin: &[u8]) -> Result<Component> {
        let composed = compose::compose(plugin, crate::PROTOCOL_COMPONENT)?;
        Component::new(&self.engine, &composed)
            .map_err(anyhow::Error::from)
            .context("compiling the composed plugin")
    }

    /// Runs a loaded plugin's `run(args)`.
    ///
    /// # Errors
    /// A trap (panic, limit, timeout) or a failed instantiation; the
    /// plugin's own `Err` is in [`Outcome::result`].
    pub fn run(&self, component: &Component, args: &[String], stdio: Stdio) -> Result<Outcome> {
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
            policy: self.config.policy.clone(),
            limits: StoreLimitsBuilder::new().memory_size(self.config.memory_limit).build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        match self.config.timeout {
            Some(t) => store.set_epoch_deadline((t.as_millis() as u64 * TICKS_PER_SECOND).div_ceil(1000).max(1)),
            None => store.set_epoch_deadline(u64::MAX / 2),
        }
        let result = (|| -> Result<Result<(), String>> {
            let instance = Composed::instantiate(&mut store, component, &self.linker)?;
            Ok(instance.call_run(&mut store, args)?)
        })();
        let (stdout, stderr) = match captured {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        match result {
            Ok(result) => Ok(Outcome { result, stdout, stderr }),
            Err(trap) => Err(trap.context(format!("plugin trapped; stderr: {}", String::from_utf8_lossy(&stderr)))),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
