//! `wasimap`: run IMAP plugins in a sandbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wasimap_host::manifest::Manifest;
use wasimap_host::policy::HostPattern;
use wasimap_host::runner::{Stdio, DEFAULT_MEMORY_LIMIT};
use wasimap_host::{compose, secrets, Policy, Runner, RunnerConfig, Secrets};

/// The plugin's `run` returned an error.
const EXIT_PLUGIN_ERROR: u8 = 1;
/// Bad usage, or the plugin could not be loaded.
const EXIT_LOAD: u8 = 2;

#[derive(Parser)]
#[command(
    name = "wasimap",
    version,
    about = "Run IMAP automation plugins (WebAssembly components) in a sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run PLUGIN.wasm with the given arguments. Nothing is granted unless named here or in the manifest.
    Run {
        /// Allow connections to HOST:PORT (`*.example.org:993`, `127.0.0.1:*`). Repeatable.
        #[arg(long = "allow", value_name = "HOST:PORT")]
        allow: Vec<HostPattern>,
        /// Allow running COMMAND for stream connections (`*` matches any text). Repeatable.
        #[arg(long = "allow-exec", value_name = "COMMAND")]
        allow_exec: Vec<String>,
        /// Allow reading PATH (CA files named in TLS options; `*` matches any text). Repeatable.
        #[arg(long = "allow-read", value_name = "PATH")]
        allow_read: Vec<String>,
        /// Define a secret the plugin may use by name: NAME=env:VARIABLE or NAME=file:PATH. Repeatable.
        #[arg(long = "secret", value_name = "NAME=SOURCE", value_parser = secrets::parse_definition)]
        secret: Vec<(String, wasimap_host::SecretSource)>,
        /// A TOML manifest of grants, limits and secrets; flags add to it.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Wall-clock limit in seconds (default 3600).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Memory limit in MiB (default 512).
        #[arg(long, value_name = "MIB")]
        memory: Option<usize>,
        /// Instruction budget (wasmtime fuel; default unlimited).
        #[arg(long, value_name = "UNITS")]
        fuel: Option<u64>,
        /// Directory of the compiled-component cache (default: ~/.cache/wasimap).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Do not cache compiled components.
        #[arg(long)]
        no_cache: bool,
        /// The plugin component.
        plugin: PathBuf,
        /// Arguments passed to the plugin's `run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show a component's imports and exports and whether `wasimap run` accepts it.
    Inspect {
        /// The component.
        plugin: PathBuf,
    },
}

struct RunArgs {
    config: RunnerConfig,
    plugin: PathBuf,
    args: Vec<String>,
}

fn run_config(cmd: Command) -> Result<RunArgs> {
    let Command::Run {
        allow,
        allow_exec,
        allow_read,
        secret,
        manifest,
        timeout,
        memory,
        fuel,
        cache_dir,
        no_cache,
        plugin,
        args,
    } = cmd
    else {
        unreachable!("called for run only")
    };
    let manifest = match &manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::default(),
    };
    let mut policy = manifest.policy(Policy::deny_all())?;
    policy = allow.into_iter().fold(policy, Policy::allow);
    policy = allow_exec.into_iter().fold(policy, Policy::allow_exec);
    policy = allow_read.into_iter().fold(policy, Policy::allow_read);
    let secrets = secret
        .into_iter()
        .fold(manifest.secrets(Secrets::none())?, |s, (n, src)| s.define(n, src));
    let mut config = RunnerConfig {
        policy,
        secrets,
        ..RunnerConfig::default()
    };
    if let Some(mib) = memory.or(manifest.limits.memory_mib) {
        config.memory_limit = mib << 20;
    } else {
        config.memory_limit = DEFAULT_MEMORY_LIMIT;
    }
    if let Some(t) = timeout.or(manifest.limits.timeout_seconds) {
        config.timeout = Duration::try_from_secs_f64(t).context("--timeout must be a positive number of seconds")?;
    }
    config.fuel = fuel.or(manifest.limits.fuel);
    if no_cache {
        config.cache_dir = None;
    } else if cache_dir.is_some() {
        config.cache_dir = cache_dir;
    }
    Ok(RunArgs { config, plugin, args })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inspect { plugin } => {
            let bytes = std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?;
            let i = compose::inspect(&bytes)?;
            println!("imports:");
            i.imports.iter().for_each(|n| println!("  {n}"));
            println!("exports:");
            i.exports.iter().for_each(|n| println!("  {n}"));
            if i.can_run() {
                println!("world: wasimap:imap/plugin\nruns: yes");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("runs: no");
                i.problems.iter().for_each(|p| println!("  - {p}"));
                Ok(ExitCode::from(EXIT_LOAD))
            }
        }
        cmd @ Command::Run { .. } => {
            let RunArgs { config, plugin, args } = run_config(cmd)?;
            let runner = Runner::new(config)?;
            let bytes = std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?;
            let component = runner.load(&bytes)?;
            let outcome = runner.run(&component, &args, Stdio::Inherit);
            match outcome.result {
                Ok(Ok(())) => Ok(ExitCode::SUCCESS),
                Ok(Err(msg)) => {
                    eprintln!("wasimap: plugin failed: {msg}");
                    Ok(ExitCode::from(EXIT_PLUGIN_ERROR))
                }
                Err(e) => {
                    eprintln!("wasimap: {e}");
                    Ok(ExitCode::from(e.exit_code()))
                }
            }
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WASIMAP_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasimap: {e:#}");
            ExitCode::from(EXIT_LOAD)
        }
    }
}
