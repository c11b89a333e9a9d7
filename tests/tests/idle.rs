//! IDLE with Python 3.14's semantics, through the wasm path: against
//! Dovecot with a second connection delivering mail, and against the
//! scripted server for the refusals.

use std::time::Duration;

use serde_json::json;
use wasimap_tests::script_server::{preauth, send, ScriptServer, Step};
use wasimap_tests::{b, login_lines, shell, unique_user, without_kinds};

#[test]
fn exists_arrives_while_idling() {
    let user = unique_user("idle");
    let mut script = login_lines(&user);
    script.extend([
        json!(["select", "INBOX"]),
        json!(["idle", 20]),
        json!(["noop"]),
        json!(["idle_next", 15]),
        json!(["idle_burst", 0.5]),
        json!(["idle_done"]),
        json!(["getattr", "state"]),
        json!(["noop"]),
    ]);
    let idler = std::thread::spawn(move || shell(&script));

    std::thread::sleep(Duration::from_millis(1500));
    let mut deliver = login_lines(&user);
    deliver.push(json!(["append", "INBOX", null, null, b("Subject: ping\r\n\r\nhi\r\n")]));
    assert_eq!(shell(&deliver)[2]["typ"], "OK");

    let a = idler.join().unwrap();
    assert_eq!(a[3], json!({"value": null}), "idle entered");
    assert_eq!(
        without_kinds(&a[4]),
        json!({"error": "error", "message": "command NOOP illegal in state IDLING, only allowed in states NONAUTH, AUTH, SELECTED, LOGOUT"})
    );
    assert_eq!(a[5], json!({"value": ["EXISTS", [b("1")]]}));
    assert_eq!(a[6], json!({"value": [["RECENT", [b("1")]]]}), "the rest of the burst");
    assert_eq!(a[7]["typ"], "OK", "{}", a[7]);
    assert_eq!(a[8], json!({"value": "SELECTED"}));
    assert_eq!(a[9]["typ"], "OK");
}

#[test]
fn idle_next_times_out_and_done_keeps_unread_responses() {
    let mut steps = preauth("IMAP4rev1 IDLE");
    steps.extend([
        Step::Expect,
        send("+ idling\r\n"),
        Step::Sleep(Duration::from_millis(700)),
        send("* 4 EXISTS\r\n"),
        Step::Expect,
        send("{tag} OK IDLE terminated\r\n"),
    ]);
    let server = ScriptServer::start(steps);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        json!(["idle", null]),
        json!(["idle_next", 0.2]),
        json!(["idle_done"]),
        json!(["response", "EXISTS"]),
    ]);
    assert_eq!(a[2], json!({"value": null}), "nothing within 0.2 s");
    assert_eq!(a[3]["typ"], "OK");
    assert_eq!(
        a[4],
        json!({"typ": "EXISTS", "data": [b("4")]}),
        "unread responses stay"
    );
    let lines = server.received();
    assert!(lines[1].ends_with(b" IDLE\r\n"));
    assert_eq!(lines[2], b"DONE\r\n");
}

#[test]
fn idle_refusals() {
    let server = ScriptServer::start(preauth("IMAP4rev1"));
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        json!(["idle", null]),
    ]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "Server does not support IMAP4 IDLE"})
    );
    drop(server.received());

    let mut steps = preauth("IMAP4rev1 IDLE");
    steps.extend([
        Step::Expect,
        send("{tag} NO [LIMIT] too many idlers\r\n"),
        Step::Expect,
        send("{tag} OK noop\r\n"),
    ]);
    let server = ScriptServer::start(steps);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 5}]),
        json!(["idle", null]),
        json!(["getattr", "state"]),
        json!(["noop"]),
    ]);
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "idle denied: [b'[LIMIT] too many idlers']"})
    );
    assert_eq!(a[2], json!({"value": "AUTH"}));
    assert_eq!(a[3]["typ"], "OK");
}
