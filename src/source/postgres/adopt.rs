//! Tables added to a running task (`ctl task add-tables`) adopted by the running source, with
//! no restart of its shard and no pause of its stream.
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

use std::collections::HashSet;
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
}

/// Follows the shard's spec and adopts the tables it adds, one job at a time.
pub struct Adopter {
    specs: watch::Receiver<Arc<TaskSpec>>,
    /// The selection the source captures (a `selection_record`).
    current: Vec<String>,
    base: PgSourceOptions,
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
        publications: Vec<String>,
        incarnation: String,
    ) -> Adopter {
        Adopter {
            specs,
            current: base.selection_record.clone(),
            base,
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

    /// Starts a job when the spec selects tables the source does not, returning the new
    /// selection (for the stream's DDL capture). `known` are the tables the source captures.
    pub fn start_if_grown(&mut self, known: &HashSet<u32>) -> Option<TableSelection> {
        if self.busy() {
            return None;
        }
        let changed = std::mem::take(&mut self.pending) | self.specs.has_changed().unwrap_or(false);
        if !changed {
            return None;
        }
        let spec = self.specs.borrow_and_update().clone();
        let record = spec.selection_record();
        if record == self.current || record == self.warned {
            return None;
        }
        if self.current.iter().any(|s| !record.contains(s)) {
            // The leader refuses this; a restart would report it in one line.
            tracing::warn!(task = %self.base.task, shard = self.base.shard, was = ?self.current, now = ?record, "the task's selection changed other than by added tables: not adopted while the shard runs");
            self.warned = record;
            return None;
        }
        let selection = TableSelection::from_spec(&spec.objects).ok()?;
        let mut opts = self.base.clone();
        opts.selection = selection.clone();
        opts.selection_record = record.clone();
        tracing::info!(task = %opts.task, shard = opts.shard, selection = ?record, "tables added to the running task: adopting them beside the stream");
        let job = adopt(
            opts,
            known.clone(),
            self.publications.clone(),
            self.incarnation.clone(),
        );
        self.job = Some(tokio::spawn(job));
        Some(selection)
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
            self.current = a.record.clone();
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
/// and opens a snapshot for the keyless ones.
async fn adopt(
    opts: PgSourceOptions,
    known: HashSet<u32>,
    publications: Vec<String>,
    incarnation: String,
) -> Result<Adopted, PgSourceError> {
    let pre = setup::preflight(&opts).await?;
    let is_new = |oid: u32| !known.contains(&oid);
    added::publish_added(&opts, &pre, &publications, &incarnation, true).await?;
    let new: Vec<_> = pre.tables.iter().filter(|t| is_new(t.schema.oid)).collect();
    let progress = if opts.full {
        TableProgress::Pending
    } else {
        TableProgress::Done { rows: 0 }
    };
    let chunks = |t: &TableSchema| setup::reads_in_chunks(&opts, t);
    let mut adopted = Adopted {
        record: opts.selection_record.clone(),
        selection: opts.selection.clone(),
        progress: new
            .iter()
            .map(|t| (t.schema.qualified_name(), progress.clone()))
            .collect(),
        schemas: new.iter().map(|t| t.schema.clone()).collect(),
        chunked: Vec::new(),
        fingerprints: pre
            .fingerprints
            .iter()
            .filter(|(oid, _)| is_new(**oid))
            .map(|(oid, f)| (*oid, f.clone()))
            .collect(),
        whole: None,
    };
    if !opts.full {
        return Ok(adopted);
    }
    adopted.chunked = setup::snapshot_tables(&pre, |t| is_new(t.schema.oid) && chunks(&t.schema))
        .into_iter()
        .map(|read| ChunkedTable {
            read,
            after: None,
            rows: 0,
        })
        .collect();
    let whole = setup::snapshot_tables(&pre, |t| is_new(t.schema.oid) && !chunks(&t.schema));
    if !whole.is_empty() {
        let (session, lsn) = setup::reread_session(&opts, &pre, &incarnation).await?;
        adopted.whole = Some(PendingSnapshot {
            session,
            lsn,
            tables: whole,
            deferred: true,
        });
    }
    Ok(adopted)
}
