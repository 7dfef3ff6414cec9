//! The one dispatch from a task's `destination.format` to its format, with the format's
//! options taken from the task file and what the source reported.

use super::canal::{CanalJson, CanalOptions, DatabaseMember};
use super::clock::{Clock, SystemClock};
use super::debezium::{
    Connector, DebeziumJson, DebeziumOptions, DecimalHandling, HstoreHandling, IntervalHandling,
};
use super::dts_avro::{DtsAvro, DtsAvroOptions, ObjectName, SourceType};
use super::shareplex::{SharePlexJson, SharePlexOptions};
use super::Format;
use std::sync::Arc;

use crate::config::{Capitalisation, ConfigError, FormatKind, TaskSpec};
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
    build_with_clock(spec, info, labels, routing, Box::new(SystemClock))
}

/// `build` for a task whose DTS Avro schema is registered under `schema_id`: its messages
/// carry the Confluent framing (magic byte 0, the id as 4 big-endian bytes).
pub fn build_registered(
    spec: &TaskSpec,
    info: &SourceInfo,
    labels: &ShardLabels,
    routing: &Arc<Routing>,
    schema_id: Option<u32>,
) -> Result<Box<dyn Format>, ConfigError> {
    match (spec.destination.format, schema_id) {
        (FormatKind::DtsAvro, Some(id)) => {
            let mut opts = dts_avro_options(spec, info)?;
            opts.confluent_schema_id = Some(id);
            Ok(Box::new(DtsAvro::new(opts, routing.clone())))
        }
        _ => build(spec, info, labels, routing),
    }
}

/// `build` with the clock of time-of-writing fields injected (tests).
pub fn build_with_clock(
    spec: &TaskSpec,
    info: &SourceInfo,
    labels: &ShardLabels,
    routing: &Arc<Routing>,
    clock: Box<dyn Clock>,
) -> Result<Box<dyn Format>, ConfigError> {
    match spec.destination.format {
        FormatKind::DebeziumJson => Ok(Box::new(
            DebeziumJson::with_clock(debezium_options(spec, info, labels)?, clock)
                .with_routing(routing.clone()),
        )),
        FormatKind::SharePlexJson => Ok(Box::new(shareplex(spec, labels, routing, clock)?)),
        FormatKind::CanalJson => Ok(Box::new(CanalJson::with_clock(
            canal_options(spec, info, labels),
            routing.clone(),
            clock,
        ))),
        FormatKind::DtsAvro => Ok(Box::new(DtsAvro::with_clock(
            dts_avro_options(spec, info)?,
            routing.clone(),
            clock,
        ))),
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

/// Canal JSON's options: `destination.canal_json` (validated with the task file).
fn canal_options(spec: &TaskSpec, info: &SourceInfo, labels: &ShardLabels) -> CanalOptions {
    let c = &spec.destination.canal_json;
    let database = match c.database.as_deref() {
        Some("database") => {
            DatabaseMember::Name(cased(spec.destination.capitalisation, &info.database))
        }
        _ => DatabaseMember::Schema,
    };
    CanalOptions {
        explicit_nulls: c.explicit_nulls.unwrap_or(false),
        database,
        metric_labels: labels.clone(),
    }
}

/// A name under the task's capitalisation policy (as `route::Names` treats unmapped names).
fn cased(case: Capitalisation, name: &str) -> String {
    match case {
        Capitalisation::Keep => name.to_owned(),
        Capitalisation::Lower => name.to_lowercase(),
        Capitalisation::Upper => name.to_uppercase(),
    }
}

/// DTS Avro's options from `destination.dts_avro` and the source. The schema registry id is
/// set by the caller that registers the schema.
fn dts_avro_options(spec: &TaskSpec, info: &SourceInfo) -> Result<DtsAvroOptions, ConfigError> {
    let d = &spec.destination.dts_avro;
    let source_type = match d.source_type.as_deref() {
        None if info.kind == "oracle" => SourceType::Oracle,
        None | Some("PostgreSQL") => SourceType::PostgreSql,
        Some("PPAS") => SourceType::Ppas,
        Some("Oracle") if info.kind == "oracle" => SourceType::Oracle,
        Some(x) => {
            return Err(ConfigError::not_one_of(
                "destination.dts_avro.source_type",
                x,
                "PostgreSQL or PPAS (Oracle for the Oracle source)",
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
        connector: Connector::of_source(info.kind),
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
