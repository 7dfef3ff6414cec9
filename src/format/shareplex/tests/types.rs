//! Every decoded type's value form, as `docs/TYPE-MAPPING.md` ("SharePlex JSON") states it:
//! the expected JSON members are written by hand from that table, not produced by the code.

use std::sync::Arc;

use super::*;
use crate::event::Op;
use crate::format::debezium::tests::pgbin::*;
use crate::schema::{CompositeField, PgType, ReplicaIdentity, TypeKind};

/// The JSON value of column `v` in the `data` of an insert of `(1, cell)`; `(omitted)` when
/// the column is left out.
fn render(t: Arc<PgType>, typmod: i32, cell: C) -> String {
    let id = ty(23, "int4", TypeKind::Int4);
    let tbl = table(
        1,
        "t",
        vec![col("id", id, -1, true), col("v", t, typmod, false)],
        ReplicaIdentity::Full,
    );
    let ev = event(&tbl, Op::Insert, None, Some(row(vec![C::V(int4(1)), cell])));
    let (mut f, _clock) = format("", "");
    let mut out = EncodedBatch::default();
    f.encode(&ev, &mut out).unwrap();
    let v = value(&out.records()[0]).to_owned();
    let head = "\"data\":{\"id\":\"1\"";
    let rest = &v[v.find(head).unwrap() + head.len()..];
    match rest.strip_prefix(",\"v\":") {
        Some(member) => member.strip_suffix("}}").unwrap().to_owned(),
        None => {
            assert_eq!(rest, "}}");
            "(omitted)".to_owned()
        }
    }
}

fn pg(oid: u32, name: &str, kind: TypeKind) -> Arc<PgType> {
    ty(oid, name, kind)
}

fn other(name: &str) -> Arc<PgType> {
    ty(0, name, TypeKind::Other)
}

fn num() -> Arc<PgType> {
    pg(1700, "numeric", TypeKind::Numeric)
}

/// An Oracle-compatible type (schema `sys`) with a built-in type's wire format.
fn sys(oid: u32, name: &str, kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(oid, name, "sys", kind))
}

fn domain(name: &str, base: Arc<PgType>) -> Arc<PgType> {
    Arc::new(PgType::new(
        90_100,
        name,
        "public",
        TypeKind::Domain { base, typmod: -1 },
    ))
}

#[test]
fn null_and_values_not_sent() {
    assert_eq!(render(pg(25, "text", TypeKind::Text), -1, C::Null), "null");
    assert_eq!(
        render(pg(25, "text", TypeKind::Text), -1, C::Unchanged),
        "(omitted)"
    );
    assert_eq!(render(num(), -1, C::Unchanged), "(omitted)");
}

#[test]
fn booleans_and_integers() {
    let b = || pg(16, "bool", TypeKind::Bool);
    assert_eq!(render(b(), -1, C::V(boolean(true))), r#""t""#);
    assert_eq!(render(b(), -1, C::V(boolean(false))), r#""f""#);
    assert_eq!(
        render(pg(21, "int2", TypeKind::Int2), -1, C::V(int2(-32768))),
        r#""-32768""#
    );
    assert_eq!(
        render(pg(23, "int4", TypeKind::Int4), -1, C::V(int4(2147483647))),
        r#""2147483647""#
    );
    assert_eq!(
        render(pg(20, "int8", TypeKind::Int8), -1, C::V(int8(i64::MIN))),
        r#""-9223372036854775808""#
    );
    // oid and the reg* types: their unsigned 4-byte number.
    assert_eq!(
        render(pg(26, "oid", TypeKind::Int8), -1, C::V(vec![0xFF; 4])),
        r#""4294967295""#
    );
    assert_eq!(
        render(
            pg(2205, "regclass", TypeKind::Int8),
            -1,
            C::V(16384u32.to_be_bytes().to_vec())
        ),
        r#""16384""#
    );
    // A text cell.
    assert_eq!(
        render(pg(23, "int4", TypeKind::Int4), -1, C::T("-7")),
        r#""-7""#
    );
}

#[test]
fn floats_print_as_postgresql_does() {
    let f4 = || pg(700, "float4", TypeKind::Float4);
    let f8 = || pg(701, "float8", TypeKind::Float8);
    assert_eq!(render(f4(), -1, C::V(float4(1.5))), r#""1.5""#);
    assert_eq!(render(f4(), -1, C::V(float4(1.1))), r#""1.1""#);
    assert_eq!(render(f4(), -1, C::V(float4(1e7))), r#""1e+07""#);
    assert_eq!(render(f4(), -1, C::V(float4(f32::NAN))), r#""NaN""#);
    assert_eq!(render(f8(), -1, C::V(float8(-2.25e300))), r#""-2.25e+300""#);
    assert_eq!(
        render(f8(), -1, C::V(float8(0.1 + 0.2))),
        r#""0.30000000000000004""#
    );
    assert_eq!(render(f8(), -1, C::V(float8(1e14))), r#""100000000000000""#);
    assert_eq!(render(f8(), -1, C::V(float8(1e15))), r#""1e+15""#);
    assert_eq!(render(f8(), -1, C::V(float8(0.0001))), r#""0.0001""#);
    assert_eq!(render(f8(), -1, C::V(float8(0.00001))), r#""1e-05""#);
    assert_eq!(render(f8(), -1, C::V(float8(-0.0))), r#""-0""#);
    assert_eq!(
        render(f8(), -1, C::V(float8(f64::INFINITY))),
        r#""Infinity""#
    );
    assert_eq!(
        render(f8(), -1, C::V(float8(f64::NEG_INFINITY))),
        r#""-Infinity""#
    );
    // Oracle BINARY_FLOAT / BINARY_DOUBLE.
    assert_eq!(
        render(
            sys(9522, "binary_float", TypeKind::Float4),
            -1,
            C::V(float4(0.5))
        ),
        r#""0.5""#
    );
    assert_eq!(
        render(
            sys(9524, "binary_double", TypeKind::Float8),
            -1,
            C::V(float8(f64::NAN))
        ),
        r#""NaN""#
    );
}

#[test]
fn numerics_keep_their_scale() {
    let tm = numeric_typmod(10, 2);
    assert_eq!(render(num(), tm, C::V(numeric("19.90"))), r#""19.90""#);
    assert_eq!(
        render(num(), -1, C::V(numeric("-0.00001"))),
        r#""-0.00001""#
    );
    assert_eq!(render(num(), -1, C::V(numeric("12300"))), r#""12300""#);
    assert_eq!(
        render(
            num(),
            -1,
            C::V(numeric("123456789012345678901234567890.123456789"))
        ),
        r#""123456789012345678901234567890.123456789""#
    );
    assert_eq!(
        render(num(), -1, C::V(numeric("0.000000001"))),
        r#""0.000000001""#
    );
    assert_eq!(render(num(), -1, C::V(numeric("NaN"))), r#""NaN""#);
    assert_eq!(
        render(num(), -1, C::V(numeric("Infinity"))),
        r#""Infinity""#
    );
    assert_eq!(
        render(num(), -1, C::V(numeric("-Infinity"))),
        r#""-Infinity""#
    );
    assert_eq!(render(num(), -1, C::T("3.140")), r#""3.140""#);
    let number = sys(9520, "number", TypeKind::Numeric);
    assert_eq!(render(number, -1, C::V(numeric("42.5"))), r#""42.5""#);
    assert_eq!(
        render(other("money"), -1, C::V(int8(-123_456))),
        r#""-1234.56""#
    );
}

#[test]
fn strings_and_bytes() {
    let t = pg(25, "text", TypeKind::Text);
    assert_eq!(
        render(t, -1, C::V(text("héllo \"q\"\n\\\u{1}"))),
        r#""héllo \"q\"\n\\\u0001""#
    );
    assert_eq!(
        render(pg(1043, "varchar", TypeKind::Text), 24, C::V(text(""))),
        r#""""#
    );
    assert_eq!(
        render(pg(1042, "bpchar", TypeKind::Text), 9, C::V(text("ab   "))),
        r#""ab   ""#
    );
    assert_eq!(
        render(pg(19, "name", TypeKind::Text), -1, C::V(text("pg_class"))),
        r#""pg_class""#
    );
    let citext = Arc::new(PgType::new(90_004, "citext", "public", TypeKind::Text));
    assert_eq!(render(citext, -1, C::V(text("MiXeD"))), r#""MiXeD""#);
    assert_eq!(render(other("char"), -1, C::V(vec![b'a'])), r#""a""#);
    let by = || pg(17, "bytea", TypeKind::Bytea);
    assert_eq!(
        render(by(), -1, C::V(vec![0x00, 0xff, 0x10])),
        r#""\\x00ff10""#
    );
    assert_eq!(render(by(), -1, C::V(vec![])), r#""\\x""#);
    // Oracle VARCHAR2, CHAR, CLOB (a domain over text), BLOB and RAW (domains over bytea).
    assert_eq!(
        render(
            sys(9503, "oravarcharbyte", TypeKind::Text),
            24,
            C::V(text("v2"))
        ),
        r#""v2""#
    );
    assert_eq!(
        render(
            sys(9501, "oracharbyte", TypeKind::Text),
            9,
            C::V(text("c    "))
        ),
        r#""c    ""#
    );
    let clob = domain("clob", pg(25, "text", TypeKind::Text));
    assert_eq!(render(clob, -1, C::V(text("long text"))), r#""long text""#);
    let blob = domain("blob", by());
    assert_eq!(render(blob, -1, C::V(vec![0xAB])), r#""\\xab""#);
}

#[test]
fn dates_and_times() {
    let d = || pg(1082, "date", TypeKind::Date);
    assert_eq!(render(d(), -1, C::V(date(19_782))), r#""2024-02-29""#);
    assert_eq!(render(d(), -1, C::V(date(-25_567))), r#""1900-01-01""#);
    // 44 BC = year -43: 0044-03-15 BC.
    assert_eq!(render(d(), -1, C::V(date(-735_160))), r#""0044-03-15 BC""#);
    assert_eq!(render(d(), -1, C::V(int4(i32::MAX))), r#""infinity""#);
    assert_eq!(render(d(), -1, C::V(int4(i32::MIN))), r#""-infinity""#);
    let tm = pg(1083, "time", TypeKind::Time);
    assert_eq!(
        render(tm.clone(), -1, C::V(time(45_296_789_123))),
        r#""12:34:56.789123""#
    );
    assert_eq!(render(tm, -1, C::V(time(0))), r#""00:00:00""#);
    let tz = pg(1266, "timetz", TypeKind::TimeTz);
    assert_eq!(
        render(tz.clone(), -1, C::V(timetz(36_672_500_000, 19_800))),
        r#""10:11:12.5+05:30""#
    );
    assert_eq!(render(tz, -1, C::V(timetz(0, 0))), r#""00:00:00+00""#);
    let ts = || pg(1114, "timestamp", TypeKind::Timestamp);
    assert_eq!(
        render(ts(), -1, C::V(timestamp(946_684_799_123_456))),
        r#""1999-12-31 23:59:59.123456""#
    );
    assert_eq!(render(ts(), -1, C::V(int8(i64::MAX))), r#""infinity""#);
    let tstz = || pg(1184, "timestamptz", TypeKind::TimestampTz);
    assert_eq!(
        render(tstz(), -1, C::V(timestamp(1_709_210_096_789_012))),
        r#""2024-02-29 12:34:56.789012+00""#
    );
    assert_eq!(
        render(tstz(), -1, C::V(timestamp(-500_000))),
        r#""1969-12-31 23:59:59.5+00""#
    );
    assert_eq!(render(tstz(), -1, C::V(int8(i64::MIN))), r#""-infinity""#);
    // Oracle DATE and TIMESTAMP [WITH [LOCAL] TIME ZONE]: PostgreSQL's forms.
    let oradate = sys(9508, "oradate", TypeKind::Timestamp);
    assert_eq!(
        render(oradate, -1, C::V(timestamp(1_710_501_072_000_000))),
        r#""2024-03-15 11:11:12""#
    );
    let oratstz = sys(9512, "oratimestamptz", TypeKind::TimestampTz);
    assert_eq!(
        render(oratstz, -1, C::V(timestamp(0))),
        r#""1970-01-01 00:00:00+00""#
    );
    // A text cell (pgoutput without binary) is the server's text.
    assert_eq!(render(d(), -1, C::T("2024-02-29")), r#""2024-02-29""#);
}

#[test]
fn intervals() {
    let iv = || pg(1186, "interval", TypeKind::Interval);
    let v = interval(4 * 3_600_000_000 + 5 * 60_000_000 + 6_700_000, 3, 14);
    assert_eq!(
        render(iv(), -1, C::V(v)),
        r#""1 year 2 mons 3 days 04:05:06.7""#
    );
    assert_eq!(
        render(iv(), -1, C::V(interval(-1_000_000, -1, 0))),
        r#""-1 days -00:00:01""#
    );
    assert_eq!(render(iv(), -1, C::V(interval(0, 0, 0))), r#""00:00:00""#);
    let ym = sys(9516, "yminterval", TypeKind::Interval);
    assert_eq!(
        render(ym, -1, C::V(interval(0, 0, 14))),
        r#""1 year 2 mons""#
    );
    let ds = sys(9518, "dsinterval", TypeKind::Interval);
    assert_eq!(
        render(ds, -1, C::V(interval(3_600_000_000, 2, 0))),
        r#""2 days 01:00:00""#
    );
}

#[test]
fn uuids_json_xml_and_enums() {
    let u = uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(
        render(pg(2950, "uuid", TypeKind::Uuid), -1, C::V(u)),
        r#""a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11""#
    );
    assert_eq!(
        render(
            pg(114, "json", TypeKind::Json),
            -1,
            C::V(text("{\"k\": [1, 2]}"))
        ),
        r#""{\"k\": [1, 2]}""#
    );
    assert_eq!(
        render(
            pg(3802, "jsonb", TypeKind::Jsonb),
            -1,
            C::V(jsonb("{\"a\": null, \"b\": 1}"))
        ),
        r#""{\"a\": null, \"b\": 1}""#
    );
    assert_eq!(
        render(other("xml"), -1, C::V(text("<a>1</a>"))),
        r#""<a>1</a>""#
    );
    let mut jp = vec![1];
    jp.extend(b"$.\"a\"[*]");
    assert_eq!(render(other("jsonpath"), -1, C::V(jp)), r#""$.\"a\"[*]""#);
    // XMLTYPE has no binary form: its text cell.
    let xmltype = Arc::new(PgType::new(90_200, "xmltype", "sys", TypeKind::Other));
    assert_eq!(render(xmltype, -1, C::T("<r/>")), r#""<r/>""#);
    let labels: Arc<[String]> = Arc::from(vec!["sad".to_owned(), "happy".to_owned()]);
    let mood = Arc::new(PgType::new(
        90_000,
        "mood",
        "public",
        TypeKind::Enum(labels),
    ));
    assert_eq!(render(mood.clone(), -1, C::V(text("happy"))), r#""happy""#);
    let posint = domain("posint", pg(23, "int4", TypeKind::Int4));
    assert_eq!(render(posint, -1, C::V(int4(7))), r#""7""#);
    assert_eq!(
        render(domain("mood_dom", mood), -1, C::V(text("sad"))),
        r#""sad""#
    );
}

/// A two-dimensional int4 array `{{1,2},{3,4}}` in array_send form.
fn int4_2d() -> Vec<u8> {
    let mut v = Vec::new();
    for w in [2i32, 0, 23, 2, 1, 2, 1] {
        v.extend(w.to_be_bytes());
    }
    for x in 1..=4 {
        v.extend(4i32.to_be_bytes());
        v.extend(int4(x));
    }
    v
}

#[test]
fn arrays_are_their_array_out_text() {
    let int4_t = pg(23, "int4", TypeKind::Int4);
    let arr = pg(1007, "_int4", TypeKind::Array(int4_t));
    let cells = [Some(int4(1)), None, Some(int4(3))];
    assert_eq!(
        render(arr.clone(), -1, C::V(array(23, &cells))),
        r#""{1,NULL,3}""#
    );
    assert_eq!(render(arr.clone(), -1, C::V(array(23, &[]))), r#""{}""#);
    assert_eq!(render(arr, -1, C::V(int4_2d())), r#""{{1,2},{3,4}}""#);
    let text_arr = pg(
        1009,
        "_text",
        TypeKind::Array(pg(25, "text", TypeKind::Text)),
    );
    let cells = [
        Some(text("x")),
        Some(text("y z")),
        Some(text("")),
        Some(text("NULL")),
    ];
    assert_eq!(
        render(text_arr, -1, C::V(array(25, &cells))),
        r#""{x,\"y z\",\"\",\"NULL\"}""#
    );
    let num_arr = pg(1231, "_numeric", TypeKind::Array(num()));
    assert_eq!(
        render(num_arr, -1, C::V(array(1700, &[Some(numeric("1.50"))]))),
        r#""{1.50}""#
    );
}

/// range_send of int4 bounds: flags, then each present bound with its length.
fn int4_range(flags: u8, bounds: &[i32]) -> Vec<u8> {
    let mut v = vec![flags];
    for b in bounds {
        v.extend(4i32.to_be_bytes());
        v.extend(b.to_be_bytes());
    }
    v
}

#[test]
fn ranges_multiranges_and_composites() {
    let int4_t = pg(23, "int4", TypeKind::Int4);
    let range = pg(3904, "int4range", TypeKind::Range(int4_t.clone()));
    // LB_INC 0x02, UB_INC 0x04, LB_INF 0x08, EMPTY 0x01.
    assert_eq!(
        render(range.clone(), -1, C::V(int4_range(0x02, &[1, 10]))),
        r#""[1,10)""#
    );
    assert_eq!(
        render(range.clone(), -1, C::V(int4_range(0x01, &[]))),
        r#""empty""#
    );
    assert_eq!(
        render(range.clone(), -1, C::V(int4_range(0x0C, &[5]))),
        r#""(,5]""#
    );
    let multi = pg(4451, "int4multirange", TypeKind::Multirange(range));
    let mut m = 2i32.to_be_bytes().to_vec();
    for r in [int4_range(0x02, &[1, 3]), int4_range(0x02, &[5, 7])] {
        m.extend((r.len() as i32).to_be_bytes());
        m.extend(r);
    }
    assert_eq!(render(multi, -1, C::V(m)), r#""{[1,3),[5,7)}""#);
    let fields = vec![
        CompositeField {
            name: "a".into(),
            ty: int4_t,
        },
        CompositeField {
            name: "b".into(),
            ty: pg(25, "text", TypeKind::Text),
        },
    ];
    let pair = Arc::new(PgType::new(
        90_007,
        "pair",
        "public",
        TypeKind::Composite(Arc::from(fields)),
    ));
    let mut c = 2i32.to_be_bytes().to_vec();
    c.extend(23u32.to_be_bytes());
    c.extend(4i32.to_be_bytes());
    c.extend(1i32.to_be_bytes());
    c.extend(25u32.to_be_bytes());
    c.extend(3i32.to_be_bytes());
    c.extend(b"x y");
    assert_eq!(render(pair, -1, C::V(c)), r#""(1,\"x y\")""#);
}

#[test]
fn extension_types() {
    let hstore = pg(90_002, "hstore", TypeKind::Hstore);
    let mut h = 2i32.to_be_bytes().to_vec();
    for part in [&b"a"[..], b"1", b"b"] {
        h.extend((part.len() as i32).to_be_bytes());
        h.extend(part);
    }
    h.extend((-1i32).to_be_bytes());
    assert_eq!(
        render(hstore, -1, C::V(h)),
        r#""\"a\"=>\"1\", \"b\"=>NULL""#
    );
    let ltree = pg(90_003, "ltree", TypeKind::Ltree);
    assert_eq!(render(ltree, -1, C::V(b"\x01a.b.c".to_vec())), r#""a.b.c""#);
    let ewkb = hex::decode("0101000020E6100000000000000000F03F0000000000000040").unwrap();
    let geom = pg(90_005, "geometry", TypeKind::Geometry);
    assert_eq!(
        render(geom, -1, C::V(ewkb.clone())),
        r#""0101000020E6100000000000000000F03F0000000000000040""#
    );
    let geog = pg(90_006, "geography", TypeKind::Geography);
    assert_eq!(
        render(geog, -1, C::V(ewkb)),
        r#""0101000020E6100000000000000000F03F0000000000000040""#
    );
}

#[test]
fn network_bit_and_geometric_types() {
    let v4 = |bits: u8| vec![2, bits, 0, 4, 192, 168, 0, 1];
    assert_eq!(render(other("inet"), -1, C::V(v4(32))), r#""192.168.0.1""#);
    assert_eq!(
        render(other("inet"), -1, C::V(v4(24))),
        r#""192.168.0.1/24""#
    );
    assert_eq!(
        render(other("cidr"), -1, C::V(vec![2, 24, 1, 4, 10, 0, 0, 0])),
        r#""10.0.0.0/24""#
    );
    let mac = vec![0x08, 0x00, 0x2b, 0x01, 0x02, 0x03];
    assert_eq!(
        render(other("macaddr"), -1, C::V(mac)),
        r#""08:00:2b:01:02:03""#
    );
    let mac8 = vec![0x08, 0x00, 0x2b, 0x01, 0x02, 0x03, 0x04, 0x05];
    assert_eq!(
        render(other("macaddr8"), -1, C::V(mac8)),
        r#""08:00:2b:01:02:03:04:05""#
    );
    let bits = |n: i32, b: &[u8]| [&n.to_be_bytes()[..], b].concat();
    assert_eq!(
        render(other("bit"), 3, C::V(bits(3, &[0b1010_0000]))),
        r#""101""#
    );
    assert_eq!(render(other("varbit"), -1, C::V(bits(0, &[]))), r#""""#);
    let f = |xs: &[f64]| xs.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    assert_eq!(
        render(other("point"), -1, C::V(f(&[1.5, -2.25]))),
        r#""(1.5,-2.25)""#
    );
    assert_eq!(
        render(other("lseg"), -1, C::V(f(&[1.0, 2.0, 3.0, 4.0]))),
        r#""[(1,2),(3,4)]""#
    );
    assert_eq!(
        render(other("box"), -1, C::V(f(&[3.0, 4.0, 1.0, 2.0]))),
        r#""(3,4),(1,2)""#
    );
    assert_eq!(
        render(other("line"), -1, C::V(f(&[1.0, -2.0, 0.5]))),
        r#""{1,-2,0.5}""#
    );
    let path = [&[1u8][..], &1i32.to_be_bytes(), &f(&[1.0, 2.0])].concat();
    assert_eq!(render(other("path"), -1, C::V(path)), r#""((1,2))""#);
    let polygon = [&2i32.to_be_bytes()[..], &f(&[0.0, 0.0, 1.0, 1.0])].concat();
    assert_eq!(
        render(other("polygon"), -1, C::V(polygon)),
        r#""((0,0),(1,1))""#
    );
    assert_eq!(
        render(other("circle"), -1, C::V(f(&[1.0, 2.0, 3.0]))),
        r#""<(1,2),3>""#
    );
}

#[test]
fn text_search_and_system_types() {
    let mut tsv = 2i32.to_be_bytes().to_vec();
    tsv.extend(b"a\0");
    tsv.extend(1u16.to_be_bytes());
    tsv.extend(1u16.to_be_bytes());
    tsv.extend(b"b\0");
    tsv.extend(1u16.to_be_bytes());
    tsv.extend((2u16 | 0xC000).to_be_bytes());
    assert_eq!(
        render(other("tsvector"), -1, C::V(tsv)),
        r#""'a':1 'b':2A""#
    );
    assert_eq!(
        render(other("tsquery"), -1, C::T("'a' & 'b'")),
        r#""'a' & 'b'""#
    );
    let lsn = 0x0000_0000_016B_3748u64.to_be_bytes().to_vec();
    assert_eq!(render(other("pg_lsn"), -1, C::V(lsn)), r#""0/16B3748""#);
    let tid = [&7u32.to_be_bytes()[..], &2u16.to_be_bytes()].concat();
    assert_eq!(render(other("tid"), -1, C::V(tid)), r#""(7,2)""#);
    assert_eq!(
        render(other("xid8"), -1, C::V(u64::MAX.to_be_bytes().to_vec())),
        r#""18446744073709551615""#
    );
    let i2v = array(21, &[Some(int2(1)), Some(int2(2)), Some(int2(-3))]);
    assert_eq!(render(other("int2vector"), -1, C::V(i2v)), r#""1 2 -3""#);
    let oidv = array(26, &[Some(int4(26)), Some(int4(23))]);
    assert_eq!(render(other("oidvector"), -1, C::V(oidv)), r#""26 23""#);
    let snap = [
        &2i32.to_be_bytes()[..],
        &10u64.to_be_bytes(),
        &20u64.to_be_bytes(),
        &12u64.to_be_bytes(),
        &15u64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(
        render(other("pg_snapshot"), -1, C::V(snap.clone())),
        r#""10:20:12,15""#
    );
    assert_eq!(
        render(other("txid_snapshot"), -1, C::V(snap)),
        r#""10:20:12,15""#
    );
}
