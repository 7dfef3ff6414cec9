//! A node's read view of the applied state, shared by the admin API, the scheduler and the
//! worker. Each apply bumps `applied`, so readers wait on a condition, not on time.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::ClusterState;

/// The state as applied on this node, and a signal for every applied entry.
#[derive(Clone)]
pub struct StateView {
    state: Arc<RwLock<ClusterState>>,
    applied: watch::Sender<u64>,
}

impl Default for StateView {
    fn default() -> Self {
        StateView {
            state: Arc::default(),
            applied: watch::channel(0).0,
        }
    }
}

impl StateView {
    /// Reads the state (never hold the result across an await).
    pub fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the state (the state machine only) and announces the applied log index.
    pub fn write<T>(&self, index: u64, f: impl FnOnce(&mut ClusterState) -> T) -> T {
        let out = f(&mut self.state.write().unwrap_or_else(|e| e.into_inner()));
        self.applied.send_replace(index);
        out
    }

    /// Wakes on every applied entry (the value is the last applied log index).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    pub fn snapshot(&self) -> ClusterState {
        self.read(ClusterState::clone)
    }
}
