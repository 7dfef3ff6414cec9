use super::*;
use crate::checkpoint::Checkpoint;

fn at(at_ms: u64, cmd: Command) -> Stamped {
    Stamped { at_ms, cmd }
}

fn key(shard: u32) -> ShardKey {
    ShardKey {
        task: "shop".into(),
        shard,
    }
}

fn with_task() -> ClusterState {
    let mut s = ClusterState::default();
    let task = TaskRecord {
        name: "shop".into(),
        spec_toml: String::new(),
        desired: Desired::Running,
        created_ms: 0,
        resume_generation: 0,
        delete_topics: false,
    };
    let shards = vec![ShardPlan {
        shard: 0,
        tables: vec!["public.a".into()],
    }];
    assert_eq!(
        s.apply(&at(1, Command::CreateTask { task, shards })),
        Response::Ok
    );
    for n in [1, 2] {
        let member = Member::default();
        s.apply(&at(1, Command::RegisterWorker { node: n, member }));
    }
    s
}

fn save(s: &mut ClusterState, node: NodeId, epoch: u64, events: u64) -> Response {
    let mut cp = Checkpoint::new("abcd".into());
    cp.epoch = epoch;
    cp.event_count = events;
    cp.stream = Some(crate::position::StreamPosition::Pg {
        commit_lsn: crate::position::Lsn(events),
        index: 0,
    });
    s.apply(&at(
        5,
        Command::SaveCheckpoint {
            key: key(0),
            node,
            epoch,
            checkpoint: Box::new(cp),
        },
    ))
}

fn kind(r: Response) -> Option<Rejection> {
    match r {
        Response::Ok => None,
        Response::Rejected { kind, .. } => Some(kind),
    }
}

#[test]
fn only_the_current_owner_at_its_epoch_saves_and_never_backwards() {
    let mut s = with_task();
    let assign = |to| Command::Assign {
        key: key(0),
        to: Some(to),
        graceful: false,
    };
    s.apply(&at(2, assign(1)));
    assert_eq!(s.shards[&key(0)].epoch, 1);
    assert_eq!(save(&mut s, 1, 1, 10), Response::Ok);
    assert_eq!(kind(save(&mut s, 1, 1, 5)), Some(Rejection::Regression));
    assert_eq!(kind(save(&mut s, 2, 1, 20)), Some(Rejection::StaleEpoch));
    s.apply(&at(3, assign(2)));
    assert_eq!(kind(save(&mut s, 1, 1, 30)), Some(Rejection::StaleEpoch));
    assert_eq!(save(&mut s, 2, 2, 30), Response::Ok);
    assert_eq!(s.checkpoints[&key(0)].event_count, 30);
}

#[test]
fn a_graceful_move_waits_for_the_owner_to_release() {
    let mut s = with_task();
    let assign = |to, graceful| Command::Assign {
        key: key(0),
        to: Some(to),
        graceful,
    };
    s.apply(&at(2, assign(1, false)));
    s.apply(&at(3, assign(2, true)));
    assert_eq!(
        s.shards[&key(0)].owner,
        Some(1),
        "owner keeps it until it releases"
    );
    assert_eq!(
        save(&mut s, 1, 1, 10),
        Response::Ok,
        "and saves its last checkpoint"
    );
    let stale = Command::Released {
        key: key(0),
        node: 1,
        epoch: 0,
    };
    assert_eq!(kind(s.apply(&at(4, stale))), Some(Rejection::StaleEpoch));
    let released = Command::Released {
        key: key(0),
        node: 1,
        epoch: 1,
    };
    assert_eq!(s.apply(&at(4, released)), Response::Ok);
    assert_eq!(
        (s.shards[&key(0)].owner, s.shards[&key(0)].epoch),
        (Some(2), 2)
    );
}

#[test]
fn the_last_worker_cannot_be_drained_and_unknowns_are_named() {
    let mut s = with_task();
    assert_eq!(
        s.apply(&at(2, Command::DrainWorker { node: 1 })),
        Response::Ok
    );
    let r = s.apply(&at(2, Command::DrainWorker { node: 2 }));
    assert!(
        matches!(&r, Response::Rejected { reason, kind: Rejection::Conflict } if reason.contains("last worker")),
        "{r:?}"
    );
    let r = s.apply(&at(2, Command::DrainWorker { node: 9 }));
    assert_eq!(kind(r), Some(Rejection::NotFound));
    let dup = with_task().tasks["shop"].clone();
    let r = s.apply(&at(
        2,
        Command::CreateTask {
            task: dup,
            shards: vec![],
        },
    ));
    assert_eq!(kind(r), Some(Rejection::AlreadyExists));
}

#[test]
fn apply_is_deterministic_and_uses_only_the_stamp() {
    let run = || {
        let mut s = with_task();
        s.apply(&at(
            7,
            Command::Heartbeat {
                node: 1,
                shards: vec![],
            },
        ));
        s
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(a.workers[&1].renewed_ms, 7);
}

#[test]
fn resume_clears_failures_and_remove_drops_everything_of_the_task() {
    let mut s = with_task();
    s.apply(&at(
        2,
        Command::Assign {
            key: key(0),
            to: Some(1),
            graceful: false,
        },
    ));
    let failed = ShardStatus {
        state: ShardState::Failed,
        reason: Some("boom".into()),
        ..Default::default()
    };
    let report = Command::ReportStatus {
        key: key(0),
        node: 1,
        epoch: 1,
        status: failed,
    };
    assert_eq!(s.apply(&at(3, report)), Response::Ok);
    assert_eq!(s.shards[&key(0)].status.since_ms, 3);
    let resume = Command::SetDesired {
        name: "shop".into(),
        desired: Desired::Running,
    };
    s.apply(&at(4, resume));
    assert_eq!(s.shards[&key(0)].status.state, ShardState::Pending);
    assert_eq!(s.tasks["shop"].resume_generation, 1);
    save(&mut s, 1, 1, 3);
    s.apply(&at(
        5,
        Command::RemoveTask {
            name: "shop".into(),
        },
    ));
    assert!(s.tasks.is_empty() && s.shards.is_empty() && s.checkpoints.is_empty());
}

/// The task, its shard 0 run by worker 1 at epoch 1 with a checkpoint saved.
fn owned_with_checkpoint() -> ClusterState {
    let mut s = with_task();
    let assign = Command::Assign {
        key: key(0),
        to: Some(1),
        graceful: false,
    };
    s.apply(&at(2, assign));
    assert_eq!(save(&mut s, 1, 1, 10), Response::Ok);
    s
}

#[test]
fn added_tables_change_a_running_shard_without_a_restart_and_create_new_ones() {
    let mut s = owned_with_checkpoint();
    let shards = vec![
        ShardPlan {
            shard: 0,
            tables: vec!["public.a".into(), "public.b".into()],
        },
        ShardPlan {
            shard: 1,
            tables: vec!["public.c".into()],
        },
    ];
    let cmd = Command::AddTables {
        name: "shop".into(),
        spec_toml: "new".into(),
        shards,
    };
    assert_eq!(s.apply(&at(3, cmd)), Response::Ok);
    assert_eq!(s.tasks["shop"].spec_toml, "new");
    let changed = &s.shards[&key(0)];
    assert_eq!(changed.tables, ["public.a", "public.b"]);
    assert_eq!(
        (changed.owner, changed.epoch),
        (Some(1), 1),
        "the running shard adopts them: no new epoch"
    );
    assert_eq!(s.shards[&key(1)].owner, None, "the scheduler assigns it");
    assert_eq!(
        save(&mut s, 1, 1, 20),
        Response::Ok,
        "the running shard goes on saving"
    );
}

#[test]
fn a_resnapshot_asks_the_running_shard_to_read_the_table_again_without_a_restart() {
    let mut s = owned_with_checkpoint();
    s.checkpoints.get_mut(&key(0)).unwrap().tables.insert(
        "public.a".into(),
        crate::checkpoint::TableProgress::Done { rows: 5 },
    );
    let again = |table: &str| Command::ResnapshotTable {
        name: "shop".into(),
        table: table.into(),
    };
    assert_eq!(
        kind(s.apply(&at(3, again("public.z")))),
        Some(Rejection::NotFound)
    );
    assert!(
        s.shards[&key(0)].rereads.is_empty(),
        "a refused call changes nothing"
    );
    assert_eq!(s.apply(&at(3, again("public.a"))), Response::Ok);
    assert_eq!(s.shards[&key(0)].rereads["public.a"], 1);
    assert_eq!(s.apply(&at(4, again("public.a"))), Response::Ok);
    assert_eq!(
        s.shards[&key(0)].rereads["public.a"],
        2,
        "each request is a new one"
    );
    assert_eq!(
        s.shards[&key(0)].epoch,
        1,
        "no new epoch: the shard runs on"
    );
    assert_eq!(
        save(&mut s, 1, 1, 20),
        Response::Ok,
        "its run goes on saving"
    );
}
