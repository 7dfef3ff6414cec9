//! Per-table plans: the parts of a table's messages that do not change from row to row (its
//! route, quoted column names, the `database`/`mysqlType`/`pkNames`/`sqlType`/`table` members,
//! the TRUNCATE statement), built once per table description and cached by table OID.

use std::sync::Arc;

use crate::format::plans::Plan;
use crate::route::TableRoute;
use crate::schema::{ReplicaIdentity, TableSchema};

use super::escape::write_str;
use super::types::{mysql_type, sql_type};
use super::{CanalOptions, DatabaseMember};

/// The cached message parts of one table.
pub(super) struct TablePlan {
    /// The source's description this plan was built from.
    pub table: Arc<TableSchema>,
    pub route: Arc<TableRoute>,
    /// `,"name":` of each column, in column order (a row's first member skips the comma).
    pub names: Vec<Box<[u8]>>,
    /// Whether an UPDATE's or DELETE's old image is the whole row (REPLICA IDENTITY FULL).
    pub full_old: bool,
    /// `],"database":…,"es":`: after the data row.
    pub after_data: Box<[u8]>,
    /// `,"gtid":null,"id":` or `,"id":`: between `es` and `id`.
    pub before_id: &'static [u8],
    /// `,"isDdl":false,"mysqlType":{…}`.
    pub dml_types: Box<[u8]>,
    /// `,"old":null` (explicit nulls) or nothing: where a message has no `old`.
    pub no_old: &'static [u8],
    /// `,"pkNames":[…],"sql":"","sqlType":{…},"table":…,"ts":`.
    pub dml_tail: Box<[u8]>,
    /// `{"database":…,"es":` (with `"data":null` first under explicit nulls).
    pub ddl_head: Box<[u8]>,
    /// `,"isDdl":true,"sql":` (with the row members as nulls under explicit nulls).
    pub ddl_before_sql: &'static [u8],
    /// `,"table":…,"ts":` (with `"sqlType":null` first under explicit nulls).
    pub ddl_tail: Box<[u8]>,
    /// `TRUNCATE TABLE <schema>.<table>` with the names of messages.
    pub truncate_sql: Box<str>,
}

/// The cache of Canal JSON plans.
pub(super) type PlanCache = crate::format::plans::PlanCache<TablePlan>;

impl Plan for TablePlan {
    type Options = CanalOptions;

    fn source(&self) -> &Arc<TableSchema> {
        &self.table
    }

    fn set_source(&mut self, table: Arc<TableSchema>) {
        self.table = table;
    }

    fn build(opts: &CanalOptions, route: Arc<TableRoute>, _generation: u64) -> TablePlan {
        let target = &route.target;
        let nulls = opts.explicit_nulls;
        let database = match &opts.database {
            DatabaseMember::Schema => target.schema.as_str(),
            DatabaseMember::Name(name) => name.as_str(),
        };
        let mut db = b",\"database\":".to_vec();
        write_str(&mut db, database);
        db.extend_from_slice(b",\"es\":");
        let mut table = b",\"table\":".to_vec();
        write_str(&mut table, &target.name);
        table.extend_from_slice(b",\"ts\":");
        let mut ddl_tail = Vec::new();
        if nulls {
            ddl_tail.extend_from_slice(b",\"sqlType\":null");
        }
        ddl_tail.extend_from_slice(&table);
        TablePlan {
            names: target
                .columns
                .iter()
                .map(|c| [b",".as_slice(), &member(&c.name)].concat().into())
                .collect(),
            full_old: route.source.replica_identity == ReplicaIdentity::Full,
            after_data: [b"]".as_slice(), &db].concat().into(),
            before_id: if nulls {
                b",\"gtid\":null,\"id\":"
            } else {
                b",\"id\":"
            },
            dml_types: dml_types(target).into(),
            no_old: if nulls { b",\"old\":null" } else { b"" },
            dml_tail: dml_tail(target, nulls, &table).into(),
            ddl_head: [
                if nulls {
                    b"{\"data\":null".as_slice()
                } else {
                    b"{".as_slice()
                },
                if nulls { &db[..] } else { &db[1..] },
            ]
            .concat()
            .into(),
            ddl_before_sql: if nulls {
                b",\"isDdl\":true,\"mysqlType\":null,\"old\":null,\"pkNames\":null,\"sql\":"
            } else {
                b",\"isDdl\":true,\"sql\":"
            },
            ddl_tail: ddl_tail.into(),
            truncate_sql: format!("TRUNCATE TABLE {}.{}", target.schema, target.name).into(),
            table: route.source.clone(),
            route,
        }
    }
}

/// `"name":`, escaped.
fn member(name: &str) -> Box<[u8]> {
    let mut m = Vec::with_capacity(name.len() + 3);
    write_str(&mut m, name);
    m.push(b':');
    m.into()
}

/// `,"isDdl":false,"mysqlType":{"col":"type",…}`.
fn dml_types(table: &TableSchema) -> Vec<u8> {
    let mut out = b",\"isDdl\":false,\"mysqlType\":{".to_vec();
    let mut name = String::new();
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&member(&c.name));
        name.clear();
        mysql_type(&c.ty, &mut name);
        write_str(&mut out, &name);
    }
    out.push(b'}');
    out
}

/// `,"pkNames":[…],"sql":"","sqlType":{"col":code,…}` and `table` (`,"table":…,"ts":`).
fn dml_tail(table: &TableSchema, nulls: bool, table_member: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let keys: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.is_key)
        .map(|c| c.name.as_str())
        .collect();
    if !keys.is_empty() {
        out.extend_from_slice(b",\"pkNames\":[");
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, k);
        }
        out.push(b']');
    } else if nulls {
        out.extend_from_slice(b",\"pkNames\":null");
    }
    out.extend_from_slice(b",\"sql\":\"\",\"sqlType\":{");
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&member(&c.name));
        crate::format::json::write_i64(&mut out, i64::from(sql_type(&c.ty)));
    }
    out.push(b'}');
    out.extend_from_slice(table_member);
    out
}
