//! `tributary mock-kafka`: librdkafka's mock cluster in a process of its own, so that tests
//! (and users trying exactly-once on a laptop) can SIGKILL tributary without killing the
//! broker. The mock offers transactions and `read_committed` consumers, keeps everything in
//! memory, and does not hide aborted transactions from `read_committed` consumers (its Fetch
//! answers list none): it shows exactly-once's commits and fencing order, not abort filtering.
//! It has no CreateTopics request either: `--topic` creates a task's topics at the start.
//!
//! Faults are asked for on stdin, one command a line, each answered `ok` or `error: ...` on
//! stdout: `down BROKER` and `up BROKER` (a broker refuses connections, or takes them again;
//! its partitions get no new leader), `errors API ERROR COUNT` (the next COUNT requests of API
//! `Produce`, `EndTxn`, `AddPartitionsToTxn` or `InitProducerId` fail with ERROR
//! `not_leader_for_partition`, `request_timed_out` or `coordinator_not_available`), and
//! `coordinator TRANSACTIONAL_ID BROKER` (which broker coordinates a transactional id).

use std::io::Write;

use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio::io::{AsyncBufReadExt, BufReader};

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
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let signal = super::wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let answer = match command(&mock, &line) {
                        Ok(()) => "ok".to_owned(),
                        Err(e) => format!("error: {e}"),
                    };
                    if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
                        break;
                    }
                }
                // Stdin closed (or unreadable): keep serving until the signal.
                _ => (&mut signal).await,
            },
        }
    }
    drop(mock);
    0
}

/// Runs one fault command (see the module's header).
fn command(mock: &MockCluster<'static, DefaultProducerContext>, line: &str) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let broker = |w: &str| {
        w.parse::<i32>()
            .map_err(|_| format!("{w:?} is not a broker id"))
    };
    let done = |r: rdkafka::error::KafkaResult<()>| r.map_err(|e| e.to_string());
    match words.as_slice() {
        ["down", b] => done(mock.broker_down(broker(b)?)),
        ["up", b] => done(mock.broker_up(broker(b)?)),
        ["coordinator", id, b] => {
            done(mock.coordinator(MockCoordinator::Transaction((*id).to_owned()), broker(b)?))
        }
        ["errors", api, error, count] => {
            let api = match *api {
                "Produce" => RDKafkaApiKey::Produce,
                "EndTxn" => RDKafkaApiKey::EndTxn,
                "AddPartitionsToTxn" => RDKafkaApiKey::AddPartitionsToTxn,
                "InitProducerId" => RDKafkaApiKey::InitProducerId,
                other => return Err(format!("unknown API {other:?}")),
            };
            let error = match *error {
                "not_leader_for_partition" => {
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
                }
                "request_timed_out" => RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                "coordinator_not_available" => {
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE
                }
                other => return Err(format!("unknown error {other:?}")),
            };
            let count: usize = count
                .parse()
                .map_err(|_| format!("{count:?} is not a count"))?;
            mock.request_errors(api, &vec![error; count]);
            Ok(())
        }
        _ => Err(format!(
            "unknown command {line:?}: down B, up B, errors API ERROR N, coordinator ID B"
        )),
    }
}
