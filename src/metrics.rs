//! Prometheus metrics: names as constants, described once, the exporter, and the per-shard
//! handles every component records through.
//!
//! Every metric is labelled `task` and `shard` (low cardinality; table names never label a
//! metric), so several shards and tasks in one process stay apart. Components get a
//! `ShardLabels` when they are built and resolve their handles once, so hot paths do no
//! registry lookup.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};

use crate::pipeline::stats::Stats;

pub const SOURCE_LAG_BYTES: &str = "tributary_source_lag_bytes";
pub const SOURCE_LAG_SECONDS: &str = "tributary_source_lag_seconds";
pub const SOURCE_CONFIRMED_POSITION: &str = "tributary_source_confirmed_position";
pub const SNAPSHOT_ROWS: &str = "tributary_snapshot_rows";
pub const SNAPSHOT_ROWS_ESTIMATED: &str = "tributary_snapshot_rows_estimated";
pub const STREAM_EVENTS: &str = "tributary_stream_events_total";
pub const RECORDS_SENT: &str = "tributary_pipeline_records_sent_total";
pub const RECORDS_DURABLE: &str = "tributary_pipeline_records_durable_total";
/// Per stream event: seconds from its transaction's commit (the database's clock) to the sink's
/// acknowledgement (ours); assumes synchronised clocks.
pub const EVENT_LATENCY: &str = "tributary_pipeline_event_latency_seconds";
/// `EVENT_LATENCY`'s buckets: 1 ms to 60 s.
pub const EVENT_LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
pub const SINK_SENT: &str = "tributary_sink_sent_records_total";
pub const SINK_ACKED: &str = "tributary_sink_acked_records_total";
pub const SINK_COMMITS: &str = "tributary_sink_transactions_committed_total";
pub const SINK_IN_FLIGHT: &str = "tributary_sink_in_flight_records";
pub const SINK_ERRORS: &str = "tributary_sink_errors_total";
pub const FORMAT_UNREPRESENTABLE: &str = "tributary_format_unrepresentable_values_total";
pub const FORMAT_UNAVAILABLE: &str = "tributary_format_unavailable_values_total";
pub const FORMAT_SPILLED: &str = "tributary_format_spilled_transactions_total";
pub const HEARTBEAT_LATENCY: &str = "tributary_heartbeat_latency_seconds";
pub const SLOT_RETAINED_WAL: &str = "tributary_slot_retained_wal_bytes";
pub const DDL_UNCAPTURED: &str = "tributary_ddl_uncaptured_changes_total";
pub const DDL_CAPTURE_ACTIVE: &str = "tributary_ddl_capture_active";
pub const ORACLE_MINED_SCN: &str = "tributary_oracle_mined_scn";
pub const ORACLE_OPEN_TRANSACTIONS: &str = "tributary_oracle_open_transactions";
pub const ORACLE_BUFFERED_BYTES: &str = "tributary_oracle_buffered_bytes";
pub const THROTTLE_ROWS_PER_SECOND: &str = "tributary_throttle_rows_per_second";
pub const THROTTLE_BYTES_PER_SECOND: &str = "tributary_throttle_bytes_per_second";
pub const THROTTLE_SOURCE_QUERIES_PER_SECOND: &str = "tributary_throttle_source_queries_per_second";
pub const THROTTLE_WAIT_SECONDS: &str = "tributary_throttle_wait_seconds_total";
pub const ORACLE_SPILLED_TRANSACTIONS: &str = "tributary_oracle_spilled_transactions_total";
pub const SNAPSHOT_COMPLETE: &str = "tributary_snapshot_complete";
pub const SNAPSHOT_CHUNKS: &str = "tributary_snapshot_chunk_groups_total";
pub const SNAPSHOT_CHUNK_RETRIES: &str = "tributary_snapshot_chunk_retries_total";
pub const SNAPSHOT_LANE_RANGES: &str = "tributary_snapshot_lane_ranges_total";
pub const SNAPSHOT_LANE_ROWS: &str = "tributary_snapshot_lane_rows_total";
pub const SNAPSHOT_LANE_FAILURES: &str = "tributary_snapshot_lane_failures_total";

/// The labels of one shard's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardLabels {
    pub task: String,
    pub shard: u32,
}

impl ShardLabels {
    pub fn new(task: &str, shard: u32) -> ShardLabels {
        ShardLabels {
            task: task.to_owned(),
            shard,
        }
    }

    fn pairs(&self) -> [(&'static str, String); 2] {
        [
            ("task", self.task.clone()),
            ("shard", self.shard.to_string()),
        ]
    }

    pub fn counter(&self, name: &'static str) -> Counter {
        metrics::counter!(name, &self.pairs())
    }

    pub fn gauge(&self, name: &'static str) -> Gauge {
        metrics::gauge!(name, &self.pairs())
    }

    /// A gauge with one more label.
    pub fn gauge_with(&self, name: &'static str, key: &'static str, value: &'static str) -> Gauge {
        let [t, s] = self.pairs();
        metrics::gauge!(name, &[t, s, (key, value.to_owned())])
    }

    pub fn histogram(&self, name: &'static str) -> Histogram {
        metrics::histogram!(name, &self.pairs())
    }

    /// A counter with one more label.
    pub fn counter_with(
        &self,
        name: &'static str,
        key: &'static str,
        value: &'static str,
    ) -> Counter {
        let [t, s] = self.pairs();
        metrics::counter!(name, &[t, s, (key, value.to_owned())])
    }
}

/// Starts the Prometheus exporter on `addr` (`/metrics`) and describes every metric.
pub fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    exporter()?.with_http_listener(addr).install()?;
    describe();
    Ok(())
}

/// The exporter's builder: histograms as buckets (the exporter's default is a summary).
pub fn exporter(
) -> Result<metrics_exporter_prometheus::PrometheusBuilder, metrics_exporter_prometheus::BuildError>
{
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(EVENT_LATENCY.to_owned()),
        &EVENT_LATENCY_BUCKETS,
    )
}

/// Describes every metric to the installed recorder; call once after installing it.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        SOURCE_LAG_BYTES,
        "How far the confirmed position trails the server's, in the source's log units (PostgreSQL: WAL bytes)"
    );
    describe_gauge!(
        SOURCE_LAG_SECONDS,
        "Seconds since the commit of the last stream event sent"
    );
    describe_gauge!(
        SOURCE_CONFIRMED_POSITION,
        "The resume position last saved and confirmed to the source (PostgreSQL: LSN as a number)"
    );
    describe_gauge!(SNAPSHOT_ROWS, "Snapshot rows sent");
    describe_gauge!(
        SNAPSHOT_ROWS_ESTIMATED,
        "Estimated snapshot rows of the selected tables"
    );
    describe_counter!(STREAM_EVENTS, "Stream change events sent");
    describe_counter!(RECORDS_SENT, "Records handed to the sink");
    describe_counter!(RECORDS_DURABLE, "Records the sink acknowledged");
    describe_histogram!(
        EVENT_LATENCY,
        metrics::Unit::Seconds,
        "Per stream event: seconds from its transaction's commit (database clock) to the sink's acknowledgement (this host's clock; assumes synchronised clocks)"
    );
    describe_counter!(SINK_SENT, "Records handed to the Kafka producer");
    describe_counter!(SINK_ACKED, "Records acknowledged by Kafka");
    describe_counter!(
        SINK_COMMITS,
        "Exactly-once: Kafka transactions committed, each with the shard's checkpoint record"
    );
    describe_gauge!(SINK_IN_FLIGHT, "Records sent and not yet acknowledged");
    describe_counter!(SINK_ERRORS, "Sink errors by kind");
    describe_counter!(
        FORMAT_UNREPRESENTABLE,
        "Values the format cannot represent, written as null"
    );
    describe_counter!(
        FORMAT_UNAVAILABLE,
        "Values the source did not send (unchanged TOAST, a key-only old row): Debezium's placeholder, left out of Canal JSON rows"
    );
    describe_counter!(
        FORMAT_SPILLED,
        "Held transactions (SharePlex JSON) that outgrew the memory budget and spilled to disk"
    );
    describe_gauge!(
        HEARTBEAT_LATENCY,
        "Seconds since the newest heartbeat that came through the stream was written (interval plus end-to-end latency; grows while none arrives)"
    );
    describe_gauge!(
        SLOT_RETAINED_WAL,
        "WAL the shard's replication slot retains (pg_current_wal_lsn() - restart_lsn), in bytes"
    );
    describe_counter!(
        DDL_UNCAPTURED,
        "Column changes seen in the stream with no captured DDL (DDL under session_replication_role = replica, or a lost capture)"
    );
    describe_gauge!(
        ORACLE_MINED_SCN,
        "Oracle: the SCN through which redo has been mined (the end of the last LogMiner window)"
    );
    describe_gauge!(
        ORACLE_OPEN_TRANSACTIONS,
        "Oracle: transactions mined and not yet committed or rolled back"
    );
    describe_gauge!(
        ORACLE_BUFFERED_BYTES,
        "Oracle: bytes of open transactions' rows held in memory (past the budget the largest spills)"
    );
    describe_gauge!(
        SNAPSHOT_COMPLETE,
        "1 once every snapshot row is sent (a chunked snapshot runs beside the stream), else 0"
    );
    describe_counter!(
        SNAPSHOT_CHUNKS,
        "Groups of chunks a chunked snapshot read (one snapshot each)"
    );
    describe_counter!(
        SNAPSHOT_CHUNK_RETRIES,
        "Chunk groups read again because their snapshot counted as running a transaction the stream had already sent"
    );
    describe_counter!(
        SNAPSHOT_LANE_RANGES,
        "Ranges of another worker's chunked snapshot this worker read and wrote as a lane"
    );
    describe_counter!(
        SNAPSHOT_LANE_ROWS,
        "Rows of another worker's chunked snapshot this worker read and wrote as a lane"
    );
    describe_counter!(
        SNAPSHOT_LANE_FAILURES,
        "Ranges handed to another worker that failed and were read by the shard's owner after the fence"
    );
    describe_counter!(
        ORACLE_SPILLED_TRANSACTIONS,
        "Oracle: open transactions spilled to disk past the memory budget"
    );
    describe_gauge!(
        THROTTLE_ROWS_PER_SECOND,
        "The shard's share of the task's rows-per-second limit, by phase (0: unlimited)"
    );
    describe_gauge!(
        THROTTLE_BYTES_PER_SECOND,
        "The shard's share of the task's mb_per_second limit in bytes per second, by phase (0: unlimited)"
    );
    describe_gauge!(
        THROTTLE_SOURCE_QUERIES_PER_SECOND,
        "The shard's share of the task's full.source_qps limit (0: unlimited)"
    );
    describe_gauge!(
        THROTTLE_WAIT_SECONDS,
        "Seconds the shard waited on its throttle, by phase (only grows; a gauge because it counts fractions)"
    );
    describe_gauge!(
        DDL_CAPTURE_ACTIVE,
        "1 while the task's DDL capture event trigger is installed and enabled, 0 once it is lost"
    );
}

/// The runner's per-shard handles, resolved once.
pub struct ShardMetrics {
    lag_bytes: Gauge,
    lag_seconds: Gauge,
    confirmed: Gauge,
    snapshot_rows: Gauge,
    snapshot_estimated: Gauge,
    snapshot_complete: Gauge,
    stream_events: Counter,
    records_sent: Counter,
    records_durable: Counter,
    event_latency: Histogram,
    labels: ShardLabels,
    /// Registered at the first reading: a task without heartbeat exports no latency.
    heartbeat: OnceLock<Gauge>,
    slot_retained: OnceLock<Gauge>,
}

impl ShardMetrics {
    pub fn new(labels: &ShardLabels) -> ShardMetrics {
        ShardMetrics {
            lag_bytes: labels.gauge(SOURCE_LAG_BYTES),
            lag_seconds: labels.gauge(SOURCE_LAG_SECONDS),
            confirmed: labels.gauge(SOURCE_CONFIRMED_POSITION),
            snapshot_rows: labels.gauge(SNAPSHOT_ROWS),
            snapshot_estimated: labels.gauge(SNAPSHOT_ROWS_ESTIMATED),
            snapshot_complete: labels.gauge(SNAPSHOT_COMPLETE),
            stream_events: labels.counter(STREAM_EVENTS),
            records_sent: labels.counter(RECORDS_SENT),
            records_durable: labels.counter(RECORDS_DURABLE),
            event_latency: labels.histogram(EVENT_LATENCY),
            labels: labels.clone(),
            heartbeat: OnceLock::new(),
            slot_retained: OnceLock::new(),
        }
    }

    pub fn labels(&self) -> &ShardLabels {
        &self.labels
    }

    /// Records `events` stream events acknowledged `seconds` after their commit.
    pub fn event_latency(&self, seconds: f64, events: u64) {
        self.event_latency
            .record_many(seconds, usize::try_from(events).unwrap_or(usize::MAX));
    }

    /// Publishes a shard's live figures (the runner calls it at every checkpoint tick).
    pub fn publish(&self, stats: &Stats) {
        self.lag_bytes.set(stats.lag_bytes() as f64);
        if let Some(s) = stats.lag_seconds() {
            self.lag_seconds.set(s);
        }
        self.confirmed
            .set(stats.confirmed_point.load(Ordering::Relaxed) as f64);
        let (rows, estimated) = stats.snapshot_totals();
        self.snapshot_rows.set(rows as f64);
        self.snapshot_estimated.set(estimated as f64);
        let complete = stats.snapshot_complete.load(Ordering::Relaxed);
        self.snapshot_complete.set(if complete { 1.0 } else { 0.0 });
        self.stream_events
            .absolute(stats.stream_events.load(Ordering::Relaxed));
        self.records_sent
            .absolute(stats.records_sent.load(Ordering::Relaxed));
        self.records_durable
            .absolute(stats.records_durable.load(Ordering::Relaxed));
        if let Some(s) = stats.heartbeat_age_seconds() {
            self.heartbeat
                .get_or_init(|| self.labels.gauge(HEARTBEAT_LATENCY))
                .set(s);
        }
        if let Some(b) = stats.slot_retained() {
            self.slot_retained
                .get_or_init(|| self.labels.gauge(SLOT_RETAINED_WAL))
                .set(b as f64);
        }
    }
}

/// The phase label of the throttle metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottlePhase {
    Full,
    Incremental,
}

/// A shard's throttle metrics: the limits in force (its share of the task's) and the time
/// spent waiting on them.
pub struct ThrottleMetrics {
    full_rows: Gauge,
    full_bytes: Gauge,
    full_queries: Gauge,
    incremental_rows: Gauge,
    incremental_bytes: Gauge,
    full_wait: Gauge,
    incremental_wait: Gauge,
}

impl ThrottleMetrics {
    pub fn new(labels: &ShardLabels) -> ThrottleMetrics {
        let phase = |name, p| labels.gauge_with(name, "phase", p);
        ThrottleMetrics {
            full_rows: phase(THROTTLE_ROWS_PER_SECOND, "full"),
            full_bytes: phase(THROTTLE_BYTES_PER_SECOND, "full"),
            full_queries: labels.gauge(THROTTLE_SOURCE_QUERIES_PER_SECOND),
            incremental_rows: phase(THROTTLE_ROWS_PER_SECOND, "incremental"),
            incremental_bytes: phase(THROTTLE_BYTES_PER_SECOND, "incremental"),
            full_wait: phase(THROTTLE_WAIT_SECONDS, "full"),
            incremental_wait: phase(THROTTLE_WAIT_SECONDS, "incremental"),
        }
    }

    /// Publishes the limits in force (0 for none).
    pub fn configured(&self, l: &crate::config::ThrottleRates) {
        let set = |g: &Gauge, v: Option<f64>| g.set(v.unwrap_or(0.0));
        set(&self.full_rows, l.full_rows);
        set(&self.full_bytes, l.full_bytes);
        set(&self.full_queries, l.full_queries);
        set(&self.incremental_rows, l.incremental_rows);
        set(&self.incremental_bytes, l.incremental_bytes);
    }

    /// Adds a wait on the throttle.
    pub fn waited(&self, phase: ThrottlePhase, d: std::time::Duration) {
        match phase {
            ThrottlePhase::Full => &self.full_wait,
            ThrottlePhase::Incremental => &self.incremental_wait,
        }
        .increment(d.as_secs_f64());
    }
}
