//! Oracle dates, timestamps and intervals as LogMiner prints them under the pinned NLS formats
//! (`YYYY-MM-DD HH24:MI:SS`, `...SS.FF9`, `...SS.FF9 TZH:TZM`; intervals as `TO_YMINTERVAL` /
//! `TO_DSINTERVAL` arguments, `+000000001-02`, `+000000001 02:03:04.123456789`), turned into
//! PostgreSQL's binary forms: microseconds since 2000-01-01 for timestamps, (µs, days, months)
//! for intervals. Nanoseconds are rounded to the nearest microsecond (PostgreSQL keeps
//! microseconds and rounds the same way on input); a rounding that carries moves the second.

use crate::value::PG_EPOCH_UNIX_DAYS;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days from 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// A small reader of digits and separators.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    /// Between `min` and `max` digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<(i64, usize)> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + i64::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        let n = self.i - start;
        (n >= min).then_some((v, n))
    }

    fn num(&mut self, min: usize, max: usize) -> Option<i64> {
        self.digits(min, max).map(|(v, _)| v)
    }

    fn lit(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn sign(&mut self) -> i64 {
        match self.b.get(self.i) {
            Some(b'-') => {
                self.i += 1;
                -1
            }
            Some(b'+') => {
                self.i += 1;
                1
            }
            _ => 1,
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        self.i - start
    }

    /// `.F{0,9}` (the dot optional, and the digits: LogMiner prints `00:00:00.` for a zero
    /// fraction) as microseconds, rounded.
    fn fraction_micros(&mut self) -> Option<i64> {
        if self.lit(b'.').is_none() {
            return Some(0);
        }
        let (v, n) = self.digits(0, 9)?;
        let nanos = v * 10i64.pow(9 - n as u32);
        Some((nanos + 500) / 1000)
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// `YYYY-MM-DD HH24:MI:SS[.FFFFFFFFF]` as µs since 1970 and the rest of the text.
fn local_micros(s: &str) -> Option<(i64, &str)> {
    let mut p = Scan {
        b: s.trim_start().as_bytes(),
        i: 0,
    };
    let s = s.trim_start();
    let sign = if p.lit(b'-').is_some() { -1 } else { 1 };
    let year = sign * p.num(1, 5)?;
    p.lit(b'-')?;
    let month = u32::try_from(p.num(1, 2)?).ok()?;
    p.lit(b'-')?;
    let day = u32::try_from(p.num(1, 2)?).ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = 0;
    if p.spaces() > 0 && p.b.get(p.i).is_some_and(u8::is_ascii_digit) {
        let h = p.num(1, 2)?;
        p.lit(b':')?;
        let mi = p.num(1, 2)?;
        p.lit(b':')?;
        let sec = p.num(1, 2)?;
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        secs = h * 3600 + mi * 60 + sec;
    }
    let micros = p.fraction_micros()?;
    let days = days_from_civil(year, month, day);
    let total = days * MICROS_PER_DAY + secs * 1_000_000 + micros;
    Some((total, &s[p.i..]))
}

/// A DATE or TIMESTAMP without zone, as PostgreSQL's binary timestamp (µs since 2000-01-01).
pub(super) fn timestamp(s: &str) -> Option<i64> {
    let (unix, rest) = local_micros(s)?;
    rest.trim().is_empty().then_some(to_pg(unix))
}

/// A TIMESTAMP WITH TIME ZONE (`... +05:30`), as UTC in PostgreSQL's binary form. Without an
/// offset the value is taken to be at `default_offset_secs` east of UTC (the database time zone
/// a WITH LOCAL TIME ZONE value is printed in).
pub(super) fn timestamp_tz(s: &str, default_offset_secs: i32) -> Option<i64> {
    let (unix, rest) = local_micros(s)?;
    let rest = rest.trim();
    let offset = if rest.is_empty() {
        i64::from(default_offset_secs)
    } else if rest.eq_ignore_ascii_case("UTC") || rest == "Z" {
        0
    } else {
        let mut p = Scan {
            b: rest.as_bytes(),
            i: 0,
        };
        let sign = match p.b.first() {
            Some(b'+' | b'-') => p.sign(),
            _ => return None,
        };
        let h = p.num(1, 2)?;
        p.lit(b':')?;
        let m = p.num(2, 2)?;
        if !p.done() || h > 15 || m > 59 {
            return None;
        }
        sign * (h * 3600 + m * 60)
    };
    Some(to_pg(unix - offset * 1_000_000))
}

fn to_pg(unix_micros: i64) -> i64 {
    unix_micros - i64::from(PG_EPOCH_UNIX_DAYS) * MICROS_PER_DAY
}

/// `[+-]Y-M` (INTERVAL YEAR TO MONTH) as months.
pub(super) fn interval_ym(s: &str) -> Option<i32> {
    let s = s.trim();
    let mut p = Scan {
        b: s.as_bytes(),
        i: 0,
    };
    let sign = p.sign();
    let y = p.num(1, 9)?;
    p.lit(b'-')?;
    let m = p.num(1, 2)?;
    if m > 11 || !p.done() {
        return None;
    }
    i32::try_from(sign * (y * 12 + m)).ok()
}

/// `[+-]D HH:MI:SS[.F]` (INTERVAL DAY TO SECOND) as days and microseconds.
pub(super) fn interval_ds(s: &str) -> Option<(i32, i64)> {
    let s = s.trim();
    let mut p = Scan {
        b: s.as_bytes(),
        i: 0,
    };
    let sign = p.sign();
    let d = p.num(1, 9)?;
    if p.spaces() == 0 {
        return None;
    }
    let h = p.num(1, 2)?;
    p.lit(b':')?;
    let mi = p.num(1, 2)?;
    p.lit(b':')?;
    let sec = p.num(1, 2)?;
    let frac = p.fraction_micros()?;
    if h > 23 || mi > 59 || sec > 59 || !p.done() {
        return None;
    }
    let micros = (h * 3600 + mi * 60 + sec) * 1_000_000 + frac;
    Some((i32::try_from(sign * d).ok()?, sign * micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG_EPOCH_UNIX_MICROS: i64 = crate::value::PG_EPOCH_UNIX_MICROS;

    #[test]
    fn dates_keep_their_time_of_day() {
        // 2024-01-01 23:59:59 UTC = 1704153599 s since 1970.
        assert_eq!(
            timestamp("2024-01-01 23:59:59"),
            Some(1_704_153_599_000_000 - PG_EPOCH_UNIX_MICROS)
        );
        assert_eq!(timestamp("2000-01-01 00:00:00"), Some(0));
        assert_eq!(timestamp("2000-01-01 00:00:00."), Some(0));
        assert_eq!(timestamp("1999-12-31 23:59:59"), Some(-1_000_000));
        assert!(timestamp("2024-02-29 00:00:00").is_some());
        assert_eq!(timestamp("2023-02-29 00:00:00"), None);
        assert_eq!(timestamp("2024-13-01 00:00:00"), None);
        assert_eq!(timestamp("2024-01-01 24:00:00"), None);
        assert_eq!(timestamp("2024-01-01 00:00:00 junk"), None);
    }

    #[test]
    fn nine_fraction_digits_round_to_microseconds() {
        assert_eq!(timestamp("2000-01-01 00:00:00.123456789"), Some(123_457));
        assert_eq!(timestamp("2000-01-01 00:00:00.123456489"), Some(123_456));
        assert_eq!(timestamp("2000-01-01 00:00:00.5"), Some(500_000));
        assert_eq!(timestamp("2000-01-01 00:00:59.999999999"), Some(60_000_000));
        assert_eq!(timestamp("2000-01-01 00:00:00.1234567890"), None);
    }

    #[test]
    fn zoned_timestamps_are_moved_to_utc() {
        assert_eq!(
            timestamp_tz("2000-01-01 05:30:00.000000000 +05:30", 0),
            Some(0)
        );
        assert_eq!(
            timestamp_tz("1999-12-31 19:00:00.5 -05:00", 0),
            Some(500_000)
        );
        assert_eq!(timestamp_tz("2000-01-01 01:00:00", 3600), Some(0));
        assert_eq!(timestamp_tz("2000-01-01 00:00:00 UTC", 3600), Some(0));
        assert_eq!(timestamp_tz("2000-01-01 00:00:00 Europe/Paris", 0), None);
        assert_eq!(timestamp_tz("2000-01-01 00:00:00 +5", 0), None);
    }

    #[test]
    fn intervals_in_both_forms() {
        assert_eq!(interval_ym("+000000001-02"), Some(14));
        assert_eq!(interval_ym("-01-11"), Some(-23));
        assert_eq!(interval_ym("1-12"), None);
        assert_eq!(
            interval_ds("+000000001 02:03:04.123456789"),
            Some((1, 7_384_123_457))
        );
        assert_eq!(interval_ds("-3 00:00:00.000001"), Some((-3, -1)));
        assert_eq!(interval_ds("3 00:00:60"), None);
    }
}
