//! `wasimap watch`: the watcher, or one of its operations (`--status`,
//! `--reset`, `--replay`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasimap_watch as watch;

use super::EXIT_PLUGIN_ERROR;

/// `wasimap watch`'s flags.
#[derive(clap::Args)]
pub struct WatchArgs {
    /// The watch manifest (TOML): plugin, state-dir, [[account]], [secrets], ...
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Print each mailbox's state, counts and dead letters, then exit.
    #[arg(long, conflicts_with_all = ["replay", "reset"])]
    pub status: bool,
    /// With --status: the state as JSON.
    #[arg(long, requires = "status")]
    pub json: bool,
    /// Hand ACCOUNT's dead letters to the plugin again (the watcher must not be running), then exit.
    #[arg(long, value_name = "ACCOUNT", conflicts_with = "reset")]
    pub replay: Option<String>,
    /// Watch ACCOUNT's stopped mailboxes again (after a UIDVALIDITY change or a refused login), from the next new message; then exit.
    #[arg(long, value_name = "ACCOUNT")]
    pub reset: Option<String>,
    /// With --replay or --reset: only this mailbox.
    #[arg(long, value_name = "NAME")]
    pub mailbox: Option<String>,
    /// With --replay: only this UID.
    #[arg(long, value_name = "UID", requires = "replay")]
    pub uid: Option<u32>,
    /// Log lines as `text` or `json` (one object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Trace the IMAP sessions on stderr (passwords shown as <redacted>).
    #[arg(short, long)]
    pub verbose: bool,
}

/// `wasimap watch --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  # Watch until SIGINT/SIGTERM; the journal plugin writes one line per new message
  WORK_PW=... wasimap watch --manifest watch.toml

  # What was handled, failed, retried and dead-lettered
  wasimap watch --manifest watch.toml --status

  # Try the dead letters of account work again (with the watcher stopped)
  wasimap watch --manifest watch.toml --replay work

Exit codes: 0 stopped by a signal (or done), 1 dead letters left after --replay, 2 usage or load error.";

/// Watches until a signal, or runs the operation asked for.
pub fn run(flags: WatchArgs) -> Result<ExitCode> {
    let WatchArgs {
        manifest,
        status,
        json,
        replay,
        reset,
        mailbox,
        uid,
        log_format,
        verbose,
    } = flags;
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
