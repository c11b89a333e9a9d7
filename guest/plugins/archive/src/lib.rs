//! `archive`: moves messages older than N days into `Archive/YYYY`, by the
//! year of each message's internal date.
//!
//! Uses `UID MOVE` when the server has MOVE, else `UID COPY`, then
//! `\Deleted` and `UID EXPUNGE` of exactly those messages (`--without-move`
//! forces the fallback; without UIDPLUS either it refuses rather than
//! expunge other deleted messages). Prints one line per target mailbox; a
//! progress bar (messages moved of those found) shows on a terminal.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 archive.wasm --user alice --password secret \
//!     [--mailbox INBOX] [--days 365] [--root Archive] [--without-move] [--dry-run]
//! ```

use std::collections::BTreeMap;

use wasimap_sdk::mail::{self, Date};
use wasimap_sdk::{Args, Client, MoveMethod, Plugin, Progress, Search, SequenceSet};

struct Archive;

impl Plugin for Archive {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls", "without-move", "dry-run"])?;
        let mailbox = args.get_or("mailbox", "INBOX");
        let days: u32 = args.parse_or("days", 365)?;
        let root = args.get_or("root", "Archive");
        let imap = Client::from_args(&args)?;

        imap.select(mailbox)?;
        let cutoff = Date::today().days_before(days);
        let uids = imap.uid_search(&Search::new().before(cutoff).undeleted())?;
        if uids.is_empty() {
            println!("nothing in {mailbox} before {cutoff}");
            return Ok(imap.logout()?);
        }
        // The year comes from each message's internal date (the date the
        // BEFORE search used), in UTC.
        let mut by_year: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for m in imap.uid_fetch(&SequenceSet::of(uids), "UID INTERNALDATE")? {
            // Responses without both are unsolicited flag updates.
            let (Some(uid), Some(date)) = (m.uid, m.internal_date) else {
                continue;
            };
            by_year.entry(mail::utc_date(&date).year).or_default().push(uid);
        }
        let delimiter = imap
            .list("", "")?
            .first()
            .and_then(|e| e.delimiter.clone())
            .unwrap_or_else(|| "/".into());
        let found = by_year.values().map(|u| u.len() as u64).sum();
        let mut progress = Progress::new(format!("archive {mailbox}"), Some(found));
        for (year, uids) in by_year {
            let target = format!("{root}{delimiter}{year}");
            progress.set_label(format!("archive {mailbox} to {target}"));
            if args.flag("dry-run") {
                println!("would move {} message(s) to {target}", uids.len());
                continue;
            }
            if imap.ensure_mailbox(&target)? {
                println!("created {target}");
            }
            let how = imap.uid_move(
                &SequenceSet::of(uids.iter().copied()),
                &target,
                !args.flag("without-move"),
            )?;
            let how = match how {
                MoveMethod::Move => "MOVE",
                MoveMethod::CopyDeleteExpunge => "COPY+STORE+EXPUNGE",
            };
            progress.inc(uids.len() as u64);
            println!("moved {} message(s) to {target} ({how})", uids.len());
        }
        progress.finish();
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Archive);
