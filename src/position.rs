//! Source positions: the total order of events within one shard, and the resume token a
//! source needs to continue.
//!
//! ```text
//!  event position (orders and skips events)        resume token (what the source needs back)
//!  ────────────────────────────────────────        ──────────────────────────────────────────
//!  Stream  PostgreSQL (commit LSN, index)           PostgreSQL: the end LSN to confirm
//!          Oracle (commit SCN, XID, RS_ID/SSN, idx) Oracle: the restart SCN (oldest open start)
//!  Snapshot (snapshot point, table, row)
//! ```
//! Positions and tokens are source-agnostic types with one variant per source; the pipeline
//! compares and stores them without looking inside. Within one shard every position has the
//! same variant, so the derived order (variant first, then fields) is the source's order.
//!
//! PostgreSQL: a stream event is placed by the LSN of its transaction's commit record and its
//! 0-based index within that transaction. Change LSNs inside interleaved transactions are not in
//! commit order, so nothing here orders or skips by them (`shared/spec/FORMATS.md`, "All
//! formats"). The commit LSN used is the one pgoutput's Begin message carries (`final_lsn`): it
//! is known before the first change of the transaction arrives, so events are produced without
//! buffering the transaction, and it orders transactions exactly as the end LSN does. The end
//! LSN, known at Commit, is what is confirmed to the server (the resume token).
//!
//! Oracle: several transactions can commit at one SCN, so the commit SCN is followed by the
//! redo position (RS_ID/SSN) of the COMMIT row, which orders them as they committed, and the
//! transaction id, before the index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A PostgreSQL write-ahead-log position.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Lsn(pub u64);

impl Lsn {
    pub const ZERO: Lsn = Lsn(0);
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// The text is not an LSN in `X/Y` hexadecimal form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid LSN {0:?}: expected the form X/Y in hexadecimal, e.g. 0/16B3748")]
pub struct LsnParseError(pub String);

impl FromStr for Lsn {
    type Err = LsnParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || LsnParseError(s.to_owned());
        let (hi, lo) = s.split_once('/').ok_or_else(err)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| err())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| err())?;
        Ok(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

/// An Oracle system change number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Scn(pub u64);

impl fmt::Display for Scn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An Oracle transaction id (`XIDUSN.XIDSLT.XIDSQN`), packed as usn << 48 | slot << 32 | sqn.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Xid(pub u64);

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (usn, slot, sqn) = (self.0 >> 48, (self.0 >> 32) & 0xFFFF, self.0 & 0xFFFF_FFFF);
        write!(f, "{usn}.{slot}.{sqn}")
    }
}

/// A point in a source's log: where a snapshot was taken, or how far the server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogPoint {
    Lsn(Lsn),
    Scn(Scn),
}

impl LogPoint {
    /// The point as one number (LSN bytes, SCN), for metrics and lag arithmetic.
    pub fn as_u64(self) -> u64 {
        match self {
            LogPoint::Lsn(l) => l.0,
            LogPoint::Scn(s) => s.0,
        }
    }
}

impl fmt::Display for LogPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogPoint::Lsn(l) => l.fmt(f),
            LogPoint::Scn(s) => s.fmt(f),
        }
    }
}

/// Where a stream event stands in its source's commit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamPosition {
    /// PostgreSQL: the transaction's commit LSN (Begin's `final_lsn`) and the event's index.
    Pg { commit_lsn: Lsn, index: u32 },
    /// Oracle: the commit SCN, then the redo position of the transaction's COMMIT row (RS_ID
    /// packed with the SSN) to order transactions committing at one SCN in the order they
    /// committed, then the transaction id (a tie-break only: two COMMIT rows never share a redo
    /// position), then the event's index. Field order is the derived order.
    Oracle {
        commit_scn: Scn,
        redo: u128,
        xid: Xid,
        index: u32,
    },
}

impl StreamPosition {
    /// A PostgreSQL position.
    pub const fn pg(commit_lsn: Lsn, index: u32) -> StreamPosition {
        StreamPosition::Pg { commit_lsn, index }
    }

    /// The event's index within its transaction.
    pub fn index(&self) -> u32 {
        match *self {
            StreamPosition::Pg { index, .. } | StreamPosition::Oracle { index, .. } => index,
        }
    }

    /// The transaction's commit point.
    pub fn commit(&self) -> LogPoint {
        match *self {
            StreamPosition::Pg { commit_lsn, .. } => LogPoint::Lsn(commit_lsn),
            StreamPosition::Oracle { commit_scn, .. } => LogPoint::Scn(commit_scn),
        }
    }
}

/// The `tributary.position` header form: `<commit LSN>:<index>`, Oracle
/// `<commit SCN>:<xid>:<index>`.
impl fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamPosition::Pg { commit_lsn, index } => write!(f, "{commit_lsn}:{index}"),
            StreamPosition::Oracle {
                commit_scn,
                xid,
                index,
                ..
            } => write!(f, "{commit_scn}:{xid}:{index}"),
        }
    }
}

/// The position of one event, as carried in the `tributary.position` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Stream(StreamPosition),
    /// A snapshot row; the table is the event's.
    Snapshot {
        snapshot: LogPoint,
        row: u64,
    },
}

/// What a source needs back to continue after a restart, and what it may tell its server is
/// no longer needed (PostgreSQL: the slot's confirmed flush position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeToken {
    /// Every transaction ending at or before `confirmed_lsn` is durable.
    Pg { confirmed_lsn: Lsn },
    /// Mining restarts at `restart_scn`: the oldest start SCN of transactions still open.
    Oracle { restart_scn: Scn },
}

impl ResumeToken {
    /// The token as one number, for metrics and lag arithmetic.
    pub fn as_u64(self) -> u64 {
        match self {
            ResumeToken::Pg { confirmed_lsn } => confirmed_lsn.0,
            ResumeToken::Oracle { restart_scn } => restart_scn.0,
        }
    }
}

impl fmt::Display for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeToken::Pg { confirmed_lsn } => write!(f, "LSN {confirmed_lsn}"),
            ResumeToken::Oracle { restart_scn } => write!(f, "SCN {restart_scn}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trips_through_text() {
        for v in [0u64, 0x16B3748, 0x1_0000_0000, u64::MAX] {
            let l = Lsn(v);
            assert_eq!(l.to_string().parse::<Lsn>().unwrap(), l);
        }
        assert_eq!(Lsn(0x16B3748).to_string(), "0/16B3748");
        assert!("16B3748".parse::<Lsn>().is_err());
        assert!("0/zz".parse::<Lsn>().is_err());
    }

    #[test]
    fn stream_positions_order_by_commit_then_index() {
        let a = StreamPosition::pg(Lsn(10), 5);
        assert!(a < StreamPosition::pg(Lsn(11), 0));
        assert!(StreamPosition::pg(Lsn(10), 6) > a);
        assert_eq!(a.to_string(), "0/A:5");
    }

    #[test]
    fn oracle_positions_order_transactions_sharing_a_commit_scn() {
        let at = |xid: u64, redo: u128, index: u32| StreamPosition::Oracle {
            commit_scn: Scn(500),
            xid: Xid(xid),
            redo,
            index,
        };
        assert!(
            at(2, 1, 9) < at(1, 2, 0),
            "the COMMIT row's redo position comes before the transaction id"
        );
        assert!(at(1, 1, 9) < at(2, 1, 0));
        assert!(at(1, 1, 1) < at(1, 1, 2));
        let later = StreamPosition::Oracle {
            commit_scn: Scn(501),
            xid: Xid(0),
            redo: 0,
            index: 0,
        };
        assert!(at(u64::MAX, u128::MAX, u32::MAX) < later);
        let xid = (3u64 << 48) | (14 << 32) | 2718;
        assert_eq!(at(xid, 0, 7).to_string(), "500:3.14.2718:7");
    }

    #[test]
    fn positions_and_tokens_round_trip_through_json() {
        let positions = [
            StreamPosition::pg(Lsn(0x16B3748), 3),
            StreamPosition::Oracle {
                commit_scn: Scn(1 << 40),
                xid: Xid(77),
                redo: u128::MAX - 1,
                index: 9,
            },
        ];
        for p in positions {
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<StreamPosition>(&text).unwrap(), p);
        }
        for t in [
            ResumeToken::Pg {
                confirmed_lsn: Lsn(5),
            },
            ResumeToken::Oracle {
                restart_scn: Scn(6),
            },
        ] {
            let text = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<ResumeToken>(&text).unwrap(), t);
        }
    }
}
