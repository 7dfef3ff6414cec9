//! Records handed to the sink and not yet acknowledged, as the runner sees them: their bytes
//! (the byte bound on what is in flight to Kafka) and their transactions' commit times (the
//! per-event latency from commit to acknowledgement).
//!
//! ```text
//!   seq:   0 ─────── 7 ────────── 12 ─── 15        watermark = 12
//!   spans: [tx A: 7 rec, 2 events][tx B: 5 rec][snapshot: 3 rec]
//!           └── released, sampled ──┘            └ still in flight
//! ```
//! Consecutive records of one commit time are kept as one span of at most `SPAN_BYTES` (or an
//! eighth of the budget, if smaller), so a large transaction costs a span per 64 KiB rather than
//! an entry per record, and releasing at a watermark walks spans, not records. A span is
//! released only once the watermark passes its last record: the byte count never runs below
//! what is really unacknowledged, and at most one span's bytes wait on a partial
//! acknowledgement.

use std::collections::VecDeque;

/// Bytes after which a span is closed and a new one begun: the granularity at which bytes are
/// released while a large transaction is acknowledged.
const SPAN_BYTES: u64 = 64 * 1024;

/// Consecutive records sharing a commit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// One past the sequence number of its last record.
    end: u64,
    bytes: u64,
    /// The transaction's commit time (Unix µs); 0 for records of no transaction.
    commit_us: i64,
    /// Stream events whose latency is taken when the span is acknowledged.
    events: u64,
}

/// The runner's view of what the sink holds unacknowledged.
#[derive(Debug)]
pub struct InFlight {
    spans: VecDeque<Span>,
    bytes: u64,
    /// Stream events in `spans` (their latency is still to be taken).
    events: u64,
    /// Bytes after which a span is closed.
    span_bytes: u64,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight::for_budget(u64::MAX)
    }
}

impl InFlight {
    /// Tracking under a byte `budget`: spans small enough that releasing them frees room.
    pub fn for_budget(budget: u64) -> InFlight {
        InFlight {
            spans: VecDeque::new(),
            bytes: 0,
            events: 0,
            span_bytes: (budget / 8).clamp(1, SPAN_BYTES),
        }
    }

    /// Notes record `seq` of `bytes`, of a transaction committed at `commit_us`; `event`: it is
    /// a stream event's (first) record, to be sampled for latency once acknowledged.
    pub fn push(&mut self, seq: u64, bytes: u64, commit_us: i64, event: bool) {
        let events = u64::from(event);
        self.bytes += bytes;
        self.events += events;
        if let Some(last) = self.spans.back_mut() {
            if last.end == seq && last.commit_us == commit_us && last.bytes < self.span_bytes {
                last.end = seq + 1;
                last.bytes += bytes;
                last.events += events;
                return;
            }
        }
        self.spans.push_back(Span {
            end: seq + 1,
            bytes,
            commit_us,
            events,
        });
    }

    /// Bytes of the records not yet released.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether stream events wait for their acknowledgement (and their latency sample).
    pub fn has_events(&self) -> bool {
        self.events > 0
    }

    /// Whether a record of `bytes` may be sent under `budget`: it fits beside what is in
    /// flight, or nothing is (a record larger than the budget goes alone).
    pub fn fits(&self, bytes: u64, budget: u64) -> bool {
        self.bytes == 0 || self.bytes.saturating_add(bytes) <= budget
    }

    /// Releases the spans wholly below `watermark`, calling `sample(commit_us, events)` for
    /// each that holds stream events.
    pub fn release(&mut self, watermark: u64, mut sample: impl FnMut(i64, u64)) {
        while let Some(span) = self.spans.front().copied() {
            if span.end > watermark {
                break;
            }
            self.spans.pop_front();
            self.bytes -= span.bytes;
            self.events -= span.events;
            if span.events > 0 {
                sample(span.commit_us, span.events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released(f: &mut InFlight, watermark: u64) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        f.release(watermark, |t, n| out.push((t, n)));
        out
    }

    #[test]
    fn a_transaction_is_one_span_sampled_once_its_last_record_is_acknowledged() {
        let mut f = InFlight::default();
        f.push(0, 100, 0, false);
        for seq in 1..6 {
            f.push(seq, 10, 5_000, seq != 5);
        }
        f.push(6, 7, 9_000, true);
        assert_eq!((f.bytes(), f.spans.len()), (157, 3));
        assert!(f.has_events());
        assert_eq!(
            released(&mut f, 1),
            vec![],
            "the snapshot record: no sample"
        );
        assert_eq!(f.bytes(), 57);
        assert_eq!(
            released(&mut f, 5),
            vec![],
            "record 5 of the span is not acknowledged"
        );
        assert_eq!(released(&mut f, 7), vec![(5_000, 4), (9_000, 1)]);
        assert_eq!((f.bytes(), f.has_events()), (0, false));
    }

    #[test]
    fn a_large_transaction_is_released_span_by_span() {
        let mut f = InFlight::default();
        for seq in 0..1000 {
            f.push(seq, 1024, 1, true);
        }
        assert_eq!(f.spans.len(), 1000 / 64 + 1);
        let mut events = 0;
        f.release(640, |_, n| events += n);
        assert_eq!((events, f.bytes()), (640, 360 * 1024));
    }

    #[test]
    fn a_record_fits_under_the_budget_or_alone() {
        let mut f = InFlight::default();
        assert!(
            f.fits(10_000, 100),
            "nothing in flight: a large record goes alone"
        );
        f.push(0, 60, 0, false);
        assert!(f.fits(40, 100));
        assert!(!f.fits(41, 100));
        f.release(1, |_, _| {});
        assert!(f.fits(41, 100));
    }

    #[test]
    fn spans_stay_under_an_eighth_of_a_small_budget() {
        let mut f = InFlight::for_budget(8000);
        for seq in 0..10 {
            f.push(seq, 400, 1, true);
        }
        assert_eq!(f.spans.len(), 4, "{:?}", f.spans);
        let mut events = 0;
        f.release(5, |_, n| events += n);
        assert_eq!(
            (events, f.bytes()),
            (3, 7 * 400),
            "a partial acknowledgement frees room"
        );
    }

    #[test]
    fn gaps_in_sequence_numbers_start_a_new_span() {
        let mut f = InFlight::default();
        f.push(0, 1, 7, true);
        f.push(2, 1, 7, true);
        assert_eq!(f.spans.len(), 2);
        assert_eq!(released(&mut f, 1), vec![(7, 1)]);
    }
}
