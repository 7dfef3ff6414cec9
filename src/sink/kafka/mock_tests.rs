//! Fault tests of the Kafka sink against librdkafka's in-process mock cluster (several
//! brokers, injected request errors and round-trip delays); see TEST-ENV.md.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{KafkaSink, KafkaSinkConfig, POSITION_HEADER, TX_HEADER};
use crate::sink::{Record, Sink, SinkError, TopicPlan};

/// Upper bound of every test here.
pub(super) const TEST_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) type Mock = MockCluster<'static, DefaultProducerContext>;

pub(super) fn mock_with_topic(brokers: i32, topic: &str, partitions: i32) -> Mock {
    let mock = MockCluster::new(brokers).expect("mock cluster");
    mock.create_topic(topic, partitions, brokers.min(3))
        .expect("mock topic");
    mock
}

pub(super) fn sink_for(mock: &Mock, edit: impl FnOnce(&mut KafkaSinkConfig)) -> KafkaSink {
    let mut config = KafkaSinkConfig {
        bootstrap_servers: mock.bootstrap_servers(),
        create_topics: false,
        request_timeout: Duration::from_secs(5),
        flush_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    edit(&mut config);
    KafkaSink::new(config, &Default::default()).expect("sink")
}

/// Key, value, position and tx of record `i`.
fn parts(i: u64) -> (String, String, String, String) {
    (
        format!(r#"{{"id":"{i}"}}"#),
        format!(r#"{{"id":{i},"v":"{}"}}"#, "x".repeat(50)),
        format!("0/{i:X}:0"),
        (1000 + i / 10).to_string(),
    )
}

pub(super) async fn send_numbered(
    sink: &mut KafkaSink,
    topic: &str,
    seqs: std::ops::Range<u64>,
) -> Result<(), SinkError> {
    for i in seqs {
        let (key, value, position, tx) = parts(i);
        let record = Record {
            topic,
            partition: None,
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            position: &position,
            tx: &tx,
            table: "public.t",
            extra_headers: &[],
        };
        sink.send(&record, i).await?;
    }
    Ok(())
}

/// A consumer of every partition of `topic` from its beginning, with `settings` besides.
pub(super) fn assigned(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    settings: &[(&str, &str)],
) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tributary-test")
        .set("enable.auto.commit", "false");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Reads `topic` from the beginning of each partition until `expected` messages or a timeout.
fn read_back(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Vec<OwnedMessage> {
    let consumer = assigned(bootstrap, topic, partitions, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    while messages.len() < expected && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.expect("consume").detach());
        }
    }
    // Anything beyond `expected` would be a duplicate: give it a moment to show up.
    let linger = Instant::now() + Duration::from_millis(500);
    while Instant::now() < linger {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.expect("consume").detach());
        }
    }
    messages
}

fn header<'m>(message: &'m OwnedMessage, name: &str) -> Option<&'m [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

pub(super) fn assert_exactly_numbered(messages: &[OwnedMessage], count: u64) {
    let mut seen: Vec<u64> = Vec::new();
    for message in messages {
        let key = std::str::from_utf8(message.key().expect("key")).unwrap();
        let i: u64 = key
            .trim_start_matches(r#"{"id":""#)
            .trim_end_matches(r#""}"#)
            .parse()
            .unwrap();
        let (key, value, position, tx) = parts(i);
        assert_eq!(message.key(), Some(key.as_bytes()));
        assert_eq!(message.payload(), Some(value.as_bytes()));
        assert_eq!(header(message, POSITION_HEADER), Some(position.as_bytes()));
        assert_eq!(header(message, TX_HEADER), Some(tx.as_bytes()));
        seen.push(i);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..count).collect::<Vec<_>>(),
        "every record exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_produce_errors_lose_and_double_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "faults";
        let mock = mock_with_topic(3, topic, 4);
        let mut sink = sink_for(&mock, |_| {});
        assert_eq!(
            sink.prepare_topics(&[TopicPlan::named(topic)])
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        {
            use RDKafkaRespErr::*;
            mock.request_errors(
                RDKafkaApiKey::Produce,
                &[
                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                    RD_KAFKA_RESP_ERR__TRANSPORT,
                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                    RD_KAFKA_RESP_ERR__TRANSPORT,
                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                ],
            );
        }
        let count = 3000;
        send_numbered(&mut sink, topic, 0..count).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(sink.durable_watermark(), count);
        sink.check().unwrap();
        let messages = read_back(&mock.bootstrap_servers(), topic, 4, count as usize);
        assert_exactly_numbered(&messages, count);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_rejected_record_stops_the_watermark() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "too-large";
        let mock = mock_with_topic(1, topic, 1);
        let mut sink = sink_for(&mock, |_| {});
        send_numbered(&mut sink, topic, 0..5).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(sink.durable_watermark(), 5);

        mock.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE]);
        send_numbered(&mut sink, topic, 5..6).await.unwrap();
        let failure = sink.flush().await.unwrap_err();
        assert!(matches!(&failure, SinkError::RecordTooLarge { topic: t, key, .. } if t == topic && key == r#"{"id":"5"}"#), "{failure:?}");
        assert!(matches!(sink.check(), Err(SinkError::RecordTooLarge { .. })));
        assert_eq!(sink.durable_watermark(), 5, "the watermark stops before the failed record");
        assert!(sink.send(&record_of(topic, b"v"), 6).await.is_err(), "send refuses after a failure");
        assert_eq!(sink.durable_watermark(), 5);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_failure_is_fatal() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "denied";
        let mock = mock_with_topic(1, topic, 1);
        let mut sink = sink_for(&mock, |_| {});
        send_numbered(&mut sink, topic, 0..3).await.unwrap();
        sink.flush().await.unwrap();
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
        );
        send_numbered(&mut sink, topic, 3..4).await.unwrap();
        let failure = sink.flush().await.unwrap_err();
        assert!(
            matches!(&failure, SinkError::Delivery { retriable: false, topic: t, .. } if t == topic),
            "{failure:?}"
        );
        assert!(!failure.is_transient());
        assert_eq!(sink.durable_watermark(), 3);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_past_the_message_timeout_is_retriable() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "down";
        let mock = mock_with_topic(1, topic, 1);
        let mut sink = sink_for(&mock, |c| {
            c.properties
                .insert("message.timeout.ms".into(), "1500".into());
        });
        send_numbered(&mut sink, topic, 0..3).await.unwrap();
        sink.flush().await.unwrap();
        mock.broker_down(1).unwrap();
        send_numbered(&mut sink, topic, 3..10).await.unwrap();
        let failure = sink.flush().await.unwrap_err();
        assert!(
            matches!(
                &failure,
                SinkError::Delivery {
                    retriable: true,
                    ..
                }
            ),
            "{failure:?}"
        );
        assert!(failure.is_transient());
        assert!(failure.is_connection(), "{failure:?}");
        assert_eq!(sink.durable_watermark(), 3);
    })
    .await
    .expect("test timed out");
}

fn record_of<'a>(topic: &'a str, value: &'a [u8]) -> Record<'a> {
    Record {
        topic,
        partition: None,
        key: Some(b"k"),
        value: Some(value),
        position: "0/1:0",
        tx: "1",
        table: "public.big",
        extra_headers: &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locally_too_large_record_is_refused_at_send() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "local-limit";
        let mock = mock_with_topic(1, topic, 1);
        let mut sink = sink_for(&mock, |c| c.message_max_bytes = Some(1000));
        sink.send(&record_of(topic, b"small"), 0).await.unwrap();
        sink.flush().await.unwrap();
        let big = vec![b'x'; 5000];
        let refused = sink.send(&record_of(topic, &big), 1).await.unwrap_err();
        let SinkError::RecordTooLarge { table, size, .. } = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!((table.as_str(), *size), ("public.big", 5001));
        assert!(matches!(
            sink.check(),
            Err(SinkError::RecordTooLarge { .. })
        ));
        assert!(sink.flush().await.is_err());
        assert_eq!(sink.durable_watermark(), 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_at_the_in_flight_bound() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "backpressure";
        let mock = mock_with_topic(1, topic, 1);
        mock.broker_round_trip_time(1, Duration::from_millis(100))
            .unwrap();
        let max = 8;
        let mut sink = sink_for(&mock, |c| c.max_in_flight_records = max);
        let started = Instant::now();
        for i in 0..40 {
            send_numbered(&mut sink, topic, i..i + 1).await.unwrap();
            assert!(
                sink.in_flight() <= max as u64,
                "in flight {} > {max}",
                sink.in_flight()
            );
        }
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "sends waited for acknowledgements"
        );
        sink.flush().await.unwrap();
        assert_eq!(sink.durable_watermark(), 40);
        let messages = read_back(&mock.bootstrap_servers(), topic, 1, 40);
        assert_exactly_numbered(&messages, 40);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_waits_and_loses_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "queue-full";
        let mock = mock_with_topic(1, topic, 1);
        mock.broker_round_trip_time(1, Duration::from_millis(50))
            .unwrap();
        // A 1 KiB producer queue holds about ten of these records.
        let mut sink = sink_for(&mock, |c| {
            c.properties
                .insert("queue.buffering.max.kbytes".into(), "1".into());
            c.compression = "none".into();
        });
        send_numbered(&mut sink, topic, 0..100).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(sink.durable_watermark(), 100);
        let messages = read_back(&mock.bootstrap_servers(), topic, 1, 100);
        assert_exactly_numbered(&messages, 100);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topic_without_create_is_an_error() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mock = mock_with_topic(1, "present", 1);
        let mut sink = sink_for(&mock, |_| {});
        let topics = [
            TopicPlan::named("present"),
            TopicPlan {
                name: "absent".into(),
                partitions: Some(3),
            },
        ];
        let error = sink.prepare_topics(&topics).await.unwrap_err();
        assert!(
            matches!(&error, SinkError::MissingTopic { topic, partitions: 3 } if topic == "absent"),
            "{error:?}"
        );
        let line = error.to_string();
        assert!(
            line.contains("topic absent does not exist: create it with 3 partition(s)")
                && line.contains("destination.create_topics = true"),
            "{line}"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_are_named_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let servers = format!("127.0.0.1:{port}");
    let config = KafkaSinkConfig {
        bootstrap_servers: servers.clone(),
        request_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let mut sink = KafkaSink::new(config, &Default::default()).unwrap();
    let started = Instant::now();
    let error = tokio::time::timeout(TEST_TIMEOUT, sink.prepare_topics(&[TopicPlan::named("t")]))
        .await
        .expect("bounded")
        .unwrap_err();
    assert!(
        matches!(&error, SinkError::Unreachable { servers: s } if *s == servers),
        "{error:?}"
    );
    assert!(error.to_string().contains(&servers) && !error.to_string().contains('\n'));
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Under `acks = 0` the broker answers nothing: librdkafka reports each record delivered once
/// its request is written, so the watermark passes records the broker never stored (here, a
/// produce request the broker failed). With `acks = all` the same failures are retried and
/// nothing is lost (`retriable_produce_errors_lose_and_double_nothing`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_counts_records_sent_not_stored() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let topic = "unacknowledged";
        let mock = mock_with_topic(1, topic, 1);
        let mut sink = sink_for(&mock, |c| {
            c.acks = super::Acks::Zero;
            c.properties.insert("linger.ms".into(), "0".into());
        });
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3],
        );
        let count = 50;
        for i in 0..count {
            send_numbered(&mut sink, topic, i..i + 1).await.unwrap();
            // One record per request, so the failed requests each lose one.
            sink.flush().await.unwrap();
        }
        assert_eq!(sink.durable_watermark(), count, "every record counted");
        let stored = read_back(&mock.bootstrap_servers(), topic, 1, count as usize);
        assert!(
            (stored.len() as u64) < count,
            "the broker failed some requests, yet nothing was reported: {} of {count} stored",
            stored.len()
        );
    })
    .await
    .expect("test timed out");
}
