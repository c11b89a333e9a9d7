//! Sans-IO framing of server bytes into lines and literals.
//!
//! The driver feeds whatever the transport returned ([`Framer::feed`],
//! [`Framer::feed_eof`]); the protocol asks for a line or for `n` literal
//! bytes and gets `None` until they have arrived. Nothing is allocated from
//! a declared literal size: a literal grows only with the bytes that
//! actually arrive.

use crate::error::{ErrorKind, ImapError, Result};

/// imaplib's `_MAXLINE`, the default line limit: a longer line raises
/// `error` (kind `limit`). [`Framer::set_max_line`] changes it per
/// connection, as a program assigns `imaplib._MAXLINE`.
pub const MAXLINE: usize = 1_000_000;

/// The largest line limit [`Framer::set_max_line`] accepts: 1 GiB. A line
/// is buffered whole and then copied out, so a longer one cannot fit in a
/// 32-bit guest's memory anyway; and the limit plus one must not wrap in
/// a 32-bit `usize` (a limit of 2^32 or more used to make every line wait
/// forever).
pub const MAX_LINE_LIMIT: usize = 1 << 30;

/// When the consumed prefix of the buffer is larger than this (and than the
/// unread rest), it is dropped, so buffer handling stays linear.
const COMPACT_AT: usize = 64 * 1024;

/// Buffered server input.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unread bytes.
    start: usize,
    /// How far past `start` we already know there is no LF.
    scanned: usize,
    eof: bool,
    /// The line limit; 0 stands for [`MAXLINE`] (so `Default` is right).
    max_line: usize,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes received from the server.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > COMPACT_AT && self.start > self.buf.len() - self.start {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The line limit in bytes, LF included.
    pub fn max_line(&self) -> usize {
        if self.max_line == 0 {
            MAXLINE
        } else {
            self.max_line
        }
    }

    /// Sets the line limit (imaplib's `_MAXLINE`).
    ///
    /// # Errors
    /// `error` of kind `usage` unless `1 <= limit <= MAX_LINE_LIMIT`; the
    /// limit is then unchanged.
    pub fn set_max_line(&mut self, limit: u64) -> Result<()> {
        match usize::try_from(limit) {
            Ok(n @ 1..=MAX_LINE_LIMIT) => {
                self.max_line = n;
                self.scanned = 0;
                Ok(())
            }
            _ => Err(ImapError::error(format!(
                "the line limit must be between 1 and {MAX_LINE_LIMIT} bytes, not {limit}"
            ))),
        }
    }

    /// Records that the server closed the stream.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Whether the stream has ended.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Bytes received and not yet taken.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The bytes received and not yet taken.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Drops everything buffered and the buffer's memory: the connection
    /// is closed and nothing more will be read from it.
    pub fn discard(&mut self) {
        *self = Framer {
            eof: self.eof,
            max_line: self.max_line,
            ..Framer::default()
        };
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        self.scanned = 0;
        out
    }

    /// imaplib's `readline()`: one line including its LF, or at EOF what is
    /// left (possibly empty). `Ok(None)` means more input is needed.
    ///
    /// # Errors
    /// `error("got more than 1000000 bytes")` for a longer line, as soon as
    /// that many bytes without LF are buffered.
    pub fn readline(&mut self) -> Result<Option<Vec<u8>>> {
        let max = self.max_line();
        let unread = &self.buf[self.start..];
        let limit = unread.len().min(max + 1);
        if let Some(pos) = crate::scan::find_any(&unread[self.scanned.min(limit)..limit], [b'\n']) {
            let len = self.scanned.min(limit) + pos + 1;
            if len > max {
                return Err(too_long(max));
            }
            return Ok(Some(self.take(len)));
        }
        self.scanned = limit;
        if unread.len() > max {
            return Err(too_long(max));
        }
        if self.eof {
            let n = unread.len();
            return Ok(Some(self.take(n)));
        }
        Ok(None)
    }

    /// Whether `read(size)` would answer now.
    pub fn can_read(&self, size: u64) -> bool {
        self.eof || usize::try_from(size).is_ok_and(|n| n <= self.buffered())
    }

    /// `read(size)` appended to `out` without an intermediate copy; false
    /// (and nothing taken) when the bytes have not all arrived.
    pub fn read_into(&mut self, size: u64, out: &mut Vec<u8>) -> bool {
        if !self.can_read(size) {
            return false;
        }
        let n = usize::try_from(size).map_or(self.buffered(), |n| n.min(self.buffered()));
        out.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.scanned = 0;
        true
    }

    /// imaplib's `read(size)`: exactly `size` bytes, or at EOF whatever is
    /// left. `None` means more input is needed.
    pub fn read(&mut self, size: u64) -> Option<Vec<u8>> {
        let have = self.buffered();
        match usize::try_from(size) {
            Ok(n) if n <= have => Some(self.take(n)),
            _ if self.eof => Some(self.take(have)),
            _ => None,
        }
    }
}

fn too_long(max: usize) -> ImapError {
    ImapError::error_kind(ErrorKind::Limit, format!("got more than {max} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks() {
        let mut f = Framer::new();
        f.feed(b"* OK he");
        assert_eq!(f.readline().unwrap(), None);
        f.feed(b"llo\r\n* 1 EX");
        assert_eq!(f.readline().unwrap().unwrap(), b"* OK hello\r\n");
        assert_eq!(f.readline().unwrap(), None);
        f.feed(b"ISTS\r\n");
        assert_eq!(f.readline().unwrap().unwrap(), b"* 1 EXISTS\r\n");
    }

    #[test]
    fn literal_then_line() {
        let mut f = Framer::new();
        f.feed(b"abc");
        assert_eq!(f.read(5), None);
        f.feed(b"de)\r\n");
        assert_eq!(f.read(5).unwrap(), b"abcde");
        assert_eq!(f.readline().unwrap().unwrap(), b")\r\n");
    }

    #[test]
    fn huge_declared_literal_never_allocates() {
        let mut f = Framer::new();
        f.feed(b"only a little");
        assert_eq!(f.read(u64::MAX), None);
        assert_eq!(f.read(1 << 63), None);
        f.feed_eof();
        assert_eq!(f.read(u64::MAX).unwrap(), b"only a little");
    }

    #[test]
    fn eof_returns_rest_then_empty() {
        let mut f = Framer::new();
        f.feed(b"partial");
        f.feed_eof();
        assert_eq!(f.readline().unwrap().unwrap(), b"partial");
        assert_eq!(f.readline().unwrap().unwrap(), b"");
    }

    #[test]
    fn line_limit_is_imaplibs() {
        let mut f = Framer::new();
        let mut line = vec![b'a'; MAXLINE - 1];
        line.push(b'\n');
        f.feed(&line);
        assert_eq!(f.readline().unwrap().unwrap().len(), MAXLINE);

        let mut f = Framer::new();
        let mut line = vec![b'a'; MAXLINE];
        line.push(b'\n');
        f.feed(&line);
        assert!(f.readline().is_err());

        let mut f = Framer::new();
        f.feed(&vec![b'a'; MAXLINE + 1]);
        assert!(f
            .readline()
            .unwrap_err()
            .message()
            .contains("got more than 1000000 bytes"));
    }

    #[test]
    fn byte_at_a_time_is_linear() {
        let mut f = Framer::new();
        let mut lines = 0;
        for _ in 0..20_000 {
            for &b in b"* 1 FETCH (FLAGS (\\Seen))\r\n" {
                f.feed(&[b]);
                if f.readline().unwrap().is_some() {
                    lines += 1;
                }
            }
        }
        assert_eq!(lines, 20_000);
        assert!(f.buf.len() < 2 * COMPACT_AT + 64);
    }
}
