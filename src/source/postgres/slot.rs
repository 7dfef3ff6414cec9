//! The task's publication and replication slot: names, creation with an exported snapshot
//! (bounded in time, naming the transactions it waits for), identity checks on resume, and
//! removal.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::conn::ReplicationConn;
use super::error::PgSourceError;
use crate::checkpoint::SlotIdentity;
use crate::position::Lsn;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// `tributary_<task>_<incarnation>_<shard>`, lower-case `[a-z0-9_]`, at most 63 bytes: a longer
/// name keeps its start and ends with 8 hex digits of the full name's SHA-256.
pub fn object_name(task: &str, incarnation: &str, shard: u32) -> String {
    let raw = format!("tributary_{task}_{incarnation}_{shard}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() <= MAX_NAME && clean == raw {
        return clean;
    }
    let hash = hex::encode(&Sha256::digest(raw.as_bytes())[..4]);
    let keep = clean.len().min(MAX_NAME - hash.len() - 1);
    format!("{}_{hash}", &clean[..keep])
}

/// What `CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')` returned.
#[derive(Debug, Clone)]
pub struct CreatedSlot {
    pub consistent_point: Lsn,
    pub snapshot_name: String,
}

/// `IDENTIFY_SYSTEM`'s system id and the database.
pub async fn identify_system(conn: &mut ReplicationConn) -> Result<(String, Lsn), PgSourceError> {
    let rows = conn.simple_query("IDENTIFY_SYSTEM").await?;
    let row = rows.first().ok_or_else(|| PgSourceError::Protocol {
        context: "IDENTIFY_SYSTEM".into(),
        what: "no row".into(),
    })?;
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let xlogpos = field(2).parse().unwrap_or(Lsn::ZERO);
    Ok((field(0), xlogpos))
}

/// Creates a logical slot exporting its snapshot. The snapshot stays valid until the next
/// command on `conn`, so the caller imports it before using `conn` again. Slot creation waits
/// for running transactions to end; past `timeout` it gives up (closing the connection, which
/// removes the half-made slot) and names the transactions it waited for.
pub async fn create_slot(
    conn: &mut ReplicationConn,
    watcher: &Client,
    slot: &str,
    temporary: bool,
    timeout: Duration,
) -> Result<CreatedSlot, PgSourceError> {
    let temp = if temporary { " TEMPORARY" } else { "" };
    let sql =
        format!("CREATE_REPLICATION_SLOT \"{slot}\"{temp} LOGICAL pgoutput (SNAPSHOT 'export')");
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

/// Checks that the checkpoint's slot still exists on the same server and is usable.
pub async fn verify_slot(
    client: &Client,
    identity: &SlotIdentity,
    system_id: &str,
) -> Result<Lsn, PgSourceError> {
    let lost = || PgSourceError::SlotLost {
        slot: identity.slot_name.clone(),
    };
    if identity.system_id != system_id {
        return Err(lost());
    }
    let row = client
        .query_opt(
            "SELECT confirmed_flush_lsn::text, COALESCE(wal_status, '') FROM pg_replication_slots \
             WHERE slot_name = $1 AND slot_type = 'logical'",
            &[&identity.slot_name],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the replication slot", e))?
        .ok_or_else(lost)?;
    let status: String = row.get(1);
    if status == "lost" {
        return Err(lost());
    }
    Ok(row
        .get::<_, Option<String>>(0)
        .and_then(|s| s.parse().ok())
        .unwrap_or(Lsn::ZERO))
}

/// Drops the slot (ending a session still holding it first) and the publications.
pub async fn drop_slot_and_publications(
    client: &Client,
    slot: &str,
    publications: &[String],
) -> Result<(), PgSourceError> {
    let ctx = |what: &str| format!("dropping {what} {slot}");
    client
        .execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL",
            &[&slot],
        )
        .await
        .map_err(|e| PgSourceError::sql(ctx("the slot holder of"), e))?;
    for _ in 0..50 {
        let r = client
            .execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
            .await;
        match r {
            Ok(_) => break,
            // The terminated session may still hold the slot for a moment (55006 object in use).
            Err(e) if e.code().map(|c| c.code()) == Some("55006") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(PgSourceError::sql(ctx("slot"), e)),
        }
    }
    for p in publications {
        client
            .batch_execute(&format!("DROP PUBLICATION IF EXISTS \"{p}\""))
            .await
            .map_err(|e| PgSourceError::sql(ctx("publication"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
