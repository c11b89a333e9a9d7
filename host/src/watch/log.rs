//! The watcher's log lines on stderr: text for people, JSON lines for
//! machines (`--log-format json`). Fields never hold a secret: the
//! watcher logs names, counts, UIDs and server messages only, and the
//! IMAP trace (`-v`) shows the login's password as `<redacted>`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

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
        let time = rfc3339(SystemTime::now());
        let line = match self.format {
            LogFormat::Text => {
                let mut s = format!("{time} {} {scope} {event}", level.name());
                for (k, v) in fields {
                    if v.contains([' ', '"', '=']) || v.is_empty() {
                        s.push_str(&format!(" {k}={v:?}"));
                    } else {
                        s.push_str(&format!(" {k}={v}"));
                    }
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
                serde_json::Value::Object(o).to_string()
            }
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
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
