//! Canal JSON as Alibaba DTS writes it (`shared/spec/FORMATS.md` part A "Canal JSON (DTS
//! flavour)", part B §2): one row image per message, members in alphabetical order, compact,
//! values as strings in PostgreSQL's text output form. Consumers written for DTS's Canal JSON
//! read these messages unchanged; the type vocabulary is `docs/TYPE-MAPPING.md`'s Canal table.
//!
//! Layout: `encoder` (the `Format`: records per event, the message sequence), `plan` (per-table
//! JSON fragments: names, `mysqlType`, `sqlType`, `pkNames`), `row` (row objects), `types`
//! (`mysqlType` names and `sqlType` codes), `escape` (fastjson2's string escaping).
//!
//! A message, members in this order (part B §2.4):
//! `{"data":[{…}],"database":…,"es":…,"id":…,"isDdl":false,"mysqlType":{…},"old":[{…}],
//! "pkNames":[…],"sql":"","sqlType":{…},"table":…,"ts":…,"type":"INSERT"}`.
//! - `type`: `INIT` (snapshot row), `INSERT`, `UPDATE`, `DELETE`, or `DDL` (schema changes that
//!   carry their statement, and TRUNCATE as `TRUNCATE TABLE <schema>.<table>`: the format has no
//!   truncate operation). DDL messages carry `database`, `es`, `id`, `isDdl`, `sql`, `table`,
//!   `ts`, `type`; they go to the DDL topic, partition 0, null key; a TRUNCATE goes to its
//!   table's topic and partition (`TableRoute::table_partition`), null key.
//! - `data`: the after image (the deleted row for DELETE); `old`: the whole before image, on
//!   UPDATE only and only under REPLICA IDENTITY FULL (otherwise PostgreSQL sends no old row and
//!   `old` is left out, part A "UPDATE without a full before image"). A key-only old image (a
//!   DELETE under DEFAULT or USING INDEX) holds the identity columns only.
//! - Top-level members whose value is null (`old`, `pkNames`, `gtid`, and a DDL message's row
//!   members) are left out, unless `explicit_nulls` writes them as `null` as Alibaba's Canal
//!   does. Inside a row object SQL NULL is always `null`; a value the source did not send is
//!   left out and counted in `tributary_format_unavailable_values_total`.
//! - `database`: the schema name after mapping, or (option) the source database's name;
//!   `table` and column names after mapping and capitalisation (`TableRoute::target`).
//!   `pkNames`: the table's key columns (primary key, or the replica identity index).
//! - `es`: commit time in ms (a snapshot row: the snapshot's time); `ts`: the injected clock in
//!   ms; `id`: see `encoder`.
//! - Kafka key: `KeyWriter`'s `{"col":"value"}` (null without key columns), partition by the
//!   task's policy.

mod encoder;
mod escape;
mod plan;
mod row;
mod types;
pub(crate) use types::sql_type;

pub use crate::format::clock::{Clock, FixedClock, ManualClock, SystemClock};
pub use encoder::CanalJson;

/// What the `database` member holds (`destination.canal_json.database`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DatabaseMember {
    /// The table's schema after name mapping (DTS's choice for PostgreSQL sources).
    #[default]
    Schema,
    /// This name: the source database's, with the task's capitalisation applied.
    Name(String),
}

/// Options of the Canal JSON format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CanalOptions {
    /// Write members whose value is null as `null` (Alibaba Canal's `WriteNulls`) instead of
    /// leaving them out (DTS's examples).
    pub explicit_nulls: bool,
    pub database: DatabaseMember,
    /// The shard whose metrics the format's counters belong to.
    pub metric_labels: crate::metrics::ShardLabels,
}

#[cfg(test)]
mod tests;
