//! The broker's items: the connection, each target topic against the task's topic plan
//! (`crate::route::Routing::topics`, the plan a first start prepares), and free space.

use std::collections::HashMap;

use super::source::SourceFacts;
use super::{bytes, Item};
use crate::config::TaskSpec;
use crate::metrics::ShardLabels;
use crate::route::Routing;
use crate::sink::kafka::KafkaSink;
use crate::sink::{Sink, TopicPlan};

/// Runs the broker's items (`topics` only when the source's tables are known).
pub async fn check(spec: &TaskSpec, source: Option<SourceFacts>, out: &mut Vec<Item>) {
    let plans = source
        .as_ref()
        .map(|s| Routing::new(spec).topics(&s.tables))
        .unwrap_or_default();
    let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
    let sink = crate::task::kafka_config(spec)
        .map_err(|e| e.to_string())
        .and_then(|c| {
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
    out.push(broker_space(source.and_then(|s| s.bytes)));
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

/// Kafka reports free log-directory space only through DescribeLogDirs, which the client
/// library tributary uses (librdkafka) does not offer: the item says so and passes.
fn broker_space(source: Option<u64>) -> Item {
    let size = source.map_or("the source's size".into(), |b| {
        format!(
            "the selected tables' {} on the source (indexes included)",
            bytes(b)
        )
    });
    Item::pass("broker_space", format!("not reported: the brokers' free space is not read (librdkafka has no DescribeLogDirs call), so it cannot be compared with {size}; make sure the brokers' log directories have room for it"))
}
