//! FETCH message data (RFC 3501 `message-data` / `msg-att`), ENVELOPE and
//! BODY/BODYSTRUCTURE, the latter flattened into a list of nodes.

use nom::branch::alt;
use nom::bytes::complete::take_while1;
use nom::character::complete::char;
use nom::combinator::{map, opt};
use nom::multi::{many0, separated_list1};
use nom::sequence::{delimited, preceded};
use nom::Parser;

use super::grammar::{
    fail, flag_list, generic_value, nbytes, nil, ntext, number, number64, params, sp, store, string_text, In, Res,
    MAX_DEPTH,
};
use super::{Address, BodyPart, BodySection, Disposition, Envelope, FetchMessage, PartExtension};
use crate::util::CivilTime;

/// One FETCH response as imaplib stores it: `seq SP "(" msg-att ")"`.
pub fn message_data(i: In<'_>) -> Res<'_, FetchMessage> {
    let (i, seq) = number(i)?;
    let (i, _) = sp(i)?;
    let mut msg = FetchMessage {
        seq,
        ..FetchMessage::default()
    };
    let (mut i, _) = char('(').parse(i)?;
    if let Ok((rest, _)) = char::<_, nom::error::Error<In<'_>>>(')').parse(i) {
        return Ok((rest, msg));
    }
    loop {
        i = msg_att(i, &mut msg)?.0;
        match i.first() {
            Some(b')') => return Ok((i.skip(1), msg)),
            Some(b' ') => i = i.skip(1),
            _ => return fail(i),
        }
    }
}

/// One `msg-att` item, stored into `msg`.
fn msg_att<'a>(i: In<'a>, msg: &mut FetchMessage) -> Res<'a, ()> {
    let (i, name) = take_while1(|c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))(i)?;
    // Upper-cased on the stack: item names are short, and this runs once
    // per item of every message.
    let mut buf = [0u8; 16];
    let upper: &[u8] = match buf.get_mut(..name.len()) {
        Some(b) => {
            b.copy_from_slice(&name);
            b.make_ascii_uppercase();
            b
        }
        None => name.bytes(),
    };
    match upper {
        b"UID" => store(preceded(sp, number), i, &mut msg.uid),
        b"FLAGS" => store(preceded(sp, flag_list), i, &mut msg.flags),
        b"INTERNALDATE" => store(preceded(sp, internal_date), i, &mut msg.internal_date),
        b"RFC822.SIZE" => store(preceded(sp, number64), i, &mut msg.size),
        b"ENVELOPE" => store(preceded(sp, envelope), i, &mut msg.envelope),
        b"MODSEQ" => store(
            preceded(sp, delimited(char('('), number64, char(')'))),
            i,
            &mut msg.modseq,
        ),
        // When both BODY and BODYSTRUCTURE come, the last one is kept.
        b"BODYSTRUCTURE" => {
            let (i, _) = sp(i)?;
            msg.body_structure.clear();
            body_tree(i, &mut msg.body_structure)
        }
        b"BODY" if i.first() == Some(&b' ') => {
            let (i, _) = sp(i)?;
            msg.body_structure.clear();
            body_tree(i, &mut msg.body_structure)
        }
        b"BODY" | b"BINARY" => {
            let (i, section) = section_spec(i)?;
            let (i, origin) = opt(delimited(char('<'), number, char('>'))).parse(i)?;
            let (i, data) = preceded(sp, nbytes).parse(i)?;
            msg.sections.push(BodySection {
                item: super::grammar::text(upper),
                section,
                origin,
                data,
            });
            Ok((i, ()))
        }
        b"RFC822" | b"RFC822.HEADER" | b"RFC822.TEXT" => {
            let (i, data) = preceded(sp, nbytes).parse(i)?;
            msg.sections.push(BodySection {
                item: super::grammar::text(upper),
                section: String::new(),
                origin: None,
                data,
            });
            Ok((i, ()))
        }
        _ => {
            // BINARY.SIZE[1], X-GM-LABELS (...), ...: kept raw.
            let (i, suffix) = opt(section_spec).parse(i)?;
            let mut key = super::grammar::text(name);
            if let Some(s) = suffix {
                key = format!("{key}[{s}]");
            }
            let (i, v) = preceded(sp, generic_value).parse(i)?;
            msg.other.push((key, v.to_wire(usize::MAX)));
            Ok((i, ()))
        }
    }
}

/// `"[" section "]"`: the text inside, which may hold parenthesized header
/// names and quoted strings (`]` is an ASTRING-CHAR, so count depth).
fn section_spec(i: In<'_>) -> Res<'_, String> {
    let (i, _) = char('[').parse(i)?;
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut k = 0;
    while k < i.len() {
        let c = i[k];
        match c {
            b'"' => in_quote = !in_quote,
            b'\\' if in_quote => k += 1,
            b'(' if !in_quote => depth += 1,
            b')' if !in_quote => depth = depth.saturating_sub(1),
            b']' if !in_quote && depth == 0 => {
                return Ok((i.skip(k + 1), super::grammar::text(&i[..k])));
            }
            b'\r' | b'\n' => break,
            _ => {}
        }
        k += 1;
    }
    fail(i)
}

/// `date-time`: `"dd-Mon-yyyy hh:mm:ss +zzzz"` (the month in any case:
/// ABNF literals are case-insensitive).
pub fn internal_date(i: In<'_>) -> Res<'_, CivilTime> {
    let (rest, _) = char('"').parse(i)?;
    if rest.len() < 27 {
        return fail(i);
    }
    let mut fields = [0u8; 27];
    fields.copy_from_slice(&rest[..27]);
    fields[3] = fields[3].to_ascii_uppercase();
    fields[4..6].make_ascii_lowercase();
    let Some((day, mon, year, hour, minute, second, zone)) = crate::util::internaldate_fields(&fields) else {
        return fail(i);
    };
    let Some(month) = crate::util::month_number(&mon) else {
        return fail(i);
    };
    let t = CivilTime {
        year,
        month,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        utc_offset: zone as i32,
    };
    Ok((rest.skip(27), t))
}

/// `envelope`.
pub fn envelope(i: In<'_>) -> Res<'_, Envelope> {
    let (i, _) = char('(').parse(i)?;
    let (i, date) = nbytes(i)?;
    let (i, subject) = preceded(sp, nbytes).parse(i)?;
    let (i, from) = preceded(sp, address_list).parse(i)?;
    let (i, sender) = preceded(sp, address_list).parse(i)?;
    let (i, reply_to) = preceded(sp, address_list).parse(i)?;
    let (i, to) = preceded(sp, address_list).parse(i)?;
    let (i, cc) = preceded(sp, address_list).parse(i)?;
    let (i, bcc) = preceded(sp, address_list).parse(i)?;
    let (i, in_reply_to) = preceded(sp, nbytes).parse(i)?;
    let (i, message_id) = preceded(sp, nbytes).parse(i)?;
    let (i, _) = char(')').parse(i)?;
    Ok((
        i,
        Envelope {
            date,
            subject,
            from,
            sender,
            reply_to,
            to,
            cc,
            bcc,
            in_reply_to,
            message_id,
        },
    ))
}

/// `"(" 1*address ")" / nil`.
fn address_list(i: In<'_>) -> Res<'_, Vec<Address>> {
    alt((
        map(nil, |()| Vec::new()),
        // Some servers separate addresses with a space; the RFC does not.
        // `()` is not in the grammar either, but is sent for an empty list.
        delimited(char('('), many0(preceded(opt(sp), address)), char(')')),
    ))
    .parse(i)
}

/// `address`.
fn address(i: In<'_>) -> Res<'_, Address> {
    let (i, _) = char('(').parse(i)?;
    let (i, name) = nbytes(i)?;
    let (i, adl) = preceded(sp, nbytes).parse(i)?;
    let (i, mailbox) = preceded(sp, nbytes).parse(i)?;
    let (i, host) = preceded(sp, nbytes).parse(i)?;
    let (i, _) = char(')').parse(i)?;
    Ok((
        i,
        Address {
            name,
            adl,
            mailbox,
            host,
        },
    ))
}

/// `body`, appended to `out` as flattened nodes (the root first).
pub fn body_tree<'a>(i: In<'a>, out: &mut Vec<BodyPart>) -> Res<'a, ()> {
    body(i, out, None, "", "1", 0)
}

/// `body` with the paths it gets as a multipart container
/// (`multipart_path`) or as a single part (`single_path`).
fn body<'a>(
    i: In<'a>,
    out: &mut Vec<BodyPart>,
    parent: Option<u32>,
    multipart_path: &str,
    single_path: &str,
    depth: usize,
) -> Res<'a, ()> {
    if depth > MAX_DEPTH {
        return fail(i);
    }
    let (i, _) = char('(').parse(i)?;
    let index = out.len() as u32;
    let i = if i.first() == Some(&b'(') {
        out.push(BodyPart {
            path: multipart_path.to_string(),
            parent,
            media_type: "MULTIPART".into(),
            ..BodyPart::default()
        });
        let mut i = i;
        let mut n = 0;
        while i.first() == Some(&b'(') {
            n += 1;
            let child = if multipart_path.is_empty() {
                n.to_string()
            } else {
                format!("{multipart_path}.{n}")
            };
            i = body(i, out, Some(index), &child, &child, depth + 1)?.0;
            // Some servers put a space between the parts.
            if i.starts_with(b" (") {
                i = i.skip(1);
            }
        }
        let (i, subtype) = preceded(sp, string_text).parse(i)?;
        out[index as usize].media_subtype = subtype;
        if i.first() == Some(&b' ') {
            let (i, p) = preceded(sp, params).parse(i)?;
            out[index as usize].params = p;
            let (i, ext) = extension_tail(i, None)?;
            out[index as usize].extension = Some(ext);
            i
        } else {
            i
        }
    } else {
        let (i, media_type) = string_text(i)?;
        let (i, media_subtype) = preceded(sp, string_text).parse(i)?;
        let (i, p) = preceded(sp, params).parse(i)?;
        let (i, id) = preceded(sp, ntext).parse(i)?;
        let (i, description) = preceded(sp, nbytes).parse(i)?;
        let (i, encoding) = preceded(sp, ntext).parse(i)?;
        let (i, size) = preceded(sp, number).parse(i)?;
        let is_message = media_type.eq_ignore_ascii_case("MESSAGE")
            && (media_subtype.eq_ignore_ascii_case("RFC822") || media_subtype.eq_ignore_ascii_case("GLOBAL"));
        let is_text = media_type.eq_ignore_ascii_case("TEXT");
        out.push(BodyPart {
            path: single_path.to_string(),
            parent,
            media_type,
            media_subtype,
            params: p,
            id,
            description,
            // A NIL encoding is a server bug; it must still read as a single part.
            encoding: Some(encoding.unwrap_or_default()),
            size: Some(size),
            ..BodyPart::default()
        });
        let mut i = i;
        if is_message && i.starts_with(b" (") {
            let (r, env) = preceded(sp, envelope).parse(i)?;
            out[index as usize].envelope = Some(Box::new(env));
            let (r, _) = sp(r)?;
            let inner = format!("{single_path}.1");
            let (r, ()) = body(r, out, Some(index), single_path, &inner, depth + 1)?;
            let (r, lines) = preceded(sp, number).parse(r)?;
            out[index as usize].lines = Some(lines);
            i = r;
        } else if is_text {
            let (r, lines) = preceded(sp, number).parse(i)?;
            out[index as usize].lines = Some(lines);
            i = r;
        }
        if i.first() == Some(&b' ') {
            let (r, md5) = preceded(sp, ntext).parse(i)?;
            let (r, ext) = extension_tail(r, md5)?;
            out[index as usize].extension = Some(ext);
            i = r;
        }
        i
    };
    let (i, _) = char(')').parse(i)?;
    Ok((i, ()))
}

/// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]`.
fn extension_tail(i: In<'_>, md5: Option<String>) -> Res<'_, PartExtension> {
    let mut ext = PartExtension {
        md5,
        ..PartExtension::default()
    };
    let (i, dsp) = opt(preceded(sp, disposition)).parse(i)?;
    let Some(dsp) = dsp else { return Ok((i, ext)) };
    ext.disposition = dsp;
    let (i, lang) = opt(preceded(sp, language)).parse(i)?;
    let Some(lang) = lang else { return Ok((i, ext)) };
    ext.language = lang;
    let (i, loc) = opt(preceded(sp, ntext)).parse(i)?;
    let Some(loc) = loc else { return Ok((i, ext)) };
    ext.location = loc;
    let mut i = i;
    while i.first() == Some(&b' ') {
        let (r, v) = preceded(sp, generic_value).parse(i)?;
        if !ext.other.is_empty() {
            ext.other.push(b' ');
        }
        ext.other.extend_from_slice(&v.to_wire(usize::MAX));
        i = r;
    }
    Ok((i, ext))
}

/// `body-fld-dsp`.
fn disposition(i: In<'_>) -> Res<'_, Option<Disposition>> {
    alt((
        map(nil, |()| None),
        map(
            delimited(char('('), (string_text, preceded(sp, params)), char(')')),
            |(kind, params)| Some(Disposition { kind, params }),
        ),
    ))
    .parse(i)
}

/// `body-fld-lang`: nstring or a list of strings.
fn language(i: In<'_>) -> Res<'_, Vec<String>> {
    alt((
        map(ntext, |s| s.into_iter().collect()),
        delimited(char('('), separated_list1(sp, string_text), char(')')),
    ))
    .parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        let raw = b"12 (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 \
ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) \
((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
\"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))";
        let (rest, m) = message_data(In::wire(raw)).unwrap();
        assert!(rest.is_empty());
        assert_eq!(m.seq, 12);
        assert_eq!(m.flags.as_deref(), Some(&["\\Seen".to_string()][..]));
        let d = m.internal_date.unwrap();
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.utc_offset),
            (1996, 7, 17, 2, -7 * 3600)
        );
        assert_eq!(m.size, Some(4286));
        let env = m.envelope.unwrap();
        assert_eq!(env.cc.len(), 2);
        assert_eq!(env.cc[1].name.as_deref(), Some(&b"John Klensin"[..]));
        assert_eq!(env.bcc, vec![]);
        assert_eq!(env.in_reply_to, None);
        assert_eq!(m.body_structure.len(), 1);
        let p = &m.body_structure[0];
        assert_eq!(
            (p.path.as_str(), p.media_type.as_str(), p.lines, p.size),
            ("1", "TEXT", Some(92), Some(3028))
        );
        assert_eq!(p.params, vec![("CHARSET".into(), "US-ASCII".into())]);
        assert_eq!(p.extension, None);
    }

    #[test]
    fn sections_with_literals_and_origins() {
        let raw = b"3 (UID 9 BODY[HEADER.FIELDS (FROM \"X]Y\")] {8}\r\nFrom: \r\n BODY[1]<0> \"abc\" RFC822.TEXT NIL X-GM-LABELS (\\Inbox \"a b\"))";
        let (rest, m) = message_data(In::wire(raw)).unwrap();
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        assert_eq!(m.uid, Some(9));
        assert_eq!(m.sections[0].section, "HEADER.FIELDS (FROM \"X]Y\")");
        assert_eq!(m.sections[0].data.as_deref(), Some(&b"From: \r\n"[..]));
        assert_eq!((m.sections[1].section.as_str(), m.sections[1].origin), ("1", Some(0)));
        assert_eq!(m.sections[2].item, "RFC822.TEXT");
        assert_eq!(m.sections[2].data, None);
        assert_eq!(
            m.other,
            vec![("X-GM-LABELS".to_string(), b"(\\Inbox \"a b\")".to_vec())]
        );
    }

    #[test]
    fn forms_real_servers_send() {
        // `()` and NIL parameter values, an empty address list, an upper-case
        // month, and BODY followed by BODYSTRUCTURE (the last one is kept).
        let raw = b"1 (INTERNALDATE \"17-JUL-1996 02:44:25 -0700\" ENVELOPE (NIL NIL () NIL NIL NIL NIL NIL NIL NIL) \
BODY (\"TEXT\" \"PLAIN\" () NIL NIL \"7BIT\" 1 1) BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"NAME\" NIL) NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL))";
        let (rest, m) = message_data(In::wire(raw)).unwrap();
        assert!(rest.is_empty());
        assert_eq!(m.internal_date.unwrap().month, 7);
        assert!(m.envelope.unwrap().from.is_empty());
        assert_eq!(m.body_structure.len(), 1);
        assert_eq!(m.body_structure[0].params, vec![("NAME".to_string(), String::new())]);
        assert!(m.body_structure[0].extension.is_some());
    }

    #[test]
    fn deep_bodies_are_refused_not_recursed() {
        let mut raw = b"1 (BODYSTRUCTURE ".to_vec();
        raw.extend(std::iter::repeat_n(b'(', 100_000));
        assert!(message_data(In::wire(&raw)).is_err());
    }
}
