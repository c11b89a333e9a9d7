//! What a healthy server never sends, from the scripted server (the
//! counterpart of CPython's test_imaplib handler), through the wasm path.
//! Where CPython's imaplib behaves the same, the answers are compared with
//! it; where it does not (huge literals), wasimap's bound is asserted.

use std::time::Duration;

use serde_json::{json, Value};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::Policy;
use wasimap_tests::script_server::{greeting, preauth, send, ScriptServer, Step};
use wasimap_tests::{b, python_shell, runner_with, shell, shell_with, without_kinds};

/// Runs `calls` after an open line against a fresh scripted server.
fn run(steps: &[Step], calls: &[Value], runner: fn(&[Value]) -> Vec<Value>) -> Vec<Value> {
    let server = ScriptServer::start(steps.to_vec());
    let mut script = vec![json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 1}])];
    script.extend_from_slice(calls);
    let answers = runner(&script);
    drop(server.received());
    answers
}

/// wasimap's answers, after checking CPython's imaplib gives the same
/// (class and message: CPython has no kinds).
fn same_as_cpython(steps: Vec<Step>, calls: &[Value]) -> Vec<Value> {
    let ours = run(&steps, calls, shell);
    let theirs = run(&steps, calls, python_shell);
    let stripped: Vec<Value> = ours.iter().map(without_kinds).collect();
    assert_eq!(stripped, theirs, "wasimap vs CPython");
    ours
}

fn then(mut steps: Vec<Step>, more: impl IntoIterator<Item = Step>) -> Vec<Step> {
    steps.extend(more);
    steps
}

#[test]
fn eof_before_greeting() {
    let a = same_as_cpython(vec![Step::Close], &[]);
    assert_eq!(
        without_kinds(&a[0]),
        json!({"error": "abort", "message": "socket error: EOF"})
    );
}

#[test]
fn bare_lf_line() {
    let a = same_as_cpython(vec![send("* OK bare LF greeting\n")], &[]);
    assert_eq!(
        without_kinds(&a[0]),
        json!({"error": "abort", "message": "socket error: unterminated line: b'* OK bare LF greeting\\n'"})
    );
}

#[test]
fn line_over_the_limit() {
    let long = format!("* OK {}\r\n", "x".repeat(1_000_001));
    let a = same_as_cpython(
        then(preauth("IMAP4rev1"), [Step::Expect, send(long)]),
        &[json!(["noop"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "command: NOOP => got more than 1000000 bytes"})
    );
}

/// Literals announced as 2^15, 2^31 and 2^63 bytes that never arrive end
/// in `abort`, and the declared size is never allocated: the plugin's store
/// is limited to 512 MiB, so a 2 GiB or 8 EiB buffer would trap instead.
#[test]
fn huge_literals_that_never_arrive() {
    for size in [1u64 << 15, 1 << 31, 1 << 63, u64::MAX] {
        let steps = then(
            preauth("IMAP4rev1"),
            [
                Step::Expect,
                send(format!("* 1 FETCH (BODY[] {{{size}}}\r\nonly this much")),
                Step::Close,
            ],
        );
        let a = run(&steps, &[json!(["select", "INBOX"]), json!(["noop"])], shell);
        assert_eq!(
            without_kinds(&a[1]),
            json!({"error": "abort", "message": "command: SELECT => socket error: EOF"}),
            "size {size}"
        );
        assert_eq!(a[2]["error"], "abort", "the session stays dead, the host alive");
    }
}

#[test]
fn bye_in_the_middle_of_a_command() {
    let a = same_as_cpython(
        then(
            preauth("IMAP4rev1"),
            [Step::Expect, send("* 1 EXISTS\r\n* BYE server shutting down\r\n")],
        ),
        &[json!(["noop"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "abort", "message": "command: NOOP => server shutting down"})
    );
}

/// Runs `calls` against a scripted server that answers the first command
/// with `fault`, through `runner`; returns the answers and every line the
/// server received (it keeps reading until the client closes).
fn after_fault(fault: &[Step], calls: &[Value], runner: fn(&[Value]) -> Vec<Value>) -> (Vec<Value>, Vec<String>) {
    let mut steps = preauth("IMAP4rev1 IDLE");
    steps.push(Step::Expect);
    steps.extend_from_slice(fault);
    steps.extend([Step::Expect, Step::Expect]);
    let server = ScriptServer::start(steps);
    let mut script = vec![json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 1}])];
    script.extend_from_slice(calls);
    let answers = runner(&script);
    let lines = server
        .received()
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (answers, lines)
}

/// After an abort the session is closed for good (docs/architecture.md,
/// "Differences from CPython's imaplib", row "after an abort"): every
/// later call returns that same abort, and the server receives nothing
/// more. CPython's imaplib goes on writing to the desynchronized stream.
#[test]
fn an_abort_closes_the_session_for_good() {
    let abort = |m: &str| json!({"error": "abort", "message": format!("command: NOOP => {m}")});
    let faults: Vec<(&str, Vec<Step>, Value)> = vec![
        ("EOF", vec![Step::Close], abort("socket error: EOF")),
        (
            "BYE",
            vec![send("* 1 EXISTS\r\n* BYE server shutting down\r\n")],
            abort("server shutting down"),
        ),
        (
            "malformed line",
            vec![send("this is not IMAP\r\n")],
            abort("unexpected response: b'this is not IMAP'"),
        ),
        (
            "line over the limit",
            vec![send(format!("* OK {}\r\n", "x".repeat(1_000_001)))],
            json!({"error": "error", "message": "command: NOOP => got more than 1000000 bytes"}),
        ),
        (
            "timeout",
            vec![Step::Sleep(Duration::from_millis(1500))],
            abort("socket error: timed out"),
        ),
    ];
    let later = [
        json!(["noop"]),
        json!(["select", "INBOX"]),
        json!(["search", null, "ALL"]),
        json!(["uid", "FETCH", "1:*", "(FLAGS)"]),
        json!(["idle"]),
        json!(["send", b("X1 NOOP\r\n")]),
        json!(["readline"]),
        json!(["read", 5]),
        json!(["authenticate_step", null]),
        json!(["login", "u", "p"]),
        json!(["login_secret", "u", "pw"]),
        json!(["logout"]),
    ];
    let mut calls = vec![json!(["noop"])];
    calls.extend(later.iter().cloned());
    for (what, fault, expected) in faults {
        let (answers, lines) = after_fault(&fault, &calls, shell);
        assert_eq!(without_kinds(&answers[1]), expected, "{what}");
        for (call, answer) in later.iter().zip(&answers[2..]) {
            // The very same error, kind and errno included.
            assert_eq!(answer, &answers[1], "{what}, then {call}");
        }
        assert_eq!(
            lines.len(),
            2,
            "{what}: only CAPABILITY and NOOP reach the server: {lines:?}"
        );
        assert!(lines[1].ends_with(" NOOP\r\n"), "{what}: {lines:?}");

        // CPython sends the next command into the same stream.
        if what != "EOF" {
            let (_, lines) = after_fault(&fault, &[json!(["noop"]), json!(["noop"])], python_shell);
            assert_eq!(lines.len(), 3, "{what}: CPython sent a second NOOP: {lines:?}");
            assert!(lines[2].ends_with(" NOOP\r\n"), "{what}: {lines:?}");
        }
    }
}

#[test]
fn read_only_after_a_writable_select() {
    let a = same_as_cpython(
        then(
            preauth("IMAP4rev1"),
            [
                Step::Expect,
                send("* 3 EXISTS\r\n* OK [PERMANENTFLAGS (\\Seen foo] \\*)] Flags permitted.\r\n{tag} OK [READ-ONLY] done\r\n"),
            ],
        ),
        &[json!(["select", "INBOX"]), json!(["response", "PERMANENTFLAGS"]), json!(["getattr", "state"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "readonly", "message": "INBOX is not writable"})
    );
    // A `]` inside the flags survives.
    assert_eq!(
        a[2],
        json!({"typ": "PERMANENTFLAGS", "data": [{"b": "(\\Seen foo] \\*)"}]})
    );
    assert_eq!(a[3], json!({"value": "SELECTED"}));
}

#[test]
fn mailbox_turns_read_only_later() {
    let a = same_as_cpython(
        then(
            preauth("IMAP4rev1"),
            [
                Step::Expect,
                send("* 1 EXISTS\r\n{tag} OK [READ-WRITE] done\r\n"),
                Step::Expect,
                send("* OK [READ-ONLY] now read-only\r\n{tag} OK noop\r\n"),
            ],
        ),
        &[json!(["select", "INBOX"]), json!(["noop"]), json!(["noop"])],
    );
    assert_eq!(a[1]["typ"], "OK");
    assert_eq!(a[2]["typ"], "OK");
    assert_eq!(
        without_kinds(&a[3]),
        json!({"error": "readonly", "message": "mailbox status changed to READ-ONLY"})
    );
}

#[test]
fn authentication_failed_code() {
    let a = same_as_cpython(
        then(
            greeting("IMAP4rev1"),
            [
                Step::Expect,
                send("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
            ],
        ),
        &[json!(["login", "u", "p"]), json!(["response", "AUTHENTICATIONFAILED"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "b'[AUTHENTICATIONFAILED] Invalid credentials'"})
    );
    assert_eq!(a[2], json!({"typ": "AUTHENTICATIONFAILED", "data": [{"b": ""}]}));
}

#[test]
fn enable_in_the_wrong_state_and_without_the_capability() {
    let a = same_as_cpython(greeting("IMAP4rev1 ENABLE"), &[json!(["enable", "CONDSTORE"])]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "command ENABLE illegal in state NONAUTH, only allowed in states AUTH"})
    );
    let a = same_as_cpython(preauth("IMAP4rev1"), &[json!(["enable", "CONDSTORE"])]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "Server does not support ENABLE"})
    );
}

#[test]
fn utf8_mode_refuses_a_search_charset() {
    let a = same_as_cpython(
        then(
            preauth("IMAP4rev1 ENABLE UTF8=ACCEPT"),
            [
                Step::Expect,
                send("* ENABLED UTF8=ACCEPT\r\n{tag} OK enabled\r\n"),
                Step::Expect,
                send("* 1 EXISTS\r\n{tag} OK [READ-WRITE] done\r\n"),
            ],
        ),
        &[
            json!(["enable", "UTF8=ACCEPT"]),
            json!(["select", "INBOX"]),
            json!(["search", "UTF-8", "ALL"]),
        ],
    );
    assert_eq!(a[1]["typ"], "OK");
    assert_eq!(
        without_kinds(&a[3]),
        json!({"error": "error", "message": "Non-None charset not valid in UTF8 mode"})
    );
}

#[test]
fn malformed_responses_quote_the_bytes() {
    let a = same_as_cpython(
        then(preauth("IMAP4rev1"), [Step::Expect, send("this is not IMAP\r\n")]),
        &[json!(["noop"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "abort", "message": "command: NOOP => unexpected response: b'this is not IMAP'"})
    );
    // Long garbage is truncated in the message (CPython quotes it whole).
    let junk = "z".repeat(5000);
    let steps = then(preauth("IMAP4rev1"), [Step::Expect, send(format!("{junk}\r\n"))]);
    let a = run(&steps, &[json!(["noop"])], shell);
    let msg = a[1]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("command: NOOP => unexpected response: b'zzz") && msg.ends_with("... (5000 bytes)"),
        "{msg}"
    );
    assert!(msg.len() < 400);
}

#[test]
fn unexpected_tagged_response() {
    let a = same_as_cpython(
        then(preauth("IMAP4rev1"), [Step::Expect, send("ZZZZ1 OK who?\r\n")]),
        &[json!(["noop"])],
    );
    assert_eq!(a[1]["error"], "abort");
    assert!(
        a[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("command: NOOP => unexpected response: b'ZZZZ1 OK who?'"),
        "{}",
        a[1]
    );
}

/// `debug >= 4` logs the traffic to stderr with passwords and AUTHENTICATE
/// payloads redacted.
#[test]
fn debug_log_redacts_secrets() {
    use wasimap_tests::{dovecot, run_plugin, unique_user};
    let d = dovecot();
    let (user, other) = (unique_user("debug"), unique_user("debug"));
    let script = [
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["setattr", "debug", 4]),
        json!(["login", user, d.password()]),
        json!(["logout"]),
    ];
    let sasl = [
        json!(["IMAP4", "127.0.0.1", d.imap_port()]),
        json!(["setattr", "debug", 4]),
        json!(["authenticate", "PLAIN", other, d.password()]),
    ];
    let mut stderr = String::new();
    for s in [&script[..], &sasl[..]] {
        let input: String = s.iter().map(|v| format!("{v}\n")).collect();
        let out = run_plugin("shell", &[], input.as_bytes());
        stderr.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(stderr.contains(&format!(" LOGIN {user} <redacted>")), "{stderr}");
    assert!(stderr.contains(" AUTHENTICATE PLAIN <redacted>"), "{stderr}");
    assert!(
        stderr.contains("< b'* BYE Logging out'"),
        "responses are logged: {stderr}"
    );
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{other}\0{}", d.password()));
    assert!(!stderr.contains(d.password()) && !stderr.contains(&plain), "{stderr}");
}

// ----- bounded resources against a hostile server -----

/// A 1 GB line is refused at imaplib's 1,000,000-byte limit, without
/// reading (or holding) the rest.
#[test]
fn a_gigabyte_line() {
    let steps = then(
        preauth("IMAP4rev1"),
        [Step::Expect, Step::Flood(b"x".to_vec(), 1 << 30)],
    );
    let a = run(&steps, &[json!(["noop"])], shell);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "command: NOOP => got more than 1000000 bytes"})
    );
}

/// Ten million untagged responses during one command end in `abort` at
/// the session's bound on stored responses, not in memory exhaustion.
#[test]
fn ten_million_untagged_responses() {
    let steps = then(
        preauth("IMAP4rev1"),
        [Step::Expect, Step::Flood(b"* 1 EXISTS\r\n".to_vec(), 12 * 10_000_000)],
    );
    let a = run(&steps, &[json!(["noop"]), json!(["noop"])], shell);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "abort", "message": "command: NOOP => untagged responses exceed 192 MiB: the server sent more than this session holds"})
    );
}

/// A BODYSTRUCTURE nested 100,000 deep is one line of data to imaplib's
/// layer: stored as is, no recursion, no crash.
#[test]
fn deeply_nested_bodystructure() {
    let nested = format!(
        "* 1 FETCH (BODYSTRUCTURE {}{})\r\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let steps = then(
        preauth("IMAP4rev1"),
        [
            Step::Expect,
            send("* 1 EXISTS\r\n{tag} OK [READ-WRITE] done\r\n"),
            Step::Expect,
            send(nested),
            send("{tag} OK done\r\n"),
        ],
    );
    let a = run(
        &steps,
        &[json!(["select", "INBOX"]), json!(["fetch", "1", "(BODYSTRUCTURE)"])],
        shell,
    );
    assert_eq!(a[2]["typ"], "OK");
    let line = a[2]["data"][0]["b"].as_str().unwrap();
    assert_eq!(line.len(), "1 (BODYSTRUCTURE ".len() + 200_000 + ")".len());
}

/// A server dripping a line one byte at a time cannot hold the session
/// longer than the timeout.
#[test]
fn a_slow_drip() {
    let steps = then(
        preauth("IMAP4rev1"),
        [
            Step::Expect,
            Step::Drip(
                b"* OK this line never ends in time\r\n".to_vec(),
                Duration::from_millis(150),
            ),
        ],
    );
    let a = run(&steps, &[json!(["noop"])], shell);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "abort", "message": "command: NOOP => socket error: timed out (a response line took longer than 1s)"})
    );
}

/// The connection dies in the middle of a literal.
#[test]
fn reset_in_the_middle_of_a_literal() {
    let steps = then(
        preauth("IMAP4rev1"),
        [
            Step::Expect,
            send("* 1 EXISTS\r\n{tag} OK done\r\n"),
            Step::Expect,
            send("* 1 FETCH (BODY[] {1000}\r\nonly part of it"),
            Step::Close,
        ],
    );
    let a = run(
        &steps,
        &[json!(["select", "INBOX"]), json!(["fetch", "1", "BODY[]"])],
        shell,
    );
    assert_eq!(
        without_kinds(&a[2]),
        json!({"error": "abort", "message": "command: FETCH => socket error: EOF"})
    );
}

/// `(class, kind, errno)` of an error line.
fn kind_of(answer: &Value) -> (String, String, Value) {
    (
        answer["error"].as_str().unwrap_or("no error").to_string(),
        answer["kind"].as_str().unwrap_or("no kind").to_string(),
        answer["errno"].clone(),
    )
}

/// Linux's errno for a refused connection.
const ECONNREFUSED: i32 = 111;
/// Linux's `ECONNRESET`.
const ECONNRESET: i32 = 104;
/// Linux's `ENETUNREACH`.
const ENETUNREACH: i32 = 101;

fn class_kind(class: &str, kind: &str) -> (String, String, Value) {
    (class.to_string(), kind.to_string(), Value::Null)
}

/// Each failure of the byte stream has its own kind, and a refused
/// connection carries the OS errno (CPython lets `ConnectionRefusedError`
/// with errno 111 through; wasimap's abort says the same in its kind).
#[test]
fn error_kinds_of_the_transport() {
    // EOF before the greeting.
    let a = run(&[Step::Close], &[], shell);
    assert_eq!(kind_of(&a[0]), class_kind("abort", "eof"), "{}", a[0]);
    // A server that never greets: the read timeout (1 s).
    let a = run(&[Step::Sleep(Duration::from_millis(1500))], &[], shell);
    assert_eq!(kind_of(&a[0]), class_kind("abort", "timeout"), "{}", a[0]);
    // A loopback port nobody listens on: refused, with ECONNREFUSED.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let a = shell(&[json!(["IMAP4", "127.0.0.1", port, {"timeout": 2}])]);
    assert_eq!(
        kind_of(&a[0]),
        ("abort".to_string(), "refused".to_string(), json!(ECONNREFUSED)),
        "{}",
        a[0]
    );
    // A name that does not resolve (the policy grants localhost:*, and
    // `.invalid` never resolves, RFC 6761): unreachable, no errno.
    let a = shell(&[json!(["IMAP4", "localhost.invalid", 143, {"timeout": 2}])]);
    assert_eq!(
        a[0]["error"], "error",
        "denied: the grant is for localhost only: {}",
        a[0]
    );
    assert_eq!(a[0]["kind"], "denied", "{}", a[0]);
    // The limited broadcast address, granted: Linux refuses a TCP connect
    // to it with ENETUNREACH before any packet leaves the machine.
    let (runner, shell_plugin) =
        runner_with(Policy::deny_all().allow("255.255.255.255:143".parse::<HostPattern>().unwrap()));
    let a = shell_with(
        &runner,
        &shell_plugin,
        &[json!(["IMAP4", "255.255.255.255", 143, {"timeout": 2}])],
    );
    assert_eq!(
        kind_of(&a[0]),
        ("abort".to_string(), "unreachable".to_string(), json!(ENETUNREACH)),
        "{}",
        a[0]
    );
    // EOF in the middle of a command, after the greeting.
    let a = run(
        &then(preauth("IMAP4rev1"), [Step::Expect, Step::Close]),
        &[json!(["noop"])],
        shell,
    );
    assert_eq!(kind_of(&a[1]), class_kind("abort", "eof"), "{}", a[1]);
    // A reset: the server closes with the NOOP still unread, so the kernel
    // answers with RST, and the read fails with ECONNRESET: kind io.
    let a = run(
        &then(
            preauth("IMAP4rev1"),
            [Step::Sleep(Duration::from_millis(300)), Step::Close],
        ),
        &[json!(["noop"])],
        shell,
    );
    assert_eq!(
        kind_of(&a[1]),
        ("abort".to_string(), "io".to_string(), json!(ECONNRESET)),
        "{}",
        a[1]
    );
}

/// A scenario's name, the server's script, the calls, and the
/// `(class, kind)` of the answer to the first call.
type KindCase = (&'static str, Vec<Step>, Vec<Value>, (&'static str, &'static str));

/// What the server says, and what the caller does wrong, each with its
/// kind: BYE, BAD, NO where imaplib raises, the state table, the line
/// limit, a line that is not IMAP, and arguments imaplib refuses.
#[test]
fn error_kinds_of_the_server() {
    let cases: Vec<KindCase> = vec![
        (
            "bye",
            then(preauth("IMAP4rev1"), [Step::Expect, send("* BYE going away\r\n")]),
            vec![json!(["noop"])],
            ("abort", "bye"),
        ),
        (
            "bad",
            then(
                preauth("IMAP4rev1"),
                [Step::Expect, send("{tag} BAD no such thing\r\n")],
            ),
            vec![json!(["noop"])],
            ("error", "bad"),
        ),
        (
            "no",
            then(
                greeting("IMAP4rev1"),
                [Step::Expect, send("{tag} NO wrong password\r\n")],
            ),
            vec![json!(["login", "u", "p"])],
            ("error", "no"),
        ),
        (
            "state",
            preauth("IMAP4rev1"),
            vec![json!(["search", null, "ALL"])],
            ("error", "state"),
        ),
        (
            "limit",
            then(
                preauth("IMAP4rev1"),
                [Step::Expect, send(format!("* OK {}\r\n", "x".repeat(1_000_001)))],
            ),
            vec![json!(["noop"])],
            ("error", "limit"),
        ),
        (
            "malformed",
            then(preauth("IMAP4rev1"), [Step::Expect, send("this is not IMAP\r\n")]),
            vec![json!(["noop"])],
            ("abort", "malformed"),
        ),
        (
            "usage",
            preauth("IMAP4rev1"),
            vec![json!(["create", "a\r\nX1 LOGOUT"])],
            ("error", "usage"),
        ),
    ];
    for (name, steps, calls, (class, kind)) in cases {
        let a = run(&steps, &calls, shell);
        assert_eq!(kind_of(&a[1]), class_kind(class, kind), "{name}: {}", a[1]);
    }
    // imaplib's ValueError for timeout=0 is a usage error too, before any
    // connection is made.
    let a = shell(&[json!(["IMAP4", "127.0.0.1", 1, {"timeout": 0}])]);
    assert_eq!(kind_of(&a[0]), class_kind("error", "usage"), "{}", a[0]);
}

/// `_MAXLINE` lowered on one connection: a line longer than the new limit
/// (far below the default 1,000,000) aborts with kind `limit`, the abort
/// sticks, and nothing more is sent.
#[test]
fn lowered_line_limit() {
    let steps = then(
        preauth("IMAP4rev1"),
        [
            Step::Expect,
            send(format!("* OK {}\r\n{{tag}} OK done\r\n", "x".repeat(40))),
            Step::Expect,
            send(format!("* OK {}\r\n{{tag}} OK done\r\n", "x".repeat(200))),
            Step::Expect,
        ],
    );
    let server = ScriptServer::start(steps);
    let answers = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 2}]),
        json!(["getattr", "_MAXLINE"]),
        json!(["setattr", "_MAXLINE", 100]),
        json!(["getattr", "_MAXLINE"]),
        json!(["noop"]),
        json!(["noop"]),
        json!(["noop"]),
        json!(["setattr", "_MAXLINE", 0]),
    ]);
    let received = server.received();
    assert_eq!(answers[1], json!({"value": 1_000_000}));
    assert_eq!(answers[3], json!({"value": 100}));
    assert_eq!(answers[4]["typ"], "OK", "a 47-byte line fits: {}", answers[4]);
    assert_eq!(kind_of(&answers[5]), class_kind("error", "limit"), "{}", answers[5]);
    assert_eq!(answers[5]["message"], "command: NOOP => got more than 100 bytes");
    assert_eq!(answers[6], answers[5], "the abort sticks");
    assert_eq!(kind_of(&answers[7]), class_kind("error", "usage"), "{}", answers[7]);
    let noops = received.iter().filter(|l| l.ends_with(b"NOOP\r\n")).count();
    assert_eq!(noops, 2, "the third NOOP is never sent: {received:?}");
}

/// A scripted session with INBOX selected, then `fetch` answered by `answer`.
fn selected_then(answer: Vec<Step>) -> Vec<Step> {
    let mut steps = preauth("IMAP4rev1");
    steps.extend([
        Step::Expect,
        send("* 2 EXISTS\r\n{tag} OK [READ-WRITE] SELECT completed\r\n"),
        Step::Expect,
    ]);
    steps.extend(answer);
    steps
}

/// The shell writes a FETCH as it arrives (docs/shell.md, "Output lines"):
/// what arrived before a failure stays in `"data"`. A NO after items gives
/// `"typ": "NO"` and the NO's text as `"text"` (imaplib returns the text as
/// the data and keeps the items among the untagged responses); a lost
/// connection gives the error's keys after the items; a BAD before any
/// item is an ordinary error line, as CPython's.
#[test]
fn a_streamed_fetch_keeps_what_arrived_when_it_fails() {
    let calls = [json!(["select", "INBOX"]), json!(["fetch", "1:2", "(UID BODY[])"])];
    let no = selected_then(vec![send(
        "* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n{tag} NO some messages vanished\r\n",
    )]);
    let ours = run(&no, &calls, shell);
    assert_eq!(
        ours[2],
        json!({"data": [[b("1 (UID 7 BODY[] {5}"), b("hello")], b(")")], "typ": "NO",
               "text": [b("some messages vanished")]})
    );
    let theirs = run(&no, &calls, python_shell);
    assert_eq!(theirs[2], json!({"typ": "NO", "data": [b("some messages vanished")]}));

    let lost = selected_then(vec![send("* 1 FETCH (UID 7)\r\n"), Step::Close]);
    let ours = run(&lost, &calls, shell);
    assert_eq!(
        without_kinds(&ours[2]),
        json!({"data": [b("1 (UID 7)")], "error": "abort", "message": "command: FETCH => socket error: EOF"})
    );

    let bad = selected_then(vec![send("{tag} BAD no such item\r\n")]);
    let ours = same_as_cpython(bad, &calls);
    assert_eq!(
        without_kinds(&ours[2]),
        json!({"error": "error", "message": "FETCH command error: BAD [b'no such item']"})
    );
}
