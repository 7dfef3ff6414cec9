//! Tables added to a running task (`ctl task add-tables`, or a task file whose
//! `objects.tables` grew between two runs of `tributary run`): the resume adds them to the
//! shard's publication, then waits until every transaction that was running when the
//! publication changed has ended.
//!
//! Why the wait: pgoutput decides what is published with the catalog as of each change's
//! place in the WAL, so a transaction that committed before the `ALTER PUBLICATION` is never
//! streamed for the new table. Its rows must then be in the table's chunks; a chunk's
//! snapshot sees them only once the transaction is visible, and a commit can be in the WAL
//! while it is still invisible (a synchronous standby not answering yet, DESIGN-NOTES §1.3).
//! Once every transaction running at the change has ended, every later snapshot sees each one
//! that committed before it, and the stream carries each one that commits after it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::catalog::SelectedTable;
use super::error::PgSourceError;
use super::setup::{self, PgSourceOptions, Preflight};
use super::snapshot::quote_ident;
use crate::config::ReplicaIdentityMode;

/// How often the wait looks whether the transactions it waits for have ended.
const POLL: Duration = Duration::from_millis(50);
/// How often the wait says what it waits for.
const SAY_EVERY: Duration = Duration::from_secs(5);

/// Adds the selected tables the shard's publications do not hold yet (`main` for changes of
/// every kind, `insert_only` for the insert-only ones), then waits as the module says: when
/// it added any, or when `adopting` (tables are being added, and a start cut during its wait
/// may have published them already). Returns the tables added (qualified names; empty when
/// there were none).
pub async fn publish_added(
    opts: &PgSourceOptions,
    pre: &Preflight,
    publications: &[String],
    incarnation: &str,
    adopting: bool,
) -> Result<Vec<String>, PgSourceError> {
    let published = published_tables(&pre.catalog, publications).await?;
    let missing: Vec<SelectedTable> = pre
        .tables
        .iter()
        .filter(|t| !published.contains(&(t.schema.schema.clone(), t.schema.name.clone())))
        .cloned()
        .collect();
    if missing.is_empty() {
        if adopting {
            tracing::info!(task = %opts.task, shard = opts.shard, "tables added to the task are published already; waiting for the transactions running now to end");
            wait_running_ended(&pre.catalog, opts).await?;
        }
        return Ok(Vec::new());
    }
    let names: Vec<String> = missing.iter().map(|t| t.schema.qualified_name()).collect();
    check_identities(opts, &missing)?;
    setup::set_identity_full(opts, &pre.catalog, &missing).await?;
    let (_, main, ins) = setup::names(opts, incarnation);
    let schemas = published_schemas(&pre.catalog, &main).await?;
    let (full, insert_only) = setup::publication_objects(opts, &missing, &pre.filters);
    let full = without_published_schemas(full, &missing, &schemas, opts);
    for (name, objects) in [(main, full), (ins, insert_only)] {
        if objects.is_empty() {
            continue;
        }
        if !publications.contains(&name) {
            return Err(no_publication(opts, &name, &names));
        }
        let sql = format!(
            "ALTER PUBLICATION {} ADD {}",
            quote_ident(&name),
            objects.join(", ")
        );
        pre.catalog.batch_execute(&sql).await.map_err(|e| {
            PgSourceError::sql(format!("adding {names:?} to publication {name}"), e)
        })?;
    }
    tracing::info!(task = %opts.task, shard = opts.shard, tables = ?names, "added to the shard's publication; waiting for the transactions running at that moment to end");
    wait_running_ended(&pre.catalog, opts).await?;
    Ok(names)
}

/// `(schema, table)` of every table the publications hold (partition roots, as published).
async fn published_tables(
    catalog: &Client,
    publications: &[String],
) -> Result<HashSet<(String, String)>, PgSourceError> {
    let rows = catalog
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = ANY($1)",
            &[&publications],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the publications' tables", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The schemas `publication` holds whole (`FOR TABLES IN SCHEMA`).
async fn published_schemas(
    catalog: &Client,
    publication: &str,
) -> Result<HashSet<String>, PgSourceError> {
    let rows = catalog
        .query(
            "SELECT n.nspname::text FROM pg_publication_namespace pn \
             JOIN pg_publication p ON p.oid = pn.pnpubid \
             JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE p.pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the publication's schemas", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The `TABLES IN SCHEMA` object names only schemas not published yet (naming one twice is
/// an error).
fn without_published_schemas(
    objects: Vec<String>,
    missing: &[SelectedTable],
    published: &HashSet<String>,
    opts: &PgSourceOptions,
) -> Vec<String> {
    let schemas: Vec<&str> = setup::schema_publications(&opts.selection, missing)
        .into_iter()
        .filter(|s| !published.contains(*s))
        .collect();
    let mut out: Vec<String> = objects
        .into_iter()
        .filter(|o| !o.starts_with("TABLES IN SCHEMA"))
        .collect();
    if !schemas.is_empty() {
        let list: Vec<String> = schemas.iter().map(|s| quote_ident(s)).collect();
        out.insert(0, format!("TABLES IN SCHEMA {}", list.join(", ")));
    }
    out
}

/// Under `objects.replica_identity = "auto"` the first start sets each table's identity; a
/// table added later would be published without one, and the application's own UPDATE and
/// DELETE on it would fail. Refused instead, naming the fix.
fn check_identities(
    opts: &PgSourceOptions,
    missing: &[SelectedTable],
) -> Result<(), PgSourceError> {
    if opts.identity != ReplicaIdentityMode::Auto {
        return Ok(());
    }
    let sel = &opts.selection;
    let bare: Vec<String> = missing
        .iter()
        .filter(|t| {
            let s = &t.schema;
            !crate::precheck::has_usable_identity(s.replica_identity, t.has_primary_key)
                && !sel.wants_replica_identity_full(&s.schema, &s.name)
                && !sel.is_insert_only(&s.schema, &s.name)
        })
        .map(|t| t.schema.qualified_name())
        .collect();
    match bare.first() {
        None => Ok(()),
        Some(table) => Err(PgSourceError::NoKey {
            table: table.clone(),
        }),
    }
}

fn no_publication(opts: &PgSourceOptions, name: &str, tables: &[String]) -> PgSourceError {
    PgSourceError::Protocol {
        context: format!("adding {tables:?} to task {} shard {}", opts.task, opts.shard),
        what: format!(
            "the shard has no publication {name} for them (its first start published no table of that kind): create a new task for these tables"
        ),
    }
}

/// Waits until every transaction running now has ended (the oldest running xid passes the
/// current snapshot's xmax), bounded by `source.slot_create_timeout` as the slot's own
/// creation is.
async fn wait_running_ended(catalog: &Client, opts: &PgSourceOptions) -> Result<(), PgSourceError> {
    let sql_err = |e| {
        PgSourceError::sql(
            "waiting for transactions running at the publication change",
            e,
        )
    };
    let xmax: String = catalog
        .query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", &[])
        .await
        .map_err(sql_err)?
        .get(0);
    let (start, mut said) = (Instant::now(), Instant::now());
    loop {
        let row = catalog
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8, \
                 (SELECT string_agg(pid::text, ', ') FROM pg_stat_activity \
                  WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid())",
                &[&xmax],
            )
            .await
            .map_err(sql_err)?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        let pids: Option<String> = row.get(1);
        if start.elapsed() >= opts.slot_create_timeout {
            return Err(PgSourceError::Protocol {
                context: format!("adding tables to task {} shard {}", opts.task, opts.shard),
                what: format!(
                    "transactions running when the publication changed did not end within source.slot_create_timeout ({:?}; sessions {}): end them, or raise the timeout",
                    opts.slot_create_timeout,
                    pids.as_deref().unwrap_or("unknown (prepared transactions?)")
                ),
            });
        }
        if said.elapsed() >= SAY_EVERY {
            said = Instant::now();
            tracing::info!(task = %opts.task, shard = opts.shard, sessions = ?pids, "still waiting for transactions running at the publication change to end");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every commit that is in the WAL but held invisible by a synchronous standby
/// now (a session waiting on `SyncRep` with an xid) is visible: the stream may have passed
/// such a commit on before it remembered the transactions it passes on, and a chunk's
/// snapshot taken meanwhile would read the rows it changed as they were before it.
pub async fn wait_held_commits(
    catalog: &Client,
    opts: &PgSourceOptions,
) -> Result<(), PgSourceError> {
    const HELD: &str =
        "SELECT coalesce(string_agg(pid::text || ':' || backend_xid::text, ','), '') \
         FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND backend_xid IS NOT NULL";
    let sql_err = |e| PgSourceError::sql("waiting for commits a synchronous standby holds", e);
    let held = |row: tokio_postgres::Row| -> HashSet<String> {
        let list: String = row.get(0);
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let first = held(catalog.query_one(HELD, &[]).await.map_err(sql_err)?);
    let start = Instant::now();
    loop {
        let now = held(catalog.query_one(HELD, &[]).await.map_err(sql_err)?);
        let still: Vec<&String> = first.intersection(&now).collect();
        if still.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= opts.slot_create_timeout {
            return Err(PgSourceError::Protocol {
                context: format!("reading tables again in task {} shard {}", opts.task, opts.shard),
                what: format!(
                    "commits waiting for a synchronous standby (session:xid {still:?}) did not become visible within source.slot_create_timeout ({:?}): check the standby named in synchronous_standby_names, or raise the timeout",
                    opts.slot_create_timeout
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
