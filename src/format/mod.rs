//! Message formats: how a change event becomes Kafka records.

pub mod debezium;

use crate::event::ChangeEvent;
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
}

/// A message format.
///
/// Contract: `encode` appends the records of one event to `out` in the order they must be
/// produced (e.g. a delete, then its tombstone). It is deterministic given the event and the
/// injected clock, and never panics on any row the source can produce.
pub trait Format: Send {
    fn encode(&mut self, event: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError>;
}
