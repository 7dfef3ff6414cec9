//! The change stream: pgoutput messages turned into ordered change events.
//!
//! Tracks the open transaction (its commit LSN from Begin, the index of each event in it), keeps
//! a relation cache that follows ALTER TABLE (a new Relation message replaces the entry and is
//! reported as a schema change), fills unchanged TOAST values from the old image under REPLICA
//! IDENTITY FULL, and skips events at or before the checkpointed position (the server re-sends
//! a transaction whose first events were already acknowledged, so the prefix is skipped by
//! index).
//!
//! Large transactions arrive streamed (protocol 2, `streaming 'on'`): their blocks are held
//! in a spool per transaction (`super::spool`), in memory and then on disk, until the Stream
//! Commit replays them as one ordinary transaction (Begin, changes, Commit with its end LSN as
//! the resume point), a batch of `REPLAY_MESSAGES` at a time; a Stream Abort drops the spool
//! or cuts it at the rolled-back subtransaction. While any streamed transaction is open, no
//! `Idle` position is reported: only commits move the confirmed position.
//!
//! Keys: under REPLICA IDENTITY DEFAULT or USING INDEX the key columns are those the Relation
//! message flags, i.e. the identity in force when the change was written (not today's
//! catalog). Under FULL every column is flagged, so the key is the table's primary key as the
//! catalog has it when the Relation message arrives (Debezium does the same), or none.

mod capture;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_postgres::Client;

use super::catalog::{self, TypeCache};
use super::chunk::filter::{ChunkFilter, ChunkFilters, Verdict};
use super::chunk::visibility::{DecodedXids, DECODED_XIDS};
use super::error::PgSourceError;
use super::frame::{parse_frame, ReplicationFrame};
use super::pgoutput::{self, OldImage, PgOutputMessage, RelationBody};
use super::replication::ReplicationStream;
use super::spool::{Replay, Spool};
use crate::config::TableSelection;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::metrics::{ShardLabels, DDL_UNCAPTURED};
use crate::position::{Lsn, Position, ResumeToken, StreamPosition};
use crate::schema::{Column, ReplicaIdentity, TableSchema};
use crate::source::{SchemaChange, SourceBatch, SourceItem};

/// The transaction being received. Its Begin is passed on only once it has something to
/// say (a change or a schema change): a transaction with none (a heartbeat, skipped DDL)
/// ends as an `Idle` token instead of an empty Begin/Commit pair.
#[derive(Debug, Clone)]
struct OpenTx {
    meta: TxMeta,
    next_index: u32,
    begun: bool,
    /// Captured DDL to migrate at the commit, if the transaction changes no rows.
    ddl: Vec<SchemaChange>,
}

/// Messages of a committed streamed transaction replayed per `next_batch` call: its events
/// reach the pipeline in batches, never all at once.
pub const REPLAY_MESSAGES: usize = 2_048;

/// A committed streamed transaction being replayed.
struct Replaying {
    replay: Replay,
    xid: u32,
    /// The Commit it ends with (the Stream Commit's LSNs and time).
    commit: PgOutputMessage,
}

/// Why `next_batch` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStop {
    /// The frames at hand were used up; call again.
    More,
    /// The stream reached the `stop_at` LSN: every transaction committed before it has been
    /// returned, and nothing after it.
    Reached,
}

pub struct PgStream {
    repl: ReplicationStream,
    catalog: Client,
    types: TypeCache,
    relations: HashMap<u32, Arc<TableSchema>>,
    /// Tables selected at the start (checked then) and tables already warned about having no
    /// key: no warning for them.
    no_key_warning: HashSet<u32>,
    /// The task, for log lines.
    task: String,
    pending: VecDeque<ReplicationFrame>,
    tx: Option<OpenTx>,
    last_commit_lsn: Option<Lsn>,
    skip_through: Option<StreamPosition>,
    stop_at: Option<Lsn>,
    /// The latest WAL position the server reported.
    pub server_lsn: Lsn,
    capture: Option<Capture>,
    /// Streamed transactions not yet committed or aborted, by top-level xid.
    streams: HashMap<u32, Spool>,
    /// The top-level xid of the stream block being received.
    in_stream: Option<u32>,
    replaying: Option<Replaying>,
    spool_dir: PathBuf,
    /// Transactions whose changes were passed on (or are being), for the chunked
    /// snapshot's guard (`super::chunk`); kept only while a chunked snapshot runs.
    decoded: Option<DecodedXids>,
    /// The chunked snapshot's filters in force.
    chunks: ChunkFilters,
    /// Tables whose chunked read a TRUNCATE its chunks' snapshots saw made void.
    truncated: Vec<u32>,
}

/// What the stream needs to judge captured DDL (`super::ddl`).
pub struct Capture {
    pub selection: TableSelection,
    pub shard: u32,
    /// Tables whose DDL was captured since their last Relation message: a column change
    /// without one was not captured.
    captured: HashSet<u32>,
    /// Tables described by a Relation message in this stream (the others' description is
    /// today's catalog, which a replayed older Relation differs from without any DDL missed).
    described: HashSet<u32>,
    uncaptured: metrics::Counter,
    /// The logical message prefixes the stream reads, made once: the heartbeat's, the
    /// captured DDL's and this shard's identity records'.
    prefixes: [String; 3],
}

impl Capture {
    pub fn new(selection: TableSelection, task: &str, shard: u32) -> Capture {
        use crate::source::postgres::{ddl, health, join};
        Capture {
            selection,
            shard,
            captured: HashSet::new(),
            described: HashSet::new(),
            uncaptured: ShardLabels::new(task, shard).counter(DDL_UNCAPTURED),
            prefixes: [
                health::heartbeat_prefix(task),
                ddl::prefix(task),
                join::prefix(task, shard),
            ],
        }
    }
}

impl PgStream {
    pub fn new(
        repl: ReplicationStream,
        catalog: Client,
        types: TypeCache,
        skip_through: Option<StreamPosition>,
        task: &str,
    ) -> PgStream {
        PgStream {
            repl,
            catalog,
            types,
            relations: HashMap::new(),
            no_key_warning: HashSet::new(),
            task: task.to_owned(),
            pending: VecDeque::new(),
            tx: None,
            last_commit_lsn: None,
            skip_through,
            stop_at: None,
            server_lsn: Lsn::ZERO,
            capture: None,
            streams: HashMap::new(),
            in_stream: None,
            replaying: None,
            spool_dir: std::env::temp_dir().join("tributary-stream"),
            decoded: None,
            chunks: ChunkFilters::default(),
            truncated: Vec::new(),
        }
    }

    /// Outside any transaction: nothing of one is half sent, and the next batch starts with
    /// a whole transaction.
    pub fn at_boundary(&self) -> bool {
        self.tx.is_none() && self.replaying.is_none()
    }

    /// Frames received and not yet decoded (or a committed streamed transaction to replay).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.replaying.is_some()
    }

    /// Takes the frames already received, without waiting.
    pub fn poll_frames(&mut self) -> Result<(), PgSourceError> {
        while let Some(frames) = self.repl.try_next_batch() {
            self.queue_frames(frames?)?;
        }
        Ok(())
    }

    /// Waits for frames, unless some are at hand. Cancel-safe: nothing is lost if the wait is
    /// abandoned.
    pub async fn wait_frames(&mut self) -> Result<(), PgSourceError> {
        if self.has_pending() {
            return Ok(());
        }
        match self.repl.next_batch().await {
            Some(frames) => self.queue_frames(frames?),
            None => Err(stream_ended()),
        }
    }

    fn queue_frames(&mut self, frames: Vec<bytes::Bytes>) -> Result<(), PgSourceError> {
        for f in frames {
            let frame = parse_frame(f).map_err(|e| PgSourceError::Decode {
                lsn: self.server_lsn,
                reason: e.to_string(),
            })?;
            self.pending.push_back(frame);
        }
        Ok(())
    }

    /// Remembers the transactions it passes on from now (`true`, while a chunked snapshot
    /// runs), or forgets them: outside a chunked snapshot no transaction pays for it.
    pub fn track_decoded(&mut self, on: bool) {
        match (on, self.decoded.is_some()) {
            (true, false) => self.decoded = Some(DecodedXids::new(DECODED_XIDS)),
            (false, true) => self.decoded = None,
            _ => {}
        }
    }

    /// The transactions whose changes the stream passed on since `track_decoded(true)`.
    pub fn decoded(&self) -> Option<&DecodedXids> {
        self.decoded.as_ref()
    }

    /// Puts a chunk's filter in force for the changes that follow.
    pub fn install_chunk(&mut self, filter: ChunkFilter) {
        self.chunks.install(filter);
    }

    /// Tables to read again from their first row (see `truncated`).
    pub fn take_truncated(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.truncated)
    }

    /// Spills streamed transactions under `dir` (default: the temporary directory).
    pub fn with_spool_dir(mut self, dir: PathBuf) -> PgStream {
        self.spool_dir = dir;
        self
    }

    /// Reads the task's captured DDL and heartbeats (logical messages) from the stream.
    pub fn with_capture(mut self, capture: Capture) -> PgStream {
        self.capture = Some(capture);
        self
    }

    /// The selection the captured DDL is judged by grew (`super::adopt`).
    pub fn set_selection(&mut self, selection: TableSelection) {
        if let Some(c) = self.capture.as_mut() {
            c.selection = selection;
        }
    }

    /// Makes `next_batch` return `Reached` once the stream gets to `lsn` (a re-read's snapshot).
    pub fn stop_at(&mut self, lsn: Option<Lsn>) {
        self.stop_at = lsn;
    }

    /// Decodes the next frames into `out`.
    pub async fn next_batch(&mut self, out: &mut SourceBatch) -> Result<StreamStop, PgSourceError> {
        if self.replaying.is_some() {
            self.replay(out).await?;
            if self.replaying.is_some() {
                return Ok(StreamStop::More);
            }
        }
        if self.pending.is_empty() {
            self.wait_frames().await?;
        }
        while let Some(frame) = self.pending.front() {
            if self.reached(frame) {
                self.stop_at = None;
                return Ok(StreamStop::Reached);
            }
            let Some(frame) = self.pending.pop_front() else {
                break;
            };
            self.frame(frame, out).await?;
            if self.replaying.is_some() {
                // The rest of the frames wait until the committed stream is replayed.
                return Ok(StreamStop::More);
            }
        }
        Ok(StreamStop::More)
    }

    /// Replays up to `REPLAY_MESSAGES` of the committed streamed transaction, then its Commit.
    async fn replay(&mut self, out: &mut SourceBatch) -> Result<(), PgSourceError> {
        let Some(mut r) = self.replaying.take() else {
            return Ok(());
        };
        for _ in 0..REPLAY_MESSAGES {
            let next = r.replay.next_message().map_err(|e| self.spill(r.xid, &e))?;
            let Some((lsn, payload)) = next else {
                return self.message(r.commit, self.server_lsn, out).await;
            };
            let msg = pgoutput::decode(&payload, true).map_err(|e| PgSourceError::Decode {
                lsn,
                reason: format!("streamed transaction {}: {e}", r.xid),
            })?;
            self.message(msg, lsn, out).await?;
        }
        self.replaying = Some(r);
        Ok(())
    }

    fn spill(&self, xid: u32, e: &std::io::Error) -> PgSourceError {
        spill_error(&self.spool_dir, xid, e)
    }

    /// A message inside a stream block: appended to its transaction's spool; Stream Stop ends
    /// the block.
    fn spool_message(&mut self, top: u32, lsn: Lsn, payload: &[u8]) -> Result<(), PgSourceError> {
        if payload.first() == Some(&b'E') {
            self.in_stream = None;
            return Ok(());
        }
        // Data messages carry their (sub)transaction's xid after the tag.
        let subxid = match payload {
            [b'R' | b'Y' | b'I' | b'U' | b'D' | b'T' | b'M', a, b, c, d, ..] => {
                Some(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            _ => None,
        };
        let dir = &self.spool_dir;
        let spool = self
            .streams
            .entry(top)
            .or_insert_with(|| Spool::new(top, dir));
        spool
            .append(subxid, lsn, payload)
            .map_err(|e| spill_error(dir, top, &e))
    }

    /// Stream Start, Stream Abort and Stream Commit (outside any stream block).
    fn stream_control(&mut self, msg: PgOutputMessage) -> Result<(), PgSourceError> {
        match msg {
            PgOutputMessage::StreamStart { xid, first_segment } => {
                if first_segment {
                    self.streams.insert(xid, Spool::new(xid, &self.spool_dir));
                }
                self.in_stream = Some(xid);
            }
            PgOutputMessage::StreamAbort { xid, subxid } if xid == subxid => {
                self.streams.remove(&xid);
            }
            PgOutputMessage::StreamAbort { xid, subxid } => {
                if let Some(spool) = self.streams.get_mut(&xid) {
                    spool
                        .abort_subtransaction(subxid)
                        .map_err(|e| spill_error(&self.spool_dir, xid, &e))?;
                }
            }
            PgOutputMessage::StreamCommit {
                xid,
                flags,
                commit_lsn,
                end_lsn,
                commit_time_us,
            } => {
                if self.tx.is_some() {
                    return Err(self.protocol("Stream Commit inside a transaction"));
                }
                let spool = self
                    .streams
                    .remove(&xid)
                    .unwrap_or_else(|| Spool::new(xid, &self.spool_dir));
                let replay = spool.replay().map_err(|e| self.spill(xid, &e))?;
                if let Some(d) = self.decoded.as_mut() {
                    d.insert(xid);
                }
                self.chunks.advance(commit_lsn);
                self.tx = Some(OpenTx {
                    meta: TxMeta {
                        xid: u64::from(xid),
                        commit_time_us,
                        commit_lsn,
                    },
                    next_index: 0,
                    begun: false,
                    ddl: Vec::new(),
                });
                self.replaying = Some(Replaying {
                    replay,
                    xid,
                    commit: PgOutputMessage::Commit {
                        flags,
                        commit_lsn,
                        end_lsn,
                        commit_time_us,
                    },
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `frame` is at or past `stop_at`, outside any transaction and stream block: a
    /// keepalive past it, or the Begin or Stream Commit of a transaction committing at or
    /// after it.
    fn reached(&self, frame: &ReplicationFrame) -> bool {
        let (Some(stop), None, None) = (self.stop_at, self.tx.as_ref(), self.in_stream) else {
            return false;
        };
        let lsn_at = |payload: &[u8], at: usize| {
            payload
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(|b| Lsn(u64::from_be_bytes(b)))
        };
        match frame {
            ReplicationFrame::Keepalive { wal_end, .. } => *wal_end >= stop,
            ReplicationFrame::XLogData { payload, .. } => match payload.first() {
                // Begin: final LSN after the tag; Stream Commit: commit LSN after xid and flags.
                Some(b'B') => lsn_at(payload, 1).is_some_and(|l| l >= stop),
                Some(b'c') => lsn_at(payload, 6).is_some_and(|l| l >= stop),
                _ => false,
            },
        }
    }

    async fn frame(
        &mut self,
        frame: ReplicationFrame,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        match frame {
            ReplicationFrame::Keepalive { wal_end, .. } => {
                self.server_lsn = self.server_lsn.max(wal_end);
                if self.at_boundary() && self.in_stream.is_none() {
                    // Whatever commits from here on was not seen by any chunk read so far.
                    self.chunks.advance(wal_end);
                }
                if self.tx.is_none() && self.streams.is_empty() && self.in_stream.is_none() {
                    out.push(SourceItem::Idle {
                        resume: ResumeToken::Pg {
                            confirmed_lsn: wal_end,
                        },
                    });
                }
                Ok(())
            }
            ReplicationFrame::XLogData {
                wal_start, payload, ..
            } => {
                self.server_lsn = self.server_lsn.max(wal_start);
                if let Some(top) = self.in_stream {
                    return self.spool_message(top, wal_start, &payload);
                }
                let msg = pgoutput::decode(&payload, false).map_err(|e| PgSourceError::Decode {
                    lsn: wal_start,
                    reason: e.to_string(),
                })?;
                match msg {
                    PgOutputMessage::StreamStart { .. }
                    | PgOutputMessage::StreamAbort { .. }
                    | PgOutputMessage::StreamCommit { .. } => self.stream_control(msg),
                    msg => self.message(msg, wal_start, out).await,
                }
            }
        }
    }

    async fn message(
        &mut self,
        msg: PgOutputMessage,
        lsn: Lsn,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        match msg {
            PgOutputMessage::Begin {
                final_lsn,
                commit_time_us,
                xid,
            } => {
                let meta = TxMeta {
                    xid: u64::from(xid),
                    commit_time_us,
                    commit_lsn: final_lsn,
                };
                tracing::trace!(xid, %final_lsn, "begin");
                if let Some(d) = self.decoded.as_mut() {
                    d.insert(xid);
                }
                self.chunks.advance(final_lsn);
                self.tx = Some(OpenTx {
                    meta,
                    next_index: 0,
                    begun: false,
                    ddl: Vec::new(),
                });
            }
            PgOutputMessage::Commit { end_lsn, .. } => {
                let tx = self
                    .tx
                    .take()
                    .ok_or_else(|| self.protocol("Commit outside a transaction"))?;
                self.last_commit_lsn = Some(tx.meta.commit_lsn);
                let resume = ResumeToken::Pg {
                    confirmed_lsn: end_lsn,
                };
                self.commit_ddl(&tx, out);
                if !tx.begun {
                    out.push(SourceItem::Idle { resume });
                    return Ok(());
                }
                let index = tx.next_index.saturating_sub(1);
                let last = StreamPosition::pg(tx.meta.commit_lsn, index);
                out.push(SourceItem::Commit {
                    tx: tx.meta,
                    last,
                    events: tx.next_index,
                    resume,
                });
            }
            PgOutputMessage::Message {
                transactional: true,
                prefix,
                content,
                ..
            } => self.logical_message(&prefix, &content, lsn, out),
            PgOutputMessage::Relation(body) => self.relation(body, out).await?,
            PgOutputMessage::Insert { rel, new, .. } => {
                self.change(rel, Op::Insert, None, Some(new), lsn, out)?
            }
            PgOutputMessage::Update { rel, old, new, .. } => {
                let mut new = new;
                let before = old.map(|o: OldImage| {
                    if o.is_full() {
                        new.fill_unchanged_from(&o.row);
                    }
                    o.row
                });
                self.change(rel, Op::Update, before, Some(new), lsn, out)?
            }
            PgOutputMessage::Delete { rel, old, .. } => {
                self.change(rel, Op::Delete, Some(old.row), None, lsn, out)?
            }
            PgOutputMessage::Truncate { rels, .. } => {
                for rel in rels {
                    self.change(rel, Op::Truncate, None, None, lsn, out)?;
                }
            }
            // Types are resolved by OID from the catalog; origins and other logical messages
            // are not migrated.
            _ => {}
        }
        Ok(())
    }

    fn change(
        &mut self,
        rel: u32,
        op: Op,
        before: Option<Row>,
        after: Option<Row>,
        lsn: Lsn,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        let table = self
            .relations
            .get(&rel)
            .cloned()
            .ok_or_else(|| self.protocol("change for a relation never described"))?;
        let tx = self.tx.as_mut().ok_or_else(|| PgSourceError::Protocol {
            context: "streaming changes".into(),
            what: "change outside a transaction".into(),
        })?;
        let position = StreamPosition::pg(tx.meta.commit_lsn, tx.next_index);
        tx.next_index += 1;
        let xid = tx.meta.xid as u32;
        let (op, before, after) = if self.chunks.is_empty() {
            (op, before, after)
        } else if op == Op::Truncate {
            if self.chunks.seen_by_a_chunk(rel, xid) {
                self.chunks.forget_table(rel);
                self.truncated.push(rel);
            }
            (op, before, after)
        } else {
            match self
                .chunks
                .judge(rel, xid, op, before.as_ref(), after.as_ref())
            {
                Verdict::Pass => (op, before, after),
                // The chunk's row already holds this change.
                Verdict::Drop => return Ok(()),
                Verdict::OnlyDeleteOld => (Op::Delete, before, None),
                Verdict::OnlyInsertNew => (Op::Insert, None, after),
            }
        };
        begin(tx, out);
        if self.skip_through.is_some_and(|s| position <= s) {
            return Ok(());
        }
        for row in before.iter().chain(after.iter()) {
            check_cells(&table, row, position)?;
        }
        out.push(SourceItem::Event(ChangeEvent {
            position: Position::Stream(position),
            op,
            table,
            tx: tx.meta,
            lsn,
            last_commit_lsn: self.last_commit_lsn,
            snapshot: SnapshotMark::None,
            before,
            after,
        }));
        Ok(())
    }

    /// Replaces the relation's entry (ALTER TABLE sends a new Relation message) and reports a
    /// changed or new description as a schema change. Keys: see the module documentation.
    async fn relation(
        &mut self,
        body: RelationBody,
        out: &mut SourceBatch,
    ) -> Result<(), PgSourceError> {
        let full = body.replica_identity == b'f';
        let (catalog_cols, has_pk) = catalog::table_columns(
            &self.catalog,
            body.oid,
            body.replica_identity,
            &mut self.types,
        )
        .await?;
        let mut columns = Vec::with_capacity(body.columns.len());
        for c in &body.columns {
            let ty = self.types.resolve(&self.catalog, c.type_oid).await?;
            let cat = catalog_cols.iter().find(|k| k.name == c.name);
            let is_key = if full {
                has_pk && cat.is_some_and(|k| k.is_key)
            } else {
                c.is_key
            };
            let nullable = cat.is_none_or(|k| k.nullable) && !is_key;
            columns.push(Column {
                name: c.name.clone(),
                ty,
                typmod: c.typmod,
                is_key,
                nullable,
            });
        }
        let schema = TableSchema {
            oid: body.oid,
            schema: body.namespace,
            name: body.name,
            columns,
            replica_identity: ReplicaIdentity::from_code(body.replica_identity),
        };
        crate::value::check_table_decodable(&schema)?;
        self.warn_if_keyless(&schema);
        let previous = self.relations.get(&body.oid).cloned();
        self.check_captured(previous.as_deref(), &schema);
        if previous.as_deref() == Some(&schema) {
            return Ok(());
        }
        let table = Arc::new(schema);
        self.relations.insert(body.oid, table.clone());
        let at = self.tx.as_mut().map(|tx| {
            begin(tx, out);
            StreamPosition::pg(tx.meta.commit_lsn, tx.next_index)
        });
        out.push(SourceItem::SchemaChange(SchemaChange {
            table,
            previous,
            at,
            ddl: None,
        }));
        Ok(())
    }

    /// A table with neither key nor REPLICA IDENTITY FULL that was not selected at the start
    /// (one created later under a `schema.*` selection): PostgreSQL refuses the application's
    /// UPDATE and DELETE on it while it is published. Said once per table, as soon as its
    /// first change arrives. (Tables selected at the start passed the preflight's key check.)
    fn warn_if_keyless(&mut self, t: &TableSchema) {
        if t.has_key() || t.replica_identity == ReplicaIdentity::Full {
            return;
        }
        if self.no_key_warning.insert(t.oid) {
            tracing::warn!(
                task = %self.task,
                table = %t.qualified_name(),
                "table has no primary key and no REPLICA IDENTITY FULL: while it is published, PostgreSQL refuses UPDATE and DELETE on it; add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL"
            );
        }
    }

    /// Seeds the relation cache with the snapshot's schemas, so the same `Arc` is reused and
    /// the formats' per-table caches stay warm.
    pub fn seed_relations(&mut self, tables: impl IntoIterator<Item = Arc<TableSchema>>) {
        for t in tables {
            self.no_key_warning.insert(t.oid);
            // A table's Relation message, if one came, describes it as the stream knows it.
            self.relations.entry(t.oid).or_insert(t);
        }
    }

    fn protocol(&self, what: &str) -> PgSourceError {
        PgSourceError::Protocol {
            context: format!("streaming changes at {}", self.server_lsn),
            what: what.to_owned(),
        }
    }
}

fn stream_ended() -> PgSourceError {
    PgSourceError::Connection {
        context: "streaming changes".into(),
        reason: "stream ended".into(),
    }
}

/// A spool's I/O error, naming the transaction and the directory.
fn spill_error(dir: &std::path::Path, xid: u32, e: &std::io::Error) -> PgSourceError {
    PgSourceError::Spill {
        xid,
        dir: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Passes the transaction's Begin on, once.
fn begin(tx: &mut OpenTx, out: &mut SourceBatch) {
    if !tx.begun {
        tx.begun = true;
        out.push(SourceItem::Begin(tx.meta));
    }
}

/// A row must carry a cell for every column of its table: a missing one is an error naming
/// table, column and position, never a NULL.
fn check_cells(
    table: &TableSchema,
    row: &Row,
    position: StreamPosition,
) -> Result<(), PgSourceError> {
    if row.cells.len() == table.columns.len() {
        return Ok(());
    }
    let column = table
        .columns
        .get(row.cells.len())
        .map(|c| c.name.clone())
        .unwrap_or_else(|| "(beyond the last column)".into());
    Err(PgSourceError::MissingCell {
        table: table.qualified_name(),
        column,
        position: position.to_string(),
        cells: row.cells.len(),
        columns: table.columns.len(),
    })
}
