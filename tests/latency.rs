//! Latency and bounds end to end (real PostgreSQL 15 and the broker): every streamed event's
//! commit-to-acknowledgement latency lands in the `tributary_pipeline_event_latency_seconds`
//! histogram (snapshot rows do not) and its p50/p99 in the progress line; a value larger than
//! `destination.max_value_bytes` fails the task in one line naming the key, nothing from it on
//! is confirmed, and a run with the limit raised delivers it.

mod support;

mod serial {
    use std::time::Duration;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);
    const COUNT: &str = "tributary_pipeline_event_latency_seconds_count";
    const SUM: &str = "tributary_pipeline_event_latency_seconds_sum";
    const BUCKET: &str = "tributary_pipeline_event_latency_seconds_bucket";

    /// The histogram's bucket counts for the task, by `le`.
    fn buckets(series: &[Series], task: &str) -> Vec<(String, f64)> {
        series
            .iter()
            .filter(|s| s.name == BUCKET && s.labels.get("task").map(String::as_str) == Some(task))
            .map(|s| (s.labels["le"].clone(), s.value))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_streamed_event_is_one_latency_sample_and_the_progress_line_shows_them() {
        let db = TestDb::create("latency").await;
        db.client
            .batch_execute(
                "CREATE TABLE t (id int PRIMARY KEY, v text);
                 INSERT INTO t SELECT g, 'snap' FROM generate_series(1, 50) g;",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "latency", &["public.t"], &["full", "incremental"]);
        let task = setup.task.clone();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(
            &setup.path,
            &setup.data(),
            &["--metrics-addr", &addr, "--progress", "always"],
        );
        let get = |name: &str| scrape(&addr).and_then(|s| metric(&s, name, &task));
        tracing::info!("the snapshot's 50 rows are no latency samples");
        {
            child.wait_stream_active(&db, &task, LIMIT).await;
            wait_until("the snapshot durable", LIMIT, || {
                get("tributary_pipeline_records_durable_total").is_some_and(|d| d >= 50.0)
            })
            .await;
            assert_eq!(get(COUNT).unwrap_or(0.0), 0.0);
        }
        let events = 300u64;
        tracing::info!("30 transactions of 10 rows: 300 samples, each under 10 s");
        {
            for t in 0..30 {
                db.client
                    .batch_execute(&format!(
                        "INSERT INTO t SELECT g, 's' FROM generate_series({}, {}) g",
                        1000 + t * 10,
                        1009 + t * 10
                    ))
                    .await
                    .unwrap();
            }
            wait_until("a sample per streamed event", LIMIT, || {
                get(COUNT) == Some(events as f64)
            })
            .await;
            // Later acknowledgements (heartbeats are no events) add nothing.
            wait_until("the stream's events counted", LIMIT, || {
                get("tributary_stream_events_total") == Some(events as f64)
            })
            .await;
            let series = scrape(&addr).unwrap();
            let sum = metric(&series, SUM, &task).unwrap();
            let count = metric(&series, COUNT, &task).unwrap();
            assert_eq!(count, events as f64);
            assert!(sum > 0.0 && sum < count * 10.0, "sum {sum} s over {count}");
            let b = buckets(&series, &task);
            assert_eq!(b.len(), 16, "1 ms..60 s and +Inf: {b:?}");
            assert_eq!(b[0].0, "0.001");
            assert_eq!(b[14].0, "60");
            assert_eq!(b[15], ("+Inf".to_owned(), events as f64));
            eprintln!(
                "latency: {count} events, mean {:.1} ms, buckets {b:?}",
                sum / count * 1000.0
            );
        }
        tracing::info!("the progress line, redrawn every second, shows p50 and p99");
        {
            // A frame drawn after every record is durable (earlier frames show fewer).
            wait_until("the progress line's latency", LIMIT, || {
                child.stderr_so_far().lines().rev().any(|l| {
                    l.contains(", latency p50 ") && l.contains("durable 350 / sent 350 records")
                })
            })
            .await;
            let err = child.stderr_so_far();
            let line = err
                .lines()
                .rev()
                .find(|l| l.contains("latency p50 ") && l.contains("durable 350 / sent 350"))
                .unwrap();
            assert!(line.contains("durable 350 / sent 350 records"), "{line}");
            assert!(line.contains(" / p99 "), "{line}");
            eprintln!("progress: {line}");
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_value_over_max_value_bytes_fails_the_task_and_is_delivered_once_raised() {
        let db = TestDb::create("maxvalue").await;
        db.client
            .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "maxvalue", &["public.t"], &["incremental"]);
        add_to_section(&setup.path, "destination", "max_value_bytes = 2000");
        let topic = setup.topic("public.t");
        tracing::info!("a small row, a 5,000-byte one, a small one: the task fails at the big one");
        {
            let mut child = setup.spawn();
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            for sql in [
                "INSERT INTO t VALUES (1, 'small')",
                "INSERT INTO t VALUES (2, repeat('x', 5000))",
                "INSERT INTO t VALUES (3, 'small')",
            ] {
                db.client.batch_execute(sql).await.unwrap();
            }
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 1, "{err}");
            let line = error_line(&err);
            assert!(
                line.contains(&format!("task {}, shard 0: the value for table t at ", setup.task))
                    && line.contains("more than destination.max_value_bytes (2000): raise destination.max_value_bytes"),
                "{line}"
            );
            eprintln!("{line}");
            let msgs = consume_all(&topic, Duration::from_secs(2), Duration::from_secs(20));
            let ids: Vec<_> = msgs
                .iter()
                .map(|m| m.value.as_ref().unwrap()["after"]["id"].clone())
                .collect();
            // Row 1 was sent; it may be purged undelivered as the failed task's producer closes.
            assert!(
                ids.iter().all(|id| *id == 1),
                "nothing from the big row on: {ids:?}"
            );
        }
        tracing::info!("raised: the next run replays from before it and delivers both rows");
        {
            let text = std::fs::read_to_string(&setup.path).unwrap();
            std::fs::write(
                &setup.path,
                text.replace("max_value_bytes = 2000", "max_value_bytes = 100000"),
            )
            .unwrap();
            let mut child = setup.spawn();
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            let msgs = consume_until(&topic, |m| {
                m.iter()
                    .any(|m| m.value.as_ref().is_some_and(|v| v["after"]["id"] == 3))
            });
            let big = msgs
                .iter()
                .find(|m| m.value.as_ref().is_some_and(|v| v["after"]["id"] == 2))
                .expect("the big row delivered");
            assert_eq!(
                big.value.as_ref().unwrap()["after"]["v"]
                    .as_str()
                    .unwrap()
                    .len(),
                5000
            );
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
        }
        db.cleanup().await;
    }
}
