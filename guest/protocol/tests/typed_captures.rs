//! Known-answer tests of the typed parsers on responses captured from a
//! real Dovecot 2.3 (`tests/captures/capture.py` made them; the README in
//! `captures/` says what each holds), and the round trip typed → raw →
//! typed on every response of every capture.

use std::path::PathBuf;

use wasimap_protocol::typed::{self, render, BodyPart};
use wasimap_protocol::DataItem;

fn capture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captures")
        .join(format!("{name}.txt"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_captures() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let mut names: Vec<String> = std::fs::read_dir(dir)
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

/// All data stored under `typ` in capture `name`, in order.
fn data(name: &str, typ: &str) -> Vec<DataItem> {
    untagged(&capture(name))
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
    let to: Vec<_> = e.to.iter().map(|a| (a.mailbox.clone(), a.host.clone())).collect();
    assert_eq!(
        to,
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
    let got: Vec<_> = m
        .sections
        .iter()
        .map(|x| (x.item.as_str(), x.section.as_str(), x.origin))
        .collect();
    assert_eq!(
        got,
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

/// Every FETCH, LIST/LSUB and STATUS response of every capture: parsing
/// the rendered raw form gives the same value, and the raw form the
/// server sent renders back to itself where Dovecot's choices match ours.
#[test]
fn round_trip_through_the_raw_shape() {
    let mut checked = 0;
    for name in all_captures() {
        for (typ, items) in untagged(&capture(&name)) {
            match typ.as_str() {
                "FETCH" => {
                    let m = typed::parse_fetch(&items).unwrap_or_else(|e| panic!("{name}: {e:?}"));
                    for m in &m {
                        assert_eq!(
                            typed::parse_fetch(&render::fetch(m)).unwrap(),
                            vec![m.clone()],
                            "{name}"
                        );
                    }
                }
                "LIST" | "LSUB" => {
                    let e = &typed::parse_list(&items).unwrap_or_else(|e| panic!("{name}: {e:?}"))[0];
                    assert_eq!(&typed::parse_list(&render::list(e)).unwrap()[0], e, "{name}");
                }
                "STATUS" => {
                    let s = &typed::parse_status(&items).unwrap_or_else(|e| panic!("{name}: {e:?}"))[0];
                    assert_eq!(render::status(s), items, "{name}");
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} responses checked");
    // Byte-exact where Dovecot quotes as we do (no 8-bit, no quotes).
    let items = data("fetch_full", "FETCH");
    let first: Vec<DataItem> = items[..1].to_vec();
    let m = &typed::parse_fetch(&first).unwrap()[0];
    assert_eq!(render::fetch(m), first);
}
