//! Literal values of the types filters compare, read from their text and written back as the
//! canonical SQL literal sent to PostgreSQL: dates, timestamps (a timestamptz literal without
//! an offset is UTC, and is always written with `+00`, so the session's TimeZone never changes
//! its meaning), uuids and strings.

use crate::value::civil_from_days;

/// Microseconds in a day.
const DAY_US: i128 = 86_400_000_000;

/// `infinity` / `-infinity` of a timestamp, as the evaluator orders them.
pub const TS_INFINITY: i128 = i128::MAX;
pub const TS_NEG_INFINITY: i128 = i128::MIN;

/// Days since 1970-01-01 of `YYYY-MM-DD` (years 1 to 9999), or `infinity`/`-infinity` as
/// `i32::MAX`/`i32::MIN` (how `crate::value` decodes them).
pub fn parse_date(text: &str) -> Result<i32, String> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let days = ymd(t).ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"))?;
    i32::try_from(days).map_err(|_| format!("{text:?} is out of range"))
}

/// Microseconds since 1970-01-01 00:00 (UTC for `with_zone`) of `YYYY-MM-DD[ HH:MM[:SS[.f]]]`
/// (`T` may separate date and time); with `with_zone`, an optional offset (`Z`, `+HH`,
/// `+HH:MM`, `+HHMM`, ` UTC`), UTC when absent. `infinity`/`-infinity` as `TS_INFINITY` /
/// `TS_NEG_INFINITY`.
pub fn parse_timestamp(text: &str, with_zone: bool) -> Result<i128, String> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" => return Ok(TS_INFINITY),
        "-infinity" => return Ok(TS_NEG_INFINITY),
        _ => {}
    }
    let what = if with_zone {
        "a timestamptz (YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]])"
    } else {
        "a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff])"
    };
    let bad = || format!("{text:?} is not {what}");
    let (date, rest) = t.split_at(t.find([' ', 'T', 't']).unwrap_or(t.len()));
    let days = ymd(date).ok_or_else(bad)?;
    let rest = rest.get(1..).unwrap_or("").trim_start();
    let (time, zone) = split_zone(rest);
    let micros = if time.is_empty() {
        0
    } else {
        time_of_day(time).ok_or_else(bad)?
    };
    let offset_secs = match zone.trim() {
        "" => 0,
        z if !with_zone => {
            return Err(format!(
                "{text:?}: a timestamp without time zone takes no offset ({z}); compare a timestamptz column to give one"
            ))
        }
        z => offset(z).ok_or_else(bad)?,
    };
    Ok(i128::from(days) * DAY_US + i128::from(micros) - i128::from(offset_secs) * 1_000_000)
}

/// Splits `HH:MM:SS+01:00` into the time and the zone (`+01:00`, `Z`, `UTC`).
fn split_zone(s: &str) -> (&str, &str) {
    if let Some(i) = s.find(['+', '-', 'Z', 'z', 'U', 'u']) {
        return (s[..i].trim_end(), &s[i..]);
    }
    (s, "")
}

/// Microseconds since midnight of `HH:MM[:SS[.ffffff]]`.
fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, ':');
    let h: i64 = two_digits(parts.next()?)?;
    let m: i64 = two_digits(parts.next()?)?;
    let (sec, frac) = match parts.next() {
        None => (0, 0),
        Some(sf) => {
            let (sec, frac) = sf.split_once('.').unwrap_or((sf, ""));
            if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let micros = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}").parse::<i64>().ok()?
            };
            (two_digits(sec)?, micros)
        }
    };
    (h < 24 && m < 60 && sec < 60).then_some(((h * 60 + m) * 60 + sec) * 1_000_000 + frac)
}

fn two_digits(s: &str) -> Option<i64> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Seconds east of UTC of `Z`, `UTC`, `+HH`, `+HH:MM` or `+HHMM`.
fn offset(z: &str) -> Option<i32> {
    if z.eq_ignore_ascii_case("z") || z.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits
        .get(2..)
        .filter(|s| !s.is_empty())
        .map_or(Some(0), |s| s.parse().ok())?;
    (h <= 15 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 of `YYYY-MM-DD`, checking the day exists.
fn ymd(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(y) || !all_digits(m) || !all_digits(d) {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm, the
/// inverse of `crate::value::civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `'2024-01-31'::date`.
pub fn date_sql(days: i32) -> String {
    match days {
        i32::MAX => "'infinity'::date".into(),
        i32::MIN => "'-infinity'::date".into(),
        d => {
            let (y, m, d) = civil_from_days(i64::from(d));
            format!("'{y:04}-{m:02}-{d:02}'::date")
        }
    }
}

/// `'2024-01-31 12:00:00.000000'::timestamp`, or `...+00'::timestamptz` with `with_zone`.
pub fn timestamp_sql(us: i128, with_zone: bool) -> String {
    let ty = if with_zone {
        "timestamptz"
    } else {
        "timestamp"
    };
    match us {
        TS_INFINITY => format!("'infinity'::{ty}"),
        TS_NEG_INFINITY => format!("'-infinity'::{ty}"),
        us => {
            let days = us.div_euclid(DAY_US);
            let tod = us.rem_euclid(DAY_US);
            let (y, mo, d) = civil_from_days(days as i64);
            let secs = tod / 1_000_000;
            let zone = if with_zone { "+00" } else { "" };
            format!(
                "'{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:06}{zone}'::{ty}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                tod % 1_000_000
            )
        }
    }
}

/// The 16 bytes of a uuid written as 32 hex digits, with or without the usual hyphens and
/// braces.
pub fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let bad = || format!("{text:?} is not a uuid (8-4-4-4-12 hex digits)");
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let hex_digits: String = if t.len() == 36 {
        let b = t.as_bytes();
        if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(bad());
        }
        t.chars().filter(|c| *c != '-').collect()
    } else {
        t.to_owned()
    };
    let mut out = [0u8; 16];
    hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// `'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid`.
pub fn uuid_sql(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "'{}-{}-{}-{}-{}'::uuid",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A string as an SQL literal: `'it''s'`, or `E'a\\b'` when it holds a backslash, so that it
/// reads the same whatever `standard_conforming_strings` is.
pub fn string_sql(s: &str) -> String {
    let quoted = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// A float as a `float8` literal PostgreSQL reads back to the same value.
pub fn float_sql(x: f64) -> String {
    let text = if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{x:?}")
    };
    format!("'{text}'::float8")
}
