//! Injection: hostile payloads through every string argument of every
//! command. A recording server counts the commands that reach the wire:
//! each call sends exactly one command, or is refused before any byte is
//! sent.

mod common;

use common::Recorder;
use wasimap_protocol::session::State;
use wasimap_protocol::{Imap4, ImapError};

fn payloads() -> Vec<String> {
    let mut p: Vec<String> = [
        "\r",
        "\n",
        "\r\n",
        "\0",
        "x\r\nA1 LOGOUT",
        "x\nA1 DELETE INBOX",
        "INBOX\r\nBAAA9 DELETE INBOX",
        "\r\n\r\n",
        "a\0b",
        "{5}",
        "{5+}",
        "~{5}",
        "{0}",
        "x {5}",
        "x {5+}",
        "{99999999999999999999}",
        "~{1+}",
        "\"",
        "\\",
        "\\\"",
        "\"\"",
        "\"x\" y",
        "x\" DELETE \"y",
        ")",
        "(",
        "a)b",
        "(a",
        "((",
        "]",
        "[",
        "a]b",
        "*",
        "%",
        "NIL",
        "",
        " ",
        "a b",
        "INBOX",
        "\t",
        "\u{7f}",
        "\u{1}",
        "+",
        "* OK",
        "BAAA1 OK",
        "Entwürfe",
        "日本語",
        "\u{2028}",
        "\u{85}",
        "(\\Seen) {3}",
        "\"unterminated",
        "a\\b\\c",
        "x\r",
        "\ny",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.push("a".repeat(10_000));
    p.push(format!("{} {{5}}", "b".repeat(2000)));
    p
}

type Call = fn(&mut Imap4<Recorder>, &str) -> Result<(), ImapError>;

fn ok<T>(r: Result<T, ImapError>) -> Result<(), ImapError> {
    r.map(|_| ())
}

/// Every command with a string argument, the payload in each position.
fn calls() -> Vec<(&'static str, State, Call)> {
    use State::{Auth, NonAuth, Selected};
    vec![
        ("append mailbox", Auth, |i, p| ok(i.append(p, None, None, b"msg"))),
        ("append flags", Auth, |i, p| {
            ok(i.append("INBOX", Some(p), None, b"msg"))
        }),
        ("append message", Auth, |i, p| {
            ok(i.append("INBOX", None, None, p.as_bytes()))
        }),
        ("copy set", Selected, |i, p| ok(i.copy(p, "Dest"))),
        ("copy mailbox", Selected, |i, p| ok(i.copy("1", p))),
        ("create", Auth, |i, p| ok(i.create(p))),
        ("delete", Auth, |i, p| ok(i.delete(p))),
        ("deleteacl mailbox", Auth, |i, p| ok(i.deleteacl(p, "bob"))),
        ("deleteacl who", Auth, |i, p| ok(i.deleteacl("INBOX", p))),
        ("enable", Auth, |i, p| ok(i.enable(p))),
        ("fetch set", Selected, |i, p| ok(i.fetch(p, "(FLAGS)"))),
        ("fetch parts", Selected, |i, p| ok(i.fetch("1", p))),
        ("getacl", Auth, |i, p| ok(i.getacl(p))),
        ("getannotation mailbox", Auth, |i, p| ok(i.getannotation(p, "/c", "v"))),
        ("getannotation entry", Auth, |i, p| ok(i.getannotation("INBOX", p, "v"))),
        ("getquota", Auth, |i, p| ok(i.getquota(p))),
        ("getquotaroot", Auth, |i, p| ok(i.getquotaroot(p))),
        ("list directory", Auth, |i, p| ok(i.list(Some(p), None))),
        ("list pattern", Auth, |i, p| ok(i.list(None, Some(p)))),
        ("login user", NonAuth, |i, p| ok(i.login(p, "pw"))),
        ("login password", NonAuth, |i, p| ok(i.login("u", p))),
        ("lsub pattern", Auth, |i, p| ok(i.lsub(None, Some(p)))),
        ("move mailbox", Selected, |i, p| ok(i.move_("1", p))),
        ("myrights", Auth, |i, p| ok(i.myrights(p))),
        ("partial part", Selected, |i, p| ok(i.partial("1", p, "0", "1"))),
        ("proxyauth", Auth, |i, p| ok(i.proxyauth(p))),
        ("rename old", Auth, |i, p| ok(i.rename(p, "New"))),
        ("rename new", Auth, |i, p| ok(i.rename("Old", p))),
        (
            "search charset",
            Selected,
            |i, p| ok(i.search(Some(p), &["ALL".into()])),
        ),
        (
            "search criterion",
            Selected,
            |i, p| ok(i.search(None, &[p.to_string()])),
        ),
        ("search value", Selected, |i, p| {
            ok(i.search(None, &["SUBJECT".into(), p.to_string()]))
        }),
        ("select", Auth, |i, p| ok(i.select(Some(p), false))),
        ("setacl who", Auth, |i, p| ok(i.setacl("INBOX", p, "lr"))),
        ("setacl what", Auth, |i, p| ok(i.setacl("INBOX", "bob", p))),
        ("setannotation", Auth, |i, p| ok(i.setannotation(&[p.to_string()]))),
        ("setquota root", Auth, |i, p| ok(i.setquota(p, "(STORAGE 1)"))),
        ("setquota limits", Auth, |i, p| ok(i.setquota("q", p))),
        ("sort criteria", Selected, |i, p| {
            ok(i.sort(p, "UTF-8", &["ALL".into()]))
        }),
        ("sort charset", Selected, |i, p| {
            ok(i.sort("(DATE)", p, &["ALL".into()]))
        }),
        ("status mailbox", Auth, |i, p| ok(i.status(p, "(MESSAGES)"))),
        ("status names", Auth, |i, p| ok(i.status("INBOX", p))),
        ("store command", Selected, |i, p| ok(i.store("1", p, "(\\Seen)"))),
        ("store flags", Selected, |i, p| ok(i.store("1", "+FLAGS", p))),
        ("subscribe", Auth, |i, p| ok(i.subscribe(p))),
        ("unsubscribe", Auth, |i, p| ok(i.unsubscribe(p))),
        ("thread algorithm", Selected, |i, p| {
            ok(i.thread(p, "UTF-8", &["ALL".into()]))
        }),
        ("uid args", Selected, |i, p| {
            ok(i.uid("FETCH", &["1".into(), p.to_string()]))
        }),
        ("uid copy mailbox", Selected, |i, p| {
            ok(i.uid("COPY", &["1".into(), p.to_string()]))
        }),
        ("uid command", Selected, |i, p| ok(i.uid(p, &[]))),
        ("xatom name", Auth, |i, p| ok(i.xatom(p, &[]))),
        ("xatom arg", Auth, |i, p| ok(i.xatom("ID", &[p.to_string()]))),
        (
            "authenticate user",
            NonAuth,
            |i, p| ok(i.authenticate("PLAIN", p, "pw")),
        ),
        ("authenticate secret", NonAuth, |i, p| {
            ok(i.authenticate("PLAIN", "u", p))
        }),
        ("authenticate mechanism", NonAuth, |i, p| {
            ok(i.authenticate(p, "u", "pw"))
        }),
    ]
}

#[test]
fn one_command_per_call_or_a_refusal_before_sending() {
    let payloads = payloads();
    assert!(payloads.len() >= 50);
    let mut refused = 0;
    let mut sent = 0;
    for (what, state, call) in calls() {
        for p in &payloads {
            let mut imap = Imap4::connect(Recorder::new(), 0, 0).unwrap();
            imap.client_mut().force_state(state);
            let (wire_before, commands_before) = {
                let t = recorder(&imap);
                (t.wire.len(), t.commands)
            };
            let result = call(&mut imap, p);
            let t = recorder(&imap);
            match result {
                Err(e) if e.kind() == wasimap_protocol::ErrorKind::Usage && t.wire.len() == wire_before => refused += 1,
                _ => {
                    assert_eq!(
                        t.commands - commands_before,
                        1,
                        "{what} with {p:?} put {} commands on the wire: {:?} (result {result:?})",
                        t.commands - commands_before,
                        String::from_utf8_lossy(&t.wire[wire_before..])
                    );
                    assert_eq!(t.literal, 0, "{what} with {p:?} left a literal open");
                    sent += 1;
                }
            }
            // Only the message literal and base64 SASL payloads may carry them.
            let carried = what.starts_with("append message")
                || what.starts_with("authenticate user")
                || what.starts_with("authenticate secret");
            if p.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0)) && !carried {
                assert_eq!(t.wire.len(), wire_before, "{what} sent {p:?}");
            }
        }
    }
    assert!(refused > 0 && sent > 0, "refused {refused}, sent {sent}");
}

fn recorder(imap: &Imap4<Recorder>) -> &Recorder {
    imap.transport_ref().expect("connected")
}
