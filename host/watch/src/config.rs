//! The watch manifest (`wasimap watch --manifest FILE`): the plugin, where
//! the state lives, the accounts and mailboxes to watch, their secrets,
//! and the policies for retries, sessions and UIDVALIDITY changes.
//!
//! ```toml
//! plugin = "journal.wasm"
//! state-dir = "/var/lib/wasimap/watch"
//! output = "/var/lib/wasimap/journal.log"   # optional: exactly-once output file
//! plugin-args = ["--verbose"]
//! on-uidvalidity-change = "stop"             # or "skip-existing", "handle-all"
//!
//! [[account]]
//! name = "work"
//! host = "imap.example.org"
//! port = 993
//! tls = "implicit"        # "none", "starttls" or "implicit"
//! user = "alice"
//! secret = "work-pw"      # a name from [secrets]
//! mailboxes = ["INBOX"]
//! ca-file = "/etc/wasimap/ca.pem"           # optional: an extra trust anchor
//! start = "new"           # or "all": also the messages there at the first start
//!
//! [secrets]
//! work-pw = "env:WORK_PW" # or "file:PATH"
//!
//! [limits]                # per plugin call
//! timeout-seconds = 300
//! memory-mib = 256
//!
//! [retry]
//! max-attempts = 5
//! backoff-seconds = 2
//! backoff-max-seconds = 300
//!
//! [session]
//! idle-seconds = 600      # an IDLE is ended and re-issued at least this often (at most 29 min)
//! poll-seconds = 60       # without IDLE: how often to look
//! read-timeout-seconds = 60
//! reconnect-min-seconds = 1
//! reconnect-max-seconds = 300
//! batch-max = 100
//! use-idle = true         # false: always poll
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use wasimap_sandbox::batch::TlsMode;
use wasimap_sandbox::manifest::{Limits, Manifest, SecretDefinition};
use wasimap_sandbox::secrets::Endpoint;

/// RFC 2177: clients should re-issue IDLE at least every 29 minutes.
pub const MAX_IDLE: Duration = Duration::from_secs(29 * 60);

/// A parsed watch manifest. Relative paths are relative to its directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WatchManifest {
    /// The watcher plugin (`.wasm`, world `wasimap:imap/watcher`).
    pub plugin: PathBuf,
    /// Where the durable state is kept (created if missing).
    pub state_dir: PathBuf,
    /// A file the plugin's output is appended to exactly once per handled
    /// batch; without it the output goes to stdout once the batch is
    /// recorded.
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// Arguments handed to every call (`batch.args`).
    #[serde(default)]
    pub plugin_args: Vec<String>,
    /// What to do when a mailbox's UIDVALIDITY changes.
    #[serde(default)]
    pub on_uidvalidity_change: UidValidityPolicy,
    /// CPU slots: plugin calls running wasm at once, across all accounts
    /// (default 2).
    #[serde(default = "two")]
    pub concurrency: usize,
    /// Plugin calls in progress at once (running, or blocked on their
    /// server, asleep, waiting for their turn): what bounds the memory
    /// of calls, each up to `[limits] memory-mib` plus its bodies and
    /// output. Default twice `concurrency`.
    #[serde(default)]
    pub calls_in_flight: Option<usize>,
    /// Directory of the compiled-component cache (default as `wasimap run`).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// The accounts.
    #[serde(rename = "account", default)]
    pub accounts: Vec<Account>,
    /// Secret name → `env:VAR` / `file:PATH`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretDefinition>,
    /// Limits of each plugin call.
    #[serde(default)]
    pub limits: Limits,
    /// Retries of failed batches.
    #[serde(default)]
    pub retry: Retry,
    /// How sessions are kept.
    #[serde(default)]
    pub session: SessionSettings,
}

/// One watched account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Account {
    /// Its name in logs, state and batches.
    pub name: String,
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `"none"`, `"starttls"` or `"implicit"`.
    pub tls: TlsMode,
    /// Login name.
    pub user: String,
    /// The name of its password in `[secrets]`.
    pub secret: String,
    /// Mailboxes to watch (default INBOX).
    #[serde(default = "inbox")]
    pub mailboxes: Vec<String>,
    /// An extra CA certificate file to trust for this server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Whether the messages already there at the first start are handled
    /// too (`"all"`) or only those that arrive later (`"new"`, default).
    #[serde(default)]
    pub start: Start,
}

fn two() -> usize {
    2
}

fn inbox() -> Vec<String> {
    vec!["INBOX".into()]
}

/// Which messages the first start of a mailbox hands out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// Only those that arrive after the first start.
    #[default]
    New,
    /// Every message.
    All,
}

/// What a UIDVALIDITY change does. Never silent: it is logged and counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UidValidityPolicy {
    /// Stop watching that mailbox until the user decides (`--status` shows
    /// it; `--reset ACCOUNT/MAILBOX` starts it afresh).
    #[default]
    Stop,
    /// Start afresh with the messages that arrive from now on.
    SkipExisting,
    /// Start afresh and hand out every message of the mailbox again.
    HandleAll,
}

/// The `[retry]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Retry {
    /// Calls of one message before it goes to the dead-letter list.
    pub max_attempts: u32,
    /// First wait before a retry; doubled each time.
    pub backoff_seconds: f64,
    /// Longest wait before a retry.
    pub backoff_max_seconds: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 5,
            backoff_seconds: 2.0,
            backoff_max_seconds: 300.0,
        }
    }
}

/// The `[session]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SessionSettings {
    /// The longest single IDLE: then DONE, a NOOP that proves the
    /// connection alive, and IDLE again (at most 29 minutes).
    pub idle_seconds: f64,
    /// Without IDLE: the wait between two looks.
    pub poll_seconds: f64,
    /// Connect and read timeout outside IDLE: a server silent for longer
    /// is dead.
    pub read_timeout_seconds: f64,
    /// First wait before a reconnect; doubled (with jitter) each failure.
    pub reconnect_min_seconds: f64,
    /// Longest wait before a reconnect.
    pub reconnect_max_seconds: f64,
    /// Most UIDs in one batch.
    pub batch_max: usize,
    /// Use IDLE where the server offers it (`false`: always poll, for a
    /// server whose IDLE misbehaves).
    pub use_idle: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_seconds: 600.0,
            poll_seconds: 60.0,
            read_timeout_seconds: 60.0,
            reconnect_min_seconds: 1.0,
            reconnect_max_seconds: 300.0,
            batch_max: 100,
            use_idle: true,
        }
    }
}

/// Seconds from the manifest as a duration, checked.
pub fn seconds(name: &str, s: f64) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 30.0 * 24.0 * 3600.0) {
        bail!("{name} must be more than 0 and at most 30 days, not {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

impl WatchManifest {
    /// Reads, parses and checks a manifest; relative paths become
    /// relative to the manifest's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut m: WatchManifest = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let absolute = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        absolute(&mut m.plugin);
        absolute(&mut m.state_dir);
        if let Some(o) = m.output.as_mut() {
            absolute(o);
        }
        if let Some(c) = m.cache_dir.as_mut() {
            absolute(c);
        }
        for a in &mut m.accounts {
            if let Some(c) = a.ca_file.as_mut() {
                absolute(c);
            }
        }
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<()> {
        if self.accounts.is_empty() {
            bail!("the manifest names no [[account]]");
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if a.name.is_empty() || a.name.contains(['/', '\n', '\r', '\0']) {
                bail!("account name {:?} is empty or holds '/', CR, LF or NUL", a.name);
            }
            if !names.insert(&a.name) {
                bail!("account {:?} is named twice", a.name);
            }
            if !self.secrets.contains_key(&a.secret) {
                bail!("account {:?}: secret {:?} is not in [secrets]", a.name, a.secret);
            }
            if a.mailboxes.is_empty() {
                bail!("account {:?} watches no mailbox", a.name);
            }
            // Two loops on one mailbox would hand out its UIDs twice.
            let mut seen = std::collections::BTreeSet::new();
            for m in &a.mailboxes {
                let canonical = if m.eq_ignore_ascii_case("INBOX") {
                    "INBOX".into()
                } else {
                    m.clone()
                };
                if !seen.insert(canonical) {
                    bail!("account {:?} names mailbox {m:?} twice", a.name);
                }
            }
        }
        if self.retry.max_attempts == 0 {
            bail!("retry.max-attempts must be at least 1");
        }
        if self.session.batch_max == 0 {
            bail!("session.batch-max must be at least 1");
        }
        if seconds("session.idle-seconds", self.session.idle_seconds)? > MAX_IDLE {
            bail!("session.idle-seconds must be at most 1740 (RFC 2177's 29 minutes)");
        }
        for (name, s) in [
            ("session.poll-seconds", self.session.poll_seconds),
            ("session.read-timeout-seconds", self.session.read_timeout_seconds),
            ("session.reconnect-min-seconds", self.session.reconnect_min_seconds),
            ("session.reconnect-max-seconds", self.session.reconnect_max_seconds),
            ("retry.backoff-seconds", self.retry.backoff_seconds),
            ("retry.backoff-max-seconds", self.retry.backoff_max_seconds),
        ] {
            seconds(name, s)?;
        }
        Ok(())
    }

    /// The run manifest holding this manifest's secrets and limits, so the
    /// same rules parse them.
    pub fn run_manifest(&self) -> Manifest {
        Manifest {
            secrets: self.secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            limits: self.limits.clone(),
            ..Manifest::default()
        }
    }
}

impl Account {
    /// The endpoint the account's secret is bound to.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        plugin = "journal.wasm"
        state-dir = "state"
        [[account]]
        name = "work"
        host = "imap.example.org"
        port = 993
        tls = "implicit"
        user = "alice"
        secret = "work-pw"
        mailboxes = ["INBOX"]
        [secrets]
        work-pw = "env:WORK_PW"
    "#;

    fn parse(text: &str) -> Result<WatchManifest> {
        let m: WatchManifest = toml::from_str(text)?;
        m.check()?;
        Ok(m)
    }

    #[test]
    fn the_issues_example_parses_with_defaults() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.accounts[0].tls, TlsMode::Implicit);
        assert_eq!(m.accounts[0].start, Start::New);
        assert_eq!(m.on_uidvalidity_change, UidValidityPolicy::Stop);
        assert_eq!(m.retry.max_attempts, 5);
        assert_eq!(m.session.batch_max, 100);
    }

    #[test]
    fn mistakes_are_refused_with_their_reason() {
        let unknown = GOOD.replace("[secrets]", "colour = \"blue\"\n[secrets]");
        assert!(parse(&unknown).is_err());
        let no_secret = GOOD.replace("work-pw = \"env:WORK_PW\"", "other = \"env:X\"");
        assert!(format!("{:#}", parse(&no_secret).unwrap_err()).contains("secret \"work-pw\" is not in [secrets]"));
        let long_idle = format!("{GOOD}\n[session]\nidle-seconds = 1800\n");
        assert!(format!("{:#}", parse(&long_idle).unwrap_err()).contains("29 minutes"));
        let twice = format!(
            "{GOOD}\n[[account]]\nname = \"work\"\nhost = \"h\"\nport = 1\ntls = \"none\"\nuser = \"u\"\nsecret = \"work-pw\"\n"
        );
        assert!(format!("{:#}", parse(&twice).unwrap_err()).contains("named twice"));
        let twice = GOOD.replace("mailboxes = [\"INBOX\"]", "mailboxes = [\"INBOX\", \"inbox\"]");
        assert!(format!("{:#}", parse(&twice).unwrap_err()).contains("names mailbox"));
        let bad_tls = GOOD.replace("\"implicit\"", "\"maybe\"");
        assert!(parse(&bad_tls).is_err());
    }
}
