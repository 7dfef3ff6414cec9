//! The admin gRPC API (`proto/tributary/admin/v1/admin.proto`) that `tributary ctl` drives.
//!
//! ```text
//!  ctl ──TLS?──► interceptor (bearer token, auth.rs) ──► AdminService (service.rs)
//!                                                          │ writes: propose through the leader
//!                                                          │ reads:  read_barrier, then the view
//!                                                          ▼
//!                                              AdminCluster (ClusterHandle, or a test fake)
//! ```
//! Every node serves it: a follower's proposals reach the leader through the handle, and its
//! reads wait until it has applied what the leader had committed, so any node answers with
//! the leader's state. Domain ↔ protobuf and error ↔ status conversions live in `convert.rs`;
//! the service talks to the cluster only through [`AdminCluster`], so its semantics are
//! tested against a real in-process state without Raft.

mod auth;
mod convert;
mod service;
#[cfg(test)]
pub(crate) mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use super::config::{AdminSecurity, NodeConfig};
use super::handle::MemberInfo;
use super::plan::PlanError;
use super::state::{Command, Response, ShardPlan, StateView};
use super::{ClusterError, ClusterHandle, Member, NodeId};
use crate::config::TaskSpec;

pub use auth::AUTH_ERROR;
pub use convert::{task_phase, TaskPhase};

/// The generated protobuf types and gRPC stubs.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("tributary.admin.v1");
}

/// How long the admin API waits for the cluster to finish what a call started.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// DeleteTask waits this long for the task's state to go before answering that deletion
    /// continues in the background.
    pub delete_wait: Duration,
    /// RemoveWorker waits this long for a draining worker's shards to move.
    pub drain_wait: Duration,
}

/// Dropping a task's slots and publications takes seconds; a minute covers a slow server.
pub const DEFAULT_DELETE_WAIT: Duration = Duration::from_secs(60);
/// A graceful move waits for the owner's last checkpoint (one checkpoint interval) and a
/// start elsewhere; a minute covers a few shards.
pub const DEFAULT_DRAIN_WAIT: Duration = Duration::from_secs(60);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            delete_wait: DEFAULT_DELETE_WAIT,
            drain_wait: DEFAULT_DRAIN_WAIT,
        }
    }
}

/// What the admin service needs of the cluster. [`ClusterHandle`] is the real one; tests use a
/// fake applying commands to an in-process state.
#[tonic::async_trait]
pub trait AdminCluster: Clone + Send + Sync + 'static {
    /// The state as applied on this node.
    fn view(&self) -> &StateView;
    /// The leader as this node knows it.
    fn leader(&self) -> Option<(NodeId, Member)>;
    /// The Raft membership with addresses.
    fn members(&self) -> Vec<MemberInfo>;
    /// Proposes through the leader; resolves once applied on this node, with apply's answer.
    async fn propose(&self, cmd: Command) -> Result<Response, ClusterError>;
    /// Resolves once this node has applied everything the leader had committed.
    async fn read_barrier(&self) -> Result<(), ClusterError>;
    async fn add_member(&self, node: NodeId, member: Member) -> Result<(), ClusterError>;
    async fn remove_member(&self, node: NodeId) -> Result<(), ClusterError>;
    /// Splits a new task into shards (the real cluster prechecks it, accepting `accepted`
    /// warnings besides the task file's, and resolves its tables on the source).
    async fn plan(&self, spec: &TaskSpec, accepted: &[String])
        -> Result<Vec<ShardPlan>, PlanError>;
    /// Checks `spec` (a running task's with `added` appended to its tables) against the
    /// source, and splits the added selectors into groups as the task's sharding would.
    async fn plan_added(
        &self,
        spec: &TaskSpec,
        added: &[String],
    ) -> Result<Vec<ShardPlan>, PlanError>;
}

#[tonic::async_trait]
impl AdminCluster for ClusterHandle {
    fn view(&self) -> &StateView {
        ClusterHandle::view(self)
    }
    fn leader(&self) -> Option<(NodeId, Member)> {
        ClusterHandle::leader(self)
    }
    fn members(&self) -> Vec<MemberInfo> {
        ClusterHandle::members(self)
    }
    async fn propose(&self, cmd: Command) -> Result<Response, ClusterError> {
        ClusterHandle::propose(self, cmd).await
    }
    async fn read_barrier(&self) -> Result<(), ClusterError> {
        ClusterHandle::read_barrier(self).await
    }
    async fn add_member(&self, node: NodeId, member: Member) -> Result<(), ClusterError> {
        ClusterHandle::add_member(self, node, member).await
    }
    async fn remove_member(&self, node: NodeId) -> Result<(), ClusterError> {
        ClusterHandle::remove_member(self, node).await
    }
    async fn plan(
        &self,
        spec: &TaskSpec,
        accepted: &[String],
    ) -> Result<Vec<ShardPlan>, PlanError> {
        crate::cluster::plan::precheck(spec, accepted).await?;
        crate::cluster::plan::plan_shards(spec).await
    }
    async fn plan_added(
        &self,
        spec: &TaskSpec,
        added: &[String],
    ) -> Result<Vec<ShardPlan>, PlanError> {
        crate::cluster::plan::plan_shards(spec).await?;
        crate::cluster::plan::plan_shards(&spec.for_shard(added)).await
    }
}

/// The admin API cannot start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot listen on admin address {addr}: {source}: is another worker using it? change admin_addr in the node file")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read admin {what} {path}: {source}: fix admin.{what} in the node file")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("admin token: {0}")]
    Token(String),
    #[error("admin TLS: {0}: check admin.tls_cert and admin.tls_key (PEM certificate and key)")]
    Tls(#[source] tonic::transport::Error),
    #[error("admin API stopped: {0}")]
    Serve(#[source] tonic::transport::Error),
}

/// Serves the admin API on `cfg.admin_addr` until `shutdown` resolves.
pub async fn serve(
    handle: ClusterHandle,
    cfg: &NodeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    let listener = bind(&cfg.admin_addr).await?;
    serve_on(handle, cfg, listener, shutdown).await
}

/// Binds the admin address, naming it when it is taken.
pub async fn bind(addr: &str) -> Result<TcpListener, AdminError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves the admin API on a listener the caller bound, until `shutdown` resolves.
pub async fn serve_on(
    handle: ClusterHandle,
    cfg: &NodeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    serve_cluster(handle, &cfg.admin, Limits::default(), listener, shutdown).await
}

/// Serves the admin API over any [`AdminCluster`] (the seam tests use).
pub async fn serve_cluster<C: AdminCluster>(
    cluster: C,
    security: &AdminSecurity,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    let check = auth::TokenCheck::from_config(security)?;
    let mut builder = Server::builder();
    if let Some(identity) = tls_identity(security)? {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(AdminError::Tls)?;
    }
    let svc = service::AdminService::new(cluster, limits);
    builder
        .add_service(pb::admin_server::AdminServer::with_interceptor(svc, check))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
        .map_err(AdminError::Serve)
}

/// The server's certificate and key, when TLS is configured.
fn tls_identity(security: &AdminSecurity) -> Result<Option<Identity>, AdminError> {
    let (Some(cert), Some(key)) = (&security.tls_cert, &security.tls_key) else {
        return Ok(None);
    };
    let read = |what, path: &PathBuf| {
        std::fs::read(path).map_err(|source| AdminError::ReadFile {
            what,
            path: path.clone(),
            source,
        })
    };
    Ok(Some(Identity::from_pem(
        read("tls_cert", cert)?,
        read("tls_key", key)?,
    )))
}
