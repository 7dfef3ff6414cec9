//! The task's speed limits (DTS's throttling) as the runner applies them: before it takes the
//! next item, it waits until what it has handed on so far is within every limit of the item's
//! phase.
//!
//! ```text
//!   item ─► runner ─► sink         full:        rows (snapshot rows), bytes, queries
//!             │                    incremental: rows (change events), bytes
//!             └─ charge(meter, rows, bytes, queries) ─► ahead? note progress, pay (wait
//!                                                        until owed ≤ SLACK)
//! ```
//! What counts, and where:
//! - rows: every event the source delivers (snapshot rows in full, change events in
//!   incremental), charged as the runner takes it;
//! - bytes: the encoded records handed to the sink, key plus value (headers left out),
//!   charged to the phase of the item that produced them; transaction boundary records count
//!   as incremental; schema-phase DDL records are not limited;
//! - queries (`source_qps`): one per table the snapshot reads (PostgreSQL reads each table with
//!   one `COPY`; its two catalog look-ups are not counted), charged when the runner sees the
//!   table start. The source issues a table's queries as it hands the start on, ahead of the
//!   runner by at most its bounded channel (and one table per snapshot connection at once), so
//!   the limit holds on average over more tables than that.
//!
//! Waiting happens in the runner, downstream of the source's bounded channel: a throttled
//! runner fills the channel and the source stops reading, while PostgreSQL's standby status
//! updates go out from their own task (`source::postgres::replication`), so they never wait
//! on a throttle. A live change (UpdateTask) takes effect at once, even during a wait, and
//! keeps what is owed (`Bucket::set_rate`). The limits here are one shard's: a task's limits
//! are the whole task's, and each of its shards runs with an equal share
//! (`ThrottleRates::share` over the shard count the leader planned, in `cluster::worker`).

mod bucket;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use crate::config::ThrottleRates as Limits;
use crate::metrics::{ThrottleMetrics, ThrottlePhase};
use bucket::Bucket;

/// A wait shorter than this is put off (the runner goes on and pays it later with the rest):
/// one timer per 10 ms at most, however small the rate's unit.
pub const SLACK: Duration = Duration::from_millis(10);

/// Which phase's limits an item counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    Full,
    Incremental,
}

/// The limits of one shard, as buckets (`None`: unlimited).
pub struct Throttles {
    limits: Limits,
    full_queries: Option<Bucket>,
    full_rows: Option<Bucket>,
    full_bytes: Option<Bucket>,
    incremental_rows: Option<Bucket>,
    incremental_bytes: Option<Bucket>,
    live: Option<watch::Receiver<Limits>>,
    metrics: Option<ThrottleMetrics>,
}

impl Throttles {
    /// Starts with `limits`, then follows `live` (an update of the task) when given.
    pub fn new(
        limits: Limits,
        live: Option<watch::Receiver<Limits>>,
        metrics: Option<ThrottleMetrics>,
    ) -> Throttles {
        let mut t = Throttles {
            limits: Limits::default(),
            full_queries: None,
            full_rows: None,
            full_bytes: None,
            incremental_rows: None,
            incremental_bytes: None,
            live,
            metrics,
        };
        t.set(limits);
        t
    }

    /// Charges `rows`, `bytes` and `queries` to `meter`'s limits (queries count only against
    /// the full phase's `source_qps`); true when the caller is now ahead of a limit and must
    /// `pay` before taking more.
    pub fn charge(&mut self, meter: Meter, rows: u64, bytes: u64, queries: u64) -> bool {
        if self.unlimited() {
            return false;
        }
        self.follow();
        let now = Instant::now();
        let (r, b) = match meter {
            Meter::Full => {
                charge(&mut self.full_queries, queries, now);
                (&mut self.full_rows, &mut self.full_bytes)
            }
            Meter::Incremental => (&mut self.incremental_rows, &mut self.incremental_bytes),
        };
        charge(r, rows, now);
        charge(b, bytes, now);
        self.owed(meter, now) > SLACK
    }

    /// `charge`, then `pay` if needed.
    pub async fn take(&mut self, meter: Meter, rows: u64, bytes: u64) {
        if self.charge(meter, rows, bytes, 0) {
            self.pay(meter).await;
        }
    }

    /// Charges one query to the source (`source_qps`), then pays if needed.
    pub async fn take_query(&mut self) {
        if self.charge(Meter::Full, 0, 0, 1) {
            self.pay(Meter::Full).await;
        }
    }

    /// No limit now, and no change waiting: nothing to charge (one atomic read per item).
    fn unlimited(&self) -> bool {
        self.limits == Limits::default()
            && !self
                .live
                .as_ref()
                .is_some_and(|rx| rx.has_changed().unwrap_or(false))
    }

    /// Waits until `meter`'s buckets are owed no more than `SLACK`, following live changes.
    pub async fn pay(&mut self, meter: Meter) {
        loop {
            self.follow();
            let owed = self.owed(meter, Instant::now());
            if owed <= SLACK {
                return;
            }
            let started = Instant::now();
            let gone = match &mut self.live {
                Some(rx) => tokio::select! {
                    _ = tokio::time::sleep(owed) => false,
                    changed = rx.changed() => changed.is_err(),
                },
                None => {
                    tokio::time::sleep(owed).await;
                    false
                }
            };
            if gone {
                self.live = None;
            }
            if let Some(m) = &self.metrics {
                m.waited(phase(meter), started.elapsed());
            }
        }
    }

    fn owed(&self, meter: Meter, now: Instant) -> Duration {
        let buckets = match meter {
            Meter::Full => [&self.full_queries, &self.full_rows, &self.full_bytes],
            Meter::Incremental => [&None, &self.incremental_rows, &self.incremental_bytes],
        };
        buckets
            .into_iter()
            .flatten()
            .map(|b| b.owed(now))
            .max()
            .unwrap_or_default()
    }

    /// Takes the task's current limits if they are not the ones in force (an uncontended
    /// read lock and a comparison).
    fn follow(&mut self) {
        let Some(rx) = &mut self.live else {
            return;
        };
        let limits = *rx.borrow_and_update();
        if limits != self.limits {
            self.set(limits);
        }
    }

    fn set(&mut self, limits: Limits) {
        let now = Instant::now();
        retune(&mut self.full_queries, limits.full_queries, now);
        retune(&mut self.full_rows, limits.full_rows, now);
        retune(&mut self.full_bytes, limits.full_bytes, now);
        retune(&mut self.incremental_rows, limits.incremental_rows, now);
        retune(&mut self.incremental_bytes, limits.incremental_bytes, now);
        self.limits = limits;
        if let Some(m) = &self.metrics {
            m.configured(&limits);
        }
    }
}

fn phase(meter: Meter) -> ThrottlePhase {
    match meter {
        Meter::Full => ThrottlePhase::Full,
        Meter::Incremental => ThrottlePhase::Incremental,
    }
}

fn charge(bucket: &mut Option<Bucket>, n: u64, now: Instant) {
    if let (Some(b), true) = (bucket, n > 0) {
        b.charge(n as f64, now);
    }
}

/// A bucket at `rate`: a new one, the old one at the new rate (keeping what it is owed), or
/// none.
fn retune(bucket: &mut Option<Bucket>, rate: Option<f64>, now: Instant) {
    match (bucket.as_mut(), rate) {
        (_, None) => *bucket = None,
        (Some(b), Some(r)) => b.set_rate(r, now),
        (None, Some(r)) => *bucket = Some(Bucket::new(r)),
    }
}

#[cfg(test)]
mod tests;
