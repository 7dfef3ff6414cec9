//! Exactly-once's commit points: when the runner may close a Kafka transaction.
//!
//! A transaction holds the records sent since the last commit and the checkpoint that covers
//! exactly them, so it may close only where the checkpoint can describe everything sent: not
//! inside a source transaction (a resume restarts it from its beginning) and not inside a
//! chunk or a keyless table's read (a resume reads the chunk, or the table, again). Those
//! places are the clean points: a source transaction's commit, a chunk's or a table's end,
//! the snapshot's end, an idle source. At a clean point the transaction commits once it has
//! been open `interval` or holds `records` records; on a timer (every tenth of the interval,
//! or the checkpoint interval if shorter), it also commits when the source has sent nothing for
//! a tenth of the interval, so a quiet source's changes do not wait a whole interval.
//!
//! ```text
//!  rows/events ──► sent (seq) ──► clean point? ─ due? ─► Kafka commit (records + checkpoint)
//!                                                         ─► store save (timer) ─► confirm
//! ```
//! A transaction may therefore grow past `records`: a source transaction of two million rows
//! commits whole (inside the Kafka transaction timeout), as does a keyless table, which is read
//! in one piece; a keyed table commits chunk by chunk.

use std::time::Duration;

use tokio::time::Instant;

/// How large a Kafka transaction grows (`destination.transaction_interval`,
/// `destination.transaction_records`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionPolicy {
    pub interval: Duration,
    pub records: u64,
}

/// The runner's view of the open Kafka transaction.
#[derive(Debug)]
pub struct CommitPoints {
    policy: TransactionPolicy,
    /// The first sequence number not committed.
    committed: u64,
    /// When the last commit happened (or the run began); tokio's clock, which tests pause.
    since: Instant,
    /// Snapshot rows were sent since the last chunk's or table's end.
    reading: bool,
    /// A commit succeeded whose checkpoint the store does not hold yet.
    unsaved: bool,
    /// When the last batch came from the source.
    last_batch: Instant,
}

impl CommitPoints {
    pub fn new(policy: TransactionPolicy, first_seq: u64) -> CommitPoints {
        CommitPoints {
            policy,
            committed: first_seq,
            since: Instant::now(),
            reading: false,
            unsaved: false,
            last_batch: Instant::now(),
        }
    }

    /// A snapshot row was sent: no clean point until its chunk's or table's end.
    pub fn row_sent(&mut self) {
        self.reading = true;
    }

    /// A chunk or a table is read to its end (its mark is queued).
    pub fn read_ended(&mut self) {
        self.reading = false;
    }

    /// Whether the checkpoint can describe everything sent, outside a source transaction.
    pub fn clean(&self, in_source_transaction: bool) -> bool {
        !in_source_transaction && !self.reading
    }

    /// Whether a commit is due at a clean point, with `next_seq` the next record's number.
    pub fn due(&self, next_seq: u64) -> bool {
        next_seq.saturating_sub(self.committed) >= self.policy.records
            || self.since.elapsed() >= self.policy.interval
    }

    /// A batch came from the source.
    pub fn batch_taken(&mut self) {
        self.last_batch = Instant::now();
    }

    /// How long the source must have sent nothing for an open transaction to commit before
    /// it is due: a tenth of the interval.
    pub fn quiet_after(&self) -> Duration {
        (self.policy.interval / 10).max(Duration::from_millis(1))
    }

    /// Whether the source has sent nothing for `quiet_after`: its changes are committed now
    /// rather than at the interval, while a busy source commits once per interval.
    pub fn quiet(&self) -> bool {
        self.last_batch.elapsed() >= self.quiet_after()
    }

    /// Whether records were sent since the last commit.
    pub fn pending(&self, next_seq: u64) -> bool {
        next_seq > self.committed
    }

    /// Every record below `next_seq` is committed, with a checkpoint the store must save.
    pub fn committed(&mut self, next_seq: u64) {
        self.committed = next_seq;
        self.since = Instant::now();
        self.unsaved = true;
    }

    /// Takes the "store must save" flag.
    pub fn take_unsaved(&mut self) -> bool {
        std::mem::take(&mut self.unsaved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(records: u64) -> CommitPoints {
        let policy = TransactionPolicy {
            interval: Duration::from_secs(3600),
            records,
        };
        CommitPoints::new(policy, 10)
    }

    #[test]
    fn a_commit_is_due_by_records_and_only_at_clean_points() {
        let mut p = points(5);
        assert!(!p.due(14) && p.due(15));
        assert!(p.clean(false) && !p.clean(true));
        p.row_sent();
        assert!(!p.clean(false), "inside a chunk");
        p.read_ended();
        assert!(p.clean(false));
        p.committed(15);
        assert!(!p.pending(15) && p.pending(16) && !p.due(19));
        assert!(p.take_unsaved() && !p.take_unsaved());
    }

    #[test]
    fn a_commit_is_due_by_time() {
        let policy = TransactionPolicy {
            interval: Duration::ZERO,
            records: u64::MAX,
        };
        assert!(CommitPoints::new(policy, 0).due(1));
    }
}
