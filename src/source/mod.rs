//! Sources of change events.
//!
//! A source runs as a tree of tasks that produce one ordered sequence of `SourceItem` batches
//! into a bounded channel; the pipeline consumes it. Everything per key stays in source order
//! because there is only one sequence.

pub mod postgres;

use crate::event::ChangeEvent;
use crate::position::{Lsn, StreamPosition};

/// One item of a source's ordered output.
#[derive(Debug)]
pub enum SourceItem {
    Event(ChangeEvent),
    /// A snapshot table was read completely: `rows` rows (its table OID and name).
    TableDone {
        oid: u32,
        table: String,
        rows: u64,
    },
    /// A snapshot (re-)read of a table starts: its rows so far are discarded from progress.
    TableStarted {
        oid: u32,
        table: String,
        estimated_rows: u64,
    },
    /// A transaction ended: `last` is its last event's position (or its commit LSN with index 0
    /// if it had none), `end_lsn` the LSN to confirm once it is durable.
    Commit {
        last: StreamPosition,
        end_lsn: Lsn,
    },
    /// Outside any transaction, the server has sent everything up to `wal_end`.
    Idle {
        wal_end: Lsn,
    },
    /// The snapshot phase ended (all tables read).
    SnapshotDone,
}

/// A batch of items: batching amortises the channel's cost over many rows.
pub type SourceBatch = Vec<SourceItem>;
