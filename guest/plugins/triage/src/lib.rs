//! `triage`: a mailbox overview and a sender rule, as a wasimap plugin.
//!
//! Logs in, lists every mailbox with its message and unseen counts, finds
//! the unseen messages from a sender in one mailbox, and flags them or
//! moves them to another mailbox (MOVE, or COPY + STORE + EXPUNGE where the
//! server lacks MOVE). Prints a summary table.
//!
//! ```text
//! wasimap run --allow 127.0.0.1:143 triage.wasm \
//!     --host 127.0.0.1 --port 143 --user alice --password secret \
//!     --from boss@example.org [--mailbox INBOX] [--move-to Important | --flag]
//! ```
//!
//! `--stream COMMAND` instead of `--host`/`--port`/`--user`/`--password`
//! runs a pre-authenticated server (imaplib's `IMAP4_stream`; grant it
//! with `--allow-exec`).
//!
//! It is also a watcher plugin (`wasimap watch`): with `plugin-args =
//! ["--from", "boss@example.org", "--move-to", "Important"]` the rule runs
//! on each batch of new messages as they arrive, and one line per message
//! it moved or flagged goes to the watcher's output. Moving a message again
//! after a watcher crash is harmless: a UID that is gone matches nothing.

wit_bindgen::generate!({
    world: "watcher",
    path: "../../../wit",
});

use exports::wasimap::imap::watch::Batch;
use wasimap::imap::client::Imap4;
use wasimap::imap::types::{DataItem, ImapError, Response};

struct Triage;

export!(Triage);

#[derive(Debug)]
struct Options {
    host: String,
    port: u16,
    user: String,
    password: String,
    stream: Option<String>,
    from: String,
    mailbox: String,
    move_to: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 143,
        user: String::new(),
        password: String::new(),
        stream: None,
        from: String::new(),
        mailbox: "INBOX".into(),
        move_to: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => o.host = value()?,
            "--port" => o.port = value()?.parse().map_err(|_| "--port takes a number".to_string())?,
            "--user" => o.user = value()?,
            "--password" => o.password = value()?,
            "--stream" => o.stream = Some(value()?),
            "--from" => o.from = value()?,
            "--mailbox" => o.mailbox = value()?,
            "--move-to" => o.move_to = Some(value()?),
            "--flag" => o.move_to = None,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if (o.user.is_empty() && o.stream.is_none()) || o.from.is_empty() {
        return Err("usage: triage (--user USER --password PASS [--host H] [--port P] | --stream COMMAND) --from SENDER [--mailbox M] [--move-to M | --flag]".into());
    }
    Ok(o)
}

fn err(e: ImapError) -> String {
    match e {
        ImapError::Error(d) => format!("IMAP error: {}", d.message),
        ImapError::Abort(d) => format!("IMAP connection aborted: {}", d.message),
        ImapError::Readonly(d) => format!("mailbox became read-only: {}", d.message),
    }
}

fn ok(r: Response, what: &str) -> Result<Response, String> {
    if r.typ == "OK" {
        Ok(r)
    } else {
        let text = r.data.first().map(line).unwrap_or_default();
        Err(format!("{what} failed: {} {}", r.typ, String::from_utf8_lossy(&text)))
    }
}

fn line(d: &DataItem) -> Vec<u8> {
    match d {
        DataItem::None => Vec::new(),
        DataItem::Bytes(b) => b.clone(),
        DataItem::Literal((h, _)) => h.clone(),
    }
}

/// Undoes RFC 3501 quoting of a quoted string.
fn unquote(s: &[u8]) -> Vec<u8> {
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &c in inner {
        if c == b'\\' && !escaped {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// The mailbox names of LIST data: `(\Flags) "/" name`, where the name is
/// an atom, a quoted string, or the literal of a `(header, literal)` item.
fn mailbox_names(data: &[DataItem]) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    for d in data {
        let (name, flags) = match d {
            DataItem::Literal((h, l)) => (l.clone(), h.clone()),
            DataItem::Bytes(b) => {
                let Some(close) = b.iter().position(|&c| c == b')') else {
                    continue;
                };
                let rest = b[close + 1..].trim_ascii_start();
                // Skip the delimiter: a quoted char or NIL.
                let after = if rest.starts_with(b"\"") {
                    let end = rest[1..].iter().position(|&c| c == b'"').map_or(rest.len(), |p| p + 2);
                    &rest[end.min(rest.len())..]
                } else {
                    rest.get(3..).unwrap_or_default()
                };
                let raw = after.trim_ascii();
                let name = if raw.len() >= 2 && raw.starts_with(b"\"") {
                    unquote(raw)
                } else {
                    raw.to_vec()
                };
                (name, b[..close].to_vec())
            }
            DataItem::None => continue,
        };
        let selectable = !String::from_utf8_lossy(&flags)
            .to_ascii_lowercase()
            .contains("\\noselect");
        names.push((String::from_utf8_lossy(&name).into_owned(), selectable));
    }
    names
}

/// `(MESSAGES 3 UNSEEN 1)` values from a STATUS line.
fn status_counts(data: &[DataItem]) -> (u64, u64) {
    let text = data.first().map(line).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let items = text
        .rsplit_once('(')
        .map(|(_, r)| r.trim_end_matches(')'))
        .unwrap_or("");
    let words: Vec<&str> = items.split_whitespace().collect();
    let get = |k: &str| {
        words
            .windows(2)
            .find(|w| w[0].eq_ignore_ascii_case(k))
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(0)
    };
    (get("MESSAGES"), get("UNSEEN"))
}

fn numbers(data: &[DataItem]) -> Vec<String> {
    data.iter()
        .flat_map(|d| {
            String::from_utf8_lossy(&line(d))
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The Subject header value from a `BODY[HEADER.FIELDS (SUBJECT)]` literal.
fn subject(header: &[u8]) -> String {
    let text = String::from_utf8_lossy(header);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject:").or_else(|| l.strip_prefix("subject:")))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "(no subject)".into())
}

fn run(o: &Options) -> Result<(), String> {
    let imap = match &o.stream {
        // A PREAUTH greeting: the session starts logged in.
        Some(command) => Imap4::open_stream(command, Some(30.0)).map_err(err)?,
        None => {
            let imap = Imap4::open_tcp(&o.host, o.port, Some(30.0)).map_err(err)?;
            ok(imap.login(&o.user, &o.password).map_err(err)?, "LOGIN")?;
            imap
        }
    };

    let list = ok(imap.list(None, None).map_err(err)?, "LIST")?;
    let mailboxes = mailbox_names(&list.data);
    println!("{:<28} {:>8} {:>8}", "MAILBOX", "MESSAGES", "UNSEEN");
    let (mut total, mut unseen_total) = (0, 0);
    for (name, selectable) in &mailboxes {
        if !selectable {
            continue;
        }
        let st = ok(imap.status(name, "(MESSAGES UNSEEN)").map_err(err)?, "STATUS")?;
        let (messages, unseen) = status_counts(&st.data);
        total += messages;
        unseen_total += unseen;
        println!("{name:<28} {messages:>8} {unseen:>8}");
    }
    println!("{:<28} {total:>8} {unseen_total:>8}", "TOTAL");
    println!();

    ok(imap.select(Some(&o.mailbox), false).map_err(err)?, "SELECT")?;
    let found = ok(
        imap.uid("SEARCH", &["UNSEEN".into(), "FROM".into(), o.from.clone()])
            .map_err(err)?,
        "SEARCH",
    )?;
    let uids = numbers(&found.data);
    println!("{} unseen message(s) from {} in {}", uids.len(), o.from, o.mailbox);
    if !uids.is_empty() {
        let set = uids.join(",");
        let fetched = ok(
            imap.uid("FETCH", &[set.clone(), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])".into()])
                .map_err(err)?,
            "FETCH",
        )?;
        for d in &fetched.data {
            if let DataItem::Literal((_, body)) = d {
                println!("  - {}", subject(body));
            }
        }
        apply(&imap, &set, o.move_to.as_deref())?;
        match &o.move_to {
            None => println!("flagged {} message(s)", uids.len()),
            Some(target) => println!("moved {} message(s) to {target}", uids.len()),
        }
    }
    imap.logout().map_err(err)?;
    Ok(())
}

/// The rule's action on the messages of `set` (UIDs) in the selected
/// mailbox: `\Flagged`, or a move to `move_to` (MOVE, or COPY + STORE +
/// EXPUNGE where the server lacks MOVE).
fn apply(imap: &Imap4, set: &str, move_to: Option<&str>) -> Result<(), String> {
    let Some(target) = move_to else {
        ok(
            imap.uid("STORE", &[set.into(), "+FLAGS".into(), "(\\Flagged)".into()])
                .map_err(err)?,
            "STORE",
        )?;
        return Ok(());
    };
    if imap.capabilities().iter().any(|c| c == "MOVE") {
        ok(imap.uid("MOVE", &[set.into(), target.into()]).map_err(err)?, "MOVE")?;
    } else {
        ok(imap.uid("COPY", &[set.into(), target.into()]).map_err(err)?, "COPY")?;
        ok(
            imap.uid("STORE", &[set.into(), "+FLAGS.SILENT".into(), "(\\Deleted)".into()])
                .map_err(err)?,
            "STORE",
        )?;
        // UID EXPUNGE (UIDPLUS) removes only these; a plain EXPUNGE also
        // removes whatever else the user had marked \Deleted.
        if imap.capabilities().iter().any(|c| c == "UIDPLUS") {
            ok(imap.uid("EXPUNGE", &[set.into()]).map_err(err)?, "UID EXPUNGE")?;
        } else {
            ok(imap.expunge().map_err(err)?, "EXPUNGE")?;
        }
    }
    Ok(())
}

/// The batch's session: the watcher's own, lent for the call (logged
/// in), the mailbox selected again.
fn open_batch(batch: &Batch) -> Result<Imap4, String> {
    let imap = Imap4::open_lent(Some(30.0)).map_err(err)?;
    ok(imap.select(Some(&batch.mailbox), false).map_err(err)?, "SELECT")?;
    // The UIDs name these messages only under the batch's UIDVALIDITY.
    let now = numbers(&imap.response("UIDVALIDITY").data);
    if now.first().map(String::as_str) != Some(batch.uidvalidity.to_string().as_str()) {
        return Err(format!(
            "{}: UIDVALIDITY is {now:?} now, not the batch's {}",
            batch.mailbox, batch.uidvalidity
        ));
    }
    Ok(imap)
}

impl Guest for Triage {
    fn run(args: Vec<String>) -> Result<(), String> {
        let options = parse_args(&args)?;
        run(&options)
    }
}

impl exports::wasimap::imap::watch::Guest for Triage {
    /// The rule on the batch's new messages: those from `--from` (seen or
    /// not: they are new) are moved or flagged; one line each.
    fn handle(batch: Batch) -> Result<(), String> {
        let (mut from, mut move_to) = (None, None);
        let mut it = batch.args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--from" => from = Some(value()?),
                "--move-to" => move_to = Some(value()?),
                "--flag" => move_to = None,
                other => {
                    return Err(format!(
                        "unknown plugin argument {other} (triage takes --from, --move-to, --flag)"
                    ))
                }
            }
        }
        let from = from.ok_or("triage as a watcher needs plugin-args [\"--from\", SENDER, ...]")?;
        let imap = open_batch(&batch)?;
        let batch_set: Vec<String> = batch.uids.iter().map(u32::to_string).collect();
        let found = ok(
            imap.uid(
                "SEARCH",
                &["UID".into(), batch_set.join(","), "FROM".into(), from.clone()],
            )
            .map_err(err)?,
            "SEARCH",
        )?;
        let uids = numbers(&found.data);
        if !uids.is_empty() {
            apply(&imap, &uids.join(","), move_to.as_deref())?;
        }
        // The watcher's session: given back when dropped, not logged out.
        drop(imap);
        let done = move_to.map_or("flagged".to_string(), |t| format!("moved to {t}"));
        for uid in &uids {
            println!("{} {} {} {uid} {done}", batch.account, batch.mailbox, batch.uidvalidity);
        }
        Ok(())
    }
}
