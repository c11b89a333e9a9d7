//! Typed results: imaplib's raw data lists parsed by the RFC 3501 grammar
//! (and the extensions wasimap's commands meet: CONDSTORE, ESEARCH, SORT,
//! THREAD, QUOTA, ACL, NAMESPACE, UIDPLUS, LIST-EXTENDED).
//!
//! The structures mirror the WIT `typed` interface one to one. Parsing is
//! done with nom, one function per grammar rule (see [`grammar`],
//! [`fetch`], [`mailbox`], [`numbers`]); [`render`] writes a typed value
//! back in IMAP syntax, which is how the round-trip tests check that
//! nothing is lost.

pub mod fetch;
pub mod grammar;
pub mod header;
pub mod mailbox;
pub mod mutf7;
pub mod numbers;
pub mod render;

use crate::util::CivilTime;
use crate::{pyrepr, DataItem, ImapError, Result};

/// An ENVELOPE address; see the WIT `address`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Display name, raw.
    pub name: Option<Vec<u8>>,
    /// Source route.
    pub adl: Option<Vec<u8>>,
    /// Local part or group name.
    pub mailbox: Option<Vec<u8>>,
    /// Domain; none at group markers.
    pub host: Option<Vec<u8>>,
}

/// A message's ENVELOPE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `Date:`, raw.
    pub date: Option<Vec<u8>>,
    /// `Subject:`, raw.
    pub subject: Option<Vec<u8>>,
    /// `From:`.
    pub from: Vec<Address>,
    /// `Sender:`.
    pub sender: Vec<Address>,
    /// `Reply-To:`.
    pub reply_to: Vec<Address>,
    /// `To:`.
    pub to: Vec<Address>,
    /// `Cc:`.
    pub cc: Vec<Address>,
    /// `Bcc:`.
    pub bcc: Vec<Address>,
    /// `In-Reply-To:`, raw.
    pub in_reply_to: Option<Vec<u8>>,
    /// `Message-ID:`, raw.
    pub message_id: Option<Vec<u8>>,
}

/// A parameter list: `(name, value)` pairs in order.
pub type Params = Vec<(String, String)>;

/// `Content-Disposition`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disposition {
    /// e.g. `attachment`.
    pub kind: String,
    /// Its parameters.
    pub params: Params,
}

/// BODYSTRUCTURE extension data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartExtension {
    /// `Content-MD5`.
    pub md5: Option<String>,
    /// `Content-Disposition`.
    pub disposition: Option<Disposition>,
    /// `Content-Language`.
    pub language: Vec<String>,
    /// `Content-Location`.
    pub location: Option<String>,
    /// Further extension data, raw.
    pub other: Vec<u8>,
}

/// One node of a flattened body tree; see the WIT `body-part`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyPart {
    /// Section number.
    pub path: String,
    /// Index of the enclosing node.
    pub parent: Option<u32>,
    /// Media type.
    pub media_type: String,
    /// Media subtype.
    pub media_subtype: String,
    /// Content-Type parameters.
    pub params: Params,
    /// `Content-ID`.
    pub id: Option<String>,
    /// `Content-Description`, raw.
    pub description: Option<Vec<u8>>,
    /// `Content-Transfer-Encoding`.
    pub encoding: Option<String>,
    /// Octets.
    pub size: Option<u32>,
    /// Lines (text and message parts).
    pub lines: Option<u32>,
    /// Envelope of a message part.
    pub envelope: Option<Box<Envelope>>,
    /// Extension data.
    pub extension: Option<PartExtension>,
}

impl BodyPart {
    /// Whether this node is a multipart container.
    pub fn is_multipart(&self) -> bool {
        self.encoding.is_none()
    }
}

/// A body data item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodySection {
    /// `BODY`, `BINARY`, `RFC822`, `RFC822.HEADER` or `RFC822.TEXT`.
    pub item: String,
    /// Inside the brackets.
    pub section: String,
    /// Partial origin.
    pub origin: Option<u32>,
    /// The data; none for `NIL`.
    pub data: Option<Vec<u8>>,
}

/// One FETCH response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchMessage {
    /// Sequence number.
    pub seq: u32,
    /// `UID`.
    pub uid: Option<u32>,
    /// `FLAGS`.
    pub flags: Option<Vec<String>>,
    /// `INTERNALDATE`.
    pub internal_date: Option<CivilTime>,
    /// `RFC822.SIZE`.
    pub size: Option<u64>,
    /// `ENVELOPE`.
    pub envelope: Option<Envelope>,
    /// `BODY`/`BODYSTRUCTURE`, flattened.
    pub body_structure: Vec<BodyPart>,
    /// Body data items.
    pub sections: Vec<BodySection>,
    /// `MODSEQ`.
    pub modseq: Option<u64>,
    /// Unknown items, raw.
    pub other: Vec<(String, Vec<u8>)>,
}

/// A LIST or LSUB entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListEntry {
    /// Name attributes.
    pub attributes: Vec<String>,
    /// Hierarchy delimiter.
    pub delimiter: Option<String>,
    /// Name as sent.
    pub name: String,
    /// Extended data, raw.
    pub extended: Vec<u8>,
}

/// A STATUS response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxStatus {
    /// Mailbox name as sent.
    pub mailbox: String,
    /// Items in order.
    pub items: Vec<(String, u64)>,
}

impl MailboxStatus {
    /// The value of `item` (case-insensitive), if it was sent.
    pub fn get(&self, item: &str) -> Option<u64> {
        self.items
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(item))
            .map(|(_, v)| *v)
    }
}

/// An inclusive range; `*` is `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First number.
    pub first: u32,
    /// Last number.
    pub last: u32,
}

/// SEARCH or SORT results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchResult {
    /// Numbers in order.
    pub ids: Vec<u32>,
    /// CONDSTORE's `(MODSEQ n)`.
    pub modseq: Option<u64>,
}

/// An ESEARCH response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Esearch {
    /// Correlator.
    pub tag: Option<String>,
    /// UIDs rather than sequence numbers.
    pub uid: bool,
    /// `MIN`.
    pub min: Option<u32>,
    /// `MAX`.
    pub max: Option<u32>,
    /// `COUNT`.
    pub count: Option<u32>,
    /// `ALL`.
    pub all: Vec<SeqRange>,
    /// `MODSEQ`.
    pub modseq: Option<u64>,
}

/// A THREAD node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadNode {
    /// Message number or UID; none for a missing parent.
    pub id: Option<u32>,
    /// Parent index.
    pub parent: Option<u32>,
}

/// A quota resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaResource {
    /// Resource name.
    pub name: String,
    /// Usage.
    pub usage: u64,
    /// Limit.
    pub limit: u64,
}

/// A QUOTA response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quota {
    /// Quota root.
    pub root: String,
    /// Resources.
    pub resources: Vec<QuotaResource>,
}

/// A QUOTAROOT response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaRoot {
    /// Mailbox.
    pub mailbox: String,
    /// Roots.
    pub roots: Vec<String>,
}

/// An ACL response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acl {
    /// Mailbox.
    pub mailbox: String,
    /// Identifier and rights.
    pub entries: Vec<(String, String)>,
}

/// A MYRIGHTS response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MyRights {
    /// Mailbox.
    pub mailbox: String,
    /// Rights.
    pub rights: String,
}

/// One namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceEntry {
    /// Prefix.
    pub prefix: String,
    /// Delimiter.
    pub delimiter: Option<String>,
}

/// A NAMESPACE response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// Personal.
    pub personal: Vec<NamespaceEntry>,
    /// Other users'.
    pub other_users: Vec<NamespaceEntry>,
    /// Shared.
    pub shared: Vec<NamespaceEntry>,
}

/// A COPYUID code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyUid {
    /// Destination UIDVALIDITY.
    pub uid_validity: u32,
    /// Source UIDs.
    pub source: Vec<SeqRange>,
    /// Destination UIDs.
    pub destination: Vec<SeqRange>,
}

/// An APPENDUID code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendUid {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// New UIDs.
    pub uids: Vec<SeqRange>,
}

/// One response of a data list as the typed rules read it: its text
/// between literals (the skeleton, borrowed when the response has no
/// literal) and where its literals are. imaplib splits a response with
/// literals into `(header, literal)` items followed by the line that ends
/// it, so a `bytes` item closes a response; the headers and that line are
/// joined, each keeping its `{n}` announcement and CRLF, while the
/// literals are read where they were framed (see [`grammar::Literals`]).
pub struct Response<'a> {
    skeleton: std::borrow::Cow<'a, [u8]>,
    /// `(skeleton offset after the announcement, literal)`.
    slots: Vec<(usize, &'a [u8])>,
}

impl<'a> Response<'a> {
    /// Runs `rule` over the whole response: it must consume all of it.
    fn parse<T>(
        &self,
        what: &str,
        rule: impl FnOnce(grammar::In<'_>) -> nom::IResult<grammar::In<'_>, T>,
    ) -> Result<T> {
        let literals = grammar::Literals::new(&self.skeleton, &self.slots);
        let input = grammar::In::skeleton(&self.skeleton, &literals);
        match rule(input) {
            Ok((rest, v)) if rest.is_empty() => Ok(v),
            _ => {
                let limit = crate::error::QUOTE_LIMIT;
                let len = self.skeleton.len() + self.slots.iter().map(|(_, l)| l.len()).sum::<usize>();
                let shown = pyrepr::bytes_truncated_of(&input.to_wire(limit), len, limit);
                Err(grammar_error(what, &shown))
            }
        }
    }
}

/// The responses of a data list.
pub fn responses(data: &[DataItem]) -> Vec<Response<'_>> {
    use std::borrow::Cow;
    let mut out = Vec::new();
    let mut pending: Option<Response<'_>> = None;
    for item in data {
        match item {
            DataItem::None => {}
            DataItem::Bytes(b) => match pending.take() {
                Some(mut r) => {
                    r.skeleton.to_mut().extend_from_slice(b);
                    out.push(r);
                }
                None => out.push(Response {
                    skeleton: Cow::Borrowed(b.as_slice()),
                    slots: Vec::new(),
                }),
            },
            DataItem::Literal(h, l) => {
                let r = pending.get_or_insert_with(|| Response {
                    skeleton: Cow::Owned(Vec::with_capacity(h.len() + 64)),
                    slots: Vec::new(),
                });
                let skeleton = r.skeleton.to_mut();
                skeleton.extend_from_slice(h);
                skeleton.extend_from_slice(b"\r\n");
                r.slots.push((skeleton.len(), l.as_slice()));
            }
        }
    }
    // A data list cut after a literal (the trailer never came): parse what
    // there is, so the caller gets a grammar error naming it.
    if let Some(r) = pending {
        out.push(r);
    }
    out
}

/// Runs `rule` over every response of `data`, requiring it to consume the
/// whole response.
fn parse_each<T>(
    what: &str,
    data: &[DataItem],
    mut rule: impl FnMut(grammar::In<'_>) -> nom::IResult<grammar::In<'_>, T>,
) -> Result<Vec<T>> {
    responses(data).iter().map(|r| r.parse(what, &mut rule)).collect()
}

/// `error` showing the response that did not parse as `shown` (its
/// start, quoted, see [`Response::parse`]).
fn grammar_error(what: &str, shown: &str) -> ImapError {
    ImapError::error_kind(
        crate::error::ErrorKind::Malformed,
        format!("cannot parse {what} response: {shown}"),
    )
}

/// FETCH data, one message per response.
pub fn parse_fetch(data: &[DataItem]) -> Result<Vec<FetchMessage>> {
    parse_each("FETCH", data, fetch::message_data)
}

/// LIST or LSUB data.
pub fn parse_list(data: &[DataItem]) -> Result<Vec<ListEntry>> {
    parse_each("LIST", data, mailbox::list_entry)
}

/// STATUS data.
pub fn parse_status(data: &[DataItem]) -> Result<Vec<MailboxStatus>> {
    parse_each("STATUS", data, mailbox::status)
}

/// SEARCH or SORT data, all responses joined.
pub fn parse_search(data: &[DataItem]) -> Result<SearchResult> {
    let mut all = SearchResult::default();
    for r in parse_each("SEARCH", data, numbers::search)? {
        all.ids.extend(r.ids);
        all.modseq = r.modseq.or(all.modseq);
    }
    Ok(all)
}

/// ESEARCH data.
pub fn parse_esearch(data: &[DataItem]) -> Result<Vec<Esearch>> {
    parse_each("ESEARCH", data, numbers::esearch)
}

/// THREAD data, all threads in one list.
pub fn parse_thread(data: &[DataItem]) -> Result<Vec<ThreadNode>> {
    let mut nodes = Vec::new();
    for r in responses(data) {
        r.parse("THREAD", |i| numbers::threads(i, &mut nodes))?;
    }
    Ok(nodes)
}

/// QUOTA data.
pub fn parse_quota(data: &[DataItem]) -> Result<Vec<Quota>> {
    parse_each("QUOTA", data, mailbox::quota)
}

/// QUOTAROOT data.
pub fn parse_quotaroot(data: &[DataItem]) -> Result<Vec<QuotaRoot>> {
    parse_each("QUOTAROOT", data, mailbox::quota_root)
}

/// ACL data.
pub fn parse_acl(data: &[DataItem]) -> Result<Vec<Acl>> {
    parse_each("ACL", data, mailbox::acl)
}

/// MYRIGHTS data.
pub fn parse_myrights(data: &[DataItem]) -> Result<Vec<MyRights>> {
    parse_each("MYRIGHTS", data, mailbox::my_rights)
}

/// NAMESPACE data; the last response wins (there is one).
pub fn parse_namespace(data: &[DataItem]) -> Result<Namespaces> {
    Ok(parse_each("NAMESPACE", data, mailbox::namespaces)?
        .pop()
        .unwrap_or_default())
}

/// COPYUID data; the last code wins.
pub fn parse_copyuid(data: &[DataItem]) -> Result<Option<CopyUid>> {
    Ok(parse_each("COPYUID", data, numbers::copy_uid)?.pop())
}

/// APPENDUID data; the last code wins.
pub fn parse_appenduid(data: &[DataItem]) -> Result<Option<AppendUid>> {
    Ok(parse_each("APPENDUID", data, numbers::append_uid)?.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(header: &[u8], literal: &[u8]) -> DataItem {
        DataItem::Literal(header.to_vec(), literal.to_vec())
    }

    /// A FETCH response as imaplib frames it: two literals, one inside the
    /// ENVELOPE, one as a body section.
    fn framed(body: &[u8]) -> Vec<DataItem> {
        vec![
            lit(b"7 (UID 9 ENVELOPE (NIL {6}", b"Caf\xc3\xa9!"),
            lit(
                format!(" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {{{}}}", body.len()).as_bytes(),
                body,
            ),
            DataItem::Bytes(b" FLAGS (\\Seen))".to_vec()),
        ]
    }

    #[test]
    fn literals_are_read_where_they_were_framed() {
        let body = vec![b'x'; 100_000];
        let items = framed(&body);
        let r = responses(&items);
        assert_eq!(r.len(), 1);
        // The skeleton holds the text between literals, not the literals.
        assert!(r[0].skeleton.len() < 200, "{}", r[0].skeleton.len());
        let m = parse_fetch(&items).unwrap().remove(0);
        assert_eq!(m.uid, Some(9));
        assert_eq!(m.envelope.unwrap().subject.as_deref(), Some(&b"Caf\xc3\xa9!"[..]));
        assert_eq!(m.sections[0].data.as_deref(), Some(&body[..]));
        assert_eq!(m.flags, Some(vec!["\\Seen".to_string()]));
    }

    #[test]
    fn framed_items_and_wire_form_parse_alike() {
        let items = framed(b"Subject: hi\r\n\r\n{3}\r\nnot a literal\r\n");
        let mut wire = Vec::new();
        for item in &items {
            match item {
                DataItem::Literal(h, l) => {
                    wire.extend_from_slice(h);
                    wire.extend_from_slice(b"\r\n");
                    wire.extend_from_slice(l);
                }
                DataItem::Bytes(b) => wire.extend_from_slice(b),
                DataItem::None => {}
            }
        }
        assert_eq!(
            parse_fetch(&items).unwrap(),
            parse_fetch(&[DataItem::Bytes(wire)]).unwrap()
        );
    }

    #[test]
    fn an_announcement_that_disagrees_with_its_literal_is_refused() {
        let items = vec![lit(b"1 (BODY[] {5}", b"abc"), DataItem::Bytes(b")".to_vec())];
        let e = parse_fetch(&items).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Malformed);
        // The quote shows the response in wire form, literal included.
        assert!(e.message().contains("{5}\\r\\nabc)"), "{}", e.message());
    }

    #[test]
    fn an_announcement_inside_a_header_is_not_read_over_the_framed_literal() {
        // Found by the typed_parsers fuzz target: `{5}` inside the header
        // was read inline ("hgl" and the CRLF framing put after the
        // header), the framed literal never, and the value's rendering did
        // not parse back.
        let items = vec![
            lit(b"1 (55 1K Y[OA RR] {5}\r\nhgl", b"\xff\xfflSB Lh\x00"),
            DataItem::Bytes(b")".to_vec()),
        ];
        let e = parse_fetch(&items).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Malformed);
        // The same bytes in wire form are a literal like any other.
        let wire = vec![DataItem::Bytes(b"1 (X {5}\r\nhello)".to_vec())];
        assert_eq!(parse_fetch(&wire).unwrap()[0].other[0].1, b"{5}\r\nhello".to_vec());
    }

    #[test]
    fn a_long_response_is_quoted_truncated_with_its_whole_length() {
        let items = vec![
            lit(b"1 (BODY[] {100000}", &[b'x'; 100_000]),
            DataItem::Bytes(b" oops".to_vec()),
        ];
        let e = parse_fetch(&items).unwrap_err();
        let wire_len = b"1 (BODY[] {100000}\r\n".len() + 100_000 + b" oops".len();
        assert!(
            e.message().ends_with(&format!("... ({wire_len} bytes)")),
            "{}",
            e.message()
        );
        assert!(
            e.message().len() < 2 * crate::error::QUOTE_LIMIT + 100,
            "{}",
            e.message().len()
        );
    }

    #[test]
    fn raw_extension_data_keeps_its_literals() {
        let items = vec![
            lit(b"1 (X-GM-LABELS ({2}", b"a)"),
            DataItem::Bytes(b" \\Inbox))".to_vec()),
        ];
        let m = parse_fetch(&items).unwrap().remove(0);
        assert_eq!(
            m.other,
            vec![("X-GM-LABELS".to_string(), b"({2}\r\na) \\Inbox)".to_vec())]
        );
        let items = vec![
            lit(b"(\\HasNoChildren) \"/\" {4}", b"a\"b)"),
            DataItem::Bytes(b" (\"CHILDINFO\" ({3}\r\nx y))".to_vec()),
        ];
        let e = parse_list(&items).unwrap().remove(0);
        assert_eq!(e.name, "a\"b)");
        assert_eq!(e.extended, b"(\"CHILDINFO\" ({3}\r\nx y))");
    }
}
