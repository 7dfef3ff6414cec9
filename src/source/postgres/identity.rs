//! `objects.replica_identity = "auto"`: tributary sets the replica identity each published
//! table needs, as DTS does, and gives it back when the task is deleted.
//!
//! - `USING INDEX` for a table without a primary key that has a unique index on NOT NULL
//!   columns (not partial, not on expressions, not deferrable);
//! - FULL for a table without either, and wherever full before images are needed: a DTS format,
//!   a row filter, `objects.replica_identity_full`;
//! - insert-only tables and tables whose identity already serves are left alone.
//!
//! Each `ALTER TABLE` runs under `objects.replica_identity_lock_timeout`; while it waits, a
//! second connection reads `pg_blocking_pids`, so a timeout names who holds the table. Before
//! anything is set, the previous identity of every table tributary needs a non-default
//! identity on is recorded in the checkpoint as a helper object (`ObjectKind::ReplicaIdentity`,
//! the record as JSON in its name), so any worker can restore it. Deletion restores it only
//! while the table still has the identity tributary set, and only when no other task's
//! checkpoint records the table (`crate::task::release`).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio_postgres::Client;

use super::catalog::SelectedTable;
use super::conn::PgConnectConfig;
use super::error::PgSourceError;
use super::snapshot::quote_ident;
pub use crate::checkpoint::IdentityRecord;
use crate::schema::TableSchema;

/// What tributary sets on a table under `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPlan {
    /// The table's identity serves (or the table publishes inserts only).
    Keep,
    Full,
    /// `USING INDEX` this unique index on NOT NULL columns.
    UsingIndex(String),
}

/// What `auto` sets on table `t`, the one function precheck and the source share.
/// `unique_index`: the table's first unique index on NOT NULL columns (`candidate_indexes`);
/// `wants_full`: full before images are needed (`objects.replica_identity_full`, a row filter,
/// a DTS format); `insert_only`: only inserts are published.
pub fn identity_plan(
    t: &SelectedTable,
    unique_index: Option<&str>,
    wants_full: bool,
    insert_only: bool,
) -> IdentityPlan {
    use crate::schema::ReplicaIdentity as Ri;
    let current = t.schema.replica_identity;
    if insert_only || current == Ri::Full {
        return IdentityPlan::Keep;
    }
    if wants_full {
        return IdentityPlan::Full;
    }
    let serves = current == Ri::Index || (current == Ri::Default && t.has_primary_key);
    match (serves, unique_index) {
        (true, _) => IdentityPlan::Keep,
        (false, Some(i)) => IdentityPlan::UsingIndex(i.to_owned()),
        (false, None) => IdentityPlan::Full,
    }
}

/// One table's step under `auto`: what it has and what it gets.
#[derive(Debug, Clone)]
pub struct IdentityStep {
    pub table: std::sync::Arc<TableSchema>,
    pub record: IdentityRecord,
}

/// Each table's first unique index on NOT NULL columns that `USING INDEX` accepts, by OID.
pub async fn candidate_indexes(
    client: &Client,
    oids: &[u32],
) -> Result<HashMap<u32, String>, PgSourceError> {
    let rows = client
        .query(
            "SELECT DISTINCT ON (i.indrelid) i.indrelid, ic.relname::text \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = ANY($1) AND i.indisunique AND i.indimmediate AND i.indisvalid \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT EXISTS (\
               SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid \
               AND a.attnum = ANY(i.indkey) AND NOT a.attnotnull) \
             ORDER BY i.indrelid, i.indisprimary DESC, ic.relname",
            &[&oids],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the selected tables' unique indexes", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The current identity of each table (`default`, `nothing`, `full`, `index:<name>`), by OID.
pub async fn current_identities(
    client: &Client,
    oids: &[u32],
) -> Result<HashMap<u32, String>, PgSourceError> {
    let rows = client
        .query(
            "SELECT c.oid, CASE c.relreplident WHEN 'f' THEN 'full' WHEN 'n' THEN 'nothing' \
             WHEN 'i' THEN 'index:' || COALESCE((SELECT ic.relname::text FROM pg_index i \
               JOIN pg_class ic ON ic.oid = i.indexrelid \
               WHERE i.indrelid = c.oid AND i.indisreplident), '') \
             ELSE 'default' END FROM pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the selected tables' replica identities", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The steps `auto` takes on `tables`: every table that needs an identity other than DEFAULT,
/// whether tributary sets it or finds it set. `wants_full` and `insert_only` per table as for
/// `identity_plan`.
pub async fn plan_steps(
    client: &Client,
    tables: &[SelectedTable],
    wants_full: impl Fn(&TableSchema) -> bool,
    insert_only: impl Fn(&TableSchema) -> bool,
) -> Result<Vec<IdentityStep>, PgSourceError> {
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    let indexes = candidate_indexes(client, &oids).await?;
    let current = current_identities(client, &oids).await?;
    let mut steps = Vec::new();
    for t in tables {
        let s = &t.schema;
        let index = indexes.get(&s.oid).map(String::as_str);
        let previous = current
            .get(&s.oid)
            .cloned()
            .unwrap_or_else(|| "default".into());
        let set = match identity_plan(t, index, wants_full(s), insert_only(s)) {
            IdentityPlan::Keep => previous.clone(),
            IdentityPlan::Full => "full".into(),
            IdentityPlan::UsingIndex(i) => format!("index:{i}"),
        };
        if insert_only(s) || set == "default" {
            continue;
        }
        steps.push(IdentityStep {
            table: s.clone(),
            record: IdentityRecord {
                schema: s.schema.clone(),
                table: s.name.clone(),
                previous,
                set,
            },
        });
    }
    Ok(steps)
}

/// The `REPLICA IDENTITY` clause of an identity as written in records.
fn clause(identity: &str) -> String {
    match identity.strip_prefix("index:") {
        Some(i) => format!("USING INDEX {}", quote_ident(i)),
        None => identity.to_uppercase(),
    }
}

/// Sets the identity of every step that changes one, each under `lock_timeout`; returns
/// whether anything changed.
pub async fn apply(
    conn: &PgConnectConfig,
    client: &Client,
    steps: &[IdentityStep],
    lock_timeout: Duration,
) -> Result<bool, PgSourceError> {
    let mut changed = false;
    for step in steps.iter().filter(|s| s.record.previous != s.record.set) {
        let r = &step.record;
        tracing::info!(table = %step.table.qualified_name(), previous = %r.previous, set = %r.set, "objects.replica_identity = \"auto\": setting the table's replica identity (restored when the task is deleted)");
        alter(conn, client, step.table.oid, r, &r.set, lock_timeout).await?;
        changed = true;
    }
    Ok(changed)
}

/// `ALTER TABLE ... REPLICA IDENTITY <to>` under `lock_timeout`, naming who blocks it when it
/// expires.
async fn alter(
    conn: &PgConnectConfig,
    client: &Client,
    oid: u32,
    r: &IdentityRecord,
    to: &str,
    lock_timeout: Duration,
) -> Result<(), PgSourceError> {
    let table = r.qualified_name();
    let ctx = || format!("setting REPLICA IDENTITY {} on table {table}", clause(to));
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?
        .get(0);
    let watcher = conn.connect_sql("replica identity").await?;
    let sql = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; ALTER TABLE {}.{} REPLICA IDENTITY {}; COMMIT",
        lock_timeout.as_millis().max(1),
        quote_ident(&r.schema),
        quote_ident(&r.table),
        clause(to)
    );
    let mut blockers = BTreeSet::new();
    let result = {
        let run = client.batch_execute(&sql);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    blockers.extend(blocking_pids(&watcher, pid).await);
                }
            }
        }
    };
    let Err(e) = result else { return Ok(()) };
    let _ = client.batch_execute("ROLLBACK").await;
    if e.code().map(|c| c.code()) != Some("55P03") {
        return Err(PgSourceError::sql(ctx(), e));
    }
    if blockers.is_empty() {
        blockers.extend(lock_holders(&watcher, oid, pid).await);
    }
    let blockers: Vec<String> = blockers.iter().map(i32::to_string).collect();
    Err(PgSourceError::IdentityLockTimeout {
        table,
        identity: clause(to),
        timeout: humantime::format_duration(lock_timeout).to_string(),
        blockers: if blockers.is_empty() {
            "unknown (they ended)".into()
        } else {
            blockers.join(", ")
        },
    })
}

async fn blocking_pids(watcher: &Client, pid: i32) -> Vec<i32> {
    watcher
        .query("SELECT unnest(pg_blocking_pids($1))", &[&pid])
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default()
}

async fn lock_holders(watcher: &Client, oid: u32, pid: i32) -> Vec<i32> {
    watcher
        .query(
            "SELECT DISTINCT pid FROM pg_locks WHERE relation = $1 AND granted AND pid <> $2",
            &[&oid, &pid],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default()
}

/// Gives a table back its previous identity, if it still has the one tributary set; returns
/// whether it did.
pub async fn restore(
    conn: &PgConnectConfig,
    client: &Client,
    r: &IdentityRecord,
    lock_timeout: Duration,
) -> Result<bool, PgSourceError> {
    if r.previous == r.set {
        return Ok(false);
    }
    let row = client
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&r.schema, &r.table],
        )
        .await
        .map_err(|e| PgSourceError::sql(format!("finding table {}", r.qualified_name()), e))?;
    let Some(oid) = row.map(|row| row.get::<_, u32>(0)) else {
        return Ok(false);
    };
    let now = current_identities(client, &[oid]).await?;
    if now.get(&oid) != Some(&r.set) {
        tracing::info!(table = %r.qualified_name(), set = %r.set, now = ?now.get(&oid), "replica identity is not the one tributary set (changed since, or never set): left as it is");
        return Ok(false);
    }
    match alter(conn, client, oid, r, &r.previous, lock_timeout).await {
        Ok(()) => Ok(true),
        // The previous identity's index is gone: nothing to restore it to.
        Err(PgSourceError::Server { server, .. }) if server.code == "42704" => {
            tracing::warn!(table = %r.qualified_name(), previous = %r.previous, error = %server, "cannot restore the previous replica identity: left as it is");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::ReplicaIdentity as Ri;

    fn table(identity: Ri, has_primary_key: bool) -> SelectedTable {
        SelectedTable {
            schema: Arc::new(TableSchema {
                oid: 1,
                schema: "public".into(),
                name: "t".into(),
                columns: Vec::new(),
                replica_identity: identity,
            }),
            estimated_rows: 0,
            has_primary_key,
            inheritance_children: Vec::new(),
        }
    }

    #[test]
    fn auto_sets_using_index_or_full_only_where_the_identity_does_not_serve() {
        let idx = Some("t_code_key");
        let using = IdentityPlan::UsingIndex("t_code_key".into());
        // (identity, primary key, unique index, wants full, insert only) → plan
        let cases = [
            (Ri::Default, true, None, false, false, IdentityPlan::Keep),
            (Ri::Default, false, idx, false, false, using.clone()),
            (Ri::Default, false, None, false, false, IdentityPlan::Full),
            (Ri::Nothing, false, idx, false, false, using),
            (Ri::Nothing, true, None, false, false, IdentityPlan::Full),
            (Ri::Index, false, idx, false, false, IdentityPlan::Keep),
            (Ri::Default, true, idx, true, false, IdentityPlan::Full),
            (Ri::Index, false, idx, true, false, IdentityPlan::Full),
            (Ri::Full, false, None, true, false, IdentityPlan::Keep),
            (Ri::Default, false, None, true, true, IdentityPlan::Keep),
        ];
        for (identity, pk, index, full, insert_only, want) in cases {
            let got = identity_plan(&table(identity, pk), index, full, insert_only);
            assert_eq!(
                got, want,
                "{identity:?} pk={pk} index={index:?} full={full}"
            );
        }
    }

    #[test]
    fn records_name_the_identity_as_an_alter_table_clause() {
        assert_eq!(clause("full"), "FULL");
        assert_eq!(clause("default"), "DEFAULT");
        assert_eq!(clause("index:Odd \"x\""), "USING INDEX \"Odd \"\"x\"\"\"");
        let r = IdentityRecord {
            schema: "public".into(),
            table: "t".into(),
            previous: "default".into(),
            set: "index:t_code_key".into(),
        };
        assert_eq!(IdentityRecord::of(&r.object()), Some(r));
    }
}
