//! Table definitions for the schema phase (`migration.phases` containing `"schema"`): what a
//! `CREATE TABLE` statement needs (columns with their source type names, NOT NULL, defaults,
//! primary and unique keys), read from the source's catalog, and the statement itself,
//! written with the names messages carry (`crate::route::Names`: name mapping and the
//! capitalisation policy). The source reads definitions; the pipeline, which knows the task's
//! routing, renders them into the DDL records every format already writes.

use std::sync::Arc;

use crate::route::Names;
use crate::schema::TableSchema;

/// One column as the source defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    pub name: String,
    /// The type as the source spells it, with its modifiers (`character varying(20)`,
    /// `numeric(10,2)`, `public.mood`).
    pub type_sql: String,
    pub not_null: bool,
    /// The default expression as the source prints it, if any.
    pub default: Option<String>,
}

/// One table as the source defines it.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    /// The table as the task migrates it (its columns are the replicated ones).
    pub table: Arc<TableSchema>,
    pub columns: Vec<ColumnDefinition>,
    /// The primary key's columns, in key order (empty: none).
    pub primary_key: Vec<String>,
    /// Each unique key's columns, in key order (unique constraints and unique indexes on plain
    /// columns without a predicate).
    pub unique_keys: Vec<Vec<String>>,
}

impl TableDefinition {
    /// `CREATE TABLE "schema"."table" (...)` with the names of messages.
    pub fn create_table_sql(&self, names: &Names) -> String {
        let (s, t) = (self.table.schema.as_str(), self.table.name.as_str());
        let col = |c: &str| ident(&names.column(s, t, c));
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut p = format!("{} {}", col(&c.name), c.type_sql);
                if c.not_null {
                    p.push_str(" NOT NULL");
                }
                if let Some(d) = &c.default {
                    p.push_str(" DEFAULT ");
                    p.push_str(d);
                }
                p
            })
            .collect();
        let list = |cols: &[String]| cols.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ");
        if !self.primary_key.is_empty() {
            parts.push(format!("PRIMARY KEY ({})", list(&self.primary_key)));
        }
        for u in &self.unique_keys {
            parts.push(format!("UNIQUE ({})", list(u)));
        }
        format!(
            "CREATE TABLE {}.{} ({})",
            ident(&names.schema(s)),
            ident(&names.table(s, t)),
            parts.join(", ")
        )
    }
}

/// A double-quoted SQL identifier: mapped names keep their case and any character.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ReplicaIdentity;

    fn definition() -> TableDefinition {
        let column =
            |name: &str, type_sql: &str, not_null: bool, default: Option<&str>| ColumnDefinition {
                name: name.into(),
                type_sql: type_sql.into(),
                not_null,
                default: default.map(str::to_owned),
            };
        TableDefinition {
            table: Arc::new(TableSchema {
                oid: 1,
                schema: "public".into(),
                name: "Orders".into(),
                columns: Vec::new(),
                replica_identity: ReplicaIdentity::Default,
            }),
            columns: vec![
                column("id", "bigint", true, None),
                column("code", "character varying(20)", true, None),
                column("status", "text", false, Some("'new'::text")),
            ],
            primary_key: vec!["id".into()],
            unique_keys: vec![vec!["code".into()]],
        }
    }

    #[test]
    fn the_statement_has_types_defaults_and_keys_under_the_mapped_names() {
        let d = definition();
        assert_eq!(
            d.create_table_sql(&Names::default()),
            "CREATE TABLE \"public\".\"Orders\" (\"id\" bigint NOT NULL, \"code\" character varying(20) NOT NULL, \"status\" text DEFAULT 'new'::text, PRIMARY KEY (\"id\"), UNIQUE (\"code\"))"
        );
    }
}
