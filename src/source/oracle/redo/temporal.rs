//! Oracle dates, timestamps and intervals as LogMiner prints them under the pinned NLS formats
//! (`SYYYY-MM-DD HH24:MI:SS`, `...SS.FF9`, `...SS.FF9 TZH:TZM`: a BC year is signed, an AD year
//! has a blank where the sign goes; intervals as `TO_YMINTERVAL` / `TO_DSINTERVAL` arguments,
//! `+000000001-02`, `+000000001 02:03:04.123456789`, or the inside of an ANSI literal), turned
//! into PostgreSQL's binary forms: microseconds since 2000-01-01 for timestamps, (µs, days,
//! months) for intervals. Nanoseconds are rounded to the nearest microsecond (PostgreSQL keeps
//! microseconds and rounds the same way on input); a rounding that carries moves the second.
//!
//! Calendar: Oracle's DATE uses the Julian calendar before 1582-10-15 and the Gregorian from then
//! on (1582-10-05 to 1582-10-14 do not exist), and has no year 0 (`-0001` is 1 BC, followed by
//! `0001`); years run from -4712 to 9999 (Oracle Database SQL Language Reference, "Datetime
//! Data Types": "the Julian calendar ... before 1582", and the `J` format's January 1, 4712 BC).
//! PostgreSQL's timestamps count days in the proleptic Gregorian calendar. A date is converted
//! as the day it names: its Julian Day Number, from the Julian or Gregorian calendar as Oracle
//! reads it, so the elapsed time between two dates is kept (Oracle's 1582-10-04 is the day
//! before its 1582-10-15) and PostgreSQL prints the day by its Gregorian name (Oracle's Julian
//! 1000-01-01 is PostgreSQL's 1000-01-06). BC years count astronomically (1 BC is year 0, and
//! a Julian leap year), as the Julian Day Number does; Oracle's own date arithmetic across 1 BC
//! to AD 1 counts a year 0 (its bug 106242), which is not followed here.

use crate::value::PG_EPOCH_UNIX_DAYS;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The first Gregorian day (1582-10-15) as days from 1970-01-01: earlier dates are Julian.
const GREGORIAN_START_UNIX_DAYS: i64 = -141_427;
/// Oracle's earliest year (4712 BC).
const MIN_YEAR: i64 = -4712;

/// Days from 1970-01-01 of an Oracle date: `year` as Oracle numbers it (no year 0, `-1` is
/// 1 BC), Julian before 1582-10-15, Gregorian from then on; `None` for the days that do not
/// exist (year 0, the ten days skipped in October 1582, a day past its month's end).
fn oracle_days(year: i64, m: u32, d: u32) -> Option<i64> {
    if year == 0 || !(MIN_YEAR..=9999).contains(&year) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    // Astronomical numbering: 1 BC is year 0.
    let y = if year < 0 { year + 1 } else { year };
    let julian = (y, m, d) < (1582, 10, 15);
    if d > days_in_month(y, m, julian) {
        return None;
    }
    let days = if julian {
        julian_days(y, m, d)
    } else {
        days_from_civil(y, m, d)
    };
    // 1582-10-05 ..= 1582-10-14 read as Julian land on or after the first Gregorian day.
    (!julian || days < GREGORIAN_START_UNIX_DAYS).then_some(days)
}

/// Days from 1970-01-01 of a proleptic Julian date (astronomical year): its Julian Day Number
/// (the Julian-calendar formula of Richards, "Mapping Time", as in the Explanatory Supplement
/// to the Astronomical Almanac) less 1970-01-01's, 2440588.
fn julian_days(y: i64, m: u32, d: u32) -> i64 {
    let a = i64::from(14 - m) / 12;
    let yy = y + 4800 - a;
    let mm = i64::from(m) + 12 * a - 3;
    let jdn = i64::from(d) + (153 * mm + 2) / 5 + 365 * yy + yy.div_euclid(4) - 32_083;
    jdn - 2_440_588
}

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

/// The days of month `m` of astronomical year `y`, in the Julian or the Gregorian calendar.
fn days_in_month(y: i64, m: u32, julian: bool) -> u32 {
    let leap = if julian {
        y.rem_euclid(4) == 0
    } else {
        (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
    };
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
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
    let sign = p.sign();
    let year = sign * p.num(1, 5)?;
    p.lit(b'-')?;
    let month = u32::try_from(p.num(1, 2)?).ok()?;
    p.lit(b'-')?;
    let day = u32::try_from(p.num(1, 2)?).ok()?;
    let days = oracle_days(year, month, day)?;
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

    const DAY: i64 = MICROS_PER_DAY;

    /// Days from 2000-01-01 (Julian Day Number 2451545) of a date.
    fn day(s: &str) -> i64 {
        let us = timestamp(&format!("{s} 00:00:00")).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(us % DAY, 0);
        us / DAY
    }

    #[test]
    fn dates_before_1582_10_15_are_julian() {
        assert_eq!(GREGORIAN_START_UNIX_DAYS, days_from_civil(1582, 10, 15));
        // The day before the first Gregorian day is Julian 1582-10-04 (JDN 2299160).
        assert_eq!(day("1582-10-15") - day("1582-10-04"), 1);
        assert_eq!(day("1582-10-04"), 2_299_160 - 2_451_545);
        for skipped in ["1582-10-05", "1582-10-10", "1582-10-14"] {
            assert_eq!(timestamp(&format!("{skipped} 00:00:00")), None, "{skipped}");
        }
        // Julian 1000-01-01 is JDN 2086308 (Gregorian 1000-01-06); 1500 is a Julian leap year.
        assert_eq!(day("1000-01-01"), 2_086_308 - 2_451_545);
        assert_eq!(day("1500-03-01") - day("1500-02-29"), 1);
        assert_eq!(
            timestamp("1700-02-29 00:00:00"),
            None,
            "Gregorian 1700 is not leap"
        );
        // AD 1-01-01 Julian is JDN 1721424.
        assert_eq!(day("0001-01-01"), 1_721_424 - 2_451_545);
    }

    #[test]
    fn bc_years_have_no_year_zero() {
        // SYYYY prints a blank for AD and a minus for BC.
        assert_eq!(day(" 2000-01-01"), 0);
        assert_eq!(timestamp("0000-01-01 00:00:00"), None);
        assert_eq!(timestamp("-0000-01-01 00:00:00"), None);
        // 1 BC (astronomical year 0) is followed by AD 1, and is a Julian leap year.
        assert_eq!(day("0001-01-01") - day("-0001-12-31"), 1);
        assert_eq!(day("-0001-03-01") - day("-0001-02-29"), 1);
        assert_eq!(timestamp("-0002-02-29 00:00:00"), None);
        // Oracle's first day, January 1, 4712 BC: astronomical -4711, JDN 366 (JDN 0 is
        // January 1, 4713 BC, a leap year).
        assert_eq!(day("-4712-01-01"), 366 - 2_451_545);
        assert_eq!(timestamp("-4713-12-31 23:59:59"), None);
        assert_eq!(
            timestamp("-4712-01-01 12:00:00.5"),
            Some((366 - 2_451_545) * DAY + DAY / 2 + 500_000)
        );
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
