//! Expected image items and record parts, in the Avro-JSON style the reader renders (union
//! branches named): short constructors so that expectations read like part B §1.8.

use serde_json::{json, Value as Json};

const NS: &str = "com.alibaba.dts.formats.avro.";

fn named(branch: &str, value: Json) -> Json {
    json!({ format!("{NS}{branch}"): value })
}

pub fn integer(precision: i32, value: &str) -> Json {
    named("Integer", json!({"precision": precision, "value": value}))
}

pub fn character(value: &str) -> Json {
    named("Character", json!({"charset": "UTF8", "value": value}))
}

pub fn decimal(value: &str, precision: i32, scale: i32) -> Json {
    named(
        "Decimal",
        json!({"value": value, "precision": precision, "scale": scale}),
    )
}

pub fn float(value: f64) -> Json {
    named(
        "Float",
        json!({"value": value, "precision": 8, "scale": 15}),
    )
}

fn int_or_null(v: Option<i64>) -> Json {
    v.map_or(Json::Null, |v| json!({ "int": v }))
}

fn parts(date: Option<(i64, i64, i64)>, time: Option<(i64, i64, i64, i64)>) -> Json {
    let (y, mo, d) = (date.map(|p| p.0), date.map(|p| p.1), date.map(|p| p.2));
    let (h, mi, s, us) = (
        time.map(|p| p.0),
        time.map(|p| p.1),
        time.map(|p| p.2),
        time.map(|p| p.3),
    );
    json!({
        "year": int_or_null(y), "month": int_or_null(mo), "day": int_or_null(d),
        "hour": int_or_null(h), "minute": int_or_null(mi), "second": int_or_null(s),
        "millis": int_or_null(us)
    })
}

/// `DateTime` with every part (`micros` is the `millis` field).
pub fn datetime(date: (i64, i64, i64), time: (i64, i64, i64, i64)) -> Json {
    named("DateTime", parts(Some(date), Some(time)))
}

pub fn date_item(date: (i64, i64, i64)) -> Json {
    named("DateTime", parts(Some(date), None))
}

pub fn time_item(time: (i64, i64, i64, i64)) -> Json {
    named("DateTime", parts(None, Some(time)))
}

pub fn zoned(date: Option<(i64, i64, i64)>, time: (i64, i64, i64, i64), zone: &str) -> Json {
    named(
        "TimestampWithTimeZone",
        json!({"value": parts(date, Some(time)), "timezone": zone}),
    )
}

pub fn binary(type_name: &str, value: &str) -> Json {
    named("BinaryObject", json!({"type": type_name, "value": value}))
}

pub fn geometry(value: &str) -> Json {
    named("BinaryGeometry", json!({"type": "EWKB", "value": value}))
}

pub fn text_obj(type_name: &str, value: &str) -> Json {
    named("TextObject", json!({"type": type_name, "value": value}))
}

pub fn none() -> Json {
    named("EmptyObject", json!("NONE"))
}

/// `fields` of part B's `orders`.
pub fn order_fields() -> Json {
    json!({"array": [
        {"name": "id", "dataTypeNumber": 20}, {"name": "status", "dataTypeNumber": 1043},
        {"name": "amount", "dataTypeNumber": 1700}, {"name": "updated_at", "dataTypeNumber": 1114}
    ]})
}

/// A row of `orders` (id 42) as image items.
pub fn order_items(status: &str, minute: i64) -> Json {
    json!({"array": [
        integer(8, "42"), character(status), decimal("19.90", 4, 2),
        datetime((2024, 1, 15), (8, minute, 0, 0))
    ]})
}
