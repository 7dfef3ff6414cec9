//! The shard runner: takes the source's ordered items, encodes them, hands records to the sink
//! and turns the sink's durable watermark into checkpoints and upstream confirmations.
//!
//! ```text
//!   source ──items──► runner ──records(seq)──► sink ──acks──► watermark
//!                       │ marks(seq)                             │
//!                       └──────► MarkQueue ◄───────────────────────┘
//!                                   │ apply ≤ watermark
//!                         checkpoint store (persist) ──► confirm(lsn) ──► source
//! ```
//! Loop priorities: shutdown, then the checkpoint timer, then acknowledgements, then new input.
//! Persist first, confirm second: a position is confirmed only once the checkpoint that holds
//! it is durable. The task's speed limits are paid item by item as the runner takes them
//! (`pipeline::throttle`); shutdown interrupts a wait.
//!
//! Bounds: before each record the runner checks its value against `max_value_bytes` (a larger
//! one fails the shard before anything is produced) and waits while the bytes handed to the
//! sink and not yet acknowledged would pass `max_in_flight_bytes` (`InFlight`). When the
//! watermark passes a stream event's record, its commit-to-acknowledgement latency is recorded
//! (the clock read once per acknowledgement batch); exactly-once, commit to Kafka commit.
//!
//! Exactly-once (a transactional sink): records are durable only when a Kafka transaction
//! commits them with the checkpoint that covers them, at a clean point (`super::commit`). The
//! order is Kafka commit → store save (on the checkpoint timer) → confirm to the source; the
//! memory bound counts acknowledged records as gone, committed or not.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use super::commit::{CommitPoints, TransactionPolicy};
use super::gate::{Admitted, Gate};
use super::in_flight::InFlight;
use super::latency;
use super::phase::{self, ShardPhase};
use super::position_header::PositionWriter;
use super::progress::{Mark, MarkQueue};
use super::stats::{Stats, TableStats};
use super::throttle::{Limits, Meter, Throttles};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, ShardKey, TableProgress};
use crate::config::{Bounds, PartitionPolicy};
use crate::definition::TableDefinition;
use crate::event::{ChangeEvent, TxMeta};
use crate::failpoint;
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::metrics::{ShardMetrics, ThrottleMetrics};
use crate::position::{Position, ResumeToken, StreamPosition};
use crate::route::partition_of;
use crate::route::Names;
use crate::route::Routing;
use crate::schema::TableSchema;
use crate::sink::{Record, Sink, SinkError, TopicPlan};
use crate::source::{ErrorClass, SchemaChange, SourceBatch, SourceError, SourceItem};
use crate::topic::check_partitions;

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot encode the event at {position} of {source}")]
    Format {
        position: String,
        #[source]
        source: Box<FormatError>,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Injected(#[from] failpoint::Injected),
    /// Boxed: the registry's errors are large and rare.
    #[error(transparent)]
    Registry(Box<crate::registry::RegistryError>),
    /// A record's value is larger than `destination.max_value_bytes` (the supervisor's line
    /// names the task and shard).
    #[error(
        "the value for table {table} at {position} is {size} bytes, more than \
         destination.max_value_bytes ({limit}): raise destination.max_value_bytes (within \
         destination.message_max_bytes and the topic's max.message.bytes), or exclude the column"
    )]
    ValueTooLarge {
        table: String,
        position: String,
        size: usize,
        limit: u64,
    },
}

impl From<crate::registry::RegistryError> for PipelineError {
    fn from(e: crate::registry::RegistryError) -> Self {
        PipelineError::Registry(Box::new(e))
    }
}

impl PipelineError {
    /// What the supervisor does about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::Source(e) => e.class(),
            PipelineError::Sink(e) if e.is_transient() => ErrorClass::Transient,
            PipelineError::Sink(_)
            | PipelineError::Format { .. }
            | PipelineError::ValueTooLarge { .. } => ErrorClass::Definite,
            PipelineError::Checkpoint(CheckpointError::Fenced { .. }) => ErrorClass::Definite,
            PipelineError::Checkpoint(_) => ErrorClass::Fatal,
            // A stand-in for a crash: the test restarts the task itself.
            PipelineError::Injected(_) => ErrorClass::Fatal,
            PipelineError::Registry(e) => e.class(),
        }
    }
}

/// How a run ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Asked to stop: everything accepted was flushed and checkpointed.
    Shutdown,
    /// The source finished (a full-only task after its snapshot).
    SourceFinished,
}

pub struct RunnerOptions {
    pub checkpoint_interval: Duration,
    /// The rate limits to start with.
    pub limits: Limits,
    /// Newer limits while the runner runs (an update of the task): followed at once, even
    /// during a wait.
    pub live_limits: Option<watch::Receiver<Limits>>,
    /// Told `Streaming` when the snapshot ends.
    pub phase: Option<watch::Sender<ShardPhase>>,
    /// A full-only task: the snapshot's end completes it.
    pub snapshot_only: bool,
    /// Stop (as on shutdown) once the resume token saved and confirmed reaches this one.
    pub stop_at: Option<ResumeToken>,
    /// The task's routing: per-table operations and the `hash_key` key-change rule
    /// (`None`: every event passes as it is).
    pub routing: Option<Arc<Routing>>,
    /// Called before the first record to a topic prepared while running (a table that
    /// appeared later): the DTS Avro schema's registration under the topic's subject.
    pub new_topic: Option<NewTopicHook>,
    /// The source is Oracle: the `tributary.tx` header is the XID as `usn.slot.sqn`, not a
    /// decimal transaction id.
    pub oracle_ids: bool,
    /// Bytes in flight to the sink and the largest value (`destination.max_*_bytes`).
    pub bounds: Bounds,
    /// Exactly-once: how large a Kafka transaction grows (`None`: the sink is not
    /// transactional).
    pub transactions: Option<TransactionPolicy>,
}

/// While over the byte budget, look at the watermark again at least this often (a sink whose
/// `progressed` never resolves acknowledges without waking anyone).
const ROOM_RECHECK: Duration = Duration::from_millis(100);

/// Where the records being sent come from: a stream event's (its first record is sampled for
/// latency), a held transaction's (each record with a position is an event's), or neither.
#[derive(Clone, Copy)]
enum Origin {
    Event(i64),
    Held(i64),
    Other,
}

impl Origin {
    fn commit_us(self) -> i64 {
        match self {
            Origin::Event(t) | Origin::Held(t) => t,
            Origin::Other => 0,
        }
    }
}

/// The `tributary.tx` header's text, on the stack: a PostgreSQL xid in decimal, an Oracle XID
/// as `usn.slot.sqn` (FORMATS.md).
fn tx_header(oracle: bool, xid: u64) -> crate::format::origin::XidText {
    use crate::format::origin::XidText;
    if oracle {
        XidText::new(crate::position::Xid(xid))
    } else {
        XidText::decimal(xid)
    }
}

/// A transaction's commit point as errors and headers name it: a PostgreSQL LSN (`X/Y`), or an
/// Oracle commit SCN in decimal (the source keeps it in `commit_lsn`'s number).
fn commit_point(oracle: bool, tx: &TxMeta) -> String {
    if oracle {
        tx.commit_lsn.0.to_string()
    } else {
        tx.commit_lsn.to_string()
    }
}

/// See `RunnerOptions::new_topic`.
pub type NewTopicHook = Arc<
    dyn Fn(String) -> futures::future::BoxFuture<'static, Result<(), PipelineError>> + Send + Sync,
>;

/// Where a runner keeps its progress: the store, the shard's key, the checkpoint as applied.
pub struct Progress {
    pub store: Arc<dyn CheckpointStore>,
    pub key: ShardKey,
    pub checkpoint: Checkpoint,
}

pub struct Runner<S: Sink, F: Format> {
    sink: S,
    format: F,
    store: Arc<dyn CheckpointStore>,
    key: ShardKey,
    cp: Checkpoint,
    marks: MarkQueue,
    next_seq: u64,
    durable_seen: u64,
    confirm: watch::Sender<ResumeToken>,
    stats: Arc<Stats>,
    metrics: ShardMetrics,
    opts: RunnerOptions,
    enc: EncodedBatch,
    position: PositionWriter,
    topics: KnownTopics,
    /// Snapshot rows sent per table being read (`schema.table`).
    table_rows: HashMap<String, u64>,
    /// Inside a transaction: its events so far.
    in_transaction: bool,
    throttle: Throttles,
    /// Key and value bytes handed to the sink since the throttle last charged them.
    sent_bytes: u64,
    /// Checkpoints saved by this runner.
    saves: u64,
    gate: Option<Gate>,
    /// The format's stream message sequence as last marked.
    last_sequence: u64,
    /// Records handed to the sink and not yet seen acknowledged.
    in_flight: InFlight,
    /// `SourceItem::Barrier`s waiting for the records before them (their sequence).
    barriers: VecDeque<(u64, Arc<Notify>)>,
    /// Exactly-once: acknowledged stream events not committed yet (commit time, events),
    /// whose latency is taken when their transaction commits, as consumers see them then.
    uncommitted: VecDeque<(i64, u64)>,
    /// Exactly-once's commit points (`None`: at least once).
    txn: Option<CommitPoints>,
    /// The run is ending: exactly-once commits what is open, due or not.
    final_checkpoint: bool,
}

/// Snapshot rows of one batch, per table, before they are added to `table_rows`.
type Tally = Vec<(Arc<TableSchema>, u64)>;

impl<S: Sink, F: Format> Runner<S, F> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sink: S,
        format: F,
        progress: Progress,
        confirm: watch::Sender<ResumeToken>,
        stats: Arc<Stats>,
        metrics: ShardMetrics,
        opts: RunnerOptions,
        known_topics: HashMap<String, i32>,
    ) -> Self {
        let mut format = format;
        format.set_sequence(progress.checkpoint.sequence);
        let throttle = Throttles::new(
            opts.limits,
            opts.live_limits.clone(),
            Some(ThrottleMetrics::new(metrics.labels())),
        );
        Runner {
            last_sequence: progress.checkpoint.sequence,
            sink,
            format,
            store: progress.store,
            key: progress.key,
            cp: progress.checkpoint,
            marks: MarkQueue::default(),
            next_seq: 0,
            durable_seen: 0,
            confirm,
            stats,
            metrics,
            enc: EncodedBatch::default(),
            position: PositionWriter::default(),
            topics: KnownTopics {
                known: known_topics,
                last: String::new(),
                last_partitions: 0,
            },
            table_rows: HashMap::new(),
            in_transaction: false,
            throttle,
            sent_bytes: 0,
            saves: 0,
            gate: opts.routing.clone().map(Gate::new),
            in_flight: InFlight::for_budget(opts.bounds.max_in_flight_bytes),
            barriers: VecDeque::new(),
            uncommitted: VecDeque::new(),
            txn: opts.transactions.map(|p| CommitPoints::new(p, 0)),
            final_checkpoint: false,
            opts,
        }
    }

    /// The checkpoint as last applied (durable once `run` returns).
    pub fn checkpoint_state(&self) -> &Checkpoint {
        &self.cp
    }

    /// How many checkpoints this runner saved: whether its run made durable progress.
    pub fn saves(&self) -> u64 {
        self.saves
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Runs until shutdown, the source's end, or an error. On shutdown and on the source's end
    /// the sink is flushed and a final checkpoint written.
    pub async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Result<SourceBatch, SourceError>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<RunEnd, PipelineError> {
        // Exactly-once also looks this often for a quiet source whose open transaction waits.
        let period = match &self.txn {
            Some(t) => self.opts.checkpoint_interval.min(t.quiet_after()),
            None => self.opts.checkpoint_interval,
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let read = self
            .cp
            .tables
            .values()
            .all(|t| matches!(t, TableProgress::Done { .. }));
        self.stats.snapshot_complete.store(read, Ordering::Relaxed);
        let end = loop {
            if *shutdown.borrow() {
                break RunEnd::Shutdown;
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break RunEnd::Shutdown,
                _ = tick.tick() => {
                    self.checkpoint().await?;
                    self.release_barriers();
                    if self.reached_stop() {
                        break RunEnd::Shutdown;
                    }
                }
                _ = self.sink.progressed(), if self.in_flight.has_events() || !self.barriers.is_empty() => {
                    self.collect_acks();
                    self.release_barriers();
                }
                item = rx.recv() => match item {
                    Some(Ok(batch)) => {
                        if self.txn.is_some() {
                            // Exactly-once takes a batch whole: a shutdown inside it could
                            // drop a Kafka commit under way.
                            self.batch(batch).await?;
                        } else {
                            tokio::select! {
                                biased;
                                _ = shutdown.changed() => break RunEnd::Shutdown,
                                r = self.batch(batch) => r?,
                            }
                        }
                        if let Some(t) = &mut self.txn {
                            t.batch_taken();
                        }
                        self.release_barriers();
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => break RunEnd::SourceFinished,
                },
            }
        };
        match &self.txn {
            Some(t) if !t.clean(self.in_transaction) => {
                // Inside a source transaction: what was sent since the last commit is
                // aborted, and sent again from the committed checkpoint by the next run.
                self.save_committed().await?;
                self.sink.abort().await;
            }
            _ => {
                self.sink.flush().await?;
                self.final_checkpoint = true;
                self.checkpoint().await?;
            }
        }
        Ok(end)
    }

    fn reached_stop(&self) -> bool {
        match (self.opts.stop_at, self.cp.resume) {
            (Some(stop), Some(done)) => done >= stop,
            _ => false,
        }
    }

    async fn batch(&mut self, batch: SourceBatch) -> Result<(), PipelineError> {
        let first_seq = self.next_seq;
        let mut last_stream: Option<StreamPosition> = None;
        let mut tally: Tally = Vec::new();
        let mut stream_events = 0u64;
        for item in batch {
            let meter = meter_of(&item);
            let rows = u64::from(matches!(item, SourceItem::Event(_)));
            let queries = u64::from(matches!(
                item,
                SourceItem::TableStarted { .. } | SourceItem::ChunkDone { .. }
            ));
            match item {
                SourceItem::Event(ev) => {
                    match ev.position {
                        Position::Stream(p) => {
                            last_stream = Some(p);
                            stream_events += 1;
                            self.stats
                                .last_commit_time_us
                                .store(ev.tx.commit_time_us, Ordering::Relaxed);
                        }
                        Position::Snapshot { .. } => {
                            count_row(&ev, &mut tally);
                            if let Some(t) = &mut self.txn {
                                t.row_sent();
                            }
                        }
                    }
                    self.admit(ev).await?;
                }
                SourceItem::Begin(tx) => {
                    self.in_transaction = true;
                    self.boundary(&tx, None).await?;
                }
                SourceItem::Commit {
                    tx,
                    last,
                    events,
                    resume,
                } => {
                    self.in_transaction = false;
                    self.boundary(&tx, Some(events)).await?;
                    self.drain_pending(&tx).await?;
                    last_stream = None;
                    self.marks
                        .push(self.next_seq, Mark::Commit { last, resume });
                    self.mark_sequence();
                    self.server_at(resume);
                    self.commit_point(&mut last_stream, &mut tally).await?;
                }
                SourceItem::SchemaChange(change) => self.schema_change(&change).await?,
                SourceItem::TableStarted {
                    table,
                    estimated_rows,
                } => self.table_started(table, estimated_rows, &mut tally),
                SourceItem::ChunkDone {
                    table,
                    after,
                    rows,
                    estimated_rows,
                } => {
                    self.chunk_done(table, after, rows, estimated_rows);
                    self.commit_point(&mut last_stream, &mut tally).await?;
                }
                SourceItem::TableDone { table, rows } => {
                    self.table_rows.remove(&table);
                    tally.retain(|(t, _)| t.qualified_name() != table);
                    self.stats.table(&table, |t| {
                        t.rows = rows;
                        t.done = true;
                    });
                    self.marks
                        .push(self.next_seq, Mark::TableDone { table, rows });
                    if let Some(t) = &mut self.txn {
                        t.read_ended();
                    }
                    self.commit_point(&mut last_stream, &mut tally).await?;
                }
                SourceItem::Idle { resume } => {
                    self.marks.push(self.next_seq, Mark::Idle(resume));
                    self.server_at(resume);
                    self.commit_point(&mut last_stream, &mut tally).await?;
                }
                SourceItem::TableDefinition(def) => self.table_definition(&def).await?,
                SourceItem::SchemaDone => {
                    self.mark_sequence();
                    self.marks.push(self.next_seq, Mark::SchemaDone);
                }
                SourceItem::Heartbeat { written_us } => {
                    self.stats
                        .heartbeat_written_us
                        .fetch_max(written_us, Ordering::Relaxed);
                }
                SourceItem::SlotRetained { bytes } => self.stats.set_slot_retained(bytes),
                SourceItem::HelperObject(o) => {
                    self.marks.push(self.next_seq, Mark::HelperObject(o));
                }
                SourceItem::SelectionGrown { selection, tables } => {
                    self.selection_grown(selection, tables);
                }
                SourceItem::TablesReread { requests, tables } => {
                    self.snapshot_again(!tables.is_empty());
                    let mark = Mark::TablesReread { requests, tables };
                    self.marks.push(self.next_seq, mark);
                }
                SourceItem::Barrier(notify) => {
                    self.barriers.push_back((self.next_seq, notify));
                    // Exactly-once: a barrier waits for a commit, which comes now.
                    self.commit_now(&mut last_stream, &mut tally, None).await?;
                }
                SourceItem::CommitWith(record) => {
                    self.commit_now(&mut last_stream, &mut tally, Some(record))
                        .await?;
                }
                SourceItem::ChunkGroupDone(n) => {
                    self.marks.push(self.next_seq, Mark::ChunkGroup(n))
                }
                SourceItem::SnapshotDone => {
                    self.stats.snapshot_complete.store(true, Ordering::Relaxed);
                    self.marks.push(self.next_seq, Mark::SnapshotDone);
                    if !self.opts.snapshot_only {
                        phase::report(&self.opts.phase, ShardPhase::Streaming);
                    }
                }
            }
            let bytes = std::mem::take(&mut self.sent_bytes);
            if let Some(meter) = meter {
                if self.throttle.charge(meter, rows, bytes, queries) {
                    // Ahead of a limit: what was handed on is marked before the wait, so a
                    // shutdown during it replays nothing.
                    self.mark_progress(&mut last_stream, &mut tally);
                    self.throttle.pay(meter).await;
                }
            }
        }
        self.mark_progress(&mut last_stream, &mut tally);
        self.stats
            .stream_events
            .fetch_add(stream_events, Ordering::Relaxed);
        self.stats
            .records_sent
            .fetch_add(self.next_seq - first_seq, Ordering::Relaxed);
        Ok(())
    }

    /// Exactly-once: at a clean point, commits the Kafka transaction if it is due (with the
    /// batch's progress so far marked first, so its checkpoint covers every record sent).
    async fn commit_point(
        &mut self,
        last_stream: &mut Option<StreamPosition>,
        tally: &mut Tally,
    ) -> Result<(), PipelineError> {
        let due = self.txn.as_ref().is_some_and(|t| {
            t.clean(self.in_transaction) && t.pending(self.next_seq) && t.due(self.next_seq)
        });
        if due {
            self.mark_progress(last_stream, tally);
            self.commit().await?;
        }
        Ok(())
    }

    /// Exactly-once: commits what is open now, due or not, at a clean point (a barrier waits
    /// for it); with `record`, anywhere, and that record is the transaction's checkpoint record
    /// (a snapshot lane's, which has no checkpoint of its own).
    async fn commit_now(
        &mut self,
        last_stream: &mut Option<StreamPosition>,
        tally: &mut Tally,
        record: Option<Vec<u8>>,
    ) -> Result<(), PipelineError> {
        let Some(t) = &self.txn else {
            return Ok(());
        };
        if record.is_none() && !(t.clean(self.in_transaction) && t.pending(self.next_seq)) {
            return Ok(());
        }
        self.mark_progress(last_stream, tally);
        match record {
            Some(r) => self.commit_record(&r).await,
            None => self.commit().await,
        }
    }

    /// Marks the stream position and the snapshot rows handed on so far in this batch.
    fn mark_progress(&mut self, last_stream: &mut Option<StreamPosition>, tally: &mut Tally) {
        // A format that holds a transaction until its commit has sent nothing of it yet.
        if let (Some(p), false) = (last_stream.take(), self.format.buffers_transactions()) {
            self.marks.push(self.next_seq, Mark::Stream(p));
            self.mark_sequence();
        }
        self.add_tally(std::mem::take(tally));
    }

    fn server_at(&self, token: ResumeToken) {
        self.stats
            .server_point
            .fetch_max(token.as_u64(), Ordering::Relaxed);
    }

    fn table_started(&mut self, table: String, estimated_rows: u64, tally: &mut Tally) {
        self.stats.table(&table, |t| {
            *t = TableStats {
                estimated: estimated_rows.max(t.estimated),
                ..Default::default()
            }
        });
        self.marks.push(
            self.next_seq,
            Mark::TableStarted {
                table: table.clone(),
            },
        );
        // Rows read before the restart no longer count.
        tally.retain(|(t, _)| t.qualified_name() != table);
        self.table_rows.insert(table, 0);
    }

    /// A chunk's rows are all sent: the table's count is the chunk's (rows of earlier runs
    /// included), and the chunk is marked for the checkpoint.
    fn chunk_done(&mut self, table: String, after: String, rows: u64, estimated_rows: u64) {
        if let Some(t) = &mut self.txn {
            t.read_ended();
        }
        self.stats.table(&table, |t| {
            t.rows = rows;
            t.estimated = t.estimated.max(estimated_rows);
        });
        self.table_rows.insert(table.clone(), rows);
        self.marks
            .push(self.next_seq, Mark::ChunkDone { table, after, rows });
    }

    /// Notifies the barriers whose records before them are all acknowledged.
    fn release_barriers(&mut self) {
        if self.barriers.is_empty() {
            return;
        }
        let watermark = self.sink.durable_watermark();
        while self.barriers.front().is_some_and(|(s, _)| *s <= watermark) {
            if let Some((_, n)) = self.barriers.pop_front() {
                n.notify_one();
            }
        }
    }

    /// Tables joined the running task: marked for the checkpoint; the shard reads a
    /// snapshot again while any of them is unread.
    fn selection_grown(&mut self, selection: Vec<String>, tables: Vec<(String, TableProgress)>) {
        self.snapshot_again(
            tables
                .iter()
                .any(|(_, p)| matches!(p, TableProgress::Pending)),
        );
        self.marks
            .push(self.next_seq, Mark::SelectionGrown { selection, tables });
    }

    /// Tables are to be read (`unread`): the snapshot is not complete until they are.
    fn snapshot_again(&mut self, unread: bool) {
        if unread {
            self.stats.snapshot_complete.store(false, Ordering::Relaxed);
            phase::report(&self.opts.phase, ShardPhase::Snapshot);
        }
    }

    /// Adds a batch's snapshot rows to the per-table counts and marks the progress.
    fn add_tally(&mut self, tally: Tally) {
        for (schema, n) in tally {
            let table = schema.qualified_name();
            let rows = {
                let r = self.table_rows.entry(table.clone()).or_insert(0);
                *r += n;
                *r
            };
            self.stats.table(&table, |t| t.rows = rows);
            self.marks.push(self.next_seq, Mark::Rows { table, rows });
        }
    }

    /// Marks the format's message sequence, if it moved, at the records sent so far.
    fn mark_sequence(&mut self) {
        let s = self.format.sequence();
        if s != self.last_sequence {
            self.last_sequence = s;
            self.marks.push(self.next_seq, Mark::Sequence(s));
        }
    }

    /// Sends the records a format held back until `tx`'s commit, in slices.
    async fn drain_pending(&mut self, tx: &TxMeta) -> Result<(), PipelineError> {
        const SLICE: usize = 1024;
        loop {
            self.enc.clear();
            let more = self
                .format
                .pending(&mut self.enc, SLICE)
                .map_err(|source| PipelineError::Format {
                    position: commit_point(self.opts.oracle_ids, tx),
                    source: Box::new(source),
                })?;
            let xid = tx_header(self.opts.oracle_ids, tx.xid);
            let origin = Origin::Held(tx.commit_time_us);
            self.send_encoded("", None, xid.as_str(), origin).await?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Passes one event through the gate (operations, key changes) to the format.
    async fn admit(&mut self, ev: ChangeEvent) -> Result<(), PipelineError> {
        let Some(gate) = &mut self.gate else {
            return self.event(&ev).await;
        };
        let at = ev.position;
        match gate.admit(ev) {
            Ok(Admitted::Dropped) => Ok(()),
            Ok(Admitted::One(ev)) => self.event(&ev).await,
            Ok(Admitted::Split(pair)) => {
                self.event(&pair.0).await?;
                self.event(&pair.1).await
            }
            Err(source) => Err(PipelineError::Format {
                position: format!("{at:?}"),
                source: Box::new(source),
            }),
        }
    }

    /// A table's description changed: the format's DDL records, if the table migrates DDL,
    /// acknowledged before any later event (they may go to another topic than its rows).
    async fn schema_change(&mut self, change: &SchemaChange) -> Result<(), PipelineError> {
        let position = change.at.map(|p| p.to_string()).unwrap_or_default();
        let format_error = |source| PipelineError::Format {
            position: position.clone(),
            source: Box::new(source),
        };
        if change.ddl.is_some() {
            if let Some(gate) = &mut self.gate {
                if !gate.migrates_ddl(&change.table).map_err(format_error)? {
                    return Ok(());
                }
            }
        }
        self.enc.clear();
        self.format
            .schema_change(change, &mut self.enc)
            .map_err(format_error)?;
        if self.enc.is_empty() {
            return Ok(());
        }
        self.send_encoded(
            &change.table.qualified_name(),
            Some(&position),
            "",
            Origin::Other,
        )
        .await?;
        self.sink.flush().await?;
        Ok(())
    }

    /// The schema phase: a table's `CREATE TABLE`, with the names of messages, as the format's
    /// DDL record.
    async fn table_definition(&mut self, def: &TableDefinition) -> Result<(), PipelineError> {
        let sql = match &self.opts.routing {
            Some(r) => def.create_table_sql(r.names()),
            None => def.create_table_sql(&Names::default()),
        };
        let change = SchemaChange {
            table: def.table.clone(),
            previous: None,
            at: None,
            ddl: Some(sql),
        };
        self.schema_change(&change).await
    }

    /// Encodes one event and hands its records to the sink.
    async fn event(&mut self, ev: &ChangeEvent) -> Result<(), PipelineError> {
        self.enc.clear();
        self.position.write(ev);
        if let Err(source) = self.format.encode(ev, &mut self.enc) {
            return Err(PipelineError::Format {
                position: self.position.as_str().to_owned(),
                source: Box::new(source),
            });
        }
        let xid = tx_header(self.opts.oracle_ids, ev.tx.xid);
        let origin = match ev.position {
            Position::Stream(_) if ev.tx.commit_time_us > 0 => Origin::Event(ev.tx.commit_time_us),
            _ => Origin::Other,
        };
        self.send_encoded(&ev.table.name, None, xid.as_str(), origin)
            .await?;
        if self.in_transaction {
            failpoint!(failpoint::RUNNER_IN_TRANSACTION);
        }
        Ok(())
    }

    /// A transaction boundary: the format's records for it, if any (`events` for a Commit).
    async fn boundary(&mut self, tx: &TxMeta, events: Option<u32>) -> Result<(), PipelineError> {
        self.enc.clear();
        let result = match events {
            None => self.format.begin(tx, &mut self.enc),
            Some(n) => self.format.commit(tx, n, &mut self.enc),
        };
        let oracle = self.opts.oracle_ids;
        let position = || format!("{}:{}", commit_point(oracle, tx), events.unwrap_or(0));
        result.map_err(|source| PipelineError::Format {
            position: position(),
            source: Box::new(source),
        })?;
        if self.enc.is_empty() {
            return Ok(());
        }
        let xid = tx_header(self.opts.oracle_ids, tx.xid);
        self.send_encoded("", Some(&position()), xid.as_str(), Origin::Other)
            .await
    }

    /// Sends the records in `enc` with the given headers; `position` `None` is the event's
    /// (`self.position`).
    async fn send_encoded(
        &mut self,
        table: &str,
        position: Option<&str>,
        tx: &str,
        origin: Origin,
    ) -> Result<(), PipelineError> {
        for (i, rec) in self.enc.records().iter().enumerate() {
            if let Some(p) = rec.position {
                self.position.write_stream(p);
            }
            let (partitions, fresh) = self
                .topics
                .ensure(
                    &mut self.sink,
                    &rec.topic,
                    &mut self.cp,
                    self.opts.routing.as_deref(),
                )
                .await?;
            if let (true, Some(hook)) = (fresh, &self.opts.new_topic) {
                hook(rec.topic.clone()).await?;
            }
            let record = Record {
                topic: &rec.topic,
                partition: match rec.partition {
                    PartitionChoice::Default => None,
                    PartitionChoice::Fixed(p) => Some(p),
                    PartitionChoice::Hash(h) => Some(partition_of(h, partitions)),
                },
                key: rec.key(),
                value: rec.value(),
                position: position.unwrap_or(self.position.as_str()),
                tx,
                table,
                extra_headers: &rec.headers,
            };
            self.sent_bytes +=
                (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
            let bytes = self.admit_size(&record)?;
            let budget = self.opts.bounds.max_in_flight_bytes;
            let report = (&self.metrics, &*self.stats);
            wait_for_room(&self.sink, &mut self.in_flight, report, bytes, budget).await?;
            self.sink.send(&record, self.next_seq).await?;
            let event = match origin {
                Origin::Event(_) => i == 0,
                Origin::Held(_) => rec.position.is_some(),
                Origin::Other => false,
            };
            self.in_flight
                .push(self.next_seq, bytes, origin.commit_us(), event);
            self.next_seq += 1;
        }
        Ok(())
    }

    /// The bytes `record` holds in flight (key, value, headers), once its value is checked
    /// against `max_value_bytes`.
    fn admit_size(&self, record: &Record<'_>) -> Result<u64, PipelineError> {
        let value = record.value.map_or(0, <[u8]>::len);
        let limit = self.opts.bounds.max_value_bytes;
        if value as u64 > limit {
            return Err(PipelineError::ValueTooLarge {
                table: match record.table {
                    "" => format!("(none; topic {})", record.topic),
                    t => t.to_owned(),
                },
                position: record.position.to_owned(),
                size: value,
                limit,
            });
        }
        let headers: usize = record
            .extra_headers
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        let key = record.key.map_or(0, <[u8]>::len);
        Ok((value + key + record.position.len() + record.tx.len() + headers) as u64)
    }

    /// Releases the acknowledged records from the memory bound (committed or not).
    fn collect_acks(&mut self) {
        let watermark = self.sink.acked_watermark();
        if self.txn.is_none() {
            collect_acks(&mut self.in_flight, watermark, (&self.metrics, &self.stats));
            return;
        }
        let uncommitted = &mut self.uncommitted;
        self.in_flight.release(watermark, |commit_us, events| {
            uncommitted.push_back((commit_us, events));
        });
    }

    /// Exactly-once, after a commit: every acknowledged record is committed now; the latency
    /// of its stream events ends here.
    fn committed_latency(&mut self) {
        self.collect_acks();
        let now = latency::now_us();
        for (commit_us, events) in self.uncommitted.drain(..) {
            let secs = (now - commit_us).max(0) as f64 / 1e6;
            self.metrics.event_latency(secs, events);
            self.stats.latency.record(now, commit_us, events);
        }
    }

    /// Applies durable marks, saves the checkpoint if it changed, then confirms upstream; and
    /// publishes the shard's metrics.
    pub async fn checkpoint(&mut self) -> Result<(), PipelineError> {
        let result = self.checkpoint_inner().await;
        self.metrics.publish(&self.stats);
        result
    }

    async fn checkpoint_inner(&mut self) -> Result<(), PipelineError> {
        self.sink.check()?;
        self.collect_acks();
        if let Some(t) = &self.txn {
            // On the timer, a transaction left open at a clean point (the source went quiet)
            // commits once due; at the end, whatever is open commits.
            let due = self.final_checkpoint || t.due(self.next_seq) || t.quiet();
            if t.clean(self.in_transaction) && due {
                self.commit().await?;
            }
            return self.save_committed().await;
        }
        let watermark = self.sink.durable_watermark();
        if !self.advance(watermark) {
            return Ok(());
        }
        failpoint!(failpoint::RUNNER_AFTER_DURABLE);
        self.save_and_confirm().await
    }

    /// Counts the records below `durable` as durable and applies the marks up to them;
    /// returns whether the checkpoint changed.
    fn advance(&mut self, durable: u64) -> bool {
        self.stats
            .records_durable
            .fetch_add(durable - self.durable_seen, Ordering::Relaxed);
        self.cp.event_count += durable - self.durable_seen;
        self.durable_seen = durable;
        self.marks
            .apply(durable, &mut self.cp, self.opts.snapshot_only)
    }

    /// Exactly-once, at a clean point: commits every record sent since the last commit with
    /// the checkpoint that covers exactly them (nothing when nothing changed).
    async fn commit(&mut self) -> Result<(), PipelineError> {
        let upto = self.next_seq;
        let pending = self.txn.as_ref().is_some_and(|t| t.pending(upto));
        if !self.advance(upto) && !pending {
            return Ok(());
        }
        self.cp.commits += 1;
        let record = serde_json::to_vec(&self.cp).map_err(|e| {
            CheckpointError::Storage(format!("cannot encode the checkpoint for Kafka: {e}"))
        })?;
        failpoint!(failpoint::RUNNER_BEFORE_COMMIT);
        self.sink.commit(&record).await?;
        if let Some(t) = &mut self.txn {
            t.committed(upto);
        }
        self.committed_latency();
        failpoint!(failpoint::RUNNER_AFTER_COMMIT);
        #[cfg(feature = "failpoints")]
        failpoint::hold(failpoint::RUNNER_COMMIT_HELD).await;
        self.release_barriers();
        Ok(())
    }

    /// Exactly-once: commits every record sent since the last commit with `record` as the
    /// checkpoint record, whatever was sent.
    async fn commit_record(&mut self, record: &[u8]) -> Result<(), PipelineError> {
        let upto = self.next_seq;
        self.advance(upto);
        self.sink.commit(record).await?;
        if let Some(t) = &mut self.txn {
            t.committed(upto);
            t.read_ended();
        }
        self.committed_latency();
        self.release_barriers();
        Ok(())
    }

    /// Exactly-once: saves the last committed checkpoint if the store does not hold it yet,
    /// then confirms it upstream.
    async fn save_committed(&mut self) -> Result<(), PipelineError> {
        if self.txn.as_mut().is_some_and(CommitPoints::take_unsaved) {
            return self.save_and_confirm().await;
        }
        Ok(())
    }

    /// Saves the checkpoint, then confirms its resume token upstream.
    async fn save_and_confirm(&mut self) -> Result<(), PipelineError> {
        self.store.save(&self.key, &self.cp).await?;
        self.saves += 1;
        failpoint!(failpoint::RUNNER_AFTER_SAVE);
        if let Some(resume) = self.cp.resume {
            self.confirm.send_if_modified(|cur| {
                let advance = resume > *cur;
                if advance {
                    *cur = resume;
                }
                advance
            });
            self.stats
                .confirmed_point
                .store(resume.as_u64(), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The limits an item counts against (`pipeline::throttle`): rows by their position, a
/// table's start and a chunk group's end (a query each) as full, the stream's transaction boundaries and DDL as
/// incremental, schema-phase definitions and other markers not at all.
fn meter_of(item: &SourceItem) -> Option<Meter> {
    match item {
        SourceItem::Event(ev) => Some(match ev.position {
            Position::Snapshot { .. } => Meter::Full,
            Position::Stream(_) => Meter::Incremental,
        }),
        SourceItem::TableStarted { .. } | SourceItem::ChunkDone { .. } => Some(Meter::Full),
        SourceItem::Begin(_) | SourceItem::Commit { .. } => Some(Meter::Incremental),
        SourceItem::SchemaChange(c) => c.at.map(|_| Meter::Incremental),
        _ => None,
    }
}

/// Where acknowledged events' latency goes: the histogram and the progress line's window.
type LatencyReport<'a> = (&'a ShardMetrics, &'a Stats);

/// Releases the records below `watermark` and records the latency of their stream events: one
/// clock reading for all of them.
fn collect_acks(in_flight: &mut InFlight, watermark: u64, (metrics, stats): LatencyReport<'_>) {
    let mut now = None;
    in_flight.release(watermark, |commit_us, events| {
        let now = *now.get_or_insert_with(latency::now_us);
        metrics.event_latency((now - commit_us).max(0) as f64 / 1e6, events);
        stats.latency.record(now, commit_us, events);
    });
}

/// Waits until a record of `bytes` fits beside the unacknowledged ones under `budget` (or goes
/// alone), releasing what the sink acknowledges meanwhile.
async fn wait_for_room<S: Sink>(
    sink: &S,
    in_flight: &mut InFlight,
    report: LatencyReport<'_>,
    bytes: u64,
    budget: u64,
) -> Result<(), SinkError> {
    while !in_flight.fits(bytes, budget) {
        sink.check()?;
        collect_acks(in_flight, sink.acked_watermark(), report);
        if in_flight.fits(bytes, budget) {
            break;
        }
        let _ = tokio::time::timeout(ROOM_RECHECK, sink.progressed()).await;
    }
    Ok(())
}

/// Counts a snapshot row in the batch's per-table tally (no hashing per row; snapshot progress
/// is marked once per batch per table).
fn count_row(ev: &ChangeEvent, tally: &mut Tally) {
    match tally.iter_mut().find(|(t, _)| Arc::ptr_eq(t, &ev.table)) {
        Some((_, n)) => *n += 1,
        None => tally.push((ev.table.clone(), 1)),
    }
}

/// The topics known to exist, with their partition counts; a record's topic is checked (and
/// created when the sink may) the first time it is seen.
struct KnownTopics {
    known: HashMap<String, i32>,
    /// The topic of the last record sent, and its partition count.
    last: String,
    last_partitions: i32,
}

impl KnownTopics {
    /// Makes sure `topic` exists and returns its partition count. A topic prepared here (a
    /// table that appeared later, the DDL topic, a topic of an earlier run) is created with the
    /// count `routing` gives it, joins the checkpoint's list of the task's topics, and has its
    /// partition count recorded there, or checked against the recorded one.
    async fn ensure<S: Sink>(
        &mut self,
        sink: &mut S,
        topic: &str,
        cp: &mut Checkpoint,
        routing: Option<&Routing>,
    ) -> Result<(i32, bool), SinkError> {
        // Consecutive records usually share a topic: compare before hashing.
        if topic == self.last {
            return Ok((self.last_partitions, false));
        }
        let (partitions, fresh) = match self.known.get(topic) {
            Some(n) => (*n, false),
            None => (self.prepare(sink, topic, cp, routing).await?, true),
        };
        self.last.clear();
        self.last.push_str(topic);
        self.last_partitions = partitions;
        Ok((partitions, fresh))
    }

    async fn prepare<S: Sink>(
        &mut self,
        sink: &mut S,
        topic: &str,
        cp: &mut Checkpoint,
        routing: Option<&Routing>,
    ) -> Result<i32, SinkError> {
        let plan = TopicPlan {
            name: topic.to_owned(),
            partitions: routing.and_then(|r| r.partitions_of(topic)),
        };
        sink.prepare_topics(std::slice::from_ref(&plan)).await?;
        let t = plan.name;
        let one = std::slice::from_ref(&t);
        let n = sink
            .partition_counts(one)
            .await?
            .get(&t)
            .copied()
            .unwrap_or(1);
        let fixed = routing.and_then(Routing::policy) == Some(PartitionPolicy::PartitionZero);
        check_partitions(&mut cp.topic_partitions, &t, n, fixed)?;
        if !cp.topics.contains(&t) {
            cp.topics.push(t.clone());
        }
        self.known.insert(t, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Lsn;

    #[test]
    fn transactions_are_named_as_their_source_names_them() {
        let tx = TxMeta {
            xid: (2 << 48) | (3 << 32) | 4,
            commit_time_us: 0,
            commit_lsn: Lsn(0x1_0000_0010),
        };
        assert_eq!(commit_point(false, &tx), "1/10");
        assert_eq!(commit_point(true, &tx), "4294967312");
        assert_eq!(tx_header(true, tx.xid).as_str(), "2.3.4");
        assert_eq!(tx_header(false, 42).as_str(), "42");
    }
}
