//! One value of every decoded type (`docs/TYPE-MAPPING.md`, Canal JSON table): its member in
//! `data`, its `mysqlType` and its `sqlType`, each written by hand from the table (the values
//! that depend on PostgreSQL's output functions were checked with `SELECT v::text` on
//! PostgreSQL 15). Cells are binary, as pgoutput sends them with `binary`, except where noted.

use std::sync::Arc;

use super::*;
use crate::schema::{CompositeField, PgType};

/// `v`'s JSON value in `data`, `mysqlType` and `sqlType` for an insert of `(1, cell)` into a
/// table `(id int4 PRIMARY KEY, v <t>)`.
fn render(t: Arc<PgType>, typmod: i32, cell: C) -> (String, String, String) {
    let id = ty(23, "int4", TypeKind::Int4);
    let cols = vec![col("id", id, -1, true), col("v", t, typmod, false)];
    let tbl = table(1, "t", cols, ReplicaIdentity::Full);
    let ev = event(&tbl, Op::Insert, None, Some(row(vec![C::V(int4(1)), cell])));
    let clock = ManualClock::default();
    let mut fmt = encoder(CanalOptions::default(), routing("", ""), &clock);
    let msg = value(&encode(&mut fmt, &ev)[0]);
    let between = |head: &str, end: &str| {
        let start = msg.find(head).unwrap_or_else(|| panic!("{head} in {msg}")) + head.len();
        let len = msg[start..].find(end).unwrap();
        msg[start..start + len].to_owned()
    };
    (
        between("{\"data\":[{\"id\":\"1\",\"v\":", "}],\"database\""),
        between("\"mysqlType\":{\"id\":\"integer\",\"v\":", "}"),
        between("\"sqlType\":{\"id\":4,\"v\":", "}"),
    )
}

/// Asserts the three renderings of one value.
fn check(t: Arc<PgType>, typmod: i32, cell: C, want: (&str, &str, &str)) {
    let name = t.name.clone();
    let (v, mysql, sql) = render(t, typmod, cell);
    assert_eq!(
        (v.as_str(), mysql.as_str(), sql.as_str()),
        (want.0, want.1, want.2),
        "type {name}"
    );
}

fn pg(oid: u32, name: &str, kind: TypeKind) -> Arc<PgType> {
    ty(oid, name, kind)
}

/// A type outside `pg_catalog` (user-defined, extension or Oracle-compatible).
fn user(oid: u32, name: &str, namespace: &str, kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(oid, name, namespace, kind))
}

fn hexb(s: &str) -> C {
    C::V(hex::decode(s).unwrap())
}

/// A length-prefixed value (range bounds, multirange members).
fn sized(b: &[u8]) -> Vec<u8> {
    [&(b.len() as i32).to_be_bytes()[..], b].concat()
}

#[test]
fn booleans_numbers_and_money() {
    check(
        pg(16, "bool", TypeKind::Bool),
        -1,
        C::V(boolean(true)),
        ("\"t\"", "\"boolean\"", "-6"),
    );
    check(
        pg(16, "bool", TypeKind::Bool),
        -1,
        C::V(boolean(false)),
        ("\"f\"", "\"boolean\"", "-6"),
    );
    check(
        pg(21, "int2", TypeKind::Int2),
        -1,
        C::V(int2(-32768)),
        ("\"-32768\"", "\"smallint\"", "5"),
    );
    check(
        pg(23, "int4", TypeKind::Int4),
        -1,
        C::V(int4(i32::MAX)),
        ("\"2147483647\"", "\"integer\"", "4"),
    );
    check(
        pg(20, "int8", TypeKind::Int8),
        -1,
        C::V(int8(i64::MIN)),
        ("\"-9223372036854775808\"", "\"bigint\"", "-5"),
    );
    check(
        pg(26, "oid", TypeKind::Int8),
        -1,
        hexb("ffffffff"),
        ("\"4294967295\"", "\"oid\"", "-5"),
    );
    check(
        pg(700, "float4", TypeKind::Float4),
        -1,
        C::V(float4(1.5)),
        ("\"1.5\"", "\"real\"", "7"),
    );
    check(
        pg(700, "float4", TypeKind::Float4),
        -1,
        C::V(float4(1e10)),
        ("\"1e+10\"", "\"real\"", "7"),
    );
    check(
        pg(701, "float8", TypeKind::Float8),
        -1,
        C::V(float8(-2.25e300)),
        ("\"-2.25e+300\"", "\"float8\"", "8"),
    );
    check(
        pg(701, "float8", TypeKind::Float8),
        -1,
        C::V(float8(f64::NAN)),
        ("\"NaN\"", "\"float8\"", "8"),
    );
    let n = || pg(1700, "numeric", TypeKind::Numeric);
    check(
        n(),
        numeric_typmod(20, 5),
        C::V(numeric("123456789012345.12345")),
        ("\"123456789012345.12345\"", "\"numeric\"", "3"),
    );
    check(
        n(),
        -1,
        C::V(numeric("-0.00001")),
        ("\"-0.00001\"", "\"numeric\"", "3"),
    );
    check(
        n(),
        -1,
        C::V(numeric("NaN")),
        ("\"NaN\"", "\"numeric\"", "3"),
    );
    check(
        n(),
        -1,
        C::T("Infinity"),
        ("\"Infinity\"", "\"numeric\"", "3"),
    );
    check(
        pg(790, "money", TypeKind::Other),
        -1,
        hexb("fffffffffffe1dc0"),
        ("\"-1234.56\"", "\"money\"", "3"),
    );
    check(
        pg(5069, "xid8", TypeKind::Other),
        -1,
        hexb("ffffffffffffffff"),
        ("\"18446744073709551615\"", "\"xid8\"", "3"),
    );
}

#[test]
fn character_types_and_bytes() {
    check(
        pg(1042, "bpchar", TypeKind::Text),
        9,
        C::V(text("ab   ")),
        ("\"ab   \"", "\"char\"", "1"),
    );
    check(
        pg(18, "char", TypeKind::Other),
        -1,
        hexb("61"),
        ("\"a\"", "\"char\"", "1"),
    );
    check(
        pg(1043, "varchar", TypeKind::Text),
        24,
        C::V(text("vc")),
        ("\"vc\"", "\"varchar\"", "12"),
    );
    check(
        pg(19, "name", TypeKind::Text),
        -1,
        C::V(text("orders")),
        ("\"orders\"", "\"name\"", "12"),
    );
    check(
        pg(25, "text", TypeKind::Text),
        -1,
        C::V(text("héllo \"q\"\t\\")),
        (r#""héllo \"q\"\t\\""#, "\"text\"", "2005"),
    );
    check(
        user(90_001, "citext", "public", TypeKind::Text),
        -1,
        C::V(text("MiXeD")),
        ("\"MiXeD\"", "\"citext\"", "2005"),
    );
    check(
        pg(17, "bytea", TypeKind::Bytea),
        -1,
        hexb("00ff10"),
        (r#""\\x00ff10""#, "\"bytea\"", "2004"),
    );
    check(
        pg(17, "bytea", TypeKind::Bytea),
        -1,
        C::V(vec![]),
        (r#""\\x""#, "\"bytea\"", "2004"),
    );
}

#[test]
fn dates_and_times() {
    let d = || pg(1082, "date", TypeKind::Date);
    check(
        d(),
        -1,
        C::V(date(19_782)),
        ("\"2024-02-29\"", "\"date\"", "91"),
    );
    check(
        d(),
        -1,
        C::V(date(-735_160)),
        ("\"0044-03-15 BC\"", "\"date\"", "91"),
    );
    check(
        d(),
        -1,
        hexb("7fffffff"),
        ("\"infinity\"", "\"date\"", "91"),
    );
    let micros = ((23 * 60 + 59) * 60 + 59) * 1_000_000 + 999_999;
    check(
        pg(1083, "time", TypeKind::Time),
        -1,
        C::V(time(micros)),
        ("\"23:59:59.999999\"", "\"time\"", "92"),
    );
    check(
        pg(1266, "timetz", TypeKind::TimeTz),
        -1,
        C::V(timetz(
            ((10 * 60 + 11) * 60 + 12) * 1_000_000 + 500_000,
            19_800,
        )),
        ("\"10:11:12.5+05:30\"", "\"timetz\"", "92"),
    );
    let ts = || pg(1114, "timestamp", TypeKind::Timestamp);
    check(
        ts(),
        -1,
        C::V(timestamp(946_684_799_123_456)),
        ("\"1999-12-31 23:59:59.123456\"", "\"timestamp\"", "93"),
    );
    check(
        ts(),
        -1,
        hexb("8000000000000000"),
        ("\"-infinity\"", "\"timestamp\"", "93"),
    );
    check(
        pg(1184, "timestamptz", TypeKind::TimestampTz),
        -1,
        C::V(timestamp(1_709_210_096_789_012)),
        ("\"2024-02-29 12:34:56.789012+00\"", "\"timestamptz\"", "93"),
    );
    let iv = || pg(1186, "interval", TypeKind::Interval);
    check(
        iv(),
        -1,
        C::V(interval(
            ((4 * 60 + 5) * 60 + 6) * 1_000_000 + 700_000,
            3,
            14,
        )),
        ("\"1 year 2 mons 3 days 04:05:06.7\"", "\"interval\"", "12"),
    );
    check(
        iv(),
        -1,
        C::V(interval(-1_000_000, -1, 0)),
        ("\"-1 days -00:00:01\"", "\"interval\"", "12"),
    );
}

#[test]
fn uuid_json_xml_and_other_built_ins() {
    check(
        pg(2950, "uuid", TypeKind::Uuid),
        -1,
        C::V(uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"", "\"uuid\"", "12"),
    );
    check(
        pg(114, "json", TypeKind::Json),
        -1,
        C::V(text("{\"k\": [1, 2]}")),
        (r#""{\"k\": [1, 2]}""#, "\"json\"", "12"),
    );
    check(
        pg(3802, "jsonb", TypeKind::Jsonb),
        -1,
        C::V(jsonb("{\"a\": null, \"b\": 1}")),
        (r#""{\"a\": null, \"b\": 1}""#, "\"jsonb\"", "12"),
    );
    check(
        pg(142, "xml", TypeKind::Other),
        -1,
        C::V(text("<a>x</a>")),
        ("\"<a>x</a>\"", "\"xml\"", "12"),
    );
    check(
        pg(1560, "bit", TypeKind::Other),
        3,
        hexb("00000003a0"),
        ("\"101\"", "\"bit\"", "-7"),
    );
    check(
        pg(1562, "varbit", TypeKind::Other),
        -1,
        hexb("00000003a0"),
        ("\"101\"", "\"varbit\"", "-7"),
    );
    check(
        pg(869, "inet", TypeKind::Other),
        -1,
        hexb("02180004c0a80001"),
        ("\"192.168.0.1/24\"", "\"inet\"", "12"),
    );
    check(
        pg(650, "cidr", TypeKind::Other),
        -1,
        hexb("020801040a000000"),
        ("\"10.0.0.0/8\"", "\"cidr\"", "12"),
    );
    check(
        pg(829, "macaddr", TypeKind::Other),
        -1,
        hexb("08002b010203"),
        ("\"08:00:2b:01:02:03\"", "\"macaddr\"", "12"),
    );
    let point = [float8(1.0), float8(2.0)].concat();
    check(
        pg(600, "point", TypeKind::Other),
        -1,
        C::V(point),
        ("\"(1,2)\"", "\"point\"", "12"),
    );
    check(
        pg(3220, "pg_lsn", TypeKind::Other),
        -1,
        hexb("00000000016b3748"),
        ("\"0/16B3748\"", "\"pg_lsn\"", "12"),
    );
    // tsvector as the text cell a server sends without `binary`.
    check(
        pg(3614, "tsvector", TypeKind::Other),
        -1,
        C::T("'a' 'b':1"),
        ("\"'a' 'b':1\"", "\"tsvector\"", "12"),
    );
}

fn int4_t() -> Arc<PgType> {
    pg(23, "int4", TypeKind::Int4)
}

fn mood() -> Arc<PgType> {
    let labels: Arc<[String]> = Arc::from(vec!["sad".to_owned(), "ok".into(), "happy".into()]);
    user(90_010, "mood", "public", TypeKind::Enum(labels))
}

#[test]
fn arrays_enums_and_domains() {
    let ai = pg(1007, "_int4", TypeKind::Array(int4_t()));
    let cells = [Some(int4(1)), None, Some(int4(3))];
    check(
        ai,
        -1,
        C::V(array(23, &cells)),
        ("\"{1,NULL,3}\"", "\"integer[]\"", "12"),
    );
    let text_t = pg(25, "text", TypeKind::Text);
    let at = pg(1009, "_text", TypeKind::Array(text_t));
    let cells = [Some(text("x")), Some(text("y z"))];
    check(
        at,
        -1,
        C::V(array(25, &cells)),
        (r#""{x,\"y z\"}""#, "\"text[]\"", "12"),
    );
    check(
        mood(),
        -1,
        C::V(text("happy")),
        ("\"happy\"", "\"mood\"", "12"),
    );
    let moods = user(90_011, "_mood", "public", TypeKind::Array(mood()));
    let cells = [Some(text("sad")), Some(text("happy"))];
    check(
        moods,
        -1,
        C::V(array(90_010, &cells)),
        ("\"{sad,happy}\"", "\"mood[]\"", "12"),
    );
    let posint = user(
        90_020,
        "posint",
        "public",
        TypeKind::Domain {
            base: int4_t(),
            typmod: -1,
        },
    );
    check(posint, -1, C::V(int4(7)), ("\"7\"", "\"posint\"", "4"));
    let arr = pg(1007, "_int4", TypeKind::Array(int4_t()));
    let int_arr = user(
        90_021,
        "int_arr",
        "public",
        TypeKind::Domain {
            base: arr,
            typmod: -1,
        },
    );
    let cells = [Some(int4(1)), Some(int4(2))];
    check(
        int_arr,
        -1,
        C::V(array(23, &cells)),
        ("\"{1,2}\"", "\"int_arr\"", "12"),
    );
}

#[test]
fn ranges_multiranges_and_composites() {
    let r4 = || pg(3904, "int4range", TypeKind::Range(int4_t()));
    let bounded = [&[0x02][..], &sized(&int4(1)), &sized(&int4(5))].concat();
    check(
        r4(),
        -1,
        C::V(bounded.clone()),
        ("\"[1,5)\"", "\"int4range\"", "12"),
    );
    check(r4(), -1, hexb("01"), ("\"empty\"", "\"int4range\"", "12"));
    let text_t = pg(25, "text", TypeKind::Text);
    let tr = user(
        90_030,
        "textrange",
        "public",
        TypeKind::Range(text_t.clone()),
    );
    let b = [&[0x02][..], &sized(b"a b"), &sized(b"c")].concat();
    check(tr, -1, C::V(b), (r#""[\"a b\",c)""#, "\"textrange\"", "12"));
    let mr = pg(4451, "int4multirange", TypeKind::Multirange(r4()));
    let second = [&[0x02][..], &sized(&int4(5)), &sized(&int4(7))].concat();
    let first = [&[0x02][..], &sized(&int4(1)), &sized(&int4(3))].concat();
    let b = [&2i32.to_be_bytes()[..], &sized(&first), &sized(&second)].concat();
    check(
        mr,
        -1,
        C::V(b),
        ("\"{[1,3),[5,7)}\"", "\"int4multirange\"", "12"),
    );
    let fields: Arc<[CompositeField]> = Arc::from(vec![
        CompositeField {
            name: "a".into(),
            ty: int4_t(),
        },
        CompositeField {
            name: "b".into(),
            ty: text_t,
        },
    ]);
    let pair = user(90_040, "pair", "public", TypeKind::Composite(fields));
    let rec = |a: &[u8], b: &[u8]| [&2i32.to_be_bytes()[..], a, b].concat();
    let field = |oid: u32, v: &[u8]| [&oid.to_be_bytes()[..], &sized(v)].concat();
    let b = rec(&field(23, &int4(1)), &field(25, b"x y"));
    check(
        pair.clone(),
        -1,
        C::V(b),
        (r#""(1,\"x y\")""#, "\"pair\"", "12"),
    );
    let null = |oid: u32| [&oid.to_be_bytes()[..], &(-1i32).to_be_bytes()[..]].concat();
    check(
        pair,
        -1,
        C::V(rec(&null(23), &null(25))),
        ("\"(,)\"", "\"pair\"", "12"),
    );
}

#[test]
fn extension_types() {
    let hstore = user(90_050, "hstore", "public", TypeKind::Hstore);
    let b = [
        &2i32.to_be_bytes()[..],
        &sized(b"a"),
        &sized(b"1"),
        &sized(b"b c"),
        &(-1i32).to_be_bytes(),
    ]
    .concat();
    check(
        hstore,
        -1,
        C::V(b),
        (r#""\"a\"=>\"1\", \"b c\"=>NULL""#, "\"hstore\"", "12"),
    );
    let ltree = user(90_051, "ltree", "public", TypeKind::Ltree);
    check(
        ltree,
        -1,
        C::V([&[1u8][..], b"Top.Science"].concat()),
        ("\"Top.Science\"", "\"ltree\"", "12"),
    );
    let ewkb = "0101000020E6100000CDCCCCCCCCCC2A400000000000404A40";
    let want = format!("\"{ewkb}\"");
    let geometry = user(90_052, "geometry", "gis", TypeKind::Geometry);
    check(geometry, -1, hexb(ewkb), (&want, "\"geometry\"", "12"));
    let geography = user(90_053, "geography", "gis", TypeKind::Geography);
    check(geography, -1, hexb(ewkb), (&want, "\"geography\"", "12"));
}

/// IvorySQL's Oracle-compatible types (schema `sys`).
fn ora(oid: u32, name: &str, kind: TypeKind) -> Arc<PgType> {
    user(oid, name, "sys", kind)
}

#[test]
fn oracle_compatible_types() {
    check(
        ora(9520, "number", TypeKind::Numeric),
        -1,
        C::V(numeric("12.50")),
        ("\"12.50\"", "\"number\"", "3"),
    );
    check(
        ora(9503, "oravarcharbyte", TypeKind::Text),
        14,
        C::V(text("v2")),
        ("\"v2\"", "\"varchar2\"", "12"),
    );
    check(
        ora(9502, "oravarcharchar", TypeKind::Text),
        14,
        C::V(text("v2")),
        ("\"v2\"", "\"varchar2\"", "12"),
    );
    check(
        ora(9500, "oracharchar", TypeKind::Text),
        7,
        C::V(text("ab ")),
        ("\"ab \"", "\"char\"", "1"),
    );
    check(
        ora(9501, "oracharbyte", TypeKind::Text),
        7,
        C::V(text("ab ")),
        ("\"ab \"", "\"char\"", "1"),
    );
    check(
        ora(9508, "oradate", TypeKind::Timestamp),
        -1,
        C::V(timestamp(1_710_496_800_000_000)),
        ("\"2024-03-15 10:00:00\"", "\"date\"", "93"),
    );
    check(
        ora(9510, "oratimestamp", TypeKind::Timestamp),
        -1,
        C::V(timestamp(1_710_496_800_000_001)),
        ("\"2024-03-15 10:00:00.000001\"", "\"timestamp\"", "93"),
    );
    check(
        ora(9512, "oratimestamptz", TypeKind::TimestampTz),
        -1,
        C::V(timestamp(1_710_496_800_000_000)),
        (
            "\"2024-03-15 10:00:00+00\"",
            "\"timestamp with time zone\"",
            "93",
        ),
    );
    check(
        ora(9514, "oratimestampltz", TypeKind::TimestampTz),
        -1,
        C::V(timestamp(0)),
        (
            "\"1970-01-01 00:00:00+00\"",
            "\"timestamp with local time zone\"",
            "93",
        ),
    );
    check(
        ora(9516, "yminterval", TypeKind::Interval),
        -1,
        C::V(interval(0, 0, 14)),
        ("\"1 year 2 mons\"", "\"interval year to month\"", "12"),
    );
    check(
        ora(9518, "dsinterval", TypeKind::Interval),
        -1,
        C::V(interval(3_723_000_000, 3, 0)),
        ("\"3 days 01:02:03\"", "\"interval day to second\"", "12"),
    );
    check(
        ora(9522, "binary_float", TypeKind::Float4),
        -1,
        C::V(float4(0.5)),
        ("\"0.5\"", "\"binary_float\"", "7"),
    );
    check(
        ora(9524, "binary_double", TypeKind::Float8),
        -1,
        C::V(float8(0.25)),
        ("\"0.25\"", "\"binary_double\"", "8"),
    );
    let text_t = pg(25, "text", TypeKind::Text);
    let bytea_t = pg(17, "bytea", TypeKind::Bytea);
    let over = |oid, name: &str, base: &Arc<PgType>| {
        ora(
            oid,
            name,
            TypeKind::Domain {
                base: base.clone(),
                typmod: -1,
            },
        )
    };
    check(
        over(9527, "clob", &text_t),
        -1,
        C::V(text("c")),
        ("\"c\"", "\"clob\"", "2005"),
    );
    check(
        over(9531, "nclob", &text_t),
        -1,
        C::V(text("c")),
        ("\"c\"", "\"nclob\"", "2005"),
    );
    check(
        over(9528, "long", &text_t),
        -1,
        C::V(text("c")),
        ("\"c\"", "\"long\"", "2005"),
    );
    check(
        over(9526, "blob", &bytea_t),
        -1,
        hexb("0102"),
        (r#""\\x0102""#, "\"blob\"", "2004"),
    );
    check(
        over(9530, "raw", &bytea_t),
        -1,
        hexb("0102"),
        (r#""\\x0102""#, "\"raw\"", "2004"),
    );
    check(
        over(9529, "long_raw", &bytea_t),
        -1,
        hexb("0102"),
        (r#""\\x0102""#, "\"long raw\"", "2004"),
    );
    check(
        ora(9600, "xmltype", TypeKind::Other),
        -1,
        C::T("<a/>"),
        ("\"<a/>\"", "\"xmltype\"", "12"),
    );
}
