//! Known-answer tests of the typed parsers on responses captured from
//! real servers (`tests/captures/capture.py` made them; the README in
//! `captures/` says what each holds): Dovecot 2.3 in `captures/`, Cyrus
//! IMAP 3.6 in `captures/cyrus/`, Courier-IMAP 5.0 in `captures/courier/`;
//! and the round trip typed → raw → typed on every response of every
//! capture of each server.

use std::path::PathBuf;

use wasimap_protocol::typed::{self, render, BodyPart};
use wasimap_protocol::DataItem;

/// The captures of a server: Dovecot's in `captures/` itself, the others'
/// in a directory of their own.
#[derive(Clone, Copy, Debug)]
enum Server {
    Dovecot,
    Cyrus,
    Courier,
}
use Server::{Courier, Cyrus, Dovecot};

impl Server {
    fn dir(self) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
        match self {
            Dovecot => dir,
            Cyrus => dir.join("cyrus"),
            Courier => dir.join("courier"),
        }
    }
}

fn capture_from(server: Server, name: &str) -> Vec<u8> {
    let path = server.dir().join(format!("{name}.txt"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_captures(server: Server) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(server.dir())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".txt").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Every untagged response of `raw` in imaplib's shape: `(typ, items)`.
/// For `* 3 FETCH (...)` the data starts `3 (...)`, as imaplib stores it;
/// a response code of a status response (`* OK [COPYUID ...]`, or the
/// tagged line's) is stored under its name too.
fn untagged(raw: &[u8]) -> Vec<(String, Vec<DataItem>)> {
    let mut out = Vec::new();
    let mut i = 0;
    let next_line = |i: &mut usize| -> Option<Vec<u8>> {
        let end = raw[*i..].windows(2).position(|w| w == b"\r\n")?;
        let l = raw[*i..*i + end].to_vec();
        *i += end + 2;
        Some(l)
    };
    // The response being read: its name and the items so far.
    let mut pending: Option<(String, Vec<DataItem>)> = None;
    while let Some(line) = next_line(&mut i) {
        let mut dat = match &pending {
            Some(_) => line.clone(),
            None => {
                let Some(body) = line.strip_prefix(b"* ") else {
                    // A tagged line or a continuation: only its code is stored.
                    code(&line, &mut out);
                    continue;
                };
                let words: Vec<&[u8]> = body.splitn(3, |&c| c == b' ').collect();
                let (typ, d) = if words[0].iter().all(u8::is_ascii_digit) {
                    let mut d = words[0].to_vec();
                    if let Some(rest) = words.get(2) {
                        d.push(b' ');
                        d.extend_from_slice(rest);
                    }
                    (words[1], d)
                } else {
                    (
                        words[0],
                        body[words[0].len()..].strip_prefix(b" ").unwrap_or_default().to_vec(),
                    )
                };
                pending = Some((String::from_utf8_lossy(typ).into_owned(), Vec::new()));
                d
            }
        };
        let (typ, items) = pending.as_mut().unwrap();
        if let Some(size) = literal_size(&dat) {
            items.push(DataItem::Literal(std::mem::take(&mut dat), raw[i..i + size].to_vec()));
            i += size;
            continue;
        }
        items.push(DataItem::Bytes(dat));
        if matches!(typ.as_str(), "OK" | "NO" | "BAD") {
            code(&line, &mut out);
        }
        out.push(pending.take().unwrap());
    }
    out
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let open = line.iter().rposition(|&c| c == b'{')?;
    let inner = line.strip_suffix(b"}")?.get(open + 1..)?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// `[CODE data]` of a status line, stored under CODE.
fn code(line: &[u8], out: &mut Vec<(String, Vec<DataItem>)>) {
    let Some(start) = line.iter().position(|&c| c == b'[') else {
        return;
    };
    let Some(end) = line.iter().position(|&c| c == b']') else {
        return;
    };
    let inner = &line[start + 1..end];
    let (name, data) = match inner.iter().position(|&c| c == b' ') {
        Some(p) => (&inner[..p], inner[p + 1..].to_vec()),
        None => (inner, Vec::new()),
    };
    out.push((String::from_utf8_lossy(name).into_owned(), vec![DataItem::Bytes(data)]));
}

/// All data stored under `typ` in Dovecot's capture `name`, in order.
fn data(name: &str, typ: &str) -> Vec<DataItem> {
    data_from(Dovecot, name, typ)
}

/// All data stored under `typ` in `server`'s capture `name`, in order.
fn data_from(server: Server, name: &str, typ: &str) -> Vec<DataItem> {
    untagged(&capture_from(server, name))
        .into_iter()
        .filter(|(t, _)| t == typ)
        .flat_map(|(_, items)| items)
        .collect()
}

fn paths(parts: &[BodyPart]) -> Vec<(String, String, Option<u32>)> {
    parts
        .iter()
        .map(|p| {
            (
                p.path.clone(),
                format!("{}/{}", p.media_type, p.media_subtype).to_lowercase(),
                p.parent,
            )
        })
        .collect()
}

/// An ENVELOPE field: NIL or bytes.
type Field = Option<Vec<u8>>;

/// `(mailbox, host)` of each address (group markers have no host).
fn mailboxes_and_hosts(list: &[typed::Address]) -> Vec<(Field, Field)> {
    list.iter().map(|a| (a.mailbox.clone(), a.host.clone())).collect()
}

/// `(item, section, origin)` of each body section of `m`, in order.
fn sections(m: &typed::FetchMessage) -> Vec<(&str, &str, Option<u32>)> {
    m.sections
        .iter()
        .map(|x| (x.item.as_str(), x.section.as_str(), x.origin))
        .collect()
}

fn s(v: &str) -> Option<Vec<u8>> {
    Some(v.as_bytes().to_vec())
}

#[test]
fn nested_multipart_bodystructure() {
    let msgs = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    assert_eq!(msgs.len(), 6);
    let m = &msgs[1];
    assert_eq!((m.seq, m.uid, m.size), (2, Some(2), Some(2051)));
    assert_eq!(
        paths(&m.body_structure),
        vec![
            ("".into(), "multipart/mixed".into(), None),
            ("1".into(), "multipart/alternative".into(), Some(0)),
            ("1.1".into(), "text/plain".into(), Some(1)),
            ("1.2".into(), "text/html".into(), Some(1)),
            ("2".into(), "application/pdf".into(), Some(0)),
            ("3".into(), "message/rfc822".into(), Some(0)),
            ("3".into(), "multipart/alternative".into(), Some(5)),
            ("3.1".into(), "text/plain".into(), Some(6)),
            ("3.2".into(), "text/enriched".into(), Some(6)),
        ]
    );
    let b = &m.body_structure;
    assert_eq!(b[0].params, vec![("boundary".into(), "=_outer_boundary".into())]);
    assert_eq!(b[2].extension.as_ref().unwrap().language, vec!["en", "fr"]);
    assert_eq!(b[2].encoding.as_deref(), Some("quoted-printable"));
    assert_eq!(
        b[3].extension.as_ref().unwrap().disposition.as_ref().unwrap().kind,
        "inline"
    );
    let pdf = &b[4];
    assert_eq!(pdf.id.as_deref(), Some("<pdf.1@example.org>"));
    assert_eq!(pdf.description, s("My CV (PDF)"));
    assert_eq!((pdf.size, pdf.lines), (Some(198), None));
    let x = pdf.extension.as_ref().unwrap();
    assert_eq!(x.md5.as_deref(), Some("KRcm1XeF5FXfX5LtCxX57Q=="));
    let d = x.disposition.as_ref().unwrap();
    assert_eq!(d.kind, "attachment");
    assert_eq!(d.params[2], ("filename*".into(), "UTF-8''r%C3%A9sum%C3%A9.pdf".into()));
    assert_eq!(x.language, vec!["fr"]);
    assert_eq!(x.location.as_deref(), Some("http://example.org/cv/resume.pdf"));
    let fwd = &b[5];
    assert_eq!((fwd.size, fwd.lines), (Some(394), Some(17)));
    assert_eq!(fwd.envelope.as_ref().unwrap().subject, s("Fwd: budget"));
    assert_eq!(b[8].lines, Some(0));
    // The non-extensible BODY form gives the same tree without extensions.
    let plain = typed::parse_fetch(&data("fetch_body", "FETCH")).unwrap();
    assert_eq!(paths(&plain[1].body_structure), paths(&m.body_structure));
    assert!(plain[1].body_structure.iter().all(|p| p.extension.is_none()));
    assert_eq!(
        paths(&plain[0].body_structure),
        vec![("1".into(), "text/plain".into(), None)]
    );
}

#[test]
fn eight_bit_envelope_literals_and_encoded_words() {
    let msgs = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    let e = msgs[2].envelope.as_ref().unwrap();
    assert_eq!(e.subject, s("Réunion café"));
    assert_eq!(e.from[0].name, s("Zoë Åström ☕"));
    assert_eq!(e.from[0].mailbox, s("zoe"));
    assert_eq!(e.cc[0].name, s("François"));
    assert_eq!(e.in_reply_to, s("<m2@example.org>"));
    let t = msgs[2].internal_date.unwrap();
    assert_eq!(
        (t.year, t.month, t.day, t.hour, t.minute, t.second, t.utc_offset),
        (2024, 1, 6, 7, 59, 59, 0)
    );
    let e = msgs[3].envelope.as_ref().unwrap();
    assert_eq!(typed::header::decode(e.subject.as_deref().unwrap()), "Re: Réunion café");
    assert_eq!(typed::header::decode(e.from[0].name.as_deref().unwrap()), "José Müller");
    assert_eq!(typed::header::decode(e.to[0].name.as_deref().unwrap()), "François");
    assert_eq!(msgs[3].flags.as_deref().unwrap(), ["\\Recent", "$Label1"]);
}

#[test]
fn nil_fields_groups_and_quoting() {
    let msgs = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    let e = msgs[4].envelope.as_ref().unwrap();
    assert_eq!(
        (&e.date, &e.subject, &e.message_id, &e.in_reply_to),
        (&None, &None, &None, &None)
    );
    assert!(e.to.is_empty() && e.cc.is_empty() && e.bcc.is_empty());
    assert_eq!(e.sender, e.from);
    let e = msgs[5].envelope.as_ref().unwrap();
    assert_eq!(e.subject, s("He said \"hi\" \\o/"));
    assert_eq!(e.from[0].name, s("Doe, John \"JD\""));
    assert_eq!(e.reply_to[0].name, s("back\\slash"));
    // Group markers as IMAP sends them: an empty group, then one with two members.
    assert_eq!(
        mailboxes_and_hosts(&e.to),
        vec![
            (s("undisclosed-recipients"), None),
            (None, None),
            (s("Friends"), None),
            (s("a"), s("b.c")),
            (s("d"), s("e.f")),
            (None, None)
        ]
    );
    assert_eq!(e.cc.len(), 4);
    assert_eq!(e.cc[2].name, s("Three (3)"));
    assert_eq!(e.bcc[0].adl, s("@relay.example.net"));
}

#[test]
fn body_sections_origins_and_binary() {
    let m = &typed::parse_fetch(&data("fetch_sections_nested", "FETCH")).unwrap()[0];
    assert_eq!(
        sections(m),
        vec![
            ("BODY", "1.1", None),
            ("BODY", "1.2.MIME", None),
            ("BODY", "3.HEADER.FIELDS (SUBJECT DATE)", None),
            ("BODY", "3.1", None),
            ("BINARY", "2", Some(0)),
        ]
    );
    assert_eq!(m.sections[3].data, s("Budget is 10k."));
    assert!(m.sections[4].data.as_ref().unwrap().starts_with(b"%PDF-1.4"));
    assert_eq!(m.sections[4].data.as_ref().unwrap().len(), 16);
    assert_eq!(m.other, vec![("BINARY.SIZE[2]".to_string(), b"142".to_vec())]);
    let m = &typed::parse_fetch(&data("fetch_edge", "FETCH")).unwrap()[0];
    assert_eq!(m.sections[0].origin, Some(100_000));
    assert_eq!(m.sections[0].data, Some(Vec::new()));
    assert_eq!(m.sections[1].data, s("\r\n"));
    assert!(m.sections[2].data.as_ref().unwrap().ends_with(b"or To.\r\n"));
}

#[test]
fn rfc822_bodies_are_the_appended_messages() {
    let msgs = typed::parse_fetch(&data("fetch_rfc822", "FETCH")).unwrap();
    assert_eq!(msgs.len(), 6);
    let full = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    for (m, f) in msgs.iter().zip(&full) {
        assert_eq!(m.uid, f.uid);
        assert_eq!(m.sections[0].item, "RFC822");
        // RFC822.SIZE is the size of exactly these bytes.
        assert_eq!(m.sections[0].data.as_ref().unwrap().len() as u64, f.size.unwrap());
    }
}

#[test]
fn modseq_and_store_responses() {
    let msgs = typed::parse_fetch(&data("fetch_modseq", "FETCH")).unwrap();
    assert!(msgs.iter().all(|m| m.modseq == Some(17)));
    assert_eq!(msgs[0].flags.as_deref().unwrap(), ["\\Flagged", "\\Seen", "$Custom"]);
    let m = &typed::parse_fetch(&data("store_condstore", "FETCH")).unwrap()[0];
    assert_eq!((m.seq, m.modseq, m.uid), (2, Some(18), None));
}

#[test]
fn list_lsub_and_list_status() {
    let entries = typed::parse_list(&data("list", "LIST")).unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Trash",
            "Say \"hi\"",
            "&AOk-t&AOk-",
            "Sent Items",
            "Archive",
            "Archive/2024",
            "INBOX"
        ]
    );
    assert_eq!(typed::mutf7::decode(names[2]).unwrap(), "été");
    assert_eq!(entries[4].attributes, ["\\Noselect", "\\HasChildren"]);
    assert!(entries.iter().all(|e| e.delimiter.as_deref() == Some("/")));
    let lsub = typed::parse_list(&data("lsub", "LSUB")).unwrap();
    assert_eq!(lsub.len(), 5);
    let rec = typed::parse_list(&data("list_recursivematch", "LIST")).unwrap();
    assert_eq!(rec[1].extended, b"(CHILDINFO (\"SUBSCRIBED\"))");
    assert_eq!(rec[4].attributes, ["\\Subscribed", "\\NonExistent"]);
    let statuses = typed::parse_status(&data("list_status", "STATUS")).unwrap();
    let got: Vec<_> = statuses
        .iter()
        .map(|s| (s.mailbox.as_str(), s.get("MESSAGES")))
        .collect();
    assert_eq!(got[1], ("Say \"hi\"", Some(0)));
    assert_eq!(got[5], ("INBOX", Some(6)));
    let s = &typed::parse_status(&data("status_condstore", "STATUS")).unwrap()[0];
    assert_eq!(
        (s.get("UIDNEXT"), s.get("HIGHESTMODSEQ"), s.get("unseen")),
        (Some(8), Some(17), Some(0))
    );
}

#[test]
fn searches_sorts_and_threads() {
    let r = typed::parse_search(&data("search_modseq", "SEARCH")).unwrap();
    assert_eq!((r.ids, r.modseq), (vec![1, 2, 3, 4, 5, 6], Some(19)));
    assert_eq!(
        typed::parse_search(&data("search_empty", "SEARCH")).unwrap().ids,
        Vec::<u32>::new()
    );
    assert_eq!(
        typed::parse_search(&data("sort_arrival", "SORT")).unwrap().ids,
        vec![3, 1, 2, 4, 5, 6]
    );
    let e = &typed::parse_esearch(&data("esearch", "ESEARCH")).unwrap()[0];
    assert_eq!(
        (e.tag.as_deref(), e.uid, e.min, e.max, e.count),
        (Some("A052"), true, Some(1), Some(6), Some(6))
    );
    assert_eq!((e.all[0].first, e.all[0].last), (1, 6));
    let e = &typed::parse_esearch(&data("esearch_empty", "ESEARCH")).unwrap()[0];
    assert_eq!((e.count, e.all.len()), (Some(0), 0));
    let e = &typed::parse_esearch(&data("esort", "ESEARCH")).unwrap()[0];
    assert_eq!(
        e.all.iter().map(|r| r.first).collect::<Vec<_>>(),
        vec![6, 5, 4, 2, 1, 3]
    );
    // (1 (2 3 6)(4))(5): 2 and 4 answer 1; 3 answers 2; 6 answers 3.
    let t = typed::parse_thread(&data("thread_references", "THREAD")).unwrap();
    let edges: Vec<_> = t
        .iter()
        .map(|n| (n.id.unwrap(), n.parent.map(|p| t[p as usize].id.unwrap())))
        .collect();
    assert_eq!(
        edges,
        vec![
            (1, None),
            (2, Some(1)),
            (3, Some(2)),
            (6, Some(3)),
            (4, Some(1)),
            (5, None)
        ]
    );
    let t = typed::parse_thread(&data("thread_orderedsubject", "THREAD")).unwrap();
    assert_eq!(t.iter().filter(|n| n.parent.is_none()).count(), 4);
}

#[test]
fn quota_acl_namespace_and_uidplus() {
    let roots = typed::parse_quotaroot(&data("getquotaroot", "QUOTAROOT")).unwrap();
    assert_eq!(
        (roots[0].mailbox.as_str(), roots[0].roots.clone()),
        ("INBOX", vec!["User quota".to_string()])
    );
    let q = &typed::parse_quota(&data("getquotaroot", "QUOTA")).unwrap()[0];
    assert_eq!(
        (q.root.as_str(), q.resources[0].name.as_str(), q.resources[0].limit),
        ("User quota", "STORAGE", 1_048_576)
    );
    let acl = &typed::parse_acl(&data("getacl_multi", "ACL")).unwrap()[0];
    assert_eq!(acl.entries.len(), 4);
    assert_eq!(acl.entries[1], ("-bob".into(), "w".into()));
    let r = &typed::parse_myrights(&data("myrights", "MYRIGHTS")).unwrap()[0];
    assert_eq!(r.rights, "lrwstipekxacd");
    let n = typed::parse_namespace(&data("namespace", "NAMESPACE")).unwrap();
    assert_eq!((n.personal.len(), n.personal[0].delimiter.as_deref()), (1, Some("/")));
    assert!(n.shared.is_empty());
    let c = typed::parse_copyuid(&data("copyuid", "COPYUID")).unwrap().unwrap();
    assert_eq!(
        (c.uid_validity, c.source[0].last, c.destination[0].first),
        (1_795_685_757, 2, 1)
    );
    let c = typed::parse_copyuid(&data("move", "COPYUID")).unwrap().unwrap();
    assert_eq!((c.source[0].first, c.destination[0].first), (7, 1));
    let a = typed::parse_appenduid(&data("append", "APPENDUID")).unwrap().unwrap();
    assert_eq!((a.uid_validity, a.uids[0].first), (1_795_685_756, 1));
}

/// Every FETCH, LIST/LSUB and STATUS response of every capture of
/// `server`: parsing the rendered raw form gives the same value, and a
/// STATUS renders back to the bytes the server sent when `exact_status`
/// (the server quotes as we do). Returns how many were checked.
fn round_trip(server: Server, exact_status: bool) -> usize {
    let mut checked = 0;
    for name in all_captures(server) {
        for (typ, items) in untagged(&capture_from(server, &name)) {
            match typ.as_str() {
                "FETCH" => {
                    let m = typed::parse_fetch(&items).unwrap_or_else(|e| panic!("{server:?} {name}: {e:?}"));
                    for m in &m {
                        assert_eq!(
                            typed::parse_fetch(&render::fetch(m)).unwrap(),
                            vec![m.clone()],
                            "{server:?} {name}"
                        );
                    }
                }
                "LIST" | "LSUB" => {
                    let e = &typed::parse_list(&items).unwrap_or_else(|e| panic!("{server:?} {name}: {e:?}"))[0];
                    assert_eq!(&typed::parse_list(&render::list(e)).unwrap()[0], e, "{server:?} {name}");
                }
                "STATUS" => {
                    let s = &typed::parse_status(&items).unwrap_or_else(|e| panic!("{server:?} {name}: {e:?}"))[0];
                    if exact_status {
                        assert_eq!(render::status(s), items, "{server:?} {name}");
                    } else {
                        assert_eq!(
                            &typed::parse_status(&render::status(s)).unwrap()[0],
                            s,
                            "{server:?} {name}"
                        );
                    }
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    checked
}

/// Dovecot's responses, and byte-exact where Dovecot quotes as we do (no
/// 8-bit, no quotes).
#[test]
fn round_trip_through_the_raw_shape() {
    let checked = round_trip(Dovecot, true);
    assert!(checked > 80, "only {checked} responses checked");
    let items = data("fetch_full", "FETCH");
    let first: Vec<DataItem> = items[..1].to_vec();
    let m = &typed::parse_fetch(&first).unwrap()[0];
    assert_eq!(render::fetch(m), first);
}

// ---------------------------------------------------------------- Cyrus

#[test]
fn cyrus_round_trip() {
    let checked = round_trip(Cyrus, true);
    assert!(checked > 80, "only {checked} responses checked");
}

#[test]
fn cyrus_bodystructure_is_upper_case_with_rfc2231_names_kept() {
    let msgs = typed::parse_fetch(&data_from(Cyrus, "fetch_full", "FETCH")).unwrap();
    assert_eq!(msgs.len(), 6);
    let m = &msgs[1];
    assert_eq!((m.seq, m.uid, m.size), (2, Some(2), Some(2051)));
    // The same tree as Dovecot's, every media type and parameter name upper case.
    let dovecot = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    assert_eq!(paths(&m.body_structure), paths(&dovecot[1].body_structure));
    let b = &m.body_structure;
    assert_eq!(
        (b[2].media_type.as_str(), b[2].media_subtype.as_str()),
        ("TEXT", "PLAIN")
    );
    assert_eq!(b[0].params, vec![("BOUNDARY".into(), "=_outer_boundary".into())]);
    assert_eq!(b[2].extension.as_ref().unwrap().language, vec!["EN", "FR"]);
    assert_eq!(b[2].encoding.as_deref(), Some("QUOTED-PRINTABLE"));
    assert_eq!(
        b[3].extension.as_ref().unwrap().disposition.as_ref().unwrap().kind,
        "INLINE"
    );
    let x = b[4].extension.as_ref().unwrap();
    assert_eq!(x.md5.as_deref(), Some("KRcm1XeF5FXfX5LtCxX57Q=="));
    let d = x.disposition.as_ref().unwrap();
    assert_eq!(d.kind, "ATTACHMENT");
    // RFC 2231 continuations merged as Dovecot does, but the merged one
    // stays first and its value comes as a `{27}` literal.
    assert_eq!(d.params[0], ("FILENAME*".into(), "UTF-8''r%C3%A9sum%C3%A9.pdf".into()));
    assert_eq!(d.params[1], ("SIZE".into(), "142".into()));
    assert_eq!(x.location.as_deref(), Some("http://example.org/cv/resume.pdf"));
    // message/rfc822 is 7BIT here (Courier says 8bit), lines 17 as Dovecot.
    assert_eq!(
        (b[5].encoding.as_deref(), b[5].size, b[5].lines),
        (Some("7BIT"), Some(394), Some(17))
    );
    // text/enriched without a charset: NIL parameters (Dovecot adds us-ascii).
    assert!(b[8].params.is_empty());
    // A single part carries all four extension fields, each NIL.
    let one = &msgs[0].body_structure[0];
    let x = one.extension.as_ref().unwrap();
    assert_eq!(
        (&x.md5, &x.disposition, x.language.len(), &x.location),
        (&None, &None, 0, &None)
    );
}

#[test]
fn cyrus_envelope_munges_8bit_and_sends_quotes_as_literals() {
    let msgs = typed::parse_fetch(&data_from(Cyrus, "fetch_full", "FETCH")).unwrap();
    // munge8bit: each 8-bit byte of a header became an `X`.
    let e = msgs[2].envelope.as_ref().unwrap();
    assert_eq!(e.subject, s("RXXunion cafXX"));
    assert_eq!(e.from[0].name, s("ZoXX XXstrXXm XXX"));
    assert_eq!(e.cc[0].name, s("FranXXois"));
    // INTERNALDATE " 6-Jan-2024 07:59:59 +0000": space-padded day, in UTC.
    let t = msgs[2].internal_date.unwrap();
    assert_eq!((t.year, t.month, t.day, t.hour, t.utc_offset), (2024, 1, 6, 7, 0));
    // FLAGS come first whatever the request's order.
    assert_eq!(msgs[2].flags.as_deref().unwrap(), ["\\Recent", "\\Answered", "\\Seen"]);
    // Message 6 (quotes, backslashes, groups, a route) reads exactly as
    // Dovecot's, though Cyrus sent its quoted strings as literals.
    assert!(capture_from(Cyrus, "fetch_full")
        .windows(22)
        .any(|w| w == b"{16}\r\nHe said \"hi\" \\o/"));
    let dovecot = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    assert_eq!(msgs[5].envelope, dovecot[5].envelope);
    // The stored message itself has the X bytes too: RFC822.SIZE counts them.
    let raw = typed::parse_fetch(&data_from(Cyrus, "fetch_rfc822", "FETCH")).unwrap();
    let body = raw[2].sections[0].data.as_ref().unwrap();
    assert!(body.windows(23).any(|w| w == b"Subject: RXXunion cafXX"));
    assert_eq!(body.len() as u64, msgs[2].size.unwrap());
}

#[test]
fn cyrus_sections_in_its_own_order_and_binary_as_a_plain_literal() {
    let m = &typed::parse_fetch(&data_from(Cyrus, "fetch_sections_nested", "FETCH")).unwrap()[0];
    assert_eq!(
        sections(m),
        vec![
            ("BODY", "3.HEADER.FIELDS (SUBJECT DATE)", None),
            ("BODY", "1.1", None),
            ("BODY", "1.2.MIME", None),
            ("BODY", "3.1", None),
            ("BINARY", "2", Some(0)),
        ]
    );
    // `BINARY[2]<0> {16}`: a plain literal, not literal8 `~{16}`.
    assert!(capture_from(Cyrus, "fetch_sections_nested")
        .windows(19)
        .any(|w| w == b"BINARY[2]<0> {16}\r\n"));
    assert!(m.sections[4].data.as_ref().unwrap().starts_with(b"%PDF-1.4"));
    assert_eq!(m.other, vec![("BINARY.SIZE[2]".to_string(), b"142".to_vec())]);
    // A partial beyond the end is `""`, not `{0}`.
    let m = &typed::parse_fetch(&data_from(Cyrus, "fetch_edge", "FETCH")).unwrap()[0];
    assert_eq!(
        (m.sections[0].section.as_str(), m.sections[0].data.clone()),
        ("HEADER.FIELDS (X-NONEXISTENT)", s("\r\n"))
    );
    assert_eq!(
        (m.sections[1].origin, m.sections[1].data.clone()),
        (Some(100_000), Some(Vec::new()))
    );
}

#[test]
fn cyrus_modseq_counts_per_message() {
    let msgs = typed::parse_fetch(&data_from(Cyrus, "fetch_modseq", "FETCH")).unwrap();
    let got: Vec<_> = msgs.iter().map(|m| (m.uid.unwrap(), m.modseq.unwrap())).collect();
    assert_eq!(got, vec![(1, 16), (2, 3), (3, 4), (4, 14), (5, 12), (6, 15)]);
    let m = &typed::parse_fetch(&data_from(Cyrus, "store_condstore", "FETCH")).unwrap()[0];
    assert_eq!((m.seq, m.uid, m.modseq), (2, None, Some(19)));
    // UNCHANGEDSINCE 4 (message 3's): 1 and 2 changed after it.
    assert_eq!(
        data_from(Cyrus, "store_unchangedsince", "MODIFIED"),
        vec![DataItem::Bytes(b"1:2".to_vec())]
    );
    let s = &typed::parse_status(&data_from(Cyrus, "status_condstore", "STATUS")).unwrap()[0];
    assert_eq!((s.get("UIDNEXT"), s.get("HIGHESTMODSEQ")), (Some(8), Some(18)));
    let r = typed::parse_search(&data_from(Cyrus, "search_modseq", "SEARCH")).unwrap();
    assert_eq!((r.ids, r.modseq), (vec![1, 2], Some(19)));
    let v = data_from(Cyrus, "select_qresync", "VANISHED");
    assert_eq!(v, vec![DataItem::Bytes(b"(EARLIER) 7".to_vec())]);
}

#[test]
fn cyrus_lists_special_use_metadata_and_annotations() {
    let names = |name: &str| -> Vec<String> {
        typed::parse_list(&data_from(Cyrus, name, "LIST"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    };
    assert_eq!(
        names("list"),
        ["INBOX", "&AOk-t&AOk-", "Archive", "Archive/2024", "Sent Items", "Trash"]
    );
    let rec = typed::parse_list(&data_from(Cyrus, "list_recursivematch", "LIST")).unwrap();
    assert_eq!(rec[1].name, "Archive");
    assert_eq!(rec[1].attributes, ["\\NonExistent", "\\HasChildren"]);
    assert_eq!(rec[1].extended, b"(CHILDINFO (\"SUBSCRIBED\"))");
    let sub = typed::parse_list(&data_from(Cyrus, "list_subscribed", "LIST")).unwrap();
    assert_eq!(sub[3].attributes, ["\\NonExistent", "\\Subscribed", "\\HasNoChildren"]);
    let special = typed::parse_list(&data_from(Cyrus, "list_special_use", "LIST")).unwrap();
    let got: Vec<_> = special
        .iter()
        .map(|e| (e.name.as_str(), e.attributes.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Drafts", vec!["\\HasNoChildren".to_string(), "\\Drafts".to_string()]),
            ("Junk", vec!["\\HasNoChildren".to_string(), "\\Junk".to_string()])
        ]
    );
    let lsub = typed::parse_list(&data_from(Cyrus, "lsub", "LSUB")).unwrap();
    assert_eq!(lsub.len(), 4, "Gone is not listed: {lsub:?}");
    assert!(lsub.iter().all(|e| e.attributes.is_empty()));
    let statuses = typed::parse_status(&data_from(Cyrus, "list_status", "STATUS")).unwrap();
    let got: Vec<_> = statuses
        .iter()
        .map(|s| (s.mailbox.as_str(), s.get("MESSAGES")))
        .collect();
    assert_eq!(got[3], ("Archive/2024", Some(3)));
    assert_eq!(got[4], ("Sent Items", Some(1)));
    assert_eq!(
        data_from(Cyrus, "getmetadata", "METADATA"),
        vec![DataItem::Bytes(
            b"INBOX (\"/private/comment\" \"Mail to keep\" \"/shared/comment\" NIL)".to_vec()
        )]
    );
    // RFC 5257 message annotations: kept raw in `other`.
    let msgs = typed::parse_fetch(&data_from(Cyrus, "fetch_annotation", "FETCH")).unwrap();
    assert_eq!(
        msgs[0].other,
        vec![(
            "ANNOTATION".to_string(),
            b"(/comment (value.priv \"call back\" value.shared NIL))".to_vec()
        )]
    );
    assert_eq!(msgs[1].uid, Some(2));
}

#[test]
fn cyrus_quota_acl_namespace_searches_and_uidplus() {
    let roots = typed::parse_quotaroot(&data_from(Cyrus, "getquotaroot", "QUOTAROOT")).unwrap();
    assert_eq!(
        (roots[0].mailbox.as_str(), roots[0].roots.clone()),
        ("INBOX", vec!["INBOX".to_string()])
    );
    let q = &typed::parse_quota(&data_from(Cyrus, "getquotaroot", "QUOTA")).unwrap()[0];
    assert_eq!(
        (
            q.root.as_str(),
            q.resources[0].name.as_str(),
            q.resources[0].usage,
            q.resources[0].limit
        ),
        ("INBOX", "STORAGE", 3, 1_048_576)
    );
    let acl = &typed::parse_acl(&data_from(Cyrus, "getacl_multi", "ACL")).unwrap()[0];
    let got: Vec<_> = acl.entries.iter().map(|(who, r)| (who.as_str(), r.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("kat", "lrswipkxtecdan"),
            ("anyone", "lr"),
            ("bob", "lrs"),
            ("carol@example.com", "lrswi"),
            ("-bob", "w")
        ]
    );
    let r = &typed::parse_myrights(&data_from(Cyrus, "myrights", "MYRIGHTS")).unwrap()[0];
    assert_eq!(r.rights, "lrswipkxtecdan");
    let n = typed::parse_namespace(&data_from(Cyrus, "namespace", "NAMESPACE")).unwrap();
    assert_eq!(
        (
            n.personal[0].prefix.as_str(),
            n.other_users[0].prefix.as_str(),
            n.shared[0].prefix.as_str()
        ),
        ("", "Other Users/", "Shared Folders/")
    );
    // ESEARCH puts COUNT first; ESORT's MIN/MAX are the numeric ones.
    let e = &typed::parse_esearch(&data_from(Cyrus, "esearch", "ESEARCH")).unwrap()[0];
    assert_eq!(
        (e.tag.as_deref(), e.uid, e.min, e.max, e.count),
        (Some("A052"), true, Some(1), Some(6), Some(6))
    );
    let e = &typed::parse_esearch(&data_from(Cyrus, "esort", "ESEARCH")).unwrap()[0];
    assert_eq!((e.min, e.max), (Some(1), Some(6)));
    assert_eq!(
        e.all.iter().map(|r| r.first).collect::<Vec<_>>(),
        vec![6, 5, 4, 2, 1, 3]
    );
    assert_eq!(
        typed::parse_search(&data_from(Cyrus, "sort_subject", "SORT"))
            .unwrap()
            .ids,
        vec![5, 6, 1, 2, 3, 4]
    );
    // THREAD REFS: the thread with the latest message last.
    let t = typed::parse_thread(&data_from(Cyrus, "thread_refs", "THREAD")).unwrap();
    let roots: Vec<_> = t.iter().filter(|n| n.parent.is_none()).map(|n| n.id.unwrap()).collect();
    assert_eq!(roots, vec![5, 1]);
    let c = typed::parse_copyuid(&data_from(Cyrus, "copyuid", "COPYUID"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.uid_validity, c.source[0].last, c.destination[0].first),
        (1_796_183_985, 2, 1)
    );
    let c = typed::parse_copyuid(&data_from(Cyrus, "move", "COPYUID"))
        .unwrap()
        .unwrap();
    assert_eq!((c.source[0].first, c.destination[0].first), (7, 1));
    let a = typed::parse_appenduid(&data_from(Cyrus, "append_sync", "APPENDUID"))
        .unwrap()
        .unwrap();
    assert_eq!(a.uids[0].first, 3);
}

// -------------------------------------------------------------- Courier

#[test]
fn courier_round_trip() {
    let checked = round_trip(Courier, false);
    assert!(checked > 40, "only {checked} responses checked");
}

#[test]
fn courier_bodystructure_has_no_language_location_or_merged_rfc2231() {
    let msgs = typed::parse_fetch(&data_from(Courier, "fetch_full", "FETCH")).unwrap();
    assert_eq!(msgs.len(), 6);
    let dovecot = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap();
    assert_eq!(paths(&msgs[1].body_structure), paths(&dovecot[1].body_structure));
    let b = &msgs[1].body_structure;
    assert_eq!(
        (b[2].media_type.as_str(), b[2].media_subtype.as_str()),
        ("text", "plain")
    );
    // Content-Language and Content-Location are not reported: a single part
    // has three extension fields (MD5, disposition, language NIL).
    let x = b[2].extension.as_ref().unwrap();
    assert!(x.language.is_empty() && x.location.is_none());
    let x = b[4].extension.as_ref().unwrap();
    assert_eq!(x.md5.as_deref(), Some("KRcm1XeF5FXfX5LtCxX57Q=="));
    assert_eq!((x.language.len(), &x.location), (0, &None));
    // RFC 2231 continuations as sent, not merged.
    let d = x.disposition.as_ref().unwrap();
    assert_eq!(d.kind, "attachment");
    assert_eq!(
        d.params[..2],
        [
            ("filename*0*".to_string(), "UTF-8''r%C3%A9sum".to_string()),
            ("filename*1*".to_string(), "%C3%A9.pdf".to_string())
        ]
    );
    // message/rfc822 and parts without a transfer encoding say 8bit.
    assert_eq!((b[5].encoding.as_deref(), b[5].lines), (Some("8bit"), Some(17)));
    assert_eq!(b[7].encoding.as_deref(), Some("8bit"));
    // No Content-Type at all: NIL parameters, not charset us-ascii.
    assert!(msgs[4].body_structure[0].params.is_empty());
}

#[test]
fn courier_envelope_encodes_8bit_and_loses_group_names() {
    let msgs = typed::parse_fetch(&data_from(Courier, "fetch_full", "FETCH")).unwrap();
    // No \Recent in a stream session, UID before FLAGS as requested.
    assert_eq!(msgs[0].flags.as_deref().unwrap(), [] as [&str; 0]);
    // Raw 8-bit headers come back RFC 2047-encoded by the server.
    let e = msgs[2].envelope.as_ref().unwrap();
    assert_eq!(e.subject, s("=?utf-8?B?UsOpdW5pb24gY2Fmw6k=?="));
    assert_eq!(typed::header::decode(e.subject.as_deref().unwrap()), "Réunion café");
    assert_eq!(
        typed::header::decode(e.from[0].name.as_deref().unwrap()),
        "Zoë Åström ☕"
    );
    assert_eq!(typed::header::decode(e.cc[0].name.as_deref().unwrap()), "François");
    // Quotes and backslashes in quoted strings, escaped (no literals): the
    // same values as Dovecot's literals.
    let quoted = b"\"He said \\\"hi\\\" \\\\o/\"";
    assert!(capture_from(Courier, "fetch_full")
        .windows(quoted.len())
        .any(|w| w == quoted));
    let e = msgs[5].envelope.as_ref().unwrap();
    let d = typed::parse_fetch(&data("fetch_full", "FETCH")).unwrap()[5]
        .envelope
        .clone()
        .unwrap();
    assert_eq!(
        (&e.subject, &e.from[0].name, &e.reply_to[0].name),
        (&d.subject, &d.from[0].name, &d.reply_to[0].name)
    );
    // Group start and end markers are all (NIL NIL "" NIL): the names
    // `undisclosed-recipients` and `Friends` are gone.
    assert_eq!(
        mailboxes_and_hosts(&e.to),
        vec![
            (s(""), None),
            (s(""), None),
            (s(""), None),
            (s("a"), s("b.c")),
            (s("d"), s("e.f")),
            (s(""), None)
        ]
    );
    // The comment after the third Cc became an address of its own.
    let cc: Vec<_> = e.cc.iter().map(|a| a.mailbox.clone()).collect();
    assert_eq!(cc, vec![s("one"), s("two"), s("three"), s(""), s("four")]);
    // A route address: the route stays in the mailbox, adl NIL.
    assert_eq!(
        (e.bcc[0].adl.clone(), e.bcc[0].mailbox.clone()),
        (None, s("@relay.example.net:hidden"))
    );
}

#[test]
fn courier_sections_quote_header_fields() {
    let m = &typed::parse_fetch(&data_from(Courier, "fetch_sections_nested", "FETCH")).unwrap()[0];
    let got: Vec<_> = m.sections.iter().map(|x| x.section.as_str()).collect();
    assert_eq!(
        got,
        vec!["1.1", "1.2.MIME", "3.HEADER.FIELDS (\"SUBJECT\" \"DATE\")", "3.1"]
    );
    assert_eq!(m.sections[3].data, s("Budget is 10k."));
    let m = &typed::parse_fetch(&data_from(Courier, "fetch_edge", "FETCH")).unwrap()[0];
    assert_eq!(
        (m.sections[0].origin, m.sections[0].data.clone()),
        (Some(100_000), Some(Vec::new()))
    );
    assert_eq!(m.sections[1].data, s("\r\n"));
}

#[test]
fn courier_names_live_under_inbox_dot() {
    let entries = typed::parse_list(&data_from(Courier, "list", "LIST")).unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "INBOX.Archive.2024",
            "INBOX.Trash",
            "INBOX.Say \"hi\"",
            "INBOX",
            "INBOX.Sent Items",
            "INBOX.&AOk-t&AOk-",
            "INBOX.Archive"
        ]
    );
    assert!(entries.iter().all(|e| e.delimiter.as_deref() == Some(".")));
    assert_eq!(entries[6].attributes, ["\\Noselect", "\\HasChildren"]);
    // With UTF8=ACCEPT enabled the same name comes as UTF-8.
    let utf8 = typed::parse_list(&data_from(Courier, "list_utf8", "LIST")).unwrap();
    assert_eq!(utf8[5].name, "INBOX.été");
    assert_eq!(typed::mutf7::decode(names[5]).unwrap(), utf8[5].name);
    let s = &typed::parse_status(&data_from(Courier, "status_utf8", "STATUS")).unwrap()[0];
    assert_eq!(
        (s.mailbox.as_str(), s.get("MESSAGES"), s.get("UIDNEXT")),
        ("INBOX.été", Some(0), Some(1))
    );
    // LSUB lists the deleted `Gone` as an ordinary mailbox.
    let lsub = typed::parse_list(&data_from(Courier, "lsub", "LSUB")).unwrap();
    let gone = lsub.iter().find(|e| e.name == "INBOX.Gone").unwrap();
    assert_eq!(gone.attributes, ["\\HasNoChildren"]);
    let n = typed::parse_namespace(&data_from(Courier, "namespace", "NAMESPACE")).unwrap();
    assert_eq!(
        (n.personal[0].prefix.as_str(), n.personal[0].delimiter.as_deref()),
        ("INBOX.", Some("."))
    );
    assert!(n.other_users.is_empty());
    let shared: Vec<_> = n.shared.iter().map(|x| x.prefix.as_str()).collect();
    assert_eq!(shared, ["#shared.", "shared."]);
}

#[test]
fn courier_select_has_no_uidnext() {
    let codes: Vec<String> = untagged(&capture_from(Courier, "select"))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(codes.contains(&"UIDVALIDITY".to_string()), "{codes:?}");
    assert!(!codes.contains(&"UIDNEXT".to_string()), "{codes:?}");
    // STATUS does give it.
    let s = &typed::parse_status(&data_from(Courier, "status", "STATUS")).unwrap()[0];
    assert_eq!(
        (s.mailbox.as_str(), s.get("UIDNEXT"), s.get("UNSEEN")),
        ("INBOX", Some(7), Some(4))
    );
}

#[test]
fn courier_quota_acl_threads_and_uidplus() {
    // `* QUOTA "ROOT"`: a root with no resource list at all.
    let roots = typed::parse_quotaroot(&data_from(Courier, "getquotaroot", "QUOTAROOT")).unwrap();
    assert_eq!(
        (roots[0].mailbox.as_str(), roots[0].roots.clone()),
        ("INBOX", vec!["ROOT".to_string()])
    );
    let q = &typed::parse_quota(&data_from(Courier, "getquotaroot", "QUOTA")).unwrap()[0];
    assert_eq!((q.root.as_str(), q.resources.len()), ("ROOT", 0));
    let acl = &typed::parse_acl(&data_from(Courier, "getacl_multi", "ACL")).unwrap()[0];
    let got: Vec<_> = acl.entries.iter().map(|(who, r)| (who.as_str(), r.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("owner", "acdilrsw"),
            ("administrators", "acdilrsw"),
            ("anyone", "lr"),
            ("authuser", "lrs"),
            ("-authuser", "w")
        ]
    );
    assert_eq!(acl.mailbox, "INBOX");
    let r = &typed::parse_myrights(&data_from(Courier, "myrights", "MYRIGHTS")).unwrap()[0];
    assert_eq!(r.rights, "acdilrsw");
    let t = typed::parse_thread(&data_from(Courier, "thread_orderedsubject", "THREAD")).unwrap();
    let roots: Vec<_> = t.iter().filter(|n| n.parent.is_none()).map(|n| n.id.unwrap()).collect();
    assert_eq!(roots, vec![5, 3, 1, 6]);
    assert_eq!(
        typed::parse_search(&data_from(Courier, "sort_subject", "SORT"))
            .unwrap()
            .ids,
        vec![5, 6, 2, 1, 4, 3]
    );
    assert_eq!(
        typed::parse_search(&data_from(Courier, "search_utf8", "SEARCH"))
            .unwrap()
            .ids,
        vec![3, 4]
    );
    let c = typed::parse_copyuid(&data_from(Courier, "copyuid", "COPYUID"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.uid_validity, c.source[0].last, c.destination[0].last),
        (796_183_955, 2, 2)
    );
    let a = typed::parse_appenduid(&data_from(Courier, "append_selected", "APPENDUID"))
        .unwrap()
        .unwrap();
    assert_eq!((a.uid_validity, a.uids[0].first), (796_183_957, 7));
}
