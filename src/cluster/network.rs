//! How a member reaches the others: openraft's network (append-entries, votes, snapshot chunks)
//! and the handle's forwarded requests, both over tonic channels to `raft_addr`.
//!
//! One lazily connected channel per address is shared by every caller ([`Peers`]), so a member
//! costs one HTTP/2 connection however many requests go to it. A target that cannot be reached
//! (connection refused, TLS refused) answers [`Unreachable`], on which openraft backs off
//! instead of hammering it; a request slower than the RPC's TTL answers [`Timeout`].
//!
//! With `raft_tls` every member presents its certificate and verifies the other's against the
//! cluster's CA, both ways: a process without a certificate of that CA is refused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};

use super::config::MutualTls;
use super::rpc::raft::raft_client::RaftClient;
use super::rpc::raft::Json;
use super::{Member, NodeId, TypeConfig};

/// A connection attempt gives up after this long (the RPC's own TTL still bounds the whole
/// call): on a LAN a member that does not answer in a second is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The mutual-TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("raft_tls.{key} {path}: {reason}")]
pub struct TlsError {
    pub key: &'static str,
    pub path: String,
    pub reason: String,
}

/// The members' channels, by Raft address, and the TLS settings to open them with.
pub struct Peers {
    tls: Option<ClientTlsConfig>,
    channels: Mutex<HashMap<String, Channel>>,
}

impl Peers {
    /// Plain HTTP/2 when `tls` is None.
    pub fn new(tls: Option<ClientTlsConfig>) -> Peers {
        Peers {
            tls,
            channels: Mutex::default(),
        }
    }

    /// A client on the cached channel to `addr` (`host:port`), created lazily: nothing
    /// connects until the first request.
    pub fn client(&self, addr: &str) -> Result<RaftClient<Channel>, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(addr) {
            return Ok(RaftClient::new(channel.clone()));
        }
        let channel = self.endpoint(addr)?.connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(RaftClient::new(channel))
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint, tonic::transport::Error> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        match &self.tls {
            Some(tls) => endpoint.tls_config(tls.clone()),
            None => Ok(endpoint),
        }
    }
}

/// The client half of mutual TLS: our certificate, and the CA the other members' must chain to.
pub fn client_tls(tls: &MutualTls) -> Result<ClientTlsConfig, TlsError> {
    let (ca, identity) = load_tls(tls)?;
    Ok(ClientTlsConfig::new().ca_certificate(ca).identity(identity))
}

/// The server half of mutual TLS: a client without a certificate of the CA is refused.
pub fn server_tls(tls: &MutualTls) -> Result<ServerTlsConfig, TlsError> {
    let (ca, identity) = load_tls(tls)?;
    Ok(ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(ca)
        .client_auth_optional(false))
}

fn load_tls(tls: &MutualTls) -> Result<(Certificate, Identity), TlsError> {
    let read = |key: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| TlsError {
            key,
            path: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })
    };
    let ca = Certificate::from_pem(read("ca", &tls.ca)?);
    let identity = Identity::from_pem(read("cert", &tls.cert)?, read("key", &tls.key)?);
    Ok((ca, identity))
}

/// openraft's network: one [`Connection`] per target, on the shared [`Peers`].
#[derive(Clone)]
pub struct Network {
    id: NodeId,
    peers: Arc<Peers>,
}

impl Network {
    /// The network of member `id`.
    pub fn new(id: NodeId, peers: Arc<Peers>) -> Network {
        Network { id, peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> Connection {
        Connection {
            id: self.id,
            target,
            addr: node.raft_addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// Requests from this member to one target.
pub struct Connection {
    id: NodeId,
    target: NodeId,
    addr: String,
    peers: Arc<Peers>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Member, RaftError<NodeId, E>>>;

impl Connection {
    /// Sends `req` as JSON with `send`, within the RPC's TTL, and decodes the target's
    /// `Result<Resp, RaftError<E>>`.
    async fn call<Req, Resp, E, F, Fut>(
        &self,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
        send: F,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, Json) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Json>, tonic::Status>>,
    {
        let json = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let client = self
            .peers
            .client(&self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let reply = tokio::time::timeout(option.hard_ttl(), send(client, Json { json }))
            .await
            .map_err(|_| {
                RPCError::Timeout(Timeout {
                    action,
                    id: self.id,
                    target: self.target,
                    timeout: option.hard_ttl(),
                })
            })?
            .map_err(status_error)?;
        let decoded: Result<Resp, RaftError<NodeId, E>> =
            serde_json::from_slice(&reply.into_inner().json)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decoded.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// A failed gRPC call as openraft sees it: a target that cannot be reached (refused, reset,
/// TLS refused) is `Unreachable` so openraft backs off; anything else retries at once.
fn status_error<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, Member, E> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(
            RPCTypes::AppendEntries,
            &rpc,
            &option,
            |mut c, req| async move { c.append_entries(req).await },
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(
            RPCTypes::InstallSnapshot,
            &rpc,
            &option,
            |mut c, req| async move { c.install_snapshot(req).await },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(RPCTypes::Vote, &rpc, &option, |mut c, req| async move {
            c.vote(req).await
        })
        .await
    }
}
