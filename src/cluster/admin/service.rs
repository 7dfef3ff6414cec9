//! The admin service's calls: each validates, proposes through the leader or reads after a
//! barrier, and answers with one status whose message names the problem and the fix.
//!
//! Calls that start something the cluster finishes later (deleting a task, draining a worker)
//! wait for it on the applied state's signal, bounded by [`Limits`], never by sleeping.

// tonic's `Status` is every call's error type; boxing it in the helpers would only unbox it again.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use tonic::{Request, Response, Status};

use super::convert::{
    cluster_status, config_status, health_pb, members_pb, rejected_status, task_pb,
};
use super::pb::{self, admin_server::Admin};
use super::{AdminCluster, Limits};
use crate::cluster::state::{ClusterState, Command, Desired, ShardPlan, TaskRecord};
use crate::cluster::{ClusterError, Member, NodeId};
use crate::config::{Phase, TaskSpec};

/// The admin API over one node's view of the cluster.
pub struct AdminService<C> {
    cluster: C,
    limits: Limits,
}

impl<C: AdminCluster> AdminService<C> {
    pub fn new(cluster: C, limits: Limits) -> Self {
        AdminService { cluster, limits }
    }

    /// Proposes `cmd`; a rejection becomes its status.
    async fn apply(&self, cmd: Command) -> Result<(), Status> {
        match self.cluster.propose(cmd).await.map_err(cluster_status)? {
            crate::cluster::state::Response::Ok => Ok(()),
            crate::cluster::state::Response::Rejected { reason, kind } => {
                Err(rejected_status(kind, reason))
            }
        }
    }

    async fn barrier(&self) -> Result<(), Status> {
        self.cluster.read_barrier().await.map_err(cluster_status)
    }

    /// The task as this node applied it (call after a barrier or a proposal).
    fn task(&self, name: &str) -> Result<pb::Task, Status> {
        self.cluster
            .view()
            .read(|s| s.tasks.get(name).map(|t| task_pb(s, t)))
            .ok_or_else(|| no_task(name))
    }

    /// The stored task's spec, parsed.
    fn stored_spec(&self, name: &str) -> Result<TaskSpec, Status> {
        TaskSpec::parse(&self.stored(name)?.spec_toml).map_err(|e| {
            Status::failed_precondition(format!(
                "task {name}'s stored spec no longer parses ({e}): delete the task and create it again"
            ))
        })
    }

    /// The task's spec and file with `tables` added to `objects.tables`, refused (one line
    /// naming the fix) when a selector is empty, malformed or already selected, or the task
    /// has no incremental phase to read the added tables beside.
    fn addable(&self, name: &str, tables: &[String]) -> Result<(TaskSpec, String), Status> {
        let record = self.stored(name)?;
        let spec = self.stored_spec(name)?;
        if tables.is_empty() {
            return Err(Status::invalid_argument(format!(
                "no table to add to task {name}: name at least one, e.g. `tributary ctl task add-tables {name} public.orders`"
            )));
        }
        for t in tables {
            crate::config::TableSelector::parse(t).map_err(|e| {
                Status::invalid_argument(format!("cannot add {t:?} to task {name}: {e}"))
            })?;
            if spec.objects.tables.contains(t) {
                return Err(Status::already_exists(format!(
                    "task {name} already selects {t}: to read it again use `tributary ctl task resnapshot {name} TABLE`"
                )));
            }
        }
        if !spec.has_phase(Phase::Incremental) {
            return Err(Status::failed_precondition(format!(
                "task {name} has no incremental phase to read added tables beside: create a new task for {tables:?}"
            )));
        }
        let text = crate::config::with_added_tables(&record.spec_toml, tables)
            .map_err(|e| Status::failed_precondition(format!("task {name}: {e}")))?;
        let new = TaskSpec::parse(&text).map_err(config_status)?;
        Ok((new, text))
    }

    fn stored(&self, name: &str) -> Result<TaskRecord, Status> {
        self.cluster
            .view()
            .read(|s| s.tasks.get(name).cloned())
            .ok_or_else(|| no_task(name))
    }

    /// Waits until `done` holds on the applied state, at most `limit`; whether it did.
    async fn wait_until(&self, limit: Duration, done: impl Fn(&ClusterState) -> bool) -> bool {
        let view = self.cluster.view();
        let mut applied = view.subscribe();
        let wait = async {
            loop {
                applied.borrow_and_update();
                if view.read(&done) {
                    return;
                }
                if applied.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    async fn set_desired(&self, name: String, desired: Desired) -> Result<pb::Task, Status> {
        self.apply(Command::SetDesired {
            name: name.clone(),
            desired,
        })
        .await?;
        self.task(&name)
    }

    /// Drains `node`, waits for its shards to move, then takes it out of Raft and the state.
    async fn remove_worker(&self, node: NodeId) -> Result<(), Status> {
        self.apply(Command::DrainWorker { node }).await?;
        let owns = |s: &ClusterState| {
            s.shards
                .values()
                .filter(|r| r.owner == Some(node) || r.moving_to == Some(node))
                .count()
        };
        if !self
            .wait_until(self.limits.drain_wait, |s| owns(s) == 0)
            .await
        {
            let left = self.cluster.view().read(owns);
            return Err(Status::deadline_exceeded(format!(
                "worker {node} still owns {left} shard(s) after {}: it is draining and they move once another worker takes them (check `tributary ctl cluster status`); run `tributary ctl worker remove {node}` again",
                humantime::format_duration(self.limits.drain_wait)
            )));
        }
        if self.cluster.members().iter().any(|m| m.node == node) {
            self.cluster
                .remove_member(node)
                .await
                .map_err(cluster_status)?;
        }
        self.apply(Command::ForgetWorker { node }).await
    }
}

fn no_task(name: &str) -> Status {
    Status::not_found(format!(
        "no task named {name}: `tributary ctl task list` shows the tasks"
    ))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `host:port` with a numeric port.
fn check_addr(field: &str, addr: &str) -> Result<(), Status> {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        return Ok(());
    }
    Err(Status::invalid_argument(format!(
        "{field} {addr:?} is not host:port: give it as in the worker's node file, e.g. 127.0.0.1:7204"
    )))
}

#[tonic::async_trait]
impl<C: AdminCluster> Admin for AdminService<C> {
    async fn create_task(
        &self,
        req: Request<pb::CreateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let req = req.into_inner();
        let spec_toml = req.spec_toml;
        let spec = TaskSpec::parse(&spec_toml).map_err(config_status)?;
        crate::config::check_item_names("accept_warnings", &req.accept_warnings)
            .map_err(config_status)?;
        if self.stored(&spec.name).is_ok() {
            // Before planning: its precheck would report the task's own slot as taken.
            return Err(rejected_status(
                crate::cluster::state::Rejection::AlreadyExists,
                format!(
                    "task {} already exists: choose another name, or delete it first",
                    spec.name
                ),
            ));
        }
        let shards = self
            .cluster
            .plan(&spec, &req.accept_warnings)
            .await
            .map_err(|e| {
                Status::failed_precondition(format!("cannot plan task {}: {e}", spec.name))
            })?;
        let task = TaskRecord {
            name: spec.name.clone(),
            spec_toml,
            desired: Desired::Running,
            created_ms: 0,
            resume_generation: 0,
            delete_topics: false,
        };
        self.apply(Command::CreateTask { task, shards }).await?;
        self.task(&spec.name).map(Response::new)
    }

    async fn precheck_task(
        &self,
        req: Request<pb::PrecheckTaskRequest>,
    ) -> Result<Response<pb::PrecheckTaskResponse>, Status> {
        let req = req.into_inner();
        let spec = TaskSpec::parse(&req.spec_toml).map_err(config_status)?;
        crate::config::check_item_names("accept_warnings", &req.accept_warnings)
            .map_err(config_status)?;
        // A task that exists holds its own slot and publications.
        let owned = match self.stored(&spec.name) {
            Ok(_) => crate::precheck::Owned::All,
            Err(_) => crate::precheck::Owned::Nothing,
        };
        let ctx = crate::precheck::Context {
            owned,
            accept_warnings: req.accept_warnings,
            ..crate::precheck::Context::new_task()
        };
        let report = crate::precheck::run(&spec, &ctx).await;
        Ok(Response::new(super::convert::precheck_pb(report)))
    }

    async fn get_task(
        &self,
        req: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        self.barrier().await?;
        self.task(&req.into_inner().name).map(Response::new)
    }

    async fn list_tasks(
        &self,
        _req: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        self.barrier().await?;
        let tasks = self
            .cluster
            .view()
            .read(|s| s.tasks.values().map(|t| task_pb(s, t)).collect());
        Ok(Response::new(pb::ListTasksResponse { tasks }))
    }

    async fn update_task(
        &self,
        req: Request<pb::UpdateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let pb::UpdateTaskRequest { name, spec_toml } = req.into_inner();
        let new = TaskSpec::parse(&spec_toml).map_err(config_status)?;
        if new.name != name {
            return Err(Status::invalid_argument(format!(
                "the file names task {:?} but the update is for {name:?}: a task's name cannot change; fix `name` in the file",
                new.name
            )));
        }
        self.barrier().await?;
        let current = TaskSpec::parse(&self.stored(&name)?.spec_toml).map_err(|e| {
            Status::failed_precondition(format!(
                "task {name}'s stored spec no longer parses ({e}): delete the task and create it again"
            ))
        })?;
        current
            .check_live_update(&new)
            .map_err(|e| Status::failed_precondition(format!("task {name}: {e}")))?;
        self.apply(Command::UpdateTask {
            name: name.clone(),
            spec_toml,
        })
        .await?;
        self.task(&name).map(Response::new)
    }

    async fn add_tables(
        &self,
        req: Request<pb::AddTablesRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let pb::AddTablesRequest { name, tables } = req.into_inner();
        self.barrier().await?;
        let (spec, spec_toml) = self.addable(&name, &tables)?;
        let existing: Vec<ShardPlan> = self.cluster.view().read(|s| {
            s.task_shards(&name)
                .map(|(k, r)| ShardPlan {
                    shard: k.shard,
                    tables: r.tables.clone(),
                })
                .collect()
        });
        let groups = self.cluster.plan_added(&spec, &tables).await.map_err(|e| {
            Status::failed_precondition(format!("cannot add {tables:?} to task {name}: {e}"))
        })?;
        let shards = crate::cluster::plan::place_added(spec.sharding, &existing, groups);
        self.apply(Command::AddTables {
            name: name.clone(),
            spec_toml,
            shards,
        })
        .await?;
        self.task(&name).map(Response::new)
    }

    async fn resnapshot_table(
        &self,
        req: Request<pb::ResnapshotTableRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let pb::ResnapshotTableRequest { name, table } = req.into_inner();
        self.barrier().await?;
        let spec = self.stored_spec(&name)?;
        if !(spec.has_phase(Phase::Full) && spec.has_phase(Phase::Incremental)) {
            return Err(Status::failed_precondition(format!(
                "task {name} does not read its snapshot beside a stream (migration.phases needs \"full\" and \"incremental\"): create a new task to read {table} again"
            )));
        }
        self.apply(Command::ResnapshotTable {
            name: name.clone(),
            table,
        })
        .await?;
        self.task(&name).map(Response::new)
    }

    async fn pause_task(
        &self,
        req: Request<pb::PauseTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let name = req.into_inner().name;
        self.set_desired(name, Desired::Paused)
            .await
            .map(Response::new)
    }

    async fn resume_task(
        &self,
        req: Request<pb::ResumeTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let name = req.into_inner().name;
        self.set_desired(name, Desired::Running)
            .await
            .map(Response::new)
    }

    async fn delete_task(
        &self,
        req: Request<pb::DeleteTaskRequest>,
    ) -> Result<Response<pb::DeleteTaskResponse>, Status> {
        let pb::DeleteTaskRequest {
            name,
            delete_topics,
        } = req.into_inner();
        self.apply(Command::DeleteTask {
            name: name.clone(),
            delete_topics,
        })
        .await?;
        let removed = self
            .wait_until(self.limits.delete_wait, |s| !s.tasks.contains_key(&name))
            .await;
        let message = if removed {
            format!("task {name} deleted")
        } else {
            format!(
                "task {name} is being deleted: its shards stop and its slots and publications are dropped in the background (still going after {}); `tributary ctl task get {name}` shows it until it is gone",
                humantime::format_duration(self.limits.delete_wait)
            )
        };
        Ok(Response::new(pb::DeleteTaskResponse { removed, message }))
    }

    async fn cluster_status(
        &self,
        _req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        // Without a reachable leader this node's own view is still worth showing, marked
        // degraded.
        let stale = match self.cluster.read_barrier().await {
            Ok(()) => None,
            Err(e @ (ClusterError::NoLeader(_) | ClusterError::Unreachable { .. })) => Some(e),
            Err(e) => return Err(cluster_status(e)),
        };
        let leader = self.cluster.leader().map(|(id, _)| id);
        let raft = self.cluster.members();
        let members = self
            .cluster
            .view()
            .read(|s| members_pb(s, &raft, leader, now_ms()));
        let mut health = health_pb(&members, leader);
        if let (Some(e), Some(_)) = (stale, leader) {
            health.ok = false;
            health.degraded.insert(
                0,
                format!("this node cannot confirm the leader's state ({e}): the members shown are its own, possibly stale, view"),
            );
        }
        Ok(Response::new(pb::ClusterStatusResponse {
            members,
            leader_id: leader,
            health: Some(health),
        }))
    }

    async fn add_worker(
        &self,
        req: Request<pb::AddWorkerRequest>,
    ) -> Result<Response<pb::AddWorkerResponse>, Status> {
        let pb::AddWorkerRequest {
            node_id,
            raft_addr,
            admin_addr,
        } = req.into_inner();
        check_addr("raft_addr", &raft_addr)?;
        check_addr("admin_addr", &admin_addr)?;
        let member = Member {
            raft_addr,
            admin_addr,
        };
        self.cluster
            .add_member(node_id, member.clone())
            .await
            .map_err(cluster_status)?;
        self.apply(Command::RegisterWorker {
            node: node_id,
            member,
        })
        .await?;
        Ok(Response::new(pb::AddWorkerResponse {}))
    }

    async fn remove_worker(
        &self,
        req: Request<pb::RemoveWorkerRequest>,
    ) -> Result<Response<pb::RemoveWorkerResponse>, Status> {
        let node = req.into_inner().node_id;
        AdminService::remove_worker(self, node).await?;
        Ok(Response::new(pb::RemoveWorkerResponse {}))
    }
}
