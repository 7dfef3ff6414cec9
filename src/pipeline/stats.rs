//! Live figures of a running task, shared with the progress display and the metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use super::latency::LatencyWindow;

/// Counters updated by the runner at batch granularity (never per row under a lock).
#[derive(Debug, Default)]
pub struct Stats {
    /// Records handed to the sink.
    pub records_sent: AtomicU64,
    /// Records the sink has made durable.
    pub records_durable: AtomicU64,
    /// Stream change events handed to the sink.
    pub stream_events: AtomicU64,
    /// The latest log point the server reported (PostgreSQL: WAL LSN; Oracle: SCN).
    pub server_point: AtomicU64,
    /// The resume token last saved and confirmed, as a log point.
    pub confirmed_point: AtomicU64,
    /// Commit time (Unix µs) of the last stream event sent; 0 before any.
    pub last_commit_time_us: AtomicI64,
    /// Write time (Unix µs) of the newest heartbeat received through the stream; 0 before any.
    pub heartbeat_written_us: AtomicI64,
    /// WAL the slot retains, in bytes, plus one (0 before the first reading).
    pub slot_retained_bytes: AtomicU64,
    /// Every snapshot row is sent (or there is no snapshot to read).
    pub snapshot_complete: std::sync::atomic::AtomicBool,
    /// Per table (`schema.table`): snapshot rows sent and the estimated total.
    pub tables: Mutex<BTreeMap<String, TableStats>>,
    /// Commit-to-acknowledgement latency of recent stream events (the progress line's p50/p99).
    pub latency: LatencyWindow,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub rows: u64,
    pub estimated: u64,
    pub done: bool,
}

impl Stats {
    pub fn table(&self, name: &str, f: impl FnOnce(&mut TableStats)) {
        if let Ok(mut t) = self.tables.lock() {
            f(t.entry(name.to_owned()).or_default());
        }
    }

    /// Snapshot rows sent and estimated, over all tables.
    pub fn snapshot_totals(&self) -> (u64, u64) {
        self.tables
            .lock()
            .map(|t| {
                t.values().fold((0, 0), |(r, e), t| {
                    (r + t.rows, e + t.estimated.max(t.rows))
                })
            })
            .unwrap_or((0, 0))
    }

    /// Seconds since the commit of the last stream event sent.
    pub fn lag_seconds(&self) -> Option<f64> {
        seconds_since(self.last_commit_time_us.load(Ordering::Relaxed))
    }

    /// Seconds since the newest heartbeat received was written: the heartbeat interval plus
    /// the end-to-end latency, growing while none arrives. `None` before the first.
    pub fn heartbeat_age_seconds(&self) -> Option<f64> {
        seconds_since(self.heartbeat_written_us.load(Ordering::Relaxed))
    }

    /// The slot's retained WAL in bytes, once read.
    pub fn slot_retained(&self) -> Option<u64> {
        self.slot_retained_bytes
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }

    /// Records a reading of the slot's retained WAL.
    pub fn set_slot_retained(&self, bytes: u64) {
        self.slot_retained_bytes
            .store(bytes.saturating_add(1), Ordering::Relaxed);
    }

    /// Lag in the source's log units (PostgreSQL: WAL bytes): how far the confirmed position
    /// trails the server's.
    pub fn lag_bytes(&self) -> u64 {
        self.server_point
            .load(Ordering::Relaxed)
            .saturating_sub(self.confirmed_point.load(Ordering::Relaxed))
    }
}

/// Seconds from the Unix time `t_us` (µs) to now; `None` for 0 (never set).
fn seconds_since(t_us: i64) -> Option<f64> {
    if t_us == 0 {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_micros() as i64;
    Some((now - t_us).max(0) as f64 / 1e6)
}
