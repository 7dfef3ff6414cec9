//! The catalog side of the schema phase and of DDL detection before incremental migration:
//! each selected table's definition (`crate::definition`), and a fingerprint of what defines
//! its rows (name, columns with their types, NOT NULL, dropped columns), read at the start of
//! the schema and full phases and compared at their end. A selected table whose definition
//! changed in between fails the task, as DTS does: its rows or its `CREATE TABLE` no longer
//! describe the table the stream continues with.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Client;

use super::catalog::SelectedTable;
use super::error::PgSourceError;
use crate::definition::{ColumnDefinition, TableDefinition};
use crate::schema::TableSchema;

/// Each table's fingerprint by OID; a dropped table has none.
pub type Fingerprints = HashMap<u32, String>;

/// The definitions of `tables`, in their order.
pub async fn read_definitions(
    client: &Client,
    tables: &[SelectedTable],
) -> Result<Vec<Arc<TableDefinition>>, PgSourceError> {
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        out.push(Arc::new(read_definition(client, &t.schema).await?));
    }
    Ok(out)
}

async fn read_definition(
    client: &Client,
    table: &Arc<TableSchema>,
) -> Result<TableDefinition, PgSourceError> {
    let ctx = || format!("reading the definition of table {}", table.qualified_name());
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             AND a.attgenerated = '' ORDER BY a.attnum",
            &[&table.oid],
        )
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let columns = rows
        .iter()
        .map(|r| ColumnDefinition {
            name: r.get(0),
            type_sql: r.get(1),
            not_null: r.get(2),
            default: r.get(3),
        })
        .collect();
    // Unique keys: the primary key, unique constraints, and unique indexes on plain columns
    // without a predicate (what a CREATE TABLE can say).
    let keys = client
        .query(
            "SELECT i.indisprimary, ARRAY(SELECT a.attname::text \
               FROM unnest(i.indkey) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL \
             AND i.indexprs IS NULL ORDER BY i.indisprimary DESC, ic.relname",
            &[&table.oid],
        )
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?;
    let mut primary_key = Vec::new();
    let mut unique_keys = Vec::new();
    for k in &keys {
        let cols: Vec<String> = k.get(1);
        if k.get::<_, bool>(0) {
            primary_key = cols;
        } else {
            unique_keys.push(cols);
        }
    }
    Ok(TableDefinition {
        table: table.clone(),
        columns,
        primary_key,
        unique_keys,
    })
}

/// The fingerprints of the tables with these OIDs, as the catalog says now.
pub async fn fingerprints(client: &Client, oids: &[u32]) -> Result<Fingerprints, PgSourceError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname || '.' || c.relname || ':' || string_agg(a.attnum || ' ' \
             || a.attname || ' ' || a.atttypid || ' ' || a.atttypmod || ' ' || a.attnotnull \
             || ' ' || a.attisdropped, ',' ORDER BY a.attnum) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
             WHERE c.oid = ANY($1) GROUP BY c.oid, n.nspname, c.relname",
            &[&oids],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the selected tables' definitions", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Checks tables against the definitions recorded at the start of a phase, on a connection of
/// its own: the snapshot's connections see the catalog as it was at their snapshot.
pub struct DefinitionCheck {
    client: Client,
    before: Fingerprints,
    phase: &'static str,
}

impl DefinitionCheck {
    pub fn new(client: Client, before: Fingerprints, phase: &'static str) -> DefinitionCheck {
        DefinitionCheck {
            client,
            before,
            phase,
        }
    }

    /// Fails naming the first of `tables` whose definition changed since the phase started.
    pub async fn tables(&self, tables: &[Arc<TableSchema>]) -> Result<(), PgSourceError> {
        check_unchanged(&self.client, &self.before, tables, self.phase).await
    }
}

/// Fails naming the first of `tables` whose definition is not the one `before` recorded.
pub async fn check_unchanged(
    client: &Client,
    before: &Fingerprints,
    tables: &[Arc<TableSchema>],
    phase: &'static str,
) -> Result<(), PgSourceError> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let now = fingerprints(client, &oids).await?;
    for t in tables {
        let (was, is) = (before.get(&t.oid), now.get(&t.oid));
        if was != is {
            let what = match is {
                None => "it was dropped",
                Some(_) => "its name or columns changed",
            };
            return Err(PgSourceError::DefinitionChanged {
                table: t.qualified_name(),
                phase,
                what,
            });
        }
    }
    Ok(())
}
