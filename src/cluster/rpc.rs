//! The server half of `proto/tributary/raft/v1/raft.proto`: what other members ask of this
//! node. Raft traffic goes straight to the local openraft node; `Propose`, `ReadIndex` and the
//! membership calls are a follower's requests forwarded here because this node leads (when it
//! no longer does, it answers `FAILED_PRECONDITION` and the follower looks again).
//!
//! openraft's own messages travel as JSON in `bytes`, so the service carries any of them
//! without a protobuf mirror of each type; the answer is the JSON of openraft's
//! `Result<_, RaftError<_>>`, so a remote refusal reaches the caller as openraft's RemoteError.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::handle::ClusterHandle;
use super::network::MAX_MESSAGE_BYTES;
use super::state::Command;
use super::Member;

/// The generated messages, client and server of the internal Raft service.
pub mod raft {
    tonic::include_proto!("tributary.raft.v1");
}

use super::lanes::LaneServer;
use raft::{
    AddMemberRequest, ChunkReply, ChunkRequest, Done, Json, LeaderReply, LeaderRequest,
    ProposeReply, ProposeRequest, ReadIndexReply, ReadIndexRequest, RemoveMemberRequest,
};

/// The internal Raft service of one node.
pub struct RaftService {
    handle: ClusterHandle,
    lanes: LaneServer,
}

impl RaftService {
    pub fn new(handle: ClusterHandle) -> RaftService {
        RaftService {
            lanes: LaneServer::new(handle.clone()),
            handle,
        }
    }

    /// A server for tonic's router.
    pub fn server(self) -> raft::raft_server::RaftServer<RaftService> {
        raft::raft_server::RaftServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

// Handlers answer tonic's `Status`, large as it is: these feed them with `?`.
#[allow(clippy::result_large_err)]
fn decode<T: DeserializeOwned>(req: Request<Json>) -> Result<T, Status> {
    serde_json::from_slice(&req.into_inner().json)
        .map_err(|e| Status::invalid_argument(format!("undecodable request: {e}")))
}

#[allow(clippy::result_large_err)]
fn encode<T: Serialize>(value: &T) -> Result<Response<Json>, Status> {
    let json = serde_json::to_vec(value)
        .map_err(|e| Status::internal(format!("unencodable answer: {e}")))?;
    Ok(Response::new(Json { json }))
}

#[tonic::async_trait]
impl raft::raft_server::Raft for RaftService {
    async fn append_entries(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(req)?;
        encode(&self.handle.raft().append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(req)?;
        encode(&self.handle.raft().vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<Json>) -> Result<Response<Json>, Status> {
        let rpc = decode(req)?;
        encode(&self.handle.raft().install_snapshot(rpc).await)
    }

    async fn propose(
        &self,
        req: Request<ProposeRequest>,
    ) -> Result<Response<ProposeReply>, Status> {
        let cmd: Command = serde_json::from_slice(&req.into_inner().command)
            .map_err(|e| Status::invalid_argument(format!("undecodable command: {e}")))?;
        let deadline = Instant::now() + crate::cluster::handle::DEFAULT_DEADLINE;
        let (index, response) = self
            .handle
            .propose_local(cmd, deadline)
            .await
            .map_err(|a| a.into_status())?;
        let response = serde_json::to_vec(&response)
            .map_err(|e| Status::internal(format!("unencodable response: {e}")))?;
        Ok(Response::new(ProposeReply { index, response }))
    }

    async fn leader(&self, _req: Request<LeaderRequest>) -> Result<Response<LeaderReply>, Status> {
        let reply = match self.handle.leader() {
            Some((id, member)) => LeaderReply {
                leader_id: Some(id),
                raft_addr: member.raft_addr,
                admin_addr: member.admin_addr,
            },
            None => LeaderReply::default(),
        };
        Ok(Response::new(reply))
    }

    async fn read_index(
        &self,
        _req: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexReply>, Status> {
        let deadline = Instant::now() + crate::cluster::handle::DEFAULT_DEADLINE;
        let index = self
            .handle
            .read_index_local(deadline)
            .await
            .map_err(|a| a.into_status())?;
        Ok(Response::new(ReadIndexReply { index }))
    }

    async fn add_member(&self, req: Request<AddMemberRequest>) -> Result<Response<Done>, Status> {
        let req = req.into_inner();
        let member = Member {
            raft_addr: req.raft_addr,
            admin_addr: req.admin_addr,
        };
        self.handle
            .add_member_local(req.node_id, member)
            .await
            .map_err(|a| a.into_status())?;
        Ok(Response::new(Done {}))
    }

    async fn read_chunk(&self, req: Request<ChunkRequest>) -> Result<Response<ChunkReply>, Status> {
        self.lanes.serve(req.into_inner()).await.map(Response::new)
    }

    async fn remove_member(
        &self,
        req: Request<RemoveMemberRequest>,
    ) -> Result<Response<Done>, Status> {
        self.handle
            .remove_member_local(req.into_inner().node_id)
            .await
            .map_err(|a| a.into_status())?;
        Ok(Response::new(Done {}))
    }
}
