//! `wasimap run`: one plugin, or an imaplib script, with what the flags
//! and the manifest grant.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wasimap_sandbox::manifest::Manifest;
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::runner::Stdio;
use wasimap_sandbox::{secrets, terminal, Endpoint, Policy, Progress, Runner, RunnerConfig, Secrets, TlsTrust};

use super::EXIT_PLUGIN_ERROR;
use crate::{progress_bar, pyscript};

/// `wasimap run`'s flags.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Allow connections to HOST:PORT (`*.example.org:993`, `127.0.0.1:*`). Repeatable.
    #[arg(long = "allow", value_name = "HOST:PORT")]
    pub allow: Vec<HostPattern>,
    /// Allow running COMMAND for stream connections, without a shell: words match whole arguments, `*` within one argument, a final `**` any further arguments. Repeatable.
    #[arg(long = "allow-exec", value_name = "COMMAND")]
    pub allow_exec: Vec<String>,
    /// Allow reading PATH (CA files named in TLS options; matched after `..` and symlinks are resolved). Repeatable.
    #[arg(long = "allow-read", value_name = "PATH")]
    pub allow_read: Vec<String>,
    /// Allow plugins to trust the CA certificates in FILE (as `ca-file` or the same certificates as `ca-pem`). Repeatable.
    #[arg(long = "allow-ca", value_name = "FILE")]
    pub allow_ca: Vec<PathBuf>,
    /// Allow `dangerously-accept-invalid-certs` for HOST:PORT (patterns as --allow). Repeatable.
    #[arg(long = "allow-insecure-tls", value_name = "HOST:PORT")]
    pub allow_insecure_tls: Vec<HostPattern>,
    /// Define a secret the plugin may use by name: NAME=env:VARIABLE or NAME=file:PATH. Repeatable.
    #[arg(long = "secret", value_name = "NAME=SOURCE", value_parser = secrets::parse_definition)]
    pub secret: Vec<(String, wasimap_sandbox::SecretSource)>,
    /// Bind secret NAME to HOST:PORT (no wildcards); without it a secret goes only to the exact --allow grants. Repeatable.
    #[arg(long = "secret-endpoint", value_name = "NAME=HOST:PORT", value_parser = parse_binding)]
    pub secret_endpoint: Vec<(String, Endpoint)>,
    /// Let secret NAME go over plaintext (or unverified TLS) to a host that is not loopback. Repeatable.
    #[arg(long = "secret-plaintext", value_name = "NAME")]
    pub secret_plaintext: Vec<String>,
    /// Refuse addresses in private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) unless granted as IP patterns.
    #[arg(long)]
    pub deny_private_networks: bool,
    /// Connections open at once (default 16).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Stream commands running at once (default 4).
    #[arg(long, value_name = "N")]
    pub max_processes: Option<usize>,
    /// A TOML manifest of grants, limits and secrets; flags add to it.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Wall-clock limit in seconds (default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Memory limit of the whole store in MiB (default 512).
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u64>,
    /// Instruction budget (wasmtime fuel; default unlimited).
    #[arg(long, value_name = "UNITS")]
    pub fuel: Option<u64>,
    /// Directory of the compiled-component cache (default: ~/.cache/wasimap).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not cache compiled components.
    #[arg(long)]
    pub no_cache: bool,
    /// Never draw the plugin's progress (drawn on stderr only when it is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// The plugin component, or a Python script (`.py`: built into one with componentize-py, then cached).
    pub plugin: PathBuf,
    /// Arguments passed to the plugin's `run`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `wasimap run --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  # Senders and sizes of every mailbox on a local server
  wasimap run --allow 127.0.0.1:143 report.wasm --user alice --password secret

  # The password in an environment variable: the plugin names it, never sees it
  wasimap run --allow imap.example.org:993 --secret pw=env:IMAP_PASSWORD \\
      report.wasm --tls --host imap.example.org --user alice --password-secret pw

  # Export INBOX: the mail goes to the file, a progress bar to the terminal
  wasimap run --allow 127.0.0.1:143 mbox.wasm --user alice --password secret > INBOX.mbox

  # Grants and limits from a manifest, plus a wall-clock limit
  wasimap run --manifest archive.toml --timeout 600 archive.wasm --user alice --password secret --days 365

  # An imaplib script, unchanged, in the sandbox (needs `pip install componentize-py==0.25.1`)
  wasimap run --allow 127.0.0.1:143 unseen.py 127.0.0.1 alice secret

  # Start a plugin of your own (rust, python or js)
  wasimap new my-plugin --lang rust

Exit codes: 0 done, 1 the plugin's error, 2 usage or load error, 3 crash, 4 time limit,
5 memory limit, 6 stack overflow, 7 fuel, 8 other trap, 9 store limit.";

/// The runner's configuration from the manifest and the flags (flags add
/// to the manifest's grants and override its limits).
fn config(flags: RunArgs) -> Result<(RunnerConfig, PathBuf, Vec<String>)> {
    let RunArgs {
        allow,
        allow_exec,
        allow_read,
        allow_ca,
        allow_insecure_tls,
        secret,
        secret_endpoint,
        secret_plaintext,
        deny_private_networks,
        max_connections,
        max_processes,
        manifest,
        timeout,
        memory,
        fuel,
        cache_dir,
        no_cache,
        no_progress,
        plugin,
        args,
    } = flags;
    let manifest = match &manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::default(),
    };
    let mut policy = manifest.policy(Policy::deny_all())?;
    policy = allow.into_iter().fold(policy, Policy::allow);
    for command in allow_exec {
        policy = policy
            .try_allow_exec(&command)
            .map_err(|e| anyhow::anyhow!("--allow-exec: {e}"))?;
    }
    for path in allow_read {
        policy = policy
            .try_allow_read(&path)
            .map_err(|e| anyhow::anyhow!("--allow-read: {e}"))?;
    }
    policy = policy.deny_private_networks(deny_private_networks || manifest.deny_private_networks);
    let mut secrets = secret
        .into_iter()
        .fold(manifest.secrets(Secrets::none())?, |s, (n, src)| s.define(n, src));
    for (name, endpoint) in secret_endpoint {
        secrets = secrets
            .bind(&name, endpoint)
            .map_err(|e| anyhow::anyhow!("--secret-endpoint: {e} (define it with --secret {name}=env:VARIABLE)"))?;
    }
    for name in secret_plaintext {
        secrets = secrets
            .allow_plaintext(&name)
            .map_err(|e| anyhow::anyhow!("--secret-plaintext: {e} (define it with --secret {name}=env:VARIABLE)"))?;
    }
    let mut trust = manifest.trust(TlsTrust::none())?;
    for file in allow_ca {
        trust = trust.allow_ca(&file).map_err(anyhow::Error::msg)?;
    }
    trust = allow_insecure_tls.into_iter().fold(trust, TlsTrust::allow_insecure);
    let mut config = RunnerConfig {
        policy,
        secrets,
        trust,
        progress: if !no_progress && std::io::stderr().is_terminal() {
            Progress::shown_by(Arc::new(progress_bar::Bar::default()))
        } else {
            Progress::hidden()
        },
        wording: Some(crate::denials::with_flags),
        ..RunnerConfig::default()
    };
    // The flags go into the manifest's table, over its values: one
    // function applies every limit either names.
    let mut limits = manifest.limits.clone();
    limits.memory_mib = memory.or(limits.memory_mib);
    limits.timeout_seconds = timeout.or(limits.timeout_seconds);
    limits.fuel = fuel.or(limits.fuel);
    limits.max_connections = max_connections.or(limits.max_connections);
    limits.max_processes = max_processes.or(limits.max_processes);
    limits.apply(&mut config)?;
    if no_cache {
        config.cache_dir = None;
    } else if cache_dir.is_some() {
        config.cache_dir = cache_dir;
    }
    Ok((config, plugin, args))
}

/// `NAME=HOST:PORT`, as `--secret-endpoint` takes it.
fn parse_binding(s: &str) -> Result<(String, Endpoint), String> {
    let (name, endpoint) = s
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("invalid binding {s:?}: expected NAME=HOST:PORT"))?;
    Ok((name.to_string(), endpoint.parse()?))
}

/// Runs the plugin; its outcome is the exit code.
pub fn run(flags: RunArgs) -> Result<ExitCode> {
    let (config, plugin, args) = config(flags)?;
    let cache_dir = config.cache_dir.clone();
    let runner = Runner::new(config)?;
    let bytes = if pyscript::is_script(&plugin) {
        let built = pyscript::ScriptBuilder::new(cache_dir.as_deref()).build(&plugin)?;
        tracing::debug!(script = %plugin.display(), cached = built.cached, "script component");
        built.wasm
    } else {
        std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?
    };
    let component = runner.load(&bytes)?;
    let outcome = runner.run(&component, &args, Stdio::Inherit);
    match outcome.result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        // The plugin's words, on one line: no escape sequence, no
        // line of its own that would pass for the host's.
        Ok(Err(msg)) => {
            eprintln!("wasimap: plugin failed: {}", terminal::escape(&msg));
            Ok(ExitCode::from(EXIT_PLUGIN_ERROR))
        }
        // A trap's message carries the plugin's function names.
        Err(e) => {
            eprintln!("wasimap: {}", terminal::escape_lines(&e.to_string()));
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}
