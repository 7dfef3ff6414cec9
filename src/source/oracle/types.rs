//! Oracle column types → the PostgreSQL type (`PgType`) whose wire format and mapping their
//! values take in the pipeline.
//!
//! The names, OIDs and kinds are IvorySQL's (`docs/TYPE-MAPPING.md`, section "Oracle-compatible
//! PostgreSQL"; `src/source/postgres/typemap.rs`): a `NUMBER` read from Oracle and a `NUMBER`
//! read from IvorySQL reach every format as the same type, so the formats treat them alike and
//! print the same Oracle type names. `CLOB`, `NCLOB`, `LONG` are domains over `text` and `BLOB`,
//! `RAW`, `LONG RAW` domains over `bytea`, as IvorySQL declares them.

use std::sync::Arc;

use super::table::{OraColumn, OraType};
use crate::schema::{Column, PgType, TypeKind};
use crate::source::postgres::typemap::builtin;

/// The schema IvorySQL keeps its Oracle types in.
pub const ORA_NAMESPACE: &str = "sys";

const TEXT_OID: u32 = 25;
const BYTEA_OID: u32 = 17;

fn sys(oid: u32, name: &str, kind: TypeKind) -> PgType {
    PgType::new(oid, name, ORA_NAMESPACE, kind)
}

fn domain(oid: u32, name: &str, base_oid: u32) -> PgType {
    let base = Arc::new(builtin(base_oid).expect("text and bytea are built-in types"));
    sys(oid, name, TypeKind::Domain { base, typmod: -1 })
}

/// The PostgreSQL type an Oracle column type maps to (IvorySQL's name and OID where IvorySQL
/// has the type; `nchar`, `nvarchar2`, `rowid`, `urowid` as text under their Oracle names).
pub fn pg_type(ty: &OraType) -> PgType {
    match ty {
        OraType::Number { .. } | OraType::Float { .. } => sys(9520, "number", TypeKind::Numeric),
        OraType::BinaryFloat => sys(9522, "binary_float", TypeKind::Float4),
        OraType::BinaryDouble => sys(9524, "binary_double", TypeKind::Float8),
        OraType::Char { chars: true, .. } => sys(9500, "oracharchar", TypeKind::Text),
        OraType::Char { chars: false, .. } => sys(9501, "oracharbyte", TypeKind::Text),
        OraType::Varchar2 { chars: true, .. } => sys(9502, "oravarcharchar", TypeKind::Text),
        OraType::Varchar2 { chars: false, .. } => sys(9503, "oravarcharbyte", TypeKind::Text),
        OraType::NChar { .. } => sys(0, "nchar", TypeKind::Text),
        OraType::NVarchar2 { .. } => sys(0, "nvarchar2", TypeKind::Text),
        OraType::Clob => domain(9527, "clob", TEXT_OID),
        OraType::NClob => domain(9531, "nclob", TEXT_OID),
        OraType::Long => domain(9528, "long", TEXT_OID),
        OraType::Blob => domain(9526, "blob", BYTEA_OID),
        OraType::Raw { .. } => domain(9530, "raw", BYTEA_OID),
        OraType::LongRaw => domain(9529, "long_raw", BYTEA_OID),
        OraType::Date => sys(9508, "oradate", TypeKind::Timestamp),
        OraType::Timestamp { .. } => sys(9510, "oratimestamp", TypeKind::Timestamp),
        OraType::TimestampTz { .. } => sys(9512, "oratimestamptz", TypeKind::TimestampTz),
        OraType::TimestampLtz { .. } => sys(9514, "oratimestampltz", TypeKind::TimestampTz),
        OraType::IntervalYm { .. } => sys(9516, "yminterval", TypeKind::Interval),
        OraType::IntervalDs { .. } => sys(9518, "dsinterval", TypeKind::Interval),
        OraType::Rowid => sys(0, "rowid", TypeKind::Text),
        OraType::Urowid => sys(0, "urowid", TypeKind::Text),
        OraType::XmlType => sys(0, "xmltype", TypeKind::Text).text_only(),
        OraType::Other(name) => sys(0, &name.to_ascii_lowercase(), TypeKind::Other).text_only(),
    }
}

/// The type modifier (`atttypmod`) a PostgreSQL column of the mapped type would have: numeric
/// precision and scale (PostgreSQL 15's encoding, which keeps a negative scale), the fractional
/// seconds of a timestamp (at most 6, PostgreSQL's limit), -1 otherwise.
pub fn pg_typmod(ty: &OraType) -> i32 {
    match ty {
        OraType::Number {
            precision: Some(p),
            scale,
        } => {
            let s = i32::from(scale.unwrap_or(0));
            ((i32::from(*p) << 16) | (s & 0x7ff)) + 4
        }
        OraType::Timestamp { fsp }
        | OraType::TimestampTz { fsp }
        | OraType::TimestampLtz { fsp } => i32::from((*fsp).min(6)),
        _ => -1,
    }
}

/// The pipeline column of an Oracle column.
pub fn pg_column(col: &OraColumn) -> Column {
    Column {
        name: col.name.clone(),
        ty: Arc::new(pg_type(&col.ty)),
        typmod: pg_typmod(&col.ty),
        is_key: col.is_key,
        nullable: col.nullable && !col.is_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_types_take_ivorysql_names_and_kinds() {
        let cases = [
            (
                OraType::Number {
                    precision: None,
                    scale: None,
                },
                "number",
                TypeKind::Numeric,
            ),
            (
                OraType::Float {
                    binary_precision: 126,
                },
                "number",
                TypeKind::Numeric,
            ),
            (OraType::BinaryFloat, "binary_float", TypeKind::Float4),
            (OraType::BinaryDouble, "binary_double", TypeKind::Float8),
            (
                OraType::Varchar2 {
                    length: 10,
                    chars: false,
                },
                "oravarcharbyte",
                TypeKind::Text,
            ),
            (
                OraType::Char {
                    length: 10,
                    chars: true,
                },
                "oracharchar",
                TypeKind::Text,
            ),
            (
                OraType::NVarchar2 { length: 10 },
                "nvarchar2",
                TypeKind::Text,
            ),
            (OraType::Date, "oradate", TypeKind::Timestamp),
            (
                OraType::Timestamp { fsp: 9 },
                "oratimestamp",
                TypeKind::Timestamp,
            ),
            (
                OraType::TimestampTz { fsp: 6 },
                "oratimestamptz",
                TypeKind::TimestampTz,
            ),
            (
                OraType::TimestampLtz { fsp: 6 },
                "oratimestampltz",
                TypeKind::TimestampTz,
            ),
            (
                OraType::IntervalYm { year_precision: 2 },
                "yminterval",
                TypeKind::Interval,
            ),
            (
                OraType::IntervalDs {
                    day_precision: 2,
                    fsp: 6,
                },
                "dsinterval",
                TypeKind::Interval,
            ),
            (OraType::Rowid, "rowid", TypeKind::Text),
            (OraType::XmlType, "xmltype", TypeKind::Text),
        ];
        for (ora, name, kind) in cases {
            let pg = pg_type(&ora);
            assert_eq!((pg.name.as_str(), &pg.kind), (name, &kind), "{ora:?}");
            assert_eq!(pg.namespace, "sys");
        }
        for (ora, name, root) in [
            (OraType::Clob, "clob", TypeKind::Text),
            (OraType::NClob, "nclob", TypeKind::Text),
            (OraType::Long, "long", TypeKind::Text),
            (OraType::Blob, "blob", TypeKind::Bytea),
            (OraType::Raw { length: 16 }, "raw", TypeKind::Bytea),
            (OraType::LongRaw, "long_raw", TypeKind::Bytea),
        ] {
            let pg = pg_type(&ora);
            assert_eq!(pg.name, name);
            assert_eq!(pg.root().kind, root, "{ora:?}");
        }
    }

    #[test]
    fn typmods_keep_precision_negative_scale_and_fsp() {
        let n = |p, s| OraType::Number {
            precision: Some(p),
            scale: Some(s),
        };
        assert_eq!(pg_typmod(&n(10, 2)), (10 << 16) + 2 + 4);
        let m = pg_typmod(&n(6, -2)) - 4;
        assert_eq!((m >> 16, ((m & 0x7ff) ^ 0x400) - 0x400), (6, -2));
        assert_eq!(
            pg_typmod(&OraType::Number {
                precision: None,
                scale: None
            }),
            -1
        );
        assert_eq!(pg_typmod(&OraType::Timestamp { fsp: 9 }), 6);
        assert_eq!(pg_typmod(&OraType::Date), -1);
    }
}
