//! A node's handle on the cluster: its Raft node, its applied state, and proposals that reach
//! the leader from any node. The admin API, the scheduler and the worker use only this.
//!
//! STUB: the Raft plumbing (store, network, node start) replaces the bodies; the signatures are
//! the contract the admin API, scheduler and worker are written against.

use super::state::{Command, Response, StateView};
use super::{Member, NodeId, Raft};

/// The cluster cannot do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// No leader is known (an election is running, or a majority is down).
    #[error("the cluster has no leader right now ({0}): retry in a few seconds; if it persists, a majority of workers is down")]
    NoLeader(String),
    /// A node could not be reached.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    /// Raft refused or failed (membership change in progress, storage failure...).
    #[error("raft: {0}")]
    Raft(String),
    /// Waited too long.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, &'static str),
}

/// A member as Raft knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub node: NodeId,
    pub member: Member,
    /// A voter (false: a learner still catching up).
    pub voter: bool,
}

/// Cheap to clone; every clone talks to the same node.
#[derive(Clone)]
pub struct ClusterHandle {
    node: NodeId,
    raft: Raft,
    view: StateView,
}

impl ClusterHandle {
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// The state as applied on this node.
    pub fn view(&self) -> &StateView {
        &self.view
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The leader as this node knows it.
    pub fn leader(&self) -> Option<(NodeId, Member)> {
        todo!()
    }

    pub fn is_leader(&self) -> bool {
        todo!()
    }

    /// Proposes `cmd` through the leader, which stamps its wall-clock time into the entry;
    /// resolves once the entry is committed and applied on this node, with apply's answer.
    pub async fn propose(&self, _cmd: Command) -> Result<Response, ClusterError> {
        todo!()
    }

    /// Resolves once this node has applied everything the leader had committed when called.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        todo!()
    }

    /// Adds a node to the Raft membership as a voter (learner first, then promoted).
    pub async fn add_member(&self, _node: NodeId, _member: Member) -> Result<(), ClusterError> {
        todo!()
    }

    /// Removes a node from the Raft membership.
    pub async fn remove_member(&self, _node: NodeId) -> Result<(), ClusterError> {
        todo!()
    }

    /// The Raft membership with addresses.
    pub fn members(&self) -> Vec<MemberInfo> {
        todo!()
    }
}
