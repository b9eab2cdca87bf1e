//! Event timestamps with nanosecond precision.

use std::fmt;
use std::time::{Duration, SystemTime, SystemTimeError, UNIX_EPOCH};

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A point in time as Fluent Bit stores it: seconds and nanoseconds since the Unix epoch.
///
/// Seconds are unsigned because Fluent Bit rejects negative timestamps. The nanoseconds are
/// always below one billion. `Display` writes RFC 3339 in UTC with nine fractional digits
/// (`2024-05-06T07:08:09.123456789Z`); a precision such as `{:.3}` writes fewer (0 to 9).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct EventTime {
    sec: u64,
    nsec: u32,
}

impl EventTime {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: EventTime = EventTime { sec: 0, nsec: 0 };
    /// The timestamp of a group start marker record (EventTime seconds `0xFFFFFFFF`).
    pub const GROUP_START: EventTime = EventTime {
        sec: 0xFFFF_FFFF,
        nsec: 0,
    };
    /// The timestamp of a group end marker record (EventTime seconds `0xFFFFFFFE`).
    pub const GROUP_END: EventTime = EventTime {
        sec: 0xFFFF_FFFE,
        nsec: 0,
    };

    /// A time from seconds and nanoseconds, or `None` when `nsec` is one billion or more.
    pub const fn new(sec: u64, nsec: u32) -> Option<Self> {
        if nsec < NANOS_PER_SEC {
            Some(EventTime { sec, nsec })
        } else {
            None
        }
    }

    /// A time with whole seconds.
    pub const fn from_secs(sec: u64) -> Self {
        EventTime { sec, nsec: 0 }
    }

    /// A time from nanoseconds since the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        EventTime {
            sec: nanos / 1_000_000_000,
            nsec: (nanos % 1_000_000_000) as u32,
        }
    }

    /// A time from fractional seconds, rounded to the nearest nanosecond; `None` when negative,
    /// not finite or beyond `u64` seconds.
    pub fn from_f64(secs: f64) -> Option<Self> {
        // 2^64 is exactly representable; anything at or above it does not fit.
        if !(0.0..18_446_744_073_709_551_616.0).contains(&secs) {
            return None;
        }
        let whole = secs.trunc();
        let nsec = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
        Some(EventTime {
            sec: whole as u64,
            nsec,
        })
    }

    /// The current time from the system clock (the epoch if the clock is set before it).
    pub fn now() -> Self {
        Self::try_from(SystemTime::now()).unwrap_or_default()
    }

    /// Whole seconds since the epoch.
    #[inline]
    pub const fn sec(&self) -> u64 {
        self.sec
    }

    /// Nanoseconds within the second, below one billion.
    #[inline]
    pub const fn nsec(&self) -> u32 {
        self.nsec
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn as_nanos(&self) -> u128 {
        self.sec as u128 * NANOS_PER_SEC as u128 + self.nsec as u128
    }

    /// Fractional seconds since the epoch (about 0.2 µs resolution for current dates).
    #[inline]
    pub fn as_f64(&self) -> f64 {
        self.sec as f64 + f64::from(self.nsec) / 1e9
    }

    /// Time since the epoch as a `Duration`.
    #[inline]
    pub const fn as_duration(&self) -> Duration {
        Duration::new(self.sec, self.nsec)
    }

    /// The same instant as a `SystemTime`, or `None` if the platform cannot represent it.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(self.as_duration())
    }

    /// Whether this is the timestamp of a group start or end marker.
    #[inline]
    pub const fn is_group_marker(&self) -> bool {
        self.nsec == 0 && (self.sec == 0xFFFF_FFFF || self.sec == 0xFFFF_FFFE)
    }
}

impl From<Duration> for EventTime {
    /// Interprets the duration as time since the epoch.
    fn from(d: Duration) -> Self {
        EventTime {
            sec: d.as_secs(),
            nsec: d.subsec_nanos(),
        }
    }
}

impl TryFrom<SystemTime> for EventTime {
    type Error = SystemTimeError;

    /// Fails for instants before the epoch, which Fluent Bit cannot carry.
    fn try_from(t: SystemTime) -> Result<Self, SystemTimeError> {
        t.duration_since(UNIX_EPOCH).map(Self::from)
    }
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 in the proleptic
/// Gregorian calendar. Days are counted in 400-year eras of 146097 days that start on March 1,
/// so the leap day falls at the end of each era-year.
pub(crate) fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Shift the origin from 1970-01-01 to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March ... 11 = February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month as u32, day)
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d) = civil_from_days(self.sec / 86_400);
        let secs_of_day = self.sec % 86_400;
        let (h, mi, s) = (secs_of_day / 3_600, secs_of_day / 60 % 60, secs_of_day % 60);
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        let digits = f.precision().unwrap_or(9).min(9);
        if digits > 0 {
            let frac = self.nsec / 10u32.pow(9 - digits as u32);
            write!(f, ".{frac:0digits$}")?;
        }
        f.write_str("Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn civil_dates_are_consecutive_over_800_years() {
        let mut prev = civil_from_days(0);
        for day in 1..(800 * 366) {
            let cur = civil_from_days(day);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            assert!(cur.2 <= 31 && (1..=12).contains(&cur.1));
            prev = cur;
        }
    }

    #[test]
    fn rfc3339_display() {
        let t = EventTime::new(1_700_000_000, 5).unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(format!("{t:.3}"), "2023-11-14T22:13:20.000Z");
        assert_eq!(format!("{t:.0}"), "2023-11-14T22:13:20Z");
        assert_eq!(
            EventTime::GROUP_START.to_string(),
            "2106-02-07T06:28:15.000000000Z"
        );
        assert_eq!(
            EventTime::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn float_conversion_rounds_to_nanos_and_rejects_bad_values() {
        assert_eq!(EventTime::from_f64(1.5), EventTime::new(1, 500_000_000));
        assert_eq!(
            EventTime::from_f64(1.3).map(|t| t.nsec()),
            Some(300_000_000)
        );
        assert_eq!(EventTime::from_f64(-1.0), None);
        assert_eq!(EventTime::from_f64(f64::NAN), None);
        assert_eq!(EventTime::from_f64(f64::INFINITY), None);
        assert_eq!(EventTime::from_f64(1e30), None);
        assert_eq!(EventTime::new(1, 1_000_000_000), None);
    }

    #[test]
    fn system_time_round_trip() {
        let t = EventTime::new(1_700_000_000, 123_456_789).unwrap();
        let st = t.to_system_time().unwrap();
        assert_eq!(EventTime::try_from(st).unwrap(), t);
        assert_eq!(t.as_nanos(), 1_700_000_000_123_456_789);
        assert!(EventTime::try_from(UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert!(EventTime::now().sec() > 1_700_000_000);
    }
}
