//! The example plugins built on the SDK (`guest/plugins/{archive,dedupe,
//! mbox,report,template}`), each run against Dovecot. Mailboxes are
//! seeded and checked afterwards through CPython's imaplib, so what is
//! asserted is the server's state, seen by an independent client.

use serde_json::{json, Value};
use wasimap_tests::{b, dovecot, plugin_login_args, python_shell, run_plugin, unique_user};

/// The connection arguments every example plugin takes.
fn login_args(user: &str) -> Vec<String> {
    plugin_login_args(user, dovecot().password())
}

/// Runs `plugin` for `user` with `more` arguments; its stdout, after
/// checking that it succeeded.
fn run(plugin: &str, user: &str, more: &[&str]) -> String {
    let mut args = login_args(user);
    args.extend(more.iter().map(|s| s.to_string()));
    let out = run_plugin(plugin, &args, b"");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        matches!(out.result, Ok(Ok(()))),
        "{plugin}: {:?}\nstdout: {stdout}\nstderr: {}",
        out.result,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A CPython imaplib session for `user` running `calls`; the answers to
/// `calls` (after the open and login lines), each checked to be no error.
fn imaplib(user: &str, calls: &[Value]) -> Vec<Value> {
    let d = dovecot();
    let mut script = vec![
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["login", user, d.password()]),
    ];
    script.extend_from_slice(calls);
    let answers = python_shell(&script);
    for (call, answer) in script.iter().zip(&answers) {
        assert!(answer.get("error").is_none(), "{call} -> {answer}");
    }
    answers[2..].to_vec()
}

fn message(from: &str, subject: &str, extra: &str, body: &str) -> String {
    format!("From: {from}\r\nTo: me@example.org\r\nSubject: {subject}\r\n{extra}\r\n{body}")
}

fn append(mailbox: &str, date: Option<&str>, msg: &str) -> Value {
    json!(["append", mailbox, null, date.map(|d| format!("\"{d}\"")), b(msg)])
}

/// The `(b'...')` text of a one-line answer.
fn line(answer: &Value) -> String {
    answer["data"][0]["b"].as_str().unwrap_or_default().to_string()
}

/// Subjects of every message in `mailbox`, in UID order.
fn subjects(user: &str, mailbox: &str) -> Vec<String> {
    let a = imaplib(
        user,
        &[
            json!(["select", mailbox, true]),
            json!(["fetch", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"]),
        ],
    );
    let Some(items) = a[1]["data"].as_array() else {
        return vec![];
    };
    items
        .iter()
        .filter_map(|i| i.as_array())
        .map(|pair| {
            pair[1]["b"]
                .as_str()
                .unwrap()
                .trim()
                .trim_start_matches("Subject: ")
                .to_string()
        })
        .collect()
}

fn seed_archive(user: &str) {
    imaplib(
        user,
        &[
            append(
                "INBOX",
                Some("01-Mar-2023 10:00:00 +0000"),
                &message("a@example.org", "old 2023", "", "x\r\n"),
            ),
            append(
                "INBOX",
                Some("15-Jun-2024 10:00:00 +0000"),
                &message("b@example.org", "old 2024 a", "", "x\r\n"),
            ),
            append("INBOX", None, &message("c@example.org", "recent", "", "x\r\n")),
            append(
                "INBOX",
                Some("31-Dec-2024 23:30:00 -0200"),
                &message("d@example.org", "old 2025 utc", "", "x\r\n"),
            ),
            append(
                "INBOX",
                Some("20-Jul-2024 10:00:00 +0000"),
                &message("e@example.org", "old 2024 b", "", "x\r\n"),
            ),
        ],
    );
}

fn assert_archived(user: &str) {
    assert_eq!(subjects(user, "INBOX"), ["recent"]);
    assert_eq!(subjects(user, "Archive/2023"), ["old 2023"]);
    assert_eq!(subjects(user, "Archive/2024"), ["old 2024 a", "old 2024 b"]);
    // 23:30 at -0200 is 01:30 UTC on 1 January 2025.
    assert_eq!(subjects(user, "Archive/2025"), ["old 2025 utc"]);
}

#[test]
fn archive_moves_old_messages_by_year_with_move() {
    let user = unique_user("archive");
    seed_archive(&user);
    let out = run("archive", &user, &["--days", "30"]);
    assert!(out.contains("moved 2 message(s) to Archive/2024 (MOVE)"), "{out}");
    assert!(out.contains("created Archive/2023"), "{out}");
    assert_archived(&user);
    // A second run finds nothing left to do.
    let out = run("archive", &user, &["--days", "30"]);
    assert!(out.starts_with("nothing in INBOX before "), "{out}");
}

#[test]
fn archive_falls_back_to_copy_store_expunge() {
    let user = unique_user("archive-copy");
    seed_archive(&user);
    // A recent message already marked \Deleted by someone else must survive
    // the fallback's expunge, which removes only the archived UIDs.
    imaplib(
        &user,
        &[json!([
            "append",
            "INBOX",
            "\\Deleted",
            null,
            b(&message("f@example.org", "keep me", "", "x\r\n"))
        ])],
    );
    let out = run("archive", &user, &["--days", "30", "--without-move"]);
    assert!(
        out.contains("moved 1 message(s) to Archive/2023 (COPY+STORE+EXPUNGE)"),
        "{out}"
    );
    assert_eq!(subjects(&user, "INBOX"), ["recent", "keep me"]);
    assert_eq!(subjects(&user, "Archive/2024"), ["old 2024 a", "old 2024 b"]);
    assert_eq!(subjects(&user, "Archive/2025"), ["old 2025 utc"]);
}

#[test]
fn dedupe_keeps_the_first_of_each_message_id() {
    let user = unique_user("dedupe");
    let with_id =
        |id: &str, subject: &str| message("a@example.org", subject, &format!("Message-ID: <{id}>\r\n"), "x\r\n");
    imaplib(
        &user,
        &[
            append("INBOX", None, &with_id("a@x", "a1")),
            append("INBOX", None, &with_id("b@x", "b1")),
            append("INBOX", None, &with_id("a@x", "a2")),
            append("INBOX", None, &message("a@example.org", "no id 1", "", "x\r\n")),
            append("INBOX", None, &with_id("a@x", "a3")),
            append("INBOX", None, &message("a@example.org", "no id 2", "", "x\r\n")),
            append("INBOX", None, &with_id("b@x", "b2")),
        ],
    );
    let out = run("dedupe", &user, &["--dry-run"]);
    assert_eq!(out.trim(), "INBOX: would remove 3 duplicate(s)");
    assert_eq!(subjects(&user, "INBOX").len(), 7);
    let out = run("dedupe", &user, &[]);
    assert_eq!(out.trim(), "INBOX: removed 3 duplicate(s): UIDs 3,5,7");
    assert_eq!(subjects(&user, "INBOX"), ["a1", "b1", "no id 1", "no id 2"]);
    let a = imaplib(&user, &[json!(["select", "INBOX"]), json!(["uid", "SEARCH", "ALL"])]);
    assert_eq!(line(&a[1]), "1 2 4 6");
    assert_eq!(run("dedupe", &user, &[]).trim(), "INBOX: no duplicates");
}

/// Splits mboxrd output into message bodies, undoing the `>From ` quoting.
fn read_mbox(mbox: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in mbox.split_inclusive('\n') {
        if let Some(sep) = l.strip_prefix("From ") {
            out.push((sep.trim_end().to_string(), String::new()));
            continue;
        }
        let (_, body) = out.last_mut().expect("mbox starts with a From line");
        let quotes = l.bytes().take_while(|&c| c == b'>').count();
        if quotes > 0 && l[quotes..].starts_with("From ") {
            body.push_str(&l[1..]);
        } else {
            body.push_str(l);
        }
    }
    // Each message is followed by one blank line.
    for (_, body) in &mut out {
        assert!(body.ends_with("\n\n"), "{body:?}");
        body.pop();
    }
    out
}

#[test]
fn mbox_exports_every_message_unchanged_and_unseen() {
    let user = unique_user("mbox");
    let tricky = "From the start of a line\r\n>From quoted once\r\n>>From twice\r\nFromage is not a separator\r\n";
    let msgs = [
        message("alice@example.org", "plain", "", "hello\r\n"),
        message("Bob <bob@Example.NET>", "tricky", "", tricky),
        message(
            "=?UTF-8?B?Sm9zw6k=?= <jose@example.es>",
            "utf-8 body",
            "",
            "caf=C3=A9\r\n",
        ),
    ];
    imaplib(
        &user,
        &[
            append("INBOX", Some("05-Jan-2024 07:08:09 +0000"), &msgs[0]),
            append("INBOX", Some("06-Jan-2024 23:59:59 -0100"), &msgs[1]),
            append("INBOX", None, &msgs[2]),
        ],
    );
    let out = run_plugin("mbox", &login_args(&user), b"");
    assert!(
        matches!(out.result, Ok(Ok(()))),
        "{:?} {}",
        out.result,
        String::from_utf8_lossy(&out.stderr)
    );
    let mbox = String::from_utf8(out.stdout).unwrap();
    let got = read_mbox(&mbox);
    assert_eq!(got.len(), 3, "{mbox}");
    assert_eq!(got[0].0, "alice@example.org Fri Jan  5 07:08:09 2024");
    assert_eq!(got[1].0, "bob@example.net Sun Jan  7 00:59:59 2024");
    for ((_, body), original) in got.iter().zip(&msgs) {
        assert_eq!(body, &original.replace("\r\n", "\n"));
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 3 message(s) from INBOX"));
    // BODY.PEEK: nothing was marked \Seen.
    let a = imaplib(&user, &[json!(["status", "INBOX", "(MESSAGES UNSEEN)"])]);
    assert_eq!(line(&a[0]), "INBOX (MESSAGES 3 UNSEEN 3)");
}

#[test]
fn report_counts_senders_and_sizes() {
    let user = unique_user("report");
    let m1 = message("Boss <boss@example.org>", "one", "", "a\r\n");
    let m2 = message("boss@EXAMPLE.org", "two", "", &"b".repeat(500));
    let m3 = message("other@example.org", "three", "", "c\r\n");
    imaplib(
        &user,
        &[
            append("INBOX", None, &m1),
            append("INBOX", None, &m2),
            append("INBOX", None, &m3),
            json!(["create", "Empty"]),
            json!(["create", "&AOk-t&AOk-"]),
            append("&AOk-t&AOk-", None, &m3),
        ],
    );
    let out = run("report", &user, &[]);
    let boss = m1.len() + m2.len();
    let expected = format!(
        "INBOX: 3 message(s), {} bytes\n  {:>6} {:>10}  boss@example.org\n  {:>6} {:>10}  other@example.org\n",
        boss + m3.len(),
        2,
        boss,
        1,
        m3.len()
    );
    assert!(out.contains(&expected), "{out}\nexpected:\n{expected}");
    assert!(out.contains("Empty: 0 message(s), 0 bytes\n"), "{out}");
    assert!(
        out.contains(&format!("été: 1 message(s), {} bytes\n", m3.len())),
        "{out}"
    );
    let out = run("report", &user, &["--mailbox", "INBOX", "--top", "1"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // EXAMINE only: the messages are still unseen.
    let a = imaplib(&user, &[json!(["status", "INBOX", "(UNSEEN)"])]);
    assert_eq!(line(&a[0]), "INBOX (UNSEEN 3)");
}

#[test]
fn template_lists_mailboxes_with_counts() {
    let user = unique_user("template");
    imaplib(
        &user,
        &[
            append("INBOX", None, &message("a@example.org", "x", "", "x\r\n")),
            json!(["create", "Work"]),
        ],
    );
    let out = run("template", &user, &[]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["INBOX", "1", "1"]), "{out}");
    assert!(rows.contains(&vec!["Work", "0", "0"]), "{out}");
}
