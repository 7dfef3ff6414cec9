//! The DTS task model's per-table and naming settings: topic mapping, partition keys, row
//! filters, migrated operations and name mapping (`[objects.table."<schema>.<table>"]`,
//! `[objects.schema."<schema>"]`), and the destination's partition policy, capitalisation and
//! per-format options. Parsed and checked here for what the file alone shows; what needs the
//! source's tables (a key column that does not exist, two tables capitalised to one name) is
//! checked by `crate::route` when the task starts or is created.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::selection::split_exact;
use super::ConfigError;

/// Settings of one table, keyed by its exact `schema.table` name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableOptions {
    /// The table's topic (else `destination.topic`, else `<task>.<schema>.<table>`).
    pub topic: Option<String>,
    /// Partitions of the table's topic when tributary creates it (else
    /// `destination.partitions`).
    pub partitions: Option<i32>,
    /// The message key and `hash_key` partition key columns (else the primary key).
    pub key_columns: Option<Vec<String>>,
    /// A SQL condition: only rows matching it are migrated, in the snapshot and the stream.
    pub filter: Option<String>,
    /// The incremental operations migrated (default: all).
    pub operations: Option<Vec<Operation>>,
    /// The table's name in messages and topics.
    pub name: Option<String>,
    /// Column renames: source name → name in messages.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

/// Settings of one schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaOptions {
    /// The schema's name in messages and topics.
    pub name: Option<String>,
}

/// An incremental operation a table's options may migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Insert,
    Update,
    Delete,
    Truncate,
    Ddl,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Truncate,
        Operation::Ddl,
    ];
}

/// How records are spread over a topic's partitions (FORMATS.md "Partition policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionPolicy {
    /// Every record to partition 0: total order.
    PartitionZero,
    /// By Java's hash of `<schema>.<table>`: per-table order.
    HashTable,
    /// By Java's hash of the key columns' values: per-row order.
    HashKey,
}

/// How names are cased in messages and topics (after mapping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capitalisation {
    #[default]
    Keep,
    Lower,
    Upper,
}

/// A Confluent Schema Registry (`[destination.schema_registry]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistrySpec {
    /// `http://host:8081` or `https://...`.
    pub url: String,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Reads the basic-auth password from this file (first line).
    pub password_file: Option<String>,
    /// Reads the basic-auth password from this environment variable.
    pub password_env: Option<String>,
    /// CA certificate (PEM) to verify an `https` registry with.
    pub ssl_ca_location: Option<String>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub ssl_certificate_location: Option<String>,
    pub ssl_key_location: Option<String>,
}

/// DTS Avro options (FORMATS.md part A, "DTS Avro").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DtsAvroSpec {
    /// Also write the `readerThroughoutTime` and `commitTimestamp` tags (default false).
    pub extra_tags: Option<bool>,
    /// `schema_table` (default) or `database_schema_table` for `objectName`.
    pub object_name: Option<String>,
    /// `PostgreSQL` (default) or `PPAS` for `source.sourceType`.
    pub source_type: Option<String>,
}

/// Canal JSON options (FORMATS.md part A, "Canal JSON").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanalJsonSpec {
    /// Write null-valued members explicitly, as Alibaba's own Canal does (default false).
    pub explicit_nulls: Option<bool>,
    /// `schema` (default) or `database`: what the `database` member holds.
    pub database: Option<String>,
}

/// SharePlex JSON options (FORMATS.md part A, "SharePlex JSON").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharePlexJsonSpec {
    /// Bytes of a transaction held in memory before it spills to disk (default 64 MiB).
    pub memory_budget_bytes: Option<u64>,
    /// Where spilled transactions go (default: the system's temporary directory).
    pub spill_dir: Option<String>,
}

/// Checks the per-table and per-schema settings for what the task file alone shows.
pub(super) fn validate_objects(
    tables: &BTreeMap<String, TableOptions>,
    schemas: &BTreeMap<String, SchemaOptions>,
) -> Result<(), ConfigError> {
    let invalid = |field, constraint: String| Err(ConfigError::Invalid { field, constraint });
    let mut targets: BTreeMap<(String, String), &str> = BTreeMap::new();
    for (key, t) in tables {
        let Some((schema, table)) = split_exact(key) else {
            return invalid(
                "objects.table",
                format!(
                    "{key:?} is not one exact schema.table name (no globs), e.g. \"public.orders\""
                ),
            );
        };
        if let Some(p) = t.partitions {
            if p < 1 {
                return invalid(
                    "objects.table.partitions",
                    format!("{key}: {p} partitions; a topic has at least 1"),
                );
            }
        }
        if let Some(cols) = &t.key_columns {
            if cols.is_empty() {
                return invalid(
                    "objects.table.key_columns",
                    format!("{key}: name at least one column, or leave key_columns out to use the primary key"),
                );
            }
            if let Some(d) = first_duplicate(cols.iter().map(String::as_str)) {
                return invalid(
                    "objects.table.key_columns",
                    format!("{key}: column {d:?} is listed twice"),
                );
            }
        }
        if let Some(ops) = &t.operations {
            if ops.is_empty() {
                return invalid(
                    "objects.table.operations",
                    format!("{key}: name at least one of insert, update, delete, truncate, ddl (or select the table out)"),
                );
            }
        }
        if let Some(filter) = &t.filter {
            crate::filter::RowFilter::parse(filter).map_err(|e| ConfigError::Invalid {
                field: "objects.table.filter",
                constraint: format!("{key}: {e}"),
            })?;
        }
        if t.topic.as_deref().is_some_and(|x| x.trim().is_empty()) {
            return invalid("objects.table.topic", format!("{key}: the topic is empty"));
        }
        if let Some(d) = first_duplicate(t.columns.values().map(String::as_str)) {
            return invalid(
                "objects.table.columns",
                format!("{key}: two columns are mapped to {d:?}; give each its own name"),
            );
        }
        if t.columns.values().chain(&t.name).any(|n| n.is_empty()) {
            return invalid("objects.table", format!("{key}: a mapped name is empty"));
        }
        let target_schema = schemas
            .get(&schema)
            .and_then(|s| s.name.clone())
            .unwrap_or(schema.clone());
        let target_table = t.name.clone().unwrap_or(table.clone());
        if let Some(other) = targets.insert((target_schema.clone(), target_table.clone()), key) {
            return invalid(
                "objects.table.name",
                format!("{other} and {key} are both mapped to {target_schema}.{target_table}; give each its own name"),
            );
        }
    }
    for (key, s) in schemas {
        if key.is_empty() || s.name.as_deref().is_some_and(str::is_empty) {
            return invalid("objects.schema", format!("{key:?}: a schema name is empty"));
        }
    }
    if let Some(d) = first_duplicate(schemas.values().filter_map(|s| s.name.as_deref())) {
        return invalid(
            "objects.schema.name",
            format!("two schemas are mapped to {d:?}; give each its own name"),
        );
    }
    Ok(())
}

/// The first value that occurs twice.
pub(crate) fn first_duplicate<'a>(values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    values.into_iter().find(|v| !seen.insert(*v))
}
