//! The async embedding's `transport` and `secrets`: the same native checks
//! as [`super::blocking`], over [`crate::asyncio::AsyncConnection`]; a
//! read that waits for the server suspends the guest's fiber.

use wasmtime::component::Resource;

use super::convert::duration;
use super::generated::wasimap::imap::types::TlsOptions;
use super::generated_async::wasimap::imap::transport::{ConnectOptions, TransportError};
use super::generated_async::wasimap::imap::{secrets, transport};
use crate::asyncio::{AsyncConnection, AsyncGuardedConnection};
use crate::conn::{verifies, GuardedConnection};
use crate::view::WasimapCtxView;

impl secrets::Host for WasimapCtxView<'_> {
    async fn reveal(
        &mut self,
        name: String,
        conn: Resource<AsyncGuardedConnection>,
    ) -> wasmtime::Result<Result<String, secrets::RevealError>> {
        let wording = self.ctx.wording();
        Ok(self
            .reveal_secret(name, &conn)?
            .map_err(|e| secrets::RevealError::worded(e, wording)))
    }
}

impl transport::Host for WasimapCtxView<'_> {
    async fn connect_tcp(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let options = self.admit_tcp(&host, port, options.into())?;
        let policy = &self.ctx.policy;
        let wording = self.ctx.wording();
        let check = |addr| policy.check_address(&host, addr).map_err(|d| d.worded(wording));
        let conn = AsyncConnection::open_tcp(&host, port, &options, &check, &self.ctx.lookups).await?;
        tracing::debug!(%host, port, "connected");
        let defaults = self.ctx.policy.exact_endpoints();
        let grants = self.ctx.connect_grants(&defaults);
        let conn = GuardedConnection::network(conn, &host, port, false, &grants);
        Ok(self.push(conn, &options)?)
    }

    async fn connect_tls(
        &mut self,
        host: String,
        port: u16,
        options: ConnectOptions,
        tls: TlsOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let tls = tls.into();
        let (options, ca) = self.admit_tls(&host, port, options.into(), &tls)?;
        let policy = &self.ctx.policy;
        let wording = self.ctx.wording();
        let check = |addr| policy.check_address(&host, addr).map_err(|d| d.worded(wording));
        let conn =
            AsyncConnection::open_tls(&host, port, &options, &tls, ca.as_deref(), &check, &self.ctx.lookups).await?;
        tracing::debug!(%host, port, "connected with TLS");
        let verified = verifies(&host, &tls);
        let defaults = self.ctx.policy.exact_endpoints();
        let grants = self.ctx.connect_grants(&defaults);
        let conn = GuardedConnection::network(conn, &host, port, verified, &grants);
        Ok(self.push(conn, &options)?)
    }

    async fn connect_process(
        &mut self,
        command: String,
        options: ConnectOptions,
    ) -> Result<Resource<AsyncGuardedConnection>, TransportError> {
        let options = self.admit_process(&command, options.into())?;
        let conn = AsyncConnection::open_process(&command, &options)?;
        tracing::debug!(%command, "started");
        Ok(self.push(GuardedConnection::process(conn), &options)?)
    }
}

impl transport::HostConnection for WasimapCtxView<'_> {
    async fn read(&mut self, conn: Resource<AsyncGuardedConnection>, max: u32) -> Result<Vec<u8>, TransportError> {
        let c = self.near_deadline(&conn)?;
        loop {
            let data = c.stream().read(max).await?;
            if let Some(passed) = c.screen(data)? {
                return Ok(passed);
            }
        }
    }

    async fn write(&mut self, conn: Resource<AsyncGuardedConnection>, data: Vec<u8>) -> Result<(), TransportError> {
        Ok(self.near_deadline(&conn)?.stream().write(&data).await?)
    }

    async fn shutdown(&mut self, conn: Resource<AsyncGuardedConnection>) {
        if let Ok(c) = self.conn(&conn) {
            c.stream().shutdown().await;
        }
    }

    async fn start_tls(
        &mut self,
        conn: Resource<AsyncGuardedConnection>,
        host: String,
        tls: TlsOptions,
    ) -> Result<(), TransportError> {
        let tls = tls.into();
        let ca = self.admit_start_tls(&conn, &host, &tls)?;
        let c = self.conn(&conn)?;
        c.stream().start_tls(&host, &tls, ca.as_deref()).await?;
        c.upgraded(&host, &tls);
        Ok(())
    }

    async fn is_tls(&mut self, conn: Resource<AsyncGuardedConnection>) -> bool {
        self.tls_in_use(&conn)
    }

    async fn set_read_timeout(
        &mut self,
        conn: Resource<AsyncGuardedConnection>,
        ms: Option<u32>,
    ) -> Result<(), TransportError> {
        Ok(self.set_timeout(&conn, duration(ms))?)
    }

    async fn drop(&mut self, conn: Resource<AsyncGuardedConnection>) -> wasmtime::Result<()> {
        self.release(conn)?.stream().close().await;
        Ok(())
    }
}
