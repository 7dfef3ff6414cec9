//! The broker's own ingest rate from a bare producer, the limit `scripts/bench.sh` sets beside
//! the snapshot into the broker: the records tributary's snapshot wrote (the first up to 20,000
//! of `BENCH_PRODUCER_SOURCE_TOPIC`, keys, values and headers as they are, so sizes and
//! compression ratio are tributary's; `BENCH_PRODUCER_HEADERS=0` leaves the headers out, to show
//! what the two headers FORMATS.md requires cost) produced again, cycled,
//! `BENCH_PRODUCER_MESSAGES` times (default 1,000,000) into a fresh topic of one partition, with the producer settings tributary uses by
//! default (lz4, `acks=all`, idempotence, linger 5 ms, batches of up to 10,000 messages or
//! 1 MB). The time runs from the first send to the last acknowledgement. Ignored in the test
//! suite; run by `scripts/bench.sh` (release build), which sets `TRIBUTARY_BENCH_KAFKA`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Records read from the snapshot's topic and cycled over.
const SAMPLE: i64 = 20_000;

/// A record of the snapshot's topic: key, value and headers.
struct Sampled {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
}

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
struct Counts {
    acked: AtomicU64,
    failed: AtomicU64,
}

struct Counting(Arc<Counts>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = match result {
            Ok(_) => &self.0.acked,
            Err(_) => &self.0.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench.sh runs it"]
async fn bare_producer_ingest_rate() {
    let brokers = std::env::var("TRIBUTARY_BENCH_KAFKA").expect("TRIBUTARY_BENCH_KAFKA");
    let source = std::env::var("BENCH_PRODUCER_SOURCE_TOPIC").expect("BENCH_PRODUCER_SOURCE_TOPIC");
    let messages: u64 = std::env::var("BENCH_PRODUCER_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let headers = std::env::var("BENCH_PRODUCER_HEADERS").map_or(true, |v| v != "0");
    let mut sample = read_sample(&brokers, &source);
    if !headers {
        sample.iter_mut().for_each(|r| r.headers.clear());
    }
    assert!(!sample.is_empty(), "no records in {source}");
    let topic = format!(
        "bench_producer_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    create_topic(&brokers, &topic).await;
    let bytes: usize = sample.iter().map(|r| r.key.len() + r.value.len()).sum();
    let avg = bytes as f64 / sample.len() as f64;
    let (secs, counts) = produce(&brokers, &topic, &sample, messages);
    assert_eq!(
        counts.failed.load(Ordering::Relaxed),
        0,
        "failed deliveries"
    );
    assert_eq!(counts.acked.load(Ordering::Relaxed), messages);
    println!(
        "PRODUCER messages={messages} headers={headers} avg_record_bytes={avg:.0} seconds={secs:.3} rows_per_s={:.0} topic={topic}",
        messages as f64 / secs
    );
}

/// Up to `SAMPLE` records from the start of `topic`'s partition 0.
fn read_sample(brokers: &str, topic: &str) -> Vec<Sampled> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench_producer_sample")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, end) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks of the snapshot's topic");
    let want = end.min(SAMPLE);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let (mut out, start) = (Vec::new(), Instant::now());
    while (out.len() as i64) < want && start.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let m: OwnedMessage = m.detach();
            let headers = m.headers().map_or_else(Vec::new, |h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            });
            out.push(Sampled {
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
    out
}

async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Sends `messages` records cycling over `sample`, waits for every acknowledgement; the
/// seconds from the first send to the last acknowledgement.
fn produce(brokers: &str, topic: &str, sample: &[Sampled], messages: u64) -> (f64, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    // tributary's defaults (src/sink/kafka/config.rs `producer_config`).
    let producer: BaseProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.codec", "lz4")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "65536")
        .create_with_context(Counting(counts.clone()))
        .expect("producer");
    let start = Instant::now();
    for i in 0..messages {
        let r = &sample[(i % sample.len() as u64) as usize];
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
        let mut record = BaseRecord::to(topic).key(&r.key).payload(&r.value);
        if !r.headers.is_empty() {
            // As a producer must: librdkafka takes the headers with the record.
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (key, value) in &r.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            record = record.headers(headers);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // Wait for acknowledgements to make room (serving their callbacks).
                    record = back;
                    producer.poll(Duration::from_millis(100));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(600))
        .expect("every record acknowledged");
    (start.elapsed().as_secs_f64(), counts)
}
