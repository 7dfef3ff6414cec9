//! One open transaction's buffered rows: in memory until the assembler spills it, then appended
//! to its spill file; `CSF` pieces joined into one row; rows undone by `ROLLBACK = 1` rows taken
//! out again.

use std::path::PathBuf;

use super::spill::{SpillFile, SpillReader};
use super::AssembleError;
use crate::position::{Scn, Xid};
use crate::source::oracle::logminer::LogMinerRow;

/// What one buffered row counts against the memory budget: its text (`SQL_REDO` and the other
/// strings) plus the row structure itself, so rows without SQL_REDO (LOB locators) count too.
pub fn row_cost(row: &LogMinerRow) -> usize {
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    std::mem::size_of::<LogMinerRow>()
        + len(&row.sql_redo)
        + len(&row.row_id)
        + len(&row.seg_owner)
        + len(&row.table_name)
        + len(&row.info)
        + row.rs_id.len()
}

#[derive(Debug)]
pub(super) struct Transaction {
    pub(super) xid: Xid,
    pub(super) start_scn: Scn,
    /// Rows in memory, oldest first; `None` is a row undone in the middle.
    mem: Vec<Option<LogMinerRow>>,
    mem_live: usize,
    /// `row_cost` of the rows in `mem`.
    pub(super) mem_bytes: usize,
    /// Set once spilled; every later row goes to the file too.
    spill: Option<SpillFile>,
    /// A `CSF = 1` row waiting for its continuation.
    pending: Option<LogMinerRow>,
}

impl Transaction {
    pub(super) fn new(xid: Xid, start_scn: Scn) -> Transaction {
        Transaction {
            xid,
            start_scn,
            mem: Vec::new(),
            mem_live: 0,
            mem_bytes: 0,
            spill: None,
            pending: None,
        }
    }

    pub(super) fn is_spilled(&self) -> bool {
        self.spill.is_some()
    }

    pub(super) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Joins `row` with a pending `CSF` piece: the whole row once its last piece arrived, else
    /// `None`. A continuation carries the `RS_ID` and `SSN` of the piece it continues.
    pub(super) fn join(&mut self, row: LogMinerRow) -> Result<Option<LogMinerRow>, AssembleError> {
        let row = match self.pending.take() {
            None => row,
            Some(mut head) => {
                if head.rs_id != row.rs_id || head.ssn != row.ssn {
                    return Err(AssembleError::BrokenContinuation {
                        xid: self.xid,
                        rs_id: head.rs_id,
                        ssn: head.ssn,
                        found_rs_id: row.rs_id,
                        found_ssn: row.ssn,
                    });
                }
                if let Some(piece) = row.sql_redo {
                    head.sql_redo
                        .get_or_insert_with(String::new)
                        .push_str(&piece);
                }
                head.csf = row.csf;
                head
            }
        };
        if row.csf {
            self.pending = Some(row);
            Ok(None)
        } else {
            Ok(Some(row))
        }
    }

    /// Buffers a whole row; returns the bytes it added in memory (0 once spilled).
    pub(super) fn buffer(&mut self, row: LogMinerRow) -> Result<usize, AssembleError> {
        if let Some(file) = &mut self.spill {
            file.append(&row)?;
            return Ok(0);
        }
        let cost = row_cost(&row);
        self.mem.push(Some(row));
        self.mem_live += 1;
        self.mem_bytes += cost;
        Ok(cost)
    }

    /// Drops the newest buffered row with this `ROW_ID` (what a `ROLLBACK = 1` row undoes).
    /// Returns whether one was found and the bytes freed in memory.
    pub(super) fn undo(&mut self, row_id: &str) -> Result<(bool, usize), AssembleError> {
        let found = self.mem.iter().rposition(|r| {
            r.as_ref()
                .is_some_and(|r| r.row_id.as_deref() == Some(row_id))
        });
        if let Some(i) = found {
            let row = self.mem[i].take().expect("found a live row");
            let cost = row_cost(&row);
            self.mem_live -= 1;
            self.mem_bytes -= cost;
            // Undo runs newest first: keep the tail free of holes so the next search is short.
            while matches!(self.mem.last(), Some(None)) {
                self.mem.pop();
            }
            return Ok((true, cost));
        }
        match &mut self.spill {
            Some(file) => Ok((file.undo(row_id)?, 0)),
            None => Ok((false, 0)),
        }
    }

    /// Moves the rows in memory to a new spill file at `path`; returns the bytes freed.
    pub(super) fn spill_to(&mut self, path: PathBuf) -> Result<usize, AssembleError> {
        let mut file = SpillFile::create(path)?;
        for row in self.mem.iter().flatten() {
            file.append(row)?;
        }
        self.mem = Vec::new();
        self.mem_live = 0;
        self.spill = Some(file);
        Ok(std::mem::take(&mut self.mem_bytes))
    }

    /// No row left to emit.
    pub(super) fn is_empty(&self) -> bool {
        self.mem_live == 0 && self.spill.as_ref().is_none_or(|f| f.live() == 0)
    }

    /// The spill file's path, if any.
    pub(super) fn spill_path(&self) -> Option<PathBuf> {
        self.spill.as_ref().map(|f| f.path().to_path_buf())
    }

    /// Rolls back: deletes the spill file.
    pub(super) fn discard(self) -> Result<(), AssembleError> {
        match self.spill {
            Some(file) => file.discard(),
            None => Ok(()),
        }
    }

    /// Commits: the spilled rows (read back as a stream) and then the rows in memory.
    pub(super) fn into_rows(self) -> Result<Rows, AssembleError> {
        if let Some(row) = self.pending {
            return Err(AssembleError::UnfinishedContinuation {
                xid: self.xid,
                rs_id: row.rs_id,
                ssn: row.ssn,
            });
        }
        let spill = self.spill.map(SpillFile::into_reader).transpose()?;
        Ok(Rows {
            spill,
            mem: self.mem.into_iter(),
        })
    }
}

/// A committed transaction's rows in order, undone ones left out.
#[derive(Debug)]
pub(super) struct Rows {
    spill: Option<SpillReader>,
    mem: std::vec::IntoIter<Option<LogMinerRow>>,
}

impl Iterator for Rows {
    type Item = Result<LogMinerRow, AssembleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(reader) = &mut self.spill {
            match reader.next() {
                Some(row) => return Some(row),
                // Done with the file: dropping the reader deletes it.
                None => self.spill = None,
            }
        }
        self.mem.by_ref().flatten().next().map(Ok)
    }
}
