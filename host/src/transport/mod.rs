//! Byte streams behind the `connection` resource.

pub mod tcp;

use std::io::{self, Read, Write};
use std::time::Duration;

use crate::bindings::{ConnectOptions, TransportError};

/// Largest read handed to a guest at once.
pub const MAX_READ: usize = 1 << 20;

/// An open connection owned by the guest through a resource handle.
#[derive(Debug)]
pub enum Connection {
    /// Plain TCP.
    Tcp(tcp::TcpConnection),
}

/// Milliseconds from WIT to a `Duration`; `None` and 0 mean no limit.
pub fn duration(ms: Option<u32>) -> Option<Duration> {
    ms.filter(|&m| m > 0).map(|m| Duration::from_millis(u64::from(m)))
}

/// Maps an I/O error to the WIT error, keeping timeouts distinct.
pub fn io_error(e: &io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportError::Timeout,
        _ => TransportError::Io(e.to_string()),
    }
}

impl Connection {
    /// Reads up to `max` bytes (capped at [`MAX_READ`]); empty at EOF.
    pub fn read(&mut self, max: u32) -> Result<Vec<u8>, TransportError> {
        let max = (max as usize).clamp(1, MAX_READ);
        let mut buf = vec![0; max];
        let n = loop {
            let r = match self {
                Connection::Tcp(c) => c.stream.read(&mut buf),
            };
            match r {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&e)),
            }
        };
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes all of `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let r = match self {
            Connection::Tcp(c) => c.stream.write_all(data).and_then(|()| c.stream.flush()),
        };
        r.map_err(|e| io_error(&e))
    }

    /// Shuts the connection down; later reads see EOF.
    pub fn shutdown(&mut self) {
        match self {
            Connection::Tcp(c) => c.shutdown(),
        }
    }

    /// Opens the connection a request describes (the policy was checked).
    pub fn open_tcp(host: &str, port: u16, options: &ConnectOptions) -> Result<Self, TransportError> {
        tcp::TcpConnection::connect(host, port, options).map(Connection::Tcp)
    }
}
