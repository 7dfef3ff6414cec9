//! Renderings checked against what PostgreSQL 15 prints for the same values (the integration
//! test `tests/containers.rs` compares many more with a live server).

use std::borrow::Cow;
use std::sync::Arc;

use super::*;
use crate::schema::CompositeField;

fn t(name: &str, kind: TypeKind) -> Arc<PgType> {
    Arc::new(PgType::new(0, name, "pg_catalog", kind))
}

fn text(ty: &PgType, v: &Value<'_>) -> String {
    let mut s = String::new();
    write_text(ty, v, &mut s);
    s
}

fn scalar(v: Value<'_>) -> String {
    text(&t("x", TypeKind::Int4), &v)
}

#[test]
fn scalars() {
    assert_eq!(scalar(Value::Bool(true)), "t");
    assert_eq!(scalar(Value::Int8(i64::MIN)), "-9223372036854775808");
    assert_eq!(scalar(Value::Bytes(&[0, 0xab])), "\\x00ab");
    assert_eq!(scalar(Value::Ewkb(&[1, 0xab])), "01AB");
    let u = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    assert_eq!(
        scalar(Value::Uuid(u)),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
}

#[test]
fn floats_print_like_float4out_and_float8out() {
    for (v, want) in [
        (0.0f32, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1.25e-5, "1.25e-05"),
        (0.0001, "0.0001"),
        (3.4028235e38, "3.4028235e+38"),
        (0.1, "0.1"),
    ] {
        assert_eq!(scalar(Value::Float4(v)), want, "{v:e}");
    }
    for (v, want) in [
        (0.0f64, "0"),
        (-0.0, "-0"),
        (1e14, "100000000000000"),
        (1e15, "1e+15"),
        (5e-324, "5e-324"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(scalar(Value::Float8(v)), want, "{v:e}");
    }
}

#[test]
fn dates_times_and_timestamps() {
    assert_eq!(scalar(Value::Date(19_782)), "2024-02-29");
    assert_eq!(scalar(Value::Date(0)), "1970-01-01");
    // 0044-03-15 BC is year -43.
    assert_eq!(scalar(Value::Date(-735_160)), "0044-03-15 BC");
    assert_eq!(scalar(Value::Date(-719_163)), "0001-12-31 BC");
    assert_eq!(scalar(Value::Date(-719_162)), "0001-01-01");
    assert_eq!(scalar(Value::Date(i32::MAX)), "infinity");
    assert_eq!(scalar(Value::Date(i32::MIN)), "-infinity");
    assert_eq!(scalar(Value::Time(0)), "00:00:00");
    assert_eq!(scalar(Value::Time(86_400_000_000)), "24:00:00");
    assert_eq!(scalar(Value::Time(45_296_500_000)), "12:34:56.5");
    assert_eq!(
        scalar(Value::TimeTz {
            micros: 1_000_001,
            offset_secs: 19_800
        }),
        "00:00:01.000001+05:30"
    );
    assert_eq!(
        scalar(Value::TimeTz {
            micros: 0,
            offset_secs: -3_723
        }),
        "00:00:00-01:02:03"
    );
    assert_eq!(
        scalar(Value::Timestamp(1_709_210_096_789_012)),
        "2024-02-29 12:34:56.789012"
    );
    assert_eq!(
        scalar(Value::TimestampTz(-500_000)),
        "1969-12-31 23:59:59.5+00"
    );
    assert_eq!(
        scalar(Value::TimestampTz(-62_135_596_800_000_001)),
        "0001-12-31 23:59:59.999999+00 BC"
    );
    assert_eq!(scalar(Value::Timestamp(i64::MIN)), "-infinity");
    // PostgreSQL's last microsecond, past an i64 of µs since 1970: wrapped, and read back.
    let last = crate::value::binary::timestamp_from_pg(9_223_371_331_199_999_999);
    assert!(last < 0);
    assert_eq!(
        scalar(Value::Timestamp(last)),
        "294276-12-31 23:59:59.999999"
    );
}

#[test]
fn intervals_in_postgres_style() {
    let iv = |months, days, micros| {
        scalar(Value::Interval {
            months,
            days,
            micros,
        })
    };
    assert_eq!(iv(0, 0, 0), "00:00:00");
    assert_eq!(iv(14, 3, 14_706_700_000), "1 year 2 mons 3 days 04:05:06.7");
    assert_eq!(iv(0, -1, -1_000_000), "-1 days -00:00:01");
    assert_eq!(iv(-12, 1, 0), "-1 years +1 day");
    assert_eq!(iv(1, 0, 3_600_000_000), "1 mon 01:00:00");
    assert_eq!(iv(0, -2, 60_000_000), "-2 days +00:01:00");
    assert_eq!(iv(0, 0, -500_000), "-00:00:00.5");
    assert_eq!(iv(0, 0, 100 * 3_600_000_000), "100:00:00");
}

#[test]
fn arrays_quote_like_array_out() {
    let txt = t("text", TypeKind::Text);
    let arr = t("_text", TypeKind::Array(txt));
    let a = Array {
        dims: vec![6],
        lower_bounds: vec![1],
        elements: vec![
            Value::Text("a"),
            Value::Null,
            Value::Text(""),
            Value::Text("null"),
            Value::Text("x \"y\" \\z"),
            Value::Text("{,}"),
        ],
    };
    assert_eq!(
        text(&arr, &Value::Array(a)),
        r#"{a,NULL,"","null","x \"y\" \\z","{,}"}"#
    );
    let int = t("int4", TypeKind::Int4);
    let arr = t("_int4", TypeKind::Array(int));
    let a = Array {
        dims: vec![2, 2],
        lower_bounds: vec![0, 1],
        elements: vec![Value::Int4(1), Value::Int4(2), Value::Int4(3), Value::Null],
    };
    assert_eq!(text(&arr, &Value::Array(a)), "[0:1][1:2]={{1,2},{3,NULL}}");
    let empty = Array {
        dims: vec![],
        lower_bounds: vec![],
        elements: vec![],
    };
    assert_eq!(text(&arr, &Value::Array(empty)), "{}");
    let boxes = t("_box", TypeKind::Array(t("box", TypeKind::Other)));
    let other = |s: &'static str| Value::Other {
        type_name: "box",
        text: Cow::Borrowed(s),
    };
    let a = Array {
        dims: vec![2],
        lower_bounds: vec![1],
        elements: vec![other("(1,1),(0,0)"), other("(2,2),(1,1)")],
    };
    assert_eq!(text(&boxes, &Value::Array(a)), "{(1,1),(0,0);(2,2),(1,1)}");
}

#[test]
fn ranges_and_multiranges() {
    let ts = t("timestamp", TypeKind::Timestamp);
    let range_t = t("tsrange", TypeKind::Range(ts));
    let r = Range::Bounds {
        lower: Bound::Included(Value::Timestamp(0)),
        upper: Bound::Unbounded,
    };
    assert_eq!(
        text(&range_t, &Value::Range(Box::new(r.clone()))),
        "[\"1970-01-01 00:00:00\",)"
    );
    assert_eq!(
        text(&range_t, &Value::Range(Box::new(Range::Empty))),
        "empty"
    );
    let txt = t("text", TypeKind::Text);
    let tr = t("textrange", TypeKind::Range(txt));
    let r2 = Range::Bounds {
        lower: Bound::Excluded(Value::Text("")),
        upper: Bound::Included(Value::Text("a\"b")),
    };
    assert_eq!(text(&tr, &Value::Range(Box::new(r2))), "(\"\",\"a\"\"b\"]");
    let multi = t("tsmultirange", TypeKind::Multirange(range_t));
    let two = vec![
        r,
        Range::Bounds {
            lower: Bound::Unbounded,
            upper: Bound::Excluded(Value::Timestamp(0)),
        },
    ];
    assert_eq!(
        text(&multi, &Value::Multirange(two)),
        "{[\"1970-01-01 00:00:00\",),(,\"1970-01-01 00:00:00\")}"
    );
    assert_eq!(text(&multi, &Value::Multirange(vec![])), "{}");
}

#[test]
fn composites_and_hstores() {
    let int = t("int4", TypeKind::Int4);
    let txt = t("text", TypeKind::Text);
    let arr = t("_int4", TypeKind::Array(int.clone()));
    let field = |name: &str, ty: &Arc<PgType>| CompositeField {
        name: name.into(),
        ty: ty.clone(),
    };
    let inner = t(
        "pair",
        TypeKind::Composite(Arc::from(vec![field("a", &int), field("b", &txt)])),
    );
    let outer = t(
        "outer",
        TypeKind::Composite(Arc::from(vec![
            field("p", &inner),
            field("xs", &arr),
            field("n", &int),
            field("s", &txt),
        ])),
    );
    let v = Value::Composite(vec![
        Value::Composite(vec![Value::Int4(1), Value::Text("x y")]),
        Value::Array(Array {
            dims: vec![2],
            lower_bounds: vec![1],
            elements: vec![Value::Int4(1), Value::Int4(2)],
        }),
        Value::Null,
        Value::Text(""),
    ]);
    assert_eq!(text(&outer, &v), r#"("(1,""x y"")","{1,2}",,"")"#);
    let h = Value::Hstore(vec![("a", Some("1")), ("b \"q\"", None), ("c", Some("\\"))]);
    assert_eq!(scalar(h), r#""a"=>"1", "b \"q\""=>NULL, "c"=>"\\""#);
    assert_eq!(scalar(Value::Hstore(vec![])), "");
}
