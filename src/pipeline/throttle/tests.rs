//! The runner's throttles on tokio's paused clock: each limit holds, the phases are apart, and
//! a live change applies at once, even to a wait in progress.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::*;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

/// Seconds that `n` takes of `rows` rows and `bytes` bytes each take on `meter`.
async fn seconds(t: &mut Throttles, meter: Meter, n: u32, rows: u64, bytes: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        t.take(meter, rows, bytes).await;
    }
    start.elapsed().as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn rows_per_second_holds_row_by_row_and_per_batch() {
    let mut t = Throttles::new(limits(|l| l.full_rows = Some(1000.0)), None, None);
    let s = seconds(&mut t, Meter::Full, 3000, 1, 0).await;
    // The last row is charged, not waited for: within SLACK of 3 s.
    assert!((2.98..=3.0).contains(&s), "3,000 rows at 1,000/s: {s}");
    let s = seconds(&mut t, Meter::Full, 10, 512, 0).await;
    assert!((5.1..=5.13).contains(&s), "5,120 rows at 1,000/s: {s}");
}

#[tokio::test(start_paused = true)]
async fn bytes_per_second_holds_and_a_record_larger_than_a_second_is_paid_after() {
    let mut t = Throttles::new(
        limits(|l| l.incremental_bytes = Some(0.5 * crate::config::BYTES_PER_MB)),
        None,
        None,
    );
    let s = seconds(&mut t, Meter::Incremental, 100, 1, 10_000).await;
    assert!((1.99..=2.0).contains(&s), "1 MB at 0.5 MB/s: {s}");
    let s = seconds(&mut t, Meter::Incremental, 1, 1, 2_000_000).await;
    assert!(
        (3.99..=4.0).contains(&s),
        "one 2 MB record at 0.5 MB/s: {s}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_phase_has_its_own_limits_and_queries_count_against_the_full_phase() {
    let mut t = Throttles::new(
        limits(|l| {
            l.full_rows = Some(100.0);
            l.full_queries = Some(4.0);
        }),
        None,
        None,
    );
    let s = seconds(&mut t, Meter::Incremental, 10_000, 1, 100).await;
    assert_eq!(s, 0.0, "the stream is unlimited");
    let start = Instant::now();
    for _ in 0..8 {
        t.take_query().await;
    }
    let s = start.elapsed().as_secs_f64();
    assert!((1.99..=2.0).contains(&s), "8 queries at 4/s: {s}");
}

#[tokio::test(start_paused = true)]
async fn a_live_change_applies_at_once_even_during_a_wait() {
    let first = limits(|l| l.incremental_rows = Some(10.0));
    let (tx, rx) = watch::channel(first);
    let mut t = Throttles::new(first, Some(rx), None);
    let start = Instant::now();
    let changer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send_modify(|l| l.incremental_rows = Some(1000.0));
        tx
    });
    // 100 rows at 10/s would take 10 s: after 1 s the other 90 owe 0.09 s at 1,000/s.
    t.take(Meter::Incremental, 100, 0).await;
    let s = start.elapsed().as_secs_f64();
    assert!((1.08..=1.1).contains(&s), "{s}");
    let tx = changer.await.unwrap();
    let s = seconds(&mut t, Meter::Incremental, 2000, 1, 0).await;
    assert!((1.98..=2.0).contains(&s), "2,000 rows at 1,000/s: {s}");
    tx.send_modify(|l| l.incremental_rows = None);
    let s = seconds(&mut t, Meter::Incremental, 100_000, 1, 0).await;
    assert_eq!(s, 0.0, "the limit was removed");
}

#[tokio::test(start_paused = true)]
async fn a_limit_set_live_on_an_unlimited_shard_applies_from_the_next_item() {
    let (tx, rx) = watch::channel(Limits::default());
    let mut t = Throttles::new(Limits::default(), Some(rx), None);
    let s = seconds(&mut t, Meter::Full, 100_000, 1, 100).await;
    assert_eq!(s, 0.0, "no limit yet");
    tx.send_modify(|l| l.full_rows = Some(100.0));
    let s = seconds(&mut t, Meter::Full, 200, 1, 100).await;
    assert!((1.98..=2.0).contains(&s), "200 rows at 100/s: {s}");
}
