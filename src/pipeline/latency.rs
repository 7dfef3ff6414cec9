//! End-to-end latency of stream events over a recent window: from the transaction's commit
//! (the database's clock) to the sink's acknowledgement (ours), for the progress line's
//! p50/p99. The Prometheus histogram (`crate::metrics::EVENT_LATENCY`) keeps the whole run.
//!
//! The runner records one sample per acknowledged transaction span, weighted by its event
//! count, once per acknowledgement batch: a lock and no allocation per sample, none per event.
//! Latency assumes the database's and this host's clocks agree (NTP); a source clock ahead of
//! ours reads as 0.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How far back the percentiles look.
pub const WINDOW_US: i64 = 60_000_000;
/// Samples kept at most (older ones are dropped first, also inside the window).
const MAX_SAMPLES: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When the acknowledgement was seen (Unix µs).
    at_us: i64,
    latency_us: i64,
    events: u64,
}

/// Recent latency samples, shared between the runner and the progress display.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: Mutex<VecDeque<Sample>>,
}

/// The window's percentiles, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

impl LatencyWindow {
    /// `events` events committed at `commit_us` were acknowledged at `now_us`.
    pub fn record(&self, now_us: i64, commit_us: i64, events: u64) {
        let Ok(mut samples) = self.samples.lock() else {
            return;
        };
        if samples.len() == MAX_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at_us: now_us,
            latency_us: (now_us - commit_us).max(0),
            events,
        });
    }

    /// p50 and p99 over the events acknowledged in the last `WINDOW_US` before `now_us`;
    /// `None` when there were none. Allocates: called by the display once a second.
    pub fn percentiles(&self, now_us: i64) -> Option<Percentiles> {
        let mut recent: Vec<(i64, u64)> = {
            let samples = self.samples.lock().ok()?;
            samples
                .iter()
                .filter(|s| now_us - s.at_us <= WINDOW_US)
                .map(|s| (s.latency_us, s.events))
                .collect()
        };
        recent.sort_unstable_by_key(|(latency, _)| *latency);
        let total: u64 = recent.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let at = |q: f64| {
            let rank = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            for (latency, n) in &recent {
                seen += n;
                if seen >= rank {
                    return *latency as f64 / 1e6;
                }
            }
            recent.last().map_or(0.0, |(l, _)| *l as f64 / 1e6)
        };
        Some(Percentiles {
            p50: at(0.50),
            p99: at(0.99),
        })
    }
}

/// Now as Unix µs (0 if the clock is before 1970).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn percentiles_weigh_each_sample_by_its_events() {
        let w = LatencyWindow::default();
        let now = 1000 * S;
        assert_eq!(w.percentiles(now), None);
        // 98 events at 10 ms, 1 at 200 ms, 1 at 2 s: p50 10 ms, p99 200 ms.
        w.record(now, now - 10_000, 98);
        w.record(now, now - 200_000, 1);
        w.record(now, now - 2 * S, 1);
        let p = w.percentiles(now).unwrap();
        assert_eq!((p.p50, p.p99), (0.010, 0.2));
        // One more slow event moves p99 to the slowest.
        w.record(now, now - 2 * S, 1);
        assert_eq!(w.percentiles(now).unwrap().p99, 2.0);
    }

    #[test]
    fn old_samples_leave_the_window_and_future_commits_read_as_zero() {
        let w = LatencyWindow::default();
        let now = 1000 * S;
        w.record(now - WINDOW_US - 1, now - WINDOW_US - 5 * S, 1000);
        w.record(now, now + S, 1);
        let p = w.percentiles(now).unwrap();
        assert_eq!((p.p50, p.p99), (0.0, 0.0), "the old slow sample is gone");
        assert_eq!(w.percentiles(now + WINDOW_US + 1), None);
    }

    #[test]
    fn the_window_keeps_a_bounded_number_of_samples() {
        let w = LatencyWindow::default();
        for i in 0..(MAX_SAMPLES as i64 + 10) {
            w.record(S + i, S, 1);
        }
        assert_eq!(w.samples.lock().unwrap().len(), MAX_SAMPLES);
        assert_eq!(w.samples.lock().unwrap()[0].latency_us, 10);
    }
}
