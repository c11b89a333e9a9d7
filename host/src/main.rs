//! `wasimap`: run IMAP plugins in a sandbox.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wasimap_host::manifest::Manifest;
use wasimap_host::policy::HostPattern;
use wasimap_host::runner::Stdio;
use wasimap_host::{
    compose, pyscript, scaffold, secrets, terminal, watch, Endpoint, Policy, Runner, RunnerConfig, Secrets, TlsTrust,
};

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
    /// Run PLUGIN.wasm, or an imaplib script PLUGIN.py, with the given arguments. Nothing is granted unless named here or in the manifest.
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// Allow connections to HOST:PORT (`*.example.org:993`, `127.0.0.1:*`). Repeatable.
        #[arg(long = "allow", value_name = "HOST:PORT")]
        allow: Vec<HostPattern>,
        /// Allow running COMMAND for stream connections, without a shell: words match whole arguments, `*` within one argument, a final `**` any further arguments. Repeatable.
        #[arg(long = "allow-exec", value_name = "COMMAND")]
        allow_exec: Vec<String>,
        /// Allow reading PATH (CA files named in TLS options; matched after `..` and symlinks are resolved). Repeatable.
        #[arg(long = "allow-read", value_name = "PATH")]
        allow_read: Vec<String>,
        /// Allow plugins to trust the CA certificates in FILE (as `ca-file` or the same certificates as `ca-pem`). Repeatable.
        #[arg(long = "allow-ca", value_name = "FILE")]
        allow_ca: Vec<PathBuf>,
        /// Allow `dangerously-accept-invalid-certs` for HOST:PORT (patterns as --allow). Repeatable.
        #[arg(long = "allow-insecure-tls", value_name = "HOST:PORT")]
        allow_insecure_tls: Vec<HostPattern>,
        /// Define a secret the plugin may use by name: NAME=env:VARIABLE or NAME=file:PATH. Repeatable.
        #[arg(long = "secret", value_name = "NAME=SOURCE", value_parser = secrets::parse_definition)]
        secret: Vec<(String, wasimap_host::SecretSource)>,
        /// Bind secret NAME to HOST:PORT (no wildcards); without it a secret goes only to the exact --allow grants. Repeatable.
        #[arg(long = "secret-endpoint", value_name = "NAME=HOST:PORT", value_parser = parse_binding)]
        secret_endpoint: Vec<(String, Endpoint)>,
        /// Let secret NAME go over plaintext (or unverified TLS) to a host that is not loopback. Repeatable.
        #[arg(long = "secret-plaintext", value_name = "NAME")]
        secret_plaintext: Vec<String>,
        /// Refuse addresses in private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) unless granted as IP patterns.
        #[arg(long)]
        deny_private_networks: bool,
        /// Connections open at once (default 16).
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
        /// Stream commands running at once (default 4).
        #[arg(long, value_name = "N")]
        max_processes: Option<usize>,
        /// A TOML manifest of grants, limits and secrets; flags add to it.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Wall-clock limit in seconds (default 3600).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Memory limit of the whole store in MiB (default 512).
        #[arg(long, value_name = "MIB")]
        memory: Option<u64>,
        /// Instruction budget (wasmtime fuel; default unlimited).
        #[arg(long, value_name = "UNITS")]
        fuel: Option<u64>,
        /// Directory of the compiled-component cache (default: ~/.cache/wasimap).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Do not cache compiled components.
        #[arg(long)]
        no_cache: bool,
        /// Never draw the plugin's progress (drawn on stderr only when it is a terminal).
        #[arg(long)]
        no_progress: bool,
        /// The plugin component, or a Python script (`.py`: built into one with componentize-py, then cached).
        plugin: PathBuf,
        /// Arguments passed to the plugin's `run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Create a plugin project in a new directory PATH (named after its last component) that builds and runs as it is.
    #[command(after_help = NEW_EXAMPLES)]
    New {
        /// The project directory; its last component is the plugin's name (lower case, digits, '-', '_').
        path: PathBuf,
        /// The plugin's language.
        #[arg(long, value_name = "LANG", default_value = "rust", value_parser = ["rust", "python", "js"])]
        lang: String,
        /// The wasimap SDK a Rust project depends on (a checkout's guest/sdk; default: the checkout this wasimap was built from).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Watch the accounts and mailboxes of a manifest and call a watcher plugin for each new message, exactly once (docs/watch.md).
    #[command(after_help = WATCH_EXAMPLES)]
    Watch {
        /// The watch manifest (TOML): plugin, state-dir, [[account]], [secrets], ...
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// Print each mailbox's state, counts and dead letters, then exit.
        #[arg(long, conflicts_with_all = ["replay", "reset"])]
        status: bool,
        /// With --status: the state as JSON.
        #[arg(long, requires = "status")]
        json: bool,
        /// Hand ACCOUNT's dead letters to the plugin again (the watcher must not be running), then exit.
        #[arg(long, value_name = "ACCOUNT", conflicts_with = "reset")]
        replay: Option<String>,
        /// Watch ACCOUNT's stopped mailboxes again (after a UIDVALIDITY change or a refused login), from the next new message; then exit.
        #[arg(long, value_name = "ACCOUNT")]
        reset: Option<String>,
        /// With --replay or --reset: only this mailbox.
        #[arg(long, value_name = "NAME")]
        mailbox: Option<String>,
        /// With --replay: only this UID.
        #[arg(long, value_name = "UID", requires = "replay")]
        uid: Option<u32>,
        /// Log lines as `text` or `json` (one object per line).
        #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Trace the IMAP sessions on stderr (passwords shown as <redacted>).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Show a component's imports and exports and whether `wasimap run` accepts it.
    Inspect {
        /// Also compile it (or take it from the cache) and check that it
        /// links under both embeddings, blocking and async.
        #[arg(long)]
        link: bool,
        /// The component.
        plugin: PathBuf,
    },
}

/// `wasimap run --help`'s examples.
const RUN_EXAMPLES: &str = "\
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

/// `wasimap watch --help`'s examples.
const WATCH_EXAMPLES: &str = "\
Examples:
  # Watch until SIGINT/SIGTERM; the journal plugin writes one line per new message
  WORK_PW=... wasimap watch --manifest watch.toml

  # What was handled, failed, retried and dead-lettered
  wasimap watch --manifest watch.toml --status

  # Try the dead letters of account work again (with the watcher stopped)
  wasimap watch --manifest watch.toml --replay work

Exit codes: 0 stopped by a signal (or done), 1 dead letters left after --replay, 2 usage or load error.";

/// `wasimap new --help`'s examples.
const NEW_EXAMPLES: &str = "\
Examples:
  wasimap new inbox-zero                 # Rust, on the SDK of this checkout
  wasimap new ~/plugins/digest --lang python
  wasimap new triage-js --lang js
  cd inbox-zero && ./build.sh && wasimap run --allow 127.0.0.1:143 inbox-zero.wasm --user alice --password secret";

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
    for command in allow_exec {
        policy = policy.try_allow_exec(&command).map_err(anyhow::Error::msg)?;
    }
    for path in allow_read {
        policy = policy.try_allow_read(&path).map_err(anyhow::Error::msg)?;
    }
    policy = policy.deny_private_networks(deny_private_networks || manifest.deny_private_networks);
    let mut secrets = secret
        .into_iter()
        .fold(manifest.secrets(Secrets::none())?, |s, (n, src)| s.define(n, src));
    for (name, endpoint) in secret_endpoint {
        secrets = secrets.bind(&name, endpoint).map_err(anyhow::Error::msg)?;
    }
    for name in secret_plaintext {
        secrets = secrets.allow_plaintext(&name).map_err(anyhow::Error::msg)?;
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
        show_progress: !no_progress,
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
    Ok(RunArgs { config, plugin, args })
}

/// `NAME=HOST:PORT`, as `--secret-endpoint` takes it.
fn parse_binding(s: &str) -> Result<(String, Endpoint), String> {
    let (name, endpoint) = s
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("invalid binding {s:?}: expected NAME=HOST:PORT"))?;
    Ok((name.to_string(), endpoint.parse()?))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::New { path, lang, sdk } => {
            let lang: scaffold::Lang = lang.parse().map_err(anyhow::Error::msg)?;
            let sdk = match sdk {
                Some(p) => Some(scaffold::find_sdk(&p)?),
                None => scaffold::default_sdk(),
            };
            let files = scaffold::create(&path, lang, sdk.as_deref())?;
            println!("created {} ({lang}, {} files):", path.display(), files.len());
            files.iter().for_each(|f| println!("  {}", f.path));
            println!(
                "next: cd {} && ./build.sh, then see README.md to run it (./smoke-test.sh tries it against a server)",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch {
            manifest,
            status,
            json,
            replay,
            reset,
            mailbox,
            uid,
            log_format,
            verbose,
        } => {
            let options = watch::Options {
                log: watch::log::Log {
                    format: if log_format == "json" {
                        watch::log::LogFormat::Json
                    } else {
                        watch::log::LogFormat::Text
                    },
                },
                verbose,
            };
            if status {
                print!("{}", watch::status(&manifest, json)?);
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(account) = reset {
                let n = watch::reset(&manifest, &account, mailbox.as_deref())?;
                println!("{n} mailbox(es) of {account} will be watched again from their next new message");
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(account) = replay {
                let left = watch::replay(&manifest, &account, mailbox.as_deref(), uid, options)?;
                println!("dead letters left: {left}");
                return Ok(if left == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_PLUGIN_ERROR)
                });
            }
            watch::watch(&manifest, options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { plugin, link } => {
            let bytes = std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?;
            let i = compose::inspect(&bytes)?;
            if link && i.can_run() {
                let runner = Runner::new(RunnerConfig::default())?;
                runner.check_links(&runner.load(&bytes)?)?;
                println!("links: blocking and async embeddings");
            }
            // The names are the component's own words.
            println!("imports:");
            i.imports.iter().for_each(|n| println!("  {}", terminal::escape(n)));
            println!("exports:");
            i.exports.iter().for_each(|n| println!("  {}", terminal::escape(n)));
            if i.can_run() {
                println!("world: wasimap:imap/plugin\nruns: yes");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("runs: no");
                i.problems.iter().for_each(|p| println!("  - {}", terminal::escape(p)));
                Ok(ExitCode::from(EXIT_LOAD))
            }
        }
        cmd @ Command::Run { .. } => {
            let RunArgs { config, plugin, args } = run_config(cmd)?;
            let cache_dir = config.cache_dir.clone();
            let runner = Runner::new(config)?;
            let bytes = if pyscript::is_script(&plugin) {
                pyscript::ScriptBuilder::new(cache_dir.as_deref()).build(&plugin)?.wasm
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
    }
}

/// Stderr for the diagnostics (`WASIMAP_LOG`): each record, written in
/// one piece by tracing's formatter, escaped for the terminal but for its
/// final line break, since fields quote plugins and servers (the host a
/// plugin connected to, an error's text).
struct Diagnostics;

impl Write for Diagnostics {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (record, end) = text.strip_suffix('\n').map_or((&*text, ""), |r| (r, "\n"));
        write!(std::io::stderr().lock(), "{}{end}", terminal::escape(record))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("WASIMAP_LOG"))
        .with_ansi(false)
        .with_writer(|| Diagnostics)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        // Errors quote what servers, plugins and tools (componentize-py)
        // said.
        Err(e) => {
            eprintln!("wasimap: {}", terminal::escape_lines(&format!("{e:#}")));
            ExitCode::from(EXIT_LOAD)
        }
    }
}
