//! Per-table plans: the parts of a table's records that do not change from row to row — the
//! encoded `objectName`, `fields` array, `pk_uk_info` tag and TRUNCATE statement, and each
//! column's value branch — built once from the table's route (mapped names) and cached by
//! table OID until the table's description changes.

use std::sync::Arc;

use crate::format::plans::Plan;
use crate::route::TableRoute;
use crate::schema::TableSchema;

use super::avro;
use super::image::Branch;
use super::{DtsAvroOptions, ObjectName, SourceType};

/// The cached plan of one table.
pub(crate) struct TablePlan {
    /// The source's description this plan was built from.
    pub table: Arc<TableSchema>,
    pub route: Arc<TableRoute>,
    /// `objectName`'s string, encoded (length and bytes).
    pub object_name: Vec<u8>,
    /// The `fields` union value: branch 2, the array of `Field`s.
    pub fields: Vec<u8>,
    /// The `pk_uk_info` map entry (key, then value), encoded; empty when the table has no key.
    pub pk_tag: Vec<u8>,
    /// `TRUNCATE TABLE <schema>.<table>`.
    pub truncate: String,
    pub branches: Vec<Branch>,
}

/// The cache of DTS Avro plans.
pub(crate) type PlanCache = crate::format::plans::PlanCache<TablePlan>;

impl Plan for TablePlan {
    type Options = DtsAvroOptions;

    fn source(&self) -> &Arc<TableSchema> {
        &self.table
    }

    fn set_source(&mut self, table: Arc<TableSchema>) {
        self.table = table;
    }

    fn build(opts: &DtsAvroOptions, route: Arc<TableRoute>, _generation: u64) -> TablePlan {
        let t = &route.target;
        let mut name = String::new();
        if opts.object_name == ObjectName::DatabaseSchemaTable {
            push_part(&mut name, &opts.database);
            name.push('.');
        }
        push_part(&mut name, &t.schema);
        name.push('.');
        push_part(&mut name, &t.name);
        let mut object_name = Vec::new();
        avro::string(&mut object_name, &name);
        let truncate = format!("TRUNCATE TABLE {}.{}", t.schema, t.name);
        TablePlan {
            table: route.source.clone(),
            object_name,
            fields: fields(t, opts.source_type),
            pk_tag: pk_tag(t),
            truncate,
            branches: t.columns.iter().map(Branch::of).collect(),
            route,
        }
    }
}

/// One part of `objectName`: a literal `.` is written as the six characters `\u002E` (the DTS
/// SDK's `ObjectNameUtils`, part B §1.3).
fn push_part(out: &mut String, part: &str) {
    for c in part.chars() {
        if c == '.' {
            out.push_str("\\u002E");
        } else {
            out.push(c);
        }
    }
}

/// `fields`: branch 2, one `Field {name, dataTypeNumber}` per column: the type OID (as Java's
/// `int` sees it), or for the Oracle source Oracle's type number.
fn fields(t: &TableSchema, source: SourceType) -> Vec<u8> {
    let mut out = Vec::new();
    avro::branch(&mut out, 2);
    avro::block(&mut out, t.columns.len());
    for c in &t.columns {
        avro::string(&mut out, &c.name);
        let number = match source {
            SourceType::Oracle => oracle_type_number(&c.ty.name),
            _ => c.ty.oid as i32,
        };
        avro::int(&mut out, number);
    }
    avro::end(&mut out);
    out
}

/// Oracle's type number of a column of the Oracle source (FORMATS.md part A, DTS's list [DOC
/// S8]), by the type names `crate::source::oracle::types` gives; 29 (UNDEFINED) otherwise.
pub fn oracle_type_number(name: &str) -> i32 {
    match name {
        "oravarcharchar" | "oravarcharbyte" | "nvarchar2" => 1,
        "number" => 2,
        "long" => 8,
        "oradate" => 12,
        "raw" => 23,
        "long_raw" => 24,
        "xmltype" => 58,
        "rowid" => 69,
        "oracharchar" | "oracharbyte" | "nchar" => 96,
        "binary_float" => 100,
        "binary_double" => 101,
        "clob" | "nclob" => 112,
        "blob" => 113,
        "oratimestamp" => 180,
        "oratimestamptz" => 181,
        "yminterval" => 182,
        "dsinterval" => 183,
        "urowid" => 208,
        "oratimestampltz" => 231,
        _ => 29,
    }
}

/// The `pk_uk_info` entry, `{"PRIMARY":["id"]}`: the key columns (the primary key, or the
/// replica identity index under `USING INDEX`; the description names no index) in column order.
fn pk_tag(t: &TableSchema) -> Vec<u8> {
    if !t.has_key() {
        return Vec::new();
    }
    let mut json = b"{\"PRIMARY\":[".to_vec();
    for (n, i) in t.key_indices().enumerate() {
        if n > 0 {
            json.push(b',');
        }
        crate::format::json::write_str(&mut json, &t.columns[i].name);
    }
    json.extend_from_slice(b"]}");
    let mut out = Vec::new();
    avro::string(&mut out, "pk_uk_info");
    avro::bytes(&mut out, &json);
    out
}
