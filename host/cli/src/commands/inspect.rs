//! `wasimap inspect`: a component's imports and exports, and whether
//! `wasimap run` accepts it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wasimap_sandbox::{compose, terminal, Runner, RunnerConfig};

use super::EXIT_LOAD;

/// `wasimap inspect`'s flags.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// Also compile it (or take it from the cache) and check that it
    /// links under both embeddings, blocking and async.
    #[arg(long)]
    pub link: bool,
    /// The component.
    pub plugin: PathBuf,
}

/// Prints what the component imports and exports; exit 2 if it cannot run.
pub fn run(InspectArgs { link, plugin }: InspectArgs) -> Result<ExitCode> {
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
