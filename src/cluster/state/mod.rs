//! The replicated state: tasks, shards, assignments with epochs, checkpoints and worker
//! leases, and the commands that change it.
//!
//! `apply` (in `apply.rs`) is deterministic: it reads only the command and the time the leader
//! stamped into it. A command that must not take effect (a checkpoint from a stale epoch or
//! moving backwards, a task that already exists) is answered with `Response::Rejected`, never
//! an error: an error from `apply` stops the node in openraft 0.9.

mod apply;
#[cfg(test)]
mod tests;
mod view;

pub use view::StateView;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Member, NodeId};
use crate::checkpoint::{Checkpoint, ShardKey};

/// A command with the proposing leader's wall-clock time (ms since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub at_ms: u64,
    pub cmd: Command,
}

impl std::fmt::Display for Stamped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.cmd.name(), self.at_ms)
    }
}

/// Everything that changes the replicated state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// A validated task with its shards (planned before proposing).
    CreateTask {
        task: TaskRecord,
        shards: Vec<ShardPlan>,
    },
    /// A new spec whose changes are all live-changeable (validated before proposing).
    UpdateTask { name: String, spec_toml: String },
    /// Tables added to a running task (validated and planned before proposing): the new
    /// spec, and each shard whose tables change or that is new. A changed shard keeps its
    /// epoch: its owner hands the running shard the new spec, whose source adopts the added
    /// tables live (`crate::source::postgres::adopt`); a shard starting later adopts them
    /// from its checkpoint (`crate::task::runtime`).
    AddTables {
        name: String,
        spec_toml: String,
        shards: Vec<ShardPlan>,
    },
    /// Read `table`'s snapshot again: its progress in the checkpoint of the shard that holds
    /// it becomes unread, and the shard restarts under a new epoch (fencing the run that
    /// would save its old progress over it).
    ResnapshotTable { name: String, table: String },
    /// Pause or resume (resuming clears failures).
    SetDesired { name: String, desired: Desired },
    /// Stop the task; the leader then drops its source objects (and topics when asked) and
    /// removes it.
    DeleteTask { name: String, delete_topics: bool },
    /// The task's source objects are dropped: its state goes.
    RemoveTask { name: String },
    /// A worker joins (or changes its addresses).
    RegisterWorker { node: NodeId, member: Member },
    /// Drain a worker: its shards move elsewhere; it takes no new ones.
    DrainWorker { node: NodeId },
    /// A drained worker leaves the state (after leaving the Raft membership).
    ForgetWorker { node: NodeId },
    /// A worker's lease is renewed at `at_ms`, with the progress of the shards it runs.
    Heartbeat {
        node: NodeId,
        shards: Vec<ShardReport>,
    },
    /// The scheduler declares a worker lost (its lease expired by the leader's stamps).
    ExpireWorker { node: NodeId },
    /// The scheduler's decision: `key` runs on `to` (None: nowhere) under epoch + 1, at once
    /// (`graceful` false: its owner is lost) or after its owner checkpointed and released it.
    Assign {
        key: ShardKey,
        to: Option<NodeId>,
        graceful: bool,
    },
    /// The owner stopped `key` after its last checkpoint: a pending move may proceed.
    Released {
        key: ShardKey,
        node: NodeId,
        epoch: u64,
    },
    /// A shard's state changed (running, failed with a reason...).
    ReportStatus {
        key: ShardKey,
        node: NodeId,
        epoch: u64,
        status: ShardStatus,
    },
    /// A checkpoint, fenced by the owner's assignment epoch.
    SaveCheckpoint {
        key: ShardKey,
        node: NodeId,
        epoch: u64,
        checkpoint: Box<Checkpoint>,
    },
    /// A checkpoint written by `tributary run` before it became a one-node cluster.
    ImportCheckpoint {
        key: ShardKey,
        checkpoint: Box<Checkpoint>,
    },
    /// No change: a leader's barrier (reads after it see everything committed before).
    Noop,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateTask { .. } => "create-task",
            Command::UpdateTask { .. } => "update-task",
            Command::AddTables { .. } => "add-tables",
            Command::ResnapshotTable { .. } => "resnapshot-table",
            Command::SetDesired { .. } => "set-desired",
            Command::DeleteTask { .. } => "delete-task",
            Command::RemoveTask { .. } => "remove-task",
            Command::RegisterWorker { .. } => "register-worker",
            Command::DrainWorker { .. } => "drain-worker",
            Command::ForgetWorker { .. } => "forget-worker",
            Command::Heartbeat { .. } => "heartbeat",
            Command::ExpireWorker { .. } => "expire-worker",
            Command::Assign { .. } => "assign",
            Command::Released { .. } => "released",
            Command::ReportStatus { .. } => "report-status",
            Command::SaveCheckpoint { .. } => "save-checkpoint",
            Command::ImportCheckpoint { .. } => "import-checkpoint",
            Command::Noop => "noop",
        }
    }
}

/// What `apply` answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    #[default]
    Ok,
    /// The command did not take effect, and why (one line).
    Rejected { reason: String, kind: Rejection },
}

/// Why a command was rejected, for callers that act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// The writer's assignment epoch is not the shard's current one: it lost the shard.
    StaleEpoch,
    /// A checkpoint would move progress backwards.
    Regression,
    NotFound,
    AlreadyExists,
    /// Not allowed in the current state (e.g. removing the last worker).
    Conflict,
}

impl Response {
    pub fn rejected(kind: Rejection, reason: impl Into<String>) -> Response {
        Response::Rejected {
            reason: reason.into(),
            kind,
        }
    }
}

/// What a user wants of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Paused,
    /// Stop, drop its source objects, remove its state.
    Deleted,
}

/// A task as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub name: String,
    /// The task file as given (secrets only by reference or inside the URL; redacted on read).
    pub spec_toml: String,
    pub desired: Desired,
    pub created_ms: u64,
    /// Bumped by every ResumeTask: shards failed before it start again.
    pub resume_generation: u64,
    /// Delete topics too when the task is deleted.
    pub delete_topics: bool,
}

/// One shard as planned at creation: which tables it moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPlan {
    pub shard: u32,
    /// Table selectors of this shard (exact `schema.table`, or `schema.*`).
    pub tables: Vec<String>,
}

/// A shard and where it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub tables: Vec<String>,
    /// The worker that may run it under `epoch` (None: unassigned).
    pub owner: Option<NodeId>,
    /// Raised by every assignment; checkpoints from another epoch are refused.
    pub epoch: u64,
    /// A graceful move waiting for the owner to release the shard.
    pub moving_to: Option<NodeId>,
    pub status: ShardStatus,
    pub progress: ShardProgress,
    /// Requests to read a table again (`ResnapshotTable`), each table with its latest
    /// request's number: the running shard takes them in beside its stream, and its
    /// checkpoint records those taken (`Checkpoint::rereads`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rereads: BTreeMap<String, u64>,
}

/// How a shard is doing, as its owner last reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStatus {
    pub state: ShardState,
    /// The last error, one line naming task, shard, table and position where known.
    pub reason: Option<String>,
    /// Whether the failure is transient (auto-resumed within the window).
    pub transient: bool,
    /// When the state was entered (leader's stamp).
    pub since_ms: u64,
    /// The `resume_generation` the state belongs to.
    pub generation: u64,
    /// When the current streak of failures began (kept across automatic resumes, cleared by
    /// a healthy run or a ResumeTask): the automatic-resume window counts from here.
    pub first_failed_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    #[default]
    Pending,
    Starting,
    Snapshot,
    Streaming,
    /// Retrying a transient failure within its window.
    Retrying,
    Paused,
    Failed,
    Completed,
}

/// Progress figures a worker reports with its heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    pub events: u64,
    pub snapshot_rows: u64,
    pub tables_done: u32,
    pub tables_total: u32,
    /// Milliseconds between the last event's commit on the source and its acknowledgement.
    pub lag_ms: u64,
    pub position: String,
}

/// One line of a heartbeat: a shard the worker runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    pub key: ShardKey,
    pub epoch: u64,
    pub progress: ShardProgress,
}

/// A worker and its lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub member: Member,
    /// The leader's stamp of the last heartbeat.
    pub renewed_ms: u64,
    /// Declared lost by the scheduler; a heartbeat brings it back.
    pub lost: bool,
    /// Being removed: takes no shards.
    pub draining: bool,
}

/// Everything replicated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub tasks: BTreeMap<String, TaskRecord>,
    pub shards: BTreeMap<ShardKey, ShardRecord>,
    pub checkpoints: BTreeMap<ShardKey, Checkpoint>,
    pub workers: BTreeMap<NodeId, WorkerRecord>,
}

impl ClusterState {
    /// The shards of `task`, in shard order.
    pub fn task_shards<'a>(
        &'a self,
        task: &'a str,
    ) -> impl Iterator<Item = (&'a ShardKey, &'a ShardRecord)> + 'a {
        self.shards.iter().filter(move |(k, _)| k.task == task)
    }

    /// The shard of `task` whose checkpoint knows `table` (`schema.table`).
    pub fn shard_of_table(&self, task: &str, table: &str) -> Option<&ShardKey> {
        self.checkpoints
            .iter()
            .find(|(k, cp)| k.task == task && cp.tables.contains_key(table))
            .map(|(k, _)| k)
    }

    /// Workers that may take shards: not lost, not draining.
    pub fn live_workers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.workers
            .iter()
            .filter(|(_, w)| !w.lost && !w.draining)
            .map(|(n, _)| *n)
    }
}
