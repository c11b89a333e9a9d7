//! One module per subcommand: its flags (clap) and what it does.

pub mod inspect;
pub mod new;
pub mod run;
pub mod watch;

/// The plugin's `run` returned an error.
pub const EXIT_PLUGIN_ERROR: u8 = 1;
/// Bad usage, or the plugin could not be loaded.
pub const EXIT_LOAD: u8 = 2;
