//! `tributary worker --config FILE`: one member of the cluster — Raft node, admin API,
//! scheduler (acting while leader) and the worker running its assigned shards — until SIGTERM,
//! which stops every shard gracefully (each saves its last checkpoint) before exiting 0.

use std::path::PathBuf;

use tokio::sync::watch;

use crate::cluster::config::NodeConfig;
use crate::cluster::worker::WorkerOptions;
use crate::cluster::{admin, node, scheduler, worker};

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The node file (see cluster-config/node-1.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

pub async fn run(args: WorkerArgs) -> i32 {
    let cfg = match NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return super::fail(&e, 2),
    };
    if let Some(addr) = &cfg.metrics_addr {
        let parsed = addr
            .parse()
            .map_err(|e| format!("metrics_addr {addr}: {e}"));
        if let Err(e) = parsed.and_then(|a| crate::metrics::serve(a).map_err(|e| e.to_string())) {
            eprintln!(
                "error: {e}: choose a free metrics_addr in {}",
                args.config.display()
            );
            return 2;
        }
    }
    let admin_listener = match admin::bind(&cfg.admin_addr).await {
        Ok(l) => l,
        Err(e) => return super::fail(&e, 1),
    };
    let node = match node::start(&cfg).await {
        Ok(n) => n,
        Err(e) => return super::fail(&e, 1),
    };
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        super::wait_for_signal().await;
        tracing::info!("stopping: every shard saves its last checkpoint");
        let _ = stop_tx.send(true);
    });
    let handle = node.handle.clone();
    let admin_stop = until(stop.clone());
    let admin_cfg = cfg.clone();
    let admin_handle = handle.clone();
    let admin = tokio::spawn(async move {
        admin::serve_on(admin_handle, &admin_cfg, admin_listener, admin_stop).await
    });
    let sched = tokio::spawn(scheduler::run(
        handle.clone(),
        cfg.lease.duration,
        stop.clone(),
    ));
    tracing::info!(node = cfg.node_id, raft = %node.raft_addr, admin = %cfg.admin_addr, "worker started");
    let opts = WorkerOptions {
        member: cfg.member(),
        lease: cfg.lease.duration,
        renew_every: cfg.lease.renew_every,
        cluster_id: cfg
            .cluster_id
            .clone()
            .unwrap_or_else(|| crate::task::DEFAULT_CLUSTER_ID.to_owned()),
    };
    worker::run(handle, opts, stop).await;
    sched.abort();
    let code = match admin.await {
        Ok(Err(e)) => super::fail(&e, 1),
        _ => 0,
    };
    node.shutdown().await;
    code
}

/// Resolves once `stop` turns true.
async fn until(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
