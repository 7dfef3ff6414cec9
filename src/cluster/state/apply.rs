//! `ClusterState::apply`: the one place the replicated state changes. Deterministic: it reads
//! the command and the leader's stamp, nothing else, and answers refusals with
//! `Response::Rejected` (an `Err` would stop the node).

use super::{
    ClusterState, Command, Desired, Rejection, Response, ShardPlan, ShardProgress, ShardRecord,
    ShardState, ShardStatus, Stamped, WorkerRecord,
};
use crate::checkpoint::{check_replace, CheckpointError, ShardKey};
use crate::cluster::NodeId;

impl ClusterState {
    /// Applies one committed entry.
    pub fn apply(&mut self, entry: &Stamped) -> Response {
        let at = entry.at_ms;
        match &entry.cmd {
            Command::CreateTask { task, shards } => {
                if self.tasks.contains_key(&task.name) {
                    return Response::rejected(
                        Rejection::AlreadyExists,
                        format!(
                            "task {} already exists: choose another name, or delete it first",
                            task.name
                        ),
                    );
                }
                for plan in shards {
                    let key = ShardKey {
                        task: task.name.clone(),
                        shard: plan.shard,
                    };
                    self.shards.insert(key, new_shard(plan.tables.clone(), at));
                }
                let mut t = task.clone();
                t.created_ms = at;
                self.tasks.insert(t.name.clone(), t);
                Response::Ok
            }
            Command::UpdateTask { name, spec_toml } => match self.tasks.get_mut(name) {
                Some(t) => {
                    t.spec_toml = spec_toml.clone();
                    Response::Ok
                }
                None => no_task(name),
            },
            Command::AddTables {
                name,
                spec_toml,
                shards,
            } => self.add_tables(name, spec_toml, shards, at),
            Command::ResnapshotTable { name, table } => self.resnapshot(name, table),
            Command::SetDesired { name, desired } => self.set_desired(name, *desired, at),
            Command::DeleteTask {
                name,
                delete_topics,
            } => match self.tasks.get_mut(name) {
                Some(t) => {
                    t.desired = Desired::Deleted;
                    t.delete_topics |= *delete_topics;
                    Response::Ok
                }
                None => no_task(name),
            },
            Command::RemoveTask { name } => {
                if self.tasks.remove(name).is_none() {
                    return no_task(name);
                }
                self.shards.retain(|k, _| &k.task != name);
                self.checkpoints.retain(|k, _| &k.task != name);
                Response::Ok
            }
            Command::RegisterWorker { node, member } => {
                self.workers.insert(
                    *node,
                    WorkerRecord {
                        member: member.clone(),
                        renewed_ms: at,
                        lost: false,
                        draining: false,
                    },
                );
                Response::Ok
            }
            Command::DrainWorker { node } => self.drain(*node),
            Command::ForgetWorker { node } => {
                if self.workers.remove(node).is_none() {
                    return no_worker(*node);
                }
                for s in self.shards.values_mut() {
                    if s.owner == Some(*node) {
                        s.owner = None;
                        s.moving_to = None;
                        s.epoch += 1;
                    }
                }
                Response::Ok
            }
            Command::Heartbeat { node, shards } => {
                let Some(w) = self.workers.get_mut(node) else {
                    return no_worker(*node);
                };
                w.renewed_ms = at;
                w.lost = false;
                for r in shards {
                    if let Some(s) = self.shards.get_mut(&r.key) {
                        if s.owner == Some(*node) && s.epoch == r.epoch {
                            s.progress = r.progress.clone();
                        }
                    }
                }
                Response::Ok
            }
            Command::ExpireWorker { node } => match self.workers.get_mut(node) {
                Some(w) => {
                    w.lost = true;
                    Response::Ok
                }
                None => no_worker(*node),
            },
            Command::Assign { key, to, graceful } => self.assign(key, *to, *graceful, at),
            Command::Released { key, node, epoch } => {
                let Some(s) = self.shards.get_mut(key) else {
                    return no_shard(key);
                };
                if let Err(r) = owns(s, key, *node, *epoch) {
                    return r;
                }
                s.owner = s.moving_to.take();
                s.epoch += 1;
                s.status = pending(at, s.status.generation);
                Response::Ok
            }
            Command::ReportStatus {
                key,
                node,
                epoch,
                status,
            } => {
                let Some(s) = self.shards.get_mut(key) else {
                    return no_shard(key);
                };
                if let Err(r) = owns(s, key, *node, *epoch) {
                    return r;
                }
                let failed = status.state == ShardState::Failed;
                s.status = ShardStatus {
                    since_ms: at,
                    first_failed_ms: status.first_failed_ms.or(failed.then_some(at)),
                    ..status.clone()
                };
                Response::Ok
            }
            Command::SaveCheckpoint {
                key,
                node,
                epoch,
                checkpoint,
            } => {
                let Some(s) = self.shards.get(key) else {
                    return no_shard(key);
                };
                if let Err(r) = owns(s, key, *node, *epoch) {
                    return r;
                }
                if let Err(e) = check_replace(key, self.checkpoints.get(key), checkpoint) {
                    let kind = match e {
                        CheckpointError::Regression { .. } => Rejection::Regression,
                        _ => Rejection::StaleEpoch,
                    };
                    return Response::rejected(kind, e.to_string());
                }
                self.checkpoints.insert(key.clone(), (**checkpoint).clone());
                Response::Ok
            }
            Command::ImportCheckpoint { key, checkpoint } => {
                if self.checkpoints.contains_key(key) {
                    return Response::rejected(
                        Rejection::AlreadyExists,
                        format!("{key} already has a checkpoint in the cluster: kept it"),
                    );
                }
                // Its epoch came from the earlier store: the next assignment goes above it.
                if let Some(s) = self.shards.get_mut(key) {
                    s.epoch = s.epoch.max(checkpoint.epoch);
                }
                self.checkpoints.insert(key.clone(), (**checkpoint).clone());
                Response::Ok
            }
            Command::Noop => Response::Ok,
        }
    }

    fn set_desired(&mut self, name: &str, desired: Desired, at: u64) -> Response {
        let Some(t) = self.tasks.get_mut(name) else {
            return no_task(name);
        };
        if t.desired == Desired::Deleted {
            return Response::rejected(
                Rejection::Conflict,
                format!("task {name} is being deleted: it can no longer be paused or resumed"),
            );
        }
        t.desired = desired;
        if desired == Desired::Running {
            t.resume_generation += 1;
            let generation = t.resume_generation;
            for (_, s) in self.shards.iter_mut().filter(|(k, _)| k.task == name) {
                if matches!(s.status.state, ShardState::Failed | ShardState::Paused) {
                    s.status = pending(at, generation);
                }
            }
        }
        Response::Ok
    }

    fn add_tables(
        &mut self,
        name: &str,
        spec_toml: &str,
        shards: &[ShardPlan],
        at: u64,
    ) -> Response {
        let Some(t) = self.tasks.get_mut(name) else {
            return no_task(name);
        };
        t.spec_toml = spec_toml.to_owned();
        for plan in shards {
            let key = ShardKey {
                task: name.to_owned(),
                shard: plan.shard,
            };
            match self.shards.get_mut(&key) {
                // Its owner hands the new spec to the running shard, whose source adopts the
                // added tables without a restart (a source that cannot is restarted by its
                // runtime): the epoch stays.
                Some(s) => s.tables = plan.tables.clone(),
                None => {
                    self.shards.insert(key, new_shard(plan.tables.clone(), at));
                }
            }
        }
        Response::Ok
    }

    fn resnapshot(&mut self, name: &str, table: &str) -> Response {
        if !self.tasks.contains_key(name) {
            return no_task(name);
        }
        let Some(key) = self.shard_of_table(name, table).cloned() else {
            return Response::rejected(
                Rejection::NotFound,
                format!("task {name} does not capture table {table}: name it as `schema.table`, as `tributary ctl task get {name}` lists the shards' tables"),
            );
        };
        // No restart: the owner hands the request to the running shard, whose source reads
        // the table again beside its stream (a source that cannot is restarted by its
        // runtime, which takes the request in at the start).
        if let Some(s) = self.shards.get_mut(&key) {
            let n = s.rereads.entry(table.to_owned()).or_insert(0);
            *n += 1;
        }
        Response::Ok
    }

    fn drain(&mut self, node: NodeId) -> Response {
        if !self.workers.contains_key(&node) {
            return no_worker(node);
        }
        let others = self
            .workers
            .iter()
            .filter(|(n, w)| **n != node && !w.draining)
            .count();
        if others == 0 {
            return Response::rejected(
                Rejection::Conflict,
                format!("worker {node} is the last worker: add another before removing it"),
            );
        }
        if let Some(w) = self.workers.get_mut(&node) {
            w.draining = true;
        }
        Response::Ok
    }

    fn assign(&mut self, key: &ShardKey, to: Option<NodeId>, graceful: bool, at: u64) -> Response {
        let Some(s) = self.shards.get_mut(key) else {
            return no_shard(key);
        };
        if graceful && s.owner.is_some() && s.owner != to {
            s.moving_to = to;
            return Response::Ok;
        }
        s.owner = to;
        s.moving_to = None;
        s.epoch += 1;
        if !matches!(s.status.state, ShardState::Failed | ShardState::Completed) {
            s.status = pending(at, s.status.generation);
        }
        Response::Ok
    }
}

fn new_shard(tables: Vec<String>, at: u64) -> ShardRecord {
    ShardRecord {
        tables,
        owner: None,
        epoch: 0,
        moving_to: None,
        status: pending(at, 0),
        progress: ShardProgress::default(),
        rereads: Default::default(),
    }
}

fn pending(at: u64, generation: u64) -> ShardStatus {
    ShardStatus {
        state: ShardState::Pending,
        reason: None,
        transient: false,
        since_ms: at,
        generation,
        first_failed_ms: None,
    }
}

/// Whether `node` holds `key` under `epoch`.
fn owns(s: &ShardRecord, key: &ShardKey, node: NodeId, epoch: u64) -> Result<(), Response> {
    if s.owner == Some(node) && s.epoch == epoch {
        return Ok(());
    }
    Err(Response::rejected(
        Rejection::StaleEpoch,
        format!(
            "{key} is now assigned to {} at epoch {}, so worker {node} (epoch {epoch}) may no longer write for it: it stops the shard",
            s.owner.map_or("no worker".to_owned(), |o| format!("worker {o}")),
            s.epoch
        ),
    ))
}

fn no_task(name: &str) -> Response {
    Response::rejected(
        Rejection::NotFound,
        format!("no task named {name}: `tributary ctl task list` shows the tasks"),
    )
}

fn no_worker(node: NodeId) -> Response {
    Response::rejected(
        Rejection::NotFound,
        format!("no worker {node}: `tributary ctl cluster status` shows the members"),
    )
}

fn no_shard(key: &ShardKey) -> Response {
    Response::rejected(Rejection::NotFound, format!("no {key}"))
}
