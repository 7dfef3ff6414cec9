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
//! Loop priorities: shutdown, then the checkpoint timer, then new input. Persist first, confirm
//! second: a position is confirmed only once the checkpoint that holds it is durable.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::progress::{Mark, MarkQueue};
use super::stats::Stats;
use super::throttle::Throttle;
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, ShardKey};
use crate::event::ChangeEvent;
use crate::format::{EncodedBatch, Format, FormatError};
use crate::position::{Position, StreamPosition};
use crate::sink::{Record, Sink, SinkError};
use crate::source::postgres::error::PgSourceError;
use crate::source::{SourceBatch, SourceItem};

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] PgSourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot encode the event at {position} of {source}")]
    Format {
        position: String,
        #[source]
        source: FormatError,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl PipelineError {
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Source(e) => {
                e.class() == crate::source::postgres::error::ErrorClass::Transient
            }
            PipelineError::Sink(e) => e.is_transient(),
            _ => false,
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
    pub snapshot_rows_per_second: Option<u64>,
    pub stream_events_per_second: Option<u64>,
    /// A full-only task: the snapshot's end completes it.
    pub snapshot_only: bool,
    /// Stop (as on shutdown) once everything up to this LSN is durable and confirmed.
    pub stop_at: Option<crate::position::Lsn>,
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
    confirm: watch::Sender<crate::position::Lsn>,
    stats: Arc<Stats>,
    opts: RunnerOptions,
    enc: EncodedBatch,
    position: PositionWriter,
    known_topics: HashSet<String>,
    /// The topic of the last record sent (known to exist).
    last_topic: String,
    table_rows: HashMap<u32, (String, u64)>,
    snapshot_throttle: Throttle,
    stream_throttle: Throttle,
}

impl<S: Sink, F: Format> Runner<S, F> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sink: S,
        format: F,
        store: Arc<dyn CheckpointStore>,
        key: ShardKey,
        cp: Checkpoint,
        confirm: watch::Sender<crate::position::Lsn>,
        stats: Arc<Stats>,
        opts: RunnerOptions,
        known_topics: HashSet<String>,
    ) -> Self {
        Runner {
            sink,
            format,
            store,
            key,
            cp,
            marks: MarkQueue::default(),
            next_seq: 0,
            durable_seen: 0,
            confirm,
            stats,
            enc: EncodedBatch::default(),
            position: PositionWriter::default(),
            known_topics,
            last_topic: String::new(),
            table_rows: HashMap::new(),
            snapshot_throttle: Throttle::new(opts.snapshot_rows_per_second),
            stream_throttle: Throttle::new(opts.stream_events_per_second),
            opts,
        }
    }

    /// The checkpoint as last applied (durable once `run` returns).
    pub fn checkpoint_state(&self) -> &Checkpoint {
        &self.cp
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Runs until shutdown, the source's end, or an error. On shutdown and on the source's end
    /// the sink is flushed and a final checkpoint written.
    pub async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Result<SourceBatch, PgSourceError>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<RunEnd, PipelineError> {
        let mut tick = tokio::time::interval(self.opts.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            if *shutdown.borrow() {
                break RunEnd::Shutdown;
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break RunEnd::Shutdown,
                _ = tick.tick() => {
                    self.checkpoint().await?;
                    if self.opts.stop_at.is_some_and(|l| self.cp.confirmed_lsn >= l) {
                        break RunEnd::Shutdown;
                    }
                }
                item = rx.recv() => match item {
                    Some(Ok(batch)) => {
                        tokio::select! {
                            biased;
                            _ = shutdown.changed() => break RunEnd::Shutdown,
                            r = self.batch(batch) => r?,
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => break RunEnd::SourceFinished,
                },
            }
        };
        self.sink.flush().await?;
        self.checkpoint().await?;
        Ok(end)
    }

    async fn batch(&mut self, batch: SourceBatch) -> Result<(), PipelineError> {
        let mut last_stream: Option<StreamPosition> = None;
        // Snapshot rows per table in this batch, added to `table_rows` once at its end.
        let mut touched: Vec<(u32, u64, Arc<crate::schema::TableSchema>)> = Vec::new();
        let mut stream_events = 0u64;
        let mut snapshot_rows = 0u64;
        for item in batch {
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
                            snapshot_rows += 1;
                            count_row(&ev, &mut touched)
                        }
                    }
                    self.event(&ev).await?;
                }
                SourceItem::TableStarted {
                    oid,
                    table,
                    estimated_rows,
                } => {
                    self.stats.table(&table, |t| {
                        *t = crate::pipeline::stats::TableStats {
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
                    touched.retain(|(o, ..)| *o != oid);
                    self.table_rows.insert(oid, (table, 0));
                }
                SourceItem::TableDone { oid, table, rows } => {
                    self.table_rows.remove(&oid);
                    touched.retain(|(o, ..)| *o != oid);
                    self.stats.table(&table, |t| {
                        t.rows = rows;
                        t.done = true;
                    });
                    self.marks
                        .push(self.next_seq, Mark::TableDone { table, rows });
                }
                SourceItem::Commit { last, end_lsn } => {
                    last_stream = None;
                    self.marks
                        .push(self.next_seq, Mark::Commit { last, end_lsn });
                    self.stats
                        .server_lsn
                        .fetch_max(end_lsn.0, Ordering::Relaxed);
                }
                SourceItem::Idle { wal_end } => {
                    self.marks.push(self.next_seq, Mark::Idle(wal_end));
                    self.stats
                        .server_lsn
                        .fetch_max(wal_end.0, Ordering::Relaxed);
                }
                SourceItem::SnapshotDone => self.marks.push(self.next_seq, Mark::SnapshotDone),
            }
        }
        if let Some(p) = last_stream {
            self.marks.push(self.next_seq, Mark::Stream(p));
        }
        for (oid, n, schema) in touched {
            let entry = self
                .table_rows
                .entry(oid)
                .or_insert_with(|| (schema.qualified_name(), 0));
            entry.1 += n;
            if let Some((table, rows)) = self.table_rows.get(&oid) {
                self.stats.table(table, |t| t.rows = *rows);
                self.marks.push(
                    self.next_seq,
                    Mark::Rows {
                        table: table.clone(),
                        rows: *rows,
                    },
                );
            }
        }
        self.stats
            .stream_events
            .fetch_add(stream_events, Ordering::Relaxed);
        self.stats
            .records_sent
            .store(self.next_seq, Ordering::Relaxed);
        let wait = self
            .snapshot_throttle
            .take(snapshot_rows)
            .max(self.stream_throttle.take(stream_events));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Encodes one event and hands its records to the sink.
    async fn event(&mut self, ev: &ChangeEvent) -> Result<(), PipelineError> {
        self.enc.clear();
        self.position.write(ev);
        if let Err(source) = self.format.encode(ev, &mut self.enc) {
            return Err(PipelineError::Format {
                position: self.position.as_str().to_owned(),
                source,
            });
        }
        let mut xid = itoa::Buffer::new();
        let tx = xid.format(ev.tx.xid);
        for i in 0..self.enc.records().len() {
            let topic = &self.enc.records()[i].topic;
            // Consecutive records usually share a topic: compare before hashing.
            if *topic != self.last_topic {
                if !self.known_topics.contains(topic.as_str()) {
                    let t = topic.clone();
                    self.sink.prepare_topics(std::slice::from_ref(&t)).await?;
                    self.known_topics.insert(t);
                }
                self.last_topic.clone_from(&self.enc.records()[i].topic);
            }
            let rec = &self.enc.records()[i];
            let record = Record {
                topic: &rec.topic,
                partition: None,
                key: rec.key(),
                value: rec.value(),
                position: self.position.as_str(),
                tx,
                table: &ev.table.name,
                extra_headers: &rec.headers,
            };
            self.sink.send(&record, self.next_seq).await?;
            self.next_seq += 1;
        }
        Ok(())
    }

    /// Applies durable marks, persists the checkpoint if it changed, then confirms upstream.
    pub async fn checkpoint(&mut self) -> Result<(), PipelineError> {
        self.sink.check()?;
        let watermark = self.sink.durable_watermark();
        self.stats
            .records_durable
            .store(watermark, Ordering::Relaxed);
        if !self
            .marks
            .apply(watermark, &mut self.cp, self.opts.snapshot_only)
        {
            return Ok(());
        }
        self.cp.event_count += watermark - self.durable_seen;
        self.durable_seen = watermark;
        let (store, key, cp) = (self.store.clone(), self.key.clone(), self.cp.clone());
        tokio::task::spawn_blocking(move || store.save(&key, &cp))
            .await
            .map_err(|e| CheckpointError::Open {
                path: "checkpoint".into(),
                reason: e.to_string(),
            })??;
        self.confirm.send_if_modified(|cur| {
            let advance = self.cp.confirmed_lsn > *cur;
            if advance {
                *cur = self.cp.confirmed_lsn;
            }
            advance
        });
        self.stats
            .confirmed_lsn
            .store(self.cp.confirmed_lsn.0, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts a snapshot row in the batch's per-table tally (no hashing per row; snapshot progress
/// is marked once per batch per table).
fn count_row(ev: &ChangeEvent, touched: &mut Vec<(u32, u64, Arc<crate::schema::TableSchema>)>) {
    let oid = ev.table.oid;
    match touched.iter_mut().find(|(o, ..)| *o == oid) {
        Some((_, n, _)) => *n += 1,
        None => touched.push((oid, 1, ev.table.clone())),
    }
}

/// Writes the `tributary.position` header of events (`Position`'s display form), without the
/// formatting machinery: it runs once per record. The `snapshot:<lsn>:<schema>.<table>:` part
/// of snapshot positions is kept between rows of one table.
#[derive(Default)]
struct PositionWriter {
    text: String,
    /// The snapshot LSN and table whose prefix `text` starts with, and the prefix's length.
    snapshot_prefix: Option<(crate::position::Lsn, Arc<crate::schema::TableSchema>, usize)>,
}

impl PositionWriter {
    fn write(&mut self, ev: &ChangeEvent) {
        match ev.position {
            Position::Stream(p) => {
                self.snapshot_prefix = None;
                self.text.clear();
                push_lsn(&mut self.text, p.commit_lsn);
                self.text.push(':');
                self.text.push_str(itoa::Buffer::new().format(p.index));
            }
            Position::Snapshot { snapshot_lsn, row } => {
                match &self.snapshot_prefix {
                    Some((lsn, table, len))
                        if *lsn == snapshot_lsn && Arc::ptr_eq(table, &ev.table) =>
                    {
                        self.text.truncate(*len);
                    }
                    _ => {
                        self.text.clear();
                        self.text.push_str("snapshot:");
                        push_lsn(&mut self.text, snapshot_lsn);
                        self.text.push(':');
                        self.text.push_str(&ev.table.schema);
                        self.text.push('.');
                        self.text.push_str(&ev.table.name);
                        self.text.push(':');
                        self.snapshot_prefix =
                            Some((snapshot_lsn, ev.table.clone(), self.text.len()));
                    }
                }
                self.text.push_str(itoa::Buffer::new().format(row));
            }
        }
    }

    fn as_str(&self) -> &str {
        &self.text
    }
}

/// `Lsn`'s display form, `X/Y` in upper-case hexadecimal.
fn push_lsn(out: &mut String, lsn: crate::position::Lsn) {
    push_hex(out, lsn.0 >> 32);
    out.push('/');
    push_hex(out, lsn.0 & 0xFFFF_FFFF);
}

fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = HEX[(v & 0xF) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::{Lsn, StreamPosition};

    #[test]
    fn position_header_matches_the_display_form() {
        let table = Arc::new(crate::schema::TableSchema {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: Vec::new(),
            replica_identity: crate::schema::ReplicaIdentity::Default,
        });
        let lsns = [
            0u64,
            1,
            0xF,
            0x10,
            0x16B3748,
            0x1_0000_0000,
            u64::MAX,
            0xABC_0000_0DEF,
        ];
        let mut out = PositionWriter::default();
        let other = Arc::new((*table).clone());
        for lsn in lsns {
            for position in [
                Position::Snapshot {
                    snapshot_lsn: Lsn(lsn),
                    row: lsn % 1000,
                },
                Position::Stream(StreamPosition {
                    commit_lsn: Lsn(lsn),
                    index: (lsn % 77) as u32,
                }),
            ] {
                let ev = ChangeEvent {
                    position,
                    op: crate::event::Op::Read,
                    table: table.clone(),
                    tx: Default::default(),
                    lsn: Lsn(lsn),
                    last_commit_lsn: None,
                    snapshot: crate::event::SnapshotMark::None,
                    before: None,
                    after: None,
                };
                let want = match position {
                    Position::Stream(p) => p.to_string(),
                    Position::Snapshot { snapshot_lsn, row } => {
                        format!("snapshot:{snapshot_lsn}:public.t:{row}")
                    }
                };
                // Twice (the cached prefix), then for another table of the same name.
                out.write(&ev);
                assert_eq!(out.as_str(), want);
                out.write(&ev);
                assert_eq!(out.as_str(), want);
                let renamed = ChangeEvent {
                    table: Arc::new(crate::schema::TableSchema {
                        name: "u".into(),
                        ..(*other).clone()
                    }),
                    ..ev.clone()
                };
                out.write(&renamed);
                assert_eq!(out.as_str(), want.replace("public.t:", "public.u:"));
            }
        }
    }
}
