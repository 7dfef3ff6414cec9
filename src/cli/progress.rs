//! Terminal progress: per-table snapshot rows done/total, stream lag and events/s, and the
//! commit-to-acknowledgement latency of the last minute's events (p50/p99; assumes the database's
//! clock agrees with ours), redrawn in place once a second. Shown only on a terminal (or when
//! asked): logs stay clean otherwise.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pipeline::latency::{self, Percentiles};
use crate::pipeline::stats::Stats;

/// Redraws the progress block every `every` until aborted.
pub fn spawn(stats: Arc<Stats>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = 0usize;
        let mut last = (Instant::now(), 0u64);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let events = stats.stream_events.load(Ordering::Relaxed);
            let rate =
                (events - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(0.001);
            last = (now, events);
            let block = render(&stats, rate);
            let mut err = std::io::stderr().lock();
            // Move up over the previous block and clear it.
            for _ in 0..lines {
                let _ = write!(err, "\x1b[1A\x1b[2K");
            }
            let _ = write!(err, "{block}");
            let _ = err.flush();
            lines = block.lines().count();
        }
    })
}

/// The progress block as text.
pub fn render(stats: &Stats, events_per_sec: f64) -> String {
    let mut out = String::new();
    if let Ok(tables) = stats.tables.lock() {
        for (name, t) in tables.iter() {
            let total = t.estimated.max(t.rows);
            let pct = if total == 0 {
                100.0
            } else {
                t.rows as f64 * 100.0 / total as f64
            };
            let state = if t.done { "done" } else { "reading" };
            out.push_str(&format!(
                "  snapshot {name}: {} / ~{} rows ({pct:.0}%) {state}\n",
                t.rows, total
            ));
        }
    }
    let lag_s = stats.lag_seconds();
    out.push_str(&format!(
        "  stream: {:.0} events/s, lag {} bytes{}, durable {} / sent {} records{}{}{}\n",
        events_per_sec,
        stats.lag_bytes(),
        lag_s.map(|s| format!(" / {s:.1} s")).unwrap_or_default(),
        stats.records_durable.load(Ordering::Relaxed),
        stats.records_sent.load(Ordering::Relaxed),
        stats
            .heartbeat_age_seconds()
            .map(|s| format!(", heartbeat {s:.1} s ago"))
            .unwrap_or_default(),
        stats
            .slot_retained()
            .map(|b| format!(", slot retains {} MiB", b >> 20))
            .unwrap_or_default(),
        stats
            .latency
            .percentiles(latency::now_us())
            .map(latency_text)
            .unwrap_or_default(),
    ));
    out
}

/// `, latency p50 12 ms / p99 1.5 s`.
fn latency_text(p: Percentiles) -> String {
    let one = |s: f64| {
        if s < 1.0 {
            format!("{:.0} ms", s * 1000.0)
        } else {
            format!("{s:.1} s")
        }
    };
    format!(", latency p50 {} / p99 {}", one(p.p50), one(p.p99))
}

/// A last summary line when the task stops.
pub fn summary(stats: &Stats) {
    let rows: u64 = stats
        .tables
        .lock()
        .map(|t| t.values().map(|t| t.rows).sum())
        .unwrap_or(0);
    eprintln!(
        "tributary: {} snapshot rows, {} stream events, {} records durable",
        rows,
        stats.stream_events.load(Ordering::Relaxed),
        stats.records_durable.load(Ordering::Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_line_shows_the_heartbeat_and_the_retained_wal_once_known() {
        let stats = Stats::default();
        let line = render(&stats, 0.0);
        assert!(
            !line.contains("heartbeat") && !line.contains("retains"),
            "{line}"
        );
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        stats
            .heartbeat_written_us
            .store(now_us - 2_000_000, Ordering::Relaxed);
        stats.set_slot_retained(3 << 20);
        let line = render(&stats, 0.0);
        assert!(line.contains(", heartbeat 2."), "{line}");
        assert!(line.contains(", slot retains 3 MiB"), "{line}");
    }

    #[test]
    fn the_stream_line_shows_the_latency_of_recent_events_once_any_is_acknowledged() {
        let stats = Stats::default();
        assert!(!render(&stats, 0.0).contains("latency"));
        let now = latency::now_us();
        stats.latency.record(now, now - 12_000, 98);
        stats.latency.record(now, now - 1_500_000, 2);
        let line = render(&stats, 0.0);
        assert!(line.contains(", latency p50 12 ms / p99 1.5 s\n"), "{line}");
    }
}
