//! Resolving a task's selection against the server at task creation, for shard planning: the
//! same checks a shard's start makes (connection, settings, privileges, every selector
//! matching, keys), plus the privilege to read each table, so a task that cannot run is
//! refused when it is created rather than failing on a worker later.

use tokio_postgres::Client;

use super::catalog::SelectedTable;
use super::error::PgSourceError;
use super::setup;
use super::PgSource;
use crate::config::TaskSpec;
use crate::source::{ErrorClass, SourceError};

/// The tables `spec` selects that exist now, as `(schema, table)`, in selection order (by the
/// first selector naming each; schema then name within one selector).
pub async fn resolve_tables(spec: &TaskSpec) -> Result<Vec<(String, String)>, SourceError> {
    let source =
        PgSource::from_spec(spec, 0).map_err(|e| SourceError::new(ErrorClass::Definite, e))?;
    let opts = source.options();
    let pre = setup::preflight(opts).await?;
    if !opts.catalog_only() {
        check_readable(&pre.catalog, &opts.conn.user(), &pre.tables).await?;
    }
    Ok(pre
        .tables
        .iter()
        .map(|t| (t.schema.schema.clone(), t.schema.name.clone()))
        .collect())
}

/// Every selected table must be readable by the task's user (the snapshot reads it).
pub(crate) async fn check_readable(
    client: &Client,
    user: &str,
    tables: &[SelectedTable],
) -> Result<(), PgSourceError> {
    let oids: Vec<u32> = tables.iter().map(|t| t.schema.oid).collect();
    let rows = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1",
            &[&oids],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading table privileges", e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Err(PgSourceError::NoSelectPrivilege {
        user: user.to_owned(),
        tables: names.join(", "),
    })
}
