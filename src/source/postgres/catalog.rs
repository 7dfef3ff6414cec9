//! What the source database says about itself: settings, privileges, the selected tables with
//! their columns and keys, and types resolved by OID (cached).
//!
//! pgoutput sends Type messages only for OIDs from 10000 up, so built-in types, and the Oracle
//! types of Oracle-compatible PostgreSQL that live below 10000, arrive as bare OIDs: anything
//! not built in is looked up in `pg_type` once and cached.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Client;

use super::error::PgSourceError;
use super::typemap::{self, CatalogTypeRow};
use crate::config::TableSelection;
use crate::schema::{Column, PgType, ReplicaIdentity, TableSchema, TypeKind};

/// A selected table and what the task must know about it before starting.
#[derive(Debug, Clone)]
pub struct SelectedTable {
    pub schema: Arc<TableSchema>,
    /// Estimated rows (`pg_class.reltuples`), for progress only.
    pub estimated_rows: u64,
    pub has_primary_key: bool,
    /// Tables that inherit from this one (`INHERITS`, not partitions), as `schema.table`.
    /// Such a parent is read and published with `ONLY`: its children are tables of their own,
    /// migrated (to their own topics) only when selected.
    pub inheritance_children: Vec<String>,
}

impl SelectedTable {
    /// Whether reads and publications must name this table with `ONLY`.
    pub fn only(&self) -> bool {
        !self.inheritance_children.is_empty()
    }
}

/// Checks `wal_level` and the user's replication privilege.
pub async fn check_server(client: &Client, user: &str) -> Result<(), PgSourceError> {
    check_wal_level(client).await?;
    check_replication_privilege(client, user).await
}

/// `wal_level` must be `logical`.
pub async fn check_wal_level(client: &Client) -> Result<(), PgSourceError> {
    let row = client
        .query_one("SHOW wal_level", &[])
        .await
        .map_err(|e| PgSourceError::sql("reading wal_level", e))?;
    let level: String = row.get(0);
    if level != "logical" {
        return Err(PgSourceError::WalLevel { found: level });
    }
    Ok(())
}

/// The user must be a superuser or have REPLICATION (to create and stream from the slot).
pub async fn check_replication_privilege(client: &Client, user: &str) -> Result<(), PgSourceError> {
    let row = client
        .query_one(
            "SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading role privileges", e))?;
    if !row.get::<_, bool>(0) {
        return Err(PgSourceError::NoReplicationPrivilege {
            user: user.to_owned(),
        });
    }
    Ok(())
}

/// Type lookups by OID, cached for the life of the source: a type is read from the catalog
/// once (with the types it is made of), never per row.
pub struct TypeCache {
    types: HashMap<u32, Arc<PgType>>,
}

impl Default for TypeCache {
    fn default() -> Self {
        Self::new()
    }
}

/// How deeply types may be made of other types before the rest counts as `Other` (PostgreSQL
/// allows no recursive types; this only bounds the walk over a damaged catalog).
const MAX_TYPE_DEPTH: usize = 32;

/// One `pg_type` row and what `kind_from_catalog` needs besides: a range's subtype, a
/// multirange's range (found through `to_jsonb` so that servers before 14, without
/// `rngmultitypid`, need no other query), enum labels, a composite's live attributes.
const TYPE_QUERY: &str = "SELECT t.typname::text, n.nspname::text, t.typtype::text, \
     t.typcategory::text, t.typelem, t.typbasetype, t.typsend::regproc::text, t.typtypmod, \
     COALESCE((SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid), 0), \
     COALESCE((SELECT r.rngtypid FROM pg_range r \
               WHERE (to_jsonb(r) ->> 'rngmultitypid')::oid = t.oid), 0), \
     ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid \
           ORDER BY e.enumsortorder), \
     ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.typrelid \
           AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum), \
     ARRAY(SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = t.typrelid \
           AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) \
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1";

impl TypeCache {
    pub fn new() -> TypeCache {
        TypeCache {
            types: HashMap::new(),
        }
    }

    /// The type for `oid`, from the built-in table, the cache or the catalog.
    pub async fn resolve(
        &mut self,
        client: &Client,
        oid: u32,
    ) -> Result<Arc<PgType>, PgSourceError> {
        self.resolve_at(client, oid, 0).await
    }

    async fn resolve_at(
        &mut self,
        client: &Client,
        oid: u32,
        depth: usize,
    ) -> Result<Arc<PgType>, PgSourceError> {
        if let Some(t) = self.types.get(&oid) {
            return Ok(t.clone());
        }
        let t = match typemap::builtin(oid) {
            Some(t) => Arc::new(t),
            None => Box::pin(self.lookup_catalog(client, oid, depth)).await?,
        };
        self.types.insert(oid, t.clone());
        Ok(t)
    }

    async fn lookup_catalog(
        &mut self,
        client: &Client,
        oid: u32,
        depth: usize,
    ) -> Result<Arc<PgType>, PgSourceError> {
        let row = client
            .query_opt(TYPE_QUERY, &[&oid])
            .await
            .map_err(|e| PgSourceError::sql(format!("looking up type {oid}"), e))?;
        let Some(row) = row else {
            return Ok(Arc::new(PgType::new(
                oid,
                &format!("oid{oid}"),
                "",
                TypeKind::Other,
            )));
        };
        let first = |s: String| s.bytes().next().unwrap_or(b' ');
        let names: Vec<String> = row.get(11);
        let attr_types: Vec<u32> = row.get(12);
        let r = CatalogTypeRow {
            oid,
            name: row.get(0),
            namespace: row.get(1),
            typtype: first(row.get(2)),
            typcategory: first(row.get(3)),
            typelem: row.get(4),
            typbasetype: row.get(5),
            typsend: row.get(6),
            typtypmod: row.get(7),
            range_subtype: row.get(8),
            multirange_range: row.get(9),
            enum_labels: row.get(10),
            attributes: names.into_iter().zip(attr_types).collect(),
        };
        // The types this one is made of come first (element, base, subtype, range, fields).
        let mut deps = HashMap::new();
        if depth < MAX_TYPE_DEPTH {
            for dep in r.dependencies() {
                let t = Box::pin(self.resolve_at(client, dep, depth + 1)).await?;
                deps.insert(dep, t);
            }
        }
        let kind = typemap::kind_from_catalog(&r, |o| deps.get(&o).cloned());
        let ty = PgType::new(oid, &r.name, &r.namespace, kind);
        Ok(Arc::new(if typemap::has_send(&r) {
            ty
        } else {
            ty.text_only()
        }))
    }
}

/// Reads the tables the selection names, failing on a selector that names nothing.
pub async fn selected_tables(
    client: &Client,
    selection: &TableSelection,
    types: &mut TypeCache,
) -> Result<Vec<SelectedTable>, PgSourceError> {
    // Partitions are never selected themselves: their changes come through the partitioned
    // root (`publish_via_partition_root`). Inheritance children are tables of their own.
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relreplident::text, c.reltuples::float8, \
             CASE WHEN c.relkind = 'r' THEN ARRAY(SELECT cn.nspname::text || '.' || cc.relname::text \
               FROM pg_inherits i JOIN pg_class cc ON cc.oid = i.inhrelid \
               JOIN pg_namespace cn ON cn.oid = cc.relnamespace WHERE i.inhparent = c.oid ORDER BY 1) \
             ELSE ARRAY[]::text[] END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY n.nspname, c.relname",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("listing tables", e))?;
    let database = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| PgSourceError::sql("reading the database name", e))?
        .get::<_, String>(0);
    let schemas = schema_names(client).await?;
    for sel in &selection.include {
        let found = rows.iter().any(|r| sel.matches(r.get(1), r.get(2)))
            || sel
                .whole_schema()
                .is_some_and(|s| schemas.iter().any(|n| n == s));
        if !found {
            let selector = format!("{}.{}", sel.schema, sel.table);
            return Err(PgSourceError::MissingTable { selector, database });
        }
    }
    let mut out = Vec::new();
    for r in rows
        .iter()
        .filter(|r| selection.includes(r.get(1), r.get(2)))
    {
        let oid: u32 = r.get(0);
        let ri = r.get::<_, String>(3).bytes().next().unwrap_or(b'd');
        let (columns, has_pk) = table_columns(client, oid, ri, types).await?;
        let schema = TableSchema {
            oid,
            schema: r.get(1),
            name: r.get(2),
            columns,
            replica_identity: ReplicaIdentity::from_code(ri),
        };
        let estimated_rows = r.get::<_, f64>(4).max(0.0) as u64;
        out.push(SelectedTable {
            schema: Arc::new(schema),
            estimated_rows,
            has_primary_key: has_pk,
            inheritance_children: r.get(5),
        });
    }
    // The order the task lists them in: by the first selector that names each table (the
    // query's order, schema then name, within one selector).
    out.sort_by_key(|t| selection.first_match(&t.schema.schema, &t.schema.name));
    Ok(out)
}

async fn schema_names(client: &Client) -> Result<Vec<String>, PgSourceError> {
    let rows = client
        .query("SELECT nspname::text FROM pg_namespace", &[])
        .await
        .map_err(|e| PgSourceError::sql("listing schemas", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The table's replicated columns (generated columns are not replicated) and whether it has a
/// primary key. Key columns follow the replica identity `identity` (`relreplident`), as the
/// stream's Relation messages do: the replica identity index under `i`, none under `n`, else
/// (`d`, `f`) the primary key.
pub async fn table_columns(
    client: &Client,
    oid: u32,
    identity: u8,
    types: &mut TypeCache,
) -> Result<(Vec<Column>, bool), PgSourceError> {
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, a.atttypmod, a.attnotnull, \
             COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary \
                       AND a.attnum = ANY(i.indkey)), false), \
             COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisreplident \
                       AND a.attnum = ANY(i.indkey)), false), \
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary) \
             FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             AND a.attgenerated = '' ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| PgSourceError::sql(format!("reading columns of table {oid}"), e))?;
    let has_pk = rows.first().is_some_and(|r| r.get::<_, bool>(6));
    let mut columns = Vec::with_capacity(rows.len());
    for r in &rows {
        let is_key = match identity {
            b'i' => r.get::<_, bool>(5),
            b'n' => false,
            _ => r.get::<_, bool>(4),
        };
        let ty = types.resolve(client, r.get(1)).await?;
        columns.push(Column {
            name: r.get(0),
            ty,
            typmod: r.get(2),
            is_key,
            nullable: !r.get::<_, bool>(3) && !is_key,
        });
    }
    Ok((columns, has_pk))
}

/// Whether the server has a function (used to adapt to PostgreSQL versions).
pub async fn server_version_num(client: &Client) -> Result<i32, PgSourceError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| PgSourceError::sql("reading the server version", e))?;
    Ok(row.get(0))
}

/// The server version string (`15.18`), for the formats' source blocks.
pub async fn server_version(client: &Client) -> Result<String, PgSourceError> {
    let row = client
        .query_one("SHOW server_version", &[])
        .await
        .map_err(|e| PgSourceError::sql("reading the server version", e))?;
    Ok(row.get(0))
}
