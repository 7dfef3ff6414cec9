//! Schema-change records in Debezium JSON: Debezium's PostgreSQL connector writes none, so a
//! DDL statement (the schema phase's `CREATE TABLE`, captured DDL) is written as its Oracle
//! connector writes one (FORMATS.md part B §4.7, "our PG extension"): on the DDL topic, key
//! `{"databaseName":…}`, value `source`, `ts_ms`, `databaseName`, `schemaName`, `ddl` and
//! `tableChanges` with the table as messages name it. Always schemaless (no `schemas.enable`
//! envelope), partition 0. `source.connector` names the source's connector (`oracle` for an
//! Oracle source, whose Debezium connector does write these records); the `source` block keeps
//! this short form for both.

use crate::format::json::{write_i64, write_str};
use crate::format::{EncodedBatch, FormatError, PartitionChoice};
use crate::route::Router;
use crate::source::SchemaChange;

use super::DebeziumOptions;

/// Appends the schema-change record of `change`'s DDL statement `sql`.
pub(crate) fn write_schema_change(
    opts: &DebeziumOptions,
    router: &mut Router,
    change: &SchemaChange,
    sql: &str,
    now_ms: i64,
    out: &mut EncodedBatch,
) -> Result<(), FormatError> {
    let route = router.get(&change.table)?;
    let t = &route.target;
    let rec = out.push();
    rec.topic.push_str(router.routing().ddl_topic());
    rec.partition = PartitionChoice::Fixed(0);
    rec.key.extend_from_slice(b"{\"databaseName\":");
    write_str(&mut rec.key, &opts.database);
    rec.key.push(b'}');
    let v = &mut rec.value;
    v.extend_from_slice(b"{\"source\":{\"version\":");
    write_str(v, &opts.version);
    v.extend_from_slice(b",\"connector\":");
    write_str(v, opts.connector.name());
    v.extend_from_slice(b",\"name\":");
    write_str(v, &opts.topic_prefix);
    v.extend_from_slice(b",\"ts_ms\":");
    write_i64(v, now_ms);
    v.extend_from_slice(b",\"snapshot\":\"false\",\"db\":");
    write_str(v, &opts.database);
    v.extend_from_slice(b",\"schema\":");
    write_str(v, &t.schema);
    v.extend_from_slice(b",\"table\":");
    write_str(v, &t.name);
    v.extend_from_slice(b"},\"ts_ms\":");
    write_i64(v, now_ms);
    v.extend_from_slice(b",\"databaseName\":");
    write_str(v, &opts.database);
    v.extend_from_slice(b",\"schemaName\":");
    write_str(v, &t.schema);
    v.extend_from_slice(b",\"ddl\":");
    write_str(v, sql);
    v.extend_from_slice(b",\"tableChanges\":[{\"type\":");
    write_str(v, change_type(sql));
    v.extend_from_slice(b",\"id\":");
    write_str(
        v,
        &format!("\"{}\".\"{}\".\"{}\"", opts.database, t.schema, t.name),
    );
    v.extend_from_slice(b",\"table\":{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[");
    for (n, c) in t.columns.iter().filter(|c| c.is_key).enumerate() {
        if n > 0 {
            v.push(b',');
        }
        write_str(v, &c.name);
    }
    v.extend_from_slice(b"],\"columns\":[");
    for (i, c) in t.columns.iter().enumerate() {
        if i > 0 {
            v.push(b',');
        }
        v.extend_from_slice(b"{\"name\":");
        write_str(v, &c.name);
        v.extend_from_slice(b",\"jdbcType\":");
        write_i64(v, crate::format::canal::sql_type(&c.ty) as i64);
        v.extend_from_slice(b",\"typeName\":");
        write_str(v, &c.ty.name);
        v.extend_from_slice(b",\"typeExpression\":");
        write_str(v, &c.ty.name);
        v.extend_from_slice(b",\"charsetName\":null,\"position\":");
        write_i64(v, i as i64 + 1);
        v.extend_from_slice(b",\"optional\":");
        v.extend_from_slice(if c.nullable { b"true" } else { b"false" });
        v.extend_from_slice(b",\"autoIncremented\":false,\"generated\":false,\"comment\":null}");
    }
    v.extend_from_slice(b"],\"comment\":null}}]}");
    Ok(())
}

/// `CREATE`, `DROP` or `ALTER` (Debezium's change types), from the statement's first word.
fn change_type(sql: &str) -> &'static str {
    let first = sql.split_whitespace().next().unwrap_or("");
    if first.eq_ignore_ascii_case("create") {
        "CREATE"
    } else if first.eq_ignore_ascii_case("drop") {
        "DROP"
    } else {
        "ALTER"
    }
}
