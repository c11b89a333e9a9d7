//! `wasimap new`: a plugin project that builds and runs as it is.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::scaffold;

/// `wasimap new`'s flags.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The project directory; its last component is the plugin's name (lower case, digits, '-', '_').
    pub path: PathBuf,
    /// The plugin's language.
    #[arg(long, value_name = "LANG", default_value = "rust", value_parser = ["rust", "python", "js"])]
    pub lang: String,
    /// The wasimap SDK a Rust project depends on (a checkout's guest/sdk; default: the checkout this wasimap was built from).
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

/// `wasimap new --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  wasimap new inbox-zero                 # Rust, on the SDK of this checkout
  wasimap new ~/plugins/digest --lang python
  wasimap new triage-js --lang js
  cd inbox-zero && ./build.sh && wasimap run --allow 127.0.0.1:143 inbox-zero.wasm --user alice --password secret";

/// Writes the project.
pub fn run(NewArgs { path, lang, sdk }: NewArgs) -> Result<ExitCode> {
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
