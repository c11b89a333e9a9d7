//! Known quirks of the big hosted servers (Gmail, Exchange/Outlook, iCloud,
//! Yahoo, ProtonMail Bridge, ...) replayed by the scripted server, each
//! with its source. Every transcript goes through the wasm path (shell
//! plugin → protocol component → host) and must end in a clean result or a
//! clear error, never a panic, a hang or a desynchronized session: unless
//! the quirk is fatal, the next command (a NOOP) is answered in step, and
//! when it is fatal the sticky abort is what the next command reports. The
//! typed layer (wasimap_protocol::typed) is run on the data imaplib
//! returned and must read what it can or name the bytes it cannot.
//! docs/servers.md lists these with what wasimap does.

use serde_json::{json, Value};
use wasimap_protocol::typed::{parse_fetch, parse_status, FetchMessage};
use wasimap_protocol::DataItem;
use wasimap_tests::script_server::{greeting, preauth, send, ScriptServer, Step};
use wasimap_tests::{shell, without_kinds};

const IN_STEP: &str = "{tag} OK still in step\r\n";

/// Runs `calls` against a scripted server that opens with `opening` and
/// answers the n-th client line it reads with `replies[n]` (an empty reply
/// reads a line and sends nothing, e.g. a literal or a SASL answer), then
/// answers one more NOOP with [`IN_STEP`]. Returns the answers (open line
/// first, NOOP last) and the lines the server read after CAPABILITY.
fn transcript(opening: Vec<Step>, replies: &[&str], calls: &[Value]) -> (Vec<Value>, Vec<String>) {
    let mut steps = opening;
    for reply in replies {
        steps.push(Step::Expect);
        if !reply.is_empty() {
            steps.push(send(*reply));
        }
    }
    steps.extend([Step::Expect, send(IN_STEP)]);
    let server = ScriptServer::start(steps);
    let mut script = vec![json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 2}])];
    script.extend_from_slice(calls);
    script.push(json!(["noop"]));
    let answers = shell(&script);
    let lines = server
        .received()
        .iter()
        .skip(1)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    (answers, lines)
}

/// [`transcript`] in the selected state of a PREAUTH server with `caps`.
fn selected(caps: &str, replies: &[&str], calls: &[Value]) -> (Vec<Value>, Vec<String>) {
    let mut all = vec!["* 3 EXISTS\r\n{tag} OK [READ-WRITE] selected\r\n"];
    all.extend_from_slice(replies);
    let mut script = vec![json!(["select", "INBOX"])];
    script.extend_from_slice(calls);
    let (mut answers, mut lines) = transcript(preauth(caps), &all, &script);
    assert_eq!(answers[1]["typ"], "OK", "select: {}", answers[1]);
    answers.remove(1);
    lines.remove(0);
    (answers, lines)
}

fn assert_in_step(answers: &[Value]) {
    assert_eq!(
        answers.last().unwrap(),
        &json!({"typ": "OK", "data": [{"b": "still in step"}]}),
        "the next command is answered in step: {answers:#?}"
    );
}

/// The shell's data list back as the core's data items.
fn items(answer: &Value) -> Vec<DataItem> {
    let bytes = |v: &Value| -> Vec<u8> { v["b"].as_str().unwrap().chars().map(|c| c as u32 as u8).collect() };
    answer["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {answer}"))
        .iter()
        .map(|d| match d {
            Value::Null => DataItem::None,
            Value::Array(pair) => DataItem::Literal(bytes(&pair[0]), bytes(&pair[1])),
            other => DataItem::Bytes(bytes(other)),
        })
        .collect()
}

fn typed(answer: &Value) -> Vec<FetchMessage> {
    parse_fetch(&items(answer)).unwrap_or_else(|e| panic!("typed FETCH: {e:?} for {answer}"))
}

/// The typed layer's error for data it cannot read: a grammar error
/// quoting the response.
fn typed_error(answer: &Value) -> String {
    match parse_fetch(&items(answer)) {
        Ok(v) => panic!("expected a grammar error, got {v:#?}"),
        Err(e) => {
            let m = e.message().to_string();
            assert!(m.starts_with("cannot parse FETCH response: b'"), "{m}");
            m
        }
    }
}

fn first_line(answer: &Value) -> &str {
    answer["data"][0]["b"].as_str().unwrap_or_default()
}

fn other<'a>(m: &'a FetchMessage, name: &str) -> &'a [u8] {
    &m.other
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", m.other))
        .1
}

fn fetch(items: &str) -> Value {
    json!(["fetch", "1", items])
}

// ----- Gmail -----

/// Gmail's IMAP extensions (developers.google.com/gmail/imap/imap-extensions):
/// X-GM-MSGID and X-GM-THRID are 64-bit numbers, X-GM-LABELS a list of
/// astrings and flag-like system labels.
#[test]
fn gmail_msgid_thrid_labels() {
    let (a, _) = selected(
        "IMAP4rev1 X-GM-EXT-1",
        &["* 1 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\") UID 12 FLAGS (\\Seen))\r\n{tag} OK Success\r\n"],
        &[fetch("(X-GM-THRID X-GM-MSGID X-GM-LABELS UID FLAGS)")],
    );
    assert!(first_line(&a[1]).starts_with("1 (X-GM-THRID 1278455344230334865 X-GM-MSGID"));
    let m = &typed(&a[1])[0];
    assert_eq!((m.uid, m.flags.clone()), (Some(12), Some(vec!["\\Seen".to_string()])));
    assert_eq!(other(m, "X-GM-MSGID"), b"1278455344230334865");
    assert_eq!(
        other(m, "X-GM-LABELS"),
        b"(\\Inbox \\Sent Important \"Muy Importante\")"
    );
    assert_in_step(&a);
}

/// Gmail sends a label with brackets unquoted, `X-GM-LABELS ([Mailbox])`,
/// which is not an atom (MailKit issue #51, jstedfast/MailKit#51): imaplib's
/// data is unaffected and the typed layer keeps the item raw.
#[test]
fn gmail_label_with_brackets_unquoted() {
    let (a, _) = selected(
        "IMAP4rev1 X-GM-EXT-1",
        &["* 1 FETCH (X-GM-LABELS ([Mailbox]) UID 3)\r\n{tag} OK Success\r\n"],
        &[fetch("(X-GM-LABELS UID)")],
    );
    assert_eq!(first_line(&a[1]), "1 (X-GM-LABELS ([Mailbox]) UID 3)");
    let m = &typed(&a[1])[0];
    assert_eq!(m.uid, Some(3));
    assert_eq!(other(m, "X-GM-LABELS"), b"([Mailbox])");
    assert_in_step(&a);
}

/// An empty label list `X-GM-LABELS ()` (jakartaee/mail-api#194, misparsed
/// as one empty label there).
#[test]
fn gmail_empty_label_list() {
    let (a, _) = selected(
        "IMAP4rev1 X-GM-EXT-1",
        &["* 6 FETCH (X-GM-LABELS () MODSEQ (100272))\r\n{tag} OK Success\r\n"],
        &[fetch("(X-GM-LABELS)")],
    );
    let m = &typed(&a[1])[0];
    assert_eq!((m.seq, m.modseq), (6, Some(100272)));
    assert_eq!(other(m, "X-GM-LABELS"), b"()");
    assert_in_step(&a);
}

/// System labels as quoted strings with an escaped backslash,
/// `"\\Inbox"` (mscdex/node-imap#187; angus-mail#165 corrupted them).
#[test]
fn gmail_quoted_system_labels() {
    let (a, _) = selected(
        "IMAP4rev1 X-GM-EXT-1",
        &["* 1 FETCH (X-GM-LABELS (\"\\\\Inbox\" \"\\\\Important\") UID 1 FLAGS (\\Seen))\r\n{tag} OK Success\r\n"],
        &[fetch("(X-GM-LABELS UID FLAGS)")],
    );
    let m = &typed(&a[1])[0];
    assert_eq!(other(m, "X-GM-LABELS"), b"(\"\\\\Inbox\" \"\\\\Important\")");
    assert_eq!(m.flags, Some(vec!["\\Seen".to_string()]));
    assert_in_step(&a);
}

/// X-GM-RAW takes Gmail's search syntax as one string
/// (developers.google.com/gmail/imap/imap-extensions#extension_of_the_search_command_x-gm-raw):
/// a value the caller quoted goes out unchanged.
#[test]
fn gmail_x_gm_raw_search() {
    let (a, lines) = selected(
        "IMAP4rev1 X-GM-EXT-1",
        &["* SEARCH 2 3\r\n{tag} OK SEARCH completed (Success)\r\n"],
        &[json!(["search", null, "X-GM-RAW", "\"has:attachment in:unread\""])],
    );
    assert!(
        lines[0].ends_with(" SEARCH X-GM-RAW \"has:attachment in:unread\"\r\n"),
        "{lines:?}"
    );
    assert_eq!(a[1], json!({"typ": "OK", "data": [{"b": "2 3"}]}));
    assert_in_step(&a);
}

/// Gmail refuses a password login that needs a web sign-in with
/// `NO [ALERT] Please log in via your web browser` (support.google.com/mail/answer/78754;
/// the answer imapclient and offlineimap users report): login raises
/// imaplib's error with the text, and the connection stays usable.
#[test]
fn gmail_web_login_required() {
    let (a, _) = transcript(
        greeting("IMAP4rev1 AUTH=PLAIN"),
        &["{tag} NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)\r\n"],
        &[json!(["login", "ann@gmail.com", "pw"]), json!(["response", "ALERT"])],
    );
    assert_eq!(a[1]["error"], "error");
    assert!(
        a[1]["message"]
            .as_str()
            .unwrap()
            .contains("[ALERT] Please log in via your web browser"),
        "{}",
        a[1]
    );
    assert_eq!(a[2]["typ"], "ALERT");
    assert_in_step(&a);
}

/// Gmail's 15-connection limit: `NO [ALERT] Too many simultaneous
/// connections. (Failure)` at login (MailCore/mailcore2#587,
/// zone-eu/wildduck#35, imapsync/imapsync#61).
#[test]
fn gmail_too_many_simultaneous_connections() {
    let (a, _) = transcript(
        greeting("IMAP4rev1"),
        &["{tag} NO [ALERT] Too many simultaneous connections. (Failure)\r\n"],
        &[json!(["login", "ann@gmail.com", "pw"]), json!(["getattr", "state"])],
    );
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "error", "message": "b'[ALERT] Too many simultaneous connections. (Failure)'"})
    );
    assert_eq!(a[2], json!({"value": "NONAUTH"}));
    assert_in_step(&a);
}

/// Dovecot's per-user+IP limit at login, `NO [UNAVAILABLE] Maximum number
/// of connections from user+IP exceeded` (mscdex/node-imap#606).
#[test]
fn dovecot_userip_connection_limit() {
    let (a, _) = transcript(
        greeting("IMAP4rev1"),
        &["{tag} NO [UNAVAILABLE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=16)\r\n"],
        &[json!(["login", "u", "p"])],
    );
    assert!(a[1]["message"]
        .as_str()
        .unwrap()
        .contains("[UNAVAILABLE] Maximum number"));
    assert_in_step(&a);
}

/// An untagged `* OK [ALERT]` in the middle of a session (RFC 3501 7.1:
/// the text MUST be presented to the user): as in imaplib, the code is
/// recorded under `ALERT` (with the bracket's empty rest) and the text
/// under `OK`.
#[test]
fn untagged_alert_mid_session() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* OK [ALERT] Your account is over quota\r\n{tag} OK NOOP completed\r\n"],
        &[json!(["noop"]), json!(["response", "ALERT"]), json!(["response", "OK"])],
    );
    assert_eq!(a[2], json!({"typ": "ALERT", "data": [{"b": ""}]}));
    assert_eq!(
        a[3],
        json!({"typ": "OK", "data": [{"b": "[ALERT] Your account is over quota"}]})
    );
    assert_in_step(&a);
}

// ----- Exchange / Outlook -----

/// Exchange's greeting ends with a bracketed base64 blob and its
/// capabilities start with `IMAP4` (the logs of jstedfast/MailKit#1446 and
/// #178): the blob is text, not a response code, and the version is
/// IMAP4REV1.
#[test]
fn exchange_greeting_and_capabilities() {
    let opening = vec![
        send("* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADEANgBDAEEAMAAwADYAMwAuAG4AYQBtAHAAcgBkADEANgAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]\r\n"),
        Step::Expect,
        send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n"),
    ];
    let (a, _) = transcript(
        opening,
        &[],
        &[json!(["getattr", "PROTOCOL_VERSION"]), json!(["getattr", "welcome"])],
    );
    assert_eq!(a[1], json!({"value": "IMAP4REV1"}));
    assert!(a[2]["value"]["b"].as_str().unwrap().ends_with(
        "[TQBOADIAUABSADEANgBDAEEAMAAwADYAMwAuAG4AYQBtAHAAcgBkADEANgAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]"
    ));
    assert_in_step(&a);
}

/// XOAUTH2 failure (developers.google.com/gmail/imap/xoauth2-protocol,
/// the same on outlook.office365.com): the server sends a base64 JSON
/// error as a challenge, the client answers with an empty line, then
/// `NO [AUTHENTICATIONFAILED]`.
#[test]
fn xoauth2_json_challenge_then_authenticationfailed() {
    let (a, lines) = transcript(
        greeting("IMAP4rev1 AUTH=XOAUTH2 SASL-IR"),
        &[
            "+ eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n",
            "{tag} NO [AUTHENTICATIONFAILED] AUTHENTICATE failed.\r\n",
        ],
        &[json!(["authenticate", "XOAUTH2", "ann@example.org", "expired-token"])],
    );
    assert_eq!(a[1]["error"], "error", "{}", a[1]);
    assert!(
        a[1]["message"]
            .as_str()
            .unwrap()
            .contains("[AUTHENTICATIONFAILED] AUTHENTICATE failed."),
        "{}",
        a[1]
    );
    assert!(lines[0].contains(" AUTHENTICATE XOAUTH2"), "{lines:?}");
    assert_eq!(
        lines[1], "\r\n",
        "the JSON challenge is answered with an empty line: {lines:?}"
    );
    assert_in_step(&a);
}

/// Exchange's BODYSTRUCTURE with NIL where the multipart's
/// disposition list belongs and a string in its place (javaee/javamail#278,
/// Exchange 2016: `"S/MIME Encrypted Message" NIL`): imaplib's data is the
/// raw line; the typed layer names the bytes it cannot read.
#[test]
fn exchange_bodystructure_string_disposition() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 0 NIL (\"inline\" NIL) NIL NIL)(\"application\" \"octet-stream\" (\"name\" \"private.txt\") NIL NIL \"base64\" 690 NIL (\"attachment\" (\"filename\" \"private.txt\")) NIL NIL) \"mixed\" (\"boundary\" \"----=_Part_0\") \"S/MIME Encrypted Message\" NIL))\r\n{tag} OK FETCH completed.\r\n"],
        &[fetch("(BODYSTRUCTURE)")],
    );
    assert!(first_line(&a[1]).contains("\"S/MIME Encrypted Message\" NIL))"));
    let e = typed_error(&a[1]);
    assert!(e.contains("S/MIME Encrypted Message"), "{e}");
    assert_in_step(&a);
}

/// Office 365 sends `NIL` for a part's body fields (size and lines) in
/// BODYSTRUCTURE (jstedfast/MailKit#1446, "Unexpected token: NIL"; #503
/// and #919 for Exchange on premises).
#[test]
fn exchange_bodystructure_nil_size() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (UID 9 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL)(\"message\" \"delivery-status\" NIL NIL NIL \"7bit\" NIL NIL NIL NIL) \"report\" (\"report-type\" \"delivery-status\") NIL NIL NIL))\r\n{tag} OK FETCH completed.\r\n"],
        &[fetch("(UID BODYSTRUCTURE)")],
    );
    match parse_fetch(&items(&a[1])) {
        Ok(m) => {
            assert_eq!(m[0].uid, Some(9));
            assert_eq!(m[0].body_structure[0].media_subtype.to_lowercase(), "report");
        }
        Err(e) => assert!(e.message().contains("delivery-status"), "{e:?}"),
    }
    assert_in_step(&a);
}

/// A multipart whose nested part has NIL for its media type
/// (`(NIL "alternative" ...)`, jstedfast/MailKit#1393): clean result or
/// named bytes, and the session goes on.
#[test]
fn bodystructure_nil_media_type() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 727 16 NIL NIL NIL NIL)(NIL \"alternative\" (\"boundary\" \"Apple-Mail=_35\") NIL NIL NIL) \"report\" (\"report-type\" \"delivery-status\") NIL NIL NIL))\r\n{tag} OK FETCH completed.\r\n"],
        &[fetch("(BODYSTRUCTURE)")],
    );
    if let Err(e) = parse_fetch(&items(&a[1])) {
        assert!(
            e.message()
                .starts_with("cannot parse FETCH response: b'1 (BODYSTRUCTURE"),
            "{e:?}"
        );
    }
    assert_in_step(&a);
}

/// Content-Description sent as `""""` (unescaped quotes from the header;
/// emersion/go-imap#659): the quoted string ends early, so the typed layer
/// reports the bytes; imaplib's data is intact.
#[test]
fn bodystructure_unescaped_quotes() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 150 FETCH (UID 7 BODY ((\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 1224 16)(\"application\" \"octet-stream\" (\"name\" \"2154973550.pdf\") NIL \"\"\"\" \"base64\" 65322) \"MIXED\"))\r\n{tag} OK FETCH completed\r\n"],
        &[fetch("(UID BODY)")],
    );
    assert!(first_line(&a[1]).contains("NIL \"\"\"\" \"base64\""));
    typed_error(&a[1]);
    assert_in_step(&a);
}

/// A FETCH that lacks the item asked for: iCloud answers `FETCH (RFC822)`
/// with OK and no RFC822 literal (modern-email/defects#36, zammad/zammad#4589):
/// imaplib returns what came, the typed layer has no section.
#[test]
fn icloud_rfc822_without_the_body() {
    let (a, _) = selected(
        "IMAP4rev1 X-APPLE-WEBMAIL",
        &["* 1 FETCH (UID 5 RFC822.SIZE 5277)\r\n{tag} OK FETCH completed.\r\n"],
        &[fetch("(RFC822)")],
    );
    assert_eq!(
        a[1],
        json!({"typ": "OK", "data": [{"b": "1 (UID 5 RFC822.SIZE 5277)"}]})
    );
    let m = &typed(&a[1])[0];
    assert_eq!((m.uid, m.size, m.sections.len()), (Some(5), Some(5277), 0));
    assert_in_step(&a);
}

/// Strings may be literals anywhere (RFC 3501 4.3); servers send a
/// subject with quotes or 8-bit bytes as one inside ENVELOPE.
#[test]
fn envelope_subject_as_a_literal() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (ENVELOPE (\"Wed, 1 Feb 2024 10:00:00 +0000\" {11}\r\nsay \"hi\" \\o NIL NIL NIL NIL NIL NIL NIL \"<m@x>\"))\r\n{tag} OK FETCH completed\r\n"],
        &[fetch("(ENVELOPE)")],
    );
    let env = typed(&a[1])[0].envelope.clone().expect("envelope");
    assert_eq!(env.subject.as_deref(), Some(&b"say \"hi\" \\o"[..]));
    assert_eq!(env.message_id.as_deref(), Some(&b"<m@x>"[..]));
    assert_in_step(&a);
}

/// 8-bit header bytes without RFC 2047 in ENVELOPE quoted strings (ProtonMail
/// Bridge, modern-email/defects#38): imaplib passes the bytes through, the
/// typed layer keeps the raw bytes of the subject.
#[test]
fn eight_bit_bytes_in_envelope() {
    // The 8-bit bytes are not valid UTF-8, so the script is raw bytes.
    let steps = {
        let mut s = preauth("IMAP4rev1");
        s.extend([
            Step::Expect,
            send("* 1 EXISTS\r\n{tag} OK selected\r\n"),
            Step::Expect,
            Step::Send(
                b"* 1 FETCH (ENVELOPE (NIL \"Gr\xfc\xdfe\" ((\"B\xe0d\" NIL \"from\" \"localhost\")) NIL NIL NIL NIL NIL NIL NIL))\r\n"
                    .to_vec(),
            ),
            send("{tag} OK FETCH completed\r\n"),
            Step::Expect,
            send(IN_STEP),
        ]);
        s
    };
    let server = ScriptServer::start(steps);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 2}]),
        json!(["select", "INBOX"]),
        fetch("(ENVELOPE)"),
        json!(["noop"]),
    ]);
    drop(server.received());
    let line = first_line(&a[2]);
    assert!(line.contains("\"Gr\u{fc}\u{df}e\""), "{line}");
    let env = typed(&a[2])[0].envelope.clone().expect("envelope");
    assert_eq!(env.subject.as_deref(), Some(&b"Gr\xfc\xdfe"[..]));
    assert_eq!(env.from[0].name.as_deref(), Some(&b"B\xe0d"[..]));
    assert_in_step(&a);
}

/// Yahoo's "undisclosed-recipients" group address with a space before `)`
/// (jakartaee/mail-api#30).
#[test]
fn yahoo_undisclosed_recipients_address() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 2 FETCH (ENVELOPE (\"Wed, 28 Sep 2011 11:16:17 +0100\" \"[WI] Call for Papers\" ((NIL NIL \"xxx\" \"tju.edu.cn\")) ((NIL NIL \"xxx\" \"gmail.com\")) ((NIL NIL \"xx\" \"tju.edu.cn\")) ((\"undisclosed-recipients\" NIL \"\\\"undisclosed-recipients\\\"\" NIL )) NIL NIL NIL \"<CAPr0@mail.gmail.com>\"))\r\n{tag} OK FETCH completed\r\n"],
        &[json!(["fetch", "2", "(ENVELOPE)"])],
    );
    assert!(first_line(&a[1]).contains("NIL ))"));
    match parse_fetch(&items(&a[1])) {
        Ok(m) => assert_eq!(m[0].seq, 2),
        Err(e) => assert!(e.message().contains("undisclosed-recipients"), "{e:?}"),
    }
    assert_in_step(&a);
}

/// An ENVELOPE with nine fields, the Message-ID missing (qq.com,
/// jstedfast/MailKit#279): a grammar error naming the response.
#[test]
fn envelope_missing_message_id() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 33 FETCH (ENVELOPE (\"Wed, 7 Aug 2013 16:44:13 +0800\" \"=?GBK?B?UmU6?=\" ((NIL NIL \"xxx\" \"xxx.com\")) ((NIL NIL \"xxx\" \"xxx.com\")) ((NIL NIL \"xxx\" \"xxx.com\")) ((NIL NIL \"xxx\" \"xxx.com\")) NIL NIL \"<xxx@qq.com>\"))\r\n{tag} OK FETCH completed\r\n"],
        &[json!(["fetch", "33", "(ENVELOPE)"])],
    );
    let e = typed_error(&a[1]);
    assert!(e.contains("b'33 (ENVELOPE"), "{e}");
    assert_in_step(&a);
}

/// Unescaped quotes inside a Message-ID in ENVELOPE
/// (jakartaee/mail-api#669).
#[test]
fn envelope_unescaped_quotes_in_message_id() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 364 FETCH (ENVELOPE (\"Wed, 6 Apr 2022 17:10:18 +0800 (CST)\" \"x\" NIL NIL NIL NIL NIL NIL NIL \"<17.JavaMail.\"cv@notice.zhipin.com\"@v-01>\") RFC822.SIZE 1103217)\r\n{tag} OK FETCH completed\r\n"],
        &[json!(["fetch", "364", "(ENVELOPE RFC822.SIZE)"])],
    );
    typed_error(&a[1]);
    assert_in_step(&a);
}

/// UIDNEXT missing or odd (RFC 3501 7.1: without it "the client can not
/// make any assumptions about the next unique identifier value"). A SELECT
/// that ends without `[UIDNEXT]` (Winmail Pro, modern-email/defects#43 and
/// chatmail/core#4842; Courier-IMAP 5.0 does the same, see
/// `captures/courier/select.txt`), then the STATUS fallback those clients
/// use answered with an empty list, `* STATUS "INBOX" ()` (mail.163.com,
/// chatmail/core#5049), then a UIDNEXT that did not advance past a UID
/// already seen (Exchange 2007's stale STATUS UIDNEXT, smiley22/S22.Imap#31).
/// imaplib keeps what came: `response('UIDNEXT')` is `[None]`, the STATUS
/// data as sent; the typed STATUS has no UIDNEXT rather than a made-up 0.
#[test]
fn uidnext_missing_or_odd() {
    let (a, lines) = transcript(
        preauth("IMAP4rev1 UIDPLUS"),
        &[
            "* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)\r\n* OK [PERMANENTFLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited\r\n* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1697802109] Ok\r\n{tag} OK [READ-WRITE] Ok SELECT completed\r\n",
            "* STATUS \"INBOX\" ()\r\n{tag} OK STATUS completed\r\n",
            "* 2 FETCH (UID 4)\r\n{tag} OK FETCH completed\r\n",
            "* STATUS \"INBOX\" (UIDNEXT 4)\r\n{tag} OK STATUS completed\r\n",
        ],
        &[
            json!(["select", "INBOX"]),
            json!(["response", "UIDNEXT"]),
            json!(["status", "INBOX", "(UIDNEXT)"]),
            json!(["fetch", "*", "(UID)"]),
            json!(["status", "INBOX", "(UIDNEXT)"]),
        ],
    );
    assert_eq!(a[1], json!({"typ": "OK", "data": [{"b": "2"}]}));
    // response() sends nothing: the next line the server read is STATUS.
    assert_eq!(a[2], json!({"typ": "UIDNEXT", "data": [null]}));
    assert!(lines[1].ends_with(" STATUS INBOX (UIDNEXT)\r\n"), "{lines:?}");
    assert_eq!(a[3]["typ"], "OK");
    assert_eq!(first_line(&a[3]), "\"INBOX\" ()");
    let st = &parse_status(&items(&a[3])).expect("an empty STATUS list is valid")[0];
    assert_eq!(
        (st.mailbox.as_str(), st.get("UIDNEXT"), st.items.len()),
        ("INBOX", None, 0)
    );
    // A UIDNEXT equal to a UID that exists: returned as sent, typed as sent.
    assert_eq!(typed(&a[4])[0].uid, Some(4));
    let st = &parse_status(&items(&a[5])).unwrap()[0];
    assert_eq!(st.get("UIDNEXT"), Some(4));
    assert_in_step(&a);
}

// ----- unsolicited data in the middle of a command -----

/// FETCH responses for other messages' flag changes in the middle of a
/// FETCH (getmail6/getmail6#93 on ProtonMail Bridge, mjs/imapclient#334,
/// mscdex/node-imap#464 on Gmail): imaplib returns them with the rest, the
/// typed layer reads every one, and an item-less flag update is told apart
/// from an empty flag list (chatmail/async-imap#98).
#[test]
fn unsolicited_fetch_of_other_messages() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (UID 1 RFC822.SIZE 8938)\r\n* 51868 FETCH (FLAGS (NonJunk) UID 51958)\r\n* 2 FETCH (UID 2 RFC822.SIZE 100)\r\n* 7 FETCH (FLAGS ())\r\n{tag} OK FETCH completed\r\n"],
        &[json!(["fetch", "1:2", "(UID RFC822.SIZE)"])],
    );
    let m = typed(&a[1]);
    let seqs: Vec<u32> = m.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 51868, 2, 7]);
    assert_eq!(m[1].flags, Some(vec!["NonJunk".to_string()]));
    assert_eq!((m[0].flags.clone(), m[3].flags.clone()), (None, Some(vec![])));
    assert_in_step(&a);
}

/// A `* FLAGS` response in the middle of a FETCH (rust-imap issue,
/// jonhoo/rust-imap#117): stored under FLAGS, not mixed into the FETCH data.
#[test]
fn untagged_flags_during_fetch() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Junk)\r\n* 1 FETCH (UID 4)\r\n{tag} OK FETCH completed\r\n"],
        &[fetch("(UID)"), json!(["response", "FLAGS"])],
    );
    assert_eq!(a[1], json!({"typ": "OK", "data": [{"b": "1 (UID 4)"}]}));
    assert_eq!(
        a[2],
        json!({"typ": "FLAGS", "data": [{"b": "(\\Answered \\Deleted \\Draft \\Flagged \\Seen $Junk)"}]})
    );
    assert_in_step(&a);
}

/// EXPUNGE of another message during a FETCH (RFC 3501 7.4.1 forbids it
/// during FETCH, STORE and SEARCH, but Exchange and Gmail send them; the
/// rule's point is MSN drift): imaplib keeps it under EXPUNGE.
#[test]
fn expunge_during_fetch() {
    let (a, _) = selected(
        "IMAP4rev1",
        &["* 1 FETCH (UID 4)\r\n* 3 EXPUNGE\r\n{tag} OK FETCH completed\r\n"],
        &[fetch("(UID)"), json!(["response", "EXPUNGE"])],
    );
    assert_eq!(a[2], json!({"typ": "EXPUNGE", "data": [{"b": "3"}]}));
    assert_in_step(&a);
}

// ----- fatal answers -----

/// `* BYE` on an idle timeout (RFC 3501 5.4, the autologout timer of at
/// least 30 minutes; RFC 2177 asks clients to re-IDLE every 29): the idle
/// yields the BYE, and the next command reports the abort without a byte
/// sent (sticky abort, docs/architecture.md).
#[test]
fn bye_on_idle_timeout() {
    let mut steps = preauth("IMAP4rev1 IDLE");
    steps.extend([
        Step::Expect,
        send("+ idling\r\n"),
        send("* BYE Autologout; idle for too long\r\n"),
        Step::Close,
    ]);
    let server = ScriptServer::start(steps);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 2}]),
        json!(["idle", null]),
        json!(["idle_next", 1]),
        json!(["idle_done"]),
        json!(["noop"]),
    ]);
    let lines = server.received();
    // The BYE is the idle's last item, as imaplib 3.14's idler yields it;
    // the connection is gone, so ending the idle and the next command get
    // the sticky abort.
    assert_eq!(
        a[2],
        json!({"value": ["BYE", [{"b": "Autologout; idle for too long"}]]})
    );
    assert_eq!(
        without_kinds(&a[3]),
        json!({"error": "abort", "message": "command: IDLE => socket error: EOF"})
    );
    assert_eq!(a[4], a[3], "the same abort for the next command");
    assert_eq!(lines.len(), 2, "nothing after IDLE: {lines:?}");
}

/// `* BYE` as the answer to a NOOP after an idle timeout (RFC 3501 5.4):
/// abort, then the same abort for every later command.
#[test]
fn bye_autologout_on_noop() {
    let mut steps = preauth("IMAP4rev1");
    steps.extend([Step::Expect, send("* BYE Autologout timer expired\r\n"), Step::Close]);
    let server = ScriptServer::start(steps);
    let a = shell(&[
        json!(["IMAP4", "127.0.0.1", server.port, {"timeout": 2}]),
        json!(["noop"]),
        json!(["select", "INBOX"]),
    ]);
    drop(server.received());
    assert_eq!(
        without_kinds(&a[1]),
        json!({"error": "abort", "message": "command: NOOP => Autologout timer expired"})
    );
    assert_eq!(a[2], a[1]);
}
