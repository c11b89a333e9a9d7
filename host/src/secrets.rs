//! Named secrets the protocol component may reveal to a server on a
//! plugin's behalf. Values are read when used, never logged, and never
//! handed to plugins.

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

/// The secrets a run may use, by name.
#[derive(Clone, Default)]
pub struct Secrets {
    sources: BTreeMap<String, SecretSource>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sources.iter()).finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn none() -> Self {
        Self::default()
    }

    /// Defines (or redefines) `name`.
    pub fn define(mut self, name: impl Into<String>, source: SecretSource) -> Self {
        self.sources.insert(name.into(), source);
        self
    }

    /// The defined names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    /// The value of `name`. Errors name the secret and its source, never
    /// a value.
    pub fn reveal(&self, name: &str) -> Result<String, String> {
        match self.sources.get(name) {
            None => Err(format!(
                "unknown secret {name:?} (define it with --secret {name}=env:VARIABLE)"
            )),
            Some(SecretSource::Env(var)) => {
                std::env::var(var).map_err(|_| format!("secret {name:?}: environment variable {var} is not set"))
            }
            Some(SecretSource::File(path)) => std::fs::read_to_string(path)
                .map(|s| {
                    s.strip_suffix('\n')
                        .map(|s| s.strip_suffix('\r').unwrap_or(s))
                        .unwrap_or(&s)
                        .to_string()
                })
                .map_err(|e| format!("secret {name:?}: cannot read {}: {}", path.display(), e.kind())),
            Some(SecretSource::Value(v)) => Ok(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_and_resolution() {
        let (name, source) = parse_definition("imap=env:WASIMAP_TEST_SECRET_XYZ").unwrap();
        assert_eq!(name, "imap");
        let secrets = Secrets::none()
            .define(name, source)
            .define("v", SecretSource::Value("hunter2".into()));
        assert!(secrets
            .reveal("imap")
            .unwrap_err()
            .contains("WASIMAP_TEST_SECRET_XYZ is not set"));
        assert_eq!(secrets.reveal("v").unwrap(), "hunter2");
        assert_eq!(
            secrets.reveal("nope").unwrap_err(),
            "unknown secret \"nope\" (define it with --secret nope=env:VARIABLE)"
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
        assert!(parse_definition("x=plain:abc").is_err());
        assert!(parse_definition("=env:X").is_err());
    }

    #[test]
    fn file_secrets_lose_the_final_newline_only() {
        let dir = std::env::temp_dir().join(format!("wasimap-secret-{}", std::process::id()));
        std::fs::write(&dir, "  pass word \n").unwrap();
        let s = Secrets::none().define("f", SecretSource::File(dir.clone()));
        assert_eq!(s.reveal("f").unwrap(), "  pass word ");
        std::fs::remove_file(dir).unwrap();
    }
}
