//! `{{name}}`: a wasimap plugin. It logs in and prints every mailbox with
//! its message and unseen counts; make it do your job.
//!
//! The SDK's `Client` wraps imaplib's session (`raw()` is all of it);
//! `Args` parses `--name value` options.

use wasimap_sdk::mail::status_item;
use wasimap_sdk::{typed, Args, Client, Plugin, Progress};

struct Main;

impl Plugin for Main {
    fn run(args: Vec<String>) -> Result<(), String> {
        // --host, --port, --tls, --starttls, --user, --password or --password-secret.
        let args = Args::parse(&args, &["tls", "starttls"])?;
        let imap = Client::from_args(&args)?;
        let mailboxes: Vec<_> = imap
            .mailboxes()?
            .into_iter()
            .filter(|m| !m.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")))
            .collect();
        // Shown as a bar on a terminal, not at all otherwise.
        let mut progress = Progress::new("{{name}}", Some(mailboxes.len() as u64));
        for mailbox in mailboxes {
            let status = imap.status(&mailbox.name, "MESSAGES UNSEEN")?;
            let name = typed::mutf7_decode(&mailbox.name).unwrap_or(mailbox.name);
            println!(
                "{name:<30} {:>6} {:>6}",
                status_item(&status, "MESSAGES").unwrap_or(0),
                status_item(&status, "UNSEEN").unwrap_or(0),
            );
            progress.inc(1);
        }
        progress.finish();
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Main);
