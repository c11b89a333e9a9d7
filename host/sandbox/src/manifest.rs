//! The TOML manifest (`wasimap run --manifest wasimap.toml`): grants,
//! limits and secrets in a file; command-line flags add to it.
//!
//! ```toml
//! allow = ["imap.example.org:993"]
//! allow-exec = ["/usr/lib/dovecot/imap **"]
//! allow-read = ["/etc/wasimap/ca.pem"]
//! allow-ca = ["/etc/wasimap/test-ca.pem"]
//! allow-insecure-tls = ["test.example.org:993"]
//! deny-private-networks = true
//!
//! [limits]
//! memory-mib = 256
//! timeout-seconds = 600
//! fuel = 10000000000
//! max-connections = 4
//! max-processes = 1
//!
//! [secrets]
//! # Bound to the exact `allow` grants (here imap.example.org:993).
//! imap-password = "env:IMAP_PASSWORD"
//! # Bound to named endpoints; plaintext to a non-loopback host only
//! # with `plaintext = true`.
//! oauth-token = { source = "file:/run/secrets/token", endpoints = ["imap.example.org:993"] }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::policy::{HostPattern, Policy};
use crate::runner::{RunnerConfig, MAX_TIMEOUT};
use crate::secrets::{Endpoint, SecretSource, Secrets};
use crate::trust::TlsTrust;

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
    /// CA files plugins may trust.
    #[serde(default)]
    pub allow_ca: Vec<std::path::PathBuf>,
    /// `HOST:PORT` patterns where certificates need not be valid.
    #[serde(default)]
    pub allow_insecure_tls: Vec<String>,
    /// Refuse private-range addresses unless granted as IP patterns.
    #[serde(default)]
    pub deny_private_networks: bool,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Secret name → `env:VAR` / `file:PATH`, or a table with its bindings.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretDefinition>,
}

/// A secret in the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretDefinition {
    /// `env:VAR` or `file:PATH`, bound to the exact `allow` grants.
    Source(String),
    /// A table.
    Bound {
        /// `env:VAR` or `file:PATH`.
        source: String,
        /// `HOST:PORT` endpoints it may be revealed on.
        #[serde(default)]
        endpoints: Vec<String>,
        /// Whether it may go over plaintext to a non-loopback host.
        #[serde(default)]
        plaintext: bool,
    },
}

/// The `[limits]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Memory limit in MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock limit in seconds.
    pub timeout_seconds: Option<f64>,
    /// Fuel budget.
    pub fuel: Option<u64>,
    /// Connections open at once.
    pub max_connections: Option<usize>,
    /// Stream commands running at once.
    pub max_processes: Option<usize>,
    /// Instances of the store.
    pub max_instances: Option<usize>,
    /// Linear memories of the store.
    pub max_memories: Option<usize>,
    /// Tables of the store.
    pub max_tables: Option<usize>,
}

impl Limits {
    /// Sets every limit this table names in `config`, so that each one
    /// named is applied, by `wasimap run` and `wasimap watch` alike (the
    /// keys it leaves out keep `config`'s values). `wasimap run` first
    /// puts its flags in the table, where they override the manifest.
    ///
    /// # Errors
    /// A value out of its range (memory 1 MiB to 1 TiB; a timeout above
    /// 0 and at most [`crate::runner::MAX_TIMEOUT`]; counts above 0).
    pub fn apply(&self, config: &mut RunnerConfig) -> Result<()> {
        if let Some(mib) = self.memory_mib {
            config.memory_limit = memory_bytes(mib)?;
        }
        if let Some(seconds) = self.timeout_seconds {
            config.timeout = time_limit(seconds)?;
        }
        if let Some(fuel) = self.fuel {
            config.fuel = Some(fuel);
        }
        let t = &mut config.transport_limits;
        t.connections = count(
            "max-connections",
            "--max-connections",
            self.max_connections,
            t.connections,
        )?;
        t.processes = count("max-processes", "--max-processes", self.max_processes, t.processes)?;
        let s = &mut config.store_limits;
        s.instances = count("max-instances", "", self.max_instances, s.instances)?;
        s.memories = count("max-memories", "", self.max_memories, s.memories)?;
        s.tables = count("max-tables", "", self.max_tables, s.tables)?;
        Ok(())
    }
}

/// A memory limit in bytes; refuses what does not fit instead of wrapping.
fn memory_bytes(mib: u64) -> Result<usize> {
    const MAX_MIB: u64 = 1 << 20; // 1 TiB
    if mib == 0 || mib > MAX_MIB {
        anyhow::bail!("the memory limit (--memory, limits.memory-mib) must be from 1 to {MAX_MIB} MiB, not {mib}");
    }
    usize::try_from(mib << 20).context("the memory limit does not fit this machine's address space")
}

/// A wall-clock limit: positive, finite, at most [`MAX_TIMEOUT`].
fn time_limit(seconds: f64) -> Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIMEOUT.as_secs_f64()) {
        anyhow::bail!(
            "the time limit (--timeout, limits.timeout-seconds) must be more than 0 and at most {} seconds, not {seconds}",
            MAX_TIMEOUT.as_secs()
        );
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A count limit, when given (0 would refuse everything: a mistake).
fn count(key: &str, flag: &str, value: Option<usize>, default: usize) -> Result<usize> {
    match value {
        Some(0) => {
            let flag = if flag.is_empty() {
                String::new()
            } else {
                format!("{flag}, ")
            };
            anyhow::bail!("{flag}limits.{key} must be at least 1")
        }
        Some(n) => Ok(n),
        None => Ok(default),
    }
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
            policy = policy.try_allow_exec(c).map_err(anyhow::Error::msg)?;
        }
        for r in &self.allow_read {
            policy = policy.try_allow_read(r).map_err(anyhow::Error::msg)?;
        }
        Ok(policy.deny_private_networks(self.deny_private_networks))
    }

    /// The manifest's secrets, added to `secrets`.
    pub fn secrets(&self, mut secrets: Secrets) -> Result<Secrets> {
        for (name, definition) in &self.secrets {
            let (source, endpoints, plaintext) = match definition {
                SecretDefinition::Source(s) => (s, &[][..], false),
                SecretDefinition::Bound {
                    source,
                    endpoints,
                    plaintext,
                } => (source, &endpoints[..], *plaintext),
            };
            let source: SecretSource = source.parse().map_err(anyhow::Error::msg)?;
            secrets = secrets.define(name.clone(), source);
            for e in endpoints {
                let endpoint: Endpoint = e.parse().map_err(anyhow::Error::msg)?;
                secrets = secrets.bind(name, endpoint).map_err(anyhow::Error::msg)?;
            }
            if plaintext {
                secrets = secrets.allow_plaintext(name).map_err(anyhow::Error::msg)?;
            }
        }
        Ok(secrets)
    }

    /// The manifest's TLS trust grants, added to `trust`.
    pub fn trust(&self, mut trust: TlsTrust) -> Result<TlsTrust> {
        for file in &self.allow_ca {
            trust = trust.allow_ca(file).map_err(anyhow::Error::msg)?;
        }
        for p in &self.allow_insecure_tls {
            trust = trust.allow_insecure(p.parse::<HostPattern>().map_err(anyhow::Error::msg)?);
        }
        Ok(trust)
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
            tok = { source = "file:/run/t", endpoints = ["imap.example.org:993"], plaintext = true }
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
            vec!["pw", "tok"]
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
