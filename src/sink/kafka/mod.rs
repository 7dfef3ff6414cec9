//! Kafka sink (rdkafka): idempotent producer with ordered delivery tracking.
//!
//! ```text
//!  runner ──send(record, seq)──► KafkaSink ──► librdkafka queue ──► brokers
//!    ▲          (waits while seq - watermark ≥ max_in_flight_records, or on QueueFull)
//!    │                                              │ delivery report (opaque = seq)
//!    └── durable_watermark() ◄── AckTracker ◄───────┘ poll thread: ack / fail, Notify
//! ```
//! - Guarantees: with `acks = all` (the default) the producer is idempotent, so librdkafka's
//!   retries neither lose nor double a record and keep per-partition order. The watermark is
//!   the first sequence number not acknowledged; a failed record keeps it there for good.
//!   `acks = 1` and `0` turn idempotence off (librdkafka allows it only with `all`) and are
//!   warned about when the sink is created; under `0` the broker answers nothing and
//!   librdkafka reports a record delivered once it is written to the socket, so the watermark
//!   counts records sent, not stored (`Acks::Zero`).
//! - Bounded memory: at most `max_in_flight_records` records are accepted and unacknowledged;
//!   `send` waits for acknowledgements past that, and on librdkafka's `QueueFull`. It never
//!   buffers outside librdkafka and never drops a record.
//! - Partitioning: `murmur2_random`, the Java client's hash, so keyed records land where a Java
//!   producer (Debezium) would put them.
//! - Throughput: a bare librdkafka producer (`tests/producer_bench.rs`, release, tansu with
//!   memory storage, 2 shared cores, lz4) sends 1M of a snapshot's Debezium records (741 bytes)
//!   at 573k/s with the two headers FORMATS.md requires and 627k/s without them, in 2.1 CPU-s;
//!   the sink adds the headers, the delivery tracking and little else (BENCHMARKS.md).
//! - Role files: `config` (options, validation, librdkafka properties), `producer` (delivery
//!   context, shared state), `ack` (watermark), `admin` (topics), `error` (classification).

mod ack;
mod admin;
mod config;
mod error;
pub mod log_dirs;
#[cfg(test)]
mod mock_tests;
mod producer;
mod txn;
#[cfg(test)]
mod txn_tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _};

use self::ack::AckTracker;
pub use self::config::{Acks, KafkaSinkConfig, Transactional};
use self::producer::{Producer, Shared};
use crate::metrics::ShardLabels;
use crate::sink::{Record, Sink, SinkError, TopicPlan};

/// Header carrying the event's position (FORMATS.md "All formats").
pub const POSITION_HEADER: &str = "tributary.position";
/// Header carrying the source transaction id.
pub const TX_HEADER: &str = "tributary.tx";

/// After `QueueFull`, look again at least this often even if no delivery report arrives.
const QUEUE_FULL_RECHECK: Duration = Duration::from_millis(100);

/// Writes records to Kafka and reports an ordered durable watermark.
///
/// Dropping it purges what librdkafka has not delivered and blocks up to half a second while
/// the producer shuts down: `flush` first when the records matter.
pub struct KafkaSink {
    config: KafkaSinkConfig,
    producer: Arc<Producer>,
    shared: Arc<Shared>,
    admin: admin::TopicAdmin,
    /// Exactly-once delivery (`None`: at least once).
    txn: Option<txn::Transactions>,
}

impl KafkaSink {
    /// Validates `config` and creates the producer and admin clients, whose metrics carry
    /// `labels`. Nothing connects yet: `prepare_topics` is the first call that talks to the
    /// brokers.
    pub fn new(config: KafkaSinkConfig, labels: &ShardLabels) -> Result<Self, SinkError> {
        config.validate()?;
        if let Some(risk) = config.acks.risk() {
            tracing::warn!(task = %labels.task, shard = labels.shard, "{risk}");
        }
        let (producer, shared) = producer::create(&config, labels)?;
        let admin = admin::TopicAdmin::new(&config, Arc::clone(&shared))?;
        Ok(KafkaSink {
            txn: config.transactions.clone().map(txn::Transactions::new),
            config,
            producer: Arc::new(producer),
            shared,
            admin,
        })
    }

    /// Exactly-once: creates the checkpoint topic unless it exists, then fences every older
    /// producer of this transactional id (their open transaction is aborted, one being
    /// committed completes first). The first call of a run, before `read_checkpoint`.
    pub async fn init_transactions(&mut self) -> Result<(), SinkError> {
        let Some(t) = &self.txn else {
            return Err(not_transactional());
        };
        self.admin
            .ensure_compacted(&t.config.checkpoint_topic)
            .await?;
        let timeout = t.config.timeout;
        let id = t.config.id.clone();
        txn::blocking(&self.producer, move |p| p.init_transactions(timeout))
            .await
            .map_err(|e| self.with_servers(txn::failed(&id, e)))
    }

    /// Exactly-once: the lane's last committed checkpoint record (`None`: none yet).
    pub async fn read_checkpoint(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SinkError> {
        let Some(t) = &self.txn else {
            return Err(not_transactional());
        };
        let (config, transactional, key) = (self.config.clone(), t.config.clone(), key.to_vec());
        tokio::task::spawn_blocking(move || txn::read_checkpoint(&config, &transactional, &key))
            .await
            .map_err(|e| SinkError::Config(format!("reading the checkpoint topic: {e}")))?
    }

    /// Exactly-once: commits every record sent since the last commit together with the
    /// lane's checkpoint record (`key`, `checkpoint`); then the watermark passes them.
    pub async fn commit_keyed(&mut self, key: &[u8], checkpoint: &[u8]) -> Result<(), SinkError> {
        let Some(t) = self.txn.as_mut() else {
            return Err(not_transactional());
        };
        t.begin(&self.producer)?;
        let mut record =
            BaseRecord::with_opaque_to(&t.config.checkpoint_topic, txn::CHECKPOINT_OPAQUE)
                .key(key)
                .payload(checkpoint);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    let progress = self.shared.progress.notified();
                    let _ = tokio::time::timeout(QUEUE_FULL_RECHECK, progress).await;
                }
                Err((e, _)) => return Err(self.abort(e).await),
            }
        }
        let (timeout, id) = (t.config.timeout, t.config.id.clone());
        match txn::blocking(&self.producer, move |p| p.commit_transaction(timeout)).await {
            Ok(()) => {
                if let Some(t) = self.txn.as_mut() {
                    t.committed();
                }
                self.shared.progress.notify_one();
                Ok(())
            }
            Err(e) => {
                let error = self.with_servers(txn::commit_failed(&id, e));
                match error {
                    SinkError::TransactionAborted { .. } => Err(self.abort_with(error).await),
                    other => {
                        if let Some(t) = self.txn.as_mut() {
                            t.ended();
                        }
                        Err(other)
                    }
                }
            }
        }
    }

    /// Exactly-once: refuses brokers that do not offer the transaction APIs (asked with
    /// ApiVersions: librdkafka would find out only at the first commit).
    async fn check_transactions_offered(&self) -> Result<(), SinkError> {
        let step = self.config.request_timeout;
        match log_dirs::transactions_offered(&self.config, step).await {
            Ok(log_dirs::Transactions::Missing(apis)) => Err(SinkError::TransactionsUnsupported {
                servers: self.config.bootstrap_servers.clone(),
                reason: format!("they do not offer {}", apis.join(", ")),
            }),
            Ok(_) => Ok(()),
            // Unreachable here: librdkafka's own calls next say why, with their retries.
            Err(e) => {
                tracing::debug!(error = %e, "could not ask the brokers which APIs they offer");
                Ok(())
            }
        }
    }

    /// The transactional id (the checkpoint record's key), if transactional.
    fn transactional_id(&self) -> Option<&str> {
        self.txn.as_ref().map(|t| t.config.id.as_str())
    }

    /// Aborts the open transaction after `error`; returns the error to report.
    async fn abort(&mut self, error: KafkaError) -> SinkError {
        let id = self
            .txn
            .as_ref()
            .map(|t| t.config.id.clone())
            .unwrap_or_default();
        let error = self.with_servers(txn::failed(&id, error));
        self.abort_with(error).await
    }

    async fn abort_with(&mut self, error: SinkError) -> SinkError {
        let Some(t) = self.txn.as_mut() else {
            return error;
        };
        t.ended();
        let timeout = t.config.timeout;
        if let Err(e) = txn::blocking(&self.producer, move |p| p.abort_transaction(timeout)).await {
            tracing::warn!(error = %e, "aborting the transaction failed; the next producer's init aborts it");
        }
        error
    }

    /// Names the brokers in an error that could not know them.
    fn with_servers(&self, error: SinkError) -> SinkError {
        match error {
            SinkError::TransactionsUnsupported { reason, .. } => {
                SinkError::TransactionsUnsupported {
                    servers: self.config.bootstrap_servers.clone(),
                    reason,
                }
            }
            other => other,
        }
    }

    /// The configuration the sink runs with.
    pub fn config(&self) -> &KafkaSinkConfig {
        &self.config
    }

    /// Records accepted and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.shared.tracker().in_flight()
    }

    /// Waits until `ready` (run under the tracker's lock) gives a value, or a failure.
    ///
    /// No wake-up is lost between the check and the await: the delivery callback wakes with
    /// `notify_one`, which stores a permit when nobody waits yet.
    async fn wait_until<T>(
        &self,
        mut ready: impl FnMut(&mut AckTracker) -> Result<Option<T>, SinkError>,
    ) -> Result<T, SinkError> {
        loop {
            {
                let mut tracker = self.shared.tracker();
                if let Some(failure) = tracker.failure() {
                    return Err(failure.clone());
                }
                if let Some(value) = ready(&mut tracker)? {
                    return Ok(value);
                }
            }
            self.shared.progress.notified().await;
        }
    }

    /// Registers `seq` once fewer than `max_in_flight_records` are unacknowledged; returns
    /// the new in-flight count.
    async fn reserve(&self, seq: u64) -> Result<u64, SinkError> {
        let max = self.config.max_in_flight_records as u64;
        self.wait_until(|tracker| {
            if tracker.in_flight() >= max {
                return Ok(None);
            }
            tracker.register(seq)?;
            Ok(Some(tracker.in_flight()))
        })
        .await
    }

    /// Hands one registered record to librdkafka, waiting while its queue is full.
    async fn produce(&self, record: &Record<'_>, seq: u64) -> Result<(), SinkError> {
        let mut base = base_record(record, seq);
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    base = returned;
                    let progress = self.shared.progress.notified();
                    let _ = tokio::time::timeout(QUEUE_FULL_RECHECK, progress).await;
                    self.shared.check()?;
                }
                Err((refused, _)) => {
                    let failure = error::send_error(refused, record);
                    self.shared.fail(seq, failure.clone());
                    return Err(failure);
                }
            }
        }
    }
}

fn not_transactional() -> SinkError {
    SinkError::Config(
        "the sink is not transactional (destination.delivery is at_least_once)".into(),
    )
}

/// The librdkafka record for `record`, with the position and transaction headers.
fn base_record<'a>(record: &Record<'a>, seq: u64) -> BaseRecord<'a, [u8], [u8], usize> {
    let mut headers = OwnedHeaders::new_with_capacity(2 + record.extra_headers.len())
        .insert(Header {
            key: POSITION_HEADER,
            value: Some(record.position),
        })
        .insert(Header {
            key: TX_HEADER,
            value: Some(record.tx),
        });
    for (key, value) in record.extra_headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_slice()),
        });
    }
    // Sequence numbers fit a pointer-sized opaque on the 64-bit targets the project supports.
    let mut base = BaseRecord::with_opaque_to(record.topic, seq as usize).headers(headers);
    if let Some(key) = record.key {
        base = base.key(key);
    }
    if let Some(value) = record.value {
        base = base.payload(value);
    }
    if let Some(partition) = record.partition {
        base = base.partition(partition);
    }
    base
}

impl Sink for KafkaSink {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn prepare_topics(&mut self, topics: &[TopicPlan]) -> Result<Vec<String>, SinkError> {
        let result = self.admin.prepare(topics).await;
        if let Err(error) = &result {
            self.shared.metrics.error(error);
        }
        result
    }

    async fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> Result<std::collections::HashMap<String, i32>, SinkError> {
        let all = self.admin.topics().await?;
        Ok(topics
            .iter()
            .filter_map(|t| Some((t.clone(), i32::try_from(*all.get(t)?).ok()?)))
            .collect())
    }

    async fn missing_topics(&mut self, topics: &[String]) -> Result<Vec<String>, SinkError> {
        let result = self.admin.missing(topics).await;
        if let Err(error) = &result {
            self.shared.metrics.error(error);
        }
        result
    }

    async fn delete_topics(&mut self, topics: &[String]) -> Result<(), SinkError> {
        self.admin.delete(topics).await
    }

    async fn send(&mut self, record: &Record<'_>, seq: u64) -> Result<(), SinkError> {
        if let Some(t) = self.txn.as_mut() {
            t.begin(&self.producer)?;
            t.sent(seq);
        }
        let in_flight = self.reserve(seq).await?;
        self.shared.metrics.sent.increment(1);
        self.shared.metrics.in_flight.set(in_flight as f64);
        self.produce(record, seq).await
    }

    fn durable_watermark(&self) -> u64 {
        let acked = self.shared.tracker().watermark();
        self.txn.as_ref().map_or(acked, |t| t.watermark(acked))
    }

    fn check(&self) -> Result<(), SinkError> {
        self.shared.check()
    }

    fn progressed(&self) -> impl Future<Output = ()> + Send {
        self.shared.progress.notified()
    }

    fn transactional(&self) -> bool {
        self.txn.is_some()
    }

    fn acked_watermark(&self) -> u64 {
        self.shared.tracker().watermark()
    }

    async fn start_transactions(&mut self) -> Result<Option<Vec<u8>>, SinkError> {
        let Some(id) = self.transactional_id().map(str::to_owned) else {
            return Ok(None);
        };
        self.check_transactions_offered().await?;
        self.init_transactions().await?;
        self.read_checkpoint(id.as_bytes()).await
    }

    async fn commit(&mut self, checkpoint: &[u8]) -> Result<(), SinkError> {
        let Some(id) = self.transactional_id().map(str::to_owned) else {
            return Ok(());
        };
        let result = self.commit_keyed(id.as_bytes(), checkpoint).await;
        if let Err(error) = &result {
            self.shared.metrics.error(error);
        } else {
            self.shared.metrics.commits.increment(1);
        }
        result
    }

    async fn abort(&mut self) {
        let Some(t) = self.txn.as_mut() else {
            return;
        };
        if !t.is_open() {
            return;
        }
        let id = t.config.id.clone();
        let error = SinkError::TransactionAborted {
            transactional_id: id,
            reason: "the shard stopped inside a source transaction".into(),
        };
        let _ = self.abort_with(error).await;
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let timeout = self.config.flush_timeout;
        let drained = self.wait_until(|tracker| Ok((tracker.in_flight() == 0).then_some(())));
        match tokio::time::timeout(timeout, drained).await {
            Ok(result) => result,
            Err(_) => {
                let error = SinkError::FlushTimeout {
                    pending: self.in_flight(),
                    timeout_secs: timeout.as_secs(),
                };
                self.shared.metrics.error(&error);
                Err(error)
            }
        }
    }
}
