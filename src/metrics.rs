//! Prometheus metrics: the exporter and the task-level gauges derived from live stats.

use std::net::SocketAddr;

/// Starts the Prometheus exporter on `addr` (`/metrics`).
pub fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()?;
    crate::sink::kafka::describe_metrics();
    Ok(())
}
