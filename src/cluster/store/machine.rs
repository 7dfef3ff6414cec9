//! The Raft state machine: applies committed entries to the `ClusterState` in the node's
//! `StateView`, and keeps the latest snapshot of it in sled.
//!
//! Apply writes memory only; durability comes from the snapshot (flushed before
//! `build_snapshot` returns, so openraft never purges log entries it does not cover) plus the
//! log after it, which openraft re-applies on restart up to the saved committed id. A command
//! the state refuses is answered with `Response::Rejected`: `apply` returns `Err` only for I/O,
//! because an error stops the node.

// openraft's `StorageError` (224 bytes) is what every storage trait method returns; boxing it
// in the private helpers only to unbox it at the trait boundary buys nothing on a path that
// errs only on a failing disk.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{io_error, DynError};
use crate::checkpoint::{Checkpoint, ShardKey};
use crate::cluster::state::{
    ClusterState, Response, ShardRecord, StateView, TaskRecord, WorkerRecord,
};
use crate::cluster::{Member, NodeId, TypeConfig};

/// Keys of the snapshot tree: the snapshot's metadata (JSON) and its data (`SnapshotData`).
const META: &[u8] = b"meta";
const DATA: &[u8] = b"data";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;
type Meta = SnapshotMeta<NodeId, Member>;

/// Where the applied log stands.
#[derive(Clone, Debug, Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, Member>,
}

/// What a snapshot holds (its bytes are this, as JSON).
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, Member>,
    state: StateOnDisk,
}

/// `ClusterState` as JSON can hold it: maps keyed by a `ShardKey` (not a string) as lists of
/// pairs.
#[derive(Serialize, Deserialize)]
struct StateOnDisk {
    tasks: BTreeMap<String, TaskRecord>,
    shards: Vec<(ShardKey, ShardRecord)>,
    checkpoints: Vec<(ShardKey, Checkpoint)>,
    workers: BTreeMap<NodeId, WorkerRecord>,
}

impl From<ClusterState> for StateOnDisk {
    fn from(state: ClusterState) -> StateOnDisk {
        // Destructured, so a new field of the state fails to compile until it is saved here.
        let ClusterState {
            tasks,
            shards,
            checkpoints,
            workers,
        } = state;
        StateOnDisk {
            tasks,
            shards: shards.into_iter().collect(),
            checkpoints: checkpoints.into_iter().collect(),
            workers,
        }
    }
}

impl From<StateOnDisk> for ClusterState {
    fn from(disk: StateOnDisk) -> ClusterState {
        ClusterState {
            tasks: disk.tasks,
            shards: disk.shards.into_iter().collect(),
            checkpoints: disk.checkpoints.into_iter().collect(),
            workers: disk.workers,
        }
    }
}

/// The state machine of this node (cheap to clone: all clones share it).
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

struct Inner {
    view: StateView,
    applied: Mutex<Applied>,
    db: sled::Db,
    snapshot: sled::Tree,
    /// Serialises snapshot writes, so a slow build never overwrites a newer snapshot.
    snapshot_write: tokio::sync::Mutex<()>,
    /// Makes snapshot ids unique within this process.
    snapshot_seq: AtomicU64,
    _alive: super::Alive,
}

impl StateMachineStore {
    /// Opens the snapshot tree and loads the latest snapshot into a fresh view.
    pub(super) fn open(db: &sled::Db, alive: super::Alive) -> Result<StateMachineStore> {
        let tree = db
            .open_tree("snapshot")
            .map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, &e))?;
        let store = StateMachineStore {
            inner: Arc::new(Inner {
                view: StateView::default(),
                applied: Mutex::default(),
                db: db.clone(),
                snapshot: tree,
                snapshot_write: tokio::sync::Mutex::new(()),
                snapshot_seq: AtomicU64::new(0),
                _alive: alive,
            }),
        };
        if let Some((meta, bytes)) = store.read_snapshot()? {
            store.restore(&meta, &bytes)?;
        }
        Ok(store)
    }

    /// The applied state, for the admin API, the scheduler and the worker.
    pub fn view(&self) -> StateView {
        self.inner.view.clone()
    }

    fn applied(&self) -> MutexGuard<'_, Applied> {
        self.inner.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the state with a snapshot's.
    fn restore(&self, meta: &Meta, bytes: &[u8]) -> Result<()> {
        let data: SnapshotData = serde_json::from_slice(bytes)
            .map_err(|e| snapshot_error(Some(meta), ErrorVerb::Read, &e))?;
        let index = data.last_applied.map_or(0, |id| id.index);
        self.inner.view.write(index, |s| *s = data.state.into());
        *self.applied() = Applied {
            last_applied: data.last_applied,
            last_membership: data.last_membership,
        };
        Ok(())
    }

    fn read_snapshot(&self) -> Result<Option<(Meta, Vec<u8>)>> {
        let read_err = |e: &DynError| snapshot_error(None, ErrorVerb::Read, e);
        let tree = &self.inner.snapshot;
        let (Some(meta), Some(data)) = (
            tree.get(META).map_err(|e| read_err(&e))?,
            tree.get(DATA).map_err(|e| read_err(&e))?,
        ) else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_slice(&meta).map_err(|e| read_err(&e))?;
        Ok(Some((meta, data.to_vec())))
    }

    /// Stores a snapshot (flushed) unless a newer one is already stored, unless `replace`.
    async fn save_snapshot(&self, meta: &Meta, bytes: &[u8], replace: bool) -> Result<()> {
        let write_err = |e: &DynError| snapshot_error(Some(meta), ErrorVerb::Write, e);
        let _guard = self.inner.snapshot_write.lock().await;
        if !replace {
            let stored = self.read_snapshot()?;
            if stored.is_some_and(|(m, _)| m.last_log_id > meta.last_log_id) {
                return Ok(());
            }
        }
        let mut batch = sled::Batch::default();
        batch.insert(META, serde_json::to_vec(meta).map_err(|e| write_err(&e))?);
        batch.insert(DATA, bytes);
        self.inner
            .snapshot
            .apply_batch(batch)
            .map_err(|e| write_err(&e))?;
        self.inner
            .db
            .flush_async()
            .await
            .map_err(|e| write_err(&e))?;
        Ok(())
    }

    /// Applies one entry: a command to the state, a membership to the applied pointers.
    fn apply_entry(&self, entry: Entry<TypeConfig>, applied: &mut Applied) -> Response {
        let index = entry.log_id.index;
        applied.last_applied = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Normal(stamped) => self.inner.view.write(index, |s| s.apply(&stamped)),
            EntryPayload::Membership(m) => {
                applied.last_membership = StoredMembership::new(Some(entry.log_id), m);
                self.inner.view.write(index, |_| Response::Ok)
            }
            EntryPayload::Blank => self.inner.view.write(index, |_| Response::Ok),
        }
    }
}

fn snapshot_error(meta: Option<&Meta>, verb: ErrorVerb, e: &DynError) -> StorageError<NodeId> {
    io_error(ErrorSubject::Snapshot(meta.map(Meta::signature)), verb, e)
}

/// Builds a snapshot from a copy of the state taken between two applies.
pub struct SnapshotBuilder {
    store: StateMachineStore,
    data: SnapshotData,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let seq = self
            .store
            .inner
            .snapshot_seq
            .fetch_add(1, Ordering::Relaxed);
        let last = self.data.last_applied;
        let meta = Meta {
            last_log_id: last,
            last_membership: self.data.last_membership.clone(),
            snapshot_id: format!(
                "{}-{}-{seq}",
                last.map_or(0, |id| id.leader_id.term),
                last.map_or(0, |id| id.index)
            ),
        };
        let bytes = serde_json::to_vec(&self.data)
            .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Write, &e))?;
        self.store.save_snapshot(&meta, &bytes, false).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Member>)> {
        let applied = self.applied();
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = self.applied().clone();
        let replies = entries
            .into_iter()
            .map(|entry| self.apply_entry(entry, &mut applied))
            .collect();
        *self.applied() = applied;
        Ok(replies)
    }

    /// Called between applies, so the copy is consistent.
    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let applied = self.applied().clone();
        SnapshotBuilder {
            store: self.clone(),
            data: SnapshotData {
                last_applied: applied.last_applied,
                last_membership: applied.last_membership,
                state: self.inner.view.snapshot().into(),
            },
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let bytes = snapshot.into_inner();
        self.restore(meta, &bytes)?;
        self.save_snapshot(meta, &bytes, true).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        Ok(self.read_snapshot()?.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
