//! The runner's bounds: with a sink that withholds its acknowledgements, the bytes handed to it
//! and unacknowledged never pass `destination.max_in_flight_bytes` (records of one size: the
//! budget itself), and the runner goes on once acknowledgements come; a value larger than
//! `destination.max_value_bytes` fails the shard, naming the table, position, size and the key to
//! raise (the supervisor's line adds the task), before it reaches the sink.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use super::fake::{row, table};
use super::*;
use crate::event::{ChangeEvent, Op, SnapshotMark, TxMeta};
use crate::format::{EncodedBatch, Format, FormatError, PartitionChoice};
use crate::metrics::ShardMetrics;
use crate::pipeline::commit::TransactionPolicy;
use crate::pipeline::runner::{PipelineError, Progress, RunEnd, Runner, RunnerOptions};
use crate::pipeline::throttle::Limits;
use crate::position::Position;
use crate::sink::{Record, Sink, SinkError, TopicPlan};
use crate::source::SourceItem;

/// Bytes of each record's value.
const VALUE: usize = 1000;

/// One record per event: key `k`, a value of `VALUE` bytes (or the row's value if longer).
struct SizedFormat;

impl Format for SizedFormat {
    fn encode(&mut self, ev: &ChangeEvent, out: &mut EncodedBatch) -> Result<(), FormatError> {
        let rec = out.push();
        rec.topic.push_str("bounds.items");
        rec.key.extend_from_slice(b"k");
        let v = ev.after.as_ref().map_or(0, |r| r.buf.len());
        rec.value.resize(VALUE.max(v), b'x');
        rec.partition = PartitionChoice::Fixed(0);
        Ok(())
    }
}

/// A broker that acknowledges records only below `allowed`, and notes the most bytes
/// (key + value) it ever held unacknowledged.
#[derive(Default)]
struct WithholdingSink {
    sizes: Vec<u64>,
    allowed: Arc<AtomicU64>,
    wake: Arc<Notify>,
    peak_bytes: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

impl WithholdingSink {
    fn watermark(&self) -> u64 {
        self.allowed
            .load(Ordering::SeqCst)
            .min(self.sizes.len() as u64)
    }
}

impl Sink for WithholdingSink {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn prepare_topics(&mut self, _topics: &[TopicPlan]) -> Result<Vec<String>, SinkError> {
        Ok(Vec::new())
    }

    async fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> Result<HashMap<String, i32>, SinkError> {
        Ok(topics.iter().map(|t| (t.clone(), 1)).collect())
    }

    async fn missing_topics(&mut self, _topics: &[String]) -> Result<Vec<String>, SinkError> {
        Ok(Vec::new())
    }

    async fn delete_topics(&mut self, _topics: &[String]) -> Result<(), SinkError> {
        Ok(())
    }

    async fn send(&mut self, record: &Record<'_>, seq: u64) -> Result<(), SinkError> {
        assert_eq!(seq, self.sizes.len() as u64, "in order");
        let size = record.value.map_or(0, <[u8]>::len) + record.key.map_or(0, <[u8]>::len);
        self.sizes.push(size as u64);
        let unacked: u64 = self.sizes[self.watermark() as usize..].iter().sum();
        self.peak_bytes.fetch_max(unacked, Ordering::SeqCst);
        self.sent.store(self.sizes.len() as u64, Ordering::SeqCst);
        Ok(())
    }

    fn durable_watermark(&self) -> u64 {
        self.watermark()
    }

    fn check(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn progressed(&self) -> impl std::future::Future<Output = ()> + Send {
        self.wake.notified()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.allowed.store(u64::MAX, Ordering::SeqCst);
        Ok(())
    }
}

fn insert(id: i64, index: u32, tx: TxMeta, value: &str) -> SourceItem {
    SourceItem::Event(ChangeEvent {
        position: Position::Stream(StreamPosition::pg(tx.commit_lsn, index)),
        op: Op::Insert,
        table: table(),
        tx,
        lsn: tx.commit_lsn,
        last_commit_lsn: None,
        snapshot: SnapshotMark::None,
        before: None,
        after: Some(row(id, value)),
    })
}

/// One transaction of `events` inserts whose rows carry `value`.
fn transaction(events: u32, value: &str) -> Vec<SourceItem> {
    let tx = TxMeta {
        xid: 900,
        commit_time_us: 1,
        commit_lsn: Lsn(5000),
    };
    let mut items = vec![SourceItem::Begin(tx)];
    items.extend((0..events).map(|i| insert(i64::from(i), i, tx, value)));
    items.push(SourceItem::Commit {
        tx,
        last: StreamPosition::pg(tx.commit_lsn, events - 1),
        events,
        resume: ResumeToken::Pg {
            confirmed_lsn: Lsn(5100),
        },
    });
    items
}

fn runner(spec: &TaskSpec, sink: WithholdingSink) -> Runner<WithholdingSink, SizedFormat> {
    runner_of(spec, sink, None, Arc::default())
}

/// A runner into `sink`, exactly-once when `transactions` is given.
fn runner_of<S: Sink>(
    spec: &TaskSpec,
    sink: S,
    transactions: Option<TransactionPolicy>,
    stats: Arc<Stats>,
) -> Runner<S, SizedFormat> {
    let progress = Progress {
        store: Arc::new(MemoryCheckpointStore::new()),
        key: key(),
        checkpoint: Checkpoint::new("x".into()),
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
        routing: None,
        new_topic: None,
        oracle_ids: false,
        bounds: spec.destination.bounds(),
        transactions,
    };
    let labels = ShardLabels::new("crash", 0);
    Runner::new(
        sink,
        SizedFormat,
        progress,
        confirm,
        stats,
        ShardMetrics::new(&labels),
        opts,
        HashMap::new(),
    )
}

/// Waits (in tokio's paused time) until `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        tokio::time::advance(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_bytes_stay_within_the_budget_until_acknowledgements_come() {
    let budget = 10 * VALUE as u64;
    let spec = spec_to(&format!("max_in_flight_bytes = {budget}"), "");
    let sink = WithholdingSink::default();
    let (allowed, wake) = (sink.allowed.clone(), sink.wake.clone());
    let (peak, sent) = (sink.peak_bytes.clone(), sink.sent.clone());
    let mut runner = runner(&spec, sink);
    let (source, mut rx) = tokio::sync::mpsc::channel(1);
    source.send(Ok(transaction(100, "v"))).await.unwrap();
    drop(source);
    let (_stop, mut shutdown) = watch::channel(false);
    let run = tokio::spawn(async move { runner.run(&mut rx, &mut shutdown).await });
    tracing::info!("no acknowledgement: the runner stops short of the budget and waits");
    {
        until("a first record", || sent.load(Ordering::SeqCst) > 0).await;
        // Nothing to wait for: the runner must send nothing more. Two seconds of its rechecks
        // pass in paused time, step by step, each letting it run.
        for _ in 0..200 {
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        let stalled = sent.load(Ordering::SeqCst);
        assert!(
            (1..100).contains(&stalled),
            "{stalled} records sent with none acknowledged"
        );
        let held = peak.load(Ordering::SeqCst);
        assert!(
            held <= budget,
            "{held} bytes unacknowledged, budget {budget}"
        );
        assert!(
            held > budget - 2 * VALUE as u64,
            "{held}: the budget is used"
        );
    }
    tracing::info!("acknowledgements in steps: each lets more through, never past the budget");
    {
        for step in [5u64, 40, 100] {
            allowed.store(step, Ordering::SeqCst);
            wake.notify_one();
            let what = format!("records past {step} acknowledged");
            until(&what, || sent.load(Ordering::SeqCst) >= (step + 5).min(100)).await;
        }
        let end = run.await.unwrap().unwrap();
        assert_eq!(end, RunEnd::SourceFinished);
        assert_eq!(sent.load(Ordering::SeqCst), 100);
        assert!(peak.load(Ordering::SeqCst) <= budget);
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_over_max_value_bytes_fails_the_shard_before_the_sink_sees_it() {
    let spec = spec_to("max_value_bytes = 1500", "");
    let sink = WithholdingSink {
        allowed: Arc::new(AtomicU64::new(u64::MAX)),
        ..Default::default()
    };
    let sent = sink.sent.clone();
    let mut runner = runner(&spec, sink);
    let mut items = transaction(3, "v");
    // The second insert's row makes a 2,000-byte value.
    items[2] = insert(1, 1, tx_of(&items[2]), &"y".repeat(1992));
    let (source, mut rx) = tokio::sync::mpsc::channel(1);
    source.send(Ok(items)).await.unwrap();
    drop(source);
    let (_stop, mut shutdown) = watch::channel(false);
    let err = runner.run(&mut rx, &mut shutdown).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::ValueTooLarge { .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Definite);
    let line = err.to_string();
    assert!(
        line.starts_with("the value for table items at 0/1388")
            && line.contains(
                " is 2000 bytes, more than destination.max_value_bytes (1500): raise \
                 destination.max_value_bytes"
            )
            && !line.contains('\n'),
        "{line}"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1, "only the record before it");
    assert_eq!(runner.saves(), 0, "nothing after it is confirmed");
}

fn tx_of(item: &SourceItem) -> TxMeta {
    match item {
        SourceItem::Event(ev) => ev.tx,
        _ => unreachable!("an event"),
    }
}

/// A `SourceItem::Barrier` is notified only once every record before it is acknowledged (a
/// chunk group hands ranges to other workers only then), and at once when none is pending.
#[tokio::test(start_paused = true)]
async fn a_barrier_is_notified_once_every_record_before_it_is_acknowledged() {
    let spec = spec_to("", "");
    let sink = WithholdingSink::default();
    let (allowed, wake, sent) = (sink.allowed.clone(), sink.wake.clone(), sink.sent.clone());
    let mut runner = runner(&spec, sink);
    let (source, mut rx) = tokio::sync::mpsc::channel(4);
    let (_stop, mut shutdown) = watch::channel(false);
    let barrier = Arc::new(Notify::new());
    let mut items = transaction(10, "v");
    items.push(SourceItem::Barrier(barrier.clone()));
    source.send(Ok(items)).await.unwrap();
    let run = tokio::spawn(async move { runner.run(&mut rx, &mut shutdown).await });
    until("the ten records sent", || sent.load(Ordering::SeqCst) == 10).await;
    for step in [0u64, 9] {
        allowed.store(step, Ordering::SeqCst);
        wake.notify_one();
        for _ in 0..50 {
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        let early = tokio::time::timeout(Duration::ZERO, barrier.notified()).await;
        assert!(early.is_err(), "notified with {step} of 10 acknowledged");
    }
    allowed.store(10, Ordering::SeqCst);
    wake.notify_one();
    let notified = tokio::time::timeout(Duration::from_secs(5), barrier.notified()).await;
    assert!(notified.is_ok(), "notified once all ten are acknowledged");
    let idle = Arc::new(Notify::new());
    source
        .send(Ok(vec![SourceItem::Barrier(idle.clone())]))
        .await
        .unwrap();
    let notified = tokio::time::timeout(Duration::from_secs(5), idle.notified()).await;
    assert!(notified.is_ok(), "with nothing pending, notified at once");
    drop(source);
    assert_eq!(run.await.unwrap().unwrap(), RunEnd::SourceFinished);
}

/// Exactly-once: a barrier commits what is open at once (a chunk group's lanes write only once
/// the owner's earlier changes are committed, not merely acknowledged), the events' latency is
/// taken at the commit (when consumers see them), and `CommitWith`
/// commits everything sent, inside a source transaction too, with its record as the
/// transaction's checkpoint record (a snapshot lane's range).
#[tokio::test(start_paused = true)]
async fn exactly_once_a_barrier_commits_at_once_and_commit_with_commits_its_record() {
    let spec = spec_to("", "");
    let records = Arc::new(Mutex::new(Vec::new()));
    let committed = super::fake::Committed::default();
    let mut sink = MemorySink::new(&records);
    sink.txn = Some(committed.clone());
    let never_due = TransactionPolicy {
        interval: Duration::from_secs(3600),
        records: u64::MAX,
    };
    let stats = Arc::new(Stats::default());
    let mut runner = runner_of(&spec, sink, Some(never_due), stats.clone());
    let (source, mut rx) = tokio::sync::mpsc::channel(4);
    let (_stop, mut shutdown) = watch::channel(false);
    let run = tokio::spawn(async move { runner.run(&mut rx, &mut shutdown).await });
    source.send(Ok(transaction(10, "v"))).await.unwrap();
    for _ in 0..100 {
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    let latency = || {
        stats
            .latency
            .percentiles(crate::pipeline::latency::now_us())
    };
    assert!(records.lock().unwrap().is_empty(), "not due, not committed");
    assert!(
        latency().is_none(),
        "acknowledged, not visible: no latency yet"
    );
    let barrier = Arc::new(Notify::new());
    source
        .send(Ok(vec![SourceItem::Barrier(barrier.clone())]))
        .await
        .unwrap();
    let notified = tokio::time::timeout(Duration::from_secs(5), barrier.notified()).await;
    assert!(
        notified.is_ok(),
        "the barrier committed the open transaction"
    );
    assert_eq!(records.lock().unwrap().len(), 10, "visible once committed");
    assert!(committed.lock().unwrap().is_some(), "with the checkpoint");
    assert!(
        latency().is_some(),
        "the events' latency ends at the commit"
    );
    let mut items = transaction(3, "w");
    items.pop(); // inside the source transaction
    let done = Arc::new(Notify::new());
    items.push(SourceItem::CommitWith(b"range 7".to_vec()));
    items.push(SourceItem::Barrier(done.clone()));
    source.send(Ok(items)).await.unwrap();
    let notified = tokio::time::timeout(Duration::from_secs(5), done.notified()).await;
    assert!(notified.is_ok(), "committed with the record");
    assert_eq!(records.lock().unwrap().len(), 13);
    assert_eq!(committed.lock().unwrap().as_deref(), Some(&b"range 7"[..]));
    drop(source);
    run.abort();
}
