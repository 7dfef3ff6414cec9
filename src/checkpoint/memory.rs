//! Checkpoints in memory: for tests and for embedding several shards in one process without a
//! disk. The same contract as every store (fencing, no regression), nothing durable.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{check_replace, Checkpoint, CheckpointError, CheckpointStore, ShardKey};

/// A map of checkpoints behind a mutex; every successful save is also kept in `history`, and
/// counted on a watch so a reader waits for the next save instead of polling.
pub struct MemoryCheckpointStore {
    state: Mutex<HashMap<ShardKey, Checkpoint>>,
    history: Mutex<Vec<(ShardKey, Checkpoint)>>,
    saves: tokio::sync::watch::Sender<u64>,
}

impl Default for MemoryCheckpointStore {
    fn default() -> Self {
        MemoryCheckpointStore {
            state: Mutex::default(),
            history: Mutex::default(),
            saves: tokio::sync::watch::channel(0).0,
        }
    }
}

impl MemoryCheckpointStore {
    pub fn new() -> MemoryCheckpointStore {
        MemoryCheckpointStore::default()
    }

    /// The number of successful saves, changing with every save.
    pub fn saves(&self) -> tokio::sync::watch::Receiver<u64> {
        self.saves.subscribe()
    }

    /// Every checkpoint saved so far, in order.
    pub fn history(&self) -> Vec<(ShardKey, Checkpoint)> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The last saved checkpoint of `key`, without going through the async API.
    pub fn get(&self, key: &ShardKey) -> Option<Checkpoint> {
        self.state.lock().ok()?.get(key).cloned()
    }

    /// Moves `key`'s stored epoch to `epoch`, as a cluster does when it reassigns the shard.
    pub fn bump_epoch(&self, key: &ShardKey, epoch: u64) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(cp) = s.get_mut(key) {
                cp.epoch = epoch;
            }
        }
    }

    fn save_now(&self, key: &ShardKey, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| CheckpointError::Storage("memory store poisoned".into()))?;
        check_replace(key, state.get(key), cp)?;
        state.insert(key.clone(), cp.clone());
        if let Ok(mut h) = self.history.lock() {
            h.push((key.clone(), cp.clone()));
        }
        self.saves.send_modify(|n| *n += 1);
        Ok(())
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load<'a>(
        &'a self,
        key: &'a ShardKey,
    ) -> BoxFuture<'a, Result<Option<Checkpoint>, CheckpointError>> {
        Box::pin(async move { Ok(self.get(key)) })
    }

    fn save<'a>(
        &'a self,
        key: &'a ShardKey,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            // A save takes time in every real store: let other tasks run meanwhile, so that a
            // caller acting before its save completes is caught by tests.
            tokio::task::yield_now().await;
            self.save_now(key, checkpoint)
        })
    }

    fn delete<'a>(&'a self, key: &'a ShardKey) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            if let Ok(mut s) = self.state.lock() {
                s.remove(key);
            }
            Ok(())
        })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<(ShardKey, Checkpoint)>, CheckpointError>> {
        let all = self
            .state
            .lock()
            .map(|s| s.iter().map(|(k, c)| (k.clone(), c.clone())).collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(all) })
    }
}
