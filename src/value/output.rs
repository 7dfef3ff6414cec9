//! The text PostgreSQL's output functions print for a decoded value, under the session settings
//! the source pins (`DateStyle = ISO, YMD`, `TimeZone = UTC`, `IntervalStyle = postgres`,
//! `extra_float_digits = 3`, `bytea_output = hex`): what `SELECT v::text` shows.
//!
//! Formats carry types they do not map (ranges, multiranges, composites...) as this text, so a
//! value decoded from its binary form reads exactly like the server's own rendering. Containers
//! quote their elements as their output functions do: `array_out` (backslash escapes, `NULL`,
//! `[lb:ub]=` dimensions), `record_out` and `range_out` (doubled quotes), `hstore_out`.

use std::fmt::Write;
use std::ops::Bound;

use super::{Array, Range, Value};
use crate::schema::{PgType, TypeKind};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Appends the text output form of `v`, a value of type `ty` (NULL and unavailable values
/// append nothing: containers print them their own way).
pub fn write_text(ty: &PgType, v: &Value<'_>, out: &mut String) {
    let ty = ty.root();
    match v {
        Value::Null | Value::Unavailable => {}
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int2(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Int4(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Int8(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Float4(f) => float4(out, *f),
        Value::Float8(f) => float8(out, *f),
        Value::Numeric(n) => n.write_decimal(out),
        Value::Text(s) | Value::Json(s) | Value::Enum(s) => out.push_str(s),
        Value::Other { text, .. } => out.push_str(text),
        Value::Bytes(b) => {
            out.push_str("\\x");
            hex(out, b, false);
        }
        Value::Ewkb(b) => hex(out, b, true),
        Value::Uuid(u) => uuid(out, u),
        Value::Date(d) => date(out, *d),
        Value::Time(us) => time_of_day(out, *us),
        Value::TimeTz {
            micros,
            offset_secs,
        } => {
            time_of_day(out, *micros);
            zone(out, *offset_secs);
        }
        Value::Timestamp(us) => timestamp(out, *us, false),
        Value::TimestampTz(us) => timestamp(out, *us, true),
        Value::Interval {
            months,
            days,
            micros,
        } => interval(out, *months, *days, *micros),
        Value::Array(a) => array(out, element_type(ty), a),
        Value::Range(r) => range(out, element_type(ty), r),
        Value::Multirange(ranges) => multirange(out, ty, ranges),
        Value::Composite(fields) => composite(out, ty, fields),
        Value::Hstore(pairs) => hstore(out, pairs),
    }
}

/// The element type of an array or range type (the type itself otherwise).
fn element_type(ty: &PgType) -> &PgType {
    match &ty.root().kind {
        TypeKind::Array(e) | TypeKind::Range(e) => e,
        _ => ty,
    }
}

fn hex(out: &mut String, b: &[u8], upper: bool) {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.reserve(b.len() * 2);
    // Through a stack buffer: pushing char by char costs a UTF-8 check per digit.
    let mut buf = [0u8; 64];
    for chunk in b.chunks(buf.len() / 2) {
        for (pair, byte) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = digits[usize::from(byte >> 4)];
            pair[1] = digits[usize::from(byte & 0xF)];
        }
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).unwrap_or_default());
    }
}

fn uuid(out: &mut String, u: &[u8; 16]) {
    for (i, chunk) in [&u[0..4], &u[4..6], &u[6..8], &u[8..10], &u[10..16]]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        hex(out, chunk, false);
    }
}

/// `(year, month, day)` of a day count since 1970-01-01, proleptic Gregorian (year 0 = 1 BC).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` (years before 1 as their BC number: the caller appends ` BC`); returns whether
/// the date is BC.
fn ymd(out: &mut String, days: i64) -> bool {
    let (year, month, day) = civil_from_days(days);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    padded(out, shown.unsigned_abs(), 4);
    out.push('-');
    padded(out, u64::from(month), 2);
    out.push('-');
    padded(out, u64::from(day), 2);
    bc
}

/// `v` in decimal, zero-padded to at least `width` digits (`{v:0width$}` without the
/// formatting machinery: dates and times are on every row of some formats).
fn padded(out: &mut String, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// `date_out`: `2024-02-29`, `0044-03-15 BC`, `infinity`, `-infinity`.
fn date(out: &mut String, days: i32) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        d => {
            if ymd(out, i64::from(d)) {
                out.push_str(" BC");
            }
        }
    }
}

/// `HH:MM:SS` and a fraction without trailing zeros (`AppendSeconds`).
fn time_of_day(out: &mut String, micros: i64) {
    let h = micros / MICROS_PER_HOUR;
    let m = micros % MICROS_PER_HOUR / MICROS_PER_MINUTE;
    padded(out, h.unsigned_abs(), 2);
    out.push(':');
    padded(out, m.unsigned_abs(), 2);
    out.push(':');
    seconds(out, micros % MICROS_PER_MINUTE);
}

/// Two-digit seconds and, if any, the fraction without trailing zeros.
fn seconds(out: &mut String, micros: i64) {
    let micros = micros.unsigned_abs();
    let per_second = MICROS_PER_SECOND.unsigned_abs();
    padded(out, micros / per_second, 2);
    let (mut frac, mut width) = (micros % per_second, 6);
    if frac != 0 {
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        out.push('.');
        padded(out, frac, width);
    }
}

/// Appends ASCII digits.
fn push_ascii(out: &mut String, d: &[u8]) {
    out.extend(d.iter().map(|c| char::from(*c)));
}

/// `EncodeTimezone`: `+HH`, `+HH:MM` or `+HH:MM:SS` for a zone `offset_secs` east of UTC.
fn zone(out: &mut String, offset_secs: i32) {
    out.push(if offset_secs >= 0 { '+' } else { '-' });
    let abs = offset_secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    padded(out, u64::from(h), 2);
    if s != 0 || m != 0 {
        out.push(':');
        padded(out, u64::from(m), 2);
    }
    if s != 0 {
        out.push(':');
        padded(out, u64::from(s), 2);
    }
}

/// `timestamp_out`/`timestamptz_out` in ISO style (UTC for timestamptz): `2024-02-29
/// 12:34:56.789+00`, ` BC` last.
fn timestamp(out: &mut String, micros: i64, with_zone: bool) {
    match micros {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    // 64-bit arithmetic unless the count wrapped (the last 30 years PostgreSQL allows).
    let (days, time) = if micros >= -(1i64 << 62) {
        (
            micros.div_euclid(MICROS_PER_DAY),
            micros.rem_euclid(MICROS_PER_DAY),
        )
    } else {
        let real = super::timestamp_unix_micros(micros);
        let day = i128::from(MICROS_PER_DAY);
        (real.div_euclid(day) as i64, real.rem_euclid(day) as i64)
    };
    let bc = ymd(out, days);
    out.push(' ');
    time_of_day(out, time);
    if with_zone {
        out.push_str("+00");
    }
    if bc {
        out.push_str(" BC");
    }
}

/// `interval_out` with `IntervalStyle = postgres`: `1 year 2 mons -3 days +04:05:06.7`.
fn interval(out: &mut String, months: i32, days: i32, micros: i64) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let space = if is_zero { "" } else { " " };
        let plus = if is_before && value > 0 { "+" } else { "" };
        let plural = if value != 1 { "s" } else { "" };
        let _ = write!(out, "{space}{plus}{value} {unit}{plural}");
        is_before = value < 0;
        is_zero = false;
    };
    part(out, i64::from(months / 12), "year");
    part(out, i64::from(months % 12), "mon");
    part(out, i64::from(days), "day");
    let hours = micros / MICROS_PER_HOUR;
    let minutes = micros % MICROS_PER_HOUR / MICROS_PER_MINUTE;
    let rest = micros % MICROS_PER_MINUTE;
    if is_zero || micros != 0 {
        let space = if is_zero { "" } else { " " };
        let sign = if micros < 0 {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let _ = write!(
            out,
            "{space}{sign}{:02}:{:02}:",
            hours.unsigned_abs(),
            minutes.unsigned_abs()
        );
        seconds(out, rest);
    }
}

/// `array_out`: braces per dimension, `[lb:ub]` dimensions first when a lower bound is not 1,
/// `NULL` for null elements, elements quoted when needed with `"` and `\` backslash-escaped.
fn array(out: &mut String, elem: &PgType, a: &Array<'_>) {
    if a.dims.is_empty() {
        out.push_str("{}");
        return;
    }
    if a.lower_bounds.iter().any(|lb| *lb != 1) {
        for (len, lb) in a.dims.iter().zip(&a.lower_bounds) {
            let ub = i64::from(*lb) + i64::from(*len) - 1;
            let _ = write!(out, "[{lb}:{ub}]");
        }
        out.push('=');
    }
    // The element type's `typdelim`: `;` for box, `:` for PostGIS types, else `,`.
    let root = elem.root();
    let delim = match &root.kind {
        TypeKind::Geometry | TypeKind::Geography => ':',
        _ if root.name == "box" && root.namespace == "pg_catalog" => ';',
        _ => ',',
    };
    let mut next = 0usize;
    array_dim(out, elem, a, 0, delim, &mut next);
}

fn array_dim(
    out: &mut String,
    elem: &PgType,
    a: &Array<'_>,
    dim: usize,
    delim: char,
    next: &mut usize,
) {
    let len = a
        .dims
        .get(dim)
        .and_then(|l| usize::try_from(*l).ok())
        .unwrap_or(0);
    out.push('{');
    for i in 0..len {
        if i > 0 {
            out.push(delim);
        }
        if dim + 1 < a.dims.len() {
            array_dim(out, elem, a, dim + 1, delim, next);
            continue;
        }
        match a.elements.get(*next) {
            Some(Value::Null) | None => out.push_str("NULL"),
            Some(v) => {
                let mut text = String::new();
                write_text(elem, v, &mut text);
                array_item(out, &text, delim);
            }
        }
        *next += 1;
    }
    out.push('}');
}

fn array_item(out: &mut String, s: &str, delim: char) {
    let quote = s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars()
            .any(|c| matches!(c, '"' | '\\' | '{' | '}') || c == delim || c_isspace(c));
    if quote {
        push_quoted(out, s);
    } else {
        out.push_str(s);
    }
}

/// `s` in double quotes, `"` and `\` backslash-escaped (array elements, hstore keys and values).
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `isspace` in the C locale.
fn c_isspace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Appends `s` between double quotes when it is empty or holds a character of `special` or
/// white space, doubling `"` and `\` (`record_out`, `range_bound_escape`).
fn doubled_quotes(out: &mut String, s: &str, special: &[char]) {
    let quote = s.is_empty()
        || s.chars()
            .any(|c| matches!(c, '"' | '\\') || special.contains(&c) || c_isspace(c));
    if !quote {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('"');
}

/// `range_out`: `empty`, or `[lower,upper)` with infinite bounds left blank.
fn range(out: &mut String, sub: &PgType, r: &Range<'_>) {
    let Range::Bounds { lower, upper } = r else {
        out.push_str("empty");
        return;
    };
    let bound = |out: &mut String, v: &Value<'_>| {
        let mut text = String::new();
        write_text(sub, v, &mut text);
        doubled_quotes(out, &text, &['(', ')', '[', ']', ',']);
    };
    match lower {
        Bound::Included(v) => {
            out.push('[');
            bound(out, v);
        }
        Bound::Excluded(v) => {
            out.push('(');
            bound(out, v);
        }
        Bound::Unbounded => out.push('('),
    }
    out.push(',');
    match upper {
        Bound::Included(v) => {
            bound(out, v);
            out.push(']');
        }
        Bound::Excluded(v) => {
            bound(out, v);
            out.push(')');
        }
        Bound::Unbounded => out.push(')'),
    }
}

/// `multirange_out`: `{` ranges separated by `,` `}`.
fn multirange(out: &mut String, ty: &PgType, ranges: &[Range<'_>]) {
    let sub = match &ty.kind {
        TypeKind::Multirange(range_ty) => element_type(range_ty),
        _ => ty,
    };
    out.push('{');
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        range(out, sub, r);
    }
    out.push('}');
}

/// `record_out`: `(a,b,)` with NULL fields empty and values quoted when needed.
fn composite(out: &mut String, ty: &PgType, values: &[Value<'_>]) {
    let fields = match &ty.kind {
        TypeKind::Composite(f) => &f[..],
        _ => &[],
    };
    out.push('(');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if matches!(v, Value::Null | Value::Unavailable) {
            continue;
        }
        let field_ty = fields.get(i).map(|f| &*f.ty).unwrap_or(ty);
        let mut text = String::new();
        write_text(field_ty, v, &mut text);
        doubled_quotes(out, &text, &['(', ')', ',']);
    }
    out.push(')');
}

/// `hstore_out`: `"k"=>"v", "n"=>NULL`, `"` and `\` backslash-escaped.
fn hstore(out: &mut String, pairs: &[(&str, Option<&str>)]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_quoted(out, k);
        out.push_str("=>");
        match v {
            Some(v) => push_quoted(out, v),
            None => out.push_str("NULL"),
        }
    }
}

/// A float8 as `float8out` prints it with `extra_float_digits > 0` (PostgreSQL's Ryu port,
/// `double_to_shortest_decimal`): fixed notation for decimal exponents -4..15.
pub(super) fn float8(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        shortest(out, ryu::Buffer::new().format_finite(v), 15);
    }
}

/// A float4 as `float4out` prints it with `extra_float_digits > 0` (`float_to_shortest_decimal`):
/// fixed notation for decimal exponents -4..6.
pub(super) fn float4(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        shortest(out, ryu::Buffer::new().format_finite(v), 6);
    }
}

/// Reformats the ryu crate's shortest round-trip text (`1.5e-5`, `100.0`) as PostgreSQL prints
/// the same digits: fixed notation when the decimal exponent lies in `-4..fixed_max`, otherwise
/// `d.ddde+XX` with at least two exponent digits; `-0` and `0` for zeros.
fn shortest(out: &mut String, s: &str, fixed_max: i32) {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The significant digits, on the stack: ryu prints at most 17 of them (plus zeros).
    let mut buf = [0u8; 48];
    let mut len = 0;
    for d in int.bytes().chain(frac.bytes()).skip_while(|d| *d == b'0') {
        if let Some(slot) = buf.get_mut(len) {
            *slot = d;
            len += 1;
        }
    }
    // value = digits × 10^e10
    let mut e10 = exp - frac.len() as i32;
    while len > 0 && buf[len - 1] == b'0' {
        len -= 1;
        e10 += 1;
    }
    let digits = &buf[..len];
    if negative {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
        return;
    }
    let n = digits.len() as i32;
    // The display exponent: the power of ten of the first digit.
    let x = e10 + n - 1;
    if (-4..fixed_max).contains(&x) {
        if e10 >= 0 {
            push_ascii(out, digits);
            out.extend(std::iter::repeat_n('0', e10 as usize));
        } else if x >= 0 {
            let point = ((x + 1) as usize).min(digits.len());
            let (whole, fraction) = digits.split_at(point);
            push_ascii(out, whole);
            out.push('.');
            push_ascii(out, fraction);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-x - 1) as usize));
            push_ascii(out, digits);
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        push_ascii(out, first);
        if !rest.is_empty() {
            out.push('.');
            push_ascii(out, rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if x < 0 { '-' } else { '+' },
            x.unsigned_abs()
        );
    }
}

#[cfg(test)]
mod tests;
