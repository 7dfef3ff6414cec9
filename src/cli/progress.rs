//! Terminal progress: per-table snapshot rows done/total, the snapshot's rate and ETA, stream
//! lag and events/s, and the
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
        let mut last = (Instant::now(), 0u64, 0u64);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let events = stats.stream_events.load(Ordering::Relaxed);
            let (rows, _) = stats.snapshot_totals();
            let secs = now.duration_since(last.0).as_secs_f64().max(0.001);
            let rates = Rates {
                events: events.saturating_sub(last.1) as f64 / secs,
                rows: rows.saturating_sub(last.2) as f64 / secs,
            };
            last = (now, events, rows);
            let block = render(&stats, rates);
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

/// Rates over the last redraw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Stream events per second.
    pub events: f64,
    /// Snapshot rows per second.
    pub rows: f64,
}

/// The progress block as text.
pub fn render(stats: &Stats, rates: Rates) -> String {
    let events_per_sec = rates.events;
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
    out.push_str(&snapshot_line(stats, rates.rows));
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

/// While a table is read: `  snapshot: 12000 / ~100000 rows (12%), 5000 rows/s, ETA 18 s`
/// (the ETA from the rows estimated left at the last redraw's rate).
fn snapshot_line(stats: &Stats, rows_per_sec: f64) -> String {
    let Ok(tables) = stats.tables.lock() else {
        return String::new();
    };
    if tables.values().all(|t| t.done) {
        return String::new();
    }
    let (rows, total) = stats_totals(&tables);
    let left: u64 = tables
        .values()
        .filter(|t| !t.done)
        .map(|t| t.estimated.saturating_sub(t.rows))
        .sum();
    let pct = if total == 0 {
        0.0
    } else {
        rows as f64 * 100.0 / total as f64
    };
    let eta = if rows_per_sec >= 1.0 {
        format!("ETA {}", duration_text(left as f64 / rows_per_sec))
    } else {
        "ETA unknown".into()
    };
    format!("  snapshot: {rows} / ~{total} rows ({pct:.0}%), {rows_per_sec:.0} rows/s, {eta}\n")
}

fn stats_totals(
    tables: &std::collections::BTreeMap<String, crate::pipeline::stats::TableStats>,
) -> (u64, u64) {
    tables.values().fold((0, 0), |(r, e), t| {
        (r + t.rows, e + t.estimated.max(t.rows))
    })
}

/// `42 s`, `3 min 20 s`, `2 h 5 min`.
fn duration_text(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
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
        let line = render(&stats, Rates::default());
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
        let line = render(&stats, Rates::default());
        assert!(line.contains(", heartbeat 2."), "{line}");
        assert!(line.contains(", slot retains 3 MiB"), "{line}");
    }

    #[test]
    fn the_stream_line_shows_the_latency_of_recent_events_once_any_is_acknowledged() {
        let stats = Stats::default();
        assert!(!render(&stats, Rates::default()).contains("latency"));
        let now = latency::now_us();
        stats.latency.record(now, now - 12_000, 98);
        stats.latency.record(now, now - 1_500_000, 2);
        let line = render(&stats, Rates::default());
        assert!(line.contains(", latency p50 12 ms / p99 1.5 s\n"), "{line}");
    }

    #[test]
    fn a_snapshot_in_progress_shows_rows_done_of_the_total_and_an_eta() {
        let stats = Stats::default();
        stats.table("public.a", |t| {
            t.rows = 1_000;
            t.estimated = 1_000;
            t.done = true;
        });
        stats.table("public.b", |t| {
            t.rows = 2_000;
            t.estimated = 11_000;
        });
        let rates = Rates {
            events: 0.0,
            rows: 500.0,
        };
        let line = render(&stats, rates);
        assert!(
            line.contains("  snapshot: 3000 / ~12000 rows (25%), 500 rows/s, ETA 18 s\n"),
            "{line}"
        );
        assert!(render(&stats, Rates::default()).contains("ETA unknown"));
        stats.table("public.b", |t| t.done = true);
        assert!(!render(&stats, rates).contains("ETA"), "done: no ETA");
        assert_eq!(duration_text(200.0), "3 min 20 s");
        assert_eq!(duration_text(7_500.0), "2 h 5 min");
    }
}
