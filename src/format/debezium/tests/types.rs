//! One test per type mapping (part B §4.8): the value Debezium's PostgreSQL connector writes for
//! a column of each type, under each decimal and interval mode, plus unavailable values.

use std::sync::Arc;

use super::pgbin::*;
use crate::event::Op;
use crate::format::debezium::{
    DebeziumJson, DebeziumOptions, DecimalHandling, FixedClock, IntervalHandling,
};
use crate::format::{EncodedBatch, Format};
use crate::schema::{PgType, ReplicaIdentity, TypeKind};

/// The JSON of column `v` in the `after` image of an insert of `(1, cell)`.
fn render_with(opts: DebeziumOptions, t: Arc<PgType>, typmod: i32, cell: C) -> String {
    let id = ty(23, "int4", TypeKind::Int4);
    let cols = vec![col("id", id, -1, true), col("v", t, typmod, false)];
    let tbl = table(1, "t", cols, ReplicaIdentity::Full);
    let ev = event(&tbl, Op::Insert, None, Some(row(vec![C::V(int4(1)), cell])));
    let mut fmt = DebeziumJson::with_clock(opts, Box::new(FixedClock(0)));
    let mut out = EncodedBatch::default();
    fmt.encode(&ev, &mut out).unwrap();
    let value = String::from_utf8(out.records()[0].value.clone()).unwrap();
    let head = "\"after\":{\"id\":1,\"v\":";
    let start = value.find(head).unwrap() + head.len();
    let end = value.find("},\"source\":").unwrap();
    value[start..end].to_owned()
}

fn render(t: Arc<PgType>, typmod: i32, cell: C) -> String {
    render_with(DebeziumOptions::default(), t, typmod, cell)
}

fn decimal_mode(mode: DecimalHandling) -> DebeziumOptions {
    DebeziumOptions {
        decimal_handling_mode: mode,
        ..DebeziumOptions::default()
    }
}

fn numeric_t() -> Arc<PgType> {
    ty(1700, "numeric", TypeKind::Numeric)
}

#[test]
fn booleans_and_integers() {
    assert_eq!(
        render(ty(16, "bool", TypeKind::Bool), -1, C::V(boolean(true))),
        "true"
    );
    assert_eq!(
        render(ty(21, "int2", TypeKind::Int2), -1, C::V(int2(-5))),
        "-5"
    );
    assert_eq!(
        render(ty(23, "int4", TypeKind::Int4), -1, C::V(int4(i32::MIN))),
        "-2147483648"
    );
    let max = C::V(int8(i64::MAX));
    assert_eq!(
        render(ty(20, "int8", TypeKind::Int8), -1, max),
        "9223372036854775807"
    );
    assert_eq!(render(ty(20, "int8", TypeKind::Int8), -1, C::Null), "null");
}

#[test]
fn floats_print_as_java_and_quote_non_finite() {
    let f4 = || ty(700, "float4", TypeKind::Float4);
    let f8 = || ty(701, "float8", TypeKind::Float8);
    assert_eq!(render(f4(), -1, C::V(float4(1.1))), "1.1");
    assert_eq!(
        render(f4(), -1, C::V(float4(f32::INFINITY))),
        "\"Infinity\""
    );
    assert_eq!(
        render(f8(), -1, C::V(float8(0.1 + 0.2))),
        "0.30000000000000004"
    );
    assert_eq!(render(f8(), -1, C::V(float8(1e21))), "1.0E21");
    assert_eq!(render(f8(), -1, C::V(float8(f64::NAN))), "\"NaN\"");
    assert_eq!(
        render(f8(), -1, C::V(float8(f64::NEG_INFINITY))),
        "\"-Infinity\""
    );
}

#[test]
fn constrained_numerics_are_connect_decimals() {
    let tm = numeric_typmod(12, 2);
    assert_eq!(render(numeric_t(), tm, C::V(numeric("1.50"))), "\"AJY=\"");
    assert_eq!(render(numeric_t(), tm, C::V(numeric("-0.05"))), "\"+w==\"");
    assert_eq!(render(numeric_t(), tm, C::V(numeric("0.00"))), "\"AA==\"");
    assert_eq!(render(numeric_t(), tm, C::T("12345.67")), "\"EtaH\"");
    // Negative scale (PostgreSQL 15): numeric(5,-2) 12300 is unscaled 123.
    let neg = numeric_typmod(5, -2);
    assert_eq!(render(numeric_t(), neg, C::V(numeric("12300"))), "\"ew==\"");
}

#[test]
fn special_numerics_are_null_under_precise() {
    let tm = numeric_typmod(12, 2);
    for s in ["NaN", "Infinity", "-Infinity"] {
        assert_eq!(render(numeric_t(), tm, C::V(numeric(s))), "null", "{s}");
        assert_eq!(render(numeric_t(), -1, C::V(numeric(s))), "null", "{s}");
    }
}

#[test]
fn unconstrained_numerics_are_variable_scale_decimals() {
    let vsd = |s| render(numeric_t(), -1, C::V(numeric(s)));
    assert_eq!(vsd("1.50"), "{\"scale\":1,\"value\":\"Dw==\"}");
    assert_eq!(vsd("100"), "{\"scale\":0,\"value\":\"ZA==\"}");
    assert_eq!(vsd("0.000"), "{\"scale\":0,\"value\":\"AA==\"}");
    assert_eq!(vsd("-128"), "{\"scale\":0,\"value\":\"gA==\"}");
    assert_eq!(vsd("3.14159"), "{\"scale\":5,\"value\":\"BMsv\"}");
}

#[test]
fn numerics_under_double_mode() {
    let r = |s| {
        render_with(
            decimal_mode(DecimalHandling::Double),
            numeric_t(),
            -1,
            C::V(numeric(s)),
        )
    };
    assert_eq!(r("12345.67"), "12345.67");
    assert_eq!(r("100"), "100.0");
    assert_eq!(r("0.0001"), "1.0E-4");
    assert_eq!(r("NaN"), "\"NaN\"");
    assert_eq!(r("-Infinity"), "\"-Infinity\"");
}

#[test]
fn numerics_under_string_mode() {
    let r = |s, tm| {
        render_with(
            decimal_mode(DecimalHandling::String),
            numeric_t(),
            tm,
            C::V(numeric(s)),
        )
    };
    assert_eq!(r("1.50", numeric_typmod(12, 2)), "\"1.50\"");
    assert_eq!(
        r("-12345678901234567890.123", -1),
        "\"-12345678901234567890.123\""
    );
    // BigDecimal.toPlainString, as Debezium writes string decimals.
    assert_eq!(r("0.00000000", -1), "\"0.00000000\"");
    assert_eq!(r("0.000000001", -1), "\"0.000000001\"");
    assert_eq!(
        r("-100000000000000000000", -1),
        "\"-100000000000000000000\""
    );
    assert_eq!(r("NaN", -1), "\"NAN\"");
    assert_eq!(r("Infinity", -1), "\"POSITIVE_INFINITY\"");
    assert_eq!(r("-Infinity", -1), "\"NEGATIVE_INFINITY\"");
}

#[test]
fn strings_bytes_uuids_json_and_enums() {
    let t = ty(25, "text", TypeKind::Text);
    assert_eq!(
        render(t, -1, C::V(text("a\nb\u{1}\"é"))),
        "\"a\\nb\\u0001\\\"é\""
    );
    assert_eq!(
        render(ty(17, "bytea", TypeKind::Bytea), -1, C::V(vec![1, 2, 3])),
        "\"AQID\""
    );
    let u = uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    let uuid_t = ty(2950, "uuid", TypeKind::Uuid);
    assert_eq!(
        render(uuid_t, -1, C::V(u)),
        "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""
    );
    let json_t = ty(114, "json", TypeKind::Json);
    assert_eq!(
        render(json_t, -1, C::V(text("{ \"a\" : 1 }"))),
        "\"{ \\\"a\\\" : 1 }\""
    );
    let jsonb_t = ty(3802, "jsonb", TypeKind::Jsonb);
    assert_eq!(
        render(jsonb_t, -1, C::V(jsonb("[1, \"x\"]"))),
        "\"[1, \\\"x\\\"]\""
    );
    let labels = Arc::from(vec!["sad".to_owned(), "happy".to_owned()]);
    let mood = ty(90_000, "mood", TypeKind::Enum(labels));
    assert_eq!(render(mood, -1, C::V(text("happy"))), "\"happy\"");
    let inet = ty(869, "inet", TypeKind::Other);
    assert_eq!(render(inet, -1, C::T("10.0.0.1/8")), "\"10.0.0.1/8\"");
}

#[test]
fn dates_and_times() {
    let d = ty(1082, "date", TypeKind::Date);
    assert_eq!(render(d.clone(), -1, C::V(date(19_782))), "19782");
    assert_eq!(render(d.clone(), -1, C::V(date(-25_567))), "-25567");
    assert_eq!(render(d, -1, C::V(int4(i32::MAX))), "-2147472692");
    let t = ty(1083, "time", TypeKind::Time);
    let micros = 45_296_789_123;
    assert_eq!(render(t.clone(), -1, C::V(time(micros))), "45296789123");
    assert_eq!(render(t.clone(), 6, C::V(time(micros))), "45296789123");
    assert_eq!(render(t, 3, C::V(time(45_296_789_000))), "45296789");
    let tz = ty(1266, "timetz", TypeKind::TimeTz);
    assert_eq!(
        render(tz, -1, C::V(timetz(micros, 3600))),
        "\"11:34:56.789123Z\""
    );
}

#[test]
fn timestamps() {
    let ts = ty(1114, "timestamp", TypeKind::Timestamp);
    let t = 1_709_210_096_789_012;
    assert_eq!(
        render(ts.clone(), -1, C::V(timestamp(t))),
        "1709210096789012"
    );
    assert_eq!(
        render(ts.clone(), 3, C::V(timestamp(1_709_210_096_789_000))),
        "1709210096789"
    );
    assert_eq!(
        render(ts.clone(), -1, C::V(int8(i64::MAX))),
        "9223372036825200000"
    );
    assert_eq!(render(ts, -1, C::V(int8(i64::MIN))), "-9223372036832400000");
    let tz = ty(1184, "timestamptz", TypeKind::TimestampTz);
    assert_eq!(
        render(tz.clone(), -1, C::V(timestamp(t))),
        "\"2024-02-29T12:34:56.789012Z\""
    );
    let ms = C::V(timestamp(1_709_210_096_789_000));
    assert_eq!(render(tz.clone(), 3, ms), "\"2024-02-29T12:34:56.789Z\"");
    assert_eq!(
        render(tz.clone(), 0, C::V(timestamp(1_709_210_096_000_000))),
        "\"2024-02-29T12:34:56Z\""
    );
    assert_eq!(render(tz, -1, C::V(int8(i64::MAX))), "\"infinity\"");
}

#[test]
fn intervals_under_both_modes() {
    let iv = || ty(1186, "interval", TypeKind::Interval);
    let v = || C::V(interval(3_600_000_000 + 500_000, 2, 14));
    // 14 months = 426.125 days, + 2 days, + 1 h 0.5 s.
    assert_eq!(render(iv(), -1, v()), "36993600500000");
    let s = DebeziumOptions {
        interval_handling_mode: IntervalHandling::String,
        ..Default::default()
    };
    assert_eq!(render_with(s, iv(), -1, v()), "\"P1Y2M2DT1H0M0.5S\"");
}

#[test]
fn arrays_are_connect_arrays() {
    let int4_t = ty(23, "int4", TypeKind::Int4);
    let arr = ty(1007, "_int4", TypeKind::Array(int4_t));
    let cells = [Some(int4(1)), None, Some(int4(-3))];
    assert_eq!(render(arr, -1, C::V(array(23, &cells))), "[1,null,-3]");
    let text_arr = ty(
        1009,
        "_text",
        TypeKind::Array(ty(25, "text", TypeKind::Text)),
    );
    let cells = [Some(text("a\"")), Some(text(""))];
    assert_eq!(
        render(text_arr.clone(), -1, C::V(array(25, &cells))),
        "[\"a\\\"\",\"\"]"
    );
    assert_eq!(render(text_arr, -1, C::V(array(25, &[]))), "[]");
    let num_arr = ty(1231, "_numeric", TypeKind::Array(numeric_t()));
    let cells = [Some(numeric("1.50"))];
    assert_eq!(
        render(num_arr, numeric_typmod(12, 2), C::V(array(1700, &cells))),
        "[\"AJY=\"]"
    );
}

#[test]
fn unavailable_values_use_the_placeholder_where_the_type_can_hold_it() {
    let p = "__tributary_unavailable_value";
    assert_eq!(
        render(ty(25, "text", TypeKind::Text), -1, C::Unchanged),
        format!("\"{p}\"")
    );
    assert_eq!(
        render(ty(3802, "jsonb", TypeKind::Jsonb), -1, C::Unchanged),
        format!("\"{p}\"")
    );
    let b64 = "X190cmlidXRhcnlfdW5hdmFpbGFibGVfdmFsdWU=";
    assert_eq!(
        render(ty(17, "bytea", TypeKind::Bytea), -1, C::Unchanged),
        format!("\"{b64}\"")
    );
    let text_arr = ty(
        1009,
        "_text",
        TypeKind::Array(ty(25, "text", TypeKind::Text)),
    );
    assert_eq!(render(text_arr, -1, C::Unchanged), format!("[\"{p}\"]"));
    let int_arr = ty(
        1007,
        "_int4",
        TypeKind::Array(ty(23, "int4", TypeKind::Int4)),
    );
    let custom = DebeziumOptions {
        unavailable_value_placeholder: "ab".into(),
        ..Default::default()
    };
    assert_eq!(render_with(custom, int_arr, -1, C::Unchanged), "[97,98]");
    assert_eq!(render(numeric_t(), -1, C::Unchanged), "null");
}

/// The Connect schema JSON of column `v` (in the `after` struct) of a table like `render`'s.
fn field_schema(opts: DebeziumOptions, t: Arc<PgType>, typmod: i32) -> String {
    let opts = DebeziumOptions {
        schemas_enable: true,
        ..opts
    };
    let id = ty(23, "int4", TypeKind::Int4);
    let cols = vec![col("id", id, -1, true), col("v", t, typmod, false)];
    let tbl = table(1, "t", cols, ReplicaIdentity::Full);
    let ev = event(
        &tbl,
        Op::Insert,
        None,
        Some(row(vec![C::V(int4(1)), C::Null])),
    );
    let mut fmt = DebeziumJson::with_clock(opts, Box::new(FixedClock(0)));
    let mut out = EncodedBatch::default();
    fmt.encode(&ev, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.records()[0].value).unwrap();
    let after = &v["schema"]["fields"][1]["fields"][1];
    // Back to text with Connect's member order (serde_json keeps insertion order off: compare
    // through the rendered text instead).
    let text = String::from_utf8(out.records()[0].value.clone()).unwrap();
    let start = text.find("\"field\":\"id\"},").unwrap() + "\"field\":\"id\"},".len();
    let end = start + text[start..].find(",\"field\":\"v\"}").unwrap();
    assert_eq!(after["field"], "v");
    text[start..end].to_owned()
}

fn other(name: &str) -> Arc<PgType> {
    ty(0, name, TypeKind::Other)
}

#[test]
fn money_follows_the_decimal_mode() {
    let m = || other("money");
    let cell = || C::V(int8(-123_456));
    assert_eq!(render(m(), -1, cell()), "\"/h3A\"");
    assert_eq!(
        field_schema(DebeziumOptions::default(), m(), -1),
        "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\
         \"version\":1,\"parameters\":{\"scale\":\"2\"}"
    );
    let double = decimal_mode(DecimalHandling::Double);
    assert_eq!(render_with(double.clone(), m(), -1, cell()), "-1234.56");
    assert_eq!(
        field_schema(double, m(), -1),
        "{\"type\":\"double\",\"optional\":true"
    );
    let string = decimal_mode(DecimalHandling::String);
    assert_eq!(render_with(string.clone(), m(), -1, cell()), "\"-1234.56\"");
    // The largest money value, exact (Debezium's stream: gAAAAAAAAAA= for the smallest).
    assert_eq!(render(m(), -1, C::V(int8(i64::MIN))), "\"gAAAAAAAAAA=\"");
    assert_eq!(
        render_with(string, m(), -1, C::V(int8(i64::MAX))),
        "\"92233720368547758.07\""
    );
    // A text cell in cash_out's form.
    assert_eq!(render(m(), -1, C::T("-$1,234.56")), "\"/h3A\"");
}

/// bit_send: the bit count, then the bits, first bit most significant.
fn bits(s: &str) -> Vec<u8> {
    let mut v = (s.len() as i32).to_be_bytes().to_vec();
    for chunk in s.as_bytes().chunks(8) {
        let byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |acc, (i, c)| acc | (u8::from(*c == b'1') << (7 - i)));
        v.push(byte);
    }
    v
}

#[test]
fn bits_are_booleans_or_little_endian_bytes() {
    // Debezium 3.6.3 (tests/fixtures/debezium, basic_types): B'11000001' → wQ==, B'00000001'
    // → AQ==, B'00000000' → "", varbit B'110' → Bg==, B'1101000000000' → ABo=.
    let bit8 = || other("bit");
    assert_eq!(render(bit8(), 8, C::V(bits("11000001"))), "\"wQ==\"");
    assert_eq!(render(bit8(), 8, C::V(bits("00000001"))), "\"AQ==\"");
    assert_eq!(render(bit8(), 8, C::V(bits("00000000"))), "\"\"");
    let varbit = || other("varbit");
    assert_eq!(render(varbit(), -1, C::V(bits("110"))), "\"Bg==\"");
    assert_eq!(
        render(varbit(), -1, C::V(bits("1101000000000"))),
        "\"ABo=\""
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), varbit(), -1),
        "{\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,\
         \"parameters\":{\"length\":\"2147483647\"}"
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), bit8(), 8),
        "{\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,\
         \"parameters\":{\"length\":\"8\"}"
    );
    assert_eq!(render(other("bit"), 1, C::V(bits("1"))), "true");
    assert_eq!(render(other("bit"), 1, C::V(bits("0"))), "false");
    assert_eq!(
        field_schema(DebeziumOptions::default(), other("bit"), 1),
        "{\"type\":\"boolean\",\"optional\":true"
    );
}

#[test]
fn points_are_geometry_structs() {
    let p = [1.5f64.to_be_bytes(), (-2.25f64).to_be_bytes()].concat();
    assert_eq!(
        render(other("point"), -1, C::V(p)),
        "{\"x\":1.5,\"y\":-2.25,\"wkb\":\"AQEAAAAAAAAAAAD4PwAAAAAAAALA\",\"srid\":null}"
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), other("point"), -1),
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},\
         {\"type\":\"double\",\"optional\":false,\"field\":\"y\"},\
         {\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},\
         {\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":true,\
         \"name\":\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\""
    );
}

#[test]
fn enums_carry_their_labels() {
    let labels: Arc<[String]> = Arc::from(vec!["sad".to_owned(), "with,comma".to_owned()]);
    let mood = ty(90_000, "mood", TypeKind::Enum(labels));
    assert_eq!(
        field_schema(DebeziumOptions::default(), mood.clone(), -1),
        "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\
         \"parameters\":{\"allowed\":\"sad,with,comma\"}"
    );
    let arr = ty(90_001, "_mood", TypeKind::Array(mood));
    assert_eq!(
        field_schema(DebeziumOptions::default(), arr, -1),
        "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false,\
         \"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":\"sad,with,comma\"}},\
         \"optional\":true"
    );
}

#[test]
fn extension_types() {
    let hstore = || ty(90_002, "hstore", TypeKind::Hstore);
    // hstore_send of a=>1, b=>NULL.
    let mut h = 2i32.to_be_bytes().to_vec();
    h.extend(1i32.to_be_bytes());
    h.extend(b"a");
    h.extend(1i32.to_be_bytes());
    h.extend(b"1");
    h.extend(1i32.to_be_bytes());
    h.extend(b"b");
    h.extend((-1i32).to_be_bytes());
    assert_eq!(
        render(hstore(), -1, C::V(h.clone())),
        "\"{\\\"a\\\":\\\"1\\\",\\\"b\\\":null}\""
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), hstore(), -1),
        "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1"
    );
    let map = DebeziumOptions {
        hstore_handling_mode: crate::format::debezium::HstoreHandling::Map,
        ..Default::default()
    };
    assert_eq!(
        render_with(map.clone(), hstore(), -1, C::V(h)),
        "{\"a\":\"1\",\"b\":null}"
    );
    assert_eq!(
        field_schema(map, hstore(), -1),
        "{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},\
         \"values\":{\"type\":\"string\",\"optional\":true},\"optional\":true"
    );
    let ltree = ty(90_003, "ltree", TypeKind::Ltree);
    assert_eq!(
        render(ltree.clone(), -1, C::V(b"\x01a.b".to_vec())),
        "\"a.b\""
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), ltree, -1),
        "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Ltree\",\"version\":1"
    );
    let citext = ty(90_004, "citext", TypeKind::Text);
    assert_eq!(render(citext, -1, C::V(b"MiXeD".to_vec())), "\"MiXeD\"");
    let ewkb = hex::decode("0101000020E6100000000000000000F03F0000000000000040").unwrap();
    let geom = ty(90_005, "geometry", TypeKind::Geometry);
    assert_eq!(
        render(geom.clone(), -1, C::V(ewkb.clone())),
        "{\"wkb\":\"AQEAACDmEAAAAAAAAAAA8D8AAAAAAAAAQA==\",\"srid\":4326}"
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), geom, -1),
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},\
         {\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":true,\
         \"name\":\"io.debezium.data.geometry.Geometry\",\"version\":1,\"doc\":\"Geometry\""
    );
    let geog = ty(90_006, "geography", TypeKind::Geography);
    assert!(render(geog.clone(), -1, C::V(ewkb)).ends_with("\"srid\":4326}"));
    assert!(
        field_schema(DebeziumOptions::default(), geog, -1).ends_with(
            "\"name\":\"io.debezium.data.geometry.Geography\",\"version\":1,\"doc\":\"Geography\""
        )
    );
    let tsv = other("tsvector");
    assert_eq!(
        field_schema(DebeziumOptions::default(), tsv, -1),
        "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Tsvector\",\"version\":1"
    );
}

#[test]
fn ranges_composites_and_multiranges_are_their_text() {
    let int4 = ty(23, "int4", TypeKind::Int4);
    let range = ty(3904, "int4range", TypeKind::Range(int4.clone()));
    // range_send of [1,10): flags LB_INC, two 4-byte bounds.
    let mut r = vec![0x02];
    r.extend(4i32.to_be_bytes());
    r.extend(1i32.to_be_bytes());
    r.extend(4i32.to_be_bytes());
    r.extend(10i32.to_be_bytes());
    assert_eq!(render(range.clone(), -1, C::V(r.clone())), "\"[1,10)\"");
    assert_eq!(render(range.clone(), -1, C::V(vec![0x01])), "\"empty\"");
    assert_eq!(
        field_schema(DebeziumOptions::default(), range.clone(), -1),
        "{\"type\":\"string\",\"optional\":true"
    );
    let multi = ty(4451, "int4multirange", TypeKind::Multirange(range.clone()));
    let mut m = 1i32.to_be_bytes().to_vec();
    m.extend((r.len() as i32).to_be_bytes());
    m.extend(&r);
    assert_eq!(render(multi, -1, C::V(m)), "\"{[1,10)}\"");
    let text = ty(25, "text", TypeKind::Text);
    let pair = ty(
        90_007,
        "pair",
        TypeKind::Composite(Arc::from(vec![
            crate::schema::CompositeField {
                name: "a".into(),
                ty: int4,
            },
            crate::schema::CompositeField {
                name: "b".into(),
                ty: text,
            },
        ])),
    );
    // record_send of (1,"x y"): count, then OID, length, bytes per field.
    let mut c = 2i32.to_be_bytes().to_vec();
    c.extend(23u32.to_be_bytes());
    c.extend(4i32.to_be_bytes());
    c.extend(1i32.to_be_bytes());
    c.extend(25u32.to_be_bytes());
    c.extend(3i32.to_be_bytes());
    c.extend(b"x y");
    assert_eq!(render(pair.clone(), -1, C::V(c)), "\"(1,\\\"x y\\\")\"");
    let arr = ty(90_008, "_int4range", TypeKind::Array(range));
    assert_eq!(
        field_schema(DebeziumOptions::default(), arr, -1),
        "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},\"optional\":true"
    );
    assert_eq!(
        render(pair, -1, C::Unchanged),
        "\"__tributary_unavailable_value\""
    );
}

#[test]
fn domains_map_as_their_base_type() {
    let dom = ty(
        90_009,
        "dom_numeric",
        TypeKind::Domain {
            base: numeric_t(),
            typmod: numeric_typmod(10, 2),
        },
    );
    // The column of a domain type has no typmod: the domain's applies.
    assert_eq!(
        render(dom.clone(), -1, C::V(numeric("12345.67"))),
        "\"EtaH\""
    );
    assert_eq!(
        field_schema(DebeziumOptions::default(), dom, -1),
        "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\
         \"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"}"
    );
    let inet = ty(
        90_010,
        "dom_inet",
        TypeKind::Domain {
            base: other("inet"),
            typmod: -1,
        },
    );
    let v4 = hex::decode("02200004c0a80001").unwrap();
    assert_eq!(render(inet, -1, C::V(v4)), "\"192.168.0.1\"");
    let labels: Arc<[String]> = Arc::from(vec!["a".to_owned()]);
    let mood = ty(90_011, "mood", TypeKind::Enum(labels));
    let mood_dom = ty(
        90_012,
        "mood_dom",
        TypeKind::Domain {
            base: mood,
            typmod: -1,
        },
    );
    assert!(field_schema(DebeziumOptions::default(), mood_dom, -1).contains("\"allowed\":\"a\""));
}
