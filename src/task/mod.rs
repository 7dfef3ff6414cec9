//! Tasks: one shard of a task end to end (`runtime`) and releasing what a task holds
//! (`release`), whatever the source and the sink (`tributary run` wires a sled store, the
//! PostgreSQL source and the Kafka or null sink to it: `cli::run`).
//!
//! The runtime is generic over the source and the sink and takes an injected checkpoint store,
//! a shard identity and an assignment epoch, so several shards and tasks run in one process
//! against one store (the cluster's workers), and tests run it with in-memory parts.

mod kafka;
pub mod lane;
mod release;
mod retry;
mod runtime;
#[cfg(test)]
mod tests;

pub use kafka::{kafka_config, shard_kafka_config, DEFAULT_CLUSTER_ID};
pub use release::{release, ReleaseReport};
pub use runtime::{run_shard, Epoch, ShardRuntime};

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::failpoint::Injected;
use crate::pipeline::runner::PipelineError;
use crate::sink::SinkError;
use crate::source::{ErrorClass, SourceError};

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
    /// The precheck found a failed item or a warning the task does not accept (the line
    /// names each; nothing was created).
    #[error("{0}")]
    Precheck(String),
    #[error("objects.tables (or its per-table options) changed since the task's first start ({change}); a running task's tables can be added to (in `objects.tables`), not removed, and its per-table options cannot change: restore the task file's selection, or run `tributary release` for this task and start it again with a new snapshot")]
    SelectionChanged { change: String },
    #[error("the checkpoint of task {task}, shard {shard} committed to the Kafka checkpoint topic is unreadable ({reason}): was it written by a newer tributary? Delete the topic's record for this shard only if the task's topics are to be written again from its stored checkpoint")]
    CommittedCheckpoint {
        task: String,
        shard: u32,
        reason: String,
    },
}

impl TaskError {
    /// What the supervisor does about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            TaskError::Pipeline(p) => p.class(),
            _ => ErrorClass::Definite,
        }
    }

    /// Whether the source or the sink could not be reached (refused, timed out, closed): a
    /// transient error retried for `retry.connection_window` rather than `retry.other_window`.
    pub fn is_connection(&self) -> bool {
        match self {
            TaskError::Pipeline(p) => match &**p {
                PipelineError::Source(s) => s.is_connection(),
                PipelineError::Sink(s) => s.is_connection(),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the source no longer holds what the checkpoint recorded (a lost slot, another
    /// system's, one moved past the checkpoint): the task cannot resume, so its failure keeps
    /// nothing on the server worth naming.
    pub fn checkpoint_invalid(&self) -> bool {
        matches!(self, TaskError::Pipeline(p)
            if matches!(&**p, PipelineError::Source(s) if s.is_checkpoint_invalid()))
    }

    /// Whether the source's slot is gone or invalidated (`source.on_slot_loss`).
    pub fn slot_lost(&self) -> bool {
        matches!(self, TaskError::Pipeline(p)
            if matches!(&**p, PipelineError::Source(s) if s.is_slot_lost()))
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
via_pipeline!(
    SourceError,
    SinkError,
    CheckpointError,
    Injected,
    crate::registry::RegistryError
);

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
