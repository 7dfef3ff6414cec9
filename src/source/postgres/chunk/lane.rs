//! Ranges of a chunk group read by other workers of the cluster (`crate::source::SnapshotLanes`),
//! which write their rows to the sink themselves: a table's chunks are read by every worker.
//!
//! ```text
//!  owner, at a transaction boundary (the stream not read meanwhile):
//!    conn 0: BEGIN RR; snapshot S, HW, export ─► guard ─► boundaries of C + L ranges
//!    Barrier: every record the owner sent before is acknowledged
//!    ranges 0..C ─► its own connections ─► its pipeline
//!    ranges C..C+L ─► lane i (another worker): import S; COPY the range ─► its own pipeline
//!                     ─► answers once every row is acknowledged: the row count and the keys
//!    all keys ─► the stream's filter (as for its own ranges); ChunkDone; the stream goes on
//! ```
//!
//! Every key's messages stay in time order: changes the owner sent before the group are
//! acknowledged before any lane writes (the barrier), the lanes' rows are acknowledged before
//! the owner reads the stream again, and each key is in one range. A lane that fails or does not
//! answer may still be writing: the owner waits the lanes' fence (the lane's budget plus its
//! producer's timeout), then reads that range itself under the same snapshot.
//!
//! Exactly-once, a lane commits each range in a Kafka transaction of its own with a record of
//! the request and its answer (`crate::source::LaneRecord`), and the barrier before the lanes
//! is a commit of the owner's. A failed lane is settled instead of waited for: fenced, its
//! record says whether the range is in Kafka. A new owner settles every lane before its stream
//! starts (`ChunkedSnapshot::recover`): a range of a group its checkpoint does not hold as read
//! (`GroupMeta::number` above `Checkpoint::chunk_groups`) is taken over, its keys filtered
//! under the group's snapshot, and the group read again with its bounds, that range skipped.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::keys::KeyList;
use super::{read_range, ChunkedTable, RangeMarks, Reading, Shared};
use crate::event::TxMeta;
use crate::position::Lsn;
use crate::source::postgres::conn::PgConnectConfig;
use crate::source::postgres::error::PgSourceError;
use crate::source::postgres::setup::Preflight;
use crate::source::postgres::snapshot::SnapshotTable;
use crate::source::{LaneRecord, SourceSender};

/// What a lane is asked to read (sent as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneRange {
    pub oid: u32,
    pub table: String,
    /// The group's exported snapshot.
    pub snapshot: String,
    /// The range's `WHERE` predicate on the key.
    pub range: String,
    pub key: Vec<usize>,
    pub text_only: Vec<bool>,
    pub xid: u64,
    pub commit_time_us: i64,
    pub commit_lsn: u64,
    /// The row number of the range's first row.
    pub first_row: u64,
    pub first: bool,
    pub last: bool,
    pub last_of_all: bool,
    pub first_of_all: bool,
    /// The range's place in its group.
    #[serde(default)]
    pub index: u64,
    /// Its group, for a new owner to take the range over if the lane committed it and the
    /// group's end is not in the checkpoint (exactly-once).
    #[serde(default)]
    pub group: GroupMeta,
}

/// A chunk group as a committed range of it tells a new owner (exactly-once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Its number (`Checkpoint::chunk_groups` counts the groups read).
    pub number: u64,
    /// Its `pg_current_snapshot()` and the WAL insert position then (the stream's filter).
    pub xids: String,
    pub high_watermark: u64,
    /// The table's last key read before it (`None`: its first row) and rows read before it.
    pub lower: Option<String>,
    pub base_rows: u64,
    /// Every range's upper bound, and whether its last range ends the table.
    pub bounds: Vec<String>,
    pub last: bool,
}

/// A range a lane committed in a group the checkpoint does not hold as read: its rows are in
/// Kafka, so a new owner reads it no more and filters its keys' changes as the group would.
#[derive(Debug)]
pub(super) struct Committed {
    pub range: LaneRange,
    pub keys: KeyList,
    pub rows: u64,
}

impl Committed {
    /// The range `record` holds, if its group is newer than the `groups_done` read.
    pub(super) fn of(record: &LaneRecord, groups_done: u64) -> Option<Committed> {
        let range: LaneRange = serde_json::from_slice(&record.request).ok()?;
        if range.group.number <= groups_done {
            return None;
        }
        let (keys, rows) = answer(&record.reply).ok()?;
        Some(Committed { range, keys, rows })
    }
}

impl LaneRange {
    /// The request for range `index` of the group `shared` describes.
    pub(super) fn of(
        shared: &Shared<'_>,
        snapshot: &str,
        range: String,
        index: u64,
        marks: RangeMarks,
        group: &GroupMeta,
    ) -> LaneRange {
        let reading = shared.reading;
        let schema = &reading.table.read.schema;
        LaneRange {
            oid: schema.oid,
            table: schema.qualified_name(),
            snapshot: snapshot.to_owned(),
            range,
            key: reading.key.clone(),
            text_only: reading.text_only.clone(),
            xid: shared.tx.xid,
            commit_time_us: shared.tx.commit_time_us,
            commit_lsn: shared.tx.commit_lsn.0,
            first_row: shared.base + index * shared.size,
            first: marks.first,
            last: marks.last,
            last_of_all: marks.last_of_all,
            first_of_all: shared.first_of_all,
            index,
            group: group.clone(),
        }
    }
}

/// A lane's side: reads ranges of one shard's tables, as this worker's own preflight of the
/// shard found them, into a pipeline of its own.
pub struct PgLaneReader {
    conn: PgConnectConfig,
    tables: HashMap<u32, SnapshotTable>,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl PgLaneReader {
    pub fn new(conn: PgConnectConfig, pre: &Preflight) -> PgLaneReader {
        let tables = pre
            .tables
            .iter()
            .map(|t| {
                let read = SnapshotTable {
                    schema: t.schema.clone(),
                    only: t.only(),
                    filter: pre.filters.get(&t.schema.oid).map(|f| f.filter.sql()),
                };
                (t.schema.oid, read)
            })
            .collect();
        PgLaneReader {
            conn,
            tables,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the range `request` names, sending its rows to `out`; answers the row count and
    /// the keys read (`KeyList::encode`). The rows are only handed to `out`: the caller
    /// answers once they are acknowledged.
    pub async fn read(
        &self,
        request: &[u8],
        out: &SourceSender,
    ) -> Result<(Vec<u8>, u64), PgSourceError> {
        let req: LaneRange =
            serde_json::from_slice(request).map_err(|e| protocol(e.to_string()))?;
        let table = self
            .tables
            .get(&req.oid)
            .filter(|t| t.schema.qualified_name() == req.table)
            .ok_or_else(|| protocol(format!("{} is not a table of this shard here", req.table)))?;
        let reading = Reading {
            table: ChunkedTable {
                read: table.clone(),
                after: None,
                rows: 0,
            },
            key: req.key.clone(),
            text_only: req.text_only.clone(),
            estimated_rows: 0,
        };
        let shared = Shared {
            reading: &reading,
            tx: TxMeta {
                xid: req.xid,
                commit_time_us: req.commit_time_us,
                commit_lsn: Lsn(req.commit_lsn),
            },
            out,
            base: req.first_row,
            size: 0,
            first_of_all: req.first_of_all,
        };
        let marks = RangeMarks {
            first: req.first,
            last: req.last,
            last_of_all: req.last_of_all,
        };
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            *client = Some(self.conn.connect_sql("snapshot lane").await?);
        }
        let Some(c) = client.as_ref() else {
            return Err(protocol("no connection".into()));
        };
        let read = read_range(c, &shared, 0, req.range.clone(), Some(&req.snapshot), marks).await;
        if read.is_err() {
            // Its transaction may still be open: the next range connects afresh.
            *client = None;
        }
        let (keys, rows) = read?;
        Ok((keys.encode(rows), rows))
    }
}

fn protocol(what: String) -> PgSourceError {
    PgSourceError::Protocol {
        context: "reading a range for another worker".into(),
        what,
    }
}

/// The cluster's lanes, shared by a shard's chunk groups.
pub type Lanes = Arc<dyn crate::source::SnapshotLanes>;

/// The keys and row count a lane answered.
pub(super) fn answer(reply: &[u8]) -> Result<(KeyList, u64), String> {
    KeyList::decode(reply)
        .map(|(rows, keys)| (keys, rows))
        .ok_or_else(|| "an undecodable answer".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_request_travels_as_json_and_is_taken_over_only_past_the_groups_read() {
        let r = LaneRange {
            oid: 16385,
            table: "public.t".into(),
            snapshot: "00000003-00000002-1".into(),
            range: "(id) > ('5') AND (id) <= ('9')".into(),
            key: vec![0],
            text_only: vec![false, true],
            xid: 77,
            commit_time_us: 1,
            commit_lsn: 0x1600_0000,
            first_row: 8192,
            first: false,
            last: true,
            last_of_all: true,
            first_of_all: false,
            index: 1,
            group: GroupMeta {
                number: 7,
                xids: "100:104:101,102".into(),
                high_watermark: 0x1600_0100,
                lower: Some("('5')".into()),
                base_rows: 8192,
                bounds: vec!["('9')".into()],
                last: true,
            },
        };
        let back: LaneRange = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let mut keys = KeyList::default();
        keys.push(b"k6");
        keys.push(b"k9");
        let record = LaneRecord {
            request: serde_json::to_vec(&r).unwrap(),
            reply: keys.encode(2),
        };
        let c = Committed::of(&record, 6).expect("group 7 is newer than the 6 read");
        assert_eq!((c.range, c.rows), (r, 2));
        let set = crate::source::postgres::chunk::keys::KeySet::index(vec![c.keys]);
        assert!(set.contains(b"k6") && set.contains(b"k9") && !set.contains(b"k7"));
        assert!(Committed::of(&record, 7).is_none(), "its group is read");
        let garbled = LaneRecord {
            request: b"{".to_vec(),
            reply: Vec::new(),
        };
        assert!(Committed::of(&garbled, 0).is_none());
    }
}
