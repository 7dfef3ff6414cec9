//! The source's items about the selected tables: the selection itself, partitions, the
//! privileges the task needs on them, their replica identities, their number and size.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::identity::{judge_identity, IdentityFacts};
use super::source::SourceFacts;
use super::{wal_disk, Context, Item, NOT_NEEDED};
use crate::filter::{Publishing, TableFilter};
use crate::schema::ReplicaIdentity;
use crate::source::postgres::catalog::{self, SelectedTable, TypeCache};
use crate::source::postgres::setup::{self, PgSourceOptions};

/// More tables than this in one task is a warning: every start reads each one's catalog, and
/// PostgreSQL decodes the WAL of all of them through one slot.
pub const MANY_TABLES: usize = 1000;

/// The table items; the tables when the selection could be read. `full`: the task has a full
/// phase (its snapshot holds WAL back, see `wal_disk`).
pub async fn check(
    client: &Client,
    opts: &PgSourceOptions,
    ctx: &Context,
    superuser: bool,
    version_num: i32,
    full: bool,
    out: &mut Vec<Item>,
) -> Option<SourceFacts> {
    out.push(partitions(client, opts).await);
    let mut types = TypeCache::new();
    let tables = match catalog::selected_tables(client, &opts.selection, &mut types).await {
        Ok(t) => t,
        Err(e) => {
            out.push(Item::fail(
                "selection",
                format!("{e}; the table items were not checked"),
                "fix objects.tables",
            ));
            return None;
        }
    };
    out.push(selection(opts, ctx, &tables));
    out.push(table_count(tables.len(), PG_MANY_TABLES));
    let size = source_size(client, &tables).await;
    if ctx.catalog_only {
        // Nothing is read but the catalog, nothing published, no identity set, no WAL kept.
        for name in [
            "privilege_select",
            "privilege_superuser_features",
            "privilege_ownership",
            "replica_identity",
            "wal_disk",
        ] {
            out.push(Item::pass(name, NOT_NEEDED));
        }
    } else {
        out.push(select_privilege(client, opts, &tables).await);
        out.push(superuser_features(opts, ctx, superuser, version_num));
        let facts = identity_facts(client, opts, &tables).await;
        out.push(ownership(client, opts, &tables, &facts, ctx, superuser).await);
        out.push(identities(&facts, ctx.replica_identity_auto));
        out.push(wal_disk::check(client, size, full, version_num).await);
    }
    Some(SourceFacts {
        tables: tables.iter().map(|t| t.schema.clone()).collect(),
        bytes: size,
    })
}

/// Every column decodable and every row filter valid (what the preflight refuses; a
/// schema-only task applies no row filter).
fn selection(opts: &PgSourceOptions, ctx: &Context, tables: &[SelectedTable]) -> Item {
    const N: &str = "selection";
    for t in tables {
        if let Err(e) = crate::value::check_table_decodable(&t.schema) {
            return Item::fail(N, e.to_string(), "exclude the table or the column");
        }
    }
    if !ctx.catalog_only {
        if let Err(e) = setup::table_filters(opts, tables) {
            return Item::fail(N, e.to_string(), "fix objects.table.<table>.filter");
        }
    }
    let names: Vec<String> = tables
        .iter()
        .take(5)
        .map(|t| t.schema.qualified_name())
        .collect();
    let more = tables.len().saturating_sub(names.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Item::pass(
        N,
        format!(
            "{} table(s) selected: {}{more}",
            tables.len(),
            names.join(", ")
        ),
    )
}

/// Partitions are read and published through their root: a partition selected without its
/// root would match no table (and its siblings would be missing).
async fn partitions(client: &Client, opts: &PgSourceOptions) -> Item {
    const N: &str = "partitioned_tables";
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, rn.nspname::text, r.relname::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class r ON r.oid = pg_partition_root(c.oid) \
             JOIN pg_namespace rn ON rn.oid = r.relnamespace \
             WHERE c.relispartition ORDER BY 1, 2",
            &[],
        )
        .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            return Item::fail(
                N,
                format!("cannot read the partitions: {e}"),
                "check the server",
            )
        }
    };
    let sel = &opts.selection;
    let (mut alone, mut through_root) = (Vec::new(), Vec::new());
    for r in &rows {
        let (ps, pn, rs, rn): (String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let root = format!("{rs}.{rn}");
        if sel.includes(&rs, &rn) {
            through_root.push(root);
        } else if sel.includes(&ps, &pn) {
            alone.push(format!("{ps}.{pn} (of {root})"));
        }
    }
    if !alone.is_empty() {
        return Item::fail(
            N,
            format!("partition(s) selected without their partitioned table: {}", alone.join(", ")),
            "select the partitioned (root) table instead: tributary reads it with all its partitions and publishes every change as the root's (publish_via_partition_root)",
        );
    }
    through_root.sort();
    let partitions = through_root.len();
    through_root.dedup();
    if through_root.is_empty() {
        Item::pass(N, "no partitioned table selected")
    } else {
        Item::pass(N, format!("{} partitioned table(s) selected through their root ({}), with all {partitions} partition(s)", through_root.len(), through_root.join(", ")))
    }
}

async fn select_privilege(
    client: &Client,
    opts: &PgSourceOptions,
    tables: &[SelectedTable],
) -> Item {
    let user = opts.conn.user();
    match crate::source::postgres::resolve::check_readable(client, &user, tables).await {
        Ok(()) => Item::pass(
            "privilege_select",
            format!("user {user:?} may read every selected table"),
        ),
        Err(e) => Item::fail(
            "privilege_select",
            e.to_string(),
            format!("GRANT SELECT ON <table> TO {user}"),
        ),
    }
}

/// What needs a superuser: `FOR TABLES IN SCHEMA` publications (PostgreSQL 15+) and event
/// triggers (DDL capture).
fn superuser_features(
    opts: &PgSourceOptions,
    ctx: &Context,
    superuser: bool,
    version_num: i32,
) -> Item {
    const N: &str = "privilege_superuser_features";
    let schemas: Vec<&str> = opts
        .selection
        .include
        .iter()
        .filter_map(|s| s.whole_schema())
        .collect();
    if superuser {
        return Item::pass(
            N,
            "superuser: schema-level publications and event triggers are available",
        );
    }
    if !schemas.is_empty() {
        let why = if version_num < 150000 {
            format!("this server (version {version_num}) has no FOR TABLES IN SCHEMA (PostgreSQL 15 adds it)")
        } else {
            "PostgreSQL needs a superuser to create it".into()
        };
        return Item::fail(
            N,
            format!("objects.tables selects whole schemas ({}), which tributary publishes FOR TABLES IN SCHEMA, and {why}: without it the publication cannot be created, and the feature lost is the capture of tables created later in those schemas", schemas.join(", ")),
            "run the task as a superuser, or list the schemas' tables one by one (schema.table; tables created later are then not captured)",
        );
    }
    if ctx.ddl_capture {
        return Item::warn(N, "DDL capture is asked for, but event triggers need a superuser: the features lost are DDL capture (DDL is not migrated) and the joining of tables created later that a glob selects (they are not captured)", "run the task as a superuser, or accept this warning to run without them (precheck.accept_warnings)");
    }
    Item::pass(
        N,
        "not needed: no schema-level selection and no DDL capture",
    )
}

/// Each table's identity facts: a unique NOT NULL index, and whether its row filter needs
/// full before images.
async fn identity_facts(
    client: &Client,
    opts: &PgSourceOptions,
    tables: &[SelectedTable],
) -> Vec<IdentityFacts> {
    let unique = unique_indexes(client, tables).await;
    tables
        .iter()
        .map(|t| {
            let s = &t.schema;
            let how = Publishing::of(&opts.selection, &s.schema, &s.name);
            let filter_needs_full = opts
                .filters
                .get(&(s.schema.clone(), s.name.clone()))
                .and_then(|text| {
                    let full = Publishing {
                        sets_full: true,
                        ..how
                    };
                    match TableFilter::new(text, s, how) {
                        Err(reason) if TableFilter::new(text, s, full).is_ok() => Some(reason),
                        _ => None,
                    }
                });
            IdentityFacts {
                table: s.qualified_name(),
                identity: s.replica_identity,
                has_primary_key: t.has_primary_key,
                unique_index: unique.get(&s.oid).cloned(),
                insert_only: how.insert_only,
                sets_full: how.sets_full,
                filter_needs_full,
            }
        })
        .collect()
}

/// A unique, non-partial index over NOT NULL columns only, by table OID.
async fn unique_indexes(client: &Client, tables: &[SelectedTable]) -> HashMap<u32, String> {
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    let rows = client
        .query(
            "SELECT i.indrelid, min(i.indexrelid::regclass::text) FROM pg_index i \
             WHERE i.indrelid = ANY($1) AND i.indisunique AND NOT i.indisprimary \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indimmediate \
             AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid \
                             AND a.attnum = ANY(i.indkey) AND NOT a.attnotnull) \
             GROUP BY i.indrelid",
            &[&oids],
        )
        .await
        .unwrap_or_default();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn identities(facts: &[IdentityFacts], auto: bool) -> Item {
    const N: &str = "replica_identity";
    let (mut bad, mut notes) = (Vec::new(), Vec::new());
    for f in facts {
        match judge_identity(f, auto) {
            Ok(Some(note)) => notes.push(note),
            Ok(None) => {}
            Err(problem) => bad.push(problem),
        }
    }
    if bad.is_empty() {
        let mut found = format!("every table that publishes UPDATE and DELETE has a usable replica identity ({} table(s))", facts.len());
        if !notes.is_empty() {
            found.push_str(&format!("; {}", notes.join("; ")));
        }
        return Item::pass(N, found);
    }
    let found: Vec<String> = bad.iter().map(|(f, _)| f.clone()).collect();
    let fixes: Vec<String> = bad
        .iter()
        .map(|(_, x)| x.clone())
        .filter(|x| !x.is_empty())
        .collect();
    Item::fail(N, found.join("; "), fixes.join("; "))
}

/// Ownership: `CREATE PUBLICATION ... FOR TABLE` and `ALTER TABLE ... REPLICA IDENTITY` need
/// the table's owner (or a member of its role); creating a publication needs CREATE on the
/// database.
async fn ownership(
    client: &Client,
    opts: &PgSourceOptions,
    tables: &[SelectedTable],
    facts: &[IdentityFacts],
    ctx: &Context,
    superuser: bool,
) -> Item {
    const N: &str = "privilege_ownership";
    let user = opts.conn.user();
    if superuser {
        return Item::pass(N, format!("user {user:?} is a superuser"));
    }
    let owned: HashMap<u32, bool> = client
        .query(
            "SELECT c.oid, pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = ANY($1)",
            &[&tables.iter().map(|t| t.schema.oid).collect::<Vec<u32>>()],
        )
        .await
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .unwrap_or_default();
    let whole = setup::schema_publications(&opts.selection, tables);
    let mut problems = Vec::new();
    let not_owned = |t: &SelectedTable| !owned.get(&t.schema.oid).copied().unwrap_or(false);
    let listed: Vec<String> = tables
        .iter()
        .filter(|t| {
            opts.selection
                .is_insert_only(&t.schema.schema, &t.schema.name)
                || !whole.contains(&t.schema.schema.as_str())
        })
        .filter(|t| not_owned(t))
        .map(|t| t.schema.qualified_name())
        .collect();
    if !listed.is_empty() {
        problems.push(format!("user {user:?} does not own {}, which the publication lists FOR TABLE (that needs the owner)", listed.join(", ")));
    }
    let altered: Vec<String> = tables
        .iter()
        .zip(facts)
        .filter(|(t, f)| not_owned(t) && changes_identity(f, ctx.replica_identity_auto))
        .map(|(t, _)| t.schema.qualified_name())
        .collect();
    if !altered.is_empty() {
        problems.push(format!("user {user:?} does not own {}, whose replica identity tributary sets (ALTER TABLE needs the owner)", altered.join(", ")));
    }
    let create = client
        .query_one(
            "SELECT has_database_privilege(current_database(), 'CREATE')",
            &[],
        )
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    if !create {
        problems.push(format!(
            "user {user:?} lacks CREATE on the database, which CREATE PUBLICATION needs"
        ));
    }
    if problems.is_empty() {
        return Item::pass(N, format!("user {user:?} owns every table it publishes FOR TABLE or whose replica identity it sets, and may create publications"));
    }
    Item::fail(N, problems.join("; "), format!("make {user} the owner (ALTER TABLE <table> OWNER TO {user}, or GRANT <owner role> TO {user}), GRANT CREATE ON DATABASE <db> TO {user}, or use a superuser"))
}

/// Whether tributary will change this table's replica identity.
fn changes_identity(f: &IdentityFacts, auto: bool) -> bool {
    (f.sets_full && f.identity != ReplicaIdentity::Full)
        || (auto && matches!(judge_identity(f, true), Ok(Some(_))))
}

/// Why many tables weigh on a PostgreSQL task.
const PG_MANY_TABLES: &str =
    "every start reads each one's catalog, and the first start's snapshot and publication cover them all";

/// `table_count`: `n` tables selected; `why` says what more than `MANY_TABLES` costs.
pub(super) fn table_count(n: usize, why: &str) -> Item {
    const N: &str = "table_count";
    if n > MANY_TABLES {
        Item::warn(N, format!("{n} tables selected, more than {MANY_TABLES}: {why}"), "split the task (sharding = \"schema\" or \"table\", or several tasks), or accept the warning")
    } else {
        Item::pass(
            N,
            format!("{n} table(s) selected (up to {MANY_TABLES} pass)"),
        )
    }
}

/// The selected tables' size on disk (indexes and TOAST included, partitions summed).
async fn source_size(client: &Client, tables: &[SelectedTable]) -> Option<u64> {
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(x.r)), 0)::int8 FROM \
             (SELECT o AS r FROM unnest($1::oid[]) AS o UNION \
              SELECT p.relid FROM unnest($1::oid[]) AS o, pg_partition_tree(o) AS p) AS x",
            &[&oids],
        )
        .await
        .ok()
        .map(|r| r.get::<_, i64>(0).max(0) as u64)
}
