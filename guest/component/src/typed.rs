//! The WIT glue of the `typed` interface: the core's typed values
//! ([`wasimap_protocol::typed`]) converted to the generated records, field by field.

use super::exports::wasimap::imap::typed::{self as w, Guest};
use super::wasimap::imap::types::{CivilTime, DataItem as WitItem, ImapError as WitError};
use super::{error, Component};
use wasimap_protocol::typed as core;

/// WIT data items back into the core's.
fn core_items(v: Vec<WitItem>) -> Vec<wasimap_protocol::DataItem> {
    v.into_iter()
        .map(|d| match d {
            WitItem::None => wasimap_protocol::DataItem::None,
            WitItem::Bytes(b) => wasimap_protocol::DataItem::Bytes(b),
            WitItem::Literal((h, l)) => wasimap_protocol::DataItem::Literal(h, l),
        })
        .collect()
}

fn map_all<A, B>(v: Vec<A>, f: impl FnMut(A) -> B) -> Vec<B> {
    v.into_iter().map(f).collect()
}

fn address(a: core::Address) -> w::Address {
    w::Address {
        name: a.name,
        adl: a.adl,
        mailbox: a.mailbox,
        host: a.host,
    }
}

fn envelope(e: core::Envelope) -> w::Envelope {
    w::Envelope {
        date: e.date,
        subject: e.subject,
        from: map_all(e.from, address),
        sender: map_all(e.sender, address),
        reply_to: map_all(e.reply_to, address),
        to: map_all(e.to, address),
        cc: map_all(e.cc, address),
        bcc: map_all(e.bcc, address),
        in_reply_to: e.in_reply_to,
        message_id: e.message_id,
    }
}

fn extension(x: core::PartExtension) -> w::PartExtension {
    w::PartExtension {
        md5: x.md5,
        disposition: x.disposition.map(|d| w::Disposition {
            kind: d.kind,
            params: d.params,
        }),
        language: x.language,
        location: x.location,
        other: x.other,
    }
}

fn body_part(p: core::BodyPart) -> w::BodyPart {
    w::BodyPart {
        path: p.path,
        parent: p.parent,
        media_type: p.media_type,
        media_subtype: p.media_subtype,
        params: p.params,
        id: p.id,
        description: p.description,
        encoding: p.encoding,
        size: p.size,
        lines: p.lines,
        envelope: p.envelope.map(|e| envelope(*e)),
        extension: p.extension.map(extension),
    }
}

fn civil(t: wasimap_protocol::util::CivilTime) -> CivilTime {
    CivilTime {
        year: t.year,
        month: t.month,
        day: t.day,
        hour: t.hour,
        minute: t.minute,
        second: t.second,
        utc_offset: t.utc_offset,
    }
}

/// One parsed FETCH response as the WIT record (also used by `fetch-stream`).
pub(super) fn fetch_message(m: core::FetchMessage) -> w::FetchMessage {
    w::FetchMessage {
        seq: m.seq,
        uid: m.uid,
        flags: m.flags,
        internal_date: m.internal_date.map(civil),
        size: m.size,
        envelope: m.envelope.map(envelope),
        body_structure: map_all(m.body_structure, body_part),
        sections: map_all(m.sections, |s| w::BodySection {
            item: s.item,
            section: s.section,
            origin: s.origin,
            // Handed to the host here, so the plugin receives a handle
            // instead of the adapter's byte-by-byte copy of a list.
            data: s.data.map(|d| super::Body::new(&d)),
        }),
        modseq: m.modseq,
        other: m.other,
    }
}

fn range(r: core::SeqRange) -> w::SeqRange {
    w::SeqRange {
        first: r.first,
        last: r.last,
    }
}

fn namespace_list(v: Vec<core::NamespaceEntry>) -> Vec<w::NamespaceEntry> {
    map_all(v, |n| w::NamespaceEntry {
        prefix: n.prefix,
        delimiter: n.delimiter,
    })
}

/// Parses with `parse` and converts each value with `convert`.
fn typed<T, U>(
    data: Vec<WitItem>,
    parse: impl FnOnce(&[wasimap_protocol::DataItem]) -> wasimap_protocol::Result<T>,
    convert: impl FnOnce(T) -> U,
) -> Result<U, WitError> {
    parse(&core_items(data)).map(convert).map_err(error)
}

impl Guest for Component {
    fn parse_fetch(data: Vec<WitItem>) -> Result<Vec<w::FetchMessage>, WitError> {
        typed(data, core::parse_fetch, |v| map_all(v, fetch_message))
    }

    fn parse_list(data: Vec<WitItem>) -> Result<Vec<w::ListEntry>, WitError> {
        typed(data, core::parse_list, |v| {
            map_all(v, |e| w::ListEntry {
                attributes: e.attributes,
                delimiter: e.delimiter,
                name: e.name,
                extended: e.extended,
            })
        })
    }

    fn parse_status(data: Vec<WitItem>) -> Result<Vec<w::MailboxStatus>, WitError> {
        typed(data, core::parse_status, |v| {
            map_all(v, |s| w::MailboxStatus {
                mailbox: s.mailbox,
                items: s.items,
            })
        })
    }

    fn parse_search(data: Vec<WitItem>) -> Result<w::SearchResult, WitError> {
        typed(data, core::parse_search, |s| w::SearchResult {
            ids: s.ids,
            modseq: s.modseq,
        })
    }

    fn parse_esearch(data: Vec<WitItem>) -> Result<Vec<w::Esearch>, WitError> {
        typed(data, core::parse_esearch, |v| {
            map_all(v, |e| w::Esearch {
                tag: e.tag,
                uid: e.uid,
                min: e.min,
                max: e.max,
                count: e.count,
                all: map_all(e.all, range),
                modseq: e.modseq,
            })
        })
    }

    fn parse_thread(data: Vec<WitItem>) -> Result<Vec<w::ThreadNode>, WitError> {
        typed(data, core::parse_thread, |v| {
            map_all(v, |n| w::ThreadNode {
                id: n.id,
                parent: n.parent,
            })
        })
    }

    fn parse_quota(data: Vec<WitItem>) -> Result<Vec<w::Quota>, WitError> {
        typed(data, core::parse_quota, |v| {
            map_all(v, |q| w::Quota {
                root: q.root,
                resources: map_all(q.resources, |r| w::QuotaResource {
                    name: r.name,
                    usage: r.usage,
                    limit: r.limit,
                }),
            })
        })
    }

    fn parse_quotaroot(data: Vec<WitItem>) -> Result<Vec<w::QuotaRoot>, WitError> {
        typed(data, core::parse_quotaroot, |v| {
            map_all(v, |q| w::QuotaRoot {
                mailbox: q.mailbox,
                roots: q.roots,
            })
        })
    }

    fn parse_acl(data: Vec<WitItem>) -> Result<Vec<w::Acl>, WitError> {
        typed(data, core::parse_acl, |v| {
            map_all(v, |a| w::Acl {
                mailbox: a.mailbox,
                entries: a.entries,
            })
        })
    }

    fn parse_myrights(data: Vec<WitItem>) -> Result<Vec<w::MyRights>, WitError> {
        typed(data, core::parse_myrights, |v| {
            map_all(v, |r| w::MyRights {
                mailbox: r.mailbox,
                rights: r.rights,
            })
        })
    }

    fn parse_namespace(data: Vec<WitItem>) -> Result<w::Namespaces, WitError> {
        typed(data, core::parse_namespace, |n| w::Namespaces {
            personal: namespace_list(n.personal),
            other_users: namespace_list(n.other_users),
            shared: namespace_list(n.shared),
        })
    }

    fn parse_copyuid(data: Vec<WitItem>) -> Result<Option<w::CopyUid>, WitError> {
        typed(data, core::parse_copyuid, |c| {
            c.map(|c| w::CopyUid {
                uid_validity: c.uid_validity,
                source: map_all(c.source, range),
                destination: map_all(c.destination, range),
            })
        })
    }

    fn parse_appenduid(data: Vec<WitItem>) -> Result<Option<w::AppendUid>, WitError> {
        typed(data, core::parse_appenduid, |c| {
            c.map(|c| w::AppendUid {
                uid_validity: c.uid_validity,
                uids: map_all(c.uids, range),
            })
        })
    }

    fn mutf7_decode(name: String) -> Result<String, WitError> {
        core::mutf7::decode(&name).map_err(error)
    }

    fn mutf7_encode(name: String) -> String {
        core::mutf7::encode(&name)
    }

    fn decode_header(value: Vec<u8>) -> String {
        core::header::decode(&value)
    }
}
