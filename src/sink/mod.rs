//! Sinks: where encoded records go, with explicit delivery tracking.
//!
//! The runner numbers every record it sends with a sequence number, strictly increasing from the
//! `first_seq` given at open. A sink reports durability as a watermark over those numbers: every
//! record below `durable_watermark()` is durable (acknowledged by Kafka with the configured acks).
//! Progress is built only from that watermark (`crate::pipeline`).

pub mod kafka;
pub mod null;

use std::future::Future;

/// One record to write. Borrowed: the sink copies what it keeps.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub topic: &'a str,
    /// Explicit partition, or `None` for the sink's partitioner (murmur2 of the key).
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    /// `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The `tributary.position` header.
    pub position: &'a str,
    /// The `tributary.tx` header.
    pub tx: &'a str,
    /// The source table (`schema.table`), for error messages.
    pub table: &'a str,
    /// Further headers the format asks for (Debezium's `__debezium.newkey`/`oldkey`).
    pub extra_headers: &'a [(&'static str, Vec<u8>)],
}

/// A topic a task writes to, and the partition count to create it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPlan {
    pub name: String,
    /// `None`: the sink's default (`destination.partitions`, else 1).
    pub partitions: Option<i32>,
}

impl TopicPlan {
    /// A topic created with the sink's default partition count.
    pub fn named(name: impl Into<String>) -> TopicPlan {
        TopicPlan {
            name: name.into(),
            partitions: None,
        }
    }
}

/// What went wrong in a sink, classified where the cause is known.
///
/// `Clone` because the first failed delivery is recorded once (on the producer's delivery
/// thread) and handed to every later `check`/`send`/`flush` caller.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SinkError {
    /// A record is larger than the broker accepts: the task cannot go on past it.
    #[error(
        "record of {size} bytes for table {table} (key {key}) is larger than the broker accepts \
         on topic {topic}: raise the topic's max.message.bytes and the producer's \
         message.max.bytes, or exclude the column"
    )]
    RecordTooLarge {
        topic: String,
        table: String,
        key: String,
        size: usize,
    },
    /// A topic the task writes to does not exist and may not be created.
    #[error(
        "topic {topic} does not exist: create it with {partitions} partition(s), or set \
         destination.create_topics = true to let the task create it"
    )]
    MissingTopic { topic: String, partitions: i32 },
    /// A topic's partition count is not the one recorded when the task first wrote to it.
    #[error(
        "topic {topic} has {current} partition(s) but had {recorded} when the task first wrote \
         to it: keys would move to other partitions and lose their per-key order; give the \
         topic {recorded} partition(s) again, or release the task and start it again with a \
         new snapshot"
    )]
    PartitionsChanged {
        topic: String,
        recorded: i32,
        current: i32,
    },
    /// The brokers cannot be reached (may clear by itself).
    #[error(
        "cannot reach the Kafka brokers at {servers}: start the broker or fix \
         destination.bootstrap_servers"
    )]
    Unreachable { servers: String },
    /// The brokers refused the client's login (SASL) or TLS handshake.
    #[error("the Kafka brokers at {servers} refused the connection ({reason}): {fix}")]
    Refused {
        servers: String,
        reason: String,
        fix: &'static str,
    },
    /// A delivery failed after the producer's own retries.
    #[error("delivery to topic {topic} failed for table {table}: {reason}")]
    Delivery {
        topic: String,
        table: String,
        reason: String,
        retriable: bool,
        /// The brokers could not be reached (timed out, transport failure, all down).
        connection: bool,
    },
    /// Creating, checking or deleting a topic failed with a broker error code.
    #[error("cannot {action} topic {topic}: the broker answered {code:?}")]
    TopicAdmin {
        topic: String,
        action: &'static str,
        code: rdkafka::error::RDKafkaErrorCode,
    },
    /// Records were still unacknowledged when `flush` gave up.
    #[error(
        "{pending} records were still unacknowledged after {timeout_secs} s: check the brokers' \
         health, or raise the flush timeout"
    )]
    FlushTimeout { pending: u64, timeout_secs: u64 },
    /// One configuration field is invalid.
    #[error("invalid destination configuration: {field}: {constraint}")]
    InvalidField {
        field: &'static str,
        constraint: String,
    },
    /// Invalid sink configuration.
    #[error("invalid destination configuration: {0}")]
    Config(String),
    /// Anything else from the Kafka client.
    #[error("Kafka client error")]
    Client(#[source] rdkafka::error::KafkaError),
    /// Exactly-once delivery asked of brokers without transactions.
    #[error(
        "the Kafka brokers at {servers} do not support transactions ({reason}; tansu does \
         not): set destination.delivery = \"at_least_once\", or use brokers with transactions"
    )]
    TransactionsUnsupported { servers: String, reason: String },
    /// A newer producer with the same transactional id started: the lane runs elsewhere now.
    #[error(
        "producer {transactional_id} was fenced by a newer one with the same transactional id \
         (the shard runs elsewhere now): this run stops and writes nothing more"
    )]
    Fenced { transactional_id: String },
    /// The open transaction was aborted: read_committed consumers never see its records.
    #[error(
        "the transaction of {transactional_id} was aborted ({reason}): its records are \
         discarded and the shard resumes from its last committed checkpoint"
    )]
    TransactionAborted {
        transactional_id: String,
        reason: String,
    },
    /// A commit did not answer: its outcome is unknown until a new producer resolves it.
    #[error(
        "the commit of {transactional_id}'s transaction did not answer ({reason}): its outcome \
         is unknown, so the producer is dropped and the shard resumes from the checkpoint topic"
    )]
    TransactionUnresolved {
        transactional_id: String,
        reason: String,
    },
}

impl SinkError {
    /// Whether the brokers could not be reached: retried for the task's connection window
    /// rather than its window for other failures.
    pub fn is_connection(&self) -> bool {
        match self {
            SinkError::Unreachable { .. } | SinkError::FlushTimeout { .. } => true,
            SinkError::Delivery { connection, .. } => *connection,
            _ => false,
        }
    }

    /// Whether retrying the same work later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Unreachable { .. }
            | SinkError::FlushTimeout { .. }
            | SinkError::TransactionAborted { .. }
            | SinkError::TransactionUnresolved { .. } => true,
            SinkError::Delivery { retriable, .. } => *retriable,
            _ => false,
        }
    }

    /// A short, low-cardinality name for the `kind` label of the error metric.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::RecordTooLarge { .. } => "record_too_large",
            SinkError::MissingTopic { .. } => "missing_topic",
            SinkError::PartitionsChanged { .. } => "partitions_changed",
            SinkError::Unreachable { .. } => "unreachable",
            SinkError::Refused { .. } => "refused",
            SinkError::Delivery {
                retriable: true, ..
            } => "delivery_retriable",
            SinkError::Delivery {
                retriable: false, ..
            } => "delivery_fatal",
            SinkError::TopicAdmin { .. } => "topic_admin",
            SinkError::FlushTimeout { .. } => "flush_timeout",
            SinkError::InvalidField { .. } | SinkError::Config(_) => "config",
            SinkError::Client(_) => "client",
            SinkError::TransactionsUnsupported { .. } => "transactions_unsupported",
            SinkError::Fenced { .. } => "fenced",
            SinkError::TransactionAborted { .. } => "transaction_aborted",
            SinkError::TransactionUnresolved { .. } => "transaction_unresolved",
        }
    }
}

/// A destination of records.
///
/// Contract:
/// - `send` accepts records in order. It may wait for capacity (this is the backpressure
///   point: a full producer queue means wait, never buffer more); it never drops a record.
/// - `durable_watermark` is monotonic: all records with a sequence number below it are durable,
///   in the sense of the sink's acknowledgement setting. It never passes a record that failed.
/// - A delivery that fails for good makes `check` (and later `send`) return the error; the
///   runner then stops without advancing progress past the failed record.
/// - `flush` waits until every accepted record is durable or failed.
/// - Exactly-once (a transactional sink, `transactional()`): records sent are acknowledged
///   (`acked_watermark`) as they arrive, but durable only once `commit` has committed them
///   together with the shard's checkpoint record; `durable_watermark` stays at the first
///   record sent since the last commit until then. `start_transactions` comes first in a run:
///   it fences every older producer of the shard and returns its last committed checkpoint
///   record. A sink that is not transactional ignores all four calls.
pub trait Sink: Send {
    /// `"kafka"`, `"null"`: the `sink_kind` metric label.
    fn kind(&self) -> &'static str;
    /// Makes sure every topic exists before any send: a missing one is created with its plan's
    /// partition count when the sink may create topics, else it is `MissingTopic`. Returns the
    /// topics this call created. A topic that exists keeps its partition count.
    fn prepare_topics(
        &mut self,
        topics: &[TopicPlan],
    ) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;
    /// The partition count of each of `topics` that exists (for the partition policies, which
    /// pick partitions themselves).
    fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> impl Future<Output = Result<std::collections::HashMap<String, i32>, SinkError>> + Send;
    /// Those of `topics` that do not exist yet (nothing is created).
    fn missing_topics(
        &mut self,
        topics: &[String],
    ) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;
    /// Deletes topics this task created (used when a first start fails before streaming).
    fn delete_topics(
        &mut self,
        topics: &[String],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Queues one record numbered `seq`.
    fn send(
        &mut self,
        record: &Record<'_>,
        seq: u64,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// The first sequence number not known durable.
    fn durable_watermark(&self) -> u64;
    /// The first failed delivery, if any.
    fn check(&self) -> Result<(), SinkError>;
    /// Resolves when the watermark may have moved (an acknowledgement or a failure arrived).
    ///
    /// An event that arrives while nobody waits is kept (one stored wake-up), so reading the
    /// watermark and then awaiting this loses nothing; a wake-up may be spurious. With nothing
    /// in flight it may never resolve: await it together with other work or a timer.
    fn progressed(&self) -> impl Future<Output = ()> + Send;
    /// Waits until every accepted record is durable or failed.
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Whether records become durable only at `commit` (exactly-once delivery).
    fn transactional(&self) -> bool {
        false
    }
    /// The first sequence number not acknowledged by the brokers (durable or not): what the
    /// runner's memory bound counts as gone.
    fn acked_watermark(&self) -> u64 {
        self.durable_watermark()
    }
    /// Exactly-once: fences older producers of this shard and returns the last checkpoint
    /// record committed with its records (`None`: none yet).
    fn start_transactions(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, SinkError>> + Send {
        async { Ok(None) }
    }
    /// Exactly-once: commits every record sent since the last commit together with
    /// `checkpoint`, the checkpoint that covers exactly them.
    fn commit(&mut self, checkpoint: &[u8]) -> impl Future<Output = Result<(), SinkError>> + Send {
        let _ = checkpoint;
        async { Ok(()) }
    }
    /// Exactly-once: aborts the open transaction (its records are never seen by
    /// `read_committed` consumers).
    fn abort(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
