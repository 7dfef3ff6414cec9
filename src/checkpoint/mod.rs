//! Per-shard checkpoints: how far a shard's events are durable in the sink.
//!
//! A checkpoint is written only from the sink's durable watermark, and PostgreSQL is told a
//! position (standby status `flush`) only after the checkpoint holding it is persisted. The store
//! is a trait: `tributary run` keeps checkpoints in sled under `--data-dir`; the cluster will keep
//! them in its replicated state.

mod sled_store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use sled_store::SledCheckpointStore;

use crate::position::{Lsn, StreamPosition};

/// Identifies a task incarnation's shard (`tributary run` has one shard, `0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShardKey {
    pub task: String,
    pub shard: u32,
}

/// The replication slot a checkpoint belongs to. A checkpoint is only valid with the same slot
/// on the same server: if the slot is gone or belongs to another system (a failover without
/// slot sync), the loss is detected instead of papered over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotIdentity {
    pub slot_name: String,
    pub publication: String,
    /// `IDENTIFY_SYSTEM`'s systemid.
    pub system_id: String,
    pub database: String,
    /// The slot's consistent point (the snapshot LSN of the first start).
    pub consistent_point: Lsn,
}

/// How far the snapshot of one table got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableProgress {
    /// Not read yet.
    Pending,
    /// Cut while being read: `rows` rows (in read order) are durable.
    Partial { rows: u64 },
    /// Every row is durable.
    Done { rows: u64 },
}

/// A shard's durable progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version of this record, for upgrades.
    pub version: u16,
    /// A random id fixed when the task is first created here; part of the slot name, so a task
    /// deleted and created again never reuses a stale slot.
    pub incarnation: String,
    /// The slot, once created.
    pub slot: Option<SlotIdentity>,
    /// The first start completed its set-up (slot, publication, topics): later errors are retried.
    pub started: bool,
    /// Per table (`schema.table`): snapshot progress.
    pub tables: BTreeMap<String, TableProgress>,
    /// The last stream event that is durable: events at or before it are skipped on resume.
    pub stream: Option<StreamPosition>,
    /// The end LSN that may be confirmed to PostgreSQL (every transaction ending at or before
    /// it is durable).
    pub confirmed_lsn: Lsn,
    /// The task finished (a full-only task after its snapshot).
    pub completed: bool,
    /// Events made durable so far.
    pub event_count: u64,
}

impl Checkpoint {
    pub const VERSION: u16 = 1;

    pub fn new(incarnation: String) -> Checkpoint {
        Checkpoint {
            version: Self::VERSION,
            incarnation,
            slot: None,
            started: false,
            tables: BTreeMap::new(),
            stream: None,
            confirmed_lsn: Lsn::ZERO,
            completed: false,
            event_count: 0,
        }
    }

    /// Whether `next` may replace `self`: stream progress and confirmed LSN never move backward.
    pub fn is_regressed_by(&self, next: &Checkpoint) -> bool {
        next.stream < self.stream || next.confirmed_lsn < self.confirmed_lsn
    }
}

/// The checkpoint store failed: the node cannot make progress safely.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint storage I/O failed")]
    Io(#[source] sled::Error),
    #[error("checkpoint for {task}/{shard} is unreadable (written by a newer tributary?)")]
    Corrupt {
        task: String,
        shard: u32,
        #[source]
        source: serde_json::Error,
    },
    #[error("checkpoint for {task}/{shard} would move backward: refused (this is a bug)")]
    Regression { task: String, shard: u32 },
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
}

/// Where checkpoints live.
///
/// Contract: `save` returns only once the checkpoint is durable (fsynced, or committed by the
/// replicated state); it refuses a checkpoint that moves stream progress backward. `load`
/// returns the last saved checkpoint. Calls may block briefly (the caller runs them off the
/// async hot path).
pub trait CheckpointStore: Send + Sync {
    fn load(&self, key: &ShardKey) -> Result<Option<Checkpoint>, CheckpointError>;
    fn save(&self, key: &ShardKey, checkpoint: &Checkpoint) -> Result<(), CheckpointError>;
    fn delete(&self, key: &ShardKey) -> Result<(), CheckpointError>;
}
