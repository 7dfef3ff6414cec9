//! Typed views of column values, decoded from their PostgreSQL wire forms on demand.
//!
//! `Value` borrows from the row buffer: decoding allocates nothing except for the rare types
//! that need it (the element lists of arrays, ranges, composites and hstores; numeric digits
//! parsed from text; the text of a type without a mapping, rendered from its binary form by
//! `decode_other_binary`). Binary cells follow PostgreSQL's send/recv formats; text cells
//! (pgoutput without `binary`, or types without a binary send function) are parsed for the
//! types whose text form is unambiguous, and passed on as `Value::Other` otherwise. Decoding
//! external bytes never panics: malformed input is a `ValueError`.
//!
//! Which types decode at all is decided before a task starts (`check_table_decodable`), so a
//! column the decoders cannot read stops nothing after hours of streaming: it is named at
//! start-up with what to do about it. `write_text` turns any decoded value back into the text
//! PostgreSQL's output function prints for it, for formats that carry a type as its text form.

mod binary;
mod check;
mod container;
mod extension;
mod numeric;
mod other;
mod output;
mod text;

use std::borrow::Cow;
use std::ops::Bound;

pub use binary::decode_binary;
pub use check::{check_decodable, check_table_decodable, UndecodableColumn, UndecodableType};
pub use extension::ewkb_srid;
pub use other::{decode_other_binary, has_other_decoder};
pub(crate) use output::civil_from_days;
pub use output::write_text;
pub use text::decode_text;

use crate::event::{Cell, Row};
use crate::schema::{Column, PgType};

/// PostgreSQL's epoch (2000-01-01) relative to the Unix epoch, in days and microseconds.
pub const PG_EPOCH_UNIX_DAYS: i32 = 10_957;
pub const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// A decoded column value. Dates and times are already shifted to the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    /// The source did not send the value (unchanged TOAST).
    Unavailable,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric<'a>),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01; `i32::MAX`/`i32::MIN` stand for `infinity`/`-infinity`.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight, and the zone's offset east of UTC in seconds.
    TimeTz {
        micros: i64,
        offset_secs: i32,
    },
    /// Microseconds since 1970-01-01 00:00:00 (no zone); `i64::MAX/MIN` for ±infinity. Past
    /// 294247-01-10 (PostgreSQL goes on to 294276) the count wraps around below `i64::MIN`:
    /// read it with `timestamp_unix_micros`.
    Timestamp(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC; as `Timestamp`.
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Uuid([u8; 16]),
    /// json or jsonb, as JSON text.
    Json(&'a str),
    /// An enum label.
    Enum(&'a str),
    Array(Array<'a>),
    /// A range value (`TypeKind::Range`).
    Range(Box<Range<'a>>),
    /// A multirange: its ranges in order (`TypeKind::Multirange`).
    Multirange(Vec<Range<'a>>),
    /// A composite value: one value per attribute of its type, in order (NULL as `Null`).
    Composite(Vec<Value<'a>>),
    /// An hstore: keys and their values (`None` for NULL), in stored order.
    Hstore(Vec<(&'a str, Option<&'a str>)>),
    /// PostGIS geometry or geography as EWKB (what `geometry_send` and `geometry_out`'s hex
    /// carry: the SRID inside when set).
    Ewkb(&'a [u8]),
    /// A type with no mapping, as its text output form, with the catalog type name: borrowed
    /// from a text cell, rendered from a binary cell (`decode_other_binary`).
    Other {
        type_name: &'a str,
        text: Cow<'a, str>,
    },
}

/// The true microseconds since 1970 of a finite `Value::Timestamp`/`TimestampTz` count, whose
/// last 30 years wrap around (PostgreSQL's earliest timestamp, 4714 BC, is about -2^57.6 µs,
/// so any count below -2^62 is a wrapped one).
pub fn timestamp_unix_micros(us: i64) -> i128 {
    if us < -(1i64 << 62) {
        i128::from(us) + (1i128 << 64)
    } else {
        i128::from(us)
    }
}

/// A numeric value in PostgreSQL's form: base-10000 digits with a weight and a display scale.
#[derive(Clone, Debug, PartialEq)]
pub enum Numeric<'a> {
    NaN,
    PosInfinity,
    NegInfinity,
    Finite {
        negative: bool,
        /// Power of 10000 of the first digit.
        weight: i16,
        /// Digits after the decimal point in the display form.
        dscale: u16,
        /// Big-endian base-10000 digits, each 0..=9999, as 2-byte big-endian integers: borrowed
        /// from a binary cell, owned when parsed from text.
        digits: Cow<'a, [u8]>,
    },
}

/// An array value: dimensions and the elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array<'a> {
    /// Lengths of each dimension (empty for an empty array).
    pub dims: Vec<i32>,
    /// Lower bound of each dimension (1 unless the array was built otherwise).
    pub lower_bounds: Vec<i32>,
    pub elements: Vec<Value<'a>>,
}

/// A range value: `empty`, or two bounds (`Unbounded` for an infinite bound).
#[derive(Clone, Debug, PartialEq)]
pub enum Range<'a> {
    Empty,
    Bounds {
        lower: Bound<Value<'a>>,
        upper: Bound<Value<'a>>,
    },
}

/// A value's bytes do not match its type's wire format, or its type's binary form has no
/// decoder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot decode {type_name} value ({reason})")]
pub struct ValueError {
    pub type_name: String,
    pub reason: &'static str,
}

/// Decodes one cell of `row` as a value of `col`'s type.
///
/// NULL → `Value::Null`; an unchanged TOAST value → `Value::Unavailable`; binary and text cells
/// by `decode_binary` and `decode_text` (which also decode array elements, recursively).
pub fn decode<'a>(col: &'a Column, row: &'a Row, cell: Cell) -> Result<Value<'a>, ValueError> {
    match cell {
        Cell::Null => Ok(Value::Null),
        Cell::Unchanged => Ok(Value::Unavailable),
        Cell::Binary { .. } => decode_binary(&col.ty, cell_bytes(col, row, cell)?),
        Cell::Text { .. } => decode_text(&col.ty, cell_bytes(col, row, cell)?),
    }
}

fn cell_bytes<'a>(col: &Column, row: &'a Row, cell: Cell) -> Result<&'a [u8], ValueError> {
    row.bytes(cell)
        .ok_or_else(|| fail(&col.ty, "cell outside its row buffer"))
}

/// The error for a value of type `ty` that cannot be decoded.
#[cold]
fn fail(ty: &PgType, reason: &'static str) -> ValueError {
    ValueError {
        type_name: ty.name.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests;
