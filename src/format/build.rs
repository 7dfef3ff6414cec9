//! The one dispatch from a task's `destination.format` to its format, with the format's
//! options taken from the task file and what the source reported.

use super::debezium::{DebeziumJson, DebeziumOptions, DecimalHandling, IntervalHandling};
use super::Format;
use crate::config::{ConfigError, FormatKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::source::SourceInfo;

/// The format a task's shard `labels` writes, configured.
pub fn build(
    spec: &TaskSpec,
    info: &SourceInfo,
    labels: &ShardLabels,
) -> Result<Box<dyn Format>, ConfigError> {
    match spec.destination.format {
        FormatKind::DebeziumJson => Ok(Box::new(DebeziumJson::new(debezium_options(
            spec, info, labels,
        )?))),
    }
}

fn debezium_options(
    spec: &TaskSpec,
    info: &SourceInfo,
    labels: &ShardLabels,
) -> Result<DebeziumOptions, ConfigError> {
    let d = &spec.destination.debezium;
    let mut o = DebeziumOptions {
        topic_prefix: spec.name.clone(),
        topic_override: spec.destination.topic.clone(),
        database: info.database.clone(),
        labels: labels.clone(),
        ..DebeziumOptions::default()
    };
    if let Some(v) = d.schemas_enable {
        o.schemas_enable = v;
    }
    if let Some(v) = d.tombstones_on_delete {
        o.tombstones_on_delete = v;
    }
    if let Some(v) = &d.unavailable_value_placeholder {
        o.unavailable_value_placeholder = v.clone();
    }
    o.decimal_handling_mode = match d.decimal_handling_mode.as_deref() {
        None | Some("precise") => DecimalHandling::Precise,
        Some("double") => DecimalHandling::Double,
        Some("string") => DecimalHandling::String,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.debezium.decimal_handling_mode",
                x,
                "precise, double or string",
            ))
        }
    };
    o.interval_handling_mode = match d.interval_handling_mode.as_deref() {
        None | Some("numeric") => IntervalHandling::Numeric,
        Some("string") => IntervalHandling::String,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.debezium.interval_handling_mode",
                x,
                "numeric or string",
            ))
        }
    };
    Ok(o)
}
