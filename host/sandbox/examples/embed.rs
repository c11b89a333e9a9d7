//! Embedding wasimap in your own wasmtime setup: your store data, your
//! linker, your policy, your limits. Runs a wasimap plugin with the
//! transport allowed to one host and one secret defined, under a deadline
//! and store limits.
//!
//! ```text
//! cargo run -p wasimap-sandbox --example embed -- [--async] [--timeout SECS] [--memory MIB] \
//!     PLUGIN.wasm HOST:PORT [ARGS...]
//! ```
//! With `--async` the same store data goes into an async linker
//! (`add_to_linker_async`) and the plugin runs on a tokio runtime.
//! The secret `imap-password` is read from the environment variable
//! `IMAP_PASSWORD`.
//!
//! The deadline (`--timeout`, default 30 s) is held three ways, as
//! `wasimap run` holds it: the engine's epoch ends wasm that computes past
//! it, `WasimapCtx::deadline` bounds every connect, read and write the
//! plugin blocks in, and `wasimap_sandbox::sleep`'s clock ends its sleeps
//! by it. The store's memory (`--memory`, default 256 MiB), its instances
//! and tables are bounded by a `StoreLimiter`, and it may hold at most 4
//! connections and no process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use wasimap_sandbox::limits::{StoreLimiter, StoreLimitsConfig, TransportLimits};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::{compose, Policy, SecretSource, Secrets, WasimapCtx, WasimapCtxView, WasimapView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The embedder's own store data: WASI, wasimap, its limiter, and whatever
/// else it needs.
struct MyState {
    table: ResourceTable,
    wasi: WasiCtx,
    wasimap: WasimapCtx,
    limits: StoreLimiter,
    runs: u32,
}

impl WasiView for MyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasimapView for MyState {
    fn wasimap(&mut self) -> WasimapCtxView<'_> {
        WasimapCtxView {
            ctx: &mut self.wasimap,
            table: &mut self.table,
        }
    }
}

/// How often the engine's epoch advances: the resolution of the deadline
/// for wasm that computes.
const TICK: Duration = Duration::from_millis(10);

/// The command line: flags, then the plugin, the grant and its arguments.
struct Options {
    asynchronous: bool,
    timeout: Duration,
    memory_mib: usize,
    plugin: String,
    allowed: String,
    rest: Vec<String>,
}

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1).peekable();
    let (mut asynchronous, mut timeout, mut memory_mib) = (false, Duration::from_secs(30), 256);
    while let Some(flag) = args.next_if(|a| a.starts_with("--")) {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--async" => asynchronous = true,
            "--timeout" => timeout = Duration::from_secs_f64(value("--timeout")?.parse().context("--timeout")?),
            "--memory" => memory_mib = value("--memory")?.parse().context("--memory")?,
            other => bail!("unknown flag {other}"),
        }
    }
    let (Some(plugin), Some(allowed)) = (args.next(), args.next()) else {
        bail!("usage: embed [--async] [--timeout SECS] [--memory MIB] PLUGIN.wasm HOST:PORT [ARGS...]");
    };
    Ok(Options {
        asynchronous,
        timeout,
        memory_mib,
        plugin,
        allowed,
        rest: args.collect(),
    })
}

fn main() -> Result<()> {
    let o = options()?;
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let mut linker: Linker<MyState> = Linker::new(&engine);
    if o.asynchronous {
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasimap_sandbox::add_to_linker_async(&mut linker)?;
    } else {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasimap_sandbox::add_to_linker(&mut linker)?;
    }
    // WASI's monotonic clock, its sleeps ended by `WasimapCtx::deadline`.
    wasimap_sandbox::sleep::add_to_linker(&mut linker)?;

    let plugin = std::fs::read(&o.plugin).with_context(|| format!("reading {}", o.plugin))?;
    let composed = compose::compose(&plugin, wasimap_sandbox::PROTOCOL_COMPONENT)?;
    let component = Component::new(&engine, &composed)?;

    let policy = Policy::deny_all().allow(o.allowed.parse::<HostPattern>().map_err(anyhow::Error::msg)?);
    let secrets = Secrets::none().define("imap-password", SecretSource::Env("IMAP_PASSWORD".into()));
    let deadline = Instant::now() + o.timeout;
    let mut wasimap = WasimapCtx::new(policy, secrets);
    wasimap.deadline = Some(deadline);
    wasimap.limits = TransportLimits {
        connections: 4,
        processes: 0,
        ..TransportLimits::default()
    };
    let state = MyState {
        table: ResourceTable::new(),
        wasi: WasiCtxBuilder::new().inherit_stdout().inherit_stderr().build(),
        wasimap,
        limits: StoreLimiter::new(StoreLimitsConfig {
            memory_bytes: o.memory_mib << 20,
            ..StoreLimitsConfig::default()
        }),
        runs: 1,
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.limits);

    // The epoch ticks on its own thread; at each tick past the deadline the
    // plugin traps, and an async one yields to the runtime between ticks.
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
    };
    let asynchronous = o.asynchronous;
    store.epoch_deadline_callback(move |_| {
        Ok(if Instant::now() >= deadline {
            wasmtime::UpdateDeadline::Interrupt
        } else if asynchronous {
            wasmtime::UpdateDeadline::Yield(1)
        } else {
            wasmtime::UpdateDeadline::Continue(1)
        })
    });
    store.set_epoch_deadline(1);

    let result = if o.asynchronous {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(wasimap_sandbox::call_run_async(
            &mut store, &component, &linker, &o.rest,
        ))
    } else {
        wasimap_sandbox::call_run(&mut store, &component, &linker, &o.rest)
    };
    stop.store(true, Ordering::Relaxed);
    ticker.join().expect("the ticker thread");
    let result = match result {
        Ok(r) => r,
        // Why the store stopped it: the limiter records the limit that
        // fired; past the deadline it was the epoch.
        Err(trap) => {
            if let Some(limit) = store.data().limits.fired() {
                bail!("embed: the plugin hit the store's {limit:?} limit");
            }
            if Instant::now() >= deadline {
                bail!("embed: the plugin ran past its {:?} deadline", o.timeout);
            }
            return Err(anyhow::Error::from(trap).context("embed: the plugin trapped"));
        }
    };
    eprintln!("embed: run {} finished: {result:?}", store.data().runs);
    result.map_err(anyhow::Error::msg)
}
