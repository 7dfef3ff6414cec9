//! The stream beyond plain DML: ALTER TABLE mid-stream, TRUNCATE, a table created later under a
//! `schema.*` selection, unchanged TOAST values, and a connection loss after the first start.

mod support;

mod serial {
    use std::time::Duration;

    use serde_json::json;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(45);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alter_table_truncate_and_a_table_created_later() {
        let db = TestDb::create("ddl").await;
        db.client
            .batch_execute(
                "CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'x')",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "ddl", &["public.*"], &["full", "incremental"]);
        let (task, child) = (&setup.task, setup.spawn());
        let topic_a = format!("{task}.public.a");
        let t = topic_a.clone();
        wait_until("the snapshot", Duration::from_secs(60), || {
            !consume_all(&t, Duration::from_millis(300), Duration::from_secs(10)).is_empty()
        })
        .await;
        tracing::info!("a column is added mid-stream: later messages carry it");
        {
            db.client
                .batch_execute("ALTER TABLE a ADD COLUMN n numeric(5,1); INSERT INTO a VALUES (2, 'y', 1.5); UPDATE a SET n = 2 WHERE id = 1")
                .await
                .unwrap();
            let msgs = consume_until(&topic_a, |m| m.len() >= 3);
            let v = values(&msgs);
            assert_eq!(v.len(), 3, "{msgs:?}");
            assert_eq!(v[1]["after"]["v"], "y");
            assert!(v[1]["after"].get("n").is_some(), "the new column: {}", v[1]);
            assert!(v[0]["after"].get("n").is_none());
        }
        tracing::info!("TRUNCATE is an op t with a null key");
        {
            db.client.batch_execute("TRUNCATE a").await.unwrap();
            let msgs = consume_until(&topic_a, |m| m.len() >= 4);
            let last = msgs.last().unwrap();
            assert_eq!(last.value.as_ref().unwrap()["op"], "t");
            assert!(last.key.is_none());
        }
        tracing::info!("a table created later in the schema is captured, into its own new topic");
        {
            db.client.batch_execute("CREATE TABLE later (id int PRIMARY KEY, s text); INSERT INTO later VALUES (7, 'new')").await.unwrap();
            let msgs = consume_until(&format!("{task}.public.later"), |m| !m.is_empty());
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert_eq!(
                msgs[0].value.as_ref().unwrap()["after"],
                json!({"id": 7, "s": "new"})
            );
        }
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unchanged_toast_is_unavailable_or_filled_under_full() {
        let db = TestDb::create("toast").await;
        db.client
            .batch_execute(
                "CREATE TABLE d (id int PRIMARY KEY, big text, n int);
                 CREATE TABLE f (id int PRIMARY KEY, big text, n int); ALTER TABLE f REPLICA IDENTITY FULL;
                 ALTER TABLE d ALTER COLUMN big SET STORAGE EXTERNAL; ALTER TABLE f ALTER COLUMN big SET STORAGE EXTERNAL;",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "toast",
            &["public.d", "public.f"],
            &["incremental"],
        );
        let (task, mut child) = (&setup.task, setup.spawn());
        child.wait_stream_active(&db, task, LIMIT).await;
        let big: String = (0..400).map(|i| format!("{i:08x}")).collect();
        for t in ["d", "f"] {
            db.client
                .batch_execute(&format!(
                    "INSERT INTO {t} VALUES (1, '{big}', 0); UPDATE {t} SET n = 1"
                ))
                .await
                .unwrap();
        }
        let d = consume_until(&format!("{task}.public.d"), |m| m.len() >= 2);
        let f = consume_until(&format!("{task}.public.f"), |m| m.len() >= 2);
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            values(&d)[1]["after"]["big"],
            "__tributary_unavailable_value",
            "never NULL: {:?}",
            values(&d)[1]
        );
        assert_eq!(
            values(&f)[1]["after"]["big"],
            big.as_str(),
            "filled from the old image under FULL"
        );
        assert_eq!(values(&f)[1]["after"]["n"], 1);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_replication_connection_is_retried_without_loss() {
        let db = TestDb::create("retry").await;
        db.client
            .batch_execute("CREATE TABLE r (id int PRIMARY KEY, v int)")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "retry", &["public.r"], &["full", "incremental"]);
        let (task, mut child) = (&setup.task, setup.spawn());
        child.wait_stream_active(&db, task, LIMIT).await;
        for i in 0..300 {
            db.client
                .batch_execute(&format!("INSERT INTO r VALUES ({i}, {i})"))
                .await
                .unwrap();
            if i == 150 {
                tracing::info!("the walsender is terminated mid-stream");
                // Until one is terminated: the slot has no walsender while a reconnection runs.
                let client = &db.client;
                wait_for("the task's walsender terminated", LIMIT, || async move {
                    let sql = "SELECT count(*) FILTER (WHERE pg_terminate_backend(active_pid)) \
                               FROM pg_replication_slots \
                               WHERE database = current_database() AND active_pid IS NOT NULL";
                    let n: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
                    n > 0
                })
                .await;
            }
        }
        let msgs = consume_until(&format!("{task}.public.r"), |m| replay(m).len() >= 300);
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("retrying"),
            "the loss is logged and retried:\n{err}"
        );
        let state = replay(&msgs);
        assert_eq!(state.len(), 300);
        for i in 0..300 {
            assert_eq!(
                state.get(&json!({ "id": i }).to_string()),
                Some(&json!({"id": i, "v": i}))
            );
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_pipeline_outlives_wal_sender_timeout() {
        let db = TestDb::create("slow").await;
        db.client
            .batch_execute("CREATE TABLE w (id int PRIMARY KEY, pad text)")
            .await
            .unwrap();
        let timeout: String = db
            .client
            .query_one("SHOW wal_sender_timeout", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            timeout, "10s",
            "the test servers run with wal_sender_timeout=10s"
        );
        let dir = tempfile::tempdir().unwrap();
        let task = unique("slow");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.w"],
            &["incremental"],
            "",
        );
        tracing::info!("a throttle holds the pipeline back for ~20 s, twice wal_sender_timeout: standby status updates never wait on it");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text + "[throttle.incremental]\nrows_per_second = 6000\n",
        )
        .unwrap();
        let mut child = spawn_run(&path, &dir.path().join("data"));
        child.wait_stream_active(&db, &task, LIMIT).await;
        db.client
            .batch_execute(
                "INSERT INTO w SELECT g, repeat('x', 200) FROM generate_series(1, 120000) g",
            )
            .await
            .unwrap();
        let msgs = consume_until(&format!("{task}.public.w"), |m| m.len() >= 120_000);
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        assert_eq!(msgs.len(), 120_000);
        assert!(
            !err.contains("retrying"),
            "the replication connection must survive:\n{err}"
        );
        db.cleanup().await;
    }
}
