//! A committed transaction's events → decoded changes: the step between the assembler
//! (`super::assemble`, rows in commit order) and the source's items. It parses each DML row's
//! SQL_REDO against its table (`super::redo`) and passes DDL rows through with their text.
//!
//! ```text
//!  Event (position, LogMinerRow) ─► push(table) ─┬─ INSERT/UPDATE/DELETE ─► Decoded::Change
//!                                                ├─ DDL ───────────────────► Decoded::Ddl
//!                                                └─ anything else ─────────► dropped
//!  end of the transaction ─► finish
//! ```
//! A change keeps the position of its own row, so positions stay the assembler's and a resume
//! skips exactly what was emitted.

use crate::position::{Scn, StreamPosition};

use super::assemble::Event;
use super::logminer::op;
use super::redo::{RedoChange, RedoError, RedoParser};
use super::table::OraTable;

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
}

/// Decodes the events of committed transactions, one transaction at a time.
#[derive(Debug, Default)]
pub struct Decoder {
    parser: RedoParser,
}

impl Decoder {
    /// `ltz_offset_secs`: the database time zone's offset east of UTC (TIMESTAMP WITH LOCAL
    /// TIME ZONE values LogMiner prints without a zone).
    pub fn new(ltz_offset_secs: i32) -> Decoder {
        Decoder {
            parser: RedoParser::new().with_local_time_zone_offset(ltz_offset_secs),
        }
    }

    /// Feeds one event of the current transaction, in order, with its table (`None`: a row of
    /// a table the task does not capture, or a DDL row). Appends what it decodes to `out`.
    pub fn push(
        &mut self,
        table: Option<&OraTable>,
        event: Event,
        out: &mut Vec<Decoded>,
    ) -> Result<(), DecodeError> {
        let Event { position, row } = event;
        match row.operation_code {
            op::INSERT | op::UPDATE | op::DELETE => {
                let Some(table) = table else {
                    return Ok(());
                };
                let Some(sql) = row.sql_redo.as_deref() else {
                    return Err(DecodeError::MissingRedo {
                        position,
                        scn: row.scn,
                        table: table.qualified_name(),
                        info: row.info.map(|i| format!(" ({i})")).unwrap_or_default(),
                    });
                };
                let change = self
                    .parser
                    .parse(table, sql)
                    .map_err(|source| DecodeError::Redo {
                        position,
                        scn: row.scn,
                        source: Box::new(source),
                    })?;
                out.push(Decoded::Change {
                    position,
                    object_id: table.object_id,
                    scn: row.scn,
                    timestamp_ms: row.timestamp_ms,
                    change,
                });
            }
            op::DDL => {
                if let (Some(owner), Some(sql)) = (row.seg_owner, row.sql_redo) {
                    out.push(Decoded::Ddl {
                        position,
                        owner,
                        name: row.table_name,
                        scn: row.scn,
                        sql,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The current transaction ended: appends anything still held to `out`.
    pub fn finish(&mut self, _out: &mut Vec<Decoded>) -> Result<(), DecodeError> {
        Ok(())
    }
}
