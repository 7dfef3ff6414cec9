//! SIGKILL mid-snapshot and mid-stream, then restart: nothing is lost (checked row by row) and
//! a position is delivered twice only if it lies after the last checkpoint.

mod support;

mod serial {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use tributary::checkpoint::{CheckpointStore, ShardKey, SledCheckpointStore, TableProgress};
    use tributary::position::{Lsn, StreamPosition};

    use super::support::*;

    const ROWS: i64 = 200_000;

    async fn writer(url: String, stop: tokio::sync::watch::Receiver<bool>, start: i64) -> i64 {
        let c = connect(&url).await;
        let mut n = start;
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
            if n % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        n
    }

    /// The checkpoint a killed run left (the process is gone, so its store can be opened).
    async fn checkpoint(data: &Path, task: &str) -> tributary::checkpoint::Checkpoint {
        let store = SledCheckpointStore::open(data).unwrap();
        store
            .load(&ShardKey {
                task: task.into(),
                shard: 0,
            })
            .await
            .unwrap()
            .expect("a checkpoint")
    }

    fn parse_stream(p: &str) -> Option<StreamPosition> {
        let (lsn, idx) = p.rsplit_once(':')?;
        Some(StreamPosition::pg(
            lsn.parse::<Lsn>().ok()?,
            idx.parse().ok()?,
        ))
    }

    /// Every position delivered more than once lies after the checkpoint of the kill.
    fn duplicates_after_checkpoint(msgs: &[Msg], cp: &tributary::checkpoint::Checkpoint) -> usize {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for m in msgs.iter().filter(|m| m.value.is_some()) {
            *count.entry(m.position()).or_default() += 1;
        }
        let mut dups = 0;
        for (p, n) in count.into_iter().filter(|(_, n)| *n > 1) {
            dups += n - 1;
            if let Some(sp) = parse_stream(p) {
                assert!(
                    Some(sp) > cp.stream,
                    "position {p} doubled but at or before the checkpoint {:?}",
                    cp.stream
                );
            } else {
                // snapshot:<lsn>:<table>:<row>: only rows past the table's durable count.
                let mut parts = p.rsplitn(2, ':');
                let row: u64 = parts.next().unwrap().parse().unwrap();
                let table = parts
                    .next()
                    .unwrap()
                    .split_once(':')
                    .unwrap()
                    .1
                    .split_once(':')
                    .unwrap()
                    .1;
                match cp.tables.get(table) {
                    Some(TableProgress::Partial { rows }) => assert!(
                        row >= *rows,
                        "snapshot row {p} doubled below the checkpoint"
                    ),
                    Some(TableProgress::Done { .. }) => {
                        panic!("snapshot row {p} of a finished table doubled")
                    }
                    _ => {}
                }
            }
        }
        dups
    }

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

    /// Restarts the task, lets the writer run a moment, stops it, then checks that the topic
    /// rebuilds the table and that duplicates lie after the checkpoint `cp` of the kill.
    async fn restart_and_verify(
        db: &TestDb,
        path: &Path,
        data: &Path,
        topic: &str,
        cp: &tributary::checkpoint::Checkpoint,
        (stop_tx, w): (
            tokio::sync::watch::Sender<bool>,
            tokio::task::JoinHandle<i64>,
        ),
        run_for: Duration,
    ) {
        let child = spawn_run(path, data);
        tokio::time::sleep(run_for).await;
        stop_tx.send(true).unwrap();
        w.await.unwrap();
        let msgs = converge(db, topic).await;
        duplicates_after_checkpoint(&msgs, cp);
        child.sigterm();
        let (code, err) = child.wait_exit(Duration::from_secs(60));
        assert_eq!(code, 0, "{err}");
    }

    async fn setup(
        prefix: &str,
        extra_migration: &str,
    ) -> (TestDb, tempfile::TempDir, String, std::path::PathBuf) {
        let db = TestDb::create(prefix).await;
        db.client
            .batch_execute(&format!(
                "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
                 INSERT INTO items SELECT g, 'item ' || g, 0 FROM generate_series(1, {ROWS}) g;"
            ))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.items"],
            &["full", "incremental"],
            "",
        );
        let text = std::fs::read_to_string(&path).unwrap() + extra_migration;
        std::fs::write(&path, text).unwrap();
        (db, dir, task, path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_mid_snapshot_then_resume() {
        let (db, dir, task, path) = setup("killsnap", "snapshot_rows_per_second = 10000\n").await;
        let data = dir.path().join("data");
        let topic = format!("{task}.public.items");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let w = tokio::spawn(writer(db.url.clone(), stop_rx, 0));
        tracing::info!("kill while the snapshot is partly delivered");
        let cp = {
            let mut child = spawn_run(&path, &data);
            let t = topic.clone();
            wait_until("part of the snapshot", Duration::from_secs(120), || {
                let n = consume_all(&t, Duration::from_millis(300), Duration::from_secs(5)).len();
                n > 5_000
            })
            .await;
            child.sigkill();
            checkpoint(&data, &task).await
        };
        assert!(
            cp.tables
                .values()
                .any(|t| !matches!(t, TableProgress::Done { .. })),
            "the kill must land mid-snapshot: {cp:?}"
        );
        tracing::info!("restart: the cut table is re-read, the stream resumes, nothing is lost");
        restart_and_verify(
            &db,
            &path,
            &data,
            &topic,
            &cp,
            (stop_tx, w),
            Duration::from_secs(3),
        )
        .await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_mid_stream_then_resume() {
        let (db, dir, task, path) = setup("killstream", "").await;
        let data = dir.path().join("data");
        let topic = format!("{task}.public.items");
        tracing::info!("the snapshot completes, then the stream runs under a writer");
        let mut child = spawn_run(&path, &data);
        let t = topic.clone();
        wait_until("the whole snapshot", Duration::from_secs(180), || {
            consume_all(&t, Duration::from_millis(500), Duration::from_secs(20)).len() as i64
                >= ROWS
        })
        .await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let w = tokio::spawn(writer(db.url.clone(), stop_rx, 0));
        tokio::time::sleep(Duration::from_secs(3)).await;
        tracing::info!("kill mid-stream, restart, and compare row by row");
        child.sigkill();
        let cp = checkpoint(&data, &task).await;
        assert!(
            cp.stream.is_some(),
            "stream progress was checkpointed: {cp:?}"
        );
        restart_and_verify(
            &db,
            &path,
            &data,
            &topic,
            &cp,
            (stop_tx, w),
            Duration::from_secs(2),
        )
        .await;
        db.cleanup().await;
    }
}
