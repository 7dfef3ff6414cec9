//! Splitting a task into shards at creation (`sharding = "none" | "schema" | "table"`).
//!
//! STUB: resolving the selection against the source replaces this.

use super::state::ShardPlan;
use crate::config::TaskSpec;

/// The task's selection cannot be planned into shards.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// The shards of a new task, resolved against its source.
pub async fn plan_shards(spec: &TaskSpec) -> Result<Vec<ShardPlan>, PlanError> {
    Ok(vec![ShardPlan {
        shard: 0,
        tables: spec.objects.tables.clone(),
    }])
}
