//! `tributary mock-kafka`: librdkafka's mock cluster in a process of its own, so that tests
//! (and users trying exactly-once on a laptop) can SIGKILL tributary without killing the
//! broker. The mock offers transactions and `read_committed` consumers, keeps everything in
//! memory, and does not hide aborted transactions from `read_committed` consumers (its Fetch
//! answers list none): it shows exactly-once's commits and fencing order, not abort filtering.
//! It has no CreateTopics request either: `--topic` creates a task's topics at the start.

use std::io::Write;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Arguments of `tributary mock-kafka`.
#[derive(Debug, clap::Args)]
pub struct MockKafkaArgs {
    /// How many brokers the mock cluster has.
    #[arg(long, default_value_t = 3)]
    pub brokers: i32,
    /// A topic to create at the start, `NAME` or `NAME:PARTITIONS` (the mock cluster has no
    /// CreateTopics request, so a task cannot create its topics on it). Repeatable.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    pub topics: Vec<String>,
}

/// Starts the mock cluster, prints `bootstrap_servers=<list>` on a line of its own, and runs
/// until SIGTERM or Ctrl-C.
pub async fn run(args: MockKafkaArgs) -> i32 {
    let mock: MockCluster<'static, DefaultProducerContext> = match MockCluster::new(args.brokers) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: cannot start the mock cluster: {e}");
            return 1;
        }
    };
    for t in &args.topics {
        let (name, partitions) = match t.rsplit_once(':') {
            Some((n, p)) => match p.parse::<i32>() {
                Ok(p) if p > 0 => (n, p),
                _ => {
                    eprintln!("error: --topic {t}: the partition count must be a positive number, e.g. {n}:3");
                    return 2;
                }
            },
            None => (t.as_str(), 1),
        };
        if let Err(e) = mock.create_topic(name, partitions, args.brokers.min(3)) {
            eprintln!("error: cannot create topic {name} on the mock cluster: {e}");
            return 1;
        }
    }
    let mut out = std::io::stdout();
    if writeln!(out, "bootstrap_servers={}", mock.bootstrap_servers())
        .and_then(|()| out.flush())
        .is_err()
    {
        return 1;
    }
    super::wait_for_signal().await;
    drop(mock);
    0
}
