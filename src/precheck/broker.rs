//! The broker's items: the connection, each target topic against the task's topic plan
//! (`crate::route::Routing::topics`, the plan a first start prepares), and free space
//! (`crate::sink::kafka::log_dirs`).

use std::collections::HashMap;
use std::time::Duration;

use super::source::SourceFacts;
use super::{bytes, Item};
use crate::config::Delivery;
use crate::config::TaskSpec;
use crate::metrics::ShardLabels;
use crate::route::Routing;
use crate::sink::kafka::log_dirs::{self, Space, Transactions};
use crate::sink::kafka::KafkaSink;
use crate::sink::{Sink, TopicPlan};

/// Runs the broker's items (`topics` only when the source's tables are known).
pub async fn check(spec: &TaskSpec, source: Option<SourceFacts>, out: &mut Vec<Item>) {
    let plans = source
        .as_ref()
        .map(|s| Routing::new(spec).topics(&s.tables))
        .unwrap_or_default();
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let config = crate::task::kafka_config(spec).map_err(|e| e.to_string());
    let sink = config.clone().and_then(|c| {
        KafkaSink::new(c, &ShardLabels::new(&spec.name, 0)).map_err(|e| e.to_string())
    });
    let counts = match sink {
        Ok(mut sink) => sink
            .partition_counts(&names)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let counts = match counts {
        Ok(c) => c,
        Err(e) => {
            out.push(Item::fail(
                "kafka_connect",
                format!("{e}; the topic items were not checked"),
                "fix destination.bootstrap_servers and the security settings, or start the broker",
            ));
            return;
        }
    };
    out.push(Item::pass(
        "kafka_connect",
        format!(
            "connected to the Kafka brokers at {}",
            spec.destination.bootstrap_servers
        ),
    ));
    if source.is_some() {
        out.push(topics(spec, &plans, &counts));
    }
    if let (Delivery::ExactlyOnce, Ok(c)) = (spec.destination.delivery, &config) {
        out.push(transactions(
            log_dirs::transactions_offered(c, SPACE_STEP).await,
            &spec.destination.bootstrap_servers,
        ));
    }
    let space = match &config {
        Ok(c) => log_dirs::describe(c, SPACE_STEP).await,
        Err(e) => Err(e.clone()),
    };
    out.push(broker_space(
        space,
        source.and_then(|s| s.bytes),
        spec.destination.replication_factor,
    ));
}

/// Exactly-once: the brokers offer the transaction APIs (tansu does not).
fn transactions(offered: Result<Transactions, String>, servers: &str) -> Item {
    const N: &str = "kafka_transactions";
    match offered {
        Ok(Transactions::Offered) => Item::pass(
            N,
            format!("the brokers at {servers} offer transactions (InitProducerId, AddPartitionsToTxn, EndTxn)"),
        ),
        Ok(Transactions::Missing(apis)) => Item::fail(
            N,
            format!("destination.delivery = \"exactly_once\" needs Kafka transactions, and the brokers at {servers} do not offer {}", apis.join(", ")),
            "set destination.delivery = \"at_least_once\", or use brokers with transactions (Apache Kafka, Redpanda)",
        ),
        Ok(Transactions::NotAsked) => Item::warn(
            N,
            "not checked over SASL: a broker without transactions fails the first commit".to_owned(),
            "make sure the brokers offer transactions, or accept the warning",
        ),
        Err(e) => Item::fail(
            N,
            format!("cannot ask the brokers which APIs they offer: {e}"),
            "fix destination.bootstrap_servers and the security settings, or start the broker",
        ),
    }
}

/// Each topic exists with the partition count the task maps to it, or will be created.
fn topics(spec: &TaskSpec, plans: &[TopicPlan], counts: &HashMap<String, i32>) -> Item {
    const N: &str = "topics";
    let d = &spec.destination;
    let create = d.create_topics.unwrap_or(true);
    let (mut ok, mut missing, mut differ) = (Vec::new(), Vec::new(), Vec::new());
    for p in plans {
        let mapped = p.partitions.or(d.partitions);
        match (counts.get(&p.name), mapped) {
            (Some(&has), Some(want)) if has != want => {
                differ.push(format!(
                    "{} has {has} partition(s), the task maps {want}",
                    p.name
                ));
            }
            (Some(&has), _) => ok.push(format!("{} (exists, {has} partition(s))", p.name)),
            (None, want) => {
                let n = want.unwrap_or(1);
                if create {
                    ok.push(format!(
                        "{} (created at the start with {n} partition(s))",
                        p.name
                    ));
                } else {
                    missing.push(format!("{} (needs {n} partition(s))", p.name));
                }
            }
        }
    }
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "topic(s) {} do not exist and destination.create_topics = false",
            missing.join(", ")
        ));
        fixes.push("create them before the task starts (else its first start fails), or set destination.create_topics = true");
    }
    if !differ.is_empty() {
        problems.push(format!(
            "{}: the task writes to the partitions the topic has",
            differ.join("; ")
        ));
        fixes.push("give the topic the mapped partition count, change objects.table.<table>.partitions or destination.partitions to the topic's, or accept the warning");
    }
    if problems.is_empty() {
        return Item::pass(N, format!("{} topic(s): {}", ok.len(), summary(&ok)));
    }
    Item::warn(N, problems.join("; "), fixes.join("; "))
}

/// The first five, and how many more.
fn summary(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    match list.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// How long each step of the free-space read (connect, handshake, request) may take.
const SPACE_STEP: Duration = Duration::from_secs(5);

/// The brokers' free space against the source's size (`source`, the selected tables' bytes)
/// times the replication factor the task creates topics with (`replication`; unset or -1
/// counts as 1). Never fails: the connection itself is `kafka_connect`'s item.
fn broker_space(
    space: Result<Space, String>,
    source: Option<u64>,
    replication: Option<i32>,
) -> Item {
    const N: &str = "broker_space";
    let factor = replication.filter(|&r| r > 0).unwrap_or(1) as u64;
    let need = source.map(|b| b.saturating_mul(factor));
    let size = match (source, factor) {
        (None, _) => "the source's size".to_owned(),
        (Some(b), 1) => format!(
            "the selected tables' {} on the source (indexes included)",
            bytes(b)
        ),
        (Some(b), f) => format!(
            "the selected tables' {} on the source (indexes included) times replication factor {f}, {}",
            bytes(b),
            bytes(b.saturating_mul(f))
        ),
    };
    let room = format!("make sure the brokers' log directories have room for {size}");
    let brokers = match space {
        Err(e) => return Item::pass(N, format!("not read: {e}; {room}")),
        Ok(Space::Sasl) => {
            return Item::pass(N, format!("not read: the free-space check speaks PLAINTEXT and SSL only; SASL brokers are not asked; {room}"))
        }
        Ok(Space::NotOffered { broker, offered }) => {
            let offered = offered.map_or("it offers no DescribeLogDirs at all".into(), |v| {
                format!("it offers up to v{v}, which carries no free space")
            });
            return Item::pass(N, format!("not reported: the broker at {broker} does not offer DescribeLogDirs v4 (Kafka 3.3+ does; {offered}); {room}"));
        }
        Ok(Space::Brokers(b)) => b,
    };
    let (mut usable, mut unread) = (0u64, 0usize);
    let mut each = Vec::new();
    for b in &brokers {
        let name = format!("broker {} at {}", b.id, b.address);
        match &b.space {
            Ok(s) if s.unknown < s.dirs => {
                usable = usable.saturating_add(s.usable);
                let partly = if s.unknown > 0 {
                    format!(
                        " ({} of {} log directories not reported)",
                        s.unknown, s.dirs
                    )
                } else {
                    String::new()
                };
                each.push(format!(
                    "{name}: {} free of {}{partly}",
                    bytes(s.usable),
                    bytes(s.total)
                ));
            }
            Ok(_) => {
                unread += 1;
                each.push(format!("{name}: no log directory reports its space"));
            }
            Err(e) => {
                unread += 1;
                each.push(format!("{name}: not read ({e})"));
            }
        }
    }
    let each = each.join("; ");
    if unread == brokers.len() {
        return Item::pass(N, format!("not reported: {each}; {room}"));
    }
    let free = if unread == 0 {
        format!("the brokers have {} free ({each})", bytes(usable))
    } else {
        format!(
            "the brokers that report have {} free, {unread} did not ({each})",
            bytes(usable)
        )
    };
    match need {
        Some(need) if need > usable && unread == 0 => Item::warn(
            N,
            format!("{size} exceed the free space: {free}"),
            "free or add space in the brokers' log directories, shorten the topics' retention, or select fewer tables (the messages' size differs from the tables' by the format and the compression)",
        ),
        Some(need) if need > usable => Item::pass(
            N,
            format!("{free}: less than {size}, but not every broker reported; make sure the others have room"),
        ),
        Some(_) => Item::pass(N, format!("{free}, enough for {size}")),
        None => Item::pass(N, format!("{free}; the source's size is unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precheck::Status;
    use crate::sink::kafka::log_dirs::{BrokerSpace, DirSums};

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_transactions_item_fails_without_end_txn_and_warns_over_sasl() {
        let t = |offered| transactions(offered, "k:9092");
        assert_eq!(t(Ok(Transactions::Offered)).status, Status::Pass);
        let missing = t(Ok(Transactions::Missing(vec!["EndTxn"])));
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.found.contains("EndTxn"), "{}", missing.found);
        assert!(missing.fix.contains("at_least_once"), "{}", missing.fix);
        assert_eq!(t(Ok(Transactions::NotAsked)).status, Status::Warn);
        assert_eq!(t(Err("refused".into())).status, Status::Fail);
    }

    fn broker(id: i32, usable: u64, total: u64) -> BrokerSpace {
        BrokerSpace {
            id,
            address: format!("k{id}:9092"),
            space: Ok(DirSums {
                usable,
                total,
                dirs: 1,
                unknown: 0,
            }),
        }
    }

    fn two() -> Space {
        Space::Brokers(vec![
            broker(1, 3 * GIB, 10 * GIB),
            broker(2, 2 * GIB, 10 * GIB),
        ])
    }

    #[test]
    fn more_than_the_summed_free_space_warns_naming_each_broker() {
        let i = broker_space(Ok(two()), Some(6 * GIB), None);
        assert_eq!(i.status, Status::Warn, "{}", i.found);
        assert!(
            i.found
                .contains("broker 1 at k1:9092: 3.0 GiB free of 10.0 GiB")
                && i.found
                    .contains("broker 2 at k2:9092: 2.0 GiB free of 10.0 GiB")
                && i.found.contains("the brokers have 5.0 GiB free"),
            "{}",
            i.found
        );
    }

    #[test]
    fn the_replication_factor_multiplies_the_source_s_size() {
        let i = broker_space(Ok(two()), Some(2 * GIB), Some(3));
        assert_eq!(i.status, Status::Warn, "{}", i.found);
        assert!(
            i.found.contains("times replication factor 3, 6.0 GiB"),
            "{}",
            i.found
        );
        let i = broker_space(Ok(two()), Some(2 * GIB), Some(-1));
        assert_eq!(i.status, Status::Pass, "{}", i.found);
    }

    #[test]
    fn less_than_the_free_space_passes_with_the_figures() {
        let i = broker_space(Ok(two()), Some(4 * GIB), Some(1));
        assert_eq!(i.status, Status::Pass, "{}", i.found);
        assert!(
            i.found.contains("the brokers have 5.0 GiB free")
                && i.found.contains("enough for the selected tables' 4.0 GiB"),
            "{}",
            i.found
        );
    }

    #[test]
    fn a_broker_that_does_not_report_turns_the_warning_into_a_note() {
        let mut b = vec![broker(1, GIB, 10 * GIB)];
        b.push(BrokerSpace {
            id: 2,
            address: "k2:9092".into(),
            space: Err("cannot connect to k2:9092: refused".into()),
        });
        let i = broker_space(Ok(Space::Brokers(b)), Some(4 * GIB), None);
        assert_eq!(i.status, Status::Pass, "{}", i.found);
        assert!(
            i.found.contains("1 did not") && i.found.contains("not every broker reported"),
            "{}",
            i.found
        );
    }

    #[test]
    fn nothing_read_passes_saying_why() {
        let i = broker_space(
            Err("cannot connect to k:1: refused".into()),
            Some(GIB),
            None,
        );
        assert_eq!(i.status, Status::Pass);
        assert!(
            i.found.starts_with("not read: cannot connect"),
            "{}",
            i.found
        );
        let i = broker_space(Ok(Space::Sasl), None, None);
        assert!(
            i.found.contains("SASL brokers are not asked"),
            "{}",
            i.found
        );
        let i = broker_space(
            Ok(Space::NotOffered {
                broker: "k:1".into(),
                offered: Some(2),
            }),
            None,
            None,
        );
        assert!(
            i.found.starts_with(
                "not reported: the broker at k:1 does not offer DescribeLogDirs v4 (Kafka 3.3+ \
                 does; it offers up to v2, which carries no free space)"
            ),
            "{}",
            i.found
        );
    }
}
