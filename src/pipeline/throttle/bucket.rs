//! One rate limit as GCRA (a token bucket kept as one instant): the time by which everything
//! charged so far is paid for at the limit's rate.
//!
//! Hand-written rather than `governor`: a charge here may be any size (a 512-row batch, a
//! 5 MB record) and is paid afterwards as a wait, where `governor` refuses a charge above its
//! burst (`InsufficientCapacity`); a live change keeps what is owed (governor's quota cannot
//! change: a new limiter starts afresh, issue #273); and it runs on tokio's clock, so tests
//! drive it with a paused clock.
//!
//! ```text
//!   charge n at `now`:  paid = max(paid, now - CREDIT) + n / rate
//!   owed = paid - now   (the caller waits it out once it exceeds SLACK)
//! ```
//! `CREDIT` lets a caller that overslept or was starved catch up, so lateness does not lower
//! the average; it is also the most that a limit idle mid-run lets through at once (a limit
//! not yet charged has none: a snapshot starts at its rate, not with a burst).

use std::time::Duration;

use tokio::time::Instant;

/// How far behind the clock the paid-up point may fall: a runner starved or woken late for up
/// to this long makes it up (on a loaded machine stalls of 100 ms happen), and a limit idle
/// mid-run lets this much of its rate through at once.
pub const CREDIT: Duration = Duration::from_millis(200);

/// A limit of `rate` units per second.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    /// `None` until the first charge: a limit waiting for its first unit has no credit.
    paid: Option<Instant>,
}

impl Bucket {
    pub fn new(rate: f64) -> Bucket {
        Bucket { rate, paid: None }
    }

    /// Charges `n` units at `now`.
    pub fn charge(&mut self, n: f64, now: Instant) {
        let from = match self.paid {
            Some(paid) => paid.max(now.checked_sub(CREDIT).unwrap_or(now)),
            None => now,
        };
        self.paid = Some(from + Duration::from_secs_f64(n / self.rate));
    }

    /// How long from `now` until everything charged is paid for.
    pub fn owed(&self, now: Instant) -> Duration {
        self.paid
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now))
    }

    /// Changes the rate, keeping what is owed (or the credit) in units: 1,000 rows owed at
    /// 100/s (10 s) are 1 s at 1,000/s.
    pub fn set_rate(&mut self, rate: f64, now: Instant) {
        if let Some(paid) = self.paid {
            let units = if paid >= now {
                (paid - now).as_secs_f64() * self.rate
            } else {
                -((now - paid).as_secs_f64() * self.rate)
            };
            let at = Duration::from_secs_f64(units.abs() / rate);
            self.paid = Some(if units >= 0.0 { now + at } else { now - at });
        }
        self.rate = rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_charge_is_owed_at_the_rate_and_paid_by_waiting() {
        let now = Instant::now();
        let mut b = Bucket::new(1000.0);
        b.charge(500.0, now);
        assert_eq!(b.owed(now), Duration::from_millis(500));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(b.owed(Instant::now()), Duration::from_millis(300));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(b.owed(Instant::now()), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn lateness_is_made_up_but_idleness_buys_no_more_than_the_credit() {
        let start = Instant::now();
        let mut b = Bucket::new(100.0);
        b.charge(10.0, start);
        // Woken 30 ms late: the next 3 units are already paid for.
        tokio::time::advance(Duration::from_millis(130)).await;
        let now = Instant::now();
        b.charge(3.0, now);
        assert_eq!(b.owed(now), Duration::ZERO);
        // Idle for a minute: only CREDIT's worth (20 units at 100/s) passes without owing.
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        b.charge(CREDIT.as_secs_f64() * 100.0, now);
        assert_eq!(b.owed(now), Duration::ZERO);
        b.charge(1.0, now);
        assert_eq!(b.owed(now), Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_waiting_for_its_first_unit_has_no_credit() {
        let mut b = Bucket::new(100.0);
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        b.charge(1.0, now);
        assert_eq!(b.owed(now), Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_rate_keeps_what_is_owed_in_units() {
        let now = Instant::now();
        let mut b = Bucket::new(100.0);
        b.charge(1000.0, now);
        assert_eq!(b.owed(now), Duration::from_secs(10));
        b.set_rate(1000.0, now);
        assert_eq!(b.owed(now), Duration::from_secs(1));
        b.set_rate(50.0, now);
        assert_eq!(b.owed(now), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn the_average_over_many_charges_is_the_rate() {
        let start = Instant::now();
        let mut b = Bucket::new(250.0);
        for _ in 0..1000 {
            let now = Instant::now();
            b.charge(7.0, now);
            tokio::time::advance(b.owed(now)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        assert!((secs - 28.0).abs() < 0.01, "7,000 units at 250/s: {secs} s");
    }
}
