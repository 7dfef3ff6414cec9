//! Sources of change events, and the contract every source keeps.
//!
//! ```text
//!  check ─► (first start) plan ─► [runtime saves the plan] ─► create ─► [runtime saves] ─┐
//!        └► (resume)      resume (verify the server still holds what the checkpoint says) ┴► run
//!
//!  run:  snapshot + stream ──ordered batches──► bounded channel ──► pipeline
//!          ▲                                                            │
//!          └──────────── confirmed resume token (watch) ◄── checkpoint saved
//! ```
//! A source produces one ordered sequence of `SourceItem` batches: snapshot rows, stream events
//! and their transaction boundaries, schema changes, and the progress markers the pipeline
//! turns into checkpoints. Everything per key stays in source order because there is only one
//! sequence. The pipeline names no database's types: it sees positions, resume tokens, events
//! and classified errors.

pub mod oracle;
pub mod postgres;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::checkpoint::{Checkpoint, SourceObject};
use crate::event::{ChangeEvent, TxMeta};
use crate::position::{LogPoint, ResumeToken, StreamPosition};
use crate::schema::TableSchema;

/// What the supervisor does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// May clear by itself: retry with back-off (after the task's first successful start).
    Transient,
    /// This shard cannot proceed until an operator acts; the message names the fix.
    Definite,
    /// This node must not go on (checkpoint storage failed, an invariant broke).
    Fatal,
}

/// A source failed, classified where the cause was known. Displays as the underlying error's
/// one line (which names the fix for definite errors).
#[derive(Debug)]
pub struct SourceError {
    class: ErrorClass,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
    checkpoint_invalid: bool,
    slot_lost: bool,
    connection: bool,
}

impl SourceError {
    pub fn new(
        class: ErrorClass,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> SourceError {
        SourceError {
            class,
            error: Box::new(error),
            checkpoint_invalid: false,
            slot_lost: false,
            connection: false,
        }
    }

    /// A transient error saying the source could not be reached or the connection broke
    /// (refused, timed out, closed): retried for the task's connection window.
    pub fn connection(error: impl std::error::Error + Send + Sync + 'static) -> SourceError {
        SourceError {
            connection: true,
            ..SourceError::new(ErrorClass::Transient, error)
        }
    }

    /// See `connection`.
    pub fn is_connection(&self) -> bool {
        self.connection
    }

    /// A definite error saying the server no longer holds what the checkpoint recorded (the
    /// slot is gone, belongs to another system, or moved past it): the task cannot resume,
    /// and keeps nothing on the server worth naming.
    pub fn checkpoint_invalid(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SourceError {
            checkpoint_invalid: true,
            ..SourceError::new(ErrorClass::Definite, error)
        }
    }

    /// A `checkpoint_invalid` error saying the slot itself is gone or invalidated (what
    /// `source.on_slot_loss` acts on; a slot of another system, or one moved past the
    /// checkpoint, is not lost but wrong).
    pub fn slot_lost(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SourceError {
            slot_lost: true,
            ..SourceError::checkpoint_invalid(error)
        }
    }

    /// See `slot_lost`.
    pub fn is_slot_lost(&self) -> bool {
        self.slot_lost
    }

    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// See `checkpoint_invalid`.
    pub fn is_checkpoint_invalid(&self) -> bool {
        self.checkpoint_invalid
    }

    /// The source-specific error, for callers that know the source.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.error.downcast_ref()
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// A table's description changed (or a table appeared) in the stream; `at` is where.
#[derive(Debug, Clone)]
pub struct SchemaChange {
    pub table: Arc<TableSchema>,
    /// The description it replaces; `None` for a table the stream had not seen.
    pub previous: Option<Arc<TableSchema>>,
    /// The position of the next event of the transaction that brought it.
    pub at: Option<StreamPosition>,
    /// The DDL statement, when the source knows it.
    pub ddl: Option<String>,
}

/// One item of a source's ordered output.
#[derive(Debug, Clone)]
pub enum SourceItem {
    Event(ChangeEvent),
    /// A transaction starts; its events follow.
    Begin(TxMeta),
    /// A transaction ended: `last` is its last event's position (or index 0 if it had none),
    /// `events` how many it had, and `resume` the token to confirm once it is durable.
    Commit {
        tx: TxMeta,
        last: StreamPosition,
        events: u32,
        resume: ResumeToken,
    },
    /// A table's description changed or a table appeared, before its next event.
    SchemaChange(SchemaChange),
    /// A snapshot table was read completely: `rows` rows.
    TableDone {
        table: String,
        rows: u64,
    },
    /// A chunk of a table's chunked read is sent: its rows up to key `after` (a
    /// row-constructor literal) are read, `rows` in all (also sent when a resumed read goes on
    /// from its checkpoint).
    ChunkDone {
        table: String,
        after: String,
        rows: u64,
        estimated_rows: u64,
    },
    /// A snapshot (re-)read of a table starts: its rows so far are discarded from progress.
    TableStarted {
        table: String,
        estimated_rows: u64,
    },
    /// Outside any transaction, the server has sent everything up to `resume`.
    Idle {
        resume: ResumeToken,
    },
    /// The snapshot phase ended (all tables read).
    SnapshotDone,
    /// The schema phase: a selected table's definition, to publish as `CREATE TABLE`.
    TableDefinition(Arc<crate::definition::TableDefinition>),
    /// The schema phase ended: every definition before this item was sent.
    SchemaDone,
    /// The task's heartbeat written at `written_us` (Unix µs) came through the stream; it is
    /// never written to a topic.
    Heartbeat {
        written_us: i64,
    },
    /// The WAL the shard's slot retains now, in bytes (outside the data order).
    SlotRetained {
        bytes: u64,
    },
    /// A helper object the source made while streaming (the replica identity it set on a
    /// table created later): recorded in the checkpoint once the items before it are
    /// acknowledged, so deleting the task finds it. A replay repeats it; recording is
    /// idempotent.
    HelperObject(crate::checkpoint::SourceObject),
    /// Tables were added to the running task's selection (`ctl task add-tables`) and are
    /// captured from here on: `selection` is the task's new `selection_record`, `tables` the
    /// tables it adds with their progress (unread, or done for a task without a full phase).
    /// Recorded in the checkpoint once the items before it are acknowledged, before any row
    /// of those tables.
    SelectionGrown {
        selection: Vec<String>,
        tables: Vec<(String, crate::checkpoint::TableProgress)>,
    },
    /// Requests to read tables again (`TaskSpec::rereads`) are taken in: `tables` (those the
    /// source captures) are unread from here on, and their rows follow. Recorded in the
    /// checkpoint once the items before it are acknowledged (`Checkpoint::take_rereads`).
    TablesReread {
        requests: Vec<(String, u64)>,
        tables: Vec<String>,
    },
    /// Notified once every record before it is acknowledged by the sink (a chunk group's
    /// hand-over to other workers, `SnapshotLanes`, waits on it so that their rows land after
    /// every older change of their keys).
    Barrier(Arc<tokio::sync::Notify>),
    /// Exactly-once: commit the open Kafka transaction now, with this record as its checkpoint
    /// record (a snapshot lane's range and answer, which it has no checkpoint of its own for).
    /// Ignored at least once.
    CommitWith(Vec<u8>),
    /// Chunk group `n` of the shard's chunked snapshot is read (sent before its `ChunkDone` or
    /// `TableDone`): recorded in the checkpoint (`Checkpoint::chunk_groups`).
    ChunkGroupDone(u64),
}

/// A batch of items: batching amortises the channel's cost over many rows.
pub type SourceBatch = Vec<SourceItem>;

/// Where a running source sends its batches (bounded: a slow pipeline slows the source).
pub type SourceSender = mpsc::Sender<Result<SourceBatch, SourceError>>;

/// What a source reports about its database before anything starts.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// `postgresql`, `oracle`: for the formats' source blocks.
    pub kind: &'static str,
    pub database: String,
    pub server_version: String,
    /// The selected tables, in the order the task lists them.
    pub tables: Vec<Arc<TableSchema>>,
    /// How far the server's log is now, for lag.
    pub server_point: Option<LogPoint>,
}

/// Other workers of the cluster that read ranges of a shard's chunked snapshot and write
/// their rows to the sink themselves (`crate::cluster::lanes`): a chunk group spreads its
/// ranges over them besides the source's own connections.
///
/// Contract: `read` hands lane `lane` an opaque, source-specific request and resolves, with
/// the source's opaque answer, only once every row the lane read is acknowledged by the sink.
/// A lane refuses a request whose epoch is older than its view of the shard's. A lane stops
/// handing rows to its sink `budget` after it received the request, and its sink gives up on
/// a record within the task's producer timeout: a caller whose `read` failed waits for both
/// before anything newer of those keys may be written.
pub trait SnapshotLanes: Send + Sync {
    /// How many lanes may take a range now.
    fn lanes(&self) -> usize;
    /// How long after a failed `read` until no row of that lane can reach the sink any more:
    /// the lane's budget, its producer's timeout and a margin.
    fn fence(&self) -> std::time::Duration;
    fn read(
        &self,
        lane: usize,
        request: Vec<u8>,
    ) -> futures::future::BoxFuture<'static, Result<Vec<u8>, String>>;
    /// Exactly-once: each lane commits a range's rows in a Kafka transaction of its own
    /// (`<shard's transactional id>-snap-<lane>`) together with a `LaneRecord` of the request
    /// and its answer, so a range is in Kafka once with its record, or not at all.
    fn transactional(&self) -> bool {
        false
    }
    /// The most lanes a group may use (`source.snapshot_lanes`): those a new owner settles.
    fn max_lanes(&self) -> usize;
    /// Exactly-once: fences lane `lane`'s producer (its open transaction is aborted; one being
    /// committed completes first), then returns its last committed record. `None` when no
    /// record was committed, or at least once.
    fn settle(
        &self,
        lane: usize,
    ) -> futures::future::BoxFuture<'static, Result<Option<LaneRecord>, String>>;
}

/// What an exactly-once lane commits with a range's rows: the owner's request and the lane's
/// answer, both opaque here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneRecord {
    pub request: Vec<u8>,
    pub reply: Vec<u8>,
}

impl LaneRecord {
    /// The request's length (u32, little-endian), the request, then the answer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.request.len() + self.reply.len());
        out.extend_from_slice(&(self.request.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.request);
        out.extend_from_slice(&self.reply);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<LaneRecord> {
        let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let request = bytes.get(4..4 + len)?.to_vec();
        let reply = bytes.get(4 + len..)?.to_vec();
        Some(LaneRecord { request, reply })
    }
}

/// A source of one shard's changes.
///
/// Contract:
/// - `check` changes nothing on the server; it fails with a definite error naming the fix for
///   anything that would stop the task later (settings, privileges, selection, keys, types).
/// - First start: the runtime saves `plan`'s names in the checkpoint *before* `create`, and
///   saves the checkpoint `create` filled before `run`. `create` finds objects an earlier,
///   killed attempt left under the same names and reuses or replaces them: it never creates a
///   second slot. If `create` fails, `remove` is called with the planned objects.
/// - Resume: `resume` verifies that the server still holds what the checkpoint recorded and
///   that nothing moved past it; otherwise a definite error naming what differs and the fix.
/// - `run` sends items in source order; it never sends an event at or before the
///   checkpoint's stream position. It treats the watch's value as the newest resume token
///   that is durable and saved, and tells its server (PostgreSQL: the slot's flush position)
///   nothing beyond it. It ends with an error on `out`, or by returning (a task without an
///   incremental phase is done). It may be aborted at any await.
/// - `remove` drops the named objects; with `force` false it refuses (definite error naming
///   who holds it) when an object is in use.
pub trait Source: Send + 'static {
    fn check(&mut self) -> impl Future<Output = Result<SourceInfo, SourceError>> + Send;

    /// The server-side objects a first start of `incarnation` creates (none, for a source that
    /// only reads its catalog: a schema-only task).
    fn plan(&self, incarnation: &str) -> Vec<SourceObject>;

    fn create(
        &mut self,
        cp: &mut Checkpoint,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Verifies that the source can continue from `cp` (its objects still there, nothing lost
    /// behind it). It may record what it learned of the source in `cp.source` (PostgreSQL: the
    /// timeline it streams from), which the checkpoints saved from this run then hold.
    fn resume(
        &mut self,
        cp: &mut Checkpoint,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    fn run(
        self,
        cp: Checkpoint,
        out: SourceSender,
        confirmed: watch::Receiver<ResumeToken>,
    ) -> impl Future<Output = ()> + Send + 'static;

    /// The task's spec as it changes while the source runs (`ctl task add-tables`, `ctl task
    /// resnapshot`), given before `run`. A source that returns `true` adopts tables added to
    /// the selection while it runs, with no restart (it sends `SourceItem::SelectionGrown`
    /// first), and reads a table again when `TaskSpec::rereads` asks for it (it sends
    /// `SourceItem::TablesReread` first); one that returns `false` is restarted by the runtime
    /// when either changes.
    fn follow_spec(&mut self, _specs: watch::Receiver<Arc<crate::config::TaskSpec>>) -> bool {
        false
    }

    /// Drops `objects`; returns those that existed and were dropped.
    fn remove(
        &mut self,
        objects: &[SourceObject],
        force: bool,
    ) -> impl Future<Output = Result<Vec<SourceObject>, SourceError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::LaneRecord;

    #[test]
    fn a_lane_record_keeps_its_request_and_answer_apart() {
        let r = LaneRecord {
            request: b"{\"range\":1}".to_vec(),
            reply: vec![0, 1, 2, 255],
        };
        assert_eq!(LaneRecord::decode(&r.encode()), Some(r));
        let empty = LaneRecord {
            request: Vec::new(),
            reply: Vec::new(),
        };
        assert_eq!(LaneRecord::decode(&empty.encode()), Some(empty));
        assert_eq!(LaneRecord::decode(&[9, 0, 0, 0, 1]), None, "cut short");
        assert_eq!(LaneRecord::decode(&[1, 0]), None);
    }
}
