//! The task's publication and replication slot: names, creation with an exported snapshot
//! (bounded in time, naming the transactions it waits for), identity checks on resume, and
//! removal.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::conn::{PgConnectConfig, ReplicationConn};
use super::error::PgSourceError;
use crate::checkpoint::{ObjectKind, PgSlotIdentity, SourceObject};
use crate::position::Lsn;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// `tributary_<task>_<incarnation>_<shard>`, lower-case `[a-z0-9_]`, at most 63 bytes: a longer
/// name keeps its start and ends with 8 hex digits of the full name's SHA-256.
pub fn object_name(task: &str, incarnation: &str, shard: u32) -> String {
    let raw = format!("tributary_{task}_{incarnation}_{shard}");
    let clean = sanitise(&raw);
    if clean.len() <= MAX_NAME && clean == raw {
        return clean;
    }
    let hash = hex::encode(&Sha256::digest(raw.as_bytes())[..4]);
    let keep = clean.len().min(MAX_NAME - hash.len() - 1);
    format!("{}_{hash}", &clean[..keep])
}

/// The name with every character outside `[a-z0-9]` made `_` (what `object_name` keeps).
pub(crate) fn sanitise(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The incarnation (hex digits) whose `object_name(task, incarnation, shard)` is `name`, if
/// there is one: finds the task's slot without its checkpoint. Hex digits only, so task `shop`
/// does not claim the slots of task `shop_1`. Names cut short for length cannot be matched.
pub fn incarnation_of(name: &str, task: &str, shard: u32) -> Option<String> {
    let rest = name.strip_prefix(&format!("tributary_{}_", sanitise(task)))?;
    let suffix = format!("_{shard}");
    // Plain: `<incarnation>_<shard>`; hashed: `<incarnation>_<shard>_<8 hex digits>`.
    let unhashed = rest.len().checked_sub(9).and_then(|n| rest.get(..n));
    [Some(rest), unhashed]
        .into_iter()
        .flatten()
        .filter_map(|r| r.strip_suffix(&suffix))
        .filter(|inc| !inc.is_empty() && inc.bytes().all(|b| b.is_ascii_hexdigit()))
        .find(|inc| object_name(task, inc, shard) == name)
        .map(str::to_owned)
}

/// What `CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')` returned.
#[derive(Debug, Clone)]
pub struct CreatedSlot {
    pub consistent_point: Lsn,
    pub snapshot_name: String,
}

/// What `IDENTIFY_SYSTEM` says of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemIdentity {
    pub system_id: String,
    /// The timeline the server writes on (a promotion starts a new one).
    pub timeline: u32,
}

/// `IDENTIFY_SYSTEM`'s system id and timeline.
pub async fn identify_system(conn: &mut ReplicationConn) -> Result<SystemIdentity, PgSourceError> {
    let rows = conn.simple_query("IDENTIFY_SYSTEM").await?;
    let row = rows.first().ok_or_else(|| PgSourceError::Protocol {
        context: "IDENTIFY_SYSTEM".into(),
        what: "no row".into(),
    })?;
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    Ok(SystemIdentity {
        system_id: field(0),
        timeline: field(1).parse().unwrap_or(1),
    })
}

/// Creates a logical slot exporting its snapshot. The snapshot stays valid until the next
/// command on `conn`, so the caller imports it before using `conn` again. Slot creation waits
/// for running transactions to end; past `timeout` it gives up (closing the connection, which
/// removes the half-made slot) and names the transactions it waited for.
///
/// `failover` (PostgreSQL 17+): the slot is one standbys with `sync_replication_slots = on`
/// keep a copy of, so a promoted standby has it at a position no later than the primary's.
pub async fn create_slot(
    conn: &mut ReplicationConn,
    watcher: &Client,
    slot: &str,
    temporary: bool,
    failover: bool,
    timeout: Duration,
) -> Result<CreatedSlot, PgSourceError> {
    let temp = if temporary { " TEMPORARY" } else { "" };
    let failover = if failover { ", FAILOVER true" } else { "" };
    let sql = format!(
        "CREATE_REPLICATION_SLOT \"{slot}\"{temp} LOGICAL pgoutput (SNAPSHOT 'export'{failover})"
    );
    let started = Instant::now();
    let rows = match tokio::time::timeout(timeout, conn.simple_query(&sql)).await {
        Ok(r) => r?,
        Err(_) => {
            let blockers = running_transactions(watcher)
                .await
                .unwrap_or_else(|e| e.to_string());
            return Err(PgSourceError::SlotCreateTimeout {
                slot: slot.to_owned(),
                waited_secs: started.elapsed().as_secs(),
                blockers,
            });
        }
    };
    let row = rows.first().ok_or_else(|| PgSourceError::Protocol {
        context: sql.clone(),
        what: "no row".into(),
    })?;
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let consistent_point = field(1).parse().map_err(|_| PgSourceError::Protocol {
        context: sql.clone(),
        what: "bad consistent_point".into(),
    })?;
    Ok(CreatedSlot {
        consistent_point,
        snapshot_name: field(2),
    })
}

/// The transactions a slot creation waits for, for the error message.
async fn running_transactions(client: &Client) -> Result<String, PgSourceError> {
    let rows = client
        .query(
            "SELECT pid, COALESCE(application_name, ''), COALESCE(usename::text, ''), \
             EXTRACT(EPOCH FROM now() - xact_start)::bigint, left(COALESCE(query, ''), 80) \
             FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend' ORDER BY xact_start LIMIT 5",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("listing running transactions", e))?;
    if rows.is_empty() {
        return Ok("no transaction with an xid is running now".into());
    }
    let list: Vec<String> = rows
        .iter()
        .map(|r| {
            let (pid, app, user, secs, q): (i32, String, String, Option<i64>, String) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            format!(
                "pid {pid} ({user}@{app}, open {}s: {q:?})",
                secs.unwrap_or(0)
            )
        })
        .collect();
    Ok(format!("waiting for {}", list.join(", ")))
}

/// The server's current WAL write position (`None` on a standby, which has none).
pub async fn current_wal_lsn(client: &Client) -> Result<Option<Lsn>, PgSourceError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the WAL position", e))?;
    Ok(row.get::<_, Option<String>>(0).and_then(|s| s.parse().ok()))
}

/// What `pg_replication_slots` says about a slot.
#[derive(Debug, Clone)]
pub struct SlotState {
    pub plugin: String,
    pub database: String,
    pub confirmed_flush: Option<Lsn>,
    pub wal_status: String,
    pub active_pid: Option<i32>,
}

/// The slot named `name`, if it exists.
pub async fn slot_state(client: &Client, name: &str) -> Result<Option<SlotState>, PgSourceError> {
    let row = client
        .query_opt(
            "SELECT COALESCE(plugin::text, ''), COALESCE(database::text, ''), \
             confirmed_flush_lsn::text, COALESCE(wal_status, ''), active_pid \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the replication slot", e))?;
    Ok(row.map(|r| SlotState {
        plugin: r.get(0),
        database: r.get(1),
        confirmed_flush: r.get::<_, Option<String>>(2).and_then(|s| s.parse().ok()),
        wal_status: r.get(3),
        active_pid: r.get(4),
    }))
}

/// PostgreSQL 17's failover columns of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverState {
    /// Created with FAILOVER: standbys with `sync_replication_slots` keep a copy.
    pub failover: bool,
    /// A copy synced from a primary (on a promoted standby: the slot survived a failover).
    pub synced: bool,
    pub invalidation_reason: Option<String>,
}

/// The slot's failover columns (`None` before PostgreSQL 17, or without the slot).
pub async fn failover_state(
    client: &Client,
    name: &str,
) -> Result<Option<FailoverState>, PgSourceError> {
    if super::catalog::server_version_num(client).await? < 170_000 {
        return Ok(None);
    }
    let row = client
        .query_opt(
            "SELECT failover, synced, invalidation_reason FROM pg_replication_slots \
             WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the replication slot's failover state", e))?;
    Ok(row.map(|r| FailoverState {
        failover: r.get(0),
        synced: r.get(1),
        invalidation_reason: r.get(2),
    }))
}

/// A standby's slot-sync settings (PostgreSQL 17+), as its own server reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbySync {
    /// `host:port/db` of the standby.
    pub target: String,
    pub sync_replication_slots: String,
    pub hot_standby_feedback: String,
    pub primary_slot_name: String,
}

impl StandbySync {
    /// The settings a standby needs to keep copies of failover slots, that it lacks.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.sync_replication_slots != "on" {
            out.push("sync_replication_slots = on");
        }
        if self.hot_standby_feedback != "on" {
            out.push("hot_standby_feedback = on");
        }
        if self.primary_slot_name.is_empty() {
            out.push("primary_slot_name = '<its physical slot on the primary>'");
        }
        out
    }
}

/// The slot-sync settings of every standby the URL's host list names (each asked over a
/// connection of its own; a host that is not in recovery is skipped, one that cannot be
/// reached is reported as such).
pub async fn standby_sync(cfg: &PgConnectConfig) -> Vec<Result<StandbySync, String>> {
    const SQL: &str = "SELECT pg_is_in_recovery(), current_setting('sync_replication_slots', true), \
                       current_setting('hot_standby_feedback'), current_setting('primary_slot_name')";
    let mut out = Vec::new();
    if cfg.hosts() < 2 {
        return out;
    }
    for i in 0..cfg.hosts() {
        let target = cfg.target_at(i);
        let rows = match ReplicationConn::connect_to(cfg, i).await {
            Ok(mut c) => c.simple_query(SQL).await,
            Err(e) => Err(e),
        };
        let row = match rows {
            Ok(rows) => rows.into_iter().next().unwrap_or_default(),
            Err(e) => {
                out.push(Err(format!("{target}: {e}")));
                continue;
            }
        };
        let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        if field(0) != "t" {
            continue;
        }
        out.push(Ok(StandbySync {
            target,
            sync_replication_slots: field(1),
            hot_standby_feedback: field(2),
            primary_slot_name: field(3),
        }));
    }
    out
}

/// The task's slots, of any incarnation, that a process streams from, with the PID serving it:
/// what holds the task's slot when its checkpoint cannot be read (a running task holds it).
pub async fn task_slots_in_use(
    client: &Client,
    task: &str,
    shard: u32,
) -> Result<Vec<(String, i32)>, PgSourceError> {
    let rows = client
        .query(
            "SELECT slot_name::text, active_pid FROM pg_replication_slots \
             WHERE active_pid IS NOT NULL AND NOT temporary AND database = current_database() \
             ORDER BY slot_name",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the replication slots", e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1)))
        .filter(|(name, _)| incarnation_of(name, task, shard).is_some())
        .collect())
}

/// Checks that the checkpoint's slot is still there, on the same system and database, with
/// the same plugin, and not past `checkpoint_lsn` (the resume token): anything else means the
/// stream cannot resume without losing or repeating changes.
pub async fn verify_slot(
    client: &Client,
    identity: &PgSlotIdentity,
    system_id: &str,
    checkpoint_lsn: Lsn,
) -> Result<(), PgSourceError> {
    let slot = identity.slot_name.clone();
    let mismatch = |what: String| PgSourceError::SlotMismatch {
        slot: slot.clone(),
        what,
    };
    if identity.system_id != system_id {
        return Err(mismatch(format!(
            "the checkpoint's server has system identifier {}, this server {system_id} (a different server, or a standby promoted from a restored backup)",
            identity.system_id
        )));
    }
    let Some(state) = slot_state(client, &slot).await? else {
        return Err(PgSourceError::SlotLost {
            slot,
            how: "no longer exists on the server (after a failover, the promoted standby had no synced copy of it: PostgreSQL 16 or earlier, or slot sync not set up, see the precheck item standbys)".into(),
        });
    };
    // PostgreSQL 17 names why a slot was invalidated; before, wal_status says only "lost".
    let sync = failover_state(client, &slot).await?;
    if let Some(reason) = sync.as_ref().and_then(|s| s.invalidation_reason.clone()) {
        return Err(PgSourceError::SlotLost {
            how: invalidated(&reason),
            slot,
        });
    }
    if state.wal_status == "lost" {
        return Err(PgSourceError::SlotLost {
            slot,
            how: invalidated("wal_status lost"),
        });
    }
    if sync.is_some_and(|s| s.synced) {
        tracing::info!(%slot, "the slot is a synced copy from a former primary (a failover): resuming from it");
    }
    if state.database != identity.database {
        return Err(mismatch(format!(
            "it belongs to database {:?}, the checkpoint to {:?}",
            state.database, identity.database
        )));
    }
    if state.plugin != identity.plugin {
        return Err(mismatch(format!(
            "it uses output plugin {:?}, the checkpoint {:?}",
            state.plugin, identity.plugin
        )));
    }
    match state.confirmed_flush {
        Some(slot_lsn) if slot_lsn > checkpoint_lsn => Err(PgSourceError::SlotAhead {
            slot,
            slot_lsn,
            checkpoint_lsn,
        }),
        _ => Ok(()),
    }
}

/// How an invalidated slot went, for `reason` (`invalidation_reason`, or `wal_status lost`),
/// with what prevents it.
fn invalidated(reason: &str) -> String {
    let cause = match reason {
        "wal_removed" | "wal_status lost" => {
            "the server removed WAL it still needed: raise max_slot_wal_keep_size (see the precheck item max_slot_wal_keep_size) or keep the task's stops short"
        }
        "idle_timeout" => {
            "it was idle past idle_replication_slot_timeout: raise that setting (see the precheck item idle_replication_slot_timeout) or keep the task's stops short"
        }
        "rows_removed" => "a standby needed rows VACUUM removed: set hot_standby_feedback = on on the standby",
        "wal_level_insufficient" => "the server's wal_level fell below logical",
        _ => "see the server's log",
    };
    format!("was invalidated ({reason}: {cause})")
}

/// Drops the named slots, publications, event triggers and functions that exist; returns those dropped. A slot in use
/// is refused (naming the PID) unless `force`, which first ends the session holding it.
pub async fn drop_objects(
    client: &Client,
    objects: &[SourceObject],
    force: bool,
) -> Result<Vec<SourceObject>, PgSourceError> {
    let mut dropped = Vec::new();
    for o in objects {
        let existed = match o.kind {
            ObjectKind::ReplicationSlot => drop_slot(client, &o.name, force).await?,
            ObjectKind::Publication => drop_publication(client, &o.name).await?,
            // Restored by the source, which holds what it needs (`identity::restore`).
            ObjectKind::ReplicaIdentity => false,
            ObjectKind::EventTrigger => super::ddl::drop_trigger(client, &o.name).await?,
            ObjectKind::Function => super::ddl::drop_function(client, &o.name).await?,
        };
        if existed {
            dropped.push(o.clone());
        }
    }
    Ok(dropped)
}

async fn drop_slot(client: &Client, slot: &str, force: bool) -> Result<bool, PgSourceError> {
    let ctx = || format!("dropping replication slot {slot}");
    let Some(state) = slot_state(client, slot).await? else {
        return Ok(false);
    };
    if let Some(pid) = state.active_pid {
        if !force {
            return Err(PgSourceError::SlotInUse {
                slot: slot.to_owned(),
                pid,
            });
        }
        client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .map_err(|e| PgSourceError::sql(ctx(), e))?;
    }
    // A terminated holder may keep the slot a moment longer (55006 object in use).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await;
        match r {
            Ok(_) => return Ok(true),
            Err(e) if e.code().map(|c| c.code()) == Some("55006") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(PgSourceError::sql(ctx(), e)),
        }
    }
}

async fn drop_publication(client: &Client, name: &str) -> Result<bool, PgSourceError> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&name])
        .await
        .map_err(|e| PgSourceError::sql(format!("reading publication {name}"), e))?
        .is_some();
    if exists {
        client
            .batch_execute(&format!("DROP PUBLICATION IF EXISTS \"{name}\""))
            .await
            .map_err(|e| PgSourceError::sql(format!("dropping publication {name}"), e))?;
    }
    Ok(exists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidated_slot_names_its_reason_and_the_setting_that_prevents_it() {
        for (reason, fix) in [
            ("wal_removed", "max_slot_wal_keep_size"),
            ("wal_status lost", "max_slot_wal_keep_size"),
            ("idle_timeout", "idle_replication_slot_timeout"),
            ("rows_removed", "hot_standby_feedback = on"),
            ("wal_level_insufficient", "wal_level"),
            ("something_new", "the server's log"),
        ] {
            let how = invalidated(reason);
            assert!(
                how.starts_with(&format!("was invalidated ({reason}: ")) && how.contains(fix),
                "{how}"
            );
        }
    }

    #[test]
    fn names_are_sanitised_and_bounded() {
        assert_eq!(object_name("shop", "a1b2", 0), "tributary_shop_a1b2_0");
        let n = object_name("Shop-Orders", "a1b2", 3);
        assert!(n.starts_with("tributary_shop_orders_a1b2_3_"), "{n}");
        let long = object_name(&"x".repeat(100), "a1b2", 0);
        assert_eq!(long.len(), 63);
        assert_ne!(long, object_name(&"x".repeat(101), "a1b2", 0));
        assert!(long
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }

    #[test]
    fn a_slot_name_gives_back_its_incarnation() {
        for (task, shard) in [("shop", 0), ("Shop-Orders", 3), ("shop_1", 12)] {
            let name = object_name(task, "a1b2c3d4", shard);
            assert_eq!(
                incarnation_of(&name, task, shard).as_deref(),
                Some("a1b2c3d4"),
                "{name}"
            );
            assert_eq!(incarnation_of(&name, "shop2", shard), None, "{name}");
            assert_eq!(incarnation_of(&name, task, shard + 1), None, "{name}");
        }
        let other_task = object_name("shop_1", "a1b2c3d4", 0);
        assert_eq!(incarnation_of(&other_task, "shop", 0), None);
        assert_eq!(incarnation_of("tributary_shop__0", "shop", 0), None);
    }
}
