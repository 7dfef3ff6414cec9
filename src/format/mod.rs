//! Message formats: how source items become Kafka records.
//!
//! A format sees every change event, the transaction boundaries around them and schema
//! changes, and writes zero or more records for each (Debezium writes none for a Begin; a
//! delete is two records with its tombstone). `build` is the one place a task's
//! `destination.format` chooses the format.

mod build;
pub mod canal;
pub mod debezium;
pub mod dts_avro;
pub mod shareplex;

pub use build::{build, build_registered, build_with_clock, shareplex};

pub mod clock;
pub mod json;
pub(crate) mod origin;
mod plans;

use crate::event::{ChangeEvent, TxMeta};
pub use crate::route::PartitionChoice;
use crate::source::SchemaChange;
use crate::value::ValueError;

/// One encoded record, in buffers owned by the encoder and reused between events.
#[derive(Debug, Default, Clone)]
pub struct EncodedRecord {
    pub topic: String,
    pub key: Vec<u8>,
    /// The key is null (no key columns); `key` is then ignored.
    pub null_key: bool,
    pub value: Vec<u8>,
    /// The value is null (a tombstone); `value` is then ignored.
    pub tombstone: bool,
    /// Format-specific Kafka headers (e.g. Debezium's `__debezium.newkey`), in order. Usually
    /// empty; the runner adds the common `tributary.*` headers itself.
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// The partition, as the task's policy chose it (the runner turns a hash into a partition
    /// of the topic).
    pub partition: PartitionChoice,
    /// The stream position of the event this record is about, for records produced later
    /// than their event (a buffered transaction's, from `Format::pending`); `None`: the event
    /// being encoded.
    pub position: Option<crate::position::StreamPosition>,
}

impl EncodedRecord {
    pub fn key(&self) -> Option<&[u8]> {
        (!self.null_key).then_some(self.key.as_slice())
    }

    pub fn value(&self) -> Option<&[u8]> {
        (!self.tombstone).then_some(self.value.as_slice())
    }
}

/// The records one event produces, reused between events to avoid per-row allocation.
#[derive(Debug, Default)]
pub struct EncodedBatch {
    records: Vec<EncodedRecord>,
    len: usize,
}

impl EncodedBatch {
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// A cleared record slot to fill (its buffers keep their capacity).
    pub fn push(&mut self) -> &mut EncodedRecord {
        if self.len == self.records.len() {
            self.records.push(EncodedRecord::default());
        }
        let r = &mut self.records[self.len];
        self.len += 1;
        r.topic.clear();
        r.key.clear();
        r.value.clear();
        r.null_key = false;
        r.tombstone = false;
        r.headers.clear();
        r.partition = PartitionChoice::Default;
        r.position = None;
        r
    }

    /// The number of records filled since the last `clear`.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the records after the first `len` (e.g. those of an event that failed to encode).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn records(&self) -> &[EncodedRecord] {
        &self.records[..self.len]
    }
}

/// An event cannot be encoded.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("table {table}, column {column}")]
    Value {
        table: String,
        column: String,
        #[source]
        source: ValueError,
    },
    /// The task's routing does not fit a table (e.g. one that appeared after the start).
    #[error(transparent)]
    Route(#[from] crate::route::RouteError),
    /// A value the format cannot carry.
    #[error(
        "table {table}, column {column}: format {format} cannot carry type {type_name}: {fix}"
    )]
    Unsupported {
        format: &'static str,
        table: String,
        column: String,
        type_name: String,
        fix: &'static str,
    },
    /// A transaction held until its commit could not be spilled to disk (SharePlex JSON).
    #[error(
        "cannot spill a held transaction to directory {dir} ({reason}): set destination.shareplex_json.spill_dir to a writable directory with free space, or raise destination.shareplex_json.memory_budget_bytes"
    )]
    Spill { dir: String, reason: String },
}

/// A message format.
///
/// Contract: each method appends the records of one item to `out` in the order they must be
/// produced (e.g. a delete, then its tombstone), possibly none. It is deterministic given its
/// input and the injected clock, and never panics on anything a source can produce. On error
/// it leaves `out` as it found it. Records are produced in the order the methods are called:
/// `begin`, the transaction's events, `commit`; a `schema_change` comes before the first event
/// that uses the new description.
pub trait Format: Send {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError>;

    /// A transaction starts.
    fn begin(&mut self, _tx: &TxMeta, _out: &mut EncodedBatch) -> Result<(), FormatError> {
        Ok(())
    }

    /// A transaction of `events` events ended.
    fn commit(
        &mut self,
        _tx: &TxMeta,
        _events: u32,
        _out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        Ok(())
    }

    /// Records held back (a buffered transaction's, after its `commit`), at most `max` per
    /// call, each with its event's `position` set; `true` while more remain. The runner calls
    /// it after every `commit` until it returns `false`.
    fn pending(&mut self, _out: &mut EncodedBatch, _max: usize) -> Result<bool, FormatError> {
        Ok(false)
    }

    /// Whether the format holds a transaction's records until its commit (SharePlex JSON's
    /// `size` needs the count first). The runner then never marks a position inside a
    /// transaction as sent: a restart replays the whole transaction.
    fn buffers_transactions(&self) -> bool {
        false
    }

    /// The stream message sequence (Canal JSON and DTS Avro `id`): the next message's number.
    fn sequence(&self) -> u64 {
        0
    }

    /// Continues the stream message sequence from `next` (the checkpoint's, at start).
    fn set_sequence(&mut self, _next: u64) {}

    /// A table's description changed, or a table appeared.
    fn schema_change(
        &mut self,
        _change: &SchemaChange,
        _out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        Ok(())
    }
}

impl Format for Box<dyn Format> {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        (**self).encode(event, out)
    }

    fn begin(&mut self, tx: &TxMeta, out: &mut EncodedBatch) -> Result<(), FormatError> {
        (**self).begin(tx, out)
    }

    fn commit(
        &mut self,
        tx: &TxMeta,
        events: u32,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        (**self).commit(tx, events, out)
    }

    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        (**self).schema_change(change, out)
    }

    fn pending(&mut self, out: &mut EncodedBatch, max: usize) -> Result<bool, FormatError> {
        (**self).pending(out, max)
    }

    fn buffers_transactions(&self) -> bool {
        (**self).buffers_transactions()
    }

    fn sequence(&self) -> u64 {
        (**self).sequence()
    }

    fn set_sequence(&mut self, next: u64) {
        (**self).set_sequence(next)
    }
}
