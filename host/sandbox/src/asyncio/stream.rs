//! The async byte streams behind the `connection` resource: tokio TCP,
//! tokio-rustls over it (implicit or upgraded by STARTTLS), and tokio child
//! processes. A read that waits for the server suspends the guest's fiber;
//! the worker thread goes on with other stores.
//!
//! They keep the blocking transports' rules by calling the same code: the
//! address check and its error ([`tcp::admitted`], [`tcp::connect_failed`]),
//! the bounded name lookups ([`tcp::LookupSlot`]), the rustls configuration
//! and trust ([`tls::client_config`], [`tls::server_name`]), the command
//! split and environment ([`process::prepare`]), the read size cap and the
//! error mapping.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::transport::TlsOptions;
use crate::transport::{
    cannot_upgrade, closed, process, read_failed, tcp, tls, AddressCheck, ConnectOptions, Stream, TransportError,
    MAX_READ,
};

/// An open async connection owned by the guest through a resource handle;
/// its timeouts are applied to each read and write (tokio sockets have no
/// `SO_RCVTIMEO`).
#[derive(Debug, Default)]
pub struct AsyncConnection {
    io: Io,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

#[derive(Debug, Default)]
enum Io {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Process(Box<AsyncProcess>),
    /// Closed, or in the middle of a STARTTLS upgrade that failed.
    #[default]
    Closed,
}

/// A running command used as a byte stream (imaplib's `IMAP4_stream`).
#[derive(Debug)]
struct AsyncProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl Drop for AsyncProcess {
    fn drop(&mut self) {
        // The resource's drop reaps the child; this is for a store dropped
        // with the connection still open (tokio reaps it in the background).
        process::kill_group(self.child.id());
        let _ = self.child.start_kill();
    }
}

/// Runs `op` within `timeout` (`None`: no limit); the outer error is the
/// timeout, the inner the operation's own.
async fn within<T>(
    timeout: Option<Duration>,
    op: impl Future<Output = io::Result<T>>,
) -> Result<io::Result<T>, TransportError> {
    match timeout {
        Some(t) => tokio::time::timeout(t, op).await.map_err(|_| TransportError::timeout()),
        None => Ok(op.await),
    }
}

/// Resolves `host` within `timeout` on one of the runtime's blocking
/// threads, holding one slot of `lookups` like the blocking transport
/// does.
async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
    lookups: &tcp::Lookups,
) -> Result<Vec<SocketAddr>, TransportError> {
    if let Some(addrs) = tcp::literal(host, port) {
        return Ok(addrs);
    }
    let slot = lookups.take(host)?;
    let name = host.to_string();
    let lookup = tokio::task::spawn_blocking(move || slot.lookup(&name, port));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(tcp::lookup_failed(host, e)),
        Err(_) => Err(TransportError::timeout()),
    }
}

/// Resolves `host`, then tries each address `check` admits in turn within
/// the connect timeout, as [`tcp::TcpConnection::connect`] does.
async fn connect(
    host: &str,
    port: u16,
    options: &ConnectOptions,
    check: AddressCheck<'_>,
    lookups: &tcp::Lookups,
) -> Result<TcpStream, TransportError> {
    let timeout = options.connect_timeout;
    let addrs = resolve(host, port, timeout.unwrap_or(tcp::DEFAULT_RESOLVE_TIMEOUT), lookups).await?;
    let (admitted, refused) = tcp::admitted(addrs, check);
    let mut last = None;
    for addr in admitted {
        match within(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(|e| TransportError::from_io(&e))?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(TransportError::from_io(&e)),
            Err(timeout) => last = Some(timeout),
        }
    }
    Err(tcp::connect_failed(host, last, refused))
}

/// The TLS handshake over `tcp`, verifying the server as `host` (or
/// `options.server_name`), within `timeout`.
async fn handshake(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
    ca_file: Option<&[u8]>,
    timeout: Option<Duration>,
) -> Result<TlsStream<TcpStream>, TransportError> {
    let connector = TlsConnector::from(tls::client_config(options, ca_file)?);
    let name = tls::server_name(host, options)?;
    within(timeout, connector.connect(name, tcp))
        .await?
        .map_err(|e| tls::handshake_error(&e))
}

async fn write_flush(w: &mut (impl AsyncWriteExt + Unpin), data: &[u8]) -> io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

/// Shuts both directions of a socket at once (later reads see EOF), as the
/// blocking transport's `shutdown(Both)` does; tokio only shuts writing.
fn shut(sock: &TcpStream) {
    let _ = socket2::SockRef::from(sock).shutdown(Shutdown::Both);
}

impl AsyncConnection {
    fn new(io: Io, options: &ConnectOptions) -> Self {
        AsyncConnection {
            io,
            read_timeout: options.read_timeout,
            write_timeout: None,
        }
    }

    /// Opens a TCP connection (the policy admitted `host` already; `check`
    /// admits each address it resolves to).
    pub async fn open_tcp(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        check: AddressCheck<'_>,
        lookups: &tcp::Lookups,
    ) -> Result<Self, TransportError> {
        let stream = connect(host, port, options, check, lookups).await?;
        Ok(Self::new(Io::Tcp(stream), options))
    }

    /// Opens TCP (as [`AsyncConnection::open_tcp`]) and runs the TLS
    /// handshake, bounded by the read timeout as the blocking one is.
    pub async fn open_tls(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        tls: &TlsOptions,
        ca_file: Option<&[u8]>,
        check: AddressCheck<'_>,
        lookups: &tcp::Lookups,
    ) -> Result<Self, TransportError> {
        let stream = connect(host, port, options, check, lookups).await?;
        let tls = handshake(stream, host, tls, ca_file, options.read_timeout).await?;
        Ok(Self::new(Io::Tls(Box::new(tls)), options))
    }

    /// Starts a command as a connection, prepared exactly as the blocking
    /// transport prepares it ([`process::prepare`]: no shell, an empty
    /// environment, its own process group).
    pub fn open_process(command: &str, options: &ConnectOptions) -> Result<Self, TransportError> {
        let mut cmd = tokio::process::Command::from(process::prepare(command)?);
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| process::spawn_failed(command, &e))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        Ok(Self::new(
            Io::Process(Box::new(AsyncProcess { child, stdin, stdout })),
            options,
        ))
    }

    /// Upgrades plain TCP to TLS in place (STARTTLS), within the read
    /// timeout.
    pub async fn start_tls(
        &mut self,
        host: &str,
        tls: &TlsOptions,
        ca_file: Option<&[u8]>,
    ) -> Result<(), TransportError> {
        match std::mem::take(&mut self.io) {
            Io::Tcp(tcp) => {
                let tls = handshake(tcp, host, tls, ca_file, self.read_timeout).await?;
                self.io = Io::Tls(Box::new(tls));
                Ok(())
            }
            other => {
                let e = cannot_upgrade(matches!(other, Io::Tls(_)), matches!(other, Io::Process(_)));
                self.io = other;
                Err(e)
            }
        }
    }

    /// Reads up to `max` bytes (capped at [`MAX_READ`]); empty at EOF.
    pub async fn read(&mut self, max: u32) -> Result<Vec<u8>, TransportError> {
        // Into the spare capacity: no zeroing of `max` bytes per read.
        let mut buf = Vec::with_capacity((max as usize).clamp(1, MAX_READ));
        let t = self.read_timeout;
        let n = match &mut self.io {
            Io::Tcp(s) => within(t, s.read_buf(&mut buf)).await?,
            Io::Tls(s) => within(t, s.read_buf(&mut buf)).await?,
            Io::Process(p) => within(t, p.stdout.read_buf(&mut buf)).await?,
            Io::Closed => return Err(closed()),
        };
        let n = n.or_else(|e| read_failed(&e))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes all of `data` within the write timeout.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let t = self.write_timeout;
        let r = match &mut self.io {
            Io::Tcp(s) => within(t, async { s.write_all(data).await }).await?,
            // rustls buffers what it encrypts: flush to send it.
            Io::Tls(s) => within(t, write_flush(s.as_mut(), data)).await?,
            Io::Process(p) => {
                let stdin = p.stdin.as_mut().ok_or_else(|| TransportError::io("stdin closed"))?;
                within(t, write_flush(stdin, data)).await?
            }
            Io::Closed => return Err(closed()),
        };
        r.map_err(|e| TransportError::from_io(&e))
    }

    /// Shuts the connection down; later reads see EOF. TLS sends its
    /// close_notify first (within the write timeout); a process gets its
    /// stdin closed, as imaplib's `shutdown` does.
    pub async fn shutdown(&mut self) {
        let t = self.write_timeout;
        match &mut self.io {
            Io::Tcp(s) => shut(s),
            Io::Tls(s) => {
                let _ = within(t, s.shutdown()).await;
                shut(s.get_ref().0);
            }
            Io::Process(p) => p.stdin = None,
            Io::Closed => {}
        }
    }

    /// Shuts down, and for a process kills its group and reaps the child
    /// (the blocking transport does the same when the resource is dropped).
    pub async fn close(&mut self) {
        self.shutdown().await;
        if let Io::Process(p) = &mut self.io {
            process::kill_group(p.child.id());
            let _ = p.child.kill().await;
        }
        self.io = Io::Closed;
    }
}

impl Stream for AsyncConnection {
    fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        match &self.io {
            Io::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            Io::Tls(s) => s.get_ref().0.peer_addr().ok().map(|a| a.ip()),
            Io::Process(_) | Io::Closed => None,
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        if matches!(self.io, Io::Closed) {
            return Err(closed());
        }
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        if matches!(self.io, Io::Closed) {
            return Err(closed());
        }
        self.write_timeout = timeout;
        Ok(())
    }

    fn cut(&mut self) {
        match &self.io {
            Io::Tcp(s) => shut(s),
            Io::Tls(s) => shut(s.get_ref().0),
            Io::Process(_) | Io::Closed => {}
        }
        // Dropping a process kills its group (see `AsyncProcess`).
        self.io = Io::Closed;
    }
}
