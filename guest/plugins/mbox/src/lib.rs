//! `mbox`: exports a mailbox to stdout in mboxrd format, streaming.
//!
//! Uses the streaming FETCH, so memory holds one message whatever the
//! mailbox size. Each message gets a `From sender date` separator line
//! (the sender from the envelope, the date the internal date in UTC),
//! lines starting with `>*From ` get one more `>` (mboxrd), CRLF becomes
//! LF unless `--crlf`. Messages are not marked `\Seen` (`BODY.PEEK`).
//! A progress bar (messages exported of the mailbox's count) shows on a
//! terminal.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 mbox.wasm --user alice --password secret \
//!     [--mailbox INBOX] [--crlf] > INBOX.mbox
//! ```

use std::io::Write;

use wasimap_sdk::mail::{self, Date};
use wasimap_sdk::{take_section, Args, Client, FetchMessage, Plugin, Progress, SequenceSet};

struct Mbox;

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// `From sender Www Mmm dd hh:mm:ss yyyy` (asctime, UTC).
fn separator(m: &FetchMessage) -> String {
    let sender = m
        .envelope
        .as_ref()
        .and_then(mail::sender)
        // The separator line is split on spaces by readers.
        .filter(|s| s.is_ascii() && !s.contains(|c: char| c.is_ascii_whitespace()))
        .unwrap_or_else(|| "MAILER-DAEMON".into());
    let t = m.internal_date.map_or(0, |d| mail::unix_time(&d));
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let date = Date::from_days(days);
    format!(
        "From {sender} {} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        date.month_name(),
        date.day,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        date.year
    )
}

/// Writes one message body: mboxrd quoting, line endings as asked.
fn write_body(out: &mut impl Write, body: &[u8], crlf: bool) -> std::io::Result<()> {
    let mut lines = body.split_inclusive(|&c| c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let quotes = content.iter().take_while(|&&c| c == b'>').count();
        if content[quotes..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(content)?;
        if line.ends_with(b"\n") || lines.peek().is_none() {
            out.write_all(if crlf { b"\r\n" } else { b"\n" })?;
        }
    }
    Ok(())
}

/// Separator line, body, blank line.
fn write_message(out: &mut impl Write, m: &FetchMessage, body: &[u8], crlf: bool) -> std::io::Result<()> {
    out.write_all(separator(m).as_bytes())?;
    out.write_all(if crlf { b"\r\n" } else { b"\n" })?;
    write_body(out, body, crlf)?;
    out.write_all(if crlf { b"\r\n" } else { b"\n" })
}

impl Plugin for Mbox {
    fn run(args: Vec<String>) -> Result<(), String> {
        let args = Args::parse(&args, &["tls", "starttls", "crlf"])?;
        let mailbox = args.get_or("mailbox", "INBOX");
        let crlf = args.flag("crlf");
        let imap = Client::from_args(&args)?;
        let count = imap.examine(mailbox)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let mut progress = Progress::new(format!("mbox {mailbox}"), Some(count.into()));
        if count > 0 {
            let messages = imap.stream(&SequenceSet::all(), "UID INTERNALDATE ENVELOPE BODY.PEEK[]", false)?;
            for m in messages {
                let mut m = m?;
                // A FETCH without the body is an unsolicited flag update
                // (another client's change), not one of the messages asked for.
                let Some(body) = take_section(&mut m, "BODY", "") else {
                    continue;
                };
                write_message(&mut out, &m, &body, crlf).map_err(|e| format!("writing stdout: {e}"))?;
                progress.inc(1);
            }
        }
        out.flush().map_err(|e| format!("writing stdout: {e}"))?;
        drop(out);
        let exported = progress.done();
        progress.finish();
        eprintln!("exported {exported} message(s) from {mailbox}");
        imap.logout()?;
        Ok(())
    }
}

wasimap_sdk::export_plugin!(Mbox);
