//! Checkpoints in sled under `--data-dir`, for `tributary run` (a one-node cluster).

use std::path::Path;

use super::{Checkpoint, CheckpointError, CheckpointStore, ShardKey};

/// A sled tree of JSON checkpoints keyed `task\0shard` (big-endian shard, so keys sort).
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
        let tree = db.open_tree("checkpoints").map_err(CheckpointError::Io)?;
        Ok(SledCheckpointStore { tree, db })
    }

    fn key(key: &ShardKey) -> Vec<u8> {
        let mut k = key.task.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(&key.shard.to_be_bytes());
        k
    }
}

impl CheckpointStore for SledCheckpointStore {
    fn load(&self, key: &ShardKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(bytes) = self.tree.get(Self::key(key)).map_err(CheckpointError::Io)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Corrupt {
                task: key.task.clone(),
                shard: key.shard,
                source,
            })
    }

    fn save(&self, key: &ShardKey, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        if let Some(old) = self.load(key)? {
            if old.incarnation == checkpoint.incarnation && old.is_regressed_by(checkpoint) {
                return Err(CheckpointError::Regression {
                    task: key.task.clone(),
                    shard: key.shard,
                });
            }
        }
        let bytes = serde_json::to_vec(checkpoint).map_err(|source| CheckpointError::Corrupt {
            task: key.task.clone(),
            shard: key.shard,
            source,
        })?;
        self.tree
            .insert(Self::key(key), bytes)
            .map_err(CheckpointError::Io)?;
        self.db.flush().map_err(CheckpointError::Io)?;
        Ok(())
    }

    fn delete(&self, key: &ShardKey) -> Result<(), CheckpointError> {
        self.tree
            .remove(Self::key(key))
            .map_err(CheckpointError::Io)?;
        self.db.flush().map_err(CheckpointError::Io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::TableProgress;
    use crate::position::{Lsn, StreamPosition};

    #[test]
    fn checkpoints_survive_reopen_and_never_move_backward() {
        let dir = tempfile::tempdir().unwrap();
        let key = ShardKey {
            task: "shop".into(),
            shard: 0,
        };
        let mut cp = Checkpoint::new("abc".into());
        cp.tables
            .insert("public.t".into(), TableProgress::Partial { rows: 10 });
        cp.stream = Some(StreamPosition {
            commit_lsn: Lsn(100),
            index: 3,
        });
        cp.confirmed_lsn = Lsn(90);
        {
            let store = SledCheckpointStore::open(dir.path()).unwrap();
            assert!(store.load(&key).unwrap().is_none());
            store.save(&key, &cp).unwrap();
        }
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load(&key).unwrap().as_ref(), Some(&cp));
        let mut back = cp.clone();
        back.stream = Some(StreamPosition {
            commit_lsn: Lsn(100),
            index: 2,
        });
        assert!(matches!(
            store.save(&key, &back),
            Err(CheckpointError::Regression { .. })
        ));
        store.delete(&key).unwrap();
        assert!(store.load(&key).unwrap().is_none());
    }
}
