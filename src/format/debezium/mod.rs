//! Debezium JSON (`shared/spec/FORMATS.md`, "Debezium JSON" and part B §4): the change-event
//! envelope, key and value encodings of Debezium 3.6.3's PostgreSQL connector written through
//! Kafka Connect's `JsonConverter`, byte for byte (`shared/spec/debezium-samples/`; the golden
//! tests in `tests/golden.rs` compare against copies of those files).
//!
//! Layout: `encoder` (records per event), `envelope` (key, envelope, source block), `payload`
//! (column values), `schema` (type mapping and Connect schema JSON), `plan` (per-table cache),
//! `temporal` and `json` (Java/Jackson-exact text forms), `clock`.
//!
//! Where this deliberately differs from Debezium:
//! - numeric NaN/±Infinity under `decimal.handling.mode=precise` are written as null, logged once
//!   and counted in `tributary_format_unrepresentable_values_total` (Debezium fails the task);
//! - unchanged TOAST values are written with `unavailable_value_placeholder` where the column's
//!   Connect type can hold it (strings, bytes, text and integer arrays), else null as Debezium
//!   does; all are counted in `tributary_format_unavailable_values_total`;
//! - field schemas carry no `default` (the table schema has no column defaults) and enum schemas
//!   no `allowed` parameter (the type carries no labels);
//! - types without a mapping (`TypeKind::Other`: inet, money, bit, hstore, ranges, geometric…)
//!   are strings of their text form (`xml` as `io.debezium.data.Xml`); Debezium maps some of
//!   them to other types and drops unknown ones;
//! - multi-dimensional arrays are flattened into one Connect array;
//! - `provide_transaction_metadata` fills the envelope's `transaction` block only: the
//!   `<prefix>.transaction` BEGIN/END records need transaction boundaries, which events lack.

mod clock;
mod encoder;
mod envelope;
mod json;
mod payload;
mod plan;
mod schema;
mod temporal;

pub use clock::{Clock, FixedClock, ManualClock, SystemClock};
pub use encoder::DebeziumJson;

use serde::Deserialize;

/// Debezium's `decimal.handling.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecimalHandling {
    /// `org.apache.kafka.connect.data.Decimal` bytes (unconstrained numeric:
    /// `io.debezium.data.VariableScaleDecimal`); NaN and ±Infinity become null.
    #[default]
    Precise,
    /// JSON double.
    Double,
    /// The decimal as a string (Java `BigDecimal.toString`).
    String,
}

/// Debezium's `interval.handling.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalHandling {
    /// `io.debezium.time.MicroDuration` int64 microseconds (a month counts 30.4375 days).
    #[default]
    Numeric,
    /// `io.debezium.time.Interval` ISO-8601 string (`P1Y2M3DT4H5M6.78S`).
    String,
}

/// Options of the Debezium JSON format (Debezium's connector and converter settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebeziumOptions {
    /// `topic.prefix`: the task name. Also `source.name` and the schema-name prefix.
    pub topic_prefix: String,
    /// `destination.topic`: when set, every record goes to this topic.
    pub topic_override: Option<String>,
    /// The source database name (`source.db`).
    pub database: String,
    /// `JsonConverter` `schemas.enable` (key and value as `{"schema":…,"payload":…}`).
    pub schemas_enable: bool,
    /// `tombstones.on.delete`: a null-value record with the same key follows every delete.
    pub tombstones_on_delete: bool,
    pub decimal_handling_mode: DecimalHandling,
    pub interval_handling_mode: IntervalHandling,
    /// `unavailable.value.placeholder`: written for values the source did not send.
    pub unavailable_value_placeholder: String,
    /// `source.version`.
    pub version: String,
    /// `provide.transaction.metadata`: fill the envelope's `transaction` block.
    pub provide_transaction_metadata: bool,
    /// The shard whose counters (values written as null or as the placeholder) this format
    /// records to.
    pub labels: crate::metrics::ShardLabels,
}

impl Default for DebeziumOptions {
    fn default() -> Self {
        DebeziumOptions {
            topic_prefix: "tributary".to_owned(),
            topic_override: None,
            database: String::new(),
            schemas_enable: false,
            tombstones_on_delete: true,
            decimal_handling_mode: DecimalHandling::Precise,
            interval_handling_mode: IntervalHandling::Numeric,
            unavailable_value_placeholder: "__tributary_unavailable_value".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            provide_transaction_metadata: false,
            labels: crate::metrics::ShardLabels::default(),
        }
    }
}

#[cfg(test)]
mod tests;
