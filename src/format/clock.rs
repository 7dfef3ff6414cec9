//! The processing-time clock behind time-of-writing fields (Debezium `ts_ms`, Canal `ts`,
//! SharePlex `posttime`, DTS Avro `readerThroughoutTime`), injectable so that
//! golden tests can reproduce Debezium's output exactly (`shared/spec/FORMATS.md`, "All formats").

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send {
    /// Nanoseconds since the Unix epoch.
    fn now_unix_nanos(&self) -> i128;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> i128 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        }
    }
}

/// A clock that always reads the same instant (tests, replays).
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedClock(pub i128);

impl Clock for FixedClock {
    fn now_unix_nanos(&self) -> i128 {
        self.0
    }
}

/// A shared clock whose reading can be changed from outside (tests with several events).
#[derive(Clone, Debug, Default)]
pub struct ManualClock(pub std::sync::Arc<std::sync::atomic::AtomicI64>);

impl ManualClock {
    pub fn set(&self, unix_nanos: i64) {
        self.0
            .store(unix_nanos, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> i128 {
        i128::from(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix_nanos() > 1_577_836_800_000_000_000);
    }

    #[test]
    fn manual_clock_follows_set() {
        let c = ManualClock::default();
        let reader = c.clone();
        c.set(42);
        assert_eq!(reader.now_unix_nanos(), 42);
        assert_eq!(FixedClock(7).now_unix_nanos(), 7);
    }
}
