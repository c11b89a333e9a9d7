//! Embedding wasimap in your own wasmtime setup: your store data, your
//! linker, your policy. Runs a wasimap plugin with the transport allowed to
//! one host and one secret defined.
//!
//! ```text
//! cargo run -p wasimap-sandbox --example embed -- [--async] PLUGIN.wasm HOST:PORT [ARGS...]
//! ```
//! With `--async` the same store data goes into an async linker
//! (`add_to_linker_async`) and the plugin runs on a tokio runtime.
//! The secret `imap-password` is read from the environment variable
//! `IMAP_PASSWORD`.

use anyhow::{bail, Context, Result};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::{compose, Policy, SecretSource, Secrets, WasimapCtx, WasimapCtxView, WasimapView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The embedder's own store data: WASI, wasimap, and whatever else it needs.
struct MyState {
    table: ResourceTable,
    wasi: WasiCtx,
    wasimap: WasimapCtx,
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

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let asynchronous = args.first().is_some_and(|a| a == "--async");
    if asynchronous {
        args.remove(0);
    }
    let [plugin, allowed, rest @ ..] = args.as_slice() else {
        bail!("usage: embed [--async] PLUGIN.wasm HOST:PORT [ARGS...]");
    };
    let engine = Engine::new(&Config::new())?;
    let mut linker: Linker<MyState> = Linker::new(&engine);
    if asynchronous {
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasimap_sandbox::add_to_linker_async(&mut linker)?;
    } else {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasimap_sandbox::add_to_linker(&mut linker)?;
    }

    let plugin = std::fs::read(plugin).with_context(|| format!("reading {plugin}"))?;
    let composed = compose::compose(&plugin, wasimap_sandbox::PROTOCOL_COMPONENT)?;
    let component = Component::new(&engine, &composed)?;

    let policy = Policy::deny_all().allow(allowed.parse::<HostPattern>().map_err(anyhow::Error::msg)?);
    let secrets = Secrets::none().define("imap-password", SecretSource::Env("IMAP_PASSWORD".into()));
    let state = MyState {
        table: ResourceTable::new(),
        wasi: WasiCtxBuilder::new().inherit_stdout().inherit_stderr().build(),
        wasimap: WasimapCtx::new(policy, secrets),
        runs: 1,
    };
    let mut store = Store::new(&engine, state);
    let result = if asynchronous {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(wasimap_sandbox::call_run_async(&mut store, &component, &linker, rest))?
    } else {
        wasimap_sandbox::call_run(&mut store, &component, &linker, rest)?
    };
    eprintln!("embed: run {} finished: {result:?}", store.data().runs);
    result.map_err(anyhow::Error::msg)
}
