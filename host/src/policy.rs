//! Deny-by-default permissions for what plugins may reach.
//!
//! Every transport request maps, in one exhaustive function
//! ([`required_permission`]), to the permission it needs; the [`Policy`]
//! grants permissions. A denial names the flag that would grant it.

use std::fmt;
use std::str::FromStr;

/// Something a plugin asks the host to do on its behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// Open a TCP connection.
    ConnectTcp {
        /// Host name or IP literal as the plugin gave it.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// Open a TCP connection and run TLS on it.
    ConnectTls {
        /// Host name or IP literal as the plugin gave it.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// Run a command as a connection (`IMAP4_stream`).
    Exec {
        /// The command line, as given to `/bin/sh -c`.
        command: &'a str,
    },
    /// Read a file on the host (a CA bundle named in TLS options).
    ReadFile {
        /// The path as the plugin gave it.
        path: &'a str,
    },
}

/// A permission a user can grant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Permission {
    /// Connect to `host:port` (`--allow HOST:PORT`).
    Connect {
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
    },
    /// Run this command line (`--allow-exec COMMAND`).
    Exec(String),
    /// Read this file (`--allow-read PATH`).
    ReadFile(String),
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Connect { host, port } => {
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
            Permission::Exec(command) => write!(f, "{command}"),
            Permission::ReadFile(path) => write!(f, "{path}"),
        }
    }
}

/// The permission each request needs. Exhaustive on purpose: a new kind of
/// request does not compile until it says what it needs.
pub fn required_permission(request: &Request<'_>) -> Permission {
    match *request {
        Request::ConnectTcp { host, port } | Request::ConnectTls { host, port } => Permission::Connect {
            host: host.to_ascii_lowercase(),
            port,
        },
        Request::Exec { command } => Permission::Exec(command.to_string()),
        Request::ReadFile { path } => Permission::ReadFile(path.to_string()),
    }
}

/// `HOST:PORT` with `*` wildcards in the host (`*.example.org:993`) and `*`
/// for any port (`127.0.0.1:*`). IPv6 literals go in brackets: `[::1]:143`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    port: Option<u16>,
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid host pattern {s:?}: expected HOST:PORT, e.g. imap.example.org:993 or 127.0.0.1:*");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            (h, p)
        } else {
            s.rsplit_once(':').ok_or_else(bad)?
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad());
        }
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        Ok(HostPattern {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Glob match where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

impl HostPattern {
    fn matches(&self, host: &str, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && glob(&self.host, host)
    }
}

/// What the user granted. The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<HostPattern>,
    allow_exec: Vec<String>,
    allow_read: Vec<String>,
}

impl Policy {
    /// A policy that denies everything.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Grants connections matching `pattern`.
    pub fn allow(mut self, pattern: HostPattern) -> Self {
        self.allow.push(pattern);
        self
    }

    /// Grants running commands matching `pattern` (`*` matches any text,
    /// e.g. `/usr/lib/dovecot/imap *`).
    pub fn allow_exec(mut self, pattern: impl Into<String>) -> Self {
        self.allow_exec.push(pattern.into());
        self
    }

    /// Grants reading files matching `pattern` (`*` matches any text).
    pub fn allow_read(mut self, pattern: impl Into<String>) -> Self {
        self.allow_read.push(pattern.into());
        self
    }

    /// The grants that name one endpoint exactly (no wildcard in the host,
    /// a fixed port): where a secret may go when the user bound it to
    /// nothing else.
    pub fn exact_endpoints(&self) -> Vec<crate::secrets::Endpoint> {
        self.allow
            .iter()
            .filter(|p| !p.host.contains('*'))
            .filter_map(|p| p.port.map(|port| crate::secrets::Endpoint::new(&p.host, port)))
            .collect()
    }

    /// Whether `permission` is granted.
    pub fn grants(&self, permission: &Permission) -> bool {
        match permission {
            Permission::Connect { host, port } => self.allow.iter().any(|p| p.matches(host, *port)),
            Permission::Exec(command) => self.allow_exec.iter().any(|p| glob(p, command)),
            Permission::ReadFile(path) => self.allow_read.iter().any(|p| glob(p, path)),
        }
    }

    /// Checks a request; the error is the message the plugin sees.
    pub fn check(&self, request: &Request<'_>) -> Result<(), String> {
        let needed = required_permission(request);
        if self.grants(&needed) {
            return Ok(());
        }
        Err(match &needed {
            Permission::Connect { .. } => {
                format!("connection to {needed} not allowed (grant it with --allow {needed})")
            }
            Permission::Exec(command) => {
                format!("running {command:?} not allowed (grant it with --allow-exec {command:?})")
            }
            Permission::ReadFile(path) => {
                format!("reading {path:?} not allowed (grant it with --allow-read {path:?})")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str]) -> Policy {
        patterns
            .iter()
            .fold(Policy::deny_all(), |p, s| p.allow(s.parse().unwrap()))
    }

    fn tcp(host: &str, port: u16) -> Request<'_> {
        Request::ConnectTcp { host, port }
    }

    #[test]
    fn deny_by_default_with_a_helpful_message() {
        let err = Policy::deny_all().check(&tcp("imap.example.org", 993)).unwrap_err();
        assert_eq!(
            err,
            "connection to imap.example.org:993 not allowed (grant it with --allow imap.example.org:993)"
        );
        let err = Policy::deny_all().check(&tcp("::1", 143)).unwrap_err();
        assert!(err.ends_with("--allow [::1]:143)"), "{err}");
    }

    #[test]
    fn patterns() {
        let p = policy(&["*.example.org:993", "127.0.0.1:*", "[::1]:143"]);
        assert!(p.check(&tcp("imap.example.org", 993)).is_ok());
        assert!(p.check(&tcp("IMAP.Example.ORG", 993)).is_ok());
        assert!(p.check(&tcp("imap.example.org", 143)).is_err());
        assert!(p.check(&tcp("example.org.evil.com", 993)).is_err());
        assert!(p.check(&tcp("127.0.0.1", 31337)).is_ok());
        assert!(p.check(&tcp("127.0.0.2", 143)).is_err());
        assert!(p.check(&tcp("::1", 143)).is_ok());
        assert!(p
            .check(&Request::ConnectTls {
                host: "imap.example.org",
                port: 993
            })
            .is_ok());
        assert!("nohost".parse::<HostPattern>().is_err());
        assert!("h:99999".parse::<HostPattern>().is_err());
    }

    #[test]
    fn exec_and_read_are_denied_unless_granted() {
        let deny = Policy::deny_all();
        let err = deny
            .check(&Request::Exec {
                command: "/usr/lib/dovecot/imap -u x",
            })
            .unwrap_err();
        assert_eq!(err, "running \"/usr/lib/dovecot/imap -u x\" not allowed (grant it with --allow-exec \"/usr/lib/dovecot/imap -u x\")");
        assert!(deny
            .check(&Request::ReadFile { path: "/etc/shadow" })
            .unwrap_err()
            .contains("--allow-read"));
        let p = Policy::deny_all()
            .allow_exec("/usr/lib/dovecot/imap *")
            .allow_read("/tmp/certs/*.pem");
        assert!(p
            .check(&Request::Exec {
                command: "/usr/lib/dovecot/imap -c c -u x"
            })
            .is_ok());
        assert!(p.check(&Request::Exec { command: "/bin/sh" }).is_err());
        assert!(p
            .check(&Request::ReadFile {
                path: "/tmp/certs/ca.pem"
            })
            .is_ok());
        assert!(p.check(&Request::ReadFile { path: "/etc/passwd" }).is_err());
    }
}
