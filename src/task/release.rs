//! Releasing a task: drop everything it holds on the source (slot, publications, DDL capture),
//! the topics a first start created before it ever became durable (all the task's topics only
//! when asked), and its local checkpoint.
//!
//! A slot in use is never dropped from under its holder: `release` refuses and names the PID.
//! Nothing is deleted locally before the source's objects are gone, so a refused or failed
//! release can simply be run again.

use super::TaskError;
use crate::checkpoint::{CheckpointStore, ShardKey, SourceObject};
use crate::metrics::ShardLabels;
use crate::sink::Sink;
use crate::source::Source;

/// What `release` did.
#[derive(Debug, Default)]
pub struct ReleaseReport {
    /// Objects dropped on the source.
    pub dropped: Vec<SourceObject>,
    /// Topics deleted.
    pub topics_deleted: Vec<String>,
    /// Whether a local checkpoint existed (and was deleted).
    pub checkpoint_deleted: bool,
}

/// Releases shard `key`. `delete_topics`: delete every topic the task wrote to, not only those
/// of a first start that never became durable. The sink is built only when topics are to be
/// deleted.
pub async fn release<So: Source, Si: Sink>(
    store: &dyn CheckpointStore,
    key: &ShardKey,
    mut source: So,
    sink: impl FnOnce(&ShardLabels) -> Result<Si, TaskError>,
    delete_topics: bool,
) -> Result<ReleaseReport, TaskError> {
    let Some(cp) = store.load(key).await? else {
        return Ok(ReleaseReport::default());
    };
    let dropped = source.remove(&cp.source_objects(), false).await?;
    let mut topics: Vec<String> = Vec::new();
    let planned = cp
        .planned
        .as_ref()
        .map(|p| p.topics.as_slice())
        .unwrap_or(&[]);
    if delete_topics {
        topics.extend(cp.topics.iter().cloned());
    }
    if delete_topics || !cp.started {
        topics.extend(planned.iter().cloned());
    }
    topics.sort();
    topics.dedup();
    if !topics.is_empty() {
        let mut sink = sink(&ShardLabels::new(&key.task, key.shard))?;
        sink.delete_topics(&topics).await?;
    }
    store.delete(key).await?;
    Ok(ReleaseReport {
        dropped,
        topics_deleted: topics,
        checkpoint_deleted: true,
    })
}
