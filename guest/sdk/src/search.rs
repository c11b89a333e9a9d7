//! SEARCH criteria built as values: keys and their values go to the
//! protocol component as separate arguments, so each value is quoted or
//! sent as a literal by the grammar, whatever it holds.

use crate::mail::Date;

/// Search criteria (RFC 3501 section 6.4.4), ANDed together. Build with
/// the methods, pass to [`crate::Client::search`] / `uid_search`.
///
/// ```ignore
/// let old_unread = Search::new().unseen().before(Date::new(2024, 1, 1)).from("boss@example.org");
/// ```
///
/// Values with non-ASCII text make the search use `CHARSET UTF-8`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    /// imaplib's argument list: a key (or `NOT KEY`, `OR KEY`) followed
    /// by its values, each value its own argument.
    args: Vec<String>,
}

impl Search {
    /// No criteria yet: matches `ALL`.
    pub fn new() -> Self {
        Search::default()
    }

    fn key(mut self, k: &str) -> Self {
        self.args.push(k.to_string());
        self
    }

    fn key_values(mut self, k: &str, values: &[&str]) -> Self {
        self.args.push(k.to_string());
        self.args.extend(values.iter().map(|v| v.to_string()));
        self
    }

    /// `SEEN`.
    pub fn seen(self) -> Self {
        self.key("SEEN")
    }
    /// `UNSEEN`.
    pub fn unseen(self) -> Self {
        self.key("UNSEEN")
    }
    /// `FLAGGED`.
    pub fn flagged(self) -> Self {
        self.key("FLAGGED")
    }
    /// `DELETED`.
    pub fn deleted(self) -> Self {
        self.key("DELETED")
    }
    /// `UNDELETED`.
    pub fn undeleted(self) -> Self {
        self.key("UNDELETED")
    }
    /// `KEYWORD flag` (a flag that is not an atom makes the server answer BAD).
    pub fn keyword(self, flag: &str) -> Self {
        self.key_values("KEYWORD", &[flag])
    }
    /// `FROM value`.
    pub fn from(self, s: &str) -> Self {
        self.key_values("FROM", &[s])
    }
    /// `TO value`.
    pub fn to(self, s: &str) -> Self {
        self.key_values("TO", &[s])
    }
    /// `SUBJECT value`.
    pub fn subject(self, s: &str) -> Self {
        self.key_values("SUBJECT", &[s])
    }
    /// `BODY value`.
    pub fn body(self, s: &str) -> Self {
        self.key_values("BODY", &[s])
    }
    /// `TEXT value`.
    pub fn text(self, s: &str) -> Self {
        self.key_values("TEXT", &[s])
    }
    /// `HEADER name value`.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.key_values("HEADER", &[name, value])
    }
    /// `BEFORE date`: internal date earlier than `date`.
    pub fn before(self, date: Date) -> Self {
        self.key(&format!("BEFORE {date}"))
    }
    /// `SINCE date`: internal date on or after `date`.
    pub fn since(self, date: Date) -> Self {
        self.key(&format!("SINCE {date}"))
    }
    /// `ON date`.
    pub fn on(self, date: Date) -> Self {
        self.key(&format!("ON {date}"))
    }
    /// `LARGER n`.
    pub fn larger(self, octets: u64) -> Self {
        self.key(&format!("LARGER {octets}"))
    }
    /// `SMALLER n`.
    pub fn smaller(self, octets: u64) -> Self {
        self.key(&format!("SMALLER {octets}"))
    }
    /// `UID set`.
    pub fn uid(self, set: &crate::SequenceSet) -> Self {
        self.key(&format!("UID {set}"))
    }

    /// `NOT key`: `other` negated (build `other` with one criterion; with
    /// more, only the first is negated, as IMAP reads it).
    pub fn not(mut self, other: Search) -> Self {
        self.args.push("NOT".into());
        self.args.extend(other.args());
        self
    }

    /// `OR a b`: either criterion (build each with one criterion).
    pub fn or(mut self, a: Search, b: Search) -> Self {
        self.args.push("OR".into());
        self.args.extend(a.args());
        self.args.extend(b.args());
        self
    }

    /// Whether a value needs `CHARSET UTF-8`.
    pub fn needs_utf8(&self) -> bool {
        self.args.iter().any(|a| !a.is_ascii())
    }

    /// The criteria as imaplib's argument list.
    pub fn args(&self) -> Vec<String> {
        if self.args.is_empty() {
            vec!["ALL".into()]
        } else {
            self.args.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_separate_arguments() {
        assert_eq!(Search::new().args(), ["ALL"]);
        let s = Search::new()
            .unseen()
            .from("a \"b\" \\c")
            .before(Date::new(2024, 1, 5))
            .not(Search::new().flagged());
        assert_eq!(
            s.args(),
            ["UNSEEN", "FROM", "a \"b\" \\c", "BEFORE 5-Jan-2024", "NOT", "FLAGGED"]
        );
        assert!(!s.needs_utf8());
        let o = Search::new().or(Search::new().seen(), Search::new().header("Message-ID", "<x@y>"));
        assert_eq!(o.args(), ["OR", "SEEN", "HEADER", "Message-ID", "<x@y>"]);
        let n = Search::new().not(Search::new().from("Müller"));
        assert_eq!(n.args(), ["NOT", "FROM", "Müller"]);
        assert!(n.needs_utf8());
    }
}
