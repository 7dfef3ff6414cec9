//! The SQL of a chunked read: the key's column order, the boundaries of the next chunks and
//! each chunk's `COPY`. Boundaries travel as row-constructor literals the server wrote itself
//! (`('42'::integer, 'x'::text)`), so any key type round-trips exactly and compares with the
//! column's own collation, and a resumed task continues from the literal in its checkpoint.

use tokio_postgres::Client;

use super::super::snapshot::{quote_ident, SnapshotTable};
use crate::schema::TableSchema;

/// Starts a chunk's transaction; the next statement fixes its snapshot.
pub const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A chunk's first statement: its snapshot, the WAL insert position after it (on a standby,
/// the replay position), the time, and (`export`) the snapshot exported for the other
/// connections.
pub fn snapshot_statement(export: bool) -> String {
    format!(
        "SELECT pg_current_snapshot()::text, (CASE WHEN pg_is_in_recovery() \
         THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text, \
         (EXTRACT(EPOCH FROM now()) * 1000000)::bigint, {}",
        if export {
            "pg_export_snapshot()"
        } else {
            "NULL::text"
        }
    )
}

/// The unique indexes of table `$1` (no predicate, no expressions) as their key columns'
/// names in index order, replica identity first, then the primary key.
const KEY_INDEXES: &str = "SELECT array_agg(a.attname::text ORDER BY k.ord) \
     FROM pg_index i \
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
     WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
     AND k.ord <= i.indnkeyatts \
     GROUP BY i.indexrelid, i.indisreplident, i.indisprimary \
     ORDER BY i.indisreplident DESC, i.indisprimary DESC";

/// The table's key columns (indices into its columns) in the order of the unique index over
/// exactly them, so that ranges over them are index scans; column order if there is none.
pub async fn key_order(
    client: &Client,
    table: &TableSchema,
) -> Result<Vec<usize>, tokio_postgres::Error> {
    let key: Vec<usize> = table.key_indices().collect();
    let rows = client.query(KEY_INDEXES, &[&table.oid]).await?;
    for r in rows {
        let names: Vec<String> = r.get(0);
        let mut order: Vec<usize> = names
            .iter()
            .filter_map(|n| table.columns.iter().position(|c| &c.name == n))
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        if sorted == key && order.len() == names.len() {
            return Ok(std::mem::take(&mut order));
        }
    }
    Ok(key)
}

/// `("a", "b")`: the key columns as a row constructor.
pub fn key_tuple(table: &TableSchema, key: &[usize]) -> String {
    let cols: Vec<String> = key
        .iter()
        .map(|&i| quote_ident(&table.columns[i].name))
        .collect();
    format!("({})", cols.join(", "))
}

fn relation(read: &SnapshotTable) -> String {
    let t = &read.schema;
    format!(
        "{}{}.{}",
        if read.only { "ONLY " } else { "" },
        quote_ident(&t.schema),
        quote_ident(&t.name)
    )
}

/// Every `size`-th key after `after` (at most `count` of them), as literals: the upper
/// bounds of the next `count` chunks. Fewer than `count` means the table ends in the last.
pub fn boundaries(
    read: &SnapshotTable,
    key: &[usize],
    after: Option<&str>,
    size: usize,
    count: usize,
) -> String {
    let t = &read.schema;
    let tuple = key_tuple(t, key);
    let names: Vec<String> = key
        .iter()
        .map(|&i| quote_ident(&t.columns[i].name))
        .collect();
    let literal: Vec<String> = names
        .iter()
        .map(|n| format!("format('%L::%s', {n}, pg_typeof({n}))"))
        .collect();
    let cols = names.join(", ");
    let from = after
        .map(|a| format!(" WHERE {tuple} > {a}"))
        .unwrap_or_default();
    format!(
        "SELECT '(' || concat_ws(', ', {}) || ')' FROM (SELECT {cols}, \
         row_number() OVER (ORDER BY {cols}) AS n FROM (SELECT {cols} FROM {}{from} \
         ORDER BY {cols} LIMIT {}) a) b WHERE n % {size} = 0 ORDER BY n",
        literal.join(", "),
        relation(read),
        size * count,
    )
}

/// The range predicate of the keys in `(lo, hi]` (either end open).
pub fn range(tuple: &str, lo: Option<&str>, hi: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(lo) = lo {
        parts.push(format!("{tuple} > {lo}"));
    }
    if let Some(hi) = hi {
        parts.push(format!("{tuple} <= {hi}"));
    }
    if parts.is_empty() {
        "true".into()
    } else {
        parts.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, PgType, ReplicaIdentity, TypeKind};
    use std::sync::Arc;

    fn table() -> SnapshotTable {
        let col = |name: &str, is_key| Column {
            name: name.into(),
            ty: Arc::new(PgType::new(23, "int4", "pg_catalog", TypeKind::Int4)),
            typmod: -1,
            is_key,
            nullable: !is_key,
        };
        SnapshotTable {
            schema: Arc::new(TableSchema {
                oid: 1,
                schema: "s".into(),
                name: "t".into(),
                columns: vec![col("v", false), col("a", true), col("b", true)],
                replica_identity: ReplicaIdentity::Default,
            }),
            only: false,
            filter: None,
        }
    }

    #[test]
    fn boundaries_walk_the_key_in_index_order() {
        let t = table();
        let sql = boundaries(&t, &[2, 1], Some("('1'::integer, '2'::integer)"), 100, 4);
        assert!(sql.contains(r#"FROM "s"."t" WHERE ("b", "a") > ('1'::integer, '2'::integer) ORDER BY "b", "a" LIMIT 400"#), "{sql}");
        assert!(sql.contains("n % 100 = 0"), "{sql}");
        assert_eq!(range("(\"a\")", None, None), "true");
        assert_eq!(
            range("(\"a\")", Some("('1'::integer)"), Some("('9'::integer)")),
            "(\"a\") > ('1'::integer) AND (\"a\") <= ('9'::integer)"
        );
    }
}
