//! Golden tests: the records of `shared/spec/debezium-samples/` (Debezium 3.6.3's real output,
//! copied under `samples/`) rebuilt as change events over PostgreSQL binary cells, encoded, and
//! compared byte for byte.

use std::sync::Arc;

use super::pgbin::*;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark};
use crate::format::debezium::{DebeziumJson, DebeziumOptions, ManualClock};
use crate::format::{EncodedBatch, Format};
use crate::position::Lsn;
use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};

const KV: &str = include_str!("samples/pg_types.kv.jsonl");
const VALUES: &str = include_str!("samples/pg_types.value.jsonl");
const VALUES_WITH_SCHEMA: &str = include_str!("samples/pg_types.value-schema.jsonl");

pub(super) fn sample_table(oid: u32, name: &str, ri: ReplicaIdentity) -> Arc<TableSchema> {
    table(
        oid,
        name,
        vec![
            col("id", ty(20, "int8", TypeKind::Int8), -1, true),
            col("name", ty(25, "text", TypeKind::Text), -1, false),
            col("qty", ty(23, "int4", TypeKind::Int4), -1, false),
            col(
                "price",
                ty(1700, "numeric", TypeKind::Numeric),
                numeric_typmod(12, 2),
                false,
            ),
            col(
                "created_at",
                ty(1184, "timestamptz", TypeKind::TimestampTz),
                -1,
                false,
            ),
            col("active", ty(16, "bool", TypeKind::Bool), -1, false),
            col("attrs", ty(3802, "jsonb", TypeKind::Jsonb), -1, false),
            col("uid", ty(2950, "uuid", TypeKind::Uuid), -1, false),
            col("blob", ty(17, "bytea", TypeKind::Bytea), -1, false),
            col("day", ty(1082, "date", TypeKind::Date), -1, false),
        ],
        ri,
    )
}

const US: i64 = 1_000_000;
const JSON_V1: &str = r#"{"a": [1, 2.5, {"b": null}], "s": "x\"y"}"#;
const JSON_V2: &str = r#"{"a": [1, 2.5, {"b": null}], "c": 1, "s": "x\"y"}"#;
const UUID2: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

fn snapshot_row() -> Row {
    row(vec![
        C::V(int8(1)),
        C::V(text("snapshot row")),
        C::V(int4(7)),
        C::V(numeric("1.50")),
        C::V(timestamp(1_704_067_200 * US)),
        C::V(boolean(false)),
        C::V(jsonb(r#"{"k": 1}"#)),
        C::V(uuid("00000000-0000-0000-0000-000000000001")),
        C::V(vec![0]),
        C::V(date(0)),
    ])
}

pub(super) fn inserted_row() -> Row {
    row(vec![
        C::V(int8(2)),
        C::V(text("second row, \"quoted\" ünïcödé")),
        C::V(int4(42)),
        C::V(numeric("12345.67")),
        C::V(timestamp(1_709_210_096 * US + 789_012)),
        C::V(boolean(true)),
        C::V(jsonb(JSON_V1)),
        C::V(uuid(UUID2)),
        C::V(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
        C::V(date(19_782)),
    ])
}

fn updated_row() -> Row {
    row(vec![
        C::V(int8(2)),
        C::V(text("second row, \"quoted\" ünïcödé")),
        C::V(int4(43)),
        C::V(numeric("-0.05")),
        // '1969-12-31 23:59:59.5-08'
        C::V(timestamp(28_799 * US + 500_000)),
        C::V(boolean(false)),
        C::V(jsonb(JSON_V2)),
        C::V(uuid(UUID2)),
        C::V(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
        C::V(date(-25_567)),
    ])
}

fn key_only_row(id: i64) -> Row {
    let mut cells = vec![C::V(int8(id))];
    cells.extend(std::iter::repeat_n(C::Null, 9));
    row(cells)
}

/// One change: (table, op, before, after).
type Change = (Arc<TableSchema>, Op, Option<Row>, Option<Row>);

/// The nine changes behind the samples, in order.
fn changes() -> Vec<Change> {
    let full = sample_table(16_400, "sample_types", ReplicaIdentity::Full);
    let dflt = sample_table(16_410, "sample_types_ri_default", ReplicaIdentity::Default);
    vec![
        (full.clone(), Op::Read, None, Some(snapshot_row())),
        (full.clone(), Op::Insert, None, Some(inserted_row())),
        (full.clone(), Op::Insert, None, Some(key_only_row(3))),
        (
            full.clone(),
            Op::Update,
            Some(inserted_row()),
            Some(updated_row()),
        ),
        (full, Op::Delete, Some(updated_row()), None),
        (dflt.clone(), Op::Insert, None, Some(inserted_row())),
        (dflt.clone(), Op::Insert, None, Some(key_only_row(3))),
        (dflt.clone(), Op::Update, None, Some(updated_row())),
        (dflt, Op::Delete, Some(key_only_row(2)), None),
    ]
}

/// Builds the event for a change with the metadata of the sample envelope `env` (Debezium's
/// payload): commit time, LSNs, xid, snapshot mark; returns it with the processing time.
fn event_like(change: &Change, env: &serde_json::Value) -> (ChangeEvent, i64) {
    let src = &env["source"];
    let (table, op, before, after) = change.clone();
    let mut ev = event(&table, op, before, after);
    ev.tx.xid = src["txId"].as_u64().unwrap();
    ev.tx.commit_time_us = src["ts_us"].as_i64().unwrap();
    ev.lsn = Lsn(src["lsn"].as_u64().unwrap());
    ev.tx.commit_lsn = ev.lsn;
    let seq: Vec<Option<String>> = serde_json::from_str(src["sequence"].as_str().unwrap()).unwrap();
    ev.last_commit_lsn = seq[0].as_ref().map(|s| Lsn(s.parse().unwrap()));
    ev.snapshot = match src["snapshot"].as_str().unwrap() {
        "last" => SnapshotMark::Last,
        "false" => SnapshotMark::None,
        other => panic!("unexpected snapshot mark {other}"),
    };
    assert_eq!(env["op"].as_str().unwrap(), op_code(op));
    (ev, env["ts_ns"].as_i64().unwrap())
}

fn op_code(op: Op) -> &'static str {
    match op {
        Op::Read => "r",
        Op::Insert => "c",
        Op::Update => "u",
        Op::Delete => "d",
        Op::Truncate => "t",
    }
}

fn opts(schemas_enable: bool) -> DebeziumOptions {
    DebeziumOptions {
        topic_prefix: "sample".into(),
        database: "bench".into(),
        version: "3.6.3.Final".into(),
        schemas_enable,
        ..DebeziumOptions::default()
    }
}

/// Encodes the nine changes with metadata from `envelopes`; returns every record as
/// (topic, key, value) strings (`None` for null).
fn encode_all(
    schemas_enable: bool,
    envelopes: &[serde_json::Value],
) -> Vec<(String, Option<String>, Option<String>)> {
    let clock = ManualClock::default();
    let mut fmt = DebeziumJson::with_clock(opts(schemas_enable), Box::new(clock.clone()));
    let mut out = Vec::new();
    let mut batch = EncodedBatch::default();
    for (change, env) in changes().iter().zip(envelopes) {
        let (ev, now) = event_like(change, env);
        clock.set(now);
        batch.clear();
        fmt.encode(&ev, &mut batch).unwrap();
        for r in batch.records() {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.topic.clone(), text(r.key()), text(r.value())));
        }
    }
    out
}

fn payloads(text: &str, with_schema: bool) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| if with_schema { v["payload"].clone() } else { v })
        .collect()
}

#[test]
fn values_match_debezium_byte_for_byte() {
    let got = encode_all(false, &payloads(VALUES, false));
    let values: Vec<&String> = got.iter().filter_map(|(_, _, v)| v.as_ref()).collect();
    let want: Vec<&str> = VALUES.lines().collect();
    assert_eq!(values.len(), want.len());
    for (g, w) in values.iter().zip(&want) {
        assert_eq!(g.as_str(), *w);
    }
}

#[test]
fn values_with_schemas_match_debezium_byte_for_byte() {
    let got = encode_all(true, &payloads(VALUES_WITH_SCHEMA, true));
    let values: Vec<&String> = got.iter().filter_map(|(_, _, v)| v.as_ref()).collect();
    let want: Vec<&str> = VALUES_WITH_SCHEMA.lines().collect();
    assert_eq!(values.len(), want.len());
    for (g, w) in values.iter().zip(&want) {
        assert_eq!(g.as_str(), *w);
    }
}

/// Splits a `pg_types.kv.jsonl` line into its raw topic, key and value texts.
fn split_kv(line: &str) -> (String, Option<String>, Option<String>) {
    let rest = line.strip_prefix("{\"topic\":\"").unwrap();
    let (topic, rest) = rest.split_once('"').unwrap();
    let rest = rest.strip_prefix(",\"key\":").unwrap();
    let (key, value) = rest.split_once(",\"value\":").unwrap();
    let value = value.strip_suffix('}').unwrap();
    let opt = |s: &str| (s != "null").then(|| s.to_owned());
    (topic.to_owned(), opt(key), opt(value))
}

#[test]
fn topics_keys_values_and_tombstones_match_debezium() {
    let want: Vec<_> = KV.lines().map(split_kv).collect();
    let envelopes: Vec<serde_json::Value> = want
        .iter()
        .filter_map(|(_, _, v)| v.as_ref())
        .map(|v| serde_json::from_str(v).unwrap())
        .collect();
    let got = encode_all(false, &envelopes);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[test]
fn keys_with_schemas_use_the_key_struct_schema() {
    let envelopes = payloads(VALUES_WITH_SCHEMA, true);
    let got = encode_all(true, &envelopes);
    assert_eq!(
        got[0].1.as_deref(),
        Some(
            "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\
             \"field\":\"id\"}],\"optional\":false,\"name\":\"sample.public.sample_types.Key\"},\
             \"payload\":{\"id\":1}}"
        )
    );
}
