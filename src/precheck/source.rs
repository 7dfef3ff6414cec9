//! The source's items that concern the server rather than the selected tables: connection,
//! `wal_level`, the replication privilege, free slots and WAL senders, the settings that can
//! invalidate a slot, long transactions, standbys and the task's names.

use std::time::Duration;

use tokio_postgres::Client;

use super::{names, tables, Context, Item, NOT_NEEDED};
use crate::config::TaskSpec;
use crate::source::postgres::catalog;
use crate::source::postgres::conn::PgConnectConfig;
use crate::source::postgres::error::PgSourceError;
use crate::source::postgres::slot::{self, StandbySync};
use crate::source::postgres::PgSource;

/// What the broker's items need from the source: the selected tables and their size.
pub struct SourceFacts {
    pub tables: Vec<std::sync::Arc<crate::schema::TableSchema>>,
    pub bytes: Option<u64>,
}

/// The server's settings and counts the items read, in one query.
struct Server {
    version_num: i32,
    version: String,
    superuser: bool,
    max_slots: i32,
    used_slots: i32,
    max_senders: i32,
    used_senders: i32,
    keep_size: Option<String>,
    idle_timeout: Option<String>,
    in_recovery: bool,
}

const SERVER_QUERY: &str = "SELECT current_setting('server_version_num')::int, \
     current_setting('server_version'), \
     (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
     current_setting('max_replication_slots')::int, \
     (SELECT count(*) FROM pg_replication_slots)::int, \
     current_setting('max_wal_senders')::int, \
     (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int, \
     current_setting('max_slot_wal_keep_size', true), \
     current_setting('idle_replication_slot_timeout', true), \
     pg_is_in_recovery()";

async fn server(client: &Client) -> Result<Server, PgSourceError> {
    let r = client
        .query_one(SERVER_QUERY, &[])
        .await
        .map_err(|e| PgSourceError::sql("reading the server's settings", e))?;
    Ok(Server {
        version_num: r.get(0),
        version: r.get(1),
        superuser: r.get::<_, Option<bool>>(2).unwrap_or(false),
        max_slots: r.get(3),
        used_slots: r.get(4),
        max_senders: r.get(5),
        used_senders: r.get(6),
        keep_size: r.get(7),
        idle_timeout: r.get(8),
        in_recovery: r.get(9),
    })
}

/// Runs the source's items; the tables and their size when they could be read.
pub async fn check(spec: &TaskSpec, ctx: &Context, out: &mut Vec<Item>) -> Option<SourceFacts> {
    let source = match PgSource::from_spec(spec, 0) {
        Ok(s) => s,
        Err(e) => {
            out.push(Item::fail(
                "source_connect",
                e.to_string(),
                "fix the task file's [source]",
            ));
            return None;
        }
    };
    let opts = source.options();
    let client = match opts.conn.connect_sql("precheck").await {
        Ok(c) => c,
        Err(e) => {
            out.push(Item::fail(
                "source_connect",
                format!("{e}; the other source items were not checked"),
                "fix the connection, then run the precheck again",
            ));
            return None;
        }
    };
    let srv = match server(&client).await {
        Ok(s) => s,
        Err(e) => {
            out.push(Item::fail(
                "source_connect",
                e.to_string(),
                "check the server and the task's user",
            ));
            return None;
        }
    };
    out.push(Item::pass(
        "source_connect",
        format!(
            "connected to {} as {}: PostgreSQL {}",
            opts.conn.target(),
            opts.conn.user(),
            srv.version
        ),
    ));
    names::check(&client, &spec.name, &ctx.owned, out).await;
    let full = spec.has_phase(crate::config::Phase::Full);
    let facts = tables::check(
        &client,
        opts,
        ctx,
        srv.superuser,
        srv.version_num,
        full,
        out,
    )
    .await;
    if ctx.catalog_only {
        // No slot, publication or WAL sender: the server's replication side does not matter.
        for name in REPLICATION_ITEMS {
            out.push(Item::pass(name, NOT_NEEDED));
        }
        return facts;
    }
    out.push(wal_level(&client).await);
    out.push(replication_privilege(&client, &opts.conn.user()).await);
    out.push(keep_size(srv.keep_size.as_deref(), srv.version_num));
    out.push(idle_timeout(srv.idle_timeout.as_deref(), &srv.version));
    out.push(long_transactions(&client, spec.precheck.long_transaction).await);
    out.push(standbys(&client, &opts.conn, srv.in_recovery, srv.version_num).await);
    let needed = facts.as_ref().map_or(1, |f| shards(spec, &f.tables));
    out.push(free(
        "replication_slots",
        "replication slots",
        "max_replication_slots",
        srv.max_slots,
        srv.used_slots,
        needed,
        "drop unused slots (SELECT slot_name, active FROM pg_replication_slots) or raise max_replication_slots (needs a restart)",
    ));
    out.push(free(
        "wal_senders",
        "WAL senders",
        "max_wal_senders",
        srv.max_senders,
        srv.used_senders,
        needed,
        "end unused replication connections or raise max_wal_senders (needs a restart)",
    ));
    facts
}

/// The items about the server's replication side, which a schema-only task does not need.
const REPLICATION_ITEMS: [&str; 8] = [
    "wal_level",
    "privilege_replication",
    "max_slot_wal_keep_size",
    "idle_replication_slot_timeout",
    "long_transactions",
    "standbys",
    "replication_slots",
    "wal_senders",
];

/// How many slots the task holds: one per shard.
fn shards(spec: &TaskSpec, tables: &[std::sync::Arc<crate::schema::TableSchema>]) -> i32 {
    use crate::config::Sharding;
    let n = match spec.sharding {
        Sharding::None => 1,
        Sharding::Table => tables.len(),
        Sharding::Schema => {
            let mut s: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
            s.sort();
            s.dedup();
            s.len()
        }
    };
    i32::try_from(n.max(1)).unwrap_or(i32::MAX)
}

async fn wal_level(client: &Client) -> Item {
    match catalog::check_wal_level(client).await {
        Ok(()) => Item::pass("wal_level", "wal_level=logical"),
        Err(PgSourceError::WalLevel { found }) => Item::fail(
            "wal_level",
            format!("PostgreSQL has wal_level={found}"),
            "logical replication needs wal_level=logical: set it in postgresql.conf or with ALTER SYSTEM SET wal_level = logical, then restart the server",
        ),
        Err(e) => Item::fail("wal_level", e.to_string(), "check the server"),
    }
}

async fn replication_privilege(client: &Client, user: &str) -> Item {
    match catalog::check_replication_privilege(client, user).await {
        Ok(()) => Item::pass(
            "privilege_replication",
            format!("user {user:?} is a superuser or has REPLICATION"),
        ),
        Err(PgSourceError::NoReplicationPrivilege { .. }) => Item::fail(
            "privilege_replication",
            format!("user {user:?} has neither REPLICATION nor superuser, so it cannot create or stream from the replication slot"),
            format!("grant it with ALTER ROLE {user} WITH REPLICATION (or use a superuser)"),
        ),
        Err(e) => Item::fail("privilege_replication", e.to_string(), "check the server"),
    }
}

/// `max_slot_wal_keep_size` (PostgreSQL 13+): a limit invalidates a slot that retains more.
pub fn keep_size(value: Option<&str>, version_num: i32) -> Item {
    const N: &str = "max_slot_wal_keep_size";
    match value {
        None => Item::pass(N, format!("not on this server (version {version_num}): slots retain WAL without limit")),
        Some("-1") => Item::pass(N, "max_slot_wal_keep_size = -1: the slot is never invalidated for the WAL it retains (watch the disk instead: wal_disk)"),
        Some(v) => Item::warn(
            N,
            format!("max_slot_wal_keep_size = {v}: a slot that retains more WAL than {v} (a long snapshot, a stopped or slow task) is invalidated, and the task must then start again with a new snapshot"),
            format!("keep the task's backlog well under {v}, set max_slot_wal_keep_size = -1, or accept the warning"),
        ),
    }
}

/// `idle_replication_slot_timeout` (PostgreSQL 18+): a slot unused that long is invalidated.
pub fn idle_timeout(value: Option<&str>, version: &str) -> Item {
    const N: &str = "idle_replication_slot_timeout";
    match value {
        None => Item::pass(N, format!("not on this server (PostgreSQL {version}; PostgreSQL 18 adds it)")),
        Some("0") => Item::pass(N, "idle_replication_slot_timeout = 0: an idle slot is never invalidated"),
        Some(v) => Item::warn(
            N,
            format!("idle_replication_slot_timeout = {v}: a slot nobody streams from for {v} (the task paused, failed or its workers down) is invalidated, and the task must then start again with a new snapshot"),
            format!("resume stopped tasks within {v}, set idle_replication_slot_timeout = 0, or accept the warning"),
        ),
    }
}

/// `used` of `max` taken; the task needs `needed` more.
fn free(
    name: &str,
    what: &str,
    setting: &str,
    max: i32,
    used: i32,
    needed: i32,
    fix: &str,
) -> Item {
    let free = (max - used).max(0);
    let found = format!("{used} of {max} {what} are in use ({setting}); the task needs {needed}");
    if free >= needed {
        Item::pass(name, format!("{found}, {free} are free"))
    } else {
        Item::fail(name, format!("{found}, only {free} are free"), fix)
    }
}

/// Transactions with a transaction id open longer than `limit`, in any database: creating the
/// slot waits for every one of them to end, and meanwhile WAL accumulates.
async fn long_transactions(client: &Client, limit: Duration) -> Item {
    const N: &str = "long_transactions";
    let rows = client
        .query(
            "SELECT pid, coalesce(datname::text, ''), coalesce(usename::text, ''), \
             extract(epoch FROM now() - xact_start)::float8 FROM pg_stat_activity \
             WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
             AND xact_start < now() - make_interval(secs => $1::float8) ORDER BY xact_start",
            &[&limit.as_secs_f64()],
        )
        .await;
    let limit = humantime::format_duration(limit);
    match rows {
        Err(e) => Item::fail(
            N,
            format!("cannot read pg_stat_activity: {e}"),
            "check the server",
        ),
        Ok(rows) if rows.is_empty() => Item::pass(
            N,
            format!("no transaction has been open longer than {limit} (precheck.long_transaction)"),
        ),
        Ok(rows) => {
            let list: Vec<String> = rows
                .iter()
                .map(|r| {
                    let secs = Duration::from_secs(r.get::<_, f64>(3) as u64);
                    format!(
                        "PID {} (database {}, user {}, open {})",
                        r.get::<_, i32>(0),
                        r.get::<_, String>(1),
                        r.get::<_, String>(2),
                        humantime::format_duration(secs)
                    )
                })
                .collect();
            Item::warn(
                N,
                format!("{} transaction(s) open longer than {limit}: {}", list.len(), list.join(", ")),
                "creating the replication slot waits for them to end, and they make WAL accumulate: commit them or end them (SELECT pg_terminate_backend(<pid>)) before the start, or accept the warning",
            )
        }
    }
}

/// A primary's physical standbys (walsenders connected to no database; logical ones are
/// connected to theirs), and whether a failover to one keeps the task's slot: before
/// PostgreSQL 17 it cannot; from 17 the slot is created with FAILOVER, and the primary must
/// hold logical changes back until the standbys' slots confirmed them
/// (`synchronized_standby_slots`), or a lagging standby promoted would lack changes the task
/// already delivered.
async fn standbys(
    client: &Client,
    conn: &PgConnectConfig,
    in_recovery: bool,
    version_num: i32,
) -> Item {
    const N: &str = "standbys";
    if in_recovery && version_num < 160000 {
        return Item::fail(N, "the source is a standby (in recovery): logical decoding on a standby needs PostgreSQL 16", "point source.url at the primary");
    }
    let rows = client
        .query(
            "SELECT coalesce(nullif(r.application_name, ''), r.client_addr::text, r.pid::text)::text \
             FROM pg_stat_replication r JOIN pg_stat_activity a ON a.pid = r.pid \
             WHERE a.datname IS NULL ORDER BY 1",
            &[],
        )
        .await;
    let names: Vec<String> = match rows {
        Err(e) => {
            return Item::fail(
                N,
                format!("cannot read pg_stat_replication: {e}"),
                "check the server",
            )
        }
        Ok(rows) if rows.is_empty() => {
            return Item::pass(N, "no physical standby streams from the server")
        }
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
    };
    let streams = format!(
        "the server streams WAL to {} standby(s) ({})",
        names.len(),
        names.join(", ")
    );
    if version_num < 170000 {
        return Item::warn(
            N,
            format!("{streams}: PostgreSQL {} has no failover slots, so a failover to a standby loses the task's replication slot, and the task then fails with that reason (or, with source.on_slot_loss = \"resnapshot\", starts again with a new snapshot)", version_num / 10000),
            "upgrade to PostgreSQL 17 (failover slots), set source.on_slot_loss = \"resnapshot\", or accept the warning",
        );
    }
    let standbys = slot::standby_sync(conn).await;
    synchronized_standbys(client, &streams, &standbys).await
}

/// PostgreSQL 17+: the standbys' physical slots the primary waits for before sending logical
/// changes (`synchronized_standby_slots`), against the active physical slots.
async fn synchronized_standbys(
    client: &Client,
    streams: &str,
    standbys: &[Result<StandbySync, String>],
) -> Item {
    const N: &str = "standbys";
    let setting = client
        .query_one("SELECT current_setting('synchronized_standby_slots')", &[])
        .await
        .map(|r| r.get::<_, String>(0));
    let physical = client
        .query(
            "SELECT slot_name::text FROM pg_replication_slots \
             WHERE slot_type = 'physical' AND active ORDER BY 1",
            &[],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        });
    let (setting, physical) = match (setting, physical) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => {
            return Item::fail(
                N,
                format!("cannot read the failover settings: {e}"),
                "check the server",
            )
        }
    };
    let listed: Vec<&str> = setting
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let standby_fix = "on each standby: sync_replication_slots = on, hot_standby_feedback = on, primary_slot_name = '<its physical slot>', and dbname=<the database> in primary_conninfo";
    if listed.is_empty() {
        let slots = if physical.is_empty() {
            "<the standbys' physical slots>".to_owned()
        } else {
            physical.join(",")
        };
        return Item::warn(
            N,
            format!("{streams}; the task's slot is created with FAILOVER, but synchronized_standby_slots is empty: a standby that lags behind the task can be promoted without changes the task already delivered, and a standby without sync_replication_slots has no copy of the slot"),
            format!("on the primary: ALTER SYSTEM SET synchronized_standby_slots = '{slots}'; SELECT pg_reload_conf(); {standby_fix}; or accept the warning"),
        );
    }
    let waits = format!(
        "the task's slot is created with FAILOVER and the primary waits for {} (synchronized_standby_slots) before sending changes",
        listed.join(", ")
    );
    let mut lacking = Vec::new();
    for s in standbys {
        match s {
            Ok(s) if !s.missing().is_empty() => {
                lacking.push(format!("{} lacks {}", s.target, s.missing().join(", ")));
            }
            Ok(_) => {}
            Err(e) => lacking.push(format!("cannot ask the standby {e}")),
        }
    }
    if !lacking.is_empty() {
        return Item::warn(
            N,
            format!(
                "{streams}; {waits}, but a standby does not keep copies of failover slots: {}",
                lacking.join("; ")
            ),
            format!("{standby_fix}; or accept the warning"),
        );
    }
    if standbys.is_empty() {
        return Item::pass(
            N,
            format!("{streams}; {waits}; the standbys' own settings are not checked (list them in source.url, postgres://u@primary,standby/db, to have them checked): {standby_fix}"),
        );
    }
    Item::pass(
        N,
        format!("{streams}; {waits}; the {} standby(s) source.url lists keep copies of failover slots (sync_replication_slots, hot_standby_feedback, primary_slot_name)", standbys.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precheck::Status;

    #[test]
    fn a_wal_keep_limit_warns_with_its_figure() {
        assert_eq!(keep_size(Some("-1"), 150000).status, Status::Pass);
        assert_eq!(keep_size(None, 120000).status, Status::Pass);
        let w = keep_size(Some("10GB"), 150000);
        assert_eq!(w.status, Status::Warn);
        assert!(
            w.found.contains("10GB") && w.found.contains("invalidated"),
            "{}",
            w.found
        );
    }

    #[test]
    fn an_idle_slot_timeout_warns_with_its_figure() {
        assert_eq!(idle_timeout(None, "15.18").status, Status::Pass);
        assert_eq!(idle_timeout(Some("0"), "18.4").status, Status::Pass);
        let w = idle_timeout(Some("1d"), "18.4");
        assert_eq!(w.status, Status::Warn);
        assert!(w.found.contains("1d"), "{}", w.found);
    }

    #[test]
    fn slots_fail_when_fewer_are_free_than_the_task_needs() {
        let ok = free(
            "replication_slots",
            "slots",
            "max_replication_slots",
            10,
            9,
            1,
            "fix",
        );
        assert_eq!(ok.status, Status::Pass);
        let no = free(
            "replication_slots",
            "slots",
            "max_replication_slots",
            10,
            9,
            2,
            "fix",
        );
        assert_eq!(no.status, Status::Fail);
        assert!(no.found.contains("9 of 10"), "{}", no.found);
    }
}
