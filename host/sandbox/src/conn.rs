//! The one connection type the host opens for an account, whoever drives
//! it: a plugin (the `connection` resource), the async embedding, the
//! watcher's own session, a session lent to a watcher plugin. It is a
//! byte stream plus what the host must remember about it to guard secrets
//! (where it goes, whether the server's certificate was verified for that
//! name, what was revealed on it).
//!
//! A secret's value is only ever obtained through
//! [`GuardedConnection::reveal`], which arms the connection's echo guard
//! with it before returning it, and every read of every driver goes
//! through [`GuardedConnection::screen`]: a new path cannot get a secret
//! without the guard, nor read past it. Lending moves the connection
//! itself, guard and all.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::echo::{EchoGuard, Echoed};
use crate::policy::{Policy, Wording};
use crate::secrets::{Carrier, Endpoint, RevealError, Secrets};
use crate::transport::tcp::Lookups;
use crate::transport::TlsOptions;
use crate::transport::{ConnectOptions, ErrorKind, TransportError};
use crate::transport::{Connection, Stream};

/// A guarded connection, over a blocking [`Connection`] or (in the async
/// embedding) an `AsyncConnection`: the guards are the
/// same code.
#[derive(Debug)]
pub struct GuardedConnection<S = Connection> {
    stream: S,
    /// The endpoint the plugin named; `None` for a process connection.
    endpoint: Option<Endpoint>,
    /// TLS verified for the endpoint's own host name.
    verified_tls: bool,
    guard: EchoGuard,
    /// Whether this is a child process (counted against its own limit).
    process: bool,
    /// The read and write timeout in force (`None`: none).
    pub(crate) bounded_by: Option<std::time::Duration>,
    /// The read timeout in force (`None`: none).
    read_timeout: Option<Duration>,
    /// When set, a blocked read looks at it every [`STOP_SLICE`] and ends
    /// when it is: `wasimap watch` sets it on its sessions' connections,
    /// so SIGTERM is not held up by a server that answers slowly or not
    /// at all (the plugin a session is lent to reads through it too).
    stop: Option<&'static AtomicBool>,
}

/// How long a read of a connection with a stop flag blocks before it
/// looks at the flag again.
const STOP_SLICE: Duration = Duration::from_millis(200);

/// What a plugin learns when the server echoes a secret.
pub const ECHO_MESSAGE: &str = "the server sent back a secret revealed on this connection; the connection was closed";

/// What the host may open a network connection under: the policy that
/// grants it (each address the name resolves to checked too), the budget
/// its name lookup counts in, and the secrets its echo guard watches for
/// from its first byte (those bound to its endpoint; `default_endpoints`
/// for secrets bound to none).
#[derive(Debug, Clone, Copy)]
pub struct ConnectGrants<'a> {
    /// What may be connected to.
    pub policy: &'a Policy,
    /// The name lookups this connection's counts in.
    pub lookups: &'a Lookups,
    /// The secrets that may be revealed on connections.
    pub secrets: &'a Secrets,
    /// Where a secret bound to no endpoint may go.
    pub default_endpoints: &'a [Endpoint],
    /// How denials are worded for the user.
    pub wording: Wording,
}

/// Whether TLS options verify the certificate for `host` itself.
pub fn verifies(host: &str, tls: &TlsOptions) -> bool {
    !tls.dangerously_accept_invalid_certs && tls.server_name.as_deref().is_none_or(|n| n.eq_ignore_ascii_case(host))
}

impl<S: Stream> GuardedConnection<S> {
    /// A network connection to `host:port`, its echo guard armed from
    /// the first byte with every secret `grants` could reveal on it: the
    /// greeting, and anything read before a reveal, are screened too.
    pub fn network(stream: S, host: &str, port: u16, verified_tls: bool, grants: &ConnectGrants<'_>) -> Self {
        let endpoint = Endpoint::new(host, port);
        let mut guard = EchoGuard::default();
        for value in grants.secrets.values_bound_to(&endpoint, grants.default_endpoints) {
            guard.add_secret(value.as_bytes());
        }
        GuardedConnection {
            stream,
            endpoint: Some(endpoint),
            verified_tls,
            guard,
            process: false,
            bounded_by: None,
            read_timeout: None,
            stop: None,
        }
    }

    /// A child process's stdin and stdout.
    pub fn process(stream: S) -> Self {
        GuardedConnection {
            stream,
            endpoint: None,
            verified_tls: false,
            guard: EchoGuard::default(),
            process: true,
            bounded_by: None,
            read_timeout: None,
            stop: None,
        }
    }

    /// Whether this is a process connection.
    pub fn is_process(&self) -> bool {
        self.process
    }

    /// The endpoint the plugin named, for a network connection.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// How this connection would carry a secret.
    pub fn carrier(&self) -> Carrier {
        if self.stream.is_tls() && self.verified_tls {
            Carrier::VerifiedTls
        } else if self.stream.peer_ip().is_some_and(is_loopback) {
            Carrier::Loopback
        } else {
            Carrier::Exposed
        }
    }

    /// The value of the secret `name` for this connection, if the rules
    /// of `secrets` let it go over it (`default_endpoints`: where a secret
    /// bound to no endpoint may go). From then on nothing containing it,
    /// in any form the client could have sent it in, is delivered from
    /// the server: the only way to a secret's value is through here.
    ///
    /// # Errors
    /// Why the secret may not go over this connection.
    pub fn reveal(
        &mut self,
        secrets: &Secrets,
        name: &str,
        default_endpoints: &[Endpoint],
    ) -> Result<String, RevealError> {
        let value = secrets.reveal_for(name, self.endpoint.as_ref(), self.carrier(), default_endpoints)?;
        self.guard.add_secret(value.as_bytes());
        tracing::debug!(secret = %name, endpoint = ?self.endpoint, value = "<redacted>", "secret revealed for one connection");
        Ok(value)
    }

    /// Sets the read and write timeout of every later blocking call
    /// (`None`: none), and remembers it for the deadline checks.
    pub fn bound_by(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        self.bounded_by = timeout;
        Ok(())
    }

    /// Bounds every later read (`None`: no limit).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TransportError> {
        self.stream.set_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(())
    }

    /// Records the read timeout the stream was opened with.
    pub(crate) fn opened_with_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Makes every later blocked read end when `stop` is set (and look at
    /// it every 200 ms).
    pub fn stop_on(&mut self, stop: &'static AtomicBool) {
        self.stop = Some(stop);
    }

    /// Passes bytes just read through the echo guard: `Some` what the
    /// guest may see (empty at EOF), `None` when all of it is held back
    /// (it could be the start of a secret; read more), an error when the
    /// server echoed a secret, which cuts the connection.
    pub fn screen(&mut self, data: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        if data.is_empty() {
            self.guard.finish();
            return Ok(Some(data));
        }
        match self.guard.filter(&data) {
            Ok(passed) if passed.is_empty() => Ok(None),
            Ok(passed) => Ok(Some(passed)),
            Err(Echoed) => {
                self.stream.cut();
                tracing::warn!(endpoint = ?self.endpoint, "server echoed a secret; connection closed");
                Err(TransportError::io(ECHO_MESSAGE))
            }
        }
    }

    /// Records a STARTTLS upgrade done by the caller: verification counts
    /// as for implicit TLS, and only for the endpoint's own host name.
    pub fn upgraded(&mut self, host: &str, tls: &TlsOptions) {
        self.verified_tls = verifies(host, tls)
            && self
                .endpoint
                .as_ref()
                .is_some_and(|e| e.host == host.to_ascii_lowercase());
    }

    /// The byte stream.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The byte stream, shared.
    pub fn stream_ref(&self) -> &S {
        &self.stream
    }
}

impl GuardedConnection<Connection> {
    /// Opens TCP to `host:port` under `grants`.
    ///
    /// # Errors
    /// `denied` with the policy's reason, or the connect error.
    pub fn open_tcp(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        grants: &ConnectGrants<'_>,
    ) -> Result<Self, TransportError> {
        let check = |addr| {
            grants
                .policy
                .check_address(host, addr)
                .map_err(|d| d.worded(grants.wording))
        };
        let conn = Connection::open_tcp(host, port, options, &check, grants.lookups)?;
        Ok(GuardedConnection::network(conn, host, port, false, grants))
    }

    /// As [`GuardedConnection::open_tcp`], then the TLS handshake
    /// (`ca_file`: the contents of a CA file the caller admitted).
    ///
    /// # Errors
    /// As [`GuardedConnection::open_tcp`], and TLS failures.
    pub fn open_tls(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        tls: &TlsOptions,
        ca_file: Option<&[u8]>,
        grants: &ConnectGrants<'_>,
    ) -> Result<Self, TransportError> {
        let check = |addr| {
            grants
                .policy
                .check_address(host, addr)
                .map_err(|d| d.worded(grants.wording))
        };
        let conn = Connection::open_tls(host, port, options, tls, ca_file, &check, grants.lookups)?;
        Ok(GuardedConnection::network(
            conn,
            host,
            port,
            verifies(host, tls),
            grants,
        ))
    }

    /// Writes all of `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.stream.write(data)
    }

    /// Shuts the connection down.
    pub fn shutdown(&mut self) {
        self.stream.shutdown();
    }

    /// Reads through the echo guard; an echo closes the connection.
    pub fn read(&mut self, max: u32) -> Result<Vec<u8>, TransportError> {
        loop {
            let data = self.read_stoppable(max)?;
            if let Some(passed) = self.screen(data)? {
                return Ok(passed);
            }
        }
    }

    /// One read of the stream within the read timeout, in slices that
    /// look at the stop flag when there is one.
    fn read_stoppable(&mut self, max: u32) -> Result<Vec<u8>, TransportError> {
        let Some(stop) = self.stop else {
            return self.stream.read(max);
        };
        let end = self.read_timeout.map(|t| Instant::now() + t);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(TransportError::io("the watcher is stopping"));
            }
            let slice = end.map_or(STOP_SLICE, |e| {
                e.saturating_duration_since(Instant::now()).min(STOP_SLICE)
            });
            if slice.is_zero() {
                return Err(TransportError::timeout());
            }
            self.stream.set_read_timeout(Some(slice))?;
            match self.stream.read(max) {
                Err(e) if e.kind == ErrorKind::Timeout => {}
                done => return done,
            }
        }
    }

    /// Upgrades to TLS (STARTTLS); verification is recorded as for
    /// implicit TLS.
    pub fn start_tls(&mut self, host: &str, tls: &TlsOptions, ca_file: Option<&[u8]>) -> Result<(), TransportError> {
        self.stream.start_tls(host, tls, ca_file)?;
        self.upgraded(host, tls);
        Ok(())
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}
