//! The stream side of a chunked read: after a chunk's rows are sent, a streamed change to one
//! of those rows whose transaction the chunk's snapshot already saw is not sent again (the row
//! already holds it), and any other change goes through, newer than the row (DESIGN-NOTES
//! §1.4 steps 6–7, inline form).
//!
//! Membership is by the exact keys the chunk read, not by its key range: a key the chunk did
//! not read (deleted before the chunk's snapshot, or inserted after it) keeps every change, so
//! a row sent earlier by the stream is still deleted by a delete the snapshot already saw.
//! An UPDATE that moves a row to another key is split: the half whose key the chunk holds is
//! dropped, the other half is sent as a DELETE of the old key or an INSERT of the new one.
//!
//! A chunk's filter is needed only until the stream passes its high watermark (the WAL insert
//! position read with its snapshot): every transaction committing from there on began its
//! commit after the snapshot was taken and is invisible to it.

use super::keys::KeySet;
use super::visibility::XidSnapshot;
use crate::event::{Cell, Op, Row};
use crate::position::Lsn;

/// What a chunk leaves for the stream to judge.
#[derive(Debug)]
pub struct ChunkFilter {
    pub table: u32,
    pub snapshot: XidSnapshot,
    /// The WAL insert position when the snapshot was taken.
    pub high_watermark: Lsn,
    /// The key columns (indices into the table's columns), in the order `keys` encodes them.
    pub key_columns: Vec<usize>,
    /// Every key the chunk read (`encode_key`).
    pub keys: KeySet,
}

/// What to do with a streamed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    /// Send only the DELETE of the old key (the new key's row is in a chunk).
    OnlyDeleteOld,
    /// Send only the INSERT of the new key (the old key's row is in a chunk).
    OnlyInsertNew,
}

/// The chunks whose filters are in force.
#[derive(Debug, Default)]
pub struct ChunkFilters {
    active: Vec<ChunkFilter>,
    scratch: Vec<u8>,
    other: Vec<u8>,
}

/// Appends the key cells of `row` (length-prefixed); `false` when one has no value here
/// (NULL, or an unchanged TOAST value).
pub fn encode_key(row: &Row, columns: &[usize], out: &mut Vec<u8>) -> bool {
    out.clear();
    for &i in columns {
        let Some(cell @ (Cell::Binary { .. } | Cell::Text { .. })) = row.cells.get(i) else {
            return false;
        };
        let bytes = row.bytes(*cell).unwrap_or_default();
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    true
}

impl ChunkFilters {
    pub fn install(&mut self, filter: ChunkFilter) {
        self.active.push(filter);
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Forgets the filters a transaction committing at `commit_lsn` is past.
    pub fn advance(&mut self, commit_lsn: Lsn) {
        if !self.active.is_empty() {
            self.active.retain(|f| f.high_watermark > commit_lsn);
        }
    }

    /// Forgets every filter of `table` (its chunked read starts again).
    pub fn forget_table(&mut self, table: u32) {
        self.active.retain(|f| f.table != table);
    }

    /// Whether transaction `xid` is in the snapshot of a chunk of `table` still in force.
    pub fn seen_by_a_chunk(&self, table: u32, xid: u32) -> bool {
        self.active
            .iter()
            .any(|f| f.table == table && f.snapshot.visible(xid))
    }

    /// Judges a change of `table` by transaction `xid`.
    pub fn judge(
        &mut self,
        table: u32,
        xid: u32,
        op: Op,
        before: Option<&Row>,
        after: Option<&Row>,
    ) -> Verdict {
        let ChunkFilters {
            active,
            scratch,
            other,
        } = self;
        let Some(first) = active.iter().find(|f| f.table == table) else {
            return Verdict::Pass;
        };
        let columns = &first.key_columns;
        let new = after.is_some_and(|r| encode_key(r, columns, scratch));
        let old = before.is_some_and(|r| encode_key(r, columns, other));
        let held = |key: &[u8]| in_chunk(active, table, xid, key);
        match op {
            Op::Insert if new => drop_if(held(scratch)),
            Op::Delete if old => drop_if(held(other)),
            Op::Update if new && (!old || other == scratch) => drop_if(held(scratch)),
            Op::Update if new && old => match (held(other), held(scratch)) {
                (false, false) => Verdict::Pass,
                (true, true) => Verdict::Drop,
                (false, true) => Verdict::OnlyDeleteOld,
                (true, false) => Verdict::OnlyInsertNew,
            },
            _ => Verdict::Pass,
        }
    }
}

fn drop_if(held: bool) -> Verdict {
    if held {
        Verdict::Drop
    } else {
        Verdict::Pass
    }
}

/// Whether a chunk of `table` read `key` under a snapshot that saw `xid`.
fn in_chunk(active: &[ChunkFilter], table: u32, xid: u32, key: &[u8]) -> bool {
    active
        .iter()
        .find(|f| f.table == table && f.keys.contains(key))
        .is_some_and(|f| f.snapshot.visible(xid))
}

#[cfg(test)]
mod tests {
    use super::super::keys::KeyList;
    use super::*;
    use bytes::Bytes;

    /// A two-column row (id, value), both binary.
    fn row(id: u8, value: u8) -> Row {
        Row {
            buf: Bytes::from(vec![id, value]),
            cells: vec![
                Cell::Binary { start: 0, len: 1 },
                Cell::Binary { start: 1, len: 1 },
            ],
        }
    }

    fn filters() -> ChunkFilters {
        let mut list = KeyList::default();
        let mut k = Vec::new();
        for id in [1u8, 2] {
            assert!(encode_key(&row(id, 0), &[0], &mut k));
            list.push(&k);
        }
        let keys = KeySet::index(vec![list]);
        let mut f = ChunkFilters::default();
        f.install(ChunkFilter {
            table: 7,
            snapshot: XidSnapshot::parse("100:110:105").unwrap(),
            high_watermark: Lsn(1000),
            key_columns: vec![0],
            keys,
        });
        f
    }

    #[test]
    fn seen_changes_to_read_rows_are_dropped_and_the_rest_pass() {
        let mut f = filters();
        let (r1, r3) = (row(1, 9), row(3, 9));
        assert_eq!(f.judge(7, 101, Op::Update, None, Some(&r1)), Verdict::Drop);
        assert_eq!(
            f.judge(7, 105, Op::Update, None, Some(&r1)),
            Verdict::Pass,
            "running"
        );
        assert_eq!(
            f.judge(7, 120, Op::Update, None, Some(&r1)),
            Verdict::Pass,
            "later"
        );
        assert_eq!(
            f.judge(7, 101, Op::Insert, None, Some(&r3)),
            Verdict::Pass,
            "not read"
        );
        assert_eq!(f.judge(7, 101, Op::Delete, Some(&r3), None), Verdict::Pass);
        assert_eq!(f.judge(7, 101, Op::Delete, Some(&r1), None), Verdict::Drop);
        assert_eq!(
            f.judge(8, 101, Op::Update, None, Some(&r1)),
            Verdict::Pass,
            "other table"
        );
    }

    #[test]
    fn a_key_move_keeps_the_half_no_chunk_holds() {
        let mut f = filters();
        let (r1, r2, r3, r4) = (row(1, 0), row(2, 0), row(3, 0), row(4, 0));
        let judge = |f: &mut ChunkFilters, old: &Row, new: &Row| {
            f.judge(7, 101, Op::Update, Some(old), Some(new))
        };
        assert_eq!(judge(&mut f, &r3, &r1), Verdict::OnlyDeleteOld);
        assert_eq!(judge(&mut f, &r1, &r3), Verdict::OnlyInsertNew);
        assert_eq!(judge(&mut f, &r1, &r2), Verdict::Drop);
        assert_eq!(judge(&mut f, &r3, &r4), Verdict::Pass);
    }

    #[test]
    fn a_filter_ends_at_its_high_watermark() {
        let mut f = filters();
        f.advance(Lsn(999));
        assert!(!f.is_empty());
        assert!(f.seen_by_a_chunk(7, 101));
        f.advance(Lsn(1000));
        assert!(f.is_empty());
        let r1 = row(1, 0);
        assert_eq!(f.judge(7, 101, Op::Update, None, Some(&r1)), Verdict::Pass);
    }
}
