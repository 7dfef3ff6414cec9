//! The leader's scheduler: declares workers lost when their lease expires, gives every shard an
//! owner, moves the fewest shards needed when a worker joins or drains, and finishes deletions.
//!
//! Decisions are a pure function of the applied state and the leader's clock (`decide`), so
//! they are tested without a cluster. Lease expiry is judged against the stamps the leaders
//! wrote into heartbeats (so members' clocks must agree to well under a lease, as NTP keeps
//! them), and never earlier than half a lease after this node became leader: workers that could
//! not renew during the election get that long to reach the new leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;

use super::state::{ClusterState, Command, Desired, Response, ShardRecord, ShardState};
use super::{ClusterHandle, NodeId};

/// How often the leader re-checks leases (and after every applied entry).
const TICK: Duration = Duration::from_millis(200);

/// The commands that bring `state` to a good assignment at `now_ms`; `leader_since_ms` is
/// when this node became leader.
pub fn decide(
    state: &ClusterState,
    now_ms: u64,
    leader_since_ms: u64,
    lease_ms: u64,
) -> Vec<Command> {
    let mut out = Vec::new();
    let mut lost: BTreeSet<NodeId> = BTreeSet::new();
    for (node, w) in &state.workers {
        let grace_from = leader_since_ms.saturating_sub(lease_ms - lease_ms / 2);
        let renewed = w.renewed_ms.max(grace_from);
        if w.lost {
            lost.insert(*node);
        } else if now_ms.saturating_sub(renewed) > lease_ms {
            lost.insert(*node);
            out.push(Command::ExpireWorker { node: *node });
        }
    }
    let live: Vec<NodeId> = state
        .workers
        .iter()
        .filter(|(n, w)| !lost.contains(n) && !w.draining)
        .map(|(n, _)| *n)
        .collect();
    if live.is_empty() {
        return out;
    }
    let mut load: BTreeMap<NodeId, usize> = live.iter().map(|n| (*n, 0)).collect();
    for s in state.shards.values() {
        if let Some(n) = s.moving_to.or(s.owner) {
            if let Some(l) = load.get_mut(&n) {
                *l += 1;
            }
        }
    }
    let usable_set: BTreeSet<NodeId> = live.iter().copied().collect();
    let usable = |n: &NodeId| usable_set.contains(n);
    let mut moving = false;
    for (key, s) in &state.shards {
        if !needs_owner(state, &key.task, s) {
            continue;
        }
        let owner_ok = s.owner.as_ref().is_some_and(&usable);
        let owner_present = s
            .owner
            .is_some_and(|o| !lost.contains(&o) && state.workers.contains_key(&o));
        // None: nothing to do; Some(graceful): move to the least loaded live worker.
        let decision = if !owner_present {
            Some(false)
        } else if let Some(t) = s.moving_to {
            moving = true;
            (!usable(&t)).then_some(true)
        } else {
            moving |= !owner_ok;
            (!owner_ok).then_some(true)
        };
        if let Some(graceful) = decision {
            let to = least_loaded(&load);
            bump(&mut load, to);
            out.push(Command::Assign {
                key: key.clone(),
                to: Some(to),
                graceful,
            });
        }
    }
    if !moving && out.iter().all(|c| !matches!(c, Command::Assign { .. })) {
        out.extend(rebalance(state, &load));
    }
    out
}

/// Shards of deleted tasks keep their owner until it stops them; completed shards hold nothing.
fn needs_owner(state: &ClusterState, task: &str, s: &ShardRecord) -> bool {
    let deleted = state
        .tasks
        .get(task)
        .is_none_or(|t| t.desired == Desired::Deleted);
    !deleted && s.status.state != ShardState::Completed
}

/// One graceful move from the most to the least loaded worker when they differ by two or more.
fn rebalance(state: &ClusterState, load: &BTreeMap<NodeId, usize>) -> Option<Command> {
    let (&max_n, &max) = load
        .iter()
        .max_by_key(|(n, l)| (**l, std::cmp::Reverse(**n)))?;
    let to = least_loaded(load);
    if max < load[&to] + 2 {
        return None;
    }
    let (key, _) = state
        .shards
        .iter()
        .rev()
        .find(|(k, s)| s.owner == Some(max_n) && needs_owner(state, &k.task, s))?;
    Some(Command::Assign {
        key: key.clone(),
        to: Some(to),
        graceful: true,
    })
}

fn least_loaded(load: &BTreeMap<NodeId, usize>) -> NodeId {
    load.iter()
        .min_by_key(|(n, l)| (**l, **n))
        .map(|(n, _)| *n)
        .unwrap_or_default()
}

fn bump(load: &mut BTreeMap<NodeId, usize>, n: NodeId) {
    *load.entry(n).or_default() += 1;
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs on every node; acts while this node is the leader.
pub async fn run(handle: ClusterHandle, lease: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut applied = handle.view().subscribe();
    let mut leader_since: Option<u64> = None;
    let deleter = super::deletion::Deleter::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            r = applied.changed() => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if !handle.is_leader() {
            leader_since = None;
            continue;
        }
        let since = *leader_since.get_or_insert_with(now_ms);
        let cmds = handle
            .view()
            .read(|s| decide(s, now_ms(), since, lease.as_millis() as u64));
        for cmd in cmds {
            tracing::info!(command = ?cmd, "scheduler");
            match handle.propose(cmd).await {
                Ok(Response::Ok) => {}
                Ok(Response::Rejected { reason, .. }) => {
                    tracing::warn!(%reason, "scheduler command rejected")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not propose");
                    break;
                }
            }
        }
        deleter.poll(&handle);
    }
}

#[cfg(test)]
mod tests;
