//! Checkpoints in the replicated state: the `CheckpointStore` a worker's shards save through.
//!
//! A save is a Raft proposal fenced by the worker's assignment epoch: once the leader has moved
//! the shard, the save is rejected (`Fenced`) and the shard stops. The runner saves once per
//! `checkpoint_interval`, never per row, so Raft carries a few entries per shard per second.
//! `load` reads this node's applied state: a worker's own saves are applied here before
//! `save` returns, and a new owner starts only after the assignment (which follows every
//! accepted save of the old owner in the log) is applied here.

use futures::future::BoxFuture;

use super::state::{Command, Rejection, Response};
use super::{ClusterHandle, NodeId};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, ShardKey};

/// Saves through Raft as `node`.
pub struct RaftCheckpointStore {
    handle: ClusterHandle,
    node: NodeId,
}

impl RaftCheckpointStore {
    pub fn new(handle: ClusterHandle) -> RaftCheckpointStore {
        let node = handle.node_id();
        RaftCheckpointStore { handle, node }
    }
}

impl CheckpointStore for RaftCheckpointStore {
    fn load<'a>(
        &'a self,
        key: &'a ShardKey,
    ) -> BoxFuture<'a, Result<Option<Checkpoint>, CheckpointError>> {
        Box::pin(async move { Ok(self.handle.view().read(|s| s.checkpoints.get(key).cloned())) })
    }

    fn save<'a>(
        &'a self,
        key: &'a ShardKey,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            let cmd = Command::SaveCheckpoint {
                key: key.clone(),
                node: self.node,
                epoch: checkpoint.epoch,
                checkpoint: Box::new(checkpoint.clone()),
            };
            let response = self
                .handle
                .propose(cmd)
                .await
                .map_err(|e| CheckpointError::Storage(format!("{key}: {e}")))?;
            match response {
                Response::Ok => Ok(()),
                Response::Rejected { kind, reason } => {
                    Err(rejected(key, checkpoint, kind, reason, &self.handle))
                }
            }
        })
    }

    /// The cluster removes a shard's checkpoint with its task (`RemoveTask`).
    fn delete<'a>(&'a self, _key: &'a ShardKey) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async { Ok(()) })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<(ShardKey, Checkpoint)>, CheckpointError>> {
        let all = self.handle.view().read(|s| {
            s.checkpoints
                .iter()
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect()
        });
        Box::pin(async move { Ok(all) })
    }
}

fn rejected(
    key: &ShardKey,
    cp: &Checkpoint,
    kind: Rejection,
    reason: String,
    handle: &ClusterHandle,
) -> CheckpointError {
    match kind {
        Rejection::Regression => CheckpointError::Regression {
            task: key.task.clone(),
            shard: key.shard,
        },
        Rejection::StaleEpoch => CheckpointError::Fenced {
            task: key.task.clone(),
            shard: key.shard,
            epoch: cp.epoch,
            current: handle
                .view()
                .read(|s| s.shards.get(key).map_or(cp.epoch, |r| r.epoch)),
        },
        _ => CheckpointError::Storage(reason),
    }
}
