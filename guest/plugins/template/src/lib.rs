//! `template`: the smallest useful plugin, to copy when starting one.
//!
//! Logs in and prints every mailbox with its message and unseen counts.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 template.wasm --user alice --password secret
//! ```
//!
//! To start a plugin: copy this directory, rename the package in
//! `Cargo.toml`, add it to the workspace, and build with
//! `cargo build --release --target wasm32-wasip2 -p NAME`.

use wasimap_sdk::mail::status_item;
use wasimap_sdk::{Args, Client, Plugin};

struct Template;

impl Plugin for Template {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls"])?;
        let imap = Client::from_args(&args)?;
        for mailbox in imap.mailboxes()? {
            if mailbox.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")) {
                continue;
            }
            let status = imap.status(&mailbox.name, "MESSAGES UNSEEN")?;
            println!(
                "{:<30} {:>6} {:>6}",
                wasimap_sdk::typed::mutf7_decode(&mailbox.name).unwrap_or(mailbox.name.clone()),
                status_item(&status, "MESSAGES").unwrap_or(0),
                status_item(&status, "UNSEEN").unwrap_or(0),
            );
        }
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Template);
