//! Whether the decoders can read a type's values, decided from the type alone, so that a
//! column they cannot read is named before a task starts (and when a Relation message brings a
//! new column) instead of failing the task at its first row, possibly hours into streaming.
//!
//! A type is decodable when its wire kind has a decoder: every kind but `Other`, whose built-in
//! types have one only where `decode_other_binary` knows them, and whose types without a binary
//! send function (IvorySQL's `XMLTYPE`) always arrive as text. Containers (arrays, ranges,
//! multiranges, composites, domains) are decodable when everything they hold is; an array of a
//! type without a binary send function is not (pgoutput would call `array_send` on it, which
//! fails on the server).

use crate::schema::{PgType, TableSchema, TypeKind};

use super::other::has_other_decoder;

/// A type whose binary form no decoder reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.type_name, .culprit))]
pub struct UndecodableType {
    /// The type checked (`schema.name`).
    pub type_name: String,
    /// The type inside it that has no decoder (the same as `type_name` for a scalar).
    pub culprit: String,
}

fn describe(type_name: &str, culprit: &str) -> String {
    format!(
        "{}: leave the tables with columns of this type out of the task, or change those \
         columns' type (to text, for example)",
        what_of(type_name, culprit)
    )
}

fn what_of(type_name: &str, culprit: &str) -> String {
    if type_name == culprit {
        format!("type {type_name} has no decoder for its binary form in tributary")
    } else {
        format!("type {type_name} holds {culprit}, which has no decoder for its binary form in tributary")
    }
}

/// A column of a table whose type no decoder reads, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column:?} of table {table}: {}: exclude the table from objects.tables, or change the column's type (for example ALTER TABLE {table} ALTER COLUMN {column} TYPE text)", what(.source))]
pub struct UndecodableColumn {
    pub table: String,
    pub column: String,
    pub source: UndecodableType,
}

/// The type part of a column's message (without the type-level advice it replaces).
fn what(t: &UndecodableType) -> String {
    what_of(&t.type_name, &t.culprit)
}

/// Checks that values of `ty` decode, through arrays, ranges, multiranges, composites and
/// domains.
pub fn check_decodable(ty: &PgType) -> Result<(), UndecodableType> {
    match culprit(ty, 0) {
        None => Ok(()),
        Some(c) => Err(UndecodableType {
            type_name: qualified(ty),
            culprit: c,
        }),
    }
}

/// Checks every column of `table` (see `check_decodable`).
pub fn check_table_decodable(table: &TableSchema) -> Result<(), UndecodableColumn> {
    for col in &table.columns {
        check_decodable(&col.ty).map_err(|source| UndecodableColumn {
            table: table.qualified_name(),
            column: col.name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// How deep types may nest (PostgreSQL allows no recursive types; this bounds the walk anyway).
const MAX_DEPTH: usize = 64;

/// The qualified name of the first type inside `ty` (or `ty` itself) without a decoder.
fn culprit(ty: &PgType, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return Some(qualified(ty));
    }
    match &ty.kind {
        TypeKind::Other if has_other_decoder(ty) || !ty.binary_send => None,
        TypeKind::Other => Some(qualified(ty)),
        TypeKind::Array(inner) if !inner.root().binary_send => Some(qualified(inner)),
        TypeKind::Array(inner) | TypeKind::Range(inner) | TypeKind::Multirange(inner) => {
            culprit(inner, depth + 1)
        }
        TypeKind::Domain { base, .. } => culprit(base, depth + 1),
        TypeKind::Composite(fields) => fields.iter().find_map(|f| culprit(&f.ty, depth + 1)),
        _ => None,
    }
}

fn qualified(ty: &PgType) -> String {
    if ty.namespace.is_empty() {
        ty.name.clone()
    } else {
        format!("{}.{}", ty.namespace, ty.name)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::{Column, CompositeField, ReplicaIdentity};

    fn t(name: &str, ns: &str, kind: TypeKind) -> Arc<PgType> {
        Arc::new(PgType::new(1, name, ns, kind))
    }

    #[test]
    fn scalars_and_known_builtins_decode() {
        assert_eq!(
            check_decodable(&t("int4", "pg_catalog", TypeKind::Int4)),
            Ok(())
        );
        assert_eq!(
            check_decodable(&t("inet", "pg_catalog", TypeKind::Other)),
            Ok(())
        );
        assert_eq!(
            check_decodable(&t("hstore", "ext", TypeKind::Hstore)),
            Ok(())
        );
    }

    #[test]
    fn types_without_a_binary_form_decode_as_text_but_not_in_arrays() {
        let xmltype = Arc::new(PgType::new(20_001, "xmltype", "sys", TypeKind::Other).text_only());
        assert_eq!(check_decodable(&xmltype), Ok(()));
        let arr = t("_xmltype", "sys", TypeKind::Array(xmltype));
        assert_eq!(check_decodable(&arr).unwrap_err().culprit, "sys.xmltype");
    }

    #[test]
    fn unknown_types_are_named_through_containers() {
        let unknown = t("cube", "public", TypeKind::Other);
        let err = check_decodable(&unknown).unwrap_err();
        assert_eq!(err.culprit, "public.cube");
        assert_eq!(
            err.to_string(),
            "type public.cube has no decoder for its binary form in tributary: leave the tables \
             with columns of this type out of the task, or change those columns' type (to text, \
             for example)"
        );
        let arr = t("_cube", "public", TypeKind::Array(unknown.clone()));
        let dom = t(
            "d",
            "public",
            TypeKind::Domain {
                base: arr,
                typmod: -1,
            },
        );
        let comp = t(
            "c",
            "public",
            TypeKind::Composite(Arc::from(vec![
                CompositeField {
                    name: "a".into(),
                    ty: t("int4", "pg_catalog", TypeKind::Int4),
                },
                CompositeField {
                    name: "b".into(),
                    ty: dom,
                },
            ])),
        );
        let range = t("r", "public", TypeKind::Range(comp));
        let multi = t("m", "public", TypeKind::Multirange(range));
        let err = check_decodable(&multi).unwrap_err();
        assert_eq!(
            (err.type_name.as_str(), err.culprit.as_str()),
            ("public.m", "public.cube")
        );
        let table = TableSchema {
            oid: 1,
            schema: "s".into(),
            name: "t".into(),
            columns: vec![Column {
                name: "v".into(),
                ty: multi,
                typmod: -1,
                is_key: false,
                nullable: true,
            }],
            replica_identity: ReplicaIdentity::Default,
        };
        let err = check_table_decodable(&table).unwrap_err().to_string();
        assert!(
            err.starts_with("column \"v\" of table s.t: type public.m holds public.cube"),
            "{err}"
        );
        assert!(
            err.contains("exclude the table") && !err.contains('\n'),
            "{err}"
        );
    }
}
