//! `wasimap`: run IMAP plugins in a sandbox. One module per subcommand
//! (`commands/`); the sandbox is `wasimap-sandbox`, the watcher
//! `wasimap-watch`.

mod commands;
mod denials;
mod progress_bar;
mod pyscript;
mod scaffold;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use wasimap_sandbox::terminal;

use commands::EXIT_LOAD;

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
    #[command(after_help = commands::run::EXAMPLES)]
    Run(commands::run::RunArgs),
    /// Create a plugin project in a new directory PATH (named after its last component) that builds and runs as it is.
    #[command(after_help = commands::new::EXAMPLES)]
    New(commands::new::NewArgs),
    /// Watch the accounts and mailboxes of a manifest and call a watcher plugin for each new message, exactly once (docs/watch.md).
    #[command(after_help = commands::watch::EXAMPLES)]
    Watch(commands::watch::WatchArgs),
    /// Show a component's imports and exports and whether `wasimap run` accepts it.
    Inspect(commands::inspect::InspectArgs),
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(flags) => commands::run::run(flags),
        Command::New(flags) => commands::new::run(flags),
        Command::Watch(flags) => commands::watch::run(flags),
        Command::Inspect(flags) => commands::inspect::run(flags),
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
