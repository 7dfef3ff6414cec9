//! Starting a PostgreSQL source: checks that change nothing (preflight), then the publication,
//! the slot and the snapshot session on a first start (after removing what an interrupted
//! earlier attempt left under the same names), or the slot's verification and a re-read
//! snapshot on a resume. A schema-only task creates nothing (`PgSourceOptions::catalog_only`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::added;
use super::catalog::{self, SelectedTable, TypeCache};
use super::chunk::ChunkedTable;
use super::conn::{PgConnectConfig, ReplicationConn};
use super::ddl;
use super::definition::{self, Fingerprints};
use super::error::PgSourceError;
use super::identity::{self, IdentityStep};
use super::join;
use super::slot::{self, object_name};
use super::snapshot::{quote_ident, SnapshotSession, SnapshotTable};
use super::takeover::TakeoverPolicy;
use super::timeline;
use crate::checkpoint::{
    Checkpoint, ObjectKind, PgSlotIdentity, SourceIdentity, SourceObject, TableProgress,
};
use crate::config::{ReplicaIdentityMode, TableSelection};
use crate::definition::TableDefinition;
use crate::filter::{Placement, Publishing, TableFilter};
use crate::position::{Lsn, ResumeToken, StreamPosition};
use crate::schema::{ReplicaIdentity, TableSchema};

/// The logical decoding output plugin the task's slot uses.
pub const PLUGIN: &str = "pgoutput";

/// What a PostgreSQL source needs to know to start.
#[derive(Clone, Debug)]
pub struct PgSourceOptions {
    pub conn: PgConnectConfig,
    pub selection: TableSelection,
    /// The spec's `selection_record` the selection comes from.
    pub selection_record: Vec<String>,
    /// Row filters' text by exact `(schema, table)` (`objects.table.<t>.filter`).
    pub filters: BTreeMap<(String, String), String>,
    pub task: String,
    pub shard: u32,
    pub snapshot_connections: usize,
    /// Rows per chunk of a chunked read (`source.snapshot_chunk_rows`).
    pub chunk_rows: usize,
    pub slot_create_timeout: Duration,
    pub status_interval: Duration,
    /// Silence after which the replication connection is taken as lost (`source.receive_timeout`).
    pub receive_timeout: Duration,
    pub full: bool,
    pub incremental: bool,
    /// Whether a session still holding the slot may be ended (see `takeover`); `None` waits
    /// for it to go.
    pub takeover: Option<TakeoverPolicy>,
    /// The schema phase: publish each table's `CREATE TABLE` before the snapshot.
    pub schema: bool,
    /// `objects.replica_identity` and its lock timeout (`identity`).
    pub identity: ReplicaIdentityMode,
    pub identity_lock_timeout: Duration,
    /// The format needs full before images (the DTS formats): `auto` sets FULL everywhere.
    pub full_images: bool,
    /// The heartbeat's interval (`None`: off).
    pub heartbeat: Option<Duration>,
    /// Retained WAL above which the slot is warned about (`slot.max_retained_wal`).
    pub max_retained_wal: u64,
}

impl PgSourceOptions {
    /// A task whose only phase is the schema phase: it reads the catalog and creates nothing
    /// on the server (no slot, publication, event trigger or replica identity), so it needs
    /// neither `wal_level=logical` nor REPLICATION.
    pub fn catalog_only(&self) -> bool {
        !self.full && !self.incremental
    }
}

/// The result of the checks that change nothing.
pub struct Preflight {
    pub catalog: Client,
    pub types: TypeCache,
    pub tables: Vec<SelectedTable>,
    /// The row filters of the tables that have one, checked and placed, by table OID.
    pub filters: HashMap<u32, TableFilter>,
    pub database: String,
    pub server_version: String,
    /// The schema phase's definitions (empty without it).
    pub definitions: Vec<Arc<TableDefinition>>,
    /// The tables' definitions at the start, to detect DDL before incremental migration.
    pub fingerprints: Fingerprints,
    /// What `objects.replica_identity = "auto"` sets (empty under `keep`).
    pub identity: Vec<IdentityStep>,
}

/// Connects and checks the server, the privileges, the selection and every table's key. A
/// catalog-only task publishes nothing: neither the server's replication settings, nor keys,
/// row filters or replica identities concern it.
pub async fn preflight(opts: &PgSourceOptions) -> Result<Preflight, PgSourceError> {
    let catalog = opts.conn.connect_sql("catalog").await?;
    let publishes = !opts.catalog_only();
    if publishes {
        catalog::check_server(&catalog, &opts.conn.user()).await?;
    }
    let mut types = TypeCache::new();
    let tables = catalog::selected_tables(&catalog, &opts.selection, &mut types).await?;
    for t in &tables {
        if publishes {
            check_key(opts, t)?;
        }
        crate::value::check_table_decodable(&t.schema)?;
    }
    let filters = match publishes {
        true => table_filters(opts, &tables)?,
        false => HashMap::new(),
    };
    warn_unselected_children(opts, &tables);
    let server_version = catalog::server_version(&catalog).await?;
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    let fingerprints = definition::fingerprints(&catalog, &oids).await?;
    let definitions = match opts.schema {
        true => definition::read_definitions(&catalog, &tables).await?,
        false => Vec::new(),
    };
    let identity = match publishes {
        true => identity_steps(opts, &catalog, &tables).await?,
        false => Vec::new(),
    };
    Ok(Preflight {
        catalog,
        types,
        tables,
        filters,
        database: opts.conn.database(),
        server_version,
        definitions,
        fingerprints,
        identity,
    })
}

/// What `objects.replica_identity = "auto"` would set on each table (nothing under `keep`).
pub async fn identity_steps(
    opts: &PgSourceOptions,
    catalog: &Client,
    tables: &[SelectedTable],
) -> Result<Vec<IdentityStep>, PgSourceError> {
    if opts.identity != ReplicaIdentityMode::Auto {
        return Ok(Vec::new());
    }
    let sel = &opts.selection;
    identity::plan_steps(
        catalog,
        tables,
        |t| opts.full_images || sel.wants_replica_identity_full(&t.schema, &t.name),
        |t| sel.is_insert_only(&t.schema, &t.name),
    )
    .await
}

/// A table without a key would make the application's own UPDATE/DELETE fail once published.
pub(crate) fn check_key(opts: &PgSourceOptions, t: &SelectedTable) -> Result<(), PgSourceError> {
    let s = &t.schema;
    let ok = crate::precheck::has_usable_identity(s.replica_identity, t.has_primary_key)
        || opts
            .selection
            .wants_replica_identity_full(&s.schema, &s.name)
        || opts.selection.is_insert_only(&s.schema, &s.name)
        || opts.identity == ReplicaIdentityMode::Auto;
    if ok {
        Ok(())
    } else {
        Err(PgSourceError::NoKey {
            table: s.qualified_name(),
        })
    }
}

/// Checks each selected table's row filter against the table and decides where the stream
/// applies it (`crate::filter::place`), exactly as the task's routing does.
pub(crate) fn table_filters(
    opts: &PgSourceOptions,
    tables: &[SelectedTable],
) -> Result<HashMap<u32, TableFilter>, PgSourceError> {
    let mut out = HashMap::new();
    for t in tables {
        let s = &t.schema;
        let Some(text) = opts.filters.get(&(s.schema.clone(), s.name.clone())) else {
            continue;
        };
        let how = Publishing::of(&opts.selection, &s.schema, &s.name);
        let filter =
            TableFilter::new(text, &t.schema, how).map_err(|reason| PgSourceError::Filter {
                table: s.qualified_name(),
                reason,
            })?;
        out.insert(s.oid, filter);
    }
    Ok(out)
}

/// An inheritance parent is read and published with `ONLY`: children that are not selected
/// are not migrated, which the user should know.
fn warn_unselected_children(opts: &PgSourceOptions, tables: &[SelectedTable]) {
    for t in tables.iter().filter(|t| t.only()) {
        let unselected: Vec<&String> = t
            .inheritance_children
            .iter()
            .filter(|c| !tables.iter().any(|s| s.schema.qualified_name() == **c))
            .collect();
        if !unselected.is_empty() {
            tracing::warn!(
                task = %opts.task,
                table = %t.schema.qualified_name(),
                children = ?unselected,
                "table has inheritance children that are not selected: only the parent's own rows are migrated (select the children to migrate them, each to its own topic)"
            );
        }
    }
}

/// The names of the task's slot, publication and insert-only publication.
pub fn names(opts: &PgSourceOptions, incarnation: &str) -> (String, String, String) {
    let slot = object_name(&opts.task, incarnation, opts.shard);
    let insert_only = object_name(&opts.task, &format!("{incarnation}_ins"), opts.shard);
    (slot.clone(), slot, insert_only)
}

/// Everything a first start of `incarnation` creates on the server, by name (nothing for a
/// catalog-only task).
pub fn plan(opts: &PgSourceOptions, incarnation: &str) -> Vec<SourceObject> {
    if opts.catalog_only() {
        return Vec::new();
    }
    let (slot, main, ins) = names(opts, incarnation);
    let mut objects = vec![
        SourceObject {
            kind: ObjectKind::ReplicationSlot,
            name: slot,
        },
        SourceObject {
            kind: ObjectKind::Publication,
            name: main,
        },
        SourceObject {
            kind: ObjectKind::Publication,
            name: ins,
        },
    ];
    objects.extend(ddl::plan(
        &opts.task,
        incarnation,
        opts.shard,
        opts.incremental,
    ));
    objects.extend(join::plan(
        &opts.task,
        incarnation,
        opts.shard,
        opts.incremental,
    ));
    objects
}

/// Sets REPLICA IDENTITY FULL where the task asks for it, then creates the publications.
pub async fn create_publications(
    opts: &PgSourceOptions,
    pre: &Preflight,
    incarnation: &str,
) -> Result<Vec<String>, PgSourceError> {
    let (_, main, ins) = names(opts, incarnation);
    set_identity_full(opts, &pre.catalog, &pre.tables).await?;
    log_filter_placement(opts, pre);
    let (full, insert_only) = publication_objects(opts, &pre.tables, &pre.filters);
    let mut names = Vec::new();
    for (name, objects, with) in [(main, full, ""), (ins, insert_only, ", publish = 'insert'")] {
        if objects.is_empty() {
            continue;
        }
        let sql = format!(
            "CREATE PUBLICATION \"{name}\" FOR {} WITH (publish_via_partition_root = true{with})",
            objects.join(", ")
        );
        pre.catalog
            .batch_execute(&sql)
            .await
            .map_err(|e| PgSourceError::sql(format!("creating publication {name}"), e))?;
        names.push(name);
    }
    Ok(names)
}

/// Sets REPLICA IDENTITY FULL on those of `tables` the task asks it for
/// (`objects.replica_identity_full`) that do not have it.
pub(crate) async fn set_identity_full(
    opts: &PgSourceOptions,
    catalog: &Client,
    tables: &[SelectedTable],
) -> Result<(), PgSourceError> {
    for t in tables {
        let s = &t.schema;
        if s.replica_identity == ReplicaIdentity::Full
            || !opts
                .selection
                .wants_replica_identity_full(&s.schema, &s.name)
        {
            continue;
        }
        if t.has_primary_key {
            tracing::info!(table = %s.qualified_name(), "setting REPLICA IDENTITY FULL (objects.replica_identity_full): UPDATE and DELETE carry the whole old row");
        } else {
            tracing::warn!(table = %s.qualified_name(), "table has no primary key: setting REPLICA IDENTITY FULL; its messages have a null key");
        }
        let sql = format!(
            "ALTER TABLE {}.{} REPLICA IDENTITY FULL",
            quote_ident(&s.schema),
            quote_ident(&s.name)
        );
        catalog.batch_execute(&sql).await.map_err(|e| {
            PgSourceError::sql(
                format!("setting REPLICA IDENTITY FULL on {}", s.qualified_name()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Says where each table's row filter runs in the stream.
fn log_filter_placement(opts: &PgSourceOptions, pre: &Preflight) {
    for t in &pre.tables {
        if let Some(f) = pre.filters.get(&t.schema.oid) {
            let runs = match f.placement {
                Placement::Publication => "in the publication (PostgreSQL drops other rows)",
                Placement::Tributary => "in tributary, on decoded rows",
            };
            tracing::info!(task = %opts.task, table = %t.schema.qualified_name(), filter = %f.filter.sql(), "row filter runs {runs}; the snapshot reads only matching rows");
        }
    }
}

/// Publication objects: `TABLES IN SCHEMA s` for whole-schema selectors (tables created later
/// included) unless one of its tables is insert-only, and `TABLE s.t` for the rest, with the
/// table's row filter where it runs in the publication (`WHERE (...)`, PostgreSQL 15).
pub(crate) fn publication_objects(
    opts: &PgSourceOptions,
    tables: &[SelectedTable],
    filters: &HashMap<u32, TableFilter>,
) -> (Vec<String>, Vec<String>) {
    let sel = &opts.selection;
    let schemas = schema_publications(sel, tables);
    let mut full = Vec::new();
    let mut ins = Vec::new();
    if !schemas.is_empty() {
        full.push(format!(
            "TABLES IN SCHEMA {}",
            schemas
                .iter()
                .map(|s| quote_ident(s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for t in tables {
        let s = &t.schema;
        let only = if t.only() { "ONLY " } else { "" };
        let filter = match filters.get(&s.oid) {
            Some(f) if f.placement == Placement::Publication => {
                format!(" WHERE ({})", f.filter.sql())
            }
            _ => String::new(),
        };
        let obj = format!(
            "TABLE {only}{}.{}{filter}",
            quote_ident(&s.schema),
            quote_ident(&s.name)
        );
        if sel.is_insert_only(&s.schema, &s.name) {
            ins.push(obj);
        } else if !schemas.contains(&s.schema.as_str()) {
            full.push(obj);
        }
    }
    (full, ins)
}

/// The schemas published whole (`FOR TABLES IN SCHEMA`): those of `schema.*` selectors, unless
/// one of their tables is insert-only (then each table is listed).
pub(crate) fn schema_publications<'a>(
    sel: &'a TableSelection,
    tables: &[SelectedTable],
) -> Vec<&'a str> {
    let mut schemas: Vec<&str> = sel
        .include
        .iter()
        .filter_map(|s| s.whole_schema())
        .collect();
    schemas.retain(|s| {
        !tables
            .iter()
            .any(|t| t.schema.schema == *s && sel.is_insert_only(s, &t.schema.name))
    });
    schemas.sort();
    schemas.dedup();
    schemas
}

/// The first start: removes what an interrupted earlier attempt left under the planned names,
/// then creates the publications, the slot with its exported snapshot, and the snapshot
/// session that imported it. Records the slot and the starting position in `cp`.
pub async fn create(
    opts: &PgSourceOptions,
    pre: &Preflight,
    cp: &mut Checkpoint,
) -> Result<(ReplicationConn, Option<SnapshotSession>), PgSourceError> {
    let leftovers = slot::drop_objects(&pre.catalog, &plan(opts, &cp.incarnation), true).await?;
    if !leftovers.is_empty() {
        let names: Vec<&str> = leftovers.iter().map(|o| o.name.as_str()).collect();
        tracing::info!(task = %opts.task, shard = opts.shard, objects = ?names, "removed what an interrupted first start left, to create it again");
    }
    let publications = create_publications(opts, pre, &cp.incarnation).await?;
    // The stream reads the capture's messages from PostgreSQL 14 (pgoutput `messages`).
    if !ddl::plan(&opts.task, &cp.incarnation, opts.shard, opts.incremental).is_empty()
        && catalog::server_version_num(&pre.catalog).await? >= 140_000
    {
        ddl::create(&pre.catalog, &opts.task, &cp.incarnation).await?;
    }
    if opts.incremental {
        create_join(opts, pre, &cp.incarnation, &publications).await?;
    }
    let (slot_name, _, _) = names(opts, &cp.incarnation);
    let failover = catalog::server_version_num(&pre.catalog).await? >= 170_000;
    let mut repl = ReplicationConn::connect(&opts.conn).await?;
    let system = slot::identify_system(&mut repl).await?;
    let slot = slot::create_slot(
        &mut repl,
        &pre.catalog,
        &slot_name,
        false,
        failover,
        opts.slot_create_timeout,
    )
    .await?;
    let session = if opts.full {
        Some(
            SnapshotSession::open(
                &opts.conn,
                &slot.snapshot_name,
                slot.consistent_point,
                opts.snapshot_connections,
            )
            .await?
            .split_rows(opts.chunk_rows),
        )
    } else {
        None
    };
    cp.source = Some(SourceIdentity::Postgres(PgSlotIdentity {
        slot_name,
        publications,
        system_id: system.system_id,
        database: pre.database.clone(),
        plugin: PLUGIN.to_owned(),
        consistent_point: slot.consistent_point,
        timeline: Some(system.timeline),
    }));
    cp.resume = Some(ResumeToken::Pg {
        confirmed_lsn: slot.consistent_point,
    });
    for t in &pre.tables {
        let progress = if opts.full {
            TableProgress::Pending
        } else {
            TableProgress::Done { rows: 0 }
        };
        cp.tables.insert(t.schema.qualified_name(), progress);
    }
    Ok((repl, session))
}

/// The first start of a catalog-only task: nothing to create, every table is done (there is
/// no snapshot) and the checkpoint records no slot and no resume position.
pub fn create_catalog_only(pre: &Preflight, cp: &mut Checkpoint) {
    for t in &pre.tables {
        cp.tables
            .insert(t.schema.qualified_name(), TableProgress::Done { rows: 0 });
    }
}

/// The event trigger that joins tables created later to the shard's publications.
async fn create_join(
    opts: &PgSourceOptions,
    pre: &Preflight,
    incarnation: &str,
    publications: &[String],
) -> Result<bool, PgSourceError> {
    let (_, main, ins) = names(opts, incarnation);
    let exists = |p: &str| publications.iter().any(|x| x == p);
    let whole = if exists(&main) {
        schema_publications(&opts.selection, &pre.tables)
    } else {
        Vec::new()
    };
    join::create(
        &pre.catalog,
        &join::JoinSpec {
            task: &opts.task,
            incarnation,
            shard: opts.shard,
            selection: &opts.selection,
            whole_schemas: &whole,
            main: exists(&main).then_some(main.as_str()),
            insert_only: exists(&ins).then_some(ins.as_str()),
            auto: opts.identity == ReplicaIdentityMode::Auto,
            full_images: opts.full_images,
        },
    )
    .await
}

/// The resume token's LSN (what the slot may have confirmed at most).
pub fn checkpoint_lsn(cp: &Checkpoint) -> Lsn {
    match cp.resume {
        Some(ResumeToken::Pg { confirmed_lsn }) => confirmed_lsn,
        _ => Lsn::ZERO,
    }
}

/// A resume: the slot must still be there, on the same server, not past the checkpoint, and
/// the checkpoint not past a timeline fork. Records the server's timeline in `cp`.
pub async fn resume(
    opts: &PgSourceOptions,
    pre: &Preflight,
    cp: &mut Checkpoint,
) -> Result<ReplicationConn, PgSourceError> {
    let identity = cp
        .pg_slot()
        .cloned()
        .ok_or_else(|| PgSourceError::Protocol {
            context: "resuming".into(),
            what: "the checkpoint records no PostgreSQL slot".into(),
        })?;
    let mut repl = ReplicationConn::connect(&opts.conn).await?;
    let system = slot::identify_system(&mut repl).await?;
    slot::verify_slot(
        &pre.catalog,
        &identity,
        &system.system_id,
        checkpoint_lsn(cp),
    )
    .await?;
    check_timeline(&mut repl, cp, system.timeline).await?;
    if opts.incremental {
        // The checkpoint still holds the selection before tables were added to it.
        let adopting = cp
            .selection
            .as_ref()
            .is_some_and(|s| *s != opts.selection_record);
        let publications = &identity.publications;
        added::publish_added(opts, pre, publications, &cp.incarnation, adopting).await?;
    }
    Ok(repl)
}

/// Refuses a checkpoint past the point where the server's timeline forked from the one it was
/// written on (`timeline::fork`), then records the server's timeline in it.
async fn check_timeline(
    repl: &mut ReplicationConn,
    cp: &mut Checkpoint,
    now: u32,
) -> Result<(), PgSourceError> {
    let delivered = match cp.stream {
        Some(StreamPosition::Pg { commit_lsn, .. }) => Some(commit_lsn),
        _ => None,
    };
    let confirmed = checkpoint_lsn(cp);
    let Some(SourceIdentity::Postgres(identity)) = cp.source.as_mut() else {
        return Ok(());
    };
    if let Some(was) = identity.timeline.filter(|was| *was != now) {
        let history = timeline::history(repl, now).await?;
        if let Some(why) = timeline::fork(was, now, &history, delivered, confirmed) {
            return Err(PgSourceError::TimelineFork {
                slot: identity.slot_name.clone(),
                why,
            });
        }
        tracing::info!(slot = %identity.slot_name, was, now, "the server moved to a new timeline (a promotion) after the checkpoint: resuming on it");
    }
    identity.timeline = Some(now);
    Ok(())
}

/// The tables to snapshot, with how each is read.
pub fn snapshot_tables<'a>(
    pre: &Preflight,
    keep: impl Fn(&SelectedTable) -> bool + 'a,
) -> Vec<SnapshotTable> {
    pre.tables
        .iter()
        .filter(|t| keep(t))
        .map(|t| SnapshotTable {
            schema: t.schema.clone(),
            only: t.only(),
            filter: pre.filters.get(&t.schema.oid).map(|f| f.filter.sql()),
        })
        .collect()
}

/// Whether a table's snapshot is read in key-range chunks beside the stream
/// (`super::chunk`): a table with a key, in a task that streams. Others are read whole under
/// one exported snapshot before the stream starts (a full-only task needs no stream; a table
/// without a key has nothing to reconcile its rows with the stream by).
pub fn reads_in_chunks(opts: &PgSourceOptions, table: &TableSchema) -> bool {
    opts.incremental && table.has_key()
}

/// The chunked tables whose read did not finish, each from its last durable chunk.
pub fn unfinished_chunked(
    opts: &PgSourceOptions,
    pre: &Preflight,
    cp: &Checkpoint,
) -> Vec<ChunkedTable> {
    snapshot_tables(pre, |t| reads_in_chunks(opts, &t.schema))
        .into_iter()
        .filter_map(|read| {
            let (after, rows) = match cp.tables.get(&read.schema.qualified_name()) {
                Some(TableProgress::Done { .. }) => return None,
                Some(TableProgress::Chunked { after, rows }) => (Some(after.clone()), *rows),
                _ => (None, 0),
            };
            Some(ChunkedTable { read, after, rows })
        })
        .collect()
}

/// Tables whose snapshot did not finish, in selection order.
pub fn unfinished_tables(pre: &Preflight, cp: &Checkpoint) -> Vec<SnapshotTable> {
    snapshot_tables(pre, |t| {
        matches!(
            cp.tables.get(&t.schema.qualified_name()),
            Some(TableProgress::Pending | TableProgress::Partial { .. })
        )
    })
}

/// A fresh snapshot for re-reading cut tables: a temporary slot's exported snapshot, imported
/// by the session (which holds it open in its transactions). Returns the snapshot's LSN.
pub async fn reread_session(
    opts: &PgSourceOptions,
    pre: &Preflight,
    incarnation: &str,
) -> Result<(SnapshotSession, Lsn), PgSourceError> {
    let mut temp = ReplicationConn::connect(&opts.conn).await?;
    let name = object_name(&opts.task, &format!("{incarnation}_reread"), opts.shard);
    let slot = slot::create_slot(
        &mut temp,
        &pre.catalog,
        &name,
        true,
        false,
        opts.slot_create_timeout,
    )
    .await?;
    let session = SnapshotSession::open(
        &opts.conn,
        &slot.snapshot_name,
        slot.consistent_point,
        opts.snapshot_connections,
    )
    .await?
    .split_rows(opts.chunk_rows);
    temp.close().await;
    Ok((session, slot.consistent_point))
}
