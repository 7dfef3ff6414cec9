//! Exactly-once chunked snapshots read by several workers (issue 11, `[-snap-<lane>]`): one
//! shard on three workers, its chunk groups spread over the owner and two lanes, each lane
//! committing its range's rows with a record of the range in a Kafka transaction of its own
//! (librdkafka's mock cluster in a process of its own, `support::mock_kafka`), under UPDATEs
//! spread over every key:
//! - a lane whose answer is lost after its commit is settled by the owner (fenced, its record
//!   read back) and its range is not read again;
//! - a lane that fails before its commit is fenced and its range read by the owner at once;
//! - an owner SIGKILLed after its lanes committed their ranges, before the group's end was
//!   committed, is taken over by another worker that reads those ranges no more: their keys
//!   are filtered in the stream as the group would (no change their rows hold comes after
//!   them), and the rest of the group is read again.
//!
//! The mock cluster hides no aborted transaction from `read_committed` consumers: the killed
//! owner's open transaction (the rows of its own range of the group) is seen, and counted.

mod support;

mod serial {
    use std::collections::{HashMap, HashSet};
    use std::path::Path;
    use std::time::Duration;

    use super::support::cluster::{
        four_tables_of, table_verdicts, task_toml, wait_streaming, Cluster, Load, TABLES,
    };
    use super::support::mock_kafka::MockKafka;
    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(120);
    const ROWS: i64 = 2_000;
    /// Rows per range: groups of three ranges (the owner's and two lanes').
    const CHUNK: usize = 50;

    /// UPDATEs spread over every key of the four tables, so every chunk group has changes
    /// beside it.
    fn spread_updates(db: &TestDb) -> Load {
        Load::start(db, |n| {
            let id = (n * 7_919) % ROWS + 1;
            format!(
                "UPDATE {} SET v = v + 1 WHERE id = {id}",
                TABLES[(n % 4) as usize]
            )
        })
    }

    /// Task `task` over the four tables as one exactly-once shard into the mock at
    /// `servers`, whose groups the owner and two lanes read.
    fn create_task(c: &Cluster, db: &TestDb, task: &str, servers: &str) {
        let path = task_toml(c.dir.path(), task, db, "", "");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("sharding = \"table\"", "sharding = \"none\"")
            .replace(
                &format!("bootstrap_servers = {:?}", kafka()),
                &format!("bootstrap_servers = {servers:?}"),
            );
        std::fs::write(&path, text).unwrap();
        let source =
            format!("snapshot_chunk_rows = {CHUNK}\nsnapshot_connections = 1\nsnapshot_lanes = 2");
        add_to_section(&path, "source", &source);
        add_to_section(
            &path,
            "destination",
            "delivery = \"exactly_once\"\ntransaction_interval = \"1s\"",
        );
        c.create_task(&path);
    }

    fn topics(task: &str) -> Vec<String> {
        TABLES.iter().map(|t| format!("{task}.{t}")).collect()
    }

    /// A mock cluster of three brokers with the task's topics.
    fn mock_for(task: &str) -> MockKafka {
        let names = topics(task);
        MockKafka::start(3, &names.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Snapshot rows (`op` "r") of one key read more than once, over the four topics.
    fn reads_twice(servers: &str, task: &str) -> usize {
        topics(task)
            .iter()
            .map(|topic| {
                let msgs = consume_all_from(servers, topic, Duration::from_secs(1), LIMIT);
                let reads: Vec<String> = values(&msgs)
                    .into_iter()
                    .filter(|v| v["op"] == "r")
                    .map(|v| v["after"]["id"].to_string())
                    .collect();
                let keys: HashSet<&String> = reads.iter().collect();
                reads.len() - keys.len()
            })
            .sum()
    }

    /// Lines of every worker's log containing `text` (plain: no colours in a file).
    fn log_lines(c: &Cluster, text: &str) -> Vec<String> {
        c.workers
            .iter()
            .flat_map(|w| {
                std::fs::read_to_string(&w.log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(text))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every table's keys all seen at their last values, none stale; returns how many values
    /// came twice over them.
    async fn verdicts(db: &TestDb, task: &str, servers: &str) -> i64 {
        let mut duplicated = 0;
        for (table, v) in table_verdicts(db, task, servers).await {
            eprintln!("{table}: {v:?}");
            assert_eq!(v.stale, 0, "{table}: {v:?}");
            duplicated += v.duplicated;
        }
        duplicated
    }

    /// Each worker's first committed range answers an error, as if the answer were lost: the
    /// owner fences that lane, finds its record of the range and takes the range as read.
    /// Nothing comes twice (with the record not taken, a range's 50 rows did).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn a_lane_whose_answer_is_lost_after_its_commit_is_settled_and_not_read_again() {
        let db = four_tables_of("eolanelost", ROWS).await;
        let task = unique("eolanelost");
        let mock = mock_for(&task);
        let failpoints = format!("{}=1*return", tributary::failpoint::LANE_AFTER_COMMIT);
        let c = Cluster::start_env(3, "", &[("FAILPOINTS", &failpoints)]);
        let load = spread_updates(&db);
        load.wait_more(100).await;
        create_task(&c, &db, &task, &mock.servers);
        wait_streaming(&c, &task, 1);
        load.wait_more(200).await;
        load.stop().await;
        let duplicated = verdicts(&db, &task, &mock.servers).await;
        let twice = reads_twice(&mock.servers, &task);
        let settled = log_lines(&c, "was committed, its answer lost: taken as read");
        eprintln!(
            "{duplicated} values duplicated, {twice} rows read twice, {} ranges settled",
            settled.len()
        );
        assert!(!settled.is_empty(), "a lost answer was settled");
        assert_eq!((duplicated, twice), (0, 0));
        db.cleanup().await;
    }

    /// Messages of a key in `ids` whose value is below one the key had before (the values
    /// only grow): a change a chunk's snapshot already saw, delivered after the chunk's row.
    fn went_back(servers: &str, topic: &str, ids: std::ops::RangeInclusive<i64>) -> usize {
        let msgs = consume_all_from(servers, topic, Duration::from_secs(1), LIMIT);
        let mut high: HashMap<i64, i64> = HashMap::new();
        let mut back = 0;
        for v in values(&msgs) {
            let (Some(id), Some(val)) = (v["after"]["id"].as_i64(), v["after"]["v"].as_i64())
            else {
                continue;
            };
            if !ids.contains(&id) {
                continue;
            }
            let top = high.entry(id).or_insert(val);
            back += usize::from(val < *top);
            *top = (*top).max(val);
        }
        back
    }

    /// Waits until a worker is held at the fail point of `held`, then lets it go.
    async fn release_when_held(release: &Path, held: &Path, what: &str) {
        wait_until(what, LIMIT, || held.exists()).await;
        std::fs::remove_file(held).unwrap();
        std::fs::write(release, b"").unwrap();
    }

    /// Each worker's first range read as a lane answers an error before its commit, as a lane
    /// dying there would: the owner fences the lane (its open transaction aborted), finds no
    /// record of the range and reads it itself at once, without the at-least-once fence.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn a_lane_failing_before_its_commit_is_fenced_and_its_range_read_by_the_owner_at_once() {
        let db = four_tables_of("eolanefail", ROWS).await;
        let task = unique("eolanefail");
        let mock = mock_for(&task);
        let failpoints = format!("{}=1*return", tributary::failpoint::LANE_BEFORE_COMMIT);
        let c = Cluster::start_env(3, "", &[("FAILPOINTS", &failpoints)]);
        let load = spread_updates(&db);
        load.wait_more(100).await;
        create_task(&c, &db, &task, &mock.servers);
        wait_streaming(&c, &task, 1);
        load.wait_more(200).await;
        load.stop().await;
        verdicts(&db, &task, &mock.servers).await;
        let twice = reads_twice(&mock.servers, &task);
        let fenced = log_lines(&c, "reading it here (that worker's transaction is fenced)");
        let waited = log_lines(&c, "reading it here once that worker can no longer write");
        eprintln!("{twice} rows read twice, {} ranges fenced", fenced.len());
        assert!(!fenced.is_empty(), "a failed lane was fenced");
        assert!(waited.is_empty(), "no fence waited for: {waited:?}");
        assert!(
            twice <= CHUNK * fenced.len(),
            "{twice} rows read twice: at most the failed ranges' (the mock shows aborted rows)"
        );
        db.cleanup().await;
    }

    /// The owner is held at its first group (the stream at a transaction boundary) while keys
    /// 51..=150 of `public.t1`, the lanes' ranges, are updated twice; then held again once the
    /// group's ranges are read (its lanes' committed, its own range's rows in its open
    /// transaction, the group's end not sent) and SIGKILLed there. Another worker takes the
    /// shard over: it fences the lanes, finds their two committed ranges, filters their keys in
    /// the stream as the group would, and reads only the owner's range of the group again.
    /// - the stream, replayed from before those updates, delivers none of them after the
    ///   lanes' rows, which hold them already (without the filter: 101 older values after the
    ///   rows);
    /// - rows read twice: at most the owner's range's 50, its open transaction that the mock
    ///   shows (without the take-over, all 150 of the group).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn an_owner_killed_after_its_lanes_committed_is_taken_over_without_their_ranges_read_again(
    ) {
        let db = four_tables_of("eolanekill", ROWS).await;
        let task = unique("eolanekill");
        let mock = mock_for(&task);
        let (group_dir, read_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (group, group_held) = fifo(group_dir.path());
        let (read, read_held) = fifo(read_dir.path());
        let failpoints = format!(
            "{}=1*return({});{}=1*return({})",
            tributary::failpoint::SOURCE_CHUNK_GROUP,
            group.display(),
            tributary::failpoint::SOURCE_LANES_READ,
            read.display()
        );
        let mut c = Cluster::start_env(3, "", &[("FAILPOINTS", &failpoints)]);
        let load = spread_updates(&db);
        load.wait_more(100).await;
        create_task(&c, &db, &task, &mock.servers);
        wait_until("the owner at its first group", LIMIT, || {
            group_held.exists()
        })
        .await;
        for _ in 0..2 {
            db.client
                .batch_execute("UPDATE public.t1 SET v = v + 1 WHERE id BETWEEN 51 AND 150")
                .await
                .unwrap();
        }
        release_when_held(&group, &group_held, "the owner at its first group").await;
        wait_until("the owner held after its lanes' commits", LIMIT, || {
            read_held.exists()
        })
        .await;
        let owner = c.owners(&task)[0].1.expect("an owner");
        std::fs::remove_file(&read_held).unwrap();
        c.kill(c.index(owner));
        tracing::info!(owner, "owner killed with its group's lanes committed");
        // The next owner holds once at each point too: let it go.
        release_when_held(&group, &group_held, "the next owner at its first group").await;
        release_when_held(&read, &read_held, "the next owner's group read").await;
        wait_streaming(&c, &task, 1);
        load.wait_more(200).await;
        load.stop().await;
        verdicts(&db, &task, &mock.servers).await;
        let twice = reads_twice(&mock.servers, &task);
        let back = went_back(&mock.servers, &format!("{task}.public.t1"), 51..=150);
        let taken = log_lines(
            &c,
            "committed before this owner took over are not read again",
        );
        eprintln!("{twice} rows read twice, {back} values went back; {taken:?}");
        assert!(
            taken.len() == 1 && taken[0].contains("ranges=2"),
            "the new owner took the two lanes' ranges over: {taken:?}"
        );
        assert_eq!(back, 0, "changes the lanes' rows hold came after them");
        assert!(
            twice <= CHUNK,
            "{twice} rows read twice: at most the killed owner's own range of {CHUNK}"
        );
        db.cleanup().await;
    }
}
