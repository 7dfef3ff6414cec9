//! Date, time and interval renderings of Debezium's PostgreSQL connector
//! (`time.precision.mode=adaptive`), including its treatment of `infinity` and its ISO-8601
//! string forms (Java's `DateTimeFormatter.ISO_OFFSET_*` output).

use crate::format::json::write_i64;
use crate::value::civil_from_days;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// `timestamp` ±infinity as Debezium writes them (pgjdbc's `DATE_POSITIVE/NEGATIVE_INFINITY`,
/// read as microseconds).
pub(crate) const TIMESTAMP_POS_INFINITY_MICROS: i64 = 9_223_372_036_825_200_000;
pub(crate) const TIMESTAMP_NEG_INFINITY_MICROS: i64 = -9_223_372_036_832_400_000;
/// `date` ±infinity: Debezium maps them to the dates `-5877611-06-21` / `-5877611-06-22`
/// (`PostgresValueConverter.POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE`), whose epoch days these are.
pub(crate) const DATE_POS_INFINITY_DAYS: i32 = -2_147_472_692;
pub(crate) const DATE_NEG_INFINITY_DAYS: i32 = -2_147_472_691;

/// Debezium's `MicroDuration.DAYS_PER_MONTH_AVG` (365.25 / 12).
const DAYS_PER_MONTH_AVG: f64 = 365.25 / 12.0;

/// Epoch days of a `date` value (`i32::MAX`/`MIN` are ±infinity).
pub(crate) fn date_days(days: i32) -> i32 {
    match days {
        i32::MAX => DATE_POS_INFINITY_DAYS,
        i32::MIN => DATE_NEG_INFINITY_DAYS,
        d => d,
    }
}

/// Debezium's `MicroTimestamp` of a `timestamp` value (`i64::MAX`/`MIN` are ±infinity): its
/// `Conversions.toEpochMicros`, whose seconds-to-µs step saturates and whose sub-second add
/// then overflows, so the last 30 years of PostgreSQL's range come out as Java computes them.
pub(crate) fn timestamp_micros(micros: i64) -> i64 {
    match micros {
        i64::MAX => TIMESTAMP_POS_INFINITY_MICROS,
        i64::MIN => TIMESTAMP_NEG_INFINITY_MICROS,
        m => {
            let real = crate::value::timestamp_unix_micros(m);
            let second = i128::from(MICROS_PER_SECOND);
            let secs = i64::try_from(real.div_euclid(second)).unwrap_or(i64::MAX);
            let sub = real.rem_euclid(second) as i64;
            secs.saturating_mul(MICROS_PER_SECOND).wrapping_add(sub)
        }
    }
}

/// Epoch milliseconds of a `timestamp(0..3)` value.
pub(crate) fn timestamp_millis(micros: i64) -> i64 {
    match micros {
        i64::MAX | i64::MIN => timestamp_micros(micros).div_euclid(1000),
        m => crate::value::timestamp_unix_micros(m).div_euclid(1000) as i64,
    }
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Java's `ISO_LOCAL_DATE` year: at least 4 digits, `+` above 9999, `-` for years before 1 AD
/// (proleptic: 1 BC is year 0).
fn push_year(out: &mut Vec<u8>, year: i64) {
    if year > 9999 {
        out.push(b'+');
    } else if year < 0 {
        out.push(b'-');
    }
    let abs = year.unsigned_abs();
    let digits = itoa::Buffer::new().format(abs).len();
    for _ in digits..4 {
        out.push(b'0');
    }
    out.extend_from_slice(itoa::Buffer::new().format(abs).as_bytes());
}

/// `HH:mm:ss` then the fraction: exactly `width` digits (1..=9), or Java's default form
/// (none when zero, else trailing zeros stripped) for any other width.
fn push_time(out: &mut Vec<u8>, micros_of_day: i64, width: u8) {
    let secs = micros_of_day / MICROS_PER_SECOND;
    let frac = (micros_of_day % MICROS_PER_SECOND) as u32;
    push2(out, (secs / 3600) as u32);
    out.push(b':');
    push2(out, (secs / 60 % 60) as u32);
    out.push(b':');
    push2(out, (secs % 60) as u32);
    let mut digits = [b'0'; 9];
    let mut f = frac;
    for d in digits[..6].iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    let n = if (1..=9).contains(&width) {
        usize::from(width)
    } else {
        if frac == 0 {
            return;
        }
        digits[..6]
            .iter()
            .rposition(|&d| d != b'0')
            .map_or(0, |p| p + 1)
    };
    out.push(b'.');
    out.extend_from_slice(&digits[..n]);
}

/// Appends a `timestamptz` as Debezium's `ZonedTimestamp` string (quoted), in UTC:
/// `2024-02-29T12:34:56.789012Z` with `width` fractional digits; ±infinity as `"infinity"` /
/// `"-infinity"`.
pub(crate) fn write_zoned_timestamp(out: &mut Vec<u8>, micros: i64, width: u8) {
    match micros {
        i64::MAX => return out.extend_from_slice(b"\"infinity\""),
        i64::MIN => return out.extend_from_slice(b"\"-infinity\""),
        _ => {}
    }
    let real = crate::value::timestamp_unix_micros(micros);
    let days = real.div_euclid(i128::from(MICROS_PER_DAY)) as i64;
    let micros = real.rem_euclid(i128::from(MICROS_PER_DAY)) as i64;
    let (y, m, d) = civil_from_days(days);
    out.push(b'"');
    push_year(out, y);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
    out.push(b'T');
    push_time(out, micros.rem_euclid(MICROS_PER_DAY), width);
    out.extend_from_slice(b"Z\"");
}

/// Appends a `timetz` as Debezium's `ZonedTime` string (quoted), shifted to UTC:
/// `10:15:30.5Z` (Java's `ISO_OFFSET_TIME`; fraction without trailing zeros). `24:00:00` is
/// midnight, `00:00:00Z`, as Debezium writes it (Java's `OffsetTime` has no 24:00).
pub(crate) fn write_zoned_time(out: &mut Vec<u8>, micros: i64, offset_secs: i32) {
    out.push(b'"');
    let utc = (micros - i64::from(offset_secs) * MICROS_PER_SECOND).rem_euclid(MICROS_PER_DAY);
    push_time(out, utc, 0);
    out.extend_from_slice(b"Z\"");
}

/// An interval split as PostgreSQL's text output (and pgjdbc's `PGInterval`) splits it.
struct IntervalParts {
    years: i32,
    months: i32,
    days: i32,
    hours: i64,
    minutes: i64,
    /// Seconds with their fraction, in microseconds (sign as the other time fields).
    second_micros: i64,
}

fn split_interval(months: i32, days: i32, micros: i64) -> IntervalParts {
    IntervalParts {
        years: months / 12,
        months: months % 12,
        days,
        hours: micros / (3600 * MICROS_PER_SECOND),
        minutes: micros % (3600 * MICROS_PER_SECOND) / (60 * MICROS_PER_SECOND),
        second_micros: micros % (60 * MICROS_PER_SECOND),
    }
}

/// Debezium's `MicroDuration` of an interval: months count as 30.4375 days, computed in
/// doubles exactly as `MicroDuration.durationMicros` does, then truncated.
pub(crate) fn interval_micro_duration(months: i32, days: i32, micros: i64) -> i64 {
    let p = split_interval(months, days, micros);
    let seconds = p.second_micros as f64 / 1e6;
    let total_months = f64::from(p.years.wrapping_mul(12).wrapping_add(p.months));
    let number_of_days = total_months * DAYS_PER_MONTH_AVG + f64::from(p.days);
    let number_of_seconds =
        ((number_of_days * 24.0 + p.hours as f64) * 60.0 + p.minutes as f64) * 60.0 + seconds;
    (number_of_seconds * 1e6) as i64
}

/// Appends Debezium's `Interval` ISO-8601 string (quoted): `P1Y2M3DT4H5M6.5S`.
pub(crate) fn write_interval_iso(out: &mut Vec<u8>, months: i32, days: i32, micros: i64) {
    let p = split_interval(months, days, micros);
    out.extend_from_slice(b"\"P");
    write_i64(out, i64::from(p.years));
    out.push(b'Y');
    write_i64(out, i64::from(p.months));
    out.push(b'M');
    write_i64(out, i64::from(p.days));
    out.extend_from_slice(b"DT");
    write_i64(out, p.hours);
    out.push(b'H');
    write_i64(out, p.minutes);
    out.push(b'M');
    if p.second_micros < 0 {
        out.push(b'-');
    }
    let abs = p.second_micros.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(abs / 1_000_000).as_bytes());
    let mut frac = abs % 1_000_000;
    if frac != 0 {
        let mut width = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        out.push(b'.');
        let s = itoa::Buffer::new().format(frac).len();
        for _ in s..width {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(frac).as_bytes());
    }
    out.extend_from_slice(b"S\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    const US: i64 = 1_000_000;

    #[test]
    fn civil_dates_round_trip_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-25_567), (1900, 1, 1));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
    }

    #[test]
    fn zoned_timestamps_match_the_samples() {
        let t = 1_709_210_096 * US + 789_012;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, t, 6)),
            "\"2024-02-29T12:34:56.789012Z\""
        );
        assert_eq!(
            s(|o| write_zoned_timestamp(o, 1_704_067_200 * US, 6)),
            "\"2024-01-01T00:00:00.000000Z\""
        );
        let pre = 28_799 * US + 500_000;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, pre, 6)),
            "\"1970-01-01T07:59:59.500000Z\""
        );
        assert_eq!(
            s(|o| write_zoned_timestamp(o, -US / 2, 6)),
            "\"1969-12-31T23:59:59.500000Z\""
        );
    }

    #[test]
    fn zoned_timestamp_widths_years_and_infinity() {
        let t = 1_709_210_096 * US + 789_012;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, t, 3)),
            "\"2024-02-29T12:34:56.789Z\""
        );
        assert_eq!(
            s(|o| write_zoned_timestamp(o, t, 0)),
            "\"2024-02-29T12:34:56.789012Z\""
        );
        assert_eq!(
            s(|o| write_zoned_timestamp(o, t - 789_012, 0)),
            "\"2024-02-29T12:34:56Z\""
        );
        assert_eq!(
            s(|o| write_zoned_timestamp(o, t - 789_000 + 500_000, 0)),
            "\"2024-02-29T12:34:56.500012Z\""
        );
        // 10000-01-01 and 1 BC (proleptic year 0) and 2 BC (-1).
        let y10k = 253_402_300_800 * US;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, y10k, 6)),
            "\"+10000-01-01T00:00:00.000000Z\""
        );
        let bc1 = -62_167_219_200 * US;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, bc1, 6)),
            "\"0000-01-01T00:00:00.000000Z\""
        );
        let bc2 = bc1 - 365 * 86_400 * US;
        assert_eq!(
            s(|o| write_zoned_timestamp(o, bc2, 6)),
            "\"-0001-01-01T00:00:00.000000Z\""
        );
        assert_eq!(s(|o| write_zoned_timestamp(o, i64::MAX, 6)), "\"infinity\"");
        assert_eq!(
            s(|o| write_zoned_timestamp(o, i64::MIN, 6)),
            "\"-infinity\""
        );
    }

    #[test]
    fn zoned_times_shift_to_utc() {
        let t = (10 * 3600 + 15 * 60 + 30) * US + 500_000;
        assert_eq!(s(|o| write_zoned_time(o, t, 3600)), "\"09:15:30.5Z\"");
        assert_eq!(s(|o| write_zoned_time(o, 3600 * US, 7200)), "\"23:00:00Z\"");
        assert_eq!(s(|o| write_zoned_time(o, 0, -5 * 3600)), "\"05:00:00Z\"");
        // Debezium 3.6.3: 24:00:00+00 is "00:00:00Z" (tests/fixtures/debezium, time_types 4).
        assert_eq!(s(|o| write_zoned_time(o, 86_400 * US, 0)), "\"00:00:00Z\"");
    }

    #[test]
    fn intervals_follow_micro_duration() {
        // 1 mon 2 days 03:04:05.5 = (30.4375 + 2) days + 11045.5 s.
        let v = interval_micro_duration(1, 2, (3 * 3600 + 4 * 60 + 5) * US + 500_000);
        assert_eq!(v, 2_813_645_500_000);
        assert_eq!(interval_micro_duration(12, 0, 0), 31_557_600_000_000);
        assert_eq!(
            interval_micro_duration(0, -1, -2 * 3600 * US),
            -93_600_000_000
        );
    }

    #[test]
    fn intervals_as_iso_strings() {
        let t = (3 * 3600 + 4 * 60 + 5) * US + 500_000;
        assert_eq!(
            s(|o| write_interval_iso(o, 14, 3, t)),
            "\"P1Y2M3DT3H4M5.5S\""
        );
        assert_eq!(s(|o| write_interval_iso(o, 0, 0, 0)), "\"P0Y0M0DT0H0M0S\"");
        assert_eq!(
            s(|o| write_interval_iso(o, -14, -3, -t)),
            "\"P-1Y-2M-3DT-3H-4M-5.5S\""
        );
        assert_eq!(
            s(|o| write_interval_iso(o, 0, 0, 1)),
            "\"P0Y0M0DT0H0M0.000001S\""
        );
    }

    #[test]
    fn infinities_map_to_debezium_constants() {
        // Debezium 3.6.3's stream (tests/fixtures/debezium, time_types rows 104 and 105).
        assert_eq!(date_days(i32::MAX), -2_147_472_692);
        assert_eq!(date_days(i32::MIN), -2_147_472_691);
        assert_eq!(date_days(5), 5);
        assert_eq!(timestamp_micros(i64::MIN), -9_223_372_036_832_400_000);
        assert_eq!(timestamp_millis(i64::MAX), 9_223_372_036_825_200);
        assert_eq!(timestamp_millis(-1), -1);
        // 294276-12-31 23:59:59.999999, past an i64 of µs since 1970: Debezium's saturating
        // seconds plus overflowing micros, and exact milliseconds (time_types row 5).
        let last = 9_224_318_015_999_999_999i128;
        let wrapped = (last - (1i128 << 64)) as i64;
        assert_eq!(timestamp_micros(wrapped), -9_223_372_036_853_775_810);
        assert_eq!(timestamp_millis(wrapped), 9_224_318_015_999_999);
    }
}
