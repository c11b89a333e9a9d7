//! A command-driven IMAP server on 127.0.0.1 for `wasimap watch` tests:
//! unlike [`crate::script_server`], which plays one fixed script to one
//! connection, it answers whatever commands arrive (CAPABILITY, LOGIN,
//! SELECT, UID SEARCH, UID FETCH, STATUS, IDLE, NOOP, LOGOUT...) on every
//! connection, from one mailbox the test can add messages to, so a
//! watcher can reconnect and a plugin can work on a lent session. Its
//! [`Hostility`] is what a hostile server does on top.
//!
//! Every connection's thread ends when the server is dropped (reads time
//! out every 100 ms to look), and a bounded number of connections is
//! served.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server does besides answering honestly.
#[derive(Debug, Clone, Default)]
pub enum Hostility {
    /// Nothing.
    #[default]
    None,
    /// Every Message-ID it sends is `<TEXT@x>`: a server that echoes a
    /// secret back in message data.
    MessageId(String),
    /// Every LOGIN is refused with `NO` and this text (a server quoting
    /// the password it was sent).
    RefuseLogin(String),
    /// After SELECT's tagged OK, an untagged FETCH announcing a literal of
    /// this many bytes, then the bytes (`x`), as fast as the client reads.
    HugeLiteral(u64),
    /// After SELECT, untagged responses of distinct types, this many.
    DistinctTypes(usize),
    /// After LOGIN, never answer again (the connection stays open).
    Stall,
    /// Never answer a FETCH (the plugin's reads on its session stall).
    StallFetch,
    /// The greeting says this text (`* OK TEXT`).
    Greeting(String),
    /// SELECT is answered with one untagged line every 500 ms, for ever,
    /// never completed (a slow drip that no read timeout ends).
    DripSelect,
    /// As Dovecot does for a message appended while a SEARCH runs: the
    /// SEARCH's answer leaves out the messages that came since this
    /// connection's previous SEARCH and announces them with EXISTS, which
    /// the IDLE after it does not repeat.
    LateSearch,
}

/// The server's one mailbox, INBOX.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// Its UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UIDs of its messages, ascending.
    pub uids: Vec<u32>,
}

/// A fake IMAP server, stopped when dropped.
pub struct FakeImap {
    /// The port it listens on.
    pub port: u16,
    mailbox: Arc<Mutex<Mailbox>>,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

/// Most connections one server serves.
const MAX_CONNECTIONS: usize = 500;

impl FakeImap {
    /// Starts serving `mailbox` with `hostility`.
    pub fn start(mailbox: Mailbox, hostility: Hostility) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let mailbox = Arc::new(Mutex::new(mailbox));
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (mailbox, stop, accepted) = (mailbox.clone(), stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                let mut threads = Vec::new();
                while !stop.load(Ordering::SeqCst) && accepted.load(Ordering::SeqCst) < MAX_CONNECTIONS {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            let conn = Conn {
                                mailbox: mailbox.clone(),
                                stop: stop.clone(),
                                hostility: hostility.clone(),
                            };
                            threads.push(std::thread::spawn(move || conn.serve(stream)));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                for t in threads {
                    let _ = t.join();
                }
            })
        };
        FakeImap {
            port,
            mailbox,
            stop,
            accepted,
            handle: Some(handle),
        }
    }

    /// Starts serving INBOX with `uidvalidity` and messages `uids`.
    pub fn serving(uidvalidity: u32, uids: Vec<u32>, hostility: Hostility) -> FakeImap {
        FakeImap::start(Mailbox { uidvalidity, uids }, hostility)
    }

    /// Adds a message; its UID.
    pub fn add_message(&self) -> u32 {
        let mut m = self.mailbox.lock().unwrap();
        let uid = m.uids.last().map_or(1, |u| u + 1);
        m.uids.push(uid);
        uid
    }

    /// Makes the mailbox anew: UIDVALIDITY `uidvalidity`, messages `uids`
    /// (sessions already open see it at their next SELECT or STATUS).
    pub fn recreate(&self, uidvalidity: u32, uids: Vec<u32>) {
        *self.mailbox.lock().unwrap() = Mailbox { uidvalidity, uids };
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Conn {
    mailbox: Arc<Mutex<Mailbox>>,
    stop: Arc<AtomicBool>,
    hostility: Hostility,
}

/// `n` in base 26 as letters (`A`, `B`, ... `BA`): distinct type names.
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// The UIDs of `set` (`1:*`, `4`, `2,5:7`) among `uids`.
fn in_set(set: &str, uids: &[u32]) -> Vec<u32> {
    let max = uids.last().copied().unwrap_or(0);
    let bound = |s: &str| if s == "*" { Some(max) } else { s.parse::<u32>().ok() };
    let mut out: Vec<u32> = Vec::new();
    for part in set.split(',') {
        let (lo, hi) = match part.split_once(':') {
            Some((a, b)) => (bound(a), bound(b)),
            None => (bound(part), bound(part)),
        };
        let (Some(lo), Some(hi)) = (lo, hi) else { continue };
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        out.extend(uids.iter().filter(|&&u| u >= lo && u <= hi));
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl Conn {
    fn serve(self, stream: TcpStream) {
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        // A client that stops reading must not hold the thread past a stop.
        stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let greeting = match &self.hostility {
            Hostility::Greeting(text) => format!("* OK {text}\r\n"),
            _ => "* OK fake IMAP ready\r\n".to_string(),
        };
        if out.write_all(greeting.as_bytes()).is_err() {
            return;
        }
        let mut stalled = false;
        // Messages the previous SEARCH of this connection knew of.
        let mut searched = self.mailbox.lock().unwrap().uids.len();
        while let Some(line) = self.next_line(&mut reader) {
            if stalled {
                continue;
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            let mut words = text.split(' ');
            let tag = words.next().unwrap_or("*").to_string();
            let mut command = words.next().unwrap_or("").to_ascii_uppercase();
            let mut args: Vec<&str> = words.collect();
            let uid = command == "UID";
            if uid {
                command = args.first().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
                args.remove(0);
            }
            let reply = match command.as_str() {
                "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n{tag} OK done\r\n"),
                "LOGIN" => match &self.hostility {
                    Hostility::RefuseLogin(text) => format!("{tag} NO {text}\r\n"),
                    Hostility::Stall => {
                        stalled = true;
                        format!("{tag} OK logged in\r\n")
                    }
                    _ => format!("{tag} OK logged in\r\n"),
                },
                "SELECT" | "EXAMINE" if matches!(self.hostility, Hostility::DripSelect) => {
                    while !self.stop.load(Ordering::SeqCst) {
                        if out.write_all(b"* OK [ALERT] still selecting\r\n").is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    return;
                }
                "SELECT" | "EXAMINE" => {
                    let m = self.mailbox.lock().unwrap().clone();
                    let mut r = format!(
                        "* {} EXISTS\r\n* OK [UIDVALIDITY {}] ok\r\n* OK [UIDNEXT {}] ok\r\n{tag} OK [READ-WRITE] selected\r\n",
                        m.uids.len(),
                        m.uidvalidity,
                        m.uids.last().map_or(1, |u| u.saturating_add(1))
                    );
                    if let Hostility::DistinctTypes(n) = self.hostility {
                        // Letters only: imaplib's type is `[A-Z-]+`.
                        let flood: String = (0..n).map(|i| format!("* X{} flood\r\n", letters(i))).collect();
                        r.push_str(&flood);
                    }
                    if let Hostility::HugeLiteral(size) = self.hostility {
                        if out.write_all(r.as_bytes()).is_err() {
                            return;
                        }
                        self.huge_literal(&mut out, size);
                        return;
                    }
                    r
                }
                "STATUS" => {
                    let m = self.mailbox.lock().unwrap().clone();
                    format!(
                        "* STATUS INBOX (MESSAGES {} UIDVALIDITY {} UIDNEXT {})\r\n{tag} OK done\r\n",
                        m.uids.len(),
                        m.uidvalidity,
                        m.uids.last().map_or(1, |u| u.saturating_add(1))
                    )
                }
                "SEARCH" => {
                    let all = self.mailbox.lock().unwrap().uids.clone();
                    let (uids, late) = match self.hostility {
                        Hostility::LateSearch if all.len() > searched => {
                            (all[..searched].to_vec(), format!("* {} EXISTS\r\n", all.len()))
                        }
                        _ => (all.clone(), String::new()),
                    };
                    searched = all.len();
                    let set = args.iter().skip_while(|a| !a.eq_ignore_ascii_case("UID")).nth(1);
                    let found = set.map_or(uids.clone(), |s| in_set(s, &uids));
                    let list: Vec<String> = found.iter().map(u32::to_string).collect();
                    format!("* SEARCH {}\r\n{late}{tag} OK done\r\n", list.join(" "))
                }
                "FETCH" if matches!(self.hostility, Hostility::StallFetch) => continue,
                "FETCH" => self.fetch(&tag, uid, args.first().copied().unwrap_or("")),
                "IDLE" => {
                    if out.write_all(b"+ idling\r\n").is_err() {
                        return;
                    }
                    match self.idle(&mut reader, &mut out) {
                        Some(()) => format!("{tag} OK idle done\r\n"),
                        None => return,
                    }
                }
                "LOGOUT" => {
                    let _ = out.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes());
                    return;
                }
                "NOOP" | "CLOSE" | "UNSELECT" | "EXPUNGE" | "CHECK" | "ENABLE" => format!("{tag} OK done\r\n"),
                _ => format!("{tag} BAD unknown command\r\n"),
            };
            if out.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// The next line from the client, `None` at EOF, an error or when the
    /// server stops.
    fn next_line(&self, reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) if line.ends_with(b"\n") => return Some(line),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    fn fetch(&self, tag: &str, by_uid: bool, set: &str) -> String {
        let uids = self.mailbox.lock().unwrap().uids.clone();
        let wanted = if by_uid {
            in_set(set, &uids)
        } else {
            let seqs: Vec<u32> = (1..=u32::try_from(uids.len()).unwrap()).collect();
            in_set(set, &seqs).into_iter().map(|s| uids[(s - 1) as usize]).collect()
        };
        let mut r = String::new();
        for u in wanted {
            let seq = uids.iter().position(|&x| x == u).unwrap() + 1;
            let id = match &self.hostility {
                Hostility::MessageId(text) => format!("<{text}@x>"),
                _ => format!("<m{u}@fake>"),
            };
            r.push_str(&format!(
                "* {seq} FETCH (UID {u} ENVELOPE (NIL \"message {u}\" NIL NIL NIL NIL NIL NIL NIL \"{id}\"))\r\n"
            ));
        }
        r.push_str(&format!("{tag} OK done\r\n"));
        r
    }

    /// IDLE until DONE: `* N EXISTS` whenever the mailbox grew. `None` when
    /// the connection ended.
    fn idle(&self, reader: &mut BufReader<TcpStream>, out: &mut TcpStream) -> Option<()> {
        let mut known = self.mailbox.lock().unwrap().uids.len();
        let mut line = Vec::new();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            let now = self.mailbox.lock().unwrap().uids.len();
            if now != known {
                known = now;
                out.write_all(format!("* {now} EXISTS\r\n").as_bytes()).ok()?;
            }
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) if line.ends_with(b"\n") => return Some(()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    /// `* 1 FETCH (BODY[] {size}` and then `size` bytes, as fast as the
    /// client takes them, until it goes away or the server stops.
    fn huge_literal(&self, out: &mut TcpStream, size: u64) {
        if out
            .write_all(format!("* 1 FETCH (BODY[] {{{size}}}\r\n").as_bytes())
            .is_err()
        {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0u64;
        while sent < size && !self.stop.load(Ordering::SeqCst) {
            let n = (size - sent).min(chunk.len() as u64) as usize;
            if out.write_all(&chunk[..n]).is_err() {
                return;
            }
            sent += n as u64;
        }
    }
}
