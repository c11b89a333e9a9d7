//! imaplib's module-level functions: `Int2AP`, `ParseFlags`,
//! `Internaldate2tuple`, `Time2Internaldate`.
//!
//! CPython converts to and from local time. The core has no zone database
//! and no clock: the time functions take a [`LocalZone`], which answers
//! offsets at instants (the protocol component asks the host through the
//! `timezone` interface; [`Utc`] is the zone of native tests and of callers
//! that want UTC). Aware values keep the offset they carry
//! ([`TimeValue::ZonedEpoch`], [`TimeValue::Civil`]).

use crate::error::{ImapError, Result};

/// English three-letter month names, as IMAP dates write them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Python's `time.struct_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructTime {
    /// Full year.
    pub year: i32,
    /// Month 1..12.
    pub mon: u8,
    /// Day 1..31.
    pub mday: u8,
    /// Hour 0..23.
    pub hour: u8,
    /// Minute 0..59.
    pub min: u8,
    /// Second 0..61.
    pub sec: u8,
    /// Monday is 0.
    pub wday: u8,
    /// 1..366.
    pub yday: u16,
    /// 1 in daylight saving time, 0 not; as an input, -1 lets the zone
    /// decide (`time.mktime`).
    pub isdst: i8,
}

/// Calendar fields with an offset east of UTC in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Full year.
    pub year: i32,
    /// Month 1..12.
    pub month: u8,
    /// Day 1..31.
    pub day: u8,
    /// Hour 0..23.
    pub hour: u8,
    /// Minute 0..59.
    pub minute: u8,
    /// Second 0..59.
    pub second: u8,
    /// Offset east of UTC, seconds.
    pub utc_offset: i32,
}

/// The inputs `Time2Internaldate` accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeValue {
    /// Seconds since the epoch, shown in the local zone.
    Epoch(f64),
    /// Seconds since the epoch, shown at an offset east of UTC (seconds).
    ZonedEpoch(f64, i32),
    /// Calendar fields with their offset (an aware `datetime`).
    Civil(CivilTime),
    /// A naive local `struct_time` or 9-tuple: `year`..`sec` and `isdst`
    /// (`wday`, `yday` ignored).
    Local(StructTime),
    /// Already `"DD-Mon-YYYY HH:MM:SS +HHMM"`, quotes included.
    Quoted(String),
}

/// The local zone at one instant: `tm_gmtoff` and `tm_isdst` of
/// `time.localtime(t)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOffset {
    /// Seconds east of UTC.
    pub utc_offset: i32,
    /// Whether daylight saving time is in effect.
    pub is_dst: bool,
}

/// A local time zone as offsets, what `time.localtime` and `time.mktime`
/// need of the C library's zone.
pub trait LocalZone {
    /// The offset at `instant` (seconds since the epoch).
    fn offset_at(&self, instant: i64) -> LocalOffset;
    /// `time.mktime(t)`: the instant of local fields (`isdst` the hint);
    /// `None` when it cannot be represented.
    fn mktime(&self, t: &StructTime) -> Option<i64>;
    /// The current time, seconds since the epoch: CPython derives
    /// `time.timezone` and `time.altzone` from this year's January and
    /// July offsets, so the naive-tuple rule needs the year.
    fn now(&self) -> i64;
}

/// UTC: offset 0, never daylight saving.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utc;

impl LocalZone for Utc {
    fn offset_at(&self, _: i64) -> LocalOffset {
        LocalOffset {
            utc_offset: 0,
            is_dst: false,
        }
    }

    fn mktime(&self, t: &StructTime) -> Option<i64> {
        Some(timegm_fields(t))
    }

    fn now(&self) -> i64 {
        0
    }
}

/// `calendar.timegm` of a struct_time's first six fields.
fn timegm_fields(t: &StructTime) -> i64 {
    days_from_civil(i64::from(t.year), u32::from(t.mon), u32::from(t.mday)) * 86400
        + i64::from(t.hour) * 3600
        + i64::from(t.min) * 60
        + i64::from(t.sec)
}

/// CPython's `time.timezone`, `time.altzone` and `time.daylight` as
/// offsets east of UTC (`-time.timezone`, `-time.altzone`): on glibc the
/// time module reads the zone at the start of this year (in its 365.25-day
/// units) and half a year later, and calls the larger offset daylight
/// saving (the southern hemisphere has it in January).
fn standard_offsets(zone: &dyn LocalZone) -> (i32, i32, bool) {
    const YEAR: i64 = (365 * 24 + 6) * 3600;
    let start = zone.now().div_euclid(YEAR) * YEAR;
    let january = zone.offset_at(start).utc_offset;
    let july = zone.offset_at(start + YEAR / 2).utc_offset;
    (january.min(july), january.max(july), january != july)
}

/// `time.localtime(t)`.
pub fn localtime(t: i64, zone: &dyn LocalZone) -> StructTime {
    let off = zone.offset_at(t);
    StructTime {
        isdst: i8::from(off.is_dst),
        ..gmtime(t + i64::from(off.utc_offset))
    }
}

/// `Int2AP(num)`: base 16 with the digits `A`..`P` (0 gives an empty string,
/// as in Python).
pub fn int2ap(mut num: u64) -> Vec<u8> {
    const AP: &[u8; 16] = b"ABCDEFGHIJKLMNOP";
    let mut out = Vec::new();
    while num > 0 {
        out.push(AP[(num % 16) as usize]);
        num /= 16;
    }
    out.reverse();
    out
}

/// Python's `bytes.split()` with no argument: split on ASCII whitespace.
pub fn split_whitespace(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// `ParseFlags(resp)`: imaplib's `.*FLAGS \((?P<flags>[^\)]*)\)` matched at
/// the start. The greedy `.*` (which cannot cross a newline) picks the last
/// `FLAGS (` on the first line that has a closing parenthesis after it.
pub fn parse_flags(resp: &[u8]) -> Vec<Vec<u8>> {
    let first_line_end = resp.iter().position(|&c| c == b'\n').unwrap_or(resp.len());
    let needle = b"FLAGS (";
    let mut start = None;
    let mut p = 0;
    while p + needle.len() <= resp.len() && p <= first_line_end {
        if &resp[p..p + needle.len()] == needle {
            let body = p + needle.len();
            if resp[body..].contains(&b')') {
                start = Some(body);
            }
        }
        p += 1;
    }
    match start {
        Some(body) => {
            let end = body + resp[body..].iter().position(|&c| c == b')').unwrap_or(0);
            split_whitespace(&resp[body..end])
        }
        None => Vec::new(),
    }
}

fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    if b.len() < N || !b[..N].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b[..N].iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Day, month name, year, hour, minute, second, zone offset in seconds.
type InternalDateFields = (u32, [u8; 3], i32, u32, u32, u32, i64);

/// The fields of `DD-Mon-YYYY HH:MM:SS +HHMM"` (imaplib's InternalDate
/// pattern after the opening quote); the month is returned as its name.
pub(crate) fn internaldate_fields(b: &[u8]) -> Option<InternalDateFields> {
    if b.len() < 27 {
        return None;
    }
    let day = match b[0] {
        b' ' => digits::<1>(&b[1..])?,
        b'0'..=b'3' => digits::<2>(b)?,
        _ => return None,
    };
    let mon = [b[3], b[4], b[5]];
    if b[2] != b'-'
        || !mon[0].is_ascii_uppercase()
        || !mon[1].is_ascii_lowercase()
        || !mon[2].is_ascii_lowercase()
        || b[6] != b'-'
    {
        return None;
    }
    let year = digits::<4>(&b[7..])? as i32;
    if b[11] != b' ' || b[14] != b':' || b[17] != b':' || b[20] != b' ' || b[26] != b'"' {
        return None;
    }
    let hour = digits::<2>(&b[12..])?;
    let min = digits::<2>(&b[15..])?;
    let sec = digits::<2>(&b[18..])?;
    let sign: i64 = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zoneh = i64::from(digits::<2>(&b[22..])?);
    let zonem = i64::from(digits::<2>(&b[24..])?);
    Some((day, mon, year, hour, min, sec, sign * (zoneh * 60 + zonem) * 60))
}

/// The number (1..12) of an English three-letter month name as
/// INTERNALDATE writes it (`Jan`).
pub(crate) fn month_number(name: &[u8; 3]) -> Option<u8> {
    MONTHS.iter().position(|m| m.as_bytes() == name).map(|p| p as u8 + 1)
}

/// `Internaldate2tuple(resp)`: the INTERNALDATE in a FETCH response as a
/// struct_time in `zone` (`time.localtime`). `None` when there is none, or
/// (where Python raises `KeyError`) when the month name is unknown.
pub fn internaldate2tuple(resp: &[u8], zone: &dyn LocalZone) -> Option<StructTime> {
    let first_line_end = resp.iter().position(|&c| c == b'\n').unwrap_or(resp.len());
    let needle = b"INTERNALDATE \"";
    let mut p = first_line_end.min(resp.len().saturating_sub(needle.len()));
    // Greedy `.*`: try the rightmost occurrence first.
    loop {
        if resp[p..].starts_with(needle) {
            if let Some((day, mon, year, hour, min, sec, offset)) = internaldate_fields(&resp[p + needle.len()..]) {
                let month = u32::from(month_number(&mon)?);
                let days = days_from_civil(i64::from(year), month, day);
                let utc = days * 86400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec) - offset;
                return Some(localtime(utc, zone));
            }
        }
        if p == 0 {
            return None;
        }
        p -= 1;
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date; months and days out
/// of range roll over as `calendar.timegm` does.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (y, m) = {
        let m0 = i64::from(m) - 1;
        (y + m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1)
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `time.gmtime(t)`.
pub fn gmtime(t: i64) -> StructTime {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let yday = days - days_from_civil(y, 1, 1) + 1;
    StructTime {
        year: y as i32,
        mon: m as u8,
        mday: d as u8,
        hour: (secs / 3600) as u8,
        min: (secs % 3600 / 60) as u8,
        sec: (secs % 60) as u8,
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        wday: (days + 3).rem_euclid(7) as u8,
        yday: yday as u16,
        isdst: 0,
    }
}

fn format_internaldate(t: &CivilTime) -> Result<String> {
    if !(1..=12).contains(&t.month)
        || !(1..=31).contains(&t.day)
        || t.hour > 23
        || t.minute > 59
        || t.second > 59
        || !(0..=9999).contains(&t.year)
        || t.utc_offset.abs() >= 86400
    {
        return Err(ImapError::error(format!("date_time out of range: {t:?}")));
    }
    let sign = if t.utc_offset < 0 { '-' } else { '+' };
    let off = t.utc_offset.unsigned_abs();
    let mut zone = format!("{sign}{:02}{:02}", off / 3600, off % 3600 / 60);
    if !off.is_multiple_of(60) {
        // strftime's %z shows seconds when the offset has them.
        zone.push_str(&format!("{:02}", off % 60));
    }
    Ok(format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {zone}\"",
        t.day,
        MONTHS[usize::from(t.month) - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    ))
}

fn civil_at_offset(epoch: f64, offset: i32) -> Result<CivilTime> {
    if !epoch.is_finite() {
        return Err(ImapError::error("date_time is not a finite number"));
    }
    // datetime.fromtimestamp truncates toward negative infinity for display.
    let local = epoch.floor() as i64 + i64::from(offset);
    let st = gmtime(local);
    Ok(CivilTime {
        year: st.year,
        month: st.mon,
        day: st.mday,
        hour: st.hour,
        minute: st.min,
        second: st.sec,
        utc_offset: offset,
    })
}

/// The offset imaplib gives a naive local tuple: `-time.timezone` or
/// `-time.altzone` by its `isdst`, which `mktime` decides when it is -1.
fn naive_offset(t: &StructTime, zone: &dyn LocalZone) -> Result<i32> {
    let (standard, daylight, has_dst) = standard_offsets(zone);
    if !has_dst {
        return Ok(standard);
    }
    let dst = match t.isdst {
        -1 => {
            let instant = zone
                .mktime(t)
                .ok_or_else(|| ImapError::error("mktime argument out of range"))?;
            i8::from(zone.offset_at(instant).is_dst)
        }
        d => d,
    };
    match dst {
        0 => Ok(standard),
        1 => Ok(daylight),
        // Python indexes `(time.timezone, time.altzone)[dst]`.
        _ => Err(ImapError::error(format!("isdst must be -1, 0 or 1, not {dst}"))),
    }
}

/// `Time2Internaldate(date_time)`: `"DD-Mon-YYYY HH:MM:SS +HHMM"` including
/// the double quotes; epochs and naive tuples in `zone`.
pub fn time2internaldate(value: &TimeValue, zone: &dyn LocalZone) -> Result<String> {
    match value {
        TimeValue::Epoch(t) => {
            if !t.is_finite() {
                return Err(ImapError::error("date_time is not a finite number"));
            }
            // datetime's astimezone() asks localtime for the whole second.
            let offset = zone.offset_at(t.floor() as i64).utc_offset;
            format_internaldate(&civil_at_offset(*t, offset)?)
        }
        TimeValue::Local(t) => format_internaldate(&CivilTime {
            year: t.year,
            month: t.mon,
            day: t.mday,
            hour: t.hour,
            minute: t.min,
            second: t.sec,
            utc_offset: naive_offset(t, zone)?,
        }),
        TimeValue::ZonedEpoch(t, off) => format_internaldate(&civil_at_offset(*t, *off)?),
        TimeValue::Civil(c) => format_internaldate(c),
        TimeValue::Quoted(s) => {
            if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
                Ok(s.clone())
            } else {
                Err(ImapError::error("date_time not of a known type"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timegm(y: i64, m: u32, d: u32, hh: i64, mm: i64, ss: i64) -> i64 {
        days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
    }

    fn to_epoch(t: &StructTime) -> i64 {
        timegm(
            i64::from(t.year),
            u32::from(t.mon),
            u32::from(t.mday),
            i64::from(t.hour),
            i64::from(t.min),
            i64::from(t.sec),
        )
    }

    fn internaldate2tuple_utc(resp: &[u8]) -> Option<StructTime> {
        internaldate2tuple(resp, &Utc)
    }

    /// A zone like `TZ=STD-1DST`: +0100, and +0200 from April to
    /// September (by the UTC month, which is enough for the tests).
    struct Central;

    impl LocalZone for Central {
        fn offset_at(&self, instant: i64) -> LocalOffset {
            let is_dst = (4..=9).contains(&gmtime(instant).mon);
            LocalOffset {
                utc_offset: if is_dst { 7200 } else { 3600 },
                is_dst,
            }
        }

        fn mktime(&self, t: &StructTime) -> Option<i64> {
            let guess = timegm_fields(t) - 3600;
            Some(timegm_fields(t) - i64::from(self.offset_at(guess).utc_offset))
        }

        fn now(&self) -> i64 {
            2_000_000_000
        }
    }

    #[test]
    fn local_time_follows_the_zone() {
        // The example: TZ=STD-1DST gives +0200 in May.
        assert_eq!(
            time2internaldate(&TimeValue::Epoch(2_000_000_000.0), &Central).unwrap(),
            "\"18-May-2033 05:33:20 +0200\""
        );
        assert_eq!(
            time2internaldate(&TimeValue::Epoch(0.0), &Central).unwrap(),
            "\"01-Jan-1970 01:00:00 +0100\""
        );
        let tt = internaldate2tuple(b"1 (INTERNALDATE \"18-May-2033 03:33:20 +0000\")", &Central).unwrap();
        assert_eq!((tt.hour, tt.isdst, tt.mday), (5, 1, 18));
        // A naive tuple: isdst picks time.timezone or time.altzone, -1 asks mktime.
        let naive = |mon, isdst| TimeValue::Local(StructTime { mon, isdst, ..tt });
        let t = |v: &TimeValue| time2internaldate(v, &Central).unwrap();
        assert_eq!(t(&naive(5, 0)), "\"18-May-2033 05:33:20 +0100\"");
        assert_eq!(t(&naive(5, 1)), "\"18-May-2033 05:33:20 +0200\"");
        assert_eq!(t(&naive(5, -1)), "\"18-May-2033 05:33:20 +0200\"");
        assert_eq!(t(&naive(1, -1)), "\"18-Jan-2033 05:33:20 +0100\"");
        let bad = time2internaldate(&naive(1, 2), &Central).unwrap_err();
        assert_eq!(bad.kind(), crate::error::ErrorKind::Usage);
        // A zone without daylight saving ignores isdst, as CPython does.
        assert_eq!(
            time2internaldate(&naive(5, 1), &Utc).unwrap(),
            "\"18-May-2033 05:33:20 +0000\""
        );
    }

    #[test]
    fn int2ap_is_base16_a_to_p() {
        assert_eq!(int2ap(0), b"");
        assert_eq!(int2ap(1), b"B");
        assert_eq!(int2ap(16), b"BA");
        assert_eq!(int2ap(4096), b"BAAA");
        assert_eq!(int2ap(65535), b"PPPP");
        assert_eq!(int2ap(0xABC), b"KLM");
    }

    #[test]
    fn parse_flags_vectors() {
        assert_eq!(
            parse_flags(b"1 (FLAGS (\\Seen \\Deleted) UID 3)"),
            vec![b"\\Seen".to_vec(), b"\\Deleted".to_vec()]
        );
        assert!(parse_flags(b"1 (UID 3)").is_empty());
        assert!(parse_flags(b"1 (FLAGS ())").is_empty());
        // The greedy prefix takes the last FLAGS on the line.
        assert_eq!(
            parse_flags(b"FLAGS (a) FLAGS (b c)"),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        // The prefix cannot cross a newline.
        assert!(parse_flags(b"x\nFLAGS (a)").is_empty());
        // ...but the flag list can.
        assert_eq!(parse_flags(b"FLAGS (a\nb)"), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    // CPython's test_Internaldate2tuple vectors: all three name the same instant.
    #[test]
    fn internaldate2tuple_cpython_vectors() {
        let t0 = timegm(2000, 1, 1, 0, 0, 0);
        for s in [
            &b"25 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\")"[..],
            b"25 (INTERNALDATE \"01-Jan-2000 11:30:00 +1130\")",
            b"25 (INTERNALDATE \"31-Dec-1999 12:30:00 -1130\")",
        ] {
            let tt = internaldate2tuple(s, &Utc).expect("parses");
            assert_eq!(to_epoch(&tt), t0, "{}", String::from_utf8_lossy(s));
        }
        // issue10941: two different hours stay different.
        assert_ne!(
            internaldate2tuple_utc(b"25 (INTERNALDATE \"02-Apr-2000 02:30:00 +0000\")"),
            internaldate2tuple_utc(b"25 (INTERNALDATE \"02-Apr-2000 03:30:00 +0000\")")
        );
        let tt = internaldate2tuple_utc(b"25 (INTERNALDATE \" 1-Jan-2000 00:00:00 +0000\")").unwrap();
        assert_eq!((tt.year, tt.mon, tt.mday, tt.wday, tt.yday), (2000, 1, 1, 5, 1));
        assert_eq!(
            internaldate2tuple_utc(b"25 (INTERNALDATE \"01-Foo-2000 00:00:00 +0000\")"),
            None
        );
        assert_eq!(internaldate2tuple_utc(b"25 (UID 1)"), None);
    }

    // CPython's test_Time2Internaldate: every accepted form of the same
    // instant gives the same string.
    #[test]
    fn time2internaldate_cpython_vectors() {
        let expected = "\"18-May-2033 05:33:20 +0200\"";
        let civil = CivilTime {
            year: 2033,
            month: 5,
            day: 18,
            hour: 5,
            minute: 33,
            second: 20,
            utc_offset: 7200,
        };
        for v in [
            TimeValue::ZonedEpoch(2_000_000_000.0, 7200),
            TimeValue::ZonedEpoch(2_000_000_000.5, 7200),
            TimeValue::Civil(civil),
            TimeValue::Quoted(expected.to_string()),
        ] {
            assert_eq!(time2internaldate(&v, &Utc).unwrap(), expected, "{v:?}");
        }
        assert_eq!(
            time2internaldate(&TimeValue::Epoch(2_000_000_000.0), &Utc).unwrap(),
            "\"18-May-2033 03:33:20 +0000\""
        );
        assert_eq!(
            time2internaldate(&TimeValue::ZonedEpoch(0.0, -(11 * 3600 + 30 * 60)), &Utc).unwrap(),
            "\"31-Dec-1969 12:30:00 -1130\""
        );
        assert!(time2internaldate(&TimeValue::Quoted("18-May-2033".into()), &Utc).is_err());
    }

    #[test]
    fn civil_round_trip() {
        for d in [-800_000i64, -1, 0, 59, 60, 11_016, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
