//! STIX timestamps: RFC 3339 in UTC with a literal `Z` ([STIX 2.1 §3.2]).
//!
//! [STIX 2.1 §3.2]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_i5bqyl8rar3d

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A point in time, `YYYY-MM-DDTHH:MM:SS[.s+]Z`.
///
/// The number of fractional digits written is kept, so a timestamp read from elsewhere
/// (DISARM writes 4–6 digits) is written back exactly as it came. Timestamps the library makes
/// carry exactly three digits, the precision STIX requires of `created` and `modified` and the
/// form OpenCTI hashes into incident ids. Ordering and equality compare the instant only.
///
/// A timestamp lies between `0001-01-01T00:00:00Z` and `9999-12-31T23:59:59.999999999Z`, the
/// years its text form can write. With the `chrono` feature it converts to and from
/// `chrono::DateTime<Utc>`:
///
/// ```
/// # #[cfg(feature = "chrono")]
/// # fn main() -> Result<(), stix_model::Error> {
/// use chrono::{DateTime, Utc};
/// use stix_model::Timestamp;
///
/// let t = Timestamp::parse("2024-05-01T10:11:12.123Z")?;
/// let d: DateTime<Utc> = t.into();
/// assert_eq!(d.to_rfc3339(), "2024-05-01T10:11:12.123+00:00");
/// // Back: the fewest of 3, 6 or 9 fractional digits that keep the instant exactly.
/// assert_eq!(Timestamp::try_from(d)?.to_string(), "2024-05-01T10:11:12.123Z");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "chrono"))]
/// # fn main() {}
/// ```
#[derive(Clone, Copy)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
    digits: u8,
}

impl Timestamp {
    /// Parses a STIX timestamp. An offset other than `Z` (even `+00:00`) is refused.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidTimestamp {
            value: s.to_owned(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SS[.fraction]Z"));
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Some(v)
        };
        let shape_ok = b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[b.len() - 1] == b'Z';
        let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second), true) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
            shape_ok,
        ) else {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SS[.fraction]Z in UTC"));
        };
        let frac = &b[19..b.len() - 1];
        let (nanos, digits) = if frac.is_empty() {
            (0, 0)
        } else {
            if frac[0] != b'.' || frac.len() < 2 {
                return Err(bad("expected a '.' and digits before 'Z'"));
            }
            let digits = &frac[1..];
            if digits.len() > 9 {
                return Err(bad("more than nine fractional digits"));
            }
            let Some(v) = num(20..20 + digits.len()) else {
                return Err(bad("fraction is not all digits"));
            };
            (v * 10u32.pow(9 - digits.len() as u32), digits.len() as u8)
        };
        if year == 0 {
            return Err(bad("year 0 does not exist"));
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad("no such date"));
        }
        // A leap second (:60) is allowed by RFC 3339; it is folded into the next second.
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad("no such time of day"));
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        if secs > MAX_SECS {
            return Err(bad("after the last second of year 9999"));
        }
        Ok(Self {
            secs,
            nanos,
            digits,
        })
    }

    /// The current time, with millisecond precision.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix_nanos(d.as_secs() as i64, d.subsec_millis() * 1_000_000, 3)
    }

    /// A timestamp from seconds and nanoseconds since the Unix epoch, written with `digits`
    /// fractional digits (clamped to 0–9; the value is truncated to that precision). An
    /// instant outside years 1–9999 is clamped to the nearest one a timestamp can write.
    pub fn from_unix_nanos(secs: i64, nanos: u32, digits: u8) -> Self {
        let digits = digits.min(9);
        let unit = 10u32.pow(9 - u32::from(digits));
        let (secs, nanos) = if secs < MIN_SECS {
            (MIN_SECS, 0)
        } else if secs > MAX_SECS {
            (MAX_SECS, 999_999_999)
        } else {
            (secs, nanos % 1_000_000_000)
        };
        let nanos = nanos / unit * unit;
        Self {
            secs,
            nanos,
            digits,
        }
    }

    /// Midnight UTC of a calendar date, with three fractional digits.
    pub fn from_date(year: i32, month: u32, day: u32) -> Result<Self, Error> {
        Self::parse(&format!("{year:04}-{month:02}-{day:02}T00:00:00.000Z"))
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// How many fractional digits the text form has.
    pub fn fraction_digits(&self) -> u8 {
        self.digits
    }

    /// The same instant written with `digits` fractional digits (truncating).
    pub fn with_digits(self, digits: u8) -> Self {
        Self::from_unix_nanos(self.secs, self.nanos, digits)
    }

    /// The same instant with at least three fractional digits, as `created`/`modified` need.
    pub fn at_least_millis(self) -> Self {
        if self.digits >= 3 {
            self
        } else {
            self.with_digits(3)
        }
    }

    /// The calendar date `(year, month, day)` in UTC.
    pub fn date(&self) -> (i64, u32, u32) {
        civil_from_days(self.secs.div_euclid(86_400))
    }

    /// Microseconds since the epoch (for storage and comparisons).
    pub fn unix_micros(&self) -> i64 {
        self.secs * 1_000_000 + i64::from(self.nanos / 1000)
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, o: &Self) -> bool {
        self.secs == o.secs && self.nanos == o.nanos
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.secs, self.nanos).cmp(&(o.secs, o.nanos))
    }
}
impl std::hash::Hash for Timestamp {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.secs, self.nanos).hash(h);
    }
}

/// `0001-01-01T00:00:00Z`, the first second a timestamp can write.
const MIN_SECS: i64 = -62_135_596_800;
/// `9999-12-31T23:59:59Z`, the last second a timestamp can write.
const MAX_SECS: i64 = 253_402_300_799;

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// Appends the text form to `out`.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 32];
        let n = self.encode(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }

    /// Writes the text form into `buf` and returns its length (at most 30 bytes).
    fn encode(&self, buf: &mut [u8; 32]) -> usize {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999) as u32;
        fn put(buf: &mut [u8; 32], at: usize, v: u32, width: usize) {
            let mut v = v;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        put(buf, 0, y, 4);
        put(buf, 5, m, 2);
        put(buf, 8, d, 2);
        put(buf, 11, rem / 3600, 2);
        put(buf, 14, rem % 3600 / 60, 2);
        put(buf, 17, rem % 60, 2);
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b'T';
        buf[13] = b':';
        buf[16] = b':';
        let mut len = 19;
        if self.digits > 0 {
            let digits = usize::from(self.digits);
            buf[19] = b'.';
            let frac = self.nanos / 10u32.pow(9 - u32::from(self.digits));
            put(buf, 20, frac, digits);
            len = 20 + digits;
        }
        buf[len] = b'Z';
        len + 1
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let n = self.encode(&mut buf);
        // Only ASCII digits and separators are written.
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        let n = self.encode(&mut buf);
        match std::str::from_utf8(&buf[..n]) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom("timestamp encoding")),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(feature = "chrono")]
mod chrono_conversions {
    use chrono::{DateTime, Utc};

    use super::Timestamp;
    use crate::Error;

    /// The same instant (the number of fractional digits is not kept).
    impl From<Timestamp> for DateTime<Utc> {
        fn from(t: Timestamp) -> Self {
            // Every timestamp lies in years 1–9999, well inside chrono's range.
            DateTime::from_timestamp(t.secs, t.nanos).unwrap_or_default()
        }
    }

    /// The same instant, written with the fewest of 3, 6 or 9 fractional digits that keep it
    /// exactly (three, as `created` and `modified` need, for whole milliseconds). Fails
    /// outside years 1–9999.
    impl TryFrom<DateTime<Utc>> for Timestamp {
        type Error = Error;
        fn try_from(d: DateTime<Utc>) -> Result<Self, Error> {
            let secs = d.timestamp();
            if !(super::MIN_SECS..=super::MAX_SECS).contains(&secs) {
                return Err(Error::InvalidTimestamp {
                    value: d.to_rfc3339(),
                    reason: "outside years 1-9999",
                });
            }
            // A leap second (chrono's nanoseconds ≥ 10⁹) folds into the next second, as in
            // `Timestamp::parse`.
            let (secs, nanos) = match d.timestamp_subsec_nanos() {
                n if n >= 1_000_000_000 => (secs + 1, n - 1_000_000_000),
                n => (secs, n),
            };
            let digits = match nanos {
                n if n % 1_000_000 == 0 => 3,
                n if n % 1_000 == 0 => 6,
                _ => 9,
            };
            Ok(Timestamp::from_unix_nanos(secs, nanos, digits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_exactly() {
        for s in [
            "2024-05-01T00:00:00Z",
            "2024-05-01T00:00:00.000Z",
            "2024-05-01T00:00:00.07Z",
            "2024-02-29T23:59:59.123456Z",
            "1970-01-01T00:00:00.000000000Z",
            "1969-12-31T23:59:59.999Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.9999Z",
        ] {
            let t = Timestamp::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T00:00:00",
            "2024-05-01T00:00:00+00:00",
            "2024-05-01T00:00:00.000+00:00",
            "2024-05-01 00:00:00.000Z",
            "2024-05-01T00:00:00.Z",
            "2024-05-01T00:00:00,000Z",
            "2024-05-01T00:00:00.0000000000Z",
            "2024-13-01T00:00:00.000Z",
            "2023-02-29T00:00:00.000Z",
            "2024-04-31T00:00:00.000Z",
            "2024-05-01T24:00:00.000Z",
            "0000-01-01T00:00:00.000Z",
            "2024-05-01T00:00:00.000z",
            "2024-05-01T00:00:00.000ZZ",
            "+024-05-01T00:00:00.000Z",
            "2024-05-01T00:00:00.1a2Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn stays_within_the_years_its_text_can_write() {
        assert!(Timestamp::parse("9999-12-31T23:59:60Z").is_err());
        let last = Timestamp::from_unix_nanos(i64::MAX, 5, 3);
        assert_eq!(last.to_string(), "9999-12-31T23:59:59.999Z");
        let first = Timestamp::from_unix_nanos(i64::MIN, 5, 0);
        assert_eq!(first.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("0001-01-01T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            MIN_SECS
        );
        assert_eq!(
            Timestamp::parse("9999-12-31T23:59:59Z")
                .unwrap()
                .unix_seconds(),
            MAX_SECS
        );
        assert_eq!(last.unix_micros(), MAX_SECS * 1_000_000 + 999_000);
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn converts_to_and_from_chrono_both_ways() {
        use chrono::{DateTime, NaiveDate, TimeZone, Utc};

        for (text, rfc3339, back) in [
            (
                "2024-05-01T10:11:12.123Z",
                "2024-05-01T10:11:12.123+00:00",
                "2024-05-01T10:11:12.123Z",
            ),
            (
                "2024-05-01T10:11:12Z",
                "2024-05-01T10:11:12+00:00",
                "2024-05-01T10:11:12.000Z",
            ),
            (
                "2024-05-01T10:11:12.5Z",
                "2024-05-01T10:11:12.500+00:00",
                "2024-05-01T10:11:12.500Z",
            ),
            (
                "2024-05-01T10:11:12.1234Z",
                "2024-05-01T10:11:12.123400+00:00",
                "2024-05-01T10:11:12.123400Z",
            ),
            (
                "1969-12-31T23:59:59.000000001Z",
                "1969-12-31T23:59:59.000000001+00:00",
                "1969-12-31T23:59:59.000000001Z",
            ),
            (
                "0001-01-01T00:00:00.000Z",
                "0001-01-01T00:00:00+00:00",
                "0001-01-01T00:00:00.000Z",
            ),
            (
                "9999-12-31T23:59:59.999999999Z",
                "9999-12-31T23:59:59.999999999+00:00",
                "9999-12-31T23:59:59.999999999Z",
            ),
        ] {
            let t = Timestamp::parse(text).unwrap();
            let d: DateTime<Utc> = t.into();
            assert_eq!(d.to_rfc3339(), rfc3339, "{text}");
            let again = Timestamp::try_from(d).unwrap();
            assert_eq!(again, t, "{text}: same instant");
            assert_eq!(again.to_string(), back, "{text}");
        }
        let too_late = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(
            Timestamp::try_from(too_late),
            Err(crate::Error::InvalidTimestamp { .. })
        ));
        let too_early = Utc.with_ymd_and_hms(0, 12, 31, 23, 59, 59).unwrap();
        assert!(Timestamp::try_from(too_early).is_err());
        // chrono writes a leap second as nanoseconds past 10⁹; it folds into the next second.
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .unwrap()
            .and_utc();
        assert_eq!(
            Timestamp::try_from(leap).unwrap().to_string(),
            "2017-01-01T00:00:00.500Z"
        );
    }

    #[test]
    fn orders_by_instant_and_keeps_digits() {
        let a = Timestamp::parse("2024-05-01T00:00:00.100Z").unwrap();
        let b = Timestamp::parse("2024-05-01T00:00:00.1Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.fraction_digits(), 3);
        assert!(a < Timestamp::parse("2024-05-01T00:00:00.1001Z").unwrap());
        assert_eq!(
            Timestamp::parse("2024-05-01T00:00:00Z")
                .unwrap()
                .at_least_millis()
                .to_string(),
            "2024-05-01T00:00:00.000Z"
        );
        assert_eq!(Timestamp::now().fraction_digits(), 3);
        assert_eq!(a.date(), (2024, 5, 1));
    }
}
