//! Tables added to a running task (`ctl task add-tables`) adopted by the running source, and
//! tables read again (`ctl task resnapshot`), with no restart of its shard and no pause of its
//! stream.
//!
//! ```text
//!  the shard's spec selects more tables ─► a job beside the stream (the stream goes on):
//!      preflight of the new spec ─► the tables it adds ─► ALTER PUBLICATION ... ADD and the
//!      wait for the transactions running then (`added`) ─► keyless ones: a fresh exported
//!      snapshot and its LSN
//!  ─► the source loop, at a transaction boundary: `SelectionGrown` (the checkpoint's
//!     selection and the tables, unread) ─► keyed tables join the chunked snapshot, read in
//!     chunks beside the stream; keyless ones are read whole once the stream reaches their
//!     snapshot's LSN (the stream waits for that read, as a resume's re-read does)
//! ```
//!
//! The stream remembers the transactions it passes on from the moment the job starts, before
//! the publication changes, so a chunk's guard (`super::chunk`) sees every transaction of an
//! added table the stream passed on. A job that fails ends the source with its error: the
//! retry starts the shard again, and its checkpoint adopts the tables as a restart does
//! (`crate::task::runtime`).
//!
//! A table read again is published already and its changes stream on: the job reads its
//! definition, waits for the commits in the WAL that a synchronous standby still holds
//! invisible (the stream may have passed one on before it remembered transactions, and a
//! chunk's snapshot would not see it: `added::wait_held_commits`), and the loop sends
//! `TablesReread` (the table unread, the request taken) and queues the table's chunks again
//! (or its whole read under a fresh exported snapshot, for a keyless table).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::added;
use super::chunk::ChunkedTable;
use super::definition::Fingerprints;
use super::error::PgSourceError;
use super::run::PendingSnapshot;
use super::setup::{self, PgSourceOptions};
use crate::checkpoint::TableProgress;
use crate::config::{TableSelection, TaskSpec};
use crate::schema::TableSchema;

/// What a finished job hands the source loop.
pub struct Adopted {
    /// The new spec's `selection_record`.
    pub record: Vec<String>,
    pub selection: TableSelection,
    /// Each added table with its progress (unread; done without a full phase).
    pub progress: Vec<(String, TableProgress)>,
    pub schemas: Vec<Arc<TableSchema>>,
    /// Keyed tables, to read in chunks beside the stream.
    pub chunked: Vec<ChunkedTable>,
    pub fingerprints: Fingerprints,
    /// Keyless tables, to read whole when the stream reaches the snapshot's LSN.
    pub whole: Option<PendingSnapshot>,
    /// Requests to read tables again that this job met (empty: it adopted added tables).
    pub rereads: Vec<(String, u64)>,
}

/// Follows the shard's spec and adopts the tables it adds, one job at a time.
pub struct Adopter {
    specs: watch::Receiver<Arc<TaskSpec>>,
    /// The source's options, with the selection it captures.
    base: PgSourceOptions,
    /// Requests to read tables again that the source took in (`Checkpoint::rereads`).
    rereads: BTreeMap<String, u64>,
    publications: Vec<String>,
    incarnation: String,
    job: Option<JoinHandle<Result<Adopted, PgSourceError>>>,
    done: Option<Result<Adopted, PgSourceError>>,
    /// A change the source cannot adopt was already reported.
    warned: Vec<String>,
    /// The spec may have changed since it was last looked at (checked at each of the source
    /// loop's turns, so a look costs nothing while it has not).
    pending: bool,
}

impl Adopter {
    pub fn new(
        specs: watch::Receiver<Arc<TaskSpec>>,
        base: PgSourceOptions,
        rereads: BTreeMap<String, u64>,
        publications: Vec<String>,
        incarnation: String,
    ) -> Adopter {
        Adopter {
            specs,
            base,
            rereads,
            publications,
            incarnation,
            job: None,
            done: None,
            warned: Vec::new(),
            pending: true,
        }
    }

    /// A job runs or its result waits to be taken.
    pub fn busy(&self) -> bool {
        self.job.is_some() || self.done.is_some()
    }

    /// Starts a job when the spec selects tables the source does not (returning the new
    /// selection, for the stream's DDL capture), or else when it asks for tables to be read
    /// again. `known` are the tables the source captures.
    pub fn start_if_grown(&mut self, known: &HashSet<u32>) -> Option<TableSelection> {
        if self.busy() {
            return None;
        }
        let changed = std::mem::take(&mut self.pending) | self.specs.has_changed().unwrap_or(false);
        if !changed {
            return None;
        }
        let spec = self.specs.borrow_and_update().clone();
        if let Some(selection) = self.start_adopting(&spec, known) {
            // Requests to read tables again are looked at once it is done.
            self.pending = true;
            return Some(selection);
        }
        self.start_rereading(&spec);
        None
    }

    fn start_adopting(&mut self, spec: &TaskSpec, known: &HashSet<u32>) -> Option<TableSelection> {
        let record = spec.selection_record();
        let current = &self.base.selection_record;
        if record == *current || record == self.warned {
            return None;
        }
        if current.iter().any(|s| !record.contains(s)) {
            // The leader refuses this; a restart would report it in one line.
            tracing::warn!(task = %self.base.task, shard = self.base.shard, was = ?current, now = ?record, "the task's selection changed other than by added tables: not adopted while the shard runs");
            self.warned = record;
            return None;
        }
        let selection = TableSelection::from_spec(&spec.objects).ok()?;
        let mut opts = self.base.clone();
        opts.selection = selection.clone();
        opts.selection_record = record;
        tracing::info!(task = %opts.task, shard = opts.shard, selection = ?opts.selection_record, "tables added to the running task: adopting them beside the stream");
        let job = adopt(
            opts,
            known.clone(),
            self.publications.clone(),
            self.incarnation.clone(),
        );
        self.job = Some(tokio::spawn(job));
        Some(selection)
    }

    fn start_rereading(&mut self, spec: &TaskSpec) {
        let due = crate::checkpoint::rereads_due(&self.rereads, &spec.rereads);
        if due.is_empty() {
            return;
        }
        tracing::info!(task = %self.base.task, shard = self.base.shard, tables = ?due.iter().map(|(t, _)| t).collect::<Vec<_>>(), "reading tables again beside the stream, as asked");
        let job = reread(self.base.clone(), due, self.incarnation.clone());
        self.job = Some(tokio::spawn(job));
    }

    /// The finished job's result, if there is one (without waiting).
    pub fn take_done(&mut self) -> Option<Result<Adopted, PgSourceError>> {
        if self.job.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Some(result) = self.job.as_mut().and_then(|j| j.now_or_never()) {
                self.job = None;
                self.done = Some(joined(result));
            }
        }
        let done = self.done.take()?;
        if let Ok(a) = &done {
            self.base.selection = a.selection.clone();
            self.base.selection_record = a.record.clone();
            self.rereads.extend(a.rereads.iter().cloned());
        }
        Some(done)
    }

    /// Waits until the running job ends or the spec changes. Cancel-safe.
    pub async fn wait(&mut self) {
        if let Some(job) = self.job.as_mut() {
            let result = job.await;
            self.job = None;
            self.done = Some(joined(result));
            return;
        }
        if self.done.is_some() || self.specs.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.pending = true;
    }
}

impl Drop for Adopter {
    fn drop(&mut self) {
        if let Some(job) = &self.job {
            job.abort();
        }
    }
}

fn joined(
    result: Result<Result<Adopted, PgSourceError>, tokio::task::JoinError>,
) -> Result<Adopted, PgSourceError> {
    result.unwrap_or_else(|e| {
        Err(PgSourceError::Protocol {
            context: "adopting added tables".into(),
            what: e.to_string(),
        })
    })
}

/// The job: finds the tables the new selection adds, publishes them and waits (`added`),
/// and plans their reads.
async fn adopt(
    opts: PgSourceOptions,
    known: HashSet<u32>,
    publications: Vec<String>,
    incarnation: String,
) -> Result<Adopted, PgSourceError> {
    let pre = setup::preflight(&opts).await?;
    added::publish_added(&opts, &pre, &publications, &incarnation, true).await?;
    let progress = if opts.full {
        TableProgress::Pending
    } else {
        TableProgress::Done { rows: 0 }
    };
    plan(
        &opts,
        &pre,
        |oid| !known.contains(&oid),
        progress,
        &incarnation,
    )
    .await
}

/// The job of a request to read tables again: their definitions, the wait for commits a
/// synchronous standby holds invisible, and their reads.
async fn reread(
    opts: PgSourceOptions,
    due: Vec<(String, u64)>,
    incarnation: String,
) -> Result<Adopted, PgSourceError> {
    let pre = setup::preflight(&opts).await?;
    added::wait_held_commits(&pre.catalog, &opts).await?;
    let asked: HashSet<u32> = pre
        .tables
        .iter()
        .filter(|t| due.iter().any(|(n, _)| *n == t.schema.qualified_name()))
        .map(|t| t.schema.oid)
        .collect();
    let progress = TableProgress::Pending;
    let mut planned = plan(
        &opts,
        &pre,
        |oid| asked.contains(&oid),
        progress,
        &incarnation,
    )
    .await?;
    planned.rereads = due;
    Ok(planned)
}

/// The reads of the tables `pick` chooses: keyed ones in chunks, keyless ones under a fresh
/// exported snapshot (none without a full phase).
async fn plan(
    opts: &PgSourceOptions,
    pre: &setup::Preflight,
    pick: impl Fn(u32) -> bool,
    progress: TableProgress,
    incarnation: &str,
) -> Result<Adopted, PgSourceError> {
    let picked: Vec<_> = pre.tables.iter().filter(|t| pick(t.schema.oid)).collect();
    let chunks = |t: &TableSchema| setup::reads_in_chunks(opts, t);
    let mut adopted = Adopted {
        record: opts.selection_record.clone(),
        selection: opts.selection.clone(),
        progress: picked
            .iter()
            .map(|t| (t.schema.qualified_name(), progress.clone()))
            .collect(),
        schemas: picked.iter().map(|t| t.schema.clone()).collect(),
        chunked: Vec::new(),
        fingerprints: pre
            .fingerprints
            .iter()
            .filter(|(oid, _)| pick(**oid))
            .map(|(oid, f)| (*oid, f.clone()))
            .collect(),
        whole: None,
        rereads: Vec::new(),
    };
    if !opts.full {
        return Ok(adopted);
    }
    adopted.chunked = setup::snapshot_tables(pre, |t| pick(t.schema.oid) && chunks(&t.schema))
        .into_iter()
        .map(|read| ChunkedTable {
            read,
            after: None,
            rows: 0,
        })
        .collect();
    let whole = setup::snapshot_tables(pre, |t| pick(t.schema.oid) && !chunks(&t.schema));
    if !whole.is_empty() {
        let (session, lsn) = setup::reread_session(opts, pre, incarnation).await?;
        adopted.whole = Some(PendingSnapshot {
            session,
            lsn,
            tables: whole,
            deferred: true,
        });
    }
    Ok(adopted)
}
