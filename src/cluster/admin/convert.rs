//! Domain ↔ protobuf: the replicated records into the API's messages, a task's phase derived
//! from its shards, and every cluster, config and apply error into one gRPC status. Prost types
//! go no further into the domain than this file.

use std::collections::{BTreeMap, BTreeSet};

use tonic::Status;

use super::pb;
use crate::cluster::handle::MemberInfo;
use crate::cluster::state::{
    ClusterState, Desired, Rejection, ShardProgress, ShardRecord, ShardState, TaskRecord,
};
use crate::cluster::{ClusterError, NodeId};
use crate::config::{redact_toml, ConfigError};

/// A task's phase as a user sees it, derived from its desired state and its shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskPhase {
    Pending,
    Snapshot,
    Streaming,
    Paused,
    Failed,
    Completed,
    Deleting,
}

/// The task's phase: `Deleting` once deletion was asked; `Failed` when any shard failed (its
/// rows stop, whatever the others do); `Paused` when paused; `Completed` when every shard
/// completed; otherwise the furthest phase reached by a shard still running
/// (pending < snapshot < streaming). A shard retrying a transient failure counts as in the
/// snapshot while its tables are not all copied, else as streaming.
pub fn task_phase<'a>(
    task: &TaskRecord,
    shards: impl Iterator<Item = &'a ShardRecord>,
) -> TaskPhase {
    if task.desired == Desired::Deleted {
        return TaskPhase::Deleting;
    }
    let states: Vec<(ShardState, &ShardProgress)> =
        shards.map(|s| (s.status.state, &s.progress)).collect();
    if states.iter().any(|(s, _)| *s == ShardState::Failed) {
        return TaskPhase::Failed;
    }
    if task.desired == Desired::Paused {
        return TaskPhase::Paused;
    }
    if !states.is_empty() && states.iter().all(|(s, _)| *s == ShardState::Completed) {
        return TaskPhase::Completed;
    }
    states
        .iter()
        .filter(|(s, _)| *s != ShardState::Completed)
        .map(|(s, p)| running_phase(*s, p))
        .max()
        .unwrap_or(TaskPhase::Pending)
}

fn running_phase(state: ShardState, progress: &ShardProgress) -> TaskPhase {
    match state {
        ShardState::Snapshot => TaskPhase::Snapshot,
        ShardState::Streaming => TaskPhase::Streaming,
        ShardState::Retrying if progress.tables_done < progress.tables_total => TaskPhase::Snapshot,
        ShardState::Retrying => TaskPhase::Streaming,
        _ => TaskPhase::Pending,
    }
}

fn phase_pb(p: TaskPhase) -> pb::TaskPhase {
    match p {
        TaskPhase::Pending => pb::TaskPhase::Pending,
        TaskPhase::Snapshot => pb::TaskPhase::Snapshot,
        TaskPhase::Streaming => pb::TaskPhase::Streaming,
        TaskPhase::Paused => pb::TaskPhase::Paused,
        TaskPhase::Failed => pb::TaskPhase::Failed,
        TaskPhase::Completed => pb::TaskPhase::Completed,
        TaskPhase::Deleting => pb::TaskPhase::Deleting,
    }
}

fn desired_pb(d: Desired) -> pb::DesiredState {
    match d {
        Desired::Running => pb::DesiredState::Running,
        Desired::Paused => pb::DesiredState::Paused,
        Desired::Deleted => pb::DesiredState::Deleted,
    }
}

fn shard_state_pb(s: ShardState) -> pb::ShardState {
    match s {
        ShardState::Pending => pb::ShardState::Pending,
        ShardState::Starting => pb::ShardState::Starting,
        ShardState::Snapshot => pb::ShardState::Snapshot,
        ShardState::Streaming => pb::ShardState::Streaming,
        ShardState::Retrying => pb::ShardState::Retrying,
        ShardState::Paused => pb::ShardState::Paused,
        ShardState::Failed => pb::ShardState::Failed,
        ShardState::Completed => pb::ShardState::Completed,
    }
}

/// A task with its shards, its spec redacted.
pub fn task_pb(state: &ClusterState, task: &TaskRecord) -> pb::Task {
    let shards: Vec<(u32, &ShardRecord)> = state
        .task_shards(&task.name)
        .map(|(k, s)| (k.shard, s))
        .collect();
    let last_error = shards
        .iter()
        .filter_map(|(_, s)| s.status.reason.as_ref().map(|r| (s.status.since_ms, r)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, r)| r.clone());
    pb::Task {
        name: task.name.clone(),
        desired: desired_pb(task.desired) as i32,
        phase: phase_pb(task_phase(task, shards.iter().map(|(_, s)| *s))) as i32,
        labels: labels(&task.spec_toml),
        spec_toml: redact_toml(&task.spec_toml),
        created_ms: task.created_ms,
        shards: shards.iter().map(|(id, s)| shard_pb(*id, s)).collect(),
        last_error,
    }
}

fn shard_pb(id: u32, s: &ShardRecord) -> pb::Shard {
    let p = &s.progress;
    pb::Shard {
        id,
        tables: s.tables.clone(),
        owner: s.owner,
        epoch: s.epoch,
        state: shard_state_pb(s.status.state) as i32,
        reason: s.status.reason.clone(),
        transient: s.status.transient,
        progress: Some(pb::ShardProgress {
            events: p.events,
            snapshot_rows: p.snapshot_rows,
            tables_done: p.tables_done,
            tables_total: p.tables_total,
            lag_ms: p.lag_ms,
            position: p.position.clone(),
        }),
        moving_to: s.moving_to,
        since_ms: s.status.since_ms,
    }
}

/// The `[labels]` table of a stored spec (read loosely: the spec was validated on admission).
fn labels(spec_toml: &str) -> std::collections::HashMap<String, String> {
    let Ok(doc) = spec_toml.parse::<toml::Table>() else {
        return Default::default();
    };
    let Some(toml::Value::Table(labels)) = doc.get("labels") else {
        return Default::default();
    };
    labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect()
}

/// Every node Raft knows or the state registers, with its lease and shard count.
pub fn members_pb(
    state: &ClusterState,
    raft: &[MemberInfo],
    leader: Option<NodeId>,
    now_ms: u64,
) -> Vec<pb::Member> {
    let mut owned: BTreeMap<NodeId, u32> = BTreeMap::new();
    for s in state.shards.values() {
        if let Some(o) = s.owner {
            *owned.entry(o).or_default() += 1;
        }
    }
    let ids: BTreeSet<NodeId> = raft
        .iter()
        .map(|m| m.node)
        .chain(state.workers.keys().copied())
        .collect();
    ids.into_iter()
        .map(|id| {
            let info = raft.iter().find(|m| m.node == id);
            let worker = state.workers.get(&id);
            let member = info
                .map(|i| &i.member)
                .or(worker.map(|w| &w.member))
                .cloned()
                .unwrap_or_default();
            pb::Member {
                node_id: id,
                raft_addr: member.raft_addr,
                admin_addr: member.admin_addr,
                voter: info.is_some_and(|i| i.voter),
                leader: leader == Some(id),
                lease_age_ms: worker.map(|w| now_ms.saturating_sub(w.renewed_ms)),
                lost: worker.is_some_and(|w| w.lost),
                draining: worker.is_some_and(|w| w.draining),
                shard_count: owned.get(&id).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// Whether the cluster is healthy, and each problem with its fix.
pub fn health_pb(members: &[pb::Member], leader: Option<NodeId>) -> pb::Health {
    let mut degraded = Vec::new();
    if leader.is_none() {
        degraded.push("no leader: an election is running or a majority of workers is down; start the stopped workers (`scripts/cluster.sh status`)".to_owned());
    }
    for m in members.iter().filter(|m| m.lost) {
        degraded.push(format!(
            "worker {} is lost (no heartbeat for {}): its shards move to the others; restart it, or `tributary ctl worker remove {}`",
            m.node_id,
            age(m.lease_age_ms.unwrap_or(0)),
            m.node_id
        ));
    }
    pb::Health {
        ok: degraded.is_empty(),
        degraded,
    }
}

fn age(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// A cluster error as a status: no leader is retryable (`Unavailable`), the rest name the cause.
pub fn cluster_status(e: ClusterError) -> Status {
    match e {
        ClusterError::NoLeader(_) | ClusterError::Unreachable { .. } => {
            Status::unavailable(e.to_string())
        }
        ClusterError::Timeout(..) => Status::deadline_exceeded(e.to_string()),
        ClusterError::Raft(_) => Status::internal(e.to_string()),
    }
}

/// A command apply refused, as a status.
pub fn rejected_status(kind: Rejection, reason: String) -> Status {
    match kind {
        Rejection::NotFound => Status::not_found(reason),
        Rejection::AlreadyExists => Status::already_exists(reason),
        Rejection::StaleEpoch | Rejection::Conflict | Rejection::Regression => {
            Status::failed_precondition(reason)
        }
    }
}

/// A task file that does not parse or validate.
/// A precheck report as the API answers it.
pub fn precheck_pb(r: crate::precheck::Report) -> pb::PrecheckTaskResponse {
    pb::PrecheckTaskResponse {
        task: r.task,
        may_start: r.may_start,
        items: r
            .items
            .into_iter()
            .map(|i| pb::PrecheckItem {
                name: i.name,
                status: i.status.as_str().to_owned(),
                found: i.found,
                fix: i.fix,
                accepted: i.accepted,
            })
            .collect(),
    }
}

pub fn config_status(e: ConfigError) -> Status {
    Status::invalid_argument(match e {
        ConfigError::Parse { message, .. } => format!("task file is not valid: {message}"),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests;
