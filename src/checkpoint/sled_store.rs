//! Checkpoints in sled under `--data-dir`, for `tributary run` (a one-node cluster).
//!
//! sled calls block (a save fsyncs), so each runs on tokio's blocking pool.

use std::path::Path;

use futures::future::BoxFuture;

use super::{check_replace, Checkpoint, CheckpointError, CheckpointStore, ShardKey};

/// A sled tree of JSON checkpoints keyed `task\0shard` (big-endian shard, so keys sort).
#[derive(Clone)]
pub struct SledCheckpointStore {
    tree: sled::Tree,
    db: sled::Db,
}

impl SledCheckpointStore {
    pub fn open(dir: &Path) -> Result<SledCheckpointStore, CheckpointError> {
        let open_err = |reason: String| CheckpointError::Open {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = sled::Config::new()
            .path(dir.join("checkpoints"))
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| open_err(format!("{e} (is another tributary using it?)")))?;
        let tree = db.open_tree("checkpoints").map_err(storage)?;
        Ok(SledCheckpointStore { tree, db })
    }

    fn key(key: &ShardKey) -> Vec<u8> {
        let mut k = key.task.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(&key.shard.to_be_bytes());
        k
    }

    fn load_now(&self, key: &ShardKey) -> Result<Option<Checkpoint>, CheckpointError> {
        match self.tree.get(Self::key(key)).map_err(storage)? {
            Some(bytes) => Checkpoint::decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn save_now(&self, key: &ShardKey, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        check_replace(key, self.load_now(key)?.as_ref(), checkpoint)?;
        self.tree
            .insert(Self::key(key), checkpoint.encode())
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn all_now(&self) -> Result<Vec<(ShardKey, Checkpoint)>, CheckpointError> {
        let mut out = Vec::new();
        for entry in self.tree.iter() {
            let (k, v) = entry.map_err(storage)?;
            let Some((task, shard)) = k.len().checked_sub(5).map(|n| k.split_at(n)) else {
                continue;
            };
            let key = ShardKey {
                task: String::from_utf8_lossy(task).into_owned(),
                shard: u32::from_be_bytes(shard[1..].try_into().unwrap_or_default()),
            };
            out.push((key.clone(), Checkpoint::decode(&key, &v)?));
        }
        Ok(out)
    }

    fn delete_now(&self, key: &ShardKey) -> Result<(), CheckpointError> {
        self.tree.remove(Self::key(key)).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    /// Runs `f` on the blocking pool with a clone of the store.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SledCheckpointStore) -> Result<T, CheckpointError> + Send + 'static,
    ) -> Result<T, CheckpointError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CheckpointError::Storage(format!("checkpoint thread failed: {e}")))?
    }
}

fn storage(e: sled::Error) -> CheckpointError {
    CheckpointError::Storage(e.to_string())
}

impl CheckpointStore for SledCheckpointStore {
    fn load<'a>(
        &'a self,
        key: &'a ShardKey,
    ) -> BoxFuture<'a, Result<Option<Checkpoint>, CheckpointError>> {
        let key = key.clone();
        Box::pin(self.blocking(move |s| s.load_now(&key)))
    }

    fn save<'a>(
        &'a self,
        key: &'a ShardKey,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let (key, cp) = (key.clone(), checkpoint.clone());
        Box::pin(self.blocking(move |s| s.save_now(&key, &cp)))
    }

    fn delete<'a>(&'a self, key: &'a ShardKey) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let key = key.clone();
        Box::pin(self.blocking(move |s| s.delete_now(&key)))
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<(ShardKey, Checkpoint)>, CheckpointError>> {
        Box::pin(self.blocking(|s| s.all_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::TableProgress;
    use crate::position::{Lsn, ResumeToken, StreamPosition};

    #[tokio::test]
    async fn checkpoints_survive_reopen_and_never_move_backward() {
        let dir = tempfile::tempdir().unwrap();
        let key = ShardKey {
            task: "shop".into(),
            shard: 0,
        };
        let mut cp = Checkpoint::new("abc".into());
        cp.tables
            .insert("public.t".into(), TableProgress::Partial { rows: 10 });
        cp.stream = Some(StreamPosition::pg(Lsn(100), 3));
        cp.resume = Some(ResumeToken::Pg {
            confirmed_lsn: Lsn(90),
        });
        {
            let store = SledCheckpointStore::open(dir.path()).unwrap();
            assert!(store.load(&key).await.unwrap().is_none());
            store.save(&key, &cp).await.unwrap();
        }
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load(&key).await.unwrap().as_ref(), Some(&cp));
        let mut back = cp.clone();
        back.stream = Some(StreamPosition::pg(Lsn(100), 2));
        assert!(matches!(
            store.save(&key, &back).await,
            Err(CheckpointError::Regression { .. })
        ));
        let mut stale = cp.clone();
        cp.epoch = 2;
        store.save(&key, &cp).await.unwrap();
        stale.epoch = 1;
        assert!(matches!(
            store.save(&key, &stale).await,
            Err(CheckpointError::Fenced { .. })
        ));
        store.delete(&key).await.unwrap();
        assert!(store.load(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_version_1_record_on_disk_loads_converted() {
        let dir = tempfile::tempdir().unwrap();
        let key = ShardKey {
            task: "t".into(),
            shard: 0,
        };
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        store
            .tree
            .insert(
                SledCheckpointStore::key(&key),
                super::super::v1::LANDED_V1.as_bytes(),
            )
            .unwrap();
        let cp = store.load(&key).await.unwrap().expect("converted");
        assert_eq!(cp.version, Checkpoint::VERSION);
        assert!(cp.pg_slot().is_some());
        store.save(&key, &cp).await.unwrap();
        let raw = store.tree.get(SledCheckpointStore::key(&key)).unwrap();
        assert!(String::from_utf8_lossy(&raw.unwrap()).contains("\"version\":2"));
    }
}
