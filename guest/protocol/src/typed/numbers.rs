//! Responses that are numbers: SEARCH/SORT, ESEARCH (RFC 4731), THREAD
//! (RFC 5256) and the UIDPLUS codes COPYUID/APPENDUID (RFC 4315).

use nom::bytes::complete::tag_no_case;
use nom::character::complete::char;
use nom::combinator::opt;
use nom::multi::many0;
use nom::sequence::{delimited, preceded};
use nom::Parser;

use super::grammar::{
    atom, fail, generic_value, number, number64, sequence_set, sp, store, string_text, In, Res, MAX_DEPTH,
};
use super::{AppendUid, CopyUid, Esearch, SearchResult, ThreadNode};

/// `*(SP nz-number) [SP "(" "MODSEQ" SP mod-sequence-value ")"]`, as
/// imaplib stores it (no leading space; empty when nothing matched).
pub fn search(i: In<'_>) -> Res<'_, SearchResult> {
    let mut out = SearchResult::default();
    let mut i = i;
    loop {
        let (r, _) = super::grammar::spaces(i)?;
        i = r;
        if i.is_empty() {
            return Ok((i, out));
        }
        if i.first() == Some(&b'(') {
            let (r, m) = delimited((char('('), tag_no_case("MODSEQ"), sp), number64, char(')')).parse(i)?;
            out.modseq = Some(m);
            i = r;
            continue;
        }
        let (r, n) = number(i)?;
        out.ids.push(n);
        i = r;
    }
}

/// `search-correlator [SP "UID"] *(SP search-return-data)`.
pub fn esearch(i: In<'_>) -> Res<'_, Esearch> {
    let mut out = Esearch::default();
    let (i, tag) = opt(delimited((char('('), tag_no_case("TAG"), sp), string_text, char(')'))).parse(i)?;
    out.tag = tag;
    let mut i = i;
    loop {
        let (r, _) = super::grammar::spaces(i)?;
        if r.is_empty() {
            return Ok((r, out));
        }
        let (r, name) = atom(r)?;
        let name = name.to_ascii_uppercase();
        if name == b"UID" {
            out.uid = true;
            i = r;
            continue;
        }
        let (r, _) = sp(r)?;
        i = match name.as_slice() {
            b"MIN" => store(number, r, &mut out.min)?.0,
            b"MAX" => store(number, r, &mut out.max)?.0,
            b"COUNT" => store(number, r, &mut out.count)?.0,
            b"MODSEQ" => store(number64, r, &mut out.modseq)?.0,
            b"ALL" => {
                let (r, set) = sequence_set(r)?;
                out.all = set;
                r
            }
            // PARTIAL, RELEVANCY, ... : skipped.
            _ => generic_value(r)?.0,
        };
    }
}

/// THREAD data: `*thread-list`, appended to `nodes` depth first.
pub fn threads<'a>(i: In<'a>, nodes: &mut Vec<ThreadNode>) -> Res<'a, ()> {
    let mut i = i;
    loop {
        i = i.skip(i.iter().take_while(|c| **c == b' ').count());
        if i.is_empty() {
            return Ok((i, ()));
        }
        i = thread_list(i, nodes, None, 0)?.0;
    }
}

/// `thread-list = "(" (thread-members / thread-nested) ")"`, where
/// `thread-members = nz-number *(SP nz-number) [SP thread-nested]` and
/// `thread-nested = 2*thread-list`. A list that starts with nested lists
/// has no message of its own: it becomes a node without an id.
fn thread_list<'a>(i: In<'a>, nodes: &mut Vec<ThreadNode>, parent: Option<u32>, depth: usize) -> Res<'a, ()> {
    if depth > MAX_DEPTH {
        return fail(i);
    }
    let (mut i, _) = char('(').parse(i)?;
    let mut last = parent;
    if i.first() == Some(&b'(') {
        nodes.push(ThreadNode { id: None, parent });
        last = Some(nodes.len() as u32 - 1);
    } else {
        loop {
            let (r, id) = number(i)?;
            nodes.push(ThreadNode {
                id: Some(id),
                parent: last,
            });
            last = Some(nodes.len() as u32 - 1);
            i = r;
            match *i {
                [b' ', b'(', ..] => {
                    i = i.skip(1);
                    break;
                }
                [b' ', ..] => i = i.skip(1),
                _ => break,
            }
        }
    }
    while i.first() == Some(&b'(') {
        i = thread_list(i, nodes, last, depth + 1)?.0;
        // Tolerate `(a)(b)` and `(a) (b)` alike.
        if i.starts_with(b" (") {
            i = i.skip(1);
        }
    }
    let (i, _) = char(')').parse(i)?;
    Ok((i, ()))
}

/// `nz-number SP uid-set SP uid-set`.
pub fn copy_uid(i: In<'_>) -> Res<'_, CopyUid> {
    let (i, uid_validity) = number(i)?;
    let (i, source) = preceded(sp, sequence_set).parse(i)?;
    let (i, destination) = preceded(sp, sequence_set).parse(i)?;
    Ok((
        i,
        CopyUid {
            uid_validity,
            source,
            destination,
        },
    ))
}

/// `nz-number SP append-uid`.
pub fn append_uid(i: In<'_>) -> Res<'_, AppendUid> {
    let (i, uid_validity) = number(i)?;
    let (i, uids) = preceded(sp, sequence_set).parse(i)?;
    let (i, _) = many0(sp).parse(i)?;
    Ok((i, AppendUid { uid_validity, uids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_forms() {
        assert_eq!(search(In::wire(b"")).unwrap().1, SearchResult::default());
        let r = search(In::wire(b"2 84 882 (MODSEQ 917162500)")).unwrap().1;
        assert_eq!((r.ids, r.modseq), (vec![2, 84, 882], Some(917_162_500)));
        assert!(search(In::wire(b"1 x")).is_err());
    }

    #[test]
    fn esearch_forms() {
        let e = esearch(In::wire(b"(TAG \"A282\") UID MIN 2 COUNT 3 ALL 2,10:11"))
            .unwrap()
            .1;
        assert_eq!(e.tag.as_deref(), Some("A282"));
        assert!(e.uid);
        assert_eq!((e.min, e.max, e.count), (Some(2), None, Some(3)));
        assert_eq!(e.all.len(), 2);
        assert_eq!(esearch(In::wire(b"(TAG \"A\") UID")).unwrap().1.count, None);
    }

    #[test]
    fn rfc5256_thread_example() {
        let mut nodes = Vec::new();
        threads(In::wire(b"(2)(3 6 (4 23)(44 7 96))"), &mut nodes).unwrap();
        let ids: Vec<_> = nodes
            .iter()
            .map(|n| (n.id.unwrap(), n.parent.map(|p| nodes[p as usize].id.unwrap())))
            .collect();
        assert_eq!(
            ids,
            vec![
                (2, None),
                (3, None),
                (6, Some(3)),
                (4, Some(6)),
                (23, Some(4)),
                (44, Some(6)),
                (7, Some(44)),
                (96, Some(7))
            ]
        );
        let mut nodes = Vec::new();
        threads(In::wire(b"((1)(2))"), &mut nodes).unwrap();
        assert_eq!(nodes[0].id, None);
        assert_eq!(nodes[2].parent, Some(0));
    }

    #[test]
    fn uidplus_codes() {
        let c = copy_uid(In::wire(b"38505 304,319:320 3956:3958")).unwrap().1;
        assert_eq!(
            (c.uid_validity, c.source.len(), c.destination[0].last),
            (38505, 2, 3958)
        );
        assert_eq!(append_uid(In::wire(b"38505 3955")).unwrap().1.uids[0].first, 3955);
    }
}
