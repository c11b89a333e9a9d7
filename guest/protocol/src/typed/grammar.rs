//! The RFC 3501 (section 9) rules every typed parser shares: numbers,
//! strings, atoms, flags, parameter lists, sequence sets.
//!
//! Parsers work on one response and borrow from it; owned values are made
//! only for the records handed out. A response arrives in one of two forms
//! (see [`In`]): wire form, literals inline after their `{n}` CRLF (what
//! the streaming FETCH captures), or imaplib's items as they were framed,
//! whose literals stay where they are (see [`super::responses`]).

use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, map_res, opt, recognize, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded, separated_pair};
use nom::{IResult, Parser};

use super::SeqRange;

/// Where the literals of a response in skeleton form are: imaplib's items
/// are parsed as the text between literals (the skeleton, which keeps
/// each `{n}` CRLF announcement) with each literal's bytes found here by
/// the skeleton offset right after its announcement. Literals are
/// borrowed from the items, never copied into a joined buffer.
#[derive(Debug, Default)]
pub struct Literals<'a> {
    /// The skeleton's address: offsets are taken from it.
    base: usize,
    /// `(offset after the announcement's CRLF, literal)`, by offset.
    slots: &'a [(usize, &'a [u8])],
}

impl<'a> Literals<'a> {
    /// The literals of `skeleton`, given as offsets into it.
    pub fn new(skeleton: &[u8], slots: &'a [(usize, &'a [u8])]) -> Self {
        Literals {
            base: skeleton.as_ptr() as usize,
            slots,
        }
    }
}

/// A response without literal slots (wire form): literals are read inline.
static WIRE: Literals<'static> = Literals { base: 0, slots: &[] };

/// Input of every rule: the bytes still to parse, and where the response's
/// literals are when they are not inline.
#[derive(Debug, Clone, Copy)]
pub struct In<'a> {
    bytes: &'a [u8],
    literals: &'a Literals<'a>,
}

impl<'a> In<'a> {
    /// A response in wire form.
    pub fn wire(bytes: &'a [u8]) -> Self {
        In { bytes, literals: &WIRE }
    }

    /// A skeleton whose literals are in `literals` (made from it).
    pub fn skeleton(bytes: &'a [u8], literals: &'a Literals<'a>) -> Self {
        In { bytes, literals }
    }

    /// The bytes still to parse.
    pub fn bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// The input after its first `n` bytes.
    pub fn skip(self, n: usize) -> Self {
        self.with(&self.bytes[n..])
    }

    /// What was consumed from `self` to reach `rest` (a later position).
    pub fn consumed(self, rest: In<'a>) -> Self {
        self.with(&self.bytes[..self.bytes.len() - rest.bytes.len()])
    }

    /// Other bytes of the same response.
    fn with(self, bytes: &'a [u8]) -> Self {
        In {
            bytes,
            literals: self.literals,
        }
    }

    /// Whether the response came framed with its literals in slots (not
    /// in wire form).
    fn framed(self) -> bool {
        !self.literals.slots.is_empty()
    }

    /// The literal whose announcement ends right here, if the response is
    /// a skeleton and one does.
    fn slot(self) -> Option<&'a [u8]> {
        let slots = self.literals.slots;
        if slots.is_empty() {
            return None;
        }
        let at = (self.bytes.as_ptr() as usize).checked_sub(self.literals.base)?;
        slots
            .binary_search_by_key(&at, |&(offset, _)| offset)
            .ok()
            .map(|k| slots[k].1)
    }

    /// The bytes in wire form, literals put back behind their
    /// announcements, at most `limit` of them: for values kept raw
    /// (extension data) and for quoting in errors.
    pub fn to_wire(self, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = self;
        while out.len() < limit {
            let wanted = rest.bytes.len().min(limit - out.len());
            // The next slot inside what is still wanted, if any.
            let next = (1..=wanted).find(|&k| rest.bytes[k - 1] == b'\n' && rest.skip(k).slot().is_some());
            out.extend_from_slice(&rest.bytes[..next.unwrap_or(wanted)]);
            let Some(k) = next else { break };
            rest = rest.skip(k);
            let literal = rest.slot().unwrap_or_default();
            out.extend_from_slice(&literal[..literal.len().min(limit - out.len())]);
        }
        out
    }
}

impl std::ops::Deref for In<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl AsRef<[u8]> for In<'_> {
    fn as_ref(&self) -> &[u8] {
        self.bytes
    }
}

impl<'a> nom::Input for In<'a> {
    type Item = u8;
    type Iter = std::iter::Copied<std::slice::Iter<'a, u8>>;
    type IterIndices = std::iter::Enumerate<Self::Iter>;

    fn input_len(&self) -> usize {
        self.bytes.len()
    }
    fn take(&self, index: usize) -> Self {
        self.with(&self.bytes[..index])
    }
    fn take_from(&self, index: usize) -> Self {
        self.skip(index)
    }
    fn take_split(&self, index: usize) -> (Self, Self) {
        let (prefix, suffix) = self.bytes.split_at(index);
        (self.with(suffix), self.with(prefix))
    }
    fn position<P: Fn(u8) -> bool>(&self, predicate: P) -> Option<usize> {
        self.bytes.iter().position(|&b| predicate(b))
    }
    fn iter_elements(&self) -> Self::Iter {
        self.bytes.iter().copied()
    }
    fn iter_indices(&self) -> Self::IterIndices {
        self.iter_elements().enumerate()
    }
    fn slice_index(&self, count: usize) -> Result<usize, nom::Needed> {
        self.bytes.slice_index(count)
    }
}

impl<'b> nom::Compare<&'b str> for In<'_> {
    fn compare(&self, t: &'b str) -> nom::CompareResult {
        self.bytes.compare(t)
    }
    fn compare_no_case(&self, t: &'b str) -> nom::CompareResult {
        self.bytes.compare_no_case(t)
    }
}

impl nom::Offset for In<'_> {
    fn offset(&self, second: &Self) -> usize {
        self.bytes.offset(second.bytes)
    }
}
/// A rule's result.
pub type Res<'a, T> = IResult<In<'a>, T>;

/// How deep nested lists (body parts, extension data, threads) may go: a
/// hostile server cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// An error at `i` (for hand-written rules).
pub fn fail<T>(i: In<'_>) -> Res<'_, T> {
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Verify,
    )))
}

/// `SP`.
pub fn sp(i: In<'_>) -> Res<'_, char> {
    char(' ').parse(i)
}

/// `number`: digits as u64.
pub fn number64(i: In<'_>) -> Res<'_, u64> {
    let digits = i.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return fail(i);
    }
    let mut n: u64 = 0;
    for (k, &d) in i[..digits].iter().enumerate() {
        let d = u64::from(d - b'0');
        // Nineteen digits always fit, so only later ones are checked: a
        // checked u64 multiply is a call to a 128-bit multiply on wasm32,
        // and numbers are in every field of every FETCH response.
        n = if k < 19 {
            n * 10 + d
        } else {
            match n.checked_mul(10).and_then(|n| n.checked_add(d)) {
                Some(v) => v,
                None => return fail(i),
            }
        };
    }
    Ok((i.skip(digits), n))
}

/// `number` (32-bit).
pub fn number(i: In<'_>) -> Res<'_, u32> {
    map_res(number64, u32::try_from).parse(i)
}

/// `nil`.
pub fn nil(i: In<'_>) -> Res<'_, ()> {
    match i.get(..3) {
        Some(w) if w.eq_ignore_ascii_case(b"NIL") => Ok((i.skip(3), ())),
        _ => fail(i),
    }
}

use crate::encode::{is_astring_char, is_atom_char};

/// Runs `p` and stores its value in `slot` (msg-att and ESEARCH items).
pub fn store<'a, T>(
    mut p: impl Parser<In<'a>, Output = T, Error = nom::error::Error<In<'a>>>,
    i: In<'a>,
    slot: &mut Option<T>,
) -> Res<'a, ()> {
    let (i, v) = p.parse(i)?;
    *slot = Some(v);
    Ok((i, ()))
}

/// `atom`.
pub fn atom(i: In<'_>) -> Res<'_, In<'_>> {
    take_while1(is_atom_char).parse(i)
}

/// `quoted`, unescaped. 8-bit bytes are accepted (servers send UTF-8 there).
pub fn quoted(i: In<'_>) -> Res<'_, std::borrow::Cow<'_, [u8]>> {
    let (mut rest, _) = char('"').parse(i)?;
    let start = rest;
    // The common case, no escapes: one scan, borrowed.
    match crate::scan::find_any(rest.bytes(), [b'"', b'\\', b'\r', b'\n']) {
        Some(end) if rest[end] == b'"' => {
            return Ok((rest.skip(end + 1), std::borrow::Cow::Borrowed(&rest.bytes()[..end])))
        }
        _ => {}
    }
    let mut owned: Option<Vec<u8>> = None;
    loop {
        match rest.first() {
            None | Some(b'\r' | b'\n') => return fail(rest),
            Some(b'"') => {
                let value = match owned {
                    Some(v) => std::borrow::Cow::Owned(v),
                    None => std::borrow::Cow::Borrowed(start.consumed(rest).bytes()),
                };
                return Ok((rest.skip(1), value));
            }
            Some(b'\\') => {
                let Some(&c) = rest.get(1).filter(|c| matches!(c, b'"' | b'\\')) else {
                    return fail(rest);
                };
                let v = owned.get_or_insert_with(|| start.consumed(rest).to_vec());
                v.push(c);
                rest = rest.skip(2);
            }
            Some(&c) => {
                if let Some(v) = &mut owned {
                    v.push(c);
                }
                rest = rest.skip(1);
            }
        }
    }
}

/// `literal` (and `literal8`, `~{n}`): the data after `{n}` CRLF, inline
/// in wire form, or the item it was framed into.
pub fn literal(i: In<'_>) -> Res<'_, In<'_>> {
    let (i, _) = opt(char('~')).parse(i)?;
    let (i, n) = delimited(char('{'), number64, char('}')).parse(i)?;
    let (i, _) = tag("\r\n").parse(i)?;
    if let Some(data) = i.slot() {
        // The announcement must say what was framed: a made-up item pair
        // whose count disagrees is not a response.
        return match u64::try_from(data.len()) {
            Ok(len) if len == n => Ok((i, i.with(data))),
            _ => fail(i),
        };
    }
    if i.framed() {
        // Framing ends a line at every announcement and puts the literal in
        // a slot there: one inside a header was never framed, and reading
        // it inline would run over the real literal's slot and skip it.
        return fail(i);
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    take(n).parse(i)
}

/// `string`.
pub fn string(i: In<'_>) -> Res<'_, std::borrow::Cow<'_, [u8]>> {
    // Dispatch on the first byte: this runs for every field of every
    // envelope and body part.
    match i.first() {
        Some(b'"') => quoted(i),
        Some(b'{' | b'~') => map(literal, |l| std::borrow::Cow::Borrowed(l.bytes())).parse(i),
        _ => fail(i),
    }
}

/// `nstring`.
pub fn nstring(i: In<'_>) -> Res<'_, Option<std::borrow::Cow<'_, [u8]>>> {
    match i.first() {
        Some(b'N' | b'n') => map(nil, |()| None).parse(i),
        _ => map(string, Some).parse(i),
    }
}

/// `nstring` as owned bytes.
pub fn nbytes(i: In<'_>) -> Res<'_, Option<Vec<u8>>> {
    map(nstring, |s| s.map(std::borrow::Cow::into_owned)).parse(i)
}

/// `nstring` as text (lossy UTF-8).
pub fn ntext(i: In<'_>) -> Res<'_, Option<String>> {
    map(nstring, |s| s.map(|b| text(&b))).parse(i)
}

/// `string` as text (lossy UTF-8).
pub fn string_text(i: In<'_>) -> Res<'_, String> {
    map(string, |b| text(&b)).parse(i)
}

/// `astring`.
pub fn astring(i: In<'_>) -> Res<'_, std::borrow::Cow<'_, [u8]>> {
    alt((
        map(take_while1(is_astring_char), |a: In<'_>| {
            std::borrow::Cow::Borrowed(a.bytes())
        }),
        string,
    ))
    .parse(i)
}

/// `astring` as text (lossy UTF-8).
pub fn astring_text(i: In<'_>) -> Res<'_, String> {
    map(astring, |b| text(&b)).parse(i)
}

/// `mailbox`: an astring (`INBOX` in any case is kept as sent).
pub fn mailbox(i: In<'_>) -> Res<'_, String> {
    astring_text(i)
}

/// Bytes as text; invalid UTF-8 becomes U+FFFD.
pub fn text(b: impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(b.as_ref()).into_owned()
}

/// `flag` (also `flag-perm`'s `\*` and `\Recent`): the flag as sent.
pub fn flag(i: In<'_>) -> Res<'_, String> {
    map(
        alt((recognize(preceded(char('\\'), alt((atom, tag("*"))))), atom)),
        text,
    )
    .parse(i)
}

/// `"(" [flag *(SP flag)] ")"`.
pub fn flag_list(i: In<'_>) -> Res<'_, Vec<String>> {
    paren_list(flag).parse(i)
}

/// `"(" [item *(SP item)] ")"`: a parenthesized list, possibly empty.
pub fn paren_list<'a, T>(
    item: impl Parser<In<'a>, Output = T, Error = nom::error::Error<In<'a>>>,
) -> impl Parser<In<'a>, Output = Vec<T>, Error = nom::error::Error<In<'a>>> {
    delimited(
        char('('),
        map(opt(separated_list1(sp, item)), Option::unwrap_or_default),
        char(')'),
    )
}

/// `body-fld-param`: `"(" string SP string *(SP string SP string) ")" / nil`.
/// Also taken, as servers send them: `()`, and `NIL` values (as "").
pub fn params(i: In<'_>) -> Res<'_, super::Params> {
    alt((
        map(nil, |()| Vec::new()),
        paren_list(separated_pair(string_text, sp, map(ntext, Option::unwrap_or_default))),
    ))
    .parse(i)
}

/// `seq-number`: a number or `*` (as `u32::MAX`).
pub fn seq_number(i: In<'_>) -> Res<'_, u32> {
    alt((number, value(u32::MAX, char('*')))).parse(i)
}

/// `sequence-set` as ranges, each with `first <= last`.
pub fn sequence_set(i: In<'_>) -> Res<'_, Vec<SeqRange>> {
    separated_list1(
        char(','),
        map((seq_number, opt(preceded(char(':'), seq_number))), |(a, b)| {
            let b = b.unwrap_or(a);
            SeqRange {
                first: a.min(b),
                last: a.max(b),
            }
        }),
    )
    .parse(i)
}

/// Skips one generic value (`body-extension`, `tagged-ext-val`): an
/// nstring, a number, an atom-like token, or a parenthesized list of them.
pub fn generic_value(i: In<'_>) -> Res<'_, In<'_>> {
    generic_value_at(i, 0)
}

fn generic_value_at(i: In<'_>, depth: usize) -> Res<'_, In<'_>> {
    if depth > MAX_DEPTH {
        return fail(i);
    }
    if i.first() == Some(&b'(') {
        let (mut rest, _) = char('(').parse(i)?;
        if let Ok((r, _)) = char::<_, nom::error::Error<In<'_>>>(')').parse(rest) {
            return Ok((r, i.consumed(r)));
        }
        loop {
            let (r, _) = generic_value_at(rest, depth + 1)?;
            rest = r;
            if let Ok((r, _)) = char::<_, nom::error::Error<In<'_>>>(')').parse(rest) {
                return Ok((r, i.consumed(r)));
            }
            let (r, _) = sp(rest)?;
            rest = r;
        }
    }
    recognize(alt((
        map(string, |_| ()),
        map(take_while1(|c| is_astring_char(c) || c == b'\\' || c == b'*'), |_| ()),
    )))
    .parse(i)
}

/// The rest of the input after an optional space, as raw bytes in wire
/// form.
pub fn rest_raw(i: In<'_>) -> Res<'_, Vec<u8>> {
    let (i, _) = opt(sp).parse(i)?;
    Ok((i.skip(i.len()), i.to_wire(usize::MAX)))
}

/// Skips spaces (Dovecot and others are not always strict about them).
pub fn spaces(i: In<'_>) -> Res<'_, In<'_>> {
    take_while(|c| c == b' ').parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_up_to_u64_max_and_no_further() {
        let parse = |s: &str| number64(In::wire(s.as_bytes())).map(|(_, n)| n).ok();
        assert_eq!(parse("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse("18446744073709551616"), None);
        assert_eq!(parse("99999999999999999999"), None);
        assert_eq!(parse("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse("0000000000000000000000042"), Some(42));
        assert_eq!(parse("7 rest"), Some(7));
        assert_eq!(parse("x"), None);
        assert!(number(In::wire(b"4294967296")).is_err());
        assert_eq!(number(In::wire(b"4294967295")).map(|(_, n)| n).ok(), Some(u32::MAX));
    }

    #[test]
    fn strings() {
        assert_eq!(&*quoted(In::wire(b"\"a\\\"b\\\\c\" x")).unwrap().1, b"a\"b\\c");
        assert_eq!(quoted(In::wire(b"\"abc\" x")).unwrap().0.bytes(), b" x");
        let (rest, data) = literal(In::wire(b"{3}\r\nabcd")).unwrap();
        assert_eq!((rest.bytes(), data.bytes()), (&b"d"[..], &b"abc"[..]));
        assert_eq!(literal(In::wire(b"~{2}\r\n\0\x01")).unwrap().1.bytes(), b"\0\x01");
        assert!(literal(In::wire(b"{9}\r\nabc")).is_err());
        assert_eq!(nstring(In::wire(b"NIL")).unwrap().1, None);
        assert_eq!(astring_text(In::wire(b"INBOX]")).unwrap().1, "INBOX]");
        assert!(quoted(In::wire(b"\"a\r\n\"")).is_err());
    }

    #[test]
    fn flags_and_sets() {
        assert_eq!(
            flag_list(In::wire(b"(\\Seen $Label \\*)")).unwrap().1,
            vec!["\\Seen", "$Label", "\\*"]
        );
        assert_eq!(flag_list(In::wire(b"()")).unwrap().1, Vec::<String>::new());
        assert_eq!(
            sequence_set(In::wire(b"1,3:2,5:*")).unwrap().1,
            vec![
                SeqRange { first: 1, last: 1 },
                SeqRange { first: 2, last: 3 },
                SeqRange {
                    first: 5,
                    last: u32::MAX
                }
            ]
        );
    }

    #[test]
    fn generic_values_nest_but_not_forever() {
        assert_eq!(
            generic_value(In::wire(b"(\"a\" (1 NIL) x) y")).unwrap().0.bytes(),
            b" y"
        );
        let deep = format!("{}{}", "(".repeat(200), ")".repeat(200));
        assert!(generic_value(In::wire(deep.as_bytes())).is_err());
    }
}
