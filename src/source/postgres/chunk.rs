//! Chunked snapshots beside the stream (DESIGN-NOTES §1, the inline form of §1.4): a table
//! with a key is read in key ranges while its changes stream, each range in its own short
//! read-only transaction, so no snapshot stays open for the length of a table, a cut table
//! resumes from its last durable chunk, and nothing is written to the source.
//!
//! ```text
//!  stream at a transaction boundary ─► chunk group:
//!     conn 0: BEGIN RR; pg_current_snapshot() S, WAL insert position HW, export
//!             guard: no xid running in S was already passed on by the stream (§1.3)
//!             definition unchanged under S; the next N boundaries under S
//!     conn i: import S; COPY (keys in (b_i-1, b_i]) ──► rows (op r) ──► pipeline
//!  ─► filter installed in the stream until it passes HW: a change whose transaction S saw,
//!     to a key the group read, is not sent again; every other change is newer and goes on
//! ```
//!
//! The stream is not read while a group is read (its socket is: status updates go on), so
//! every change the stream passed on before the group is older than the group's rows or is
//! caught by the guard, and every change after it is judged by the filter: no gap, no stale
//! row after a newer change, and each key's messages in time order. The group's rows, then
//! `ChunkDone` (the last key read, in the checkpoint), travel through the same ordered
//! channel as the stream, so a chunk counts as done only once all its rows are durable.
//!
//! DDL on a table during its chunked read: a group whose snapshot shows other columns than
//! the definition the task read ends the attempt with a transient error naming the table; the
//! retry reads the definition again and continues from the last durable chunk under it.

pub mod filter;
pub mod keys;
pub mod lane;
mod sql;
mod takeover;
pub mod visibility;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_postgres::Client;

use self::filter::{encode_key, ChunkFilter};
use self::keys::{KeyList, KeySet};
use self::lane::{GroupMeta, Lanes};
use self::takeover::Repair;
use self::visibility::XidSnapshot;
use super::conn::PgConnectConfig;
use super::copy_binary::CopyBinaryParser;
use super::definition::{self, Fingerprints};
use super::error::PgSourceError;
use super::snapshot::{self, SnapshotTable, BATCH_ROWS};
use super::stream::PgStream;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::metrics::{
    ShardLabels, SNAPSHOT_CHUNKS, SNAPSHOT_CHUNK_RETRIES, SNAPSHOT_LANE_FAILURES,
};
use crate::position::{LogPoint, Lsn, Position};
use crate::source::{SourceBatch, SourceItem, SourceSender};

/// The longest a run's first chunk group waits for the stream to catch up (`catch_up`).
const CATCH_UP_MAX: Duration = Duration::from_secs(30);
/// A catching-up round this short leaves so few writes behind that the first group goes.
const CATCH_UP_NEAR: Duration = Duration::from_millis(200);

/// Rows per chunk unless `source.snapshot_chunk_rows` says otherwise.
pub const DEFAULT_CHUNK_ROWS: usize = 8_192;

/// Where the stream stands in a run's catching up before its first group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Behind the position to pass: the stream goes on.
    Waiting,
    /// Passed it after this long: another round, to the server's position now.
    Passed(Duration),
    /// Near enough, or out of time: groups may be read.
    Done,
}

/// A table to read in chunks, and how far it got.
#[derive(Debug, Clone)]
pub struct ChunkedTable {
    pub read: SnapshotTable,
    /// The last key read (a row-constructor literal); `None` before the first chunk.
    pub after: Option<String>,
    /// Rows read so far.
    pub rows: u64,
}

/// A table being read: its key order and text-only columns, found at its first chunk.
struct Reading {
    table: ChunkedTable,
    key: Vec<usize>,
    text_only: Vec<bool>,
    estimated_rows: u64,
}

/// The chunked part of a shard's snapshot.
pub struct ChunkedSnapshot {
    cfg: PgConnectConfig,
    connections: usize,
    chunk_rows: usize,
    clients: Vec<Client>,
    tables: VecDeque<ChunkedTable>,
    /// Every table of this snapshot, to read one again from its first row.
    known: Vec<SnapshotTable>,
    current: Option<Reading>,
    fingerprints: Fingerprints,
    /// The table whose first row is the snapshot's `first` (Debezium's marks), if unread.
    first_table: Option<u32>,
    /// Another part of the snapshot follows (a re-read): no row here is the `last`.
    more_after: bool,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// The server's WAL position the stream is to pass before the first group, and since
    /// when (`catch_up`).
    catch_up: Option<(Lsn, Instant)>,
    retries: metrics::Counter,
    groups: metrics::Counter,
    lane_failures: metrics::Counter,
    task: String,
    /// Other workers that read ranges of each group (`lane`).
    lanes: Option<Lanes>,
    /// The snapshot's connections were opened once in this run.
    started: bool,
    /// The end of this run's catching up, however many rounds it takes.
    deadline: Option<Instant>,
    /// Groups read so far (`Checkpoint::chunk_groups`); the next is numbered one higher.
    groups_done: u64,
    /// The group being read, as a lane's request describes it.
    meta: GroupMeta,
    /// A group lanes committed ranges of (exactly-once, `recover`), to read again.
    repair: Option<Repair>,
    /// Ranges of the group being read that lanes committed already: their row counts.
    skip: HashMap<u64, u64>,
}

/// What a group read found about the stream.
enum Guard {
    Clear,
    /// `xid` ran in the group's snapshot but the stream already passed it on.
    Passed(u32),
    /// `xid` waits for synchronous replication (committed in WAL, not yet visible).
    SyncRep(u32),
}

/// The shortest and longest wait before a group the guard refused is read again.
const RETRY_FIRST: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_secs(1);

impl ChunkedSnapshot {
    pub fn new(
        cfg: PgConnectConfig,
        connections: usize,
        chunk_rows: usize,
        tables: Vec<ChunkedTable>,
        fingerprints: Fingerprints,
        task: &str,
        shard: u32,
    ) -> ChunkedSnapshot {
        let labels = ShardLabels::new(task, shard);
        let first_table = tables
            .first()
            .filter(|t| t.after.is_none())
            .map(|t| t.read.schema.oid);
        ChunkedSnapshot {
            cfg,
            connections: connections.max(1),
            chunk_rows: chunk_rows.max(1),
            clients: Vec::new(),
            known: tables.iter().map(|t| t.read.clone()).collect(),
            tables: tables.into(),
            current: None,
            fingerprints,
            first_table,
            more_after: false,
            backoff: RETRY_FIRST,
            retry_at: None,
            catch_up: None,
            retries: labels.counter(SNAPSHOT_CHUNK_RETRIES),
            groups: labels.counter(SNAPSHOT_CHUNKS),
            lane_failures: labels.counter(SNAPSHOT_LANE_FAILURES),
            task: task.to_owned(),
            lanes: None,
            started: false,
            deadline: None,
            groups_done: 0,
            meta: GroupMeta::default(),
            repair: None,
            skip: HashMap::new(),
        }
    }

    /// The groups the checkpoint holds as read (`Checkpoint::chunk_groups`).
    pub fn groups_done(mut self, n: u64) -> ChunkedSnapshot {
        self.groups_done = n;
        self
    }

    /// Spreads each group's ranges over other workers too (`lane`).
    pub fn with_lanes(mut self, lanes: Option<Lanes>) -> ChunkedSnapshot {
        self.lanes = lanes;
        self
    }

    /// The snapshot's first table in the task's order: its first row is the `first` (a table
    /// read whole before the chunks may be it).
    pub fn first_of_all(mut self, oid: Option<u32>) -> ChunkedSnapshot {
        self.first_table = self.first_table.filter(|f| Some(*f) == oid);
        self
    }

    /// Another part of the snapshot is read after this one.
    pub fn followed(mut self, more: bool) -> ChunkedSnapshot {
        self.more_after = more;
        self
    }

    /// Tables added to the running task (`super::adopt`): read after those queued, with the
    /// definitions the task read for them.
    /// Queues tables to read from their first row: added to the task, or read again (a table
    /// being read or queued starts over; the new definitions replace the old).
    pub fn add(&mut self, tables: Vec<ChunkedTable>, fingerprints: Fingerprints) {
        self.fingerprints.extend(fingerprints);
        for t in tables {
            let oid = t.read.schema.oid;
            if self
                .current
                .as_ref()
                .is_some_and(|r| r.table.read.schema.oid == oid)
            {
                self.current = None;
            }
            self.tables.retain(|q| q.read.schema.oid != oid);
            self.known.retain(|k| k.schema.oid != oid);
            self.known.push(t.read.clone());
            self.tables.push_back(t);
        }
    }

    pub fn is_finished(&self) -> bool {
        self.current.is_none() && self.tables.is_empty()
    }

    /// Where the stream stands against the server's WAL position of this run's start. A run
    /// that starts far behind (a resume, a shard moved to another worker) reads no group until
    /// its stream has passed it: a group's filter drops the changes between the stream's
    /// position and the group's snapshot, which the group's rows supersede; behind by seconds
    /// of writes, those would be many changes of keys consumers already saw, which they would
    /// see jump. A round that took longer than `CATCH_UP_NEAR` left new writes behind: the
    /// server's position then is the next to pass. All rounds end by `CATCH_UP_MAX` after the
    /// start. Keepalives (every status update asks for one) move the stream's position while
    /// it has nothing to send.
    pub fn catch_up(&mut self, stream_at: Lsn) -> CatchUp {
        let Some((target, since)) = self.catch_up else {
            return CatchUp::Done;
        };
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            self.catch_up = None;
            return CatchUp::Done;
        }
        if stream_at < target {
            return CatchUp::Waiting;
        }
        self.catch_up = None;
        let took = now - since;
        if took <= CATCH_UP_NEAR {
            return CatchUp::Done;
        }
        CatchUp::Passed(took)
    }

    /// When to stop waiting for the stream to catch up.
    pub fn catch_up_until(&self) -> Instant {
        self.deadline.unwrap_or_else(Instant::now)
    }

    /// Another round of catching up, to the server's WAL position now.
    pub async fn catch_up_again(&mut self) -> Result<(), PgSourceError> {
        let now = Instant::now();
        self.catch_up = self.server_wal().await?.map(|lsn| (lsn, now));
        Ok(())
    }

    async fn server_wal(&self) -> Result<Option<Lsn>, PgSourceError> {
        let row = self.clients[0]
            .query_one(
                "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                 ELSE pg_current_wal_flush_lsn() END::text",
                &[],
            )
            .await
            .map_err(|e| PgSourceError::sql("reading the server's WAL position", e))?;
        let at: Option<String> = row.get(0);
        Ok(at.and_then(|t| t.parse().ok()))
    }

    /// Whether the next group may be read now (not waiting to retry one the guard refused).
    pub fn ready(&self) -> bool {
        self.retry_at.is_none_or(|t| Instant::now() >= t)
    }

    /// When the group the guard refused is read again.
    pub fn retry_at(&self) -> Instant {
        self.retry_at.unwrap_or_else(Instant::now)
    }

    /// Reads table `oid` again from its first row (a TRUNCATE its chunks' snapshots saw:
    /// the rows of its earlier chunks may predate it, those of later ones follow it).
    pub async fn restart(&mut self, oid: u32, out: &SourceSender) -> Result<(), PgSourceError> {
        let Some(r) = self
            .current
            .as_mut()
            .filter(|r| r.table.read.schema.oid == oid)
        else {
            self.requeue(oid);
            return Ok(());
        };
        tracing::info!(task = %self.task, table = %r.table.read.schema.qualified_name(), "TRUNCATE during the chunked read: reading the table again from its first row");
        r.table.after = None;
        r.table.rows = 0;
        let started = SourceItem::TableStarted {
            table: r.table.read.schema.qualified_name(),
            estimated_rows: r.estimated_rows,
        };
        send(out, vec![started]).await
    }

    /// Queues a table already read (or not started) to be read from its first row.
    fn requeue(&mut self, oid: u32) {
        if self.tables.iter().any(|t| t.read.schema.oid == oid) {
            return;
        }
        let Some(read) = self.known.iter().find(|t| t.schema.oid == oid) else {
            return;
        };
        tracing::info!(task = %self.task, table = %read.schema.qualified_name(), "TRUNCATE seen by a chunk of a table already read: reading it again");
        self.tables.push_front(ChunkedTable {
            read: read.clone(),
            after: None,
            rows: 0,
        });
    }

    /// Reads the next group of chunks (the stream must be at a transaction boundary, with
    /// nothing of a transaction sent half).
    pub async fn step(
        &mut self,
        stream: &mut PgStream,
        out: &SourceSender,
    ) -> Result<(), PgSourceError> {
        self.connect().await?;
        if self.current.is_none() {
            let Some(next) = self.tables.pop_front() else {
                return Ok(());
            };
            self.current = Some(self.start_table(next, out).await?);
        }
        match self.group(stream, out).await? {
            Guard::Clear => {
                self.groups.increment(1);
                self.retry_at = None;
                self.backoff = RETRY_FIRST;
                if self.is_finished() {
                    // The snapshot's connections are not held while only the stream runs.
                    self.clients.clear();
                }
            }
            Guard::Passed(xid) | Guard::SyncRep(xid) => {
                self.retries.increment(1);
                tracing::debug!(task = %self.task, xid, "a chunk's snapshot counts as running a transaction the stream already sent: reading it again");
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(RETRY_MAX);
            }
        }
        Ok(())
    }

    /// Opens the snapshot's connections; at the first, notes the server's WAL position the
    /// stream is to pass before the first group (`catch_up`).
    pub async fn connect(&mut self) -> Result<(), PgSourceError> {
        let first = self.clients.is_empty() && !self.started;
        while self.clients.len() < self.connections {
            self.clients.push(self.cfg.connect_sql("snapshot").await?);
        }
        if first {
            self.started = true;
            self.deadline = Some(Instant::now() + CATCH_UP_MAX);
            self.catch_up_again().await?;
        }
        Ok(())
    }

    /// Finds the table's key order and text-only columns, and reports its start.
    async fn start_table(
        &self,
        table: ChunkedTable,
        out: &SourceSender,
    ) -> Result<Reading, PgSourceError> {
        let client = &self.clients[0];
        let schema = table.read.schema.clone();
        let ctx = |e| {
            PgSourceError::sql(
                format!("planning the chunks of {}", schema.qualified_name()),
                e,
            )
        };
        let key = sql::key_order(client, &schema).await.map_err(ctx)?;
        let text_only = snapshot::text_only_columns(client, &schema)
            .await
            .map_err(ctx)?;
        let estimated_rows = snapshot::estimate_rows(client, schema.oid)
            .await
            .map_err(ctx)?;
        let name = schema.qualified_name();
        let item = match &table.after {
            None => SourceItem::TableStarted {
                table: name,
                estimated_rows,
            },
            Some(after) => SourceItem::ChunkDone {
                table: name,
                after: after.clone(),
                rows: table.rows,
                estimated_rows,
            },
        };
        send(out, vec![item]).await?;
        Ok(Reading {
            table,
            key,
            text_only,
            estimated_rows,
        })
    }

    /// One group: up to `connections` chunks under one snapshot.
    async fn group(
        &mut self,
        stream: &mut PgStream,
        out: &SourceSender,
    ) -> Result<Guard, PgSourceError> {
        let Some(reading) = self.current.as_ref() else {
            return Ok(Guard::Clear);
        };
        let schema = reading.table.read.schema.clone();
        let name = schema.qualified_name();
        let ctx = |e| PgSourceError::sql(format!("reading a chunk of {name}"), e);
        let c0 = &self.clients[0];
        let lanes = self.lanes.as_ref().map_or(0, |l| l.lanes());
        let total = self.connections + lanes;
        let repair = self.repair.as_ref().filter(|r| {
            r.oid == schema.oid
                && r.meta.lower == reading.table.after
                && r.meta.base_rows == reading.table.rows
        });
        let export = total > 1 || repair.is_some();
        c0.batch_execute(sql::BEGIN).await.map_err(ctx)?;
        let row = c0
            .query_one(&sql::snapshot_statement(export), &[])
            .await
            .map_err(ctx)?;
        let snap_text: String = row.get(0);
        let hw_text: String = row.get(1);
        let now_us: i64 = row.get(2);
        let exported: Option<String> = row.get(3);
        let protocol = |what: String| PgSourceError::Protocol {
            context: format!("reading a chunk of {name}"),
            what,
        };
        let snapshot = XidSnapshot::parse(&snap_text)
            .ok_or_else(|| protocol(format!("unreadable snapshot {snap_text:?}")))?;
        let hw: Lsn = hw_text
            .parse()
            .map_err(|_| protocol(format!("unreadable LSN {hw_text:?}")))?;
        tracing::debug!(task = %self.task, table = %name, snapshot = %snap_text, high_watermark = %hw, "chunk group");
        let guard = self.guard(stream, &snapshot).await.map_err(ctx)?;
        if !matches!(guard, Guard::Clear) {
            c0.batch_execute("ROLLBACK").await.map_err(ctx)?;
            return Ok(guard);
        }
        self.check_definition(&schema, reading.table.after.as_deref())
            .await?;
        let after = reading.table.after.clone();
        let (bounds, last, skip) = match repair {
            Some(r) => (r.meta.bounds.clone(), r.meta.last, r.done.clone()),
            None => {
                let bounds: Vec<String> = c0
                    .query(
                        &sql::boundaries(
                            &reading.table.read,
                            &reading.key,
                            after.as_deref(),
                            self.chunk_rows,
                            total,
                        ),
                        &[],
                    )
                    .await
                    .map_err(ctx)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let last = bounds.len() < total;
                (bounds, last, HashMap::new())
            }
        };
        self.meta = GroupMeta {
            number: self.groups_done + 1,
            xids: snap_text.clone(),
            high_watermark: hw.0,
            lower: after.clone(),
            base_rows: reading.table.rows,
            bounds: bounds.clone(),
            last,
        };
        self.skip = skip;
        let tx = TxMeta {
            xid: snapshot.xmax.saturating_sub(1),
            commit_time_us: now_us,
            commit_lsn: hw,
        };
        let read = self
            .read_ranges(&bounds, last, exported.as_deref(), tx, out)
            .await;
        self.clients[0].batch_execute("COMMIT").await.map_err(ctx)?;
        let (keys, rows) = read?;
        #[cfg(feature = "failpoints")]
        if bounds.len() + usize::from(last) > self.connections {
            crate::failpoint::hold(crate::failpoint::SOURCE_LANES_READ).await;
        }
        self.repair = None;
        self.skip.clear();
        self.finish_group(
            stream,
            snapshot,
            hw,
            keys,
            rows,
            bounds.last().cloned(),
            last,
            out,
        )
        .await?;
        Ok(Guard::Clear)
    }

    /// No transaction running in the snapshot may be one the stream already sent: its
    /// change would precede the chunk's older row (commit order is not visibility order).
    async fn guard(
        &self,
        stream: &PgStream,
        snapshot: &XidSnapshot,
    ) -> Result<Guard, tokio_postgres::Error> {
        // (Not tracking yet, or past the memory: commits stuck on a synchronous standby are
        // the only transactions that can still be unseen, so those are asked for.)
        let decoded = stream.decoded();
        if let Some(x) = decoded.and_then(|d| d.unseen_by(snapshot)) {
            return Ok(Guard::Passed(x));
        }
        if decoded.is_some_and(|d| !d.overflowed) {
            return Ok(Guard::Clear);
        }
        // Xids sent before the stream's memory of them: only a commit stuck between its WAL
        // record and its visibility for that long can be one, i.e. one waiting for a
        // synchronous standby.
        let waiting = self.clients[0]
            .query(
                "SELECT backend_xid::text FROM pg_stat_activity \
                 WHERE wait_event = 'SyncRep' AND backend_xid IS NOT NULL",
                &[],
            )
            .await?;
        let waiting: HashSet<u32> = waiting
            .iter()
            .filter_map(|r| r.get::<_, String>(0).parse().ok())
            .collect();
        Ok(snapshot
            .running()
            .find(|x| waiting.contains(x))
            .map_or(Guard::Clear, Guard::SyncRep))
    }

    /// The table's columns under the group's snapshot must be those the task read.
    async fn check_definition(
        &self,
        schema: &crate::schema::TableSchema,
        after: Option<&str>,
    ) -> Result<(), PgSourceError> {
        let c0 = &self.clients[0];
        let now = definition::fingerprints(c0, &[schema.oid]).await?;
        if now.get(&schema.oid) == self.fingerprints.get(&schema.oid) {
            return Ok(());
        }
        let _ = c0.batch_execute("ROLLBACK").await;
        Err(PgSourceError::ChunkDefinitionChanged {
            table: schema.qualified_name(),
            after: after.unwrap_or("its first row").to_owned(),
        })
    }

    /// Reads the group's ranges side by side, one per connection; returns the keys read and
    /// how many rows.
    async fn read_ranges(
        &self,
        bounds: &[String],
        last: bool,
        exported: Option<&str>,
        tx: TxMeta,
        out: &SourceSender,
    ) -> Result<(KeySet, u64), PgSourceError> {
        let Some(reading) = self.current.as_ref() else {
            return Ok((KeySet::default(), 0));
        };
        let table = &reading.table;
        let ranges = bounds.len() + usize::from(last);
        let first_row = table.rows == 0 && table.after.is_none();
        let all_last = last && self.tables.is_empty() && !self.more_after;
        let shared = Shared {
            reading,
            tx,
            out,
            base: table.rows,
            size: self.chunk_rows as u64,
            first_of_all: self.first_table == Some(table.read.schema.oid),
        };
        let tuple = sql::key_tuple(&table.read.schema, &reading.key);
        if ranges > self.connections {
            // Changes sent before are acknowledged before any other worker writes a row.
            let flushed = Arc::new(tokio::sync::Notify::new());
            send(out, vec![SourceItem::Barrier(flushed.clone())]).await?;
            flushed.notified().await;
        }
        let reads = (0..ranges).map(|i| {
            let lo = if i == 0 {
                table.after.as_deref()
            } else {
                Some(bounds[i - 1].as_str())
            };
            let hi = bounds.get(i).map(String::as_str);
            let range = sql::range(&tuple, lo, hi);
            let marks = RangeMarks {
                first: first_row && i == 0,
                last: last && i == ranges - 1,
                last_of_all: all_last,
            };
            let import = exported.filter(|_| i > 0);
            let shared = &shared;
            let skipped = self.skip.get(&(i as u64)).copied();
            async move {
                if let Some(rows) = skipped {
                    return Ok((KeyList::default(), rows));
                }
                match (self.clients.get(i), import) {
                    (Some(client), _) => {
                        read_range(client, shared, i as u64, range, import, marks).await
                    }
                    (None, Some(snapshot)) => {
                        let lane = i - self.connections;
                        self.on_lane(lane, shared, snapshot, range, i as u64, marks)
                            .await
                    }
                    (None, None) => Err(PgSourceError::Protocol {
                        context: "reading a chunk group".into(),
                        what: "a range for another worker without an exported snapshot".into(),
                    }),
                }
            }
        });
        let results = futures::future::try_join_all(reads).await?;
        let rows = results.iter().map(|(_, n)| n).sum();
        let keys = KeySet::index(results.into_iter().map(|(k, _)| k).collect());
        Ok((keys, rows))
    }

    /// Range `index` read by lane `lane`; if the lane fails, after the lanes' fence (no row of
    /// that lane can reach the sink any more), read here under the same snapshot.
    async fn on_lane(
        &self,
        lane: usize,
        shared: &Shared<'_>,
        snapshot: &str,
        range: String,
        index: u64,
        marks: RangeMarks,
    ) -> Result<(KeyList, u64), PgSourceError> {
        let Some(lanes) = self.lanes.as_ref() else {
            return Err(PgSourceError::Protocol {
                context: "reading a chunk group".into(),
                what: "a range for another worker without lanes".into(),
            });
        };
        let request =
            lane::LaneRange::of(shared, snapshot, range.clone(), index, marks, &self.meta);
        let request = serde_json::to_vec(&request).unwrap_or_default();
        let reason = match lanes.read(lane, request.clone()).await {
            Ok(reply) => match lane::answer(&reply) {
                Ok(read) => return Ok(read),
                Err(reason) => reason,
            },
            Err(reason) => reason,
        };
        self.lane_failures.increment(1);
        let table = shared.reading.table.read.schema.qualified_name();
        if lanes.transactional() {
            // Fenced, the lane commits nothing more: the range is in Kafka with its record,
            // or none of its rows is.
            let settled = lanes
                .settle(lane)
                .await
                .map_err(|reason| PgSourceError::LaneUnsettled { lane, reason })?;
            let committed = settled
                .filter(|r| r.request == request)
                .and_then(|r| lane::answer(&r.reply).ok());
            if let Some(read) = committed {
                tracing::info!(task = %self.task, %table, lane, %reason, "a range handed to another worker was committed, its answer lost: taken as read");
                return Ok(read);
            }
            tracing::warn!(task = %self.task, %table, lane, %reason, "a range handed to another worker failed: reading it here (that worker's transaction is fenced)");
        } else {
            let fence = lanes.fence();
            tracing::warn!(task = %self.task, %table, lane, %reason, fence = ?fence, "a range handed to another worker failed: reading it here once that worker can no longer write");
            tokio::time::sleep(fence).await;
        }
        let client = self.cfg.connect_sql("snapshot").await?;
        read_range(&client, shared, index, range, Some(snapshot), marks).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_group(
        &mut self,
        stream: &mut PgStream,
        snapshot: XidSnapshot,
        hw: Lsn,
        keys: KeySet,
        rows: u64,
        upper: Option<String>,
        last: bool,
        out: &SourceSender,
    ) -> Result<(), PgSourceError> {
        let Some(mut reading) = self.current.take() else {
            return Ok(());
        };
        let oid = reading.table.read.schema.oid;
        if self.first_table == Some(oid) && rows > 0 {
            self.first_table = None;
        }
        stream.install_chunk(ChunkFilter {
            table: oid,
            snapshot,
            high_watermark: hw,
            key_columns: reading.key.clone(),
            keys,
        });
        let table = &mut reading.table;
        table.rows += rows;
        if let Some(u) = upper {
            table.after = Some(u);
        }
        let name = table.read.schema.qualified_name();
        self.groups_done = self.meta.number;
        let mut items = Vec::with_capacity(3);
        items.push(SourceItem::ChunkGroupDone(self.meta.number));
        if let Some(after) = table.after.clone().filter(|_| !last) {
            items.push(SourceItem::ChunkDone {
                table: name.clone(),
                after,
                rows: table.rows,
                estimated_rows: reading.estimated_rows,
            });
        }
        if last {
            items.push(SourceItem::TableDone {
                table: name,
                rows: table.rows,
            });
        } else {
            self.current = Some(reading);
        }
        send(out, items).await
    }
}

/// What every range of a group shares.
struct Shared<'a> {
    reading: &'a Reading,
    tx: TxMeta,
    out: &'a SourceSender,
    /// Rows of the table before this group (row numbers continue from it).
    base: u64,
    size: u64,
    first_of_all: bool,
}

/// Which marks a range's rows may carry.
#[derive(Clone, Copy)]
struct RangeMarks {
    first: bool,
    last: bool,
    last_of_all: bool,
}

/// Reads one range (importing the group's snapshot on connections other than the first) and
/// sends its rows; returns their keys and count.
async fn read_range(
    client: &Client,
    shared: &Shared<'_>,
    index: u64,
    range: String,
    import: Option<&str>,
    marks: RangeMarks,
) -> Result<(KeyList, u64), PgSourceError> {
    let reading = shared.reading;
    let schema = &reading.table.read.schema;
    let ctx = |e| PgSourceError::sql(format!("reading a chunk of {}", schema.qualified_name()), e);
    if let Some(name) = import {
        client
            .batch_execute(&format!(
                "{}; SET TRANSACTION SNAPSHOT '{name}'",
                sql::BEGIN
            ))
            .await
            .map_err(ctx)?;
    }
    let query = snapshot::copy_query_where(&reading.table.read, &reading.text_only, Some(&range));
    let read = copy_rows(client, shared, index, &query, marks).await;
    if import.is_some() {
        client.batch_execute("COMMIT").await.map_err(ctx)?;
    }
    read
}

async fn copy_rows(
    client: &Client,
    shared: &Shared<'_>,
    index: u64,
    query: &str,
    marks: RangeMarks,
) -> Result<(KeyList, u64), PgSourceError> {
    let reading = shared.reading;
    let schema = &reading.table.read.schema;
    let ctx = || format!("reading a chunk of {}", schema.qualified_name());
    let stream = client
        .copy_out(query)
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    futures::pin_mut!(stream);
    let mut parser = CopyBinaryParser::new();
    let mut emit = Emitter {
        shared,
        row: shared.base + index * shared.size,
        count: AtomicU64::new(0),
        keys: KeyList::default(),
        key: Vec::new(),
        held: None,
        batch: Vec::with_capacity(BATCH_ROWS),
        marks,
    };
    while let Some(chunk) = stream.next().await {
        parser.push(chunk.map_err(|e| PgSourceError::sql(ctx(), e))?);
        while let Some(mut row) = parser.next_row().map_err(|e| PgSourceError::Protocol {
            context: ctx(),
            what: e.to_string(),
        })? {
            snapshot::mark_text_cells(&mut row, &reading.text_only);
            if row.cells.len() != schema.columns.len() {
                return Err(PgSourceError::Protocol {
                    context: ctx(),
                    what: format!(
                        "a row has {} values for {} columns",
                        row.cells.len(),
                        schema.columns.len()
                    ),
                });
            }
            emit.push(row);
            if emit.batch.len() >= BATCH_ROWS {
                let full = std::mem::replace(&mut emit.batch, Vec::with_capacity(BATCH_ROWS));
                send(shared.out, full).await?;
            }
        }
    }
    parser.finish().map_err(|e| PgSourceError::Protocol {
        context: ctx(),
        what: e.to_string(),
    })?;
    emit.finish();
    let batch = std::mem::take(&mut emit.batch);
    if !batch.is_empty() {
        send(shared.out, batch).await?;
    }
    Ok((emit.keys, emit.count.into_inner()))
}

/// Turns a range's rows into READ events, holding one back to mark the table's last row.
struct Emitter<'a> {
    shared: &'a Shared<'a>,
    row: u64,
    count: AtomicU64,
    keys: KeyList,
    key: Vec<u8>,
    held: Option<Row>,
    batch: SourceBatch,
    marks: RangeMarks,
}

impl Emitter<'_> {
    fn push(&mut self, row: Row) {
        if encode_key(&row, &self.shared.reading.key, &mut self.key) {
            self.keys.push(&self.key);
        }
        if let Some(prev) = self.held.replace(row) {
            self.emit(prev, false);
        }
    }

    fn finish(&mut self) {
        if let Some(prev) = self.held.take() {
            self.emit(prev, self.marks.last);
        }
    }

    fn emit(&mut self, row: Row, last_in_table: bool) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let first_in_table = self.marks.first && n == 0;
        let mark = snapshot::snapshot_mark(
            first_in_table,
            last_in_table,
            self.shared.first_of_all,
            self.marks.last_of_all,
        );
        let tx = self.shared.tx;
        self.batch.push(SourceItem::Event(ChangeEvent {
            position: Position::Snapshot {
                snapshot: LogPoint::Lsn(tx.commit_lsn),
                row: self.row,
            },
            op: Op::Read,
            table: Arc::clone(&self.shared.reading.table.read.schema),
            tx,
            lsn: tx.commit_lsn,
            last_commit_lsn: None,
            snapshot: if mark == SnapshotMark::None {
                SnapshotMark::Middle
            } else {
                mark
            },
            before: None,
            after: Some(row),
        }));
        self.row += 1;
    }
}

async fn send(out: &SourceSender, batch: SourceBatch) -> Result<(), PgSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| PgSourceError::Connection {
            context: "chunked snapshot".into(),
            reason: "the pipeline stopped".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> ChunkedSnapshot {
        let cfg = PgConnectConfig::new("postgres://u@127.0.0.1/db", None, None).unwrap();
        ChunkedSnapshot::new(cfg, 1, 100, Vec::new(), Fingerprints::default(), "t", 0)
    }

    /// The first group waits until the stream passed the server's position of the run's start;
    /// a round that took long goes again (to the position then), a short one ends it, and the
    /// run's catching up ends at its deadline however far behind the stream is.
    #[tokio::test(start_paused = true)]
    async fn the_first_group_waits_for_the_stream_to_catch_up_in_rounds_until_near_or_late() {
        let mut s = snapshot();
        assert_eq!(s.catch_up(Lsn(0)), CatchUp::Done, "nothing to catch up");
        let start = Instant::now();
        s.deadline = Some(start + CATCH_UP_MAX);
        s.catch_up = Some((Lsn(1000), start));
        assert_eq!(s.catch_up(Lsn(999)), CatchUp::Waiting);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            s.catch_up(Lsn(1000)),
            CatchUp::Passed(Duration::from_secs(2)),
            "a long round: writes came meanwhile"
        );
        assert_eq!(s.catch_up(Lsn(1000)), CatchUp::Done, "the round is over");
        s.catch_up = Some((Lsn(2000), Instant::now()));
        tokio::time::advance(CATCH_UP_NEAR).await;
        assert_eq!(
            s.catch_up(Lsn(2500)),
            CatchUp::Done,
            "a short round: near enough"
        );
        s.catch_up = Some((Lsn(3000), Instant::now()));
        tokio::time::advance(CATCH_UP_MAX).await;
        assert_eq!(s.catch_up(Lsn(10)), CatchUp::Done, "out of time");
        assert!(s.catch_up.is_none());
    }
}
