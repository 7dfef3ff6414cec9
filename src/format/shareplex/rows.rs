//! The body of a row message — `"data":{…}` and, for an update, `,"key":{…}` — from an event's
//! images (FORMATS.md part A "SharePlex JSON" and "All formats"; the choices are listed in the
//! module documentation). Column names come from the route's target table, values are the text
//! output form of each decoded value as JSON strings (`docs/TYPE-MAPPING.md`).

use crate::event::{Cell, ChangeEvent, Op, Row};
use crate::format::{json, FormatError};
use crate::route::TableRoute;
use crate::schema::{Column, ReplicaIdentity};
use crate::value::{decode, write_text, Value, ValueError};

/// Writes row bodies with reused buffers.
pub(super) struct RowWriter {
    text: String,
    /// Which columns an object holds, and which an update changed.
    select: Vec<bool>,
    changed: Vec<bool>,
    unavailable: metrics::Counter,
}

impl RowWriter {
    pub(super) fn new(labels: &crate::metrics::ShardLabels) -> RowWriter {
        RowWriter {
            text: String::new(),
            select: Vec::new(),
            changed: Vec::new(),
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
        out.push(b'{');
        let mut first = true;
        let columns = route.source.columns.iter().zip(&route.target.columns);
        for (i, (col, named)) in columns.enumerate() {
            if !self.select.get(i).copied().unwrap_or(false) {
                continue;
            }
            let cell = cell(row, i);
            let value = decode(col, row, cell).map_err(|e| value_error(route, col, e))?;
            if value == Value::Unavailable {
                self.unavailable.increment(1);
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            json::write_str(out, &named.name);
            out.push(b':');
            self.value(out, col, &value);
        }
        out.push(b'}');
        Ok(())
    }

    /// Appends one value: `null`, or its text form as a JSON string.
    fn value(&mut self, out: &mut Vec<u8>, col: &Column, value: &Value<'_>) {
        match value {
            Value::Null | Value::Unavailable => out.extend_from_slice(b"null"),
            Value::Text(s) | Value::Json(s) | Value::Enum(s) => json::write_str(out, s),
            v => {
                self.text.clear();
                write_text(&col.ty, v, &mut self.text);
                json::write_str(out, &self.text);
            }
        }
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
