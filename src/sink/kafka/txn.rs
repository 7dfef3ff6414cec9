//! Exactly-once delivery's producer side (DESIGN-NOTES §3): a lane's records and its
//! checkpoint record committed in one Kafka transaction, so data and position become visible
//! to `read_committed` consumers together or not at all.
//!
//! ```text
//!  init_transactions ──► fences every older producer of the transactional id, aborting its
//!                        open transaction (a takeover's first step)
//!  read_checkpoint ────► the lane's last committed checkpoint record (read_committed)
//!  send ... send ──────► records of the open transaction (begun at its first record)
//!  commit(key, cp) ────► the checkpoint record, then EndTxn: the watermark passes every
//!                        record sent so far only now
//! ```
//!
//! Failures: an abortable error aborts the transaction (`TransactionAborted`, transient: the
//! retry resumes from the checkpoint topic); a commit that does not answer is never retried
//! blindly (`TransactionUnresolved`, transient: the producer is dropped and a new one's
//! `init_transactions` settles the outcome, the librdkafka workaround for KIP-890's missing
//! epoch bump); a fenced producer stops for good (`Fenced`). librdkafka's transactional calls
//! block, so they run on tokio's blocking pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::Producer as _;
use rdkafka::{Offset, TopicPartitionList};

use super::config::{KafkaSinkConfig, Transactional};
use super::producer::Producer;
use crate::sink::SinkError;

/// The delivery opaque of a checkpoint record: not a pipeline sequence number, so its
/// delivery report moves no watermark (the commit decides).
pub(crate) const CHECKPOINT_OPAQUE: usize = usize::MAX;

/// The state of a transactional sink.
pub(crate) struct Transactions {
    pub(crate) config: Transactional,
    /// A transaction is open (begun, not committed or aborted yet).
    open: bool,
    /// The first sequence number sent in the open transaction: nothing from it on is durable.
    first_uncommitted: Option<u64>,
}

impl Transactions {
    pub(crate) fn new(config: Transactional) -> Transactions {
        Transactions {
            config,
            open: false,
            first_uncommitted: None,
        }
    }

    /// The exactly-once bound on `acked` (the acknowledgement watermark): the first record of
    /// the open transaction, if it is lower.
    pub(crate) fn watermark(&self, acked: u64) -> u64 {
        self.first_uncommitted.map_or(acked, |f| acked.min(f))
    }

    /// Begins a transaction unless one is open (a local call of librdkafka's).
    pub(crate) fn begin(&mut self, producer: &Producer) -> Result<(), SinkError> {
        if self.open {
            return Ok(());
        }
        producer
            .begin_transaction()
            .map_err(|e| failed(&self.config.id, e))?;
        self.open = true;
        Ok(())
    }

    /// `seq` is sent in the open transaction.
    pub(crate) fn sent(&mut self, seq: u64) {
        self.first_uncommitted.get_or_insert(seq);
    }

    /// Whether a transaction is open.
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// The open transaction is committed: every record sent is durable.
    pub(crate) fn committed(&mut self) {
        self.open = false;
        self.first_uncommitted = None;
    }

    /// The open transaction is aborted (or its outcome unknown): nothing more is sent in it.
    pub(crate) fn ended(&mut self) {
        self.open = false;
    }
}

/// Runs a blocking transactional call on tokio's blocking pool.
pub(crate) async fn blocking(
    producer: &Arc<Producer>,
    call: impl FnOnce(&Producer) -> Result<(), KafkaError> + Send + 'static,
) -> Result<(), KafkaError> {
    let producer = Arc::clone(producer);
    tokio::task::spawn_blocking(move || call(&producer))
        .await
        .unwrap_or(Err(KafkaError::Canceled))
}

/// The sink error of a failed transactional call (other than a commit that did not answer).
pub(crate) fn failed(id: &str, error: KafkaError) -> SinkError {
    let id = id.to_owned();
    let code = error.rdkafka_error_code();
    let reason = error.to_string();
    match code {
        Some(RDKafkaErrorCode::UnsupportedFeature) => SinkError::TransactionsUnsupported {
            servers: String::new(),
            reason,
        },
        Some(
            RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch,
        ) => SinkError::Fenced {
            transactional_id: id,
        },
        _ if requires_abort(&error) || retriable(&error) => SinkError::TransactionAborted {
            transactional_id: id,
            reason,
        },
        _ => SinkError::Client(error),
    }
}

/// The sink error of a commit that failed: `TransactionUnresolved` when it timed out (its
/// outcome is unknown), else as `failed`.
pub(crate) fn commit_failed(id: &str, error: KafkaError) -> SinkError {
    // librdkafka calls a broker without EndTxn retriable: it never will be.
    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnsupportedFeature) {
        return failed(id, error);
    }
    let timed_out = matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut)
    );
    if timed_out || (retriable(&error) && !requires_abort(&error)) {
        return SinkError::TransactionUnresolved {
            transactional_id: id.to_owned(),
            reason: error.to_string(),
        };
    }
    failed(id, error)
}

fn requires_abort(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.txn_requires_abort())
}

fn retriable(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.is_retriable())
}

/// The last committed value keyed `key` in `config`'s checkpoint topic, read with
/// `read_committed` to the end of every partition (`None`: no record for it). Blocking.
pub(crate) fn read_checkpoint(
    config: &KafkaSinkConfig,
    transactional: &Transactional,
    key: &[u8],
) -> Result<Option<Vec<u8>>, SinkError> {
    let mut client = config.client_config();
    client
        .set(
            "group.id",
            format!("{}-checkpoint-reader", transactional.id),
        )
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = client.create().map_err(SinkError::Client)?;
    let topic = transactional.checkpoint_topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), config.request_timeout)
        .map_err(SinkError::Client)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment
            .add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(SinkError::Client)?;
    }
    consumer.assign(&assignment).map_err(SinkError::Client)?;
    let (mut last, mut at_end) = (None, std::collections::HashSet::new());
    let deadline = Instant::now() + transactional.timeout.max(config.request_timeout);
    while at_end.len() < partitions.len() {
        if Instant::now() >= deadline {
            return Err(SinkError::Unreachable {
                servers: config.bootstrap_servers.clone(),
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) if m.key() == Some(key) => last = m.payload().map(<[u8]>::to_vec),
            Some(Ok(_)) | None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(SinkError::Client(e)),
        }
    }
    Ok(last)
}
