//! Why the host refused, as data: what was refused and the grant that
//! would have allowed it. The sandbox words a denial through the
//! [`Wording`] its embedder chose, so the message a plugin sees speaks the
//! embedder's vocabulary: the `wasimap` CLI names its flags
//! (`--allow HOST:PORT`), another platform its own settings; the default,
//! [`neutral`], names no flag at all.

use std::fmt;

use super::Endpoint;

/// The grant a refused request lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// Connecting to this endpoint (a host or IP literal and a port).
    Connect(String),
    /// Running this command line (the narrowest grant for it).
    Exec(String),
    /// Reading this file.
    Read(String),
    /// Reading the file a granted path resolves to (a symlink or `..`
    /// led outside every read grant).
    ReadResolved,
    /// Accepting invalid certificates from this endpoint.
    InsecureTls(Endpoint),
    /// Trusting a CA file's certificates.
    Ca,
    /// More connections open at once than this limit.
    Connections(usize),
    /// More stream commands running at once than this limit.
    Processes(usize),
    /// Defining the secret of this name.
    Secret(String),
    /// Revealing `name` on `endpoint`.
    SecretEndpoint {
        /// The secret.
        name: String,
        /// Where it was asked for.
        endpoint: Endpoint,
    },
    /// Sending the secret of this name without verified TLS.
    SecretPlaintext(String),
}

/// How an embedder tells the user to grant something: a clause that
/// follows the refusal in parentheses (`grant it with --allow x:993`).
pub type Wording = fn(&Grant) -> String;

/// The library's wording: what is missing, in no tool's vocabulary.
pub fn neutral(grant: &Grant) -> String {
    match grant {
        Grant::Connect(g) => format!("no grant to connect to {g}"),
        Grant::Exec(g) => format!("no grant to run {g:?}"),
        Grant::Read(p) => format!("no grant to read {p:?}"),
        Grant::ReadResolved => "no read grant for the file it leads to".into(),
        Grant::InsecureTls(e) => format!("no grant to accept invalid certificates from {e}"),
        Grant::Ca => "no grant of a CA file with these certificates".into(),
        Grant::Connections(limit) => format!("the limit is {limit}"),
        Grant::Processes(limit) => format!("the limit is {limit}"),
        Grant::Secret(name) => format!("no secret {name:?} is defined"),
        Grant::SecretEndpoint { name, endpoint } => format!("no binding of {name:?} to {endpoint}"),
        Grant::SecretPlaintext(name) => format!("use TLS, or consent to {name:?} in plain text"),
    }
}

/// A refusal: what was refused, the grant it lacked (none for a request
/// no grant can allow, such as an invalid host name), and notes (grants
/// the user gave that were invalid and grant nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// What was refused, e.g. `connection to evil.example:143 not allowed`.
    pub refused: String,
    /// What would have allowed it.
    pub grant: Option<Grant>,
    /// `; ignored …` notes, or empty.
    pub note: String,
}

impl Denial {
    /// A denial that `grant` would have allowed.
    pub fn new(refused: impl Into<String>, grant: Grant) -> Self {
        Denial {
            refused: refused.into(),
            grant: Some(grant),
            note: String::new(),
        }
    }

    /// A refusal no grant can lift.
    pub fn ungrantable(refused: impl Into<String>) -> Self {
        Denial {
            refused: refused.into(),
            grant: None,
            note: String::new(),
        }
    }

    /// The message, with the grant worded by `wording`.
    pub fn worded(&self, wording: Wording) -> String {
        match &self.grant {
            Some(g) => format!("{} ({}){}", self.refused, wording(g), self.note),
            None => format!("{}{}", self.refused, self.note),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.worded(neutral))
    }
}

impl std::error::Error for Denial {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_worded_by_the_embedder_and_neutral_by_default() {
        let d = Denial::new(
            "connection to evil.example:143 not allowed",
            Grant::Connect("evil.example:143".into()),
        );
        assert_eq!(
            d.to_string(),
            "connection to evil.example:143 not allowed (no grant to connect to evil.example:143)"
        );
        let flags: Wording = |g| match g {
            Grant::Connect(g) => format!("grant it with --allow {g}"),
            _ => String::new(),
        };
        assert_eq!(
            d.worded(flags),
            "connection to evil.example:143 not allowed (grant it with --allow evil.example:143)"
        );
    }
}
