//! `tributary run` as a one-node cluster: the same Raft state, checkpoint store and epoch
//! fencing as the workers, in the run's `--data-dir` (`raft/`).
//!
//! The first start of this version on a data directory written by an earlier one imports the
//! checkpoints it finds there (`checkpoints/`, never deleted), so a task resumes with its slot
//! and without a new snapshot. Every checkpoint is also mirrored into that local store, so
//! `tributary release` and older tooling keep reading it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::checkpoints::RaftCheckpointStore;
use super::config::{MemberSpec, NodeConfig};
use super::node::{self, Node};
use super::state::{Command, Desired, Response, ShardPlan, TaskRecord};
use super::ClusterHandle;
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, ShardKey};
use crate::config::TaskSpec;

/// A one-node cluster elects itself at once; this bounds a stuck start.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// The one-node cluster of a `tributary run`.
pub struct Embedded {
    node: Node,
}

fn storage(e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Storage(e.to_string())
}

impl Embedded {
    /// Starts (or restarts) the node in `data_dir` and waits until it leads.
    pub async fn start(data_dir: &Path) -> Result<Embedded, CheckpointError> {
        let me = MemberSpec {
            node_id: 1,
            raft_addr: "127.0.0.1:0".into(),
            admin_addr: "127.0.0.1:0".into(),
        };
        let cfg = NodeConfig {
            node_id: 1,
            raft_addr: me.raft_addr.clone(),
            admin_addr: me.admin_addr.clone(),
            data_dir: data_dir.to_path_buf(),
            initial_members: vec![me],
            metrics_addr: None,
            lease: Default::default(),
            admin: Default::default(),
            raft_tls: None,
            cluster_id: None,
        };
        let node = node::start(&cfg).await.map_err(storage)?;
        node.handle
            .raft()
            .wait(Some(LEADER_WAIT))
            .current_leader(1, "the one-node cluster elects itself")
            .await
            .map_err(storage)?;
        Ok(Embedded { node })
    }

    pub fn handle(&self) -> &ClusterHandle {
        &self.node.handle
    }

    /// Records the task (created, or its file updated), imports `legacy`'s checkpoint of shard
    /// 0 if the cluster has none, and assigns shard 0 to this node: the epoch to run under.
    pub async fn adopt(
        &self,
        spec: &TaskSpec,
        spec_toml: &str,
        legacy: &dyn CheckpointStore,
    ) -> Result<u64, CheckpointError> {
        let key = ShardKey {
            task: spec.name.clone(),
            shard: 0,
        };
        let h = self.handle();
        let exists = h.view().read(|s| s.tasks.contains_key(&spec.name));
        let cmd = if exists {
            Command::UpdateTask {
                name: spec.name.clone(),
                spec_toml: spec_toml.to_owned(),
            }
        } else {
            let task = TaskRecord {
                name: spec.name.clone(),
                spec_toml: spec_toml.to_owned(),
                desired: Desired::Running,
                created_ms: 0,
                resume_generation: 0,
                delete_topics: false,
            };
            let shards = vec![ShardPlan {
                shard: 0,
                tables: spec.objects.tables.clone(),
            }];
            Command::CreateTask { task, shards }
        };
        self.must(cmd).await?;
        let imported = h.view().read(|s| s.checkpoints.contains_key(&key));
        if !imported {
            if let Some(cp) = legacy.load(&key).await? {
                tracing::info!(task = %key.task, "importing the checkpoint an earlier version left in the data directory (kept there)");
                self.must(Command::ImportCheckpoint {
                    key: key.clone(),
                    checkpoint: Box::new(cp),
                })
                .await?;
            }
        }
        self.must(Command::RegisterWorker {
            node: 1,
            member: Default::default(),
        })
        .await?;
        self.must(Command::Assign {
            key: key.clone(),
            to: Some(1),
            graceful: false,
        })
        .await?;
        Ok(h.view()
            .read(|s| s.shards.get(&key).map_or(0, |sh| sh.epoch)))
    }

    async fn must(&self, cmd: Command) -> Result<(), CheckpointError> {
        match self.handle().propose(cmd).await.map_err(storage)? {
            Response::Ok => Ok(()),
            Response::Rejected { reason, .. } => Err(CheckpointError::Storage(reason)),
        }
    }

    /// The store a run saves through: the replicated state, mirrored into `legacy`.
    pub fn store(&self, legacy: Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore> {
        Arc::new(Mirrored {
            primary: RaftCheckpointStore::new(self.handle().clone()),
            mirror: legacy,
        })
    }

    pub async fn shutdown(self) {
        self.node.shutdown().await;
    }
}

/// Saves to the replicated state first, then to the local mirror.
struct Mirrored {
    primary: RaftCheckpointStore,
    mirror: Arc<dyn CheckpointStore>,
}

impl CheckpointStore for Mirrored {
    fn load<'a>(
        &'a self,
        key: &'a ShardKey,
    ) -> BoxFuture<'a, Result<Option<Checkpoint>, CheckpointError>> {
        self.primary.load(key)
    }

    fn save<'a>(
        &'a self,
        key: &'a ShardKey,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            self.primary.save(key, checkpoint).await?;
            self.mirror.save(key, checkpoint).await
        })
    }

    fn delete<'a>(&'a self, key: &'a ShardKey) -> BoxFuture<'a, Result<(), CheckpointError>> {
        self.mirror.delete(key)
    }
}
