//! The TOML manifest (`wasimap run --manifest wasimap.toml`): grants,
//! limits and secrets in a file; command-line flags add to it.
//!
//! ```toml
//! allow = ["imap.example.org:993"]
//! allow-exec = ["/usr/lib/dovecot/imap **"]
//! allow-read = ["/etc/wasimap/ca.pem"]
//!
//! [limits]
//! memory-mib = 256
//! timeout-seconds = 600
//! fuel = 10000000000
//!
//! [secrets]
//! imap-password = "env:IMAP_PASSWORD"
//! oauth-token = "file:/run/secrets/token"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::policy::{HostPattern, Policy};
use crate::secrets::{SecretSource, Secrets};

/// A parsed manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// `HOST:PORT` patterns.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Command patterns for stream connections.
    #[serde(default)]
    pub allow_exec: Vec<String>,
    /// Readable file patterns.
    #[serde(default)]
    pub allow_read: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Secret name → `env:VAR` or `file:PATH`.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// The `[limits]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Memory limit in MiB.
    pub memory_mib: Option<usize>,
    /// Wall-clock limit in seconds.
    pub timeout_seconds: Option<f64>,
    /// Fuel budget.
    pub fuel: Option<u64>,
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The policy the manifest grants, added to `policy`.
    pub fn policy(&self, mut policy: Policy) -> Result<Policy> {
        for p in &self.allow {
            policy = policy.allow(p.parse::<HostPattern>().map_err(anyhow::Error::msg)?);
        }
        for c in &self.allow_exec {
            policy = policy.allow_exec(c.clone());
        }
        for r in &self.allow_read {
            policy = policy.allow_read(r.clone());
        }
        Ok(policy)
    }

    /// The manifest's secrets, added to `secrets`.
    pub fn secrets(&self, mut secrets: Secrets) -> Result<Secrets> {
        for (name, source) in &self.secrets {
            let source: SecretSource = source.parse().map_err(anyhow::Error::msg)?;
            secrets = secrets.define(name.clone(), source);
        }
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Request;

    #[test]
    fn parses_grants_limits_and_secrets() {
        let m: Manifest = toml::from_str(
            r#"
            allow = ["imap.example.org:993"]
            allow-exec = ["/usr/lib/dovecot/imap **"]
            [limits]
            memory-mib = 64
            fuel = 1000
            [secrets]
            pw = "env:IMAP_PASSWORD"
            "#,
        )
        .unwrap();
        let p = m.policy(Policy::deny_all()).unwrap();
        assert!(p
            .check(&Request::ConnectTls {
                host: "imap.example.org",
                port: 993
            })
            .is_ok());
        assert!(p
            .check(&Request::Exec {
                command: "/usr/lib/dovecot/imap -u x"
            })
            .is_ok());
        assert_eq!(m.limits.memory_mib, Some(64));
        assert_eq!(
            m.secrets(Secrets::none()).unwrap().names().collect::<Vec<_>>(),
            vec!["pw"]
        );
        assert!(
            toml::from_str::<Manifest>("allow-everything = true").is_err(),
            "unknown keys are refused"
        );
        assert!(m.secrets(Secrets::none()).is_ok());
        let bad: Manifest = toml::from_str("[secrets]\npw = \"plain:x\"").unwrap();
        assert!(bad.secrets(Secrets::none()).is_err());
    }
}
