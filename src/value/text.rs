//! Text output forms, for cells that arrive as text (pgoutput without `binary`, or types with no
//! binary send function).
//!
//! Only types whose text form is fixed whatever the session settings are parsed: booleans,
//! integers, floats, numeric, uuid and the text-like types (a domain as its base type). Dates,
//! times and everything else depend on `DateStyle`, `TimeZone` or an Oracle-compatible server's
//! NLS formats, or are containers whose text is already their output form, so they are passed on
//! as `Value::Other` with their type name.

use std::borrow::Cow;

use super::{fail, Numeric, Value, ValueError};
use crate::schema::{PgType, TypeKind};

/// Decodes a value's text output form according to its type's wire kind.
pub fn decode_text<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    let s = std::str::from_utf8(b).map_err(|_| fail(ty, "invalid UTF-8"))?;
    match &ty.kind {
        TypeKind::Bool => boolean(ty, s).map(Value::Bool),
        TypeKind::Int2 => s
            .parse()
            .map(Value::Int2)
            .map_err(|_| fail(ty, "not an integer")),
        TypeKind::Int4 => s
            .parse()
            .map(Value::Int4)
            .map_err(|_| fail(ty, "not an integer")),
        TypeKind::Int8 => s
            .parse()
            .map(Value::Int8)
            .map_err(|_| fail(ty, "not an integer")),
        TypeKind::Float4 => {
            float(ty, s, [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]).map(Value::Float4)
        }
        TypeKind::Float8 => {
            float(ty, s, [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]).map(Value::Float8)
        }
        TypeKind::Numeric => Numeric::parse_text(s)
            .map(Value::Numeric)
            .ok_or_else(|| fail(ty, "not a number")),
        TypeKind::Text => Ok(Value::Text(s)),
        TypeKind::Json | TypeKind::Jsonb => Ok(Value::Json(s)),
        TypeKind::Enum(_) => Ok(Value::Enum(s)),
        TypeKind::Ltree => Ok(Value::Text(s)),
        TypeKind::Domain { base, .. } => decode_text(base, b),
        TypeKind::Uuid => uuid(ty, s).map(Value::Uuid),
        _ => Ok(Value::Other {
            type_name: &ty.name,
            text: Cow::Borrowed(s),
        }),
    }
}

fn boolean(ty: &PgType, s: &str) -> Result<bool, ValueError> {
    match s {
        "t" | "true" => Ok(true),
        "f" | "false" => Ok(false),
        _ => Err(fail(ty, "not a boolean")),
    }
}

/// float4/float8 text, with PostgreSQL's spellings of the special values
/// (`specials` = NaN, infinity, -infinity).
fn float<F: std::str::FromStr>(ty: &PgType, s: &str, specials: [F; 3]) -> Result<F, ValueError> {
    let [nan, inf, neg_inf] = specials;
    match s {
        "NaN" => Ok(nan),
        "Infinity" => Ok(inf),
        "-Infinity" => Ok(neg_inf),
        _ => s.parse().map_err(|_| fail(ty, "not a number")),
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`; braces and missing hyphens as `uuid_in` accepts.
fn uuid(ty: &PgType, s: &str) -> Result<[u8; 16], ValueError> {
    let inner = s
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(s);
    let mut out = [0u8; 16];
    let mut nibbles = inner.bytes().filter(|&c| c != b'-').map(hex_value);
    for byte in &mut out {
        let (Some(Some(hi)), Some(Some(lo))) = (nibbles.next(), nibbles.next()) else {
            return Err(fail(ty, "not a uuid"));
        };
        *byte = (hi << 4) | lo;
    }
    if nibbles.next().is_some() {
        return Err(fail(ty, "not a uuid"));
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
