//! How long a shard retries (DTS's windows): a streak of failed attempts is retried with
//! back-off while it is younger than the window of its latest error's kind, then the shard
//! fails (transient, so the cluster resumes it later within `retry.auto_resume_window`).
//!
//! ```text
//!  attempt fails ─► ran well? ─ yes ─► new streak
//!                       │ no
//!                       ▼
//!         now - streak start < window(connection | other)? ─ yes ─► back-off, next attempt
//!                       │ no
//!                       ▼
//!                 the shard fails (Transient)
//! ```
//! Time is tokio's clock, so tests run whole windows on a paused clock.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::RetrySpec;

/// Back-off between attempts.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// An attempt that streamed this long without failing ran well even if it saved nothing (an
/// idle source saves no checkpoint).
const STABLE_RUN: Duration = Duration::from_secs(60);

/// What one attempt got to, for deciding whether it ended a streak of failures.
#[derive(Debug, Default)]
pub(super) struct AttemptReport {
    /// When the pipeline started running (the source and the sink set up).
    pub running_since: Option<Instant>,
    /// Checkpoints the pipeline saved.
    pub saves: u64,
}

impl AttemptReport {
    /// Whether the attempt ran successfully past its start: it saved progress, or ran long.
    pub fn ran_well(&self) -> bool {
        self.saves > 0
            || self
                .running_since
                .is_some_and(|t| t.elapsed() >= STABLE_RUN)
    }
}

/// The current streak of failed attempts.
pub(super) struct RetryStreak {
    connection_window: Duration,
    other_window: Duration,
    since: Option<Instant>,
    backoff: Duration,
}

impl RetryStreak {
    pub fn new(spec: &RetrySpec) -> RetryStreak {
        RetryStreak {
            connection_window: spec.connection_window,
            other_window: spec.other_window,
            since: None,
            backoff: RETRY_MIN,
        }
    }

    /// An attempt ran well: the next failure starts a new streak.
    pub fn reset(&mut self) {
        self.since = None;
        self.backoff = RETRY_MIN;
    }

    /// The wait before the next attempt after a failure (`connection`: the source or sink
    /// could not be reached), or `None` once the streak has lasted its window.
    pub fn next(&mut self, connection: bool) -> Option<Duration> {
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        let window = if connection {
            self.connection_window
        } else {
            self.other_window
        };
        if now.duration_since(since) >= window {
            return None;
        }
        let wait = self.backoff;
        self.backoff = (wait * 2).min(RETRY_MAX);
        Some(wait)
    }

    /// How long the streak has lasted.
    pub fn age(&self) -> Duration {
        self.since.map_or(Duration::ZERO, |s| s.elapsed())
    }
}
