//! The body of a row message — `"data":{…}` and, for an update, `,"key":{…}` — from an event's
//! images (FORMATS.md part A "SharePlex JSON" and "All formats"; the choices are listed in the
//! module documentation). Column names come from the route's target table, values are the text
//! output form of each decoded value as JSON strings (`docs/TYPE-MAPPING.md`).

use std::sync::Arc;

use crate::event::{Cell, ChangeEvent, Op, Row};
use crate::format::{json, FormatError};
use crate::route::TableRoute;
use crate::schema::{Column, ReplicaIdentity, TableSchema};
use crate::value::{decode, write_text, Value, ValueError};

/// Table descriptions whose column names are kept rendered; more are dropped at once (a new
/// description per schema change).
const NAMED_TABLES: usize = 64;

/// Writes row bodies with reused buffers.
pub(super) struct RowWriter {
    text: String,
    /// Which columns an object holds, and which an update changed.
    select: Vec<bool>,
    changed: Vec<bool>,
    names: Vec<ColumnNames>,
    unavailable: metrics::Counter,
}

/// A table's column names as JSON object keys (`"NAME":`), escaped once: `keys[ends[i-1]..
/// ends[i]]` is column `i`'s. Holds its description so that the pointer stays unique.
struct ColumnNames {
    table: Arc<TableSchema>,
    keys: Vec<u8>,
    ends: Vec<usize>,
}

impl ColumnNames {
    fn new(table: &Arc<TableSchema>) -> ColumnNames {
        let mut keys = Vec::new();
        let mut ends = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            json::write_str(&mut keys, &c.name);
            keys.push(b':');
            ends.push(keys.len());
        }
        ColumnNames {
            table: table.clone(),
            keys,
            ends,
        }
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.keys[start..self.ends[i]]
    }
}

impl RowWriter {
    pub(super) fn new(labels: &crate::metrics::ShardLabels) -> RowWriter {
        RowWriter {
            text: String::new(),
            select: Vec::new(),
            changed: Vec::new(),
            names: Vec::new(),
            unavailable: labels.counter(crate::metrics::FORMAT_UNAVAILABLE),
        }
    }

    /// Appends the body of a row event (not a truncate).
    pub(super) fn body(
        &mut self,
        out: &mut Vec<u8>,
        route: &TableRoute,
        ev: &ChangeEvent,
    ) -> Result<(), FormatError> {
        let n = route.source.columns.len();
        let full = route.source.replica_identity == ReplicaIdentity::Full;
        out.extend_from_slice(b"\"data\":");
        match (ev.op, &ev.before, &ev.after) {
            (Op::Read | Op::Insert, _, Some(after)) => {
                self.select_all(n);
                self.object(out, route, after)
            }
            (Op::Delete, Some(before), _) => {
                self.select_key_or_all(route, !full);
                self.object(out, route, before)
            }
            (Op::Update, Some(before), Some(after)) if full => {
                self.full_update(out, route, before, after)
            }
            (Op::Update, before, Some(after)) => {
                self.select_all(n);
                self.object(out, route, after)?;
                out.extend_from_slice(b",\"key\":");
                self.select_key_or_all(route, true);
                self.object(out, route, before.as_ref().unwrap_or(after))
            }
            _ => {
                out.extend_from_slice(b"{}");
                Ok(())
            }
        }
    }

    /// An update with the whole old row: the changed columns' new values, then the key
    /// columns and the changed columns' old values.
    fn full_update(
        &mut self,
        out: &mut Vec<u8>,
        route: &TableRoute,
        before: &Row,
        after: &Row,
    ) -> Result<(), FormatError> {
        let n = route.source.columns.len();
        self.changed.clear();
        for (i, col) in route.source.columns.iter().enumerate() {
            let c = changed(col, before, after, i).map_err(|e| value_error(route, col, e))?;
            self.changed.push(c);
        }
        self.select.clear();
        self.select.extend_from_slice(&self.changed);
        self.object(out, route, after)?;
        out.extend_from_slice(b",\"key\":");
        if route.source.has_key() {
            self.select.clear();
            let cols = route.source.columns.iter().zip(&self.changed);
            self.select.extend(cols.map(|(c, ch)| c.is_key || *ch));
        } else {
            self.select_all(n);
        }
        self.object(out, route, before)
    }

    fn select_all(&mut self, n: usize) {
        self.select.clear();
        self.select.resize(n, true);
    }

    /// The key columns (`key_only`, when the table has a key), else every column.
    fn select_key_or_all(&mut self, route: &TableRoute, key_only: bool) {
        let n = route.source.columns.len();
        if !key_only || !route.source.has_key() {
            return self.select_all(n);
        }
        self.select.clear();
        self.select
            .extend(route.source.columns.iter().map(|c| c.is_key));
    }

    /// Appends `{"COL":value,…}` over the selected columns of `row`; values the source did not
    /// send are left out (and counted).
    fn object(
        &mut self,
        out: &mut Vec<u8>,
        route: &TableRoute,
        row: &Row,
    ) -> Result<(), FormatError> {
        let names = self.names_of(&route.target);
        out.push(b'{');
        let mut first = true;
        for (i, col) in route.source.columns.iter().enumerate() {
            if !self.select.get(i).copied().unwrap_or(false) {
                continue;
            }
            let cell = cell(row, i);
            if cell == Cell::Unchanged {
                self.unavailable.increment(1);
                continue;
            }
            let value = decode(col, row, cell).map_err(|e| value_error(route, col, e))?;
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(self.names[names].key(i));
            write_value(out, &mut self.text, col, &value);
        }
        out.push(b'}');
        Ok(())
    }

    /// The index in `names` of `table`'s rendered column names, rendered if new.
    fn names_of(&mut self, table: &Arc<TableSchema>) -> usize {
        if let Some(i) = self
            .names
            .iter()
            .rposition(|n| Arc::ptr_eq(&n.table, table))
        {
            return i;
        }
        if self.names.len() >= NAMED_TABLES {
            self.names.clear();
        }
        self.names.push(ColumnNames::new(table));
        self.names.len() - 1
    }
}

/// Appends one value: `null`, or its text form as a JSON string. Forms that are plain ASCII
/// without quotes or backslashes (numbers, times, uuids) skip the escaping pass.
fn write_value(out: &mut Vec<u8>, text: &mut String, col: &Column, value: &Value<'_>) {
    let quoted = |out: &mut Vec<u8>, s: &[u8]| {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    };
    match value {
        Value::Null | Value::Unavailable => out.extend_from_slice(b"null"),
        Value::Text(s) | Value::Json(s) | Value::Enum(s) => json::write_str(out, s),
        Value::Bool(b) => out.extend_from_slice(if *b { b"\"t\"" } else { b"\"f\"" }),
        Value::Int2(v) => quoted(out, itoa::Buffer::new().format(*v).as_bytes()),
        Value::Int4(v) => quoted(out, itoa::Buffer::new().format(*v).as_bytes()),
        Value::Int8(v) => quoted(out, itoa::Buffer::new().format(*v).as_bytes()),
        Value::Float4(_)
        | Value::Float8(_)
        | Value::Numeric(_)
        | Value::Date(_)
        | Value::Time(_)
        | Value::TimeTz { .. }
        | Value::Timestamp(_)
        | Value::TimestampTz(_)
        | Value::Interval { .. }
        | Value::Ewkb(_) => {
            text.clear();
            write_text(&col.ty, value, text);
            quoted(out, text.as_bytes());
        }
        Value::Uuid(u) => {
            out.push(b'"');
            for (i, part) in [&u[..4], &u[4..6], &u[6..8], &u[8..10], &u[10..]]
                .iter()
                .enumerate()
            {
                if i > 0 {
                    out.push(b'-');
                }
                hex_lower(out, part);
            }
            out.push(b'"');
        }
        Value::Bytes(b) => {
            out.extend_from_slice(b"\"\\\\x");
            hex_lower(out, b);
            out.push(b'"');
        }
        v => {
            text.clear();
            write_text(&col.ty, v, text);
            json::write_str(out, text);
        }
    }
}

fn hex_lower(out: &mut Vec<u8>, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for byte in b {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xF)]);
    }
}

fn cell(row: &Row, i: usize) -> Cell {
    row.cells.get(i).copied().unwrap_or(Cell::Null)
}

/// Whether column `i` differs between the images: by wire bytes when both cells have one
/// form, by text form otherwise. A value not sent is not a change.
fn changed(col: &Column, before: &Row, after: &Row, i: usize) -> Result<bool, ValueError> {
    let (b, a) = (cell(before, i), cell(after, i));
    Ok(match (b, a) {
        (Cell::Unchanged, _) | (_, Cell::Unchanged) => false,
        (Cell::Null, Cell::Null) => false,
        (Cell::Null, _) | (_, Cell::Null) => true,
        (Cell::Text { .. }, Cell::Text { .. }) | (Cell::Binary { .. }, Cell::Binary { .. }) => {
            before.bytes(b) != after.bytes(a)
        }
        _ => {
            let (mut old, mut new) = (String::new(), String::new());
            write_text(&col.ty, &decode(col, before, b)?, &mut old);
            write_text(&col.ty, &decode(col, after, a)?, &mut new);
            old != new
        }
    })
}

#[cold]
fn value_error(route: &TableRoute, col: &Column, source: ValueError) -> FormatError {
    FormatError::Value {
        table: route.source.qualified_name(),
        column: col.name.clone(),
        source,
    }
}
