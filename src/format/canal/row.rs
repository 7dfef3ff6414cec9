//! Row objects of `data` and `old`: `{"col":"text",…}` in column order, every value a string in
//! PostgreSQL's text output form (`crate::value::write_text`), SQL NULL as `null`, values the
//! source did not send left out and counted. Buffers are reused: nothing is allocated per row
//! once warmed up (except inside the decoders of container types).

use crate::event::{Cell, Row};
use crate::format::FormatError;
use crate::schema::{Column, TableSchema, TypeKind};
use crate::value::{decode, write_text, Value, ValueError};

use super::escape::{write_plain, write_str};
use super::plan::TablePlan;

/// Which columns of a row image PostgreSQL sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Image {
    /// Every column (a new row, or an old row under REPLICA IDENTITY FULL); unchanged TOAST
    /// values may still be missing.
    Whole,
    /// The replica identity columns only (an old row under DEFAULT or USING INDEX): the other
    /// cells were not sent.
    KeyOnly,
}

/// Writes row objects with a reused text buffer, counting values not sent.
pub(super) struct RowWriter {
    text: String,
    unavailable: metrics::Counter,
}

impl RowWriter {
    pub(super) fn new(labels: &crate::metrics::ShardLabels) -> RowWriter {
        RowWriter {
            text: String::new(),
            unavailable: labels.counter(crate::metrics::FORMAT_UNAVAILABLE),
        }
    }

    /// Appends the row object of `row`.
    pub(super) fn write(
        &mut self,
        out: &mut Vec<u8>,
        plan: &TablePlan,
        row: &Row,
        image: Image,
    ) -> Result<(), FormatError> {
        let table = &plan.route.source;
        out.push(b'{');
        let (mut first, mut missing) = (true, 0u64);
        for (i, (col, name)) in table.columns.iter().zip(&plan.names).enumerate() {
            let Some(&cell) = row.cells.get(i) else {
                return Err(value_error(
                    table,
                    col,
                    "the row has no value for this column",
                ));
            };
            if cell == Cell::Unchanged || (image == Image::KeyOnly && !col.is_key) {
                missing += 1;
                continue;
            }
            out.extend_from_slice(if first { &name[1..] } else { name });
            first = false;
            self.value(out, table, col, row, cell)?;
        }
        out.push(b'}');
        if missing > 0 {
            self.unavailable.increment(missing);
        }
        Ok(())
    }

    /// Appends one value: `null`, or its text form as a string.
    fn value(
        &mut self,
        out: &mut Vec<u8>,
        table: &TableSchema,
        col: &Column,
        row: &Row,
        cell: Cell,
    ) -> Result<(), FormatError> {
        if let (Cell::Binary { .. }, Some(b)) = (cell, row.bytes(cell)) {
            if write_binary_direct(out, &col.ty.root().kind, b) {
                return Ok(());
            }
        }
        let value = decode(col, row, cell).map_err(|source| FormatError::Value {
            table: table.qualified_name(),
            column: col.name.clone(),
            source,
        })?;
        match &value {
            Value::Null | Value::Unavailable => out.extend_from_slice(b"null"),
            Value::Text(s) | Value::Json(s) | Value::Enum(s) => write_str(out, s),
            Value::Int2(v) => quoted_int(out, i64::from(*v)),
            Value::Int4(v) => quoted_int(out, i64::from(*v)),
            Value::Int8(v) => quoted_int(out, *v),
            other => {
                self.text.clear();
                write_text(&col.ty, other, &mut self.text);
                if plain_text(other) {
                    write_plain(out, &self.text);
                } else {
                    write_str(out, &self.text);
                }
            }
        }
        Ok(())
    }
}

/// Writes the binary form `b` of a text or integer value straight into `out`, as `value`
/// would; `false`, having written nothing, for other types and malformed bytes (the general
/// path then renders them or reports the error).
fn write_binary_direct(out: &mut Vec<u8>, kind: &TypeKind, b: &[u8]) -> bool {
    match kind {
        TypeKind::Text => match std::str::from_utf8(b) {
            Ok(s) => write_str(out, s),
            Err(_) => return false,
        },
        TypeKind::Int2 => match <[u8; 2]>::try_from(b) {
            Ok(a) => quoted_int(out, i64::from(i16::from_be_bytes(a))),
            Err(_) => return false,
        },
        TypeKind::Int4 => match <[u8; 4]>::try_from(b) {
            Ok(a) => quoted_int(out, i64::from(i32::from_be_bytes(a))),
            Err(_) => return false,
        },
        TypeKind::Int8 => match <[u8; 8]>::try_from(b) {
            Ok(a) => quoted_int(out, i64::from_be_bytes(a)),
            Err(_) => return false,
        },
        _ => return false,
    }
    true
}

/// Whether the text form of `v` never holds a character JSON escapes (numbers, booleans,
/// dates and times, uuids, EWKB hex; not bytea, whose `\x` has a backslash).
fn plain_text(v: &Value<'_>) -> bool {
    matches!(
        v,
        Value::Bool(_)
            | Value::Float4(_)
            | Value::Float8(_)
            | Value::Numeric(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::TimeTz { .. }
            | Value::Timestamp(_)
            | Value::TimestampTz(_)
            | Value::Interval { .. }
            | Value::Uuid(_)
            | Value::Ewkb(_)
    )
}

/// `"42"`: integers need no escaping.
fn quoted_int(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    crate::format::json::write_i64(out, v);
    out.push(b'"');
}

fn value_error(table: &TableSchema, col: &Column, reason: &'static str) -> FormatError {
    FormatError::Value {
        table: table.qualified_name(),
        column: col.name.clone(),
        source: ValueError {
            type_name: col.ty.name.clone(),
            reason,
        },
    }
}
