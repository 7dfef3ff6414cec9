//! One task, end to end: checkpoint, preflight, topics, slot, source, runner; retries after
//! the first successful start; clean-up when a first start fails.
//!
//! `tributary run` calls this for its single shard; the cluster's workers will call it for the
//! shards the leader assigns them.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, ShardKey, SledCheckpointStore,
};
use crate::config::{resolve_password, ConfigError, Phase, TableSelection, TaskSpec};
use crate::format::debezium::{
    DebeziumJson, DebeziumOptions, DecimalHandling, HstoreHandling, IntervalHandling,
};
use crate::pipeline::runner::{PipelineError, RunEnd, Runner, RunnerOptions};
use crate::pipeline::stats::Stats;
use crate::position::Lsn;
use crate::sink::kafka::{Acks, KafkaSink, KafkaSinkConfig};
use crate::sink::null::NullSink;
use crate::sink::{Sink, SinkError};
use crate::source::postgres::conn::PgConnectConfig;
use crate::source::postgres::error::PgSourceError;
use crate::source::postgres::run::{PendingSnapshot, SourceRun};
use crate::source::postgres::setup::{self, Created, PgSourceOptions, Preflight};
use crate::source::postgres::slot;

/// Source items buffered between the source and the runner (batches of up to 512 rows).
const SOURCE_CHANNEL_BATCHES: usize = 16;
/// Back-off between attempts after the first successful start.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Which sink the task writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkChoice {
    Kafka,
    /// Discards records (benchmarks measure the source and format alone).
    Null,
}

pub struct TaskRunOptions {
    pub spec: TaskSpec,
    pub data_dir: PathBuf,
    pub sink: SinkChoice,
    pub stats: Arc<Stats>,
    pub shutdown: watch::Receiver<bool>,
    /// Stop once every change up to this LSN is durable (a cut-over point, or a benchmark's end).
    pub until_lsn: Option<Lsn>,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Stopped on request, progress saved.
    Stopped,
    /// A full-only task finished; its slot was dropped.
    Completed,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
}

impl From<PipelineError> for TaskError {
    fn from(e: PipelineError) -> Self {
        TaskError::Pipeline(Box::new(e))
    }
}

impl From<PgSourceError> for TaskError {
    fn from(e: PgSourceError) -> Self {
        TaskError::from(PipelineError::from(e))
    }
}
impl From<SinkError> for TaskError {
    fn from(e: SinkError) -> Self {
        TaskError::from(PipelineError::from(e))
    }
}
impl From<CheckpointError> for TaskError {
    fn from(e: CheckpointError) -> Self {
        TaskError::from(PipelineError::from(e))
    }
}

/// Runs the task until it is stopped, completes, or fails for good.
pub async fn run_task(mut opts: TaskRunOptions) -> Result<TaskOutcome, TaskError> {
    let store: Arc<dyn CheckpointStore> = Arc::new(SledCheckpointStore::open(&opts.data_dir)?);
    let key = ShardKey {
        task: opts.spec.name.clone(),
        shard: 0,
    };
    let mut backoff = RETRY_MIN;
    loop {
        let cp = store
            .load(&key)?
            .unwrap_or_else(|| Checkpoint::new(new_incarnation()));
        if cp.completed {
            return Ok(TaskOutcome::Completed);
        }
        let result = match opts.sink {
            SinkChoice::Kafka => {
                let sink = KafkaSink::new(kafka_config(&opts.spec)?)?;
                attempt(&mut opts, &store, &key, cp, sink).await
            }
            SinkChoice::Null => attempt(&mut opts, &store, &key, cp, NullSink::default()).await,
        };
        // The attempt may have completed the first start before failing.
        let started = store.load(&key)?.is_some_and(|c| c.started);
        match result {
            Ok(outcome) => return Ok(outcome),
            Err(e) if started && is_transient(&e) && !*opts.shutdown.borrow() => {
                tracing::warn!(task = %key.task, shard = key.shard, error = %e, retry_in = ?backoff, "task failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = opts.shutdown.changed() => return Ok(TaskOutcome::Stopped),
                }
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_transient(e: &TaskError) -> bool {
    matches!(e, TaskError::Pipeline(p) if p.is_transient())
}

/// A random id for a new task incarnation (8 hex digits).
fn new_incarnation() -> String {
    let mut b = [0u8; 4];
    if openssl::rand::rand_bytes(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b = (t.subsec_nanos() ^ t.as_secs() as u32).to_be_bytes();
    }
    hex::encode(b)
}

fn source_options(spec: &TaskSpec) -> Result<PgSourceOptions, TaskError> {
    let password = resolve_password(&spec.source)?;
    let conn = PgConnectConfig::new(
        &spec.source.url,
        password,
        spec.source.ssl_root_cert.clone(),
    )
    .map_err(|c| ConfigError::Invalid {
        field: "source.url",
        constraint: c,
    })?;
    let selection = TableSelection::from_spec(&spec.objects).map_err(|c| ConfigError::Invalid {
        field: "objects.tables",
        constraint: c,
    })?;
    Ok(PgSourceOptions {
        conn,
        selection,
        task: spec.name.clone(),
        shard: 0,
        snapshot_connections: spec.source.snapshot_connections,
        slot_create_timeout: spec.source.slot_create_timeout,
        status_interval: spec.source.status_interval,
        full: spec.has_phase(Phase::Full),
        incremental: spec.has_phase(Phase::Incremental),
    })
}

/// One attempt: set up (or verify) and run until stop, completion or error.
async fn attempt<S: Sink>(
    opts: &mut TaskRunOptions,
    store: &Arc<dyn CheckpointStore>,
    key: &ShardKey,
    mut cp: Checkpoint,
    mut sink: S,
) -> Result<TaskOutcome, TaskError> {
    let src = source_options(&opts.spec)?;
    let mut pre = setup::preflight(&src).await?;
    let format = DebeziumJson::new(debezium_options(&opts.spec, &pre)?);
    let topics = topics_for(&opts.spec, &pre);
    let started = if cp.started {
        sink.prepare_topics(&topics).await?;
        resume(&src, &mut pre, &cp).await?
    } else {
        first_start(&src, &mut pre, &mut cp, &mut sink, &topics).await?
    };
    let identity = cp.slot.clone().ok_or(PgSourceError::Protocol {
        context: "starting".into(),
        what: "no slot".into(),
    })?;
    let run = SourceRun {
        opts: src.clone(),
        repl: started.repl,
        catalog: pre.catalog,
        types: pre.types,
        publications: identity
            .publication
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        slot_name: identity.slot_name.clone(),
        start_lsn: cp.confirmed_lsn,
        skip_through: cp.stream,
        snapshot: started.snapshot,
        known_tables: started.tables,
    };
    if !cp.started {
        cp.started = true;
        let (s, k, c) = (store.clone(), key.clone(), cp.clone());
        tokio::task::spawn_blocking(move || s.save(&k, &c))
            .await
            .map_err(|e| CheckpointError::Open {
                path: "checkpoint".into(),
                reason: e.to_string(),
            })??;
    }
    let (confirm_tx, confirm_rx) = watch::channel(cp.confirmed_lsn);
    let (tx, mut rx) = mpsc::channel(SOURCE_CHANNEL_BATCHES);
    let source = tokio::spawn(run.run(tx, confirm_rx));
    let m = &opts.spec.migration;
    let runner_opts = RunnerOptions {
        checkpoint_interval: m.checkpoint_interval,
        snapshot_rows_per_second: m.snapshot_rows_per_second,
        stream_events_per_second: m.stream_events_per_second,
        snapshot_only: !src.incremental,
        stop_at: opts.until_lsn,
    };
    let known: HashSet<String> = topics.into_iter().collect();
    let mut runner = Runner::new(
        sink,
        format,
        store.clone(),
        key.clone(),
        cp,
        confirm_tx,
        opts.stats.clone(),
        runner_opts,
        known,
    );
    let end = runner.run(&mut rx, &mut opts.shutdown).await;
    source.abort();
    let end = end?;
    let cp = runner.checkpoint_state().clone();
    if end == RunEnd::SourceFinished && cp.completed {
        finish_full_only(&src, &cp).await?;
        return Ok(TaskOutcome::Completed);
    }
    Ok(TaskOutcome::Stopped)
}

/// A first start: topics, publications, slot and snapshot session; undone on failure.
async fn first_start<S: Sink>(
    src: &PgSourceOptions,
    pre: &mut Preflight,
    cp: &mut Checkpoint,
    sink: &mut S,
    topics: &[String],
) -> Result<Started, TaskError> {
    let created_topics = sink.prepare_topics(topics).await?;
    let mut created = Created::default();
    match setup::first_start(src, pre, cp, &mut created).await {
        Ok((repl, session)) => {
            let tables: Vec<_> = pre.tables.iter().map(|t| t.schema.clone()).collect();
            let lsn = cp.confirmed_lsn;
            let snapshot = session.map(|session| PendingSnapshot {
                session,
                lsn,
                tables: tables.clone(),
                deferred: false,
            });
            Ok(Started {
                repl,
                snapshot,
                tables,
            })
        }
        Err(e) => {
            created.remove(&pre.catalog).await;
            if !created_topics.is_empty() {
                if let Err(te) = sink.delete_topics(&created_topics).await {
                    tracing::warn!(error = %te, "could not delete the topics of a failed first start");
                }
            }
            Err(e.into())
        }
    }
}

/// A resume: verify the slot; re-read tables whose snapshot was cut.
async fn resume(
    src: &PgSourceOptions,
    pre: &mut Preflight,
    cp: &Checkpoint,
) -> Result<Started, TaskError> {
    let repl = setup::resume(src, pre, cp).await?;
    let unfinished = setup::unfinished_tables(pre, cp);
    let snapshot = if src.full && !unfinished.is_empty() {
        tracing::info!(
            tables = unfinished.len(),
            "re-reading tables whose snapshot was cut, under a fresh snapshot"
        );
        let (session, lsn) = setup::reread_session(src, pre, cp).await?;
        Some(PendingSnapshot {
            session,
            lsn,
            tables: unfinished,
            deferred: true,
        })
    } else {
        None
    };
    let tables = pre.tables.iter().map(|t| t.schema.clone()).collect();
    Ok(Started {
        repl,
        snapshot,
        tables,
    })
}

/// What a first start or a resume hands to the source run.
struct Started {
    repl: crate::source::postgres::conn::ReplicationConn,
    snapshot: Option<PendingSnapshot>,
    tables: Vec<Arc<crate::schema::TableSchema>>,
}

/// A full-only task is done: drop its slot and publications.
async fn finish_full_only(src: &PgSourceOptions, cp: &Checkpoint) -> Result<(), TaskError> {
    if let Some(id) = &cp.slot {
        let client = src.conn.connect_sql("clean-up").await?;
        let pubs: Vec<String> = id
            .publication
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        slot::drop_slot_and_publications(&client, &id.slot_name, &pubs).await?;
        tracing::info!(slot = %id.slot_name, "full load completed; slot and publications dropped");
    }
    Ok(())
}

/// Topics the task writes to: `destination.topic`, or one per table.
pub fn topics_for(spec: &TaskSpec, pre: &Preflight) -> Vec<String> {
    let mut t: Vec<String> = match &spec.destination.topic {
        Some(topic) => vec![topic.clone()],
        None => pre
            .tables
            .iter()
            .map(|t| format!("{}.{}.{}", spec.name, t.schema.schema, t.schema.name))
            .collect(),
    };
    t.dedup();
    t
}

fn debezium_options(spec: &TaskSpec, pre: &Preflight) -> Result<DebeziumOptions, ConfigError> {
    let d = &spec.destination.debezium;
    let mut o = DebeziumOptions {
        topic_prefix: spec.name.clone(),
        topic_override: spec.destination.topic.clone(),
        database: pre.database.clone(),
        ..DebeziumOptions::default()
    };
    if let Some(v) = d.schemas_enable {
        o.schemas_enable = v;
    }
    if let Some(v) = d.tombstones_on_delete {
        o.tombstones_on_delete = v;
    }
    if let Some(v) = &d.unavailable_value_placeholder {
        o.unavailable_value_placeholder = v.clone();
    }
    o.decimal_handling_mode = match d.decimal_handling_mode.as_deref() {
        None | Some("precise") => DecimalHandling::Precise,
        Some("double") => DecimalHandling::Double,
        Some("string") => DecimalHandling::String,
        Some(x) => {
            return Err(invalid(
                "destination.debezium.decimal_handling_mode",
                x,
                "precise, double or string",
            ))
        }
    };
    o.interval_handling_mode = match d.interval_handling_mode.as_deref() {
        None | Some("numeric") => IntervalHandling::Numeric,
        Some("string") => IntervalHandling::String,
        Some(x) => {
            return Err(invalid(
                "destination.debezium.interval_handling_mode",
                x,
                "numeric or string",
            ))
        }
    };
    o.hstore_handling_mode = match d.hstore_handling_mode.as_deref() {
        None | Some("json") => HstoreHandling::Json,
        Some("map") => HstoreHandling::Map,
        Some(x) => {
            return Err(invalid(
                "destination.debezium.hstore_handling_mode",
                x,
                "json or map",
            ))
        }
    };
    Ok(o)
}

fn invalid(field: &'static str, got: &str, allowed: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        constraint: format!("{got:?} is not one of {allowed}"),
    }
}

/// The Kafka sink's settings from the task's destination.
pub fn kafka_config(spec: &TaskSpec) -> Result<KafkaSinkConfig, TaskError> {
    let d = &spec.destination;
    let mut c = KafkaSinkConfig {
        bootstrap_servers: d.bootstrap_servers.clone(),
        ..KafkaSinkConfig::default()
    };
    c.acks = match d.acks.as_deref() {
        None | Some("all") | Some("-1") => Acks::All,
        Some("1") => Acks::One,
        Some("0") => Acks::Zero,
        Some(x) => return Err(invalid("destination.acks", x, "all, 1 or 0").into()),
    };
    if let Some(v) = &d.compression {
        c.compression = v.clone();
    }
    c.create_topics = d.create_topics.unwrap_or(true);
    if let Some(v) = d.partitions {
        c.partitions = v;
    }
    if let Some(v) = d.replication_factor {
        c.replication_factor = v;
    }
    c.security_protocol = d.security_protocol.clone();
    c.sasl_mechanism = d.sasl_mechanism.clone();
    c.sasl_username = d.sasl_username.clone();
    c.sasl_password = match &d.sasl_password_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            invalid(
                "destination.sasl_password_env",
                var,
                "a set environment variable",
            )
        })?),
        None => d.sasl_password.clone(),
    };
    c.ssl_ca_location = d.ssl_ca_location.clone();
    c.ssl_certificate_location = d.ssl_certificate_location.clone();
    c.ssl_key_location = d.ssl_key_location.clone();
    c.properties = d.properties.clone();
    c.message_max_bytes = d.message_max_bytes;
    if let Some(v) = d.max_in_flight_records {
        c.max_in_flight_records = v;
    }
    c.validate()?;
    Ok(c)
}
