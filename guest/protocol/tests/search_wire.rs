//! The search grammar, generated, against CPython's imaplib byte for byte.
//!
//! Every search key (RFC 3501; RFC 4731 ESEARCH's `RETURN (...)` with the
//! options of RFC 5267 and 5182; RFC 5032 `OLDER`/`YOUNGER`; RFC 6203
//! `FUZZY`; RFC 7162 `MODSEQ`, with and without an entry name; RFC 8474,
//! 8514, 5466 and 5257 keys; Gmail's `X-GM-RAW`, `X-GM-MSGID`,
//! `X-GM-THRID`, `X-GM-LABELS`; sequence sets) is put in a dozen
//! positions (bare, parenthesized, nested, negated, OR-ed either side,
//! FUZZY, next to other keys), with values that are atoms, already quoted,
//! or need quoting (spaces, quotes, backslashes, parentheses, `%`, `{`,
//! empty) or a literal (8-bit, long); each criteria list is passed the
//! three ways callers write it (each expression one argument; every key
//! and value its own argument; operators glued to the key they apply to)
//! through `search` (with and without a charset), `uid('SEARCH')`,
//! `sort`, `thread`, `uid('SORT')` and `uid('THREAD')`.
//!
//! What wasimap sends must be exactly what CPython 3.11's imaplib sends
//! for the same call (`tests/python/search_wire.py` captures it), except
//! by these rules, which apply only to a value given as its own argument
//! (the argument after a lone key that takes a value, such as
//! `'SUBJECT', 'hello world'`), where imaplib sends the text as it is and
//! the server reads it as several keys or a broken string:
//!
//! - **R1 quoted value**: a value that is neither an atom nor a valid
//!   quoted string, 7-bit and at most 1024 bytes, is sent as a quoted
//!   string with `\` and `"` escaped: CPython `SUBJECT hello world`,
//!   wasimap `SUBJECT "hello world"`.
//! - **R2 literal value**: a value with 8-bit bytes, or longer than 1024
//!   bytes, is sent as a synchronizing literal `{n}`: CPython sends the
//!   raw bytes (given bytes; given a str it raises UnicodeEncodeError).
//!
//! Each exception case is checked against CPython too: CPython's call with
//! the value replaced by the quoted string (R1) or by `{n}\r\n` and the
//! bytes (R2; CPython 3.11 sends an argument's CR LF as they are) must put
//! on the wire what wasimap sent, and CPython's original call must not.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};

use common::Recorder;
use serde_json::{json, Value};
use wasimap_protocol::session::State;
use wasimap_protocol::Imap4;

/// How a value given as its own argument goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Form {
    /// As given: an atom, a sequence set, a list, an already quoted string.
    Verbatim,
    /// Rule R1.
    Quoted,
    /// Rule R2.
    Literal,
}

#[derive(Debug, Clone)]
struct Val {
    text: String,
    form: Form,
}

fn v(text: &str, form: Form) -> Val {
    Val {
        text: text.to_string(),
        form,
    }
}

/// A search expression.
#[derive(Debug, Clone)]
enum Expr {
    /// A key (or a sequence set) and its values.
    Key(&'static str, Vec<Val>),
    /// NOT, OR, FUZZY and their operands.
    Op(&'static str, Vec<Expr>),
    /// A parenthesized list.
    List(Vec<Expr>),
}

fn key(name: &'static str, values: &[Val]) -> Expr {
    Expr::Key(name, values.to_vec())
}

fn op(name: &'static str, operands: Vec<Expr>) -> Expr {
    Expr::Op(name, operands)
}

fn list(items: Vec<Expr>) -> Expr {
    Expr::List(items)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The expression as one argument, values in wire form; `None` if a value
/// needs a literal (a literal cannot stand inside an argument).
fn wire(e: &Expr) -> Option<String> {
    let join = |items: Vec<Option<String>>| items.into_iter().collect::<Option<Vec<_>>>().map(|v| v.join(" "));
    match e {
        Expr::Key(name, values) => {
            let mut parts = vec![Some(name.to_string())];
            parts.extend(values.iter().map(|val| match val.form {
                Form::Verbatim => Some(val.text.clone()),
                Form::Quoted => Some(quote(&val.text)),
                Form::Literal => None,
            }));
            join(parts)
        }
        Expr::Op(name, operands) => {
            let mut parts = vec![Some(name.to_string())];
            parts.extend(operands.iter().map(wire));
            join(parts)
        }
        Expr::List(items) => join(items.iter().map(wire).collect()).map(|s| format!("({s})")),
    }
}

/// One criteria argument: its text, and its form when it is a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Arg {
    text: String,
    value: Option<Form>,
}

fn structure(text: String) -> Arg {
    Arg { text, value: None }
}

/// Every key and value its own argument (lists stay whole); with `glue`,
/// an operator shares its argument with the start of its first operand.
fn split(e: &Expr, glue: bool) -> Option<Vec<Arg>> {
    match e {
        Expr::Key(name, values) => {
            let mut out = vec![structure(name.to_string())];
            out.extend(values.iter().map(|val| Arg {
                text: val.text.clone(),
                value: Some(val.form),
            }));
            Some(out)
        }
        Expr::Op(name, operands) => {
            let mut out = vec![structure(name.to_string())];
            for (i, operand) in operands.iter().enumerate() {
                let mut args = split(operand, glue)?;
                if glue && i == 0 && args[0].value.is_none() {
                    let first = args.remove(0);
                    out[0].text = format!("{name} {}", first.text);
                }
                out.extend(args);
            }
            Some(out)
        }
        Expr::List(_) => Some(vec![structure(wire(e)?)]),
    }
}

/// The three ways of passing top-level expressions as arguments.
fn renderings(exprs: &[Expr]) -> Vec<Vec<Arg>> {
    let mut out = Vec::new();
    if let Some(whole) = exprs.iter().map(|e| wire(e).map(structure)).collect::<Option<Vec<_>>>() {
        out.push(whole);
    }
    for glue in [false, true] {
        if let Some(args) = exprs.iter().map(|e| split(e, glue)).collect::<Option<Vec<_>>>() {
            out.push(args.concat());
        }
    }
    out
}

/// String values: atoms, an already quoted string, and what R1 and R2 cover.
fn strings() -> Vec<Val> {
    use Form::*;
    vec![
        v("hello", Verbatim),
        v("bob@example.org", Verbatim),
        v("a]b", Verbatim),
        v("\"already quoted\"", Verbatim),
        v("hello world", Quoted),
        v("say \"hi\"", Quoted),
        v("back\\slash", Quoted),
        v("", Quoted),
        v("50% (off)", Quoted),
        v("{5}", Quoted),
        v("*", Quoted),
        v("grüße", Literal),
        v("日本語 text", Literal),
        v(&"x ".repeat(600), Literal),
    ]
}

/// Every base key with each of its values.
fn keys() -> Vec<Expr> {
    use Form::*;
    let mut out = Vec::new();
    for name in [
        "ALL",
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
        "SAVEDATESUPPORTED",
        "1:*",
        "2,4:7",
        "$",
        "1",
    ] {
        out.push(key(name, &[]));
    }
    for name in ["SUBJECT", "FROM", "X-GM-RAW"] {
        out.extend(strings().into_iter().map(|s| key(name, &[s])));
    }
    for s in strings() {
        out.push(key("HEADER", &[v("X-Tag", Verbatim), s]));
    }
    out.push(key("HEADER", &[v("List Id", Quoted), v("", Quoted)]));
    for name in ["TO", "CC", "BCC", "BODY", "TEXT"] {
        out.push(key(name, &[v("alice", Verbatim)]));
        out.push(key(name, &[v("Alice Smith", Quoted)]));
    }
    for label in [
        v("work", Verbatim),
        v("\\Inbox", Quoted),
        v("My Label", Quoted),
        v("Ärger", Literal),
    ] {
        out.push(key("X-GM-LABELS", &[label]));
    }
    for name in [
        "BEFORE",
        "ON",
        "SINCE",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
        "SAVEDBEFORE",
        "SAVEDON",
        "SAVEDSINCE",
    ] {
        out.push(key(name, &[v("1-Jan-2024", Verbatim)]));
        out.push(key(name, &[v("\"1-Feb-2024\"", Verbatim)]));
    }
    for (name, n) in [
        ("LARGER", "1000"),
        ("SMALLER", "20000"),
        ("OLDER", "3600"),
        ("YOUNGER", "86400"),
        ("X-GM-MSGID", "1278455344230334865"),
        ("X-GM-THRID", "1266894439832287888"),
    ] {
        out.push(key(name, &[v(n, Verbatim)]));
    }
    for name in ["KEYWORD", "UNKEYWORD"] {
        out.push(key(name, &[v("$Label", Verbatim)]));
        out.push(key(name, &[v("\\Seen", Quoted)]));
        out.push(key(name, &[v("my flag", Quoted)]));
    }
    for set in ["1:*", "2,4:7", "$"] {
        out.push(key("UID", &[v(set, Verbatim)]));
    }
    out.push(key("EMAILID", &[v("M6d99ac3275bb4e", Verbatim)]));
    out.push(key("THREADID", &[v("T64b478a75b7ea9def", Verbatim)]));
    out.push(key("FILTER", &[v("on-the-way", Verbatim)]));
    out.push(key("FILTER", &[v("my filter", Quoted)]));
    out.push(key("MODSEQ", &[v("620162338", Verbatim)]));
    out.push(key(
        "MODSEQ",
        &[
            v("/flags/\\draft", Quoted),
            v("all", Verbatim),
            v("620162338", Verbatim),
        ],
    ));
    out.push(key(
        "MODSEQ",
        &[
            v("\"/flags/\\\\answered\"", Verbatim),
            v("priv", Verbatim),
            v("1", Verbatim),
        ],
    ));
    out.push(key(
        "ANNOTATION",
        &[v("/comment", Verbatim), v("value.priv", Verbatim), v("hello", Verbatim)],
    ));
    out.push(key(
        "ANNOTATION",
        &[v("/*", Verbatim), v("value", Verbatim), v("a b", Quoted)],
    ));
    out
}

/// The positions a key is put in.
fn positions(k: &Expr) -> Vec<Vec<Expr>> {
    let seen = key("SEEN", &[]);
    let unseen = key("UNSEEN", &[]);
    vec![
        vec![k.clone()],
        vec![list(vec![k.clone()])],
        vec![list(vec![list(vec![k.clone()])])],
        vec![op("NOT", vec![k.clone()])],
        vec![op("NOT", vec![list(vec![k.clone()])])],
        vec![list(vec![op("NOT", vec![k.clone()])])],
        vec![op("OR", vec![k.clone(), seen.clone()])],
        vec![op("OR", vec![seen.clone(), k.clone()])],
        vec![op("OR", vec![k.clone(), op("NOT", vec![k.clone()])])],
        vec![list(vec![k.clone(), unseen.clone()])],
        vec![unseen.clone(), k.clone()],
        vec![
            k.clone(),
            op("NOT", vec![op("OR", vec![seen, list(vec![k.clone(), unseen])])]),
        ],
        vec![op("FUZZY", vec![k.clone()])],
        vec![list(vec![op("FUZZY", vec![k.clone()])])],
    ]
}

/// A method call: the method, its leading arguments, the criteria, and
/// whether RETURN options may lead the criteria (SEARCH only).
struct Method {
    name: &'static str,
    head: &'static [Option<&'static str>],
    search: bool,
}

const fn method(name: &'static str, head: &'static [Option<&'static str>], search: bool) -> Method {
    Method { name, head, search }
}

const METHODS: &[Method] = &[
    method("search", &[None], true),
    method("uid", &[Some("SEARCH")], true),
    method("sort", &[Some("REVERSE DATE"), Some("UTF-8")], false),
    method("search", &[Some("UTF-8")], true),
    method("thread", &[Some("REFERENCES"), Some("UTF-8")], false),
    method("uid", &[Some("SORT"), Some("(ARRIVAL)"), Some("UTF-8")], false),
    method(
        "uid",
        &[Some("THREAD"), Some("ORDEREDSUBJECT"), Some("US-ASCII")],
        false,
    ),
];

struct Case {
    method: &'static Method,
    criteria: Vec<Arg>,
}

fn cases() -> Vec<Case> {
    let returns = [
        "(MIN MAX)",
        "(COUNT)",
        "()",
        "(ALL)",
        "(PARTIAL 1:100)",
        "(SAVE)",
        "(MIN COUNT SAVE)",
    ];
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut n = 0usize;
    for k in keys() {
        for exprs in positions(&k) {
            for criteria in renderings(&exprs) {
                let method = &METHODS[n % METHODS.len()];
                n += 1;
                let mut criteria = criteria;
                // Two SEARCH calls in seven lead with ESEARCH's RETURN options,
                // written as one argument or as two.
                if method.search && n % 7 < 2 {
                    let opts = returns[n % returns.len()];
                    let lead = if n.is_multiple_of(7) {
                        vec![structure(format!("RETURN {opts}"))]
                    } else {
                        vec![
                            structure("RETURN".into()),
                            Arg {
                                text: opts.into(),
                                value: Some(Form::Verbatim),
                            },
                        ]
                    };
                    criteria.splice(0..0, lead);
                }
                if seen.insert((method.name, method.head, criteria.clone())) {
                    out.push(Case { method, criteria });
                }
            }
        }
    }
    // The calls of issue #14, through every method.
    for crit in [&["(UNSEEN)"][..], &["(ALL)"], &["NOT", "(SEEN)"], &["(FROM \"bob\")"]] {
        for method in METHODS {
            let criteria: Vec<Arg> = crit.iter().map(|c| structure(c.to_string())).collect();
            if seen.insert((method.name, method.head, criteria.clone())) {
                out.push(Case { method, criteria });
            }
        }
    }
    out
}

fn json_arg(text: &str) -> Value {
    if text.is_ascii() && !text.contains(['\r', '\n']) {
        json!(text)
    } else {
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        json!({ "hex": hex })
    }
}

/// The CPython call for `case`; with `rules`, R1 and R2 applied to values.
fn python_call(case: &Case, rules: bool) -> Value {
    let mut args: Vec<Value> = case.method.head.iter().map(|h| json!(h)).collect();
    for a in &case.criteria {
        let text = match a.value {
            Some(Form::Quoted) if rules => quote(&a.text),
            Some(Form::Literal) if rules => format!("{{{}}}\r\n{}", a.text.len(), a.text),
            _ => a.text.clone(),
        };
        args.push(json_arg(&text));
    }
    json!({"method": case.method.name, "args": args})
}

fn has_exception(case: &Case) -> bool {
    case.criteria
        .iter()
        .any(|a| a.value.is_some_and(|f| f != Form::Verbatim))
}

/// What CPython's imaplib sent for each call (tag removed), or its error.
fn cpython(calls: &[Value]) -> Vec<Result<Vec<u8>, String>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/python/search_wire.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (CPython's imaplib is the reference)");
    let input = serde_json::to_vec(calls).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "search_wire.py failed");
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| match a["sent"].as_str() {
            Some(hex) => Ok((0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()),
            None => Err(a["error"].as_str().unwrap_or("?").to_string()),
        })
        .collect()
}

/// What wasimap sent for `case` (tag removed).
fn wasimap(case: &Case) -> Vec<u8> {
    let mut imap = Imap4::connect(Recorder::new(), 0, 0).unwrap();
    imap.client_mut().force_state(State::Selected);
    let before = imap.transport_ref().unwrap().wire.len();
    let head: Vec<&str> = case.method.head.iter().flatten().copied().collect();
    let crit: Vec<String> = case.criteria.iter().map(|a| a.text.clone()).collect();
    let r = match case.method.name {
        "search" => imap.search(case.method.head[0], &crit),
        "sort" => imap.sort(head[0], head[1], &crit),
        "thread" => imap.thread(head[0], head[1], &crit),
        _ => {
            let mut args: Vec<String> = head[1..].iter().map(|s| s.to_string()).collect();
            args.extend(crit);
            imap.uid(head[0], &args)
        }
    };
    r.unwrap_or_else(|e| panic!("{} {:?}: {e}", case.method.name, case.criteria));
    let wire = &imap.transport_ref().unwrap().wire[before..];
    let space = wire.iter().position(|&c| c == b' ').unwrap();
    wire[space + 1..].to_vec()
}

#[test]
fn search_grammar_matches_cpython_byte_for_byte() {
    let cases = cases();
    let mut calls = Vec::new();
    for case in &cases {
        calls.push(python_call(case, false));
        if has_exception(case) {
            calls.push(python_call(case, true));
        }
    }
    let mut answers = cpython(&calls).into_iter();
    let (mut exact, mut r1, mut r2) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let ours = wasimap(case);
        let raw = answers.next().unwrap();
        let expected = if has_exception(case) {
            let adjusted = answers.next().unwrap();
            if raw.as_ref().is_ok_and(|r| *r == ours) {
                failures.push(format!(
                    "{} {:?}: an exception rule applies but wasimap sent what CPython sends",
                    case.method.name, case.criteria
                ));
            }
            if case.criteria.iter().any(|a| a.value == Some(Form::Literal)) {
                r2 += 1;
            } else {
                r1 += 1;
            }
            adjusted
        } else {
            exact += 1;
            raw
        };
        match expected {
            Ok(e) if e == ours => {}
            other => failures.push(format!(
                "{}{:?} {:?}\n  wasimap: {:?}\n  CPython: {:?}",
                case.method.name,
                case.method.head,
                case.criteria.iter().map(|a| &a.text).collect::<Vec<_>>(),
                String::from_utf8_lossy(&ours),
                other.map(|e| String::from_utf8_lossy(&e).into_owned()),
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    assert!(cases.len() >= 500, "only {} cases", cases.len());
    assert!(r1 > 50 && r2 > 20, "exceptions: R1 {r1}, R2 {r2}");
    println!(
        "{} cases: {exact} identical to CPython, {r1} by R1, {r2} by R2",
        cases.len()
    );
}
