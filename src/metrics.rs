//! Prometheus metrics: names as constants, described once, and the exporter.
//!
//! Labels are low-cardinality (`task`, `shard`); table names never label a metric.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use crate::pipeline::stats::Stats;

pub const SOURCE_LAG_BYTES: &str = "tributary_source_lag_bytes";
pub const SOURCE_LAG_SECONDS: &str = "tributary_source_lag_seconds";
pub const SOURCE_CONFIRMED_LSN: &str = "tributary_source_confirmed_lsn";
pub const SNAPSHOT_ROWS: &str = "tributary_snapshot_rows";
pub const SNAPSHOT_ROWS_ESTIMATED: &str = "tributary_snapshot_rows_estimated";
pub const STREAM_EVENTS: &str = "tributary_stream_events_total";
pub const RECORDS_SENT: &str = "tributary_pipeline_records_sent_total";
pub const RECORDS_DURABLE: &str = "tributary_pipeline_records_durable_total";

/// Starts the Prometheus exporter on `addr` (`/metrics`) and describes every metric.
pub fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()?;
    describe();
    crate::sink::kafka::describe_metrics();
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        SOURCE_LAG_BYTES,
        "WAL bytes between the server's position and the last confirmed one"
    );
    describe_gauge!(
        SOURCE_LAG_SECONDS,
        "Seconds since the commit of the last stream event sent"
    );
    describe_gauge!(SOURCE_CONFIRMED_LSN, "The LSN last confirmed to PostgreSQL");
    describe_gauge!(SNAPSHOT_ROWS, "Snapshot rows sent");
    describe_gauge!(
        SNAPSHOT_ROWS_ESTIMATED,
        "Estimated snapshot rows of the selected tables"
    );
    describe_counter!(STREAM_EVENTS, "Stream change events sent");
    describe_counter!(RECORDS_SENT, "Records handed to the sink");
    describe_counter!(RECORDS_DURABLE, "Records the sink acknowledged");
}

/// Publishes a task's live figures (called at each checkpoint tick).
pub fn publish(task: &str, shard: u32, stats: &Stats) {
    let labels = [("task", task.to_owned()), ("shard", shard.to_string())];
    metrics::gauge!(SOURCE_LAG_BYTES, &labels).set(stats.lag_bytes() as f64);
    if let Some(s) = stats.lag_seconds() {
        metrics::gauge!(SOURCE_LAG_SECONDS, &labels).set(s);
    }
    metrics::gauge!(SOURCE_CONFIRMED_LSN, &labels)
        .set(stats.confirmed_lsn.load(Ordering::Relaxed) as f64);
    let (rows, estimated) = stats.snapshot_totals();
    metrics::gauge!(SNAPSHOT_ROWS, &labels).set(rows as f64);
    metrics::gauge!(SNAPSHOT_ROWS_ESTIMATED, &labels).set(estimated as f64);
    metrics::counter!(STREAM_EVENTS, &labels).absolute(stats.stream_events.load(Ordering::Relaxed));
    metrics::counter!(RECORDS_SENT, &labels).absolute(stats.records_sent.load(Ordering::Relaxed));
    metrics::counter!(RECORDS_DURABLE, &labels)
        .absolute(stats.records_durable.load(Ordering::Relaxed));
}
