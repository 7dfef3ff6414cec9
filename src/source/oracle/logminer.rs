//! One row of `V$LOGMNR_CONTENTS`, as the miner reads it and the assembler consumes it: the
//! type every piece of the Oracle source shares (see `super`).

use crate::position::{Scn, Xid};

/// `OPERATION_CODE` values the source acts on (Oracle's `V$LOGMNR_CONTENTS` reference).
pub mod op {
    pub const INSERT: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const UPDATE: i32 = 3;
    pub const DDL: i32 = 5;
    pub const START: i32 = 6;
    pub const COMMIT: i32 = 7;
    pub const SELECT_LOB_LOCATOR: i32 = 9;
    pub const LOB_WRITE: i32 = 10;
    pub const LOB_TRIM: i32 = 11;
    pub const SELECT_FOR_UPDATE: i32 = 25;
    pub const LOB_ERASE: i32 = 29;
    pub const ROLLBACK: i32 = 36;
    pub const XML_DOC_BEGIN: i32 = 68;
    pub const XML_DOC_WRITE: i32 = 70;
    pub const XML_DOC_END: i32 = 71;
    pub const UNSUPPORTED: i32 = 255;
}

/// One `V$LOGMNR_CONTENTS` row (the columns the source selects).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogMinerRow {
    /// `SCN`: the SCN at which the change was made.
    pub scn: Scn,
    /// `START_SCN`: the transaction's start SCN (on its rows when LogMiner knows it).
    pub start_scn: Option<Scn>,
    /// `COMMIT_SCN`: set on the COMMIT row.
    pub commit_scn: Option<Scn>,
    /// `XIDUSN.XIDSLT.XIDSQN` packed (`Xid`).
    pub xid: Xid,
    /// `OPERATION_CODE` (`op`).
    pub operation_code: i32,
    /// `SEG_OWNER` and `TABLE_NAME` of a DML/DDL row.
    pub seg_owner: Option<String>,
    pub table_name: Option<String>,
    /// `ROW_ID`: the changed row (pairs a rollback row with the change it undoes).
    pub row_id: Option<String>,
    /// `SQL_REDO` (one piece when `csf`).
    pub sql_redo: Option<String>,
    /// `ROLLBACK = 1`: the row undoes an earlier change of its transaction (a rollback to a
    /// savepoint, or a statement that failed).
    pub rollback: bool,
    /// `RS_ID`: the redo record's id, e.g. ` 0x000012.00001a2b.0010 ` (sequence, block, offset).
    pub rs_id: String,
    /// `SSN`: the SQL sequence number within the redo record.
    pub ssn: u32,
    /// `CSF = 1`: `sql_redo` continues in the next row.
    pub csf: bool,
    /// `INFO`: why LogMiner could not render a row, among other notes.
    pub info: Option<String>,
    /// `TIMESTAMP` of the change, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Parses `RS_ID` (` 0x<seq>.<block>.<offset> `, hex, padded with spaces) into the three
/// numbers, `None` when it does not have that shape.
pub fn parse_rs_id(rs_id: &str) -> Option<(u32, u32, u16)> {
    let s = rs_id.trim();
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    let mut parts = s.split('.');
    let seq = u32::from_str_radix(parts.next()?, 16).ok()?;
    let block = u32::from_str_radix(parts.next()?, 16).ok()?;
    let offset = u16::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((seq, block, offset))
}

/// A row's place in the redo stream as one number, ordering rows within a commit SCN:
/// log sequence, block, offset (from `RS_ID`) and `SSN` (`StreamPosition::Oracle::redo`).
pub fn redo_position(rs_id: &str, ssn: u32) -> u128 {
    let (seq, block, offset) = parse_rs_id(rs_id).unwrap_or_default();
    (u128::from(seq) << 80)
        | (u128::from(block) << 48)
        | (u128::from(offset) << 32)
        | u128::from(ssn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rs_ids_order_by_sequence_block_offset_then_ssn() {
        assert_eq!(
            parse_rs_id(" 0x000012.00001a2b.0010 "),
            Some((0x12, 0x1a2b, 0x10))
        );
        assert_eq!(parse_rs_id("0x1.2"), None);
        let a = redo_position(" 0x000012.00001a2b.0010 ", 0);
        let b = redo_position(" 0x000012.00001a2b.0010 ", 1);
        let c = redo_position(" 0x000012.00001a2c.0000 ", 0);
        let d = redo_position(" 0x000013.00000001.0000 ", 0);
        assert!(a < b && b < c && c < d);
    }
}
