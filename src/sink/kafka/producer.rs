//! The librdkafka producer and the state its delivery reports update.
//!
//! ```text
//!  KafkaSink::send ──register(seq)──► Shared.tracker ◄──ack/fail(seq)── DeliveryContext::delivery
//!        │                                │                              (librdkafka poll thread)
//!        └──producev(record, opaque=seq)──┼──────► librdkafka ──► brokers
//!                                         └─ Shared.progress (Notify) wakes send/flush/progressed
//! ```
//! The delivery opaque is the record's sequence number itself (`usize`), so a record costs no
//! allocation for tracking. The tracker's mutex is held for a few instructions by either side
//! and never across an await.

use std::sync::{Arc, Mutex, MutexGuard};

use metrics::{Counter, Gauge};
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::Notify;

use super::ack::AckTracker;
use super::config::KafkaSinkConfig;
use super::error::{delivery_error, UNKNOWN_TABLE};
use crate::metrics::{
    ShardLabels, SINK_ACKED, SINK_COMMITS, SINK_ERRORS, SINK_IN_FLIGHT, SINK_SENT,
};
use crate::sink::SinkError;

/// The producer type of the sink.
pub(crate) type Producer = ThreadedProducer<DeliveryContext>;

/// Metric handles, resolved once so the hot path does no registry lookup.
pub(crate) struct SinkMetrics {
    pub(crate) sent: Counter,
    pub(crate) acked: Counter,
    pub(crate) commits: Counter,
    pub(crate) in_flight: Gauge,
    labels: ShardLabels,
}

impl SinkMetrics {
    fn new(labels: &ShardLabels) -> Self {
        SinkMetrics {
            sent: labels.counter(SINK_SENT),
            acked: labels.counter(SINK_ACKED),
            commits: labels.counter(SINK_COMMITS),
            in_flight: labels.gauge(SINK_IN_FLIGHT),
            labels: labels.clone(),
        }
    }

    /// Counts one error under its kind.
    pub(crate) fn error(&self, error: &SinkError) {
        self.labels
            .counter_with(SINK_ERRORS, "kind", error.kind())
            .increment(1);
    }
}

/// State shared between the sink (async side) and the delivery callback (poll thread).
pub(crate) struct Shared {
    tracker: Mutex<AckTracker>,
    /// Woken (one stored permit) on every acknowledgement or failure.
    pub(crate) progress: Notify,
    pub(crate) metrics: SinkMetrics,
    /// The last failed login or TLS handshake: librdkafka reports it only to the client's
    /// error callback, while a metadata request just times out as if the brokers were down.
    refused: Mutex<Option<Refusal>>,
}

impl Shared {
    fn new(labels: &ShardLabels) -> Self {
        Shared {
            tracker: Mutex::new(AckTracker::new(0)),
            progress: Notify::new(),
            metrics: SinkMetrics::new(labels),
            refused: Mutex::new(None),
        }
    }

    /// The last failed login or TLS handshake, if any.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The tracker, also when a panicking holder poisoned the lock (its state is still sound:
    /// every method leaves it consistent before it can panic).
    pub(crate) fn tracker(&self) -> MutexGuard<'_, AckTracker> {
        self.tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The first failure, if any.
    pub(crate) fn check(&self) -> Result<(), SinkError> {
        match self.tracker().failure() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Records a failure of `seq` (a refused send or a failed delivery) and wakes waiters.
    pub(crate) fn fail(&self, seq: u64, error: SinkError) {
        self.metrics.error(&error);
        self.tracker().fail(seq, error);
        self.progress.notify_one();
    }

    fn ack(&self, seq: u64) {
        let in_flight = {
            let mut tracker = self.tracker();
            tracker.ack(seq);
            tracker.in_flight()
        };
        self.metrics.acked.increment(1);
        self.metrics.in_flight.set(in_flight as f64);
        self.progress.notify_one();
    }
}

/// Routes delivery reports into the shared tracker and librdkafka logs into `tracing`.
pub(crate) struct DeliveryContext {
    shared: Arc<Shared>,
}

/// Routes librdkafka's log lines into `tracing` (target `librdkafka`).
pub(crate) fn log_to_tracing(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// The context of the admin client: logs into `tracing`, nothing else. (rdkafka's admin client
/// never polls its main queue, so client errors such as a refused login reach the producer's
/// context only: `Shared::refusal`.)
pub(crate) struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_to_tracing(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, "Kafka admin client error");
    }
}

/// Why the brokers refused a connection: a failed SASL login or TLS handshake.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub(crate) code: RDKafkaErrorCode,
    pub(crate) reason: String,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_to_tracing(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // A fatal producer error (idempotence state lost) makes every later delivery fail;
        // record it against the watermark so nothing past it is ever reported durable.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            tracing::error!(target: "librdkafka", reason, "fatal producer error");
            let seq = self.shared.tracker().watermark();
            let failure = SinkError::Delivery {
                topic: "(all)".to_owned(),
                table: UNKNOWN_TABLE.to_owned(),
                reason: format!("fatal producer error: {reason}"),
                retriable: false,
                connection: false,
            };
            self.shared.fail(seq, failure);
        } else {
            tracing::warn!(target: "librdkafka", %error, reason, "Kafka client error");
            if let Some(code @ (RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) =
                error.rdkafka_error_code()
            {
                *self
                    .shared
                    .refused
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Refusal {
                    code,
                    reason: reason.to_owned(),
                });
            }
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        if seq == super::txn::CHECKPOINT_OPAQUE {
            // A checkpoint record: its transaction's commit reports its fate.
            if let Err((error, _)) = result {
                tracing::warn!(%error, "checkpoint record not delivered");
            }
            return;
        }
        match result {
            Ok(_) => self.shared.ack(seq as u64),
            Err((error, message)) => {
                let failure = delivery_error(error, message);
                tracing::error!(seq, error = %failure, "Kafka delivery failed");
                self.shared.fail(seq as u64, failure);
            }
        }
    }
}

/// Creates the producer and the shared state its delivery reports update.
pub(crate) fn create(
    config: &KafkaSinkConfig,
    labels: &ShardLabels,
) -> Result<(Producer, Arc<Shared>), SinkError> {
    let shared = Arc::new(Shared::new(labels));
    let context = DeliveryContext {
        shared: Arc::clone(&shared),
    };
    let producer = Producer::from_config_and_context(&config.producer_config(), context)
        .map_err(SinkError::Client)?;
    Ok((producer, shared))
}
