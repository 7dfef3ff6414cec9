//! Topics through the shard runtime and the runner: each topic is created with its mapped
//! partition count (or is a `MissingTopic` error naming it when the task may not create it);
//! its count is recorded at the first start and a change is refused on a later start, and
//! when the runner first sees a topic again; the partition policies' hashes are resolved with
//! the topic's count; a DDL record is acknowledged before any later event is sent, and its
//! topic is prepared like the others.

use super::fake::{row, table, Topics};
use super::*;
use crate::checkpoint::Checkpoint;
use crate::event::{ChangeEvent, Op, SnapshotMark, TxMeta};
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::metrics::ShardMetrics;
use crate::pipeline::runner::{PipelineError, Progress, Runner, RunnerOptions};
use crate::pipeline::throttle::Limits;
use crate::position::Position;
use crate::route::{java_string_hash, partition_of, Router, Routing};
use crate::sink::SinkError;
use crate::source::{SchemaChange, SourceItem};

const TOPIC: &str = "crash.public.items";
const FOUR: &str = "[objects.table.\"public.items\"]\npartitions = 4\n";

fn sink_error(failure: &TaskFailure) -> &SinkError {
    match &failure.error {
        TaskError::Pipeline(p) => match &**p {
            PipelineError::Sink(e) => e,
            other => panic!("expected a sink error, got {other:?}"),
        },
        other => panic!("expected a sink error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn partition_counts_are_recorded_at_the_first_start_and_a_change_is_refused() {
    let mut world = World::new(10, 3);
    world.spec = spec_with(FOUR);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    assert_eq!(
        world.topics.lock().unwrap().get(TOPIC),
        Some(&4),
        "created with the table's count"
    );
    let cp = world.store.get(&key()).unwrap();
    assert_eq!(cp.topic_partitions, BTreeMap::from([(TOPIC.to_owned(), 4)]));

    world.topics.lock().unwrap().insert(TOPIC.into(), 6);
    let confirmed = world.server.lock().slots.clone();
    let failure = world.attempt().await.expect_err("a changed count");
    assert!(
        matches!(sink_error(&failure), SinkError::PartitionsChanged { topic, recorded: 4, current: 6 } if topic == TOPIC),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.class(), ErrorClass::Definite, "not retried");
    let line = failure.error.to_string();
    assert!(
        line.contains(&format!("topic {TOPIC} has 6 partition(s) but had 4"))
            && line.contains("per-key order"),
        "{line}"
    );
    assert_eq!(world.server.lock().slots, confirmed, "nothing confirmed");
    let cp = world.store.get(&key()).unwrap();
    assert_eq!(cp.topic_partitions[TOPIC], 4, "the recorded count stays");
}

#[tokio::test(start_paused = true)]
async fn under_partition_zero_a_changed_count_is_recorded_not_refused() {
    let mut world = World::new(10, 3);
    world.spec = spec_to("partition_policy = \"partition_zero\"", FOUR);
    world.attempt().await.unwrap();
    world.topics.lock().unwrap().insert(TOPIC.into(), 6);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    let cp = world.store.get(&key()).unwrap();
    assert_eq!(cp.topic_partitions[TOPIC], 6);
    assert!(world
        .records
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.partition == Some(0)));
}

#[tokio::test(start_paused = true)]
async fn a_missing_topic_the_task_may_not_create_fails_the_first_start_and_leaves_nothing() {
    let mut world = World::new(5, 1);
    world.spec = spec_with(FOUR);
    world.create_topics = false;
    let failure = world.attempt().await.expect_err("a missing topic");
    assert!(
        matches!(sink_error(&failure), SinkError::MissingTopic { topic, partitions: 4 } if topic == TOPIC),
        "{:?}",
        failure.error
    );
    let line = failure.error.to_string();
    assert!(
        line.contains(&format!(
            "topic {TOPIC} does not exist: create it with 4 partition(s), or set destination.create_topics = true"
        )),
        "{line}"
    );
    {
        let s = world.server.lock();
        assert_eq!(s.slot_creations, 0, "no slot was created");
        assert!(s.slots.is_empty());
    }
    assert!(world.topics.lock().unwrap().is_empty(), "no topic created");

    // Created by hand with another count: the task uses (and records) the topic as it is.
    world.topics.lock().unwrap().insert(TOPIC.into(), 3);
    assert_eq!(world.attempt().await.unwrap(), TaskOutcome::Stopped);
    world.verify(None);
    assert_eq!(world.store.get(&key()).unwrap().topic_partitions[TOPIC], 3);
}

/// The records of a full run of `policy` on a 4-partition topic.
async fn run_with_policy(policy: &str) -> Vec<Stored> {
    let mut world = World::new(30, 10);
    world.spec = spec_to(policy, FOUR);
    world.attempt().await.unwrap();
    world.verify(None);
    let records = world.records.lock().unwrap().clone();
    assert!(records.iter().all(|r| r.topic == TOPIC));
    records
}

/// The `id` of a record's Debezium key `{"id":N}`.
fn id_of(r: &Stored) -> i64 {
    let key: serde_json::Value = serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
    key["id"].as_i64().unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_policy_picks_partitions_with_the_topic_count() {
    for r in run_with_policy("partition_policy = \"hash_key\"").await {
        let want = partition_of(java_string_hash(&id_of(&r).to_string()), 4);
        assert_eq!(r.partition, Some(want), "key {}", id_of(&r));
    }
    let table = partition_of(java_string_hash("public.items"), 4);
    assert_eq!(table, 1, "a partition other than 0, so the hash is seen");
    for r in run_with_policy("partition_policy = \"hash_table\"").await {
        assert_eq!(r.partition, Some(table));
    }
    for r in run_with_policy("partition_policy = \"partition_zero\"").await {
        assert_eq!(r.partition, Some(0));
    }
    for r in run_with_policy("").await {
        assert_eq!(r.partition, None, "Debezium: the producer's murmur2");
    }
}

/// One record per event to the table's topic, and one DDL record per schema change to the DDL
/// topic in partition 0 (as the DTS formats write them).
struct DdlFormat {
    router: Router,
}

impl Format for DdlFormat {
    fn encode(&mut self, ev: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let route = self.router.get(&ev.table)?;
        let rec = out.push();
        rec.topic.push_str(&route.topic);
        rec.key.extend_from_slice(b"k");
        rec.value.extend_from_slice(b"row");
        rec.partition = PartitionChoice::Default;
        Ok(())
    }

    fn schema_change(
        &mut self,
        change: &SchemaChange,
        out: &mut EncodedBatch,
    ) -> Result<(), FormatError> {
        let rec = out.push();
        rec.topic.push_str(self.router.routing().ddl_topic());
        rec.null_key = true;
        rec.value
            .extend_from_slice(change.ddl.as_deref().unwrap_or("").as_bytes());
        rec.partition = PartitionChoice::Fixed(0);
        Ok(())
    }
}

fn insert(id: i64, index: u32, tx: TxMeta) -> SourceItem {
    SourceItem::Event(ChangeEvent {
        position: Position::Stream(StreamPosition::pg(tx.commit_lsn, index)),
        op: Op::Insert,
        table: table(),
        tx,
        lsn: tx.commit_lsn,
        last_commit_lsn: None,
        snapshot: SnapshotMark::None,
        before: None,
        after: Some(row(id, "v")),
    })
}

/// Runs a runner (no topic known at its start) over one transaction in which the table's
/// description changes between two inserts; returns its end and the broker's records.
async fn run_ddl_transaction(
    spec: &TaskSpec,
    checkpoint: Checkpoint,
    topics: &Topics,
) -> (Result<(), PipelineError>, Vec<Stored>, Checkpoint) {
    let routing = Arc::new(Routing::new(spec));
    let records = Arc::default();
    let sink = MemorySink::with_topics(&records, topics);
    let format = DdlFormat {
        router: Router::new(routing.clone()),
    };
    let progress = Progress {
        store: Arc::new(MemoryCheckpointStore::new()),
        key: key(),
        checkpoint,
    };
    let (confirm, _confirmed) = watch::channel(ResumeToken::Pg {
        confirmed_lsn: Lsn::ZERO,
    });
    let opts = RunnerOptions {
        checkpoint_interval: spec.migration.checkpoint_interval,
        limits: Limits::of(spec),
        live_limits: None,
        phase: None,
        snapshot_only: false,
        stop_at: None,
        routing: Some(routing),
        new_topic: None,
        oracle_ids: false,
        bounds: spec.destination.bounds(),
        transactions: None,
    };
    let labels = ShardLabels::new("crash", 0);
    let mut runner = Runner::new(
        sink,
        format,
        progress,
        confirm,
        Arc::new(Stats::default()),
        ShardMetrics::new(&labels),
        opts,
        HashMap::new(),
    );
    let tx = TxMeta {
        xid: 900,
        commit_time_us: 0,
        commit_lsn: Lsn(5000),
    };
    let change = SchemaChange {
        table: table(),
        previous: Some(table()),
        at: Some(StreamPosition::pg(tx.commit_lsn, 1)),
        ddl: Some("ALTER TABLE public.items ADD COLUMN w int".into()),
    };
    let batch = vec![
        SourceItem::Begin(tx),
        insert(1, 0, tx),
        SourceItem::SchemaChange(change),
        insert(2, 1, tx),
        SourceItem::Commit {
            tx,
            last: StreamPosition::pg(tx.commit_lsn, 1),
            events: 2,
            resume: ResumeToken::Pg {
                confirmed_lsn: Lsn(5100),
            },
        },
    ];
    let (source, mut rx) = tokio::sync::mpsc::channel(1);
    source.send(Ok(batch)).await.unwrap();
    drop(source);
    let (_stop, mut shutdown) = watch::channel(false);
    let end = runner.run(&mut rx, &mut shutdown).await.map(|_| ());
    let cp = runner.checkpoint_state().clone();
    let stored = records.lock().unwrap().clone();
    (end, stored, cp)
}

#[tokio::test(start_paused = true)]
async fn a_ddl_record_is_acknowledged_before_the_next_event_and_its_topic_is_prepared() {
    let spec = spec_to("ddl_topic = \"crash-ddl\"", FOUR);
    let topics = Topics::default();
    let (end, stored, cp) = run_ddl_transaction(&spec, Checkpoint::new("x".into()), &topics).await;
    end.unwrap();
    let seen: Vec<(&str, &[u8], u64)> = stored
        .iter()
        .map(|r| {
            (
                r.topic.as_str(),
                r.value.as_deref().unwrap(),
                r.acked_at_send,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (TOPIC, &b"row"[..], 0),
            ("crash-ddl", &b"ALTER TABLE public.items ADD COLUMN w int"[..], 0),
            (TOPIC, &b"row"[..], 2),
        ],
        "the insert after the DDL record is sent once the DDL record (and all before it) is acknowledged"
    );
    assert_eq!(stored[1].partition, Some(0), "DDL to partition 0");
    assert_eq!(stored[1].key, None, "DDL has a null key");
    assert_eq!(
        *topics.lock().unwrap(),
        BTreeMap::from([("crash-ddl".to_owned(), 1), (TOPIC.to_owned(), 4)]),
        "topics first seen while running are created with their mapped count (the DDL topic: the sink's default)"
    );
    assert_eq!(cp.topics, [TOPIC, "crash-ddl"]);
    assert_eq!(
        cp.topic_partitions,
        BTreeMap::from([("crash-ddl".to_owned(), 1), (TOPIC.to_owned(), 4)])
    );
}

#[tokio::test(start_paused = true)]
async fn a_topic_first_seen_again_by_the_runner_is_checked_against_its_recorded_count() {
    let spec = spec_to("ddl_topic = \"crash-ddl\"", FOUR);
    let topics = Topics::default();
    topics.lock().unwrap().insert(TOPIC.into(), 4);
    let mut cp = Checkpoint::new("x".into());
    cp.topic_partitions.insert(TOPIC.into(), 2);
    let (end, stored, _) = run_ddl_transaction(&spec, cp, &topics).await;
    let e = end.expect_err("a changed count");
    assert!(
        matches!(&e, PipelineError::Sink(SinkError::PartitionsChanged { topic, recorded: 2, current: 4 }) if topic == TOPIC),
        "{e:?}"
    );
    assert!(stored.is_empty(), "nothing sent to it: {stored:?}");
}
