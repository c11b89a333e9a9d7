//! Typed values written back in IMAP syntax, in imaplib's raw shape (a
//! line that announces a literal becomes a `(header, literal)` item).
//!
//! Parsing what this writes gives the same value back: that is the
//! round-trip the tests check, and what tools that forward typed results
//! to another server need.

use super::{Address, BodyPart, Envelope, FetchMessage, ListEntry, MailboxStatus, Params, PartExtension};
use crate::DataItem;

/// Builds one response's data items.
#[derive(Default)]
struct Writer {
    items: Vec<DataItem>,
    line: Vec<u8>,
}

impl Writer {
    fn raw(&mut self, b: &[u8]) {
        self.line.extend_from_slice(b);
    }

    fn string(&mut self, b: &[u8]) {
        let quotable = b.iter().all(|&c| (0x20..0x7f).contains(&c));
        if quotable {
            self.line.push(b'"');
            for &c in b {
                if matches!(c, b'"' | b'\\') {
                    self.line.push(b'\\');
                }
                self.line.push(c);
            }
            self.line.push(b'"');
        } else {
            self.line.extend_from_slice(format!("{{{}}}", b.len()).as_bytes());
            self.items
                .push(DataItem::Literal(std::mem::take(&mut self.line), b.to_vec()));
        }
    }

    /// An astring: an atom when it is one (as servers send mailbox names).
    fn astring(&mut self, b: &[u8]) {
        let atom =
            !b.is_empty() && !b.eq_ignore_ascii_case(b"NIL") && b.iter().all(|&c| crate::encode::is_astring_char(c));
        if atom {
            self.raw(b);
        } else {
            self.string(b);
        }
    }

    fn nstring(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.string(b),
            None => self.raw(b"NIL"),
        }
    }

    fn params(&mut self, p: &Params) {
        if p.is_empty() {
            return self.raw(b"NIL");
        }
        self.raw(b"(");
        for (k, (name, value)) in p.iter().enumerate() {
            if k > 0 {
                self.raw(b" ");
            }
            self.string(name.as_bytes());
            self.raw(b" ");
            self.string(value.as_bytes());
        }
        self.raw(b")");
    }

    fn finish(mut self) -> Vec<DataItem> {
        self.items.push(DataItem::Bytes(self.line));
        self.items
    }
}

fn addresses(w: &mut Writer, list: &[Address]) {
    if list.is_empty() {
        return w.raw(b"NIL");
    }
    w.raw(b"(");
    for a in list {
        w.raw(b"(");
        w.nstring(a.name.as_deref());
        w.raw(b" ");
        w.nstring(a.adl.as_deref());
        w.raw(b" ");
        w.nstring(a.mailbox.as_deref());
        w.raw(b" ");
        w.nstring(a.host.as_deref());
        w.raw(b")");
    }
    w.raw(b")");
}

fn envelope(w: &mut Writer, e: &Envelope) {
    w.raw(b"(");
    w.nstring(e.date.as_deref());
    w.raw(b" ");
    w.nstring(e.subject.as_deref());
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        w.raw(b" ");
        addresses(w, list);
    }
    w.raw(b" ");
    w.nstring(e.in_reply_to.as_deref());
    w.raw(b" ");
    w.nstring(e.message_id.as_deref());
    w.raw(b")");
}

fn extension(w: &mut Writer, x: &PartExtension) {
    w.raw(b" ");
    match &x.disposition {
        Some(d) => {
            w.raw(b"(");
            w.string(d.kind.as_bytes());
            w.raw(b" ");
            w.params(&d.params);
            w.raw(b")");
        }
        None => w.raw(b"NIL"),
    }
    w.raw(b" ");
    match x.language.as_slice() {
        [] => w.raw(b"NIL"),
        langs => {
            w.raw(b"(");
            for (k, l) in langs.iter().enumerate() {
                if k > 0 {
                    w.raw(b" ");
                }
                w.string(l.as_bytes());
            }
            w.raw(b")");
        }
    }
    w.raw(b" ");
    w.nstring(x.location.as_deref().map(str::as_bytes));
    if !x.other.is_empty() {
        w.raw(b" ");
        w.raw(&x.other);
    }
}

/// Writes node `index` of `parts` and its children.
fn body(w: &mut Writer, parts: &[BodyPart], index: usize) {
    let p = &parts[index];
    let children = || {
        parts
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.parent == Some(index as u32))
            .map(|(k, _)| k)
    };
    w.raw(b"(");
    if p.is_multipart() {
        for k in children() {
            body(w, parts, k);
        }
        w.raw(b" ");
        w.string(p.media_subtype.as_bytes());
        if let Some(x) = &p.extension {
            w.raw(b" ");
            w.params(&p.params);
            extension(w, x);
        }
    } else {
        w.string(p.media_type.as_bytes());
        w.raw(b" ");
        w.string(p.media_subtype.as_bytes());
        w.raw(b" ");
        w.params(&p.params);
        w.raw(b" ");
        w.nstring(p.id.as_deref().map(str::as_bytes));
        w.raw(b" ");
        w.nstring(p.description.as_deref());
        w.raw(b" ");
        w.string(p.encoding.as_deref().unwrap_or_default().as_bytes());
        w.raw(format!(" {}", p.size.unwrap_or(0)).as_bytes());
        if let Some(env) = &p.envelope {
            w.raw(b" ");
            envelope(w, env);
            if let Some(k) = children().next() {
                w.raw(b" ");
                body(w, parts, k);
            }
        }
        if let Some(lines) = p.lines {
            w.raw(format!(" {lines}").as_bytes());
        }
        if let Some(x) = &p.extension {
            w.raw(b" ");
            w.nstring(x.md5.as_deref().map(str::as_bytes));
            extension(w, x);
        }
    }
    w.raw(b")");
}

/// One FETCH response in imaplib's shape (`seq (items...)`).
pub fn fetch(m: &FetchMessage) -> Vec<DataItem> {
    let mut w = Writer::default();
    w.raw(format!("{} (", m.seq).as_bytes());
    let mut first = true;
    let mut item = |w: &mut Writer, name: &str| {
        if !std::mem::take(&mut first) {
            w.raw(b" ");
        }
        w.raw(name.as_bytes());
    };
    if let Some(uid) = m.uid {
        item(&mut w, &format!("UID {uid}"));
    }
    if let Some(flags) = &m.flags {
        item(&mut w, &format!("FLAGS ({})", flags.join(" ")));
    }
    if let Some(t) = &m.internal_date {
        let s =
            crate::util::time2internaldate(&crate::util::TimeValue::Civil(*t), &crate::util::Utc).unwrap_or_default();
        item(&mut w, &format!("INTERNALDATE {s}"));
    }
    if let Some(size) = m.size {
        item(&mut w, &format!("RFC822.SIZE {size}"));
    }
    if let Some(e) = &m.envelope {
        item(&mut w, "ENVELOPE ");
        envelope(&mut w, e);
    }
    if !m.body_structure.is_empty() {
        let ext = m.body_structure.iter().any(|p| p.extension.is_some());
        item(&mut w, if ext { "BODYSTRUCTURE " } else { "BODY " });
        body(&mut w, &m.body_structure, 0);
    }
    if let Some(modseq) = m.modseq {
        item(&mut w, &format!("MODSEQ ({modseq})"));
    }
    for s in &m.sections {
        let mut name = s.item.clone();
        if !s.item.starts_with("RFC822") {
            name.push_str(&format!("[{}]", s.section));
        }
        if let Some(o) = s.origin {
            name.push_str(&format!("<{o}>"));
        }
        item(&mut w, &name);
        w.raw(b" ");
        w.nstring(s.data.as_deref());
    }
    for (name, value) in &m.other {
        item(&mut w, name);
        w.raw(b" ");
        w.raw(value);
    }
    w.raw(b")");
    w.finish()
}

/// One LIST response in imaplib's shape.
pub fn list(e: &ListEntry) -> Vec<DataItem> {
    let mut w = Writer::default();
    w.raw(format!("({}) ", e.attributes.join(" ")).as_bytes());
    w.nstring(e.delimiter.as_deref().map(str::as_bytes));
    w.raw(b" ");
    w.astring(e.name.as_bytes());
    if !e.extended.is_empty() {
        w.raw(b" ");
        w.raw(&e.extended);
    }
    w.finish()
}

/// One STATUS response in imaplib's shape.
pub fn status(s: &MailboxStatus) -> Vec<DataItem> {
    let mut w = Writer::default();
    w.astring(s.mailbox.as_bytes());
    let items: Vec<String> = s.items.iter().map(|(k, v)| format!("{k} {v}")).collect();
    w.raw(format!(" ({})", items.join(" ")).as_bytes());
    w.finish()
}
