//! Tasks: one shard of a task end to end (`runtime`), releasing what a task holds
//! (`release`), and the glue `tributary run` uses: a sled store under `--data-dir`, the
//! PostgreSQL source and the Kafka (or null) sink.
//!
//! The runtime is generic over the source and the sink and takes an injected checkpoint store,
//! a shard identity and an assignment epoch, so several shards and tasks run in one process
//! against one store (the cluster's workers), and tests run it with in-memory parts.

mod kafka;
mod release;
mod runtime;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

pub use kafka::kafka_config;
pub use release::{release, ReleaseReport};
pub use runtime::{run_shard, Epoch, ShardRuntime};

use crate::checkpoint::{CheckpointError, CheckpointStore, ShardKey, SledCheckpointStore};
use crate::config::{ConfigError, TaskSpec};
use crate::failpoint::Injected;
use crate::metrics::ShardLabels;
use crate::pipeline::runner::PipelineError;
use crate::pipeline::stats::Stats;
use crate::position::{Lsn, ResumeToken};
use crate::sink::kafka::KafkaSink;
use crate::sink::null::NullSink;
use crate::sink::SinkError;
use crate::source::postgres::PgSource;
use crate::source::{ErrorClass, SourceError};

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
    pub data_dir: PathBuf,
    pub sink: SinkChoice,
    pub stats: Arc<Stats>,
    pub shutdown: watch::Receiver<bool>,
    /// Stop once every change up to this LSN is durable (a cut-over point, or a benchmark's end).
    pub until_lsn: Option<Lsn>,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Stopped on request, progress saved.
    Stopped,
    /// A full-only task finished; its slot was dropped.
    Completed,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
    #[error("the checkpoint was made by a --sink {recorded} run, so a --sink {running} run {why}")]
    SinkMismatch {
        recorded: String,
        running: &'static str,
        why: &'static str,
    },
    #[error("objects.tables (or its per-table options) changed since the task's first start ({change}); adding or removing tables of a running task is not supported yet: restore the task file's selection, or run `tributary release` for this task and start it again with a new snapshot")]
    SelectionChanged { change: String },
}

impl TaskError {
    /// What the supervisor does about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            TaskError::Pipeline(p) => p.class(),
            _ => ErrorClass::Definite,
        }
    }

    /// Whether this stands in for a crash (a fail point in a test).
    pub fn is_injected(&self) -> bool {
        matches!(self, TaskError::Pipeline(p) if matches!(**p, PipelineError::Injected(_)))
    }
}

impl From<PipelineError> for TaskError {
    fn from(e: PipelineError) -> Self {
        TaskError::Pipeline(Box::new(e))
    }
}

macro_rules! via_pipeline {
    ($($t:ty),*) => {$(
        impl From<$t> for TaskError {
            fn from(e: $t) -> Self {
                TaskError::from(PipelineError::from(e))
            }
        }
    )*};
}
via_pipeline!(SourceError, SinkError, CheckpointError, Injected);

impl From<crate::source::postgres::error::PgSourceError> for TaskError {
    fn from(e: crate::source::postgres::error::PgSourceError) -> Self {
        TaskError::from(SourceError::from(e))
    }
}

/// A task that stopped with an error, and what it keeps on its source meanwhile.
#[derive(Debug)]
pub struct TaskFailure {
    pub error: TaskError,
    /// E.g. "replication slot X keeps WAL on the server until the task resumes".
    pub retained: Option<String>,
}

impl From<TaskError> for TaskFailure {
    fn from(error: TaskError) -> Self {
        TaskFailure {
            error,
            retained: None,
        }
    }
}

/// `tributary run`: shard 0 of a task, checkpoints in sled under the data directory.
pub async fn run_task(opts: TaskRunOptions) -> Result<TaskOutcome, TaskFailure> {
    let store: Arc<dyn CheckpointStore> = Arc::new(
        SledCheckpointStore::open(&opts.data_dir)
            .map_err(|e| TaskFailure::from(TaskError::from(e)))?,
    );
    let rt = ShardRuntime {
        key: ShardKey {
            task: opts.spec.name.clone(),
            shard: 0,
        },
        epoch: Epoch::TakeOver,
        store,
        stats: opts.stats,
        shutdown: opts.shutdown,
        until: opts.until_lsn.map(|l| ResumeToken::Pg { confirmed_lsn: l }),
        spec: opts.spec,
    };
    let spec = rt.spec.clone();
    let source = || Ok(PgSource::from_spec(&spec, 0)?);
    match opts.sink {
        SinkChoice::Kafka => {
            let sink = |labels: &ShardLabels| Ok(KafkaSink::new(kafka_config(&spec)?, labels)?);
            run_shard(rt, source, sink).await
        }
        SinkChoice::Null => run_shard(rt, source, |_: &ShardLabels| Ok(NullSink::default())).await,
    }
}
