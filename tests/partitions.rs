//! Partition choice end to end: `tributary run` from PostgreSQL into a topic it creates with
//! `partitions = 3`, read back from tansu. Under each partition policy every message is in the
//! partition that Java's `String.hashCode` (`route::java_string_hash`) and `partition_of`
//! predict from its key or table; without a policy `debezium_json` keeps Java's murmur2 of the
//! key (Kafka's default partitioner). Every message of one key lands in one partition, in
//! commit order; under `hash_key` an UPDATE that changes the key is a DELETE in the old key's
//! partition followed by an INSERT in the new key's.

mod support;

#[path = "support/murmur2.rs"]
mod murmur2;

mod serial {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tributary::route::{java_string_hash, partition_of};

    use super::murmur2::murmur2;
    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);
    const PARTITIONS: i32 = 3;
    /// Rows 1..=ROWS; three rounds of updates; then row 1's key becomes 101.
    const ROWS: i64 = 12;
    const NEW_KEY: i64 = 101;

    /// Runs a task with `policy` over `items` (snapshot, three rounds of updates, a key change)
    /// and returns every message of its topic, by partition then offset.
    async fn run(policy: Option<&str>) -> Vec<Msg> {
        let db = TestDb::create("parts").await;
        db.client
            .batch_execute(&format!(
                "CREATE TABLE items (id int PRIMARY KEY, v text); \
                 ALTER TABLE items REPLICA IDENTITY FULL; \
                 INSERT INTO items SELECT g, 's' FROM generate_series(1, {ROWS}) g"
            ))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let task = unique("parts");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.items"],
            &["full", "incremental"],
            &format!("[objects.table.\"public.items\"]\npartitions = {PARTITIONS}"),
        );
        if let Some(p) = policy {
            add_to_section(&path, "destination", &format!("partition_policy = {p:?}"));
        }
        let mut child = spawn_run(&path, &dir.path().join("data"));
        child.wait_stream_active(&db, &task, LIMIT).await;
        for round in 1..=3 {
            db.client
                .batch_execute(&format!("UPDATE items SET v = 'u{round}'"))
                .await
                .unwrap();
        }
        db.client
            .batch_execute(&format!("UPDATE items SET id = {NEW_KEY} WHERE id = 1"))
            .await
            .unwrap();
        let topic = format!("{task}.public.items");
        let mut msgs = consume_until(&topic, |m| {
            m.iter().any(|m| {
                m.value
                    .as_ref()
                    .is_some_and(|v| v["op"] == "c" && v["after"]["id"] == NEW_KEY)
            })
        });
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            partition_count(&topic),
            PARTITIONS,
            "created with partitions = 3"
        );
        msgs.sort_by_key(|m| (m.partition, m.offset));
        db.cleanup().await;
        msgs
    }

    fn partition_count(topic: &str) -> i32 {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .create()
            .unwrap();
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        md.topics()[0].partitions().len() as i32
    }

    /// The row id of a message (from its key `{"id":N}`).
    fn id(m: &Msg) -> i64 {
        m.key.as_ref().expect("a key")["id"].as_i64().unwrap()
    }

    /// A message's event in short: `r:s`, `u:u1`, `d:u3`, `c:u3`, or `tombstone`.
    fn event(m: &Msg) -> String {
        let Some(v) = &m.value else {
            return "tombstone".into();
        };
        let image = if v["op"] == "d" {
            &v["before"]
        } else {
            &v["after"]
        };
        format!(
            "{}:{}",
            v["op"].as_str().unwrap(),
            image["v"].as_str().unwrap()
        )
    }

    /// `tributary.position` as an ordering key: snapshot rows first, then stream positions.
    fn order(position: &str) -> (u8, u64, u64) {
        if let Some(rest) = position.strip_prefix("snapshot:") {
            let row = rest.rsplit(':').next().unwrap().parse().unwrap();
            return (0, 0, row);
        }
        let (lsn, index) = position.rsplit_once(':').unwrap();
        let (hi, lo) = lsn.split_once('/').unwrap();
        let lsn =
            (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap();
        (1, lsn, index.parse().unwrap())
    }

    /// Every key in one partition; per key, its events in commit order; per partition,
    /// positions never go back. Returns each key's partition.
    fn check_order(msgs: &[Msg]) -> BTreeMap<i64, i32> {
        let mut partition_of_key: BTreeMap<i64, i32> = BTreeMap::new();
        let mut events: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for m in msgs {
            let p = *partition_of_key.entry(id(m)).or_insert(m.partition);
            assert_eq!(p, m.partition, "key {} in two partitions", id(m));
            events.entry(id(m)).or_default().push(event(m));
        }
        for w in msgs.windows(2) {
            if w[0].partition == w[1].partition {
                assert!(
                    order(w[0].position()) <= order(w[1].position()),
                    "partition {}: {} after {}",
                    w[0].partition,
                    w[1].position(),
                    w[0].position()
                );
            }
        }
        let updated = ["r:s", "u:u1", "u:u2", "u:u3"];
        for key in 2..=ROWS {
            assert_eq!(events[&key], updated, "key {key}");
        }
        let mut first = updated.to_vec();
        first.extend(["d:u3", "tombstone"]);
        assert_eq!(events[&1], first, "key 1, then its delete");
        assert_eq!(events[&NEW_KEY], ["c:u3"], "the new key's insert");
        partition_of_key
    }

    /// `hash_key`'s partition of a row whose key column `id` is `key`.
    fn key_partition(key: i64) -> i32 {
        partition_of(java_string_hash(&key.to_string()), PARTITIONS)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hash_key_places_each_key_by_its_java_hash_and_a_key_change_moves_partitions() {
        let msgs = run(Some("hash_key")).await;
        let placed = check_order(&msgs);
        for (key, p) in &placed {
            assert_eq!(*p, key_partition(*key), "key {key}");
        }
        let (old, new) = (key_partition(1), key_partition(NEW_KEY));
        assert_ne!(old, new, "the test's keys must hash to two partitions");
        let at = |op: &str, key: i64| {
            msgs.iter()
                .find(|m| id(m) == key && m.value.as_ref().is_some_and(|v| v["op"] == op))
                .unwrap_or_else(|| panic!("no {op} of key {key}"))
        };
        let (delete, insert) = (at("d", 1), at("c", NEW_KEY));
        assert_eq!((delete.partition, insert.partition), (old, new));
        assert_eq!(
            delete.position(),
            insert.position(),
            "one source event: the DELETE then the INSERT"
        );
        let used: std::collections::BTreeSet<i32> = placed.values().copied().collect();
        assert_eq!(
            used.len(),
            PARTITIONS as usize,
            "keys spread over every partition"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hash_table_places_the_table_by_the_java_hash_of_its_name() {
        let msgs = run(Some("hash_table")).await;
        check_order(&msgs);
        let p = partition_of(java_string_hash("public.items"), PARTITIONS);
        assert_ne!(
            p, 0,
            "a partition the other policies would not pick by accident"
        );
        assert!(
            msgs.iter().all(|m| m.partition == p),
            "all in partition {p}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partition_zero_places_everything_in_partition_zero() {
        let msgs = run(Some("partition_zero")).await;
        check_order(&msgs);
        assert!(msgs.iter().all(|m| m.partition == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_policy_debezium_json_keeps_javas_murmur2_of_the_key() {
        let msgs = run(None).await;
        check_order(&msgs);
        for m in &msgs {
            // Debezium's key is compact JSON, `{"id":N}`: its bytes are the key's.
            let key = serde_json::to_vec(m.key.as_ref().unwrap()).unwrap();
            let want = (murmur2(&key) & 0x7fff_ffff) % PARTITIONS;
            assert_eq!(m.partition, want, "{}", String::from_utf8_lossy(&key));
        }
        let spread: std::collections::BTreeSet<i32> = msgs.iter().map(|m| m.partition).collect();
        assert!(spread.len() > 1, "murmur2 spreads the keys: {spread:?}");
    }
}
