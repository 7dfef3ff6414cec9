use super::*;
use crate::cluster::state::{ShardStatus, WorkerRecord};
use crate::cluster::Member;

fn task(desired: Desired) -> TaskRecord {
    TaskRecord {
        name: "t".into(),
        spec_toml: String::new(),
        desired,
        created_ms: 0,
        resume_generation: 0,
        delete_topics: false,
    }
}

fn shard(state: ShardState, done: u32, total: u32) -> ShardRecord {
    ShardRecord {
        tables: vec![],
        owner: None,
        epoch: 0,
        moving_to: None,
        status: ShardStatus {
            state,
            ..ShardStatus::default()
        },
        progress: ShardProgress {
            tables_done: done,
            tables_total: total,
            ..ShardProgress::default()
        },
        rereads: Default::default(),
    }
}

fn phase(desired: Desired, shards: &[ShardRecord]) -> TaskPhase {
    task_phase(&task(desired), shards.iter())
}

#[test]
fn the_phase_is_the_furthest_shard_phase_with_failure_pause_and_delete_first() {
    use ShardState as S;
    use TaskPhase as P;
    let running = Desired::Running;
    let cases: [(Desired, Vec<ShardRecord>, TaskPhase); 11] = [
        (running, vec![], P::Pending),
        (running, vec![shard(S::Starting, 0, 0)], P::Pending),
        (
            running,
            vec![shard(S::Pending, 0, 0), shard(S::Snapshot, 1, 3)],
            P::Snapshot,
        ),
        (
            running,
            vec![shard(S::Snapshot, 1, 3), shard(S::Streaming, 3, 3)],
            P::Streaming,
        ),
        (running, vec![shard(S::Retrying, 1, 3)], P::Snapshot),
        (running, vec![shard(S::Retrying, 3, 3)], P::Streaming),
        (
            running,
            vec![shard(S::Completed, 3, 3), shard(S::Snapshot, 0, 1)],
            P::Snapshot,
        ),
        (
            running,
            vec![shard(S::Completed, 3, 3), shard(S::Completed, 1, 1)],
            P::Completed,
        ),
        (
            running,
            vec![shard(S::Streaming, 3, 3), shard(S::Failed, 0, 1)],
            P::Failed,
        ),
        (Desired::Paused, vec![shard(S::Streaming, 3, 3)], P::Paused),
        (Desired::Deleted, vec![shard(S::Failed, 0, 1)], P::Deleting),
    ];
    for (desired, shards, want) in cases {
        let states: Vec<ShardState> = shards.iter().map(|s| s.status.state).collect();
        assert_eq!(phase(desired, &shards), want, "{desired:?} {states:?}");
    }
}

#[test]
fn members_merge_raft_and_the_state_with_lease_ages_and_owned_shards() {
    let mut state = ClusterState::default();
    let m = |n: u64| Member {
        raft_addr: format!("r{n}:1"),
        admin_addr: format!("a{n}:1"),
    };
    state.workers.insert(
        2,
        WorkerRecord {
            member: m(2),
            renewed_ms: 1_000,
            lost: true,
            draining: false,
        },
    );
    let mut owned = shard(ShardState::Streaming, 0, 0);
    owned.owner = Some(2);
    let key = |shard| crate::checkpoint::ShardKey {
        task: "t".into(),
        shard,
    };
    state.shards.insert(key(0), owned.clone());
    state.shards.insert(key(1), owned);
    let raft = [MemberInfo {
        node: 1,
        member: m(1),
        voter: false,
    }];
    let members = members_pb(&state, &raft, Some(1), 4_500);
    assert_eq!(members.len(), 2);
    let (one, two) = (&members[0], &members[1]);
    assert_eq!(
        (one.node_id, one.leader, one.voter, one.lease_age_ms),
        (1, true, false, None)
    );
    assert_eq!(one.raft_addr, "r1:1");
    assert_eq!(
        (two.node_id, two.leader, two.lost, two.shard_count),
        (2, false, true, 2)
    );
    assert_eq!(two.lease_age_ms, Some(3_500));
    assert_eq!(two.admin_addr, "a2:1");
    let health = health_pb(&members, Some(1));
    assert!(!health.ok);
    assert!(health.degraded[0].contains("for 3.5s"), "{health:?}");
    assert!(health_pb(&members[..1], Some(1)).ok);
}

#[test]
fn errors_map_to_the_status_a_caller_acts_on() {
    let cases = [
        (
            cluster_status(ClusterError::NoLeader("x".into())),
            tonic::Code::Unavailable,
        ),
        (
            cluster_status(ClusterError::Timeout(
                std::time::Duration::from_secs(1),
                "apply",
            )),
            tonic::Code::DeadlineExceeded,
        ),
        (
            rejected_status(Rejection::NotFound, "r".into()),
            tonic::Code::NotFound,
        ),
        (
            rejected_status(Rejection::AlreadyExists, "r".into()),
            tonic::Code::AlreadyExists,
        ),
        (
            rejected_status(Rejection::StaleEpoch, "r".into()),
            tonic::Code::FailedPrecondition,
        ),
        (
            rejected_status(Rejection::Conflict, "r".into()),
            tonic::Code::FailedPrecondition,
        ),
    ];
    for (status, code) in cases {
        assert_eq!(status.code(), code, "{status:?}");
    }
    let e = crate::config::TaskSpec::parse("name = ").unwrap_err();
    let s = config_status(e);
    assert_eq!(s.code(), tonic::Code::InvalidArgument);
    assert!(
        s.message().starts_with("task file is not valid: "),
        "{}",
        s.message()
    );
}

#[test]
fn a_task_shows_its_labels_and_latest_error_but_no_secret() {
    let mut state = ClusterState::default();
    let mut t = task(Desired::Running);
    t.spec_toml = super::super::tests::SPEC.to_owned();
    let key = |shard| crate::checkpoint::ShardKey {
        task: "t".into(),
        shard,
    };
    for (id, at, reason) in [(0, 5, "older"), (1, 9, "newer"), (2, 20, "")] {
        let mut s = shard(ShardState::Retrying, 0, 1);
        s.status.since_ms = at;
        s.status.reason = (!reason.is_empty()).then(|| reason.to_owned());
        state.shards.insert(key(id), s);
    }
    let pb = task_pb(&state, &t);
    assert_eq!(pb.last_error.as_deref(), Some("newer"));
    assert_eq!(pb.shards.len(), 3);
    assert_eq!(pb.labels["team"], "data");
    assert!(!pb.spec_toml.contains("hunter2") && !pb.spec_toml.contains("kafka-secret"));
}
