//! Topic names: derived and cleaned in one place, so the topics a task creates are exactly the
//! topics its records go to. And topic partition counts: recorded when the task first writes
//! to a topic, and refused when they change (FORMATS.md "Partition policies").

use std::collections::BTreeMap;

use crate::sink::SinkError;

/// Records `topic`'s partition count the first time it is seen and checks it against the
/// recorded one afterwards. A changed count is refused, since every hash-based choice (the
/// `hash_table` and `hash_key` policies, and the producer's murmur2 without a policy) would
/// move keys to other partitions and break per-key order; under `partition_zero`
/// (`fixed_partition`) every record stays in partition 0, so the new count is logged and
/// recorded instead.
pub fn check_partitions(
    recorded: &mut BTreeMap<String, i32>,
    topic: &str,
    current: i32,
    fixed_partition: bool,
) -> Result<(), SinkError> {
    match recorded.get(topic).copied() {
        None => {
            recorded.insert(topic.to_owned(), current);
            Ok(())
        }
        Some(r) if r == current => Ok(()),
        Some(r) if fixed_partition => {
            tracing::warn!(topic, recorded = r, current, "the topic's partition count changed; under partition_zero every record still goes to partition 0");
            recorded.insert(topic.to_owned(), current);
            Ok(())
        }
        Some(r) => Err(SinkError::PartitionsChanged {
            topic: topic.to_owned(),
            recorded: r,
            current,
        }),
    }
}

/// The topic of a table's records: `destination.topic` when set, else
/// `<task>.<schema>.<table>` with every character Kafka does not allow in a topic name
/// (anything but ASCII letters, digits, `.`, `_` and `-`) replaced by `_`, as Debezium's topic
/// naming does.
pub fn table_topic(task: &str, topic_override: Option<&str>, schema: &str, table: &str) -> String {
    if let Some(t) = topic_override {
        return t.to_owned();
    }
    let mut out = String::with_capacity(task.len() + schema.len() + table.len() + 2);
    for part in [task, ".", schema, ".", table] {
        out.extend(part.chars().map(clean));
    }
    out
}

fn clean(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
        c
    } else {
        '_'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_counts_are_recorded_then_held() {
        let mut recorded = BTreeMap::new();
        check_partitions(&mut recorded, "a", 4, false).unwrap();
        check_partitions(&mut recorded, "a", 4, false).unwrap();
        assert_eq!(recorded["a"], 4);
        let e = check_partitions(&mut recorded, "a", 6, false).unwrap_err();
        assert!(
            matches!(&e, SinkError::PartitionsChanged { topic, recorded: 4, current: 6 } if topic == "a"),
            "{e:?}"
        );
        let line = e.to_string();
        assert!(
            line.contains("topic a has 6 partition(s) but had 4")
                && line.contains("per-key order")
                && line.contains("give the topic 4 partition(s) again")
                && !line.contains('\n'),
            "{line}"
        );
        assert_eq!(recorded["a"], 4, "a refused count is not recorded");
        check_partitions(&mut recorded, "a", 6, true).unwrap();
        assert_eq!(recorded["a"], 6, "partition_zero takes the new count");
    }

    #[test]
    fn names_are_cleaned_and_the_override_wins() {
        assert_eq!(
            table_topic("shop", None, "public", "orders"),
            "shop.public.orders"
        );
        assert_eq!(
            table_topic("shop", None, "My Schema", "a\"b$ü"),
            "shop.My_Schema.a_b__"
        );
        assert_eq!(table_topic("shop", Some("all"), "public", "x"), "all");
    }
}
