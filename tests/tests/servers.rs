//! The same imaplib session on each real server the project runs (Dovecot
//! 2.3, Cyrus IMAP 3.6, Courier-IMAP 5.0 in stream mode), through wasimap
//! (shell plugin → protocol component → host) and through CPython's
//! imaplib, compared line by line; then what each server supports or lacks
//! is asserted as that server's own answer (docs/servers.md is the table
//! of these results).

use serde_json::{json, Value};
use wasimap_tests::{assert_same, b, courier, cyrus, differential_on, dovecot, Server};

/// How a server names folders: personal namespace prefix and separator.
struct Names {
    prefix: &'static str,
    sep: &'static str,
}

impl Names {
    fn of(server: &Server) -> Names {
        match server.name() {
            "courier" => Names {
                prefix: "INBOX.",
                sep: ".",
            },
            _ => Names { prefix: "", sep: "/" },
        }
    }

    fn mbox(&self, path: &[&str]) -> String {
        format!("{}{}", self.prefix, path.join(self.sep))
    }
}

fn msg(from: &str, subject: &str) -> Value {
    b(&format!(
        "From: {from}\r\nTo: team@example.org\r\nSubject: {subject}\r\nDate: Thu, 01 Feb 2024 10:00:00 +0100\r\n\
         Message-ID: <{subject}@d>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nbody of {subject}\r\n"
    ))
}

/// Every imaplib method, labelled so that each server's answer to the
/// interesting ones can be looked up by name.
fn session(n: &Names, user: &str) -> Vec<(&'static str, Value)> {
    let work = n.mbox(&["Work"]);
    let sub = n.mbox(&["Work", "Sub"]);
    let renamed = n.mbox(&["Work", "Renamed"]);
    let ro = n.mbox(&["RO"]);
    let pattern = format!("{work}{}%", n.sep);
    vec![
        ("capability", json!(["capability"])),
        ("noop", json!(["noop"])),
        ("capabilities", json!(["getattr", "capabilities"])),
        ("version", json!(["getattr", "PROTOCOL_VERSION"])),
        ("state", json!(["getattr", "state"])),
        ("welcome", json!(["getattr", "welcome"])),
        ("enable", json!(["enable", "CONDSTORE"])),
        ("create", json!(["create", work])),
        ("create sub", json!(["create", sub])),
        ("list", json!(["list"])),
        ("list pattern", json!(["list", "\"\"", pattern])),
        ("subscribe", json!(["subscribe", work])),
        ("lsub", json!(["lsub"])),
        ("unsubscribe", json!(["unsubscribe", work])),
        ("lsub after", json!(["lsub"])),
        (
            "append",
            json!([
                "append",
                "INBOX",
                "(\\Seen)",
                "\"01-Feb-2024 10:00:00 +0100\"",
                msg("ann@example.org", "alpha")
            ]),
        ),
        (
            "append plain",
            json!([
                "append",
                "INBOX",
                null,
                "\"02-Feb-2024 10:00:00 +0100\"",
                msg("bob@example.org", "beta")
            ]),
        ),
        (
            "append flag",
            json!([
                "append",
                "INBOX",
                "\\Flagged",
                "\"03-Feb-2024 10:00:00 +0100\"",
                msg("ann@example.org", "gamma")
            ]),
        ),
        ("status", json!(["status", "INBOX", "(MESSAGES UNSEEN UIDNEXT)"])),
        ("search unselected", json!(["search", null, "ALL"])),
        ("select", json!(["select", "INBOX"])),
        ("flags", json!(["response", "FLAGS"])),
        ("permanentflags", json!(["response", "PERMANENTFLAGS"])),
        ("recent", json!(["recent"])),
        ("fetch", json!(["fetch", "1:*", "(FLAGS INTERNALDATE RFC822.SIZE)"])),
        ("fetch rfc822", json!(["fetch", "1", "(RFC822)"])),
        (
            "fetch header",
            json!(["fetch", "2", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"]),
        ),
        ("fetch envelope", json!(["fetch", "3", "(ENVELOPE BODYSTRUCTURE)"])),
        ("search from", json!(["search", null, "FROM", "ann@example.org"])),
        ("search charset", json!(["search", "UTF-8", "UNSEEN"])),
        (
            "search keylist",
            json!(["search", null, "(OR FROM \"bob@example.org\" (FLAGGED))"]),
        ),
        ("sort", json!(["sort", "(SUBJECT)", "UTF-8", "ALL"])),
        ("thread", json!(["thread", "REFERENCES", "UTF-8", "ALL"])),
        ("store", json!(["store", "1", "+FLAGS", "(\\Answered)"])),
        ("uid fetch", json!(["uid", "FETCH", "1:*", "(UID FLAGS)"])),
        ("uid search", json!(["uid", "SEARCH", "ALL"])),
        ("uid store", json!(["uid", "STORE", "2", "+FLAGS.SILENT", "(\\Seen)"])),
        ("uid sort", json!(["uid", "SORT", "(REVERSE SUBJECT)", "UTF-8", "ALL"])),
        ("uid thread", json!(["uid", "THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL"])),
        ("copy", json!(["copy", "1", work])),
        ("copyuid", json!(["response", "COPYUID"])),
        ("uid copy", json!(["uid", "COPY", "2", work])),
        ("move", json!(["xatom", "MOVE", "3", work])),
        ("check", json!(["check"])),
        ("store deleted", json!(["store", "1", "+FLAGS", "(\\Deleted)"])),
        ("expunge", json!(["expunge"])),
        ("getacl", json!(["getacl", "INBOX"])),
        ("myrights", json!(["myrights", "INBOX"])),
        ("setacl", json!(["setacl", work, "bob", "lr"])),
        ("getacl work", json!(["getacl", work])),
        ("deleteacl", json!(["deleteacl", work, "bob"])),
        ("getquotaroot", json!(["getquotaroot", "INBOX"])),
        ("getquota", json!(["getquota", "\"User quota\""])),
        ("setquota", json!(["setquota", "\"User quota\"", "(STORAGE 512)"])),
        ("namespace", json!(["namespace"])),
        ("id", json!(["xatom", "ID", "(\"name\" \"diff\")"])),
        ("id response", json!(["response", "ID"])),
        ("partial", json!(["partial", "1", "BODY[]", "0", "10"])),
        (
            "getannotation",
            json!(["getannotation", "INBOX", "/comment", "value.priv"]),
        ),
        (
            "setannotation",
            json!(["setannotation", "INBOX", "(/comment (value.priv \"x\"))"]),
        ),
        ("proxyauth", json!(["proxyauth", "bob"])),
        ("uid frob", json!(["uid", "frob"])),
        ("login again", json!(["login", "someone", "x"])),
        ("send", json!(["send", b("RAW1 NOOP\r\n")])),
        ("readline", json!(["readline"])),
        ("unselect", json!(["unselect"])),
        ("state after unselect", json!(["getattr", "state"])),
        ("examine", json!(["select", work, true])),
        ("read-only", json!(["response", "READ-ONLY"])),
        ("fetch work", json!(["fetch", "1:*", "(FLAGS)"])),
        ("close", json!(["close"])),
        ("select missing", json!(["select", n.mbox(&["Nonexistent"])])),
        ("rename", json!(["rename", sub, renamed])),
        ("delete", json!(["delete", renamed])),
        ("create ro", json!(["create", ro])),
        ("setacl self", json!(["setacl", ro, user, "lr"])),
        ("select ro", json!(["select", ro])),
        ("state ro", json!(["getattr", "state"])),
        ("logout", json!(["logout"])),
        ("state logout", json!(["getattr", "state"])),
    ]
}

/// Runs [`session`] on `server` through both clients, checks every line is
/// the same, and returns wasimap's answers by label.
fn run(server: &'static Server) -> Vec<(&'static str, Value)> {
    let names = Names::of(server);
    let labels: Vec<&str> = session(&names, "x").into_iter().map(|(l, _)| l).collect();
    let (script, ours, theirs) = differential_on(server, server.name(), |user| {
        session(&names, user).into_iter().map(|(_, call)| call).collect()
    });
    assert_same(&script, &ours, &theirs);
    let open = script.len() - labels.len();
    println!(
        "{}: {} calls, all identical to CPython's imaplib",
        server.name(),
        script.len()
    );
    let answers: Vec<(&str, Value)> = labels.into_iter().zip(ours[open..].iter().cloned()).collect();
    // The table docs/servers.md is made from (`-- --nocapture`).
    for (label, answer) in &answers {
        let mut t = text(answer);
        t.truncate(100);
        println!("{}\t{label}\t{}\t{t}", server.name(), outcome(answer));
    }
    answers
}

/// `typ` of a command's answer, or `error:<kind>` when imaplib raised.
fn outcome(answer: &Value) -> String {
    match (answer["typ"].as_str(), answer["error"].as_str()) {
        (Some(typ), _) => typ.to_string(),
        (None, Some(kind)) => format!("error:{kind}"),
        _ => "value".to_string(),
    }
}

/// The first data line (or the error message) of an answer.
fn text(answer: &Value) -> String {
    if let Some(m) = answer["message"].as_str() {
        return m.to_string();
    }
    match &answer["data"][0] {
        Value::Object(o) => o["b"].as_str().unwrap_or_default().to_string(),
        Value::Array(a) => a[0]["b"].as_str().unwrap_or_default().to_string(),
        other => other.to_string(),
    }
}

/// Asserts each labelled answer's outcome and that its text contains the
/// given part.
fn expect(answers: &[(&str, Value)], expected: &[(&str, &str, &str)]) {
    for (label, want, part) in expected {
        let answer = &answers
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("no line {label}"))
            .1;
        assert_eq!(outcome(answer), *want, "{label}: {answer}");
        assert!(text(answer).contains(part), "{label}: {part:?} not in {answer}");
    }
}

#[test]
fn dovecot_every_method_matches_cpython() {
    let answers = run(dovecot());
    expect(
        &answers,
        &[
            ("append", "OK", "[APPENDUID N 1]"),
            ("move", "OK", "Move completed"),
            ("id response", "ID", "\"name\" \"Dovecot\""),
            ("unselect", "OK", ""),
            ("getquotaroot", "OK", "INBOX \"User quota\""),
            ("getquota", "OK", "(STORAGE 1 1048576)"),
            ("setquota", "NO", "Quota can be changed only by admin"),
            ("partial", "error:error", "PARTIAL command error: BAD"),
            ("getannotation", "error:error", "GETANNOTATION command error: BAD"),
            ("namespace", "OK", "((\"\" \"/\")) NIL NIL"),
            ("setacl self", "OK", ""),
            ("select ro", "error:readonly", "RO is not writable"),
            ("logout", "error:readonly", "mailbox status changed to READ-ONLY"),
        ],
    );
}

/// Cyrus has MOVE, ID, UNSELECT, ACL, QUOTA (the user's root is the
/// INBOX), METADATA but not ANNOTATEMORE (imaplib's GETANNOTATION draft),
/// the alternate namespace (folders beside INBOX, `/`), pads INTERNALDATE's
/// day with a space, and keeps the owner's implicit rights.
#[test]
fn cyrus_every_method_matches_cpython() {
    let answers = run(cyrus());
    expect(
        &answers,
        &[
            ("append", "OK", "[APPENDUID N 1] Completed"),
            ("create", "OK", "[MAILBOXID (ID)] Completed"),
            ("fetch", "OK", "INTERNALDATE \" 1-Feb-2024 09:00:00 +0000\""),
            ("move", "OK", "Completed"),
            ("id response", "ID", "\"name\" \"Cyrus IMAPD\""),
            ("unselect", "OK", "Completed"),
            ("getquotaroot", "OK", "INBOX INBOX"),
            ("getquota", "NO", "Permission denied"),
            ("setquota", "NO", "Permission denied"),
            (
                "partial",
                "error:error",
                "PARTIAL command error: BAD [b'Unrecognized command']",
            ),
            ("getannotation", "error:error", "BAD [b'Missing annotation entry']"),
            ("setannotation", "error:error", "BAD [b'Missing annotation entry']"),
            (
                "namespace",
                "OK",
                "((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))",
            ),
            ("setacl self", "NO", "Permission denied"),
            ("select ro", "OK", "0"),
            ("logout", "BYE", "LOGOUT received"),
        ],
    );
}

/// Courier (stream mode: PREAUTH, no LOGIN) names folders under `INBOX.`
/// with `.`, has ACL (RFC 4314 with its own identifiers) and QUOTA (a
/// `ROOT` without resources), and answers NO, not BAD, to the commands it
/// does not know: MOVE, ID, UNSELECT, PARTIAL, ANNOTATEMORE.
#[test]
fn courier_every_method_matches_cpython() {
    let answers = run(courier());
    let unknown = "Error in IMAP command received by server.";
    expect(
        &answers,
        &[
            ("state", "value", ""),
            ("append", "OK", "[APPENDUID N 1] APPEND Ok."),
            ("create", "OK", "\"INBOX.Work\" created."),
            ("fetch header", "OK", "BODY[HEADER.FIELDS (\"SUBJECT\")]"),
            ("recent", "OK", "0"),
            ("move", "NO", unknown),
            ("id", "NO", unknown),
            ("unselect", "NO", unknown),
            ("partial", "NO", unknown),
            ("getannotation", "NO", unknown),
            ("setannotation", "NO", unknown),
            ("getacl", "OK", "\"INBOX\" \"owner\" \"acdilrsw\""),
            ("getquotaroot", "OK", "\"INBOX\" \"ROOT\""),
            ("getquota", "OK", "\"User quota\""),
            ("setquota", "NO", "SETQUOTA No permission."),
            ("namespace", "OK", "((\"INBOX.\" \".\")) NIL"),
            ("select ro", "OK", "0"),
            ("logout", "BYE", "Courier-IMAP server shutting down"),
        ],
    );
    assert!(text(&answers[0].1).contains("ENABLE UTF8=ACCEPT"), "{}", answers[0].1);
}

// ----- RFC 6855 APPEND after ENABLE UTF8=ACCEPT (#19) -----

/// `{"b": ...}` holding the UTF-8 bytes of `s`.
fn utf8_bytes(s: &str) -> Value {
    b(&s.bytes().map(char::from).collect::<String>())
}

fn utf8_message() -> Value {
    utf8_bytes("From: ann@example.org\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n\r\nbody\r\n")
}

/// ENABLE UTF8=ACCEPT, APPEND a message with a raw UTF-8 header without
/// and with flags and date, and read both back.
fn utf8_append_session() -> Vec<Value> {
    vec![
        json!(["enable", "UTF8=ACCEPT"]),
        json!(["getattr", "utf8_enabled"]),
        json!(["append", "INBOX", null, null, utf8_message()]),
        json!(["select", "INBOX"]),
        json!(["fetch", "1", "(BODY.PEEK[])"]),
        json!([
            "append",
            "INBOX",
            "(\\Seen)",
            "\"01-Feb-2024 10:00:00 +0100\"",
            utf8_message()
        ]),
        // Courier announces the new message (EXISTS) only at the next command.
        json!(["noop"]),
        json!(["fetch", "2", "(BODY.PEEK[])"]),
        json!(["logout"]),
    ]
}

/// Runs the session on `server` through wasimap's shell plugin with debug
/// on, returning the answers (open line first) and stderr.
fn wasimap_with_stderr(server: &'static Server, script: &[Value]) -> (Vec<Value>, String) {
    let user = server.new_user("utf8w");
    let mut lines = server.open_lines(&user);
    lines.push(json!(["setattr", "debug", 4]));
    lines.extend_from_slice(script);
    let (mut answers, stderr) = wasimap_tests::shell_with_stderr(
        wasimap_tests::runner_for(server),
        wasimap_tests::component_for(server, "shell"),
        &lines,
    );
    // Drop the setattr line, so indexes match CPython's run.
    answers.remove(lines.len() - script.len() - 1);
    (answers, stderr)
}

/// The fetched message of a `fetch 1 (BODY.PEEK[])` answer.
fn fetched(answer: &Value) -> String {
    answer["data"][0][1]["b"]
        .as_str()
        .unwrap_or_else(|| panic!("no literal in {answer}"))
        .to_string()
}

/// Lines of wasimap's debug log that note the fallback.
fn fallbacks(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("retrying once with a plain literal"))
        .collect()
}

/// CPython's run of [`utf8_append_session`] on `server`, open line first.
fn cpython_utf8_append(server: &'static Server) -> Vec<Value> {
    let user = server.new_user("utf8p");
    let mut script = server.open_lines(&user);
    script.extend(utf8_append_session());
    wasimap_tests::python_shell(&script)
}

/// Courier advertises UTF8=ACCEPT but answers `APPEND INBOX UTF8 (~{n}`
/// (no flags, no date: imaplib's `append('INBOX', None, None, msg)`) with
/// NO before the continuation; with flags and a date it takes the RFC
/// form. wasimap retries the first once with a plain literal (noted at
/// debug level) and both messages are stored intact. CPython 3.11 puts
/// `UTF8 (` inside a plain literal, which Courier stores as message text.
#[test]
fn courier_utf8_append_falls_back_to_a_plain_literal() {
    let server = courier();
    let (ours, stderr) = wasimap_with_stderr(server, &utf8_append_session());
    let at = ours.len() - utf8_append_session().len();
    assert_eq!(ours[at]["typ"], "OK", "{}", ours[at]);
    assert_eq!(ours[at + 1], json!({"value": true}));
    for line in [at + 2, at + 5] {
        assert_eq!(ours[line]["typ"], "OK", "{}", ours[line]);
    }
    assert_eq!(json!(fetched(&ours[at + 4])), utf8_message()["b"]);
    assert_eq!(json!(fetched(&ours[at + 7])), utf8_message()["b"]);
    let notes = fallbacks(&stderr);
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(
        notes[0].contains("refused UTF8 (~{59}) (NO [b'Error in IMAP command received by server.'])"),
        "{}",
        notes[0]
    );

    let theirs = cpython_utf8_append(server);
    assert_eq!(theirs[at + 2]["typ"], "OK", "{}", theirs[at + 2]);
    assert!(
        fetched(&theirs[at + 4]).starts_with("UTF8 (From: ann@example.org"),
        "CPython's message is stored with the data item inside: {}",
        theirs[at + 4]
    );
}

/// Cyrus 3.6 here does not advertise UTF8=ACCEPT, yet ENABLE UTF8=ACCEPT
/// answers OK (without `* ENABLED`), so both clients switch to UTF-8 mode
/// as imaplib does. Cyrus answers the RFC 6855 form with `BAD Missing
/// required argument to Append command` after its LITERAL+ literal:
/// wasimap retries each APPEND once with a plain literal, and Cyrus stores
/// the message with the 8-bit header bytes replaced by `X` (its
/// `munge8bit`). CPython's form is refused as an invalid header.
#[test]
fn cyrus_utf8_append_falls_back_after_bad() {
    let server = cyrus();
    let (ours, stderr) = wasimap_with_stderr(server, &utf8_append_session());
    let at = ours.len() - utf8_append_session().len();
    assert_eq!(ours[at], json!({"typ": "OK", "data": [{"b": "Completed"}]}));
    assert_eq!(ours[at + 1], json!({"value": true}));
    let munged: String = "From: ann@example.org\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n\r\nbody\r\n"
        .bytes()
        .map(|c| if c.is_ascii() { char::from(c) } else { 'X' })
        .collect();
    for (append, fetch) in [(at + 2, at + 4), (at + 5, at + 7)] {
        assert_eq!(ours[append]["typ"], "OK", "{}", ours[append]);
        assert_eq!(fetched(&ours[fetch]), munged);
    }
    let notes = fallbacks(&stderr);
    assert_eq!(notes.len(), 2, "{stderr}");
    assert!(
        notes
            .iter()
            .all(|n| n.contains("BAD [b'Missing required argument to Append command']")),
        "{notes:?}"
    );

    let theirs = cpython_utf8_append(server);
    assert_eq!(
        theirs[at + 2],
        json!({"typ": "NO", "data": [{"b": "Message contains invalid header"}]})
    );
}
