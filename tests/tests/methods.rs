//! Every imaplib method through the wasm path (shell plugin → protocol
//! component → host transport) against the project's Dovecot, asserting
//! the server-side effect, not only the reply.

use serde_json::{json, Value};
use wasimap_tests::{b, dovecot, login_lines, shell, unique_user, without_kinds};

/// Runs `calls` after opening and logging in as a fresh user; returns the
/// answers to `calls` only.
fn session(prefix: &str, calls: Vec<Value>) -> Vec<Value> {
    let user = unique_user(prefix);
    let mut script = login_lines(&user);
    script.extend(calls);
    let answers = shell(&script);
    assert_eq!(answers[0], json!({ "value": null }), "open");
    assert_eq!(answers[1]["typ"], "OK", "login: {}", answers[1]);
    answers[2..].to_vec()
}

/// The bytes of each data item (the header of a literal) as text.
fn lines(answer: &Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {answer}"))
        .iter()
        .map(|d| match d {
            Value::Null => "None".to_string(),
            Value::Object(o) => o["b"].as_str().unwrap().to_string(),
            Value::Array(t) => t[0]["b"].as_str().unwrap().to_string(),
            other => panic!("unexpected item {other}"),
        })
        .collect()
}

fn assert_ok(answer: &Value) {
    assert_eq!(answer["typ"], "OK", "{answer}");
}

fn message(from: &str, subject: &str, body: &str) -> Value {
    b(&format!("From: {from}\r\nTo: someone@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\n{body}\r\n"))
}

fn list_names(answer: &Value) -> Vec<String> {
    lines(answer)
        .into_iter()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
        .collect()
}

#[test]
fn create_rename_delete_with_rfc_quoting() {
    let a = session(
        "mbox",
        vec![
            json!(["create", "Space Box"]),
            json!(["create", "{5}"]),
            json!(["create", "a\"b\\c"]),
            json!(["list"]),
            json!(["rename", "Space Box", "Renamed Box"]),
            json!(["delete", "{5}"]),
            json!(["list", "\"\"", "*"]),
            json!(["create", "Entw\u{fc}rfe"]),
        ],
    );
    for r in &a[0..3] {
        assert_ok(r);
    }
    let names = list_names(&a[3]);
    for expected in ["\"Space Box\"", "\"{5}\"", "\"a\\\"b\\\\c\"", "INBOX"] {
        assert!(names.contains(&expected.to_string()), "{expected} in {names:?}");
    }
    assert_ok(&a[4]);
    assert_ok(&a[5]);
    let names = list_names(&a[6]);
    assert!(names.contains(&"\"Renamed Box\"".to_string()), "{names:?}");
    assert!(
        !names.contains(&"\"Space Box\"".to_string()) && !names.contains(&"\"{5}\"".to_string()),
        "{names:?}"
    );
    // 8-bit names go as a literal; Dovecot 2.3 wants modified UTF-7 and says NO.
    assert_eq!(a[7]["typ"], "NO");
    assert!(
        lines(&a[7])[0].starts_with("Mailbox name is not valid mUTF-7"),
        "{}",
        a[7]
    );
}

#[test]
fn append_select_fetch_store_expunge() {
    let a = session(
        "store",
        vec![
            // Dovecot replaces dates in the future with the arrival time: use past ones.
            json!([
                "append",
                "INBOX",
                "\\Seen",
                "\"18-May-2021 05:33:20 +0200\"",
                message("a@example.org", "one", "first")
            ]),
            json!(["append", "", null, null, b("Subject: two\nbare LF\n")]),
            json!([
                "append",
                "INBOX",
                "(\\Flagged)",
                1600000000,
                message("c@example.org", "three", "third")
            ]),
            json!(["select", "INBOX"]),
            json!(["fetch", "1", "(FLAGS INTERNALDATE RFC822)"]),
            json!(["fetch", "2", "BODY.PEEK[]"]),
            json!(["store", "2", "+FLAGS", "\\Deleted"]),
            json!(["expunge"]),
            json!(["status", "INBOX", "(MESSAGES)"]),
            json!(["fetch", "1:*", "(FLAGS INTERNALDATE)"]),
            json!(["check"]),
        ],
    );
    for r in &a[0..3] {
        assert_ok(r);
        assert!(lines(r)[0].starts_with("[APPENDUID "), "{r}");
    }
    assert_eq!(a[3], json!({"typ": "OK", "data": [b("3")]}));
    let fetched = &a[4]["data"];
    let header = fetched[0][0]["b"].as_str().unwrap();
    // Dovecot reports the date in its own zone (UTC here).
    assert!(
        header.contains("INTERNALDATE \"18-May-2021 03:33:20 +0000\""),
        "{header}"
    );
    assert!(header.contains("\\Seen"), "{header}");
    assert_eq!(fetched[0][1], message("a@example.org", "one", "first"));
    assert_eq!(fetched[1], b(")"));
    // Bare LF became CRLF on the way (imaplib's MapCRLF).
    assert_eq!(a[5]["data"][0][1], b("Subject: two\r\nbare LF\r\n"));
    assert_ok(&a[6]);
    assert!(lines(&a[6])[0].contains("\\Deleted"), "{}", a[6]);
    assert_eq!(a[7], json!({"typ": "OK", "data": [b("2")]}));
    assert_eq!(lines(&a[8]), vec!["INBOX (MESSAGES 2)"]);
    let flags = lines(&a[9]);
    assert_eq!(flags.len(), 2);
    assert!(flags[1].contains("\\Flagged"), "{flags:?}");
    assert!(
        flags[1].contains("INTERNALDATE \"13-Sep-2020 12:26:40 +0000\""),
        "{flags:?}"
    );
    assert_ok(&a[10]);
}

#[test]
fn search_sort_thread_and_uid() {
    let a = session(
        "search",
        vec![
            json!([
                "append",
                "INBOX",
                null,
                null,
                message("alice@example.org", "b-topic", "x")
            ]),
            json!([
                "append",
                "INBOX",
                null,
                null,
                message("bob@example.org", "a topic here", "y")
            ]),
            json!([
                "append",
                "INBOX",
                null,
                null,
                message("alice@example.org", "Re: b-topic", "z")
            ]),
            json!(["select", "INBOX"]),
            json!(["search", null, "FROM", "alice@example.org"]),
            json!(["search", null, "SUBJECT", "topic here"]),
            json!(["search", "UTF-8", "(OR FROM bob SUBJECT b-topic)"]),
            json!(["sort", "SUBJECT", "UTF-8", "ALL"]),
            json!(["thread", "REFERENCES", "UTF-8", "ALL"]),
            json!(["uid", "search", "FROM", "bob@example.org"]),
            json!(["uid", "FETCH", "1:*", "(UID FLAGS)"]),
            json!(["uid", "STORE", "2", "+FLAGS", "(\\Answered)"]),
            json!(["uid", "SORT", "(REVERSE SIZE)", "UTF-8", "ALL"]),
            json!(["uid", "frob"]),
        ],
    );
    assert_eq!(lines(&a[4]), vec!["1 3"]);
    assert_eq!(lines(&a[5]), vec!["2"]);
    assert_eq!(lines(&a[6]), vec!["1 2 3"]);
    // Base subjects: "a topic here" < "b-topic" = "b-topic" (then by arrival).
    assert_eq!(lines(&a[7]), vec!["2 1 3"]);
    assert_eq!(a[8]["typ"], "OK");
    assert_eq!(lines(&a[9]), vec!["2"]);
    assert_eq!(lines(&a[10]).len(), 3);
    assert!(lines(&a[11])[0].contains("\\Answered"), "{}", a[11]);
    // Sizes grow with the subject: 1 < 3 < 2.
    assert_eq!(lines(&a[12]), vec!["2 3 1"]);
    assert_eq!(
        without_kinds(&a[13]),
        json!({"error": "error", "message": "Unknown IMAP4 UID command: FROB"})
    );
}

#[test]
fn copy_move_and_response_codes() {
    let a = session(
        "copy",
        vec![
            json!(["create", "Archive"]),
            json!(["append", "INBOX", null, null, message("x@example.org", "m1", "1")]),
            json!(["append", "INBOX", null, null, message("x@example.org", "m2", "2")]),
            json!(["select", "INBOX"]),
            json!(["copy", "1", "Archive"]),
            json!(["response", "COPYUID"]),
            json!(["response", "COPYUID"]),
            json!(["move", "2", "Archive"]),
            json!(["status", "Archive", "(MESSAGES)"]),
            json!(["status", "INBOX", "(MESSAGES)"]),
            json!(["uid", "COPY", "1", "Archive"]),
            json!(["uid", "MOVE", "1", "Archive"]),
            json!(["status", "Archive", "(MESSAGES)"]),
        ],
    );
    assert_ok(&a[4]);
    let copyuid = lines(&a[5]);
    assert_eq!(a[5]["typ"], "COPYUID");
    assert!(copyuid[0].ends_with(" 1 1"), "{copyuid:?}");
    assert_eq!(a[6], json!({"typ": "COPYUID", "data": [null]}), "response() pops");
    assert_ok(&a[7]);
    assert_eq!(lines(&a[8]), vec!["Archive (MESSAGES 2)"]);
    assert_eq!(lines(&a[9]), vec!["INBOX (MESSAGES 1)"]);
    assert_ok(&a[10]);
    assert_ok(&a[11]);
    assert_eq!(lines(&a[12]), vec!["Archive (MESSAGES 4)"]);
}

#[test]
fn examine_close_unselect_and_state() {
    let a = session(
        "state",
        vec![
            json!(["getattr", "state"]),
            json!(["search", null, "ALL"]),
            json!(["select", "INBOX", true]),
            json!(["response", "READ-ONLY"]),
            json!(["getattr", "state"]),
            json!(["close"]),
            json!(["getattr", "state"]),
            json!(["select", "INBOX"]),
            json!(["unselect"]),
            json!(["getattr", "state"]),
            json!(["select", "Nonexistent"]),
            json!(["getattr", "state"]),
            json!(["login", "again", "x"]),
        ],
    );
    assert_eq!(a[0], json!({"value": "AUTH"}));
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "command SEARCH illegal in state AUTH, only allowed in states SELECTED"})
    );
    assert_eq!(a[2], json!({"typ": "OK", "data": [b("0")]}));
    assert_eq!(a[3], json!({"typ": "READ-ONLY", "data": [b("")]}));
    assert_eq!(a[4], json!({"value": "SELECTED"}));
    assert_ok(&a[5]);
    assert_eq!(a[6], json!({"value": "AUTH"}));
    assert_ok(&a[7]);
    assert_ok(&a[8]);
    assert_eq!(a[9], json!({"value": "AUTH"}));
    assert_eq!(a[10]["typ"], "NO");
    assert!(
        lines(&a[10])[0].starts_with("Mailbox doesn't exist: Nonexistent"),
        "{}",
        a[10]
    );
    assert_eq!(a[11], json!({"value": "AUTH"}));
    assert_eq!(
        without_kinds(&a[12]),
        json!({"error": "error", "message": "command LOGIN illegal in state AUTH, only allowed in states NONAUTH"})
    );
}

#[test]
fn acl_quota_namespace() {
    let a = session(
        "acl",
        vec![
            json!(["getacl", "INBOX"]),
            json!(["setacl", "INBOX", "bob", "lr"]),
            json!(["getacl", "INBOX"]),
            json!(["deleteacl", "INBOX", "bob"]),
            json!(["getacl", "INBOX"]),
            json!(["myrights", "INBOX"]),
            json!(["getquotaroot", "INBOX"]),
            json!(["getquota", "User quota"]),
            json!(["setquota", "User quota", "(STORAGE 512)"]),
            json!(["namespace"]),
        ],
    );
    let owner_only = lines(&a[0]);
    assert_eq!(owner_only.len(), 1);
    assert!(owner_only[0].starts_with("INBOX "), "{owner_only:?}");
    assert_ok(&a[1]);
    assert!(lines(&a[2])[0].contains("bob lr"), "{}", a[2]);
    assert_ok(&a[3]);
    assert!(!lines(&a[4])[0].contains("bob"), "{}", a[4]);
    assert_eq!(lines(&a[5]), vec!["INBOX lrwstipekxacd"]);
    assert_eq!(a[6]["typ"], "OK");
    assert_eq!(a[6]["data"][0], json!([b("INBOX \"User quota\"")]));
    assert_eq!(a[6]["data"][1], json!([b("\"User quota\" (STORAGE 0 1048576)")]));
    assert_eq!(lines(&a[7]), vec!["\"User quota\" (STORAGE 0 1048576)"]);
    assert_eq!(a[8]["typ"], "NO");
    assert!(
        lines(&a[8])[0].starts_with("Quota can be changed only by admin"),
        "{}",
        a[8]
    );
    assert_eq!(lines(&a[9]), vec!["((\"\" \"/\")) NIL NIL"]);
}

/// Commands Dovecot 2.3 does not implement: BAD raises `error` with
/// imaplib's message, and the session stays usable.
#[test]
fn unsupported_commands_raise_error() {
    let a = session(
        "bad",
        vec![
            json!(["getannotation", "INBOX", "/comment", "value.priv"]),
            json!(["setannotation", "INBOX", "/comment", "(value.priv \"x\")"]),
            json!(["proxyauth", "bob"]),
            json!(["select", "INBOX"]),
            json!(["partial", "1", "BODY[]", "0", "10"]),
            json!(["noop"]),
        ],
    );
    for (answer, name) in [
        (&a[0], "GETANNOTATION"),
        (&a[1], "SETANNOTATION"),
        (&a[2], "PROXYAUTH"),
        (&a[4], "PARTIAL"),
    ] {
        assert_eq!(answer["error"], "error", "{answer}");
        let msg = answer["message"].as_str().unwrap();
        let expected = format!("{name} command error: BAD [b'Error in IMAP command {name}: Unknown command");
        assert!(msg.starts_with(&expected), "{msg}");
    }
    assert_ok(&a[5]);
}

#[test]
fn subscribe_lsub_unsubscribe() {
    let a = session(
        "subs",
        vec![
            json!(["create", "Lists/rust"]),
            json!(["subscribe", "Lists/rust"]),
            json!(["lsub"]),
            json!(["unsubscribe", "Lists/rust"]),
            json!(["lsub", "\"\"", "Lists/%"]),
        ],
    );
    assert_ok(&a[1]);
    assert!(list_names(&a[2]).contains(&"Lists/rust".to_string()), "{}", a[2]);
    assert_ok(&a[3]);
    assert_eq!(a[4], json!({"typ": "OK", "data": [null]}));
}

#[test]
fn enable_recent_xatom_and_attributes() {
    let a = session(
        "attrs",
        vec![
            json!(["getattr", "PROTOCOL_VERSION"]),
            json!(["getattr", "welcome"]),
            json!(["getattr", "utf8_enabled"]),
            json!(["getattr", "debug"]),
            json!(["enable", "CONDSTORE"]),
            json!(["append", "INBOX", null, null, message("r@example.org", "recent", "r")]),
            json!(["select", "INBOX"]),
            json!(["recent"]),
            json!(["xatom", "ID", "(\"name\" \"wasimap\")"]),
            json!(["response", "ID"]),
            json!(["capability"]),
            json!(["getattr", "capabilities"]),
        ],
    );
    assert_eq!(a[0], json!({"value": "IMAP4REV1"}));
    assert!(a[1]["value"]["b"].as_str().unwrap().starts_with("* OK "), "{}", a[1]);
    assert_eq!(a[2], json!({"value": false}));
    assert_eq!(a[3], json!({"value": 0}));
    assert_ok(&a[4]);
    assert_eq!(a[7], json!({"typ": "OK", "data": [b("1")]}));
    assert_ok(&a[8]);
    assert_eq!(a[9]["typ"], "ID");
    assert!(lines(&a[9])[0].contains("\"name\" \"Dovecot\""), "{}", a[9]);
    assert!(lines(&a[10])[0].starts_with("IMAP4rev1 "), "{}", a[10]);
    // `capabilities` keeps the greeting-time list, as imaplib does.
    let caps = a[11]["value"].as_array().unwrap();
    assert!(
        caps.contains(&json!("IMAP4REV1")) && caps.contains(&json!("AUTH=PLAIN")),
        "{caps:?}"
    );
}

#[test]
fn enable_needs_the_capability_and_state() {
    let d = dovecot();
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["getattr", "state"]),
        json!(["enable", "CONDSTORE"]),
        json!(["logout"]),
        json!(["getattr", "state"]),
    ]);
    assert_eq!(a[1], json!({"value": "NONAUTH"}));
    assert_eq!(
        without_kinds(&a[2]),
        json!({"error": "error", "message": "command ENABLE illegal in state NONAUTH, only allowed in states AUTH"})
    );
    assert_eq!(a[3]["typ"], "BYE");
    assert_eq!(a[4], json!({"value": "LOGOUT"}));
}

#[test]
fn raw_send_readline_read() {
    let a = session(
        "raw",
        vec![
            json!(["send", b("RAW1 NOOP\r\n")]),
            json!(["readline"]),
            json!(["send", b("RAW2 NOOP\r\n")]),
            json!(["read", 4]),
            json!(["readline"]),
            json!(["noop"]),
        ],
    );
    assert_eq!(a[0], json!({"value": null}));
    assert!(
        a[1]["value"]["b"]
            .as_str()
            .unwrap()
            .starts_with("RAW1 OK NOOP completed"),
        "{}",
        a[1]
    );
    assert_eq!(a[3], json!({"value": b("RAW2")}));
    assert!(
        a[4]["value"]["b"].as_str().unwrap().starts_with(" OK NOOP completed"),
        "{}",
        a[4]
    );
    assert!(a[4]["value"]["b"].as_str().unwrap().ends_with("\r\n"));
    assert_ok(&a[5]);
}

#[test]
fn login_failure_raises_and_logout_says_bye() {
    let d = dovecot();
    let user = unique_user("fail");
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["login", user, "wrong password"]),
        json!(["response", "AUTHENTICATIONFAILED"]),
        json!(["logout"]),
    ]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "b'[AUTHENTICATIONFAILED] Authentication failed.'"})
    );
    assert_eq!(a[2], json!({"typ": "AUTHENTICATIONFAILED", "data": [b("")]}));
    assert_eq!(a[3], json!({"typ": "BYE", "data": [b("Logging out")]}));
}

#[test]
fn injection_is_refused_before_sending() {
    let a = session(
        "inject",
        vec![
            json!(["create", "x\r\nA1 DELETE INBOX"]),
            json!(["create", "y\nz"]),
            json!(["select", "INBOX\u{0}"]),
            json!(["fetch", "1", "(FLAGS) {5}"]),
            json!(["list"]),
            json!(["noop"]),
        ],
    );
    for r in &a[0..3] {
        assert_eq!(r["error"], "error", "{r}");
        assert!(r["message"].as_str().unwrap().contains("CR, LF or NUL"), "{r}");
    }
    assert_eq!(a[3]["error"], "error");
    assert_eq!(list_names(&a[4]), vec!["INBOX"]);
    assert_ok(&a[5]);
}

#[test]
fn denied_connection_is_a_clear_error() {
    let a = shell(&[json!(["IMAP4", "127.0.0.2", 143]), json!(["noop"])]);
    assert_eq!(
        without_kinds(&a[0]),
        json!({"error": "error", "message": "connection to 127.0.0.2:143 not allowed (no grant to connect to 127.0.0.2:143)"})
    );
}

#[test]
fn utilities_through_the_component() {
    let a = shell(&[
        json!(["Int2AP", 4096]),
        json!(["ParseFlags", b("1 (FLAGS (\\Seen \\Answered) UID 2)")]),
        json!([
            "Internaldate2tuple",
            b("25 (INTERNALDATE \"01-Jan-2000 11:30:00 +1130\")")
        ]),
        json!(["Time2Internaldate", 2000000000]),
        json!(["Time2Internaldate", "\"18-May-2033 05:33:20 +0200\""]),
    ]);
    assert_eq!(a[0], json!({"value": b("BAAA")}));
    assert_eq!(a[1], json!({"value": [b("\\Seen"), b("\\Answered")]}));
    assert_eq!(a[2], json!({"value": [2000, 1, 1, 0, 0, 0, 5, 1, 0]}));
    assert_eq!(a[3], json!({"value": "\"18-May-2033 03:33:20 +0000\""}));
    assert_eq!(a[4], json!({"value": "\"18-May-2033 05:33:20 +0200\""}));
}
