//! The echo guard: once a secret was revealed for a connection, nothing the
//! server sends back on it may contain the secret in any form the client
//! could have sent it in. A server that echoes it (Dovecot's `BAD` quotes a
//! mis-parsed command, and a plugin can desynchronize a session to make
//! that happen) would otherwise hand it to the plugin in an error message,
//! a data item or a raw read.
//!
//! The guard sits in the host's read path, below the protocol component,
//! so it covers every way bytes reach a plugin. It holds back a chunk's tail
//! while that tail could be the start of a secret, so a secret split across
//! two reads is caught too; since no form contains CR or LF, a response
//! that ends its line is never held back.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// What a connection must never deliver once secrets were revealed for it.
#[derive(Debug, Default)]
pub struct EchoGuard {
    forms: Vec<Vec<u8>>,
    /// Bytes received but not yet delivered: a possible start of a form.
    held: Vec<u8>,
}

/// The server sent back a secret revealed for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echoed;

impl EchoGuard {
    /// Arms the guard with `secret`: the value itself, its quoted-string
    /// form (`\` and `"` escaped) and the base64 text that encodes it at
    /// each of the three byte alignments it can have inside a SASL payload.
    pub fn add_secret(&mut self, secret: &[u8]) {
        let mut forms = vec![secret.to_vec()];
        let mut quoted = Vec::with_capacity(secret.len());
        for &b in secret {
            if b == b'"' || b == b'\\' {
                quoted.push(b'\\');
            }
            quoted.push(b);
        }
        forms.push(quoted);
        for skip in 0..3 {
            // The base64 of whole 3-byte groups inside the secret appears
            // verbatim in any base64 text whose input holds the secret at
            // that offset modulo 3, whatever surrounds it.
            let inner = secret.get(skip..).unwrap_or_default();
            let whole = inner.len() / 3 * 3;
            if whole >= 3 {
                forms.push(B64.encode(&inner[..whole]).into_bytes());
            }
        }
        for form in forms {
            if !form.is_empty() && !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
    }

    /// Passes `chunk` through the guard: the bytes that may be delivered
    /// now (possibly empty while a tail is held back), or [`Echoed`].
    pub fn filter(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Echoed> {
        if self.forms.is_empty() {
            return Ok(chunk.to_vec());
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        if self.forms.iter().any(|f| contains(&data, f)) {
            return Err(Echoed);
        }
        let hold = self.longest_prefix_suffix(&data);
        self.held = data.split_off(data.len() - hold);
        Ok(data)
    }

    /// At end of stream: what was held back is dropped, not delivered. It
    /// can only be an incomplete line, which IMAP cannot use anyway.
    pub fn finish(&mut self) {
        self.held.clear();
    }

    /// The length of the longest suffix of `data` that is a proper prefix
    /// of some form.
    fn longest_prefix_suffix(&self, data: &[u8]) -> usize {
        let mut best = 0;
        for form in &self.forms {
            let max = (form.len() - 1).min(data.len());
            for n in (best + 1..=max).rev() {
                if data[data.len() - n..] == form[..n] {
                    best = n;
                    break;
                }
            }
        }
        best
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(secret: &str) -> EchoGuard {
        let mut g = EchoGuard::default();
        g.add_secret(secret.as_bytes());
        g
    }

    #[test]
    fn unarmed_passes_everything() {
        let mut g = EchoGuard::default();
        assert_eq!(g.filter(b"* OK hunter2\r\n").unwrap(), b"* OK hunter2\r\n");
    }

    #[test]
    fn raw_quoted_and_base64_echoes_are_caught() {
        let secret = "p a\"s\\s w0rd";
        for echo in [
            "Y2 BAD Unexpected string as search key: p a\"s\\s w0rd\r\n".to_string(),
            "* BAD \"p a\\\"s\\\\s w0rd\"\r\n".to_string(),
            format!("* BAD {}\r\n", B64.encode(format!("\0user\0{secret}"))),
            format!("* BAD {}\r\n", B64.encode(format!("\0u\0{secret}"))),
            format!("* BAD {}\r\n", B64.encode(format!("\0us\0{secret}"))),
            format!(
                "* BAD {}\r\n",
                B64.encode(format!("user=a\x01auth=Bearer {secret}\x01\x01"))
            ),
        ] {
            assert_eq!(guard(secret).filter(echo.as_bytes()), Err(Echoed), "{echo}");
        }
    }

    #[test]
    fn a_secret_split_across_reads_is_held_then_caught() {
        let mut g = guard("diffpass");
        let first = g.filter(b"Y2 BAD Unexpected string: diff").unwrap();
        assert_eq!(first, b"Y2 BAD Unexpected string: ", "the possible start is held back");
        assert_eq!(g.filter(b"pass\r\n"), Err(Echoed));
    }

    #[test]
    fn held_bytes_are_released_when_they_turn_out_harmless() {
        let mut g = guard("diffpass");
        assert_eq!(g.filter(b"* OK dif").unwrap(), b"* OK ");
        assert_eq!(g.filter(b"ferent\r\n").unwrap(), b"different\r\n");
        // A whole line is never held: no form contains CR or LF.
        assert_eq!(g.filter(b"A1 OK done\r\n").unwrap(), b"A1 OK done\r\n");
    }

    #[test]
    fn end_of_stream_drops_a_held_tail() {
        let mut g = guard("diffpass");
        assert_eq!(g.filter(b"* BYE diffpa").unwrap(), b"* BYE ");
        g.finish();
        assert_eq!(g.filter(b"").unwrap(), b"");
    }
}
