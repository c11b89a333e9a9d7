//! `dedupe`: removes duplicate messages from a mailbox by Message-ID.
//!
//! Of the messages sharing a Message-ID the one with the lowest UID (the
//! first delivered) stays; the others are marked `\Deleted` and expunged
//! by UID EXPUNGE (messages without a Message-ID are never touched).
//! Messages already marked `\Deleted` are left alone; a server without
//! UIDPLUS is refused for that reason.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 dedupe.wasm --user alice --password secret \
//!     [--mailbox INBOX] [--dry-run]
//! ```

use std::collections::HashMap;

use wasimap_sdk::{Args, Client, Plugin, Search, SequenceSet};

struct Dedupe;

impl Plugin for Dedupe {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls", "dry-run"])?;
        let mailbox = args.get_or("mailbox", "INBOX");
        let imap = Client::from_args(&args)?;
        imap.select(mailbox)?;
        let live = imap.uid_search(&Search::new().undeleted())?;
        let mut first: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut duplicates = Vec::new();
        if !live.is_empty() {
            let mut messages = imap.uid_fetch(&SequenceSet::of(live), "UID ENVELOPE")?;
            messages.sort_by_key(|m| m.uid);
            for m in messages {
                let (Some(uid), Some(env)) = (m.uid, m.envelope) else {
                    continue;
                };
                let Some(id) = env.message_id.filter(|id| !id.is_empty()) else {
                    continue;
                };
                match first.get(&id) {
                    Some(_) => duplicates.push(uid),
                    None => {
                        first.insert(id, uid);
                    }
                }
            }
        }
        if duplicates.is_empty() {
            println!("{mailbox}: no duplicates");
        } else if args.flag("dry-run") {
            println!("{mailbox}: would remove {} duplicate(s)", duplicates.len());
        } else {
            let set = SequenceSet::of(duplicates.iter().copied());
            imap.uid_store(&set, "+FLAGS.SILENT", "\\Deleted")?;
            imap.uid_expunge(&set)?;
            println!("{mailbox}: removed {} duplicate(s): UIDs {set}", duplicates.len());
        }
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Dedupe);
