//! The shard runtime through crashes, with an in-memory source, sink and store: the confirmed
//! position never passes a durable, saved checkpoint; restarting loses nothing; duplicates lie
//! only after the checkpoint saved before the crash; a killed first start never leaves two
//! slots; a fenced worker stops; a run with another sink than its checkpoint's is refused.
//!
//! Time is tokio's paused clock: the source's pace, the checkpoint ticks and the waits below
//! are virtual, so the tests neither wait on the wall clock nor depend on the machine's load.
//!
//! Crashes are the named fail points of `crate::failpoint` (feature `failpoints`): a point
//! configured to `return` ends the attempt with an `Injected` error, as a killed process
//! would, and the test starts the shard again over the same server, store and records.

mod bounds;
mod fake;
mod retry;
mod topics;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use fake::{FakeServer, FakeSource, MemorySink, Stored, Topics, TABLE};
use tokio::sync::watch;

use super::{run_shard, Epoch, ShardRuntime, TaskError, TaskFailure, TaskOutcome};
use crate::checkpoint::{
    Checkpoint, CheckpointStore, MemoryCheckpointStore, ShardKey, TableProgress,
};
use crate::config::TaskSpec;
use crate::metrics::ShardLabels;
use crate::pipeline::stats::Stats;
use crate::position::{Lsn, ResumeToken, StreamPosition};
use crate::sink::null::NullSink;
use crate::source::ErrorClass;

fn spec() -> TaskSpec {
    spec_with("")
}

/// The test task with `destination` TOML added to `[destination]` and `extra` appended.
fn spec_to(destination: &str, extra: &str) -> TaskSpec {
    let text = toml_with(extra).replace(
        "bootstrap_servers = \"127.0.0.1:1\"\n",
        &format!("bootstrap_servers = \"127.0.0.1:1\"\n{destination}\n"),
    );
    TaskSpec::parse(&text).unwrap()
}

/// The test task with `extra` TOML appended (inside `[migration]`, or new sections).
fn spec_with(extra: &str) -> TaskSpec {
    TaskSpec::parse(&toml_with(extra)).unwrap()
}

fn toml_with(extra: &str) -> String {
    let base = r#"
name = "crash"
[source]
kind = "postgres"
url = "postgres://fake@127.0.0.1:1/fake"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:1"
[objects]
tables = ["public.items"]
[migration]
checkpoint_interval = "5ms"
"#;
    format!("{base}{extra}")
}

fn key() -> ShardKey {
    ShardKey {
        task: "crash".into(),
        shard: 0,
    }
}

/// One test's world: the server, the store and the broker's records and topics outlive
/// attempts; each attempt runs `spec`, on a sink that creates missing topics if
/// `create_topics`.
struct World {
    server: FakeServer,
    store: Arc<MemoryCheckpointStore>,
    records: Arc<Mutex<Vec<Stored>>>,
    topics: Topics,
    spec: TaskSpec,
    create_topics: bool,
    /// Exactly-once: the broker's committed checkpoint record (`None`: at least once).
    committed: Option<fake::Committed>,
}

impl World {
    fn new(rows: i64, txs: u64) -> World {
        let store = Arc::new(MemoryCheckpointStore::new());
        World {
            server: FakeServer::new(rows, txs, store.clone(), key()),
            store,
            records: Arc::default(),
            topics: Topics::default(),
            spec: spec(),
            create_topics: true,
            committed: None,
        }
    }

    /// A world whose task delivers exactly once, in Kafka transactions of `records` records.
    fn exactly_once(rows: i64, txs: u64, records: u64) -> World {
        let mut w = World::new(rows, txs);
        let delivery = format!("delivery = \"exactly_once\"\ntransaction_records = {records}");
        w.spec = spec_to(&delivery, "");
        w.committed = Some(fake::Committed::default());
        w
    }

    /// The sink of one attempt, over the world's broker.
    fn sink(&self) -> impl Fn(&ShardLabels, &str) -> Result<MemorySink, TaskError> {
        let (records, topics, create) = (
            self.records.clone(),
            self.topics.clone(),
            self.create_topics,
        );
        let committed = self.committed.clone();
        move |_: &ShardLabels, _: &str| {
            let mut sink = MemorySink::with_topics(&records, &topics);
            sink.create = create;
            sink.txn = committed.clone();
            Ok(sink)
        }
    }

    /// Whether the saved checkpoint holds every transaction of the log.
    fn caught_up(&self) -> bool {
        let last = self.server.lock().log.last().map(|t| (t.commit, t.end));
        let cp = self.store.get(&key());
        match (last, cp) {
            (Some((commit, end)), Some(cp)) => {
                cp.stream
                    .is_some_and(|s| s >= StreamPosition::pg(commit, 2))
                    && cp.resume >= Some(ResumeToken::Pg { confirmed_lsn: end })
            }
            _ => false,
        }
    }

    /// Runs the shard until it fails or, once it has caught up, until it is stopped.
    async fn attempt(&self) -> Result<TaskOutcome, TaskFailure> {
        self.attempt_until(World::caught_up).await
    }

    /// Runs the shard until it fails, or until `done` holds and it is stopped.
    async fn attempt_until(&self, done: fn(&World) -> bool) -> Result<TaskOutcome, TaskFailure> {
        let (stop, shutdown) = watch::channel(false);
        let rt = ShardRuntime {
            spec: self.spec.clone(),
            key: key(),
            epoch: Epoch::TakeOver,
            store: self.store.clone(),
            stats: Arc::new(Stats::default()),
            shutdown,
            until: None,
            status: None,
            limits: None,
            specs: None,
        };
        let server = self.server.clone();
        let run = run_shard(rt, move || Ok(FakeSource::new(&server)), self.sink());
        tokio::pin!(run);
        // Every save may be the one that catches up: stop then (bounded by a virtual deadline).
        let mut saves = self.store.saves();
        let stall_seen = self.server.lock().stall_seen.clone();
        let driven = async {
            loop {
                if done(self) {
                    let _ = stop.send(true);
                }
                tokio::select! {
                    r = &mut run => return r,
                    _ = saves.changed() => {}
                    () = stall_seen.notified() => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), driven)
            .await
            .expect("the shard did not catch up in time")
    }

    /// Nothing lost, duplicates only after `before_crash`, the confirmation rule kept, one slot.
    fn verify(&self, before_crash: Option<&Checkpoint>) {
        let s = self.server.lock();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert_eq!(s.slots.len(), 1, "exactly one slot: {:?}", s.slots);
        assert_eq!(s.max_slots, 1, "never two slots at once");
        drop(s);
        let records = self.records.lock().unwrap().clone();
        assert_eq!(
            replay(&records),
            self.server.final_table(),
            "the table, row by row"
        );
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for r in records.iter().filter(|r| r.value.is_some()) {
            *seen.entry(r.position.as_str()).or_default() += 1;
        }
        for p in self.server.all_positions() {
            assert!(seen.contains_key(p.as_str()), "position {p} was lost");
        }
        for (p, n) in seen.iter().filter(|(_, n)| **n > 1) {
            let cp =
                before_crash.unwrap_or_else(|| panic!("{p} delivered {n} times without a crash"));
            assert!(
                after_checkpoint(p, cp),
                "{p} delivered {n} times but the checkpoint before the crash held it: {cp:?}"
            );
        }
    }
}

/// Applies Debezium records by key: id → value.
fn replay(records: &[Stored]) -> BTreeMap<i64, String> {
    let mut t = BTreeMap::new();
    for r in records {
        let key: serde_json::Value = serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
        let id = key["id"].as_i64().unwrap();
        let Some(v) = &r.value else { continue };
        let v: serde_json::Value = serde_json::from_slice(v).unwrap();
        match v["op"].as_str() {
            Some("d") => {
                assert_eq!(v["before"]["id"].as_i64(), Some(id));
                t.remove(&id);
            }
            _ => {
                let after = &v["after"];
                assert_eq!(after["id"].as_i64(), Some(id));
                t.insert(id, after["v"].as_str().unwrap().to_owned());
            }
        }
    }
    t
}

/// Whether the event at `position` may be delivered again after a crash at `cp`: stream
/// events after its stream position, and the rows of a table whose snapshot it had not
/// finished (a cut table is read again whole, under a fresh snapshot; finished tables never).
fn after_checkpoint(position: &str, cp: &Checkpoint) -> bool {
    if position.starts_with("snapshot:") {
        return !matches!(cp.tables.get(TABLE), Some(TableProgress::Done { .. }));
    }
    let (lsn, index) = position.rsplit_once(':').unwrap();
    let p = StreamPosition::pg(lsn.parse::<Lsn>().unwrap(), index.parse().unwrap());
    cp.stream.is_none_or(|done| p > done)
}

#[tokio::test(start_paused = true)]
async fn a_run_without_crash_delivers_everything_once() {
    let world = World::new(40, 15);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world.verify(None);
    assert_eq!(world.server.lock().slot_creations, 1);
}

#[tokio::test(start_paused = true)]
async fn exactly_once_without_crash_commits_in_transactions_at_clean_points() {
    // Fail points are global: hold the scenario lock so that no crash test's point (those
    // of exactly-once included) fires in this run.
    #[cfg(feature = "failpoints")]
    let _scenario = fail::FailScenario::setup();
    let world = World::exactly_once(40, 15, 4);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world.verify(None);
    let committed = world.committed.as_ref().unwrap().lock().unwrap().clone();
    let committed: Checkpoint = serde_json::from_slice(&committed.unwrap()).unwrap();
    let stored = world.store.get(&key()).unwrap();
    assert!(committed.commits > 1, "{committed:?}");
    assert_eq!(
        (committed.commits, &committed.stream, committed.resume),
        (stored.commits, &stored.stream, stored.resume),
        "the store holds the last commit"
    );
}

/// Exactly-once, stopped (not crashed) inside a source transaction: the runner saves the last
/// commit and aborts; the consumer never sees part of a source transaction, and the next run
/// delivers every event once.
#[tokio::test(start_paused = true)]
async fn exactly_once_stopped_inside_a_source_transaction_aborts_and_doubles_nothing() {
    let world = World::exactly_once(40, 30, 7);
    world.server.lock().stall_in = Some(720);
    let stopped = world.attempt_until(|w| w.server.lock().stalled).await;
    assert_eq!(stopped.unwrap(), TaskOutcome::Stopped);
    let positions: Vec<String> = world
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.position.clone())
        .collect();
    for tx in world.server.lock().log.iter() {
        let seen = (0..tx.ops.len())
            .filter(|i| positions.contains(&format!("{}:{i}", tx.commit)))
            .count();
        assert!(
            seen == 0 || seen == tx.ops.len(),
            "transaction {} committed in part: {seen} of {}",
            tx.xid,
            tx.ops.len()
        );
    }
    let stored = world.store.get(&key()).expect("saved");
    assert!(
        stored.stream.is_some(),
        "stopped while streaming: {stored:?}"
    );
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world.verify(None);
}

#[tokio::test(start_paused = true)]
async fn a_worker_whose_shard_moved_can_no_longer_save() {
    let world = World::new(40, 200);
    let mut saves = world.store.saves();
    let bump = async {
        saves.wait_for(|n| *n > 0).await.expect("the store lives");
        world.store.bump_epoch(&key(), 1000);
    };
    let (result, ()) = tokio::join!(world.attempt(), bump);
    let failure = result.expect_err("fenced");
    assert!(
        matches!(
            failure.error,
            TaskError::Pipeline(ref p) if matches!(**p, crate::pipeline::runner::PipelineError::Checkpoint(crate::checkpoint::CheckpointError::Fenced { .. }))
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.class(), ErrorClass::Definite);
    let s = world.server.lock();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[tokio::test(start_paused = true)]
async fn a_run_with_another_sink_than_its_checkpoints_is_refused() {
    let world = World::new(5, 2);
    world.attempt().await.unwrap();
    let confirmed_before = world.server.lock().slots.clone();
    let (_stop, shutdown) = watch::channel(false);
    let rt = ShardRuntime {
        spec: spec(),
        key: key(),
        epoch: Epoch::TakeOver,
        store: world.store.clone(),
        stats: Arc::new(Stats::default()),
        shutdown,
        until: None,
        status: None,
        limits: None,
        specs: None,
    };
    let server = world.server.clone();
    let failure = run_shard(
        rt,
        move || Ok(FakeSource::new(&server)),
        |_: &ShardLabels, _: &str| Ok(NullSink::default()),
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(failure.error, TaskError::SinkMismatch { .. }),
        "{:?}",
        failure.error
    );
    assert!(failure.error.to_string().contains("--data-dir"));
    assert_eq!(
        world.server.lock().slots,
        confirmed_before,
        "nothing confirmed"
    );
    let cp = world.store.load(&key()).await.unwrap().unwrap();
    assert_eq!(cp.sink.as_deref(), Some("kafka"));
}

#[cfg(feature = "failpoints")]
mod crashes {
    use super::*;
    use crate::failpoint;

    /// Crashes at `point` as `action` says, then restarts and verifies.
    async fn crash_then_restart(point: &str, action: &str, rows: i64, txs: u64) -> Checkpoint {
        let scenario = fail::FailScenario::setup();
        fail::cfg(point, action).unwrap();
        let world = World::new(rows, txs);
        let failure = world.attempt().await.expect_err("the crash");
        assert!(failure.error.is_injected(), "{:?}", failure.error);
        fail::cfg(point, "off").unwrap();
        let before = world.store.get(&key());
        assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
        world.verify(before.as_ref());
        scenario.teardown();
        before.unwrap_or_else(|| Checkpoint::new(String::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn records_durable_but_checkpoint_not_saved() {
        let cp = crash_then_restart(failpoint::RUNNER_AFTER_DURABLE, "6*off->return", 40, 30).await;
        assert!(cp.started);
    }

    #[tokio::test(start_paused = true)]
    async fn checkpoint_saved_but_not_confirmed() {
        let cp = crash_then_restart(failpoint::RUNNER_AFTER_SAVE, "6*off->return", 40, 30).await;
        assert!(cp.started);
    }

    #[tokio::test(start_paused = true)]
    async fn crash_inside_a_transaction() {
        let cp =
            crash_then_restart(failpoint::RUNNER_IN_TRANSACTION, "31*off->return", 40, 30).await;
        assert!(
            cp.stream.is_some(),
            "the crash came after stream progress: {cp:?}"
        );
    }

    /// Exactly-once: crashes at `point` as `action` says, restarts, and checks that every
    /// event reached the consumer once (a crash aborts the open transaction); returns the
    /// stored checkpoint before the restart and the committed one's commit count.
    async fn exactly_once_crash(point: &str, action: &str) -> (Checkpoint, u64) {
        let scenario = fail::FailScenario::setup();
        fail::cfg(point, action).unwrap();
        let world = World::exactly_once(40, 30, 7);
        let failure = world.attempt().await.expect_err("the crash");
        assert!(failure.error.is_injected(), "{:?}", failure.error);
        fail::cfg(point, "off").unwrap();
        let before = world.store.get(&key()).expect("started");
        let committed = world.committed.as_ref().unwrap().lock().unwrap().clone();
        let committed: Checkpoint = serde_json::from_slice(&committed.expect("a commit")).unwrap();
        assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
        world.verify(None);
        scenario.teardown();
        (before, committed.commits)
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_once_crash_after_the_kafka_commit_before_the_save_doubles_nothing() {
        let (stored, committed) =
            exactly_once_crash(failpoint::RUNNER_AFTER_COMMIT, "3*off->return").await;
        assert!(
            committed > stored.commits,
            "the crash fell between a commit and its save: {committed} vs {stored:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_once_commits_no_part_of_a_table_read_whole() {
        let scenario = fail::FailScenario::setup();
        fail::cfg(failpoint::RUNNER_AFTER_COMMIT, "return").unwrap();
        let world = World::exactly_once(3000, 5, 7);
        world.attempt().await.expect_err("the crash");
        fail::cfg(failpoint::RUNNER_AFTER_COMMIT, "off").unwrap();
        let committed = world.committed.as_ref().unwrap().lock().unwrap().clone();
        let committed: Checkpoint = serde_json::from_slice(&committed.unwrap()).unwrap();
        assert!(
            matches!(
                committed.tables.get(TABLE),
                Some(TableProgress::Done { .. })
            ),
            "the first commit holds the whole table: {committed:?}"
        );
        assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
        world.verify(None);
        scenario.teardown();
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_once_crash_before_a_commit_doubles_nothing() {
        exactly_once_crash(failpoint::RUNNER_BEFORE_COMMIT, "4*off->return").await;
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_once_crash_inside_a_source_transaction_doubles_nothing() {
        exactly_once_crash(failpoint::RUNNER_IN_TRANSACTION, "61*off->return").await;
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_once_crash_after_the_save_before_the_confirmation_doubles_nothing() {
        exactly_once_crash(failpoint::RUNNER_AFTER_SAVE, "2*off->return").await;
    }

    #[tokio::test(start_paused = true)]
    async fn slot_created_but_nothing_saved() {
        let cp = crash_then_restart(failpoint::TASK_AFTER_CREATE, "return", 40, 10).await;
        assert!(
            !cp.started,
            "the slot was never recorded as created: {cp:?}"
        );
        assert!(cp.planned.is_some(), "but its name was");
    }

    #[tokio::test(start_paused = true)]
    async fn names_saved_but_nothing_created() {
        let cp = crash_then_restart(failpoint::TASK_AFTER_PLAN, "return", 40, 10).await;
        assert!(!cp.started && cp.planned.is_some());
    }
}

#[test]
fn a_selection_may_grow_but_not_shrink_or_change_options() {
    let old = spec_with("phases = [\"full\", \"incremental\"]");
    let mut cp = Checkpoint::new("abcd".into());
    cp.selection = Some(old.selection_record());
    cp.tables
        .insert(TABLE.into(), TableProgress::Done { rows: 3 });
    let other = Arc::new(crate::schema::TableSchema {
        oid: 16385,
        name: "other".into(),
        ..(*fake::table()).clone()
    });
    let tables = [fake::table(), other];
    let mut grown = old.clone();
    grown.objects.tables.push("public.oth*".into());
    let record = super::runtime::check_selection(&grown, &mut cp, &tables).unwrap();
    assert_eq!(cp.tables["public.other"], TableProgress::Pending);
    assert_eq!(cp.tables[TABLE], TableProgress::Done { rows: 3 }, "kept");
    assert_eq!(
        cp.selection,
        Some(old.selection_record()),
        "recorded only once the source resumed"
    );
    assert_eq!(record, Some(grown.selection_record()));
    cp.selection = record;
    let mut shrunk = grown.clone();
    shrunk.objects.tables.remove(0);
    let e = super::runtime::check_selection(&shrunk, &mut cp.clone(), &tables).unwrap_err();
    assert!(e.to_string().contains("removed"), "{e}");
    let mut option = grown.clone();
    option.objects.insert_only.push("public.other".into());
    let e = super::runtime::check_selection(&option, &mut cp.clone(), &tables).unwrap_err();
    assert!(e.to_string().contains("insert_only"), "{e}");
    let full_only = spec_with("phases = [\"full\"]");
    let mut cp = Checkpoint::new("abcd".into());
    cp.selection = Some(full_only.selection_record());
    let mut more = full_only.clone();
    more.objects.tables.push("public.other".into());
    let e = super::runtime::check_selection(&more, &mut cp, &tables).unwrap_err();
    assert!(e.to_string().contains("no incremental phase"), "{e}");
}

/// A shard of `w` whose spec a test changes while it runs (its source, the fake, does not
/// follow it), caught up once.
struct Following {
    specs: watch::Sender<Arc<TaskSpec>>,
    stop: watch::Sender<bool>,
    /// Sources built so far (one per attempt).
    builds: Arc<std::sync::atomic::AtomicUsize>,
    run: tokio::task::JoinHandle<Result<TaskOutcome, TaskFailure>>,
}

async fn following(w: &World) -> Following {
    let (specs_tx, specs) = watch::channel(Arc::new(w.spec.clone()));
    let (stop, shutdown) = watch::channel(false);
    let rt = ShardRuntime {
        spec: w.spec.clone(),
        key: key(),
        epoch: Epoch::TakeOver,
        store: w.store.clone(),
        stats: Arc::new(Stats::default()),
        shutdown,
        until: None,
        status: None,
        limits: None,
        specs: Some(specs),
    };
    let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (server, counted) = (w.server.clone(), builds.clone());
    let source = move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(FakeSource::new(&server))
    };
    let run = tokio::spawn(run_shard(rt, source, w.sink()));
    until(&w.store, "the first run caught up", || w.caught_up()).await;
    Following {
        specs: specs_tx,
        stop,
        builds,
        run,
    }
}

/// A source that cannot adopt tables while it runs (`Source::follow_spec` is `false`) is
/// started again when the shard's selection grows, and its checkpoint records the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_cannot_adopt_added_tables_starts_again_with_them() {
    let w = World::new(20, 3);
    let f = following(&w).await;
    assert_eq!(f.builds.load(std::sync::atomic::Ordering::SeqCst), 1);
    let mut grown = w.spec.clone();
    grown.objects.tables.push("public.other".into());
    f.specs.send_replace(Arc::new(grown));
    let recorded = || {
        w.store.get(&key()).is_some_and(|cp| {
            cp.selection
                .is_some_and(|s| s.contains(&"tables=public.other".to_owned()))
        })
    };
    until(&w.store, "the grown selection recorded", recorded).await;
    assert_eq!(
        f.builds.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one more start, with it"
    );
    let _ = f.stop.send(true);
    let outcome = f.run.await.unwrap().unwrap();
    assert_eq!(outcome, TaskOutcome::Stopped);
}

/// A source that cannot read a table again while it runs is started again when the shard is
/// asked to (`ctl task resnapshot`): the start marks the table unread and records the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_cannot_read_a_table_again_live_starts_again_to_read_it() {
    let w = World::new(20, 3);
    let f = following(&w).await;
    let mut asked = w.spec.clone();
    asked.rereads.insert(fake::TABLE.into(), 1);
    f.specs.send_replace(Arc::new(asked));
    let taken = || {
        w.store
            .get(&key())
            .is_some_and(|cp| cp.rereads.get(fake::TABLE) == Some(&1))
    };
    until(&w.store, "the request recorded as taken", taken).await;
    assert_eq!(
        f.builds.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one more start, to read it"
    );
    until(&w.store, "the table read again", || {
        w.store.get(&key()).is_some_and(|cp| {
            matches!(cp.tables.get(fake::TABLE), Some(TableProgress::Done { .. }))
        })
    })
    .await;
    assert_eq!(
        f.builds.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a request taken is not met again"
    );
    let _ = f.stop.send(true);
    let outcome = f.run.await.unwrap().unwrap();
    assert_eq!(outcome, TaskOutcome::Stopped);
}

/// Waits until `done`, looking again at each checkpoint `store` saves (what the conditions
/// read), at most 20 s.
async fn until(store: &MemoryCheckpointStore, what: &str, done: impl Fn() -> bool) {
    let mut saves = store.saves();
    let wait = async {
        while !done() {
            saves.changed().await.expect("the store lives");
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .is_err()
    {
        panic!("{what} within 20 s");
    }
}

/// `on_slot_loss = "resnapshot"`: a new incarnation under the run's epoch, nothing read yet,
/// the replica identities still recorded (deletion gives them back), everything else to drop.
#[test]
fn a_lost_slot_starts_over_keeping_the_replica_identities_it_set() {
    use crate::checkpoint::{ObjectKind, PlannedObjects, SourceObject};
    let object = |kind, name: &str| SourceObject {
        kind,
        name: name.into(),
    };
    let mut old = Checkpoint::new("old1".into());
    old.started = true;
    old.tables
        .insert(TABLE.into(), TableProgress::Done { rows: 3 });
    old.planned = Some(PlannedObjects {
        source: vec![
            object(ObjectKind::ReplicationSlot, "tributary_t_old1_0"),
            object(ObjectKind::Publication, "tributary_t_old1"),
            object(ObjectKind::ReplicaIdentity, "{\"table\":\"items\"}"),
        ],
        topics: vec!["t.public.items".into()],
    });
    let (fresh, drop) = super::runtime::fresh_after_loss(&old, 7, "new2".into());
    assert_eq!((fresh.incarnation.as_str(), fresh.epoch), ("new2", 7));
    assert!(!fresh.started && fresh.tables.is_empty() && fresh.resume.is_none());
    let kept = &fresh.planned.as_ref().unwrap().source;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, ObjectKind::ReplicaIdentity);
    assert!(drop.iter().all(|o| o.kind != ObjectKind::ReplicaIdentity));
    assert!(drop.iter().any(|o| o.kind == ObjectKind::ReplicationSlot));
    assert!(drop.iter().any(|o| o.kind == ObjectKind::Publication));
}
