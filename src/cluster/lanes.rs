//! Lanes: every worker of the cluster reads ranges of a shard's chunked snapshot
//! (`crate::source::SnapshotLanes`, `crate::source::postgres::chunk::lane`).
//!
//! ```text
//!  owner: ClusterLanes ── ReadChunk(task, shard, epoch, range) ──► member's LaneServer
//!                                                                    epoch not stale?
//!                                                                    lane of the shard (kept):
//!                                                                      reader + pipeline + sink
//!         ◄── row count and keys, once every row is acknowledged ──  read, then barrier
//! ```
//!
//! A lane refuses an owner whose epoch is older than its view's, stops writing
//! `LANE_BUDGET` after a request arrived (the pipeline is dropped), and its producer gives up
//! on a record after `LANE_PRODUCER_TIMEOUT`: the owner's fence is their sum and a margin. A
//! member that failed a range takes no other range of the same owner for `BENCHED`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;
use tonic::Status;

use super::handle::ClusterHandle;
use super::rpc::raft::{ChunkReply, ChunkRequest};
use super::NodeId;
use crate::checkpoint::ShardKey;
use crate::config::{FormatKind, Phase, SourceKind, TaskSpec};
use crate::metrics::{ShardLabels, SNAPSHOT_LANE_RANGES, SNAPSHOT_LANE_ROWS};
use crate::pipeline::throttle::Limits;
use crate::sink::kafka::{KafkaSink, KafkaSinkConfig, Transactional};
use crate::sink::SinkError;
use crate::source::postgres::chunk::lane::PgLaneReader;
use crate::source::postgres::PgSource;
use crate::source::{LaneRecord, SnapshotLanes};
use crate::task::kafka_config;
use crate::task::lane::LanePipeline;

/// How long a lane may read and write one range after its request arrived.
pub const LANE_BUDGET: Duration = Duration::from_secs(20);
/// A lane's producer gives up on a record after this long (`message.timeout.ms`).
pub const LANE_PRODUCER_TIMEOUT: Duration = Duration::from_secs(10);
/// Beyond the budget and the producer's timeout: the request's travel and clock rates.
const FENCE_MARGIN: Duration = Duration::from_secs(2);
/// A member whose range failed takes no range of this owner for this long.
const BENCHED: Duration = Duration::from_secs(300);
/// A lane no range came to for this long is dropped (its connection and producer with it).
const LANE_IDLE: Duration = Duration::from_secs(60);

/// Whether a shard of `spec` spreads its chunk groups over other workers: a PostgreSQL task
/// with a snapshot beside the stream, `source.snapshot_lanes` above 0, the Debezium format
/// (the DTS formats number every message of a shard in one sequence) and no throttle (the
/// owner's throttle cannot see what lanes write).
pub fn spreads(spec: &TaskSpec) -> bool {
    spec.source.kind == SourceKind::Postgres
        && spec.source.snapshot_lanes > 0
        && spec.has_phase(Phase::Full)
        && spec.has_phase(Phase::Incremental)
        && spec.destination.format == FormatKind::DebeziumJson
        && Limits::of(spec) == Limits::default()
}

/// The owner's side: the other live workers, asked over the Raft service.
pub struct ClusterLanes {
    handle: ClusterHandle,
    key: ShardKey,
    epoch: u64,
    max: usize,
    benched: Arc<Mutex<HashMap<NodeId, Instant>>>,
    /// The shard's sink settings of the running attempt (exactly-once: its transactional id).
    sink: Mutex<Option<KafkaSinkConfig>>,
}

/// Lane `lane`'s transactional id beside its shard's `shard_id`.
pub fn lane_transactional_id(shard_id: &str, lane: usize) -> String {
    format!("{shard_id}-snap-{lane}")
}

impl ClusterLanes {
    pub fn new(handle: ClusterHandle, key: ShardKey, epoch: u64, max: usize) -> ClusterLanes {
        ClusterLanes {
            handle,
            key,
            epoch,
            max,
            benched: Arc::default(),
            sink: Mutex::new(None),
        }
    }

    /// The shard's sink settings of the attempt starting: exactly-once, each lane commits
    /// under `<its transactional id>-snap-<lane>`.
    pub fn set_sink(&self, config: &KafkaSinkConfig) {
        *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(config.clone());
    }

    /// Lane `lane`'s sink settings, when exactly-once.
    fn lane_sink(&self, lane: usize) -> Option<KafkaSinkConfig> {
        let mut config = self
            .sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let t = config.transactions.as_mut()?;
        t.id = lane_transactional_id(&t.id, lane);
        Some(config)
    }

    /// The members that may take a range now, in node order.
    fn members(&self) -> Vec<(NodeId, String)> {
        let me = self.handle.node_id();
        let now = Instant::now();
        let mut benched = self.benched.lock().unwrap_or_else(|e| e.into_inner());
        benched.retain(|_, until| *until > now);
        self.handle.view().read(|s| {
            s.live_workers()
                .filter(|n| *n != me && !benched.contains_key(n))
                .filter_map(|n| Some((n, s.workers.get(&n)?.member.raft_addr.clone())))
                .take(self.max)
                .collect()
        })
    }
}

impl SnapshotLanes for ClusterLanes {
    fn lanes(&self) -> usize {
        self.members().len()
    }

    fn fence(&self) -> Duration {
        LANE_BUDGET + LANE_PRODUCER_TIMEOUT + FENCE_MARGIN
    }

    fn transactional(&self) -> bool {
        self.lane_sink(0).is_some()
    }

    fn max_lanes(&self) -> usize {
        self.max
    }

    fn settle(&self, lane: usize) -> BoxFuture<'static, Result<Option<LaneRecord>, String>> {
        let Some(config) = self.lane_sink(lane) else {
            return Box::pin(async { Ok(None) });
        };
        let labels = ShardLabels::new(&self.key.task, self.key.shard);
        Box::pin(async move {
            let fail = |e: SinkError| crate::error_chain(&e);
            let id = config.transactions.as_ref().map(|t| t.id.clone());
            let mut sink = KafkaSink::new(config, &labels).map_err(fail)?;
            sink.init_transactions().await.map_err(fail)?;
            let key = id.unwrap_or_default();
            let record = sink.read_checkpoint(key.as_bytes()).await.map_err(fail)?;
            Ok(record.and_then(|r| LaneRecord::decode(&r)))
        })
    }

    fn read(&self, lane: usize, request: Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let Some((node, addr)) = self.members().get(lane).cloned() else {
            return Box::pin(async move { Err(format!("no lane {lane}")) });
        };
        let transactional_id = self
            .lane_sink(lane)
            .and_then(|c| c.transactions.map(|t| t.id))
            .unwrap_or_default();
        let call = ChunkRequest {
            task: self.key.task.clone(),
            shard: self.key.shard,
            epoch: self.epoch,
            request,
            transactional_id,
        };
        let client = self.handle.peer_client(&addr);
        let benched = self.benched.clone();
        Box::pin(async move {
            let mut client = client.map_err(|e| format!("worker {node} at {addr}: {e}"))?;
            let answer = tokio::time::timeout(LANE_BUDGET + FENCE_MARGIN, client.read_chunk(call));
            let failed = match answer.await {
                Ok(Ok(reply)) => return Ok(reply.into_inner().reply),
                Ok(Err(status)) => format!("worker {node} at {addr}: {}", status.message()),
                Err(_) => format!("worker {node} at {addr} did not answer in time"),
            };
            benched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node, Instant::now() + BENCHED);
            Err(failed)
        })
    }
}

/// One shard's lane on this worker, kept between its ranges.
struct Lane {
    epoch: u64,
    opened_for: OpenedFor,
    reader: PgLaneReader,
    pipeline: LanePipeline,
    labels: ShardLabels,
    last_used: Instant,
}

type LaneSlot = Arc<tokio::sync::Mutex<Option<Lane>>>;
type LaneTable = tokio::sync::Mutex<HashMap<ShardKey, LaneSlot>>;
type LaneMap = Arc<LaneTable>;
/// The shard's task file and tables.
type ShardFile = (String, Vec<String>);
/// The shard's task file and tables a lane was opened for, and its transactional id.
type OpenedFor = (String, Vec<String>, String);

/// `failpoint::LANE_BEFORE_COMMIT` or `LANE_AFTER_COMMIT` (`name`): the error a test answers
/// there instead of going on.
#[cfg(feature = "failpoints")]
fn injected(name: &'static str) -> Option<String> {
    fail::eval(name, |_| format!("fail point {name} was hit"))
}

/// The lane's side: serves `ReadChunk` for the shards of other workers.
pub struct LaneServer {
    handle: ClusterHandle,
    lanes: LaneMap,
}

impl LaneServer {
    /// Also starts dropping lanes idle for `LANE_IDLE` (with a runtime at hand).
    pub fn new(handle: ClusterHandle) -> LaneServer {
        let lanes = LaneMap::default();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(drop_idle(Arc::downgrade(&lanes)));
        }
        LaneServer { handle, lanes }
    }

    /// Reads and writes one range; answers once every row is acknowledged.
    pub async fn serve(&self, req: ChunkRequest) -> Result<ChunkReply, Status> {
        let key = ShardKey {
            task: req.task.clone(),
            shard: req.shard,
        };
        let (spec, epoch, (toml, tables)) = self.shard(&key)?;
        let opened_for = (toml, tables, req.transactional_id.clone());
        refuse_stale_owner(&key, epoch, req.epoch)?;
        let slot = {
            let mut lanes = self.lanes.lock().await;
            lanes.entry(key.clone()).or_default().clone()
        };
        let mut lane = slot.lock().await;
        let stale = lane.as_ref().is_none_or(|l| {
            l.epoch != req.epoch || l.opened_for != opened_for || !l.pipeline.is_running()
        });
        if stale {
            *lane = None;
            *lane = Some(open(&spec, &key, req.epoch, opened_for).await?);
        }
        let Some(l) = lane.as_mut() else {
            return Err(Status::internal("no lane"));
        };
        l.last_used = Instant::now();
        let transactional = !req.transactional_id.is_empty();
        let read = async {
            let (reply, rows) = l
                .reader
                .read(&req.request, l.pipeline.sender())
                .await
                .map_err(|e| Status::unavailable(crate::error_chain(&e)))?;
            #[cfg(feature = "failpoints")]
            if let Some(e) =
                injected(crate::failpoint::LANE_BEFORE_COMMIT).filter(|_| transactional)
            {
                return Err(Status::unavailable(e));
            }
            let done = match transactional {
                true => {
                    let record = LaneRecord {
                        request: req.request.clone(),
                        reply: reply.clone(),
                    };
                    l.pipeline.commit(record.encode()).await
                }
                false => l.pipeline.flushed().await,
            };
            done.map_err(Status::unavailable)?;
            #[cfg(feature = "failpoints")]
            if let Some(lost) =
                injected(crate::failpoint::LANE_AFTER_COMMIT).filter(|_| transactional)
            {
                return Err(Status::unavailable(lost));
            }
            Ok::<_, Status>((reply, rows))
        };
        match tokio::time::timeout(LANE_BUDGET, read).await {
            Ok(Ok((reply, rows))) => {
                l.labels.counter(SNAPSHOT_LANE_RANGES).increment(1);
                l.labels.counter(SNAPSHOT_LANE_ROWS).increment(rows);
                Ok(ChunkReply { reply })
            }
            Ok(Err(status)) => {
                // Dropping the pipeline ends its writes.
                *lane = None;
                Err(status)
            }
            Err(_) => {
                *lane = None;
                Err(Status::deadline_exceeded(format!(
                    "the range took longer than the lane's budget of {LANE_BUDGET:?}"
                )))
            }
        }
    }

    /// The shard's spec (its tables only), epoch, and task file and tables in this worker's
    /// view.
    #[allow(clippy::result_large_err)]
    fn shard(&self, key: &ShardKey) -> Result<(TaskSpec, u64, ShardFile), Status> {
        let found = self.handle.view().read(|s| {
            let task = s.tasks.get(&key.task)?;
            let shard = s.shards.get(key)?;
            Some((task.spec_toml.clone(), shard.tables.clone(), shard.epoch))
        });
        let Some((toml, tables, epoch)) = found else {
            return Err(Status::not_found(format!(
                "no shard {} of task {} here (yet)",
                key.shard, key.task
            )));
        };
        let spec = TaskSpec::parse(&toml)
            .map_err(|e| Status::failed_precondition(e.to_string()))?
            .for_shard(&tables);
        Ok((spec, epoch, (toml, tables)))
    }
}

/// A lane serves no owner whose epoch is older than the shard's in this worker's view: that
/// owner lost the shard, and its rows would land beside the new owner's.
#[allow(clippy::result_large_err)]
fn refuse_stale_owner(key: &ShardKey, here: u64, asked: u64) -> Result<(), Status> {
    if here > asked {
        return Err(Status::failed_precondition(format!(
            "shard {} of task {} has epoch {here} here, newer than the asking owner's {asked}",
            key.shard, key.task
        )));
    }
    Ok(())
}

/// Every half `LANE_IDLE`, drops the lanes no range came to for `LANE_IDLE`, until the server
/// goes.
async fn drop_idle(lanes: std::sync::Weak<LaneTable>) {
    loop {
        tokio::time::sleep(LANE_IDLE / 2).await;
        let Some(lanes) = lanes.upgrade() else {
            return;
        };
        let mut lanes = lanes.lock().await;
        lanes.retain(|_, slot| match slot.try_lock() {
            Ok(mut lane) => {
                if lane
                    .as_ref()
                    .is_some_and(|l| l.last_used.elapsed() > LANE_IDLE)
                {
                    *lane = None;
                }
                lane.is_some()
            }
            Err(_) => true,
        });
    }
}

/// A shard's lane: this worker's check of the source, and a pipeline into a sink of its own
/// whose producer gives up on a record after `LANE_PRODUCER_TIMEOUT`; exactly-once, a
/// transactional one that fenced every older producer of the lane's id.
async fn open(
    spec: &TaskSpec,
    key: &ShardKey,
    epoch: u64,
    opened_for: OpenedFor,
) -> Result<Lane, Status> {
    let fail = |e: &dyn std::error::Error| Status::unavailable(crate::error_chain(e));
    let source = PgSource::from_spec(spec, key.shard).map_err(|e| fail(&e))?;
    let (reader, info) = source.lane_reader().await.map_err(|e| fail(&e))?;
    let mut spec = spec.clone();
    spec.destination.properties.insert(
        "message.timeout.ms".into(),
        LANE_PRODUCER_TIMEOUT.as_millis().to_string(),
    );
    let labels = ShardLabels::new(&key.task, key.shard);
    let mut config = kafka_config(&spec).map_err(|e| fail(&e))?;
    let id = &opened_for.2;
    if !id.is_empty() {
        config.transactions = Some(Transactional {
            id: id.clone(),
            checkpoint_topic: Transactional::DEFAULT_CHECKPOINT_TOPIC.to_owned(),
            timeout: Transactional::DEFAULT_TIMEOUT,
        });
    }
    let mut sink = KafkaSink::new(config, &labels).map_err(|e| fail(&e))?;
    if !id.is_empty() {
        sink.init_transactions().await.map_err(|e| fail(&e))?;
    }
    let pipeline = LanePipeline::start(&spec, key, &info, sink).map_err(|e| fail(&e))?;
    tracing::info!(task = %key.task, shard = key.shard, epoch, "serving ranges of this shard's chunked snapshot as a lane");
    Ok(Lane {
        epoch,
        opened_for,
        reader,
        pipeline,
        labels,
        last_used: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_commits_under_its_shard_s_transactional_id_and_its_place() {
        assert_eq!(
            lane_transactional_id("tributary-shop-1a2b3c4d-3", 1),
            "tributary-shop-1a2b3c4d-3-snap-1"
        );
    }

    #[test]
    fn an_owner_with_an_older_epoch_is_refused_and_one_as_new_or_newer_served() {
        let key = ShardKey {
            task: "shop".into(),
            shard: 2,
        };
        let e = refuse_stale_owner(&key, 5, 4).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(
            e.message().contains("epoch 5") && e.message().contains("4"),
            "{e}"
        );
        assert!(refuse_stale_owner(&key, 5, 5).is_ok());
        assert!(
            refuse_stale_owner(&key, 5, 6).is_ok(),
            "the view may lag the owner"
        );
    }
}
