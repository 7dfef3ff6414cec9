//! Record-level behaviour and options: topics, keys, tombstones, truncate, primary-key changes,
//! transaction metadata, snapshot marks, schema caching and error handling.

use std::sync::Arc;

use super::pgbin::*;
use crate::event::{ChangeEvent, Op, SnapshotMark};
use crate::format::debezium::{DebeziumJson, DebeziumOptions, FixedClock};
use crate::format::{EncodedBatch, EncodedRecord, Format};
use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};

fn kv_table(key: bool) -> Arc<TableSchema> {
    let cols = vec![
        col("id", ty(23, "int4", TypeKind::Int4), -1, key),
        col("v", ty(25, "text", TypeKind::Text), -1, false),
    ];
    table(7, "kv", cols, ReplicaIdentity::Full)
}

fn kv_row(id: i32, v: &str) -> crate::event::Row {
    row(vec![C::V(int4(id)), C::V(text(v))])
}

fn encode_with(opts: DebeziumOptions, ev: &ChangeEvent) -> Vec<EncodedRecord> {
    let mut fmt = DebeziumJson::with_clock(opts, Box::new(FixedClock(1_700_000_001_000_000_123)));
    let mut out = EncodedBatch::default();
    fmt.encode(ev, &mut out).unwrap();
    out.records().to_vec()
}

fn encode(ev: &ChangeEvent) -> Vec<EncodedRecord> {
    encode_with(
        DebeziumOptions {
            topic_prefix: "srv".into(),
            ..Default::default()
        },
        ev,
    )
}

fn s(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| String::from_utf8(b.to_vec()).unwrap())
}

fn value(r: &EncodedRecord) -> String {
    s(r.value()).unwrap()
}

#[test]
fn default_options_follow_debezium_defaults() {
    let o = DebeziumOptions::default();
    assert!(!o.schemas_enable && o.tombstones_on_delete && !o.provide_transaction_metadata);
    assert_eq!(
        o.unavailable_value_placeholder,
        "__tributary_unavailable_value"
    );
    assert_eq!(o.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn full_envelope_of_an_insert() {
    let ev = event(&kv_table(true), Op::Insert, None, Some(kv_row(42, "x")));
    let recs = encode(&ev);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].topic, "srv.public.kv");
    assert_eq!(s(recs[0].key()).as_deref(), Some("{\"id\":42}"));
    let want = concat!(
        "{\"before\":null,\"after\":{\"id\":42,\"v\":\"x\"},\"source\":{\"version\":\"",
        env!("CARGO_PKG_VERSION"),
        "\",\"connector\":\"postgresql\",\"name\":\"srv\",\"ts_ms\":1700000000123,",
        "\"snapshot\":\"false\",\"db\":\"\",\"sequence\":\"[\\\"128\\\",\\\"240\\\"]\",",
        "\"ts_us\":1700000000123456,\"ts_ns\":1700000000123456000,\"schema\":\"public\",",
        "\"table\":\"kv\",\"txId\":500,\"lsn\":240,\"xmin\":null,\"origin\":null,",
        "\"origin_lsn\":null},\"transaction\":null,\"op\":\"c\",\"ts_ms\":1700000001000,",
        "\"ts_us\":1700000001000000,\"ts_ns\":1700000001000000123}"
    );
    assert_eq!(value(&recs[0]), want);
    assert!(recs[0].headers.is_empty());
}

#[test]
fn topic_override_and_sanitized_names() {
    let ev = event(&kv_table(true), Op::Insert, None, Some(kv_row(1, "x")));
    let o = DebeziumOptions {
        topic_override: Some("all.rows".into()),
        ..Default::default()
    };
    assert_eq!(encode_with(o, &ev)[0].topic, "all.rows");
    let odd = table(
        8,
        "my table/ü",
        kv_table(true).columns.clone(),
        ReplicaIdentity::Full,
    );
    let ev = event(&odd, Op::Insert, None, Some(kv_row(1, "x")));
    assert_eq!(encode(&ev)[0].topic, "srv.public.my_table__");
}

#[test]
fn delete_is_followed_by_a_tombstone_unless_disabled() {
    let ev = event(&kv_table(true), Op::Delete, Some(kv_row(5, "old")), None);
    let recs = encode(&ev);
    assert_eq!(recs.len(), 2);
    assert!(value(&recs[0]).starts_with("{\"before\":{\"id\":5,\"v\":\"old\"},\"after\":null,"));
    assert!(value(&recs[0]).contains(",\"op\":\"d\","));
    assert_eq!(s(recs[1].key()).as_deref(), Some("{\"id\":5}"));
    assert_eq!(recs[1].value(), None);
    assert_eq!(recs[1].topic, recs[0].topic);
    let o = DebeziumOptions {
        tombstones_on_delete: false,
        ..Default::default()
    };
    assert_eq!(encode_with(o, &ev).len(), 1);
}

#[test]
fn tables_without_key_have_null_keys() {
    let t = kv_table(false);
    let recs = encode(&event(&t, Op::Insert, None, Some(kv_row(1, "a"))));
    assert_eq!(recs[0].key(), None);
    let recs = encode(&event(&t, Op::Delete, Some(kv_row(1, "a")), None));
    assert_eq!(
        (recs[0].key(), recs[1].key(), recs[1].value()),
        (None, None, None)
    );
}

#[test]
fn truncate_has_null_key_and_no_images() {
    let recs = encode(&event(&kv_table(true), Op::Truncate, None, None));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].key(), None);
    let v = value(&recs[0]);
    assert!(
        v.starts_with("{\"before\":null,\"after\":null,\"source\":{"),
        "{v}"
    );
    assert!(v.contains(",\"op\":\"t\","));
}

#[test]
fn update_with_same_key_is_one_record_with_before() {
    let ev = event(
        &kv_table(true),
        Op::Update,
        Some(kv_row(1, "a")),
        Some(kv_row(1, "b")),
    );
    let recs = encode(&ev);
    assert_eq!(recs.len(), 1);
    let v = value(&recs[0]);
    assert!(v.starts_with("{\"before\":{\"id\":1,\"v\":\"a\"},\"after\":{\"id\":1,\"v\":\"b\"},"));
    assert!(v.contains(",\"op\":\"u\","));
}

#[test]
fn update_without_old_image_has_null_before() {
    let ev = event(&kv_table(true), Op::Update, None, Some(kv_row(1, "b")));
    assert!(value(&encode(&ev)[0]).starts_with("{\"before\":null,\"after\":{\"id\":1,"));
}

#[test]
fn key_change_is_delete_tombstone_create_with_headers() {
    let ev = event(
        &kv_table(true),
        Op::Update,
        Some(kv_row(1, "a")),
        Some(kv_row(2, "b")),
    );
    let recs = encode(&ev);
    assert_eq!(recs.len(), 3);
    let (del, tomb, create) = (&recs[0], &recs[1], &recs[2]);
    assert_eq!(s(del.key()).as_deref(), Some("{\"id\":1}"));
    assert!(value(del).starts_with("{\"before\":{\"id\":1,\"v\":\"a\"},\"after\":null,"));
    assert!(value(del).contains(",\"op\":\"d\","));
    assert_eq!(
        del.headers,
        vec![("__debezium.newkey", b"{\"id\":2}".to_vec())]
    );
    assert_eq!(
        (s(tomb.key()).as_deref(), tomb.value()),
        (Some("{\"id\":1}"), None)
    );
    assert_eq!(tomb.headers, del.headers);
    assert_eq!(s(create.key()).as_deref(), Some("{\"id\":2}"));
    assert!(value(create).starts_with("{\"before\":null,\"after\":{\"id\":2,\"v\":\"b\"},"));
    assert!(value(create).contains(",\"op\":\"c\","));
    assert_eq!(
        create.headers,
        vec![("__debezium.oldkey", b"{\"id\":1}".to_vec())]
    );
}

#[test]
fn key_headers_are_printed_as_connect_header_values() {
    let cols = vec![
        col("k", ty(25, "text", TypeKind::Text), -1, true),
        col(
            "n",
            ty(1700, "numeric", TypeKind::Numeric),
            numeric_typmod(10, 2),
            true,
        ),
    ];
    let t = table(9, "h", cols, ReplicaIdentity::Full);
    let old = row(vec![C::V(text("a\"\nb")), C::V(numeric("1.50"))]);
    let new = row(vec![C::V(text("c")), C::V(numeric("-0.05"))]);
    let recs = encode(&event(&t, Op::Update, Some(old), Some(new)));
    assert_eq!(
        s(recs[0].key()).as_deref(),
        Some("{\"k\":\"a\\\"\\nb\",\"n\":\"AJY=\"}")
    );
    let header = String::from_utf8(recs[2].headers[0].1.clone()).unwrap();
    assert_eq!(header, "{\"k\":\"a\\\"\nb\",\"n\":1.50}");
    let header = String::from_utf8(recs[0].headers[0].1.clone()).unwrap();
    assert_eq!(header, "{\"k\":\"c\",\"n\":-0.05}");
}

#[test]
fn schemas_enable_wraps_keys_and_values() {
    let o = DebeziumOptions {
        schemas_enable: true,
        topic_prefix: "srv".into(),
        ..Default::default()
    };
    let recs = encode_with(
        o,
        &event(&kv_table(true), Op::Insert, None, Some(kv_row(1, "a"))),
    );
    let key = s(recs[0].key()).unwrap();
    assert_eq!(
        key,
        "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\
         \"field\":\"id\"}],\"optional\":false,\"name\":\"srv.public.kv.Key\"},\"payload\":{\"id\":1}}"
    );
    let v = value(&recs[0]);
    assert!(v.starts_with("{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\""));
    assert!(v.contains(
        "\"name\":\"srv.public.kv.Envelope\",\"version\":2},\"payload\":{\"before\":null"
    ));
    assert!(v.ends_with("}}"));
}

#[test]
fn transaction_metadata_counts_events_per_transaction_and_table() {
    let o = DebeziumOptions {
        provide_transaction_metadata: true,
        ..Default::default()
    };
    let mut fmt = DebeziumJson::with_clock(o, Box::new(FixedClock(0)));
    let (a, b) = (
        kv_table(true),
        table(
            11,
            "other",
            kv_table(true).columns.clone(),
            ReplicaIdentity::Full,
        ),
    );
    let mut out = EncodedBatch::default();
    let mut blocks = Vec::new();
    for (t, xid) in [(&a, 500), (&b, 500), (&a, 500), (&a, 501)] {
        let mut ev = event(t, Op::Insert, None, Some(kv_row(1, "x")));
        ev.tx.xid = xid;
        out.clear();
        fmt.encode(&ev, &mut out).unwrap();
        let v = value(&out.records()[0]);
        let start = v.find("\"transaction\":").unwrap();
        let end = v.find(",\"op\"").unwrap();
        blocks.push(v[start + 14..end].to_owned());
    }
    assert_eq!(
        blocks[0],
        "{\"id\":\"500\",\"total_order\":1,\"data_collection_order\":1}"
    );
    assert_eq!(
        blocks[1],
        "{\"id\":\"500\",\"total_order\":2,\"data_collection_order\":1}"
    );
    assert_eq!(
        blocks[2],
        "{\"id\":\"500\",\"total_order\":3,\"data_collection_order\":2}"
    );
    assert_eq!(
        blocks[3],
        "{\"id\":\"501\",\"total_order\":1,\"data_collection_order\":1}"
    );
}

#[test]
fn snapshot_marks_map_to_debezium_values() {
    let cases = [
        (SnapshotMark::First, "first"),
        (SnapshotMark::FirstInTable, "first_in_data_collection"),
        (SnapshotMark::Middle, "true"),
        (SnapshotMark::LastInTable, "last_in_data_collection"),
        (SnapshotMark::Last, "last"),
        (SnapshotMark::None, "true"),
    ];
    for (mark, want) in cases {
        let mut ev = event(&kv_table(true), Op::Read, None, Some(kv_row(1, "x")));
        ev.snapshot = mark;
        ev.last_commit_lsn = None;
        let v = value(&encode(&ev)[0]);
        assert!(
            v.contains(&format!("\"snapshot\":\"{want}\",")),
            "{mark:?}: {v}"
        );
        assert!(v.contains("\"sequence\":\"[null,\\\"240\\\"]\""), "{v}");
        assert!(v.contains(",\"op\":\"r\","));
    }
}

#[test]
fn a_changed_table_schema_rebuilds_the_cached_plan() {
    let mut fmt = DebeziumJson::with_clock(DebeziumOptions::default(), Box::new(FixedClock(0)));
    let mut out = EncodedBatch::default();
    let t1 = kv_table(true);
    fmt.encode(
        &event(&t1, Op::Insert, None, Some(kv_row(1, "a"))),
        &mut out,
    )
    .unwrap();
    let mut cols = t1.columns.clone();
    cols.push(col("w", ty(16, "bool", TypeKind::Bool), -1, false));
    let t2 = table(t1.oid, "kv", cols, ReplicaIdentity::Full);
    let r = row(vec![C::V(int4(1)), C::V(text("a")), C::V(boolean(true))]);
    out.clear();
    fmt.encode(&event(&t2, Op::Insert, None, Some(r)), &mut out)
        .unwrap();
    assert!(value(&out.records()[0]).contains("\"after\":{\"id\":1,\"v\":\"a\",\"w\":true}"));
    // An equal schema in a new Arc keeps working.
    out.clear();
    fmt.encode(
        &event(&kv_table(true), Op::Insert, None, Some(kv_row(3, "c"))),
        &mut out,
    )
    .unwrap();
    assert!(value(&out.records()[0]).contains("\"after\":{\"id\":3,\"v\":\"c\"}"));
}

#[test]
fn malformed_cells_fail_without_leaving_partial_records() {
    let mut fmt = DebeziumJson::with_clock(DebeziumOptions::default(), Box::new(FixedClock(0)));
    let mut out = EncodedBatch::default();
    fmt.encode(
        &event(&kv_table(true), Op::Insert, None, Some(kv_row(1, "a"))),
        &mut out,
    )
    .unwrap();
    let bad = row(vec![C::V(vec![1, 2, 3]), C::V(text("x"))]);
    let err = fmt.encode(
        &event(&kv_table(true), Op::Insert, None, Some(bad)),
        &mut out,
    );
    let msg = err.unwrap_err().to_string();
    assert!(msg.contains("public.kv") && msg.contains("id"), "{msg}");
    assert_eq!(out.len(), 1);
    let bad_text = row(vec![C::V(int4(1)), C::V(vec![0xff, 0xfe])]);
    let ev = event(&kv_table(true), Op::Delete, Some(bad_text), None);
    assert!(fmt.encode(&ev, &mut out).is_err());
    assert_eq!(out.len(), 1);
}

#[test]
fn non_finite_float_keys_are_bare_words_in_headers() {
    let cols = vec![col("f", ty(701, "float8", TypeKind::Float8), -1, true)];
    let t = table(12, "f", cols, ReplicaIdentity::Full);
    let old = row(vec![C::V(float8(f64::NAN))]);
    let new = row(vec![C::V(float8(2.5))]);
    let recs = encode(&event(&t, Op::Update, Some(old), Some(new)));
    assert_eq!(s(recs[0].key()).as_deref(), Some("{\"f\":\"NaN\"}"));
    assert_eq!(recs[2].headers[0].1, b"{\"f\":NaN}".to_vec());
    assert_eq!(recs[0].headers[0].1, b"{\"f\":2.5}".to_vec());
}

#[test]
fn unchanged_toast_stays_unavailable_with_a_key_only_old_image() {
    let cols = kv_table(true).columns.clone();
    let t = table(13, "dflt", cols, ReplicaIdentity::Default);
    let old = row(vec![C::V(int4(1)), C::Null]);
    let new = row(vec![C::V(int4(2)), C::Unchanged]);
    let recs = encode(&event(&t, Op::Update, Some(old), Some(new)));
    assert_eq!(recs.len(), 3);
    let v = value(&recs[2]);
    assert!(
        v.contains("\"after\":{\"id\":2,\"v\":\"__tributary_unavailable_value\"}"),
        "{v}"
    );
}
