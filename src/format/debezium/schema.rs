//! Column type mapping (`shared/spec/FORMATS.md` part B §4.8, `time.precision.mode=adaptive`)
//! and the Kafka Connect schema JSON that `JsonConverter` prints with `schemas.enable=true`,
//! member order exactly as §4.1: `type`, `fields`/`items`, `optional`, `name`, `version`, `doc`,
//! `parameters`, then `field` last.

use std::sync::Arc;

use crate::schema::{Column, PgType, TableSchema, TypeKind};

use super::{Connector, DecimalHandling, HstoreHandling, IntervalHandling};

/// How one column (or array element) is rendered: its Connect schema and value encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `numeric(p, s)` under `precise`: `org.apache.kafka.connect.data.Decimal` bytes.
    Decimal {
        precision: i32,
        scale: i32,
    },
    /// Unconstrained `numeric` under `precise`: `io.debezium.data.VariableScaleDecimal`.
    VarDecimal,
    /// `numeric` under `decimal.handling.mode=double`.
    DecimalDouble,
    /// `numeric` under `decimal.handling.mode=string`.
    DecimalString,
    /// A string, with its logical type name if any (`io.debezium.data.Json`, …).
    Str(Option<&'static str>),
    Bytes,
    /// `io.debezium.time.Date`: int32 days.
    Date,
    /// `io.debezium.time.Time`: int32 milliseconds (`time(0..3)`).
    TimeMillis,
    /// `io.debezium.time.MicroTime`: int64 microseconds.
    TimeMicros,
    /// `io.debezium.time.ZonedTime` string.
    ZonedTime,
    /// `io.debezium.time.Timestamp`: int64 milliseconds (`timestamp(0..3)`).
    TimestampMillis,
    /// `io.debezium.time.MicroTimestamp`: int64 microseconds.
    TimestampMicros,
    /// `io.debezium.time.ZonedTimestamp` string with `width` fractional digits (0: Java default).
    ZonedTimestamp {
        width: u8,
    },
    /// `io.debezium.time.MicroDuration` int64.
    IntervalMicros,
    /// `io.debezium.time.Interval` ISO-8601 string.
    IntervalString,
    /// `io.debezium.data.Enum` string with its labels (comma-separated `allowed`).
    Enum(Arc<str>),
    /// `bit(n>1)`/`varbit`: `io.debezium.data.Bits` bytes, `length` bits at most.
    Bits(i32),
    /// `money` under each decimal mode: Connect `Decimal` of scale 2 (Debezium's default
    /// `money.fraction.digits`), a double, or the plain decimal string.
    Money(DecimalHandling),
    /// `point`: `io.debezium.data.geometry.Point` {x, y, wkb, srid}.
    Point,
    /// PostGIS `geometry`: `io.debezium.data.geometry.Geometry` {wkb, srid}.
    Geometry,
    /// PostGIS `geography`: `io.debezium.data.geometry.Geography` {wkb, srid}.
    Geography,
    /// `hstore` under `hstore.handling.mode=json`: an `io.debezium.data.Json` object string.
    HstoreJson,
    /// `hstore` under `hstore.handling.mode=map`: a Connect map of string to optional string.
    HstoreMap,
    /// A type Debezium does not map (ranges, multiranges, composites): a string holding the
    /// value's PostgreSQL text form, rendered with the (root) type.
    TextForm(Arc<PgType>),
    Array(Box<Kind>),
}

const JSON: &str = "io.debezium.data.Json";
const UUID: &str = "io.debezium.data.Uuid";
const ENUM: &str = "io.debezium.data.Enum";
const XML: &str = "io.debezium.data.Xml";
const LTREE: &str = "io.debezium.data.Ltree";
const TSVECTOR: &str = "io.debezium.data.Tsvector";
const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";

/// The mapping options that affect kinds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Modes {
    pub decimal: DecimalHandling,
    pub interval: IntervalHandling,
    pub hstore: HstoreHandling,
}

/// The kind of a column of type `ty` with type modifier `typmod`. A domain maps as the type
/// under it (Debezium's `getRootType`), with the domain's type modifier where the column has
/// none.
pub(crate) fn kind_of(ty: &Arc<PgType>, typmod: i32, modes: Modes) -> Kind {
    if let TypeKind::Domain { base, .. } = &ty.kind {
        return kind_of(base, ty.effective_typmod(typmod), modes);
    }
    let precision = if typmod >= 0 { typmod } else { 6 };
    match &ty.kind {
        TypeKind::Bool => Kind::Bool,
        TypeKind::Int2 => Kind::Int16,
        TypeKind::Int4 => Kind::Int32,
        TypeKind::Int8 => Kind::Int64,
        TypeKind::Float4 => Kind::Float32,
        TypeKind::Float8 => Kind::Float64,
        TypeKind::Numeric => numeric_kind(ty, typmod, modes.decimal),
        TypeKind::Text => Kind::Str(None),
        TypeKind::Bytea => Kind::Bytes,
        TypeKind::Date => Kind::Date,
        TypeKind::Time if precision <= 3 => Kind::TimeMillis,
        TypeKind::Time => Kind::TimeMicros,
        TypeKind::TimeTz => Kind::ZonedTime,
        TypeKind::Timestamp if precision <= 3 => Kind::TimestampMillis,
        TypeKind::Timestamp => Kind::TimestampMicros,
        TypeKind::TimestampTz => Kind::ZonedTimestamp {
            width: precision.clamp(0, 9) as u8,
        },
        TypeKind::Interval => match modes.interval {
            IntervalHandling::Numeric => Kind::IntervalMicros,
            IntervalHandling::String => Kind::IntervalString,
        },
        TypeKind::Uuid => Kind::Str(Some(UUID)),
        TypeKind::Json | TypeKind::Jsonb => Kind::Str(Some(JSON)),
        TypeKind::Enum(labels) => Kind::Enum(Arc::from(labels.join(","))),
        TypeKind::Array(elem) => Kind::Array(Box::new(kind_of(elem, typmod, modes))),
        TypeKind::Range(_) | TypeKind::Multirange(_) | TypeKind::Composite(_) => {
            Kind::TextForm(ty.clone())
        }
        TypeKind::Hstore => match modes.hstore {
            HstoreHandling::Json => Kind::HstoreJson,
            HstoreHandling::Map => Kind::HstoreMap,
        },
        TypeKind::Ltree => Kind::Str(Some(LTREE)),
        TypeKind::Geometry => Kind::Geometry,
        TypeKind::Geography => Kind::Geography,
        TypeKind::Other => builtin_kind(ty, typmod, modes),
        // Handled above; kept for completeness of the match.
        TypeKind::Domain { base, .. } => kind_of(base, typmod, modes),
    }
}

/// Built-in types without a wire kind of their own, as Debezium maps them by OID: `xml`,
/// `tsvector`, `money`, `bit`/`varbit` (`bit(1)` is a boolean), `point`; any other is a string
/// of its text form. Oracle-compatible `XMLTYPE` is `io.debezium.data.Xml`, as Debezium's
/// Oracle connector writes it.
fn builtin_kind(ty: &PgType, typmod: i32, modes: Modes) -> Kind {
    if ty.namespace != "pg_catalog" {
        return Kind::Str((ty.name == "xmltype").then_some(XML));
    }
    match ty.name.as_str() {
        "xml" => Kind::Str(Some(XML)),
        "tsvector" => Kind::Str(Some(TSVECTOR)),
        "money" => Kind::Money(modes.decimal),
        "point" => Kind::Point,
        // pgjdbc's precision: bit(n) has typmod n; varbit without a length is unbounded.
        "bit" | "varbit" => {
            let length = match (ty.name.as_str(), typmod) {
                ("varbit", -1) => i32::MAX,
                (_, n) => n,
            };
            if length > 1 {
                Kind::Bits(length)
            } else {
                Kind::Bool
            }
        }
        _ => Kind::Str(None),
    }
}

fn numeric_kind(ty: &Arc<PgType>, typmod: i32, mode: DecimalHandling) -> Kind {
    match mode {
        DecimalHandling::Double => Kind::DecimalDouble,
        DecimalHandling::String => Kind::DecimalString,
        DecimalHandling::Precise => {
            let probe = Column {
                name: String::new(),
                ty: ty.clone(),
                typmod,
                is_key: false,
                nullable: true,
            };
            match probe.numeric_precision_scale() {
                Some((precision, scale)) => Kind::Decimal { precision, scale },
                None => Kind::VarDecimal,
            }
        }
    }
}

/// Whether the column is optional in the Connect schema (key columns never are).
pub(crate) fn is_optional(col: &Column) -> bool {
    col.nullable && !col.is_key
}

/// The Connect type and logical name of `kind`.
fn type_and_name(kind: &Kind) -> (&'static str, Option<&'static str>) {
    match kind {
        Kind::Bool => ("boolean", None),
        Kind::Int16 => ("int16", None),
        Kind::Int32 => ("int32", None),
        Kind::Int64 => ("int64", None),
        Kind::Float32 => ("float", None),
        Kind::Float64 | Kind::DecimalDouble => ("double", None),
        Kind::Decimal { .. } => ("bytes", Some(DECIMAL)),
        Kind::VarDecimal => ("struct", Some("io.debezium.data.VariableScaleDecimal")),
        Kind::DecimalString => ("string", None),
        Kind::Str(name) => ("string", *name),
        Kind::Bytes => ("bytes", None),
        Kind::Date => ("int32", Some("io.debezium.time.Date")),
        Kind::TimeMillis => ("int32", Some("io.debezium.time.Time")),
        Kind::TimeMicros => ("int64", Some("io.debezium.time.MicroTime")),
        Kind::ZonedTime => ("string", Some("io.debezium.time.ZonedTime")),
        Kind::TimestampMillis => ("int64", Some("io.debezium.time.Timestamp")),
        Kind::TimestampMicros => ("int64", Some("io.debezium.time.MicroTimestamp")),
        Kind::ZonedTimestamp { .. } => ("string", Some("io.debezium.time.ZonedTimestamp")),
        Kind::IntervalMicros => ("int64", Some("io.debezium.time.MicroDuration")),
        Kind::IntervalString => ("string", Some("io.debezium.time.Interval")),
        Kind::Enum(_) => ("string", Some(ENUM)),
        Kind::Bits(_) => ("bytes", Some("io.debezium.data.Bits")),
        Kind::Money(DecimalHandling::Precise) => ("bytes", Some(DECIMAL)),
        Kind::Money(DecimalHandling::Double) => ("double", None),
        Kind::Money(DecimalHandling::String) => ("string", None),
        Kind::Point => ("struct", Some("io.debezium.data.geometry.Point")),
        Kind::Geometry => ("struct", Some("io.debezium.data.geometry.Geometry")),
        Kind::Geography => ("struct", Some("io.debezium.data.geometry.Geography")),
        Kind::HstoreJson => ("string", Some(JSON)),
        Kind::HstoreMap => ("map", None),
        Kind::TextForm(_) => ("string", None),
        Kind::Array(_) => ("array", None),
    }
}

/// The `fields` of the geometric structs, in Debezium's order.
const POINT_FIELDS: &str = ",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},\
    {\"type\":\"double\",\"optional\":false,\"field\":\"y\"},\
    {\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},\
    {\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}]";
const GEOMETRY_FIELDS: &str =
    ",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},\
    {\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}]";
const HSTORE_MAP_PARTS: &str =
    ",\"keys\":{\"type\":\"string\",\"optional\":false},\"values\":{\"type\":\"string\",\"optional\":true}";

/// Appends the Connect schema of `kind` (without `field`), leaving the object open so that the
/// caller can add `"field"`; `close` then appends `}`.
fn open_schema(out: &mut String, kind: &Kind, optional: bool) {
    let (ty, name) = type_and_name(kind);
    out.push_str("{\"type\":\"");
    out.push_str(ty);
    out.push('"');
    match kind {
        Kind::VarDecimal => out.push_str(
            ",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},\
             {\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}]",
        ),
        Kind::Point => out.push_str(POINT_FIELDS),
        Kind::Geometry | Kind::Geography => out.push_str(GEOMETRY_FIELDS),
        Kind::HstoreMap => out.push_str(HSTORE_MAP_PARTS),
        Kind::Array(item) => {
            out.push_str(",\"items\":");
            // Debezium's enum arrays alone have required items (`SchemaBuilder.array(Enum...)`).
            open_schema(out, item, !matches!(**item, Kind::Enum(_)));
            out.push('}');
        }
        _ => {}
    }
    // Debezium's Geometry builder is optional itself, whatever the column says.
    let optional = optional || *kind == Kind::Geometry;
    out.push_str(if optional {
        ",\"optional\":true"
    } else {
        ",\"optional\":false"
    });
    if let Some(name) = name {
        out.push_str(",\"name\":\"");
        out.push_str(name);
        out.push_str("\",\"version\":1");
    }
    match kind {
        Kind::VarDecimal => out.push_str(",\"doc\":\"Variable scaled decimal\""),
        Kind::Point => out.push_str(",\"doc\":\"Geometry (POINT)\""),
        Kind::Geometry => out.push_str(",\"doc\":\"Geometry\""),
        Kind::Geography => out.push_str(",\"doc\":\"Geography\""),
        Kind::Decimal { precision, scale } => {
            out.push_str(",\"parameters\":{\"scale\":\"");
            out.push_str(itoa::Buffer::new().format(*scale));
            out.push_str("\",\"connect.decimal.precision\":\"");
            out.push_str(itoa::Buffer::new().format(*precision));
            out.push_str("\"}");
        }
        Kind::Money(DecimalHandling::Precise) => out.push_str(",\"parameters\":{\"scale\":\"2\"}"),
        Kind::Bits(length) => {
            out.push_str(",\"parameters\":{\"length\":\"");
            out.push_str(itoa::Buffer::new().format(*length));
            out.push_str("\"}");
        }
        Kind::Enum(allowed) => {
            out.push_str(",\"parameters\":{\"allowed\":");
            push_json_str(out, allowed);
            out.push('}');
        }
        _ => {}
    }
}

/// Appends `,"field":<name>}` closing a field schema.
fn close_field(out: &mut String, name: &str) {
    out.push_str(",\"field\":");
    push_json_str(out, name);
    out.push('}');
}

/// Appends `s` as a JSON string with Jackson's escaping.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    let mut buf = Vec::with_capacity(s.len() + 2);
    crate::format::json::write_str(&mut buf, s);
    out.push_str(&String::from_utf8_lossy(&buf));
}

/// The struct schema of `cols` (`fields` then `optional`, `name`), optionally as a field.
fn struct_schema(
    out: &mut String,
    cols: &[(&Column, &Kind)],
    optional: bool,
    name: &str,
    field: Option<&str>,
) {
    out.push_str("{\"type\":\"struct\",\"fields\":[");
    for (i, (col, kind)) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        open_schema(out, kind, is_optional(col));
        close_field(out, &col.name);
    }
    out.push_str(if optional {
        "],\"optional\":true"
    } else {
        "],\"optional\":false"
    });
    out.push_str(",\"name\":");
    push_json_str(out, name);
    match field {
        Some(f) => close_field(out, f),
        None => out.push('}'),
    }
}

/// The key schema: `<prefix>.<schema>.<table>.Key` of the key columns.
pub(crate) fn key_schema(table: &TableSchema, kinds: &[Kind], prefix: &str) -> String {
    let cols: Vec<(&Column, &Kind)> = table
        .columns
        .iter()
        .zip(kinds)
        .filter(|(c, _)| c.is_key)
        .collect();
    let mut out = String::with_capacity(128);
    let name = format!("{prefix}.{}.{}.Key", table.schema, table.name);
    struct_schema(&mut out, &cols, false, &name, None);
    out
}

/// The source struct's fields every connector has (`SchemaFactory.sourceInfoSchemaBuilder`).
macro_rules! common_source_fields {
    () => {
        concat!(
            "{\"type\":\"struct\",\"fields\":[",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},",
            "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},",
            "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,",
            "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,",
            "last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},",
            "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},",
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},",
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},",
            "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},",
        )
    };
}

const SOURCE_SCHEMA: &str = concat!(
    common_source_fields!(),
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"origin\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"origin_lsn\"}],",
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,",
    "\"field\":\"source\"}"
);

/// Debezium 3.6's `OracleSourceInfoStructMaker` (unchanged from 3.6.0.Final to 3.7.0.Alpha2).
const ORACLE_SOURCE_SCHEMA: &str = concat!(
    common_source_fields!(),
    "{\"type\":\"string\",\"optional\":true,\"field\":\"txId\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"scn\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"commit_scn\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"lcr_position\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"rs_id\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ssn\"},",
    "{\"type\":\"int32\",\"optional\":true,\"field\":\"redo_thread\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"user_name\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"redo_sql\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"row_id\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"commit_ts_ms\"},",
    "{\"type\":\"string\",\"optional\":true,\"field\":\"start_scn\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"start_ts_ms\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txSeq\"}],",
    "\"optional\":false,\"name\":\"io.debezium.connector.oracle.Source\",\"version\":1,",
    "\"field\":\"source\"}"
);

const TRANSACTION_AND_TAIL: &str = concat!(
    ",{\"type\":\"struct\",\"fields\":[",
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},",
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},",
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],",
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},",
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},",
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}]"
);

/// The envelope schema: `<prefix>.<schema>.<table>.Envelope` version 2.
pub(crate) fn envelope_schema(
    table: &TableSchema,
    kinds: &[Kind],
    prefix: &str,
    connector: Connector,
) -> String {
    let cols: Vec<(&Column, &Kind)> = table.columns.iter().zip(kinds).collect();
    let base = format!("{prefix}.{}.{}", table.schema, table.name);
    let value_name = format!("{base}.Value");
    let mut out = String::with_capacity(2048);
    out.push_str("{\"type\":\"struct\",\"fields\":[");
    struct_schema(&mut out, &cols, true, &value_name, Some("before"));
    out.push(',');
    struct_schema(&mut out, &cols, true, &value_name, Some("after"));
    out.push(',');
    out.push_str(match connector {
        Connector::Postgresql => SOURCE_SCHEMA,
        Connector::Oracle => ORACLE_SOURCE_SCHEMA,
    });
    out.push_str(TRANSACTION_AND_TAIL);
    out.push_str(",\"optional\":false,\"name\":");
    push_json_str(&mut out, &format!("{base}.Envelope"));
    out.push_str(",\"version\":2}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(kind: TypeKind, name: &str) -> Arc<PgType> {
        Arc::new(PgType::new(0, name, "pg_catalog", kind))
    }

    const PRECISE: Modes = Modes {
        decimal: DecimalHandling::Precise,
        interval: IntervalHandling::Numeric,
        hstore: HstoreHandling::Json,
    };

    fn schema_of(kind: &Kind) -> String {
        let mut s = String::new();
        open_schema(&mut s, kind, true);
        close_field(&mut s, "c");
        s
    }

    #[test]
    fn adaptive_time_precision_picks_units() {
        let t = ty(TypeKind::Time, "time");
        assert_eq!(kind_of(&t, 3, PRECISE), Kind::TimeMillis);
        assert_eq!(kind_of(&t, 4, PRECISE), Kind::TimeMicros);
        assert_eq!(kind_of(&t, -1, PRECISE), Kind::TimeMicros);
        let ts = ty(TypeKind::Timestamp, "timestamp");
        assert_eq!(kind_of(&ts, 0, PRECISE), Kind::TimestampMillis);
        assert_eq!(kind_of(&ts, -1, PRECISE), Kind::TimestampMicros);
        let tz = ty(TypeKind::TimestampTz, "timestamptz");
        assert_eq!(kind_of(&tz, -1, PRECISE), Kind::ZonedTimestamp { width: 6 });
        assert_eq!(kind_of(&tz, 3, PRECISE), Kind::ZonedTimestamp { width: 3 });
    }

    #[test]
    fn numeric_kinds_follow_the_decimal_mode() {
        let n = ty(TypeKind::Numeric, "numeric");
        let typmod = ((12 << 16) | 2) + 4;
        assert_eq!(
            kind_of(&n, typmod, PRECISE),
            Kind::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(kind_of(&n, -1, PRECISE), Kind::VarDecimal);
        let double = Modes {
            decimal: DecimalHandling::Double,
            ..PRECISE
        };
        assert_eq!(kind_of(&n, typmod, double), Kind::DecimalDouble);
        let string = Modes {
            decimal: DecimalHandling::String,
            ..PRECISE
        };
        assert_eq!(kind_of(&n, -1, string), Kind::DecimalString);
    }

    #[test]
    fn field_schemas_print_in_connect_order() {
        assert_eq!(
            schema_of(&Kind::Decimal { precision: 12, scale: 2 }),
            "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\
             \"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"12\"},\"field\":\"c\"}"
        );
        assert_eq!(
            schema_of(&Kind::VarDecimal),
            "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},\
             {\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":true,\
             \"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\
             \"doc\":\"Variable scaled decimal\",\"field\":\"c\"}"
        );
        assert_eq!(
            schema_of(&Kind::Array(Box::new(Kind::Str(Some(UUID))))),
            "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true,\
             \"name\":\"io.debezium.data.Uuid\",\"version\":1},\"optional\":true,\"field\":\"c\"}"
        );
        assert_eq!(
            schema_of(&Kind::IntervalMicros),
            "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroDuration\",\
             \"version\":1,\"field\":\"c\"}"
        );
        assert_eq!(
            schema_of(&Kind::Float32),
            "{\"type\":\"float\",\"optional\":true,\"field\":\"c\"}"
        );
        assert_eq!(
            schema_of(&Kind::DecimalDouble),
            "{\"type\":\"double\",\"optional\":true,\"field\":\"c\"}"
        );
    }

    #[test]
    fn xml_and_other_types_are_strings() {
        let modes = PRECISE;
        assert_eq!(
            kind_of(&ty(TypeKind::Other, "xml"), -1, modes),
            Kind::Str(Some(XML))
        );
        assert_eq!(
            kind_of(&ty(TypeKind::Other, "inet"), -1, modes),
            Kind::Str(None)
        );
        let arr = ty(TypeKind::Array(ty(TypeKind::Int4, "int4")), "_int4");
        assert_eq!(kind_of(&arr, -1, modes), Kind::Array(Box::new(Kind::Int32)));
    }
}
