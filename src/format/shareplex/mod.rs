//! SharePlex JSON as Alibaba DTS writes it (`shared/spec/FORMATS.md` part A "SharePlex JSON",
//! part B §3): one JSON object per row change, `{"meta":{…},"data":{…}}` with a `key` object
//! after `data` for updates. Values are strings in PostgreSQL's text output form
//! (`docs/TYPE-MAPPING.md`, "SharePlex JSON").
//!
//! ```text
//! {"meta":{"time":"2024-01-15T08:31:00","userid":null,"op":"upd","scn":"14589063118790",
//!  "rowid":null,"trans":"411502","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1",
//!  "posttime":"2024-01-15T08:31:01"},"data":{"STATUS":"PAID"},"key":{"ID":"42","STATUS":"NEW"}}
//! ```
//!
//! Every `meta` member is always written, in part B's order. For a PostgreSQL source: `time` is
//! the commit time and `posttime` the time the transaction was handed to Kafka (the injected
//! clock, read once at the transaction's commit), both `yyyy-MM-ddTHH:mm:ss` in UTC with the
//! fraction dropped; `scn` is the commit LSN as a decimal string, `trans` the xid as a string,
//! `userid` and `rowid` null; `table` is `SCHEMA.TABLE` with the names the route gives (name
//! mapping, then `destination.capitalisation`: nothing is upper-cased here). Op codes: `ins`,
//! `upd`, `del`, `truncate` (empty `data`), `ddl` (`data.sql`, on the DDL topic).
//!
//! For an Oracle source (events positioned by SCN, `crate::format::origin`): `scn` is the
//! commit SCN in decimal and `trans` the XID `usn.slot.sqn`, both from the event's position
//! (a held transaction's from its first event; a DDL message's from the position it comes
//! before); snapshot rows have the snapshot SCN and `trans` null. `rowid` and `userid` are null:
//! the events carry neither the ROWID nor the user.
//!
//! `seq`, `size` and `idx` ("3/11") need the number of messages of the transaction before its
//! first message is written, so a transaction is held until its commit (`encode` writes nothing
//! between `begin` and `commit`) and then written from `pending` in slices. Held messages are
//! kept as frames (`buffer`): the message body after `meta`, the Kafka key, partition and
//! position; `meta` is written when the frame is read back, so nothing is rewritten. Past
//! `memory_budget_bytes` the frames spill to a file in `spill_dir` (`spill`), read back in
//! order with a small buffer: memory stays bounded whatever the transaction's size (the spill
//! directory must be on disk: a tmpfs `/tmp` would keep spilled transactions in RAM). A spill
//! file is removed once its transaction is written, when the format is dropped, and, for a
//! killed process's, when a later format starts.
//! `size` counts the messages this format wrote for the transaction (after the task's
//! per-table operations and `hash_key`'s split of a key change), not the source's events.
//!
//! Decided here (part A and B are silent):
//! - Snapshot rows are `ins` messages, each its own transaction: `seq` 1, `size` 1, `idx`
//!   "1/1", with the snapshot's xid, LSN and start time. Events outside a transaction are
//!   written the same way.
//! - DDL messages are written at once (not held with the transaction they belong to), `seq` 1
//!   `size` 1, with the open transaction's `time`, `scn` and `trans`; outside a transaction
//!   `time` and `trans` are null and `scn` is the commit LSN of the position the change comes
//!   before, if known.
//! - UPDATE `key`: the table's key columns (primary key or replica identity index), then in
//!   column order the old values of the changed columns; on a table without a key under
//!   REPLICA IDENTITY FULL, the whole before image (SharePlex uses all columns as the key of a
//!   key-less table). Without a full before image: `data` is the whole new row and `key` the key
//!   columns (part A "All formats"). DELETE without a full before image: `data` holds the key
//!   columns PostgreSQL sent.
//! - The Kafka key is the DTS message key of the new row (the old row for a delete); TRUNCATE
//!   and DDL messages have a null key.

mod buffer;
mod encoder;
mod meta;
mod rows;
mod spill;

use std::path::PathBuf;

pub use encoder::SharePlexJson;

/// The default memory budget of a held transaction: 64 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 64 << 20;

/// Options of the SharePlex JSON format (`destination.shareplex_json`).
#[derive(Clone, Debug)]
pub struct SharePlexOptions {
    /// Bytes of a held transaction kept in memory before it spills to disk.
    pub memory_budget_bytes: u64,
    /// Where spill files go.
    pub spill_dir: PathBuf,
    /// The shard whose metrics the format's counters belong to.
    pub metric_labels: crate::metrics::ShardLabels,
}

impl Default for SharePlexOptions {
    fn default() -> Self {
        SharePlexOptions {
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
            spill_dir: std::env::temp_dir(),
            metric_labels: crate::metrics::ShardLabels::default(),
        }
    }
}

#[cfg(test)]
mod tests;
