//! A worker's node file (`cluster-config/node-N.toml`): who it is, where it listens, who the
//! first members are, its lease and its security settings. Parsed strictly: unknown keys are
//! refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Member, NodeId};

/// A worker renews its lease this often by default.
pub const DEFAULT_LEASE_RENEW: Duration = Duration::from_millis(500);
/// A worker whose lease is this old is lost: its shards move (the takeover budget is 5 s).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

/// One worker's node file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// Internal Raft gRPC, `host:port` (other members dial it).
    pub raft_addr: String,
    /// Admin gRPC for `tributary ctl`, `host:port`.
    pub admin_addr: String,
    pub data_dir: PathBuf,
    /// The first members (this node among them). The lowest id initialises the cluster when
    /// none of them has state yet; later members join with `ctl worker add`.
    #[serde(default)]
    pub initial_members: Vec<MemberSpec>,
    /// Prometheus endpoint, `host:port` (none when absent).
    pub metrics_addr: Option<String>,
    #[serde(default)]
    pub lease: LeaseSpec,
    #[serde(default)]
    pub admin: AdminSecurity,
    /// Mutual TLS between members on the Raft address.
    pub raft_tls: Option<MutualTls>,
    /// The cluster's name, the first part of an exactly-once shard's Kafka `transactional.id`
    /// (default `tributary`): the same in every member's file; two clusters writing to one
    /// Kafka cluster need different ones.
    pub cluster_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    pub node_id: NodeId,
    pub raft_addr: String,
    pub admin_addr: String,
}

impl MemberSpec {
    pub fn member(&self) -> Member {
        Member {
            raft_addr: self.raft_addr.clone(),
            admin_addr: self.admin_addr.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSpec {
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub duration: Duration,
    #[serde(default = "default_renew", with = "humantime_serde")]
    pub renew_every: Duration,
}

impl Default for LeaseSpec {
    fn default() -> Self {
        LeaseSpec {
            duration: DEFAULT_LEASE,
            renew_every: DEFAULT_LEASE_RENEW,
        }
    }
}

/// The admin API's TLS and bearer token. A token is required when the admin address is not
/// loopback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSecurity {
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutualTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

const fn default_lease() -> Duration {
    DEFAULT_LEASE
}
const fn default_renew() -> Duration {
    DEFAULT_LEASE_RENEW
}

/// A node file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("node file {path}: {message}")]
pub struct NodeConfigError {
    pub path: String,
    pub message: String,
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, NodeConfigError> {
        let err = |message: String| NodeConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let cfg: NodeConfig =
            toml::from_str(&text).map_err(|e| err(e.message().replace('\n', " ")))?;
        cfg.validate().map_err(err)?;
        Ok(cfg)
    }

    /// This node's own addresses.
    pub fn member(&self) -> Member {
        Member {
            raft_addr: self.raft_addr.clone(),
            admin_addr: self.admin_addr.clone(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(id) = &self.cluster_id {
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if id.is_empty() || !id.chars().all(ok) {
                return Err(format!(
                    "cluster_id {id:?} must be letters, digits, '-', '_' or '.', e.g. \"prod-east\""
                ));
            }
        }
        if !self.initial_members.is_empty()
            && !self
                .initial_members
                .iter()
                .any(|m| m.node_id == self.node_id)
        {
            return Err(format!(
                "initial_members must include this node (node_id {})",
                self.node_id
            ));
        }
        if self.lease.renew_every * 2 > self.lease.duration {
            return Err(
                "lease.renew_every must be at most half of lease.duration (defaults 500ms and 3s)"
                    .into(),
            );
        }
        let loopback = self
            .admin_addr
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false);
        if !loopback && self.admin.token_file.is_none() && self.admin.token_env.is_none() {
            return Err(format!(
                "admin_addr {} is not loopback: set admin.token_file or admin.token_env so the admin API requires a bearer token",
                self.admin_addr
            ));
        }
        if self.admin.tls_cert.is_some() != self.admin.tls_key.is_some() {
            return Err("admin.tls_cert and admin.tls_key go together".into());
        }
        Ok(())
    }
}
