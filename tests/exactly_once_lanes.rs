//! Exactly-once chunked snapshots read by several workers (issue 11, `[-snap-<lane>]`): one
//! shard on three workers, its chunk groups spread over the owner and two lanes, each lane
//! committing its range's rows with a record of the range in a Kafka transaction of its own
//! (librdkafka's mock cluster in a process of its own, `support::mock_kafka`), under UPDATEs
//! spread over every key:
//! - a lane whose answer is lost after its commit is settled by the owner (fenced, its record
//!   read back) and its range is not read again;
//! - an owner SIGKILLed after its lanes committed their ranges, before the group's end was
//!   committed, is taken over by another worker that reads those ranges no more: their keys
//!   are filtered in the stream as the group would, and the rest of the group is read again.
//!
//! The mock cluster hides no aborted transaction from `read_committed` consumers: the killed
//! owner's open transaction (the rows of its own range of the group) is seen, and counted.

mod support;

mod serial {
    use std::collections::HashSet;
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

    /// Lines of every worker's log containing `text`, without their colours.
    fn log_lines(c: &Cluster, text: &str) -> Vec<String> {
        c.workers
            .iter()
            .flat_map(|w| {
                std::fs::read_to_string(&w.log)
                    .unwrap_or_default()
                    .lines()
                    .map(plain)
                    .filter(|l| l.contains(text))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `line` without ANSI escape sequences (`ESC [ ... m`).
    fn plain(line: &str) -> String {
        let mut out = String::with_capacity(line.len());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                out.push(c);
            }
        }
        out
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

    /// The owner is held once its first group's ranges are read (its lanes' committed, its own
    /// range's rows in its open transaction, the group's end not sent) and SIGKILLed there.
    /// Another worker takes the shard over: it fences the lanes, finds their two committed
    /// ranges, filters their keys in the stream as the group would, and reads only the owner's
    /// range of the group again. Rows read twice: at most that range's 50, the killed owner's
    /// open transaction that the mock shows (without the take-over, all 150 of the group).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn an_owner_killed_after_its_lanes_committed_is_taken_over_without_their_ranges_read_again(
    ) {
        let db = four_tables_of("eolanekill", ROWS).await;
        let task = unique("eolanekill");
        let mock = mock_for(&task);
        let fifo_dir = tempfile::tempdir().unwrap();
        let (release, held) = fifo(fifo_dir.path());
        let failpoints = format!(
            "{}=1*return({})",
            tributary::failpoint::SOURCE_LANES_READ,
            release.display()
        );
        let mut c = Cluster::start_env(3, "", &[("FAILPOINTS", &failpoints)]);
        let load = spread_updates(&db);
        load.wait_more(100).await;
        create_task(&c, &db, &task, &mock.servers);
        wait_until("the owner held after its lanes' commits", LIMIT, || {
            held.exists()
        })
        .await;
        let owner = c.owners(&task)[0].1.expect("an owner");
        std::fs::remove_file(&held).unwrap();
        c.kill(c.index(owner));
        tracing::info!(owner, "owner killed with its group's lanes committed");
        // The next owner holds once at its first group too: let it go.
        wait_until("the next owner at its first group", LIMIT, || held.exists()).await;
        std::fs::write(&release, b"").unwrap();
        wait_streaming(&c, &task, 1);
        load.wait_more(200).await;
        load.stop().await;
        verdicts(&db, &task, &mock.servers).await;
        let twice = reads_twice(&mock.servers, &task);
        let taken = log_lines(
            &c,
            "committed before this owner took over are not read again",
        );
        eprintln!("{twice} rows read twice; {taken:?}");
        assert!(
            taken.len() == 1 && taken[0].contains("ranges=2"),
            "the new owner took the two lanes' ranges over: {taken:?}"
        );
        assert!(
            twice <= CHUNK,
            "{twice} rows read twice: at most the killed owner's own range of {CHUNK}"
        );
        db.cleanup().await;
    }
}
