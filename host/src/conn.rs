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

use crate::bindings::{ConnectOptions, TlsOptions, TransportError};
use crate::echo::{EchoGuard, Echoed};
use crate::policy::Policy;
use crate::secrets::{Carrier, Endpoint, RevealError, Secrets};
use crate::transport::tcp::Lookups;
use crate::transport::{Connection, Stream};

/// A guarded connection, over a blocking [`Connection`] or (in the async
/// embedding) an [`crate::asyncio::AsyncConnection`]: the guards are the
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
}

/// What a plugin learns when the server echoes a secret.
pub const ECHO_MESSAGE: &str = "the server sent back a secret revealed on this connection; the connection was closed";

/// Whether TLS options verify the certificate for `host` itself.
pub fn verifies(host: &str, tls: &TlsOptions) -> bool {
    !tls.dangerously_accept_invalid_certs && tls.server_name.as_deref().is_none_or(|n| n.eq_ignore_ascii_case(host))
}

impl<S: Stream> GuardedConnection<S> {
    /// A network connection to `host:port`.
    pub fn network(stream: S, host: &str, port: u16, verified_tls: bool) -> Self {
        GuardedConnection {
            stream,
            endpoint: Some(Endpoint::new(host, port)),
            verified_tls,
            guard: EchoGuard::default(),
            process: false,
            bounded_by: None,
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

    /// Whether a secret was revealed for this connection.
    pub fn is_guarded(&self) -> bool {
        self.guard.is_armed()
    }

    /// Sets the read and write timeout of every later blocking call
    /// (`None`: none), and remembers it for the deadline checks.
    pub fn bound_by(&mut self, timeout: Option<std::time::Duration>) -> Result<(), TransportError> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        self.bounded_by = timeout;
        Ok(())
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
    /// Opens TCP to `host:port` if `policy` grants it (each address the
    /// name resolves to checked too), its name lookup counted in
    /// `lookups`.
    ///
    /// # Errors
    /// `denied` with the policy's reason, or the connect error.
    pub fn open_tcp(
        host: &str,
        port: u16,
        options: &ConnectOptions,
        policy: &Policy,
        lookups: &Lookups,
    ) -> Result<Self, TransportError> {
        let check = |addr| policy.check_address(host, addr);
        let conn = Connection::open_tcp(host, port, options, &check, lookups)?;
        Ok(GuardedConnection::network(conn, host, port, false))
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
        policy: &Policy,
        lookups: &Lookups,
    ) -> Result<Self, TransportError> {
        let check = |addr| policy.check_address(host, addr);
        let conn = Connection::open_tls(host, port, options, tls, ca_file, &check, lookups)?;
        Ok(GuardedConnection::network(conn, host, port, verifies(host, tls)))
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
            let data = self.stream.read(max)?;
            if let Some(passed) = self.screen(data)? {
                return Ok(passed);
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
