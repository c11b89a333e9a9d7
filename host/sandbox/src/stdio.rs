//! A plugin's WASI stdin, stdout and stderr, bounded by its run's
//! deadline. A guest blocked in a host call runs no wasm, so the epoch
//! deadline cannot stop it: a plugin reading a stdin that stays open (a
//! terminal nobody types in, a pipe whose writer never closes) or writing
//! to a pipe nobody drains would hold the host past `--timeout`, forever.
//! Wrapped in [`Bounded`], every wait of such a stream ends by the
//! deadline, and from then on every operation on it traps the run as the
//! epoch deadline does ([`wasmtime::Trap::Interrupt`], reported as the
//! time limit), rather than handing the plugin an EOF or an error it could
//! catch and go on after.

use std::os::fd::RawFd;
use std::time::Instant;

use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// A stdio stream whose waits end by `deadline`.
pub struct Bounded<T> {
    inner: T,
    deadline: Instant,
}

impl<T> Bounded<T> {
    /// `inner`, bounded by `deadline`.
    pub fn new(inner: T, deadline: Instant) -> Self {
        Bounded { inner, deadline }
    }
}

impl<T: IsTerminal> IsTerminal for Bounded<T> {
    fn is_terminal(&self) -> bool {
        self.inner.is_terminal()
    }
}

/// Past the deadline: the run's time is up.
fn closed_after(deadline: Instant) -> StreamResult<()> {
    if Instant::now() >= deadline {
        Err(StreamError::Trap(wasmtime::Trap::Interrupt.into()))
    } else {
        Ok(())
    }
}

/// Waits for `ready` or the deadline, whichever comes first.
async fn ready_by(ready: impl std::future::Future<Output = ()>, deadline: Instant) {
    // Elapsed or not, the caller looks at the stream next.
    let _ = tokio::time::timeout_at(deadline.into(), ready).await;
}

impl<T: StdinStream> StdinStream for Bounded<T> {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(BoundedInput {
            inner: self.inner.p2_stream(),
            deadline: self.deadline,
        })
    }

    /// The WASIp3 stream, unbounded: plugins are WASIp2 components, and
    /// the host links no WASIp3 stdio.
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        self.inner.async_stream()
    }
}

impl<T: StdoutStream> StdoutStream for Bounded<T> {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(BoundedOutput {
            inner: self.inner.p2_stream(),
            deadline: self.deadline,
        })
    }

    /// The WASIp3 stream, unbounded (see [`Bounded::async_stream`] of
    /// stdin).
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        self.inner.async_stream()
    }
}

struct BoundedInput {
    inner: Box<dyn InputStream>,
    deadline: Instant,
}

#[async_trait::async_trait]
impl Pollable for BoundedInput {
    async fn ready(&mut self) {
        ready_by(self.inner.ready(), self.deadline).await;
    }
}

impl InputStream for BoundedInput {
    fn read(&mut self, size: usize) -> StreamResult<bytes::Bytes> {
        closed_after(self.deadline)?;
        self.inner.read(size)
    }
}

struct BoundedOutput {
    inner: Box<dyn OutputStream>,
    deadline: Instant,
}

#[async_trait::async_trait]
impl Pollable for BoundedOutput {
    async fn ready(&mut self) {
        ready_by(self.inner.ready(), self.deadline).await;
    }
}

impl OutputStream for BoundedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        closed_after(self.deadline)?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        closed_after(self.deadline)?;
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        closed_after(self.deadline)?;
        self.inner.check_write()
    }
}

/// The host's own stdout or stderr as a plugin's, bounded by the run's
/// deadline. WASI's own writes to the process's descriptor block the
/// calling thread until the bytes are taken, for as long as a reader that
/// never reads wants; here a write to a pipe, socket or terminal waits
/// (off the calling thread, so the async embedding's workers never block)
/// until the descriptor is writable, and then writes at most `PIPE_BUF`
/// bytes, which a writable pipe takes at once. A regular file never makes
/// a writer wait, and takes any write whole.
pub struct HostOutput {
    fd: RawFd,
}

impl HostOutput {
    /// The process's stdout.
    pub fn stdout() -> Self {
        HostOutput {
            fd: libc::STDOUT_FILENO,
        }
    }

    /// The process's stderr.
    pub fn stderr() -> Self {
        HostOutput {
            fd: libc::STDERR_FILENO,
        }
    }
}

impl IsTerminal for HostOutput {
    fn is_terminal(&self) -> bool {
        // SAFETY: isatty only inspects the descriptor.
        unsafe { libc::isatty(self.fd) == 1 }
    }
}

impl StdoutStream for HostOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(FdOutput {
            fd: self.fd,
            regular: is_regular_file(self.fd),
        })
    }

    /// The WASIp3 stream: the process's, as WASI has it (the host links
    /// no WASIp3 stdio).
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        if self.fd == libc::STDERR_FILENO {
            wasmtime_wasi::cli::stderr().async_stream()
        } else {
            wasmtime_wasi::cli::stdout().async_stream()
        }
    }
}

fn is_regular_file(fd: RawFd) -> bool {
    // SAFETY: fstat fills the zeroed struct or fails.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &raw mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}

/// Whether `fd` is writable within `ms` milliseconds (`0`: now).
fn writable_within(fd: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, owned here. An error or POLLERR/POLLHUP counts as
    // writable: the write then fails and says why.
    unsafe { libc::poll(&raw mut p, 1, ms) != 0 }
}

struct FdOutput {
    fd: RawFd,
    regular: bool,
}

/// Largest write a pipe that polls writable takes without blocking.
const PIPE_BUF: usize = libc::PIPE_BUF;

#[async_trait::async_trait]
impl Pollable for FdOutput {
    async fn ready(&mut self) {
        // A pipe with room (the usual case) answers at once, without a
        // blocking thread.
        if self.regular || writable_within(self.fd, 0) {
            return;
        }
        let fd = self.fd;
        // Polled a second at a time on a blocking thread: the `Bounded`
        // around this stream stops waiting at the deadline, and the
        // thread sees that within a second.
        loop {
            let Ok(true) = tokio::task::spawn_blocking(move || writable_within(fd, 1000)).await else {
                continue;
            };
            return;
        }
    }
}

impl OutputStream for FdOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            // SAFETY: writes from a live slice to the process's descriptor.
            let n = unsafe { libc::write(self.fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(StreamError::LastOperationFailed(e.into()));
            }
            rest = &rest[n.unsigned_abs()..];
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.regular {
            Ok(1 << 20)
        } else if writable_within(self.fd, 0) {
            Ok(PIPE_BUF)
        } else {
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A stdin that never has data.
    struct Never;

    impl IsTerminal for Never {
        fn is_terminal(&self) -> bool {
            false
        }
    }

    impl StdinStream for Never {
        fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
            Box::new(tokio::io::empty())
        }

        fn p2_stream(&self) -> Box<dyn InputStream> {
            Box::new(NeverInput)
        }
    }

    struct NeverInput;

    #[async_trait::async_trait]
    impl Pollable for NeverInput {
        async fn ready(&mut self) {
            std::future::pending::<()>().await;
        }
    }

    impl InputStream for NeverInput {
        fn read(&mut self, _: usize) -> StreamResult<bytes::Bytes> {
            Ok(bytes::Bytes::new())
        }
    }

    #[test]
    fn a_read_that_would_wait_forever_traps_at_the_deadline() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut stdin = Bounded::new(Never, deadline).p2_stream();
        let r = runtime.block_on(stdin.blocking_read(10));
        let Err(StreamError::Trap(e)) = r else { panic!("{r:?}") };
        assert_eq!(e.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt));
        assert!(Instant::now() >= deadline);
    }
}
