//! TCP connections with connect and read timeouts.

use std::net::{Shutdown, TcpStream, ToSocketAddrs};

use super::{duration, io_error};
use crate::bindings::{ConnectOptions, TransportError};

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpConnection {
    pub(crate) stream: TcpStream,
}

impl TcpConnection {
    /// Resolves `host` and tries each address in turn, as
    /// `socket.create_connection` does.
    pub fn connect(host: &str, port: u16, options: &ConnectOptions) -> Result<Self, TransportError> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| TransportError::Io(format!("cannot resolve {host}: {e}")))?;
        let timeout = duration(options.connect_timeout_ms);
        let mut last = TransportError::Io(format!("{host} has no address"));
        for addr in addrs {
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
                Err(e) => last = io_error(&e),
            }
        }
        Err(last)
    }

    /// Shuts both directions; errors (already closed) do not matter here.
    pub fn shutdown(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
