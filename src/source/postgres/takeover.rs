//! Starting replication on a slot that another session still holds.
//!
//! A shard moving between workers meets its slot still active for the old owner's walsender
//! (SQLSTATE 55006, "replication slot ... is active for PID n") until that walsender exits: at
//! once when the old worker stopped cleanly, after `wal_sender_timeout` when it was paused or
//! cut off. The error is transient, so the shard retries with back-off. When the owner knows
//! the old holder may no longer write (its lease expired: the cluster already fenced its
//! checkpoints), it may end the holder's session instead of waiting:
//!
//! ```text
//!  START_REPLICATION ─► 55006 ─► may terminate? ─ no ─► the 55006 error (transient)
//!                                     │ yes
//!      pg_terminate_backend(active_pid) ─► wait until the slot is inactive ─► reconnect, retry
//! ```
//! The slot itself is never dropped or recreated here: its position is the shard's progress.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::Client;

use super::conn::{Io, ReplicationConn};
use super::error::PgSourceError;
use super::setup::PgSourceOptions;
use super::slot;

/// How often a takeover ends the slot's holder before giving the 55006 error back.
const MAX_TAKEOVERS: u32 = 3;
/// How long a terminated walsender may take to release the slot.
const RELEASE_WAIT: Duration = Duration::from_secs(10);
/// How often the slot's state is read while waiting (a server-side condition: no event).
const RELEASE_POLL: Duration = Duration::from_millis(50);

/// Whether the slot's current holder may be ended now (the old owner's lease has expired).
#[derive(Clone)]
pub struct TakeoverPolicy(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for TakeoverPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TakeoverPolicy")
    }
}

/// Sends `sql` (START_REPLICATION) on `conn`; while the slot is held by another session and
/// the options' takeover policy allows it, ends that session and tries again on a new
/// connection.
pub async fn start_replication(
    conn: ReplicationConn,
    sql: &str,
    opts: &PgSourceOptions,
    catalog: &Client,
    slot_name: &str,
) -> Result<(Box<dyn Io>, BytesMut), PgSourceError> {
    let mut conn = conn;
    let mut takeovers = 0;
    loop {
        let err = match conn.start_replication(sql).await {
            Ok(started) => return Ok(started),
            Err(e) => e,
        };
        let allowed = opts.takeover.as_ref().is_some_and(|p| (p.0)());
        if !is_slot_in_use(&err) || !allowed || takeovers == MAX_TAKEOVERS {
            return Err(err);
        }
        takeovers += 1;
        terminate_holder(catalog, opts, slot_name).await?;
        wait_released(catalog, slot_name).await?;
        conn = ReplicationConn::connect(&opts.conn).await?;
    }
}

/// 55006 from START_REPLICATION: the slot is active for another session.
fn is_slot_in_use(e: &PgSourceError) -> bool {
    matches!(e, PgSourceError::Server { server, .. } if server.code == "55006")
}

/// Ends the session that holds the slot (if one still does).
async fn terminate_holder(
    catalog: &Client,
    opts: &PgSourceOptions,
    slot_name: &str,
) -> Result<(), PgSourceError> {
    let rows = catalog
        .query(
            "SELECT active_pid, pg_terminate_backend(active_pid) FROM pg_replication_slots \
             WHERE slot_name = $1 AND active_pid IS NOT NULL",
            &[&slot_name],
        )
        .await
        .map_err(|e| PgSourceError::sql(format!("ending the holder of slot {slot_name}"), e))?;
    for r in rows {
        let pid: i32 = r.get(0);
        tracing::warn!(
            task = %opts.task,
            shard = opts.shard,
            slot = slot_name,
            pid,
            "replication slot held by another session after its owner's lease expired: terminated it to take the slot over"
        );
    }
    Ok(())
}

/// Waits (bounded) until no session holds the slot; past the bound the retry meets 55006.
async fn wait_released(catalog: &Client, slot_name: &str) -> Result<(), PgSourceError> {
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    while tokio::time::Instant::now() < deadline {
        match slot::slot_state(catalog, slot_name).await? {
            Some(state) if state.active_pid.is_some() => tokio::time::sleep(RELEASE_POLL).await,
            _ => return Ok(()),
        }
    }
    Ok(())
}
