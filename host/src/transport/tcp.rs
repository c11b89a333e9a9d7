//! TCP connections with connect and read timeouts. Names are resolved in
//! a helper thread bounded by the connect timeout, and every address is
//! checked (by the caller's [`AddressCheck`], the policy) before it is
//! tried.

use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{duration, io_error, AddressCheck};
use crate::bindings::{ConnectOptions, TransportError};

/// How long a name lookup may take when the guest set no connect timeout.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most name lookups running at once. A lookup that timed out keeps its
/// thread until the resolver gives up; this bounds how many a plugin can
/// leave behind.
pub const MAX_PENDING_LOOKUPS: usize = 16;

static PENDING_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// Resolves `host` within `timeout`.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, TransportError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if PENDING_LOOKUPS.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING_LOOKUPS {
        PENDING_LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(TransportError::Io(format!(
            "cannot resolve {host}: {MAX_PENDING_LOOKUPS} name lookups are already in progress"
        )));
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    let spawned = std::thread::Builder::new()
        .name("wasimap-resolve".into())
        .spawn(move || {
            let result = (name.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            PENDING_LOOKUPS.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        PENDING_LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(TransportError::Io(format!("cannot resolve {host}: {e}")));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(TransportError::Io(format!("cannot resolve {host}: {e}"))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TransportError::Timeout),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TransportError::Io(format!("cannot resolve {host}: the lookup failed")))
        }
    }
}

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpConnection {
    pub(crate) stream: TcpStream,
}

impl TcpConnection {
    /// Resolves `host` and tries each address `check` admits in turn, as
    /// `socket.create_connection` does. When `check` refuses every
    /// address, the error is `denied` with its reasons.
    pub fn connect(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        check: AddressCheck<'_>,
    ) -> Result<Self, TransportError> {
        let timeout = duration(options.connect_timeout_ms);
        let addrs = resolve(host, port, timeout.unwrap_or(DEFAULT_RESOLVE_TIMEOUT))?;
        let mut refused: Vec<String> = Vec::new();
        let mut last = None;
        for addr in addrs {
            if let Err(why) = check(addr) {
                if !refused.contains(&why) {
                    refused.push(why);
                }
                continue;
            }
            let attempt = match timeout {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(|e| io_error(&e))?;
                    stream
                        .set_read_timeout(duration(options.read_timeout_ms))
                        .map_err(|e| io_error(&e))?;
                    return Ok(TcpConnection { stream });
                }
                Err(e) => last = Some(io_error(&e)),
            }
        }
        Err(match (last, refused.is_empty()) {
            (Some(e), _) => e,
            (None, false) => TransportError::Denied(refused.join("; ")),
            (None, true) => TransportError::Io(format!("{host} has no address")),
        })
    }

    /// Shuts both directions; errors (already closed) do not matter here.
    pub fn shutdown(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn options() -> ConnectOptions {
        ConnectOptions {
            connect_timeout_ms: Some(5000),
            read_timeout_ms: None,
        }
    }

    #[test]
    fn only_admitted_addresses_are_tried() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deny = |a: SocketAddr| Err(format!("no {a}"));
        let Err(TransportError::Denied(msg)) = TcpConnection::connect("127.0.0.1", port, &options(), &deny) else {
            panic!("denied expected")
        };
        assert_eq!(msg, format!("no 127.0.0.1:{port}"));
        let allow = |_| Ok(());
        assert!(TcpConnection::connect("127.0.0.1", port, &options(), &allow).is_ok());
        // `localhost` resolves (to 127.0.0.1 and perhaps ::1); each is checked.
        let seen = std::sync::Mutex::new(Vec::new());
        let record = |a: SocketAddr| {
            seen.lock().unwrap().push(a.ip());
            Err("refused".to_string())
        };
        let Err(TransportError::Denied(msg)) = TcpConnection::connect("localhost", port, &options(), &record) else {
            panic!("denied expected")
        };
        assert_eq!(msg, "refused", "one reason, not repeated");
        assert!(seen.lock().unwrap().iter().all(IpAddr::is_loopback));
    }
}
