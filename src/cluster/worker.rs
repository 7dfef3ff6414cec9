//! A worker: runs the shards the leader assigned to this node, renews its lease, and stops
//! what it no longer owns.
//!
//! ```text
//!  heartbeat task ── every renew_every: Heartbeat{shard progress} ─► leader (lease renewed)
//!  reconcile loop ── on every applied entry: start owned shards, stop moved/paused/deleted
//!                    ones gracefully (checkpoint, then Released), abort lost ones at once
//! ```
//! Fencing: a worker whose lease has not been renewed for `lease - renew_every` by its own
//! monotonic clock aborts every shard (dropping a producer purges its queue) before the leader
//! can judge the lease expired; its later checkpoints are refused by epoch anyway.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::checkpoints::RaftCheckpointStore;
use super::lanes::{self, ClusterLanes};
use super::scheduler::now_ms;
use super::state::{
    ClusterState, Command, Desired, Response, ShardProgress, ShardReport, ShardState, ShardStatus,
};
use super::{ClusterHandle, Member};
use crate::checkpoint::{CheckpointError, ShardKey, TableProgress};
use crate::config::{SourceKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::pipeline::phase::ShardPhase;
use crate::pipeline::runner::PipelineError;
use crate::pipeline::stats::Stats;
use crate::pipeline::throttle::Limits;
use crate::sink::kafka::KafkaSink;
use crate::source::postgres::chunk::lane::Lanes;
use crate::source::postgres::PgSource;
use crate::source::ErrorClass;
use crate::task::{
    run_shard, shard_kafka_config, Epoch, ShardRuntime, TaskError, TaskFailure, TaskOutcome,
};

/// How often the reconcile loop looks again without a new entry.
const TICK: Duration = Duration::from_millis(100);
/// First wait before a failed shard is resumed automatically; doubles up to `AUTO_RESUME_MAX`.
const AUTO_RESUME_MIN: Duration = Duration::from_secs(10);
const AUTO_RESUME_MAX: Duration = Duration::from_secs(300);
/// A graceful stop at shutdown waits this long for the last checkpoint.
const STOP_BUDGET: Duration = Duration::from_secs(30);

/// How this worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub member: Member,
    pub lease: Duration,
    pub renew_every: Duration,
    /// The node file's `cluster_id` (exactly-once's transactional ids).
    pub cluster_id: String,
}

/// Why a running shard is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopReason {
    Move,
    Pause,
    Shutdown,
}

struct Running {
    epoch: u64,
    stop: watch::Sender<bool>,
    join: JoinHandle<Result<TaskOutcome, TaskFailure>>,
    stopping: Option<StopReason>,
    reported: ShardState,
    /// What the shard reports it is doing.
    phase: watch::Receiver<ShardPhase>,
    /// Its share of the task's throttles, changed live by UpdateTask.
    limits: watch::Sender<Limits>,
    /// The shard's spec, changed live by UpdateTask and AddTables.
    spec: watch::Sender<Arc<TaskSpec>>,
    /// The task file its limits and spec come from.
    spec_toml: String,
    /// The failure streak this run continues (an automatic resume).
    first_failed_ms: Option<u64>,
}

/// Shards this worker runs, shared with the heartbeat task.
type Live = Arc<Mutex<BTreeMap<ShardKey, (u64, Arc<Stats>)>>>;

struct Worker {
    handle: ClusterHandle,
    opts: WorkerOptions,
    running: BTreeMap<ShardKey, Running>,
    live: Live,
    renewed: watch::Receiver<Option<Instant>>,
    retry: BTreeMap<ShardKey, (Instant, Duration)>,
}

/// Runs until `shutdown`, then stops every shard gracefully (each saves its last checkpoint).
pub async fn run(handle: ClusterHandle, opts: WorkerOptions, mut shutdown: watch::Receiver<bool>) {
    let live: Live = Arc::default();
    let (renewed_tx, renewed) = watch::channel(None);
    let beat = tokio::spawn(heartbeat(
        handle.clone(),
        opts.clone(),
        live.clone(),
        renewed_tx,
    ));
    let mut applied = handle.view().subscribe();
    let mut w = Worker {
        handle,
        opts,
        running: BTreeMap::new(),
        live,
        renewed,
        retry: BTreeMap::new(),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = applied.changed() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        if !w.lease_held() {
            w.fence();
            continue;
        }
        w.reap().await;
        w.reconcile().await;
    }
    beat.abort();
    w.stop_all().await;
}

/// Renews the lease every `renew_every` with the progress of the running shards; registers
/// this worker when the state does not know it yet.
async fn heartbeat(
    handle: ClusterHandle,
    opts: WorkerOptions,
    live: Live,
    renewed: watch::Sender<Option<Instant>>,
) {
    let node = handle.node_id();
    let mut tick = tokio::time::interval(opts.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sent = Instant::now();
        let shards = reports(&handle, &live);
        let ok = match handle.propose(Command::Heartbeat { node, shards }).await {
            Ok(Response::Ok) => true,
            Ok(Response::Rejected { .. }) => {
                let member = opts.member.clone();
                matches!(
                    handle
                        .propose(Command::RegisterWorker { node, member })
                        .await,
                    Ok(Response::Ok)
                )
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "lease not renewed");
                false
            }
        };
        if ok {
            renewed.send_replace(Some(sent));
        }
    }
}

fn reports(handle: &ClusterHandle, live: &Live) -> Vec<ShardReport> {
    let live = live.lock().unwrap_or_else(|e| e.into_inner()).clone();
    handle.view().read(|s| {
        live.into_iter()
            .map(|(key, (epoch, stats))| {
                let progress = progress(s, &key, &stats);
                ShardReport {
                    key,
                    epoch,
                    progress,
                }
            })
            .collect()
    })
}

fn progress(s: &ClusterState, key: &ShardKey, stats: &Stats) -> ShardProgress {
    use std::sync::atomic::Ordering::Relaxed;
    let cp = s.checkpoints.get(key);
    let tables = cp.map(|c| &c.tables);
    ShardProgress {
        events: stats.stream_events.load(Relaxed),
        snapshot_rows: stats.snapshot_totals().0,
        tables_done: tables.map_or(0, |t| {
            t.values()
                .filter(|p| matches!(p, TableProgress::Done { .. }))
                .count() as u32
        }),
        tables_total: tables.map_or(0, |t| t.len() as u32),
        lag_ms: stats.lag_seconds().map_or(0, |l| (l * 1000.0) as u64),
        position: crate::position::Lsn(stats.confirmed_point.load(Relaxed)).to_string(),
    }
}

/// What this node's state says about one shard it owns.
struct Owned {
    epoch: u64,
    moving: bool,
    desired: Desired,
    status: ShardStatus,
    tables: Vec<String>,
    /// Its requests to read tables again (`ShardRecord::rereads`).
    rereads: BTreeMap<String, u64>,
    spec_toml: String,
    shard_count: u64,
    auto_resume_window: Option<Duration>,
}

impl Worker {
    fn lease_held(&self) -> bool {
        let margin = self.opts.lease.saturating_sub(self.opts.renew_every);
        self.renewed.borrow().is_some_and(|t| t.elapsed() < margin)
    }

    /// The lease is about to expire by this node's clock: abort everything at once.
    fn fence(&mut self) {
        if self.running.is_empty() {
            return;
        }
        tracing::error!(node = self.handle.node_id(), shards = self.running.len(), "lease not renewed in time: stopping every shard and purging their producer queues before the lease expires");
        for (key, r) in std::mem::take(&mut self.running) {
            r.join.abort();
            self.forget(&key);
        }
    }

    fn forget(&self, key: &ShardKey) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn owned(&self) -> BTreeMap<ShardKey, Owned> {
        let me = self.handle.node_id();
        self.handle.view().read(|s| {
            s.shards
                .iter()
                .filter(|(_, sh)| sh.owner == Some(me))
                .filter_map(|(k, sh)| {
                    let t = s.tasks.get(&k.task)?;
                    // Only a failed shard needs its window: parse the file for it alone.
                    let auto_resume_window = (sh.status.state == ShardState::Failed)
                        .then(|| TaskSpec::parse(&t.spec_toml).ok())
                        .flatten()
                        .map(|s| s.retry.auto_resume_window);
                    Some((
                        k.clone(),
                        Owned {
                            epoch: sh.epoch,
                            moving: sh.moving_to.is_some(),
                            desired: t.desired,
                            status: sh.status.clone(),
                            tables: sh.tables.clone(),
                            rereads: sh.rereads.clone(),
                            spec_toml: t.spec_toml.clone(),
                            shard_count: s.task_shards(&k.task).count() as u64,
                            auto_resume_window,
                        },
                    ))
                })
                .collect()
        })
    }

    async fn reconcile(&mut self) {
        let owned = self.owned();
        let keys: Vec<ShardKey> = self.running.keys().cloned().collect();
        for key in keys {
            self.check_running(&key, owned.get(&key)).await;
        }
        for (key, o) in &owned {
            if !self.running.contains_key(key) {
                self.consider_start(key, o).await;
            }
        }
    }

    /// Stops a running shard that moved, paused or was lost; reports its phase.
    async fn check_running(&mut self, key: &ShardKey, o: Option<&Owned>) {
        let Some(o) = o.filter(|o| Some(o.epoch) == self.running.get(key).map(|r| r.epoch)) else {
            if let Some(r) = self.running.remove(key) {
                tracing::warn!(task = %key.task, shard = key.shard, "shard assigned elsewhere or restarted (a new epoch): stopping this run at once");
                r.join.abort();
                self.forget(key);
            }
            return;
        };
        let Some(r) = self.running.get_mut(key) else {
            return;
        };
        if r.stopping.is_none() {
            let why = if o.moving {
                Some(StopReason::Move)
            } else if o.desired != Desired::Running {
                Some(StopReason::Pause)
            } else {
                None
            };
            if let Some(why) = why {
                tracing::info!(task = %key.task, shard = key.shard, reason = ?why, "stopping shard gracefully");
                r.stopping = Some(why);
                r.stop.send_replace(true);
                return;
            }
        }
        if r.spec_toml != o.spec_toml || r.spec.borrow().rereads != o.rereads {
            // UpdateTask: the shard's share of the new throttles applies without a restart.
            // AddTables: the shard's source adopts its added tables while it runs.
            // ResnapshotTable: it reads the table again beside its stream.
            if let Ok(spec) = TaskSpec::parse(&o.spec_toml) {
                r.limits
                    .send_replace(Limits::of(&spec).share(o.shard_count));
                let spec = shard_settings(spec.for_shard(&o.tables), &o.rereads, &self.opts);
                r.spec.send_replace(Arc::new(spec));
            }
            r.spec_toml = o.spec_toml.clone();
        }
        if r.stopping.is_some() {
            return;
        }
        let (state, reason) = match &*r.phase.borrow() {
            ShardPhase::Starting => (ShardState::Starting, None),
            ShardPhase::Snapshot => (ShardState::Snapshot, None),
            ShardPhase::Streaming => (ShardState::Streaming, None),
            ShardPhase::Retrying { reason } => (ShardState::Retrying, Some(reason.clone())),
        };
        if r.reported == state {
            return;
        }
        r.reported = state;
        if state == ShardState::Streaming {
            r.first_failed_ms = None;
        }
        let status = ShardStatus {
            state,
            transient: reason.is_some(),
            reason,
            generation: o.status.generation,
            first_failed_ms: r.first_failed_ms,
            ..Default::default()
        };
        let epoch = r.epoch;
        self.report(key, epoch, status).await;
    }

    async fn consider_start(&mut self, key: &ShardKey, o: &Owned) {
        if o.moving {
            let node = self.handle.node_id();
            let cmd = Command::Released {
                key: key.clone(),
                node,
                epoch: o.epoch,
            };
            self.propose(cmd).await;
            return;
        }
        if o.desired != Desired::Running {
            if !matches!(
                o.status.state,
                ShardState::Paused | ShardState::Completed | ShardState::Failed
            ) {
                let status = ShardStatus {
                    state: ShardState::Paused,
                    generation: o.status.generation,
                    ..Default::default()
                };
                self.report(key, o.epoch, status).await;
            }
            return;
        }
        match o.status.state {
            ShardState::Completed => return,
            ShardState::Failed if !self.auto_resume_due(key, o) => return,
            _ => {}
        }
        self.start(key, o).await;
    }

    /// A shard failed by a transient cause is resumed with back-off while inside the task's
    /// `retry.auto_resume_window`, counted from the first failure of the streak.
    fn auto_resume_due(&self, key: &ShardKey, o: &Owned) -> bool {
        let backed_off = self
            .retry
            .get(key)
            .is_none_or(|(at, _)| Instant::now() >= *at);
        backed_off && inside_auto_resume(&o.status, o.auto_resume_window, now_ms())
    }

    async fn start(&mut self, key: &ShardKey, o: &Owned) {
        let spec = match TaskSpec::parse(&o.spec_toml) {
            Ok(s) => s.for_shard(&o.tables),
            Err(e) => {
                let status = failed(key, &e.to_string(), false, None, o.status.generation);
                self.report(key, o.epoch, status).await;
                return;
            }
        };
        let spec = shard_settings(spec, &o.rereads, &self.opts);
        let auto = o.status.state == ShardState::Failed;
        let first_failed_ms = if auto { o.status.first_failed_ms } else { None };
        let state = if auto {
            ShardState::Retrying
        } else {
            ShardState::Starting
        };
        let status = ShardStatus {
            state,
            reason: o.status.reason.clone().filter(|_| auto),
            transient: auto,
            generation: o.status.generation,
            first_failed_ms,
            ..Default::default()
        };
        self.report(key, o.epoch, status).await;
        let (stop, stop_rx) = watch::channel(false);
        let (phase_tx, phase) = watch::channel(ShardPhase::Starting);
        let (limits, limits_rx) = watch::channel(Limits::of(&spec).share(o.shard_count));
        let stats = Arc::new(Stats::default());
        let (specs, specs_rx) = watch::channel(Arc::new(spec.clone()));
        let rt = ShardRuntime {
            spec: spec.clone(),
            key: key.clone(),
            epoch: Epoch::Assigned(o.epoch),
            store: Arc::new(RaftCheckpointStore::new(self.handle.clone())),
            stats: stats.clone(),
            shutdown: stop_rx,
            until: None,
            // Not wired yet: the worker could report phases and follow live rate changes.
            status: Some(phase_tx),
            limits: Some(limits_rx),
            specs: Some(specs_rx.clone()),
        };
        tracing::info!(task = %key.task, shard = key.shard, epoch = o.epoch, tables = ?o.tables, "starting shard");
        let shard = key.shard;
        let (handle, lane_key, epoch) = (self.handle.clone(), key.clone(), o.epoch);
        let join = tokio::spawn(async move {
            let source_spec = rt.spec.clone();
            let sink_spec = rt.spec.clone();
            let cluster_lanes = lanes::spreads(&source_spec).then(|| {
                Arc::new(ClusterLanes::new(
                    handle,
                    lane_key,
                    epoch,
                    source_spec.source.snapshot_lanes,
                ))
            });
            let sink_lanes = cluster_lanes.clone();
            let sink = move |labels: &ShardLabels, incarnation: &str| {
                let config = shard_kafka_config(&sink_spec, labels.shard, incarnation)?;
                if let Some(l) = &sink_lanes {
                    l.set_sink(&config);
                }
                Ok(KafkaSink::new(config, labels)?)
            };
            match source_spec.source.kind {
                SourceKind::Postgres => {
                    // The leader assigns a shard only after its previous owner released it or
                    // its lease expired: a session still holding the slot belongs to a lost
                    // owner.
                    let lanes: Option<Lanes> = cluster_lanes.map(|l| l as Lanes);
                    let source = move || {
                        let source = PgSource::from_spec(&specs_rx.borrow(), shard)?
                            .with_takeover(Arc::new(|| true));
                        Ok(match lanes.clone() {
                            Some(l) => source.with_lanes(l),
                            None => source,
                        })
                    };
                    Box::pin(run_shard(rt, source, sink)).await
                }
                #[cfg(feature = "oracle")]
                SourceKind::Oracle => {
                    let source = move || {
                        Ok(crate::source::oracle::source::real_source(
                            &specs_rx.borrow(),
                            shard,
                        )?)
                    };
                    Box::pin(run_shard(rt, source, sink)).await
                }
                #[cfg(not(feature = "oracle"))]
                SourceKind::Oracle => Err(crate::task::TaskError::from(
                    source_spec
                        .wired_source()
                        .expect_err("refused without the oracle feature"),
                )
                .into()),
            }
        });
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), (o.epoch, stats));
        self.running.insert(
            key.clone(),
            Running {
                epoch: o.epoch,
                stop,
                join,
                stopping: None,
                reported: state,
                phase,
                limits,
                spec: specs,
                spec_toml: o.spec_toml.clone(),
                first_failed_ms,
            },
        );
    }

    /// Handles shards whose run ended.
    async fn reap(&mut self) {
        let done: Vec<ShardKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.join.is_finished())
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            let Some(r) = self.running.remove(&key) else {
                continue;
            };
            self.forget(&key);
            let generation = self
                .handle
                .view()
                .read(|s| s.shards.get(&key).map_or(0, |sh| sh.status.generation));
            let result = r.join.await;
            let node = self.handle.node_id();
            match result {
                Ok(Ok(TaskOutcome::Stopped)) => match r.stopping {
                    Some(StopReason::Move) => {
                        tracing::info!(task = %key.task, shard = key.shard, "shard checkpointed and released for its move");
                        self.propose(Command::Released {
                            key: key.clone(),
                            node,
                            epoch: r.epoch,
                        })
                        .await;
                    }
                    Some(StopReason::Pause) => {
                        let status = ShardStatus {
                            state: ShardState::Paused,
                            generation,
                            ..Default::default()
                        };
                        self.report(&key, r.epoch, status).await;
                    }
                    _ => {}
                },
                Ok(Ok(TaskOutcome::Completed)) => {
                    let status = ShardStatus {
                        state: ShardState::Completed,
                        generation,
                        ..Default::default()
                    };
                    self.report(&key, r.epoch, status).await;
                }
                Ok(Err(f)) if is_fenced(&f.error) => {
                    tracing::warn!(task = %key.task, shard = key.shard, "shard moved to another worker: stopped");
                }
                Ok(Err(f)) => {
                    self.failed(&key, r.epoch, r.first_failed_ms, &f, generation)
                        .await
                }
                Err(e) => {
                    let status = failed(
                        &key,
                        &format!("the shard's task panicked: {e}"),
                        true,
                        r.first_failed_ms,
                        generation,
                    );
                    self.report(&key, r.epoch, status).await;
                }
            }
        }
    }

    async fn failed(
        &mut self,
        key: &ShardKey,
        epoch: u64,
        first_failed_ms: Option<u64>,
        f: &TaskFailure,
        generation: u64,
    ) {
        let mut reason = crate::error_chain(&f.error);
        if let Some(kept) = &f.retained {
            reason.push_str(&format!(" ({kept})"));
        }
        // Checkpoint storage is the cluster here: an unreachable leader passes. Before the
        // shard's first successful start every error fails it for the user to act on.
        let started = self
            .handle
            .view()
            .read(|s| s.checkpoints.get(key).is_some_and(|c| c.started));
        let transient = started && f.error.class() != ErrorClass::Definite;
        tracing::error!(task = %key.task, shard = key.shard, transient, error = %reason, "shard failed");
        let backoff = auto_resume_backoff(self.retry.get(key).map(|(_, b)| *b));
        self.retry
            .insert(key.clone(), (Instant::now() + backoff, backoff));
        let status = failed(key, &reason, transient, first_failed_ms, generation);
        self.report(key, epoch, status).await;
    }

    async fn report(&self, key: &ShardKey, epoch: u64, status: ShardStatus) {
        let node = self.handle.node_id();
        self.propose(Command::ReportStatus {
            key: key.clone(),
            node,
            epoch,
            status,
        })
        .await;
    }

    async fn propose(&self, cmd: Command) {
        let name = cmd.name();
        match self.handle.propose(cmd).await {
            Ok(Response::Ok) => {}
            Ok(Response::Rejected { reason, .. }) => {
                tracing::debug!(%reason, command = name, "worker command rejected")
            }
            Err(e) => tracing::warn!(error = %e, command = name, "worker could not propose"),
        }
    }

    async fn stop_all(&mut self) {
        for r in self.running.values_mut() {
            r.stopping = Some(StopReason::Shutdown);
            r.stop.send_replace(true);
        }
        let deadline = Instant::now() + STOP_BUDGET;
        for (key, r) in std::mem::take(&mut self.running) {
            match tokio::time::timeout_at(deadline, r.join).await {
                Ok(_) => tracing::info!(task = %key.task, shard = key.shard, "shard stopped"),
                Err(_) => {
                    tracing::warn!(task = %key.task, shard = key.shard, "shard did not stop in time")
                }
            }
        }
    }
}

fn failed(
    key: &ShardKey,
    reason: &str,
    transient: bool,
    first_failed_ms: Option<u64>,
    generation: u64,
) -> ShardStatus {
    ShardStatus {
        state: ShardState::Failed,
        reason: Some(format!("task {}, shard {}: {reason}", key.task, key.shard)),
        transient,
        since_ms: 0,
        generation,
        first_failed_ms,
    }
}

/// The shard runs elsewhere now: its store refused this worker's epoch, or (exactly-once) a
/// newer producer of the shard's transactional id fenced this one.
fn is_fenced(e: &TaskError) -> bool {
    matches!(e, TaskError::Pipeline(p) if matches!(&**p,
        PipelineError::Checkpoint(CheckpointError::Fenced { .. })
        | PipelineError::Sink(crate::sink::SinkError::Fenced { .. })))
}

/// The shard's requests to read tables again, the cluster's id, and a producer that gives up on a message
/// before this worker's lease could expire. (The shard's share of the task's throttles is
/// `Limits::share`, over the shard count the leader planned.)
fn shard_settings(
    mut spec: TaskSpec,
    rereads: &BTreeMap<String, u64>,
    opts: &WorkerOptions,
) -> TaskSpec {
    spec.rereads = rereads.clone();
    spec.cluster_id = opts.cluster_id.clone();
    let timeout = opts
        .lease
        .saturating_sub(Duration::from_millis(500))
        .max(Duration::from_millis(1000));
    spec.destination
        .properties
        .entry("message.timeout.ms".into())
        .or_insert_with(|| timeout.as_millis().to_string());
    spec
}

/// The wait before the next automatic resume: 10 s, doubling up to 5 min.
fn auto_resume_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(AUTO_RESUME_MIN, |b| (b * 2).min(AUTO_RESUME_MAX))
}

/// Whether a failed shard may still be resumed automatically at `now_ms`: failed by a
/// transient cause, within `window` of the first failure of its streak. Definite failures
/// wait for ResumeTask.
fn inside_auto_resume(status: &ShardStatus, window: Option<Duration>, now_ms: u64) -> bool {
    let (Some(window), Some(first)) = (window, status.first_failed_ms) else {
        return false;
    };
    status.state == ShardState::Failed
        && status.transient
        && now_ms.saturating_sub(first) < window.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_fenced_by_its_store_or_by_a_newer_producer_stops_without_failing() {
        let sink = TaskError::from(PipelineError::Sink(crate::sink::SinkError::Fenced {
            transactional_id: "t-shop-ab12-0".into(),
        }));
        let store = TaskError::from(PipelineError::Checkpoint(CheckpointError::Fenced {
            task: "shop".into(),
            shard: 0,
            epoch: 1,
            current: 2,
        }));
        assert!(is_fenced(&sink) && is_fenced(&store));
        let other = TaskError::from(PipelineError::Sink(crate::sink::SinkError::Unreachable {
            servers: "k:9092".into(),
        }));
        assert!(!is_fenced(&other));
    }

    const DAY: u64 = 24 * 3600 * 1000;

    fn failed_at(first: u64, transient: bool) -> ShardStatus {
        ShardStatus {
            state: ShardState::Failed,
            transient,
            first_failed_ms: Some(first),
            ..Default::default()
        }
    }

    #[test]
    fn transient_failures_resume_automatically_for_the_window_then_stay_failed() {
        let week = Some(crate::config::DEFAULT_AUTO_RESUME_WINDOW);
        assert!(inside_auto_resume(&failed_at(0, true), week, 6 * DAY));
        assert!(!inside_auto_resume(&failed_at(0, true), week, 7 * DAY + 1));
        assert!(
            !inside_auto_resume(&failed_at(0, false), week, 1),
            "definite: waits for ResumeTask"
        );
        let running = ShardStatus {
            state: ShardState::Streaming,
            ..failed_at(0, true)
        };
        assert!(!inside_auto_resume(&running, week, 1));
    }

    #[test]
    fn automatic_resumes_back_off_from_ten_seconds_to_five_minutes() {
        let mut waits = vec![auto_resume_backoff(None)];
        for _ in 0..6 {
            waits.push(auto_resume_backoff(waits.last().copied()));
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_shard_gets_its_share_of_the_task_throttle_and_a_producer_timeout_inside_the_lease() {
        let text = "name = \"t\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n[destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n[objects]\ntables = [\"public.t\"]\n[migration]\nstream_events_per_second = 900\n[throttle.full]\nmb_per_second = 1.5\nsource_qps = 6\n";
        let spec = TaskSpec::parse(text).unwrap();
        let share = Limits::of(&spec).share(3);
        assert_eq!(share.incremental_rows, Some(300.0));
        assert_eq!(share.full_bytes, Some(500_000.0));
        assert_eq!(share.full_queries, Some(2.0));
        assert_eq!(share.full_rows, None);
        assert_eq!(Limits::of(&spec).share(1), Limits::of(&spec));
        let opts = WorkerOptions {
            member: Member {
                raft_addr: "r:1".into(),
                admin_addr: "a:1".into(),
            },
            lease: Duration::from_secs(3),
            renew_every: Duration::from_secs(1),
            cluster_id: "east".into(),
        };
        let s = shard_settings(spec, &BTreeMap::new(), &opts);
        assert_eq!(s.destination.properties["message.timeout.ms"], "2500");
        assert_eq!(s.cluster_id, "east");
    }
}
