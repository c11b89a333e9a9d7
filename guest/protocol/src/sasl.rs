//! Built-in SASL mechanisms for `authenticate`: PLAIN (RFC 4616), LOGIN,
//! CRAM-MD5 (RFC 2195), XOAUTH2 (Google) and OAUTHBEARER (RFC 7628).
//!
//! A mechanism is a small state machine: an optional initial response
//! (sent with SASL-IR, RFC 4959, when the server offers it) and an answer to
//! each challenge, in imaplib's `authobject` shape (raw bytes in, raw bytes
//! out; base64 is the caller's business).

use hmac::{Hmac, Mac};
use md5::Md5;

use crate::error::{ImapError, Result};

/// A built-in mechanism with its credentials.
#[derive(Clone)]
pub struct Mechanism {
    kind: Kind,
    user: String,
    secret: String,
    /// Host and port for OAUTHBEARER's `host=`/`port=` fields.
    endpoint: Option<(String, u16)>,
    answered: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Login,
    CramMd5,
    XOAuth2,
    OAuthBearer,
}

impl std::fmt::Debug for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("Mechanism")
            .field("kind", &self.kind)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Names of the built-in mechanisms.
pub const BUILT_IN: &[&str] = &["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"];

/// HMAC-MD5 of `challenge` keyed by `key`, in lower-case hex (imaplib's
/// `_CRAM_MD5_AUTH`).
pub fn cram_md5_digest(key: &[u8], challenge: &[u8]) -> String {
    let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(challenge);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

impl Mechanism {
    /// The built-in mechanism `name` (case-insensitive) for `user`.
    /// `secret` is the password, or the OAuth token for XOAUTH2 and
    /// OAUTHBEARER. `endpoint` is the server's host and port.
    ///
    /// # Errors
    /// `error` for a mechanism that is not built in.
    pub fn new(name: &str, user: &str, secret: &str, endpoint: Option<(String, u16)>) -> Result<Self> {
        let kind = match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Kind::Plain,
            "LOGIN" => Kind::Login,
            "CRAM-MD5" => Kind::CramMd5,
            "XOAUTH2" => Kind::XOAuth2,
            "OAUTHBEARER" => Kind::OAuthBearer,
            other => {
                return Err(ImapError::error(format!(
                    "mechanism {other} is not built in (built in: {}); drive it with authenticate-start",
                    BUILT_IN.join(", ")
                )))
            }
        };
        Ok(Mechanism {
            kind,
            user: user.into(),
            secret: secret.into(),
            endpoint,
            answered: 0,
        })
    }

    /// The mechanism's name as sent.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Plain => "PLAIN",
            Kind::Login => "LOGIN",
            Kind::CramMd5 => "CRAM-MD5",
            Kind::XOAuth2 => "XOAUTH2",
            Kind::OAuthBearer => "OAUTHBEARER",
        }
    }

    fn first_message(&self) -> Vec<u8> {
        match self.kind {
            Kind::Plain => format!("\0{}\0{}", self.user, self.secret).into_bytes(),
            Kind::XOAuth2 => format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.secret).into_bytes(),
            Kind::OAuthBearer => {
                let mut m = format!("n,a={},\x01", self.user.replace('=', "=3D").replace(',', "=2C"));
                if let Some((host, port)) = &self.endpoint {
                    m.push_str(&format!("host={host}\x01port={port}\x01"));
                }
                m.push_str(&format!("auth=Bearer {}\x01\x01", self.secret));
                m.into_bytes()
            }
            Kind::Login | Kind::CramMd5 => Vec::new(),
        }
    }

    /// The initial response, for mechanisms that have one (client-first).
    pub fn initial_response(&self) -> Option<Vec<u8>> {
        matches!(self.kind, Kind::Plain | Kind::XOAuth2 | Kind::OAuthBearer).then(|| self.first_message())
    }

    /// Notes that the initial response went out with SASL-IR.
    pub fn initial_sent(&mut self) {
        self.answered = 1;
    }

    /// The answer to the server's (decoded) `challenge`.
    pub fn respond(&mut self, challenge: &[u8]) -> Vec<u8> {
        let step = self.answered;
        self.answered += 1;
        match (self.kind, step) {
            (Kind::Plain | Kind::XOAuth2 | Kind::OAuthBearer, 0) => self.first_message(),
            (Kind::Login, 0) => self.user.clone().into_bytes(),
            (Kind::Login, 1) => self.secret.clone().into_bytes(),
            (Kind::CramMd5, 0) => {
                format!("{} {}", self.user, cram_md5_digest(self.secret.as_bytes(), challenge)).into_bytes()
            }
            // RFC 7628 §3.2.3: after an error challenge the client sends a
            // single %x01 so the server can finish with NO.
            (Kind::OAuthBearer, _) => vec![0x01],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_nul_separated() {
        let m = Mechanism::new("plain", "alice", "p a\"s\\s w", None).unwrap();
        assert_eq!(m.initial_response().unwrap(), b"\0alice\0p a\"s\\s w");
    }

    #[test]
    fn login_answers_user_then_password() {
        let mut m = Mechanism::new("LOGIN", "alice", "secret", None).unwrap();
        assert_eq!(m.initial_response(), None);
        assert_eq!(m.respond(b"Username:"), b"alice");
        assert_eq!(m.respond(b"Password:"), b"secret");
    }

    // RFC 2195 §2 example.
    #[test]
    fn cram_md5_rfc2195_example() {
        let mut m = Mechanism::new("CRAM-MD5", "tim", "tanstaaftanstaaf", None).unwrap();
        let answer = m.respond(b"<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(answer, b"tim b913a602c7eda7a495b4e6e7334d3890");
    }

    // Google's XOAUTH2 documentation example.
    #[test]
    fn xoauth2_matches_google_example() {
        let m = Mechanism::new(
            "XOAUTH2",
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
            None,
        )
        .unwrap();
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(m.initial_response().unwrap()),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    // RFC 7628 §4.1 example (host and port given).
    #[test]
    fn oauthbearer_matches_rfc7628() {
        let mut m = Mechanism::new(
            "OAUTHBEARER",
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
            Some(("server.example.com".into(), 143)),
        )
        .unwrap();
        assert_eq!(
            m.initial_response().unwrap(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        m.initial_sent();
        // After the server's JSON error challenge, a lone %x01.
        assert_eq!(m.respond(b"{\"status\":\"invalid_token\"}"), b"\x01");
    }

    #[test]
    fn unknown_mechanism_is_an_error() {
        assert!(Mechanism::new("SCRAM-SHA-1", "u", "p", None)
            .unwrap_err()
            .message()
            .contains("authenticate-start"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let m = Mechanism::new("PLAIN", "u", "hunter2", None).unwrap();
        assert!(!format!("{m:?}").contains("hunter2"));
    }
}
