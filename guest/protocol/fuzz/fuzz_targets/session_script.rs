//! The whole client driven by arbitrary server bytes while it runs a fixed
//! command sequence: every call returns (Ok or an imaplib error), nothing
//! panics, and the sequence ends.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wasimap_protocol::{Imap4, Transport, TransportError};

/// Serves the fuzz input in small pieces, then EOF.
struct Replay<'a> {
    data: &'a [u8],
}

impl Transport for Replay<'_> {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        let n = self.data.len().min(max).min(7);
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head.to_vec())
    }
    fn write(&mut self, _: &[u8]) -> Result<(), TransportError> {
        Ok(())
    }
    fn shutdown(&mut self) {}
    fn set_read_timeout(&mut self, _: Option<Duration>) -> Result<(), TransportError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // Tag prefix BAAA (seed 0) so the input can complete commands.
    let Ok(mut imap) = Imap4::connect(Replay { data }, 0, 0) else { return };
    let _ = imap.login("user", "p a\"ss");
    let _ = imap.select(Some("INBOX"), false);
    let _ = imap.fetch("1:*", "(UID FLAGS BODY.PEEK[])");
    let _ = imap.search(None, &["UNSEEN".to_string()]);
    let _ = imap.append("INBOX", Some("\\Seen"), None, b"Subject: x\r\n\r\nbody");
    let _ = imap.authenticate("PLAIN", "u", "p");
    if imap.idle_start(None).is_ok() {
        let _ = imap.idle_next(Some(Duration::from_millis(1)));
        let _ = imap.idle_done();
    }
    let _ = imap.logout();
});
