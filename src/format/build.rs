//! The one dispatch from a task's `destination.format` to its format, with the format's
//! options taken from the task file and what the source reported.

use super::debezium::{
    DebeziumJson, DebeziumOptions, DecimalHandling, HstoreHandling, IntervalHandling,
};
use super::shareplex::{SharePlexJson, SharePlexOptions};
use super::dts_avro::{DtsAvro, DtsAvroOptions, ObjectName, SourceType};
use super::Format;
use std::sync::Arc;

use crate::config::{ConfigError, FormatKind, TaskSpec};
use crate::metrics::ShardLabels;
use crate::route::Routing;
use crate::source::SourceInfo;

/// The format a task writes, configured, routing tables by `routing`; its metrics carry
/// `labels`.
pub fn build(
    spec: &TaskSpec,
    info: &SourceInfo,
    labels: &ShardLabels,
    routing: &Arc<Routing>,
) -> Result<Box<dyn Format>, ConfigError> {
    match spec.destination.format {
        FormatKind::DebeziumJson => Ok(Box::new(
            DebeziumJson::new(debezium_options(spec, info, labels)?).with_routing(routing.clone()),
        )),
        FormatKind::SharePlexJson => Ok(Box::new(shareplex(
            spec,
            labels,
            routing,
            Box::new(super::clock::SystemClock),
        )?)),
        FormatKind::DtsAvro => Ok(Box::new(DtsAvro::new(
            dts_avro_options(spec, info)?,
            routing.clone(),
        ))),
        other => Err(ConfigError::Invalid {
            field: "destination.format",
            constraint: format!("{other:?} is not built yet"),
        }),
    }
}

/// The SharePlex JSON format of a task, reading `clock` for `posttime`.
pub fn shareplex(
    spec: &TaskSpec,
    labels: &ShardLabels,
    routing: &Arc<Routing>,
    clock: Box<dyn super::clock::Clock>,
) -> Result<SharePlexJson, ConfigError> {
    let o = &spec.destination.shareplex_json;
    let defaults = SharePlexOptions::default();
    let opts = SharePlexOptions {
        memory_budget_bytes: o
            .memory_budget_bytes
            .unwrap_or(defaults.memory_budget_bytes),
        spill_dir: o
            .spill_dir
            .as_ref()
            .map(std::path::PathBuf::from)
            .unwrap_or(defaults.spill_dir),
        metric_labels: labels.clone(),
    };
    SharePlexJson::new(routing.clone(), opts, clock).map_err(|e| ConfigError::Invalid {
        field: "destination.shareplex_json.spill_dir",
        constraint: e.to_string(),
    })
}

/// DTS Avro's options from `destination.dts_avro` and the source. The schema registry id is
/// set by the caller that registers the schema.
fn dts_avro_options(spec: &TaskSpec, info: &SourceInfo) -> Result<DtsAvroOptions, ConfigError> {
    let d = &spec.destination.dts_avro;
    let source_type = match d.source_type.as_deref() {
        None | Some("PostgreSQL") => SourceType::PostgreSql,
        Some("PPAS") => SourceType::Ppas,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.dts_avro.source_type",
                x,
                "PostgreSQL or PPAS",
            ))
        }
    };
    let object_name = match d.object_name.as_deref() {
        None | Some("schema_table") => ObjectName::SchemaTable,
        Some("database_schema_table") => ObjectName::DatabaseSchemaTable,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.dts_avro.object_name",
                x,
                "schema_table or database_schema_table",
            ))
        }
    };
    Ok(DtsAvroOptions {
        source_type,
        server_version: info.server_version.clone(),
        database: info.database.clone(),
        object_name,
        extra_tags: d.extra_tags.unwrap_or(false),
        confluent_schema_id: None,
    })
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
        metric_labels: labels.clone(),
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
    o.hstore_handling_mode = match d.hstore_handling_mode.as_deref() {
        None | Some("json") => HstoreHandling::Json,
        Some("map") => HstoreHandling::Map,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.debezium.hstore_handling_mode",
                x,
                "json or map",
            ))
        }
    };
    Ok(o)
}
