//! The worker cluster: several `tributary worker` processes form a Raft group whose replicated
//! state holds every task, shard, assignment, checkpoint and worker lease.
//!
//! ```text
//!  ctl ─► admin gRPC (any node; a follower forwards) ─► leader: propose(Stamped{at_ms, cmd})
//!                                                         │ raft log (sled) → apply on every node
//!  scheduler (leader only): leases → assignments ◄────────┘
//!  worker (every node): runs the shards assigned to it, renews its lease, saves checkpoints
//!                       through Raft (fenced by the assignment epoch)
//! ```
//! The leader stamps its wall-clock time into each entry; `apply` judges nothing by the clock
//! of the node applying it, so every node computes the same state.

pub mod admin;
pub mod checkpoints;
pub mod config;
mod deletion;
pub mod embedded;
pub mod handle;
pub mod lanes;
pub mod network;
pub mod node;
pub mod plan;
mod rpc;
pub mod scheduler;
pub mod state;
pub mod store;
pub mod worker;

pub use handle::{ClusterError, ClusterHandle};

#[cfg(test)]
mod tests_net;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A worker's Raft node id (`node_id` in its config).
pub type NodeId = u64;

/// How to reach a member: its Raft (internal) and admin gRPC addresses, `host:port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub raft_addr: String,
    pub admin_addr: String,
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raft {}, admin {}", self.raft_addr, self.admin_addr)
    }
}

openraft::declare_raft_types!(
    /// The cluster's Raft types: stamped commands in, responses out, sled behind both.
    pub TypeConfig:
        D = state::Stamped,
        R = state::Response,
        NodeId = NodeId,
        Node = Member,
);

/// A running Raft node of the cluster.
pub type Raft = openraft::Raft<TypeConfig>;
