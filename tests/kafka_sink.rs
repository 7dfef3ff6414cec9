//! The Kafka sink against a real Kafka-protocol broker (tansu, see TEST-ENV.md).
//!
//! The broker is `TRIBUTARY_TEST_KAFKA` (default `127.0.0.1:19092`). When that variable is unset
//! and nothing listens on the default, the test starts its own tansu (`TRIBUTARY_TEST_TANSU`, or
//! `~/.cargo/bin/tansu`) on a free port, with in-memory storage, and a watchdog shell that
//! stops it when the test process exits. Every topic name is unique to its test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tributary::sink::kafka::{
    Acks, KafkaSink, KafkaSinkConfig, Transactional, POSITION_HEADER, TX_HEADER,
};
use tributary::sink::{Record, Sink, SinkError, TopicPlan};

#[path = "support/murmur2.rs"]
mod murmur2;
use murmur2::java_partition;

/// Upper bound of one test.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_KAFKA: &str = "127.0.0.1:19092";

/// The broker's bootstrap servers, starting tansu once per test process when needed.
fn kafka() -> &'static str {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER.get_or_init(|| {
        if let Ok(servers) = std::env::var("TRIBUTARY_TEST_KAFKA") {
            return servers;
        }
        if listening(DEFAULT_KAFKA) {
            return DEFAULT_KAFKA.to_owned();
        }
        start_tansu()
    })
}

fn listening(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRIBUTARY_TEST_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cargo/bin/tansu")
}

/// Starts tansu on a free port; a watchdog shell kills it once this process is gone.
fn start_tansu() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let servers = format!("127.0.0.1:{port}");
    let binary = tansu_binary();
    assert!(
        binary.exists(),
        "no broker at {DEFAULT_KAFKA} and no tansu at {}: install it (TEST-ENV.md)",
        binary.display()
    );
    let url = format!("tcp://{servers}");
    let script = format!(
        "{bin:?} broker --listener-url {url} --advertised-listener-url {url} --storage-engine memory://tansu/ \
         >/tmp/tributary-kafka-sink-tansu-{port}.log 2>&1 & t=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $t",
        bin = binary.display().to_string(),
        parent = std::process::id(),
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .expect("start tansu");
    // Reaps the watchdog shell if it ends first (it normally outlives this process).
    std::thread::spawn(move || watchdog.wait());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !listening(&servers) {
        assert!(
            Instant::now() < deadline,
            "tansu did not listen on {servers}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    servers
}

/// A topic name unique to this test run.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}-{}", nanos & 0xFFFF_FFFF, std::process::id())
}

fn sink(edit: impl FnOnce(&mut KafkaSinkConfig)) -> KafkaSink {
    let mut config = KafkaSinkConfig {
        bootstrap_servers: kafka().to_owned(),
        ..Default::default()
    };
    edit(&mut config);
    KafkaSink::new(config, &Default::default()).expect("sink")
}

/// Reads `topic` from the beginning until `expected` messages, then briefly for extras.
fn read_back(topic: &str, partitions: i32, expected: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", unique("tributary-test"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut extra_until = None;
    loop {
        let now = Instant::now();
        if now >= deadline || extra_until.is_some_and(|until| now >= until) {
            return messages;
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.expect("consume").detach());
        }
        if messages.len() >= expected && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_millis(500));
        }
    }
}

fn header<'m>(message: &'m OwnedMessage, name: &str) -> Option<&'m [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

fn record<'a>(
    topic: &'a str,
    key: &'a str,
    value: Option<&'a str>,
    position: &'a str,
    tx: &'a str,
) -> Record<'a> {
    Record {
        topic,
        partition: None,
        key: Some(key.as_bytes()),
        value: value.map(str::as_bytes),
        position,
        tx,
        table: "public.items",
        extra_headers: &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_reported_quickly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let servers = format!("127.0.0.1:{port}");
    let mut sink = KafkaSink::new(
        KafkaSinkConfig {
            bootstrap_servers: servers.clone(),
            ..Default::default()
        },
        &Default::default(),
    )
    .unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        sink.prepare_topics(&[TopicPlan::named("t")]),
    )
    .await;
    let error = result.expect("bounded").unwrap_err();
    assert!(
        matches!(&error, SinkError::Unreachable { servers: s } if *s == servers),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(&servers) && !text.contains('\n'), "{text}");
    assert!(
        started.elapsed() <= Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

mod serial {
    use super::*;

    /// Waits (bounded) until metadata no longer shows `topic`: deletion may be asynchronous.
    async fn wait_missing(topic: &str) {
        let mut checking = sink(|c| c.create_topics = false);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match checking.prepare_topics(&[TopicPlan::named(topic)]).await {
                Err(SinkError::MissingTopic { .. }) => return,
                other => assert!(
                    Instant::now() < deadline,
                    "topic {topic} still there: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keyed_records_with_headers_land_on_java_partitions() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let topic = unique("sink-keyed");
            let partitions = 6;
            let mut sink = sink(|c| c.partitions = partitions);
            let created = sink
                .prepare_topics(&[TopicPlan::named(&topic)])
                .await
                .unwrap();
            assert_eq!(created, vec![topic.clone()]);
            assert!(
                sink.prepare_topics(&[TopicPlan::named(&topic)])
                    .await
                    .unwrap()
                    .is_empty(),
                "second prepare creates nothing"
            );

            let count = 10_000u64;
            for i in 0..count {
                let key = format!(r#"{{"id":"{}"}}"#, i % 1000);
                let value = format!(r#"{{"id":{},"version":{i}}}"#, i % 1000);
                let (position, tx) = (
                    format!("0/{:X}:{}", 0x1000 + i / 100, i % 100),
                    (500 + i / 100).to_string(),
                );
                sink.send(&record(&topic, &key, Some(&value), &position, &tx), i)
                    .await
                    .unwrap();
            }
            sink.flush().await.unwrap();
            assert_eq!(sink.durable_watermark(), count);

            let messages = read_back(&topic, partitions, count as usize);
            assert_eq!(messages.len(), count as usize, "every record exactly once");
            let mut last_version = vec![None::<u64>; 1000];
            for m in &messages {
                let key = m.key().unwrap();
                assert_eq!(
                    m.partition(),
                    java_partition(key, partitions),
                    "key {}",
                    String::from_utf8_lossy(key)
                );
                let value: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap()).unwrap();
                let (id, i) = (
                    value["id"].as_u64().unwrap(),
                    value["version"].as_u64().unwrap(),
                );
                assert_eq!(key, format!(r#"{{"id":"{id}"}}"#).as_bytes());
                assert_eq!(
                    header(m, POSITION_HEADER),
                    Some(format!("0/{:X}:{}", 0x1000 + i / 100, i % 100).as_bytes())
                );
                assert_eq!(
                    header(m, TX_HEADER),
                    Some((500 + i / 100).to_string().as_bytes())
                );
                let last = &mut last_version[id as usize];
                assert!(last.is_none_or(|l| l < i), "per-key order for id {id}");
                *last = Some(i);
            }
            sink.delete_topics(&[topic]).await.unwrap();
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tombstones_have_a_null_value() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let topic = unique("sink-tombstone");
            let mut sink = sink(|_| {});
            sink.prepare_topics(&[TopicPlan::named(&topic)])
                .await
                .unwrap();
            sink.send(
                &record(&topic, r#"{"id":"1"}"#, Some(r#"{"id":1}"#), "0/10:0", "7"),
                0,
            )
            .await
            .unwrap();
            sink.send(&record(&topic, r#"{"id":"1"}"#, None, "0/10:1", "7"), 1)
                .await
                .unwrap();
            sink.flush().await.unwrap();
            let messages = read_back(&topic, 1, 2);
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0].payload(), Some(&br#"{"id":1}"#[..]));
            assert_eq!(messages[1].payload(), None, "a tombstone");
            assert_eq!(messages[1].key(), Some(&br#"{"id":"1"}"#[..]));
            assert_eq!(header(&messages[1], POSITION_HEADER), Some(&b"0/10:1"[..]));
            sink.delete_topics(&[topic]).await.unwrap();
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_topic_without_create_topics() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let topic = unique("sink-missing");
            let mut sink = sink(|c| c.create_topics = false);
            let error = sink
                .prepare_topics(&[TopicPlan::named(&topic)])
                .await
                .unwrap_err();
            assert!(
                matches!(&error, SinkError::MissingTopic { topic: t, .. } if *t == topic),
                "{error:?}"
            );
        })
        .await
        .expect("test timed out");
    }

    /// Sends 100 records with `edit`'s settings and reads them back.
    async fn round_trip(edit: impl FnOnce(&mut KafkaSinkConfig)) {
        let topic = unique("sink-settings");
        let mut sink = sink(edit);
        sink.prepare_topics(&[TopicPlan::named(&topic)])
            .await
            .unwrap();
        let count = 100u64;
        for i in 0..count {
            let (key, value) = (
                format!(r#"{{"id":"{i}"}}"#),
                format!(r#"{{"v":"{}"}}"#, "x".repeat(200)),
            );
            let position = format!("0/10:{i}");
            sink.send(&record(&topic, &key, Some(&value), &position, "7"), i)
                .await
                .unwrap();
        }
        sink.flush().await.unwrap();
        assert_eq!(sink.durable_watermark(), count);
        let messages = read_back(&topic, 1, count as usize);
        assert_eq!(messages.len(), count as usize);
        sink.delete_topics(&[topic]).await.unwrap();
    }

    /// Every codec of `destination.compression` is built into the bundled librdkafka (a codec
    /// it lacks fails the producer's creation) and the broker takes and returns its batches.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_compression_codec_round_trips() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            for codec in tributary::config::COMPRESSION {
                round_trip(|c| c.compression = codec.to_owned()).await;
            }
        })
        .await
        .expect("test timed out");
    }

    /// Exactly-once delivery against a broker without transactions (tansu 0.6 takes
    /// InitProducerId but offers no EndTxn): the commit fails for good, in one line naming the
    /// brokers and the setting to change, and nothing counts as durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_without_transactions_is_refused_at_the_first_commit() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let topic = unique("txn");
            let mut sink = sink(|c| {
                c.transactions = Some(Transactional {
                    id: unique("txn-id"),
                    checkpoint_topic: unique("checkpoints"),
                    timeout: Duration::from_secs(10),
                });
            });
            sink.prepare_topics(&[TopicPlan::named(topic.clone())])
                .await
                .unwrap();
            sink.init_transactions().await.unwrap();
            let (position, tx) = ("0/1:0".to_owned(), "7".to_owned());
            sink.send(&record(&topic, "k", Some("v"), &position, &tx), 0)
                .await
                .unwrap();
            let err = sink.commit_keyed(b"lane", b"checkpoint").await.unwrap_err();
            let line = err.to_string();
            assert!(
                matches!(err, SinkError::TransactionsUnsupported { .. }) && !err.is_transient(),
                "{err:?}"
            );
            assert!(
                line.contains(kafka()) && line.contains("at_least_once") && !line.contains('\n'),
                "{line}"
            );
            assert_eq!(sink.durable_watermark(), 0);
        })
        .await
        .expect("test timed out");
    }

    /// The start of an exactly-once run asks the brokers' ApiVersions first: tansu is refused
    /// before the checkpoint topic is created, naming the missing EndTxn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_without_transactions_is_refused_at_the_start() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let checkpoints = unique("checkpoints");
            let mut sink = sink(|c| {
                c.transactions = Some(Transactional {
                    id: unique("txn-id"),
                    checkpoint_topic: checkpoints.clone(),
                    timeout: Duration::from_secs(10),
                });
            });
            let err = sink.start_transactions().await.unwrap_err();
            assert!(
                matches!(err, SinkError::TransactionsUnsupported { .. }) && !err.is_transient(),
                "{err:?}"
            );
            assert!(err.to_string().contains("EndTxn"), "{err}");
            let missing = sink
                .missing_topics(std::slice::from_ref(&checkpoints))
                .await
                .unwrap();
            assert_eq!(
                missing,
                [checkpoints],
                "the checkpoint topic was not created"
            );
        })
        .await
        .expect("test timed out");
    }

    /// `acks = 1` and `0` produce without the idempotent producer (librdkafka refuses
    /// idempotence with them) and still deliver when nothing fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_acks_level_delivers() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            for acks in [Acks::All, Acks::One, Acks::Zero] {
                round_trip(|c| c.acks = acks).await;
            }
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_topic_is_created_with_its_own_partition_count() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let names = [
                unique("sink-parts-a"),
                unique("sink-parts-b"),
                unique("sink-parts-c"),
            ];
            let plans = [
                TopicPlan {
                    name: names[0].clone(),
                    partitions: Some(2),
                },
                TopicPlan {
                    name: names[1].clone(),
                    partitions: Some(5),
                },
                TopicPlan::named(&names[2]),
            ];
            let mut sink = sink(|c| c.partitions = 3);
            let created = sink.prepare_topics(&plans).await.unwrap();
            assert_eq!(created, names);
            let counts = sink.partition_counts(&names).await.unwrap();
            let counts: Vec<Option<&i32>> = names.iter().map(|n| counts.get(n)).collect();
            assert_eq!(
                counts,
                [Some(&2), Some(&5), Some(&3)],
                "the plan's count, else destination.partitions"
            );
            let again = [TopicPlan {
                name: names[0].clone(),
                partitions: Some(7),
            }];
            assert!(sink.prepare_topics(&again).await.unwrap().is_empty());
            assert_eq!(
                sink.partition_counts(&names[..1]).await.unwrap()[&names[0]],
                2,
                "an existing topic keeps its count"
            );
            sink.delete_topics(&names).await.unwrap();
        })
        .await
        .expect("test timed out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_topics_removes_created_topics() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let topics = vec![unique("sink-del-a"), unique("sink-del-b")];
            let mut creating = sink(|c| c.partitions = 2);
            let plans: Vec<TopicPlan> = topics.iter().map(TopicPlan::named).collect();
            let created = creating.prepare_topics(&plans).await.unwrap();
            assert_eq!(created, topics);
            creating.delete_topics(&created).await.unwrap();
            for topic in &topics {
                wait_missing(topic).await;
            }
            creating
                .delete_topics(&topics)
                .await
                .expect("deleting deleted topics is not an error");
        })
        .await
        .expect("test timed out");
    }
}
