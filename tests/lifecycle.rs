//! The slot's life cycle against real services: a first start killed before or after it
//! creates its slot, a slot moved or dropped behind the task's back, `tributary release`, a
//! definite error that keeps the slot, a slot held by another connection (55006), a
//! `--sink null` run beside a Kafka run, and intervals of zero.
//!
//! Fail points (`FAILPOINTS=name=pause`) need `--features failpoints`; the tests that use them
//! are ignored without it.

mod support;

mod serial {
    use std::collections::BTreeSet;
    use std::future::Future;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use bytes::{BufMut, BytesMut};
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tributary::checkpoint::{Checkpoint, CheckpointStore, ShardKey, SledCheckpointStore};
    use tributary::position::Lsn;
    use tributary::source::postgres::conn::{PgConnectConfig, ReplicationConn};
    use tributary::source::postgres::frame::standby_status_update;
    use tributary::source::postgres::setup::checkpoint_lsn;

    use super::support::*;

    /// Rows in `items` before a task starts.
    const ROWS: i64 = 200;
    /// Bound on a process that is expected to exit by itself.
    const EXIT: Duration = Duration::from_secs(30);
    /// Bound on a condition on the server or the topic.
    const WAIT: Duration = Duration::from_secs(30);

    // ----- the task as a child process -------------------------------------------------------

    /// A `tributary` child whose stderr goes to a file, so a test can read it while it runs.
    /// Killed when dropped.
    struct Run {
        child: Option<Child>,
        stderr: PathBuf,
    }

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    impl Run {
        /// `tributary run --task FILE --data-dir DIR ARGS..`, with `FAILPOINTS` if given.
        fn start(setup: &TaskSetup, data: &Path, args: &[&str], failpoints: Option<&str>) -> Run {
            let n = RUNS.fetch_add(1, Ordering::Relaxed);
            let stderr = setup.dir.path().join(format!("run-{n}.stderr"));
            let mut cmd = tributary();
            cmd.args(["run", "--task"])
                .arg(&setup.path)
                .arg("--data-dir")
                .arg(data)
                .args(args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap());
            match failpoints {
                Some(f) => cmd.env("FAILPOINTS", f),
                None => cmd.env_remove("FAILPOINTS"),
            };
            Run {
                child: Some(cmd.spawn().expect("start tributary")),
                stderr,
            }
        }

        fn stderr(&self) -> String {
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        }

        fn child(&mut self) -> &mut Child {
            self.child.as_mut().expect("a child")
        }

        /// Fails the test if the process has exited.
        fn assert_running(&mut self, when: &str) {
            if let Some(status) = self.child().try_wait().unwrap() {
                panic!(
                    "tributary exited ({status}) {when}; stderr:\n{}",
                    self.stderr()
                );
            }
        }

        fn sigterm(&mut self) {
            let pid = self.child().id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }

        fn sigkill(&mut self) {
            let c = self.child();
            let _ = c.kill();
            let _ = c.wait();
            self.child = None;
        }

        /// Waits (bounded) for the exit; returns the code and stderr.
        fn wait_exit(mut self, limit: Duration) -> (i32, String) {
            let start = Instant::now();
            loop {
                if let Some(status) = self.child().try_wait().unwrap() {
                    self.child = None;
                    return (status.code().unwrap_or(-1), self.stderr());
                }
                if start.elapsed() > limit {
                    panic!(
                        "tributary did not exit within {limit:?}; stderr:\n{}",
                        self.stderr()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// SIGTERM, then the exit, which must be 0.
        fn stop(mut self) {
            self.sigterm();
            let (code, err) = self.wait_exit(EXIT);
            assert_eq!(code, 0, "a stopped task exits 0; stderr:\n{err}");
        }
    }

    impl Drop for Run {
        fn drop(&mut self) {
            if let Some(c) = self.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// What a finished command printed.
    struct Output {
        code: i32,
        stdout: String,
        stderr: String,
    }

    /// `tributary release --task FILE --data-dir DIR ARGS..`, bounded.
    fn release(setup: &TaskSetup, args: &[&str]) -> Output {
        let mut cmd = tributary();
        cmd.args(["release", "--task"])
            .arg(&setup.path)
            .arg("--data-dir")
            .arg(setup.data())
            .args(args);
        bounded(cmd, EXIT)
    }

    /// Runs `cmd` to its end within `limit`.
    fn bounded(mut cmd: Command, limit: Duration) -> Output {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tributary");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(limit) {
            Ok(out) => {
                let out = out.unwrap();
                Output {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            }
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("{cmd:?} did not end within {limit:?}");
            }
        }
    }

    // ----- the server -----------------------------------------------------------------------

    /// The test's database, dropped with its slots by `cleanup` at the end of a passing test,
    /// and also when the test fails: a failed test must not use up the shared server's slots.
    struct Db {
        db: TestDb,
        _on_panic: DropOnPanic,
    }

    impl std::ops::Deref for Db {
        type Target = TestDb;
        fn deref(&self) -> &TestDb {
            &self.db
        }
    }

    impl Db {
        async fn cleanup(self) {
            self.db.cleanup().await
        }
    }

    /// Drops database `.0` and its slots if dropped while the test panics.
    struct DropOnPanic(String);

    impl Drop for DropOnPanic {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                return;
            }
            let name = self.0.clone();
            // The test's own runtime is unwinding: clean up from a thread with a runtime of its own.
            let cleanup = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let admin = connect(&pg_url()).await;
                    // A terminated walsender lets go of its slot a moment later: retry.
                    for _ in 0..50 {
                        let _ = admin
                            .execute(
                                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                                 WHERE database = $1 AND active_pid IS NOT NULL",
                                &[&name],
                            )
                            .await;
                        let _ = admin
                            .execute(
                                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                                 WHERE database = $1 AND active_pid IS NULL",
                                &[&name],
                            )
                            .await;
                        let left = admin
                            .query_one(
                                "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
                                &[&name],
                            )
                            .await
                            .map(|r| r.get::<_, i64>(0));
                        if matches!(left, Ok(0)) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            });
            let _ = cleanup.join();
        }
    }

    /// A database with `items (id bigint PRIMARY KEY, name text, qty int)` holding `ROWS` rows.
    async fn items_db(prefix: &str) -> Db {
        let db = TestDb::create(prefix).await;
        let db = Db {
            _on_panic: DropOnPanic(db.name.clone()),
            db,
        };
        db.client
            .batch_execute(&format!(
                "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int);
                 INSERT INTO items SELECT g, 'item ' || g, 0 FROM generate_series(1, {ROWS}) g;"
            ))
            .await
            .unwrap();
        db
    }

    /// `n` inserts from id `first`, an update and a delete of rows of the snapshot, in one
    /// transaction each.
    async fn change(db: &TestDb, first: i64, n: i64) {
        db.client
            .batch_execute(&format!(
                "INSERT INTO items SELECT g, 'new ' || g, 1 FROM generate_series({first}, {}) g;
                 UPDATE items SET qty = qty + 7, name = 'changed at {first}' WHERE id = {};
                 DELETE FROM items WHERE id = {};",
                first + n - 1,
                first % ROWS + 1,
                (first * 7) % ROWS + 1,
            ))
            .await
            .unwrap();
    }

    /// A replication slot of the test's database.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Slot {
        name: String,
        confirmed_flush: Option<String>,
        active_pid: Option<i32>,
    }

    async fn slots(db: &TestDb) -> Vec<Slot> {
        db.client
            .query(
                "SELECT slot_name::text, confirmed_flush_lsn::text, active_pid \
                 FROM pg_replication_slots WHERE database = current_database() ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| Slot {
                name: r.get(0),
                confirmed_flush: r.get(1),
                active_pid: r.get(2),
            })
            .collect()
    }

    async fn slot(db: &TestDb, name: &str) -> Option<Slot> {
        slots(db).await.into_iter().find(|s| s.name == name)
    }

    /// The end of the WAL written so far (inserted: the server commits asynchronously, so what
    /// is written to disk lags behind).
    async fn current_wal(db: &TestDb) -> Lsn {
        let wal: String = db
            .client
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .unwrap()
            .get(0);
        wal.parse().unwrap()
    }

    async fn publications(db: &TestDb) -> BTreeSet<String> {
        db.replication_objects().await.1.into_iter().collect()
    }

    /// Polls `f` until it gives a value (bounded).
    async fn wait_for<T, Fut: Future<Output = Option<T>>>(
        what: &str,
        limit: Duration,
        mut f: impl FnMut() -> Fut,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The single slot of the database, once created: the walsender that creates a slot
    /// holds it until the slot is made persistent, then lets go of it.
    /// Runs a first start that pauses right after creating its slot, waits for the slot and
    /// SIGKILLs the process there; returns the slot.
    async fn kill_after_slot_creation(setup: &TaskSetup, db: &TestDb) -> Slot {
        let mut run = Run::start(setup, &setup.data(), &[], Some("task.after_create=pause"));
        let s = wait_for_created_slot(db).await;
        run.assert_running("at the fail point");
        run.sigkill();
        s
    }

    async fn wait_for_created_slot(db: &TestDb) -> Slot {
        wait_for("the task's slot to be created", WAIT, || async {
            let s = slots(db).await;
            assert!(s.len() <= 1, "more than one slot: {s:?}");
            s.into_iter().find(|s| s.active_pid.is_none())
        })
        .await
    }

    /// Waits until `run` streams from a slot (the only one of the database); returns it.
    async fn wait_streaming(db: &TestDb, run: &mut Run) -> Slot {
        wait_for("the task to stream from its slot", WAIT, || {
            run.assert_running("before it streamed");
            async {
                let s = slots(db).await;
                assert!(s.len() <= 1, "more than one slot: {s:?}");
                s.into_iter().find(|s| s.active_pid.is_some())
            }
        })
        .await
    }

    /// Waits until no process holds slot `name` (a stopped task's walsender exits shortly
    /// after the task).
    async fn wait_inactive(db: &TestDb, name: &str) -> Slot {
        wait_for("the slot to be released", WAIT, || async {
            slot(db, name).await.filter(|s| s.active_pid.is_none())
        })
        .await
    }

    // ----- the checkpoint and the topic ------------------------------------------------------

    /// The checkpoint in `data` (no process may hold the directory).
    async fn checkpoint(setup: &TaskSetup) -> Option<Checkpoint> {
        let store = SledCheckpointStore::open(&setup.data()).unwrap();
        store
            .load(&ShardKey {
                task: setup.task.clone(),
                shard: 0,
            })
            .await
            .unwrap()
    }

    fn cp_slot(cp: &Checkpoint) -> String {
        cp.pg_slot()
            .expect("a slot in the checkpoint")
            .slot_name
            .clone()
    }

    /// Whether the data directory's files hold `needle` (sled writes checkpoints as they are).
    fn data_holds(dir: &Path, needle: &[u8]) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                data_holds(&p, needle)
            } else {
                std::fs::read(&p)
                    .map(|b| b.windows(needle.len()).any(|w| w == needle))
                    .unwrap_or(false)
            }
        })
    }

    /// The broker's topic names.
    fn topics() -> BTreeSet<String> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .create()
            .unwrap();
        let md = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        md.topics().iter().map(|t| t.name().to_owned()).collect()
    }

    /// Waits until the topic's messages rebuild `items` as the table now is, while `run` keeps
    /// running; returns them.
    async fn converge(db: &TestDb, topic: &str, run: &mut Run) -> Vec<Msg> {
        let want = items_state(db).await;
        let start = Instant::now();
        loop {
            run.assert_running("before its topic caught up with the table");
            let msgs = consume_all(topic, Duration::from_millis(700), Duration::from_secs(20));
            let got = replay(&msgs);
            if got == want {
                return msgs;
            }
            if start.elapsed() > WAIT {
                assert_eq!(got.len(), want.len(), "row count on {topic}");
                for (k, v) in &want {
                    assert_eq!(got.get(k), Some(v), "row {k} on {topic}");
                }
                panic!("{topic} holds rows the table does not");
            }
        }
    }

    /// Waits until `topic` holds at least `n` messages, while `run` keeps running.
    fn wait_messages(topic: &str, n: usize, run: &mut Run) {
        let start = Instant::now();
        loop {
            run.assert_running("before its topic held the snapshot");
            let got = consume_all(topic, Duration::from_millis(700), Duration::from_secs(20)).len();
            if got >= n {
                return;
            }
            assert!(start.elapsed() < WAIT, "{got} of {n} messages on {topic}");
        }
    }

    fn task_setup(db: &TestDb, prefix: &str) -> TaskSetup {
        TaskSetup::new(&db.url, prefix, &["public.items"], &["full", "incremental"])
    }

    // ----- 1. a first start killed around slot creation --------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn sigkill_after_slot_creation_then_restart_keeps_one_slot() {
        let db = items_db("lc_killcreate").await;
        let setup = task_setup(&db, "lc_killcreate");
        let topic = setup.topic("public.items");
        tracing::info!("the first start pauses right after creating its slot, and is killed");
        let killed = {
            let s = kill_after_slot_creation(&setup, &db).await;
            let cp = checkpoint(&setup)
                .await
                .expect("the planned names were saved");
            assert!(!cp.started, "killed before the first checkpoint: {cp:?}");
            assert!(cp.source.is_none(), "the slot was not recorded yet: {cp:?}");
            s.name
        };
        tracing::info!("changes while it is down");
        change(&db, 10_000, 20).await;
        tracing::info!("the restart replaces the slot and delivers the table, then streams");
        {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_streaming(&db, &mut run).await;
            converge(&db, &topic, &mut run).await;
            change(&db, 20_000, 20).await;
            converge(&db, &topic, &mut run).await;
            let err = run.stderr();
            assert!(
                err.contains("removed what an interrupted first start left"),
                "the restart replaces the killed start's slot:\n{err}"
            );
            run.stop();
        }
        tracing::info!("exactly one slot: the checkpoint's, under the name of the killed start");
        {
            let cp = checkpoint(&setup).await.unwrap();
            assert!(cp.started);
            let names: Vec<String> = slots(&db).await.into_iter().map(|s| s.name).collect();
            assert_eq!(names, vec![cp_slot(&cp)], "the task's slots");
            assert_eq!(names, vec![killed], "the killed start's slot was replaced");
            let recorded: BTreeSet<String> =
                cp.pg_slot().unwrap().publications.iter().cloned().collect();
            assert_eq!(publications(&db).await, recorded);
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn sigkill_after_plan_then_restart_creates_everything_once() {
        let db = items_db("lc_killplan").await;
        let setup = task_setup(&db, "lc_killplan");
        let topic = setup.topic("public.items");
        tracing::info!("the first start pauses once the names are saved, and is killed");
        let planned = {
            let mut run = Run::start(&setup, &setup.data(), &[], Some("task.after_plan=pause"));
            let data = setup.data();
            wait_for("the planned names on disk", WAIT, || async {
                data_holds(&data, b"\"planned\":{\"source\":[").then_some(())
            })
            .await;
            run.assert_running("at the fail point");
            run.sigkill();
            let cp = checkpoint(&setup)
                .await
                .expect("the planned names were saved");
            assert!(!cp.started && cp.source.is_none(), "{cp:?}");
            let planned = cp.planned.expect("planned names");
            assert_eq!(
                planned.topics,
                vec![topic.clone()],
                "the topic is to be created"
            );
            assert!(slots(&db).await.is_empty(), "nothing created yet");
            assert!(publications(&db).await.is_empty(), "nothing created yet");
            assert!(!topics().contains(&topic), "nothing created yet");
            planned.source
        };
        tracing::info!("the restart creates everything once and delivers the table");
        {
            change(&db, 10_000, 20).await;
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_streaming(&db, &mut run).await;
            converge(&db, &topic, &mut run).await;
            change(&db, 20_000, 20).await;
            converge(&db, &topic, &mut run).await;
            run.stop();
        }
        tracing::info!("one slot, the planned one, recorded in the checkpoint");
        {
            let cp = checkpoint(&setup).await.unwrap();
            let names: Vec<String> = slots(&db).await.into_iter().map(|s| s.name).collect();
            assert_eq!(names, vec![cp_slot(&cp)]);
            assert!(
                planned.iter().any(|o| o.name == names[0]),
                "slot {} was planned: {planned:?}",
                names[0]
            );
        }
        db.cleanup().await;
    }

    // ----- 2. a slot moved or dropped behind the task's back ---------------------------------

    /// Replaces the stopped task's checkpoint with `cp`: in its local store, with the run's
    /// one-node cluster state removed, so the next run imports it (as it imports a data
    /// directory of an earlier version).
    async fn save_checkpoint(setup: &TaskSetup, cp: &Checkpoint) {
        std::fs::remove_dir_all(setup.data().join("raft")).unwrap();
        let store = SledCheckpointStore::open(&setup.data()).unwrap();
        let key = ShardKey {
            task: setup.task.clone(),
            shard: 0,
        };
        store.save(&key, cp).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_of_another_system_database_or_plugin_is_refused() {
        let db = items_db("lc_foreign").await;
        let setup = task_setup(&db, "lc_foreign");
        let topic = setup.topic("public.items");
        tracing::info!("a run delivers the snapshot and stops cleanly");
        let cp = {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_messages(&topic, ROWS as usize, &mut run);
            run.stop();
            let cp = checkpoint(&setup).await.unwrap();
            wait_inactive(&db, &cp_slot(&cp)).await;
            cp
        };
        tracing::info!("each recorded identity altered in turn: the restart names what differs");
        for (what, expect) in [
            ("system_id", "system identifier"),
            ("database", "database"),
            ("plugin", "output plugin"),
        ] {
            let mut altered = cp.clone();
            let Some(tributary::checkpoint::SourceIdentity::Postgres(id)) = altered.source.as_mut()
            else {
                panic!("a PostgreSQL checkpoint: {cp:?}")
            };
            match what {
                "system_id" => id.system_id = "1".into(),
                "database" => id.database = "elsewhere".into(),
                _ => id.plugin = "wal2json".into(),
            }
            save_checkpoint(&setup, &altered).await;
            let run = Run::start(&setup, &setup.data(), &[], None);
            let (code, err) = run.wait_exit(EXIT);
            assert_eq!(code, 1, "{what}: {err}");
            let line = error_line(&err);
            for part in [expect, cp_slot(&cp).as_str(), "tributary release"] {
                assert!(line.contains(part), "{what}: {part:?} missing from: {line}");
            }
            assert!(
                !line.contains("keeps WAL"),
                "{what}: nothing to resume: {line}"
            );
        }
        tracing::info!("the true checkpoint back: the task resumes");
        {
            let mut back = cp.clone();
            back.epoch = checkpoint(&setup).await.unwrap().epoch;
            save_checkpoint(&setup, &back).await;
            change(&db, 20_000, 3).await;
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_messages(&topic, ROWS as usize + 3, &mut run);
            run.stop();
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slot_advanced_past_the_checkpoint_or_dropped_is_refused() {
        let db = items_db("lc_ahead").await;
        let setup = task_setup(&db, "lc_ahead");
        let topic = setup.topic("public.items");
        tracing::info!("a run delivers the snapshot and stops cleanly");
        let (cp, name) = {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_messages(&topic, ROWS as usize, &mut run);
            run.stop();
            let cp = checkpoint(&setup).await.unwrap();
            let name = cp_slot(&cp);
            wait_inactive(&db, &name).await;
            (cp, name)
        };
        tracing::info!("changes, then the slot is advanced past them by hand");
        let slot_lsn = {
            change(&db, 10_000, 20).await;
            // The server commits asynchronously, and a slot advances only through flushed WAL.
            let target = current_wal(&db).await;
            wait_for("the changes to be flushed", WAIT, || async {
                let flushed: String = db
                    .client
                    .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
                    .await
                    .unwrap()
                    .get(0);
                (flushed.parse::<Lsn>().unwrap() >= target).then_some(())
            })
            .await;
            db.client
                .execute(
                    "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)",
                    &[&name, &target.to_string()],
                )
                .await
                .unwrap();
            let s = slot(&db, &name).await.unwrap();
            let lsn: Lsn = s.confirmed_flush.unwrap().parse().unwrap();
            assert!(
                lsn >= target && lsn > checkpoint_lsn(&cp),
                "the slot ({lsn}) is past the changes ({target}) and the checkpoint ({})",
                checkpoint_lsn(&cp)
            );
            lsn
        };
        tracing::info!("the restart refuses, naming the slot, both positions and the fix");
        {
            let run = Run::start(&setup, &setup.data(), &[], None);
            let (code, err) = run.wait_exit(EXIT);
            assert_eq!(code, 1, "{err}");
            let line = error_line(&err);
            for part in [
                name.clone(),
                slot_lsn.to_string(),
                checkpoint_lsn(&cp).to_string(),
                "tributary release".into(),
            ] {
                assert!(line.contains(&part), "{part:?} missing from: {line}");
            }
        }
        tracing::info!("nothing after the checkpoint went out; the checkpoint is untouched");
        {
            let msgs = consume_all(&topic, Duration::from_secs(1), Duration::from_secs(20));
            assert_eq!(msgs.len(), ROWS as usize, "only the snapshot is on {topic}");
            assert!(msgs
                .iter()
                .all(|m| m.value.as_ref().is_some_and(|v| v["op"] == "r")));
            assert_eq!(checkpoint(&setup).await.as_ref(), Some(&cp));
        }
        tracing::info!("a slot dropped by hand: the restart says it no longer exists");
        {
            db.client
                .execute("SELECT pg_drop_replication_slot($1)", &[&name])
                .await
                .unwrap();
            let run = Run::start(&setup, &setup.data(), &[], None);
            let (code, err) = run.wait_exit(EXIT);
            assert_eq!(code, 1, "{err}");
            let line = error_line(&err);
            assert!(
                line.contains(&name) && line.contains("no longer exists"),
                "{line}"
            );
            assert!(
                !line.contains("keeps WAL"),
                "a dropped slot keeps nothing: {line}"
            );
            assert_eq!(checkpoint(&setup).await.as_ref(), Some(&cp));
            assert!(slots(&db).await.is_empty(), "no slot is made up again");
        }
        db.cleanup().await;
    }

    // ----- 3. tributary release --------------------------------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn release_refuses_while_running_then_drops_what_the_task_holds() {
        let db = items_db("lc_release").await;
        let setup = task_setup(&db, "lc_release");
        let topic = setup.topic("public.items");
        let mut run = Run::start(&setup, &setup.data(), &[], None);
        wait_messages(&topic, ROWS as usize, &mut run);
        tracing::info!("while the task runs, release refuses, naming the slot and the PID");
        let held = {
            let s = wait_for("the slot in use", WAIT, || async {
                slots(&db)
                    .await
                    .into_iter()
                    .find(|s| s.active_pid.is_some())
            })
            .await;
            let out = release(&setup, &[]);
            assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
            let line = error_line(&out.stderr);
            let pid = s.active_pid.unwrap().to_string();
            assert!(line.contains(&s.name) && line.contains(&pid), "{line}");
            assert!(
                slot(&db, &s.name).await.is_some(),
                "the slot is still there"
            );
            s.name
        };
        tracing::info!("after a clean stop, release drops the slot, publications and checkpoint");
        {
            run.stop();
            let cp = checkpoint(&setup).await.unwrap();
            let pubs = cp.pg_slot().unwrap().publications.clone();
            wait_inactive(&db, &held).await;
            let out = release(&setup, &[]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(
                out.stdout
                    .contains(&format!("dropped replication slot {held}")),
                "{}",
                out.stdout
            );
            for p in &pubs {
                assert!(
                    out.stdout.contains(&format!("dropped publication {p}")),
                    "{}",
                    out.stdout
                );
            }
            assert!(
                out.stdout.contains("deleted the checkpoint"),
                "{}",
                out.stdout
            );
            assert!(!out.stdout.contains("deleted topic"), "{}", out.stdout);
            assert!(slots(&db).await.is_empty());
            assert!(publications(&db).await.is_empty());
            assert!(checkpoint(&setup).await.is_none());
        }
        tracing::info!("the topic keeps its messages; a second release has nothing to do");
        {
            assert!(topics().contains(&topic));
            let msgs = consume_all(&topic, Duration::from_secs(1), Duration::from_secs(20));
            assert_eq!(msgs.len(), ROWS as usize);
            let out = release(&setup, &[]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains("nothing recorded to release"),
                "{}",
                out.stdout
            );
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn release_with_delete_topics_deletes_the_task_topics() {
        let db = items_db("lc_reltopics").await;
        let setup = task_setup(&db, "lc_reltopics");
        let topic = setup.topic("public.items");
        tracing::info!("a run into a topic that existed before the task");
        {
            create_topic(&topic).await;
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_messages(&topic, ROWS as usize, &mut run);
            run.stop();
            let cp = checkpoint(&setup).await.unwrap();
            assert_eq!(cp.topics, vec![topic.clone()]);
            assert!(
                cp.planned.unwrap().topics.is_empty(),
                "the task did not create it"
            );
            wait_inactive(&db, &cp_slot(&checkpoint(&setup).await.unwrap())).await;
        }
        tracing::info!("release --delete-topics drops the slot and deletes the topic all the same");
        {
            let out = release(&setup, &["--delete-topics"]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains(&format!("deleted topic {topic}")),
                "{}",
                out.stdout
            );
            assert!(slots(&db).await.is_empty());
            wait_for("the topic to be deleted", WAIT, || async {
                (!topics().contains(&topic)).then_some(())
            })
            .await;
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn release_after_a_killed_first_start_drops_its_slot_and_topics() {
        let db = items_db("lc_relkilled").await;
        let setup = task_setup(&db, "lc_relkilled");
        let topic = setup.topic("public.items");
        tracing::info!("a first start killed after creating its topic and slot");
        let name = {
            let s = kill_after_slot_creation(&setup, &db).await;
            assert!(topics().contains(&topic), "the first start created {topic}");
            s.name
        };
        tracing::info!("release drops the slot and the topics that start created");
        {
            let out = release(&setup, &[]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(
                out.stdout
                    .contains(&format!("dropped replication slot {name}")),
                "{}",
                out.stdout
            );
            assert!(
                out.stdout.contains(&format!("deleted topic {topic}")),
                "{}",
                out.stdout
            );
            assert!(slots(&db).await.is_empty());
            assert!(publications(&db).await.is_empty());
            wait_for("the topic to be deleted", WAIT, || async {
                (!topics().contains(&topic)).then_some(())
            })
            .await;
            assert!(checkpoint(&setup).await.is_none());
        }
        db.cleanup().await;
    }

    // ----- 4. a definite error after the first start -----------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn definite_error_after_first_start_keeps_the_slot_and_names_the_release() {
        let db = items_db("lc_toolarge").await;
        let setup = task_setup(&db, "lc_toolarge");
        add_to_section(&setup.path, "destination", "message_max_bytes = 1000");
        let topic = setup.topic("public.items");
        let mut run = Run::start(&setup, &setup.data(), &[], None);
        wait_messages(&topic, ROWS as usize, &mut run);
        tracing::info!("a row larger than the producer may send stops the task");
        let line = {
            db.client
                .execute(
                    "INSERT INTO items VALUES (99999, repeat('x', 5000), 0)",
                    &[],
                )
                .await
                .unwrap();
            let (code, err) = run.wait_exit(EXIT);
            assert_eq!(code, 1, "{err}");
            error_line(&err)
        };
        tracing::info!("the slot is kept; the line names it and the exact release command");
        let name = {
            let cp = checkpoint(&setup).await.unwrap();
            let name = cp_slot(&cp);
            let command = format!(
                "`tributary release --task {} --data-dir {}`",
                setup.path.display(),
                setup.data().display()
            );
            for part in [name.as_str(), "keeps WAL", command.as_str()] {
                assert!(line.contains(part), "{part:?} missing from: {line}");
            }
            assert!(slot(&db, &name).await.is_some(), "the slot is kept");
            name
        };
        tracing::info!("release then drops it");
        {
            wait_inactive(&db, &name).await;
            let out = release(&setup, &[]);
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(slots(&db).await.is_empty());
        }
        db.cleanup().await;
    }

    // ----- 5. a slot held by another connection ----------------------------------------------

    /// Holds a slot from a replication connection of its own: streams from it, reads and
    /// discards what comes, and answers with status updates that confirm nothing (0/0).
    struct Holder {
        task: tokio::task::JoinHandle<()>,
    }

    impl Holder {
        async fn start(url: &str, slot: &str, publications: &[String]) -> Holder {
            let cfg = PgConnectConfig::new(url, None, None).unwrap();
            let conn = ReplicationConn::connect(&cfg).await.unwrap();
            let sql = format!(
                "START_REPLICATION SLOT \"{slot}\" LOGICAL 0/0 (proto_version '1', publication_names '{}')",
                publications.join(",")
            );
            let (mut io, _) = conn.start_replication(&sql).await.unwrap();
            let task = tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity(1 << 16);
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        r = io.read_buf(&mut buf) => {
                            if matches!(r, Ok(0) | Err(_)) {
                                return;
                            }
                            buf.clear();
                        }
                        _ = tick.tick() => {
                            let mut body = BytesMut::new();
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_micros() as i64;
                            standby_status_update(Lsn::ZERO, Lsn::ZERO, Lsn::ZERO, now, false, &mut body);
                            let mut msg = BytesMut::new();
                            msg.put_u8(b'd');
                            msg.put_i32(4 + body.len() as i32);
                            msg.put_slice(&body);
                            if io.write_all(&msg).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            Holder { task }
        }

        /// Closes the connection (the walsender then exits and frees the slot).
        async fn release(self) {
            self.task.abort();
            let _ = self.task.await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slot_active_for_another_pid_is_retried_until_free() {
        let db = items_db("lc_held").await;
        let setup = task_setup(&db, "lc_held");
        let topic = setup.topic("public.items");
        let (cp, name) = {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            wait_messages(&topic, ROWS as usize, &mut run);
            run.stop();
            let cp = checkpoint(&setup).await.unwrap();
            let name = cp_slot(&cp);
            wait_inactive(&db, &name).await;
            (cp, name)
        };
        tracing::info!("another connection holds the slot; changes meanwhile");
        let (holder, pid, confirmed) = {
            let pubs = cp.pg_slot().unwrap().publications.clone();
            let before = slot(&db, &name).await.unwrap().confirmed_flush;
            let holder = Holder::start(&db.url, &name, &pubs).await;
            let pid = wait_for("the holder's PID", WAIT, || async {
                slot(&db, &name).await.and_then(|s| s.active_pid)
            })
            .await;
            change(&db, 10_000, 30).await;
            (holder, pid, before)
        };
        tracing::info!("release refuses to drop a slot in use, naming the PID");
        {
            let out = release(&setup, &[]);
            assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
            let line = error_line(&out.stderr);
            assert!(
                line.contains(&name) && line.contains(&format!("PID {pid}")),
                "{line}"
            );
            assert_eq!(slot(&db, &name).await.and_then(|s| s.active_pid), Some(pid));
            assert_eq!(checkpoint(&setup).await.as_ref(), Some(&cp));
        }
        tracing::info!("the task does not exit: it warns, naming the PID, and retries");
        let mut run = {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            let needle = format!("PID {pid}");
            wait_for("a retry warning naming the holder", WAIT, || {
                run.assert_running("while the slot is held");
                let err = run.stderr();
                let seen = err.contains("retrying") && err.contains(&needle);
                async move { seen.then_some(()) }
            })
            .await;
            run.assert_running("while the slot is held");
            assert_eq!(
                slot(&db, &name).await.unwrap().confirmed_flush,
                confirmed,
                "the holder confirmed nothing"
            );
            run
        };
        tracing::info!("once the holder lets go, the task streams what changed, row by row");
        {
            holder.release().await;
            converge(&db, &topic, &mut run).await;
            change(&db, 20_000, 10).await;
            converge(&db, &topic, &mut run).await;
            run.stop();
        }
        db.cleanup().await;
    }

    // ----- 6. a --sink null run beside a Kafka run -------------------------------------------

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn null_sink_run_never_confirms_on_a_kafka_run_slot() {
        let db = items_db("lc_nullsink").await;
        let setup = task_setup(&db, "lc_nullsink");
        let topic = setup.topic("public.items");
        tracing::info!("a Kafka run delivers the snapshot and some changes, then stops");
        let name = {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            converge(&db, &topic, &mut run).await;
            change(&db, 10_000, 10).await;
            converge(&db, &topic, &mut run).await;
            run.stop();
            let name = cp_slot(&checkpoint(&setup).await.unwrap());
            wait_inactive(&db, &name).await;
            name
        };
        change(&db, 20_000, 10).await;
        let kafka_slot = slot(&db, &name).await.unwrap();
        tracing::info!("a null run on the Kafka run's data directory refuses");
        {
            let run = Run::start(&setup, &setup.data(), &["--sink", "null"], None);
            let (code, err) = run.wait_exit(EXIT);
            assert_eq!(code, 1, "{err}");
            let line = error_line(&err);
            assert!(
                line.contains("--sink kafka") && line.contains("--sink null run"),
                "{line}"
            );
            assert_eq!(slot(&db, &name).await.as_ref(), Some(&kafka_slot));
        }
        tracing::info!("a null run with its own data directory confirms on a slot of its own");
        {
            let own = setup.dir.path().join("null-data");
            let run = Run::start(&setup, &own, &["--sink", "null"], None);
            let other = wait_for("the null run's slot", WAIT, || async {
                slots(&db).await.into_iter().find(|s| s.name != name)
            })
            .await;
            change(&db, 30_000, 10).await;
            let wal = current_wal(&db).await;
            wait_for("the null run to confirm past the changes", WAIT, || async {
                slot(&db, &other.name)
                    .await
                    .and_then(|s| s.confirmed_flush)
                    .and_then(|l| l.parse::<Lsn>().ok())
                    .filter(|l| *l >= wal)
            })
            .await;
            run.stop();
            assert_eq!(
                slot(&db, &name).await.as_ref(),
                Some(&kafka_slot),
                "the Kafka run's slot is untouched"
            );
        }
        tracing::info!("the Kafka run resumes and loses nothing");
        {
            let mut run = Run::start(&setup, &setup.data(), &[], None);
            converge(&db, &topic, &mut run).await;
            run.stop();
        }
        db.cleanup().await;
    }

    // ----- 7. intervals of zero --------------------------------------------------------------

    /// Against a database the task could run on: were the setting let through, the task would
    /// reach the timer that takes it (and panic on a zero period).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zero_intervals_are_refused_naming_the_field() {
        let db = items_db("lc_zero").await;
        for (from, to, field) in [
            (
                "checkpoint_interval = \"200ms\"",
                "checkpoint_interval = \"0s\"",
                "migration.checkpoint_interval",
            ),
            (
                "status_interval = \"1s\"",
                "status_interval = \"0ms\"",
                "source.status_interval",
            ),
        ] {
            let setup = task_setup(&db, "lc_zero");
            let text = std::fs::read_to_string(&setup.path).unwrap();
            assert!(text.contains(from), "{text}");
            std::fs::write(&setup.path, text.replace(from, to)).unwrap();
            let (code, err) = Run::start(&setup, &setup.data(), &[], None).wait_exit(EXIT);
            assert_eq!(code, 2, "{err}");
            let line = error_line(&err);
            assert!(line.contains(field), "{line}");
            assert!(slots(&db).await.is_empty(), "nothing is created");
        }
        db.cleanup().await;
    }
}
