//! The heartbeat and slot safety end to end (real PostgreSQL 15 and the broker): on an idle
//! database beside a busy one, the latency metric keeps updating, the slot's retained WAL
//! stays bounded and is reported, and no heartbeat reaches a topic; with the heartbeat off
//! there is no latency to report.

mod support;

mod serial {
    use std::time::Duration;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);
    const LATENCY: &str = "tributary_heartbeat_latency_seconds";
    const RETAINED: &str = "tributary_slot_retained_wal_bytes";

    /// Writes about `mib` MiB of WAL into `db` (a neighbour of the task's database).
    async fn busy_neighbour(db: &TestDb, mib: u64) {
        db.client
            .batch_execute("CREATE TABLE big (id bigint, pad text)")
            .await
            .unwrap();
        let start = db.current_lsn().await;
        while db.current_lsn().await - start < mib << 20 {
            db.client
                .batch_execute(
                    "INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 2000) g",
                )
                .await
                .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_database_keeps_a_fresh_heartbeat_and_a_bounded_slot() {
        let db = TestDb::create("hbidle").await;
        let neighbour = TestDb::create("hbbusy").await;
        db.client
            .batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "hbidle", &["public.t"], &["incremental"]);
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        let slot = child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let read = |name: &str| scrape(&addr).and_then(|s| metric(&s, name, &setup.task));
        wait_until("a first heartbeat latency", LIMIT, || {
            read(LATENCY).is_some()
        })
        .await;
        let from = db.confirmed_flush(&slot).await.unwrap();

        busy_neighbour(&neighbour, 48).await;
        let written_to = neighbour.current_lsn().await;
        // Nobody writes any more: the latency keeps being fresh (a stale one grows past 3 s).
        // Each drop of the latency is a new heartbeat through the stream: wait for three.
        let (mut last, mut beats) = (f64::MAX, 0);
        wait_until("three heartbeats with every writer stopped", LIMIT, || {
            let l = read(LATENCY).expect("the latency metric");
            assert!(l < 3.0, "heartbeat latency {l} s on an idle database");
            beats += usize::from(l < last && last != f64::MAX);
            last = l;
            beats >= 3
        })
        .await;
        wait_for(
            "the slot confirmed past the neighbour's WAL",
            LIMIT,
            || async { db.confirmed_flush(&slot).await.unwrap() >= written_to },
        )
        .await;
        assert!(db.confirmed_flush(&slot).await.unwrap() > from);
        wait_until("the retained WAL reported under 16 MiB", LIMIT, || {
            read(RETAINED).is_some_and(|b| b < (16 << 20) as f64)
        })
        .await;

        // One row: the data topic holds exactly it, no heartbeat.
        db.client
            .batch_execute("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let topic = setup.topic("public.t");
        let msgs = consume_until(&topic, |m| !m.is_empty());
        let again = consume_all(&topic, Duration::from_secs(2), Duration::from_secs(10));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(again.len(), 1, "{again:?}");
        let ddl = consume_all(
            &setup.task,
            Duration::from_millis(500),
            Duration::from_secs(3),
        );
        assert!(ddl.is_empty(), "nothing on the DDL topic: {ddl:?}");

        child.sigterm();
        child.wait_exit(LIMIT);
        neighbour.cleanup().await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_the_heartbeat_off_there_is_no_latency() {
        let db = TestDb::create("hboff").await;
        db.client
            .batch_execute("CREATE TABLE t (id int PRIMARY KEY, pad text)")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "hboff", &["public.t"], &["incremental"]);
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            format!("{text}\n[heartbeat]\nenabled = false\n[slot]\nmax_retained_wal = \"1MiB\"\n"),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let read = |name: &str| scrape(&addr).and_then(|s| metric(&s, name, &setup.task));
        wait_until("the retained WAL reported", LIMIT, || {
            read(RETAINED).is_some()
        })
        .await;
        // A transaction left open with a change in the WAL is the oldest one the slot's decoder
        // holds, so the slot's restart_lsn stays behind it and the WAL written next stays
        // retained until the end of the test. (An xid alone writes no WAL: the decoder never
        // sees it, and restart_lsn passed it at the next running-transactions record.)
        let holder = connect(&db.url).await;
        holder
            .batch_execute("BEGIN; INSERT INTO t VALUES (0, 'held')")
            .await
            .unwrap();
        // A row written after the watcher started is durable: a heartbeat written before it
        // would have come through first.
        db.client
            .batch_execute(
                "INSERT INTO t SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g",
            )
            .await
            .unwrap();
        wait_until("the rows durable", LIMIT, || {
            read("tributary_pipeline_records_durable_total").is_some_and(|n| n >= 20000.0)
        })
        .await;
        assert_eq!(read(LATENCY), None, "no heartbeat, no latency");
        wait_until("the retained WAL over the 1 MiB limit", LIMIT, || {
            read(RETAINED).is_some_and(|b| b > (1 << 20) as f64)
        })
        .await;
        holder.batch_execute("ROLLBACK").await.unwrap();
        child.sigterm();
        let (_, stderr) = child.wait_exit(LIMIT);
        assert!(
            stderr.contains("retains more WAL than slot.max_retained_wal"),
            "the retained-WAL warning (limit 1 MiB) in:\n{stderr}"
        );
        db.cleanup().await;
    }
}
