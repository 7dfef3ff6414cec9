//! A worker's pipeline for ranges of another worker's chunked snapshot (a lane,
//! `crate::source::SnapshotLanes`): the shard's routing and format into a sink of its own,
//! with a progress that is never anyone's checkpoint (the shard's owner records the chunk).
//! Exactly-once, its sink is transactional and commits once per range, with the range's record
//! as the transaction's checkpoint record (`SourceItem::CommitWith`).
//!
//! ```text
//!  lane reader (source) ─► sender ─► Runner (format, routing, sink) ─► Kafka
//!                          Barrier ◄── every row before it acknowledged
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use super::TaskError;
use crate::checkpoint::{Checkpoint, MemoryCheckpointStore, ShardKey};
use crate::config::TaskSpec;
use crate::metrics::{ShardLabels, ShardMetrics};
use crate::pipeline::commit::TransactionPolicy;
use crate::pipeline::runner::PipelineError;
use crate::pipeline::runner::{Progress, RunEnd, Runner, RunnerOptions};
use crate::pipeline::stats::Stats;
use crate::pipeline::throttle::Limits;
use crate::position::{Lsn, ResumeToken};
use crate::route::Routing;
use crate::sink::Sink;
use crate::source::{SourceInfo, SourceItem, SourceSender};

/// Batches buffered between a lane's reader and its runner.
const LANE_CHANNEL_BATCHES: usize = 16;
/// Exactly-once, a lane's transactions are never due by time (its ranges commit them).
const LANE_NEVER_DUE: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// One shard's lane pipeline on this worker.
pub struct LanePipeline {
    tx: SourceSender,
    run: JoinHandle<Result<RunEnd, PipelineError>>,
    _stop: watch::Sender<bool>,
}

impl LanePipeline {
    /// Starts the runner of shard `key`'s lane: `spec` is the shard's, `info` what this
    /// worker's check of its source found.
    pub fn start<Si: Sink + Sync + 'static>(
        spec: &TaskSpec,
        key: &ShardKey,
        info: &SourceInfo,
        sink: Si,
    ) -> Result<LanePipeline, TaskError> {
        let labels = ShardLabels::new(&key.task, key.shard);
        let routing = Arc::new(Routing::new(spec));
        routing.check(&info.tables)?;
        let format = crate::format::build(spec, info, &labels, &routing)?;
        let (confirm, _) = watch::channel(ResumeToken::Pg {
            confirmed_lsn: Lsn::ZERO,
        });
        let progress = Progress {
            store: Arc::new(MemoryCheckpointStore::new()),
            key: key.clone(),
            checkpoint: Checkpoint::new("lane".into()),
        };
        let opts = RunnerOptions {
            checkpoint_interval: spec.migration.checkpoint_interval,
            limits: Limits::default(),
            live_limits: None,
            phase: None,
            snapshot_only: false,
            stop_at: None,
            routing: Some(routing),
            new_topic: None,
            oracle_ids: false,
            bounds: spec.destination.bounds(),
            // Exactly-once, a lane commits only when told to, each range with its record.
            transactions: sink.transactional().then_some(TransactionPolicy {
                interval: LANE_NEVER_DUE,
                records: u64::MAX,
            }),
        };
        let stats = Arc::new(Stats::default());
        let metrics = ShardMetrics::new(&labels);
        let mut runner = Runner::new(
            sink,
            format,
            progress,
            confirm,
            stats,
            metrics,
            opts,
            HashMap::new(),
        );
        let (tx, mut rx) = mpsc::channel(LANE_CHANNEL_BATCHES);
        let (stop, mut shutdown) = watch::channel(false);
        let run = tokio::spawn(async move { runner.run(&mut rx, &mut shutdown).await });
        Ok(LanePipeline {
            tx,
            run,
            _stop: stop,
        })
    }

    /// Where the lane's reader sends its rows.
    pub fn sender(&self) -> &SourceSender {
        &self.tx
    }

    /// Waits until every row sent so far is acknowledged; an error if the pipeline failed.
    pub async fn flushed(&mut self) -> Result<(), String> {
        self.then_flushed(Vec::new()).await
    }

    /// Exactly-once: commits every row sent so far with `record` as the transaction's
    /// checkpoint record, and waits for it; an error if the pipeline failed.
    pub async fn commit(&mut self, record: Vec<u8>) -> Result<(), String> {
        self.then_flushed(vec![SourceItem::CommitWith(record)])
            .await
    }

    /// Sends `items`, then waits until every record before a barrier after them is durable.
    async fn then_flushed(&mut self, mut items: Vec<SourceItem>) -> Result<(), String> {
        let done = Arc::new(Notify::new());
        items.push(SourceItem::Barrier(done.clone()));
        if self.tx.send(Ok(items)).await.is_err() {
            return Err(self.failure().await);
        }
        tokio::select! {
            _ = done.notified() => Ok(()),
            _ = &mut self.run => Err("the lane's pipeline stopped".into()),
        }
    }

    /// Whether the pipeline still runs.
    pub fn is_running(&self) -> bool {
        !self.run.is_finished()
    }

    async fn failure(&mut self) -> String {
        match (&mut self.run).await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(_)) => "the lane's pipeline stopped".into(),
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for LanePipeline {
    fn drop(&mut self) {
        self.run.abort();
    }
}
