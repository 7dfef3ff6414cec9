//! Binary (send/recv) wire formats of the built-in types, as pgoutput with `binary 'true'` and
//! binary COPY deliver them.
//!
//! Every reader checks lengths before it reads; nothing indexes unchecked, so arbitrary bytes
//! produce a `ValueError`, never a panic.

use std::borrow::Cow;

use super::container::{composite, multirange, range};
use super::extension::{ewkb, hstore, ltree};
use super::other::decode_other_binary;
use super::{fail, Array, Numeric, Value, ValueError, PG_EPOCH_UNIX_DAYS, PG_EPOCH_UNIX_MICROS};
use crate::schema::{PgType, TypeKind};

/// Microseconds in a day: the largest `time` value (24:00:00).
const DAY_MICROS: i64 = 86_400_000_000;
/// `timetz` zones must lie strictly within ±16 hours (PostgreSQL's `TZDISP_LIMIT`).
const TZDISP_LIMIT: i32 = 16 * 3600;
/// Array dimensions PostgreSQL allows (`MAXDIM`).
const MAX_DIMS: i32 = 6;
/// numeric sign words.
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// Decodes a value's binary form according to its type's wire kind.
///
/// `Int8` also accepts the 4-byte unsigned form of `oid`-like types (`oid`, `xid`, `regclass`),
/// which have no kind of their own: a genuine `int8send` value is always 8 bytes.
/// `Other` types are rendered into their text output form by `decode_other_binary` (built-in
/// types it knows; any other type's binary form is an error, never guessed from its bytes).
/// Containers (arrays, ranges, multiranges, composites) decode their elements by the element
/// types, recursively; a domain decodes as its base type.
pub fn decode_binary<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    match &ty.kind {
        TypeKind::Bool => Ok(Value::Bool(fixed::<1>(ty, b)? != [0])),
        TypeKind::Int2 => Ok(Value::Int2(i16::from_be_bytes(fixed(ty, b)?))),
        TypeKind::Int4 => Ok(Value::Int4(i32::from_be_bytes(fixed(ty, b)?))),
        TypeKind::Int8 => int8(ty, b),
        TypeKind::Float4 => Ok(Value::Float4(f32::from_be_bytes(fixed(ty, b)?))),
        TypeKind::Float8 => Ok(Value::Float8(f64::from_be_bytes(fixed(ty, b)?))),
        TypeKind::Numeric => numeric(ty, b).map(Value::Numeric),
        TypeKind::Text => utf8(ty, b).map(Value::Text),
        TypeKind::Bytea => Ok(Value::Bytes(b)),
        TypeKind::Date => date(ty, b),
        TypeKind::Time => Ok(Value::Time(time_of_day(
            ty,
            i64::from_be_bytes(fixed(ty, b)?),
        )?)),
        TypeKind::TimeTz => timetz(ty, b),
        TypeKind::Timestamp => timestamp(ty, b).map(Value::Timestamp),
        TypeKind::TimestampTz => timestamp(ty, b).map(Value::TimestampTz),
        TypeKind::Interval => interval(ty, b),
        TypeKind::Uuid => Ok(Value::Uuid(fixed(ty, b)?)),
        TypeKind::Json => utf8(ty, b).map(Value::Json),
        TypeKind::Jsonb => jsonb(ty, b),
        TypeKind::Enum(_) => utf8(ty, b).map(Value::Enum),
        TypeKind::Array(elem) => array(ty, elem, b),
        TypeKind::Range(sub) => range(ty, sub, b).map(|r| Value::Range(Box::new(r))),
        TypeKind::Multirange(range_ty) => multirange(ty, range_ty, b),
        TypeKind::Composite(fields) => composite(ty, fields, b),
        TypeKind::Domain { base, .. } => decode_binary(base, b),
        TypeKind::Hstore => hstore(ty, b),
        TypeKind::Ltree => ltree(ty, b),
        TypeKind::Geometry | TypeKind::Geography => ewkb(ty, b),
        TypeKind::Other => decode_other_binary(ty, b),
    }
}

fn fixed<const N: usize>(ty: &PgType, b: &[u8]) -> Result<[u8; N], ValueError> {
    b.try_into().map_err(|_| fail(ty, "wrong length"))
}

pub(super) fn utf8<'a>(ty: &PgType, b: &'a [u8]) -> Result<&'a str, ValueError> {
    std::str::from_utf8(b).map_err(|_| fail(ty, "invalid UTF-8"))
}

fn int8<'a>(ty: &PgType, b: &[u8]) -> Result<Value<'a>, ValueError> {
    if let Ok(four) = <[u8; 4]>::try_from(b) {
        return Ok(Value::Int8(i64::from(u32::from_be_bytes(four))));
    }
    Ok(Value::Int8(i64::from_be_bytes(fixed(ty, b)?)))
}

fn numeric<'a>(ty: &PgType, b: &'a [u8]) -> Result<Numeric<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    let ndigits = r.i16()?;
    let weight = r.i16()?;
    let sign = r.u16()?;
    let dscale = r.u16()?;
    let ndigits = usize::try_from(ndigits).map_err(|_| fail(ty, "negative digit count"))?;
    let digits = r.take(ndigits * 2)?;
    r.finish()?;
    let negative = match sign {
        NUMERIC_NAN => return Ok(Numeric::NaN),
        NUMERIC_PINF => return Ok(Numeric::PosInfinity),
        NUMERIC_NINF => return Ok(Numeric::NegInfinity),
        NUMERIC_POS => false,
        NUMERIC_NEG => true,
        _ => return Err(fail(ty, "invalid sign")),
    };
    if dscale > 0x3FFF {
        return Err(fail(ty, "invalid display scale"));
    }
    let bad_digit = digits
        .chunks_exact(2)
        .any(|d| matches!(d, [hi, lo] if u16::from_be_bytes([*hi, *lo]) > 9999));
    if bad_digit {
        return Err(fail(ty, "digit out of range"));
    }
    Ok(Numeric::Finite {
        negative,
        weight,
        dscale,
        digits: Cow::Borrowed(digits),
    })
}

fn date<'a>(ty: &PgType, b: &[u8]) -> Result<Value<'a>, ValueError> {
    let days = i32::from_be_bytes(fixed(ty, b)?);
    if days == i32::MAX || days == i32::MIN {
        return Ok(Value::Date(days));
    }
    // Beyond PostgreSQL's range a shifted day could overflow or look like infinity.
    let unix = days
        .checked_add(PG_EPOCH_UNIX_DAYS)
        .filter(|d| *d != i32::MAX);
    unix.map(Value::Date)
        .ok_or_else(|| fail(ty, "out of range"))
}

fn time_of_day(ty: &PgType, micros: i64) -> Result<i64, ValueError> {
    if (0..=DAY_MICROS).contains(&micros) {
        Ok(micros)
    } else {
        Err(fail(ty, "time of day out of range"))
    }
}

fn timetz<'a>(ty: &PgType, b: &[u8]) -> Result<Value<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    let micros = time_of_day(ty, r.i64()?)?;
    let zone_west = r.i32()?;
    r.finish()?;
    if zone_west <= -TZDISP_LIMIT || zone_west >= TZDISP_LIMIT {
        return Err(fail(ty, "time zone out of range"));
    }
    Ok(Value::TimeTz {
        micros,
        offset_secs: -zone_west,
    })
}

fn timestamp(ty: &PgType, b: &[u8]) -> Result<i64, ValueError> {
    Ok(timestamp_from_pg(i64::from_be_bytes(fixed(ty, b)?)))
}

/// Microseconds since 2000-01-01 (the wire form) as `Value::Timestamp`'s microseconds since
/// 1970: ±infinity kept; the last 30 years of PostgreSQL's range (after 294247-01-10, beyond an
/// i64 of µs since 1970) wrap around (see `timestamp_unix_micros`). The two instants that
/// would land on the ±infinity sentinels move by one microsecond.
pub(super) fn timestamp_from_pg(micros: i64) -> i64 {
    match micros {
        i64::MAX | i64::MIN => micros,
        m => match m.wrapping_add(PG_EPOCH_UNIX_MICROS) {
            i64::MAX => i64::MAX - 1,
            i64::MIN => i64::MIN + 1,
            unix => unix,
        },
    }
}

fn interval<'a>(ty: &PgType, b: &[u8]) -> Result<Value<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    let micros = r.i64()?;
    let days = r.i32()?;
    let months = r.i32()?;
    r.finish()?;
    Ok(Value::Interval {
        months,
        days,
        micros,
    })
}

fn jsonb<'a>(ty: &PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    match b.split_first() {
        Some((1, text)) => utf8(ty, text).map(Value::Json),
        Some(_) => Err(fail(ty, "unsupported jsonb version")),
        None => Err(fail(ty, "empty")),
    }
}

/// `array_send`: ndim, has-null flag, element OID, (length, lower bound) per dimension, then
/// each element as an i32 length (-1 for NULL) and its bytes.
fn array<'a>(ty: &'a PgType, elem: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    let ndim = r.i32()?;
    let flags = r.i32()?;
    let _element_oid = r.u32()?;
    if !(0..=MAX_DIMS).contains(&ndim) || !(0..=1).contains(&flags) {
        return Err(fail(ty, "invalid array header"));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut lower_bounds = Vec::with_capacity(ndim as usize);
    let mut count: usize = 1;
    for _ in 0..ndim {
        let len = r.i32()?;
        let lower = r.i32()?;
        let len_usize = usize::try_from(len).map_err(|_| fail(ty, "negative dimension"))?;
        count = count
            .checked_mul(len_usize)
            .ok_or_else(|| fail(ty, "too many elements"))?;
        dims.push(len);
        lower_bounds.push(lower);
    }
    if ndim == 0 || count == 0 {
        // An array with no elements is the empty array whatever its dimensions say, as
        // `array_recv` makes it (and nothing later loops over dimensions of nothing).
        r.finish()?;
        return Ok(Value::Array(Array {
            dims: Vec::new(),
            lower_bounds: Vec::new(),
            elements: Vec::new(),
        }));
    }
    // Every element takes at least its 4-byte length: bound the allocation by the input.
    if count > r.remaining() / 4 {
        return Err(fail(ty, "more elements than bytes"));
    }
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        elements.push(array_element(&mut r, elem)?);
    }
    r.finish()?;
    Ok(Value::Array(Array {
        dims,
        lower_bounds,
        elements,
    }))
}

/// One length-prefixed element (-1 for NULL) of an array, range, multirange or composite.
pub(super) fn array_element<'a>(
    r: &mut Reader<'a, '_>,
    elem: &'a PgType,
) -> Result<Value<'a>, ValueError> {
    let len = r.i32()?;
    if len == -1 {
        return Ok(Value::Null);
    }
    let len = usize::try_from(len).map_err(|_| fail(r.ty, "negative element length"))?;
    decode_binary(elem, r.take(len)?)
}

/// A bounds-checked cursor over one value's bytes.
pub(super) struct Reader<'a, 't> {
    ty: &'t PgType,
    b: &'a [u8],
}

impl<'a, 't> Reader<'a, 't> {
    pub(super) fn new(ty: &'t PgType, b: &'a [u8]) -> Self {
        Reader { ty, b }
    }

    /// The error for this value's type.
    pub(super) fn error(&self, reason: &'static str) -> ValueError {
        fail(self.ty, reason)
    }

    pub(super) fn remaining(&self) -> usize {
        self.b.len()
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        if n > self.b.len() {
            return Err(fail(self.ty, "truncated"));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| fail(self.ty, "truncated"))
    }

    /// A NUL-terminated string (the terminator consumed, not returned).
    pub(super) fn cstr(&mut self) -> Result<&'a [u8], ValueError> {
        let end = self
            .b
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| fail(self.ty, "unterminated string"))?;
        let s = self.take(end)?;
        self.take(1)?;
        Ok(s)
    }

    pub(super) fn u8(&mut self) -> Result<u8, ValueError> {
        self.array().map(u8::from_be_bytes)
    }

    pub(super) fn i16(&mut self) -> Result<i16, ValueError> {
        self.array().map(i16::from_be_bytes)
    }

    pub(super) fn u16(&mut self) -> Result<u16, ValueError> {
        self.array().map(u16::from_be_bytes)
    }

    pub(super) fn i32(&mut self) -> Result<i32, ValueError> {
        self.array().map(i32::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Result<u32, ValueError> {
        self.array().map(u32::from_be_bytes)
    }

    pub(super) fn i64(&mut self) -> Result<i64, ValueError> {
        self.array().map(i64::from_be_bytes)
    }

    pub(super) fn u64(&mut self) -> Result<u64, ValueError> {
        self.array().map(u64::from_be_bytes)
    }

    pub(super) fn f64(&mut self) -> Result<f64, ValueError> {
        self.array().map(f64::from_be_bytes)
    }

    pub(super) fn finish(&self) -> Result<(), ValueError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(fail(self.ty, "trailing bytes"))
        }
    }
}
