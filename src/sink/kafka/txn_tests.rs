//! Exactly-once delivery's producer side against librdkafka's in-process mock cluster, which
//! speaks the transactional protocol (unlike tansu) but keeps none of its promises: its Fetch
//! reports the end offset as the last stable offset and no aborted transactions, so a
//! `read_committed` consumer sees open and aborted records too, and its InitProducerId gives a
//! new producer a new id instead of fencing the old one (librdkafka 2.12
//! `rdkafka_mock_handlers.c`). What it can show is the sink's side: the watermark moves only
//! at a commit, the checkpoint record is read back, an unanswered commit is unresolved.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;

use super::mock_tests::{
    assert_exactly_numbered, assigned, mock_with_topic, send_numbered, sink_for, Mock,
};
use super::{KafkaSink, Transactional};
use crate::sink::{Sink, SinkError};

const TOPIC: &str = "txn_rows";

/// A transactional sink; the mock cluster, which has no CreateTopics, holds the checkpoint
/// topic already.
fn transactional(mock: &Mock, id: &str, timeout: Duration) -> KafkaSink {
    let _ = mock.create_topic(Transactional::DEFAULT_CHECKPOINT_TOPIC, 1, 3);
    sink_for(mock, |c| {
        c.transactions = Some(Transactional {
            id: id.to_owned(),
            checkpoint_topic: Transactional::DEFAULT_CHECKPOINT_TOPIC.to_owned(),
            timeout,
        });
    })
}

/// Everything a `read_committed` consumer sees in `topic` up to the last stable offset.
fn read_committed(bootstrap: &str, topic: &str, partitions: i32) -> Vec<OwnedMessage> {
    let settings = [
        ("isolation.level", "read_committed"),
        ("enable.partition.eof", "true"),
    ];
    let consumer = assigned(bootstrap, topic, partitions, &settings);
    let (mut messages, mut at_end) = (Vec::new(), HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.len() < partitions as usize {
        assert!(Instant::now() < deadline, "no end of {topic} within 30 s");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => messages.push(m.detach()),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    messages
}

/// Waits until every record sent is acknowledged by the brokers (not committed).
async fn acknowledged(sink: &KafkaSink) {
    let wait = async {
        while sink.in_flight() > 0 {
            sink.progressed().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("every record acknowledged within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_moves_only_at_the_commit_and_the_checkpoint_record_is_read_back() {
    let mock = mock_with_topic(3, TOPIC, 2);
    let mut sink = transactional(&mock, "t-commit", Duration::from_secs(30));
    sink.init_transactions().await.unwrap();
    assert_eq!(sink.read_checkpoint(b"shop/0").await.unwrap(), None);
    send_numbered(&mut sink, TOPIC, 0..10).await.unwrap();
    acknowledged(&sink).await;
    assert_eq!(
        sink.durable_watermark(),
        0,
        "acknowledged but not committed: not durable"
    );
    sink.commit_keyed(b"shop/0", b"cp-10").await.unwrap();
    assert_eq!(sink.durable_watermark(), 10);
    assert_exactly_numbered(&read_committed(&mock.bootstrap_servers(), TOPIC, 2), 10);
    assert_eq!(
        sink.read_checkpoint(b"shop/0").await.unwrap().as_deref(),
        Some(&b"cp-10"[..])
    );
    send_numbered(&mut sink, TOPIC, 10..15).await.unwrap();
    sink.commit_keyed(b"shop/0", b"cp-15").await.unwrap();
    sink.commit_keyed(b"shop/1", b"other lane").await.unwrap();
    assert_eq!(
        sink.read_checkpoint(b"shop/0").await.unwrap().as_deref(),
        Some(&b"cp-15"[..]),
        "the lane's last committed record wins"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_does_not_answer_is_unresolved_and_a_new_producer_starts_after_it() {
    let mock = mock_with_topic(3, TOPIC, 1);
    let mut sink = transactional(&mock, "t-slow", Duration::from_secs(4));
    sink.init_transactions().await.unwrap();
    send_numbered(&mut sink, TOPIC, 0..10).await.unwrap();
    acknowledged(&sink).await;
    for broker in 1..=3 {
        mock.broker_round_trip_time(broker, Duration::from_secs(8))
            .unwrap();
    }
    let err = sink.commit_keyed(b"shop/0", b"cp-10").await.unwrap_err();
    assert!(
        matches!(err, SinkError::TransactionUnresolved { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(
        sink.durable_watermark(),
        0,
        "an unknown outcome is not durable"
    );
    drop(sink);
    for broker in 1..=3 {
        mock.broker_round_trip_time(broker, Duration::ZERO).unwrap();
    }
    let mut next = transactional(&mock, "t-slow", Duration::from_secs(30));
    next.init_transactions().await.unwrap();
    // Committed late or aborted: either way the lane's checkpoint is whole.
    let checkpoint = next.read_checkpoint(b"shop/0").await.unwrap();
    assert!(
        matches!(checkpoint.as_deref(), None | Some(b"cp-10")),
        "{checkpoint:?}"
    );
    send_numbered(&mut next, TOPIC, 10..20).await.unwrap();
    next.commit_keyed(b"shop/0", b"cp-20").await.unwrap();
    assert_eq!(next.durable_watermark(), 20);
}
