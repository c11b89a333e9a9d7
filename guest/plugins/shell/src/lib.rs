//! The `shell` plugin: an imaplib session scripted as JSON lines.
//!
//! Each line on stdin is one call, each answer one line on stdout; the
//! format is in `docs/shell.md`. Bytes travel as `{"b": "..."}` with each
//! byte 0..255 as the code point U+0000..U+00FF (lossless latin-1).

use std::io::{BufRead, Write};

mod fetch;

use serde_json::{json, Map, Value};

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit",
});

use wasimap::imap::body::Body;
use wasimap::imap::client::{self, Idler, Imap4, SaslStep};
use wasimap::imap::types::{CivilTime, DataItem, ImapError, Response, StructTime, TimeValue, TlsOptions};

struct Shell;

export!(Shell);

/// A failed line: imaplib's exception class and message, the error's
/// kind (the WIT `error-kind`'s name) and the OS errno.
struct Failure {
    class: &'static str,
    kind: &'static str,
    message: String,
    errno: Option<i32>,
}

impl From<ImapError> for Failure {
    fn from(e: ImapError) -> Self {
        let (class, d) = match e {
            ImapError::Error(d) => ("error", d),
            ImapError::Abort(d) => ("abort", d),
            ImapError::Readonly(d) => ("readonly", d),
        };
        Failure {
            class,
            kind: kind_name(d.kind),
            message: d.message,
            errno: d.errno,
        }
    }
}

/// The WIT name of a kind (`tls-certificate`), from the generated enum's
/// own case name (`ErrorKind::TlsCertificate`), so the shell keeps no list
/// of kinds and depends on no order: the core's kind of that name.
fn kind_name(kind: wasimap::imap::types::ErrorKind) -> &'static str {
    let case = format!("{kind:?}");
    let case = case.rsplit("::").next().unwrap_or_default();
    let mut wit = String::new();
    for c in case.chars() {
        if c.is_ascii_uppercase() && !wit.is_empty() {
            wit.push('-');
        }
        wit.push(c.to_ascii_lowercase());
    }
    wasimap_protocol::ErrorKind::ALL
        .iter()
        .find(|k| k.name() == wit)
        .map_or("io", |k| k.name())
}

/// imaplib's name of a session state (`IMAP4.state`).
fn state_name(state: client::SessionState) -> &'static str {
    use client::SessionState as S;
    match state {
        S::Nonauth => "NONAUTH",
        S::Auth => "AUTH",
        S::Selected => "SELECTED",
        S::Logout => "LOGOUT",
        S::Idling => "IDLING",
    }
}

/// A line the shell itself cannot run (bad JSON, unknown method, wrong
/// argument): class `usage`, kind `usage`.
fn usage(message: impl Into<String>) -> Failure {
    Failure {
        class: "usage",
        kind: "usage",
        message: message.into(),
        errno: None,
    }
}

type Answer = Result<Value, Failure>;

fn bytes(b: &[u8]) -> Value {
    json!({ "b": b.iter().map(|&c| char::from(c)).collect::<String>() })
}

fn item(d: &DataItem) -> Value {
    match d {
        DataItem::None => Value::Null,
        DataItem::Bytes(b) => bytes(b),
        DataItem::Literal((h, l)) => json!([bytes(h), bytes(l)]),
    }
}

fn items(v: &[DataItem]) -> Value {
    Value::Array(v.iter().map(item).collect())
}

fn response(r: Response) -> Value {
    json!({ "typ": r.typ, "data": items(&r.data) })
}

/// Bytes from `{"b": ...}` (latin-1) or a string (UTF-8).
fn to_bytes(v: &Value) -> Result<Vec<u8>, Failure> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(o) => match o.get("b") {
            Some(Value::String(s)) => s
                .chars()
                .map(|c| {
                    u8::try_from(u32::from(c))
                        .map_err(|_| usage(format!("{{\"b\"}} holds a code point above U+00FF: {c:?}")))
                })
                .collect(),
            _ => Err(usage(format!("expected bytes, got {v}"))),
        },
        _ => Err(usage(format!("expected bytes, got {v}"))),
    }
}

/// A string argument: strings, numbers, and bytes that are UTF-8.
fn to_string(v: &Value) -> Result<String, Failure> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Object(_) => String::from_utf8(to_bytes(v)?).map_err(|_| usage("bytes argument is not UTF-8")),
        _ => Err(usage(format!("expected a string, got {v}"))),
    }
}

fn opt_string(v: Option<&Value>) -> Result<Option<String>, Failure> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => to_string(v).map(Some),
    }
}

/// An integer field of a date form, in `T`'s range.
fn field<T: TryFrom<i64>>(v: Option<&Value>, what: &str) -> Result<T, Failure> {
    v.and_then(Value::as_i64)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| usage(format!("date_time: {what} must be an integer in range")))
}

/// imaplib's date forms: seconds since the epoch (local time), a naive
/// 9-element `struct_time`/tuple (local time), an aware `datetime` as
/// `{"datetime": [Y, M, D, h, m, s], "utcoffset": seconds}`, or a quoted
/// internal date. A `datetime` without `utcoffset` is naive, which
/// imaplib refuses (`date_time must be aware`).
fn time_value(v: &Value) -> Result<TimeValue, Failure> {
    match v {
        Value::Number(n) => Ok(TimeValue::Epoch(n.as_f64().unwrap_or_default())),
        Value::String(s) => Ok(TimeValue::Quoted(s.clone())),
        Value::Array(a) if a.len() == 9 => Ok(TimeValue::Local(StructTime {
            year: field(a.first(), "tm_year")?,
            mon: field(a.get(1), "tm_mon")?,
            mday: field(a.get(2), "tm_mday")?,
            hour: field(a.get(3), "tm_hour")?,
            min: field(a.get(4), "tm_min")?,
            sec: field(a.get(5), "tm_sec")?,
            wday: field(a.get(6), "tm_wday")?,
            yday: field(a.get(7), "tm_yday")?,
            isdst: field(a.get(8), "tm_isdst")?,
        })),
        Value::Object(o) if o.contains_key("datetime") => {
            let Some(offset) = o.get("utcoffset") else {
                return Err(usage("date_time must be aware"));
            };
            let f = o["datetime"].as_array().cloned().unwrap_or_default();
            Ok(TimeValue::Civil(CivilTime {
                year: field(f.first(), "year")?,
                month: field(f.get(1), "month")?,
                day: field(f.get(2), "day")?,
                hour: field(f.get(3), "hour")?,
                minute: field(f.get(4), "minute")?,
                second: field(f.get(5), "second")?,
                utc_offset: field(Some(offset), "utcoffset")?,
            }))
        }
        _ => Err(usage(format!(
            "unsupported date_time {v}: give seconds, a 9-element struct_time, {{\"datetime\": [...], \"utcoffset\": s}} or a quoted internal date"
        ))),
    }
}

/// The positional arguments of one call.
struct Args<'a>(&'a [Value]);

impl Args<'_> {
    fn need(&self, i: usize, method: &str) -> Result<&Value, Failure> {
        self.0
            .get(i)
            .ok_or_else(|| usage(format!("{method}: missing argument {}", i + 1)))
    }
    fn string(&self, i: usize, method: &str) -> Result<String, Failure> {
        to_string(self.need(i, method)?)
    }
    fn opt(&self, i: usize) -> Result<Option<String>, Failure> {
        opt_string(self.0.get(i))
    }
    fn rest(&self, from: usize) -> Result<Vec<String>, Failure> {
        self.0.iter().skip(from).map(to_string).collect()
    }
}

/// imaplib's `ssl_context` as JSON: `{"ca_file": path, "ca_pem": bytes,
/// "server_hostname": name, "insecure": true}`.
fn tls_options(v: Option<&Value>) -> Result<TlsOptions, Failure> {
    let mut tls = TlsOptions {
        ca_pem: None,
        ca_file: None,
        server_name: None,
        client_cert_pem: None,
        client_key_pem: None,
        dangerously_accept_invalid_certs: false,
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(tls);
    };
    let o = v.as_object().ok_or_else(|| usage("TLS options must be an object"))?;
    for (key, value) in o {
        match key.as_str() {
            "ca_file" => tls.ca_file = Some(to_string(value)?),
            "ca_pem" => tls.ca_pem = Some(to_bytes(value)?),
            "server_hostname" => tls.server_name = Some(to_string(value)?),
            "certfile_pem" => tls.client_cert_pem = Some(to_bytes(value)?),
            "keyfile_pem" => tls.client_key_pem = Some(to_bytes(value)?),
            "insecure" => tls.dangerously_accept_invalid_certs = value.as_bool().unwrap_or(false),
            other => return Err(usage(format!("unknown TLS option {other:?}"))),
        }
    }
    Ok(tls)
}

fn port(v: Option<&Value>, default: u16) -> Result<u16, Failure> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(p) => to_string(p)?.parse().map_err(|_| usage("port must be 0..65535")),
    }
}

fn open(line: &[Value]) -> Result<Imap4, Failure> {
    let (kind, rest) = line.split_first().ok_or_else(|| usage("empty open line"))?;
    let mut rest = rest.to_vec();
    let mut timeout = None;
    if let Some(Value::Object(o)) = rest.last() {
        if let Some(t) = o.get("timeout") {
            timeout = Some(t.as_f64().ok_or_else(|| usage("timeout must be a number"))?);
            rest.pop();
        }
    }
    let args = Args(&rest);
    match kind.as_str() {
        Some("IMAP4") => {
            let host = args.opt(0)?.unwrap_or_else(|| "localhost".into());
            Ok(Imap4::open_tcp(&host, port(args.0.get(1), 143)?, timeout)?)
        }
        Some("IMAP4_SSL") => {
            let host = args.opt(0)?.unwrap_or_else(|| "localhost".into());
            let tls = tls_options(args.0.get(2))?;
            Ok(Imap4::open_tls(&host, port(args.0.get(1), 993)?, timeout, &tls)?)
        }
        Some("IMAP4_stream") => Ok(Imap4::open_stream(&args.string(0, "IMAP4_stream")?, timeout)?),
        Some(other) => Err(usage(format!(
            "unknown connection class {other:?} (IMAP4, IMAP4_SSL, IMAP4_stream)"
        ))),
        None => Err(usage("the first line must be [\"IMAP4\", host, port]")),
    }
}

fn getattr(imap: &Imap4, name: &str) -> Answer {
    Ok(match name {
        "capabilities" => json!(imap.capabilities()),
        "PROTOCOL_VERSION" => json!(imap.protocol_version()),
        "state" => json!(state_name(imap.state())),
        "welcome" => bytes(&imap.welcome()),
        "utf8_enabled" => json!(imap.utf8_enabled()),
        "debug" => json!(imap.debug()),
        "_MAXLINE" => json!(imap.max_line()),
        "tagpre" => bytes(&imap.tag_prefix()),
        "untagged_responses" => {
            let mut map = Map::new();
            for (name, data) in imap.untagged_responses() {
                map.insert(name, items(&data));
            }
            Value::Object(map)
        }
        other => return Err(usage(format!("unknown attribute {other:?}"))),
    })
}

fn utility(name: &str, args: &Args<'_>) -> Option<Answer> {
    let run = || -> Answer {
        Ok(match name {
            "Int2AP" => {
                let n = args
                    .need(0, name)?
                    .as_u64()
                    .ok_or_else(|| usage("Int2AP takes a non-negative integer"))?;
                bytes(&client::int2ap(n))
            }
            "ParseFlags" => Value::Array(
                client::parse_flags(&to_bytes(args.need(0, name)?)?)
                    .iter()
                    .map(|f| bytes(f))
                    .collect(),
            ),
            "Internaldate2tuple" => match client::internaldate2tuple(&to_bytes(args.need(0, name)?)?) {
                None => Value::Null,
                Some(t) => json!([t.year, t.mon, t.mday, t.hour, t.min, t.sec, t.wday, t.yday, t.isdst]),
            },
            "Time2Internaldate" => json!(client::time2internaldate(&time_value(args.need(0, name)?)?)?),
            _ => unreachable!(),
        })
    };
    matches!(
        name,
        "Int2AP" | "ParseFlags" | "Internaldate2tuple" | "Time2Internaldate"
    )
    .then(run)
}

/// A challenge as `{"value": {"challenge": bytes}}`, a completion as a response.
fn sasl_step(step: SaslStep) -> Answer {
    Ok(match step {
        SaslStep::Challenge(c) => json!({ "challenge": bytes(&c) }),
        SaslStep::Done(r) => response(r),
    })
}

fn call(imap: &Imap4, method: &str, a: &Args<'_>) -> Answer {
    let m = method;
    let r = match method {
        "getattr" => return getattr(imap, &a.string(0, m)?),
        "setattr" => match a.string(0, m)?.as_str() {
            "debug" => {
                imap.set_debug(
                    a.need(1, m)?
                        .as_u64()
                        .ok_or_else(|| usage("debug must be an integer"))? as u32,
                );
                return Ok(Value::Null);
            }
            "_MAXLINE" => {
                let limit = a
                    .need(1, m)?
                    .as_u64()
                    .ok_or_else(|| usage("_MAXLINE must be a non-negative integer"))?;
                imap.set_max_line(limit)?;
                return Ok(Value::Null);
            }
            other => return Err(usage(format!("attribute {other:?} is read-only"))),
        },
        "append" => {
            let dt = match a.0.get(2) {
                None | Some(Value::Null) => None,
                Some(v) => Some(time_value(v)?),
            };
            // Through the host: the message crosses as two memcpys, not
            // as a list copied element by element into the component.
            imap.append_body(
                &a.opt(0)?.unwrap_or_default(),
                a.opt(1)?.as_deref(),
                dt.as_ref(),
                &Body::new(&to_bytes(a.need(3, m)?)?),
            )
        }
        "authenticate" => imap.authenticate(&a.string(0, m)?, &a.string(1, m)?, &a.string(2, m)?),
        "authenticate_start" => {
            let initial = a.0.get(1).filter(|v| !v.is_null()).map(to_bytes).transpose()?;
            return sasl_step(imap.authenticate_start(&a.string(0, m)?, initial.as_deref())?);
        }
        "authenticate_step" => {
            let answer = a.0.first().filter(|v| !v.is_null()).map(to_bytes).transpose()?;
            return sasl_step(imap.authenticate_step(answer.as_deref())?);
        }
        "login_secret" => imap.login_secret(&a.string(0, m)?, &a.string(1, m)?),
        "authenticate_secret" => imap.authenticate_secret(&a.string(0, m)?, &a.string(1, m)?, &a.string(2, m)?),
        "login_cram_md5" => imap.login_cram_md5(&a.string(0, m)?, &a.string(1, m)?),
        "starttls" => imap.starttls(&tls_options(a.0.first())?),
        "enable" => imap.enable(&a.string(0, m)?),
        "getannotation" => imap.getannotation(&a.string(0, m)?, &a.string(1, m)?, &a.string(2, m)?),
        "getquotaroot" => {
            let r = imap.getquotaroot(&a.string(0, m)?)?;
            return Ok(json!({ "typ": r.typ, "data": [items(&r.quotaroot), items(&r.quota)] }));
        }
        "list" => imap.list(a.opt(0)?.as_deref(), a.opt(1)?.as_deref()),
        "login" => imap.login(&a.string(0, m)?, &a.string(1, m)?),
        "logout" => imap.logout(),
        "lsub" => imap.lsub(a.opt(0)?.as_deref(), a.opt(1)?.as_deref()),
        "recent" => imap.recent(),
        "response" => Ok(imap.response(&a.string(0, m)?)),
        "search" => imap.search(a.opt(0)?.as_deref(), &a.rest(1)?),
        "select" => {
            let readonly = a.0.get(1).and_then(Value::as_bool).unwrap_or(false);
            imap.select(a.opt(0)?.as_deref(), readonly)
        }
        "setannotation" => imap.setannotation(&a.rest(0)?),
        "sort" => imap.sort(&a.string(0, m)?, &a.string(1, m)?, &a.rest(2)?),
        "store" => imap.store(&a.string(0, m)?, &a.string(1, m)?, &a.string(2, m)?),
        "thread" => imap.thread(&a.string(0, m)?, &a.string(1, m)?, &a.rest(2)?),
        "uid" => imap.uid(&a.string(0, m)?, &a.rest(1)?),
        "xatom" => imap.xatom(&a.string(0, m)?, &a.rest(1)?),
        "send" => {
            return imap
                .send(&to_bytes(a.need(0, m)?)?)
                .map(|()| Value::Null)
                .map_err(Failure::from)
        }
        "read" => {
            let n = a.need(0, m)?.as_u64().ok_or_else(|| usage("read takes a size"))?;
            return Ok(bytes(&imap.read(n)?));
        }
        "readline" => return Ok(bytes(&imap.readline()?)),
        "shutdown" => {
            imap.shutdown();
            return Ok(Value::Null);
        }
        other => match string_command(imap, other, a) {
            Some(r) => return r.map(response),
            None => return Err(usage(format!("unknown method {other:?}"))),
        },
    };
    Ok(response(r?))
}

/// The command table's string-argument methods, each called with its
/// arguments in order (the table in the core is their one list).
macro_rules! string_dispatch {
    (encoded { $( $(#[$doc:meta])* $m:ident ( $($a:ident : $k:ident),* ) => $name:literal, $finish:expr; )* }) => {
        /// `Some` when `method` is one of the table's string-argument methods.
        fn string_command(imap: &Imap4, method: &str, a: &Args<'_>) -> Option<Result<Response, Failure>> {
            $(
                if method == wasimap_protocol::commands::method_name(stringify!($m)) {
                    // Unused by the methods without arguments.
                    #[allow(unused_mut, unused_variables)]
                    let mut position = 0..;
                    #[allow(unused_mut)]
                    let mut run = || -> Result<Response, Failure> {
                        Ok(imap.$m($(&a.string({
                            let _ = stringify!($a);
                            position.next().unwrap_or_default()
                        }, method)?),*)?)
                    };
                    return Some(run());
                }
            )*
            None
        }
    };
}

wasimap_protocol::string_commands!(string_dispatch);

fn idle_response((typ, data): (String, Vec<DataItem>)) -> Value {
    json!([typ, items(&data)])
}

fn seconds(v: Option<&Value>) -> Result<Option<f64>, Failure> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| usage("expected seconds")),
    }
}

/// IMAP4 3.14's `with M.idle(duration) as idler:` as four calls: `idle`,
/// `idle_next` (one iteration), `idle_burst`, `idle_done` (the exit).
fn idle(imap: &Imap4, idler: &mut Option<Idler>, method: &str, a: &Args<'_>) -> Answer {
    let not_idling = || usage("no idle in progress: call [\"idle\", duration] first");
    match method {
        "idle" => {
            *idler = Some(imap.idle(seconds(a.0.first())?)?);
            Ok(Value::Null)
        }
        "idle_next" => {
            let next = idler.as_ref().ok_or_else(not_idling)?.next(seconds(a.0.first())?)?;
            Ok(next.map(idle_response).unwrap_or(Value::Null))
        }
        "idle_burst" => {
            let interval = seconds(a.0.first())?.unwrap_or(0.1);
            let burst = idler.as_ref().ok_or_else(not_idling)?.burst(interval)?;
            Ok(Value::Array(burst.into_iter().map(idle_response).collect()))
        }
        _ => {
            let done = idler.take().ok_or_else(not_idling)?.done();
            Ok(response(done?))
        }
    }
}

/// The keys of a line that raised.
fn error_fields(f: Failure) -> Value {
    json!({ "error": f.class, "kind": f.kind, "errno": f.errno, "message": f.message })
}

fn answer(out: &mut impl Write, a: Answer) {
    let v = match a {
        Ok(v @ Value::Object(_)) if v.get("typ").is_some() => v,
        Ok(v) => json!({ "value": v }),
        Err(f) => error_fields(f),
    };
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

impl Guest for Shell {
    fn run(_args: Vec<String>) -> Result<(), String> {
        let stdin = std::io::stdin();
        // Written out at the end of each answer line (`flush`), not at
        // every newline-free piece of a streamed FETCH.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let mut imap: Option<Imap4> = None;
        let mut idler: Option<Idler> = None;
        for line in stdin.lock().lines() {
            let line = line.map_err(|e| format!("reading stdin: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Result<Vec<Value>, Failure> = serde_json::from_str::<Value>(&line)
                .map_err(|e| usage(format!("invalid JSON: {e}")))
                .and_then(|v| match v {
                    Value::Array(a) => Ok(a),
                    _ => Err(usage("each line must be a JSON array")),
                });
            let result = parsed.and_then(|parts| {
                let (method, rest) = parts.split_first().ok_or_else(|| usage("empty call"))?;
                let method = method
                    .as_str()
                    .ok_or_else(|| usage("the method name must be a string"))?;
                if let Some(r) = utility(method, &Args(rest)) {
                    return r.map(Some);
                }
                match &imap {
                    None => {
                        imap = Some(open(&parts)?);
                        Ok(Value::Null)
                    }
                    Some(session) => match method {
                        "idle" | "idle_next" | "idle_burst" | "idle_done" => {
                            idle(session, &mut idler, method, &Args(rest))
                        }
                        _ => match fetch::streamed(method, &Args(rest)) {
                            Some((set, parts, uid)) => {
                                fetch::answer(session, &mut out, &set, &parts, uid)?;
                                return Ok(None);
                            }
                            None => call(session, method, &Args(rest)),
                        },
                    },
                }
                .map(Some)
            });
            // `None`: a streamed FETCH wrote its own line.
            if let Some(a) = result.transpose() {
                answer(&mut out, a);
            }
        }
        Ok(())
    }
}
