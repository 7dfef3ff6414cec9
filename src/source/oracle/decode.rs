//! A committed transaction's events → decoded changes: the step between the assembler
//! (`super::assemble`, rows in commit order) and the source's items. It parses each DML row's
//! SQL_REDO against its table (`super::redo`), passes DDL rows through with their text, and
//! assembles LOB and XMLType values from the rows that carry them (`super::lob`).
//!
//! ```text
//!  Event (position, LogMinerRow) ─► push(table) ─┬─ INSERT/UPDATE/DELETE ─► Decoded::Change
//!                                                ├─ LOB locator/write/trim/erase, XML DOC ─► the
//!                                                │    value set into the change it locates
//!                                                ├─ DDL ───────────────────► Decoded::Ddl
//!                                                ├─ UNSUPPORTED, an UPDATE of a LONG ─► DecodeError
//!                                                └─ anything else ─────────► dropped
//!  end of the transaction ─► finish (what is held goes out)
//! ```
//! A change keeps the position of its own row, so positions stay the assembler's and a resume
//! skips exactly what was emitted.
//!
//! LOBs: a change of a table with LOB or XMLType columns is held, with every change after it,
//! because its LOB's content comes in later rows of the transaction: a locator row names the
//! column and the row (ROWID, else the key columns of its where clause), writes build the value,
//! and the value replaces the column's cell in the held change's new image when the next
//! locator, change, DDL or the end of the transaction comes. A locator with no held change to
//! attach to (its change was given out already: more than `MAX_HELD` changes held, or a DDL in
//! between) becomes an UPDATE of its own, at its position, carrying the LOB column and the key
//! columns of its where clause, the others unavailable. Writes with no locator before them (the
//! locator was skipped on a resume, its change given out before the checkpoint) are dropped. A
//! LOB the redo does not write stays as its change's SQL_REDO has it: `EMPTY_CLOB()` empty, left
//! out unavailable (`Cell::Unchanged`), which the formats mark unavailable, never NULL.

use bytes::Bytes;

use crate::event::{Cell, Op, Row};
use crate::position::{Scn, StreamPosition};

use super::assemble::Event;
use super::lob::{self, LobValue, Step};
use super::logminer::{op, LogMinerRow};
use super::redo::{lob_buffer, RedoChange, RedoError, RedoParser};
use super::table::{OraTable, OraType};

/// Changes held for LOB rows that may follow before all are given out.
pub const MAX_HELD: usize = 1024;

/// One decoded item of a committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A row change of the table whose `OraTable::object_id` is `object_id`.
    Change {
        position: StreamPosition,
        object_id: u32,
        /// The SCN of the change's redo row.
        scn: Scn,
        /// The change's time, milliseconds since the Unix epoch.
        timestamp_ms: i64,
        change: RedoChange,
    },
    /// A DDL statement on a captured owner's object.
    Ddl {
        position: StreamPosition,
        owner: String,
        /// The object the statement is on, when LogMiner names it.
        name: Option<String>,
        scn: Scn,
        sql: String,
    },
}

/// Why a change could not be decoded; every variant names the position, the table and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("at {position} (SCN {scn}): {source}; fix: check that the table's dictionary definition matches its redo (a DDL not yet seen?) and that the mining session's NLS formats are the pinned ones")]
    Redo {
        position: StreamPosition,
        scn: Scn,
        source: Box<RedoError>,
    },
    #[error("at {position} (SCN {scn}): the DML row of {table} has no SQL_REDO{info}; fix: enable supplemental logging for the table (ALTER TABLE {table} ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS)")]
    MissingRedo {
        position: StreamPosition,
        scn: Scn,
        table: String,
        info: String,
    },
    #[error("at {position} (SCN {scn}): an UPDATE of {table} sets its LONG column {column}: LONG updates cannot be captured by LogMiner-based migration (Alibaba Cloud DTS documents the same limit); fix: convert the column to a LOB (ALTER TABLE {table} MODIFY ({column} CLOB), or BLOB for a LONG RAW) or exclude the table from the task")]
    LongUpdate {
        position: StreamPosition,
        scn: Scn,
        table: String,
        column: String,
    },
    #[error("at {position} (SCN {scn}): LogMiner could not render a change of {table} (UNSUPPORTED{info}); fix: enable supplemental logging for the table (ALTER TABLE {table} ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS); if it is on, a column type of the table is one LogMiner does not support: exclude the table from the task")]
    Unsupported {
        position: StreamPosition,
        scn: Scn,
        table: String,
        info: String,
    },
    #[error("at {position} (SCN {scn}): a LOB or XML row of {table}: {reason}; fix: exclude the table from the task, and report the row's SQL_REDO")]
    Lob {
        position: StreamPosition,
        scn: Scn,
        table: String,
        /// What is wrong, then the start of the row's SQL_REDO, on one line.
        reason: String,
    },
}

/// Decodes the events of committed transactions, one transaction at a time.
#[derive(Debug, Default)]
pub struct Decoder {
    parser: RedoParser,
    /// Changes held for LOB rows that may follow, in order, with each one's `ROW_ID`.
    held: Vec<(Decoded, Option<String>)>,
    /// The LOB being assembled.
    open: Option<OpenLob>,
}

/// A LOB value being assembled into `held[target]`'s new image.
#[derive(Debug)]
struct OpenLob {
    /// The table's `object_id`: rows of another table do not write it.
    object_id: u32,
    target: usize,
    column: usize,
    binary: bool,
    value: LobValue,
    /// Written to (a locator alone leaves the cell as it was).
    touched: bool,
}

/// Where a row is, for the errors.
struct At<'a> {
    position: StreamPosition,
    row: &'a LogMinerRow,
    table: &'a OraTable,
}

impl At<'_> {
    fn lob(&self, reason: &'static str) -> DecodeError {
        let sql = self.row.sql_redo.as_deref().unwrap_or_default();
        let mut excerpt: String = sql.chars().take(100).collect();
        excerpt = excerpt.replace(|c: char| c.is_control(), " ");
        DecodeError::Lob {
            position: self.position,
            scn: self.row.scn,
            table: self.table.qualified_name(),
            reason: format!("{reason}: {excerpt}"),
        }
    }

    fn redo(&self, source: RedoError) -> DecodeError {
        DecodeError::Redo {
            position: self.position,
            scn: self.row.scn,
            source: Box::new(source),
        }
    }
}

fn is_lob(ty: &OraType) -> bool {
    matches!(
        ty,
        OraType::Clob | OraType::NClob | OraType::Blob | OraType::XmlType
    )
}

fn is_long(ty: &OraType) -> bool {
    matches!(ty, OraType::Long | OraType::LongRaw)
}

impl Decoder {
    /// `ltz_offset_secs`: the database time zone's offset east of UTC (TIMESTAMP WITH LOCAL
    /// TIME ZONE values LogMiner prints without a zone).
    pub fn new(ltz_offset_secs: i32) -> Decoder {
        Decoder {
            parser: RedoParser::new().with_local_time_zone_offset(ltz_offset_secs),
            ..Decoder::default()
        }
    }

    /// Feeds one event of the current transaction, in order, with its table (`None`: a row of
    /// a table the task does not capture, or a DDL row). Appends what it decodes to `out`
    /// (changes of tables with LOB columns, and those after them, when `finish` comes or no
    /// LOB row can follow for them).
    pub fn push(
        &mut self,
        table: Option<&OraTable>,
        event: Event,
        out: &mut Vec<Decoded>,
    ) -> Result<(), DecodeError> {
        let Event { position, row } = event;
        let code = row.operation_code;
        if code == op::DDL {
            self.flush(out);
            if let (Some(owner), Some(sql)) = (row.seg_owner, row.sql_redo) {
                out.push(Decoded::Ddl {
                    position,
                    owner,
                    name: row.table_name,
                    scn: row.scn,
                    sql,
                });
            }
            return Ok(());
        }
        let Some(table) = table else {
            return Ok(());
        };
        let at = At {
            position,
            row: &row,
            table,
        };
        match code {
            op::INSERT | op::UPDATE | op::DELETE => self.dml(&at, out),
            op::SELECT_LOB_LOCATOR | op::LOB_WRITE | op::LOB_TRIM | op::LOB_ERASE => {
                self.lob_row(&at)
            }
            op::XML_DOC_BEGIN => self.xml_begin(&at),
            op::XML_DOC_WRITE => self.xml_write(&at),
            op::XML_DOC_END => {
                self.close();
                Ok(())
            }
            op::UNSUPPORTED => Err(unsupported(&at)),
            _ => Ok(()),
        }
    }

    /// The current transaction ended: appends anything still held to `out`.
    pub fn finish(&mut self, out: &mut Vec<Decoded>) -> Result<(), DecodeError> {
        self.flush(out);
        Ok(())
    }

    fn dml(&mut self, at: &At<'_>, out: &mut Vec<Decoded>) -> Result<(), DecodeError> {
        let (table, row) = (at.table, at.row);
        let Some(sql) = row.sql_redo.as_deref() else {
            return Err(DecodeError::MissingRedo {
                position: at.position,
                scn: row.scn,
                table: table.qualified_name(),
                info: row
                    .info
                    .as_ref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default(),
            });
        };
        let change = self.parser.parse(table, sql).map_err(|e| at.redo(e))?;
        if change.op == Op::Update {
            let long = table.columns.iter().enumerate();
            if let Some((_, c)) = long
                .filter(|(_, c)| is_long(&c.ty))
                .find(|&(i, _)| self.parser.was_set(i))
            {
                return Err(DecodeError::LongUpdate {
                    position: at.position,
                    scn: row.scn,
                    table: table.qualified_name(),
                    column: c.name.clone(),
                });
            }
        }
        self.close();
        let decoded = Decoded::Change {
            position: at.position,
            object_id: table.object_id,
            scn: row.scn,
            timestamp_ms: row.timestamp_ms,
            change,
        };
        if table.columns.iter().any(|c| is_lob(&c.ty)) {
            self.held.push((decoded, row.row_id.clone()));
            if self.held.len() > MAX_HELD {
                self.flush(out);
            }
        } else {
            self.flush(out);
            out.push(decoded);
        }
        Ok(())
    }

    /// A SELECT_LOB_LOCATOR, LOB_WRITE, LOB_TRIM or LOB_ERASE row: its steps, in order.
    fn lob_row(&mut self, at: &At<'_>) -> Result<(), DecodeError> {
        let Some(sql) = at.row.sql_redo.as_deref() else {
            return Ok(());
        };
        for step in lob::steps(sql).map_err(|r| at.lob(r))? {
            match step {
                Step::Locate(stmt) => self.locate(at, stmt, false)?,
                Step::Write {
                    buf,
                    amount,
                    offset,
                } => {
                    let Some(open) = self.open_of(at.table) else {
                        continue;
                    };
                    let data = lob_buffer(buf, open.binary)
                        .ok_or_else(|| at.lob("a LOB write buffer that is not a literal"))?;
                    open.value
                        .write(&data, amount, offset)
                        .map_err(|r| at.lob(r))?;
                    open.touched = true;
                }
                Step::Trim { len } => self.edit(at.table, |v| v.trim(len)),
                Step::Erase { amount, offset } => self.edit(at.table, |v| v.erase(amount, offset)),
            }
        }
        Ok(())
    }

    /// The LOB being assembled, if it is one of `table`'s.
    fn open_of(&mut self, table: &OraTable) -> Option<&mut OpenLob> {
        self.open
            .as_mut()
            .filter(|o| o.object_id == table.object_id)
    }

    fn edit(&mut self, table: &OraTable, f: impl FnOnce(&mut LobValue)) {
        if let Some(open) = self.open_of(table) {
            f(&mut open.value);
            open.touched = true;
        }
    }

    fn xml_begin(&mut self, at: &At<'_>) -> Result<(), DecodeError> {
        match at.row.sql_redo.as_deref() {
            Some(sql) => self.locate(at, sql, true),
            None => Ok(()),
        }
    }

    fn xml_write(&mut self, at: &At<'_>) -> Result<(), DecodeError> {
        let (Some(open), Some(sql)) = (self.open_of(at.table), at.row.sql_redo.as_deref()) else {
            return Ok(());
        };
        let piece = lob::xml_write(sql).map_err(|r| at.lob(r))?;
        open.value.append(piece);
        open.touched = true;
        Ok(())
    }

    /// A locator: the LOB being assembled is finished and the located one opened, in the held
    /// change of its row or in an UPDATE of its own.
    fn locate(&mut self, at: &At<'_>, stmt: &str, xml: bool) -> Result<(), DecodeError> {
        self.close();
        let (column, keys) = self
            .parser
            .parse_locator(at.table, stmt)
            .map_err(|e| at.redo(e))?;
        let target = match self.find(at, &keys) {
            Some(i) => i,
            None => {
                let change = lob_update(at.table, keys);
                let decoded = Decoded::Change {
                    position: at.position,
                    object_id: at.table.object_id,
                    scn: at.row.scn,
                    timestamp_ms: at.row.timestamp_ms,
                    change,
                };
                self.held.push((decoded, at.row.row_id.clone()));
                self.held.len() - 1
            }
        };
        let binary = matches!(
            at.table.columns[column].ty,
            OraType::Blob | OraType::LongRaw | OraType::Raw { .. }
        );
        let value = if xml {
            LobValue::xml()
        } else {
            let after = self.held[target].0.after();
            let initial = after.and_then(|r| r.bytes(*r.cells.get(column)?));
            LobValue::new(binary, initial)
        };
        self.open = Some(OpenLob {
            object_id: at.table.object_id,
            target,
            column,
            binary,
            value,
            touched: false,
        });
        Ok(())
    }

    /// The newest held change of the locator's row: same table, same `ROW_ID` when both rows
    /// have one, else the same key values.
    fn find(&self, at: &At<'_>, keys: &Row) -> Option<usize> {
        let row_id = at.row.row_id.as_deref().filter(|r| !r.is_empty());
        self.held.iter().rposition(|(d, held_id)| {
            let Decoded::Change {
                object_id, change, ..
            } = d
            else {
                return false;
            };
            let Some(after) = change.after.as_ref() else {
                return false;
            };
            if *object_id != at.table.object_id {
                return false;
            }
            match (row_id, held_id.as_deref().filter(|r| !r.is_empty())) {
                (Some(a), Some(b)) => a == b,
                _ => same_keys(at.table, keys, after),
            }
        })
    }

    /// The LOB being assembled, finished: its value set into its change.
    fn close(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        if !open.touched {
            return;
        }
        if let Some(after) = self.held[open.target].0.after_mut() {
            let mut buf = after.buf.to_vec();
            let cell = lob::cell(open.value.finish(), &mut buf);
            if let Some(c) = after.cells.get_mut(open.column) {
                *c = cell;
                after.buf = Bytes::from(buf);
            }
        }
    }

    /// Everything held, given out.
    fn flush(&mut self, out: &mut Vec<Decoded>) {
        self.close();
        out.extend(self.held.drain(..).map(|(d, _)| d));
    }
}

impl Decoded {
    fn after(&self) -> Option<&Row> {
        match self {
            Decoded::Change { change, .. } => change.after.as_ref(),
            Decoded::Ddl { .. } => None,
        }
    }

    fn after_mut(&mut self) -> Option<&mut Row> {
        match self {
            Decoded::Change { change, .. } => change.after.as_mut(),
            Decoded::Ddl { .. } => None,
        }
    }
}

/// The columns that identify a row: the key columns, or every column if the table has none.
fn identifying(table: &OraTable, i: usize) -> bool {
    table.columns[i].is_key || !table.columns.iter().any(|c| c.is_key)
}

/// Whether the locator's where clause (`keys`) names the row of image `after`: every
/// identifying column it holds has the same value, and it holds one at least.
fn same_keys(table: &OraTable, keys: &Row, after: &Row) -> bool {
    let mut any = false;
    for (i, (&k, &a)) in keys.cells.iter().zip(&after.cells).enumerate() {
        if k == Cell::Unchanged || !identifying(table, i) {
            continue;
        }
        let same = match (k, a) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Text { .. }, Cell::Text { .. }) | (Cell::Binary { .. }, Cell::Binary { .. }) => {
                keys.bytes(k) == after.bytes(a)
            }
            _ => false,
        };
        if !same {
            return false;
        }
        any = true;
    }
    any
}

/// An UPDATE of the locator's row alone: its identifying columns in both images (the LOB is
/// set into the new one as it is written), the others unavailable.
fn lob_update(table: &OraTable, keys: Row) -> RedoChange {
    let cells: Vec<Cell> = (keys.cells.iter().enumerate())
        .map(|(i, &c)| {
            if identifying(table, i) {
                c
            } else {
                Cell::Unchanged
            }
        })
        .collect();
    let row = Row {
        buf: keys.buf,
        cells,
    };
    RedoChange {
        op: Op::Update,
        before: Some(row.clone()),
        after: Some(row),
    }
}

/// An UNSUPPORTED row of a captured table: with a LONG column, LogMiner's way of showing an
/// update of it.
fn unsupported(at: &At<'_>) -> DecodeError {
    let table = at.table.qualified_name();
    if let Some(c) = at.table.columns.iter().find(|c| is_long(&c.ty)) {
        return DecodeError::LongUpdate {
            position: at.position,
            scn: at.row.scn,
            table,
            column: c.name.clone(),
        };
    }
    let info = at.row.info.as_deref().filter(|i| !i.is_empty());
    DecodeError::Unsupported {
        position: at.position,
        scn: at.row.scn,
        table,
        info: info.map(|i| format!(": {i}")).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
