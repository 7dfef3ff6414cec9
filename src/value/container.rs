//! Binary forms of the types that hold other values: ranges (`range_send`), multiranges
//! (`multirange_send`) and composites (`record_send`). Each element is decoded by its own type,
//! recursively, so a range of a domain or a composite of arrays of enums needs nothing special.
//!
//! ```text
//! range_send:      flags:u8 [lower: len:i32 bytes] [upper: len:i32 bytes]
//! multirange_send: count:i32 { len:i32 range_send }*
//! record_send:     count:i32 { type_oid:u32 len:i32 (-1 = NULL) bytes }*
//! ```
//!
//! Counts from the wire are bounded by the bytes that remain before anything is allocated, and
//! every length is checked by `Reader`: arbitrary bytes give a `ValueError`, never a panic.

use std::ops::Bound;

use super::binary::{array_element, decode_binary, Reader};
use super::{Range, Value, ValueError};
use crate::schema::{CompositeField, PgType};

/// `range_send` flags (`rangetypes.h`).
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;
const RANGE_LB_NULL: u8 = 0x20;
const RANGE_UB_NULL: u8 = 0x40;

/// A range over `sub` from its `range_send` form. Other flag bits are ignored, as
/// `range_recv` ignores them (`RANGE_CONTAIN_EMPTY` is an index-internal flag).
pub(super) fn range<'a>(
    ty: &'a PgType,
    sub: &'a PgType,
    b: &'a [u8],
) -> Result<Range<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    let flags = r.u8()?;
    if flags & RANGE_EMPTY != 0 {
        r.finish()?;
        return Ok(Range::Empty);
    }
    let lower = bound(
        &mut r,
        sub,
        flags,
        RANGE_LB_INF | RANGE_LB_NULL,
        RANGE_LB_INC,
    )?;
    let upper = bound(
        &mut r,
        sub,
        flags,
        RANGE_UB_INF | RANGE_UB_NULL,
        RANGE_UB_INC,
    )?;
    r.finish()?;
    Ok(Range::Bounds { lower, upper })
}

/// One bound: absent (infinite) when any of `absent` is set, else a length-prefixed value.
fn bound<'a>(
    r: &mut Reader<'a, '_>,
    sub: &'a PgType,
    flags: u8,
    absent: u8,
    inclusive: u8,
) -> Result<Bound<Value<'a>>, ValueError> {
    if flags & absent != 0 {
        return Ok(Bound::Unbounded);
    }
    let len = usize::try_from(r.i32()?).map_err(|_| r.error("negative bound length"))?;
    let value = decode_binary(sub, r.take(len)?)?;
    Ok(if flags & inclusive != 0 {
        Bound::Included(value)
    } else {
        Bound::Excluded(value)
    })
}

/// A multirange of `range_ty` (a `TypeKind::Range`) from its `multirange_send` form.
pub(super) fn multirange<'a>(
    ty: &'a PgType,
    range_ty: &'a PgType,
    b: &'a [u8],
) -> Result<Value<'a>, ValueError> {
    let crate::schema::TypeKind::Range(sub) = &range_ty.root().kind else {
        return Err(Reader::new(ty, b).error("multirange of a type that is not a range"));
    };
    let mut r = Reader::new(ty, b);
    // Each range takes at least its 4-byte length and a flags byte.
    let n = count(&mut r, 5)?;
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::try_from(r.i32()?).map_err(|_| r.error("negative range length"))?;
        ranges.push(range(range_ty, sub, r.take(len)?)?);
    }
    r.finish()?;
    Ok(Value::Multirange(ranges))
}

/// A composite value from its `record_send` form: one value per attribute of the type.
///
/// The field count must equal the type's (a type altered after the task read it is an error,
/// not a guess), and each field's type OID must be the attribute's.
pub(super) fn composite<'a>(
    ty: &'a PgType,
    fields: &'a [CompositeField],
    b: &'a [u8],
) -> Result<Value<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    // Each field takes at least its type OID and its length.
    let n = count(&mut r, 8)?;
    if n != fields.len() {
        return Err(r.error("field count differs from the composite type's attributes"));
    }
    let mut values = Vec::with_capacity(n);
    for field in fields {
        if r.u32()? != field.ty.oid {
            return Err(r.error("field type differs from the composite type's attribute"));
        }
        values.push(array_element(&mut r, &field.ty)?);
    }
    r.finish()?;
    Ok(Value::Composite(values))
}

/// A non-negative count of items of at least `min_size` bytes, bounded by the remaining bytes.
pub(super) fn count(r: &mut Reader<'_, '_>, min_size: usize) -> Result<usize, ValueError> {
    match usize::try_from(r.i32()?) {
        Ok(n) if n <= r.remaining() / min_size => Ok(n),
        _ => Err(r.error("invalid item count")),
    }
}
