//! The watcher's log lines on stderr: text for people, JSON lines for
//! machines (`--log-format json`). Fields never hold a secret: the
//! watcher logs names, counts, UIDs and server messages only, and the
//! IMAP trace (`-v`) shows the login's password as `<redacted>`. A
//! record is always one line: values from a server or a plugin are
//! quoted and escaped for the terminal ([`wasimap_sandbox::terminal`]).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use wasimap_sandbox::terminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `TIME LEVEL ACCOUNT/MAILBOX EVENT key=value ...`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A log line's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Normal progress.
    Info,
    /// Something failed and will be retried.
    Warn,
    /// Something failed for good (a dead letter, a stopped account).
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    /// Text or JSON.
    pub format: LogFormat,
}

impl Log {
    /// Writes one line: `event` for `scope` (`ACCOUNT/MAILBOX`, or empty)
    /// with `fields`.
    pub fn line(&self, level: Level, scope: &str, event: &str, fields: &[(&str, String)]) {
        let line = self.format(SystemTime::now(), level, scope, event, fields);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// The line [`Log::line`] writes at `time`, without its line break.
    /// Whatever the scope, event and values hold (a server's text, a
    /// plugin's error), it is one line with no control or format
    /// character: text escapes them ([`terminal`]), JSON as `\uXXXX`.
    pub fn format(
        &self,
        time: SystemTime,
        level: Level,
        scope: &str,
        event: &str,
        fields: &[(&str, String)],
    ) -> String {
        let time = rfc3339(time);
        match self.format {
            LogFormat::Text => {
                // An empty scope stays empty: the event is still the fourth word.
                let scope = if scope.is_empty() { String::new() } else { token(scope) };
                let mut s = format!("{time} {} {scope} {}", level.name(), token(event));
                for (k, v) in fields {
                    s.push_str(&format!(" {}={}", token(k), token(v)));
                }
                s
            }
            LogFormat::Json => {
                let mut o = serde_json::Map::new();
                o.insert("time".into(), time.into());
                o.insert("level".into(), level.name().into());
                if !scope.is_empty() {
                    o.insert("scope".into(), scope.into());
                }
                o.insert("event".into(), event.into());
                for (k, v) in fields {
                    o.insert((*k).into(), v.clone().into());
                }
                terminal::json(&serde_json::Value::Object(o).to_string()).into_owned()
            }
        }
    }
}

/// A word of a text log line: as it is when it is made only of ASCII
/// letters, digits and `-_.:/@+,%#()[]` (names, numbers, UIDs), else
/// quoted and escaped ([`terminal::quote`]), so that no value can end its
/// record, start another or pass for a further `key=value`.
fn token(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/@+,%#()[]".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        terminal::quote(text)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A plugin's error that tries to end its record and forge another,
    /// with a look-alike (U+2028 for the line break) and escapes.
    const FORGED: &str = "boom\n2033-05-18T03:33:20.250Z info acct/INBOX handled uids=1\u{2028}\
                          2033-05-18T03:33:20.250Z info acct/INBOX handled uids=2\r\u{85}\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}";

    fn text_line(scope: &str, event: &str, fields: &[(&str, String)]) -> String {
        Log {
            format: LogFormat::Text,
        }
        .format(UNIX_EPOCH, Level::Error, scope, event, fields)
    }

    #[test]
    fn a_forged_value_stays_one_escaped_field_of_one_line() {
        let line = text_line(
            "acct/INBOX",
            "dead-letter",
            &[("uid", "7".into()), ("error", FORGED.into())],
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || terminal::is_escaped(c) && c != '\\'),
            "{line:?}"
        );
        assert!(line.starts_with("1970-01-01T00:00:00.000Z error acct/INBOX dead-letter uid=7 error=\"boom\\n2033"));
        assert!(line.contains("\\u{2028}") && line.contains("\\u{1b}]0;owned\\u{7}") && line.ends_with("\\u{202e}\""));
        // The value is one quoted token: nothing after it.
        assert_eq!(line.matches(" error=").count(), 1);
    }

    #[test]
    fn scopes_events_and_values_are_bare_only_when_plainly_safe() {
        let line = text_line(
            "a b/Sent Items",
            "ev\nx",
            &[("n", "12".into()), ("e", "".into()), ("v", "a=b".into())],
        );
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000Z error \"a b/Sent Items\" \"ev\\nx\" n=12 e=\"\" v=\"a=b\""
        );
        let line = text_line(
            "",
            "stopped",
            &[("host", "imap.example.org:993".into()), ("who", "Büro".into())],
        );
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000Z error  stopped host=imap.example.org:993 who=\"Büro\""
        );
    }

    #[test]
    fn json_lines_are_one_line_of_valid_json_with_nothing_raw() {
        let log = Log {
            format: LogFormat::Json,
        };
        let line = log.format(
            UNIX_EPOCH,
            Level::Warn,
            "acct/INBOX",
            "dead-letter",
            &[("error", FORGED.into())],
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || terminal::is_escaped(c) && c != '\\'),
            "{line:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["error"], FORGED);
        assert_eq!(v["scope"], "acct/INBOX");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // Time2Internaldate(2000000000) in UTC is 18-May-2033 03:33:20.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(2_000_000_000_250)),
            "2033-05-18T03:33:20.250Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
