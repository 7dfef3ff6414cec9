//! `tributary consume`: prints a topic's messages as JSON lines, for demos and quick checks.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_servers: String,
    #[arg(long)]
    pub topic: String,
    /// Start at the first message (else only new messages are printed).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many messages.
    #[arg(long)]
    pub max: Option<u64>,
    /// Stop when no message arrived for this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub async fn run(args: ConsumeArgs) -> i32 {
    match tokio::task::spawn_blocking(move || consume(&args)).await {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn consume(args: &ConsumeArgs) -> Result<(), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", "tributary-consume")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("cannot create a Kafka consumer: {e}"))?;
    let md = consumer
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .map_err(|e| {
            format!(
                "cannot reach the Kafka brokers at {}: {e}",
                args.bootstrap_servers
            )
        })?;
    let partitions = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        return Err(format!("topic {} does not exist", args.topic));
    }
    let mut tpl = TopicPartitionList::new();
    let start = if args.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(&args.topic, p, start)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    let mut last = Instant::now();
    while args.max.is_none_or(|m| seen < m) && last.elapsed() < args.timeout {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                println!("{}", render(&m));
                seen += 1;
                last = Instant::now();
            }
            Some(Err(e)) => return Err(format!("consuming {}: {e}", args.topic)),
            None => {}
        }
    }
    Ok(())
}

/// A message as one JSON object; key and value are embedded as JSON when they are JSON.
fn render(m: &rdkafka::message::BorrowedMessage<'_>) -> String {
    let json = |b: Option<&[u8]>| match b {
        None => serde_json::Value::Null,
        Some(b) => serde_json::from_slice(b)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into_owned())),
    };
    let mut headers = serde_json::Map::new();
    if let Some(h) = m.headers() {
        for i in 0..h.count() {
            let hd = h.get(i);
            let v = hd.value.map(|v| String::from_utf8_lossy(v).into_owned());
            headers.insert(hd.key.to_owned(), v.into());
        }
    }
    serde_json::json!({
        "topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
        "key": json(m.key()), "value": json(m.payload()), "headers": headers,
    })
    .to_string()
}
