//! The example plugins (`guest/plugins/{archive,dedupe,mbox,report,
//! template,triage}`), each run against Dovecot, Cyrus and Courier (over
//! its pre-authenticated stream, `--stream`). Mailboxes are seeded and
//! checked afterwards through CPython's imaplib, so what is asserted is the
//! server's state, seen by an independent client. Where a server answers
//! differently (Courier's `INBOX.` namespace, no MOVE), the test asserts
//! that server's answer.

use serde_json::{json, Value};
use wasimap_tests::{b, python_shell, run_plugin_on, Server};

/// `#[test]`s named `dovecot`, `cyrus` and `courier` in a module `$test`,
/// each running `fn $test(server)` against that server.
macro_rules! on_each_server {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[test]
            fn dovecot() {
                super::$test(wasimap_tests::dovecot());
            }
            #[test]
            fn cyrus() {
                super::$test(wasimap_tests::cyrus());
            }
            #[test]
            fn courier() {
                super::$test(wasimap_tests::courier());
            }
        }
    )*};
}

on_each_server!(
    archive_moves_old_messages_by_year_with_move,
    archive_falls_back_to_copy_store_expunge,
    dedupe_keeps_the_first_of_each_message_id,
    mbox_exports_every_message_unchanged_and_unseen,
    report_counts_senders_and_sizes,
    template_lists_mailboxes_with_counts,
    triage_moves_unseen_mail_from_the_sender,
);

/// Runs `plugin` for `user` with `more` arguments; its stdout, after
/// checking that it succeeded.
fn run(server: &'static Server, plugin: &str, user: &str, more: &[&str]) -> String {
    let mut args = server.plugin_args(user);
    args.extend(more.iter().map(|s| s.to_string()));
    let out = run_plugin_on(server, plugin, &args, b"");
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
fn imaplib(server: &Server, user: &str, calls: &[Value]) -> Vec<Value> {
    let mut script = server.open_lines(user);
    let opening = script.len();
    script.extend_from_slice(calls);
    let answers = python_shell(&script);
    for (call, answer) in script.iter().zip(&answers) {
        assert!(answer.get("error").is_none(), "{call} -> {answer}");
    }
    answers[opening..].to_vec()
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

/// Subjects of every message in `mailbox` (written with `/`, in the
/// server's namespace), in UID order.
fn subjects(server: &Server, user: &str, mailbox: &str) -> Vec<String> {
    let a = imaplib(
        server,
        user,
        &[
            json!(["select", server.mailbox(mailbox), true]),
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

fn seed_archive(server: &Server, user: &str) {
    imaplib(
        server,
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

/// The `--root` of the archive plugin: `Archive`, which Courier refuses
/// outside its `INBOX.` namespace, so there `INBOX.Archive`.
fn archive_root(server: &Server) -> String {
    server.mailbox("Archive")
}

/// How the archive plugin moves on `server`: Courier has no MOVE.
fn move_method(server: &Server) -> &'static str {
    match server.name() {
        "courier" => "COPY+STORE+EXPUNGE",
        _ => "MOVE",
    }
}

fn archive_moves_old_messages_by_year_with_move(server: &'static Server) {
    let user = server.new_user("archive");
    seed_archive(server, &user);
    if server.name() == "courier" {
        // The default root is outside Courier's namespace: its own NO.
        let mut args = server.plugin_args(&user);
        args.extend(["--days".to_string(), "30".to_string()]);
        let out = run_plugin_on(server, "archive", &args, b"");
        let err = format!("{:?}", out.result);
        assert!(err.contains("Invalid mailbox name."), "{err}");
        assert_eq!(subjects(server, &user, "INBOX").len(), 5, "nothing moved");
    }
    let root = archive_root(server);
    let out = run(server, "archive", &user, &["--days", "30", "--root", &root]);
    let (y2023, y2024) = (server.mailbox("Archive/2023"), server.mailbox("Archive/2024"));
    assert!(
        out.contains(&format!("moved 2 message(s) to {y2024} ({})", move_method(server))),
        "{out}"
    );
    assert!(out.contains(&format!("created {y2023}")), "{out}");
    assert_eq!(subjects(server, &user, "INBOX"), ["recent"]);
    assert_eq!(subjects(server, &user, "Archive/2023"), ["old 2023"]);
    assert_eq!(subjects(server, &user, "Archive/2024"), ["old 2024 a", "old 2024 b"]);
    // 23:30 at -0200 is 01:30 UTC on 1 January 2025.
    assert_eq!(subjects(server, &user, "Archive/2025"), ["old 2025 utc"]);
    // A second run finds nothing left to do.
    let out = run(server, "archive", &user, &["--days", "30", "--root", &root]);
    assert!(out.starts_with("nothing in INBOX before "), "{out}");
}

fn archive_falls_back_to_copy_store_expunge(server: &'static Server) {
    let user = server.new_user("archive-copy");
    seed_archive(server, &user);
    // A recent message already marked \Deleted by someone else must survive
    // the fallback's expunge, which removes only the archived UIDs.
    imaplib(
        server,
        &user,
        &[json!([
            "append",
            "INBOX",
            "\\Deleted",
            null,
            b(&message("f@example.org", "keep me", "", "x\r\n"))
        ])],
    );
    let root = archive_root(server);
    let out = run(
        server,
        "archive",
        &user,
        &["--days", "30", "--without-move", "--root", &root],
    );
    assert!(
        out.contains(&format!(
            "moved 1 message(s) to {} (COPY+STORE+EXPUNGE)",
            server.mailbox("Archive/2023")
        )),
        "{out}"
    );
    assert_eq!(subjects(server, &user, "INBOX"), ["recent", "keep me"]);
    assert_eq!(subjects(server, &user, "Archive/2024"), ["old 2024 a", "old 2024 b"]);
    assert_eq!(subjects(server, &user, "Archive/2025"), ["old 2025 utc"]);
}

fn dedupe_keeps_the_first_of_each_message_id(server: &'static Server) {
    let user = server.new_user("dedupe");
    let with_id =
        |id: &str, subject: &str| message("a@example.org", subject, &format!("Message-ID: <{id}>\r\n"), "x\r\n");
    imaplib(
        server,
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
    let out = run(server, "dedupe", &user, &["--dry-run"]);
    assert_eq!(out.trim(), "INBOX: would remove 3 duplicate(s)");
    assert_eq!(subjects(server, &user, "INBOX").len(), 7);
    let out = run(server, "dedupe", &user, &[]);
    assert_eq!(out.trim(), "INBOX: removed 3 duplicate(s): UIDs 3,5,7");
    assert_eq!(subjects(server, &user, "INBOX"), ["a1", "b1", "no id 1", "no id 2"]);
    let a = imaplib(
        server,
        &user,
        &[json!(["select", "INBOX"]), json!(["uid", "SEARCH", "ALL"])],
    );
    assert_eq!(line(&a[1]), "1 2 4 6");
    assert_eq!(run(server, "dedupe", &user, &[]).trim(), "INBOX: no duplicates");
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

fn mbox_exports_every_message_unchanged_and_unseen(server: &'static Server) {
    let user = server.new_user("mbox");
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
        server,
        &user,
        &[
            append("INBOX", Some("05-Jan-2024 07:08:09 +0000"), &msgs[0]),
            append("INBOX", Some("06-Jan-2024 23:59:59 -0100"), &msgs[1]),
            append("INBOX", None, &msgs[2]),
        ],
    );
    let out = run_plugin_on(server, "mbox", &server.plugin_args(&user), b"");
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
    let a = imaplib(server, &user, &[json!(["status", "INBOX", "(MESSAGES UNSEEN)"])]);
    let inbox = match server.name() {
        "courier" => "\"INBOX\"",
        _ => "INBOX",
    };
    assert_eq!(line(&a[0]), format!("{inbox} (MESSAGES 3 UNSEEN 3)"));
}

fn report_counts_senders_and_sizes(server: &'static Server) {
    let user = server.new_user("report");
    let m1 = message("Boss <boss@example.org>", "one", "", "a\r\n");
    let m2 = message("boss@EXAMPLE.org", "two", "", &"b".repeat(500));
    let m3 = message("other@example.org", "three", "", "c\r\n");
    let (empty, ete) = (server.mailbox("Empty"), server.mailbox("&AOk-t&AOk-"));
    imaplib(
        server,
        &user,
        &[
            append("INBOX", None, &m1),
            append("INBOX", None, &m2),
            append("INBOX", None, &m3),
            json!(["create", empty]),
            json!(["create", ete]),
            append(&ete, None, &m3),
        ],
    );
    let out = run(server, "report", &user, &[]);
    // The sizes the server reports, read by CPython: what was appended,
    // except that Courier ends m2 (no final line end) with a CRLF it adds.
    let a = imaplib(
        server,
        &user,
        &[
            json!(["select", "INBOX", true]),
            json!(["fetch", "1:3", "(RFC822.SIZE)"]),
        ],
    );
    let sizes: Vec<usize> = a[1]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["b"]
                .as_str()
                .unwrap()
                .trim_end_matches(')')
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let added = if server.name() == "courier" { 2 } else { 0 };
    assert_eq!(sizes, [m1.len(), m2.len() + added, m3.len()]);
    let boss = sizes[0] + sizes[1];
    let expected = format!(
        "INBOX: 3 message(s), {} bytes\n  {:>6} {:>10}  boss@example.org\n  {:>6} {:>10}  other@example.org\n",
        boss + sizes[2],
        2,
        boss,
        1,
        sizes[2]
    );
    assert!(out.contains(&expected), "{out}\nexpected:\n{expected}");
    assert!(out.contains(&format!("{empty}: 0 message(s), 0 bytes\n")), "{out}");
    // The name decoded from modified UTF-7; Courier's under `INBOX.`.
    let shown = server.mailbox("été");
    assert!(
        out.contains(&format!("{shown}: 1 message(s), {} bytes\n", sizes[2])),
        "{out}"
    );
    let out = run(server, "report", &user, &["--mailbox", "INBOX", "--top", "1"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // EXAMINE only: the messages are still unseen.
    let a = imaplib(server, &user, &[json!(["status", "INBOX", "(UNSEEN)"])]);
    assert!(line(&a[0]).ends_with(" (UNSEEN 3)"), "{}", a[0]);
}

fn template_lists_mailboxes_with_counts(server: &'static Server) {
    let user = server.new_user("template");
    let work = server.mailbox("Work");
    imaplib(
        server,
        &user,
        &[
            append("INBOX", None, &message("a@example.org", "x", "", "x\r\n")),
            json!(["create", work]),
        ],
    );
    let out = run(server, "template", &user, &[]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["INBOX", "1", "1"]), "{out}");
    assert!(rows.contains(&vec![work.as_str(), "0", "0"]), "{out}");
}

/// The triage plugin (raw bindings, no SDK): the overview table, the
/// sender rule, and the move (COPY + STORE + EXPUNGE where the server has
/// no MOVE: Courier).
fn triage_moves_unseen_mail_from_the_sender(server: &'static Server) {
    let user = server.new_user("triage");
    let important = server.mailbox("Important");
    let mail = |from: &str, subject: &str| b(&format!("From: {from}\r\nSubject: {subject}\r\n\r\nbody\r\n"));
    imaplib(
        server,
        &user,
        &[
            json!(["create", important]),
            json!(["append", "INBOX", null, null, mail("boss@example.org", "Budget")]),
            json!(["append", "INBOX", null, null, mail("other@example.org", "Lunch")]),
            json!([
                "append",
                "INBOX",
                "\\Seen",
                null,
                mail("boss@example.org", "Seen already")
            ]),
            json!(["append", "INBOX", null, null, mail("boss@example.org", "Agenda")]),
        ],
    );
    let out = run(
        server,
        "triage",
        &user,
        &["--from", "boss@example.org", "--move-to", &important],
    );
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["INBOX", "4", "3"]), "{out}");
    assert!(rows.contains(&vec![important.as_str(), "0", "0"]), "{out}");
    // TOTAL sums the rows (a shared server may list other users' mailboxes).
    let table: Vec<_> = rows[1..].iter().take_while(|r| r.first() != Some(&"TOTAL")).collect();
    let column = |i: usize| -> u64 { table.iter().map(|r| r[r.len() - 3 + i].parse::<u64>().unwrap()).sum() };
    let total = rows.iter().find(|r| r.first() == Some(&"TOTAL")).unwrap();
    assert_eq!(total[1..], [column(1).to_string(), column(2).to_string()], "{out}");
    assert!(
        out.contains("2 unseen message(s) from boss@example.org in INBOX"),
        "{out}"
    );
    assert!(out.contains("  - Budget") && out.contains("  - Agenda"), "{out}");
    assert!(out.contains(&format!("moved 2 message(s) to {important}")), "{out}");
    assert_eq!(subjects(server, &user, "INBOX"), ["Lunch", "Seen already"]);
    assert_eq!(subjects(server, &user, "Important"), ["Budget", "Agenda"]);
}
