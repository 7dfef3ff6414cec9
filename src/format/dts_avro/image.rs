//! Column values as items of `beforeImages`/`afterImages`: which branch of the value union each
//! column type takes (`Branch`, decided once per column from its type) and how a decoded value
//! is written in it. The mapping is `docs/TYPE-MAPPING.md`, section "DTS Avro"; this file
//! follows that table, and the type tests (`tests/types.rs`) check it value by value.

use crate::schema::{Column, PgType, TypeKind};
use crate::value::{civil_from_days, timestamp_unix_micros, write_text, Numeric, Value};

use super::avro;

/// Union branches of an image item (`Record.avsc`, `beforeImages` items, in order).
const NULL: u8 = 0;
const INTEGER: u8 = 1;
const CHARACTER: u8 = 2;
const DECIMAL: u8 = 3;
const FLOAT: u8 = 4;
const DATETIME: u8 = 6;
const ZONED: u8 = 7;
const BINARY_GEOMETRY: u8 = 8;
const BINARY_OBJECT: u8 = 10;
const TEXT_OBJECT: u8 = 11;
const EMPTY_OBJECT: u8 = 12;
/// `EmptyObject.NONE`: the value is not available (not SQL NULL).
const NONE: i32 = 1;
/// The DTS writer's constant precision and scale of every `Float` (part B §1.5).
const FLOAT_PRECISION: i32 = 8;
const FLOAT_SCALE: i32 = 15;
/// `Character.charset`: the source pins `client_encoding = UTF8`.
const CHARSET: &str = "UTF8";
/// The `TextObject` type of values carried as their PostgreSQL text form.
const XTYPE: &str = "XTYPE";
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The branch a column's values take, with what it needs from the column type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Branch {
    /// `Integer` with this precision (the type's byte width).
    Integer(i32),
    /// An Oracle `NUMBER(p,0)` (numeric wire form): `Integer` with precision p.
    NumberInteger(i32),
    Decimal,
    Float,
    Character,
    /// `DateTime` (date, time, timestamp).
    DateTime,
    /// `TimestampWithTimeZone` (timestamptz in UTC, timetz with its offset).
    Zoned,
    /// `BinaryObject` of this type.
    Binary(&'static str),
    /// `BinaryGeometry` with PostGIS's EWKB.
    Geometry,
    /// `TextObject` of this type.
    Text(&'static str),
}

impl Branch {
    /// The branch of a column of type `col.ty`.
    pub(crate) fn of(col: &Column) -> Branch {
        if let Some(b) = oracle_domain(&col.ty) {
            return b;
        }
        let root = col.ty.root();
        match &root.kind {
            TypeKind::Int2 => Branch::Integer(2),
            TypeKind::Int4 => Branch::Integer(4),
            // oid, xid, regclass...: 4-byte unsigned identifiers widened to int8.
            TypeKind::Int8 if root.namespace == "pg_catalog" && root.name != "int8" => {
                Branch::Integer(4)
            }
            TypeKind::Int8 => Branch::Integer(8),
            TypeKind::Numeric => number_integer(root, col).unwrap_or(Branch::Decimal),
            TypeKind::Float4 | TypeKind::Float8 => Branch::Float,
            TypeKind::Text => Branch::Character,
            TypeKind::Bytea => Branch::Binary("BYTEA"),
            TypeKind::Date | TypeKind::Time | TypeKind::Timestamp => Branch::DateTime,
            TypeKind::TimeTz | TypeKind::TimestampTz => Branch::Zoned,
            TypeKind::Bool => Branch::Text("BOOL"),
            TypeKind::Json | TypeKind::Jsonb => Branch::Text("JSON"),
            TypeKind::Uuid => Branch::Text("UUID"),
            TypeKind::Enum(_) => Branch::Text("ENUM"),
            TypeKind::Geometry | TypeKind::Geography => Branch::Geometry,
            TypeKind::Other => other(root),
            _ => Branch::Text(XTYPE),
        }
    }
}

/// Oracle `BLOB`, `RAW` and `LONG RAW`: domains over bytea named by their own type.
fn oracle_domain(ty: &PgType) -> Option<Branch> {
    let mut t = ty;
    while let TypeKind::Domain { base, .. } = &t.kind {
        if t.namespace != "pg_catalog" {
            match t.name.as_str() {
                "blob" => return Some(Branch::Binary("BLOB")),
                "raw" => return Some(Branch::Binary("RAW")),
                "long_raw" => return Some(Branch::Binary("LONG_RAW")),
                _ => {}
            }
        }
        t = base;
    }
    None
}

/// An Oracle-compatible `NUMBER(p,0)`: `Integer` with precision p.
fn number_integer(root: &PgType, col: &Column) -> Option<Branch> {
    if root.name != "number" || root.namespace == "pg_catalog" {
        return None;
    }
    let typmod = col.ty.effective_typmod(col.typmod);
    let probe = Column {
        typmod,
        ..col.clone()
    };
    match probe.numeric_precision_scale() {
        Some((p, 0)) => Some(Branch::NumberInteger(p)),
        _ => None,
    }
}

/// Built-in types without a kind of their own, by name.
fn other(root: &PgType) -> Branch {
    match (root.namespace.as_str(), root.name.as_str()) {
        ("pg_catalog", "money") => Branch::Decimal,
        ("pg_catalog", "char") => Branch::Character,
        ("pg_catalog", "xml") | (_, "xmltype") => Branch::Text("XML"),
        _ => Branch::Text(XTYPE),
    }
}

/// Writes `EmptyObject.NONE` (a value the source did not send).
pub(crate) fn write_none(out: &mut Vec<u8>) {
    avro::branch(out, EMPTY_OBJECT);
    avro::int(out, NONE);
}

/// Writes one image item: `value`, a value of `col`, in `branch` (`scratch` is reused text).
pub(crate) fn write_item(
    out: &mut Vec<u8>,
    col: &Column,
    branch: &Branch,
    value: &Value<'_>,
    scratch: &mut String,
) {
    match (branch, value) {
        (_, Value::Null) => avro::branch(out, NULL),
        (_, Value::Unavailable) => write_none(out),
        (Branch::Integer(p), Value::Int2(v)) => integer(out, *p, i64::from(*v)),
        (Branch::Integer(p), Value::Int4(v)) => integer(out, *p, i64::from(*v)),
        (Branch::Integer(p), Value::Int8(v)) => integer(out, *p, *v),
        (Branch::NumberInteger(p), Value::Numeric(n)) => number(out, *p, n, scratch),
        (Branch::Decimal, Value::Numeric(n)) => decimal(out, n, scratch),
        (Branch::Decimal, Value::Other { text, .. }) => decimal_text(out, text),
        (Branch::Float, Value::Float4(v)) => float(out, float4_as_double(*v)),
        (Branch::Float, Value::Float8(v)) => float(out, *v),
        (Branch::Character, Value::Text(s)) => character(out, s),
        (Branch::Character, Value::Other { text, .. }) => character(out, text),
        (Branch::DateTime | Branch::Zoned, _) if is_infinite(value) => infinity(out, value),
        (Branch::DateTime, Value::Date(d)) => date(out, *d),
        (Branch::DateTime, Value::Time(us)) => {
            avro::branch(out, DATETIME);
            datetime(out, None, Some(*us));
        }
        (Branch::DateTime, Value::Timestamp(us)) => timestamp(out, *us),
        (Branch::Zoned, Value::TimestampTz(us)) => {
            avro::branch(out, ZONED);
            timestamp_parts(out, *us);
            avro::string(out, "+00:00");
        }
        (
            Branch::Zoned,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => timetz(out, *micros, *offset_secs),
        (Branch::Binary(t), Value::Bytes(b)) => object(out, BINARY_OBJECT, t, b),
        (Branch::Geometry, Value::Ewkb(b)) => object(out, BINARY_GEOMETRY, "EWKB", b),
        (Branch::Text(t), Value::Bool(b)) => {
            let v: &str = if *b { "true" } else { "false" };
            object(out, TEXT_OBJECT, t, v.as_bytes())
        }
        (Branch::Text(t), Value::Json(s) | Value::Enum(s)) => {
            object(out, TEXT_OBJECT, t, s.as_bytes())
        }
        (Branch::Text(t), _) => text_form(out, t, col, value, scratch),
        // A value whose form does not fit its column's branch (a text cell of a type that
        // has none of its own): its text, as the types without a branch go.
        _ => text_form(out, XTYPE, col, value, scratch),
    }
}

fn integer(out: &mut Vec<u8>, precision: i32, v: i64) {
    avro::branch(out, INTEGER);
    avro::int(out, precision);
    avro::string(out, itoa::Buffer::new().format(v));
}

/// An Oracle `NUMBER(p,0)` value: `Integer`, or `Decimal` for NaN and ±Infinity.
fn number(out: &mut Vec<u8>, precision: i32, n: &Numeric<'_>, scratch: &mut String) {
    match n {
        Numeric::Finite { dscale: 0, .. } => {
            scratch.clear();
            n.write_decimal(scratch);
            avro::branch(out, INTEGER);
            avro::int(out, precision);
            avro::string(out, scratch);
        }
        _ => decimal(out, n, scratch),
    }
}

fn decimal(out: &mut Vec<u8>, n: &Numeric<'_>, scratch: &mut String) {
    scratch.clear();
    n.write_decimal(scratch);
    decimal_text(out, scratch);
}

/// `Decimal` of a plain decimal text (`numeric_out`'s form), or of `NaN`/`Infinity`/`-Infinity`
/// with precision and scale 0.
fn decimal_text(out: &mut Vec<u8>, text: &str) {
    let (precision, scale) = big_decimal_precision_scale(text).unwrap_or((0, 0));
    avro::branch(out, DECIMAL);
    avro::string(out, text);
    avro::int(out, precision);
    avro::int(out, scale);
}

/// Java's `new BigDecimal(text).precision()` and `.scale()` of a plain decimal text (`19.90` →
/// 4, 2; `0.00` → 1, 2); `None` for anything that is not one (NaN, Infinity).
pub(crate) fn big_decimal_precision_scale(text: &str) -> Option<(i32, i32)> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all = || int.bytes().chain(frac.bytes());
    if int.is_empty() || !all().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let leading_zeros = all().take_while(|b| *b == b'0').count();
    let precision = (int.len() + frac.len() - leading_zeros).max(1);
    Some((
        i32::try_from(precision).ok()?,
        i32::try_from(frac.len()).ok()?,
    ))
}

fn float(out: &mut Vec<u8>, v: f64) {
    avro::branch(out, FLOAT);
    avro::double(out, v);
    avro::int(out, FLOAT_PRECISION);
    avro::int(out, FLOAT_SCALE);
}

/// The double whose shortest decimal text is the float's (`1.1f32` → `1.1`), so that the value
/// reads as stored and casting it back gives the same float.
pub(crate) fn float4_as_double(v: f32) -> f64 {
    if !v.is_finite() {
        return f64::from(v);
    }
    let mut buf = ryu::Buffer::new();
    buf.format_finite(v).parse().unwrap_or(f64::from(v))
}

fn character(out: &mut Vec<u8>, s: &str) {
    avro::branch(out, CHARACTER);
    avro::string(out, CHARSET);
    avro::bytes(out, s.as_bytes());
}

fn object(out: &mut Vec<u8>, branch: u8, type_name: &str, value: &[u8]) {
    avro::branch(out, branch);
    avro::string(out, type_name);
    avro::bytes(out, value);
}

/// Any value as `TextObject` of its PostgreSQL text output form.
fn text_form(
    out: &mut Vec<u8>,
    type_name: &str,
    col: &Column,
    value: &Value<'_>,
    scratch: &mut String,
) {
    scratch.clear();
    write_text(&col.ty, value, scratch);
    object(out, TEXT_OBJECT, type_name, scratch.as_bytes());
}

fn is_infinite(value: &Value<'_>) -> bool {
    matches!(
        value,
        Value::Date(i32::MAX | i32::MIN)
            | Value::Timestamp(i64::MAX | i64::MIN)
            | Value::TimestampTz(i64::MAX | i64::MIN)
    )
}

/// ±infinity dates and timestamps: `TextObject` `infinity`/`-infinity`.
fn infinity(out: &mut Vec<u8>, value: &Value<'_>) {
    let positive = matches!(
        value,
        Value::Date(i32::MAX) | Value::Timestamp(i64::MAX) | Value::TimestampTz(i64::MAX)
    );
    let text: &str = if positive { "infinity" } else { "-infinity" };
    object(out, TEXT_OBJECT, XTYPE, text.as_bytes());
}

fn date(out: &mut Vec<u8>, days: i32) {
    avro::branch(out, DATETIME);
    datetime(out, Some(i64::from(days)), None);
}

fn timestamp(out: &mut Vec<u8>, us: i64) {
    avro::branch(out, DATETIME);
    timestamp_parts(out, us);
}

/// The seven `DateTime` parts of a finite timestamp (microseconds since 1970).
fn timestamp_parts(out: &mut Vec<u8>, us: i64) {
    let (days, of_day) = match i64::try_from(timestamp_unix_micros(us)) {
        Ok(us) => (us.div_euclid(MICROS_PER_DAY), us.rem_euclid(MICROS_PER_DAY)),
        // The last 30 years PostgreSQL allows lie beyond i64 microseconds.
        Err(_) => {
            let us = timestamp_unix_micros(us);
            let day = i128::from(MICROS_PER_DAY);
            (us.div_euclid(day) as i64, us.rem_euclid(day) as i64)
        }
    };
    datetime(out, Some(days), Some(of_day));
}

fn timetz(out: &mut Vec<u8>, micros: i64, offset_secs: i32) {
    avro::branch(out, ZONED);
    datetime(out, None, Some(micros));
    let mut buf = [0u8; 9];
    let n = offset_text(offset_secs, &mut buf);
    avro::bytes(out, &buf[..n]);
}

/// A zone offset as Java's `ZoneOffset` spells it, except zero: `+05:30`, `-08:00`,
/// `+05:30:15`, `+00:00`.
pub(crate) fn offset_text(offset_secs: i32, buf: &mut [u8; 9]) -> usize {
    let abs = offset_secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    buf[0] = if offset_secs < 0 { b'-' } else { b'+' };
    let two = |buf: &mut [u8; 9], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10 % 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    two(buf, 1, h);
    buf[3] = b':';
    two(buf, 4, m);
    if s == 0 {
        return 6;
    }
    buf[6] = b':';
    two(buf, 7, s);
    9
}

/// The `DateTime` record: date parts of `days` since 1970 and time parts of `micros` since
/// midnight, each null when absent. `millis` holds microseconds (part B §1.5).
fn datetime(out: &mut Vec<u8>, days: Option<i64>, micros: Option<i64>) {
    match days {
        Some(d) => {
            let (year, month, day) = civil_from_days(d);
            part(out, year as i32);
            part(out, month as i32);
            part(out, day as i32);
        }
        None => out.extend_from_slice(&[0, 0, 0]),
    }
    match micros {
        Some(us) => {
            let secs = us / 1_000_000;
            part(out, (secs / 3600) as i32);
            part(out, (secs / 60 % 60) as i32);
            part(out, (secs % 60) as i32);
            part(out, (us % 1_000_000) as i32);
        }
        None => out.extend_from_slice(&[0, 0, 0, 0]),
    }
}

/// One present `union {null, int}` part of a `DateTime` (an absent part is the byte `0`).
fn part(out: &mut Vec<u8>, v: i32) {
    avro::branch(out, 1);
    avro::int(out, v);
}
