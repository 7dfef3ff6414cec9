//! The seams between the parts: two tasks running in one process against one checkpoint
//! store with their metrics apart, a data directory written by the first release resuming
//! with its slot and without a snapshot, and the metrics README promises, scraped from a
//! running `tributary run --metrics-addr`.

mod support;

mod serial {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{json, Value};
    use tokio::sync::watch;
    use tributary::checkpoint::{CheckpointStore, ShardKey, SledCheckpointStore, TableProgress};
    use tributary::config::TaskSpec;
    use tributary::metrics::ShardLabels;
    use tributary::pipeline::stats::Stats;
    use tributary::position::{Lsn, StreamPosition};
    use tributary::sink::kafka::KafkaSink;
    use tributary::source::postgres::PgSource;
    use tributary::task::{
        kafka_config, run_shard, Epoch, ShardRuntime, TaskError, TaskFailure, TaskOutcome,
    };

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(45);

    /// Runs shard 0 of `spec` in this process, with the given store and its own stats.
    async fn run_in_process(
        spec: TaskSpec,
        store: Arc<dyn CheckpointStore>,
    ) -> Result<TaskOutcome, TaskFailure> {
        // The sender lives as long as the run: a dropped sender reads as a shutdown.
        let (_stop, shutdown) = watch::channel(false);
        let rt = ShardRuntime {
            key: ShardKey {
                task: spec.name.clone(),
                shard: 0,
            },
            epoch: Epoch::TakeOver,
            store,
            stats: Arc::new(Stats::default()),
            shutdown,
            until: None,
            status: None,
            limits: None,
            specs: None,
            spec: spec.clone(),
        };
        let source = || -> Result<PgSource, TaskError> { Ok(PgSource::from_spec(&spec, 0)?) };
        let sink = |labels: &ShardLabels, _: &str| -> Result<KafkaSink, TaskError> {
            Ok(KafkaSink::new(kafka_config(&spec)?, labels)?)
        };
        Box::pin(run_shard(rt, source, sink)).await
    }

    /// The ids of a topic's snapshot rows (every message must be one).
    fn snapshot_ids(msgs: &[Msg]) -> BTreeSet<i64> {
        let mut ids = BTreeSet::new();
        for v in values(msgs) {
            assert_eq!(v["op"], "r", "{v}");
            assert!(
                ids.insert(v["after"]["id"].as_i64().unwrap()),
                "doubled: {v}"
            );
        }
        ids
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_tasks_in_one_process_share_one_store_and_keep_their_metrics_apart() {
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the test's recorder");
        tributary::metrics::describe();
        let db = TestDb::create("twotasks").await;
        let (rows_a, rows_b) = (4000i64, 250i64);
        db.client
            .batch_execute(&format!(
                "CREATE TABLE a (id bigint PRIMARY KEY, v text);
                 INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, {rows_a}) g;
                 CREATE TABLE b (id bigint PRIMARY KEY, v text);
                 INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, {rows_b}) g;"
            ))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (task_a, task_b) = (unique("twoa"), unique("twob"));
        let spec = |task: &str, table: &str| {
            let path = task_file(dir.path(), task, &db.url, &kafka(), &[table], &["full"], "");
            TaskSpec::load(&path).unwrap()
        };
        let (spec_a, spec_b) = (spec(&task_a, "public.a"), spec(&task_b, "public.b"));
        let store: Arc<dyn CheckpointStore> =
            Arc::new(SledCheckpointStore::open(&dir.path().join("data")).unwrap());
        tracing::info!("both full-only tasks run at once in this process and complete");
        {
            let both = futures::future::join(
                run_in_process(spec_a, store.clone()),
                run_in_process(spec_b, store.clone()),
            );
            let (a, b) = tokio::time::timeout(LIMIT, Box::pin(both))
                .await
                .expect("both tasks end");
            assert_eq!(a.unwrap(), TaskOutcome::Completed);
            assert_eq!(b.unwrap(), TaskOutcome::Completed);
        }
        tracing::info!("each topic holds exactly its table's rows");
        {
            for (task, table, rows) in [(&task_a, "a", rows_a), (&task_b, "b", rows_b)] {
                let msgs = consume_until(&format!("{task}.public.{table}"), |m| {
                    m.len() as i64 >= rows
                });
                assert_eq!(snapshot_ids(&msgs), (1..=rows).collect(), "{table}");
            }
        }
        tracing::info!("both checkpoints are in the one store, each complete with its table");
        {
            for (task, table, rows) in
                [(&task_a, "public.a", rows_a), (&task_b, "public.b", rows_b)]
            {
                let key = ShardKey {
                    task: task.clone(),
                    shard: 0,
                };
                let cp = store.load(&key).await.unwrap().expect("a checkpoint");
                assert!(cp.completed, "{cp:?}");
                assert_eq!(cp.tables.len(), 1, "{cp:?}");
                assert_eq!(
                    cp.tables.get(table),
                    Some(&TableProgress::Done { rows: rows as u64 }),
                    "{cp:?}"
                );
            }
        }
        tracing::info!("the metrics of the two tasks are apart");
        {
            let series = parse_metrics(&prometheus.render());
            for (task, rows) in [(&task_a, rows_a), (&task_b, rows_b)] {
                for name in [
                    "tributary_snapshot_rows",
                    "tributary_pipeline_records_sent_total",
                    "tributary_pipeline_records_durable_total",
                    "tributary_sink_acked_records_total",
                ] {
                    assert_eq!(
                        metric(&series, name, task),
                        Some(rows as f64),
                        "{name} of task {task}:\n{}",
                        prometheus.render()
                    );
                }
            }
        }
        let (slots, pubs) = db.replication_objects().await;
        assert!(slots.is_empty() && pubs.is_empty(), "{slots:?} {pubs:?}");
        db.cleanup().await;
    }

    /// The commit LSN of the first transaction the slot holds (from pgoutput's Begin message,
    /// as the stream's positions carry it), without consuming it.
    /// Decoding reads only flushed WAL, and the test servers commit asynchronously: waits
    /// (bounded) for the transaction to be flushed.
    async fn first_commit_lsn(db: &TestDb, slot: &str, publication: &str) -> u64 {
        let start = std::time::Instant::now();
        loop {
            let rows = db
                .client
                .query(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, \
                     'proto_version', '1', 'publication_names', $2)",
                    &[&slot, &publication],
                )
                .await
                .unwrap();
            let begin = rows
                .iter()
                .map(|r| r.get::<_, Vec<u8>>(0))
                .find(|d| d.first() == Some(&b'B'));
            if let Some(begin) = begin {
                return u64::from_be_bytes(begin[1..9].try_into().unwrap());
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no transaction in slot {slot}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes a version-1 checkpoint exactly where and how the first release did.
    fn write_v1_checkpoint(data: &std::path::Path, task: &str, v1: &Value) {
        let db = sled::Config::new()
            .path(data.join("checkpoints"))
            .mode(sled::Mode::LowSpace)
            .open()
            .unwrap();
        let tree = db.open_tree("checkpoints").unwrap();
        tree.insert(v1_key(task), serde_json::to_vec(v1).unwrap())
            .unwrap();
        db.flush().unwrap();
    }

    fn v1_key(task: &str) -> Vec<u8> {
        let mut k = task.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(&0u32.to_be_bytes());
        k
    }

    /// The raw JSON of the checkpoint on disk (the process must be gone).
    fn raw_checkpoint(data: &std::path::Path, task: &str) -> Value {
        let db = sled::Config::new()
            .path(data.join("checkpoints"))
            .mode(sled::Mode::LowSpace)
            .open()
            .unwrap();
        let raw = db
            .open_tree("checkpoints")
            .unwrap()
            .get(v1_key(task))
            .unwrap()
            .expect("a checkpoint");
        serde_json::from_slice(&raw).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_data_directory_of_the_first_release_resumes_with_its_slot_and_no_snapshot() {
        let db = TestDb::create("landed").await;
        let setup = TaskSetup::new(
            &db.url,
            "landed",
            &["public.items"],
            &["full", "incremental"],
        );
        let (task, data) = (&setup.task, setup.data());
        let topic = setup.topic("public.items");
        let incarnation = "9f3c2a1b";
        let slot = format!("tributary_{task}_{incarnation}_0");
        tracing::info!("the first release's objects: a table, its publication and slot");
        let consistent_point = {
            db.client
                .batch_execute(&format!(
                    "CREATE TABLE items (id int PRIMARY KEY, v text);
                     INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 3) g;
                     CREATE PUBLICATION \"{slot}\" FOR TABLE public.items WITH (publish_via_partition_root = true);"
                ))
                .await
                .unwrap();
            let row = db
                .client
                .query_one(
                    "SELECT (lsn - '0/0')::bigint FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                    &[&slot],
                )
                .await
                .unwrap();
            let cp = row.get::<_, i64>(0) as u64;
            let confirmed = db.confirmed_flush(&slot).await.unwrap();
            assert_eq!(confirmed, cp);
            cp
        };
        tracing::info!(
            "a change the first release delivered (its checkpoint names it), not yet confirmed"
        );
        let delivered = {
            db.client
                .batch_execute("INSERT INTO items VALUES (1001, 'delivered before the upgrade')")
                .await
                .unwrap();
            first_commit_lsn(&db, &slot, &slot).await
        };
        tracing::info!("its version-1 checkpoint: snapshot done, the stream at that change");
        {
            let system_id: i64 = db
                .client
                .query_one("SELECT system_identifier FROM pg_control_system()", &[])
                .await
                .unwrap()
                .get(0);
            let mut v1: Value =
                serde_json::from_str(include_str!("fixtures/checkpoint-v1.json")).unwrap();
            assert_eq!(v1["version"], 1);
            v1["incarnation"] = json!(incarnation);
            v1["slot"] = json!({
                "slot_name": slot,
                "publication": slot,
                "system_id": system_id.to_string(),
                "database": db.name,
                "consistent_point": consistent_point,
            });
            v1["tables"] = json!({"public.items": {"Done": {"rows": 3}}});
            v1["stream"] = json!({"commit_lsn": delivered, "index": 0});
            v1["confirmed_lsn"] = json!(consistent_point);
            v1["event_count"] = json!(4);
            write_v1_checkpoint(&data, task, &v1);
        }
        tracing::info!(
            "changes while it is stopped, then this release resumes: exactly those changes"
        );
        {
            db.client
                .batch_execute(
                    "INSERT INTO items VALUES (1002, 'while stopped');
                     UPDATE items SET v = 'updated' WHERE id = 1;
                     DELETE FROM items WHERE id = 2;",
                )
                .await
                .unwrap();
            let mut child = setup.spawn();
            assert_eq!(child.wait_stream_active(&db, task, LIMIT).await, slot);
            db.client
                .batch_execute("INSERT INTO items VALUES (1003, 'after the resume')")
                .await
                .unwrap();
            consume_until(&topic, |m| {
                values(m).iter().any(|v| v["after"]["id"] == 1003)
            });
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
            assert!(err.contains("importing the checkpoint"), "{err}");
            assert!(
                data.join("raft").is_dir(),
                "the run's one-node cluster state"
            );
            let kept = checkpoint(&data, task).await;
            assert!(
                kept.event_count > 4,
                "the imported store is kept and mirrored: {kept:?}"
            );
            let msgs = consume_all(&topic, Duration::from_secs(1), Duration::from_secs(20));
            let got: Vec<(Value, Value, Value)> = msgs
                .iter()
                .map(|m| match &m.value {
                    Some(v) => (
                        m.key.clone().unwrap_or(Value::Null),
                        v["op"].clone(),
                        v["after"]["id"].clone(),
                    ),
                    None => (
                        m.key.clone().unwrap_or(Value::Null),
                        Value::Null,
                        Value::Null,
                    ),
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    (json!({"id": 1002}), json!("c"), json!(1002)),
                    (json!({"id": 1}), json!("u"), json!(1)),
                    (json!({"id": 2}), json!("d"), Value::Null),
                    (json!({"id": 2}), Value::Null, Value::Null),
                    (json!({"id": 1003}), json!("c"), json!(1003)),
                ],
                "(key, op, after.id) of every message"
            );
        }
        tracing::info!("still that one slot; the checkpoint on disk is now version 2");
        {
            let (slots, pubs) = db.replication_objects().await;
            assert_eq!(slots, vec![slot.clone()]);
            assert_eq!(pubs, vec![slot.clone()]);
            let cp = raw_checkpoint(&data, task);
            assert_eq!(cp["version"], 2, "{cp}");
            assert_eq!(cp["incarnation"], incarnation, "{cp}");
            let converted = checkpoint(&data, task).await;
            assert_eq!(converted.pg_slot().unwrap().slot_name, slot);
            assert!(
                converted.stream > Some(StreamPosition::pg(Lsn(delivered), 0)),
                "the stream position moved past the first release's: {converted:?}"
            );
        }
        db.cleanup().await;
    }

    /// What README.md lists under "Metrics" and the code has, each per task and shard (the
    /// sink's error counter also has `kind`, and exists once an error of that kind happened).
    const SHARD_METRICS: [&str; 15] = [
        "tributary_source_lag_bytes",
        "tributary_source_lag_seconds",
        "tributary_source_confirmed_position",
        "tributary_snapshot_rows",
        "tributary_snapshot_rows_estimated",
        "tributary_snapshot_complete",
        "tributary_snapshot_chunk_groups_total",
        "tributary_stream_events_total",
        "tributary_pipeline_records_sent_total",
        "tributary_pipeline_records_durable_total",
        "tributary_sink_sent_records_total",
        "tributary_sink_acked_records_total",
        "tributary_sink_in_flight_records",
        "tributary_format_unrepresentable_values_total",
        "tributary_format_unavailable_values_total",
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_are_served_per_task_and_shard_through_snapshot_and_stream() {
        let db = TestDb::create("metrics").await;
        let rows = 6000u64;
        db.client
            .batch_execute(&format!(
                "CREATE TABLE m (id int PRIMARY KEY, v text, n numeric(10, 2), big text);
                 ALTER TABLE m ALTER COLUMN big SET STORAGE EXTERNAL;
                 INSERT INTO m SELECT g, 'v' || g, g FROM generate_series(1, {rows}) g;
                 UPDATE m SET n = 'NaN' WHERE id = 1;
                 ANALYZE m;"
            ))
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "metrics", &["public.m"], &["full", "incremental"]);
        add_to_section(&setup.path, "migration", "snapshot_rows_per_second = 2000");
        let task = setup.task.clone();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        let get = |name: &str| {
            let series = scrape(&addr)?;
            metric(&series, name, &task)
        };
        tracing::info!("mid-snapshot: every metric is there, per task and shard");
        {
            wait_until("a scrape mid-snapshot", LIMIT, || {
                get("tributary_snapshot_rows").is_some_and(|r| r > 0.0 && r < rows as f64)
            })
            .await;
            let series = scrape(&addr).unwrap();
            for name in SHARD_METRICS {
                assert!(
                    metric(&series, name, &task).is_some(),
                    "{name} with labels task={task}, shard=0 missing: {series:?}"
                );
            }
            assert_eq!(
                metric(&series, "tributary_snapshot_rows_estimated", &task),
                Some(rows as f64),
                "the estimate (reltuples) is set before the rows are all read"
            );
        }
        tracing::info!("the snapshot's rows are counted to the table's count and made durable");
        {
            wait_until("every snapshot row counted", LIMIT, || {
                get("tributary_snapshot_rows") == Some(rows as f64)
                    && get("tributary_pipeline_records_durable_total")
                        .is_some_and(|d| d >= rows as f64)
            })
            .await;
            assert!(get("tributary_pipeline_records_sent_total").unwrap() >= rows as f64);
            assert_eq!(get("tributary_stream_events_total"), Some(0.0));
            assert_eq!(
                get("tributary_format_unrepresentable_values_total"),
                Some(1.0),
                "the NaN under decimal.handling.mode=precise"
            );
        }
        tracing::info!(
            "stream writes: events counted, the confirmed position advances, lag reported"
        );
        {
            child.wait_stream_active(&db, &task, LIMIT).await;
            let confirmed_before = get("tributary_source_confirmed_position").unwrap();
            let lsn_before = db.current_lsn().await as f64;
            let big: String = (0..400).map(|i| format!("{i:08x}")).collect();
            for i in 0..200 {
                db.client
                    .batch_execute(&format!(
                        "INSERT INTO m VALUES ({}, 's', 0, '{big}')",
                        100_000 + i
                    ))
                    .await
                    .unwrap();
            }
            db.client
                .batch_execute("UPDATE m SET v = 'unchanged big' WHERE id = 100000")
                .await
                .unwrap();
            wait_until("the stream's events durable and confirmed", LIMIT, || {
                get("tributary_stream_events_total") == Some(201.0)
                    && get("tributary_pipeline_records_durable_total")
                        .is_some_and(|d| d >= (rows + 201) as f64)
                    && get("tributary_source_confirmed_position").is_some_and(|c| c > lsn_before)
            })
            .await;
            let series = scrape(&addr).unwrap();
            let m = |name| metric(&series, name, &task).unwrap();
            assert!(m("tributary_source_confirmed_position") > confirmed_before);
            assert!(m("tributary_pipeline_records_sent_total") >= (rows + 200) as f64);
            assert!(m("tributary_sink_acked_records_total") >= (rows + 200) as f64);
            assert!(m("tributary_source_lag_seconds") > 0.0, "{series:?}");
            assert!(m("tributary_source_lag_bytes") >= 0.0);
            assert_eq!(
                m("tributary_format_unavailable_values_total"),
                1.0,
                "the unchanged TOAST value of the update"
            );
        }
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }
}
