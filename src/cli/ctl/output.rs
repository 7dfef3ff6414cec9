//! What ctl prints with `--json`: plain structs with a stable shape, converted from the
//! protobuf answers (which may grow fields and number enums). States are lowercase words.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::admin::pb;

#[derive(Debug, Serialize)]
pub struct TaskView {
    pub name: String,
    /// running, paused or deleted.
    pub desired: &'static str,
    /// pending, snapshot, streaming, paused, failed, completed or deleting.
    pub phase: &'static str,
    pub labels: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub shards: Vec<ShardView>,
    pub last_error: Option<String>,
    /// The task file with its secrets replaced.
    pub spec_toml: String,
}

#[derive(Debug, Serialize)]
pub struct ShardView {
    pub id: u32,
    pub tables: Vec<String>,
    pub owner: Option<u64>,
    pub moving_to: Option<u64>,
    pub epoch: u64,
    /// pending, starting, snapshot, streaming, retrying, paused, failed or completed.
    pub state: &'static str,
    pub reason: Option<String>,
    pub transient: bool,
    pub since_ms: u64,
    pub events: u64,
    pub snapshot_rows: u64,
    pub tables_done: u32,
    pub tables_total: u32,
    pub lag_ms: u64,
    pub position: String,
}

#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub leader: Option<u64>,
    pub healthy: bool,
    /// One line per problem, each naming the fix.
    pub degraded: Vec<String>,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub node_id: u64,
    pub raft_addr: String,
    pub admin_addr: String,
    pub voter: bool,
    pub leader: bool,
    pub lease_age_ms: Option<u64>,
    pub lost: bool,
    pub draining: bool,
    pub shard_count: u32,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub task: String,
    /// False: deletion continues in the background.
    pub removed: bool,
    pub message: String,
}

impl Deleted {
    pub fn new(task: &str, r: pb::DeleteTaskResponse) -> Deleted {
        Deleted {
            task: task.to_owned(),
            removed: r.removed,
            message: r.message,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct WorkerChange {
    pub node_id: u64,
    /// added or removed.
    pub change: &'static str,
    pub message: String,
}

fn desired(v: i32) -> &'static str {
    match pb::DesiredState::try_from(v) {
        Ok(pb::DesiredState::Running) => "running",
        Ok(pb::DesiredState::Paused) => "paused",
        Ok(pb::DesiredState::Deleted) => "deleted",
        _ => "unknown",
    }
}

fn phase(v: i32) -> &'static str {
    match pb::TaskPhase::try_from(v) {
        Ok(pb::TaskPhase::Pending) => "pending",
        Ok(pb::TaskPhase::Snapshot) => "snapshot",
        Ok(pb::TaskPhase::Streaming) => "streaming",
        Ok(pb::TaskPhase::Paused) => "paused",
        Ok(pb::TaskPhase::Failed) => "failed",
        Ok(pb::TaskPhase::Completed) => "completed",
        Ok(pb::TaskPhase::Deleting) => "deleting",
        _ => "unknown",
    }
}

fn shard_state(v: i32) -> &'static str {
    match pb::ShardState::try_from(v) {
        Ok(pb::ShardState::Pending) => "pending",
        Ok(pb::ShardState::Starting) => "starting",
        Ok(pb::ShardState::Snapshot) => "snapshot",
        Ok(pb::ShardState::Streaming) => "streaming",
        Ok(pb::ShardState::Retrying) => "retrying",
        Ok(pb::ShardState::Paused) => "paused",
        Ok(pb::ShardState::Failed) => "failed",
        Ok(pb::ShardState::Completed) => "completed",
        _ => "unknown",
    }
}

impl From<pb::Task> for TaskView {
    fn from(t: pb::Task) -> TaskView {
        TaskView {
            desired: desired(t.desired),
            phase: phase(t.phase),
            name: t.name,
            labels: t.labels.into_iter().collect(),
            created_ms: t.created_ms,
            shards: t.shards.into_iter().map(ShardView::from).collect(),
            last_error: t.last_error,
            spec_toml: t.spec_toml,
        }
    }
}

impl From<pb::Shard> for ShardView {
    fn from(s: pb::Shard) -> ShardView {
        let p = s.progress.unwrap_or_default();
        ShardView {
            id: s.id,
            tables: s.tables,
            owner: s.owner,
            moving_to: s.moving_to,
            epoch: s.epoch,
            state: shard_state(s.state),
            reason: s.reason,
            transient: s.transient,
            since_ms: s.since_ms,
            events: p.events,
            snapshot_rows: p.snapshot_rows,
            tables_done: p.tables_done,
            tables_total: p.tables_total,
            lag_ms: p.lag_ms,
            position: p.position,
        }
    }
}

impl From<pb::ClusterStatusResponse> for ClusterView {
    fn from(r: pb::ClusterStatusResponse) -> ClusterView {
        let health = r.health.unwrap_or_default();
        ClusterView {
            leader: r.leader_id,
            healthy: health.ok,
            degraded: health.degraded,
            members: r
                .members
                .into_iter()
                .map(|m| MemberView {
                    node_id: m.node_id,
                    raft_addr: m.raft_addr,
                    admin_addr: m.admin_addr,
                    voter: m.voter,
                    leader: m.leader,
                    lease_age_ms: m.lease_age_ms,
                    lost: m.lost,
                    draining: m.draining,
                    shard_count: m.shard_count,
                })
                .collect(),
        }
    }
}

/// The admin API's precheck answer as the domain report (the same JSON and table as
/// `tributary precheck`).
pub fn precheck_report(r: pb::PrecheckTaskResponse) -> crate::precheck::Report {
    use crate::precheck::{Item, Status};
    crate::precheck::Report {
        task: r.task,
        may_start: r.may_start,
        items: r
            .items
            .into_iter()
            .map(|i| Item {
                status: Status::parse(&i.status).unwrap_or(Status::Fail),
                name: i.name,
                found: i.found,
                fix: i.fix,
                accepted: i.accepted,
            })
            .collect(),
    }
}
