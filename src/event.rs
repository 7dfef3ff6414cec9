//! The change-event model every source produces and every format consumes.
//!
//! Rows are kept in their wire form: one shared buffer (the CopyData frame of a pgoutput message,
//! or a binary COPY row) plus a cell per column that says where its bytes are. Values are decoded
//! only when a format renders them (`crate::value`), so the hot path makes one small allocation per
//! row (the cell list) and copies no column data.

use std::sync::Arc;

use bytes::Bytes;

use crate::position::{Lsn, Position};
use crate::schema::TableSchema;

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A row read by the snapshot.
    Read,
    Insert,
    Update,
    Delete,
    /// The table was truncated (no row images).
    Truncate,
}

/// How one column's value arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// The source did not send the value (PostgreSQL unchanged TOAST). Never rendered as NULL.
    Unchanged,
    /// The value's text output form, at `buf[start..start + len]`.
    Text { start: u32, len: u32 },
    /// The value's binary (send/recv) form, at `buf[start..start + len]`.
    Binary { start: u32, len: u32 },
}

/// One row image: column cells in table column order, over a shared buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub buf: Bytes,
    pub cells: Vec<Cell>,
}

impl Row {
    /// The raw bytes of a Text or Binary cell; `None` for Null and Unchanged.
    pub fn bytes(&self, cell: Cell) -> Option<&[u8]> {
        match cell {
            Cell::Text { start, len } | Cell::Binary { start, len } => {
                let (s, l) = (start as usize, len as usize);
                self.buf.get(s..s + l)
            }
            Cell::Null | Cell::Unchanged => None,
        }
    }

    /// Fills unchanged (TOAST) cells from `old`, as REPLICA IDENTITY FULL allows.
    ///
    /// The buffers differ, so the filled cells are re-pointed into a new buffer that holds both;
    /// this happens only for rows that have unchanged cells and an old image.
    pub fn fill_unchanged_from(&mut self, old: &Row) {
        if !self.cells.contains(&Cell::Unchanged) {
            return;
        }
        let mut buf = Vec::with_capacity(self.buf.len() + old.buf.len());
        buf.extend_from_slice(&self.buf);
        let base = buf.len() as u32;
        buf.extend_from_slice(&old.buf);
        for (i, cell) in self.cells.iter_mut().enumerate() {
            if *cell != Cell::Unchanged {
                continue;
            }
            *cell = match old.cells.get(i) {
                Some(Cell::Text { start, len }) => Cell::Text {
                    start: start + base,
                    len: *len,
                },
                Some(Cell::Binary { start, len }) => Cell::Binary {
                    start: start + base,
                    len: *len,
                },
                Some(Cell::Null) => Cell::Null,
                _ => Cell::Unchanged,
            };
        }
        self.buf = Bytes::from(buf);
    }
}

/// The source transaction an event belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxMeta {
    /// PostgreSQL transaction id (the snapshot's xid for snapshot rows).
    pub xid: u64,
    /// Commit time in microseconds since the Unix epoch (snapshot start time for snapshot rows).
    pub commit_time_us: i64,
    /// The commit record's LSN (the snapshot's LSN for snapshot rows).
    pub commit_lsn: Lsn,
}

/// Where a snapshot row stands in the whole snapshot (Debezium's `source.snapshot` value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMark {
    /// Not a snapshot row.
    None,
    First,
    FirstInTable,
    Middle,
    LastInTable,
    Last,
}

/// One change to one row (or one truncate of a table).
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    pub position: Position,
    pub op: Op,
    pub table: Arc<TableSchema>,
    pub tx: TxMeta,
    /// The LSN of the change record itself (the snapshot's LSN for snapshot rows).
    pub lsn: Lsn,
    /// The LSN of the last transaction committed before this event's, if known (Debezium's
    /// `sequence` field).
    pub last_commit_lsn: Option<Lsn>,
    pub snapshot: SnapshotMark,
    /// The old image: key columns only, the whole row under REPLICA IDENTITY FULL, or none.
    pub before: Option<Row>,
    pub after: Option<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_cells_are_filled_from_the_old_image() {
        let old = Row {
            buf: Bytes::from_static(b"1bigvalue"),
            cells: vec![
                Cell::Binary { start: 0, len: 1 },
                Cell::Text { start: 1, len: 8 },
                Cell::Null,
            ],
        };
        let mut new = Row {
            buf: Bytes::from_static(b"2"),
            cells: vec![
                Cell::Binary { start: 0, len: 1 },
                Cell::Unchanged,
                Cell::Unchanged,
            ],
        };
        new.fill_unchanged_from(&old);
        assert_eq!(new.bytes(new.cells[0]), Some(&b"2"[..]));
        assert_eq!(new.bytes(new.cells[1]), Some(&b"bigvalue"[..]));
        assert!(matches!(new.cells[1], Cell::Text { .. }));
        assert_eq!(new.cells[2], Cell::Null);
        let untouched = new.clone();
        new.fill_unchanged_from(&old);
        assert_eq!(new, untouched, "nothing left to fill: no copy");
    }
}
