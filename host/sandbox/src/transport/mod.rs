//! Byte streams behind the `connection` resource: TCP, TLS over TCP
//! (implicit or upgraded by STARTTLS), and child processes.

mod error;
pub use error::{ErrorKind, TransportError};
pub use tls::TlsOptions;
pub mod process;
pub mod tcp;
pub mod tls;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long opening a connection and each later read may take (`None`:
/// no limit); writes get the read bound too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The TCP connect, per address tried, and the name lookup.
    pub connect_timeout: Option<Duration>,
    /// Each read, and each write.
    pub read_timeout: Option<Duration>,
}

/// Decides, before it is tried, whether an address a host resolved to may
/// be connected to; the error says why not. The host passes
/// [`crate::Policy::check_address`] for the requested name.
pub type AddressCheck<'a> = &'a (dyn Fn(SocketAddr) -> Result<(), String> + Sync);

/// Largest read handed to a guest at once.
pub const MAX_READ: usize = 1 << 20;

/// An open connection owned by the guest through a resource handle.
#[derive(Debug, Default)]
pub enum Connection {
    /// Plain TCP.
    Tcp(tcp::TcpConnection),
    /// TLS over TCP.
    Tls(Box<tls::TlsStream>),
    /// A child process's stdin and stdout.
    Process(process::ProcessConnection),
    /// Closed, or in the middle of a STARTTLS upgrade that failed.
    #[default]
    Closed,
}

/// What the host's guards and limits need of a byte stream, whichever
/// transport carries it: [`Connection`] (blocking) or
/// `AsyncConnection` (tokio). The policy, limit, deadline
/// and secret logic in `view.rs` and `conn.rs` is written once against it.
pub trait Stream: Send + 'static {
    /// Whether the stream is TLS.
    fn is_tls(&self) -> bool;
    /// The peer's address, for network connections.
    fn peer_ip(&self) -> Option<std::net::IpAddr>;
    /// Bounds every later read (`None`: no limit).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError>;
    /// Bounds every later write (`None`: no limit).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError>;
    /// Cuts the connection at once, without waiting for the peer: later
    /// reads and writes fail as on a closed connection.
    fn cut(&mut self);
}

impl Stream for Connection {
    fn is_tls(&self) -> bool {
        Connection::is_tls(self)
    }

    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        Connection::peer_ip(self)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        Connection::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        Connection::set_write_timeout(self, timeout)
    }

    fn cut(&mut self) {
        self.shutdown();
        *self = Connection::Closed;
    }
}

/// Why STARTTLS cannot upgrade a connection that is not plain TCP.
pub(crate) fn cannot_upgrade(tls: bool, process: bool) -> TransportError {
    TransportError::io(match (tls, process) {
        (true, _) => "the connection is already TLS",
        (_, true) => "a process connection cannot be upgraded to TLS",
        _ => "the connection is closed",
    })
}

/// The error of an operation on a closed connection.
pub(crate) fn closed() -> TransportError {
    TransportError::io("connection closed")
}

thread_local! {
    /// Where reads land before the bytes that arrived are copied out.
    /// Zeroed once per thread: a fresh zeroed buffer per read cost a 64 KiB
    /// memset for a NOOP's 30-byte answer, two thirds of the instructions
    /// of a NOOP round trip.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, TransportError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return read_failed(&e),
        }
    }
}

/// A failed read: EOF when the peer closed a TLS stream without
/// close_notify (IMAP frames its own end: BYE, the tagged LOGOUT reply),
/// else the error.
pub(crate) fn read_failed(e: &io::Error) -> Result<usize, TransportError> {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Ok(0)
    } else {
        Err(TransportError::from_io(e))
    }
}

impl Connection {
    /// Opens a TCP connection (the policy admitted `host` already; `check`
    /// admits each address it resolves to; the name lookup is counted in
    /// `lookups`).
    pub fn open_tcp(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        check: AddressCheck<'_>,
        lookups: &tcp::Lookups,
    ) -> Result<Self, TransportError> {
        tcp::TcpConnection::connect(host, port, options, check, lookups).map(Connection::Tcp)
    }

    /// Opens TCP (as [`Connection::open_tcp`]) and runs the TLS handshake.
    pub fn open_tls(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        tls: &TlsOptions,
        ca_file: Option<&[u8]>,
        check: AddressCheck<'_>,
        lookups: &tcp::Lookups,
    ) -> Result<Self, TransportError> {
        let tcp = tcp::TcpConnection::connect(host, port, options, check, lookups)?;
        tls::handshake(tcp.stream, host, tls, ca_file).map(|s| Connection::Tls(Box::new(s)))
    }

    /// Starts a command as a connection: split into an argument vector by
    /// [`crate::policy::split_command`] and run without a shell.
    pub fn open_process(command: &str, options: &ConnectOptions) -> Result<Self, TransportError> {
        process::ProcessConnection::spawn(command, options.read_timeout).map(Connection::Process)
    }

    /// Upgrades plain TCP to TLS in place (STARTTLS).
    pub fn start_tls(&mut self, host: &str, tls: &TlsOptions, ca_file: Option<&[u8]>) -> Result<(), TransportError> {
        match std::mem::take(self) {
            Connection::Tcp(tcp) => {
                *self = Connection::Tls(Box::new(tls::handshake(tcp.stream, host, tls, ca_file)?));
                Ok(())
            }
            other => {
                let e = cannot_upgrade(other.is_tls(), matches!(other, Connection::Process(_)));
                *self = other;
                Err(e)
            }
        }
    }

    /// Changes the read timeout.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.set_timeout(
            timeout,
            TcpStream::set_read_timeout,
            process::ProcessConnection::set_read_timeout,
        )
    }

    /// Bounds every later write (`None`: the OS default, no limit): a
    /// server that stops reading cannot hold the host.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.set_timeout(
            timeout,
            TcpStream::set_write_timeout,
            process::ProcessConnection::set_write_timeout,
        )
    }

    fn set_timeout(
        &mut self,
        timeout: Option<Duration>,
        socket: fn(&TcpStream, Option<Duration>) -> io::Result<()>,
        pipe: fn(&mut process::ProcessConnection, Option<Duration>),
    ) -> Result<(), TransportError> {
        let r = match self {
            Connection::Tcp(c) => socket(&c.stream, timeout),
            Connection::Tls(s) => socket(&s.sock, timeout),
            Connection::Process(p) => {
                pipe(p, timeout);
                Ok(())
            }
            Connection::Closed => return Err(closed()),
        };
        r.map_err(|e| TransportError::from_io(&e))
    }

    /// The peer's address, for network connections.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Connection::Tcp(c) => c.stream.peer_addr().ok().map(|a| a.ip()),
            Connection::Tls(s) => s.sock.peer_addr().ok().map(|a| a.ip()),
            Connection::Process(_) | Connection::Closed => None,
        }
    }

    /// The socket's descriptor (network connections), to poll it.
    pub fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Connection::Tcp(c) => Some(c.stream.as_raw_fd()),
            Connection::Tls(s) => Some(s.sock.as_raw_fd()),
            Connection::Process(_) | Connection::Closed => None,
        }
    }

    /// Whether the stream is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Connection::Tls(_))
    }

    /// Reads up to `max` bytes (capped at [`MAX_READ`]); empty at EOF.
    pub fn read(&mut self, max: u32) -> Result<Vec<u8>, TransportError> {
        let max = (max as usize).clamp(1, MAX_READ);
        if let Connection::Process(p) = self {
            return p.read(max);
        }
        READ_BUFFER.with_borrow_mut(|buf| {
            if buf.len() < max {
                buf.resize(max, 0);
            }
            let buf = &mut buf[..max];
            let n = match self {
                Connection::Tcp(c) => read_retrying(&mut c.stream, buf)?,
                Connection::Tls(s) => read_retrying(s.as_mut(), buf)?,
                Connection::Process(_) => unreachable!("handled above"),
                Connection::Closed => return Err(closed()),
            };
            Ok(buf[..n].to_vec())
        })
    }

    /// Writes all of `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let r = match self {
            Connection::Tcp(c) => c.stream.write_all(data).and_then(|()| c.stream.flush()),
            Connection::Tls(s) => s.write_all(data).and_then(|()| s.flush()),
            Connection::Process(p) => return p.write(data),
            Connection::Closed => return Err(closed()),
        };
        r.map_err(|e| TransportError::from_io(&e))
    }

    /// Shuts the connection down; later reads see EOF.
    pub fn shutdown(&mut self) {
        match self {
            Connection::Tcp(c) => c.shutdown(),
            Connection::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
                let _ = s.sock.shutdown(std::net::Shutdown::Both);
            }
            Connection::Process(p) => p.shutdown(),
            Connection::Closed => {}
        }
    }
}
