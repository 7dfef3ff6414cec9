//! End to end against real PostgreSQL and a real Kafka-protocol broker: snapshot plus stream
//! with writes running during the snapshot, checked row by row.

mod support;

mod serial {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::support::*;

    /// Random inserts, updates and deletes on `items` until told to stop; `done` counts them.
    async fn writer(
        url: String,
        stop: tokio::sync::watch::Receiver<bool>,
        first_id: i64,
        done: Arc<AtomicU64>,
    ) {
        let c = connect(&url).await;
        let mut n = 0u64;
        let mut next = first_id;
        while !*stop.borrow() {
            let id = (n as i64 * 7919) % next.max(1) + 1;
            let sql = match n % 5 {
                0 | 1 => {
                    next += 1;
                    format!("INSERT INTO items VALUES ({next}, 'new {next}', {n})")
                }
                2 | 3 => {
                    format!("UPDATE items SET qty = qty + 1, name = 'upd {n}' WHERE id = {id}")
                }
                _ => format!("DELETE FROM items WHERE id = {id}"),
            };
            c.batch_execute(&sql).await.unwrap();
            n += 1;
            done.store(n, Ordering::Relaxed);
            if n.is_multiple_of(50) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_then_stream_with_writes_during_the_snapshot() {
        let db = TestDb::create("e2e").await;
        let dir = tempfile::tempdir().unwrap();
        let task = unique("e2e");
        tracing::info!("a table with 50,000 rows before the task starts");
        {
            db.client
                .batch_execute(
                    "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int);
                     INSERT INTO items SELECT g, 'item ' || g, g % 100 FROM generate_series(1, 50000) g;",
                )
                .await
                .unwrap();
        }
        tracing::info!(
            "the task starts while a writer changes rows; the writer goes on into the stream"
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let done = Arc::new(AtomicU64::new(0));
        let w = tokio::spawn(writer(db.url.clone(), stop_rx, 50000, done.clone()));
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.items"],
            &["full", "incremental"],
            "",
        );
        let mut child = spawn_run(&path, &dir.path().join("data"));
        child
            .wait_stream_active(&db, &task, Duration::from_secs(60))
            .await;
        let during_snapshot = done.load(Ordering::Relaxed);
        wait_until("writes into the stream", Duration::from_secs(30), || {
            done.load(Ordering::Relaxed) >= during_snapshot + 300
        })
        .await;
        stop_tx.send(true).unwrap();
        w.await.unwrap();
        assert!(
            during_snapshot > 0,
            "the writer changed rows before the stream started"
        );
        tracing::info!("the consumer's state equals the table's, row by row");
        {
            let topic = format!("{task}.public.items");
            let expected = items_state(&db).await;
            let mut msgs = Vec::new();
            for _ in 0..30 {
                msgs = consume_all(&topic, Duration::from_secs(2), Duration::from_secs(60));
                if replay(&msgs) == expected {
                    break;
                }
            }
            let got = replay(&msgs);
            assert_eq!(got.len(), expected.len(), "row count");
            for (k, v) in &expected {
                assert_eq!(got.get(k), Some(v), "row {k}");
            }
            let mut positions = std::collections::HashSet::new();
            for m in msgs.iter().filter(|m| m.value.is_some()) {
                assert!(
                    positions.insert((m.topic.clone(), m.position().to_owned())),
                    "position {} doubled",
                    m.position()
                );
                assert!(m.headers.contains_key("tributary.tx"));
            }
            let snapshot_rows = msgs
                .iter()
                .filter(|m| m.value.as_ref().is_some_and(|v| v["op"] == "r"))
                .count();
            assert!(snapshot_rows > 0);
        }
        tracing::info!("SIGTERM flushes, checkpoints and exits 0");
        {
            child.sigterm();
            let (code, err) = child.wait_exit(Duration::from_secs(30));
            assert_eq!(code, 0, "{err}");
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_only_task_completes_and_drops_its_slot() {
        let db = TestDb::create("fullonly").await;
        db.client
            .batch_execute(
                "CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 3000) g;
                 CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b SELECT generate_series(1, 10);",
            )
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let task = unique("fullonly");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.*"],
            &["full"],
            "",
        );
        tracing::info!("the process ends by itself with 0, every row delivered once");
        {
            let (code, err) = run_to_end(&path, &dir.path().join("data"), Duration::from_secs(120));
            assert_eq!(code, 0, "{err}");
            let a = consume_all(
                &format!("{task}.public.a"),
                Duration::from_secs(1),
                Duration::from_secs(30),
            );
            let b = consume_all(
                &format!("{task}.public.b"),
                Duration::from_secs(1),
                Duration::from_secs(30),
            );
            assert_eq!((a.len(), b.len()), (3000, 10));
            assert!(a.iter().all(|m| m.value.as_ref().unwrap()["op"] == "r"));
            let last: Vec<_> = a
                .iter()
                .chain(&b)
                .filter(|m| m.value.as_ref().unwrap()["source"]["snapshot"] == "last")
                .collect();
            assert_eq!(last.len(), 1, "exactly one row is the snapshot's last");
        }
        tracing::info!("no slot or publication is left, and a second run only reports completion");
        {
            let (slots, pubs) = db.replication_objects().await;
            assert!(slots.is_empty() && pubs.is_empty(), "{slots:?} {pubs:?}");
            let (code, err) = run_to_end(&path, &dir.path().join("data"), Duration::from_secs(60));
            assert_eq!(code, 0, "{err}");
            assert_eq!(
                consume_all(
                    &format!("{task}.public.b"),
                    Duration::from_secs(1),
                    Duration::from_secs(30)
                )
                .len(),
                10
            );
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slot_creation_waits_for_a_running_transaction_then_names_it() {
        let db = TestDb::create("slotwait").await;
        db.client
            .batch_execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE other (id int)")
            .await
            .unwrap();
        let blocker = connect(&db.url).await;
        blocker
            .batch_execute("BEGIN; INSERT INTO other VALUES (1)")
            .await
            .unwrap();
        let pid: i32 = blocker
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let dir = tempfile::tempdir().unwrap();
        let path = task_file(
            dir.path(),
            &unique("slotwait"),
            &db.url,
            &kafka(),
            &["public.a"],
            &["full", "incremental"],
            "",
        );
        add_to_section(&path, "source", "slot_create_timeout = \"2s\"");
        let (code, err) = run_to_end(&path, &dir.path().join("data"), Duration::from_secs(60));
        assert_ne!(code, 0);
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.contains(&format!("pid {pid}")) && line.contains("slot_create_timeout"),
            "{err}"
        );
        blocker.batch_execute("COMMIT").await.unwrap();
        // The walsender that waited drops the half-made slot once the transaction ends.
        wait_for(
            "no slot or publication left",
            Duration::from_secs(10),
            || async {
                let (slots, pubs) = db.replication_objects().await;
                slots.is_empty() && pubs.is_empty()
            },
        )
        .await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_change_is_delete_tombstone_create_with_key_headers() {
        let db = TestDb::create("keychange").await;
        db.client
            .batch_execute(
                "CREATE TABLE k (id int PRIMARY KEY, v text); INSERT INTO k VALUES (1, 'a')",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "keychange",
            &["public.k"],
            &["full", "incremental"],
        );
        let (task, child) = (&setup.task, setup.spawn());
        let topic = format!("{task}.public.k");
        let m = consume_until(&topic, |m| !m.is_empty());
        assert!(!m.is_empty(), "{} messages on {topic}", m.len());
        db.client
            .batch_execute("UPDATE k SET id = 2 WHERE id = 1")
            .await
            .unwrap();
        let msgs = consume_until(&topic, |m| m.len() >= 4);
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        let (del, tomb, create) = (&msgs[1], &msgs[2], &msgs[3]);
        assert_eq!(del.value.as_ref().unwrap()["op"], "d");
        assert_eq!(del.key, Some(serde_json::json!({"id": 1})));
        assert_eq!(
            del.headers.get("__debezium.newkey").map(String::as_str),
            Some("{\"id\":2}"),
            "{:?}",
            del.headers
        );
        assert!(tomb.value.is_none() && tomb.key == del.key);
        assert_eq!(create.value.as_ref().unwrap()["op"], "c");
        assert_eq!(
            create.headers.get("__debezium.oldkey").map(String::as_str),
            Some("{\"id\":1}"),
            "{:?}",
            create.headers
        );
        db.cleanup().await;
    }
}
