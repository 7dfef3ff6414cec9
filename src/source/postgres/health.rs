//! The shard's watcher beside its stream: writes the heartbeat, reads how much WAL the slot
//! retains, and checks that the DDL capture is still installed.
//!
//! The heartbeat is a transactional logical message (`pg_logical_emit_message(true,
//! 'tributary:<task>:heartbeat', <Unix µs>)`, PostgreSQL 14+): it comes back through the
//! stream in WAL order behind every earlier change, so its age when the pipeline takes it in
//! is the end-to-end latency, and its commit gives an idle database's slot a position to
//! confirm (the stream turns a transaction with no change into an `Idle` token). It is never
//! written to a topic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::conn::PgConnectConfig;
use super::ddl;
use super::error::PgSourceError;
use crate::metrics::{ShardLabels, DDL_CAPTURE_ACTIVE};
use crate::source::{SourceItem, SourceSender};

/// How often the slot and the capture are read when the heartbeat is off or faster.
const SLOT_CHECK: Duration = Duration::from_secs(5);

/// The heartbeat's logical message prefix.
pub fn heartbeat_prefix(task: &str) -> String {
    format!("{}:heartbeat", ddl::prefix(task))
}

/// What the watcher needs.
pub struct Watch {
    pub conn: PgConnectConfig,
    pub task: String,
    pub shard: u32,
    pub slot: String,
    pub heartbeat: Option<Duration>,
    pub max_retained_wal: u64,
    /// The incarnation whose capture trigger to watch (shard 0 of a capturing task).
    pub capture: Option<String>,
}

/// Aborts the watcher when dropped (the stream ended).
pub struct WatchHandle(JoinHandle<()>);

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the watcher; it ends when the handle is dropped.
pub fn spawn(w: Watch, out: SourceSender) -> WatchHandle {
    WatchHandle(tokio::spawn(async move {
        let mut state = State::default();
        loop {
            if let Err(e) = w.run(&out, &mut state).await {
                tracing::warn!(task = %w.task, shard = w.shard, error = %e, "heartbeat and slot watch failed; retrying in 5 s");
            }
            if out.is_closed() {
                return;
            }
            tokio::time::sleep(SLOT_CHECK).await;
        }
    }))
}

/// What the watcher remembers across reconnections, to warn once per crossing.
#[derive(Default)]
struct State {
    over_limit: bool,
    capture_active: Option<bool>,
    heartbeat_failing: bool,
}

impl Watch {
    async fn run(&self, out: &SourceSender, state: &mut State) -> Result<(), PgSourceError> {
        let client = self.conn.connect_sql("heartbeat").await?;
        let every = self.heartbeat.unwrap_or(SLOT_CHECK).min(SLOT_CHECK);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_check: Option<tokio::time::Instant> = None;
        let prefix = heartbeat_prefix(&self.task);
        loop {
            tick.tick().await;
            if self.heartbeat.is_some() {
                self.beat(&client, &prefix, state).await;
            }
            if last_check.is_some_and(|t| t.elapsed() < SLOT_CHECK) {
                continue;
            }
            last_check = Some(tokio::time::Instant::now());
            if let Some(bytes) = retained_wal(&client, &self.slot).await? {
                self.check_limit(bytes, state);
                if out
                    .send(Ok(vec![SourceItem::SlotRetained { bytes }]))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            self.check_capture(&client, state).await?;
        }
    }

    /// Writes one heartbeat; a failure (a read-only server, a revoked privilege) is warned
    /// about once per streak and does not stop the slot watch.
    async fn beat(&self, client: &Client, prefix: &str, state: &mut State) {
        let now = now_us().to_string();
        let r = client
            .execute(
                "SELECT pg_logical_emit_message(true, $1, $2)",
                &[&prefix, &now],
            )
            .await;
        match r {
            Err(e) if !state.heartbeat_failing => {
                let e = PgSourceError::sql("writing the heartbeat", e);
                tracing::warn!(task = %self.task, shard = self.shard, error = %e, "cannot write the heartbeat: tributary_heartbeat_latency_seconds goes stale; retrying");
                state.heartbeat_failing = true;
            }
            Err(_) => {}
            Ok(_) => state.heartbeat_failing = false,
        }
    }

    /// Warns once each time the retained WAL goes above the limit (and says when it is back).
    fn check_limit(&self, bytes: u64, state: &mut State) {
        let over = bytes > self.max_retained_wal;
        if over && !state.over_limit {
            tracing::warn!(task = %self.task, shard = self.shard, slot = %self.slot, retained_bytes = bytes, limit_bytes = self.max_retained_wal,
                "replication slot retains more WAL than slot.max_retained_wal: the server keeps it until the task confirms; check that the task runs and keeps up, or the disk may fill");
        } else if !over && state.over_limit {
            tracing::info!(task = %self.task, shard = self.shard, slot = %self.slot, retained_bytes = bytes, "replication slot's retained WAL is back under slot.max_retained_wal");
        }
        state.over_limit = over;
    }

    /// Reports (log once, gauge) when the capture trigger is gone or disabled.
    async fn check_capture(&self, client: &Client, state: &mut State) -> Result<(), PgSourceError> {
        let Some(incarnation) = &self.capture else {
            return Ok(());
        };
        let active = ddl::capture_active(client, &self.task, incarnation).await?;
        ShardLabels::new(&self.task, self.shard)
            .gauge(DDL_CAPTURE_ACTIVE)
            .set(if active { 1.0 } else { 0.0 });
        if !active && state.capture_active != Some(false) {
            tracing::warn!(task = %self.task, shard = self.shard,
                "DDL capture is lost: the task's event trigger is gone or disabled, so DDL is no longer migrated (column changes still reach the next events); release and recreate the task to capture DDL again");
        }
        state.capture_active = Some(active);
        Ok(())
    }
}

/// `pg_current_wal_lsn() - restart_lsn` of `slot`, if it exists and holds WAL.
pub async fn retained_wal(client: &Client, slot: &str) -> Result<Option<u64>, PgSourceError> {
    let row = client
        .query_opt(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name = $1 AND restart_lsn IS NOT NULL",
            &[&slot],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the slot's retained WAL", e))?;
    Ok(row
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .map(|b| b.max(0) as u64))
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
