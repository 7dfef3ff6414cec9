//! PostgreSQL type OIDs and catalog rows → wire-format kinds.
//!
//! Built-in types have fixed OIDs and are mapped without a catalog query (`builtin`). Every other
//! type (extensions, enums, domains, ranges, multiranges, composites, arrays of those, and the
//! Oracle-compatible types of IvorySQL or PolarDB-O, whose OIDs must not be hard-coded) is
//! looked up in `pg_type` by the caller and classified by `kind_from_catalog`: first by its
//! `typtype` (enum with its labels, domain over its base, range over its subtype, multirange of
//! its range, composite of its attributes), then by its binary send function, which names the
//! wire format whatever the type is called and whatever schema an extension was installed in
//! (`hstore_send`, `ltree_send`, `citextsend`, `geometry_send`, `geography_send`), then by the
//! Oracle-compatible type names (`shared/reference/ORACLE-COMPATIBLE-PG.md`), otherwise `Other`.

use std::sync::Arc;

use crate::schema::{CompositeField, PgType, TypeKind};

/// The namespace of every built-in type.
pub const PG_CATALOG: &str = "pg_catalog";

/// Built-in scalar types: OID, name, kind, and the OID of their array type.
///
/// `oid` has no kind of its own: it maps to `Int8` (the value decoder widens its 4-byte unsigned
/// binary form). `xml` has no mapping: its send form is its text.
const SCALARS: &[(u32, &str, TypeKind, u32)] = &[
    (16, "bool", TypeKind::Bool, 1000),
    (17, "bytea", TypeKind::Bytea, 1001),
    (19, "name", TypeKind::Text, 1003),
    (20, "int8", TypeKind::Int8, 1016),
    (21, "int2", TypeKind::Int2, 1005),
    (23, "int4", TypeKind::Int4, 1007),
    (25, "text", TypeKind::Text, 1009),
    (26, "oid", TypeKind::Int8, 1028),
    (114, "json", TypeKind::Json, 199),
    (142, "xml", TypeKind::Other, 143),
    (700, "float4", TypeKind::Float4, 1021),
    (701, "float8", TypeKind::Float8, 1022),
    (1042, "bpchar", TypeKind::Text, 1014),
    (1043, "varchar", TypeKind::Text, 1015),
    (1082, "date", TypeKind::Date, 1182),
    (1083, "time", TypeKind::Time, 1183),
    (1114, "timestamp", TypeKind::Timestamp, 1115),
    (1184, "timestamptz", TypeKind::TimestampTz, 1185),
    (1186, "interval", TypeKind::Interval, 1187),
    (1266, "timetz", TypeKind::TimeTz, 1270),
    (1700, "numeric", TypeKind::Numeric, 1231),
    (2950, "uuid", TypeKind::Uuid, 2951),
    (3802, "jsonb", TypeKind::Jsonb, 3807),
];

/// The built-in type with this OID, or its array type (`_int4`...), in `pg_catalog`.
pub fn builtin(oid: u32) -> Option<PgType> {
    SCALARS.iter().find_map(|(scalar, name, kind, array)| {
        if oid == *scalar {
            Some(PgType::new(oid, name, PG_CATALOG, kind.clone()))
        } else if oid == *array {
            let elem = Arc::new(PgType::new(*scalar, name, PG_CATALOG, kind.clone()));
            Some(PgType::new(
                oid,
                &format!("_{name}"),
                PG_CATALOG,
                TypeKind::Array(elem),
            ))
        } else {
            None
        }
    })
}

/// The `pg_type` columns (and the `pg_range`, `pg_enum`, `pg_attribute` rows) that decide a
/// type's wire format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogTypeRow {
    pub oid: u32,
    pub name: String,
    pub namespace: String,
    /// `b` base, `c` composite, `d` domain, `e` enum, `p` pseudo, `r` range, `m` multirange.
    pub typtype: u8,
    /// `pg_type.typcategory` (`N` numeric, `S` string, `A` array...); informative only.
    pub typcategory: u8,
    /// The element type of an array type (0 if none).
    pub typelem: u32,
    /// The base type of a domain (0 if not a domain).
    pub typbasetype: u32,
    /// `typsend::regproc` as text: `int4send`, `numeric_send`, `-` for none; may be qualified.
    pub typsend: String,
    /// A domain's type modifier (`typtypmod`, -1 if none).
    pub typtypmod: i32,
    /// A range's subtype (`pg_range.rngsubtype`; 0 if not a range).
    pub range_subtype: u32,
    /// A multirange's range type (`pg_range.rngtypid` of `rngmultitypid`; 0 if not one).
    pub multirange_range: u32,
    /// An enum's labels in sort order (`pg_enum.enumlabel` by `enumsortorder`).
    pub enum_labels: Vec<String>,
    /// A composite's live attributes in order: name and type OID (`pg_attribute` of `typrelid`).
    pub attributes: Vec<(String, u32)>,
}

impl CatalogTypeRow {
    /// The OIDs whose types `kind_from_catalog` needs resolved first.
    pub fn dependencies(&self) -> Vec<u32> {
        let mut deps = vec![
            self.typbasetype,
            self.typelem,
            self.range_subtype,
            self.multirange_range,
        ];
        deps.extend(self.attributes.iter().map(|(_, oid)| *oid));
        deps.retain(|o| *o != 0);
        deps
    }
}

/// Whether the type has a binary send function (`typsend` is `-` when it has none).
pub fn has_send(row: &CatalogTypeRow) -> bool {
    !matches!(row.typsend.as_str(), "-" | "" | "0")
}

/// Classifies a catalog type by its wire format.
///
/// `resolve` returns the already-resolved type for an OID of `row.dependencies()`: the element
/// type of an array, the base type of a domain, a range's subtype, a multirange's range, a
/// composite's attribute types. A domain becomes `Domain` over its base (when `resolve` has no
/// entry for the base, the send function it inherits from the base decides, as for any type).
/// A range, multirange or composite with an unresolved part is `Other`.
pub fn kind_from_catalog(
    row: &CatalogTypeRow,
    resolve: impl Fn(u32) -> Option<Arc<PgType>>,
) -> TypeKind {
    if let Some(kind) = kind_from_typtype(row, &resolve) {
        return kind;
    }
    let send = row
        .typsend
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    if send == "array_send" {
        return match resolve(row.typelem) {
            Some(elem) if row.typelem != 0 => TypeKind::Array(elem),
            _ => TypeKind::Other,
        };
    }
    kind_from_send(send)
        .or_else(|| oracle_kind(&row.name))
        .unwrap_or(TypeKind::Other)
}

/// Kinds decided by `typtype`: enums, domains, ranges, multiranges, composites.
fn kind_from_typtype(
    row: &CatalogTypeRow,
    resolve: &impl Fn(u32) -> Option<Arc<PgType>>,
) -> Option<TypeKind> {
    let other = Some(TypeKind::Other);
    match row.typtype {
        b'e' => Some(TypeKind::Enum(Arc::from(row.enum_labels.clone()))),
        b'd' => resolve(row.typbasetype).map(|base| TypeKind::Domain {
            base,
            typmod: row.typtypmod,
        }),
        b'r' => resolve(row.range_subtype).map(TypeKind::Range).or(other),
        b'm' => resolve(row.multirange_range)
            .map(TypeKind::Multirange)
            .or(other),
        b'c' => {
            let fields: Option<Vec<CompositeField>> = row
                .attributes
                .iter()
                .map(|(name, oid)| {
                    resolve(*oid).map(|ty| CompositeField {
                        name: name.clone(),
                        ty,
                    })
                })
                .collect();
            fields.map(|f| TypeKind::Composite(Arc::from(f))).or(other)
        }
        _ => None,
    }
}

/// The wire kind a built-in send function produces.
fn kind_from_send(send: &str) -> Option<TypeKind> {
    Some(match send {
        "boolsend" => TypeKind::Bool,
        "int2send" => TypeKind::Int2,
        "int4send" => TypeKind::Int4,
        "int8send" => TypeKind::Int8,
        // Unsigned 32-bit identifiers: widened to int8 by the value decoder.
        "oidsend" | "xidsend" | "cidsend" | "regprocsend" | "regproceduresend" | "regopersend"
        | "regoperatorsend" | "regclasssend" | "regcollationsend" | "regtypesend"
        | "regrolesend" | "regnamespacesend" | "regconfigsend" | "regdictionarysend" => {
            TypeKind::Int8
        }
        "float4send" => TypeKind::Float4,
        "float8send" => TypeKind::Float8,
        "numeric_send" => TypeKind::Numeric,
        "textsend" | "varcharsend" | "bpcharsend" | "namesend" | "citextsend" | "unknownsend" => {
            TypeKind::Text
        }
        "byteasend" => TypeKind::Bytea,
        "date_send" => TypeKind::Date,
        "time_send" => TypeKind::Time,
        "timetz_send" => TypeKind::TimeTz,
        "timestamp_send" => TypeKind::Timestamp,
        "timestamptz_send" => TypeKind::TimestampTz,
        "interval_send" => TypeKind::Interval,
        "uuid_send" => TypeKind::Uuid,
        "json_send" => TypeKind::Json,
        "jsonb_send" => TypeKind::Jsonb,
        // Enums are found by typtype with their labels; this is a domain's unresolved base.
        "enum_send" => TypeKind::Enum(Arc::from(Vec::<String>::new())),
        "hstore_send" => TypeKind::Hstore,
        "ltree_send" => TypeKind::Ltree,
        "geometry_send" => TypeKind::Geometry,
        "geography_send" => TypeKind::Geography,
        _ => return None,
    })
}

/// Oracle-compatible types (IvorySQL, PolarDB-O) whose send functions have their own names but
/// the wire format of a built-in type. CLOB, NCLOB, LONG, BLOB, RAW and LONG RAW are domains over
/// text or bytea, handled as domains.
fn oracle_kind(name: &str) -> Option<TypeKind> {
    Some(match name {
        "number" => TypeKind::Numeric,
        "oravarcharbyte" | "oravarcharchar" | "oracharbyte" | "oracharchar" => TypeKind::Text,
        "oradate" | "oratimestamp" => TypeKind::Timestamp,
        "oratimestamptz" | "oratimestampltz" => TypeKind::TimestampTz,
        "yminterval" | "dsinterval" => TypeKind::Interval,
        "binary_float" => TypeKind::Float4,
        "binary_double" => TypeKind::Float8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, typtype: u8, typsend: &str) -> CatalogTypeRow {
        CatalogTypeRow {
            oid: 20_000,
            name: name.into(),
            namespace: "public".into(),
            typtype,
            typcategory: b'U',
            typsend: typsend.into(),
            typtypmod: -1,
            ..CatalogTypeRow::default()
        }
    }

    fn none(_: u32) -> Option<Arc<PgType>> {
        None
    }

    #[test]
    fn builtins_cover_scalars_and_arrays() {
        let int4 = builtin(23).unwrap();
        assert_eq!(
            (int4.name.as_str(), int4.namespace.as_str()),
            ("int4", "pg_catalog")
        );
        assert_eq!(int4.kind, TypeKind::Int4);
        let arr = builtin(1007).unwrap();
        assert_eq!(arr.name, "_int4");
        assert_eq!(arr.kind, TypeKind::Array(Arc::new(int4)));
        for (oid, kind) in [
            (16, TypeKind::Bool),
            (17, TypeKind::Bytea),
            (1700, TypeKind::Numeric),
            (1184, TypeKind::TimestampTz),
            (1266, TypeKind::TimeTz),
            (3802, TypeKind::Jsonb),
            (2950, TypeKind::Uuid),
            (142, TypeKind::Other),
        ] {
            assert_eq!(builtin(oid).unwrap().kind, kind, "oid {oid}");
        }
        for (array, elem) in [
            (1000, 16),
            (1231, 1700),
            (1183, 1083),
            (199, 114),
            (3807, 3802),
        ] {
            let TypeKind::Array(e) = builtin(array).unwrap().kind else {
                panic!("{array}")
            };
            assert_eq!(e.oid, elem);
        }
        assert_eq!(builtin(0), None);
        assert_eq!(builtin(9520), None);
        let mut oids: Vec<u32> = SCALARS.iter().flat_map(|s| [s.0, s.3]).collect();
        oids.sort_unstable();
        oids.dedup();
        assert_eq!(oids.len(), SCALARS.len() * 2, "no OID appears twice");
    }

    #[test]
    fn catalog_kinds_follow_the_send_function() {
        assert_eq!(
            kind_from_catalog(&row("int4ish", b'b', "int4send"), none),
            TypeKind::Int4
        );
        let qualified = row("x", b'b', "pg_catalog.numeric_send");
        assert_eq!(kind_from_catalog(&qualified, none), TypeKind::Numeric);
        assert_eq!(
            kind_from_catalog(&row("citext", b'b', "citextsend"), none),
            TypeKind::Text
        );
        let mut mood = row("mood", b'e', "enum_send");
        mood.enum_labels = vec!["sad".into(), "ok".into()];
        assert_eq!(
            kind_from_catalog(&mood, none),
            TypeKind::Enum(Arc::from(vec!["sad".to_owned(), "ok".to_owned()]))
        );
        for (send, kind) in [
            ("hstore_send", TypeKind::Hstore),
            ("ext.ltree_send", TypeKind::Ltree),
            ("public.geometry_send", TypeKind::Geometry),
            ("postgis.geography_send", TypeKind::Geography),
        ] {
            assert_eq!(
                kind_from_catalog(&row("x", b'b', send), none),
                kind,
                "{send}"
            );
        }
        assert_eq!(
            kind_from_catalog(&row("point", b'b', "point_send"), none),
            TypeKind::Other
        );
        assert_eq!(
            kind_from_catalog(&row("xmltype", b'b', "-"), none),
            TypeKind::Other
        );
        assert_eq!(
            kind_from_catalog(&row("r", b'r', "range_send"), none),
            TypeKind::Other
        );
    }

    #[test]
    fn ranges_multiranges_and_composites_resolve_their_parts() {
        let int4 = Arc::new(builtin(23).unwrap());
        let text = Arc::new(builtin(25).unwrap());
        let resolve = |o: u32| match o {
            23 => Some(int4.clone()),
            25 => Some(text.clone()),
            _ => None,
        };
        let mut r = row("myrange", b'r', "range_send");
        r.range_subtype = 23;
        assert_eq!(r.dependencies(), vec![23]);
        assert_eq!(
            kind_from_catalog(&r, resolve),
            TypeKind::Range(int4.clone())
        );
        let range_t = Arc::new(PgType::new(
            20_000,
            "myrange",
            "public",
            TypeKind::Range(int4.clone()),
        ));
        let mut m = row("mymultirange", b'm', "multirange_send");
        m.multirange_range = 20_000;
        let resolve_m = |o: u32| (o == 20_000).then(|| range_t.clone());
        assert_eq!(
            kind_from_catalog(&m, resolve_m),
            TypeKind::Multirange(range_t.clone())
        );
        assert_eq!(kind_from_catalog(&m, none), TypeKind::Other);
        let mut c = row("pair", b'c', "record_send");
        c.attributes = vec![("a".into(), 23), ("b".into(), 25)];
        assert_eq!(c.dependencies(), vec![23, 25]);
        let TypeKind::Composite(fields) = kind_from_catalog(&c, resolve) else {
            panic!("composite")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!((fields[1].name.as_str(), fields[1].ty.oid), ("b", 25));
        c.attributes.push(("z".into(), 99_999));
        assert_eq!(kind_from_catalog(&c, resolve), TypeKind::Other);
        let mut d = row("posint", b'd', "int4send");
        d.typbasetype = 23;
        d.typtypmod = 7;
        assert_eq!(
            kind_from_catalog(&d, resolve),
            TypeKind::Domain {
                base: int4.clone(),
                typmod: 7
            }
        );
    }

    #[test]
    fn arrays_and_domains_resolve_through_the_callback() {
        let mood = Arc::new(PgType::new(
            20_001,
            "mood",
            "public",
            TypeKind::Enum(Arc::from(Vec::<String>::new())),
        ));
        let resolve = |o: u32| (o == 20_001).then(|| mood.clone());
        let mut arr = row("_mood", b'b', "array_send");
        arr.typelem = 20_001;
        assert_eq!(
            kind_from_catalog(&arr, resolve),
            TypeKind::Array(mood.clone())
        );
        arr.typelem = 5;
        assert_eq!(kind_from_catalog(&arr, resolve), TypeKind::Other);
        let mut dom = row("happy", b'd', "enum_send");
        dom.typbasetype = 20_001;
        assert_eq!(
            kind_from_catalog(&dom, resolve),
            TypeKind::Domain {
                base: mood.clone(),
                typmod: -1
            }
        );
        // Unresolved domain: its inherited send function still decides.
        let mut clob = row("clob", b'd', "textsend");
        clob.typbasetype = 25;
        assert_eq!(kind_from_catalog(&clob, none), TypeKind::Text);
    }

    #[test]
    fn a_type_without_a_send_function_is_text_only() {
        assert!(has_send(&row("number", b'b', "sys.number_send")));
        assert!(!has_send(&row("xmltype", b'b', "-")));
    }

    #[test]
    fn oracle_types_map_by_name() {
        for (name, kind) in [
            ("number", TypeKind::Numeric),
            ("oravarcharbyte", TypeKind::Text),
            ("oravarcharchar", TypeKind::Text),
            ("oracharbyte", TypeKind::Text),
            ("oracharchar", TypeKind::Text),
            ("oradate", TypeKind::Timestamp),
            ("oratimestamp", TypeKind::Timestamp),
            ("oratimestamptz", TypeKind::TimestampTz),
            ("oratimestampltz", TypeKind::TimestampTz),
            ("yminterval", TypeKind::Interval),
            ("dsinterval", TypeKind::Interval),
            ("binary_float", TypeKind::Float4),
            ("binary_double", TypeKind::Float8),
        ] {
            let r = row(name, b'b', &format!("sys.{name}_send"));
            assert_eq!(kind_from_catalog(&r, none), kind, "{name}");
        }
    }
}
