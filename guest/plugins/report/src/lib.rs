//! `report`: message count, total size and the top senders of every
//! mailbox (or of one), from RFC822.SIZE and the envelope's From.
//!
//! Reads each mailbox with EXAMINE (nothing is changed) and a streaming
//! FETCH, so large mailboxes cost one message of memory. A progress bar
//! (mailboxes done of those listed) shows on a terminal.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 report.wasm --user alice --password secret \
//!     [--mailbox NAME] [--top 5]
//! ```

use std::collections::HashMap;

use wasimap_sdk::{mail, typed, Args, Client, Plugin, Progress, SequenceSet};

struct Report;

/// Per-sender totals of one mailbox.
#[derive(Default)]
struct Totals {
    messages: u64,
    bytes: u64,
    senders: HashMap<String, (u64, u64)>,
}

fn tally(imap: &Client, mailbox: &str) -> Result<Totals, String> {
    let mut t = Totals::default();
    if imap.examine(mailbox)? == 0 {
        return Ok(t);
    }
    for m in imap.stream(&SequenceSet::all(), "RFC822.SIZE ENVELOPE", false)? {
        let m = m?;
        // A FETCH without RFC822.SIZE is an unsolicited flag update.
        let Some(size) = m.size else { continue };
        let sender = m
            .envelope
            .as_ref()
            .and_then(mail::sender)
            .unwrap_or_else(|| "(unknown)".into());
        t.messages += 1;
        t.bytes += size;
        let e = t.senders.entry(sender).or_default();
        e.0 += 1;
        e.1 += size;
    }
    Ok(t)
}

impl Plugin for Report {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls"])?;
        let top: usize = args.parse_or("top", 5)?;
        let imap = Client::from_args(&args)?;
        let mut mailboxes: Vec<String> = match args.get("mailbox") {
            Some(m) => vec![m.to_string()],
            None => imap
                .mailboxes()?
                .into_iter()
                .filter(|e| !e.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")))
                .map(|e| e.name)
                .collect(),
        };
        mailboxes.sort();
        let mut progress = Progress::new("report", Some(mailboxes.len() as u64));
        for mailbox in mailboxes {
            let shown = typed::mutf7_decode(&mailbox).unwrap_or_else(|_| mailbox.clone());
            progress.set_label(format!("report {shown}"));
            let t = tally(&imap, &mailbox)?;
            progress.inc(1);
            println!("{shown}: {} message(s), {} bytes", t.messages, t.bytes);
            let mut senders: Vec<_> = t.senders.into_iter().collect();
            senders.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then_with(|| a.0.cmp(&b.0)));
            for (sender, (count, bytes)) in senders.into_iter().take(top) {
                println!("  {count:>6} {bytes:>10}  {sender}");
            }
        }
        progress.finish();
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Report);
