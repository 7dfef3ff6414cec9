//! One shard of a task, end to end: load the checkpoint, check the source, first start or
//! resume, run the pipeline; retry transient errors after the first start, within the task's
//! retry windows (`retry`); complete a task without an incremental phase.
//!
//! ```text
//!  load ─► check ─┬─ first start: record names (save) ─► topics ─► record partition counts
//!                 │                                   ─► create slot ─► save ───────────┐
//!                 └─ resume: same selection? same sink? same partition counts? slot ok ─┴─► run
//! ```
//! A first start records the names of everything it will create before creating it, so a
//! process killed at any point leaves nothing the next start cannot find: the next start
//! replaces what is there under the same names (never a second slot), and `release` can drop
//! it. A first start that fails with an error removes what it created.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::retry::{AttemptReport, RetryStreak};
use super::{TaskError, TaskFailure, TaskOutcome};
use crate::checkpoint::{Checkpoint, CheckpointStore, PlannedObjects, ShardKey, TableProgress};
use crate::config::{OnSlotLoss, PartitionPolicy, Phase, TableSelector, TaskSpec};
use crate::failpoint;
use crate::metrics::{ShardLabels, ShardMetrics};
use crate::pipeline::commit::TransactionPolicy;
use crate::pipeline::phase::{self, ShardPhase};
use crate::pipeline::runner::{Progress, RunEnd, Runner, RunnerOptions};
use crate::pipeline::stats::Stats;
use crate::pipeline::throttle::Limits;
use crate::position::ResumeToken;
use crate::route::Routing;
use crate::schema::TableSchema;
use crate::sink::{Sink, TopicPlan};
use crate::source::{ErrorClass, Source};
use crate::topic::check_partitions;

/// Source batches buffered between the source and the runner (batches of up to 512 rows).
const SOURCE_CHANNEL_BATCHES: usize = 16;

/// Which assignment epoch a shard runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// One epoch above the stored one: `tributary run` takes its shard over.
    TakeOver,
    /// Given by the cluster's assignment; a store holding a newer one refuses this worker.
    Assigned(u64),
}

/// Everything a shard runs with, injected by its owner.
pub struct ShardRuntime {
    pub spec: TaskSpec,
    pub key: ShardKey,
    pub epoch: Epoch,
    pub store: Arc<dyn CheckpointStore>,
    pub stats: Arc<Stats>,
    pub shutdown: watch::Receiver<bool>,
    /// Stop once the saved resume token reaches this one.
    pub until: Option<ResumeToken>,
    /// Told what the shard is doing (`None`: nobody listens).
    pub status: Option<watch::Sender<ShardPhase>>,
    /// The task's rate limits as they change while it runs (`None`: the spec's, fixed).
    pub limits: Option<watch::Receiver<Limits>>,
    /// The shard's spec as it changes while it runs (`ctl task add-tables`, `ctl task
    /// resnapshot`; `None`: fixed). Each attempt starts from the newest; a source that follows
    /// it adopts added tables and reads tables again live, any other is restarted.
    pub specs: Option<watch::Receiver<Arc<TaskSpec>>>,
}

/// Runs the shard until it is stopped, completes, or fails for good. `source` and `sink` build
/// the parts of each attempt (`sink` for the checkpoint's incarnation).
pub async fn run_shard<So: Source, Si: Sink>(
    mut rt: ShardRuntime,
    source: impl Fn() -> Result<So, TaskError>,
    sink: impl Fn(&ShardLabels, &str) -> Result<Si, TaskError>,
) -> Result<TaskOutcome, TaskFailure> {
    let labels = ShardLabels::new(&rt.key.task, rt.key.shard);
    let epoch = epoch_for(&rt).await?;
    let mut streak = RetryStreak::new(&rt.spec.retry);
    loop {
        phase::report(&rt.status, ShardPhase::Starting);
        if let Some(specs) = &rt.specs {
            rt.spec = TaskSpec::clone(&specs.borrow());
        }
        let cp = match rt.store.load(&rt.key).await.map_err(TaskError::from)? {
            Some(cp) => cp,
            None => Checkpoint::new(new_incarnation()),
        };
        if cp.completed {
            return Ok(TaskOutcome::Completed);
        }
        let mut report = AttemptReport::default();
        let result = match (source(), sink(&labels, &cp.incarnation)) {
            (Ok(so), Ok(si)) => attempt(&mut rt, cp, epoch, so, si, &labels, &mut report).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let result = match result {
            Ok(Ended::Finished(cp)) => finish(&rt.key, &cp, source()).await,
            Ok(Ended::Stopped) => Ok(TaskOutcome::Stopped),
            Ok(Ended::SelectionGrew) => continue,
            Err(e) => Err(e),
        };
        let now = rt.store.load(&rt.key).await.ok().flatten();
        let started = now.as_ref().is_some_and(|c| c.started);
        let error = match result {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e,
        };
        if let (true, Some(old), OnSlotLoss::Resnapshot) =
            (error.slot_lost(), &now, rt.spec.source.on_slot_loss)
        {
            start_over(&rt, old, epoch, source(), &error).await?;
            continue;
        }
        let retry = started && error.class() == ErrorClass::Transient && !*rt.shutdown.borrow();
        if report.ran_well() {
            streak.reset();
        }
        match streak.next(error.is_connection()).filter(|_| retry) {
            Some(backoff) => {
                tracing::warn!(task = %rt.key.task, shard = rt.key.shard, error = %crate::error_chain(&error), retry_in = ?backoff, "task failed; retrying");
                let reason = error.to_string();
                phase::report(&rt.status, ShardPhase::Retrying { reason });
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = rt.shutdown.changed() => return Ok(TaskOutcome::Stopped),
                }
            }
            None => {
                if retry {
                    tracing::warn!(task = %rt.key.task, shard = rt.key.shard, error = %crate::error_chain(&error), failing_for = ?streak.age(), "task failed for longer than its retry window; giving up");
                }
                let retained = now
                    .and_then(|c| c.retained())
                    .filter(|_| !error.checkpoint_invalid());
                return Err(TaskFailure { error, retained });
            }
        }
    }
}

/// `source.on_slot_loss = "resnapshot"`: the slot is gone (a failover to a standby without
/// a synced copy), so the task starts again from scratch under a new incarnation: what the old
/// one holds on the source is dropped (best effort; the replica identities it set stay, still
/// recorded), and the next attempt is a first start with a new slot, reading every table.
async fn start_over<So: Source>(
    rt: &ShardRuntime,
    old: &Checkpoint,
    epoch: u64,
    source: Result<So, TaskError>,
    error: &TaskError,
) -> Result<(), TaskFailure> {
    tracing::warn!(task = %rt.key.task, shard = rt.key.shard, error = %crate::error_chain(error), "the slot is lost: starting again with a new slot and a new snapshot (source.on_slot_loss = \"resnapshot\")");
    let (fresh, others) = fresh_after_loss(old, epoch, new_incarnation());
    match source {
        Ok(mut s) => {
            if let Err(e) = s.remove(&others, true).await {
                tracing::warn!(task = %rt.key.task, shard = rt.key.shard, error = %e, "could not drop what the lost incarnation held on the source");
            }
        }
        Err(e) => {
            tracing::warn!(task = %rt.key.task, shard = rt.key.shard, error = %e, "could not drop what the lost incarnation held on the source")
        }
    }
    rt.store
        .save(&rt.key, &fresh)
        .await
        .map_err(|e| TaskFailure::from(TaskError::from(e)))?;
    Ok(())
}

/// The checkpoint a lost slot's task starts over from (a new `incarnation`, saved under
/// `epoch`, still recording the replica identities the lost one set, so deletion can give
/// them back), and what the lost incarnation held on the source that can go.
pub(super) fn fresh_after_loss(
    old: &Checkpoint,
    epoch: u64,
    incarnation: String,
) -> (Checkpoint, Vec<crate::checkpoint::SourceObject>) {
    let (identities, others): (Vec<_>, Vec<_>) = old
        .source_objects()
        .into_iter()
        .partition(|o| o.kind == crate::checkpoint::ObjectKind::ReplicaIdentity);
    let mut fresh = Checkpoint::new(incarnation);
    fresh.epoch = epoch;
    fresh.planned = Some(PlannedObjects {
        source: identities,
        topics: Vec::new(),
    });
    (fresh, others)
}

/// The epoch this run saves under.
async fn epoch_for(rt: &ShardRuntime) -> Result<u64, TaskError> {
    let stored = rt.store.load(&rt.key).await?.map_or(0, |c| c.epoch);
    Ok(match rt.epoch {
        Epoch::TakeOver => stored + 1,
        Epoch::Assigned(e) => e,
    })
}

/// A random id for a new task incarnation (8 hex digits).
fn new_incarnation() -> String {
    let mut b = [0u8; 4];
    if openssl::rand::rand_bytes(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b = (t.subsec_nanos() ^ t.as_secs() as u32).to_be_bytes();
    }
    hex::encode(b)
}

/// How an attempt ended without error.
enum Ended {
    Stopped,
    /// A task without an incremental phase is done (a full-only task read its snapshot, a
    /// schema-only one published its definitions): what it holds on the source can go.
    Finished(Box<Checkpoint>),
    /// Tables were added to the selection of a source that cannot adopt them while it runs,
    /// or it was asked to read a table again: the next attempt starts with them.
    SelectionGrew,
}

/// One attempt: check, set up (or verify) and run until stop, completion or error; `report`
/// says how far it got.
async fn attempt<So: Source, Si: Sink>(
    rt: &mut ShardRuntime,
    mut cp: Checkpoint,
    epoch: u64,
    mut source: So,
    mut sink: Si,
    labels: &ShardLabels,
    report: &mut AttemptReport,
) -> Result<Ended, TaskError> {
    cp.epoch = epoch;
    check_sink(&cp, sink.kind())?;
    if sink.transactional() {
        take_committed(rt, &mut cp, &mut sink).await?;
    }
    let info = source.check().await?;
    if let Some(p) = info.server_point {
        rt.stats
            .server_point
            .fetch_max(p.as_u64(), std::sync::atomic::Ordering::Relaxed);
    }
    let routing = Arc::new(Routing::new(&rt.spec));
    routing.check(&info.tables)?;
    let format = crate::format::build(&rt.spec, &info, labels, &routing)?;
    let plans = routing.topics(&info.tables);
    let topics: Vec<String> = plans.iter().map(|t| t.name.clone()).collect();
    let fixed = routing.policy() == Some(PartitionPolicy::PartitionZero);
    let known = if cp.started {
        let grown = check_selection(&rt.spec, &mut cp, &info.tables)?;
        take_rereads(rt, &mut cp, &info.tables);
        adopt_unrecorded(&mut cp, sink.kind(), &topics);
        sink.prepare_topics(&plans).await?;
        let before = cp.topic_partitions.clone();
        let known = record_partitions(&mut cp, &mut sink, &topics, fixed).await?;
        if cp.topic_partitions != before {
            // Newly recorded counts (an older checkpoint's topics) hold from now on.
            rt.store.save(&rt.key, &cp).await?;
        }
        source.resume(&mut cp).await?;
        if grown.is_some() {
            cp.selection = grown;
        }
        known
    } else {
        first_start(rt, &mut cp, &mut source, &mut sink, &plans, fixed).await?
    };
    let schema_id = register_schema(&rt.spec, &topics).await?;
    // With a registry, the messages carry the registered schema's id.
    let format = match schema_id {
        Some(_) => crate::format::build_registered(&rt.spec, &info, labels, &routing, schema_id)?,
        None => format,
    };
    let (confirm_tx, confirm_rx) = watch::channel(cp.resume.unwrap_or(ResumeToken::Pg {
        confirmed_lsn: crate::position::Lsn::ZERO,
    }));
    let (tx, mut rx) = mpsc::channel(SOURCE_CHANNEL_BATCHES);
    phase::report(&rt.status, first_phase(&rt.spec, &cp));
    let follows = rt.specs.clone().is_some_and(|s| source.follow_spec(s));
    let restart_on = rt.specs.clone().filter(|_| !follows);
    let running = tokio::spawn(source.run(cp.clone(), tx, confirm_rx));
    let mut runner_opts = runner_options(rt, &routing);
    runner_opts.new_topic = schema_id.and_then(|id| schema_hook(&rt.spec, id));
    runner_opts.oracle_ids = info.kind == "oracle";
    runner_opts.transactions = sink.transactional().then(|| transaction_policy(&rt.spec));
    let progress = Progress {
        store: rt.store.clone(),
        key: rt.key.clone(),
        checkpoint: cp,
    };
    let mut runner = Runner::new(
        sink,
        format,
        progress,
        confirm_tx,
        rt.stats.clone(),
        ShardMetrics::new(labels),
        runner_opts,
        known,
    );
    report.running_since = Some(tokio::time::Instant::now());
    let end = match restart_on {
        Some(specs) => tokio::select! {
            end = runner.run(&mut rx, &mut rt.shutdown) => Some(end),
            () = selection_grows(specs, &rt.spec) => None,
        },
        None => Some(runner.run(&mut rx, &mut rt.shutdown).await),
    };
    report.saves = runner.saves();
    running.abort();
    let Some(end) = end else {
        tracing::info!(task = %rt.key.task, shard = rt.key.shard, "tables added to the selection, or asked to be read again: starting the shard again");
        return Ok(Ended::SelectionGrew);
    };
    let end = end?;
    let cp = runner.checkpoint_state().clone();
    drop(runner);
    if end == RunEnd::SourceFinished && cp.completed {
        return Ok(Ended::Finished(Box::new(cp)));
    }
    Ok(Ended::Stopped)
}

/// Exactly-once's start: fence the shard's older producers, then read back the checkpoint
/// committed to Kafka with the shard's records. A newer one than the store's (a crash fell
/// between a Kafka commit and the save after it) is the truth: the records it covers are in
/// Kafka, so the shard resumes after them, and the store is brought up to it before the
/// source is checked against it.
async fn take_committed<Si: Sink>(
    rt: &ShardRuntime,
    cp: &mut Checkpoint,
    sink: &mut Si,
) -> Result<(), TaskError> {
    let Some(bytes) = sink.start_transactions().await? else {
        return Ok(());
    };
    let committed: Checkpoint =
        serde_json::from_slice(&bytes).map_err(|e| TaskError::CommittedCheckpoint {
            task: rt.key.task.clone(),
            shard: rt.key.shard,
            reason: e.to_string(),
        })?;
    if committed.incarnation != cp.incarnation || committed.commits <= cp.commits {
        return Ok(());
    }
    tracing::info!(task = %rt.key.task, shard = rt.key.shard, commits = committed.commits, stored = cp.commits, "the checkpoint committed to Kafka is newer than the stored one: resuming from it");
    let epoch = cp.epoch;
    *cp = committed;
    cp.epoch = epoch;
    rt.store.save(&rt.key, cp).await?;
    Ok(())
}

/// Tables the shard was asked to read again (`ctl task resnapshot`) and has not: unread from
/// here on, so the source reads them as it reads any unread table at a resume.
fn take_rereads(rt: &ShardRuntime, cp: &mut Checkpoint, tables: &[Arc<TableSchema>]) {
    let due = cp.rereads_due(&rt.spec.rereads);
    if due.is_empty() {
        return;
    }
    let captured: Vec<String> = due
        .iter()
        .map(|(t, _)| t.clone())
        .filter(|t| tables.iter().any(|s| s.qualified_name() == *t))
        .collect();
    tracing::info!(task = %rt.key.task, shard = rt.key.shard, tables = ?captured, "reading tables again, as asked");
    cp.take_rereads(&due, &captured);
}

/// Returns once `specs` selects other tables than `running` does, or asks for a table to be
/// read again.
async fn selection_grows(mut specs: watch::Receiver<Arc<TaskSpec>>, running: &TaskSpec) {
    let now = running.selection_record();
    loop {
        let spec = specs.borrow_and_update().clone();
        if spec.selection_record() != now || spec.rereads != running.rereads {
            return;
        }
        if specs.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// The pipeline's options: the spec's, with the current limits (and their later changes).
fn runner_options(rt: &ShardRuntime, routing: &Arc<Routing>) -> RunnerOptions {
    let mut live = rt.limits.clone();
    let limits = match &mut live {
        Some(rx) => *rx.borrow_and_update(),
        None => Limits::of(&rt.spec),
    };
    RunnerOptions {
        checkpoint_interval: rt.spec.migration.checkpoint_interval,
        limits,
        live_limits: live,
        phase: rt.status.clone(),
        snapshot_only: !rt.spec.has_phase(crate::config::Phase::Incremental),
        stop_at: rt.until,
        routing: Some(routing.clone()),
        new_topic: None,
        oracle_ids: false,
        bounds: rt.spec.destination.bounds(),
        transactions: None,
    }
}

/// Exactly-once's transaction size from the task's destination.
fn transaction_policy(spec: &TaskSpec) -> TransactionPolicy {
    let d = &spec.destination;
    TransactionPolicy {
        interval: d
            .transaction_interval
            .unwrap_or(crate::config::DEFAULT_TRANSACTION_INTERVAL),
        records: d
            .transaction_records
            .unwrap_or(crate::config::DEFAULT_TRANSACTION_RECORDS),
    }
}

/// With a schema registry, the DTS Avro `Record` schema registered under every topic's
/// `<topic>-value` subject before the first message: its id, for the Confluent framing.
async fn register_schema(spec: &TaskSpec, topics: &[String]) -> Result<Option<u32>, TaskError> {
    match &spec.destination.schema_registry {
        Some(registry) => Ok(Some(
            crate::registry::register_record_schema(registry, topics).await?,
        )),
        None => Ok(None),
    }
}

/// With a schema registry, registers the schema under a topic first written while running;
/// its id must be the one the task's messages carry (`id`).
fn schema_hook(spec: &TaskSpec, id: u32) -> Option<crate::pipeline::runner::NewTopicHook> {
    let registry = spec.destination.schema_registry.clone()?;
    Some(Arc::new(move |topic: String| {
        let registry = registry.clone();
        Box::pin(async move {
            let got =
                crate::registry::register_record_schema(&registry, std::slice::from_ref(&topic))
                    .await?;
            if got == id {
                return Ok(());
            }
            Err(crate::registry::RegistryError::IdMismatch {
                first: id,
                first_subject: "the task's other topics".into(),
                other: got,
                other_subject: crate::registry::value_subject(&topic),
            }
            .into())
        })
    }))
}

/// What a started attempt does first: read a snapshot while a table's is unfinished.
fn first_phase(spec: &TaskSpec, cp: &Checkpoint) -> ShardPhase {
    let unfinished = cp
        .tables
        .values()
        .any(|t| !matches!(t, crate::checkpoint::TableProgress::Done { .. }));
    if spec.has_phase(crate::config::Phase::Full) && unfinished {
        ShardPhase::Snapshot
    } else {
        ShardPhase::Streaming
    }
}

/// A run must use the sink its checkpoint's progress came from: a `--sink null` run confirms
/// positions whose records went nowhere, so it must never confirm on a Kafka run's slot, and
/// a Kafka run must not trust a slot a null run drained.
fn check_sink(cp: &Checkpoint, running: &'static str) -> Result<(), TaskError> {
    match cp.sink.as_deref() {
        Some(recorded) if recorded != running => Err(TaskError::SinkMismatch {
            recorded: recorded.to_owned(),
            running,
            why: if running == "null" {
                "would confirm its slot past records it discards: give the --sink null run its own --data-dir (it then creates its own slot)"
            } else {
                "cannot trust its slot, which the other run confirmed past records that went nowhere: use another --data-dir, or run `tributary release` on this one and start again with a new snapshot"
            },
        }),
        _ => Ok(()),
    }
}

/// The task file must select what the first start selected, or more: selectors added to
/// `objects.tables` are adopted, and the tables they name that the checkpoint does not know
/// are marked unread, so the source adds them to its publications and reads their snapshot
/// beside the stream (`ctl task add-tables`, or a task file edited between two runs).
/// Removing a selector or changing a per-table option is refused (a version-1 checkpoint,
/// which did not record the selection, adopts the current one).
///
/// Returns the grown selection, to record once the source has resumed: until then the
/// checkpoint's older selection tells the source that tables are being added (so it waits as
/// `crate::source::postgres::added` says, even when a start cut during that wait already
/// published them).
pub(super) fn check_selection(
    spec: &TaskSpec,
    cp: &mut Checkpoint,
    tables: &[Arc<TableSchema>],
) -> Result<Option<Vec<String>>, TaskError> {
    let now = spec.selection_record();
    let Some(then) = &cp.selection else {
        cp.selection = Some(now);
        return Ok(None);
    };
    if *then == now {
        return Ok(None);
    }
    let added: Vec<&String> = now.iter().filter(|s| !then.contains(s)).collect();
    let removed: Vec<&String> = then.iter().filter(|s| !now.contains(s)).collect();
    let only_tables_added =
        removed.is_empty() && !added.is_empty() && added.iter().all(|s| s.starts_with(TABLES_TAG));
    if only_tables_added && spec.has_phase(Phase::Incremental) {
        adopt_added(spec, cp, tables, &added);
        return Ok(Some(now));
    }
    let mut change = Vec::new();
    if !added.is_empty() {
        change.push(format!("added {added:?}"));
    }
    if !removed.is_empty() {
        change.push(format!("removed {removed:?}"));
    }
    if change.is_empty() {
        change.push("reordered".into());
    }
    if only_tables_added {
        change.push("the task has no incremental phase to read them beside".into());
    }
    Err(TaskError::SelectionChanged {
        change: change.join(", "),
    })
}

/// The `selection_record` tag of `objects.tables` entries.
const TABLES_TAG: &str = "tables=";

/// Marks the tables the `added` selectors name, and the checkpoint does not know, unread
/// (or, without a full phase, done: they stream from now on).
fn adopt_added(
    spec: &TaskSpec,
    cp: &mut Checkpoint,
    tables: &[Arc<TableSchema>],
    added: &[&String],
) {
    let selectors: Vec<TableSelector> = added
        .iter()
        .filter_map(|s| TableSelector::parse(s.strip_prefix(TABLES_TAG)?).ok())
        .collect();
    let progress = if spec.has_phase(Phase::Full) {
        TableProgress::Pending
    } else {
        TableProgress::Done { rows: 0 }
    };
    let mut new = Vec::new();
    for t in tables {
        let name = t.qualified_name();
        if !cp.tables.contains_key(&name) && selectors.iter().any(|s| s.matches(&t.schema, &t.name))
        {
            cp.tables.insert(name.clone(), progress.clone());
            new.push(name);
        }
    }
    tracing::info!(task = %spec.name, added = ?added, tables = ?new, "tables added to the task: published from now on, their snapshot read beside the stream");
}

/// A version-1 checkpoint recorded neither its sink nor its topics: the first run after the
/// upgrade records its own.
fn adopt_unrecorded(cp: &mut Checkpoint, sink: &str, topics: &[String]) {
    if cp.sink.is_none() {
        cp.sink = Some(sink.to_owned());
    }
    for t in topics {
        if !cp.topics.contains(t) {
            cp.topics.push(t.clone());
        }
    }
}

/// A first start: record the names, create topics and source objects, record the topics'
/// partition counts, save; undo on failure. Returns the topics' partition counts.
async fn first_start<So: Source, Si: Sink>(
    rt: &ShardRuntime,
    cp: &mut Checkpoint,
    source: &mut So,
    sink: &mut Si,
    plans: &[TopicPlan],
    fixed: bool,
) -> Result<HashMap<String, i32>, TaskError> {
    let topics: Vec<String> = plans.iter().map(|t| t.name.clone()).collect();
    cp.sink = Some(sink.kind().to_owned());
    cp.selection = Some(rt.spec.selection_record());
    // Every table is read at the first start: the requests to read one again are met.
    cp.rereads = rt.spec.rereads.clone();
    cp.topics = topics.clone();
    let mut planned = cp.planned.take().unwrap_or_default();
    let earlier = std::mem::take(&mut planned.source);
    planned.source = source.plan(&cp.incarnation);
    crate::checkpoint::keep_earlier_identities(&mut planned.source, &earlier);
    for t in sink.missing_topics(&topics).await? {
        if !planned.topics.contains(&t) {
            planned.topics.push(t);
        }
    }
    cp.planned = Some(planned.clone());
    rt.store.save(&rt.key, cp).await?;
    let created = create(rt, cp, source, sink, plans, fixed).await;
    if let Err(e) = &created {
        if !e.is_injected() {
            undo(&rt.key, &planned, source, sink).await;
        }
    }
    created
}

async fn create<So: Source, Si: Sink>(
    rt: &ShardRuntime,
    cp: &mut Checkpoint,
    source: &mut So,
    sink: &mut Si,
    plans: &[TopicPlan],
    fixed: bool,
) -> Result<HashMap<String, i32>, TaskError> {
    failpoint!(failpoint::TASK_AFTER_PLAN);
    sink.prepare_topics(plans).await?;
    let topics: Vec<String> = plans.iter().map(|t| t.name.clone()).collect();
    let known = record_partitions(cp, sink, &topics, fixed).await?;
    source.create(cp).await?;
    failpoint!(failpoint::TASK_AFTER_CREATE);
    cp.started = true;
    rt.store.save(&rt.key, cp).await?;
    Ok(known)
}

/// The partition count of each of `topics`, recorded in the checkpoint where it is new and
/// checked against the recorded one where it is not (`crate::topic::check_partitions`;
/// `fixed`: every record goes to partition 0).
async fn record_partitions<Si: Sink>(
    cp: &mut Checkpoint,
    sink: &mut Si,
    topics: &[String],
    fixed: bool,
) -> Result<HashMap<String, i32>, TaskError> {
    let known = sink.partition_counts(topics).await?;
    for t in topics {
        if let Some(n) = known.get(t) {
            check_partitions(&mut cp.topic_partitions, t, *n, fixed)?;
        }
    }
    Ok(known)
}

/// Removes what a failed first start created (best effort: failures are logged).
async fn undo<So: Source, Si: Sink>(
    key: &ShardKey,
    planned: &PlannedObjects,
    source: &mut So,
    sink: &mut Si,
) {
    if let Err(e) = source.remove(&planned.source, true).await {
        tracing::warn!(task = %key.task, shard = key.shard, error = %e, "could not remove what a failed first start created on the source");
    }
    if !planned.topics.is_empty() {
        if let Err(e) = sink.delete_topics(&planned.topics).await {
            tracing::warn!(task = %key.task, shard = key.shard, error = %e, "could not delete the topics of a failed first start");
        }
    }
}

/// A task without an incremental phase is done: drop what it holds on the source (a
/// schema-only task holds nothing, and its source is not asked to).
async fn finish<So: Source>(
    key: &ShardKey,
    cp: &Checkpoint,
    source: Result<So, TaskError>,
) -> Result<TaskOutcome, TaskError> {
    // Replica identities stay until the task is deleted (`release`).
    let mut objects = cp.source_objects();
    objects.retain(|o| o.kind != crate::checkpoint::ObjectKind::ReplicaIdentity);
    if objects.is_empty() {
        tracing::info!(task = %key.task, shard = key.shard, "task completed; it created nothing on the source");
        return Ok(TaskOutcome::Completed);
    }
    let dropped = source?.remove(&objects, true).await?;
    let names: Vec<&str> = dropped.iter().map(|o| o.name.as_str()).collect();
    tracing::info!(task = %key.task, shard = key.shard, dropped = ?names, "full load completed; slot and publications dropped");
    Ok(TaskOutcome::Completed)
}
