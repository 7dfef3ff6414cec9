//! Large transactions that the server streams while they run (pgoutput protocol 2, `streaming
//! 'on'`), forced by `logical_decoding_work_mem = 64kB` on the task's connections (the URL's
//! `options`, a per-session setting, so no other test is affected): held by tributary until
//! their commit and delivered whole and once, nothing of an aborted one, a rolled-back
//! savepoint's rows left out, a replication connection cut mid-stream losing and doubling
//! nothing, and 2,000,000 updated rows with memory flat. `pg_stat_replication_slots.stream_txns`
//! proves each was streamed.

mod support;

mod serial {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(60);

    /// `url` with every session's `logical_decoding_work_mem` at its minimum.
    fn streaming_url(url: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20logical_decoding_work_mem%3D64kB")
    }

    /// `pg_stat_replication_slots`' `(stream_txns, stream_bytes)` of `slot`.
    async fn streamed(db: &TestDb, slot: &str) -> (i64, i64) {
        db.client
            .query_opt(
                "SELECT stream_txns, stream_bytes FROM pg_stat_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .map_or((0, 0), |r| (r.get(0), r.get(1)))
    }

    /// The `id`s of the Debezium messages, in topic order.
    fn ids(msgs: &[Msg]) -> Vec<i64> {
        values(msgs)
            .iter()
            .filter_map(|v| v["after"]["id"].as_i64())
            .collect()
    }

    /// The ids in `public.t`'s topic, read until the marker row 99999 is among them.
    fn ids_through_marker(setup: &TaskSetup) -> Vec<i64> {
        ids(&consume_until(&setup.topic("public.t"), |m| {
            ids(m).contains(&99_999)
        }))
    }

    /// A task over `public.t (id int PRIMARY KEY, pad text)` (after `prepare` ran), incremental
    /// only, its connections streaming, `destination` added to its `[destination]`; returns
    /// the database, the setup, the running process and its slot.
    async fn started(
        prefix: &str,
        prepare: &str,
        destination: &str,
    ) -> (TestDb, TaskSetup, Proc, String) {
        let db = TestDb::create(prefix).await;
        db.client
            .batch_execute(&format!(
                "CREATE TABLE t (id int PRIMARY KEY, pad text); {prepare}"
            ))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(
            dir.path(),
            &task,
            &streaming_url(&db.url),
            &kafka(),
            &["public.t"],
            &["incremental"],
            "",
        );
        if !destination.is_empty() {
            add_to_section(&path, "destination", destination);
        }
        let setup = TaskSetup { dir, task, path };
        let mut child = setup.spawn();
        let slot = child.wait_stream_active(&db, &setup.task, LIMIT).await;
        (db, setup, child, slot)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streamed_transactions_are_held_to_their_commit_and_savepoints_are_honoured() {
        let (db, setup, child, slot) = started("stream_tx", "", "").await;
        // 2,000 rows of 200 bytes (400 kB, over 64 kB: streamed), then rolled back.
        db.client
            .batch_execute(
                "BEGIN; INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g; ROLLBACK;",
            )
            .await
            .unwrap();
        // go-pq-cdc's case: 500 rows, a savepoint rolled back over 500 more, 5 rows.
        db.client
            .batch_execute(
                "BEGIN;
                 INSERT INTO t SELECT g, repeat('a', 200) FROM generate_series(10001, 10500) g;
                 SAVEPOINT s;
                 INSERT INTO t SELECT g, repeat('b', 200) FROM generate_series(20001, 20500) g;
                 ROLLBACK TO SAVEPOINT s;
                 INSERT INTO t SELECT g, repeat('c', 200) FROM generate_series(30001, 30005) g;
                 COMMIT;
                 INSERT INTO t VALUES (99999, 'marker');",
            )
            .await
            .unwrap();
        let got = ids_through_marker(&setup);
        let want: Vec<i64> = (10_001..=10_500)
            .chain(30_001..=30_005)
            .chain([99_999])
            .collect();
        assert_eq!(got, want, "505 rows once, in order, then the marker");
        wait_for("both transactions counted as streamed", LIMIT, || {
            let (db, slot) = (&db, &slot);
            async move { streamed(db, slot).await.0 >= 2 }
        })
        .await;
        stop(child, db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replication_connection_cut_mid_stream_loses_and_doubles_nothing() {
        let (db, setup, child, slot) = started("stream_cut", "", "").await;
        let writer = connect(&db.url).await;
        writer
            .batch_execute(
                "BEGIN; INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 3000) g;",
            )
            .await
            .unwrap();
        wait_for("part of the open transaction streamed", LIMIT, || {
            let (db, slot) = (&db, &slot);
            async move { streamed(db, slot).await.1 > 0 }
        })
        .await;
        // The walsender is ended while the transaction is open: the task reconnects, and the
        // server streams the transaction again from its start.
        db.client
            .execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap();
        writer
            .batch_execute(
                "INSERT INTO t SELECT g, repeat('y', 200) FROM generate_series(3001, 4000) g; COMMIT;
                 INSERT INTO t VALUES (99999, 'marker');",
            )
            .await
            .unwrap();
        let got = ids_through_marker(&setup);
        let distinct: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(distinct.len(), 4_001, "every row");
        assert_eq!(got.len(), 4_001, "none twice");
        stop(child, db).await;
    }

    /// `TRIBUTARY_TEST_LARGE_TX_ROWS` (default 2,000,000) rows updated in one transaction reach
    /// the broker complete and once while tributary's peak RSS stays under 200 MB.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_million_updated_rows_arrive_once_with_memory_flat() {
        let rows: i64 = std::env::var("TRIBUTARY_TEST_LARGE_TX_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000_000);
        // The rows exist before the task starts: only the UPDATE is streamed.
        let prepare = format!("INSERT INTO t SELECT g, 'p' FROM generate_series(1, {rows}) g;");
        let (db, setup, child, slot) = started("stream_big", &prepare, "").await;
        db.client
            .batch_execute(
                "UPDATE t SET pad = repeat('q', 100); INSERT INTO t VALUES (-1, 'marker');",
            )
            .await
            .unwrap();
        let topic = setup.topic("public.t");
        // Every key once: read back by key only (the values are not parsed).
        let seen = keys_seen(&topic, rows + 1, Duration::from_secs(600));
        assert_eq!(seen.messages, rows + 1, "each change once");
        assert_eq!(seen.distinct, rows + 1, "every row: {:?}", seen.missing);
        let peak = peak_rss_kib(child.id());
        let (txns, bytes) = streamed(&db, &slot).await;
        eprintln!(
            "{rows} rows: peak RSS {peak} KiB; streamed {txns} transaction(s), {bytes} bytes"
        );
        assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
        assert!(
            txns >= 1 && bytes > 0,
            "the update was streamed: {txns} {bytes}"
        );
        stop(child, db).await;
    }

    /// Stops the task (it must exit cleanly) and drops the database.
    async fn stop(child: Proc, db: TestDb) {
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    /// What `keys_seen` read.
    struct Seen {
        messages: i64,
        distinct: i64,
        /// The first few ids (1 to n, and the marker -1) not seen.
        missing: Vec<i64>,
    }

    /// Reads `topic` from the start until `want` messages arrived (or nothing more came for
    /// 20 s after the first, or `limit` passed), parsing only each Debezium key's `id`.
    fn keys_seen(topic: &str, want: i64, limit: Duration) -> Seen {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset, TopicPartitionList};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .set("group.id", unique("keys"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        let n = usize::try_from(want).unwrap() + 1;
        let mut seen = vec![false; n];
        let (mut messages, mut distinct) = (0i64, 0i64);
        // Idleness counts from the first message: the transaction's events come only once it
        // has committed and the server has sent its last block.
        let start = std::time::Instant::now();
        let mut last: Option<std::time::Instant> = None;
        while messages < want
            && start.elapsed() < limit
            && last.is_none_or(|l| l.elapsed() < Duration::from_secs(20))
        {
            let Some(Ok(m)) = c.poll(Duration::from_millis(200)) else {
                continue;
            };
            last = Some(std::time::Instant::now());
            messages += 1;
            let key: serde_json::Value =
                serde_json::from_slice(m.key().unwrap_or(b"null")).unwrap();
            // Ids 1..n at their index, the marker -1 at 0.
            let id = key["id"].as_i64().unwrap_or(i64::MAX).max(0) as usize;
            if let Some(s) = seen.get_mut(id) {
                if !*s {
                    *s = true;
                    distinct += 1;
                }
            }
        }
        let missing = seen
            .iter()
            .enumerate()
            .filter(|(_, s)| !**s)
            .map(|(i, _)| if i == 0 { -1 } else { i as i64 })
            .take(5)
            .collect();
        Seen {
            messages,
            distinct,
            missing,
        }
    }
}
