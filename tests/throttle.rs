//! Throttling as DTS offers it, measured on the records' timestamps in Kafka (the producer's
//! create time: when the runner handed each record on): the snapshot's rows/s, MB/s and
//! queries/s hold within 10%, and a cluster task's incremental limit, split over its shards,
//! follows a live `ctl task update` within 10%.

mod support;

mod serial {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::support::cluster::*;
    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(60);

    /// Messages ordered by timestamp.
    fn by_time(mut msgs: Vec<Msg>) -> Vec<Msg> {
        msgs.sort_by_key(|m| m.timestamp_ms.expect("a timestamp"));
        msgs
    }

    fn ts(m: &Msg) -> i64 {
        m.timestamp_ms.unwrap()
    }

    /// Units per second from the first message to the last, where `unit` is what each message
    /// is charged (the last one's charge is still owed when it leaves, so it is not counted).
    fn rate(msgs: &[Msg], unit: impl Fn(&Msg) -> f64) -> f64 {
        let (first, last) = (&msgs[0], &msgs[msgs.len() - 1]);
        let units: f64 = msgs[..msgs.len() - 1].iter().map(unit).sum();
        units / ((ts(last) - ts(first)) as f64 / 1000.0)
    }

    /// Messages per second with timestamps in `[from, to)` (ms since the epoch).
    fn window_rate(msgs: &[Msg], from: i64, to: i64) -> f64 {
        let n = msgs.iter().filter(|m| (from..to).contains(&ts(m))).count();
        n as f64 / ((to - from) as f64 / 1000.0)
    }

    fn within_10_percent(what: &str, measured: f64, configured: f64) {
        let off = (measured - configured).abs() / configured;
        eprintln!(
            "{what}: {measured:.1}/s for {configured}/s ({:.1}% off)",
            off * 100.0
        );
        assert!(
            off <= 0.10,
            "{what}: {measured:.1}/s is not within 10% of {configured}/s"
        );
    }

    fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    /// Runs a full-only task over `public.t` with `throttle` to its end; its messages by time.
    fn snapshot(db: &TestDb, prefix: &str, throttle: &str, rows: usize) -> Vec<Msg> {
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.t"],
            &["full"],
            throttle,
        );
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_eq!(code, 0, "{err}");
        let msgs = consume_all(
            &format!("{task}.public.t"),
            Duration::from_secs(1),
            Duration::from_secs(20),
        );
        assert_eq!(msgs.len(), rows);
        by_time(msgs)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_holds_rows_per_second_within_10_percent() {
        let db = TestDb::create("thr_rows").await;
        db.client
            .batch_execute(
                "CREATE TABLE t (id int PRIMARY KEY, v text);
                 INSERT INTO t SELECT g, 'x' FROM generate_series(1, 3000) g",
            )
            .await
            .unwrap();
        tracing::info!("3,000 rows at 1,000 rows/s take about 3 s");
        let msgs = snapshot(
            &db,
            "thr_rows",
            "[throttle.full]\nrows_per_second = 1000",
            3000,
        );
        within_10_percent("snapshot rows", rate(&msgs, |_| 1.0), 1000.0);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_holds_mb_per_second_within_10_percent() {
        let db = TestDb::create("thr_mb").await;
        db.client
            .batch_execute(
                "CREATE TABLE t (id int PRIMARY KEY, v text);
                 INSERT INTO t SELECT g, repeat('x', 1500) FROM generate_series(1, 1000) g",
            )
            .await
            .unwrap();
        tracing::info!("about 1.6 MB of records at 0.5 MB/s take about 3 s");
        let msgs = snapshot(&db, "thr_mb", "[throttle.full]\nmb_per_second = 0.5", 1000);
        let total: usize = msgs.iter().map(|m| m.size).sum();
        assert!(total > 1_500_000, "{total} bytes");
        within_10_percent("snapshot bytes", rate(&msgs, |m| m.size as f64), 500_000.0);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_holds_source_qps_within_10_percent() {
        let db = TestDb::create("thr_qps").await;
        let tables: Vec<String> = (1..=6).map(|i| format!("q{i}")).collect();
        for t in &tables {
            db.client
                .batch_execute(&format!(
                    "CREATE TABLE {t} (id int PRIMARY KEY); INSERT INTO {t} VALUES (1)"
                ))
                .await
                .unwrap();
        }
        tracing::info!("6 tables, one query each, at 2 queries/s: they start 0.5 s apart");
        let dir = tempfile::tempdir().unwrap();
        let task = unique("thr_qps");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.q*"],
            &["full"],
            "[throttle.full]\nsource_qps = 2",
        );
        // One connection: a table's first row follows its own start, not another's (with two,
        // both tables' starts are paid before either's rows are taken).
        add_to_section(&path, "source", "snapshot_connections = 1");
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_eq!(code, 0, "{err}");
        let firsts: Vec<Msg> = tables
            .iter()
            .map(|t| {
                let msgs = consume_until(&format!("{task}.public.{t}"), |m| !m.is_empty());
                msgs.into_iter().next().expect("the table's row")
            })
            .collect();
        within_10_percent("table reads", rate(&by_time(firsts), |_| 1.0), 2.0);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chunked_snapshot_holds_source_qps_per_group_within_10_percent() {
        let db = TestDb::create("thr_qpsc").await;
        db.client
            .batch_execute(
                "CREATE TABLE c (id int PRIMARY KEY); \
                 INSERT INTO c SELECT generate_series(1, 1300)",
            )
            .await
            .unwrap();
        tracing::info!("13 groups of 100 rows read beside the stream at 4 queries/s");
        let dir = tempfile::tempdir().unwrap();
        let task = unique("thr_qpsc");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.c"],
            &["full", "incremental"],
            "[throttle.full]\nsource_qps = 4",
        );
        add_to_section(
            &path,
            "source",
            "snapshot_connections = 1\nsnapshot_chunk_rows = 100",
        );
        let mut run = spawn_run(&path, &dir.path().join("data"));
        run.wait_stream_active(&db, &task, LIMIT).await;
        let msgs = by_time(consume_until(&format!("{task}.public.c"), |m| {
            m.len() >= 1300
        }));
        // A row's number in the position is its place in the table's read: each group's
        // first row is a multiple of 100.
        let firsts: Vec<Msg> = msgs
            .into_iter()
            .filter(|m| {
                let row = m
                    .position()
                    .rsplit(':')
                    .next()
                    .and_then(|r| r.parse::<u64>().ok());
                row.is_some_and(|r| r % 100 == 0)
            })
            .collect();
        assert!(firsts.len() >= 13, "{} groups", firsts.len());
        within_10_percent("chunk groups", rate(&firsts, |_| 1.0), 4.0);
        run.sigterm();
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    fn cluster_task(dir: &std::path::Path, name: &str, url: &str, rows: u32) -> std::path::PathBuf {
        let text = format!(
            "name = {name:?}\nsharding = \"table\"\n[source]\nkind = \"postgres\"\nurl = {url:?}\nstatus_interval = \"1s\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\n[objects]\ntables = [\"public.a\", \"public.b\"]\n\
             [migration]\nphases = [\"incremental\"]\ncheckpoint_interval = \"200ms\"\n\
             [throttle.incremental]\nrows_per_second = {rows}\n",
            kafka()
        );
        let path = dir.join(format!("{name}-{rows}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The incremental rows-per-second limit each shard of `task` publishes.
    fn shard_limits(c: &Cluster, task: &str) -> Vec<f64> {
        let Some(series) = scrape(&c.workers[0].metrics) else {
            return Vec::new();
        };
        series
            .iter()
            .filter(|s| {
                s.name == "tributary_throttle_rows_per_second"
                    && s.labels.get("task").map(String::as_str) == Some(task)
                    && s.labels.get("phase").map(String::as_str) == Some("incremental")
            })
            .map(|s| s.value)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_task_splits_its_limit_over_its_shards_and_follows_a_live_change() {
        let db = TestDb::create("thr_live").await;
        db.client
            .batch_execute(
                "CREATE TABLE a (id int PRIMARY KEY, v int); CREATE TABLE b (id int PRIMARY KEY, v int)",
            )
            .await
            .unwrap();
        let c = Cluster::start(1);
        let task = unique("thrl");
        c.create_task(&cluster_task(c.dir.path(), &task, &db.url, 400));
        c.wait("two streaming shards", LIMIT, |c| {
            c.shard_states(&task) == ["streaming", "streaming"]
        });
        c.wait("each shard's half of 400/s", LIMIT, |c| {
            shard_limits(c, &task) == [200.0, 200.0]
        });
        tracing::info!("9,000 changes per table: the task's 400/s over both shards");
        db.client
            .batch_execute(
                "INSERT INTO a SELECT g, 0 FROM generate_series(1, 9000) g;
                 INSERT INTO b SELECT g, 0 FROM generate_series(1, 9000) g",
            )
            .await
            .unwrap();
        // Four seconds' worth at 400/s before the change (a measured window, not a pause).
        let _ = consume_until(&format!("{task}.public.a"), |m| m.len() >= 800);
        tracing::info!("raised live to 1,200/s through ctl task update");
        let updating = now_ms();
        let faster = cluster_task(c.dir.path(), &task, &db.url, 1200);
        let out = c.ctl(0, &["task", "update", &task, faster.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.wait("each shard's half of 1,200/s", LIMIT, |c| {
            shard_limits(c, &task) == [600.0, 600.0]
        });
        let applied = now_ms();
        let topic = |t: &str| format!("{task}.public.{t}");
        let a = by_time(consume_until(&topic("a"), |m| m.len() >= 9000));
        let b = by_time(consume_until(&topic("b"), |m| m.len() >= 9000));
        assert_eq!((a.len(), b.len()), (9000, 9000));
        // Both shards run until the first of them ends.
        let end = ts(&a[a.len() - 1]).min(ts(&b[b.len() - 1]));
        let first = ts(&a[0]).max(ts(&b[0]));
        let all = by_time(a.into_iter().chain(b).collect());
        tracing::info!("before: from both shards' first change to the update; after: from the shards' new limit to the end");
        within_10_percent(
            "before the update",
            window_rate(&all, first + 500, updating),
            400.0,
        );
        within_10_percent(
            "after the update",
            window_rate(&all, applied + 500, end),
            1200.0,
        );
        db.cleanup().await;
    }
}
