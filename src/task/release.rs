//! Releasing a task: drop everything it holds on the source (slot, publications, DDL capture),
//! the topics a first start created before it ever became durable (all the task's topics only
//! when asked), and its local checkpoint.
//!
//! A slot in use is never dropped from under its holder: `release` refuses and names the PID.
//! Nothing is deleted locally before the source's objects are gone, so a refused or failed
//! release can simply be run again.

use super::TaskError;
use crate::checkpoint::{Checkpoint, CheckpointStore, IdentityRecord, ShardKey, SourceObject};
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
    let mut objects = cp.source_objects();
    let shared = identities_shared(store, key, &cp).await?;
    objects.retain(|o| IdentityRecord::of(o).is_none_or(|r| !shared.contains(&r.qualified_name())));
    let dropped = source.remove(&objects, false).await?;
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

/// The tables (`schema.table`) whose replica identity `cp` records and another task's
/// checkpoint in `store` records too, on the same database (or on one not known yet): their
/// identity is left as it is, since the other task still relies on it.
async fn identities_shared(
    store: &dyn CheckpointStore,
    key: &ShardKey,
    cp: &Checkpoint,
) -> Result<Vec<String>, TaskError> {
    let mine: Vec<String> = cp
        .identity_records()
        .iter()
        .map(IdentityRecord::qualified_name)
        .collect();
    if mine.is_empty() {
        return Ok(mine);
    }
    let mut shared = Vec::new();
    for (other_key, other) in store.all().await? {
        let same_scope = match (cp.source_scope(), other.source_scope()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if other_key.task == key.task || !same_scope {
            continue;
        }
        for r in other.identity_records() {
            let table = r.qualified_name();
            if mine.contains(&table) && !shared.contains(&table) {
                tracing::info!(task = %key.task, table = %table, other_task = %other_key.task, "replica identity left as it is: another task relies on it");
                shared.push(table);
            }
        }
    }
    Ok(shared)
}
