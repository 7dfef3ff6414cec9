//! The store against openraft's conformance suite, and through a real one-node `Raft`: state
//! survives restarts (snapshot + re-applied log), and a long stream of checkpoint commits
//! keeps the files and the memory flat.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftStateMachine;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{Config, Entry, EntryPayload, RaftNetwork, RaftNetworkFactory, StorageError};
use tempfile::TempDir;

use super::{open, raft_config, LogStore, StateMachineStore};
use crate::checkpoint::{Checkpoint, ShardKey};
use crate::cluster::state::{
    Command, Desired, Rejection, Response, ShardPlan, Stamped, StateView, TaskRecord,
};
use crate::cluster::{Member, NodeId, Raft, TypeConfig};
use crate::position::{Lsn, ResumeToken, StreamPosition};

/// A fresh store in its own temporary directory (the guard removes it).
struct TempStore;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempStore {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let dir = TempDir::new().map_err(|e| openraft::StorageIOError::write(&e))?;
        let (log, machine) = open(dir.path()).map_err(|e| openraft::StorageIOError::write(&e))?;
        Ok((dir, log, machine))
    }
}

#[test]
fn the_store_passes_openraft_s_conformance_suite() {
    Suite::test_all(TempStore).expect("conformance suite");
}

/// The network of a one-node cluster: never called, refuses if it is.
struct NoPeers;

fn no_peer<E: std::error::Error>() -> RPCError<NodeId, Member, E> {
    let why = std::io::Error::other("a one-node test cluster has no peers");
    RPCError::Unreachable(Unreachable::new(&why))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: NodeId, _node: &Member) -> NoPeers {
        NoPeers
    }
}

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        Err(no_peer())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(no_peer())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        Err(no_peer())
    }
}

/// A one-node Raft on `dir` (initialising it the first time), once it leads.
async fn start(dir: &Path, config: Config) -> (Raft, StateView) {
    let (log, machine) = open(dir).expect("open the store");
    let view = machine.view();
    let initialized = log.is_initialized().await;
    let raft = Raft::new(1, Arc::new(config), NoPeers, log, machine)
        .await
        .expect("start raft");
    if !initialized {
        let members = BTreeMap::from([(1, Member::default())]);
        raft.initialize(members).await.expect("initialize");
    }
    raft.wait(Some(Duration::from_secs(10)))
        .current_leader(1, "the only node leads")
        .await
        .expect("a leader");
    (raft, view)
}

/// Stops `raft` and waits until its store is closed (sled locks its directory until then).
async fn stop(raft: Raft, view: StateView) {
    raft.shutdown().await.expect("shutdown");
    drop((raft, view));
}

async fn write(raft: &Raft, cmd: Command) -> Response {
    let stamped = Stamped { at_ms: 1_000, cmd };
    raft.client_write(stamped).await.expect("client write").data
}

fn key(shard: u32) -> ShardKey {
    ShardKey {
        task: "orders".into(),
        shard,
    }
}

/// A task with `shards` shards, all assigned (epoch 1) to worker 1.
async fn set_up(raft: &Raft, shards: u32) {
    let task = TaskRecord {
        name: "orders".into(),
        spec_toml: String::new(),
        desired: Desired::Running,
        created_ms: 0,
        resume_generation: 0,
        delete_topics: false,
    };
    let plans = (0..shards)
        .map(|shard| ShardPlan {
            shard,
            tables: vec![format!("public.t{shard}")],
        })
        .collect();
    let create = Command::CreateTask {
        task,
        shards: plans,
    };
    assert_eq!(write(raft, create).await, Response::Ok);
    let member = Member::default();
    assert_eq!(
        write(raft, Command::RegisterWorker { node: 1, member }).await,
        Response::Ok
    );
    for shard in 0..shards {
        let assign = Command::Assign {
            key: key(shard),
            to: Some(1),
            graceful: false,
        };
        assert_eq!(write(raft, assign).await, Response::Ok);
    }
}

/// Worker 1's checkpoint of `shard` at stream position `lsn`.
fn save(shard: u32, lsn: u64) -> Command {
    let mut checkpoint = Checkpoint::new("inc-1".into());
    checkpoint.epoch = 1;
    checkpoint.started = true;
    checkpoint.stream = Some(StreamPosition::pg(Lsn(lsn), 0));
    checkpoint.resume = Some(ResumeToken::Pg {
        confirmed_lsn: Lsn(lsn),
    });
    checkpoint.event_count = lsn;
    Command::SaveCheckpoint {
        key: key(shard),
        node: 1,
        epoch: 1,
        checkpoint: Box::new(checkpoint),
    }
}

fn saved_lsn(view: &StateView, shard: u32) -> Option<StreamPosition> {
    view.read(|s| {
        s.checkpoints
            .get(&key(shard))
            .and_then(|c| c.stream.clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_entries_are_applied_again_after_a_restart() {
    let dir = TempDir::new().unwrap();
    let (raft, view) = start(dir.path(), raft_config()).await;
    set_up(&raft, 2).await;
    assert_eq!(write(&raft, save(1, 42)).await, Response::Ok);
    stop(raft, view).await;

    let (log, machine) = open(dir.path()).unwrap();
    assert!(log.is_initialized().await, "a vote and a log are on disk");
    assert_eq!(saved_lsn(&machine.view(), 1), None, "no snapshot yet");
    drop((log, machine));

    let (raft, view) = start(dir.path(), raft_config()).await;
    assert_eq!(saved_lsn(&view, 1), Some(StreamPosition::pg(Lsn(42), 0)));
    assert_eq!(view.read(|s| s.shards.len()), 2);
    let stale = write(&raft, save(1, 41)).await;
    assert!(
        matches!(
            stale,
            Response::Rejected {
                kind: Rejection::Regression,
                ..
            }
        ),
        "the replayed checkpoint still guards progress: {stale:?}"
    );
    stop(raft, view).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_the_snapshot_then_replays_the_log_after_it() {
    let dir = TempDir::new().unwrap();
    let (raft, view) = start(dir.path(), raft_config()).await;
    set_up(&raft, 1).await;
    let total = super::SNAPSHOT_EVERY + 500;
    for lsn in 1..=total {
        assert_eq!(write(&raft, save(0, lsn)).await, Response::Ok);
    }
    raft.wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.snapshot.is_some(), "a snapshot was built")
        .await
        .expect("snapshot");
    stop(raft, view).await;

    let (_log, mut machine) = open(dir.path()).unwrap();
    let (applied, _) = machine.applied_state().await.unwrap();
    let at_snapshot = saved_lsn(&machine.view(), 0).expect("the snapshot holds a checkpoint");
    assert!(applied.is_some_and(|id| id.index >= super::SNAPSHOT_EVERY));
    assert!(
        at_snapshot < StreamPosition::pg(Lsn(total), 0),
        "the tail is in the log only"
    );
    drop((_log, machine));

    let (raft, view) = start(dir.path(), raft_config()).await;
    assert_eq!(saved_lsn(&view, 0), Some(StreamPosition::pg(Lsn(total), 0)));
    stop(raft, view).await;
}

#[tokio::test]
async fn a_rejected_command_is_an_answer_not_an_error() {
    let dir = TempDir::new().unwrap();
    let (_log, mut machine) = open(dir.path()).unwrap();
    let entry = Entry::<TypeConfig> {
        log_id: openraft::testing::log_id(1, 1, 1),
        payload: EntryPayload::Normal(Stamped {
            at_ms: 1,
            cmd: save(0, 1),
        }),
    };
    let replies = machine
        .apply([entry])
        .await
        .expect("apply never fails on a refusal");
    assert!(matches!(
        replies[..],
        [Response::Rejected {
            kind: Rejection::NotFound,
            ..
        }]
    ));
    let (applied, _) = machine.applied_state().await.unwrap();
    assert_eq!(applied.map(|id| id.index), Some(1));
    assert_eq!(*machine.view().subscribe().borrow(), 1, "readers are woken");
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// This process's resident memory (`/proc/self/statm`, in pages of 4 KiB).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Each of `writers` shards saves its checkpoints `lsns` in order, all shards at once, so
/// openraft batches many commits into each append and flush.
async fn stream(raft: &Raft, writers: u32, lsns: std::ops::Range<u64>) {
    let tasks = (0..writers).map(|shard| {
        let raft = raft.clone();
        let lsns = lsns.clone();
        tokio::spawn(async move {
            for lsn in lsns {
                assert_eq!(write(&raft, save(shard, lsn)).await, Response::Ok);
            }
        })
    });
    for done in futures::future::join_all(tasks).await {
        done.expect("writer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_stream_of_checkpoint_commits_keeps_disk_and_memory_flat() {
    const WRITERS: u32 = 80;
    const FIRST: u64 = 20_000 / WRITERS as u64;
    const ALL: u64 = 100_000 / WRITERS as u64;
    let started = Instant::now();
    let dir = TempDir::new().unwrap();
    let (raft, view) = start(dir.path(), raft_config()).await;
    set_up(&raft, WRITERS).await;

    stream(&raft, WRITERS, 1..FIRST + 1).await;
    let (disk_20k, rss_20k) = (dir_bytes(dir.path()), rss_bytes());
    stream(&raft, WRITERS, FIRST + 1..ALL + 1).await;
    let (disk_100k, rss_100k) = (dir_bytes(dir.path()), rss_bytes());

    eprintln!(
        "20k commits: {disk_20k} B on disk, {rss_20k} B resident; 100k: {disk_100k} B, \
         {rss_100k} B; {:?}",
        started.elapsed()
    );
    for shard in 0..WRITERS {
        assert_eq!(
            saved_lsn(&view, shard),
            Some(StreamPosition::pg(Lsn(ALL), 0))
        );
    }
    assert!(
        disk_100k <= disk_20k * 2,
        "the Raft files grew from {disk_20k} B to {disk_100k} B: snapshots or purging stopped"
    );
    assert!(
        rss_100k <= rss_20k + rss_20k / 2,
        "resident memory grew from {rss_20k} B to {rss_100k} B"
    );
    stop(raft, view).await;
}
