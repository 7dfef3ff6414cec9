//! Decoding tests over hand-built wire forms (as `int4send`, `numeric_send`... produce them).

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::schema::TypeKind;

fn ty(kind: TypeKind) -> PgType {
    PgType::new(0, "t", "pg_catalog", kind)
}

fn bin(kind: TypeKind, b: &[u8]) -> Result<Value<'static>, ValueError> {
    let t: &'static PgType = Box::leak(Box::new(ty(kind)));
    let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
    decode_binary(t, b)
}

fn txt(kind: TypeKind, s: &str) -> Result<Value<'static>, ValueError> {
    let t: &'static PgType = Box::leak(Box::new(ty(kind)));
    let s: &'static str = Box::leak(s.to_owned().into_boxed_str());
    decode_text(t, s.as_bytes())
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn dec(s: &str) -> Numeric<'static> {
    Numeric::parse_text(s).unwrap()
}

#[test]
fn booleans_and_integers() {
    assert_eq!(bin(TypeKind::Bool, &[1]), Ok(Value::Bool(true)));
    assert_eq!(bin(TypeKind::Bool, &[0]), Ok(Value::Bool(false)));
    assert!(bin(TypeKind::Bool, &[]).is_err());
    assert!(bin(TypeKind::Bool, &[1, 0]).is_err());
    assert_eq!(bin(TypeKind::Int2, &[0xFF, 0xFE]), Ok(Value::Int2(-2)));
    assert_eq!(bin(TypeKind::Int4, &[0, 0, 0, 42]), Ok(Value::Int4(42)));
    assert_eq!(
        bin(TypeKind::Int8, &42i64.to_be_bytes()),
        Ok(Value::Int8(42))
    );
    assert_eq!(
        bin(TypeKind::Int8, &i64::MIN.to_be_bytes()),
        Ok(Value::Int8(i64::MIN))
    );
    // oid-like 4-byte unsigned values widen.
    assert_eq!(
        bin(TypeKind::Int8, &[0xFF, 0xFF, 0xFF, 0xFF]),
        Ok(Value::Int8(4_294_967_295))
    );
    assert!(bin(TypeKind::Int4, &[0, 0, 42]).is_err());
    assert!(bin(TypeKind::Int8, &[0; 5]).is_err());
}

#[test]
fn floats() {
    assert_eq!(
        bin(TypeKind::Float4, &[0x3F, 0xC0, 0, 0]),
        Ok(Value::Float4(1.5))
    );
    assert_eq!(
        bin(TypeKind::Float8, &[0x3F, 0xF8, 0, 0, 0, 0, 0, 0]),
        Ok(Value::Float8(1.5))
    );
    let nan = bin(TypeKind::Float8, &[0x7F, 0xF8, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(nan, Ok(Value::Float8(f)) if f.is_nan()));
    let inf = bin(TypeKind::Float4, &[0xFF, 0x80, 0, 0]);
    assert_eq!(inf, Ok(Value::Float4(f32::NEG_INFINITY)));
    assert!(bin(TypeKind::Float8, &[0; 4]).is_err());
}

#[test]
fn numerics() {
    // numeric_send(1.50): ndigits 2, weight 0, sign +, dscale 2, digits 1 5000.
    let b = [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88];
    assert_eq!(bin(TypeKind::Numeric, &b), Ok(Value::Numeric(dec("1.50"))));
    // -0.05: ndigits 1, weight -1, sign 0x4000, dscale 2, digit 500.
    let b = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
    assert_eq!(bin(TypeKind::Numeric, &b), Ok(Value::Numeric(dec("-0.05"))));
    assert_eq!(
        bin(TypeKind::Numeric, &[0; 8]),
        Ok(Value::Numeric(dec("0")))
    );
    let special = |s: u8| bin(TypeKind::Numeric, &[0, 0, 0, 0, s, 0, 0, 0]);
    assert_eq!(special(0xC0), Ok(Value::Numeric(Numeric::NaN)));
    assert_eq!(special(0xD0), Ok(Value::Numeric(Numeric::PosInfinity)));
    assert_eq!(special(0xF0), Ok(Value::Numeric(Numeric::NegInfinity)));
    assert!(special(0x80).is_err());
    // Truncated digits, a digit above 9999, a negative digit count, trailing bytes.
    assert!(bin(TypeKind::Numeric, &[0, 2, 0, 0, 0, 0, 0, 2, 0, 1]).is_err());
    assert!(bin(TypeKind::Numeric, &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err());
    assert!(bin(TypeKind::Numeric, &[0xFF, 0xFF, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(bin(TypeKind::Numeric, &[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
}

#[test]
fn text_like_and_bytes() {
    assert_eq!(
        bin(TypeKind::Text, "héllo".as_bytes()),
        Ok(Value::Text("héllo"))
    );
    assert!(bin(TypeKind::Text, &[0xFF]).is_err());
    assert_eq!(
        bin(TypeKind::Bytea, &[0, 0xFF]),
        Ok(Value::Bytes(&[0, 0xFF]))
    );
    assert_eq!(
        bin(TypeKind::Json, b"{\"a\":1}"),
        Ok(Value::Json("{\"a\":1}"))
    );
    assert_eq!(
        bin(TypeKind::Jsonb, b"\x01{\"a\": 1}"),
        Ok(Value::Json("{\"a\": 1}"))
    );
    assert!(bin(TypeKind::Jsonb, b"\x02{}").is_err());
    assert!(bin(TypeKind::Jsonb, b"").is_err());
    assert_eq!(
        bin(TypeKind::Enum(Arc::from(Vec::<String>::new())), b"happy"),
        Ok(Value::Enum("happy"))
    );
    // A type without a mapping whose binary form has no decoder: an error, never its bytes.
    assert!(bin(TypeKind::Other, b"(1,2)").is_err());
    let u: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(bin(TypeKind::Uuid, &u), Ok(Value::Uuid(u)));
    assert!(bin(TypeKind::Uuid, &u[..15]).is_err());
}

#[test]
fn dates_and_times() {
    assert_eq!(
        bin(TypeKind::Date, &0i32.to_be_bytes()),
        Ok(Value::Date(10_957))
    );
    assert_eq!(
        bin(TypeKind::Date, &(-10_957i32).to_be_bytes()),
        Ok(Value::Date(0))
    );
    assert_eq!(
        bin(TypeKind::Date, &i32::MAX.to_be_bytes()),
        Ok(Value::Date(i32::MAX))
    );
    assert_eq!(
        bin(TypeKind::Date, &i32::MIN.to_be_bytes()),
        Ok(Value::Date(i32::MIN))
    );
    assert!(bin(TypeKind::Date, &(i32::MAX - 1).to_be_bytes()).is_err());
    // 12:34:56.789
    let t = 45_296_789_000i64;
    assert_eq!(bin(TypeKind::Time, &t.to_be_bytes()), Ok(Value::Time(t)));
    assert!(bin(TypeKind::Time, &(-1i64).to_be_bytes()).is_err());
    // 12:00:00+02 is sent with the zone as seconds west: -7200.
    let b = cat(&[&43_200_000_000i64.to_be_bytes(), &(-7200i32).to_be_bytes()]);
    let want = Value::TimeTz {
        micros: 43_200_000_000,
        offset_secs: 7200,
    };
    assert_eq!(bin(TypeKind::TimeTz, &b), Ok(want));
    let b = cat(&[&0i64.to_be_bytes(), &(16 * 3600i32).to_be_bytes()]);
    assert!(bin(TypeKind::TimeTz, &b).is_err());
    // 2000-01-01 00:00:01
    let want = Value::Timestamp(946_684_801_000_000);
    assert_eq!(
        bin(TypeKind::Timestamp, &1_000_000i64.to_be_bytes()),
        Ok(want)
    );
    let want = Value::TimestampTz(i64::MAX);
    assert_eq!(
        bin(TypeKind::TimestampTz, &i64::MAX.to_be_bytes()),
        Ok(want)
    );
    let want = Value::TimestampTz(i64::MIN);
    assert_eq!(
        bin(TypeKind::TimestampTz, &i64::MIN.to_be_bytes()),
        Ok(want)
    );
    // The last years of PostgreSQL's range do not fit µs since 1970: wrapped, never an error.
    let last = 9_223_371_331_199_999_999i64;
    let Ok(Value::Timestamp(wrapped)) = bin(TypeKind::Timestamp, &last.to_be_bytes()) else {
        panic!("timestamp 294276-12-31 23:59:59.999999")
    };
    assert_eq!(
        timestamp_unix_micros(wrapped),
        i128::from(last) + i128::from(PG_EPOCH_UNIX_MICROS)
    );
    assert!(bin(TypeKind::Timestamp, &(i64::MAX - 1).to_be_bytes()).is_ok());
    // 1 year 2 mons 3 days 04:05:06.789
    let b = cat(&[
        &14_706_789_000i64.to_be_bytes(),
        &3i32.to_be_bytes(),
        &14i32.to_be_bytes(),
    ]);
    let want = Value::Interval {
        months: 14,
        days: 3,
        micros: 14_706_789_000,
    };
    assert_eq!(bin(TypeKind::Interval, &b), Ok(want));
    assert!(bin(TypeKind::Interval, &b[..12]).is_err());
}

fn int4_array() -> TypeKind {
    TypeKind::Array(Arc::new(PgType::new(
        23,
        "int4",
        "pg_catalog",
        TypeKind::Int4,
    )))
}

fn array_bytes(ndim: i32, has_null: i32, dims: &[(i32, i32)], elems: &[Option<&[u8]>]) -> Vec<u8> {
    let mut b = cat(&[
        &ndim.to_be_bytes(),
        &has_null.to_be_bytes(),
        &23u32.to_be_bytes(),
    ]);
    for (len, lower) in dims {
        b.extend(len.to_be_bytes());
        b.extend(lower.to_be_bytes());
    }
    for e in elems {
        match e {
            Some(v) => {
                b.extend((v.len() as i32).to_be_bytes());
                b.extend(*v);
            }
            None => b.extend((-1i32).to_be_bytes()),
        }
    }
    b
}

#[test]
fn arrays() {
    // '{1,NULL,3}'::int4[]
    let one = 1i32.to_be_bytes();
    let three = 3i32.to_be_bytes();
    let b = array_bytes(1, 1, &[(3, 1)], &[Some(&one), None, Some(&three)]);
    let want = Array {
        dims: vec![3],
        lower_bounds: vec![1],
        elements: vec![Value::Int4(1), Value::Null, Value::Int4(3)],
    };
    assert_eq!(bin(int4_array(), &b), Ok(Value::Array(want)));
    // '{{1,3},{3,1}}'
    let b = array_bytes(
        2,
        0,
        &[(2, 1), (2, 1)],
        &[Some(&one), Some(&three), Some(&three), Some(&one)],
    );
    let Ok(Value::Array(a)) = bin(int4_array(), &b) else {
        panic!("2-d array")
    };
    assert_eq!(a.dims, vec![2, 2]);
    assert_eq!(a.elements.len(), 4);
    // '{}'
    let b = array_bytes(0, 0, &[], &[]);
    let want = Array {
        dims: vec![],
        lower_bounds: vec![],
        elements: vec![],
    };
    assert_eq!(bin(int4_array(), &b), Ok(Value::Array(want)));
    // Malformed: too many dims, an element of the wrong width, a huge count, trailing bytes.
    assert!(bin(
        int4_array(),
        &array_bytes(7, 0, &[(1, 1); 7], &[Some(&one)])
    )
    .is_err());
    assert!(bin(
        int4_array(),
        &array_bytes(1, 0, &[(1, 1)], &[Some(&[1, 2])])
    )
    .is_err());
    assert!(bin(
        int4_array(),
        &array_bytes(2, 0, &[(i32::MAX, 1), (i32::MAX, 1)], &[])
    )
    .is_err());
    let mut b = array_bytes(1, 0, &[(1, 1)], &[Some(&one)]);
    b.push(0);
    assert!(bin(int4_array(), &b).is_err());
    assert!(bin(int4_array(), &array_bytes(1, 0, &[(-1, 1)], &[])).is_err());
}

#[test]
fn text_arrays_decode_elements_as_text() {
    let text = Arc::new(PgType::new(25, "text", "pg_catalog", TypeKind::Text));
    let b = array_bytes(1, 0, &[(2, 1)], &[Some(b"a"), Some(b"")]);
    let want = Array {
        dims: vec![2],
        lower_bounds: vec![1],
        elements: vec![Value::Text("a"), Value::Text("")],
    };
    assert_eq!(bin(TypeKind::Array(text), &b), Ok(Value::Array(want)));
}

#[test]
fn text_forms() {
    assert_eq!(txt(TypeKind::Bool, "t"), Ok(Value::Bool(true)));
    assert_eq!(txt(TypeKind::Bool, "f"), Ok(Value::Bool(false)));
    assert!(txt(TypeKind::Bool, "x").is_err());
    assert_eq!(txt(TypeKind::Int2, "-32768"), Ok(Value::Int2(i16::MIN)));
    assert_eq!(txt(TypeKind::Int4, "42"), Ok(Value::Int4(42)));
    assert_eq!(
        txt(TypeKind::Int8, "-9223372036854775808"),
        Ok(Value::Int8(i64::MIN))
    );
    assert!(txt(TypeKind::Int2, "40000").is_err());
    assert_eq!(txt(TypeKind::Float4, "1.5"), Ok(Value::Float4(1.5)));
    assert_eq!(
        txt(TypeKind::Float8, "-Infinity"),
        Ok(Value::Float8(f64::NEG_INFINITY))
    );
    assert_eq!(
        txt(TypeKind::Float8, "Infinity"),
        Ok(Value::Float8(f64::INFINITY))
    );
    assert!(matches!(txt(TypeKind::Float4, "NaN"), Ok(Value::Float4(f)) if f.is_nan()));
    assert!(txt(TypeKind::Float8, "one").is_err());
    assert_eq!(
        txt(TypeKind::Numeric, "-0.05"),
        Ok(Value::Numeric(dec("-0.05")))
    );
    assert_eq!(
        txt(TypeKind::Numeric, "NaN"),
        Ok(Value::Numeric(Numeric::NaN))
    );
    assert_eq!(
        txt(TypeKind::Numeric, "Infinity"),
        Ok(Value::Numeric(Numeric::PosInfinity))
    );
    assert!(txt(TypeKind::Numeric, "1e3").is_err());
    assert_eq!(txt(TypeKind::Text, "abc"), Ok(Value::Text("abc")));
    assert_eq!(txt(TypeKind::Jsonb, "{}"), Ok(Value::Json("{}")));
    assert_eq!(
        txt(TypeKind::Enum(Arc::from(Vec::<String>::new())), "sad"),
        Ok(Value::Enum("sad"))
    );
    let u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let want = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    assert_eq!(txt(TypeKind::Uuid, u), Ok(Value::Uuid(want)));
    assert_eq!(
        txt(TypeKind::Uuid, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}"),
        Ok(Value::Uuid(want))
    );
    assert!(txt(TypeKind::Uuid, "a0eebc99").is_err());
    assert!(txt(TypeKind::Uuid, &format!("{u}0")).is_err());
    let other = Value::Other {
        type_name: "t",
        text: Cow::Borrowed("2024-01-15"),
    };
    assert_eq!(txt(TypeKind::Date, "2024-01-15"), Ok(other));
    assert!(txt(TypeKind::Text, "\u{0}").is_ok());
}

#[test]
fn decode_dispatches_on_the_cell() {
    let ty = Arc::new(PgType::new(23, "int4", "pg_catalog", TypeKind::Int4));
    let col = Column {
        name: "c".into(),
        ty,
        typmod: -1,
        is_key: false,
        nullable: true,
    };
    let row = Row {
        buf: Bytes::from_static(b"xx\x00\x00\x00\x0742"),
        cells: vec![],
    };
    assert_eq!(decode(&col, &row, Cell::Null), Ok(Value::Null));
    assert_eq!(decode(&col, &row, Cell::Unchanged), Ok(Value::Unavailable));
    assert_eq!(
        decode(&col, &row, Cell::Binary { start: 2, len: 4 }),
        Ok(Value::Int4(7))
    );
    assert_eq!(
        decode(&col, &row, Cell::Text { start: 6, len: 2 }),
        Ok(Value::Int4(42))
    );
    let err = decode(&col, &row, Cell::Binary { start: 6, len: 4 }).unwrap_err();
    assert_eq!(err.type_name, "int4");
    assert!(decode(
        &col,
        &row,
        Cell::Text {
            start: u32::MAX,
            len: u32::MAX
        }
    )
    .is_err());
}

/// Types of every container and extension kind, nested, for the never-panic property.
fn nested_types() -> Vec<PgType> {
    let t = |name: &str, kind: TypeKind| Arc::new(PgType::new(1, name, "pg_catalog", kind));
    let int4 = t("int4", TypeKind::Int4);
    let text = t("text", TypeKind::Text);
    let ts = t("timestamp", TypeKind::Timestamp);
    let range = t("int4range", TypeKind::Range(int4.clone()));
    let ts_range = t("tsrange", TypeKind::Range(ts));
    let field = |name: &str, ty: &Arc<PgType>| crate::schema::CompositeField {
        name: name.into(),
        ty: ty.clone(),
    };
    let arr = t("_int4", TypeKind::Array(int4.clone()));
    let pair = t(
        "pair",
        TypeKind::Composite(Arc::from(vec![field("a", &int4), field("b", &text)])),
    );
    let dom = t(
        "d",
        TypeKind::Domain {
            base: arr.clone(),
            typmod: -1,
        },
    );
    let nested = t(
        "nested",
        TypeKind::Composite(Arc::from(vec![
            field("p", &pair),
            field("r", &range),
            field("d", &dom),
        ])),
    );
    let labels: Arc<[String]> = Arc::from(vec!["a".to_owned()]);
    let kinds = vec![
        TypeKind::Range(int4.clone()),
        TypeKind::Range(text.clone()),
        TypeKind::Multirange(range.clone()),
        TypeKind::Multirange(ts_range),
        TypeKind::Composite(Arc::from(vec![field("a", &int4), field("b", &text)])),
        TypeKind::Array(nested.clone()),
        TypeKind::Array(range),
        TypeKind::Domain {
            base: nested,
            typmod: -1,
        },
        TypeKind::Hstore,
        TypeKind::Ltree,
        TypeKind::Geometry,
        TypeKind::Geography,
        TypeKind::Enum(labels),
        TypeKind::Array(pair),
        TypeKind::Domain {
            base: t("inet", TypeKind::Other),
            typmod: -1,
        },
    ];
    kinds.into_iter().map(ty).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

    /// Arbitrary bytes, and bytes shaped like counts and lengths, never make a decoder or the
    /// text rendering panic, whatever the (nested) type.
    #[test]
    fn arbitrary_bytes_never_panic_in_containers(
        which in 0usize..15,
        bytes in proptest::prop_oneof![
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            proptest::collection::vec(0u8..4, 0..64),
            proptest::collection::vec(proptest::prop_oneof![proptest::prelude::Just(0u8), proptest::prelude::Just(1u8), proptest::prelude::Just(0x17u8), proptest::prelude::Just(0xffu8)], 0..96),
        ],
    ) {
        let types = nested_types();
        let ty = &types[which % types.len()];
        if let Ok(v) = decode_binary(ty, &bytes) {
            let mut s = String::new();
            write_text(ty, &v, &mut s);
        }
    }
}

#[test]
fn array_dimensions_of_nothing_are_the_empty_array() {
    // Two dimensions, the second of length 0: no elements, so `{}`, not a billion `{}`.
    let b = array_bytes(2, 0, &[(1_000_000_000, 1), (0, 1)], &[]);
    let Ok(Value::Array(a)) = bin(int4_array(), &b) else {
        panic!("empty array")
    };
    assert!(a.dims.is_empty() && a.elements.is_empty());
}
