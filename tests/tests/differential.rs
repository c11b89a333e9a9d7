//! The same sessions through CPython's imaplib and through wasimap (shell
//! plugin → protocol component → host), compared line by line. Where
//! wasimap deliberately differs from CPython 3.11, the test asserts the
//! documented behaviour of each side instead (docs/architecture.md,
//! "Differences from CPython's imaplib").

use serde_json::{json, Value};
use wasimap_tests::script_server::{preauth, send, ScriptServer, Step};
use wasimap_tests::{
    assert_same, b, differential, dovecot, plugin_path, python_shell, python_shell_in, shell, unique_user,
    wasimap_binary, without_kinds,
};

fn msg(from: &str, subject: &str) -> Value {
    b(&format!(
        "From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@d>\r\n\r\nbody of {subject}\r\n"
    ))
}

/// The shell writes FETCH answers as they arrive, with its own JSON writer
/// for message bytes (docs/shell.md): the same items as CPython's, for a
/// message holding every byte value a message line can, and for a message
/// appended through the host-held body of `append-body`.
#[test]
fn a_streamed_fetch_of_every_byte_value_matches_cpython() {
    let mut message = b"Subject: every byte\r\n\r\n".to_vec();
    message.extend((1u8..=255).filter(|c| *c != b'\r' && *c != b'\n'));
    message.extend_from_slice(b"\r\n");
    let latin1 = json!({"b": message.iter().map(|&c| char::from(c)).collect::<String>()});
    let (script, ours, theirs) = differential("bytes", |_| {
        vec![
            json!(["append", "INBOX", null, null, latin1.clone()]),
            json!(["select", "INBOX", true]),
            json!(["fetch", "1", "(RFC822 FLAGS)"]),
            json!(["uid", "FETCH", "1:*", "(UID BODY.PEEK[TEXT])"]),
            json!(["fetch", "1:*", "(UID)"]),
            // Not streamed (a modifier after the items): answered whole.
            json!(["uid", "FETCH", "1:*", "(UID)", "(CHANGEDSINCE 1)"]),
        ]
    });
    assert_same(&script, &ours, &theirs);
    let text = &ours[5]["data"][0][1]["b"];
    assert_eq!(text.as_str().map(|s| s.chars().count()), Some(253 + 2), "{text}");
}

/// Every imaplib method that works over a plain connection, with the
/// happy paths and the error paths (NO, BAD, wrong state, readonly).
#[test]
fn every_method_matches_cpython() {
    let (script, ours, theirs) = differential("every", |user| {
        vec![
            json!(["capability"]),
            json!(["noop"]),
            json!(["getattr", "capabilities"]),
            json!(["getattr", "PROTOCOL_VERSION"]),
            json!(["getattr", "state"]),
            json!(["getattr", "welcome"]),
            json!(["getattr", "utf8_enabled"]),
            json!(["enable", "CONDSTORE"]),
            json!(["create", "Work"]),
            json!(["create", "Work/Sub"]),
            json!(["list"]),
            json!(["list", "\"\"", "Work/%"]),
            json!(["subscribe", "Work"]),
            json!(["lsub"]),
            json!(["unsubscribe", "Work"]),
            json!(["lsub"]),
            json!([
                "append",
                "INBOX",
                "(\\Seen)",
                "\"01-Feb-2024 10:00:00 +0100\"",
                msg("ann@example.org", "alpha")
            ]),
            json!([
                "append",
                "INBOX",
                null,
                "\"02-Feb-2024 10:00:00 +0100\"",
                msg("bob@example.org", "beta")
            ]),
            json!([
                "append",
                "INBOX",
                "\\Flagged",
                "\"03-Feb-2024 10:00:00 +0100\"",
                msg("ann@example.org", "gamma")
            ]),
            json!(["status", "INBOX", "(MESSAGES UNSEEN UIDNEXT)"]),
            json!(["search", null, "ALL"]),
            json!(["select", "INBOX"]),
            json!(["response", "FLAGS"]),
            json!(["response", "PERMANENTFLAGS"]),
            json!(["response", "UIDNEXT"]),
            json!(["recent"]),
            json!(["fetch", "1:*", "(FLAGS INTERNALDATE RFC822.SIZE)"]),
            json!(["fetch", "1", "(RFC822)"]),
            json!(["fetch", "2", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"]),
            json!(["search", null, "FROM", "ann@example.org"]),
            json!(["search", "UTF-8", "UNSEEN"]),
            json!(["sort", "(SUBJECT)", "UTF-8", "ALL"]),
            json!(["thread", "REFERENCES", "UTF-8", "ALL"]),
            json!(["store", "1", "+FLAGS", "(\\Answered)"]),
            json!(["uid", "FETCH", "1:*", "(UID FLAGS)"]),
            json!(["uid", "SEARCH", "ALL"]),
            json!(["uid", "STORE", "2", "+FLAGS.SILENT", "(\\Seen)"]),
            json!(["uid", "SORT", "(REVERSE SUBJECT)", "UTF-8", "ALL"]),
            json!(["uid", "THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL"]),
            json!(["copy", "1", "Work"]),
            json!(["response", "COPYUID"]),
            json!(["uid", "COPY", "2", "Work"]),
            json!(["xatom", "MOVE", "3", "Work"]),
            json!(["response", "COPYUID"]),
            json!(["check"]),
            json!(["store", "1", "+FLAGS", "(\\Deleted)"]),
            json!(["expunge"]),
            json!(["getacl", "INBOX"]),
            json!(["myrights", "INBOX"]),
            json!(["setacl", "Work", "bob", "lr"]),
            json!(["getacl", "Work"]),
            json!(["deleteacl", "Work", "bob"]),
            json!(["getquotaroot", "INBOX"]),
            json!(["getquota", "\"User quota\""]),
            json!(["setquota", "\"User quota\"", "(STORAGE 512)"]),
            json!(["namespace"]),
            json!(["xatom", "ID", "(\"name\" \"diff\")"]),
            json!(["response", "ID"]),
            json!(["partial", "1", "BODY[]", "0", "10"]),
            json!(["getannotation", "INBOX", "/comment", "value.priv"]),
            json!(["setannotation", "INBOX", "(/comment (value.priv \"x\"))"]),
            json!(["proxyauth", "bob"]),
            json!(["uid", "frob"]),
            json!(["login", "someone", "x"]),
            json!(["send", b("RAW1 NOOP\r\n")]),
            json!(["readline"]),
            json!(["send", b("RAW2 NOOP\r\n")]),
            json!(["read", 4]),
            json!(["readline"]),
            json!(["unselect"]),
            json!(["getattr", "state"]),
            json!(["search", null, "ALL"]),
            json!(["select", "Work", true]),
            json!(["response", "READ-ONLY"]),
            json!(["fetch", "1:*", "(FLAGS)"]),
            json!(["close"]),
            json!(["select", "Nonexistent"]),
            json!(["rename", "Work/Sub", "Work/Renamed"]),
            json!(["delete", "Work/Renamed"]),
            json!(["create", "RO"]),
            json!(["setacl", "RO", user, "lr"]),
            json!(["select", "RO"]),
            json!(["getattr", "state"]),
            json!(["Int2AP", 4242]),
            json!(["ParseFlags", b("1 (FLAGS (\\Seen $Junk) UID 9)")]),
            json!([
                "Internaldate2tuple",
                b("1 (INTERNALDATE \"31-Dec-1999 12:30:00 -1130\")")
            ]),
            json!(["Time2Internaldate", 2000000000]),
            json!(["Time2Internaldate", "\"18-May-2033 05:33:20 +0200\""]),
            json!(["logout"]),
            json!(["getattr", "state"]),
        ]
    });
    assert_same(&script, &ours, &theirs);
    // The run did what it says, on both sides.
    let last_select = &ours[ours.len() - 9];
    assert_eq!(last_select["error"], "readonly", "{last_select}");
}

/// The untagged responses a command leaves behind are where imaplib puts
/// them: a COPYUID is only visible through `response('COPYUID')`, and the
/// attribute `untagged_responses` carries everything not yet taken.
#[test]
fn untagged_carry_over_matches_cpython() {
    let (script, ours, theirs) = differential("carry", |_| {
        vec![
            json!(["create", "Dest"]),
            json!(["append", "INBOX", null, null, msg("c@example.org", "carry")]),
            json!(["select", "INBOX"]),
            json!(["getattr", "untagged_responses"]),
            json!(["copy", "1", "Dest"]),
            json!(["getattr", "untagged_responses"]),
            json!(["response", "COPYUID"]),
            json!(["response", "COPYUID"]),
            json!(["noop"]),
            json!(["recent"]),
        ]
    });
    assert_same(&script, &ours, &theirs);
    assert_eq!(ours[8]["typ"], "COPYUID");
    assert_eq!(ours[9], json!({"typ": "COPYUID", "data": [null]}));
}

/// Search criteria that are parenthesized key lists go out as given (issue
/// #14): `search(None, '(UNSEEN)')` was sent as `"(UNSEEN)"`, which Dovecot
/// answers BAD. Every answer is CPython's.
#[test]
fn search_key_lists_match_cpython() {
    let (script, ours, theirs) = differential("keylist", |_| {
        vec![
            json!(["append", "INBOX", "(\\Seen)", null, msg("ann@example.org", "alpha")]),
            json!(["append", "INBOX", null, null, msg("bob@example.org", "beta")]),
            json!(["append", "INBOX", "(\\Flagged)", null, msg("ann@example.org", "gamma")]),
            json!(["select", "INBOX"]),
            json!(["search", null, "(UNSEEN)"]),
            json!(["uid", "SEARCH", "(ALL)"]),
            json!(["sort", "(DATE)", "UTF-8", "(UNSEEN)"]),
            json!(["search", null, "NOT", "(SEEN)"]),
            json!(["thread", "REFERENCES", "UTF-8", "(UNSEEN)"]),
            json!(["search", null, "(OR FROM \"bob@example.org\" (FLAGGED))"]),
            json!(["search", null, "OR", "(SEEN)", "FLAGGED"]),
            json!(["search", "UTF-8", "((NOT SEEN) UID 1:*)"]),
            json!(["search", null, "OR SUBJECT", "beta", "(SUBJECT gamma)"]),
        ]
    });
    assert_same(&script, &ours, &theirs);
    let ids = |i: usize| ours[i]["data"][0]["b"].as_str().unwrap_or("?").to_string();
    for (line, expected) in [
        (6, "2 3"),
        (7, "1 2 3"),
        (8, "2 3"),
        (9, "2 3"),
        (11, "2 3"),
        (12, "1 3"),
        (13, "2 3"),
        (14, "2 3"),
    ] {
        assert_eq!(ids(line), expected, "line {line}: {}", ours[line]);
    }
}

// ----- documented deviations from CPython 3.11 -----

fn list_names(answer: &Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["b"].as_str().unwrap().rsplit_once(' ').unwrap().1.to_string())
        .collect()
}

/// Row "argument quoting": CPython sends `CREATE Space Box` (creating
/// `Space`); wasimap sends `"Space Box"`.
#[test]
fn deviation_quoting_space_box() {
    let (_, ours, theirs) = differential("quote", |_| vec![json!(["create", "Space Box"]), json!(["list"])]);
    assert_eq!(ours[2]["typ"], "OK");
    assert!(list_names(&ours[3]).contains(&"Box\"".to_string()), "{}", ours[3]);
    assert_eq!(theirs[2]["typ"], "OK");
    assert!(
        list_names(&theirs[3]).contains(&"Space".to_string()),
        "CPython created `Space`: {}",
        theirs[3]
    );
}

/// Row "argument quoting": `create('{5}')` leaves CPython waiting for a
/// literal until its timeout; wasimap creates `{5}`.
#[test]
fn deviation_quoting_literal_marker() {
    let d = dovecot();
    let script = |user: &str| {
        vec![
            json!(["IMAP4", "127.0.0.1", d.imap_port(), {"timeout": 2}]),
            json!(["login", user, d.password()]),
            json!(["create", "{5}"]),
        ]
    };
    let ours = shell(&script(&unique_user("brace")));
    assert_eq!(ours[2]["typ"], "OK", "{}", ours[2]);
    let theirs = python_shell(&script(&unique_user("brace")));
    assert_eq!(theirs[2]["error"], "exception", "{}", theirs[2]);
    assert!(
        theirs[2]["message"].as_str().unwrap().contains("timed out"),
        "{}",
        theirs[2]
    );
}

/// Row "CR, LF, NUL": CPython sends the injected command; wasimap refuses
/// before sending anything.
#[test]
fn deviation_crlf_injection() {
    let (_, ours, theirs) = differential("inject", |_| {
        vec![
            json!(["create", "x\r\nZ1 CREATE injected"]),
            json!(["noop"]),
            json!(["list"]),
        ]
    });
    assert_eq!(ours[2]["error"], "error");
    assert!(ours[2]["message"].as_str().unwrap().contains("CR, LF or NUL"));
    assert_eq!(list_names(&ours[4]), vec!["INBOX"]);
    assert!(
        list_names(&theirs[4]).contains(&"injected".to_string()),
        "CPython was injected: {}",
        theirs[4]
    );
}

/// Row "search values": a value given as its own argument after a lone
/// key is quoted when it is not an atom; CPython sends `SUBJECT two words`,
/// which Dovecot answers BAD.
#[test]
fn deviation_search_value_quoting() {
    let (_, ours, theirs) = differential("svalue", |_| {
        vec![
            json!(["append", "INBOX", null, null, msg("ann@example.org", "two words")]),
            json!(["select", "INBOX"]),
            json!(["search", null, "SUBJECT", "two words"]),
        ]
    });
    assert_eq!(ours[4], json!({"typ": "OK", "data": [{"b": "1"}]}), "{}", ours[4]);
    assert_eq!(theirs[4]["error"], "error", "{}", theirs[4]);
    assert!(
        theirs[4]["message"]
            .as_str()
            .unwrap()
            .starts_with("SEARCH command error: BAD"),
        "{}",
        theirs[4]
    );
}

/// Row "8-bit arguments": CPython cannot encode them; wasimap sends a
/// literal (Dovecot 2.3 then wants modified UTF-7).
#[test]
fn deviation_eight_bit_argument() {
    let (_, ours, theirs) = differential("eight", |_| vec![json!(["create", "Entw\u{fc}rfe"])]);
    assert_eq!(ours[2]["typ"], "NO");
    assert!(ours[2]["data"][0]["b"]
        .as_str()
        .unwrap()
        .starts_with("Mailbox name is not valid mUTF-7"));
    assert_eq!(theirs[2]["error"], "exception");
    assert!(
        theirs[2]["message"].as_str().unwrap().starts_with("UnicodeEncodeError"),
        "{}",
        theirs[2]
    );
}

/// TLS: without a context, CPython 3.11 here verifies too (its default
/// context loads the system roots), so both refuse the project's private CA.
#[test]
fn tls_without_a_ca_is_refused_on_both_sides() {
    let d = dovecot();
    let script = [json!(["IMAP4_SSL", "127.0.0.1", d.imaps_port()])];
    let ours = shell(&script);
    assert_eq!(ours[0]["error"], "abort");
    assert!(
        ours[0]["message"].as_str().unwrap().contains("UnknownIssuer"),
        "{}",
        ours[0]
    );
    let theirs = python_shell(&script);
    assert!(
        theirs[0]["message"]
            .as_str()
            .unwrap()
            .contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        theirs[0]
    );
}

/// Row "move()": CPython 3.11 has no `move` method (MOVE only through
/// `uid` or `xatom`); wasimap has one.
#[test]
fn deviation_move_method() {
    let (_, ours, theirs) = differential("move", |_| {
        vec![
            json!(["create", "Dest"]),
            json!(["append", "INBOX", null, null, msg("m@example.org", "moved")]),
            json!(["select", "INBOX"]),
            json!(["move", "1", "Dest"]),
        ]
    });
    assert_eq!(ours[5]["typ"], "OK", "{}", ours[5]);
    assert_eq!(theirs[5]["error"], "exception");
    assert!(
        theirs[5]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown IMAP4 command: 'move'"),
        "{}",
        theirs[5]
    );
}

/// Rows "literals" and "UTF-8 APPEND": with LITERAL+ wasimap sends `{n+}`
/// without waiting; after ENABLE UTF8=ACCEPT it sends RFC 6855's
/// `UTF8 (~{n}...)` where CPython puts `UTF8 (` inside the literal.
#[test]
fn deviation_literal_plus_and_utf8_append() {
    let append = json!(["append", "INBOX", null, null, b("Subject: x\r\n\r\nhi")]);
    let mut steps = preauth("IMAP4rev1 LITERAL+");
    steps.extend([Step::Expect, Step::Expect, send("{tag} OK [APPENDUID 1 1] done\r\n")]);
    let server = ScriptServer::start(steps);
    let ours = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        append.clone(),
    ]);
    assert_eq!(ours[1]["typ"], "OK", "{ours:?}");
    let lines = server.received();
    assert!(
        lines[1].ends_with(b" APPEND INBOX {16+}\r\n"),
        "{:?}",
        String::from_utf8_lossy(&lines[1])
    );

    // CPython: always synchronizing.
    let mut steps = preauth("IMAP4rev1 LITERAL+");
    steps.extend([
        Step::Expect,
        send("+ go ahead\r\n"),
        Step::Expect,
        send("{tag} OK [APPENDUID 1 1] done\r\n"),
    ]);
    let server = ScriptServer::start(steps);
    let theirs = python_shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        append.clone(),
    ]);
    assert_eq!(theirs[1]["typ"], "OK", "{theirs:?}");
    let lines = server.received();
    assert!(
        lines[1].ends_with(b" APPEND INBOX {16}\r\n"),
        "{:?}",
        String::from_utf8_lossy(&lines[1])
    );

    // UTF-8 mode.
    let (ours, lines) = utf8_append(shell, &append);
    assert_eq!(ours[2], json!({"value": true}));
    assert_eq!(ours[3]["typ"], "OK", "{}", ours[3]);
    assert!(
        lines[2].ends_with(b" APPEND INBOX UTF8 (~{16}\r\n"),
        "{:?}",
        String::from_utf8_lossy(&lines[2])
    );
    assert_eq!(lines[3..].concat(), b"Subject: x\r\n\r\nhi)\r\n");

    let (theirs, lines) = utf8_append(python_shell, &append);
    assert_eq!(theirs[3]["typ"], "OK", "{}", theirs[3]);
    // The marker counts the `UTF8 (` and `)` that CPython puts inside the literal.
    assert!(
        lines[2].ends_with(b" APPEND INBOX {23}\r\n"),
        "{:?}",
        String::from_utf8_lossy(&lines[2])
    );
    assert_eq!(lines[3..].concat(), b"UTF8 (Subject: x\r\n\r\nhi)\r\n");
}

/// ENABLE UTF8=ACCEPT then `append` against a scripted server, through
/// `runner`; returns the answers and the lines the client sent.
fn utf8_append(runner: fn(&[Value]) -> Vec<Value>, append: &Value) -> (Vec<Value>, Vec<Vec<u8>>) {
    let mut steps = preauth("IMAP4rev1 ENABLE UTF8=ACCEPT");
    steps.extend([
        Step::Expect,
        send("* ENABLED UTF8=ACCEPT\r\n{tag} OK enabled\r\n"),
        Step::Expect,
        send("+ go ahead\r\n"),
        // The literal's three lines.
        Step::Expect,
        Step::Expect,
        Step::Expect,
        send("{tag} OK done\r\n"),
    ]);
    let server = ScriptServer::start(steps);
    let answers = runner(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        json!(["enable", "UTF8=ACCEPT"]),
        json!(["getattr", "utf8_enabled"]),
        append.clone(),
    ]);
    (answers, server.received())
}

/// Row "read timeout": a stalled server raises CPython's TimeoutError
/// (not an imaplib exception); wasimap raises `abort`.
#[test]
fn deviation_read_timeout_is_abort() {
    let steps = vec![Step::Sleep(std::time::Duration::from_secs(3))];
    let server = ScriptServer::start(steps);
    let ours = shell(&[json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 0.5}])]);
    assert_eq!(
        without_kinds(&ours[0]),
        json!({"error": "abort", "message": "socket error: timed out"})
    );
    drop(server.received());
    let server = ScriptServer::start(vec![Step::Sleep(std::time::Duration::from_secs(3))]);
    let theirs = python_shell(&[json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 0.5}])]);
    assert_eq!(
        without_kinds(&theirs[0]),
        json!({"error": "exception", "message": "TimeoutError: timed out"})
    );
}

/// The shell plugin's answers to `script` from the `wasimap` binary run
/// with `TZ=tz`: the host's zone is its process's, so each zone needs its
/// own process.
fn wasimap_shell_in(script: &[Value], tz: &str) -> Vec<Value> {
    use std::io::Write;
    let mut child = std::process::Command::new(wasimap_binary())
        .arg("run")
        .arg(plugin_path("shell"))
        .env("TZ", tz)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wasimap");
    let input: String = script.iter().map(|v| format!("{v}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect();
    assert_eq!(answers.len(), script.len(), "{}", String::from_utf8_lossy(&out.stderr));
    answers
}

/// Time2Internaldate and Internaldate2tuple in local time, as CPython's
/// imaplib has them, under zones with and without daylight saving (north
/// and south, whole-hour, half-hour and a 30-minute DST shift): epochs
/// (around DST changes too), naive struct_time tuples with each isdst,
/// aware datetimes (their own offset), and INTERNALDATEs turned into local
/// struct_time with isdst.
#[test]
fn local_time_utilities_match_cpython() {
    let epochs = [
        json!(2_000_000_000),
        json!(0),
        json!(1_700_000_000.75),
        json!(-1_000_000_000),
        // 2024-03-10 06:59:59 and 07:00:00 UTC: New York's spring change;
        // 2024-10-27 00:59:59 / 01:00:00 UTC: Central Europe's autumn one.
        json!(1_710_053_999),
        json!(1_710_054_000),
        json!(1_729_990_799),
        json!(1_729_990_800),
        // 2024-04-06 15:00 UTC: Lord Howe's DST ends (+11 -> +1030).
        json!(1_712_415_600),
    ];
    let tuples = [
        json!([2033, 5, 18, 5, 33, 20, 2, 138, -1]),
        json!([2033, 5, 18, 5, 33, 20, 2, 138, 0]),
        json!([2033, 5, 18, 5, 33, 20, 2, 138, 1]),
        json!([2033, 1, 18, 5, 33, 20, 1, 18, -1]),
        json!([2000, 1, 1, 0, 0, 0, 5, 1, -1]),
    ];
    let aware = [
        json!({"datetime": [2033, 5, 18, 5, 33, 20], "utcoffset": 7200}),
        json!({"datetime": [1999, 12, 31, 12, 30, 0], "utcoffset": -41400}),
        json!({"datetime": [2024, 7, 1, 0, 0, 0], "utcoffset": 19800}),
    ];
    let dates = [
        "25 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\")",
        "25 (INTERNALDATE \"18-May-2033 05:33:20 +0200\")",
        "25 (INTERNALDATE \"10-Mar-2024 06:59:59 +0000\")",
        "25 (INTERNALDATE \"10-Mar-2024 07:00:00 +0000\")",
        "25 (INTERNALDATE \"06-Apr-2024 15:30:00 +0000\")",
        "25 (INTERNALDATE \"31-Dec-1969 12:30:00 -1130\")",
    ];
    let mut script: Vec<Value> = epochs
        .iter()
        .chain(&tuples)
        .chain(&aware)
        .map(|v| json!(["Time2Internaldate", v]))
        .collect();
    script.extend(dates.iter().map(|d| json!(["Internaldate2tuple", b(d)])));
    for tz in [
        "UTC",
        "STD-1DST,M3.2.0,M11.1.0",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Europe/Berlin",
    ] {
        let ours = wasimap_shell_in(&script, tz);
        let theirs = python_shell_in(&script, tz);
        assert_same(&script, &ours, &theirs);
        if tz == "STD-1DST,M3.2.0,M11.1.0" {
            // The example: imaplib's local time, not UTC.
            assert_eq!(ours[0], json!({"value": "\"18-May-2033 05:33:20 +0200\""}));
        }
    }
}
