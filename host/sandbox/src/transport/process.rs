//! Process connections (imaplib's `IMAP4_stream`): a command run as an
//! argument vector, its stdin and stdout as the connection, its stderr
//! passed to the host's stderr. The child's whole process group is killed
//! and the child reaped on drop.
//!
//! This deviates from imaplib on purpose: `IMAP4_stream` runs its command
//! with `subprocess.Popen(command, shell=True)`; wasimap never runs a
//! shell. The command is split by shell quoting rules
//! ([`crate::policy::split_command`], which refuses every shell operator,
//! substitution, redirection and glob), the first word must be an absolute
//! path, and the words are passed to `execve` as they are. The child's
//! environment is empty: the host's environment holds its secrets.

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::TransportError;
use crate::policy::split_command;

/// The child for `command`: split into words (every shell operator
/// refused), no shell, an empty environment, its own process group, stdin
/// and stdout piped, stderr inherited. The async transport spawns the same
/// command through tokio.
pub(crate) fn prepare(command: &str) -> Result<Command, TransportError> {
    let argv = split_command(command).map_err(TransportError::denied)?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        // Its own process group, so dropping the connection can end
        // everything the command started, not only the command.
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    Ok(cmd)
}

/// The error when `command` could not be started.
pub(crate) fn spawn_failed(command: &str, e: &io::Error) -> TransportError {
    TransportError {
        message: format!("cannot start {command:?}: {e}"),
        ..TransportError::from_io(e)
    }
}

/// Kills the process group the child `pid` leads (see [`prepare`]).
pub(crate) fn kill_group(pid: Option<u32>) {
    if let Some(pgid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group is ours (process_group(0)).
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// A running command used as a byte stream.
#[derive(Debug)]
pub struct ProcessConnection {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Chunks read from stdout by a reader thread, so reads can time out.
    chunks: Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    eof: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl ProcessConnection {
    /// Starts `command`, split into words, without a shell and with an
    /// empty environment.
    pub fn spawn(command: &str, read_timeout: Option<Duration>) -> Result<Self, TransportError> {
        let mut child = prepare(command)?.spawn().map_err(|e| spawn_failed(command, &e))?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::sync_channel(16);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Ok(Vec::new()));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Ok(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(ProcessConnection {
            child,
            stdin,
            chunks: rx,
            pending: Vec::new(),
            eof: false,
            read_timeout,
            write_timeout: read_timeout,
        })
    }

    /// Up to `max` bytes of the command's stdout; empty at EOF.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        if self.pending.is_empty() && !self.eof {
            let chunk = match self.read_timeout {
                Some(t) => self.chunks.recv_timeout(t).map_err(|e| match e {
                    RecvTimeoutError::Timeout => TransportError::timeout(),
                    RecvTimeoutError::Disconnected => TransportError::io("process output closed"),
                })?,
                None => self
                    .chunks
                    .recv()
                    .map_err(|_| TransportError::io("process output closed"))?,
            };
            let chunk = chunk.map_err(|e| TransportError::from_io(&e))?;
            if chunk.is_empty() {
                self.eof = true;
            }
            self.pending = chunk;
        }
        let n = self.pending.len().min(max);
        let rest = self.pending.split_off(n);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    /// Writes to the command's stdin, within the write timeout: a child
    /// that stops reading fills the pipe, and a blocked host call would
    /// not see the run's deadline.
    pub fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| TransportError::io("stdin closed"))?;
        let Some(timeout) = self.write_timeout else {
            return stdin
                .write_all(data)
                .and_then(|()| stdin.flush())
                .map_err(|e| TransportError::from_io(&e));
        };
        use std::os::fd::AsRawFd;
        let fd = stdin.as_raw_fd();
        let deadline = std::time::Instant::now() + timeout;
        let mut rest = data;
        while !rest.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(TransportError::from_io(&e));
            }
            if ready == 0 {
                return Err(TransportError::timeout());
            }
            // At most PIPE_BUF bytes: a write of that size to a pipe that
            // poll found writable does not block.
            let n = rest.len().min(libc::PIPE_BUF);
            match stdin.write(&rest[..n]) {
                Ok(written) => rest = &rest[written..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TransportError::from_io(&e)),
            }
        }
        Ok(())
    }

    /// Changes the write timeout.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Changes the read timeout.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Closes the command's stdin, as imaplib's `shutdown` does.
    pub fn shutdown(&mut self) {
        self.stdin = None;
    }
}

impl Drop for ProcessConnection {
    fn drop(&mut self) {
        self.stdin = None;
        kill_group(Some(self.child.id()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ErrorKind;

    fn output(command: &str) -> Vec<u8> {
        let mut p = ProcessConnection::spawn(command, Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        loop {
            let chunk = p.read(1 << 16).unwrap();
            if chunk.is_empty() {
                return out;
            }
            out.extend(chunk);
        }
    }

    #[test]
    fn commands_run_as_argument_vectors_with_an_empty_environment() {
        std::env::set_var("WASIMAP_PROCESS_TEST_SECRET", "hunter2");
        assert_eq!(output("/usr/bin/env"), b"");
        assert_eq!(output("/bin/echo 'a; b' \"\\$(x)\" '*'"), b"a; b $(x) *\n");
        let err = ProcessConnection::spawn("/bin/echo x; /bin/true", None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(err.message.starts_with("command refused: ';'"), "{}", err.message);
        let err = ProcessConnection::spawn("/no/such/program", None).unwrap_err();
        assert_eq!((err.kind, err.errno), (ErrorKind::Io, Some(libc::ENOENT)));
        assert!(err.message.starts_with("cannot start"), "{}", err.message);
    }
}
