//! The `mysqlType` name and `sqlType` code of a column's type (`docs/TYPE-MAPPING.md`, Canal
//! JSON): names without modifiers, java.sql.Types codes from FORMATS.md part B §2.2's table,
//! VARCHAR for types carried as text that the table does not name. Computed once per table.

use crate::schema::{PgType, TypeKind};

const PG_CATALOG: &str = "pg_catalog";

/// java.sql.Types codes used here.
mod jdbc {
    pub const TINYINT: i32 = -6;
    pub const SMALLINT: i32 = 5;
    pub const INTEGER: i32 = 4;
    pub const BIGINT: i32 = -5;
    pub const DECIMAL: i32 = 3;
    pub const REAL: i32 = 7;
    pub const DOUBLE: i32 = 8;
    pub const CHAR: i32 = 1;
    pub const VARCHAR: i32 = 12;
    pub const BLOB: i32 = 2004;
    pub const CLOB: i32 = 2005;
    pub const DATE: i32 = 91;
    pub const TIME: i32 = 92;
    pub const TIMESTAMP: i32 = 93;
    pub const BIT: i32 = -7;
}

/// Appends the `mysqlType` of `ty`: an array as its element's name and `[]`, otherwise the
/// type's name (`type_name`).
pub(super) fn mysql_type(ty: &PgType, out: &mut String) {
    match &ty.kind {
        TypeKind::Array(elem) => {
            mysql_type(elem, out);
            out.push_str("[]");
        }
        _ => out.push_str(type_name(ty)),
    }
}

/// A type's name without modifiers: SQL names for the built-ins whose catalog names are
/// abbreviations, Oracle names for the Oracle-compatible types, else the catalog name.
fn type_name(ty: &PgType) -> &str {
    if ty.namespace == PG_CATALOG {
        return match ty.name.as_str() {
            "int2" => "smallint",
            "int4" => "integer",
            "int8" => "bigint",
            "float4" => "real",
            "bool" => "boolean",
            "bpchar" => "char",
            name => name,
        };
    }
    match ty.name.as_str() {
        "oravarcharbyte" | "oravarcharchar" => "varchar2",
        "oracharbyte" | "oracharchar" => "char",
        "oradate" => "date",
        "oratimestamp" => "timestamp",
        "oratimestamptz" => "timestamp with time zone",
        "oratimestampltz" => "timestamp with local time zone",
        "yminterval" => "interval year to month",
        "dsinterval" => "interval day to second",
        "long_raw" => "long raw",
        name => name,
    }
}

/// The `sqlType` of `ty`: that of the type under any domains.
pub(crate) fn sql_type(ty: &PgType) -> i32 {
    let root = ty.root();
    match &root.kind {
        TypeKind::Bool => jdbc::TINYINT,
        TypeKind::Int2 => jdbc::SMALLINT,
        TypeKind::Int4 => jdbc::INTEGER,
        TypeKind::Int8 => jdbc::BIGINT,
        TypeKind::Float4 => jdbc::REAL,
        TypeKind::Float8 => jdbc::DOUBLE,
        TypeKind::Numeric => jdbc::DECIMAL,
        TypeKind::Text => text_type(&root.name),
        TypeKind::Bytea => jdbc::BLOB,
        TypeKind::Date => jdbc::DATE,
        TypeKind::Time | TypeKind::TimeTz => jdbc::TIME,
        TypeKind::Timestamp | TypeKind::TimestampTz => jdbc::TIMESTAMP,
        TypeKind::Other if root.namespace == PG_CATALOG => other_type(&root.name),
        _ => jdbc::VARCHAR,
    }
}

/// Text-like types: blank-padded CHAR, unbounded TEXT, else VARCHAR.
fn text_type(name: &str) -> i32 {
    match name {
        "bpchar" | "oracharbyte" | "oracharchar" => jdbc::CHAR,
        "text" | "citext" => jdbc::CLOB,
        _ => jdbc::VARCHAR,
    }
}

/// Built-in types without a mapping of their own that the table names.
fn other_type(name: &str) -> i32 {
    match name {
        "bit" | "varbit" => jdbc::BIT,
        // money's value is a plain decimal; xid8 exceeds BIGINT (DTS: unsigned bigint → decimal).
        "money" | "xid8" => jdbc::DECIMAL,
        "char" => jdbc::CHAR,
        _ => jdbc::VARCHAR,
    }
}
