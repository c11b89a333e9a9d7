//! Mailbox-level responses: LIST/LSUB, STATUS, QUOTA/QUOTAROOT (RFC 9208),
//! ACL/MYRIGHTS (RFC 4314), NAMESPACE (RFC 2342).

use nom::branch::alt;
use nom::character::complete::char;
use nom::combinator::{map, opt};
use nom::multi::{many0, many1};
use nom::sequence::{delimited, preceded, separated_pair};
use nom::Parser;

use super::grammar::{
    astring_text, atom, flag_list, generic_value, mailbox, nil, number64, paren_list, quoted, rest_raw, sp,
    string_text, text, In, Res,
};
use super::{Acl, ListEntry, MailboxStatus, MyRights, NamespaceEntry, Namespaces, Quota, QuotaResource, QuotaRoot};

/// `mailbox-list`: `"(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox [SP mbox-list-extended]`.
pub fn list_entry(i: In<'_>) -> Res<'_, ListEntry> {
    let (i, attributes) = flag_list(i)?;
    let (i, delimiter) = preceded(sp, delimiter).parse(i)?;
    let (i, name) = preceded(sp, mailbox).parse(i)?;
    let (i, extended) = rest_raw(i)?;
    Ok((
        i,
        ListEntry {
            attributes,
            delimiter,
            name,
            extended,
        },
    ))
}

fn delimiter(i: In<'_>) -> Res<'_, Option<String>> {
    alt((map(nil, |()| None), map(quoted, |q| Some(text(&q))))).parse(i)
}

/// `mailbox SP "(" [status-att-list] ")"`. Items whose value is not a
/// number (RFC 8474's `MAILBOXID (...)`) are skipped.
pub fn status(i: In<'_>) -> Res<'_, MailboxStatus> {
    let (i, mailbox) = mailbox(i)?;
    let (i, items) = preceded(
        sp,
        paren_list(separated_pair(
            map(atom, text),
            sp,
            alt((map(number64, Some), map(generic_value, |_| None))),
        )),
    )
    .parse(i)?;
    let items = items.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    // Some servers end the line with a space.
    let (i, _) = super::grammar::spaces(i)?;
    Ok((i, MailboxStatus { mailbox, items }))
}

/// `quota-root-name SP "(" quota-resource *(SP quota-resource) ")"`.
/// Courier-IMAP 5.0 sends a root without limits as the name alone,
/// `* QUOTA "ROOT"` (no list): read as no resources.
pub fn quota(i: In<'_>) -> Res<'_, Quota> {
    let (i, root) = astring_text(i)?;
    let (i, resources) = opt(preceded(
        sp,
        paren_list(map(
            (map(atom, text), preceded(sp, number64), preceded(sp, number64)),
            |(name, usage, limit)| QuotaResource { name, usage, limit },
        )),
    ))
    .parse(i)?;
    Ok((
        i,
        Quota {
            root,
            resources: resources.unwrap_or_default(),
        },
    ))
}

/// `mailbox *(SP quota-root-name)`.
pub fn quota_root(i: In<'_>) -> Res<'_, QuotaRoot> {
    let (i, mailbox) = mailbox(i)?;
    let (i, roots) = many0(preceded(sp, astring_text)).parse(i)?;
    Ok((i, QuotaRoot { mailbox, roots }))
}

/// `mailbox *(SP identifier SP rights)`.
pub fn acl(i: In<'_>) -> Res<'_, Acl> {
    let (i, mailbox) = mailbox(i)?;
    let (i, entries) = many0(preceded(sp, separated_pair(astring_text, sp, astring_text))).parse(i)?;
    Ok((i, Acl { mailbox, entries }))
}

/// `mailbox SP rights`.
pub fn my_rights(i: In<'_>) -> Res<'_, MyRights> {
    let (i, mailbox) = mailbox(i)?;
    let (i, rights) = preceded(sp, astring_text).parse(i)?;
    Ok((i, MyRights { mailbox, rights }))
}

/// `nil / "(" 1*( "(" string SP (DQUOTE QUOTED-CHAR DQUOTE / nil) *(Namespace-Response-Extension) ")" ) ")"`.
fn namespace_list(i: In<'_>) -> Res<'_, Vec<NamespaceEntry>> {
    alt((
        map(nil, |()| Vec::new()),
        delimited(
            char('('),
            many1(delimited(
                char('('),
                map(
                    (string_text, preceded(sp, delimiter), many0(preceded(sp, generic_value))),
                    |(prefix, delimiter, _ext)| NamespaceEntry { prefix, delimiter },
                ),
                char(')'),
            )),
            char(')'),
        ),
    ))
    .parse(i)
}

/// The three namespace lists.
pub fn namespaces(i: In<'_>) -> Res<'_, Namespaces> {
    let (i, personal) = namespace_list(i)?;
    let (i, other_users) = preceded(sp, namespace_list).parse(i)?;
    let (i, shared) = preceded(sp, namespace_list).parse(i)?;
    Ok((
        i,
        Namespaces {
            personal,
            other_users,
            shared,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_forms() {
        let e = list_entry(In::wire(b"(\\HasNoChildren \\Sent) \"/\" \"Sent Items\""))
            .unwrap()
            .1;
        assert_eq!(e.attributes, vec!["\\HasNoChildren", "\\Sent"]);
        assert_eq!(e.delimiter.as_deref(), Some("/"));
        assert_eq!(e.name, "Sent Items");
        let e = list_entry(In::wire(b"() NIL {3}\r\na\"b")).unwrap().1;
        assert_eq!((e.delimiter, e.name.as_str()), (None, "a\"b"));
        let e = list_entry(In::wire(b"(\\Subscribed) \".\" INBOX (\"CHILDINFO\" (\"SUBSCRIBED\"))"))
            .unwrap()
            .1;
        assert_eq!(e.extended, b"(\"CHILDINFO\" (\"SUBSCRIBED\"))");
    }

    #[test]
    fn status_quota_acl_namespace() {
        let s = status(In::wire(
            b"\"a b\" (MESSAGES 3 UIDNEXT 4 HIGHESTMODSEQ 18446744073709551615)",
        ))
        .unwrap()
        .1;
        assert_eq!(s.get("highestmodseq"), Some(u64::MAX));
        let s = status(In::wire(
            b"INBOX (MESSAGES 3 MAILBOXID (F2212ea87-6097-4256-9d51-71338625) UNSEEN 1)",
        ))
        .unwrap()
        .1;
        assert_eq!(s.items, vec![("MESSAGES".to_string(), 3), ("UNSEEN".to_string(), 1)]);
        let q = quota(In::wire(b"\"\" (STORAGE 10 512 MESSAGE 1 100)")).unwrap().1;
        assert_eq!(q.resources[1].limit, 100);
        let q = quota(In::wire(b"\"ROOT\"")).unwrap();
        assert_eq!(
            (q.0.bytes(), q.1.root.as_str(), q.1.resources.len()),
            (&b""[..], "ROOT", 0)
        );
        let r = quota_root(In::wire(b"INBOX \"\" User")).unwrap().1;
        assert_eq!(r.roots, vec!["", "User"]);
        let a = acl(In::wire(b"INBOX owner lrswipkxtecda anyone lr")).unwrap().1;
        assert_eq!(a.entries[1], ("anyone".into(), "lr".into()));
        let n = namespaces(In::wire(b"((\"\" \"/\")) NIL ((\"Shared/\" \"/\" \"X-EXT\" (\"a\")))"))
            .unwrap()
            .1;
        assert_eq!(n.personal[0].prefix, "");
        assert!(n.other_users.is_empty());
        assert_eq!(n.shared[0].prefix, "Shared/");
    }
}
