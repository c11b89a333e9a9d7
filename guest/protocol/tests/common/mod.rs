//! Test support shared by the integration tests of the core.

use std::collections::VecDeque;
use std::time::Duration;

use wasimap_protocol::{Transport, TransportError};

/// A server that answers every command OK, reading literals properly,
/// and records everything the client wrote.
#[derive(Default)]
pub struct Recorder {
    out: VecDeque<u8>,
    /// Every byte the client wrote.
    pub wire: Vec<u8>,
    pending: Vec<u8>,
    /// Bytes of literal data still to skip.
    pub literal: usize,
    /// The tag of the command being received.
    tag: Option<Vec<u8>>,
    /// Complete commands received.
    pub commands: usize,
}

impl Recorder {
    /// A server that has sent its greeting.
    pub fn new() -> Self {
        let mut r = Recorder::default();
        r.out.extend(b"* OK ready\r\n");
        r
    }

    fn process(&mut self) {
        loop {
            if self.literal > 0 {
                let n = self.literal.min(self.pending.len());
                self.pending.drain(..n);
                self.literal -= n;
                if self.literal > 0 {
                    return;
                }
            }
            let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let line: Vec<u8> = self.pending.drain(..end + 2).collect();
            let line = &line[..line.len() - 2];
            if line.ends_with(b" CAPABILITY") {
                self.out.extend(b"* CAPABILITY IMAP4rev1 ENABLE IDLE\r\n");
            }
            if self.tag.is_none() {
                self.tag = Some(line.split(|&c| c == b' ').next().unwrap_or_default().to_vec());
            }
            if let Some(open) = line.iter().rposition(|&c| c == b'{').filter(|_| line.ends_with(b"}")) {
                let spec = &line[open + 1..line.len() - 1];
                let (digits, plus) = match spec.strip_suffix(b"+") {
                    Some(d) => (d, true),
                    None => (spec, false),
                };
                if let Ok(n) = std::str::from_utf8(digits).unwrap_or("x").parse::<usize>() {
                    self.literal = n;
                    if !plus {
                        self.out.extend(b"+ go ahead\r\n");
                    }
                    continue;
                }
            }
            // The command line is complete.
            let tag = self.tag.take().unwrap();
            if tag == b"DONE" {
                continue;
            }
            self.commands += 1;
            self.out.extend(&tag);
            self.out.extend(b" OK done\r\n");
        }
    }
}

impl Transport for Recorder {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        let n = self.out.len().min(max);
        Ok(self.out.drain(..n).collect())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.wire.extend_from_slice(data);
        self.pending.extend_from_slice(data);
        self.process();
        Ok(())
    }
    fn shutdown(&mut self) {}
    fn set_read_timeout(&mut self, _: Option<Duration>) -> Result<(), TransportError> {
        Ok(())
    }
}
