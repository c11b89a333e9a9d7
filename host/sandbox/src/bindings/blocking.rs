//! The blocking embedding's `transport`, `secrets` and `lend`: each function
//! converts its arguments, calls the native checks and transports
//! (`view.rs`, `conn.rs`), and converts the result back.

use wasmtime::component::Resource;

use super::convert::duration;
use super::generated::wasimap::imap::transport::{ConnectOptions, TransportError};
use super::generated::wasimap::imap::types::TlsOptions;
use super::generated::wasimap::imap::{secrets, transport};
use super::generated::watcher::wasimap::imap::lend;
use crate::conn::GuardedConnection;
use crate::limits::bounded_wait;
use crate::transport::{self as native, Connection};
use crate::view::WasimapCtxView;

impl secrets::Host for WasimapCtxView<'_> {
    fn reveal(
        &mut self,
        name: String,
        conn: Resource<GuardedConnection>,
    ) -> wasmtime::Result<Result<String, secrets::RevealError>> {
        let wording = self.ctx.wording();
        Ok(self
            .reveal_secret(name, &conn)?
            .map_err(|e| secrets::RevealError::worded(e, wording)))
    }
}

impl transport::Host for WasimapCtxView<'_> {
    fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let options = self.admit_tcp(&host, port, options.into())?;
        let defaults = self.ctx.policy.exact_endpoints();
        let conn =
            self.off_cpu(|v| GuardedConnection::open_tcp(&host, port, &options, &v.ctx.connect_grants(&defaults)))?;
        tracing::debug!(%host, port, "connected");
        Ok(self.push(conn, &options)?)
    }

    fn connect_tls(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
        tls: TlsOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let tls = tls.into();
        let (options, ca) = self.admit_tls(&host, port, options.into(), &tls)?;
        let defaults = self.ctx.policy.exact_endpoints();
        let conn = self.off_cpu(|v| {
            let grants = v.ctx.connect_grants(&defaults);
            GuardedConnection::open_tls(&host, port, &options, &tls, ca.as_deref(), &grants)
        })?;
        tracing::debug!(%host, port, "connected with TLS");
        Ok(self.push(conn, &options)?)
    }

    fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<GuardedConnection>, TransportError> {
        let options = self.admit_process(&command, options.into())?;
        let conn = Connection::open_process(&command, &options)?;
        tracing::debug!(%command, "started");
        Ok(self.push(GuardedConnection::process(conn), &options)?)
    }
}

/// Only the `composed-watcher` world imports `lend`: the session
/// `wasimap watch` lends to a call.
impl lend::Host for WasimapCtxView<'_> {
    fn lent(&mut self) -> Option<Resource<GuardedConnection>> {
        let lend = self.ctx.lend.clone()?;
        // Checked before the connection leaves the slot: over the limit,
        // the session stays the watcher's, untouched.
        self.reserve(false).ok()?;
        // The watcher's own connection, its echo guard armed with the
        // account's secret: the plugin reads through the same guard.
        let mut conn = lend.take()?;
        let options = native::ConnectOptions {
            connect_timeout: None,
            read_timeout: bounded_wait(lend.timeout, self.ctx.deadline),
        };
        let bounded = conn.bound_by(options.read_timeout);
        match bounded.and_then(|()| self.push(conn, &options)) {
            Ok(handle) => {
                lend.taken_as(handle.rep());
                tracing::debug!("lent the watcher's session");
                Some(handle)
            }
            // The table is full, or the socket refused its write timeout
            // (it is gone then): the watcher reconnects.
            Err(e) => {
                tracing::debug!(error = %e.message, "could not lend the watcher's session");
                None
            }
        }
    }
}

impl transport::HostConnection for WasimapCtxView<'_> {
    fn read(&mut self, conn: Resource<GuardedConnection>, max: u32) -> Result<Vec<u8>, TransportError> {
        Ok(self.off_cpu(|v| v.near_deadline(&conn)?.read(max))?)
    }

    fn write(&mut self, conn: Resource<GuardedConnection>, data: Vec<u8>) -> Result<(), TransportError> {
        Ok(self.off_cpu(|v| v.near_deadline(&conn)?.write(&data))?)
    }

    fn shutdown(&mut self, conn: Resource<GuardedConnection>) {
        if let Ok(c) = self.conn(&conn) {
            c.stream().shutdown();
        }
    }

    fn start_tls(
        &mut self,
        conn: Resource<GuardedConnection>,
        host: String,
        tls: TlsOptions,
    ) -> Result<(), TransportError> {
        let tls = tls.into();
        let ca = self.admit_start_tls(&conn, &host, &tls)?;
        Ok(self.off_cpu(|v| v.conn(&conn)?.start_tls(&host, &tls, ca.as_deref()))?)
    }

    fn is_tls(&mut self, conn: Resource<GuardedConnection>) -> bool {
        self.tls_in_use(&conn)
    }

    fn set_read_timeout(&mut self, conn: Resource<GuardedConnection>, ms: Option<u32>) -> Result<(), TransportError> {
        Ok(self.set_timeout(&conn, duration(ms))?)
    }

    fn drop(&mut self, conn: Resource<GuardedConnection>) -> wasmtime::Result<()> {
        let lend = self.ctx.lend.clone().filter(|l| l.is(conn.rep()));
        let mut released = self.release(conn)?;
        match lend {
            // Not closed: the watcher goes on with it.
            Some(lend) => lend.give_back(released),
            None => released.shutdown(),
        }
        Ok(())
    }
}
