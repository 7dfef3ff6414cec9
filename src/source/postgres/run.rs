//! Running a started PostgreSQL source: the snapshot, then the stream from the slot's
//! consistent point (or the checkpoint), with cut tables re-read when the stream reaches the
//! re-read snapshot's LSN so that every key's messages stay in time order.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_postgres::Client;

use super::adopt::{Adopted, Adopter};
use super::catalog::{self, TypeCache};
use super::chunk::{CatchUp, ChunkedSnapshot};
use super::conn::ReplicationConn;
use super::ddl;
use super::definition::{self, DefinitionCheck, Fingerprints};
use super::error::PgSourceError;
use super::health::{self, Watch};
use super::replication::ReplicationStream;
use super::setup::PgSourceOptions;
use super::snapshot::{SnapshotPlace, SnapshotSession, SnapshotTable};
use super::stream::{Capture, PgStream, StreamStop};
use super::takeover;
use crate::definition::TableDefinition;
use crate::position::{Lsn, ResumeToken, StreamPosition};
use crate::schema::TableSchema;
use crate::source::{SourceBatch, SourceItem, SourceSender};

/// A snapshot to read: its session, its LSN and the tables.
pub struct PendingSnapshot {
    pub session: SnapshotSession,
    pub lsn: Lsn,
    pub tables: Vec<SnapshotTable>,
    /// Read only when the stream reaches `lsn` (a resume's re-read); else read first.
    pub deferred: bool,
}

/// Everything a started source runs with.
pub struct SourceRun {
    pub opts: PgSourceOptions,
    pub repl: ReplicationConn,
    pub catalog: Client,
    pub types: TypeCache,
    pub publications: Vec<String>,
    pub slot_name: String,
    pub start_lsn: Lsn,
    pub skip_through: Option<StreamPosition>,
    pub snapshot: Option<PendingSnapshot>,
    pub known_tables: Vec<Arc<TableSchema>>,
    /// The schema phase's definitions, while it is not done (`None`: nothing to publish).
    pub definitions: Option<Vec<Arc<TableDefinition>>>,
    /// The tables' definitions when the task checked them, to detect DDL before incremental
    /// migration (`definition`).
    pub fingerprints: Fingerprints,
    /// The checkpoint's incarnation (names shard 0's DDL capture).
    pub incarnation: String,
    /// Tables read in key-range chunks beside the stream (`super::chunk`).
    pub chunked: Option<ChunkedSnapshot>,
    /// The snapshot's first table in the task's order (Debezium's `first` mark).
    pub first_table: Option<u32>,
    /// Adopts tables added to the running task (`None`: the selection is fixed).
    pub adopter: Option<Adopter>,
}

impl SourceRun {
    /// Runs until the stream fails or (full-only) the snapshot is read; errors go to `out`.
    pub async fn run(self, out: SourceSender, confirmed: watch::Receiver<ResumeToken>) {
        let err_out = out.clone();
        if let Err(e) = self.run_inner(out, confirmed).await {
            let _ = err_out.send(Err(e.into())).await;
        }
    }

    async fn run_inner(
        mut self,
        out: SourceSender,
        confirmed: watch::Receiver<ResumeToken>,
    ) -> Result<(), PgSourceError> {
        let defs = self.definitions.take();
        schema_phase(&self.opts, &self.catalog, &self.fingerprints, defs, &out).await?;
        let mut deferred = None;
        let mut chunked = self.chunked.take();
        let reads_chunks = chunked.as_ref().is_some_and(|c| !c.is_finished());
        if let Some(s) = self.snapshot.take() {
            if s.deferred && self.opts.incremental {
                deferred = Some(s);
            } else if s.tables.is_empty() {
                // Every table is read in chunks (or there is none).
                if !reads_chunks {
                    send(&out, vec![SourceItem::SnapshotDone]).await?;
                }
            } else {
                let tables: Vec<Arc<TableSchema>> =
                    s.tables.iter().map(|t| t.schema.clone()).collect();
                let client = self.opts.conn.connect_sql("definitions").await?;
                let fp = self.fingerprints.clone();
                let check = Arc::new(DefinitionCheck::new(client, fp, "full"));
                let place = SnapshotPlace {
                    first_table: self.first_table,
                    more_after: reads_chunks,
                };
                let read = s
                    .session
                    .read(s.tables, out.clone(), Some(check.clone()), place);
                let read = read.await;
                // DDL during the snapshot explains a failed read better than the read's error.
                check.tables(&tables).await?;
                read?;
                if !reads_chunks {
                    send(&out, vec![SourceItem::SnapshotDone]).await?;
                }
            }
        }
        chunked = chunked.map(|c| c.followed(deferred.is_some()));
        if !self.opts.incremental {
            return Ok(());
        }
        // Logical messages (captured DDL, the heartbeat) and streamed in-progress transactions
        // (protocol 2) need PostgreSQL 14's pgoutput.
        let v14 = catalog::server_version_num(&self.catalog).await? >= 140_000;
        let _watch = v14.then(|| health::spawn(self.watch(), out.clone()));
        let sql = start_replication(&self.slot_name, self.start_lsn, &self.publications, v14);
        let (io, rbuf) = takeover::start_replication(
            self.repl,
            &sql,
            &self.opts,
            &self.catalog,
            &self.slot_name,
        )
        .await?;
        let timing = (self.opts.status_interval, self.opts.receive_timeout);
        let repl = ReplicationStream::start(io, rbuf, confirmed, timing);
        let capture = Capture::new(
            self.opts.selection.clone(),
            &self.opts.task,
            self.opts.shard,
        );
        let mut stream = PgStream::new(
            repl,
            self.catalog,
            self.types,
            self.skip_through,
            &self.opts.task,
        )
        .with_capture(capture);
        let mut known: HashSet<u32> = self.known_tables.iter().map(|t| t.oid).collect();
        stream.seed_relations(self.known_tables);
        stream.stop_at(deferred.as_ref().map(|s| s.lsn));
        if let Some(c) = chunked.as_mut().filter(|c| !c.is_finished()) {
            c.recover(&mut stream).await?;
        }
        let mut adopter = self.adopter.take();
        // The chunked snapshot stays after its last table: a TRUNCATE its snapshots saw can
        // still make it read a table again, and tables added to the task join it.
        let mut chunks_done = !reads_chunks;
        loop {
            let mut adopting = false;
            if let Some(a) = adopter.as_mut() {
                if deferred.is_none() {
                    if let Some(selection) = a.start_if_grown(&known) {
                        stream.set_selection(selection);
                    }
                }
                adopting = a.busy();
                if let Some(done) = a.take_done().filter(|_| stream.at_boundary()) {
                    let added = Added {
                        stream: &mut stream,
                        chunked: &mut chunked,
                        deferred: &mut deferred,
                        known: &mut known,
                    };
                    added.take(done?, &out).await?;
                    continue;
                }
            }
            if let Some(c) = chunked.as_mut() {
                if beside_stream(c, &mut stream, &out, adopting).await? {
                    continue;
                }
                if c.is_finished() && !chunks_done {
                    chunks_done = true;
                    tracing::info!(task = %self.opts.task, shard = self.opts.shard, "chunked snapshot read");
                    if deferred.is_none() {
                        send(&out, vec![SourceItem::SnapshotDone]).await?;
                    }
                }
                chunks_done &= c.is_finished();
            }
            if let Some(a) = adopter.as_mut().filter(|_| !stream.has_pending()) {
                // Idle: a finished adoption or a changed spec is next, unless frames come.
                tokio::select! {
                    r = stream.wait_frames() => r?,
                    () = a.wait() => continue,
                }
            }
            let mut batch = Vec::new();
            let stop = stream.next_batch(&mut batch).await?;
            if !batch.is_empty() {
                send(&out, batch).await?;
            }
            if stop == StreamStop::Reached {
                if let Some(s) = deferred.take() {
                    tracing::info!(lsn = %s.lsn, tables = s.tables.len(), "stream reached the re-read snapshot: emitting re-read tables");
                    let place = SnapshotPlace::default();
                    s.session.read(s.tables, out.clone(), None, place).await?;
                    if chunked.as_ref().is_none_or(ChunkedSnapshot::is_finished) {
                        send(&out, vec![SourceItem::SnapshotDone]).await?;
                    }
                }
            }
        }
    }
}

/// The chunked snapshot's turn in the source loop: with the stream at a transaction boundary
/// and nothing received waiting, reads the next group of chunks (or waits for the stream or
/// for the time to read a refused group again). Returns `true` when it did something and the
/// loop should look again, `false` when the stream is next.
async fn beside_stream(
    chunks: &mut ChunkedSnapshot,
    stream: &mut PgStream,
    out: &SourceSender,
    adopting: bool,
) -> Result<bool, PgSourceError> {
    for oid in stream.take_truncated() {
        chunks.restart(oid, out).await?;
    }
    // While tables are being added, their chunks' guard needs the transactions passed on
    // from before their publication changed.
    stream.track_decoded(adopting || !chunks.is_finished());
    if chunks.is_finished() || !stream.at_boundary() || stream.has_pending() {
        return Ok(false);
    }
    chunks.connect().await?;
    match chunks.catch_up(stream.server_lsn) {
        CatchUp::Waiting => {
            tokio::select! {
                r = stream.wait_frames() => r?,
                _ = tokio::time::sleep_until(chunks.catch_up_until()) => {}
            }
            return Ok(true);
        }
        CatchUp::Passed(took) => {
            tracing::debug!(?took, "the stream caught up with the run's start: once more, to the server's position now");
            chunks.catch_up_again().await?;
            return Ok(true);
        }
        CatchUp::Done => {}
    }
    if chunks.ready() {
        #[cfg(feature = "failpoints")]
        crate::failpoint::hold(crate::failpoint::SOURCE_CHUNK_GROUP).await;
        chunks.step(stream, out).await?;
        // Changes that arrived meanwhile go first.
        stream.poll_frames()?;
        return Ok(true);
    }
    tokio::select! {
        r = stream.wait_frames() => r?,
        _ = tokio::time::sleep_until(chunks.retry_at()) => {}
    }
    Ok(true)
}

/// The source loop's state that tables added to the running task join.
struct Added<'a> {
    stream: &'a mut PgStream,
    chunked: &'a mut Option<ChunkedSnapshot>,
    deferred: &'a mut Option<PendingSnapshot>,
    known: &'a mut HashSet<u32>,
}

impl Added<'_> {
    /// Takes in a finished adoption (`super::adopt`), at a transaction boundary: the
    /// checkpoint's selection (or the requests to read tables again) first, then keyed tables
    /// join the chunked snapshot and keyless ones are read whole when the stream reaches their
    /// snapshot.
    async fn take(self, a: Adopted, out: &SourceSender) -> Result<(), PgSourceError> {
        let names: Vec<String> = a.progress.iter().map(|(t, _)| t.clone()).collect();
        let again = !a.rereads.is_empty();
        tracing::info!(tables = ?names, again, chunked = a.chunked.len(), whole = a.whole.as_ref().map_or(0, |w| w.tables.len()), "tables added to the running task, or read again: captured from here on");
        self.known.extend(a.schemas.iter().map(|t| t.oid));
        self.stream.set_selection(a.selection);
        self.stream.seed_relations(a.schemas);
        let first = if again {
            SourceItem::TablesReread {
                requests: a.rereads,
                tables: names,
            }
        } else {
            SourceItem::SelectionGrown {
                selection: a.record,
                tables: a.progress,
            }
        };
        send(out, vec![first]).await?;
        if let Some(c) = self.chunked.as_mut() {
            c.add(a.chunked, a.fingerprints);
        }
        if let Some(w) = a.whole {
            self.stream.stop_at(Some(w.lsn));
            *self.deferred = Some(w);
        }
        Ok(())
    }
}

/// `START_REPLICATION` for pgoutput. From PostgreSQL 14: protocol 2 with `streaming 'on'`, so a
/// transaction larger than `logical_decoding_work_mem` arrives in blocks while it runs (held
/// by `stream` until it commits) instead of being spilled and sent whole by the server, and
/// logical messages.
pub fn start_replication(slot: &str, at: Lsn, publications: &[String], v14: bool) -> String {
    let options = if v14 {
        "proto_version '2', streaming 'on', messages 'true', "
    } else {
        "proto_version '1', "
    };
    format!(
        "START_REPLICATION SLOT \"{slot}\" LOGICAL {at} ({options}publication_names '{}', binary 'true')",
        publications.join(",")
    )
}

impl SourceRun {
    /// The heartbeat and slot watcher's settings.
    fn watch(&self) -> Watch {
        let o = &self.opts;
        let captures = !ddl::plan(&o.task, &self.incarnation, o.shard, o.incremental).is_empty();
        Watch {
            conn: o.conn.clone(),
            task: o.task.clone(),
            shard: o.shard,
            slot: self.slot_name.clone(),
            heartbeat: o.heartbeat,
            max_retained_wal: o.max_retained_wal,
            capture: captures.then(|| self.incarnation.clone()),
        }
    }
}

/// A schema-only task's run: the schema phase from the catalog connection, then the end of
/// the task (`SnapshotDone`, there being no snapshot). It holds no slot, no replication
/// connection and no snapshot.
pub struct CatalogRun {
    pub opts: PgSourceOptions,
    pub catalog: Client,
    /// The schema phase's definitions, while it is not done (`None`: nothing to publish).
    pub definitions: Option<Vec<Arc<TableDefinition>>>,
    pub fingerprints: Fingerprints,
}

impl CatalogRun {
    /// Runs the schema phase and ends; errors go to `out`.
    pub async fn run(self, out: SourceSender) {
        let err_out = out.clone();
        let done = async {
            let defs = self.definitions;
            schema_phase(&self.opts, &self.catalog, &self.fingerprints, defs, &out).await?;
            send(&out, vec![SourceItem::SnapshotDone]).await
        };
        if let Err(e) = done.await {
            let _ = err_out.send(Err(e.into())).await;
        }
    }
}

/// The schema phase, unless done (`defs` is `None`): every table's definition, then its end.
/// Definitions changed since they were read fail the task instead of being published.
async fn schema_phase(
    opts: &PgSourceOptions,
    catalog: &Client,
    fingerprints: &Fingerprints,
    defs: Option<Vec<Arc<TableDefinition>>>,
    out: &SourceSender,
) -> Result<(), PgSourceError> {
    let Some(defs) = defs.filter(|_| opts.schema) else {
        return Ok(());
    };
    let tables: Vec<Arc<TableSchema>> = defs.iter().map(|d| d.table.clone()).collect();
    #[cfg(feature = "failpoints")]
    crate::failpoint::hold(crate::failpoint::SOURCE_SCHEMA_PHASE).await;
    definition::check_unchanged(catalog, fingerprints, &tables, "schema").await?;
    let mut batch: SourceBatch = defs.into_iter().map(SourceItem::TableDefinition).collect();
    batch.push(SourceItem::SchemaDone);
    tracing::info!(task = %opts.task, shard = opts.shard, tables = tables.len(), "schema phase: publishing each table's CREATE TABLE");
    send(out, batch).await
}

async fn send(out: &SourceSender, batch: SourceBatch) -> Result<(), PgSourceError> {
    out.send(Ok(batch))
        .await
        .map_err(|_| PgSourceError::Connection {
            context: "streaming changes".into(),
            reason: "the pipeline stopped".into(),
        })
}
