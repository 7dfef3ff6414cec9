//! Rate limits for a task (DTS's full and incremental RPS limits): the runner waits before
//! taking more input once it is ahead of the allowed rate. Applied per batch, never per row.

use std::time::Duration;

use tokio::time::Instant;

/// The task's rate limits, changeable while it runs (`migration.snapshot_rows_per_second`,
/// `migration.stream_events_per_second`; `None` is unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub snapshot_rows_per_second: Option<u64>,
    pub stream_events_per_second: Option<u64>,
}

impl Limits {
    pub fn of(spec: &crate::config::TaskSpec) -> Limits {
        Limits {
            snapshot_rows_per_second: spec.migration.snapshot_rows_per_second,
            stream_events_per_second: spec.migration.stream_events_per_second,
        }
    }
}

/// Allows `per_second` units on average, measured since the limiter started (on tokio's
/// clock, so paused-clock tests see it).
#[derive(Debug)]
pub struct Throttle {
    per_second: Option<u64>,
    started: Instant,
    used: u64,
}

impl Throttle {
    pub fn new(per_second: Option<u64>) -> Throttle {
        Throttle {
            per_second: per_second.filter(|r| *r > 0),
            started: Instant::now(),
            used: 0,
        }
    }

    /// Records `n` units; returns how long to wait to stay within the rate.
    pub fn take(&mut self, n: u64) -> Duration {
        let Some(rate) = self.per_second else {
            return Duration::ZERO;
        };
        self.used += n;
        let due = Duration::from_secs_f64(self.used as f64 / rate as f64);
        due.saturating_sub(self.started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_ahead_of_the_rate() {
        assert_eq!(Throttle::new(None).take(1_000_000), Duration::ZERO);
        let mut t = Throttle::new(Some(1000));
        let wait = t.take(500);
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
    }
}
