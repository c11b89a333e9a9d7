//! Named secrets the protocol component may reveal to a server on a
//! plugin's behalf. Values are read when used, never logged, and never
//! handed to plugins. Each secret is bound to the endpoints it may be
//! revealed on (by default the run's exact, wildcard-free `--allow`
//! grants) and is only revealed over verified TLS or to a loopback address
//! unless the user allows plaintext for it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a secret's value comes from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable of the host (`env:VAR`).
    Env(String),
    /// A file's content without its final newline (`file:PATH`).
    File(PathBuf),
    /// A value given by an embedding program.
    Value(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "env:{v}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
            SecretSource::Value(_) => f.write_str("<redacted>"),
        }
    }
}

impl FromStr for SecretSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(var) = s.strip_prefix("env:").filter(|v| !v.is_empty()) {
            Ok(SecretSource::Env(var.to_string()))
        } else if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(SecretSource::File(PathBuf::from(path)))
        } else {
            Err(format!(
                "invalid secret source {s:?}: expected env:VARIABLE or file:PATH"
            ))
        }
    }
}

/// `NAME=env:VAR` or `NAME=file:PATH`, as `--secret` takes it.
pub fn parse_definition(s: &str) -> Result<(String, SecretSource), String> {
    let (name, source) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid secret {s:?}: expected NAME=env:VARIABLE or NAME=file:PATH"))?;
    if name.is_empty() {
        return Err(format!("invalid secret {s:?}: the name is empty"));
    }
    Ok((name.to_string(), source.parse()?))
}

pub use crate::policy::Endpoint;
use crate::policy::{Denial, Grant, Wording};

/// A secret's definition: where its value comes from and where it may go.
#[derive(Debug, Clone)]
struct Entry {
    source: SecretSource,
    /// Explicit endpoints; empty means the run's exact `--allow` grants.
    endpoints: Vec<Endpoint>,
    /// Whether it may go over a connection that is neither verified TLS
    /// nor to a loopback address.
    plaintext: bool,
}

/// How a connection carries a secret, as far as the host knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// TLS whose certificate was verified for the host the plugin named.
    VerifiedTls,
    /// Plain TCP to a loopback address (never leaves the machine).
    Loopback,
    /// Plain TCP to another address, or TLS without verification of the
    /// named host (`dangerously-accept-invalid-certs`, another server name).
    Exposed,
}

/// The secrets a run may use, by name.
#[derive(Clone, Default)]
pub struct Secrets {
    entries: BTreeMap<String, Entry>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(n, e)| (n, &e.source)))
            .finish()
    }
}

/// Why a secret was not revealed. Messages name the secret and the rule,
/// never a value.
/// Why a secret was not revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealError {
    /// The user's grants do not let it go over this connection: which one
    /// is missing.
    Denied(Denial),
    /// Its source could not be read (a variable not set, a file
    /// unreadable); the message names the secret and the source, never a
    /// value.
    Unavailable(String),
    /// Its value holds CR, LF or NUL, which no IMAP command can carry.
    Unsendable(String),
}

impl RevealError {
    /// The message, a denial worded by `wording`.
    pub fn worded(&self, wording: Wording) -> String {
        match self {
            RevealError::Denied(d) => d.worded(wording),
            RevealError::Unavailable(m) | RevealError::Unsendable(m) => m.clone(),
        }
    }
}

impl fmt::Display for RevealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.worded(crate::policy::denial::neutral))
    }
}

impl Secrets {
    /// No secrets.
    pub fn none() -> Self {
        Self::default()
    }

    /// Defines (or redefines) `name`, bound to the run's exact grants until
    /// [`Secrets::bind`] names endpoints.
    pub fn define(mut self, name: impl Into<String>, source: SecretSource) -> Self {
        self.entries.insert(
            name.into(),
            Entry {
                source,
                endpoints: Vec::new(),
                plaintext: false,
            },
        );
        self
    }

    /// Allows `name` on `endpoint` (repeatable). Once any endpoint is named,
    /// only the named ones count.
    ///
    /// # Errors
    /// When `name` is not defined.
    pub fn bind(mut self, name: &str, endpoint: Endpoint) -> Result<Self, String> {
        let entry = self.entry_mut(name)?;
        if !entry.endpoints.contains(&endpoint) {
            entry.endpoints.push(endpoint);
        }
        Ok(self)
    }

    /// Lets `name` go over plaintext (or unverified TLS) to a host that is
    /// not loopback: the user's explicit choice.
    ///
    /// # Errors
    /// When `name` is not defined.
    pub fn allow_plaintext(mut self, name: &str) -> Result<Self, String> {
        self.entry_mut(name)?.plaintext = true;
        Ok(self)
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut Entry, String> {
        self.entries
            .get_mut(name)
            .ok_or_else(|| format!("secret {name:?} is not defined"))
    }

    /// The defined names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The values of every secret that may be revealed on a connection to
    /// `endpoint` (bound to it, or to `default_endpoints` when bound to
    /// none), whatever the carrier: what that connection's echo guard
    /// watches for from its first byte, so that a server that learnt a
    /// secret on another connection cannot send it back on this one
    /// before, or without, its reveal here. A value that cannot be read
    /// now is left out (its reveal would fail too).
    pub(crate) fn values_bound_to(&self, endpoint: &Endpoint, default_endpoints: &[Endpoint]) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| {
                let bound = if e.endpoints.is_empty() {
                    default_endpoints
                } else {
                    &e.endpoints
                };
                bound.contains(endpoint)
            })
            .filter_map(|(name, e)| resolve(name, &e.source).ok())
            .collect()
    }

    /// The value of `name` for a connection to `endpoint` carried by
    /// `carrier`, if the rules allow it: the endpoint is one the secret is
    /// bound to (`default_endpoints`, the exact grants, when none was named),
    /// the carrier is verified TLS or loopback unless the user allowed
    /// plaintext, and the value can be sent (no CR, LF or NUL).
    pub(crate) fn reveal_for(
        &self,
        name: &str,
        endpoint: Option<&Endpoint>,
        carrier: Carrier,
        default_endpoints: &[Endpoint],
    ) -> Result<String, RevealError> {
        let entry = self.entries.get(name).ok_or_else(|| {
            RevealError::Denied(Denial::new(
                format!("unknown secret {name:?}"),
                Grant::Secret(name.into()),
            ))
        })?;
        let Some(endpoint) = endpoint else {
            return Err(RevealError::Denied(Denial::ungrantable(format!(
                "secret {name:?} is not revealed on a stream (command) connection"
            ))));
        };
        let bound = if entry.endpoints.is_empty() {
            default_endpoints
        } else {
            &entry.endpoints
        };
        if !bound.contains(endpoint) {
            return Err(RevealError::Denied(Denial::new(
                format!("secret {name:?} is not bound to {endpoint}"),
                Grant::SecretEndpoint {
                    name: name.into(),
                    endpoint: endpoint.clone(),
                },
            )));
        }
        if carrier == Carrier::Exposed && !entry.plaintext {
            return Err(RevealError::Denied(Denial::new(
                format!("secret {name:?} is not sent to {endpoint} without verified TLS"),
                Grant::SecretPlaintext(name.into()),
            )));
        }
        let value = resolve(name, &entry.source).map_err(RevealError::Unavailable)?;
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(RevealError::Unsendable(format!(
                "secret {name:?} contains CR, LF or NUL and cannot be sent to an IMAP server"
            )));
        }
        Ok(value)
    }
}

/// Reads a secret's value from its source. Errors name the secret and its
/// source, never a value.
fn resolve(name: &str, source: &SecretSource) -> Result<String, String> {
    match source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("secret {name:?}: environment variable {var} is not set"))
        }
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map(|s| {
                s.strip_suffix('\n')
                    .map(|s| s.strip_suffix('\r').unwrap_or(s))
                    .unwrap_or(&s)
                    .to_string()
            })
            .map_err(|e| format!("secret {name:?}: cannot read {}: {}", path.display(), e.kind())),
        SecretSource::Value(v) => Ok(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn definitions_and_resolution() {
        let (name, source) = parse_definition("imap=env:WASIMAP_TEST_SECRET_XYZ").unwrap();
        assert_eq!(name, "imap");
        let secrets = Secrets::none()
            .define(name, source)
            .define("v", SecretSource::Value("hunter2".into()));
        let here = [ep("127.0.0.1:143")];
        let reveal = |n| secrets.reveal_for(n, Some(&here[0]), Carrier::Loopback, &here);
        let unset = reveal("imap").unwrap_err();
        assert!(matches!(unset, RevealError::Unavailable(_)), "{unset:?}");
        assert!(unset.to_string().contains("WASIMAP_TEST_SECRET_XYZ is not set"));
        assert_eq!(reveal("v").unwrap(), "hunter2");
        assert_eq!(
            reveal("nope").unwrap_err(),
            RevealError::Denied(Denial::new("unknown secret \"nope\"", Grant::Secret("nope".into())))
        );
        assert_eq!(
            reveal("nope").unwrap_err().to_string(),
            "unknown secret \"nope\" (no secret \"nope\" is defined)"
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
        assert!(parse_definition("x=plain:abc").is_err());
        assert!(parse_definition("=env:X").is_err());
    }

    #[test]
    fn a_secret_goes_only_where_it_is_bound_and_only_protected() {
        let s = Secrets::none().define("pw", SecretSource::Value("hunter2".into()));
        let grants = [ep("imap.example.org:993"), ep("127.0.0.1:143")];
        let ok = s.reveal_for("pw", Some(&ep("IMAP.example.org:993")), Carrier::VerifiedTls, &grants);
        assert_eq!(ok.unwrap(), "hunter2");
        let err = s
            .reveal_for("pw", Some(&ep("imap.example.org:143")), Carrier::VerifiedTls, &grants)
            .unwrap_err();
        assert_eq!(
            err,
            RevealError::Denied(Denial::new(
                "secret \"pw\" is not bound to imap.example.org:143",
                Grant::SecretEndpoint {
                    name: "pw".into(),
                    endpoint: ep("imap.example.org:143")
                }
            ))
        );
        let err = s
            .reveal_for("pw", Some(&ep("imap.example.org:993")), Carrier::Exposed, &grants)
            .unwrap_err();
        let RevealError::Denied(d) = &err else {
            panic!("{err:?}")
        };
        assert!(d.refused.contains("without verified TLS"), "{err}");
        assert_eq!(d.grant, Some(Grant::SecretPlaintext("pw".into())));
        assert!(s.reveal_for("pw", Some(&grants[1]), Carrier::Loopback, &grants).is_ok());
        assert!(s
            .reveal_for("pw", None, Carrier::Loopback, &grants)
            .unwrap_err()
            .to_string()
            .contains("stream"));

        // Naming endpoints replaces the default; plaintext is an opt-in.
        let s = s
            .bind("pw", ep("mail.example.net:143"))
            .unwrap()
            .allow_plaintext("pw")
            .unwrap();
        assert!(s
            .reveal_for("pw", Some(&grants[0]), Carrier::VerifiedTls, &grants)
            .is_err());
        assert!(s
            .reveal_for("pw", Some(&ep("mail.example.net:143")), Carrier::Exposed, &grants)
            .is_ok());
        assert!(Secrets::none().bind("x", ep("a:1")).is_err());
    }

    #[test]
    fn unsendable_values_are_refused_without_showing_them() {
        let s = Secrets::none().define("t", SecretSource::Value("hunter2-token\n".into()));
        let here = [ep("127.0.0.1:143")];
        let err = s.reveal_for("t", Some(&here[0]), Carrier::Loopback, &here).unwrap_err();
        assert_eq!(
            err,
            RevealError::Unsendable("secret \"t\" contains CR, LF or NUL and cannot be sent to an IMAP server".into())
        );
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn endpoints_parse_without_wildcards() {
        assert_eq!(ep("Mail.Example.org:993"), Endpoint::new("mail.example.org", 993));
        assert_eq!(ep("[::1]:143").to_string(), "[::1]:143");
        for bad in ["*.example.org:993", "host", "host:*", "::1:143", "h:70000"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn file_secrets_lose_the_final_newline_only() {
        let dir = std::env::temp_dir().join(format!("wasimap-secret-{}", std::process::id()));
        std::fs::write(&dir, "  pass word \n").unwrap();
        let s = Secrets::none().define("f", SecretSource::File(dir.clone()));
        let here = [ep("127.0.0.1:143")];
        assert_eq!(
            s.reveal_for("f", Some(&here[0]), Carrier::Loopback, &here).unwrap(),
            "  pass word "
        );
        std::fs::remove_file(dir).unwrap();
    }
}
