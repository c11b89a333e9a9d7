//! The sans-IO imaplib session: tags, state table, response dispatch and
//! untagged-response bookkeeping, with no sockets and no clocks.
//!
//! [`Session::start_command`] turns a command into [`Action`]s for the
//! driver to perform; [`Session::poll_response`] consumes buffered server
//! bytes one response at a time, exactly as imaplib's `_get_response`
//! does, and says when it needs more input.

use crate::encode::Piece;
use crate::error::{ErrorKind, ImapError, Result};
use crate::framing::Framer;
use crate::{pyrepr, util, DataItem};

/// imaplib's connection states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected, not logged in.
    NonAuth,
    /// Logged in, no mailbox selected.
    Auth,
    /// A mailbox is selected.
    Selected,
    /// LOGOUT sent, or the connection is gone.
    Logout,
    /// Inside IDLE (imaplib 3.14): no command is allowed until DONE.
    Idling,
}

impl State {
    /// imaplib's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            State::NonAuth => "NONAUTH",
            State::Auth => "AUTH",
            State::Selected => "SELECTED",
            State::Logout => "LOGOUT",
            State::Idling => "IDLING",
        }
    }
}

use State::{Auth, Logout, NonAuth, Selected};

const ANY: &[State] = &[NonAuth, Auth, Selected, Logout];
const AUTH_SEL: &[State] = &[Auth, Selected];
const SEL: &[State] = &[Selected];

/// imaplib's `Commands` table: each command and the states it is allowed
/// in, in imaplib's order (`tests/command_table.rs` compares it with the
/// Python `imaplib` module's).
pub const COMMAND_STATES: &[(&str, &[State])] = &[
    ("APPEND", AUTH_SEL),
    ("AUTHENTICATE", &[NonAuth]),
    ("CAPABILITY", ANY),
    ("CHECK", SEL),
    ("CLOSE", SEL),
    ("COPY", SEL),
    ("CREATE", AUTH_SEL),
    ("DELETE", AUTH_SEL),
    ("DELETEACL", AUTH_SEL),
    ("ENABLE", &[Auth]),
    ("EXAMINE", AUTH_SEL),
    ("EXPUNGE", SEL),
    ("FETCH", SEL),
    ("GETACL", AUTH_SEL),
    ("GETANNOTATION", AUTH_SEL),
    ("GETQUOTA", AUTH_SEL),
    ("GETQUOTAROOT", AUTH_SEL),
    ("IDLE", AUTH_SEL),
    ("MYRIGHTS", AUTH_SEL),
    ("LIST", AUTH_SEL),
    ("LOGIN", &[NonAuth]),
    ("LOGOUT", ANY),
    ("LSUB", AUTH_SEL),
    ("MOVE", SEL),
    ("NAMESPACE", AUTH_SEL),
    ("NOOP", ANY),
    ("PARTIAL", SEL),
    ("PROXYAUTH", &[Auth]),
    ("RENAME", AUTH_SEL),
    ("SEARCH", SEL),
    ("SELECT", AUTH_SEL),
    ("SETACL", AUTH_SEL),
    ("SETANNOTATION", AUTH_SEL),
    ("SETQUOTA", AUTH_SEL),
    ("SORT", SEL),
    ("STARTTLS", &[NonAuth]),
    ("STATUS", AUTH_SEL),
    ("STORE", SEL),
    ("SUBSCRIBE", AUTH_SEL),
    ("THREAD", SEL),
    ("UID", SEL),
    ("UNSUBSCRIBE", AUTH_SEL),
    ("UNSELECT", SEL),
];

/// The states imaplib's `Commands` allows `name` in ([`COMMAND_STATES`]).
pub fn command_states(name: &str) -> Option<&'static [State]> {
    COMMAND_STATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, states)| *states)
}

/// What the driver must do to send a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Read responses until a continuation request (`+`) arrives; stop early
    /// if the command completes (the server refused the literal).
    AwaitContinuation,
}

/// A command ready to go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPlan {
    /// The command's tag.
    pub tag: Vec<u8>,
    /// Writes and waits, in order.
    pub actions: Vec<Action>,
}

/// Result of [`Session::poll_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// The buffered bytes do not hold a whole response yet.
    NeedInput,
    /// A continuation request; its text is in `Session::continuation`.
    Continuation,
    /// A tagged or untagged response was stored; this is its first line.
    Response(Vec<u8>),
}

/// What the untagged responses of a session may hold at once, counting
/// each response's bytes plus [`ITEM_OVERHEAD`]: a server that floods a
/// command with responses gets `abort` instead of exhausting memory.
pub const MAX_UNTAGGED_BYTES: usize = 192 << 20;

/// Bookkeeping bytes counted per stored response, and once more for each
/// distinct type (its entry in the store and the index).
pub const ITEM_OVERHEAD: usize = 64;

/// What a new type costs in the store: its name is kept twice (in the
/// ordered list and as the index's key) besides the entry itself, so a
/// flood of distinct long type names is counted as what it holds.
fn type_size(typ: &str) -> usize {
    ITEM_OVERHEAD + 2 * typ.len()
}

/// Untagged responses by type, in order of first arrival, as imaplib's
/// `untagged_responses` dict keeps them. A hash index finds a type in
/// O(1); a pop leaves a hole in the ordered list, and the list is
/// compacted once the holes outnumber the entries, so every operation is
/// O(1) amortized whatever the number of distinct types (a linear search
/// made N distinct types cost O(N^2)).
#[derive(Debug, Default)]
struct Untagged {
    entries: Vec<Option<(String, Vec<DataItem>)>>,
    index: std::collections::HashMap<String, usize>,
}

impl Untagged {
    fn get(&self, typ: &str) -> Option<&[DataItem]> {
        let entry = self.entries[*self.index.get(typ)?].as_ref();
        entry.map(|(_, items)| items.as_slice())
    }

    fn contains(&self, typ: &str) -> bool {
        self.index.contains_key(typ)
    }

    fn push(&mut self, typ: &str, item: DataItem) {
        if let Some(&i) = self.index.get(typ) {
            if let Some((_, items)) = &mut self.entries[i] {
                items.push(item);
                return;
            }
        }
        self.index.insert(typ.to_string(), self.entries.len());
        self.entries.push(Some((typ.to_string(), vec![item])));
    }

    fn pop(&mut self, typ: &str) -> Option<Vec<DataItem>> {
        let i = self.index.remove(typ)?;
        let (_, items) = self.entries[i].take()?;
        if self.entries.len() > 2 * self.index.len() + 16 {
            // Costs O(live entries), paid for by the at least as many
            // pops that made the holes.
            self.entries.retain(Option::is_some);
            for (i, (name, _)) in self.entries.iter().flatten().enumerate() {
                if let Some(slot) = self.index.get_mut(name) {
                    *slot = i;
                }
            }
        }
        Some(items)
    }

    fn iter(&self) -> impl Iterator<Item = &(String, Vec<DataItem>)> {
        self.entries.iter().flatten()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }
}

fn item_size(d: &DataItem) -> usize {
    ITEM_OVERHEAD
        + match d {
            DataItem::None => 0,
            DataItem::Bytes(b) => b.len(),
            DataItem::Literal(h, l) => h.len() + l.len(),
        }
}

/// A tagged completion: status word and imaplib's `[data]`.
pub type Completion = (String, Vec<DataItem>);

/// Where `poll_response` stopped inside an untagged response.
#[derive(Debug, Default)]
enum Partial {
    #[default]
    Idle,
    /// Have `dat` of response `typ`; it may announce a literal.
    Body { first: Vec<u8>, typ: String, dat: Vec<u8> },
    /// A literal was stored; the trailer line is next.
    Trailer { first: Vec<u8>, typ: String },
}

/// One imaplib session's protocol state.
#[derive(Debug)]
pub struct Session {
    framer: Framer,
    tagpre: Vec<u8>,
    tagnum: u64,
    tagged: Vec<(Vec<u8>, Option<Completion>)>,
    untagged: Untagged,
    partial: Partial,
    extra_commands: Vec<(String, State)>,
    /// The text of the last continuation request (`None` for a bare `+`).
    pub(crate) continuation: Option<Vec<u8>>,
    /// imaplib's `state`.
    pub(crate) state: State,
    /// imaplib's `capabilities`, upper-cased.
    pub(crate) capabilities: Vec<String>,
    /// imaplib's `PROTOCOL_VERSION`.
    pub(crate) protocol_version: String,
    /// imaplib's `welcome`.
    pub(crate) welcome: Vec<u8>,
    /// imaplib's `utf8_enabled`.
    pub(crate) utf8_enabled: bool,
    /// imaplib's `is_readonly`: the READ-ONLY state the caller asked for.
    pub(crate) is_readonly: bool,
    /// imaplib's `debug`; 4 or more records the traffic in [`Session::take_log`].
    pub(crate) debug: u32,
    log: Vec<String>,
    /// While IDLE runs, untagged responses queue here instead (imaplib's
    /// `_idle_capture`).
    capture: Option<std::collections::VecDeque<(String, DataItem)>>,
    /// When set, only untagged responses of this name are queued (a
    /// streaming FETCH); the others are stored as usual.
    capture_only: Option<&'static str>,
    /// Whether captured responses are queued in wire form (see `wire`),
    /// for the typed parser, rather than as imaplib's items.
    capture_wire: bool,
    /// Bytes held by untagged responses (and the IDLE queue).
    untagged_bytes: usize,
    /// The response being read for a streaming FETCH, in wire form: its
    /// literals go from the framer straight behind their announcement, so
    /// the typed parser reads the framed bytes once instead of a copy
    /// re-joined from imaplib's `(header, literal)` items.
    wire: Option<Vec<u8>>,
    /// The bound on `untagged_bytes` ([`MAX_UNTAGGED_BYTES`] by default).
    pub(crate) untagged_limit: usize,
}

/// Bytes reserved after a literal in a wire-form response for the rest of
/// its line.
const TRAILER_ROOM: usize = 256;

/// imaplib's `abort('socket error: EOF')`, kind `eof`.
pub fn eof() -> ImapError {
    ImapError::abort(ErrorKind::Eof, "socket error: EOF")
}

/// imaplib's `_Literal`: `.*{(?P<size>\d+)}$`. A size too large for u64
/// saturates: it can never arrive anyway.
pub fn literal_size(dat: &[u8]) -> Option<u64> {
    let body = dat.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&c| c == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Length of the `[A-Z]+` (or, with `dash`, `[A-Z-]+`) run at the start.
fn upper_run(b: &[u8], dash: bool) -> usize {
    b.iter()
        .take_while(|&&c| c.is_ascii_uppercase() || (dash && c == b'-'))
        .count()
}

/// imaplib's `Untagged_response` / `_Untagged_status` match of a line:
/// `(type, data)`.
fn match_untagged(line: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = line.strip_prefix(b"* ")?;
    let n = upper_run(rest, true);
    if n > 0 {
        let typ = String::from_utf8_lossy(&rest[..n]).into_owned();
        let dat = rest[n..].strip_prefix(b" ").map(<[u8]>::to_vec).unwrap_or_default();
        return Some((typ, dat));
    }
    let d = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || rest.get(d) != Some(&b' ') {
        return None;
    }
    let after = &rest[d + 1..];
    let n = upper_run(after, true);
    if n == 0 {
        return None;
    }
    let typ = String::from_utf8_lossy(&after[..n]).into_owned();
    let mut dat = rest[..d].to_vec();
    if after.get(n) == Some(&b' ') && after.len() > n + 1 {
        dat.push(b' ');
        dat.extend_from_slice(&after[n + 1..]);
    }
    Some((typ, dat))
}

/// imaplib's `Response_code`: `\[(?P<type>[A-Z-]+)( (?P<data>.*))?\]` at
/// the start of `dat`; the greedy data runs to the last `]`, so a `]`
/// inside PERMANENTFLAGS survives.
pub fn match_response_code(dat: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = dat.strip_prefix(b"[")?;
    let n = upper_run(rest, true);
    if n == 0 {
        return None;
    }
    let typ = String::from_utf8_lossy(&rest[..n]).into_owned();
    let after = &rest[n..];
    if after.first() == Some(&b' ') {
        if let Some(close) = after.iter().rposition(|&c| c == b']') {
            if close >= 1 {
                return Some((typ, after[1..close].to_vec()));
            }
        }
    }
    if after.first() == Some(&b']') {
        return Some((typ, Vec::new()));
    }
    None
}

impl Session {
    /// A session whose tag prefix is `Int2AP(4096 + seed % 61440)`, i.e.
    /// imaplib's `random.randint(4096, 65535)` given a random `seed`.
    pub fn new(seed: u64) -> Self {
        Session {
            framer: Framer::new(),
            tagpre: util::int2ap(4096 + seed % (65536 - 4096)),
            tagnum: 0,
            tagged: Vec::new(),
            untagged: Untagged::default(),
            partial: Partial::Idle,
            extra_commands: Vec::new(),
            continuation: None,
            state: Logout,
            capabilities: Vec::new(),
            protocol_version: String::new(),
            welcome: Vec::new(),
            utf8_enabled: false,
            is_readonly: false,
            debug: 0,
            log: Vec::new(),
            capture: None,
            capture_only: None,
            capture_wire: false,
            untagged_bytes: 0,
            untagged_limit: MAX_UNTAGGED_BYTES,
            wire: None,
        }
    }

    /// The tag prefix (imaplib's `tagpre`).
    pub fn tag_prefix(&self) -> &[u8] {
        &self.tagpre
    }

    /// The framer, for the driver's raw `read`/`readline` and for feeding.
    #[cfg(not(any(test, feature = "test-hooks")))]
    pub(crate) fn framer(&mut self) -> &mut Framer {
        &mut self.framer
    }

    /// The framer, public for tests, fuzzing and benchmarks that feed a
    /// session bytes without a client (feature `test-hooks`).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn framer(&mut self) -> &mut Framer {
        &mut self.framer
    }

    /// Bytes received from the server and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// Log lines recorded at `debug >= 4` since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// A note for `debug >= 1` (what the client did on the caller's
    /// behalf, such as a retry), in the same log as the traffic.
    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        if self.debug >= 1 {
            self.log.push(line());
        }
    }

    pub(crate) fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.debug >= 4 {
            self.log.push(line());
        }
    }

    /// The states `name` is allowed in: imaplib's table plus names added by
    /// `xatom`.
    pub fn allowed_states(&self, name: &str) -> Option<Vec<State>> {
        if let Some(states) = command_states(name) {
            return Some(states.to_vec());
        }
        self.extra_commands
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| vec![*s])
    }

    /// imaplib's `xatom` side effect: an unknown command becomes allowed in
    /// the current state.
    pub fn register_command(&mut self, name: &str) {
        if self.allowed_states(name).is_none() {
            self.extra_commands.push((name.to_string(), self.state));
        }
    }

    /// imaplib's state check and its message.
    pub fn check_state(&self, name: &str) -> Result<()> {
        let allowed = self
            .allowed_states(name)
            .ok_or_else(|| ImapError::error(format!("Unknown IMAP4 command: {name}")))?;
        if allowed.contains(&self.state) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(|s| s.name()).collect();
        Err(ImapError::error_kind(
            ErrorKind::State,
            format!(
                "command {name} illegal in state {}, only allowed in states {}",
                self.state.name(),
                names.join(", ")
            ),
        ))
    }

    /// Sets the bound on what untagged responses may hold at once
    /// ([`MAX_UNTAGGED_BYTES`] by default).
    pub fn set_untagged_limit(&mut self, bytes: usize) {
        self.untagged_limit = bytes;
    }

    /// imaplib's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Forces the state, for parsers driven without a login (fuzzing,
    /// benchmarks, tests; feature `test-hooks`); the client changes it only
    /// by the protocol.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn force_state(&mut self, state: State) {
        self.state = state;
    }

    /// Whether the server announced `cap` (upper case), the one
    /// capability test of the crate.
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }

    /// Whether a literal of `len` bytes may be sent without waiting for a
    /// continuation (RFC 7888 LITERAL+, or LITERAL- up to 4096 bytes).
    pub fn non_synchronizing(&self, len: usize) -> bool {
        self.has_capability("LITERAL+") || (self.has_capability("LITERAL-") && len <= 4096)
    }

    /// imaplib's `_command` up to the send: checks the state, clears old
    /// OK/NO/BAD data, raises `readonly` if the mailbox turned READ-ONLY,
    /// allocates a tag and lays out the bytes, with a continuation wait
    /// before each synchronizing literal. `message` is APPEND's literal.
    /// `redact_after` hides arguments from that index on in the debug log.
    pub fn start_command(
        &mut self,
        name: &str,
        args: &[Piece],
        message: Option<&[u8]>,
        redact_after: Option<usize>,
    ) -> Result<CommandPlan> {
        self.check_state(name)?;
        for stale in ["OK", "NO", "BAD"] {
            self.pop_untagged(stale);
        }
        if self.untagged.contains("READ-ONLY") && !self.is_readonly {
            return Err(ImapError::readonly("mailbox status changed to READ-ONLY"));
        }
        let mut tag = self.tagpre.clone();
        tag.extend_from_slice(self.tagnum.to_string().as_bytes());
        self.tagnum += 1;
        self.tagged.push((tag.clone(), None));

        let mut actions = Vec::new();
        let mut line = tag.clone();
        line.push(b' ');
        line.extend_from_slice(name.as_bytes());
        let mut shown = String::from_utf8_lossy(&line).into_owned();
        for (i, arg) in args.iter().enumerate() {
            line.push(b' ');
            let redact = redact_after.is_some_and(|r| i >= r);
            match arg {
                Piece::Text(t) => {
                    line.extend_from_slice(t);
                    shown.push(' ');
                    shown.push_str(&if redact {
                        "<redacted>".into()
                    } else {
                        String::from_utf8_lossy(t).into_owned()
                    });
                }
                Piece::Literal(l) => {
                    self.push_literal(&mut actions, &mut line, b"", l);
                    shown.push_str(&if redact {
                        " <redacted>".into()
                    } else {
                        format!(" {{{}}} {}", l.len(), pyrepr::bytes_truncated(l, 80))
                    });
                }
            }
        }
        if let Some(msg) = message {
            if self.utf8_enabled {
                // RFC 6855: the message goes inside UTF8 (...) as a literal8.
                line.extend_from_slice(b" UTF8 (");
                self.push_literal(&mut actions, &mut line, b"~", msg);
                line.push(b')');
            } else {
                line.push(b' ');
                self.push_literal(&mut actions, &mut line, b"", msg);
            }
            shown.push_str(&format!(" <message of {} bytes>", msg.len()));
        }
        line.extend_from_slice(b"\r\n");
        actions.push(Action::Send(line));
        self.trace(|| format!("> {shown}"));
        Ok(CommandPlan { tag, actions })
    }

    fn push_literal(&self, actions: &mut Vec<Action>, line: &mut Vec<u8>, prefix: &[u8], data: &[u8]) {
        let plus = self.non_synchronizing(data.len());
        line.extend_from_slice(prefix);
        line.extend_from_slice(format!("{{{}{}}}\r\n", data.len(), if plus { "+" } else { "" }).as_bytes());
        actions.push(Action::Send(std::mem::take(line)));
        if !plus {
            actions.push(Action::AwaitContinuation);
        }
        line.extend_from_slice(data);
    }

    /// The completion of `tag` if it has arrived, removing it.
    pub fn take_tagged(&mut self, tag: &[u8]) -> Option<(String, Vec<DataItem>)> {
        let pos = self.tagged.iter().position(|(t, r)| t == tag && r.is_some())?;
        self.tagged.remove(pos).1
    }

    /// Whether `tag` has completed (without removing it).
    pub fn is_completed(&self, tag: &[u8]) -> bool {
        self.tagged.iter().any(|(t, r)| t == tag && r.is_some())
    }

    /// imaplib's `_append_untagged`.
    ///
    /// # Errors
    /// `abort` when the stored responses would exceed
    /// `Session::untagged_limit`.
    pub fn append_untagged(&mut self, typ: &str, item: DataItem) -> Result<()> {
        self.check_budget(self.cost(typ, &item))?;
        self.store_untagged(typ, item);
        Ok(())
    }

    /// `abort` when `more` bytes would take the stored responses past
    /// [`Session::untagged_limit`].
    fn check_budget(&self, more: usize) -> Result<()> {
        if self.untagged_bytes.saturating_add(more) > self.untagged_limit {
            let limit = self.untagged_limit;
            let shown = if limit.is_multiple_of(1 << 20) {
                format!("{} MiB", limit >> 20)
            } else {
                format!("{limit} bytes")
            };
            return Err(ImapError::abort(
                ErrorKind::Limit,
                format!("untagged responses exceed {shown}: the server sent more than this session holds"),
            ));
        }
        Ok(())
    }

    /// Whether a response of type `typ` goes to the capture queue.
    fn captures(&self, typ: &str) -> bool {
        self.capture.is_some() && self.capture_only.is_none_or(|only| only == typ)
    }

    /// What storing `item` under `typ` adds to `untagged_bytes`: a queued
    /// item keeps its own copy of the name; a stored one shares its
    /// type's entry, paid for by the type's first item.
    fn cost(&self, typ: &str, item: &DataItem) -> usize {
        item_size(item)
            + if self.captures(typ) {
                typ.len()
            } else if self.untagged.contains(typ) {
                0
            } else {
                type_size(typ)
            }
    }

    /// Stores (or queues) `item`, counting it without a check.
    fn store_untagged(&mut self, typ: &str, item: DataItem) {
        self.untagged_bytes += self.cost(typ, &item);
        if self.captures(typ) {
            if let Some(queue) = &mut self.capture {
                queue.push_back((typ.to_string(), item));
            }
        } else {
            self.untagged.push(typ, item);
        }
    }

    /// Pops the untagged data stored under `name`.
    pub fn pop_untagged(&mut self, name: &str) -> Option<Vec<DataItem>> {
        let items = self.untagged.pop(name)?;
        let size = type_size(name) + items.iter().map(item_size).sum::<usize>();
        self.untagged_bytes = self.untagged_bytes.saturating_sub(size);
        Some(items)
    }

    /// Uncounts a queued item taken out of the capture queue.
    fn forget_queued(&mut self, typ: &str, item: &DataItem) {
        self.untagged_bytes = self.untagged_bytes.saturating_sub(item_size(item) + typ.len());
    }

    /// The untagged data under `name`, left in place.
    pub fn get_untagged(&self, name: &str) -> Option<&[DataItem]> {
        self.untagged.get(name)
    }

    /// Whether anything is stored under `name`.
    pub fn has_untagged(&self, name: &str) -> bool {
        self.get_untagged(name).is_some()
    }

    /// All stored untagged responses, in order of first arrival (a type
    /// popped and stored again counts as arriving anew, as with imaplib's
    /// dict).
    pub fn untagged_responses(&self) -> impl Iterator<Item = &(String, Vec<DataItem>)> {
        self.untagged.iter()
    }

    /// Starts queueing untagged responses: all of them (IDLE), or only
    /// those named `only` (a streaming FETCH), in wire form when `wire`
    /// (one `Bytes` per response, literals inline, for the typed parser).
    pub fn start_capture(&mut self, only: Option<&'static str>, wire: bool) {
        self.capture = Some(std::collections::VecDeque::new());
        self.capture_only = only;
        self.capture_wire = wire;
    }

    /// The next queued response of an IDLE.
    pub fn next_captured(&mut self) -> Option<(String, DataItem)> {
        let next = self.capture.as_mut()?.pop_front()?;
        self.forget_queued(&next.0, &next.1);
        Some(next)
    }

    /// The next queued response, once no response is half read: the
    /// pieces of a response with literals are queued as they arrive.
    pub fn next_whole_captured(&mut self) -> Option<(String, DataItem)> {
        if self.mid_response() {
            return None;
        }
        self.next_captured()
    }

    /// Ends a capture: what was not read goes to the untagged responses.
    pub fn end_capture(&mut self) {
        self.capture_only = None;
        if let Some(queue) = self.capture.take() {
            // Already in memory: recounted as stored, not refused.
            for (typ, item) in queue {
                self.forget_queued(&typ, &item);
                self.store_untagged(&typ, item);
            }
        }
    }

    /// Drops all untagged responses (as `select` does).
    pub fn clear_untagged(&mut self) {
        self.untagged.clear();
        self.untagged_bytes = self.capture.iter().flatten().map(|(t, d)| item_size(d) + t.len()).sum();
    }

    /// Whether a response is half read (its first line taken, a literal
    /// or the rest still to come).
    pub fn mid_response(&self) -> bool {
        !matches!(self.partial, Partial::Idle)
    }

    /// Whether the next input is literal data (for the driver's line deadline).
    pub fn awaiting_literal(&self) -> bool {
        matches!(&self.partial, Partial::Body { dat, .. } if literal_size(dat).is_some())
    }

    /// imaplib's `_check_bye`: a stored BYE raises `abort` with its text.
    pub fn check_bye(&self) -> Result<()> {
        match self.get_untagged("BYE").and_then(<[DataItem]>::last) {
            Some(item) => Err(ImapError::abort(
                ErrorKind::Bye,
                String::from_utf8_lossy(item.first_bytes()).into_owned(),
            )),
            None => Ok(()),
        }
    }

    /// imaplib's `_untagged_response(typ, dat, name)`.
    pub fn untagged_response(&mut self, typ: String, dat: Vec<DataItem>, name: &str) -> (String, Vec<DataItem>) {
        if typ == "NO" {
            return (typ, dat);
        }
        match self.pop_untagged(name) {
            Some(data) => (typ, data),
            None => (typ, vec![DataItem::None]),
        }
    }

    /// imaplib's `_get_line` on buffered input.
    fn get_line(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(mut line) = self.framer.readline()? else {
            return Ok(None);
        };
        if line.is_empty() {
            return Err(eof());
        }
        if !line.ends_with(b"\r\n") {
            return Err(ImapError::malformed("socket error: unterminated line", &line));
        }
        line.truncate(line.len() - 2);
        self.trace(|| format!("< {}", pyrepr::bytes_truncated(&line, 400)));
        Ok(Some(line))
    }

    fn bracket(&mut self, typ: &str, dat: &[u8]) -> Result<()> {
        if matches!(typ, "OK" | "NO" | "BAD") {
            if let Some((code, data)) = match_response_code(dat) {
                self.append_untagged(&code, DataItem::Bytes(data))?;
            }
        }
        Ok(())
    }

    fn match_tagged(&self, line: &[u8]) -> Option<(Vec<u8>, String, Vec<u8>)> {
        let rest = line.strip_prefix(self.tagpre.as_slice())?;
        let d = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if d == 0 || rest.get(d) != Some(&b' ') {
            return None;
        }
        let after = &rest[d + 1..];
        let n = upper_run(after, false);
        if n == 0 || after.get(n) != Some(&b' ') {
            return None;
        }
        Some((
            line[..self.tagpre.len() + d].to_vec(),
            String::from_utf8_lossy(&after[..n]).into_owned(),
            after[n + 1..].to_vec(),
        ))
    }

    /// imaplib's `_get_response` on buffered input: stores one whole
    /// response (an untagged one with all its literals) or reports a
    /// continuation; `NeedInput` if the buffer does not hold it yet.
    ///
    /// The untagged response still arriving counts against
    /// `Session::untagged_limit` with what is stored: a driver that
    /// feeds one read and polls again can buffer at most one read more
    /// than the limit allows, whatever size the server announced.
    ///
    /// # Errors
    /// `abort` for EOF, a line not ending in CRLF, an unknown tag or an
    /// unrecognised line (quoting it); `error` for an over-long line;
    /// `abort` of kind `limit` once stored and arriving untagged data
    /// exceed the limit.
    pub fn poll_response(&mut self) -> Result<Poll> {
        let polled = self.poll_one()?;
        if polled == Poll::NeedInput {
            self.check_budget(self.in_flight())?;
        }
        Ok(polled)
    }

    /// Bytes held for the untagged response being read and not counted
    /// in `untagged_bytes` yet: its lines and wire form so far, and, since
    /// at `NeedInput` every unread byte belongs to it, the whole input
    /// buffer. An incomplete line that is not untagged (a tagged
    /// completion, a continuation) is left to the line limit.
    fn in_flight(&self) -> usize {
        let lines = match &self.partial {
            Partial::Idle => 0,
            Partial::Body { first, dat, .. } => first.len() + dat.len(),
            Partial::Trailer { first, .. } => first.len(),
        };
        let unread = self.framer.unread();
        let arriving = if self.mid_response() || unread.first() == Some(&b'*') {
            unread.len()
        } else {
            0
        };
        lines + self.wire.as_ref().map_or(0, Vec::len) + arriving
    }

    /// Drops the input buffered and the response half read: the
    /// connection is closed for good.
    pub fn discard_input(&mut self) {
        self.framer.discard();
        self.partial = Partial::Idle;
        self.wire = None;
    }

    fn poll_one(&mut self) -> Result<Poll> {
        loop {
            match std::mem::take(&mut self.partial) {
                Partial::Idle => {
                    let Some(line) = self.get_line()? else {
                        return Ok(Poll::NeedInput);
                    };
                    if let Some((tag, typ, dat)) = self.match_tagged(&line) {
                        let Some(slot) = self.tagged.iter_mut().find(|(t, _)| *t == tag) else {
                            return Err(ImapError::malformed("unexpected tagged response", &line));
                        };
                        slot.1 = Some((typ.clone(), vec![DataItem::Bytes(dat.clone())]));
                        self.bracket(&typ, &dat)?;
                        return Ok(Poll::Response(line));
                    }
                    if let Some((typ, dat)) = match_untagged(&line) {
                        if self.capture.is_some() && self.capture_wire && self.capture_only == Some(typ.as_str()) {
                            self.wire = Some(Vec::new());
                        }
                        self.partial = Partial::Body { first: line, typ, dat };
                        continue;
                    }
                    if let Some(rest) = line.strip_prefix(b"+") {
                        self.continuation = rest.strip_prefix(b" ").map(<[u8]>::to_vec);
                        return Ok(Poll::Continuation);
                    }
                    return Err(ImapError::malformed("unexpected response", &line));
                }
                Partial::Body { first, typ, dat } => {
                    if let (Some(size), Some(wire_len)) = (literal_size(&dat), self.wire.as_ref().map(Vec::len)) {
                        if !self.framer.can_read(size) {
                            self.partial = Partial::Body { first, typ, dat };
                            return Ok(Poll::NeedInput);
                        }
                        self.trace(|| format!("read literal size {size}"));
                        let literal = usize::try_from(size).unwrap_or(usize::MAX).min(self.framer.buffered());
                        let held = wire_len + dat.len() + 2 + literal;
                        self.check_budget(held)?;
                        let wire = self.wire.as_mut().expect("checked above");
                        // Room for the line after the literal too (`)` or
                        // a few items): growing for it would copy the
                        // whole message once more.
                        wire.reserve(dat.len() + 2 + literal + TRAILER_ROOM);
                        wire.extend_from_slice(&dat);
                        wire.extend_from_slice(b"\r\n");
                        self.framer.read_into(size, wire);
                        self.partial = Partial::Trailer { first, typ };
                        continue;
                    }
                    if let Some(size) = literal_size(&dat) {
                        self.trace(|| format!("read literal size {size}"));
                        match self.framer.read(size) {
                            None => {
                                self.partial = Partial::Body { first, typ, dat };
                                return Ok(Poll::NeedInput);
                            }
                            Some(data) => {
                                self.append_untagged(&typ, DataItem::Literal(dat, data))?;
                                self.partial = Partial::Trailer { first, typ };
                                continue;
                            }
                        }
                    }
                    if let Some(mut wire) = self.wire.take() {
                        wire.extend_from_slice(&dat);
                        self.append_untagged(&typ, DataItem::Bytes(wire))?;
                        return Ok(Poll::Response(first));
                    }
                    // imaplib stores the line before the code it carries.
                    self.append_untagged(&typ, DataItem::Bytes(dat.clone()))?;
                    self.bracket(&typ, &dat)?;
                    return Ok(Poll::Response(first));
                }
                Partial::Trailer { first, typ } => match self.get_line()? {
                    None => {
                        self.partial = Partial::Trailer { first, typ };
                        return Ok(Poll::NeedInput);
                    }
                    Some(dat) => self.partial = Partial::Body { first, typ, dat },
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut s = Session::new(0);
        s.state = State::Selected;
        s
    }

    fn feed(s: &mut Session, data: &[u8]) {
        s.framer().feed(data);
    }

    #[test]
    fn tag_prefix_is_int2ap_of_range() {
        assert_eq!(Session::new(0).tag_prefix(), b"BAAA");
        assert_eq!(Session::new(65535 - 4096).tag_prefix(), b"PPPP");
    }

    #[test]
    fn fetch_literal_becomes_tuple_then_trailer() {
        let mut s = session();
        let plan = s
            .start_command(
                "FETCH",
                &[Piece::Text(b"1".to_vec()), Piece::Text(b"(RFC822)".to_vec())],
                None,
                None,
            )
            .unwrap();
        assert_eq!(plan.actions, vec![Action::Send(b"BAAA0 FETCH 1 (RFC822)\r\n".to_vec())]);
        feed(&mut s, b"* 1 FETCH (UID 1 RFC822 {5}\r\nhel");
        assert_eq!(s.poll_response().unwrap(), Poll::NeedInput);
        feed(&mut s, b"lo)\r\nBAAA0 OK done\r\n");
        assert_eq!(
            s.poll_response().unwrap(),
            Poll::Response(b"* 1 FETCH (UID 1 RFC822 {5}".to_vec())
        );
        assert_eq!(s.poll_response().unwrap(), Poll::Response(b"BAAA0 OK done".to_vec()));
        assert_eq!(
            s.take_tagged(b"BAAA0").unwrap(),
            ("OK".to_string(), vec![DataItem::Bytes(b"done".to_vec())])
        );
        assert_eq!(
            s.pop_untagged("FETCH").unwrap(),
            vec![
                DataItem::Literal(b"1 (UID 1 RFC822 {5}".to_vec(), b"hello".to_vec()),
                DataItem::Bytes(b")".to_vec())
            ]
        );
    }

    #[test]
    fn response_codes_stored_under_their_name() {
        let mut s = session();
        feed(
            &mut s,
            b"* OK [PERMANENTFLAGS (\\Answered \\* ])] Flags permitted.\r\n* OK [READ-WRITE] rw\r\n* 3 EXISTS\r\n",
        );
        for _ in 0..3 {
            assert!(matches!(s.poll_response().unwrap(), Poll::Response(_)));
        }
        assert_eq!(
            s.pop_untagged("PERMANENTFLAGS").unwrap(),
            vec![DataItem::Bytes(b"(\\Answered \\* ])".to_vec())]
        );
        assert_eq!(
            s.pop_untagged("READ-WRITE").unwrap(),
            vec![DataItem::Bytes(b"".to_vec())]
        );
        assert_eq!(s.pop_untagged("EXISTS").unwrap(), vec![DataItem::Bytes(b"3".to_vec())]);
        assert_eq!(s.pop_untagged("OK").unwrap().len(), 2);
    }

    #[test]
    fn state_table_message() {
        let mut s = Session::new(0);
        s.state = State::Auth;
        let err = s.start_command("SEARCH", &[], None, None).unwrap_err();
        assert_eq!(
            err,
            ImapError::error_kind(
                ErrorKind::State,
                "command SEARCH illegal in state AUTH, only allowed in states SELECTED"
            )
        );
        let err = s.start_command("APPEND", &[], None, None);
        assert!(err.is_ok());
        s.state = State::NonAuth;
        assert_eq!(
            s.check_state("LIST").unwrap_err().message(),
            "command LIST illegal in state NONAUTH, only allowed in states AUTH, SELECTED"
        );
    }

    #[test]
    fn synchronizing_and_non_synchronizing_literals() {
        let mut s = session();
        s.state = State::Auth;
        let plan = s
            .start_command("CREATE", &[Piece::Literal(b"caf\xc3\xa9".to_vec())], None, None)
            .unwrap();
        assert_eq!(
            plan.actions,
            vec![
                Action::Send(b"BAAA0 CREATE {5}\r\n".to_vec()),
                Action::AwaitContinuation,
                Action::Send(b"caf\xc3\xa9\r\n".to_vec()),
            ]
        );
        s.capabilities.push("LITERAL+".into());
        let plan = s
            .start_command("APPEND", &[Piece::Text(b"INBOX".to_vec())], Some(b"hi"), None)
            .unwrap();
        assert_eq!(
            plan.actions,
            vec![
                Action::Send(b"BAAA1 APPEND INBOX {2+}\r\n".to_vec()),
                Action::Send(b"hi\r\n".to_vec())
            ]
        );
        s.utf8_enabled = true;
        let plan = s
            .start_command("APPEND", &[Piece::Text(b"INBOX".to_vec())], Some(b"hi"), None)
            .unwrap();
        assert_eq!(
            plan.actions,
            vec![
                Action::Send(b"BAAA2 APPEND INBOX UTF8 (~{2+}\r\n".to_vec()),
                Action::Send(b"hi)\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn malformed_lines_abort_with_bytes() {
        let mut s = session();
        feed(&mut s, b"garbage here\r\n");
        let err = s.poll_response().unwrap_err();
        assert_eq!(err, ImapError::malformed("unexpected response", b"garbage here"));

        let mut s = session();
        feed(&mut s, b"* OK bare lf\n");
        assert_eq!(
            s.poll_response().unwrap_err(),
            ImapError::malformed("socket error: unterminated line", b"* OK bare lf\n")
        );

        let mut s = session();
        feed(&mut s, b"BAAA7 OK who?\r\n");
        assert!(s
            .poll_response()
            .unwrap_err()
            .message()
            .starts_with("unexpected tagged response"));

        let mut s = session();
        s.framer().feed_eof();
        assert_eq!(s.poll_response().unwrap_err(), eof());
    }

    #[test]
    fn truncated_huge_literal_aborts_without_allocation() {
        let mut s = session();
        feed(&mut s, b"* 1 FETCH (BODY[] {18446744073709551615}\r\nabc");
        assert_eq!(s.poll_response().unwrap(), Poll::NeedInput);
        s.framer().feed_eof();
        assert_eq!(s.poll_response().unwrap_err(), eof());
    }

    #[test]
    fn continuation_and_status_forms() {
        let mut s = session();
        feed(&mut s, b"+ go ahead\r\n+\r\n* 1 FETCH \r\n* NO\r\n");
        assert_eq!(s.poll_response().unwrap(), Poll::Continuation);
        assert_eq!(s.continuation.as_deref(), Some(&b"go ahead"[..]));
        assert_eq!(s.poll_response().unwrap(), Poll::Continuation);
        assert_eq!(s.continuation, None);
        s.poll_response().unwrap();
        assert_eq!(s.pop_untagged("FETCH").unwrap(), vec![DataItem::Bytes(b"1".to_vec())]);
        s.poll_response().unwrap();
        assert_eq!(s.pop_untagged("NO").unwrap(), vec![DataItem::Bytes(b"".to_vec())]);
    }

    #[test]
    fn a_flood_of_untagged_responses_is_bounded() {
        let mut s = session();
        s.set_untagged_limit(1 << 20);
        let flood = b"* 1 EXISTS\r\n".repeat(20_000);
        s.framer().feed(&flood);
        let err = loop {
            match s.poll_response() {
                Ok(Poll::Response(_)) => {}
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert!(err.message().starts_with("untagged responses exceed 1 MiB"), "{err}");
        // Taking responses frees their budget.
        let n = s.pop_untagged("EXISTS").unwrap().len();
        assert!(n > 10_000 && n < 20_000, "{n}");
        assert_eq!(s.untagged_bytes, 0);
    }

    #[test]
    fn literal_size_pattern() {
        assert_eq!(literal_size(b"1 (RFC822 {12}"), Some(12));
        assert_eq!(literal_size(b"1 (BINARY[] ~{12}"), Some(12));
        assert_eq!(literal_size(b"1 (X {}"), None);
        assert_eq!(literal_size(b"1 (X {1a}"), None);
        assert_eq!(literal_size(b"{99999999999999999999999}"), Some(u64::MAX));
    }
}
