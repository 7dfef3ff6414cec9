//! Source positions: the total order of events within one shard.
//!
//! A stream event is placed by the LSN of its transaction's commit record and its 0-based index
//! within that transaction; a snapshot row by the snapshot's LSN, its table and its row index.
//! Change LSNs inside interleaved transactions are not in commit order, so nothing here orders or
//! skips by them (`shared/spec/FORMATS.md`, "All formats").
//!
//! The commit LSN used is the one pgoutput's Begin message carries (the commit record's start,
//! `final_lsn`): it is known before the first change of the transaction arrives, so events can be
//! produced without buffering the transaction, and it orders transactions exactly as the end LSN
//! does. The end LSN, known at Commit, is what is confirmed to the server.
//!
//! Oracle (later) fills the same two-part shape with the commit SCN and the redo RS_ID/SSN.

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

/// Where a stream event stands: its transaction's commit LSN and its index in the transaction.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct StreamPosition {
    pub commit_lsn: Lsn,
    pub index: u32,
}

impl fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.commit_lsn, self.index)
    }
}

/// The position of one event, as carried in the `tributary.position` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Stream(StreamPosition),
    /// A snapshot row; the table is the event's.
    Snapshot {
        snapshot_lsn: Lsn,
        row: u64,
    },
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
        let a = StreamPosition {
            commit_lsn: Lsn(10),
            index: 5,
        };
        let b = StreamPosition {
            commit_lsn: Lsn(11),
            index: 0,
        };
        assert!(a < b);
        assert!(
            StreamPosition {
                commit_lsn: Lsn(10),
                index: 6
            } > a
        );
    }
}
