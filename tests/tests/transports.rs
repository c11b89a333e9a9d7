//! IMAP4_SSL, STARTTLS, IMAP4_stream, timeouts and SASL through the wasm
//! path against the project's Dovecot (and a silent local listener).

use std::net::TcpListener;

use serde_json::{json, Value};
use wasimap_sandbox::Policy;
use wasimap_tests::{b, dovecot, runner_with, shell, shell_with, unique_user};

fn ca() -> Value {
    json!({ "ca_file": dovecot().get("WASIMAP_CA") })
}

fn tls_open(host: &str, tls: Value) -> Value {
    json!(["IMAP4_SSL", host, dovecot().imaps_port(), tls])
}

fn plain_open() -> Value {
    json!(["IMAP4", "127.0.0.1", dovecot().imap_port()])
}

fn error_message(answer: &Value, class: &str) -> String {
    assert_eq!(answer["error"], class, "{answer}");
    answer["message"].as_str().unwrap().to_string()
}

#[test]
fn implicit_tls_with_the_project_ca_is_verified() {
    let d = dovecot();
    let user = unique_user("tls");
    let pem = std::fs::read_to_string(d.get("WASIMAP_CA")).unwrap();
    for (host, tls) in [
        ("127.0.0.1", ca()),
        ("localhost", ca()),
        ("127.0.0.1", json!({ "ca_pem": b(&pem) })),
        (
            "127.0.0.1",
            json!({ "ca_file": d.get("WASIMAP_CA"), "server_hostname": "localhost" }),
        ),
    ] {
        let a = shell(&[
            tls_open(host, tls.clone()),
            json!(["login", user, d.password()]),
            json!(["logout"]),
        ]);
        assert_eq!(a[0], json!({"value": null}), "{host} {tls}");
        assert_eq!(a[1]["typ"], "OK", "{a:?}");
        assert_eq!(a[2]["typ"], "BYE");
    }
}

#[test]
fn untrusted_ca_wrong_name_and_no_ca_fail_clearly() {
    let d = dovecot();
    let untrusted = shell(&[tls_open("127.0.0.1", json!({ "ca_file": d.get("WASIMAP_OTHER_CA") }))]);
    let msg = error_message(&untrusted[0], "abort");
    assert!(
        msg.starts_with("TLS error: handshake failed: invalid peer certificate: UnknownIssuer"),
        "{msg}"
    );

    let default_roots = shell(&[tls_open("127.0.0.1", Value::Null)]);
    let msg = error_message(&default_roots[0], "abort");
    assert!(msg.contains("UnknownIssuer"), "verification is on by default: {msg}");

    let wrong_name = shell(&[tls_open(
        "127.0.0.1",
        json!({ "ca_file": d.get("WASIMAP_CA"), "server_hostname": "imap.example.org" }),
    )]);
    let msg = error_message(&wrong_name[0], "abort");
    assert!(
        msg.contains("certificate not valid for name \"imap.example.org\""),
        "{msg}"
    );

    // The explicit, loudly named opt-out works (for test servers only).
    let insecure = shell(&[tls_open("127.0.0.1", json!({ "insecure": true })), json!(["noop"])]);
    assert_eq!(insecure[0], json!({"value": null}));
    assert_eq!(insecure[1]["typ"], "OK");
}

#[test]
fn a_ca_file_needs_a_grant() {
    let a = shell(&[tls_open("127.0.0.1", json!({ "ca_file": "/etc/shadow" }))]);
    let msg = error_message(&a[0], "error");
    assert_eq!(
        msg,
        "reading \"/etc/shadow\" not allowed (no grant to read \"/etc/shadow\")"
    );
}

#[test]
fn starttls_upgrades_in_place_and_rereads_capabilities() {
    let d = dovecot();
    let user = unique_user("starttls");
    let a = shell(&[
        plain_open(),
        json!(["getattr", "capabilities"]),
        json!(["starttls", ca()]),
        json!(["getattr", "capabilities"]),
        json!(["starttls", ca()]),
        json!(["login", user, d.password()]),
        json!(["select", "INBOX"]),
    ]);
    assert!(a[1]["value"].as_array().unwrap().contains(&json!("STARTTLS")));
    assert_eq!(a[2]["typ"], "OK", "{}", a[2]);
    let caps = a[3]["value"].as_array().unwrap();
    assert!(
        !caps.contains(&json!("STARTTLS")) && caps.contains(&json!("IMAP4REV1")),
        "{caps:?}"
    );
    assert_eq!(error_message(&a[4], "abort"), "TLS session already established");
    assert_eq!(a[5]["typ"], "OK");
    assert_eq!(a[6]["typ"], "OK");
}

#[test]
fn starttls_refused_where_not_offered() {
    // The implicit-TLS port does not offer STARTTLS.
    let a = shell(&[tls_open("127.0.0.1", ca()), json!(["starttls", ca()])]);
    assert_eq!(error_message(&a[1], "abort"), "TLS session already established");
    let d = dovecot();
    let a = shell(&[
        plain_open(),
        json!(["login", unique_user("st"), d.password()]),
        json!(["starttls", ca()]),
    ]);
    assert_eq!(
        error_message(&a[2], "error"),
        "command STARTTLS illegal in state AUTH, only allowed in states NONAUTH"
    );
}

#[test]
fn stream_mode_runs_a_preauthenticated_server() {
    let d = dovecot();
    let user = unique_user("stream");
    let command = format!("{} -u {user}", d.get("WASIMAP_STREAM_COMMAND"));
    let a = shell(&[
        json!(["IMAP4_stream", command]),
        json!(["getattr", "state"]),
        json!(["create", "From Stream"]),
        json!([
            "append",
            "From Stream",
            null,
            null,
            b("Subject: piped\r\n\r\nhello\r\n")
        ]),
        json!(["select", "From Stream"]),
        json!(["fetch", "1", "(BODY[HEADER.FIELDS (SUBJECT)])"]),
        json!(["logout"]),
    ]);
    assert_eq!(a[0], json!({"value": null}));
    assert_eq!(a[1], json!({"value": "AUTH"}), "PREAUTH greeting");
    assert_eq!(a[2]["typ"], "OK");
    assert_eq!(a[3]["typ"], "OK");
    assert_eq!(a[4]["data"], json!([b("1")]));
    assert_eq!(a[5]["data"][0][1], b("Subject: piped\r\n\r\n"));
    assert_eq!(a[6]["typ"], "BYE");
    // The same mailbox seen over the network.
    let check = shell(&[
        plain_open(),
        json!(["login", user, d.password()]),
        json!(["status", "From Stream", "(MESSAGES)"]),
    ]);
    assert_eq!(check[2]["data"], json!([b("\"From Stream\" (MESSAGES 1)")]));
}

#[test]
fn stream_commands_need_a_grant() {
    let a = shell(&[json!(["IMAP4_stream", "/bin/echo hi"])]);
    assert_eq!(
        error_message(&a[0], "error"),
        "running \"/bin/echo hi\" not allowed (no grant to run \"/bin/echo hi\")"
    );
}

#[test]
fn a_stalled_server_times_out_with_abort() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = std::thread::spawn(move || listener.accept().map(|(sock, _)| sock));
    let a = shell(&[json!(["IMAP4", "127.0.0.1", port, {"timeout": 0.3}])]);
    assert_eq!(error_message(&a[0], "abort"), "socket error: timed out");
    drop(accept.join());
    let a = shell(&[json!(["IMAP4", "127.0.0.1", port, {"timeout": 0}])]);
    assert_eq!(
        error_message(&a[0], "error"),
        "Non-blocking socket (timeout=0) is not supported"
    );
}

#[test]
fn sasl_plain_login_cram_md5_against_dovecot() {
    let d = dovecot();
    for (mechanism, call) in [
        (
            "PLAIN",
            json!(["authenticate", "PLAIN", unique_user("plain"), d.password()]),
        ),
        (
            "LOGIN",
            json!(["authenticate", "LOGIN", unique_user("login"), d.password()]),
        ),
        (
            "CRAM-MD5",
            json!(["authenticate", "CRAM-MD5", unique_user("cram"), d.password()]),
        ),
        (
            "login_cram_md5",
            json!(["login_cram_md5", unique_user("cram2"), d.password()]),
        ),
    ] {
        let a = shell(&[plain_open(), call, json!(["getattr", "state"])]);
        assert_eq!(a[1]["typ"], "OK", "{mechanism}: {}", a[1]);
        assert_eq!(a[2], json!({"value": "AUTH"}), "{mechanism}");
    }
    let bad = shell(&[
        plain_open(),
        json!(["authenticate", "PLAIN", unique_user("bad"), "wrong"]),
    ]);
    assert_eq!(
        error_message(&bad[1], "error"),
        "[AUTHENTICATIONFAILED] Authentication failed."
    );
}

#[test]
fn password_with_quotes_and_backslashes() {
    let password = "p a\"s\\s w";
    for call in [
        json!(["login", "quoteuser", password]),
        json!(["authenticate", "PLAIN", "quoteuser", password]),
        json!(["login_cram_md5", "quoteuser", password]),
    ] {
        let a = shell(&[plain_open(), call.clone()]);
        assert_eq!(a[1]["typ"], "OK", "{call}: {}", a[1]);
    }
}

#[test]
fn a_plugin_drives_sasl_itself() {
    let d = dovecot();
    let user = unique_user("manual");
    let a = shell(&[
        plain_open(),
        json!(["authenticate_start", "LOGIN", null]),
        json!(["noop"]),
        json!(["authenticate_step", b(&user)]),
        json!(["authenticate_step", b(d.password())]),
        json!(["getattr", "state"]),
    ]);
    assert_eq!(a[1], json!({"value": {"challenge": b("Username:")}}));
    assert_eq!(
        error_message(&a[2], "error"),
        "AUTHENTICATE in progress: answer with authenticate-step first"
    );
    assert_eq!(a[3], json!({"value": {"challenge": b("Password:")}}));
    assert_eq!(a[4]["typ"], "OK");
    assert_eq!(a[5], json!({"value": "AUTH"}));

    // Cancelling with `*` (imaplib's authobject returning None).
    let c = shell(&[
        plain_open(),
        json!(["authenticate_start", "LOGIN", null]),
        json!(["authenticate_step", null]),
        json!(["noop"]),
    ]);
    let msg = error_message(&c[2], "error");
    assert!(msg.starts_with("AUTHENTICATE command error: BAD"), "{msg}");
    assert_eq!(c[3]["typ"], "OK", "the session goes on");
}

mod oauth {
    use serde_json::json;
    use wasimap_tests::script_server::{greeting, send, ScriptServer, Step};
    use wasimap_tests::shell;

    const TOKEN: &str = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";

    #[test]
    fn xoauth2_with_sasl_ir_is_byte_exact() {
        let mut steps = greeting("IMAP4rev1 SASL-IR AUTH=XOAUTH2");
        steps.extend([Step::Expect, send("{tag} OK Success\r\n")]);
        let server = ScriptServer::start(steps);
        let a = shell(&[
            json!(["IMAP4", "127.0.0.1", server.port]),
            json!([
                "authenticate",
                "XOAUTH2",
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ]),
        ]);
        assert_eq!(a[1]["typ"], "OK", "{}", a[1]);
        let lines = server.received();
        let line = String::from_utf8(lines[1].clone()).unwrap();
        let expected = " AUTHENTICATE XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\r\n";
        assert!(line.ends_with(expected), "{line:?}");
    }

    /// Without SASL-IR the initial response answers the first `+`; after
    /// the server's JSON error challenge the client sends %x01 (RFC 7628).
    #[test]
    fn oauthbearer_error_flow_is_byte_exact() {
        let mut steps = greeting("IMAP4rev1 AUTH=OAUTHBEARER");
        steps.extend([
            Step::Expect,
            send("+ \r\n"),
            Step::Expect,
            send("+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n"),
            Step::Expect,
            send("{tag} NO SASL authentication failed\r\n"),
        ]);
        let server = ScriptServer::start(steps);
        let port = server.port;
        let a = shell(&[
            json!(["IMAP4", "127.0.0.1", port]),
            json!(["authenticate", "OAUTHBEARER", "user@example.com", TOKEN]),
        ]);
        assert_eq!(
            a[1],
            json!({"error": "error", "kind": "no", "errno": null, "message": "SASL authentication failed"})
        );
        let lines = server.received();
        assert!(
            lines[1].ends_with(b" AUTHENTICATE OAUTHBEARER\r\n"),
            "{:?}",
            String::from_utf8_lossy(&lines[1])
        );
        let initial = format!("n,a=user@example.com,\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {TOKEN}\x01\x01");
        use base64::Engine as _;
        let expected = format!("{}\r\n", base64::engine::general_purpose::STANDARD.encode(initial));
        assert_eq!(String::from_utf8_lossy(&lines[2]), expected);
        assert_eq!(lines[3], b"AQ==\r\n");
    }
}

#[test]
fn a_dropped_stream_connection_kills_its_processes() {
    // A background child of a shell: killing only the shell would orphan
    // it. wasimap runs no shell of its own, so this runner grants this one
    // exact shell line, as a user could.
    let sleeper = format!("sleep {}.25", 5000 + std::process::id() % 1000);
    let line = format!(
        "/bin/{sleeper} & exec {} -u {}",
        dovecot().get("WASIMAP_STREAM_COMMAND"),
        unique_user("reap")
    );
    let command = format!("/bin/sh -c '{line}'");
    let (runner, shell) = runner_with(Policy::deny_all().allow_exec(&command));
    let a = shell_with(&runner, &shell, &[json!(["IMAP4_stream", command]), json!(["noop"])]);
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
    // The shell plugin has returned: its connection resource was dropped.
    let alive = std::process::Command::new("pgrep")
        .args(["-f", &sleeper])
        .output()
        .unwrap();
    assert!(
        alive.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&alive.stdout)
    );
}

/// `(class, kind)` of an error line.
fn class_kind(answer: &Value) -> (&str, &str) {
    (
        answer["error"].as_str().unwrap_or("no error"),
        answer["kind"].as_str().unwrap_or("no kind"),
    )
}

/// TLS failures and denials each have their kind: a certificate that does
/// not name the host, or one from a CA nobody trusts, is
/// `tls-certificate` (CPython's `ssl.SSLCertVerificationError`); TLS
/// against a port that does not speak it is `tls-handshake`; a missing
/// grant is `denied`, an `error` since retrying cannot help.
#[test]
fn tls_and_policy_failures_have_their_kinds() {
    let d = dovecot();
    let name_mismatch = shell(&[tls_open(
        "127.0.0.1",
        json!({ "ca_file": d.get("WASIMAP_CA"), "server_hostname": "imap.example.org" }),
    )]);
    assert_eq!(
        class_kind(&name_mismatch[0]),
        ("abort", "tls-certificate"),
        "{}",
        name_mismatch[0]
    );
    let untrusted = shell(&[tls_open("127.0.0.1", json!({ "ca_file": d.get("WASIMAP_OTHER_CA") }))]);
    assert_eq!(
        class_kind(&untrusted[0]),
        ("abort", "tls-certificate"),
        "{}",
        untrusted[0]
    );
    // The plain IMAP port answers a ClientHello with an IMAP greeting.
    let not_tls = shell(&[json!(["IMAP4_SSL", "127.0.0.1", d.imap_port(), ca()])]);
    assert_eq!(class_kind(&not_tls[0]), ("abort", "tls-handshake"), "{}", not_tls[0]);
    assert_eq!(not_tls[0]["errno"], Value::Null);

    let (runner, shell_component) = runner_with(Policy::deny_all());
    let denied = shell_with(&runner, &shell_component, &[plain_open()]);
    assert_eq!(class_kind(&denied[0]), ("error", "denied"), "{}", denied[0]);
    let exec = shell(&[json!(["IMAP4_stream", "/bin/echo hi"])]);
    assert_eq!(class_kind(&exec[0]), ("error", "denied"), "{}", exec[0]);
    let ca_file = shell(&[tls_open("127.0.0.1", json!({ "ca_file": "/etc/shadow" }))]);
    assert_eq!(class_kind(&ca_file[0]), ("error", "denied"), "{}", ca_file[0]);
}
