//! SEARCH criteria built as values, so strings are always quoted right.

use crate::mail::Date;

/// Search criteria (RFC 3501 section 6.4.4), ANDed together. Build with
/// the methods, pass to [`crate::Client::search`] / `uid_search`.
///
/// ```ignore
/// let old_unread = Search::new().unseen().before(Date::new(2024, 1, 1)).from("boss@example.org");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    keys: Vec<String>,
}

/// An IMAP quoted string; the core refuses CR, LF and NUL anyway.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Search {
    /// No criteria yet: matches `ALL`.
    pub fn new() -> Self {
        Search::default()
    }

    fn key(mut self, k: impl Into<String>) -> Self {
        self.keys.push(k.into());
        self
    }

    fn key_str(self, name: &str, value: &str) -> Self {
        self.key(format!("{name} {}", quote(value)))
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
    /// `KEYWORD flag`.
    pub fn keyword(self, flag: &str) -> Self {
        self.key(format!("KEYWORD {flag}"))
    }
    /// `FROM "..."`.
    pub fn from(self, s: &str) -> Self {
        self.key_str("FROM", s)
    }
    /// `TO "..."`.
    pub fn to(self, s: &str) -> Self {
        self.key_str("TO", s)
    }
    /// `SUBJECT "..."`.
    pub fn subject(self, s: &str) -> Self {
        self.key_str("SUBJECT", s)
    }
    /// `BODY "..."`.
    pub fn body(self, s: &str) -> Self {
        self.key_str("BODY", s)
    }
    /// `TEXT "..."`.
    pub fn text(self, s: &str) -> Self {
        self.key_str("TEXT", s)
    }
    /// `HEADER "name" "value"`.
    pub fn header(self, name: &str, value: &str) -> Self {
        let k = format!("HEADER {} {}", quote(name), quote(value));
        self.key(k)
    }
    /// `BEFORE date`: internal date earlier than `date`.
    pub fn before(self, date: Date) -> Self {
        self.key(format!("BEFORE {date}"))
    }
    /// `SINCE date`: internal date on or after `date`.
    pub fn since(self, date: Date) -> Self {
        self.key(format!("SINCE {date}"))
    }
    /// `ON date`.
    pub fn on(self, date: Date) -> Self {
        self.key(format!("ON {date}"))
    }
    /// `LARGER n`.
    pub fn larger(self, octets: u64) -> Self {
        self.key(format!("LARGER {octets}"))
    }
    /// `SMALLER n`.
    pub fn smaller(self, octets: u64) -> Self {
        self.key(format!("SMALLER {octets}"))
    }
    /// `UID set`.
    pub fn uid(self, set: &crate::SequenceSet) -> Self {
        self.key(format!("UID {set}"))
    }
    /// `NOT (criteria)`.
    pub fn not(self, other: Search) -> Self {
        let k = format!("NOT ({})", other.args().join(" "));
        self.key(k)
    }
    /// `OR (a) (b)`.
    pub fn or(self, a: Search, b: Search) -> Self {
        let k = format!("OR ({}) ({})", a.args().join(" "), b.args().join(" "));
        self.key(k)
    }

    /// The criteria as imaplib's argument list.
    pub fn args(&self) -> Vec<String> {
        if self.keys.is_empty() {
            vec!["ALL".into()]
        } else {
            self.keys.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_quoted_criteria() {
        assert_eq!(Search::new().args(), ["ALL"]);
        let s = Search::new()
            .unseen()
            .from("a \"b\" \\c")
            .before(Date::new(2024, 1, 5))
            .not(Search::new().flagged());
        assert_eq!(
            s.args(),
            [
                "UNSEEN",
                "FROM \"a \\\"b\\\" \\\\c\"",
                "BEFORE 5-Jan-2024",
                "NOT (FLAGGED)"
            ]
        );
        let o = Search::new().or(Search::new().seen(), Search::new().header("Message-ID", "<x@y>"));
        assert_eq!(o.args(), ["OR (SEEN) (HEADER \"Message-ID\" \"<x@y>\")"]);
    }
}
