//! SIGKILL mid-snapshot and mid-stream, then restart: nothing is lost (checked row by row), a
//! table whose snapshot was done at the kill is never read again, a cut table resumes from its
//! last durable chunk (only the chunk cut by the kill is read again), and a stream position is
//! delivered twice only if it lies after the last checkpoint.

mod support;

mod serial {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tributary::checkpoint::{Checkpoint, TableProgress};
    use tributary::position::{Lsn, StreamPosition};

    use super::support::*;

    const ROWS: i64 = 100_000;
    /// A small table listed first: its snapshot is done long before the kill.
    const SMALL_ROWS: u64 = 2_000;
    const LIMIT: Duration = Duration::from_secs(60);

    /// Changes `items` in transactions of three events until told to stop; `done` counts the
    /// transactions committed (from its start value).
    async fn writer(url: String, stop: tokio::sync::watch::Receiver<bool>, done: Arc<AtomicI64>) {
        let c = connect(&url).await;
        let mut n = done.load(Ordering::Relaxed);
        while !*stop.borrow() {
            n += 1;
            c.batch_execute(&format!(
                "BEGIN; INSERT INTO items VALUES ({}, 'w', 0); UPDATE items SET qty = qty + 1 WHERE id = {}; \
                 DELETE FROM items WHERE id = {}; COMMIT;",
                ROWS + n,
                n % ROWS + 1,
                (n * 13) % ROWS + 1
            ))
            .await
            .unwrap();
            done.store(n, Ordering::Relaxed);
            if n % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    /// A writer running in the background.
    struct Writer {
        stop: tokio::sync::watch::Sender<bool>,
        done: Arc<AtomicI64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Writer {
        fn start(db: &TestDb) -> Writer {
            Self::start_after(db, 0)
        }

        /// A writer going on after `n` transactions of an earlier one.
        fn start_after(db: &TestDb, n: i64) -> Writer {
            let (stop, rx) = tokio::sync::watch::channel(false);
            let done = Arc::new(AtomicI64::new(n));
            let task = tokio::spawn(writer(db.url.clone(), rx, done.clone()));
            Writer { stop, done, task }
        }

        fn count(&self) -> i64 {
            self.done.load(Ordering::Relaxed)
        }

        /// Waits (bounded) until `more` transactions beyond the current count are committed.
        async fn wait_more(&self, more: i64) {
            let target = self.count() + more;
            wait_until("the writer's transactions", LIMIT, || {
                self.count() >= target
            })
            .await;
        }

        /// Stops it; returns how many transactions it committed.
        async fn stop(self) -> i64 {
            self.stop.send(true).unwrap();
            self.task.await.unwrap();
            self.done.load(Ordering::Relaxed)
        }
    }

    fn parse_stream(p: &str) -> Option<StreamPosition> {
        let (lsn, idx) = p.rsplit_once(':')?;
        Some(StreamPosition::pg(
            lsn.parse::<Lsn>().ok()?,
            idx.parse().ok()?,
        ))
    }

    /// `snapshot:<LSN>:<schema.table>:<row>`.
    fn parse_snapshot(p: &str) -> Option<(Lsn, String, u64)> {
        let (lsn, rest) = p.strip_prefix("snapshot:")?.split_once(':')?;
        let (table, row) = rest.rsplit_once(':')?;
        Some((lsn.parse().ok()?, table.to_owned(), row.parse().ok()?))
    }

    /// What may be delivered twice after a kill whose last checkpoint was `cp` (both tables
    /// have a key, so they are read in chunks beside the stream; a row's number is its place
    /// in the table's read, continued by a resumed read):
    /// - a table whose snapshot was done at the kill: each of its rows once (never read again);
    /// - a table cut mid-read: the rows of its durable chunks (numbers below the checkpoint's
    ///   count) once, the rest at most twice (a chunk cut by the kill is read again), and never
    ///   twice under one chunk's snapshot;
    /// - stream positions: more than once only after the checkpoint.
    fn check_duplicates(msgs: &[Msg], cp: &Checkpoint) {
        let mut snapshot: BTreeMap<String, BTreeMap<Lsn, HashMap<u64, usize>>> = BTreeMap::new();
        let mut stream: HashMap<StreamPosition, usize> = HashMap::new();
        for m in msgs.iter().filter(|m| m.value.is_some()) {
            if let Some((lsn, table, row)) = parse_snapshot(m.position()) {
                *snapshot
                    .entry(table)
                    .or_default()
                    .entry(lsn)
                    .or_default()
                    .entry(row)
                    .or_default() += 1;
            } else {
                let p = parse_stream(m.position())
                    .unwrap_or_else(|| panic!("a position: {:?}", m.position()));
                *stream.entry(p).or_default() += 1;
            }
        }
        for (table, progress) in &cp.tables {
            let by_lsn = snapshot.remove(table).unwrap_or_default();
            let mut by_row: HashMap<u64, usize> = HashMap::new();
            for (lsn, rows) in &by_lsn {
                if let Some((row, n)) = rows.iter().find(|(_, n)| **n > 1) {
                    panic!("{table}: snapshot row {row} under {lsn} delivered {n} times");
                }
                rows.keys()
                    .for_each(|r| *by_row.entry(*r).or_default() += 1);
            }
            let durable = match progress {
                TableProgress::Done { rows } => {
                    assert_eq!(by_row.len() as u64, *rows, "{table}: rows of the read");
                    *rows
                }
                TableProgress::Chunked { rows, .. } => *rows,
                TableProgress::Partial { .. } | TableProgress::Pending => 0,
            };
            for (row, n) in by_row {
                let most = if row < durable { 1 } else { 2 };
                assert!(
                    n <= most,
                    "{table}: row {row} delivered {n} times ({durable} rows were durable at the kill: {progress:?})"
                );
            }
        }
        assert!(
            snapshot.is_empty(),
            "rows of unknown tables: {:?}",
            snapshot.keys()
        );
        for (p, n) in stream.into_iter().filter(|(_, n)| *n > 1) {
            assert!(
                Some(p) > cp.stream,
                "position {p} delivered {n} times but at or before the checkpoint {:?}",
                cp.stream
            );
        }
    }

    /// Reads `items`' topic until it rebuilds the table (bounded), then compares row by row.
    async fn converge(db: &TestDb, topic: &str) -> Vec<Msg> {
        let want = items_state(db).await;
        let mut msgs = Vec::new();
        for _ in 0..40 {
            msgs = consume_all(topic, Duration::from_secs(2), Duration::from_secs(90));
            if replay(&msgs) == want {
                return msgs;
            }
        }
        let got = replay(&msgs);
        assert_eq!(got.len(), want.len(), "row count after resume");
        for (k, v) in &want {
            assert_eq!(got.get(k), Some(v), "row {k} after resume");
        }
        msgs
    }

    /// Restarts the task, lets the writer go on into the resumed stream, stops it, then checks
    /// that the topics rebuild the tables and what was delivered twice (`check_duplicates`).
    async fn restart_and_verify(setup: &TaskSetup, db: &TestDb, cp: &Checkpoint, writer: Writer) {
        let mut child = setup.spawn();
        let slot = child.wait_stream_active(db, &setup.task, LIMIT).await;
        writer.wait_more(300).await;
        writer.stop().await;
        let lsn = db.current_lsn().await;
        wait_for("every change durable and confirmed", LIMIT, || async {
            db.confirmed_flush(&slot).await.is_some_and(|c| c >= lsn)
        })
        .await;
        let mut msgs = converge(db, &setup.topic("public.items")).await;
        let small = consume_all(
            &setup.topic("public.small"),
            Duration::from_secs(1),
            Duration::from_secs(30),
        );
        msgs.extend(small);
        check_duplicates(&msgs, cp);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
    }

    async fn setup(prefix: &str, extra_migration: &str) -> (TestDb, TaskSetup) {
        let db = TestDb::create(prefix).await;
        db.client
            .batch_execute(&format!(
                "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
                 INSERT INTO items SELECT g, 'item ' || g, 0 FROM generate_series(1, {ROWS}) g;
                 CREATE TABLE small (id int PRIMARY KEY);
                 INSERT INTO small SELECT generate_series(1, {SMALL_ROWS});"
            ))
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            prefix,
            &["public.small", "public.items"],
            &["full", "incremental"],
        );
        if !extra_migration.is_empty() {
            add_to_section(&setup.path, "migration", extra_migration);
        }
        (db, setup)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_mid_snapshot_then_resume() {
        let (db, setup) = setup("killsnap", "snapshot_rows_per_second = 10000").await;
        let writer = Writer::start(&db);
        tracing::info!(
            "kill once the small table is done and items is past its first group of chunks"
        );
        let cp = {
            let mut child = setup.spawn();
            let (items, small) = (setup.topic("public.items"), setup.topic("public.small"));
            wait_until("part of the snapshot", LIMIT, || {
                consume_all(&small, Duration::from_millis(300), Duration::from_secs(5)).len() as u64
                    >= SMALL_ROWS
                    && consume_all(&items, Duration::from_millis(300), Duration::from_secs(5)).len()
                        > 20_000
            })
            .await;
            child.sigkill();
            checkpoint(&setup.data(), &setup.task).await
        };
        assert!(
            matches!(
                cp.tables.get("public.small"),
                Some(TableProgress::Done { .. })
            ) && matches!(
                cp.tables.get("public.items"),
                Some(TableProgress::Chunked { .. })
            ),
            "the kill must land with small done and items cut after a durable chunk: {:?}",
            cp.tables
        );
        tracing::info!(
            "restart (unthrottled): items resumes after its last durable chunk, small is not \
             read again, nothing is lost"
        );
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replace("snapshot_rows_per_second = 10000\n", ""),
        )
        .unwrap();
        restart_and_verify(&setup, &db, &cp, writer).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_mid_stream_then_resume() {
        const BIG_TX: i64 = 10_000;
        let (db, setup) = setup("killstream", "stream_events_per_second = 5000").await;
        let task = setup.task.clone();
        let addr = format!("127.0.0.1:{}", free_port());
        let durable = || {
            metric(
                &scrape(&addr)?,
                "tributary_pipeline_records_durable_total",
                &task,
            )
        };
        tracing::info!("the snapshot completes, then the stream runs under a writer");
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        let slot = child.wait_stream_active(&db, &setup.task, LIMIT).await;
        wait_snapshot_complete(&addr, &setup.task, LIMIT).await;
        let writer = Writer::start(&db);
        writer.wait_more(200).await;
        let written = writer.stop().await;
        tracing::info!("everything so far is checkpointed and confirmed");
        let before = {
            let lsn = db.current_lsn().await;
            wait_for("the writer's changes confirmed", LIMIT, || async {
                db.confirmed_flush(&slot).await.is_some_and(|c| c >= lsn)
            })
            .await;
            durable().expect("metrics")
        };
        tracing::info!(
            "a transaction of {BIG_TX} events, delivered at 5,000/s: kill once a checkpoint \
             is saved part-way through it"
        );
        {
            db.client
                .batch_execute(&format!(
                    "UPDATE items SET name = name || '+' WHERE id <= {BIG_TX}"
                ))
                .await
                .unwrap();
            wait_until("a checkpoint inside the transaction", LIMIT, || {
                durable().is_some_and(|d| d >= before + 3_000.0)
            })
            .await;
            child.sigkill();
        }
        let cp = checkpoint(&setup.data(), &setup.task).await;
        assert!(
            cp.tables
                .values()
                .all(|t| matches!(t, TableProgress::Done { .. })),
            "snapshot done: {cp:?}"
        );
        let (Some(StreamPosition::Pg { commit_lsn, index }), Some(resume)) = (cp.stream, cp.resume)
        else {
            panic!("stream progress checkpointed: {cp:?}")
        };
        assert!(
            index > 0 && index < BIG_TX as u32 - 1 && commit_lsn.0 > resume.as_u64(),
            "the checkpoint is inside the big transaction, which the slot will send again: {cp:?}"
        );
        tracing::info!("restart (unthrottled) with the writer going on, and compare row by row");
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replace("stream_events_per_second = 5000\n", ""),
        )
        .unwrap();
        restart_and_verify(&setup, &db, &cp, Writer::start_after(&db, written)).await;
        db.cleanup().await;
    }
}
