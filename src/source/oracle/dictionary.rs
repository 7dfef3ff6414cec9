//! The data dictionary's rows → the tables the source captures: columns from `ALL_TAB_COLUMNS`,
//! the key from `ALL_CONSTRAINTS` (the primary key, else the first enabled unique key whose
//! columns are all NOT NULL, the key DTS and Debezium fall back to), and what the pipeline and
//! the schema phase see of them (`TableSchema`, `TableDefinition`).
//!
//! Both sessions return `DictTable`s; the real one builds them here from its two queries
//! (`session::sql::columns`, `session::sql::keys`), so the key rule has one home.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::session::DictTable;
use super::table::{DictionaryType, OraColumn, OraTable, OraType};
use super::types::pg_column;
use crate::definition::{ColumnDefinition, TableDefinition};
use crate::schema::{ReplicaIdentity, TableSchema};

/// One `session::sql::columns` row.
#[derive(Debug, Clone, Default)]
pub struct ColumnRow {
    pub owner: String,
    pub table: String,
    pub object_id: u32,
    pub column: String,
    pub data_type: String,
    pub data_length: u32,
    pub precision: Option<u32>,
    pub scale: Option<i32>,
    pub char_length: u32,
    pub char_used: Option<String>,
    pub nullable: bool,
    pub num_rows: u64,
}

/// One `session::sql::keys` row.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub owner: String,
    pub table: String,
    pub constraint: String,
    pub primary: bool,
    pub column: String,
}

/// The tables `columns` describe, in their order, each with its key marked.
pub fn build(columns: Vec<ColumnRow>, keys: Vec<KeyRow>) -> Vec<DictTable> {
    let mut tables: Vec<DictTable> = Vec::new();
    for r in columns {
        let ty = OraType::from_dictionary(&DictionaryType {
            data_type: &r.data_type,
            data_length: r.data_length,
            precision: r.precision,
            scale: r.scale,
            char_length: r.char_length,
            char_used: r.char_used.as_deref(),
        });
        let column = OraColumn {
            name: r.column,
            ty,
            nullable: r.nullable,
            is_key: false,
        };
        match tables.last_mut() {
            Some(t) if t.table.owner == r.owner && t.table.name == r.table => {
                t.table.columns.push(column)
            }
            _ => tables.push(DictTable {
                table: OraTable {
                    owner: r.owner,
                    name: r.table,
                    object_id: r.object_id,
                    columns: vec![column],
                },
                estimated_rows: r.num_rows,
            }),
        }
    }
    // (owner, table) → (is unique rather than primary, constraint) → columns in key order.
    type Keys<'a> = BTreeMap<(&'a str, &'a str), BTreeMap<(bool, &'a str), Vec<&'a str>>>;
    let mut by_table: Keys<'_> = BTreeMap::new();
    for k in &keys {
        by_table
            .entry((&k.owner, &k.table))
            .or_default()
            .entry((!k.primary, &k.constraint))
            .or_default()
            .push(&k.column);
    }
    for t in &mut tables {
        let Some(constraints) = by_table.get(&(t.table.owner.as_str(), t.table.name.as_str()))
        else {
            continue;
        };
        let key = constraints.iter().find_map(|((unique, _), cols)| {
            let usable = !*unique
                || cols
                    .iter()
                    .all(|c| t.table.column(c).is_some_and(|(_, col)| !col.nullable));
            usable.then_some(cols)
        });
        for name in key.into_iter().flatten() {
            if let Some(col) = t.table.columns.iter_mut().find(|c| c.name == *name) {
                col.is_key = true;
            }
        }
    }
    tables
}

/// The table as the pipeline sees it: IvorySQL's type names (`super::types`), the object id
/// as its id, full row images (supplemental logging of all columns).
pub fn table_schema(t: &OraTable) -> TableSchema {
    TableSchema {
        oid: t.object_id,
        schema: t.owner.clone(),
        name: t.name.clone(),
        columns: t.columns.iter().map(pg_column).collect(),
        replica_identity: ReplicaIdentity::Full,
    }
}

/// The schema phase's definition of the table: Oracle's own type names, its key.
pub fn definition(t: &OraTable, schema: Arc<TableSchema>) -> TableDefinition {
    TableDefinition {
        table: schema,
        columns: t
            .columns
            .iter()
            .map(|c| ColumnDefinition {
                name: c.name.clone(),
                type_sql: c.ty.sql(),
                not_null: !c.nullable,
                default: None,
            })
            .collect(),
        primary_key: t
            .columns
            .iter()
            .filter(|c| c.is_key)
            .map(|c| c.name.clone())
            .collect(),
        unique_keys: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(table: &str, column: &str, nullable: bool) -> ColumnRow {
        ColumnRow {
            owner: "HR".into(),
            table: table.into(),
            object_id: if table == "A" { 10 } else { 11 },
            column: column.into(),
            data_type: "NUMBER".into(),
            data_length: 22,
            nullable,
            ..Default::default()
        }
    }

    fn key(table: &str, constraint: &str, primary: bool, column: &str) -> KeyRow {
        KeyRow {
            owner: "HR".into(),
            table: table.into(),
            constraint: constraint.into(),
            primary,
            column: column.into(),
        }
    }

    fn keys_of(t: &DictTable) -> Vec<&str> {
        let cols = t.table.columns.iter().filter(|c| c.is_key);
        cols.map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn the_primary_key_wins_else_the_first_unique_key_without_nullable_columns() {
        let columns = vec![
            col("A", "ID", false),
            col("A", "CODE", false),
            col("B", "X", true),
            col("B", "Y", false),
        ];
        let keys = vec![
            key("A", "A_CODE_UQ", false, "CODE"),
            key("A", "A_PK", true, "ID"),
            key("B", "B_1", false, "X"),
            key("B", "B_2", false, "Y"),
        ];
        let tables = build(columns, keys);
        assert_eq!(tables.len(), 2);
        assert_eq!(keys_of(&tables[0]), ["ID"]);
        // B_1 has a nullable column: B_2 is the key.
        assert_eq!(keys_of(&tables[1]), ["Y"]);
        let schema = table_schema(&tables[1].table);
        assert_eq!(schema.qualified_name(), "HR.B");
        assert!(schema.columns[1].is_key && !schema.columns[0].is_key);
        let def = definition(&tables[0].table, Arc::new(schema));
        assert_eq!(def.primary_key, ["ID"]);
        assert_eq!(def.columns[0].type_sql, "NUMBER");
    }
}
