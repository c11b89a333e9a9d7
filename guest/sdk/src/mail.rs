//! Helpers for what FETCH returns: addresses and header text for people,
//! and calendar dates for SEARCH and for ageing messages.

use crate::bindings::wasimap::imap::typed::{self, Address, Envelope};
use crate::bindings::wasimap::imap::types::CivilTime;

/// A calendar date as SEARCH takes it (`5-Jan-2024`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Full year.
    pub year: i32,
    /// Month, 1..12.
    pub month: u8,
    /// Day, 1..31.
    pub day: u8,
}

use wasimap_protocol::util::{civil_from_days, days_from_civil, MONTHS};

impl Date {
    /// A date; fields out of range roll over as in `timegm` (32 January
    /// is 1 February, month 13 is January of the next year).
    pub fn new(year: i32, month: u8, day: u8) -> Self {
        Date::from_days(days_from_civil(i64::from(year), u32::from(month), u32::from(day)))
    }

    /// Today in UTC, from the WASI clock.
    pub fn today() -> Self {
        Date::from_days(unix_now() / 86_400)
    }

    /// The date `n` days earlier.
    pub fn days_before(self, n: u32) -> Self {
        Date::from_days(self.days() - i64::from(n))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day))
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        let (year, month, day) = civil_from_days(days);
        // Months and days are in range by construction; the year fits any
        // date an IMAP server can send.
        Date {
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }
}

impl Date {
    /// The English three-letter month name (`Jan`), as IMAP writes dates.
    pub fn month_name(self) -> &'static str {
        MONTHS
            .get(usize::from(self.month).wrapping_sub(1))
            .copied()
            .unwrap_or("???")
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.day, self.month_name(), self.year)
    }
}

/// The value of a STATUS item (case-insensitive), if the server sent it:
/// servers may answer in any order.
pub fn status_item(status: &crate::MailboxStatus, item: &str) -> Option<u64> {
    status
        .items
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(item))
        .map(|(_, v)| *v)
}

/// Seconds since the Unix epoch now (WASI wall clock).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the Unix epoch of an INTERNALDATE.
pub fn unix_time(t: &CivilTime) -> i64 {
    let days = days_from_civil(i64::from(t.year), u32::from(t.month), u32::from(t.day));
    days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second) - i64::from(t.utc_offset)
}

/// The UTC date of an INTERNALDATE.
pub fn utc_date(t: &CivilTime) -> Date {
    Date::from_days(unix_time(t).div_euclid(86_400))
}

/// Header bytes as text: RFC 2047 words and 8-bit UTF-8 decoded.
pub fn text(raw: Option<&[u8]>) -> String {
    raw.map(typed::decode_header).unwrap_or_default()
}

/// `mailbox@host`, lower-cased host; none for group markers.
pub fn email(a: &Address) -> Option<String> {
    let mailbox = String::from_utf8_lossy(a.mailbox.as_deref()?);
    let host = String::from_utf8_lossy(a.host.as_deref()?).to_ascii_lowercase();
    Some(format!("{mailbox}@{host}"))
}

/// The real addresses of a list (group markers left out).
pub fn emails(list: &[Address]) -> Vec<String> {
    list.iter().filter_map(email).collect()
}

/// The first sender's address (`From:`), if any.
pub fn sender(e: &Envelope) -> Option<String> {
    e.from.iter().find_map(email)
}

/// The decoded subject (empty when there is none).
pub fn subject(e: &Envelope) -> String {
    text(e.subject.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(Date::new(2024, 1, 5).to_string(), "5-Jan-2024");
        assert_eq!(Date::new(2024, 3, 1).days_before(1), Date::new(2024, 2, 29));
        assert_eq!(Date::new(1970, 1, 1).days(), 0);
        let t = CivilTime {
            year: 2024,
            month: 1,
            day: 1,
            hour: 1,
            minute: 0,
            second: 0,
            utc_offset: 7200,
        };
        assert_eq!(utc_date(&t), Date::new(2023, 12, 31));
    }
}
