//! The `timezone` import: the host's local zone as offsets, from the C
//! library (`tzset`, `localtime_r`, `mktime`), so the protocol component's
//! `Time2Internaldate` and `Internaldate2tuple` agree with CPython's
//! `time.localtime` / `time.mktime` in the same environment. The zone is
//! the host process's (`TZ`, else `/etc/localtime`); a plugin learns the
//! offset at an instant, never the zone's name or rules.

pub use wasimap_protocol::util::{LocalOffset, StructTime};

extern "C" {
    /// POSIX `tzset` (the libc crate does not declare it): reads `TZ`.
    fn tzset();
}

const UTC: LocalOffset = LocalOffset {
    utc_offset: 0,
    is_dst: false,
};

/// `time.localtime(instant)`'s offset and DST flag; UTC when the C
/// library cannot convert the instant (out of `time_t`'s or `tm`'s range).
pub fn offset_at(instant: i64) -> LocalOffset {
    // time_t is i64 on the 64-bit hosts wasimap builds for; the
    // conversion keeps a narrower one honest.
    #[allow(irrefutable_let_patterns)]
    let Ok(t) = libc::time_t::try_from(instant) else {
        return UTC;
    };
    // SAFETY: `tm` is plain data that localtime_r fills in; `t` and `tm`
    // live across the calls. tzset re-reads TZ, as CPython's time module
    // does at import, so a changed environment is seen.
    unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return UTC;
        }
        LocalOffset {
            utc_offset: i32::try_from(tm.tm_gmtoff).unwrap_or(0),
            is_dst: tm.tm_isdst > 0,
        }
    }
}

/// `time.mktime(time)`: the instant of local fields, `isdst` the hint;
/// `None` where CPython raises `OverflowError` (mktime's -1 with the
/// fields left unnormalized).
pub fn from_local(time: &StructTime) -> Option<i64> {
    // SAFETY: as above; mktime reads and normalizes `tm` in place.
    unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = time.year.checked_sub(1900)?;
        tm.tm_mon = libc::c_int::from(time.mon) - 1;
        tm.tm_mday = libc::c_int::from(time.mday);
        tm.tm_hour = libc::c_int::from(time.hour);
        tm.tm_min = libc::c_int::from(time.min);
        tm.tm_sec = libc::c_int::from(time.sec);
        tm.tm_isdst = libc::c_int::from(time.isdst);
        // CPython's check: -1 is a valid instant (one second before the
        // epoch) only when mktime normalized the fields (set tm_wday).
        tm.tm_wday = -1;
        let t = libc::mktime(&mut tm);
        if t == -1 && tm.tm_wday == -1 {
            return None;
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(year: i32, mon: u8, mday: u8, isdst: i8) -> StructTime {
        StructTime {
            year,
            mon,
            mday,
            hour: 12,
            min: 0,
            sec: 0,
            wday: 0,
            yday: 0,
            isdst,
        }
    }

    // The test process's zone is whatever the machine has, so these check
    // the round trip, which holds in every zone.
    #[test]
    fn mktime_inverts_localtime() {
        for (y, m, d) in [(2033, 5, 18), (2000, 1, 1), (1970, 1, 2)] {
            let t = from_local(&fields(y, m, d, -1)).expect("representable");
            let off = offset_at(t);
            let local = t + i64::from(off.utc_offset);
            assert_eq!(local.rem_euclid(86400), 12 * 3600, "{y}-{m}-{d} at {off:?}");
        }
        assert_eq!(from_local(&fields(i32::MIN, 1, 1, 0)), None);
    }
}
