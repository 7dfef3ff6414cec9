//! `tributary run`'s wiring: shard 0 of a task in a one-node embedded cluster under
//! `--data-dir` (Raft state and epoch-fenced checkpoints as the workers have them, mirrored into
//! the local checkpoint store), the PostgreSQL source and the Kafka (or null) sink, on the
//! shard runtime the cluster's workers use.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::checkpoint::{CheckpointError, CheckpointStore, ShardKey, SledCheckpointStore};
use crate::cluster::embedded::Embedded;
use crate::config::{SourceKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::pipeline::stats::Stats;
use crate::position::{Lsn, ResumeToken};
use crate::precheck::{Context, Owned, Status};
use crate::sink::kafka::KafkaSink;
use crate::sink::null::NullSink;
use crate::source::postgres::PgSource;
use crate::source::Source;
use crate::task::{
    run_shard, shard_kafka_config, Epoch, ShardRuntime, TaskError, TaskFailure, TaskOutcome,
};

/// Which sink the task writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkChoice {
    Kafka,
    /// Discards records (benchmarks measure the source and format alone).
    Null,
}

/// How `tributary run` runs a task.
pub struct TaskRunOptions {
    pub spec: TaskSpec,
    /// The task file's text, recorded in the cluster state.
    pub spec_toml: String,
    pub data_dir: PathBuf,
    pub sink: SinkChoice,
    pub stats: Arc<Stats>,
    pub shutdown: watch::Receiver<bool>,
    /// Stop once every change up to this LSN is durable (a cut-over point, or a benchmark's end).
    pub until_lsn: Option<Lsn>,
    /// Precheck warnings accepted on the command line (`--accept-warnings`).
    pub accept_warnings: Vec<String>,
}

/// `tributary run`: shard 0 of a task in a one-node cluster under the data directory.
pub async fn run_task(opts: TaskRunOptions) -> Result<TaskOutcome, TaskFailure> {
    let fail = |e: CheckpointError| TaskFailure::from(TaskError::from(e));
    let legacy: Arc<dyn CheckpointStore> =
        Arc::new(SledCheckpointStore::open(&opts.data_dir).map_err(fail)?);
    let cluster = Embedded::start(&opts.data_dir).await.map_err(fail)?;
    let epoch = cluster
        .adopt(&opts.spec, &opts.spec_toml, &*legacy)
        .await
        .map_err(fail)?;
    let store = cluster.store(legacy);
    if let Err(e) = precheck_first_start(&opts, &*store).await {
        cluster.shutdown().await;
        return Err(e.into());
    }
    let result = Box::pin(run_shard_on(opts, store, epoch)).await;
    cluster.shutdown().await;
    result
}

/// Before a first start (no checkpoint, or one whose first start did not finish), the
/// precheck: a failed item or an unaccepted warning refuses the start before anything is
/// created. A resume is not prechecked (the task's slot is its own, its topics exist).
async fn precheck_first_start(
    opts: &TaskRunOptions,
    store: &dyn CheckpointStore,
) -> Result<(), TaskError> {
    let key = ShardKey {
        task: opts.spec.name.clone(),
        shard: 0,
    };
    let owned = match store.load(&key).await? {
        Some(cp) if cp.started => return Ok(()),
        // A null run writes no topic: another run's slot of the same task is no conflict
        // (benchmarks give it a data directory, so a slot, of its own).
        _ if opts.sink == SinkChoice::Null => Owned::All,
        Some(cp) => Owned::of_checkpoint(&cp),
        None => Owned::Nothing,
    };
    let ctx = Context {
        owned,
        broker: opts.sink == SinkChoice::Kafka,
        accept_warnings: opts.accept_warnings.clone(),
        ..Context::default()
    };
    let report = crate::precheck::run(&opts.spec, &ctx).await;
    for i in report.items.iter().filter(|i| i.status != Status::Pass) {
        tracing::warn!(task = %opts.spec.name, item = %i.name, accepted = i.accepted, "precheck: {}", i.line());
    }
    match report.refusal() {
        Some(line) => Err(TaskError::Precheck(line)),
        None => Ok(()),
    }
}

async fn run_shard_on(
    opts: TaskRunOptions,
    store: Arc<dyn CheckpointStore>,
    epoch: u64,
) -> Result<TaskOutcome, TaskFailure> {
    let rt = ShardRuntime {
        key: ShardKey {
            task: opts.spec.name.clone(),
            shard: 0,
        },
        epoch: Epoch::Assigned(epoch),
        store,
        stats: opts.stats,
        shutdown: opts.shutdown,
        until: opts.until_lsn.map(|l| ResumeToken::Pg { confirmed_lsn: l }),
        status: None,
        limits: None,
        specs: None,
        spec: opts.spec,
    };
    let spec = rt.spec.clone();
    match spec.source.kind {
        SourceKind::Postgres => {
            Box::pin(run_with(rt, opts.sink, || {
                Ok(PgSource::from_spec(&spec, 0)?)
            }))
            .await
        }
        #[cfg(feature = "oracle")]
        SourceKind::Oracle => {
            let source = || Ok(crate::source::oracle::source::real_source(&spec, 0)?);
            Box::pin(run_with(rt, opts.sink, source)).await
        }
        #[cfg(not(feature = "oracle"))]
        SourceKind::Oracle => Err(TaskError::from(
            spec.wired_source()
                .expect_err("refused without the oracle feature"),
        )
        .into()),
    }
}

/// Runs the shard with `source` and the chosen sink.
async fn run_with<So: Source>(
    rt: ShardRuntime,
    sink: SinkChoice,
    source: impl Fn() -> Result<So, TaskError>,
) -> Result<TaskOutcome, TaskFailure> {
    let spec = rt.spec.clone();
    match sink {
        SinkChoice::Kafka => {
            let sink = |labels: &ShardLabels, incarnation: &str| {
                let config = shard_kafka_config(&spec, labels.shard, incarnation)?;
                Ok(KafkaSink::new(config, labels)?)
            };
            run_shard(rt, source, sink).await
        }
        SinkChoice::Null => {
            run_shard(rt, source, |_: &ShardLabels, _: &str| {
                Ok(NullSink::default())
            })
            .await
        }
    }
}
