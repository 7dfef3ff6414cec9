//! Ordered acknowledgement tracking: Kafka acknowledges records out of order (several
//! partitions, several brokers), the runner needs one contiguous watermark.
//!
//! ```text
//!   word_base            watermark                 next
//!   │                    │                         │
//!   ▼ words[0]           ▼        words[1]         ▼
//!   [1111111111111111111 0 1 1 0 0 1 ...][0 1 0 ... 0 ...]
//!    acked, not yet popped ─┘ acked ahead of the watermark
//! ```
//! One bit per sequence number in a ring of 64-bit words (`VecDeque`): a million records in
//! flight cost 16 KiB, and advancing the watermark skips 64 acknowledged records per step.
//! Words wholly below the watermark are popped, so the ring grows with the in-flight window
//! only. A failed record keeps its bit clear, so the watermark never passes it.

use std::collections::VecDeque;

use crate::sink::SinkError;

const WORD_BITS: u64 = 64;

/// Tracks which sequence numbers are acknowledged; the watermark is the first one that is not.
#[derive(Debug)]
pub(crate) struct AckTracker {
    /// False until the first `register`: the first sequence number comes from the runner.
    started: bool,
    /// First sequence number not acknowledged.
    watermark: u64,
    /// One past the highest registered sequence number.
    next: u64,
    /// Sequence number of bit 0 of `words[0]`; a multiple of 64.
    word_base: u64,
    words: VecDeque<u64>,
    /// The failed record with the lowest sequence number, and why.
    failure: Option<(u64, SinkError)>,
}

impl AckTracker {
    /// A tracker whose watermark is `first_seq` until the first record is registered.
    pub(crate) fn new(first_seq: u64) -> Self {
        AckTracker {
            started: false,
            watermark: first_seq,
            next: first_seq,
            word_base: align(first_seq),
            words: VecDeque::new(),
            failure: None,
        }
    }

    /// The first sequence number not acknowledged.
    pub(crate) fn watermark(&self) -> u64 {
        self.watermark
    }

    /// One past the highest registered sequence number.
    #[cfg(test)]
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Records registered and not yet acknowledged (failed ones included).
    pub(crate) fn in_flight(&self) -> u64 {
        self.next - self.watermark
    }

    /// The first failure (lowest sequence number), if any.
    pub(crate) fn failure(&self) -> Option<&SinkError> {
        self.failure.as_ref().map(|(_, e)| e)
    }

    /// Registers `seq` as sent and unacknowledged. Sequence numbers must increase; skipped
    /// numbers (a gap) count as acknowledged, since no record carries them.
    pub(crate) fn register(&mut self, seq: u64) -> Result<(), SinkError> {
        if !self.started || (seq >= self.next && self.in_flight() == 0) {
            self.restart_at(seq);
        } else if seq < self.next {
            return Err(SinkError::Config(format!(
                "sequence number {seq} sent after {}: sequence numbers must increase",
                self.next - 1
            )));
        }
        self.grow_to(seq + 1);
        for gap in self.next..seq {
            self.set(gap);
        }
        self.next = seq + 1;
        self.advance();
        Ok(())
    }

    /// Marks `seq` acknowledged. Unknown or already passed numbers are ignored.
    pub(crate) fn ack(&mut self, seq: u64) {
        if seq < self.watermark || seq >= self.next {
            return;
        }
        self.set(seq);
        if seq == self.watermark {
            self.advance();
        }
    }

    /// Marks `seq` failed: its bit stays clear, and the lowest failure's error is kept.
    pub(crate) fn fail(&mut self, seq: u64, error: SinkError) {
        if self.failure.as_ref().is_none_or(|(first, _)| seq < *first) {
            self.failure = Some((seq, error));
        }
    }

    /// With nothing in flight, starts over at `seq`: no bits to keep.
    fn restart_at(&mut self, seq: u64) {
        self.started = true;
        self.watermark = seq;
        self.next = seq;
        self.word_base = align(seq);
        self.words.clear();
    }

    fn grow_to(&mut self, end: u64) {
        let needed = (end - self.word_base).div_ceil(WORD_BITS) as usize;
        if needed > self.words.len() {
            self.words.resize(needed, 0);
        }
    }

    fn set(&mut self, seq: u64) {
        let offset = seq - self.word_base;
        self.words[(offset / WORD_BITS) as usize] |= 1 << (offset % WORD_BITS);
    }

    /// Moves the watermark over acknowledged bits and pops words wholly below it.
    fn advance(&mut self) {
        while self.watermark < self.next {
            let offset = self.watermark - self.word_base;
            let Some(word) = self.words.get((offset / WORD_BITS) as usize) else {
                break;
            };
            let bit = offset % WORD_BITS;
            let ones = u64::from((!(word >> bit)).trailing_zeros()).min(WORD_BITS - bit);
            self.watermark = (self.watermark + ones).min(self.next);
            if bit + ones < WORD_BITS {
                break;
            }
        }
        while self.watermark - self.word_base >= WORD_BITS && !self.words.is_empty() {
            self.words.pop_front();
            self.word_base += WORD_BITS;
        }
    }
}

fn align(seq: u64) -> u64 {
    seq - seq % WORD_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker_with(first: u64, count: u64) -> AckTracker {
        let mut t = AckTracker::new(0);
        for seq in first..first + count {
            t.register(seq).unwrap();
        }
        t
    }

    #[test]
    fn starts_at_the_first_registered_seq() {
        let mut t = AckTracker::new(7);
        assert_eq!(t.watermark(), 7);
        t.register(1000).unwrap();
        assert_eq!((t.watermark(), t.next(), t.in_flight()), (1000, 1001, 1));
        t.ack(1000);
        assert_eq!((t.watermark(), t.in_flight()), (1001, 0));
    }

    #[test]
    fn out_of_order_acks_move_the_watermark_only_when_contiguous() {
        let mut t = tracker_with(10, 5);
        t.ack(12);
        t.ack(14);
        assert_eq!(t.watermark(), 10);
        t.ack(10);
        assert_eq!(t.watermark(), 11);
        t.ack(11);
        assert_eq!(t.watermark(), 13);
        t.ack(13);
        assert_eq!(t.watermark(), 15);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn failure_stops_the_watermark() {
        let mut t = tracker_with(0, 10);
        t.fail(4, SinkError::Config("late".into()));
        t.fail(3, SinkError::Config("first".into()));
        t.fail(6, SinkError::Config("later".into()));
        for seq in (0..10).filter(|s| ![3, 4, 6].contains(s)) {
            t.ack(seq);
        }
        assert_eq!(t.watermark(), 3);
        assert!(matches!(t.failure(), Some(SinkError::Config(m)) if m == "first"));
    }

    #[test]
    fn grows_and_wraps_over_many_words_in_reverse_order() {
        let mut t = tracker_with(37, 10_000);
        for seq in (37..10_037).rev() {
            assert_eq!(t.watermark(), 37);
            t.ack(seq);
        }
        assert_eq!(t.watermark(), 10_037);
        assert!(t.words.len() <= 1, "popped words below the watermark");
        // The ring keeps working after it emptied and wrapped.
        t.register(10_037).unwrap();
        t.register(10_038).unwrap();
        t.ack(10_038);
        t.ack(10_037);
        assert_eq!(t.watermark(), 10_039);
    }

    #[test]
    fn sliding_window_keeps_the_ring_small() {
        let mut t = AckTracker::new(0);
        for seq in 0..100_000u64 {
            t.register(seq).unwrap();
            if seq >= 500 {
                t.ack(seq - 500);
            }
        }
        assert_eq!(t.watermark(), 100_000 - 500);
        assert!(t.words.len() <= 10, "ring has {} words", t.words.len());
    }

    #[test]
    fn gaps_count_as_acknowledged() {
        let mut t = tracker_with(0, 2);
        t.register(5).unwrap();
        t.ack(1);
        assert_eq!(t.watermark(), 0);
        t.ack(0);
        assert_eq!(t.watermark(), 5);
        t.ack(5);
        assert_eq!(t.watermark(), 6);
        // A gap with nothing in flight jumps without filling bits.
        t.register(1_000_000_000).unwrap();
        assert_eq!(t.watermark(), 1_000_000_000);
        assert!(t.words.len() <= 1);
    }

    #[test]
    fn decreasing_seq_is_refused_and_stray_acks_ignored() {
        let mut t = tracker_with(10, 3);
        assert!(t.register(11).is_err());
        t.ack(3);
        t.ack(99);
        assert_eq!((t.watermark(), t.next()), (10, 13));
    }
}
