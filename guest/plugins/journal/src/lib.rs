//! `journal`: a watcher plugin (`wasimap watch`) that writes one line per
//! new message, `ACCOUNT MAILBOX UIDVALIDITY UID MESSAGE-ID` (`-` when the
//! message has none), which the watcher appends to its output exactly
//! once.
//!
//! Plugin arguments (the manifest's `plugin-args`): `--fail-subject TEXT`
//! fails every batch holding a message whose subject contains TEXT, before
//! anything is written (so a failed batch leaves no line behind); the
//! watcher then retries each message alone and dead-letters the one that
//! keeps failing. `--pause-ms N` waits N ms before writing, a stand-in
//! for slow work (the tests kill the watcher during it); `--spin-ms N`
//! computes for N ms instead (a plugin that never blocks); with
//! `--slow-accounts PREFIX` either applies only to the batches of accounts
//! whose name starts with PREFIX (one account's mail that is costly to
//! handle, beside the others' that is not). `--logout` logs
//! the lent session out, as a careless plugin would (the watcher must
//! reconnect and lose nothing); `--try-enable` tries `ENABLE UTF8=ACCEPT`
//! on it, which is refused, and says so on stderr.
//!
//! Run once (`wasimap run journal.wasm --user U --password P [--mailbox M]`),
//! it writes the journal of every message in the mailbox.

use wasimap_sdk::watch::{Batch, Watcher};
use wasimap_sdk::{Args, Client, FetchMessage, Plugin, SequenceSet};

struct Journal;

/// The message's Message-ID without spaces (a line has five fields).
fn message_id(m: &FetchMessage) -> String {
    m.envelope
        .as_ref()
        .and_then(|e| e.message_id.as_ref())
        .map(|id| String::from_utf8_lossy(id).split_whitespace().collect::<String>())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn subject(m: &FetchMessage) -> String {
    m.envelope
        .as_ref()
        .and_then(|e| e.subject.as_ref())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default()
}

/// The journal lines of `uids` (those still in the mailbox), or the
/// reason the batch fails.
fn lines(
    imap: &Client,
    account: &str,
    mailbox: &str,
    uidvalidity: u32,
    uids: &[u32],
    fail: Option<&str>,
) -> Result<String, String> {
    let mut messages = imap.uid_fetch(&SequenceSet::of(uids.iter().copied()), "UID ENVELOPE")?;
    // Unsolicited FETCH responses (flag changes) carry no ENVELOPE.
    messages.retain(|m| m.uid.is_some() && m.envelope.is_some());
    messages.sort_by_key(|m| m.uid);
    if let Some(text) = fail {
        if let Some(m) = messages.iter().find(|m| subject(m).contains(text)) {
            return Err(format!("uid {}: subject contains {text:?}", m.uid.unwrap_or(0)));
        }
    }
    let mut out = String::new();
    for m in &messages {
        out.push_str(&format!(
            "{account} {mailbox} {uidvalidity} {} {}\n",
            m.uid.unwrap_or(0),
            message_id(m)
        ));
    }
    Ok(out)
}

impl Plugin for Journal {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls"])?;
        let imap = Client::from_args(&args)?;
        let mailbox = args.get_or("mailbox", "INBOX");
        imap.examine(mailbox)?;
        let uidvalidity = imap
            .status(mailbox, "UIDVALIDITY")?
            .items
            .iter()
            .find(|(k, _)| k == "UIDVALIDITY")
            .map_or(0, |(_, v)| *v as u32);
        let uids = imap.uid_search(&wasimap_sdk::Search::new())?;
        if !uids.is_empty() {
            print!("{}", lines(&imap, "-", mailbox, uidvalidity, &uids, None)?);
        }
        imap.logout()?;
        Ok(())
    }
}

impl Watcher for Journal {
    fn handle(batch: Batch) -> Result<(), String> {
        let args = Args::parse(&batch.args, &["logout", "try-enable"])?;
        let imap = batch.open()?;
        if args.flag("try-enable") {
            match imap.raw().enable("UTF8=ACCEPT") {
                Ok(r) => eprintln!("ENABLE on the lent session: {}", r.typ),
                Err(e) => eprintln!("ENABLE on the lent session: {}", wasimap_sdk::Error::from(e)),
            }
        }
        let out = lines(
            &imap,
            &batch.account,
            &batch.mailbox,
            batch.uidvalidity,
            &batch.uids,
            args.get("fail-subject"),
        )?;
        if args.flag("logout") {
            imap.logout()?;
        } else {
            // Dropped, the watcher's session goes back to it.
            drop(imap);
        }
        let slow = args
            .get("slow-accounts")
            .is_none_or(|prefix| batch.account.starts_with(prefix));
        let millis = |name: &str| -> Result<Option<u64>, String> {
            args.get(name)
                .map(|ms| ms.parse().map_err(|_| format!("--{name} {ms:?} is not a number")))
                .transpose()
        };
        if let (true, Some(ms)) = (slow, millis("pause-ms")?) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if let (true, Some(ms)) = (slow, millis("spin-ms")?) {
            let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
            let mut n: u64 = 0;
            while std::time::Instant::now() < end {
                for _ in 0..10_000 {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
        }
        // One write: the watcher records the batch with all its lines.
        print!("{out}");
        Ok(())
    }
}

wasimap_sdk::export_watcher!(Journal);
