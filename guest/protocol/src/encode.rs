//! Command-argument encoding by the RFC 3501 grammar of each position.
//!
//! CPython 3.0–3.14 sends arguments as they are, so `create('Space Box')`
//! creates `Space` and `create('{5}')` leaves the server waiting for a
//! literal. Here every argument is encoded for its position:
//!
//! - astring positions (mailbox, user, ACL identifier, quota root, ...):
//!   an atom stays bare, an argument already written as a valid quoted
//!   string passes unchanged (imaplib users often quote themselves),
//!   7-bit text is quoted with `\` and `"` escaped, and 8-bit or very long
//!   text becomes a literal;
//! - structural positions (sequence sets, fetch items, flag lists, ...)
//!   pass unchanged when they are a well-formed run of atoms, quoted
//!   strings, parenthesized lists and `[...]` sections, and are refused
//!   otherwise;
//! - any argument containing CR, LF or NUL is refused, whatever its
//!   position, before a byte is sent (CVE-2025-15366).

use crate::error::{ImapError, Result};
use crate::pyrepr;

/// Arguments longer than this are sent as literals rather than quoted
/// strings: servers limit line lengths (RFC 7162 suggests 8192 octets).
pub const MAX_QUOTED: usize = 1024;

/// The grammar an argument is encoded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// RFC 3501 `astring`: mailbox names, user names, ACL identifiers and
    /// rights, quota roots, charsets.
    Astring,
    /// RFC 3501 `list-mailbox`: an astring in which `%` and `*` may stay bare.
    ListMailbox,
    /// The LOGIN password: always a quoted string (as imaplib's `_quote`)
    /// or, when 8-bit, a literal.
    Password,
    /// A structural argument that must be well-formed for its position;
    /// the text names the position in the refusal message.
    Structural(&'static str),
    /// An argument of unknown grammar (xatom, annotations): passes unchanged
    /// when well-formed, else is encoded as an astring.
    Raw,
}

/// A piece of an encoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes that go on the command line as they are.
    Text(Vec<u8>),
    /// A literal: the `{n}` marker, then these bytes.
    Literal(Vec<u8>),
}

/// Refuses arguments that could end the command line early.
pub fn check_line_safe(arg: &[u8]) -> Result<()> {
    if arg.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0)) {
        return Err(ImapError::error(format!(
            "argument contains CR, LF or NUL (refused to prevent command injection): {}",
            pyrepr::bytes_truncated(arg, 80)
        )));
    }
    Ok(())
}

/// RFC 3501 `ATOM-CHAR`: any CHAR except atom-specials.
pub fn is_atom_char(c: u8) -> bool {
    matches!(c, 0x21..=0x7e) && !matches!(c, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// RFC 3501 `ASTRING-CHAR = ATOM-CHAR / resp-specials`.
pub fn is_astring_char(c: u8) -> bool {
    is_atom_char(c) || c == b']'
}

/// RFC 3501 `list-char = ATOM-CHAR / list-wildcards / resp-specials`.
pub fn is_list_char(c: u8) -> bool {
    is_astring_char(c) || c == b'%' || c == b'*'
}

/// RFC 3501 `quoted`: `"` then QUOTED-CHARs (`\` escapes only `\` and `"`)
/// then `"`, nothing after. `utf8` allows UTF-8 inside (RFC 6855).
pub fn is_quoted(arg: &[u8], utf8: bool) -> bool {
    if arg.len() < 2 || arg[0] != b'"' || arg[arg.len() - 1] != b'"' {
        return false;
    }
    quoted_len(arg, utf8) == Some(arg.len())
}

/// Length of the quoted string starting at `arg[0] == b'"'`, if valid.
fn quoted_len(arg: &[u8], utf8: bool) -> Option<usize> {
    let mut i = 1;
    while i < arg.len() {
        match arg[i] {
            b'"' => return Some(i + 1),
            b'\\' => match arg.get(i + 1) {
                Some(b'"' | b'\\') => i += 2,
                _ => return None,
            },
            b'\r' | b'\n' | 0 => return None,
            c if c >= 0x80 && !utf8 => return None,
            _ => i += 1,
        }
    }
    None
}

/// Whether `arg` is a well-formed sequence of atoms, quoted strings,
/// parenthesized lists and `[...]` sections separated by spaces, with no
/// literal marker (`{`), no control character and no 8-bit byte: such an
/// argument cannot change the command's structure.
pub fn is_well_formed(arg: &[u8]) -> bool {
    if arg.is_empty() {
        return false;
    }
    let (mut parens, mut brackets) = (0usize, 0usize);
    let mut i = 0;
    while i < arg.len() {
        match arg[i] {
            b'(' => parens += 1,
            b')' => {
                if parens == 0 {
                    return false;
                }
                parens -= 1;
            }
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            b'"' => match quoted_len(&arg[i..], false) {
                Some(n) => {
                    i += n;
                    continue;
                }
                None => return false,
            },
            b'{' => return false,
            c if !(0x20..0x7f).contains(&c) => return false,
            _ => {}
        }
        i += 1;
    }
    parens == 0 && brackets == 0
}

fn quote(arg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'"');
    for &c in arg {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    out
}

fn astring(arg: &[u8], bare_ok: fn(u8) -> bool, utf8: bool) -> Piece {
    if !arg.is_empty() && arg.iter().all(|&c| bare_ok(c)) {
        return Piece::Text(arg.to_vec());
    }
    if is_quoted(arg, utf8) {
        return Piece::Text(arg.to_vec());
    }
    quoted_or_literal(arg, utf8)
}

fn quoted_or_literal(arg: &[u8], utf8: bool) -> Piece {
    let seven_bit = arg.iter().all(|&c| c < 0x80);
    let utf8_ok = utf8 && std::str::from_utf8(arg).is_ok();
    if arg.len() <= MAX_QUOTED && (seven_bit || utf8_ok) {
        Piece::Text(quote(arg))
    } else {
        Piece::Literal(arg.to_vec())
    }
}

/// Encodes one argument for its position. `utf8` is the session's UTF-8
/// mode (RFC 6855), in which 8-bit text may be quoted.
///
/// # Errors
/// `error` for CR, LF or NUL anywhere, and for a structural argument that
/// is not well-formed.
pub fn encode(arg: &[u8], kind: ArgKind, utf8: bool) -> Result<Piece> {
    check_line_safe(arg)?;
    Ok(match kind {
        ArgKind::Astring => astring(arg, is_astring_char, utf8),
        ArgKind::ListMailbox => astring(arg, is_list_char, utf8),
        ArgKind::Password => quoted_or_literal(arg, utf8),
        ArgKind::Structural(what) => {
            if !is_well_formed(arg) {
                return Err(ImapError::error(format!(
                    "malformed {what} argument: {}",
                    pyrepr::bytes_truncated(arg, 80)
                )));
            }
            Piece::Text(arg.to_vec())
        }
        ArgKind::Raw => {
            if is_well_formed(arg) {
                Piece::Text(arg.to_vec())
            } else {
                astring(arg, is_astring_char, utf8)
            }
        }
    })
}

/// Reads an encoded astring back (RFC 3501 `astring`: an atom, a quoted
/// string, or a literal): what a server would see. `None` if the piece is
/// not a single valid astring. Used by tests and fuzzing to check that
/// encoding never changes the value.
pub fn decode_astring(piece: &Piece) -> Option<Vec<u8>> {
    match piece {
        Piece::Literal(bytes) => Some(bytes.clone()),
        Piece::Text(t) if t.first() == Some(&b'"') => {
            if quoted_len(t, true)? != t.len() {
                return None;
            }
            let mut out = Vec::with_capacity(t.len());
            let mut escaped = false;
            for &c in &t[1..t.len() - 1] {
                if c == b'\\' && !escaped {
                    escaped = true;
                } else {
                    out.push(c);
                    escaped = false;
                }
            }
            Some(out)
        }
        Piece::Text(t) => (!t.is_empty() && t.iter().all(|&c| is_list_char(c))).then(|| t.clone()),
    }
}

/// What the search grammar expects next (RFC 3501 section 9 `search-key`
/// and its extensions), kept on a stack across the criteria arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A search key: an operand of NOT, OR or FUZZY.
    Key,
    /// Search keys up to the `)` closing a list opened in this argument.
    ListEnd,
    /// A key's value.
    Value(Value),
}

/// The grammar of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// astring, date, number, flag-keyword, objectid: an atom or a quoted
    /// string on the wire.
    Astring,
    /// list-mailbox (ANNOTATION's entry and attribute): `%` and `*` too.
    Pattern,
    /// sequence-set (UID).
    SequenceSet,
    /// RETURN's parenthesized list of options (RFC 4731, 5267, 5182).
    ReturnOptions,
    /// MODSEQ's first value (RFC 7162): the mod-sequence, or an entry
    /// name followed by its entry type and the mod-sequence.
    ModSeq,
}

/// Search keys and what follows each, in order. Keys not listed here
/// (server extensions wasimap does not know) make an argument unknown to
/// the grammar; it is then sent as imaplib sends it (see [`encode_search`]).
fn search_key(word: &[u8]) -> Option<&'static [Need]> {
    const K: Need = Need::Key;
    const A: Need = Need::Value(Value::Astring);
    const P: Need = Need::Value(Value::Pattern);
    const S: Need = Need::Value(Value::SequenceSet);
    const R: Need = Need::Value(Value::ReturnOptions);
    const M: Need = Need::Value(Value::ModSeq);
    #[rustfmt::skip]
    const KEYS: &[(&str, &[Need])] = &[
        // RFC 3501
        ("ALL", &[]), ("ANSWERED", &[]), ("BCC", &[A]), ("BEFORE", &[A]), ("BODY", &[A]),
        ("CC", &[A]), ("DELETED", &[]), ("DRAFT", &[]), ("FLAGGED", &[]), ("FROM", &[A]),
        ("HEADER", &[A, A]), ("KEYWORD", &[A]), ("LARGER", &[A]), ("NEW", &[]), ("NOT", &[K]),
        ("OLD", &[]), ("ON", &[A]), ("OR", &[K, K]), ("RECENT", &[]), ("SEEN", &[]),
        ("SENTBEFORE", &[A]), ("SENTON", &[A]), ("SENTSINCE", &[A]), ("SINCE", &[A]),
        ("SMALLER", &[A]), ("SUBJECT", &[A]), ("TEXT", &[A]), ("TO", &[A]), ("UID", &[S]),
        ("UNANSWERED", &[]), ("UNDELETED", &[]), ("UNDRAFT", &[]), ("UNFLAGGED", &[]),
        ("UNKEYWORD", &[A]), ("UNSEEN", &[]),
        // the CHARSET of SEARCH, when a caller writes it among the criteria
        ("CHARSET", &[A]),
        // RFC 4731 ESEARCH (with RFC 5267's PARTIAL and 5182's SAVE in the list)
        ("RETURN", &[R]),
        // RFC 5032 WITHIN; RFC 6203 FUZZY; RFC 7162 CONDSTORE
        ("OLDER", &[A]), ("YOUNGER", &[A]), ("FUZZY", &[K]), ("MODSEQ", &[M]),
        // RFC 8474 OBJECTID; RFC 8514 SAVEDATE; RFC 5466 FILTERS; RFC 5257 ANNOTATE
        ("EMAILID", &[A]), ("THREADID", &[A]),
        ("SAVEDBEFORE", &[A]), ("SAVEDON", &[A]), ("SAVEDSINCE", &[A]), ("SAVEDATESUPPORTED", &[]),
        ("FILTER", &[A]), ("ANNOTATION", &[P, P, A]),
        // Gmail
        ("X-GM-RAW", &[A]), ("X-GM-MSGID", &[A]), ("X-GM-THRID", &[A]), ("X-GM-LABELS", &[A]),
    ];
    KEYS.iter()
        .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(word))
        .map(|&(_, needs)| needs)
}

/// RFC 3501 `sequence-set`, with RFC 5182's `$`.
fn is_sequence_set(tok: &[u8]) -> bool {
    !tok.is_empty()
        && tok
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b':' | b',' | b'*' | b'$'))
}

/// A token of a criteria argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    /// A valid quoted string, quotes included.
    Quoted,
    /// A run of printable characters other than parentheses and quotes.
    Word(&'a [u8]),
}

/// Splits `arg` into tokens; `None` for what no search expression holds
/// unencoded: a literal marker, an invalid quoted string, a control or
/// 8-bit byte.
fn search_tokens(arg: &[u8]) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < arg.len() {
        match arg[i] {
            b' ' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'"' => {
                i += quoted_len(&arg[i..], false)?;
                out.push(Token::Quoted);
            }
            _ => {
                let n = arg[i..]
                    .iter()
                    .take_while(|&&c| (0x21..0x7f).contains(&c) && !matches!(c, b'(' | b')' | b'"'))
                    .count();
                let word = &arg[i..i + n];
                if n == 0 || word.contains(&b'{') {
                    return None;
                }
                out.push(Token::Word(word));
                i += n;
            }
        }
    }
    Some(out)
}

/// Pushes `needs` so that the first is on top.
fn push_needs(stack: &mut Vec<Need>, needs: &[Need]) {
    stack.extend(needs.iter().rev());
}

/// Reads one criteria argument as search keys, starting from what the
/// arguments before it left open (`stack`). `Some` with what stays open
/// after it when the argument is a search-key expression by the grammar
/// (its lists closed in it); `None` otherwise.
fn parse_search_arg(arg: &[u8], mut stack: Vec<Need>) -> Option<Vec<Need>> {
    let tokens = search_tokens(arg)?;
    if tokens.is_empty() {
        return None;
    }
    let mut it = tokens.into_iter().peekable();
    while let Some(tok) = it.next() {
        match stack.last().copied() {
            Some(Need::Value(value)) => {
                stack.pop();
                match (value, tok) {
                    (Value::Astring | Value::ModSeq, Token::Quoted) => {
                        if value == Value::ModSeq {
                            push_needs(&mut stack, &[Need::Value(Value::Astring); 2]);
                        }
                    }
                    (Value::Astring, Token::Word(w)) if w.iter().all(|&c| is_astring_char(c)) => {}
                    (Value::Pattern, Token::Word(w)) if w.iter().all(|&c| is_list_char(c)) => {}
                    (Value::Pattern, Token::Quoted) => {}
                    (Value::SequenceSet, Token::Word(w)) if is_sequence_set(w) => {}
                    (Value::ModSeq, Token::Word(w)) if w.iter().all(u8::is_ascii_digit) => {}
                    (Value::ReturnOptions, Token::Open) => {
                        let mut depth = 1;
                        while depth > 0 {
                            match it.next()? {
                                Token::Open => depth += 1,
                                Token::Close => depth -= 1,
                                Token::Word(_) => {}
                                Token::Quoted => return None,
                            }
                        }
                    }
                    _ => return None,
                }
            }
            top => {
                if tok == Token::Close {
                    if top != Some(Need::ListEnd) {
                        return None;
                    }
                    stack.pop();
                    continue;
                }
                if top == Some(Need::Key) {
                    stack.pop();
                }
                match tok {
                    Token::Open => {
                        if it.peek() == Some(&Token::Close) {
                            return None;
                        }
                        stack.push(Need::ListEnd);
                    }
                    Token::Word(w) if is_sequence_set(w) => {}
                    Token::Word(w) => push_needs(&mut stack, search_key(w)?),
                    Token::Quoted | Token::Close => return None,
                }
            }
        }
    }
    (!stack.contains(&Need::ListEnd)).then_some(stack)
}

/// Encodes a criteria argument that stands where the grammar expects a
/// value: the whole argument is that value.
fn search_value(arg: &[u8], value: Value, stack: &mut Vec<Need>, utf8: bool) -> Result<Piece> {
    Ok(match value {
        Value::Astring => encode(arg, ArgKind::Astring, utf8)?,
        Value::Pattern => encode(arg, ArgKind::ListMailbox, utf8)?,
        Value::SequenceSet if is_sequence_set(arg) => Piece::Text(arg.to_vec()),
        Value::ReturnOptions if arg.starts_with(b"(") && arg.ends_with(b")") && is_well_formed(arg) => {
            Piece::Text(arg.to_vec())
        }
        Value::SequenceSet | Value::ReturnOptions => encode(arg, ArgKind::Astring, utf8)?,
        Value::ModSeq => {
            if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
                // An entry name: its entry type and the mod-sequence follow.
                push_needs(stack, &[Need::Value(Value::Astring); 2]);
            }
            encode(arg, ArgKind::Astring, utf8)?
        }
    })
}

/// Encodes SEARCH (and SORT/THREAD) criteria given as separate arguments,
/// as imaplib's `search(charset, *criteria)` receives them, by the search
/// grammar (RFC 3501 `search-key` with the extensions `search_key` lists).
///
/// - An argument that is a search-key expression by the grammar passes
///   unchanged: `UNSEEN`, `(UNSEEN)`, `NOT (SEEN)`, `(OR FROM "a b" (TO c))`,
///   `1:*`, `UID 2,4:7`, `RETURN (MIN COUNT) ALL`, `OR SUBJECT`. What it
///   leaves open (`OR`'s second key, `SUBJECT`'s value) is what the next
///   arguments fill.
/// - An argument where the grammar expects a value (after a lone
///   `SUBJECT`, `HEADER`, `UID`, ...) is that whole value, encoded for its
///   grammar: `'SUBJECT', 'hello world'` → `SUBJECT "hello world"`; 8-bit
///   or very long text becomes a literal.
/// - Anything else (a key the table does not know, a broken expression)
///   passes unchanged when it is well-formed ([`is_well_formed`]), as
///   imaplib sends it, and is otherwise encoded as an astring: a `{`
///   literal marker is never sent raw.
///
/// # Errors
/// `error` for CR, LF or NUL in any argument.
pub fn encode_search(criteria: &[&[u8]], utf8: bool) -> Result<Vec<Piece>> {
    let mut out = Vec::with_capacity(criteria.len());
    let mut stack = Vec::new();
    for &arg in criteria {
        check_line_safe(arg)?;
        if let Some(&Need::Value(value)) = stack.last() {
            stack.pop();
            out.push(search_value(arg, value, &mut stack, utf8)?);
            continue;
        }
        match parse_search_arg(arg, stack.clone()) {
            Some(open) => {
                stack = open;
                out.push(Piece::Text(arg.to_vec()));
            }
            None => {
                // Taken as one key the grammar does not know.
                if stack.last() == Some(&Need::Key) {
                    stack.pop();
                }
                out.push(encode(arg, ArgKind::Raw, utf8)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: Piece) -> Vec<u8> {
        match p {
            Piece::Text(t) => t,
            Piece::Literal(l) => panic!("unexpected literal {l:?}"),
        }
    }

    #[test]
    fn astring_positions() {
        let enc = |s: &[u8]| text(encode(s, ArgKind::Astring, false).unwrap());
        assert_eq!(enc(b"INBOX"), b"INBOX");
        assert_eq!(enc(b"Space Box"), b"\"Space Box\"");
        assert_eq!(enc(b"{5}"), b"\"{5}\"");
        assert_eq!(enc(b"a\"b\\c"), b"\"a\\\"b\\\\c\"");
        assert_eq!(enc(b""), b"\"\"");
        assert_eq!(enc(b"a]b"), b"a]b");
        assert_eq!(enc(b"50%"), b"\"50%\"");
        assert_eq!(enc(b"(x)"), b"\"(x)\"");
        // Already quoted by the caller: unchanged.
        assert_eq!(enc(b"\"My Box\""), b"\"My Box\"");
        assert_eq!(enc(b"~{5}"), b"\"~{5}\"");
    }

    #[test]
    fn eight_bit_goes_as_literal() {
        let name = "Entwürfe".as_bytes();
        assert_eq!(
            encode(name, ArgKind::Astring, false).unwrap(),
            Piece::Literal(name.to_vec())
        );
        // In UTF-8 mode it may be quoted.
        assert_eq!(
            encode(name, ArgKind::Astring, true).unwrap(),
            Piece::Text(format!("\"{}\"", "Entwürfe").into_bytes())
        );
        let long = vec![b'x'; MAX_QUOTED + 1];
        let mut spaced = long.clone();
        spaced[0] = b' ';
        assert_eq!(
            encode(&spaced, ArgKind::Astring, false).unwrap(),
            Piece::Literal(spaced)
        );
        // A long atom is still an atom.
        assert_eq!(encode(&long, ArgKind::Astring, false).unwrap(), Piece::Text(long));
    }

    #[test]
    fn cr_lf_nul_refused_everywhere() {
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"INBOX\r\nA1 DELETE x"] {
            for kind in [
                ArgKind::Astring,
                ArgKind::ListMailbox,
                ArgKind::Password,
                ArgKind::Structural("x"),
                ArgKind::Raw,
            ] {
                let err = encode(bad, kind, false).unwrap_err();
                assert!(err.message().contains("CR, LF or NUL"), "{err}");
            }
            assert!(encode_search(&[b"FROM", bad], false).is_err());
        }
    }

    #[test]
    fn structural_positions_pass_unchanged() {
        for ok in [
            &b"1:*"[..],
            b"2,4:7",
            b"BODY.PEEK[HEADER]<0.10>",
            b"(UID FLAGS)",
            b"(\\Deleted)",
            b"(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
            b"BODY[]",
            b"(MESSAGES UNSEEN)",
            b"+FLAGS.SILENT",
        ] {
            assert_eq!(text(encode(ok, ArgKind::Structural("t"), false).unwrap()), ok);
        }
        for bad in [
            &b"(UID"[..],
            b"UID)",
            b"BODY[",
            b"x {5}",
            b"x ~{5}",
            b"\"open",
            b"",
            b"\xff",
        ] {
            assert!(encode(bad, ArgKind::Structural("t"), false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_patterns_keep_wildcards() {
        let enc = |s: &[u8]| text(encode(s, ArgKind::ListMailbox, false).unwrap());
        assert_eq!(enc(b"*"), b"*");
        assert_eq!(enc(b"INBOX/%"), b"INBOX/%");
        assert_eq!(enc(b"\"\""), b"\"\"");
        assert_eq!(enc(b"My Box/*"), b"\"My Box/*\"");
    }

    #[test]
    fn password_always_quoted() {
        assert_eq!(
            text(encode(b"secret", ArgKind::Password, false).unwrap()),
            b"\"secret\""
        );
        assert_eq!(
            text(encode(b"p a\"s\\s w", ArgKind::Password, false).unwrap()),
            b"\"p a\\\"s\\\\s w\""
        );
    }

    #[test]
    fn encoding_round_trips() {
        for arg in [
            &b"INBOX"[..],
            b"Space Box",
            b"{5}",
            b"a\"b\\c",
            b"",
            b"caf\xc3\xa9",
            b"\xff\xfe",
            b"]",
        ] {
            for utf8 in [false, true] {
                let piece = encode(arg, ArgKind::Astring, utf8).unwrap();
                let expected = if is_quoted(arg, utf8) {
                    decode_astring(&Piece::Text(arg.to_vec()))
                } else {
                    Some(arg.to_vec())
                };
                assert_eq!(decode_astring(&piece), expected, "{arg:?}");
                let piece = encode(arg, ArgKind::Password, utf8).unwrap();
                assert_eq!(decode_astring(&piece), Some(arg.to_vec()), "{arg:?}");
            }
        }
    }

    /// What `encode_search` makes of `criteria`, all text.
    fn enc(criteria: &[&[u8]]) -> Vec<Vec<u8>> {
        encode_search(criteria, false).unwrap().into_iter().map(text).collect()
    }

    #[test]
    fn search_criteria() {
        assert_eq!(enc(&[b"ALL"]), vec![b"ALL".to_vec()]);
        assert_eq!(enc(&[b"FROM \"a b\" UNSEEN"]), vec![b"FROM \"a b\" UNSEEN".to_vec()]);
        assert_eq!(
            enc(&[b"SUBJECT", b"hello world"]),
            vec![b"SUBJECT".to_vec(), b"\"hello world\"".to_vec()]
        );
        assert_eq!(
            enc(&[b"HEADER", b"X-Tag", b"new one", b"SEEN"]),
            vec![
                b"HEADER".to_vec(),
                b"X-Tag".to_vec(),
                b"\"new one\"".to_vec(),
                b"SEEN".to_vec()
            ]
        );
        assert_eq!(
            enc(&[b"1:*", b"(OR SEEN FLAGGED)"]),
            vec![b"1:*".to_vec(), b"(OR SEEN FLAGGED)".to_vec()]
        );
        // A literal marker is never sent raw.
        assert_eq!(enc(&[b"{5}"]), vec![b"\"{5}\"".to_vec()]);
        assert_eq!(enc(&[b"SUBJECT {5}"]), vec![b"\"SUBJECT {5}\"".to_vec()]);
        let pieces = encode_search(&[b"BODY", "grüße".as_bytes()], false).unwrap();
        assert_eq!(pieces[1], Piece::Literal("grüße".as_bytes().to_vec()));
    }

    #[test]
    fn search_expressions_pass_unchanged() {
        let expressions =
            "(UNSEEN) | (ALL) | ((UNSEEN)) | NOT (SEEN) | (OR SEEN (FLAGGED)) | (FROM \"bob\") | UID 1:* \
            | 2,4:7 | $ | RETURN (MIN MAX COUNT) ALL | RETURN () (UNSEEN) | MODSEQ \"/flags/\\\\draft\" all 620162338 \
            | FUZZY (SUBJECT x) | X-GM-RAW \"has:attachment in:unread\" | hello world";
        for one in expressions.split(" | ").map(str::as_bytes) {
            assert_eq!(enc(&[one]), vec![one.to_vec()], "{}", String::from_utf8_lossy(one));
        }
        // What an argument leaves open, the next ones fill.
        assert_eq!(
            enc(&[b"OR", b"SUBJECT", b"a b", b"(FROM c)"]),
            [&b"OR"[..], b"SUBJECT", b"\"a b\"", b"(FROM c)"].map(<[u8]>::to_vec)
        );
        assert_eq!(
            enc(&[b"NOT (SEEN) OR SUBJECT", b"x y", b"UID", b"1:*"]),
            [&b"NOT (SEEN) OR SUBJECT"[..], b"\"x y\"", b"UID", b"1:*"].map(<[u8]>::to_vec)
        );
        assert_eq!(
            enc(&[b"MODSEQ", b"/flags/\\draft", b"all", b"7", b"(a b)"]),
            [&b"MODSEQ"[..], b"\"/flags/\\\\draft\"", b"all", b"7", b"(a b)"].map(<[u8]>::to_vec)
        );
        assert_eq!(
            enc(&[b"RETURN", b"(COUNT)", b"ANNOTATION", b"/comment", b"value.priv", b"a b"]),
            [
                &b"RETURN"[..],
                b"(COUNT)",
                b"ANNOTATION",
                b"/comment",
                b"value.priv",
                b"\"a b\""
            ]
            .map(<[u8]>::to_vec)
        );
        // An unknown key counts as one key: OR's second operand follows.
        assert_eq!(
            enc(&[b"OR", b"X-UNKNOWN", b"SUBJECT", b"p q"]),
            [&b"OR"[..], b"X-UNKNOWN", b"SUBJECT", b"\"p q\""].map(<[u8]>::to_vec)
        );
        // Unbalanced or empty lists are not expressions: encoded as strings.
        assert_eq!(enc(&[b"(UNSEEN"]), vec![b"\"(UNSEEN\"".to_vec()]);
        assert_eq!(enc(&[b"UNSEEN)"]), vec![b"\"UNSEEN)\"".to_vec()]);
    }
}
