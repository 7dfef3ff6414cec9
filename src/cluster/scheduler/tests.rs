use super::*;
use crate::checkpoint::ShardKey;
use crate::cluster::state::{ShardPlan, Stamped, TaskRecord};
use crate::cluster::Member;

const LEASE: u64 = 3000;

fn cluster(workers: &[NodeId], shards: u32) -> ClusterState {
    let mut s = ClusterState::default();
    for n in workers {
        s.apply(&Stamped {
            at_ms: 1000,
            cmd: Command::RegisterWorker {
                node: *n,
                member: Member::default(),
            },
        });
    }
    let task = TaskRecord {
        name: "t".into(),
        spec_toml: String::new(),
        desired: Desired::Running,
        created_ms: 0,
        resume_generation: 0,
        delete_topics: false,
    };
    let shards = (0..shards)
        .map(|i| ShardPlan {
            shard: i,
            tables: vec![format!("s.t{i}")],
        })
        .collect();
    s.apply(&Stamped {
        at_ms: 1000,
        cmd: Command::CreateTask { task, shards },
    });
    s
}

/// Applies the scheduler's decisions until it has nothing more to do.
fn settle(s: &mut ClusterState, now: u64) -> usize {
    let mut n = 0;
    loop {
        let cmds = decide(s, now, 0, LEASE);
        if cmds.is_empty() {
            return n;
        }
        for c in cmds {
            n += 1;
            if let Command::Assign {
                key,
                graceful: true,
                ..
            } = &c
            {
                let owner = s.shards[key].owner;
                s.apply(&Stamped {
                    at_ms: now,
                    cmd: c.clone(),
                });
                if let Some(o) = owner {
                    let epoch = s.shards[key].epoch;
                    s.apply(&Stamped {
                        at_ms: now,
                        cmd: Command::Released {
                            key: key.clone(),
                            node: o,
                            epoch,
                        },
                    });
                }
            } else {
                s.apply(&Stamped { at_ms: now, cmd: c });
            }
        }
        assert!(n < 100, "the scheduler does not settle");
    }
}

fn owners(s: &ClusterState) -> Vec<Option<NodeId>> {
    s.shards.values().map(|r| r.owner).collect()
}

fn per_worker(s: &ClusterState, n: NodeId) -> usize {
    s.shards.values().filter(|r| r.owner == Some(n)).count()
}

#[test]
fn shards_spread_evenly_over_live_workers() {
    let mut s = cluster(&[1, 2, 3], 4);
    settle(&mut s, 1500);
    let counts: Vec<usize> = [1, 2, 3].iter().map(|n| per_worker(&s, *n)).collect();
    assert_eq!(counts.iter().sum::<usize>(), 4);
    assert!(counts.iter().all(|c| (1..=2).contains(c)), "{counts:?}");
}

#[test]
fn a_worker_whose_lease_expired_loses_its_shards_to_the_others() {
    let mut s = cluster(&[1, 2, 3], 4);
    settle(&mut s, 1500);
    let before = owners(&s);
    for n in [1, 2] {
        s.apply(&Stamped {
            at_ms: 4000,
            cmd: Command::Heartbeat {
                node: n,
                shards: vec![],
            },
        });
    }
    assert!(
        decide(&s, 4000, 0, LEASE).is_empty(),
        "a lease inside its term is kept"
    );
    settle(&mut s, 4500);
    assert!(s.workers[&3].lost);
    assert_eq!(per_worker(&s, 3), 0);
    let kept = before
        .iter()
        .zip(owners(&s))
        .filter(|(b, a)| **b == *a && **b != Some(3))
        .count();
    let not_on_3 = before.iter().filter(|b| **b != Some(3)).count();
    assert_eq!(kept, not_on_3, "shards of live workers stay where they are");
}

#[test]
fn a_new_leader_gives_every_worker_half_a_lease_to_reach_it() {
    let mut s = cluster(&[1, 2], 2);
    settle(&mut s, 1500);
    assert!(
        decide(&s, 9400, 8000, LEASE).is_empty(),
        "stamps of the old leader are long expired, but the grace holds"
    );
    assert!(!decide(&s, 9600, 8000, LEASE).is_empty());
    s.apply(&Stamped {
        at_ms: 7000,
        cmd: Command::Heartbeat {
            node: 1,
            shards: vec![],
        },
    });
    let cmds = decide(&s, 9600, 8000, LEASE);
    assert_eq!(
        cmds[0],
        Command::ExpireWorker { node: 2 },
        "a recent stamp of the old leader still counts"
    );
    assert!(!cmds.contains(&Command::ExpireWorker { node: 1 }));
}

#[test]
fn a_join_moves_the_fewest_shards_and_a_drain_empties_the_worker() {
    let mut s = cluster(&[1, 2], 6);
    settle(&mut s, 1500);
    s.apply(&Stamped {
        at_ms: 1600,
        cmd: Command::RegisterWorker {
            node: 3,
            member: Member::default(),
        },
    });
    let moves = settle(&mut s, 1700);
    assert_eq!(moves, 2, "3+3 becomes 2+2+2 with two moves");
    s.apply(&Stamped {
        at_ms: 1800,
        cmd: Command::DrainWorker { node: 2 },
    });
    settle(&mut s, 1900);
    assert_eq!(per_worker(&s, 2), 0);
    assert_eq!(per_worker(&s, 1) + per_worker(&s, 3), 6);
}

#[test]
fn a_graceful_move_waits_for_the_release() {
    let mut s = cluster(&[1, 2], 2);
    settle(&mut s, 1500);
    let key = ShardKey {
        task: "t".into(),
        shard: 0,
    };
    let owner = s.shards[&key].owner.unwrap();
    s.apply(&Stamped {
        at_ms: 1600,
        cmd: Command::DrainWorker { node: owner },
    });
    for c in decide(&s, 1700, 0, LEASE) {
        s.apply(&Stamped {
            at_ms: 1700,
            cmd: c,
        });
    }
    assert_eq!(
        s.shards[&key].owner,
        Some(owner),
        "still owned until released"
    );
    assert!(s.shards[&key].moving_to.is_some());
    assert!(
        decide(&s, 1800, 0, LEASE).is_empty(),
        "no second decision while the move is pending"
    );
}
