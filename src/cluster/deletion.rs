//! Deleting a task: once every shard of a task marked deleted has stopped, the leader drops
//! each shard's slot, publications and DDL capture (and topics when asked), then removes the
//! task's state.
//!
//! The cleanup runs in the background; a failure (e.g. the source is down) is logged and
//! retried on the next scheduler pass, so the task stays "deleting" until its objects are gone.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::checkpoints::RaftCheckpointStore;
use super::state::{ClusterState, Command, Desired, ShardState};
use super::ClusterHandle;
use crate::checkpoint::ShardKey;
use crate::config::{SourceKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::sink::kafka::KafkaSink;
use crate::source::postgres::PgSource;
use crate::task::{kafka_config, release, TaskError};

/// Tasks whose cleanup is running.
#[derive(Default, Clone)]
pub struct Deleter {
    running: Arc<Mutex<BTreeSet<String>>>,
}

impl Deleter {
    /// Starts the cleanup of every deleted task whose shards have all stopped.
    pub fn poll(&self, handle: &ClusterHandle) {
        let ready = handle.view().read(ready_for_cleanup);
        for (name, spec_toml, delete_topics, shards) in ready {
            if !self.lock().insert(name.clone()) {
                continue;
            }
            let (handle, me) = (handle.clone(), self.clone());
            tokio::spawn(async move {
                match cleanup(&handle, &name, &spec_toml, delete_topics, &shards).await {
                    Ok(()) => {
                        tracing::info!(task = %name, "task deleted: slots, publications and DDL capture dropped, state removed")
                    }
                    Err(e) => {
                        tracing::warn!(task = %name, error = %crate::error_chain(&e), "task deletion failed; retrying")
                    }
                }
                me.lock().remove(&name);
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Ready = (String, String, bool, Vec<(ShardKey, Vec<String>)>);

/// Deleted tasks none of whose shards still runs.
fn ready_for_cleanup(s: &ClusterState) -> Vec<Ready> {
    s.tasks
        .values()
        .filter(|t| t.desired == Desired::Deleted)
        .filter(|t| {
            s.task_shards(&t.name).all(|(_, sh)| {
                let owner_gone = sh
                    .owner
                    .is_none_or(|o| s.workers.get(&o).is_none_or(|w| w.lost));
                owner_gone
                    || matches!(
                        sh.status.state,
                        ShardState::Paused | ShardState::Failed | ShardState::Completed
                    )
            })
        })
        .map(|t| {
            let shards = s
                .task_shards(&t.name)
                .map(|(k, sh)| (k.clone(), sh.tables.clone()))
                .collect();
            (t.name.clone(), t.spec_toml.clone(), t.delete_topics, shards)
        })
        .collect()
}

async fn cleanup(
    handle: &ClusterHandle,
    name: &str,
    spec_toml: &str,
    delete_topics: bool,
    shards: &[(ShardKey, Vec<String>)],
) -> Result<(), TaskError> {
    let spec = TaskSpec::parse(spec_toml)?;
    let store = RaftCheckpointStore::new(handle.clone());
    for (key, tables) in shards {
        let shard_spec = spec.for_shard(tables);
        let sink = |labels: &ShardLabels| Ok(KafkaSink::new(kafka_config(&shard_spec)?, labels)?);
        let report = match shard_spec.source.kind {
            SourceKind::Postgres => {
                let source = PgSource::from_spec(&shard_spec, key.shard)?;
                release(&store, key, source, sink, delete_topics).await?
            }
            SourceKind::Oracle => {
                let source = crate::source::oracle::source::releasing(&shard_spec, key.shard)?;
                release(&store, key, source, sink, delete_topics).await?
            }
        };
        let names: Vec<&str> = report.dropped.iter().map(|o| o.name.as_str()).collect();
        tracing::info!(task = %name, shard = key.shard, dropped = ?names, topics_deleted = ?report.topics_deleted, "shard released");
    }
    handle
        .propose(Command::RemoveTask {
            name: name.to_owned(),
        })
        .await
        .map_err(|e| TaskError::from(crate::checkpoint::CheckpointError::Storage(e.to_string())))?;
    Ok(())
}
