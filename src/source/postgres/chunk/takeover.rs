//! A new owner's start with exactly-once snapshot lanes (`super::lane`): the ranges lanes
//! committed in a group whose end the checkpoint does not hold are in Kafka already, so they
//! are taken over rather than read again.
//!
//! ```text
//!  settle every lane (fence, read its last record) ─► records of a group numbered above
//!  `Checkpoint::chunk_groups` ─► their keys into the stream's filter (the group's snapshot and
//!  high watermark) ─► `Repair`: the group read again with its bounds, those ranges skipped
//! ```

use std::collections::HashMap;

use super::filter::ChunkFilter;
use super::keys::KeySet;
use super::lane::{self, GroupMeta};
use super::visibility::XidSnapshot;
use super::ChunkedSnapshot;
use crate::position::Lsn;
use crate::source::postgres::error::PgSourceError;
use crate::source::postgres::stream::PgStream;

/// A group whose end the checkpoint does not hold though lanes committed ranges of it: read
/// again with its bounds, those ranges skipped.
#[derive(Debug)]
pub(super) struct Repair {
    pub oid: u32,
    pub meta: GroupMeta,
    /// The committed ranges' row counts, by index.
    pub done: HashMap<u64, u64>,
}

impl ChunkedSnapshot {
    /// Exactly-once, before the stream's first change: takes over the ranges lanes committed
    /// in a group whose end the checkpoint does not hold (its owner stopped between). Every
    /// lane is fenced first, so no older owner's lane commits after this; each committed
    /// range's keys are filtered in the stream as its group would filter them, and the group
    /// is read again with its bounds, those ranges skipped: they are in Kafka once.
    pub async fn recover(&mut self, stream: &mut PgStream) -> Result<(), PgSourceError> {
        let committed = self.committed_ranges().await?;
        let Some(first) = committed.first() else {
            return Ok(());
        };
        let (oid, meta) = (first.range.oid, first.range.group.clone());
        let Some(table) = self.tables.iter().find(|t| {
            t.read.schema.oid == oid && t.after == meta.lower && t.rows == meta.base_rows
        }) else {
            tracing::warn!(task = %self.task, table = %first.range.table, group = meta.number, "ranges committed by snapshot lanes belong to no table read from their group's start: ignored");
            return Ok(());
        };
        let name = table.read.schema.qualified_name();
        let mut done = HashMap::new();
        for c in committed {
            done.insert(c.range.index, c.rows);
            stream.install_chunk(filter_of(c)?);
        }
        tracing::info!(task = %self.task, table = %name, group = meta.number, ranges = done.len(), "ranges snapshot lanes committed before this owner took over are not read again");
        // The group read again keeps its number: its end makes these records old.
        self.groups_done = meta.number - 1;
        self.repair = Some(Repair { oid, meta, done });
        Ok(())
    }

    /// Settles every lane; the ranges they committed in the newest group above the groups
    /// read (only one group can be: the owner commits before it hands out the next).
    async fn committed_ranges(&self) -> Result<Vec<lane::Committed>, PgSourceError> {
        let Some(lanes) = self.lanes.clone().filter(|l| l.transactional()) else {
            return Ok(Vec::new());
        };
        let settles = (0..lanes.max_lanes()).map(|l| lanes.settle(l));
        let mut committed = Vec::new();
        for (lane, settled) in futures::future::join_all(settles)
            .await
            .into_iter()
            .enumerate()
        {
            let record = settled.map_err(|reason| PgSourceError::LaneUnsettled { lane, reason })?;
            committed.extend(record.and_then(|r| lane::Committed::of(&r, self.groups_done)));
        }
        let newest = committed.iter().map(|c| c.range.group.number).max();
        committed.retain(|c| Some(c.range.group.number) == newest);
        Ok(committed)
    }
}

/// The stream's filter for a committed range, as its group installed it.
fn filter_of(c: lane::Committed) -> Result<ChunkFilter, PgSourceError> {
    let group = &c.range.group;
    let snapshot = XidSnapshot::parse(&group.xids).ok_or_else(|| PgSourceError::Protocol {
        context: "taking over a snapshot lane's range".into(),
        what: format!("unreadable snapshot {:?}", group.xids),
    })?;
    Ok(ChunkFilter {
        table: c.range.oid,
        snapshot,
        high_watermark: Lsn(group.high_watermark),
        key_columns: c.range.key,
        keys: KeySet::index(vec![c.keys]),
    })
}
