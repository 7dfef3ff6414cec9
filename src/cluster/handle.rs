//! A node's handle on the cluster: its Raft node, its applied state, and proposals that reach
//! the leader from any node. The admin API, the scheduler and the worker use only this.
//!
//! Writes and barriers run on the leader. On the leader they call openraft directly; on a
//! follower they go to the leader over the Raft gRPC service (`Propose`, `ReadIndex`,
//! `AddMember`, `RemoveMember`), and the leader answers `FAILED_PRECONDITION` if it no longer
//! leads. While no leader is known, or the one known is unreachable or has stepped down, the
//! handle asks again with a short back-off until [`DEFAULT_DEADLINE`], then answers
//! [`ClusterError::NoLeader`]. A forwarded write whose answer is lost may have been committed:
//! asking again may apply it twice, which `apply` answers like any repeated command.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::{ChangeMembers, ServerState};
use tokio::time::Instant;
use tonic::transport::Channel;

use super::network::Peers;
use super::rpc::raft::raft_client::RaftClient;
use super::rpc::raft::{AddMemberRequest, ProposeRequest, ReadIndexRequest, RemoveMemberRequest};
use super::state::{Command, Response, Stamped, StateView};
use super::{Member, NodeId, Raft};

/// How long a request looks for a leader (an election takes 1–2 s; a few failed ones fit).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// A membership change waits this long for the new member to catch up with the log.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

/// First pause between two attempts to find the leader; it doubles up to [`MAX_BACKOFF`].
/// A forwarded call to the leader gives up after this and looks for the leader again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

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

/// One attempt at a leader-only request failed.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The node asked is not (or no longer) the leader, or cannot be reached: ask again.
    Retry(String),
    /// A definite answer: do not ask again.
    Fail(ClusterError),
}

/// Cheap to clone; every clone talks to the same node.
#[derive(Clone)]
pub struct ClusterHandle {
    node: NodeId,
    raft: Raft,
    view: StateView,
    peers: Arc<Peers>,
    deadline: Duration,
}

impl ClusterHandle {
    /// The handle of node `node`: its Raft, the view its state machine applies into, and the
    /// channels to the other members.
    pub fn new(node: NodeId, raft: Raft, view: StateView, peers: Arc<Peers>) -> ClusterHandle {
        ClusterHandle {
            node,
            raft,
            view,
            peers,
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// How long requests look for a leader before answering `NoLeader`.
    pub fn with_deadline(mut self, deadline: Duration) -> ClusterHandle {
        self.deadline = deadline;
        self
    }

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
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let leader = metrics.current_leader?;
        let member = metrics.membership_config.membership().get_node(&leader)?;
        Some((leader, member.clone()))
    }

    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.node)
    }

    /// Proposes `cmd` through the leader, which stamps its wall-clock time into the entry;
    /// resolves once the entry is committed and applied on this node, with apply's answer.
    pub async fn propose(&self, cmd: Command) -> Result<Response, ClusterError> {
        let deadline = Instant::now() + self.deadline;
        let (index, response) = self
            .on_leader(
                deadline,
                Duration::ZERO,
                || self.propose_local(cmd.clone(), deadline),
                |mut c| {
                    let command = serde_json::to_vec(&cmd).expect("a command serializes");
                    async move {
                        let reply = c.propose(ProposeRequest { command }).await?.into_inner();
                        let response = serde_json::from_slice(&reply.response).map_err(|e| {
                            tonic::Status::internal(format!("undecodable response: {e}"))
                        })?;
                        Ok((reply.index, response))
                    }
                },
            )
            .await?;
        self.wait_view(index, deadline).await?;
        Ok(response)
    }

    /// Resolves once this node has applied everything the leader had committed when called.
    ///
    /// The leader confirms with a quorum that it still leads and names the log index a
    /// linearizable read must see (openraft's read index); this node then waits until it has
    /// applied that far. On the leader this is `ensure_linearizable`.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.deadline;
        let index = self
            .on_leader(
                deadline,
                Duration::ZERO,
                || self.read_index_local(deadline),
                |mut c| async move { Ok(c.read_index(ReadIndexRequest {}).await?.into_inner().index) },
            )
            .await?;
        self.wait_applied(index, deadline).await
    }

    /// Adds a node to the Raft membership as a voter (learner first, then promoted).
    pub async fn add_member(&self, node: NodeId, member: Member) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.deadline;
        self.on_leader(
            deadline,
            MEMBERSHIP_TIMEOUT,
            || self.add_member_local(node, member.clone()),
            |mut c| {
                let req = AddMemberRequest {
                    node_id: node,
                    raft_addr: member.raft_addr.clone(),
                    admin_addr: member.admin_addr.clone(),
                };
                async move {
                    let mut req = tonic::Request::new(req);
                    req.set_timeout(MEMBERSHIP_TIMEOUT);
                    c.add_member(req).await.map(|_| ())
                }
            },
        )
        .await
    }

    /// Removes a node from the Raft membership.
    pub async fn remove_member(&self, node: NodeId) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.deadline;
        self.on_leader(
            deadline,
            MEMBERSHIP_TIMEOUT,
            || self.remove_member_local(node),
            |mut c| async move {
                let mut req = tonic::Request::new(RemoveMemberRequest { node_id: node });
                req.set_timeout(MEMBERSHIP_TIMEOUT);
                c.remove_member(req).await.map(|_| ())
            },
        )
        .await
    }

    /// The Raft membership with addresses.
    /// A client of the member at `raft_addr`, on the shared channel.
    pub fn peer_client(
        &self,
        raft_addr: &str,
    ) -> Result<RaftClient<Channel>, tonic::transport::Error> {
        self.peers.client(raft_addr)
    }

    pub fn members(&self) -> Vec<MemberInfo> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(node, member)| MemberInfo {
                node: *node,
                member: member.clone(),
                voter: voters.contains(node),
            })
            .collect()
    }

    /// Runs a leader-only request: `local` when this node leads, `remote` on a client of the
    /// leader otherwise, again with a back-off while the answer is "not the leader" or the
    /// leader cannot be reached, until `deadline`. A request to the leader may run past
    /// `deadline` up to `budget` (a membership change waits for the new member to catch up).
    async fn on_leader<T, L, LF, R, RF>(
        &self,
        deadline: Instant,
        budget: Duration,
        local: L,
        remote: R,
    ) -> Result<T, ClusterError>
    where
        L: Fn() -> LF,
        LF: Future<Output = Result<T, Attempt>>,
        R: Fn(RaftClient<Channel>) -> RF,
        RF: Future<Output = Result<T, tonic::Status>>,
    {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let reason = match self.leader() {
                Some((leader, _)) if leader == self.node => match local().await {
                    Ok(out) => return Ok(out),
                    Err(Attempt::Fail(e)) => return Err(e),
                    Err(Attempt::Retry(reason)) => reason,
                },
                Some((leader, member)) => {
                    match self
                        .ask(
                            leader,
                            &member,
                            // One attempt gets a short budget (unless the request itself
                            // waits, as a membership change does): a paused or partitioned
                            // leader must not hold the caller past the election replacing it.
                            deadline
                                .min(Instant::now() + ATTEMPT_TIMEOUT)
                                .max(Instant::now() + budget),
                            &remote,
                        )
                        .await
                    {
                        Ok(out) => return Ok(out),
                        Err(Attempt::Fail(e)) => return Err(e),
                        Err(Attempt::Retry(reason)) => reason,
                    }
                }
                None => "no leader is elected".to_owned(),
            };
            let now = Instant::now();
            if now + backoff >= deadline {
                return Err(ClusterError::NoLeader(reason));
            }
            tracing::debug!(node = self.node, %reason, "looking for the leader again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One request to the leader `leader`, bounded by `until`.
    async fn ask<T, R, RF>(
        &self,
        leader: NodeId,
        member: &Member,
        until: Instant,
        remote: &R,
    ) -> Result<T, Attempt>
    where
        R: Fn(RaftClient<Channel>) -> RF,
        RF: Future<Output = Result<T, tonic::Status>>,
    {
        let addr = &member.raft_addr;
        let client = self.peers.client(addr).map_err(|e| {
            Attempt::Fail(ClusterError::Unreachable {
                addr: addr.clone(),
                reason: e.to_string(),
            })
        })?;
        match tokio::time::timeout_at(until, remote(client)).await {
            Err(_) => Err(Attempt::Retry(format!(
                "leader {leader} at {addr} did not answer in time"
            ))),
            Ok(Ok(out)) => Ok(out),
            Ok(Err(status)) => Err(remote_failure(leader, addr, status)),
        }
    }

    /// On the leader: stamps `cmd` with this node's wall clock and commits it; the log index
    /// and apply's answer.
    pub(crate) async fn propose_local(
        &self,
        cmd: Command,
        deadline: Instant,
    ) -> Result<(u64, Response), Attempt> {
        let entry = Stamped {
            at_ms: wall_clock_ms(),
            cmd,
        };
        let written = tokio::time::timeout_at(deadline, self.raft.client_write(entry))
            .await
            .map_err(|_| not_committed())?
            .map_err(raft_failure)?;
        Ok((written.log_id.index, written.data))
    }

    /// On the leader: confirms leadership with a quorum; the index a linearizable read needs.
    pub(crate) async fn read_index_local(&self, deadline: Instant) -> Result<Option<u64>, Attempt> {
        let (read, _applied) = tokio::time::timeout_at(deadline, self.raft.get_read_log_id())
            .await
            .map_err(|_| not_committed())?
            .map_err(raft_failure)?;
        Ok(read.map(|id| id.index))
    }

    /// On the leader: adds `node` as a learner, waits for it to catch up, then makes it a voter.
    pub(crate) async fn add_member_local(
        &self,
        node: NodeId,
        member: Member,
    ) -> Result<(), Attempt> {
        let timeout = |_| {
            Attempt::Fail(ClusterError::Timeout(
                MEMBERSHIP_TIMEOUT,
                "a new member to catch up",
            ))
        };
        tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            self.raft.add_learner(node, member, true),
        )
        .await
        .map_err(timeout)?
        .map_err(raft_failure)?;
        let voters = ChangeMembers::AddVoterIds(BTreeSet::from([node]));
        tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            self.raft.change_membership(voters, true),
        )
        .await
        .map_err(timeout)?
        .map_err(raft_failure)?;
        Ok(())
    }

    /// On the leader: removes `node` from the membership, a voter or a learner.
    pub(crate) async fn remove_member_local(&self, node: NodeId) -> Result<(), Attempt> {
        let is_voter = self.members().iter().any(|m| m.node == node && m.voter);
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([node]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([node]))
        };
        tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            self.raft.change_membership(change, false),
        )
        .await
        .map_err(|_| {
            Attempt::Fail(ClusterError::Timeout(
                MEMBERSHIP_TIMEOUT,
                "a membership change",
            ))
        })?
        .map_err(raft_failure)?;
        Ok(())
    }

    /// Waits until this node's view has applied `index` (a normal entry's index).
    async fn wait_view(&self, index: u64, deadline: Instant) -> Result<(), ClusterError> {
        let mut applied = self.view.subscribe();
        let reached = tokio::time::timeout_at(deadline, applied.wait_for(|i| *i >= index)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ClusterError::Raft("the state machine stopped".into())),
            Err(_) => Err(ClusterError::Timeout(
                self.deadline,
                "this node to apply the entry",
            )),
        }
    }

    /// Waits until this node's state machine has applied `index` (any entry, membership and
    /// blank ones included, so Raft's metrics rather than the view).
    async fn wait_applied(
        &self,
        index: Option<u64>,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match self
            .raft
            .wait(Some(remaining))
            .applied_index_at_least(index, "read barrier")
            .await
        {
            Ok(_) => Ok(()),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(ClusterError::Timeout(
                self.deadline,
                "this node to apply what the leader committed",
            )),
            Err(e) => Err(ClusterError::Raft(e.to_string())),
        }
    }
}

/// An openraft failure on this node: "not the leader" asks again, anything else is final.
fn raft_failure<E>(e: openraft::error::RaftError<NodeId, E>) -> Attempt
where
    E: std::error::Error + openraft::TryAsRef<openraft::error::ForwardToLeader<NodeId, Member>>,
{
    match e.forward_to_leader::<Member>() {
        Some(forward) => Attempt::Retry(format!("this node is no longer the leader ({forward})")),
        None => Attempt::Fail(ClusterError::Raft(e.to_string())),
    }
}

/// The leader did not get an entry committed by `deadline`: a majority is unreachable.
fn not_committed() -> Attempt {
    Attempt::Fail(ClusterError::NoLeader(
        "the leader could not reach a majority in time".into(),
    ))
}

/// What a failed gRPC call to the leader means for the caller.
fn remote_failure(leader: NodeId, addr: &str, status: tonic::Status) -> Attempt {
    match status.code() {
        tonic::Code::FailedPrecondition => Attempt::Retry(format!(
            "node {leader} at {addr} is no longer the leader: {}",
            status.message()
        )),
        tonic::Code::Unavailable
        | tonic::Code::Unknown
        | tonic::Code::Cancelled
        | tonic::Code::DeadlineExceeded => Attempt::Retry(format!(
            "cannot reach leader {leader} at {addr}: {}",
            status.message()
        )),
        _ => Attempt::Fail(ClusterError::Raft(format!(
            "leader {leader} at {addr}: {}",
            status.message()
        ))),
    }
}

impl Attempt {
    /// How the leader's service answers a failed attempt (read back by [`remote_failure`]).
    pub(crate) fn into_status(self) -> tonic::Status {
        match self {
            Attempt::Retry(reason) => tonic::Status::failed_precondition(reason),
            // The leader lost its majority: the caller looks for a leader until its deadline.
            Attempt::Fail(ClusterError::NoLeader(reason)) => tonic::Status::unavailable(reason),
            Attempt::Fail(e) => tonic::Status::aborted(e.to_string()),
        }
    }
}

/// This node's wall clock, ms since the Unix epoch (0 if the clock is before it).
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
