//! TCP connections with connect and read timeouts. Names are resolved in
//! a helper thread bounded by the connect timeout, and every address is
//! checked (by the caller's [`AddressCheck`], the policy) before it is
//! tried.

use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{AddressCheck, ConnectOptions, TransportError};

/// How long a name lookup may take when the guest set no connect timeout.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most name lookups one [`Lookups`] budget has running at once, by
/// default. A lookup that timed out keeps its thread until the resolver
/// gives up; this bounds how many one account's plugin can leave behind.
pub const MAX_PENDING_LOOKUPS: usize = 16;

/// `host` as an address, when it is an IP literal (no lookup needed).
pub(crate) fn literal(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    host.parse::<IpAddr>().ok().map(|ip| vec![SocketAddr::new(ip, port)])
}

/// A budget of name lookups running at once. Clones share it: the watcher
/// gives each account one, shared by its plugin calls and its own
/// sessions, so one account whose names never resolve (or whose plugin
/// loops on them) uses up its own budget, not another account's; a
/// `wasimap run` has one for the run.
#[derive(Debug, Clone)]
pub struct Lookups {
    pending: Arc<AtomicUsize>,
    max: usize,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups::new(MAX_PENDING_LOOKUPS)
    }
}

impl Lookups {
    /// A budget of `max` lookups at once.
    pub fn new(max: usize) -> Self {
        Lookups {
            pending: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Lookups of this budget running now (timed-out ones included).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Takes a slot, or refuses when all are in use.
    pub(crate) fn take(&self, host: &str) -> Result<LookupSlot, TransportError> {
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.max {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(TransportError::unreachable(format!(
                "cannot resolve {host}: {} name lookups are already in progress",
                self.max
            )));
        }
        Ok(LookupSlot(Arc::clone(&self.pending)))
    }
}

/// One slot of a [`Lookups`] budget, held by the thread doing the lookup
/// (the sync transport's own thread, or a blocking thread of the async
/// embedder's runtime) until the resolver answers.
pub(crate) struct LookupSlot(Arc<AtomicUsize>);

impl LookupSlot {
    /// Resolves `name` with the system resolver (blocking), then frees
    /// the slot.
    pub(crate) fn lookup(self, name: &str, port: u16) -> Result<Vec<SocketAddr>, TransportError> {
        let result = (name, port).to_socket_addrs().map(Iterator::collect::<Vec<_>>);
        drop(self);
        // A failed lookup is `unreachable`: the resolver's error is no errno.
        result.map_err(|e| TransportError::unreachable(format!("cannot resolve {name}: {e}")))
    }
}

impl Drop for LookupSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The lookup ended without an answer (its thread could not start or died).
pub(crate) fn lookup_failed(host: &str, why: impl std::fmt::Display) -> TransportError {
    TransportError::unreachable(format!("cannot resolve {host}: {why}"))
}

/// Resolves `host` within `timeout`.
fn resolve(host: &str, port: u16, timeout: Duration, lookups: &Lookups) -> Result<Vec<SocketAddr>, TransportError> {
    if let Some(addrs) = literal(host, port) {
        return Ok(addrs);
    }
    let slot = lookups.take(host)?;
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("wasimap-resolve".into())
        .spawn(move || {
            let _ = tx.send(slot.lookup(&name, port));
        })
        .map_err(|e| lookup_failed(host, e))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TransportError::timeout()),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(lookup_failed(host, "the lookup failed")),
    }
}

/// The addresses `check` admits, in order, and the distinct reasons it
/// gave for the others.
pub(crate) fn admitted(addrs: Vec<SocketAddr>, check: AddressCheck<'_>) -> (Vec<SocketAddr>, Vec<String>) {
    let mut refused: Vec<String> = Vec::new();
    let mut admitted = Vec::new();
    for addr in addrs {
        match check(addr) {
            Ok(()) => admitted.push(addr),
            Err(why) if !refused.contains(&why) => refused.push(why),
            Err(_) => {}
        }
    }
    (admitted, refused)
}

/// Why no address could be connected to: the last connect error, else
/// `denied` with the policy's reasons, else no address at all.
pub(crate) fn connect_failed(host: &str, last: Option<TransportError>, refused: Vec<String>) -> TransportError {
    match (last, refused.is_empty()) {
        (Some(e), _) => e,
        (None, false) => TransportError::denied(refused.join("; ")),
        (None, true) => TransportError::unreachable(format!("{host} has no address")),
    }
}

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpConnection {
    pub(crate) stream: TcpStream,
}

impl TcpConnection {
    /// Resolves `host` (a lookup counted in `lookups`) and tries each
    /// address `check` admits in turn, as `socket.create_connection`
    /// does. When `check` refuses every address, the error is `denied`
    /// with its reasons.
    pub fn connect(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        check: AddressCheck<'_>,
        lookups: &Lookups,
    ) -> Result<Self, TransportError> {
        let timeout = options.connect_timeout;
        let addrs = resolve(host, port, timeout.unwrap_or(DEFAULT_RESOLVE_TIMEOUT), lookups)?;
        let (admitted, refused) = admitted(addrs, check);
        let mut last = None;
        for addr in admitted {
            let attempt = match timeout {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(|e| TransportError::from_io(&e))?;
                    stream
                        .set_read_timeout(options.read_timeout)
                        .map_err(|e| TransportError::from_io(&e))?;
                    return Ok(TcpConnection { stream });
                }
                Err(e) => last = Some(TransportError::from_io(&e)),
            }
        }
        Err(connect_failed(host, last, refused))
    }

    /// Shuts both directions; errors (already closed) do not matter here.
    pub fn shutdown(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ErrorKind;
    use std::net::TcpListener;

    fn options() -> ConnectOptions {
        ConnectOptions {
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            read_timeout: None,
        }
    }

    #[test]
    fn one_budget_of_lookups_used_up_leaves_another_untouched() {
        // Two accounts' budgets: the first one's lookups all stalled (held
        // here as their threads would hold them).
        let (stalled, honest) = (Lookups::new(3), Lookups::new(3));
        let held: Vec<LookupSlot> = (0..3).map(|_| stalled.take("stalls.example").unwrap()).collect();
        let Err(e) = stalled.take("stalls.example") else {
            panic!("a fourth lookup of a used-up budget")
        };
        assert!(
            e.message.contains("3 name lookups are already in progress"),
            "{}",
            e.message
        );
        assert_eq!(stalled.pending(), 3);
        // The other account resolves as if nothing happened.
        assert_eq!(honest.pending(), 0);
        let addrs = honest.take("localhost").unwrap().lookup("localhost", 143).unwrap();
        assert!(!addrs.is_empty());
        assert_eq!(honest.pending(), 0, "its slot is freed when the lookup answers");
        // Clones share their budget; a stalled lookup's slot comes back
        // when its resolver answers at last.
        assert_eq!(stalled.clone().pending(), 3);
        drop(held);
        assert_eq!(stalled.pending(), 0);
    }

    #[test]
    fn only_admitted_addresses_are_tried() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deny = |a: SocketAddr| Err(format!("no {a}"));
        let Err(TransportError {
            kind: ErrorKind::Denied,
            message: msg,
            ..
        }) = TcpConnection::connect("127.0.0.1", port, &options(), &deny, &Lookups::default())
        else {
            panic!("denied expected")
        };
        assert_eq!(msg, format!("no 127.0.0.1:{port}"));
        let allow = |_| Ok(());
        assert!(TcpConnection::connect("127.0.0.1", port, &options(), &allow, &Lookups::default()).is_ok());
        // `localhost` resolves (to 127.0.0.1 and perhaps ::1); each is checked.
        let seen = std::sync::Mutex::new(Vec::new());
        let record = |a: SocketAddr| {
            seen.lock().unwrap().push(a.ip());
            Err("refused".to_string())
        };
        let Err(TransportError {
            kind: ErrorKind::Denied,
            message: msg,
            ..
        }) = TcpConnection::connect("localhost", port, &options(), &record, &Lookups::default())
        else {
            panic!("denied expected")
        };
        assert_eq!(msg, "refused", "one reason, not repeated");
        assert!(seen.lock().unwrap().iter().all(IpAddr::is_loopback));
    }
}
