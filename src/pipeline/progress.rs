//! Durable progress: marks placed in record-sequence order and applied to the checkpoint only
//! once the sink's durable watermark passes them.
//!
//! ```text
//!  records:  0 1 2 3 4 5 6 7 8 ...      watermark = 6 (records 0..6 durable)
//!  marks:        ^Rows  ^Commit  ^Idle
//!                 (2)     (5)     (8)   → Rows and Commit applied; Idle waits
//! ```
//! A mark at sequence `s` means "everything sent before record `s` is part of this progress".

use std::collections::VecDeque;

use crate::checkpoint::{Checkpoint, SourceObject, TableProgress};
use crate::position::{ResumeToken, StreamPosition};

/// A unit of progress that becomes true once every record before it is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A table's snapshot read restarted from its first row.
    TableStarted {
        table: String,
    },
    /// `rows` rows of a table's snapshot read are sent.
    Rows {
        table: String,
        rows: u64,
    },
    TableDone {
        table: String,
        rows: u64,
    },
    /// A chunk of a chunked read is sent: rows up to key `after`.
    ChunkDone {
        table: String,
        after: String,
        rows: u64,
    },
    /// Chunk group `n` is read (`SourceItem::ChunkGroupDone`).
    ChunkGroup(u64),
    /// Stream events up to `position` are sent (mid-transaction).
    Stream(StreamPosition),
    /// A transaction is sent completely; `resume` may then be confirmed.
    Commit {
        last: StreamPosition,
        resume: ResumeToken,
    },
    /// Nothing is in flight up to this resume token.
    Idle(ResumeToken),
    /// The snapshot phase ended.
    SnapshotDone,
    /// The schema phase's definitions are sent.
    SchemaDone,
    /// The format's stream message sequence after the records before this mark.
    Sequence(u64),
    /// A helper object to record (`SourceItem::HelperObject`).
    HelperObject(SourceObject),
    /// The task's selection grew (`SourceItem::SelectionGrown`).
    SelectionGrown {
        selection: Vec<String>,
        tables: Vec<(String, TableProgress)>,
    },
    /// Tables are read again (`SourceItem::TablesReread`).
    TablesReread {
        requests: Vec<(String, u64)>,
        tables: Vec<String>,
    },
}

/// Marks waiting for the watermark.
#[derive(Debug, Default)]
pub struct MarkQueue {
    marks: VecDeque<(u64, Mark)>,
}

impl MarkQueue {
    pub fn push(&mut self, seq: u64, mark: Mark) {
        // Coalesce consecutive progress of the same kind at the same sequence.
        if let Some((s, last)) = self.marks.back_mut() {
            let same = match (&*last, &mark) {
                (Mark::Rows { table: a, .. }, Mark::Rows { table: b, .. }) => a == b,
                (Mark::Stream(_), Mark::Stream(_))
                | (Mark::Idle(_), Mark::Idle(_))
                | (Mark::Sequence(_), Mark::Sequence(_)) => true,
                _ => false,
            };
            if same && *s == seq {
                *last = mark;
                return;
            }
        }
        self.marks.push_back((seq, mark));
    }

    /// Applies every mark at or below `watermark` to `cp`; returns whether anything changed.
    pub fn apply(&mut self, watermark: u64, cp: &mut Checkpoint, snapshot_only: bool) -> bool {
        let mut changed = false;
        while self.marks.front().is_some_and(|(s, _)| *s <= watermark) {
            let Some((_, mark)) = self.marks.pop_front() else {
                break;
            };
            apply_mark(mark, cp, snapshot_only);
            changed = true;
        }
        changed
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

fn apply_mark(mark: Mark, cp: &mut Checkpoint, snapshot_only: bool) {
    match mark {
        Mark::TableStarted { table } => {
            cp.tables.insert(table, TableProgress::Partial { rows: 0 });
        }
        Mark::Rows { table, rows } => {
            // A chunked read's progress moves with its chunks only.
            if !matches!(
                cp.tables.get(&table),
                Some(TableProgress::Done { .. } | TableProgress::Chunked { .. })
            ) {
                cp.tables.insert(table, TableProgress::Partial { rows });
            }
        }
        Mark::TableDone { table, rows } => {
            cp.tables.insert(table, TableProgress::Done { rows });
        }
        Mark::ChunkDone { table, after, rows } => {
            cp.tables
                .insert(table, TableProgress::Chunked { after, rows });
        }
        Mark::ChunkGroup(n) => cp.chunk_groups = cp.chunk_groups.max(n),
        Mark::Stream(p) => cp.stream = cp.stream.max(Some(p)),
        Mark::Commit { last, resume } => {
            cp.stream = cp.stream.max(Some(last));
            cp.resume = cp.resume.max(Some(resume));
        }
        Mark::Idle(resume) => cp.resume = cp.resume.max(Some(resume)),
        Mark::SnapshotDone => {
            if snapshot_only {
                cp.completed = true;
            }
        }
        Mark::Sequence(s) => cp.sequence = cp.sequence.max(s),
        Mark::SchemaDone => cp.schema_done = true,
        Mark::HelperObject(o) => {
            let planned = cp.planned.get_or_insert_with(Default::default);
            if !planned.source.contains(&o) {
                planned.source.push(o);
            }
        }
        Mark::SelectionGrown { selection, tables } => {
            cp.selection = Some(selection);
            for (table, progress) in tables {
                cp.tables.entry(table).or_insert(progress);
            }
        }
        Mark::TablesReread { requests, tables } => cp.take_rereads(&requests, &tables),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::position::Lsn;

    fn pos(c: u64, i: u32) -> StreamPosition {
        StreamPosition::pg(Lsn(c), i)
    }

    fn tok(l: u64) -> ResumeToken {
        ResumeToken::Pg {
            confirmed_lsn: Lsn(l),
        }
    }

    #[test]
    fn marks_apply_only_below_the_watermark_and_in_order() {
        let mut q = MarkQueue::default();
        let mut cp = Checkpoint::new("x".into());
        q.push(
            2,
            Mark::Rows {
                table: "public.t".into(),
                rows: 2,
            },
        );
        q.push(
            3,
            Mark::TableDone {
                table: "public.t".into(),
                rows: 3,
            },
        );
        q.push(5, Mark::Stream(pos(100, 1)));
        q.push(
            6,
            Mark::Commit {
                last: pos(100, 2),
                resume: tok(108),
            },
        );
        q.push(6, Mark::Idle(tok(200)));
        assert!(q.apply(2, &mut cp, false));
        assert_eq!(cp.tables["public.t"], TableProgress::Partial { rows: 2 });
        assert!(!q.apply(2, &mut cp, false));
        q.apply(5, &mut cp, false);
        assert_eq!(cp.tables["public.t"], TableProgress::Done { rows: 3 });
        assert_eq!(cp.stream, Some(pos(100, 1)));
        assert_eq!(cp.resume, None, "the commit is not durable yet");
        q.apply(6, &mut cp, false);
        assert_eq!(cp.stream, Some(pos(100, 2)));
        assert_eq!(cp.resume, Some(tok(200)));
        assert!(q.is_empty());
    }

    /// The chunk groups read (`Checkpoint::chunk_groups`, a new owner's line between the lanes'
    /// committed ranges it takes over and those it ignores) count once durable, never back.
    #[test]
    fn chunk_groups_count_once_durable_and_never_back() {
        let mut q = MarkQueue::default();
        let mut cp = Checkpoint::new("x".into());
        q.push(4, Mark::ChunkGroup(7));
        q.push(9, Mark::ChunkGroup(3));
        q.apply(3, &mut cp, false);
        assert_eq!(cp.chunk_groups, 0, "not durable yet");
        q.apply(4, &mut cp, false);
        assert_eq!(cp.chunk_groups, 7);
        q.apply(9, &mut cp, false);
        assert_eq!(cp.chunk_groups, 7, "never back");
    }

    #[test]
    fn progress_never_moves_backward() {
        let mut q = MarkQueue::default();
        let mut cp = Checkpoint::new("x".into());
        cp.resume = Some(tok(500));
        q.push(1, Mark::Idle(tok(400)));
        q.push(
            2,
            Mark::TableDone {
                table: "a.b".into(),
                rows: 1,
            },
        );
        q.push(
            3,
            Mark::Rows {
                table: "a.b".into(),
                rows: 9,
            },
        );
        q.apply(10, &mut cp, true);
        assert_eq!(cp.resume, Some(tok(500)));
        assert_eq!(cp.tables["a.b"], TableProgress::Done { rows: 1 });
    }
}
