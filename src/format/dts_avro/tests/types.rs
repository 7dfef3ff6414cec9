//! One expectation per row of `docs/TYPE-MAPPING.md` "DTS Avro", written by hand: a column of
//! each type is inserted as `(id int4, v <type>)` and the item Apache Avro's reader decodes for
//! `v`, and its `dataTypeNumber`, must be the ones the table gives.

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::items::*;
use super::reader::Reader;
use super::*;
use crate::schema::{CompositeField, PgType};

/// The `afterImages` item and `dataTypeNumber` of column `v` of type `t` holding `cell`.
fn item(t: Arc<PgType>, typmod: i32, cell: C) -> (Json, i64) {
    let cols = vec![
        col("id", ty(23, "int4", TypeKind::Int4), -1, true),
        col("v", t, typmod, false),
    ];
    let tbl = table(20_100, "t", cols, ReplicaIdentity::Full);
    let ev = event(&tbl, Op::Insert, None, Some(row(vec![C::V(int4(1)), cell])));
    let rec = &encode(&mut format(), &ev)[0];
    let v = Reader::new().json(&rec.value);
    let oid = v["fields"]["array"][1]["dataTypeNumber"].as_i64().unwrap();
    (v["afterImages"]["array"][1].clone(), oid)
}

fn value(t: Arc<PgType>, typmod: i32, cell: C) -> Json {
    item(t, typmod, cell).0
}

fn ext(oid: u32, name: &str, namespace: &str, kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(oid, name, namespace, kind))
}

fn domain(oid: u32, name: &str, namespace: &str, base: Arc<PgType>) -> Arc<PgType> {
    ext(oid, name, namespace, TypeKind::Domain { base, typmod: -1 })
}

/// A `Float` item whose value is not finite (rendered as Rust prints it).
fn float_special(text: &str) -> Json {
    json!({"com.alibaba.dts.formats.avro.Float": {"value": text, "precision": 8, "scale": 15}})
}

#[test]
fn nulls_and_unsent_values() {
    let t = || ty(25, "text", TypeKind::Text);
    assert_eq!(value(t(), -1, C::Null), Json::Null);
    assert_eq!(value(t(), -1, C::Unchanged), none());
}

#[test]
fn integers_carry_their_byte_width() {
    let int2_t = ty(21, "int2", TypeKind::Int2);
    assert_eq!(
        item(int2_t, -1, C::V(int2(-32768))),
        (integer(2, "-32768"), 21)
    );
    let int4_t = ty(23, "int4", TypeKind::Int4);
    assert_eq!(
        item(int4_t, -1, C::V(int4(i32::MIN))),
        (integer(4, "-2147483648"), 23)
    );
    let int8_t = ty(20, "int8", TypeKind::Int8);
    assert_eq!(
        item(int8_t, -1, C::V(int8(i64::MAX))),
        (integer(8, "9223372036854775807"), 20)
    );
    // oid: a 4-byte unsigned identifier, widened by the decoder.
    let oid = ty(26, "oid", TypeKind::Int8);
    assert_eq!(
        item(oid, -1, C::V(4_000_000_000u32.to_be_bytes().to_vec())),
        (integer(4, "4000000000"), 26)
    );
    let posint = domain(20_002, "posint", "public", ty(23, "int4", TypeKind::Int4));
    assert_eq!(item(posint, -1, C::V(int4(7))), (integer(4, "7"), 20_002));
}

#[test]
fn numerics_are_decimals_with_java_precision_and_scale() {
    let n = || ty(1700, "numeric", TypeKind::Numeric);
    let typmod = numeric_typmod(20, 5);
    assert_eq!(
        item(n(), typmod, C::V(numeric("123456789012345.12345"))),
        (decimal("123456789012345.12345", 20, 5), 1700)
    );
    assert_eq!(
        value(n(), -1, C::V(numeric("-0.00001"))),
        decimal("-0.00001", 1, 5)
    );
    assert_eq!(value(n(), -1, C::V(numeric("0.00"))), decimal("0.00", 1, 2));
    assert_eq!(
        value(n(), -1, C::V(numeric("12300"))),
        decimal("12300", 5, 0)
    );
    assert_eq!(value(n(), -1, C::V(numeric("0"))), decimal("0", 1, 0));
    for special in ["NaN", "Infinity", "-Infinity"] {
        assert_eq!(
            value(n(), -1, C::V(numeric(special))),
            decimal(special, 0, 0)
        );
    }
    let money = ty(790, "money", TypeKind::Other);
    assert_eq!(
        item(money, -1, C::V(int8(-123_456))),
        (decimal("-1234.56", 6, 2), 790)
    );
}

#[test]
fn oracle_numbers_with_scale_zero_are_integers() {
    let number = || ext(9520, "number", "sys", TypeKind::Numeric);
    assert_eq!(
        item(number(), numeric_typmod(10, 0), C::V(numeric("-12345"))),
        (integer(10, "-12345"), 9520)
    );
    assert_eq!(
        value(number(), numeric_typmod(10, 0), C::V(numeric("NaN"))),
        decimal("NaN", 0, 0)
    );
    assert_eq!(
        value(number(), numeric_typmod(5, 2), C::V(numeric("1.50"))),
        decimal("1.50", 3, 2)
    );
    assert_eq!(value(number(), -1, C::V(numeric("7"))), decimal("7", 1, 0));
}

#[test]
fn floats_are_doubles_with_the_writers_constants() {
    let f4 = ty(700, "float4", TypeKind::Float4);
    assert_eq!(item(f4.clone(), -1, C::V(float4(1.1))), (float(1.1), 700));
    assert_eq!(value(f4, -1, C::V(float4(f32::NAN))), float_special("NaN"));
    let f8 = ty(701, "float8", TypeKind::Float8);
    assert_eq!(
        value(f8.clone(), -1, C::V(float8(-2.25e300))),
        float(-2.25e300)
    );
    assert_eq!(
        value(f8, -1, C::V(float8(f64::NEG_INFINITY))),
        float_special("-inf")
    );
    let binary_float = ext(9522, "binary_float", "sys", TypeKind::Float4);
    assert_eq!(
        item(binary_float, -1, C::V(float4(0.1))),
        (float(0.1), 9522)
    );
}

#[test]
fn text_types_are_utf8_characters() {
    for (oid, name) in [(25, "text"), (1043, "varchar"), (19, "name")] {
        assert_eq!(
            item(ty(oid, name, TypeKind::Text), -1, C::V(text("héllo \"q\""))),
            (character("héllo \"q\""), i64::from(oid))
        );
    }
    let bpchar = ty(1042, "bpchar", TypeKind::Text);
    assert_eq!(
        item(bpchar, 9, C::V(text("ab   "))),
        (character("ab   "), 1042)
    );
    let char1 = ty(18, "char", TypeKind::Other);
    assert_eq!(item(char1, -1, C::V(vec![b'x'])), (character("x"), 18));
    let citext = ext(20_010, "citext", "public", TypeKind::Text);
    assert_eq!(
        item(citext, -1, C::V(text("MiXeD"))),
        (character("MiXeD"), 20_010)
    );
    let varchar2 = ext(9503, "oravarcharbyte", "sys", TypeKind::Text);
    assert_eq!(
        item(varchar2, 14, C::V(text("v2"))),
        (character("v2"), 9503)
    );
    let clob = domain(9527, "clob", "sys", ty(25, "text", TypeKind::Text));
    assert_eq!(item(clob, -1, C::V(text("c"))), (character("c"), 9527));
}

#[test]
fn binary_types_are_binary_objects() {
    let bytea = || ty(17, "bytea", TypeKind::Bytea);
    assert_eq!(
        item(bytea(), -1, C::V(vec![0x00, 0xff, 0x10])),
        (binary("BYTEA", "\\x00ff10"), 17)
    );
    for (oid, name, type_name) in [
        (9526, "blob", "BLOB"),
        (9530, "raw", "RAW"),
        (9529, "long_raw", "LONG_RAW"),
    ] {
        assert_eq!(
            item(domain(oid, name, "sys", bytea()), -1, C::V(vec![0xfe])),
            (binary(type_name, "\\xfe"), i64::from(oid))
        );
    }
}

#[test]
fn dates_and_times_are_broken_down_with_microseconds() {
    let d = || ty(1082, "date", TypeKind::Date);
    assert_eq!(
        item(d(), -1, C::V(date(19_782))),
        (date_item((2024, 2, 29)), 1082)
    );
    // 4714-11-24 BC, PostgreSQL's first day (Julian day 0): astronomical year -4713.
    assert_eq!(
        value(d(), -1, C::V(date(-2_440_588))),
        date_item((-4713, 11, 24))
    );
    let t = || ty(1083, "time", TypeKind::Time);
    assert_eq!(
        item(t(), -1, C::V(time(86_399_999_999))),
        (time_item((23, 59, 59, 999_999)), 1083)
    );
    assert_eq!(
        value(t(), -1, C::V(time(86_400_000_000))),
        time_item((24, 0, 0, 0))
    );
    let ts = || ty(1114, "timestamp", TypeKind::Timestamp);
    assert_eq!(
        item(ts(), -1, C::V(timestamp(946_684_799_123_456))),
        (datetime((1999, 12, 31), (23, 59, 59, 123_456)), 1114)
    );
    assert_eq!(
        value(ts(), -1, C::V(timestamp(-500_000))),
        datetime((1969, 12, 31), (23, 59, 59, 500_000))
    );
    assert_eq!(
        value(ts(), -1, C::V(timestamp(253_402_300_800 * US))),
        datetime((10_000, 1, 1), (0, 0, 0, 0))
    );
    // PostgreSQL's last timestamp, whose Unix microseconds lie beyond i64 (raw PostgreSQL
    // microseconds since 2000).
    assert_eq!(
        value(ts(), -1, C::V(int8(9_223_371_331_199_999_999))),
        datetime((294_276, 12, 31), (23, 59, 59, 999_999))
    );
    let oradate = ext(9508, "oradate", "sys", TypeKind::Timestamp);
    assert_eq!(
        item(oradate, -1, C::V(timestamp(-500_000))),
        (datetime((1969, 12, 31), (23, 59, 59, 500_000)), 9508)
    );
}

#[test]
fn zoned_values_carry_their_offset() {
    let tstz = ty(1184, "timestamptz", TypeKind::TimestampTz);
    let at = 1_709_210_096 * US + 789_012;
    assert_eq!(
        item(tstz, -1, C::V(timestamp(at))),
        (
            zoned(Some((2024, 2, 29)), (12, 34, 56, 789_012), "+00:00"),
            1184
        )
    );
    let oratstz = ext(9512, "oratimestamptz", "sys", TypeKind::TimestampTz);
    assert_eq!(
        value(oratstz, -1, C::V(timestamp(0))),
        zoned(Some((1970, 1, 1)), (0, 0, 0, 0), "+00:00")
    );
    let timetz_t = || ty(1266, "timetz", TypeKind::TimeTz);
    let t = 10 * 3_600_000_000 + 11 * 60_000_000 + 12_500_000;
    for (offset, zone) in [
        (19_800, "+05:30"),
        (-28_800, "-08:00"),
        (19_815, "+05:30:15"),
        (0, "+00:00"),
    ] {
        assert_eq!(
            item(timetz_t(), -1, C::V(timetz(t, offset))),
            (zoned(None, (10, 11, 12, 500_000), zone), 1266)
        );
    }
}

#[test]
fn infinite_dates_and_timestamps_are_text() {
    let d = ty(1082, "date", TypeKind::Date);
    assert_eq!(
        value(d.clone(), -1, C::V(int4(i32::MAX))),
        text_obj("XTYPE", "infinity")
    );
    assert_eq!(
        value(d, -1, C::V(int4(i32::MIN))),
        text_obj("XTYPE", "-infinity")
    );
    let ts = ty(1114, "timestamp", TypeKind::Timestamp);
    assert_eq!(
        value(ts, -1, C::V(int8(i64::MAX))),
        text_obj("XTYPE", "infinity")
    );
    let tstz = ty(1184, "timestamptz", TypeKind::TimestampTz);
    assert_eq!(
        value(tstz, -1, C::V(int8(i64::MIN))),
        text_obj("XTYPE", "-infinity")
    );
}

#[test]
fn named_text_objects() {
    let b = || ty(16, "bool", TypeKind::Bool);
    assert_eq!(
        item(b(), -1, C::V(boolean(true))),
        (text_obj("BOOL", "true"), 16)
    );
    assert_eq!(
        value(b(), -1, C::V(boolean(false))),
        text_obj("BOOL", "false")
    );
    let json_t = ty(114, "json", TypeKind::Json);
    assert_eq!(
        item(json_t, -1, C::V(text("{\"k\": [1, 2]}"))),
        (text_obj("JSON", "{\"k\": [1, 2]}"), 114)
    );
    let jsonb_t = ty(3802, "jsonb", TypeKind::Jsonb);
    assert_eq!(
        item(jsonb_t, -1, C::V(jsonb("{\"a\": null, \"b\": 1}"))),
        (text_obj("JSON", "{\"a\": null, \"b\": 1}"), 3802)
    );
    let xml = ty(142, "xml", TypeKind::Other);
    assert_eq!(
        item(xml, -1, C::V(text("<a>x</a>"))),
        (text_obj("XML", "<a>x</a>"), 142)
    );
    let xmltype = ext(20_020, "xmltype", "sys", TypeKind::Other);
    assert_eq!(value(xmltype, -1, C::T("<b/>")), text_obj("XML", "<b/>"));
    let u = ty(2950, "uuid", TypeKind::Uuid);
    assert_eq!(
        item(u, -1, C::V(uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))),
        (
            text_obj("UUID", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            2950
        )
    );
    let labels: Arc<[String]> = Arc::from(vec!["sad".to_owned(), "happy".to_owned()]);
    let mood = ext(20_001, "mood", "public", TypeKind::Enum(labels));
    assert_eq!(
        item(mood, -1, C::V(text("happy"))),
        (text_obj("ENUM", "happy"), 20_001)
    );
}

#[test]
fn postgis_values_are_ewkb_geometries() {
    let geometry_t = ext(20_030, "geometry", "gis", TypeKind::Geometry);
    // SRID=4326;POINT(13.4 52.5), little-endian EWKB.
    let ewkb = "0101000020e6100000cdcccccccccc2a400000000000404a40";
    assert_eq!(
        item(geometry_t, -1, C::V(hex::decode(ewkb).unwrap())),
        (geometry(&format!("\\x{ewkb}")), 20_030)
    );
    let geography = ext(20_031, "geography", "gis", TypeKind::Geography);
    let plain = "0101000000000000000000f03f0000000000000040";
    assert_eq!(
        value(geography, -1, C::V(hex::decode(plain).unwrap())),
        geometry(&format!("\\x{plain}"))
    );
}

/// `range_send` of an int4 range with both bounds.
fn int4_range(flags: u8, lower: i32, upper: i32) -> Vec<u8> {
    let mut v = vec![flags];
    for b in [lower, upper] {
        v.extend_from_slice(&4i32.to_be_bytes());
        v.extend_from_slice(&b.to_be_bytes());
    }
    v
}

#[test]
fn everything_else_is_its_text_form() {
    let interval_t = ty(1186, "interval", TypeKind::Interval);
    assert_eq!(
        item(interval_t, -1, C::V(interval(14_706_700_000, 3, 14))),
        (text_obj("XTYPE", "1 year 2 mons 3 days 04:05:06.7"), 1186)
    );
    let int4_t = ty(23, "int4", TypeKind::Int4);
    let int4_arr = ty(1007, "_int4", TypeKind::Array(int4_t.clone()));
    let arr = array(23, &[Some(int4(1)), None, Some(int4(3))]);
    assert_eq!(
        item(int4_arr, -1, C::V(arr)),
        (text_obj("XTYPE", "{1,NULL,3}"), 1007)
    );
    let text_t = ty(25, "text", TypeKind::Text);
    let text_arr = ty(1009, "_text", TypeKind::Array(text_t.clone()));
    let arr = array(25, &[Some(text("x")), Some(text("y z"))]);
    assert_eq!(
        value(text_arr, -1, C::V(arr)),
        text_obj("XTYPE", "{x,\"y z\"}")
    );
    let range_t = ty(3904, "int4range", TypeKind::Range(int4_t.clone()));
    assert_eq!(
        item(range_t, -1, C::V(int4_range(0x02, 1, 5))),
        (text_obj("XTYPE", "[1,5)"), 3904)
    );
    let pair = ext(
        20_040,
        "pair",
        "public",
        TypeKind::Composite(Arc::from(vec![
            CompositeField {
                name: "a".into(),
                ty: int4_t.clone(),
            },
            CompositeField {
                name: "b".into(),
                ty: text_t,
            },
        ])),
    );
    let mut rec = 2i32.to_be_bytes().to_vec();
    for (oid, bytes) in [(23u32, int4(1)), (25, text("x y"))] {
        rec.extend_from_slice(&oid.to_be_bytes());
        rec.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        rec.extend_from_slice(&bytes);
    }
    assert_eq!(
        item(pair, -1, C::V(rec)),
        (text_obj("XTYPE", "(1,\"x y\")"), 20_040)
    );
    let hstore = ext(20_050, "hstore", "public", TypeKind::Hstore);
    let mut h = 2i32.to_be_bytes().to_vec();
    for (k, v) in [("a", Some("1")), ("b c", None)] {
        h.extend_from_slice(&(k.len() as i32).to_be_bytes());
        h.extend_from_slice(k.as_bytes());
        match v {
            Some(v) => {
                h.extend_from_slice(&(v.len() as i32).to_be_bytes());
                h.extend_from_slice(v.as_bytes());
            }
            None => h.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    assert_eq!(
        value(hstore, -1, C::V(h)),
        text_obj("XTYPE", "\"a\"=>\"1\", \"b c\"=>NULL")
    );
    let ltree = ext(20_060, "ltree", "public", TypeKind::Ltree);
    let mut l = vec![1u8];
    l.extend_from_slice(b"Top.Science");
    assert_eq!(value(ltree, -1, C::V(l)), text_obj("XTYPE", "Top.Science"));
    let inet = ty(869, "inet", TypeKind::Other);
    assert_eq!(
        item(inet, -1, C::V(vec![2, 24, 0, 4, 192, 168, 0, 1])),
        (text_obj("XTYPE", "192.168.0.1/24"), 869)
    );
    let bit = ty(1560, "bit", TypeKind::Other);
    let mut b = 3i32.to_be_bytes().to_vec();
    b.push(0b1010_0000);
    assert_eq!(value(bit, 3, C::V(b)), text_obj("XTYPE", "101"));
    let point = ty(600, "point", TypeKind::Other);
    let p = [float8(1.0), float8(2.0)].concat();
    assert_eq!(value(point, -1, C::V(p)), text_obj("XTYPE", "(1,2)"));
    let yminterval = ext(9516, "yminterval", "sys", TypeKind::Interval);
    assert_eq!(
        item(yminterval, -1, C::V(interval(0, 0, 14))),
        (text_obj("XTYPE", "1 year 2 mons"), 9516)
    );
}

#[test]
fn a_text_cell_of_a_type_with_a_branch_goes_as_its_text() {
    // pgoutput sends text for types without a binary send function; a date never arrives so,
    // but if it did its text would not be guessed into a DateTime.
    let d = ty(1082, "date", TypeKind::Date);
    assert_eq!(
        value(d, -1, C::T("2024-01-01")),
        text_obj("XTYPE", "2024-01-01")
    );
}

#[test]
fn a_type_oid_above_two_to_the_31_is_javas_int() {
    let big = ext(3_000_000_000, "big", "public", TypeKind::Text);
    assert_eq!(item(big, -1, C::V(text("x"))).1, -1_294_967_296);
}

/// The Oracle source's columns carry Oracle's type numbers (FORMATS.md part A's list), by the
/// type names `source::oracle::types` gives every Oracle type.
#[test]
fn oracle_columns_carry_oracles_type_numbers() {
    use crate::format::dts_avro::plan::oracle_type_number;
    use crate::source::oracle::table::OraType as T;
    use crate::source::oracle::types::pg_type;
    let cases = [
        (
            T::Varchar2 {
                length: 10,
                chars: true,
            },
            1,
        ),
        (
            T::Varchar2 {
                length: 10,
                chars: false,
            },
            1,
        ),
        (T::NVarchar2 { length: 10 }, 1),
        (
            T::Number {
                precision: Some(10),
                scale: Some(0),
            },
            2,
        ),
        (
            T::Float {
                binary_precision: 126,
            },
            2,
        ),
        (T::Long, 8),
        (T::Date, 12),
        (T::Raw { length: 16 }, 23),
        (T::LongRaw, 24),
        (T::XmlType, 58),
        (T::Rowid, 69),
        (
            T::Char {
                length: 2,
                chars: true,
            },
            96,
        ),
        (T::NChar { length: 2 }, 96),
        (T::BinaryFloat, 100),
        (T::BinaryDouble, 101),
        (T::Clob, 112),
        (T::NClob, 112),
        (T::Blob, 113),
        (T::Timestamp { fsp: 6 }, 180),
        (T::TimestampTz { fsp: 6 }, 181),
        (T::IntervalYm { year_precision: 2 }, 182),
        (
            T::IntervalDs {
                day_precision: 2,
                fsp: 6,
            },
            183,
        ),
        (T::Urowid, 208),
        (T::TimestampLtz { fsp: 6 }, 231),
        (T::Other("SDO_GEOMETRY".into()), 29),
    ];
    for (ty, want) in cases {
        assert_eq!(oracle_type_number(&pg_type(&ty).name), want, "{ty:?}");
    }
}
