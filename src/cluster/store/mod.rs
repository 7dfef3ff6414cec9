//! The node's durable Raft storage: the log (with the vote and the log pointers) and the state
//! machine's snapshots, in one sled database under `<data_dir>/raft`.
//!
//! ```text
//!  raft core ─ append ─► "log" tree (big-endian index → JSON entry) ─ flush ─► LogFlushed
//!            ─ vote/committed/purged ─► "meta" tree (vote flushed before save_vote returns)
//!  sm worker ─ apply ─► ClusterState in the StateView (memory only)
//!            ─ build_snapshot ─► "snapshot" tree ({meta, JSON of {last_applied, membership,
//!                                state}}, flushed) ─► openraft purges the log it covers
//! ```
//! The state machine itself is not written on apply. What survives a restart is the last
//! snapshot plus the log after it: `open` loads the snapshot into the view, and openraft
//! re-applies the log up to the saved committed id (`save_committed`/`read_committed`). A
//! snapshot every `SNAPSHOT_EVERY` entries and the purge after it keep the files bounded.

mod log;
mod machine;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use openraft::{Config, SnapshotPolicy, StorageError, StorageIOError};

pub use log::LogStore;
pub use machine::StateMachineStore;

use super::NodeId;

/// Entries between two snapshots: each snapshot lets openraft purge the log before it, so this
/// bounds both the files and a restart's replay (a few ms per thousand entries).
pub const SNAPSHOT_EVERY: u64 = 1_000;

/// Entries already in a snapshot that stay in the log, so a follower a little behind catches up
/// from the log instead of a snapshot transfer.
pub const KEEP_AFTER_SNAPSHOT: u64 = 100;

/// sled's page cache: the log is read back once (to apply) and then purged, so a small cache
/// is enough and keeps the node's memory flat (sled's default is 1 GiB).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// The Raft store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the Raft store at {path}: {reason}: check that the data directory is writable and that no other tributary worker uses it")]
pub struct StoreError {
    pub path: PathBuf,
    pub reason: String,
}

/// Held by every store handle (last among its fields, so it goes after the sled handles):
/// when the last one is dropped, sled has let go of the directory.
#[derive(Clone)]
pub(super) struct Alive(std::sync::Arc<tokio::sync::watch::Sender<()>>);

/// Resolves once every handle of a store is dropped and its directory can be opened again
/// (openraft's state machine task drops its handle a moment after `Raft::shutdown`).
pub struct Released(tokio::sync::watch::Receiver<()>);

impl Released {
    pub async fn wait(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}

impl Alive {
    fn released(&self) -> Released {
        Released(self.0.subscribe())
    }
}

/// Opens (creating) the sled database under `dir` (in `dir/raft`), and loads the latest
/// snapshot into the state machine's view.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), StoreError> {
    let path = dir.join("raft");
    let err = |reason: String| StoreError {
        path: path.clone(),
        reason,
    };
    std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(CACHE_BYTES)
        .open()
        .map_err(|e| err(e.to_string()))?;
    let alive = Alive(std::sync::Arc::new(tokio::sync::watch::channel(()).0));
    let log = LogStore::open(&db, alive.clone()).map_err(|e| err(e.to_string()))?;
    let machine = StateMachineStore::open(&db, alive).map_err(|e| err(e.to_string()))?;
    Ok((log, machine))
}

/// The cluster's openraft settings: heartbeats every 150 ms, elections after 0.75–1.5 s of
/// silence (so a few lost heartbeats do not depose a leader), a snapshot every
/// `SNAPSHOT_EVERY` entries and the log before it purged.
pub fn raft_config() -> Config {
    Config {
        cluster_name: "tributary".to_owned(),
        heartbeat_interval: 150,
        election_timeout_min: 750,
        election_timeout_max: 1_500,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
        max_in_snapshot_log_to_keep: KEEP_AFTER_SNAPSHOT,
        // Purge in batches: one sled batch removes many entries at once.
        purge_batch_size: 256,
        // A follower further behind than a few snapshots' worth gets a snapshot instead.
        replication_lag_threshold: 5 * SNAPSHOT_EVERY,
        ..Config::default()
    }
    .validate()
    .expect("the cluster's constant Raft settings are consistent")
}

/// The big-endian key of a log index, so sled's byte order is index order.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// A storage I/O error as openraft reports it.
fn io_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    source: &DynError,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, openraft::AnyError::from_dyn(source, None)).into()
}

/// Any error, as the storage helpers take it.
type DynError = dyn std::error::Error + 'static;
