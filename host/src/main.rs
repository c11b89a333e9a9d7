//! `wasimap`: run IMAP plugins in a sandbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wasimap_host::policy::HostPattern;
use wasimap_host::runner::Stdio;
use wasimap_host::{Policy, Runner, RunnerConfig};

/// Exit code when the plugin returned an error.
const EXIT_PLUGIN_ERROR: u8 = 1;
/// Exit code when the plugin trapped or could not be loaded.
const EXIT_TRAP: u8 = 2;

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

#[derive(Subcommand)]
enum Command {
    /// Run PLUGIN.wasm with the given arguments.
    Run {
        /// Allow connections to HOST:PORT (wildcards: `*.example.org:993`, `127.0.0.1:*`). Repeatable.
        #[arg(long = "allow", value_name = "HOST:PORT")]
        allow: Vec<HostPattern>,
        /// Allow running COMMAND for stream connections (`*` matches any text). Repeatable.
        #[arg(long = "allow-exec", value_name = "COMMAND")]
        allow_exec: Vec<String>,
        /// Allow reading PATH (CA files named in TLS options; `*` matches any text). Repeatable.
        #[arg(long = "allow-read", value_name = "PATH")]
        allow_read: Vec<String>,
        /// Wall-clock limit in seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Memory limit in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 512)]
        memory: usize,
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
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            allow,
            allow_exec,
            allow_read,
            timeout,
            memory,
            cache_dir,
            no_cache,
            plugin,
            args,
        } => {
            let policy = allow.into_iter().fold(Policy::deny_all(), Policy::allow);
            let policy = allow_exec.into_iter().fold(policy, Policy::allow_exec);
            let policy = allow_read.into_iter().fold(policy, Policy::allow_read);
            let mut config = RunnerConfig {
                policy,
                memory_limit: memory << 20,
                ..RunnerConfig::default()
            };
            if no_cache {
                config.cache_dir = None;
            } else if cache_dir.is_some() {
                config.cache_dir = cache_dir;
            }
            config.timeout = timeout.map(Duration::from_secs_f64);
            let runner = Runner::new(config)?;
            let bytes = std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?;
            let component = runner.load(&bytes)?;
            let outcome = runner.run(&component, &args, Stdio::Inherit)?;
            match outcome.result {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(msg) => {
                    eprintln!("wasimap: plugin failed: {msg}");
                    Ok(ExitCode::from(EXIT_PLUGIN_ERROR))
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
            ExitCode::from(EXIT_TRAP)
        }
    }
}
