//! In-memory stand-ins for a database and a broker, to run the shard runtime through crashes:
//! a `FakeServer` with one table's snapshot, a log of committed transactions and replication
//! slots (that resume from their confirmed position, as PostgreSQL's do), the `FakeSource`
//! reading it, and a `MemorySink` whose records outlive the "process", as Kafka's do.
//!
//! The server checks the rule that matters at every confirmation: the confirmed position never
//! passes the resume token of the checkpoint saved in the store at that moment.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::checkpoint::{
    Checkpoint, MemoryCheckpointStore, ObjectKind, PgSlotIdentity, ShardKey, SourceIdentity,
    SourceObject, TableProgress,
};
use crate::event::{Cell, ChangeEvent, Op, Row, SnapshotMark, TxMeta};
use crate::position::{LogPoint, Lsn, Position, ResumeToken, StreamPosition};
use crate::schema::{Column, PgType, ReplicaIdentity, TableSchema, TypeKind};
use crate::sink::{Record, Sink, SinkError, TopicPlan};
use crate::source::{Source, SourceError, SourceInfo, SourceItem, SourceSender};

/// The snapshot's LSN; the log's transactions commit after it.
pub const CONSISTENT_POINT: Lsn = Lsn(1000);
pub const TABLE: &str = "public.items";

/// One committed transaction: (op, id, value) changes of `public.items`.
#[derive(Clone, Debug)]
pub struct FakeTx {
    pub xid: u64,
    pub commit: Lsn,
    pub end: Lsn,
    pub ops: Vec<(Op, i64, String)>,
}

#[derive(Default)]
pub struct ServerState {
    pub snapshot: Vec<(i64, String)>,
    pub log: Vec<FakeTx>,
    /// Slot name → confirmed flush position.
    pub slots: BTreeMap<String, Lsn>,
    pub slot_creations: u32,
    /// The most slots that existed at one time.
    pub max_slots: usize,
    /// Broken rules seen (confirmations past the saved checkpoint).
    pub violations: Vec<String>,
    /// How the next attempts fail, one step per attempt (empty: they do not).
    pub script: VecDeque<Step>,
    /// The next run stops sending inside the transaction of this xid, after its first event.
    pub stall_in: Option<u64>,
    /// That run's items up to the stall were taken by the runner.
    pub stalled: bool,
    /// Woken when `stalled` is set.
    pub stall_seen: Arc<tokio::sync::Notify>,
}

/// How one attempt fails, with a connection error or another transient one.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// `check` fails.
    CheckFails { connection: bool },
    /// The run sends everything, waits for checkpoints to land, then fails.
    RunFails { connection: bool },
}

/// A transient error: "connection refused", or another kind.
pub fn transient(connection: bool) -> SourceError {
    if connection {
        SourceError::connection(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
    } else {
        SourceError::new(
            crate::source::ErrorClass::Transient,
            std::io::Error::other("the server is busy"),
        )
    }
}

/// The database: shared by every attempt of a test, as a real server is.
#[derive(Clone)]
pub struct FakeServer {
    pub state: Arc<Mutex<ServerState>>,
    pub store: Arc<MemoryCheckpointStore>,
    pub key: ShardKey,
}

impl FakeServer {
    /// `rows` snapshot rows and `txs` transactions of three changes each (an insert of a new
    /// row, an update and a delete of snapshot rows).
    pub fn new(rows: i64, txs: u64, store: Arc<MemoryCheckpointStore>, key: ShardKey) -> Self {
        let snapshot = (1..=rows).map(|i| (i, format!("row {i}"))).collect();
        let log = (0..txs)
            .map(|t| {
                let commit = Lsn(CONSISTENT_POINT.0 + 100 * (t + 1));
                let i = t as i64;
                FakeTx {
                    xid: 700 + t,
                    commit,
                    end: Lsn(commit.0 + 50),
                    ops: vec![
                        (Op::Insert, rows + 1 + i, format!("new {i}")),
                        (Op::Update, i % rows + 1, format!("upd {i}")),
                        (Op::Delete, (i * 7) % rows + 1, String::new()),
                    ],
                }
            })
            .collect();
        let state = ServerState {
            snapshot,
            log,
            ..Default::default()
        };
        FakeServer {
            state: Arc::new(Mutex::new(state)),
            store,
            key,
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap()
    }

    /// The table as it is after every transaction: id → value.
    pub fn final_table(&self) -> BTreeMap<i64, String> {
        let s = self.lock();
        let mut t: BTreeMap<i64, String> = s.snapshot.iter().cloned().collect();
        for tx in &s.log {
            for (op, id, v) in &tx.ops {
                match op {
                    Op::Delete => {
                        t.remove(id);
                    }
                    _ => {
                        t.insert(*id, v.clone());
                    }
                }
            }
        }
        t
    }

    /// The last transaction's end: where a complete run's resume token gets to.
    pub fn last_end(&self) -> Lsn {
        self.lock().log.last().map_or(CONSISTENT_POINT, |t| t.end)
    }

    /// Every position the source can produce, as `tributary.position` texts.
    pub fn all_positions(&self) -> Vec<String> {
        let s = self.lock();
        let mut v: Vec<String> = (0..s.snapshot.len())
            .map(|i| format!("snapshot:{CONSISTENT_POINT}:{TABLE}:{i}"))
            .collect();
        for tx in &s.log {
            for i in 0..tx.ops.len() {
                v.push(StreamPosition::pg(tx.commit, i as u32).to_string());
            }
        }
        v
    }

    fn confirm(&self, slot: &str, token: ResumeToken) {
        let ResumeToken::Pg { confirmed_lsn } = token else {
            return;
        };
        let saved = self.store.get(&self.key).and_then(|c| c.resume);
        let mut s = self.lock();
        if saved.is_none_or(|saved| saved < token) {
            s.violations.push(format!(
                "confirmed {token} while the saved checkpoint holds {saved:?}"
            ));
        }
        if let Some(c) = s.slots.get_mut(slot) {
            *c = (*c).max(confirmed_lsn);
        }
    }
}

pub fn table() -> Arc<TableSchema> {
    let col = |name: &str, oid, tn: &str, kind, key| Column {
        name: name.into(),
        ty: Arc::new(PgType::new(oid, tn, "pg_catalog", kind)),
        typmod: -1,
        is_key: key,
        nullable: !key,
    };
    Arc::new(TableSchema {
        oid: 16384,
        schema: "public".into(),
        name: "items".into(),
        columns: vec![
            col("id", 20, "int8", TypeKind::Int8, true),
            col("v", 25, "text", TypeKind::Text, false),
        ],
        replica_identity: ReplicaIdentity::Default,
    })
}

/// A binary row `(id, v)`.
pub fn row(id: i64, v: &str) -> Row {
    let mut buf = id.to_be_bytes().to_vec();
    buf.extend_from_slice(v.as_bytes());
    Row {
        buf: Bytes::from(buf),
        cells: vec![
            Cell::Binary { start: 0, len: 8 },
            Cell::Binary {
                start: 8,
                len: v.len() as u32,
            },
        ],
    }
}

/// The source of one attempt.
pub struct FakeSource {
    server: FakeServer,
    table: Arc<TableSchema>,
    /// The run fails after sending everything (with a connection error when true).
    fail_run: Option<bool>,
}

impl FakeSource {
    pub fn new(server: &FakeServer) -> FakeSource {
        FakeSource {
            server: server.clone(),
            table: table(),
            fail_run: None,
        }
    }

    fn slot_name(incarnation: &str) -> String {
        format!("fake_{incarnation}")
    }
}

impl Source for FakeSource {
    async fn check(&mut self) -> Result<SourceInfo, SourceError> {
        match self.server.lock().script.pop_front() {
            Some(Step::CheckFails { connection }) => return Err(transient(connection)),
            Some(Step::RunFails { connection }) => self.fail_run = Some(connection),
            None => {}
        }
        Ok(SourceInfo {
            kind: "postgresql",
            database: "fake".into(),
            server_version: "15".into(),
            tables: vec![self.table.clone()],
            server_point: Some(LogPoint::Lsn(self.server.last_end())),
        })
    }

    fn plan(&self, incarnation: &str) -> Vec<SourceObject> {
        vec![SourceObject {
            kind: ObjectKind::ReplicationSlot,
            name: Self::slot_name(incarnation),
        }]
    }

    async fn create(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        let name = Self::slot_name(&cp.incarnation);
        {
            let mut s = self.server.lock();
            // An interrupted earlier attempt's slot is replaced, never doubled.
            s.slots.remove(&name);
            s.slots.insert(name.clone(), CONSISTENT_POINT);
            s.slot_creations += 1;
            s.max_slots = s.max_slots.max(s.slots.len());
        }
        cp.source = Some(SourceIdentity::Postgres(PgSlotIdentity {
            slot_name: name,
            publications: Vec::new(),
            system_id: "1".into(),
            database: "fake".into(),
            plugin: "pgoutput".into(),
            consistent_point: CONSISTENT_POINT,
            timeline: None,
        }));
        cp.resume = Some(ResumeToken::Pg {
            confirmed_lsn: CONSISTENT_POINT,
        });
        cp.tables.insert(TABLE.into(), TableProgress::Pending);
        Ok(())
    }

    async fn resume(&mut self, cp: &mut Checkpoint) -> Result<(), SourceError> {
        let slot = cp
            .pg_slot()
            .map(|s| s.slot_name.clone())
            .unwrap_or_default();
        let confirmed = self.server.lock().slots.get(&slot).copied();
        let saved = match cp.resume {
            Some(ResumeToken::Pg { confirmed_lsn }) => confirmed_lsn,
            _ => Lsn::ZERO,
        };
        match confirmed {
            Some(c) if c <= saved => Ok(()),
            other => Err(SourceError::new(
                crate::source::ErrorClass::Definite,
                std::io::Error::other(format!("slot {slot} at {other:?}, checkpoint {saved}")),
            )),
        }
    }

    async fn run(self, cp: Checkpoint, out: SourceSender, confirmed: watch::Receiver<ResumeToken>) {
        let slot = cp
            .pg_slot()
            .map(|s| s.slot_name.clone())
            .unwrap_or_default();
        let mut saves = self.server.store.saves();
        // Ends by itself once the runner drops its side of the watch.
        tokio::spawn(confirm_loop(self.server.clone(), slot.clone(), confirmed));
        let mut items = self.items(&cp, &slot);
        let stall = self.server.lock().stall_in.take();
        if let Some(xid) = stall {
            let begin = items
                .iter()
                .position(|i| matches!(i, SourceItem::Begin(tx) if tx.xid == xid))
                .expect("the transaction to stall in");
            items.truncate(begin + 2);
        }
        for chunk in items.chunks(3) {
            if out.send(Ok(chunk.to_vec())).await.is_err() {
                return;
            }
            // Changes arrive over time, as from a server: 1 ms of tokio's paused (virtual) clock
            // between batches, so the runner's 5 ms checkpoint ticks fall between them. This
            // models arrival, it waits for nothing and takes no wall-clock time.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if stall.is_some() {
            // Stalled inside a transaction: once the runner took everything (the channel is
            // empty again), say so.
            let Ok(permits) = out.reserve_many(out.max_capacity()).await else {
                return;
            };
            drop(permits);
            let mut s = self.server.lock();
            s.stalled = true;
            s.stall_seen.notify_one();
        }
        if let Some(connection) = self.fail_run {
            // The failure comes after this attempt saved a checkpoint (it got somewhere).
            if saves.changed().await.is_err() {
                return;
            }
            let _ = out.send(Err(transient(connection))).await;
        }
        std::future::pending::<()>().await;
    }

    async fn remove(
        &mut self,
        objects: &[SourceObject],
        _force: bool,
    ) -> Result<Vec<SourceObject>, SourceError> {
        let mut s = self.server.lock();
        Ok(objects
            .iter()
            .filter(|o| s.slots.remove(&o.name).is_some())
            .cloned()
            .collect())
    }
}

async fn confirm_loop(server: FakeServer, slot: String, mut rx: watch::Receiver<ResumeToken>) {
    while rx.changed().await.is_ok() {
        let token = *rx.borrow_and_update();
        server.confirm(&slot, token);
    }
}

impl FakeSource {
    /// Everything a run sends: the snapshot if unfinished, then the log from the slot's
    /// confirmed position, skipping events at or before the checkpoint's stream position.
    fn items(&self, cp: &Checkpoint, slot: &str) -> Vec<SourceItem> {
        let s = self.server.lock();
        let mut items = Vec::new();
        if !matches!(cp.tables.get(TABLE), Some(TableProgress::Done { .. })) {
            items.push(SourceItem::TableStarted {
                table: TABLE.into(),
                estimated_rows: s.snapshot.len() as u64,
            });
            for (i, (id, v)) in s.snapshot.iter().enumerate() {
                items.push(SourceItem::Event(self.event(
                    Position::Snapshot {
                        snapshot: LogPoint::Lsn(CONSISTENT_POINT),
                        row: i as u64,
                    },
                    Op::Read,
                    (*id, v),
                    TxMeta {
                        xid: 1,
                        commit_time_us: 0,
                        commit_lsn: CONSISTENT_POINT,
                    },
                )));
            }
            items.push(SourceItem::TableDone {
                table: TABLE.into(),
                rows: s.snapshot.len() as u64,
            });
            items.push(SourceItem::SnapshotDone);
        }
        let from = s.slots.get(slot).copied().unwrap_or(CONSISTENT_POINT);
        for tx in s.log.iter().filter(|t| t.end > from) {
            let meta = TxMeta {
                xid: tx.xid,
                commit_time_us: 1_700_000_000_000_000,
                commit_lsn: tx.commit,
            };
            items.push(SourceItem::Begin(meta));
            for (i, (op, id, v)) in tx.ops.iter().enumerate() {
                let p = StreamPosition::pg(tx.commit, i as u32);
                if cp.stream.is_some_and(|done| p <= done) {
                    continue;
                }
                items.push(SourceItem::Event(self.event(
                    Position::Stream(p),
                    *op,
                    (*id, v),
                    meta,
                )));
            }
            items.push(SourceItem::Commit {
                tx: meta,
                last: StreamPosition::pg(tx.commit, tx.ops.len() as u32 - 1),
                events: tx.ops.len() as u32,
                resume: ResumeToken::Pg {
                    confirmed_lsn: tx.end,
                },
            });
        }
        items.push(SourceItem::Idle {
            resume: ResumeToken::Pg {
                confirmed_lsn: s.log.last().map_or(CONSISTENT_POINT, |t| t.end),
            },
        });
        items
    }

    fn event(&self, position: Position, op: Op, (id, v): (i64, &str), tx: TxMeta) -> ChangeEvent {
        let image = Some(row(id, v));
        let (before, after) = match op {
            Op::Delete => (Some(row(id, "")), None),
            _ => (None, image),
        };
        ChangeEvent {
            position,
            op,
            table: self.table.clone(),
            tx,
            lsn: tx.commit_lsn,
            last_commit_lsn: None,
            snapshot: if op == Op::Read {
                SnapshotMark::Middle
            } else {
                SnapshotMark::None
            },
            before,
            after,
        }
    }
}

/// A record as the broker keeps it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub topic: String,
    /// The partition the runner chose (`None`: the producer's partitioner).
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub position: String,
    /// How many records of this sink were acknowledged when this one was sent.
    pub acked_at_send: u64,
}

/// The broker's topics and their partition counts, shared by attempts as the broker is.
pub type Topics = Arc<Mutex<BTreeMap<String, i32>>>;

/// A broker that keeps acknowledged records across attempts. It acknowledges a record one
/// watermark reading after it was sent (a tick's latency), and records in flight when an
/// attempt dies are lost, as unacknowledged records may be. Missing topics are created with
/// their plan's partition count (default 1) unless `create` is off.
///
/// Transactional (`txn`, exactly-once): acknowledged records wait in the open transaction and
/// reach `records` (what a `read_committed` consumer sees) only at `commit`, with the
/// checkpoint record kept in the `Committed` slot; an attempt that dies aborts them.
pub struct MemorySink {
    pub records: Arc<Mutex<Vec<Stored>>>,
    pub topics: Topics,
    pub create: bool,
    pub txn: Option<Committed>,
    flight: Mutex<Flight>,
}

/// The broker's checkpoint topic for one shard: the last committed checkpoint record.
pub type Committed = Arc<Mutex<Option<Vec<u8>>>>;

#[derive(Default)]
struct Flight {
    records: Vec<Stored>,
    acked: u64,
    /// How many of `records` were already there at the last watermark reading.
    seen: usize,
    /// Transactional: acknowledged records of the open transaction.
    open: Vec<Stored>,
}

impl MemorySink {
    /// A sink whose topics spring into existence with one partition when first used.
    pub fn new(records: &Arc<Mutex<Vec<Stored>>>) -> MemorySink {
        MemorySink::with_topics(records, &Topics::default())
    }

    /// A sink over the broker's `topics`.
    pub fn with_topics(records: &Arc<Mutex<Vec<Stored>>>, topics: &Topics) -> MemorySink {
        MemorySink {
            records: records.clone(),
            topics: topics.clone(),
            create: true,
            txn: None,
            flight: Mutex::default(),
        }
    }

    /// Acknowledges the first `n` records in flight.
    fn ack(&self, f: &mut Flight, n: usize) {
        match self.txn {
            Some(_) => f.open.extend(f.records.drain(..n)),
            None => self.records.lock().unwrap().extend(f.records.drain(..n)),
        }
        f.acked += n as u64;
        f.seen -= n.min(f.seen);
    }
}

impl Sink for MemorySink {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn prepare_topics(&mut self, topics: &[TopicPlan]) -> Result<Vec<String>, SinkError> {
        let mut have = self.topics.lock().unwrap();
        let mut created = Vec::new();
        for t in topics {
            if have.contains_key(&t.name) {
                continue;
            }
            let partitions = t.partitions.unwrap_or(1);
            if !self.create {
                return Err(SinkError::MissingTopic {
                    topic: t.name.clone(),
                    partitions,
                });
            }
            have.insert(t.name.clone(), partitions);
            created.push(t.name.clone());
        }
        Ok(created)
    }

    async fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> Result<std::collections::HashMap<String, i32>, SinkError> {
        let have = self.topics.lock().unwrap();
        Ok(topics
            .iter()
            .filter_map(|t| Some((t.clone(), *have.get(t)?)))
            .collect())
    }

    async fn missing_topics(&mut self, topics: &[String]) -> Result<Vec<String>, SinkError> {
        let have = self.topics.lock().unwrap();
        Ok(topics
            .iter()
            .filter(|t| !have.contains_key(*t))
            .cloned()
            .collect())
    }

    async fn delete_topics(&mut self, topics: &[String]) -> Result<(), SinkError> {
        let mut have = self.topics.lock().unwrap();
        for t in topics {
            have.remove(t);
        }
        Ok(())
    }

    async fn send(&mut self, record: &Record<'_>, seq: u64) -> Result<(), SinkError> {
        let f = self.flight.get_mut().unwrap();
        assert_eq!(seq, f.acked + f.records.len() as u64, "in order");
        f.records.push(Stored {
            topic: record.topic.to_owned(),
            partition: record.partition,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            position: record.position.to_owned(),
            acked_at_send: f.acked,
        });
        Ok(())
    }

    fn durable_watermark(&self) -> u64 {
        let acked = self.acked_watermark();
        acked - self.flight.lock().unwrap().open.len() as u64
    }

    fn transactional(&self) -> bool {
        self.txn.is_some()
    }

    fn acked_watermark(&self) -> u64 {
        let mut f = self.flight.lock().unwrap();
        let n = f.seen;
        self.ack(&mut f, n);
        f.seen = f.records.len();
        f.acked
    }

    async fn start_transactions(&mut self) -> Result<Option<Vec<u8>>, SinkError> {
        Ok(self.txn.as_ref().and_then(|c| c.lock().unwrap().clone()))
    }

    async fn commit(&mut self, checkpoint: &[u8]) -> Result<(), SinkError> {
        let Some(committed) = &self.txn else {
            return Ok(());
        };
        let f = self.flight.get_mut().unwrap();
        let n = f.records.len();
        f.open.extend(f.records.drain(..n));
        f.acked += n as u64;
        f.seen = 0;
        self.records.lock().unwrap().append(&mut f.open);
        *committed.lock().unwrap() = Some(checkpoint.to_vec());
        Ok(())
    }

    async fn abort(&mut self) {
        self.flight.get_mut().unwrap().open.clear();
    }

    fn check(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn progressed(&self) -> impl std::future::Future<Output = ()> + Send {
        std::future::pending()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let f = self.flight.get_mut().unwrap();
        let n = f.records.len();
        match self.txn {
            Some(_) => f.open.extend(f.records.drain(..n)),
            None => self.records.lock().unwrap().extend(f.records.drain(..n)),
        }
        f.acked += n as u64;
        f.seen = 0;
        Ok(())
    }
}
