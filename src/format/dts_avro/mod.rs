//! DTS Avro (`shared/spec/FORMATS.md` part A "DTS Avro", part B §1): each row image is one
//! bare Avro binary datum of `com.alibaba.dts.formats.avro.Record` from Alibaba's canonical
//! `Record.avsc` (`RECORD_AVSC`), as DTS's Kafka consumers decode it; with a schema id (the
//! registry's, `crate::registry`), the Confluent framing (magic byte 0, 4-byte big-endian id)
//! comes first.
//!
//! Layout: `avro` (binary encoding primitives), `record` (the fields around the images),
//! `image` (the value union: the type mapping of `docs/TYPE-MAPPING.md`), `plan` (per-table
//! parts), `encoder` (records per event). Everything is written by hand into the reused record
//! buffers: no allocation per row for the fixed-width types.
//!
//! Record fields, as decided (part A where it decides, else here):
//! - `id`: stream records (rows, TRUNCATE and DDL) take the stream message sequence
//!   (`Format::sequence`), restored from the checkpoint at start so a replay gives the same ids;
//!   snapshot rows take a lane of their own, the row's index in its table's read
//!   (`Position::Snapshot { row }`, 0-based), which a re-read of the table repeats.
//! - `sourceTimestamp` / `bornTimestamp`: the commit time in seconds / milliseconds (snapshot
//!   rows: the snapshot's start); `sourcePosition`: the commit LSN as `X/Y` (snapshot rows: the
//!   snapshot's LSN); `sourceTxid`: the xid in decimal.
//! - `safeSourcePosition`: pgoutput's Begin does not carry the transaction's first LSN, so
//!   this is the commit LSN of the transaction the stream delivered before this one
//!   (`ChangeEvent::last_commit_lsn`), else (the first transaction after a start, snapshot
//!   rows) the record's own commit LSN. Both are positions from which a restart re-delivers the
//!   record: PostgreSQL decodes every transaction whose commit record starts at or after the
//!   start point.
//! - Oracle (events positioned by SCN, `crate::format::origin`): `sourcePosition` is the commit
//!   SCN in decimal (snapshot rows: the snapshot SCN), `sourceTxid` the XID `usn.slot.sqn`
//!   (snapshot rows: `""`, no transaction). `safeSourcePosition` should be the transaction's
//!   start SCN, which events do not carry: it is the lowest change SCN of the transaction the
//!   encoder saw (its first change's), for snapshot rows the snapshot SCN.
//! - `source`: `PostgreSQL` (option `PPAS`), `Oracle` for the Oracle source, and the server
//!   version; `objectName`: `schema.table` (Oracle: `OWNER.TABLE`; option
//!   `database.schema.table`) with mapped names, a `.` inside a name written `\u002E`;
//!   `processTimestamps` null.
//! - `tags`: `pk_uk_info` first when the table has a key, `{"PRIMARY":["id"]}` — the key
//!   columns (primary key, or the replica identity index under `USING INDEX`: table
//!   descriptions name no index, so other unique keys are not listed) in column order; with
//!   `extra_tags`, `readerThroughoutTime` (the injected clock, ms) and `commitTimestamp` (s).
//! - Images: INSERT and snapshot rows (operation `INSERT`) the new row; UPDATE the old row
//!   under REPLICA IDENTITY FULL, else the key columns and `EmptyObject.NONE` for the others
//!   (part A), then the new row; DELETE the old row the same way. Unchanged TOAST values are
//!   `NONE`. Message key: the route's key columns (`{"id":"42"}`), null without.
//! - TRUNCATE: a `DDL` record `TRUNCATE TABLE <schema>.<table>` (mapped names, unquoted) on
//!   the table's topic and partition (`table_partition`), null key. A schema change carrying
//!   its DDL statement: a `DDL` record with `objectName` `schema.table` on the DDL topic,
//!   partition 0, null key; `tags` have no `pk_uk_info`.

mod avro;
mod encoder;
mod image;
mod plan;
mod record;

pub use crate::format::clock::{Clock, FixedClock, ManualClock, SystemClock};
pub use encoder::DtsAvro;

/// The canonical DTS Avro schema: a JSON array of 14 named types whose last is `Record` (a
/// reader, and a schema registered in a registry, must use `Record` itself). One copy of
/// `spec/avro/Record.avsc` serves the format and the registry (`crate::registry::RECORD_SCHEMA`
/// is its `Record` made standalone).
pub const RECORD_AVSC: &str = include_str!("../../registry/Record.avsc");

/// `source.sourceType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceType {
    #[default]
    PostgreSql,
    /// Alibaba's name for PolarDB-O / PPAS.
    Ppas,
    /// The Oracle source: `dataTypeNumber` is then Oracle's type number (`oracle_type_number`).
    Oracle,
}

impl SourceType {
    /// The symbol's index in `SourceType`.
    fn ordinal(self) -> i32 {
        match self {
            SourceType::Oracle => 1,
            SourceType::PostgreSql => 3,
            SourceType::Ppas => 7,
        }
    }
}

/// How `objectName` names a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ObjectName {
    /// `schema.table`.
    #[default]
    SchemaTable,
    /// `database.schema.table`.
    DatabaseSchemaTable,
}

/// Options of the DTS Avro format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DtsAvroOptions {
    pub source_type: SourceType,
    /// `source.version`: the server's version string.
    pub server_version: String,
    /// The source database (for `ObjectName::DatabaseSchemaTable`).
    pub database: String,
    pub object_name: ObjectName,
    /// `dts_avro.extra_tags`: also `readerThroughoutTime` and `commitTimestamp`.
    pub extra_tags: bool,
    /// With a schema registry: the id of `Record` there; values then start with the Confluent
    /// framing.
    pub confluent_schema_id: Option<u32>,
}

#[cfg(test)]
mod tests;
