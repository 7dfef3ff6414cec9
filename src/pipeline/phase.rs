//! What a shard is doing, as its owner reports it (the cluster's worker turns these into the
//! shard's status in the replicated state). Sent on a `watch`, so only the latest counts and
//! nothing waits on a slow reader.

/// A shard's phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPhase {
    /// Loading the checkpoint, checking the source, creating or verifying its objects.
    Starting,
    /// Reading the initial (or a re-read) snapshot.
    Snapshot,
    /// Streaming changes.
    Streaming,
    /// An attempt failed with a transient error; the next one starts after a back-off.
    Retrying { reason: String },
}

/// Sets `phase` on an optional status channel, waking readers only on a change.
pub fn report(status: &Option<tokio::sync::watch::Sender<ShardPhase>>, phase: ShardPhase) {
    if let Some(tx) = status {
        tx.send_if_modified(|cur| {
            let changed = *cur != phase;
            if changed {
                *cur = phase;
            }
            changed
        });
    }
}
