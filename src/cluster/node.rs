//! Starting one member of the cluster from its node file: its store, its Raft node, the
//! internal Raft gRPC service on `raft_addr`, and — the first time, on the lowest id of
//! `initial_members` — the cluster's initial membership.
//!
//! Everything that can fail because of the machine (the address taken, the data directory,
//! the TLS files, the store) fails before [`start`] returns, with one line naming the node-file
//! key to fix; once it returns, the node serves until [`Node::shutdown`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::ServerTlsConfig;

use super::config::NodeConfig;
use super::network::{self, Network, Peers, TlsError};
use super::rpc::RaftService;
use super::store::{self, StoreError};
use super::{ClusterHandle, Member, NodeId, Raft};

/// How long `shutdown` lets in-flight Raft requests finish before closing the server.
const SERVER_DRAIN: Duration = Duration::from_secs(2);

/// The node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen on {addr} (raft_addr in the node file): {reason}: stop the process using it or choose another port")]
    Bind { addr: String, reason: String },
    #[error("data_dir {path} cannot be used: {reason}: create it, or give this user read and write access")]
    DataDir { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}: fix raft_tls in the node file")]
    Tls(#[from] TlsError),
    #[error("raft_tls: the certificate or key is not usable ({0}): fix raft_tls.cert and raft_tls.key in the node file")]
    TlsConfig(String),
    #[error("the Raft node did not start: {0}")]
    Raft(String),
    #[error("cannot initialize the cluster with initial_members: {0}")]
    Initialize(String),
}

/// A running member.
pub struct Node {
    pub handle: ClusterHandle,
    /// The address the Raft service listens on (the port resolved when `raft_addr` asked for 0).
    pub raft_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: ServerTask,
}

/// The task serving the Raft service.
type ServerTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// Starts the member described by `cfg`: see the module docs.
pub async fn start(cfg: &NodeConfig) -> Result<Node, NodeError> {
    let listener = TcpListener::bind(&cfg.raft_addr)
        .await
        .map_err(|e| NodeError::Bind {
            addr: cfg.raft_addr.clone(),
            reason: e.to_string(),
        })?;
    let raft_addr = listener.local_addr().map_err(|e| NodeError::Bind {
        addr: cfg.raft_addr.clone(),
        reason: e.to_string(),
    })?;
    check_data_dir(&cfg.data_dir)?;
    let (client_tls, server_tls) = match &cfg.raft_tls {
        Some(tls) => (
            Some(network::client_tls(tls)?),
            Some(network::server_tls(tls)?),
        ),
        None => (None, None),
    };
    let (log, machine) = store::open(&cfg.data_dir)?;
    let initialized = log.is_initialized().await;
    let view = machine.view();
    let peers = Arc::new(Peers::new(client_tls));
    let network = Network::new(cfg.node_id, peers.clone());
    let config = Arc::new(store::raft_config());
    let raft = Raft::new(cfg.node_id, config, network, log, machine)
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    let handle = ClusterHandle::new(cfg.node_id, raft.clone(), view, peers);
    let (stop, server) = match serve(listener, server_tls, &handle) {
        Ok(serving) => serving,
        Err(e) => {
            let _ = raft.shutdown().await;
            return Err(e);
        }
    };
    let node = Node {
        handle,
        raft_addr,
        stop: Some(stop),
        server,
    };
    if !initialized {
        if let Err(e) = initialize(cfg, &raft).await {
            node.shutdown().await;
            return Err(e);
        }
    }
    Ok(node)
}

impl Node {
    /// Stops Raft (no more votes or replication from this node), then the server.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.handle.raft().shutdown().await {
            tracing::warn!(
                node = self.handle.node_id(),
                "raft did not stop cleanly: {e}"
            );
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SERVER_DRAIN, &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }
}

/// The data directory exists (created when missing) and can be listed.
fn check_data_dir(dir: &std::path::Path) -> Result<(), NodeError> {
    let err = |e: std::io::Error| NodeError::DataDir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::read_dir(dir).map_err(err)?;
    Ok(())
}

/// Serves the Raft service on `listener` until the returned sender fires (or is dropped).
fn serve(
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    handle: &ClusterHandle,
) -> Result<(oneshot::Sender<()>, ServerTask), NodeError> {
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server
            .tls_config(tls)
            .map_err(|e| NodeError::TlsConfig(e.to_string()))?;
    }
    let router = server.add_service(RaftService::new(handle.clone()).server());
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stopped.await;
    }));
    Ok((stop, server))
}

/// On the lowest id of `initial_members`, writes the first membership (once: a store that
/// already has one, here or on a member that got there first, is left alone).
async fn initialize(cfg: &NodeConfig, raft: &Raft) -> Result<(), NodeError> {
    let lowest: Option<NodeId> = cfg.initial_members.iter().map(|m| m.node_id).min();
    if lowest != Some(cfg.node_id) {
        return Ok(());
    }
    let members: BTreeMap<NodeId, Member> = cfg
        .initial_members
        .iter()
        .map(|m| (m.node_id, m.member()))
        .collect();
    match raft.initialize(members).await {
        Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(NodeError::Initialize(e.to_string())),
    }
}
