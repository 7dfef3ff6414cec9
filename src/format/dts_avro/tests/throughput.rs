//! Serialisation throughput on one core (ignored: run with `cargo test --release --lib
//! format::dts_avro::tests::throughput -- --ignored --nocapture`): events per second for part
//! B's `orders` row and for a row of `scripts/bench.sh`'s `bench_wide`, beside Debezium JSON on
//! the same events.

use std::time::Instant;

use super::*;
use crate::format::debezium::{DebeziumJson, DebeziumOptions};

fn rate(f: &mut dyn Format, ev: &ChangeEvent, n: u32) -> f64 {
    let mut out = EncodedBatch::default();
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..n {
        out.clear();
        f.encode(ev, &mut out).unwrap();
        bytes += out.records()[0].value.len();
    }
    assert!(bytes > 0);
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// An insert into `bench_wide` (bigint key, int, text, varchar, numeric(12,2), timestamptz,
/// bool, jsonb, uuid, date, float8).
fn wide_insert() -> ChangeEvent {
    let cols = vec![
        col("id", ty(20, "int8", TypeKind::Int8), -1, true),
        col("n", ty(23, "int4", TypeKind::Int4), -1, false),
        col("t", ty(25, "text", TypeKind::Text), -1, false),
        col("v", ty(1043, "varchar", TypeKind::Text), 36, false),
        col(
            "amount",
            ty(1700, "numeric", TypeKind::Numeric),
            numeric_typmod(12, 2),
            false,
        ),
        col(
            "at",
            ty(1184, "timestamptz", TypeKind::TimestampTz),
            -1,
            false,
        ),
        col("ok", ty(16, "bool", TypeKind::Bool), -1, false),
        col("doc", ty(3802, "jsonb", TypeKind::Jsonb), -1, false),
        col("u", ty(2950, "uuid", TypeKind::Uuid), -1, false),
        col("d", ty(1082, "date", TypeKind::Date), -1, false),
        col("f", ty(701, "float8", TypeKind::Float8), -1, false),
    ];
    let t = table(20_300, "bench_wide", cols, ReplicaIdentity::Default);
    let r = row(vec![
        C::V(int8(123_456)),
        C::V(int4(42)),
        C::V(text("some text of a typical length for a row")),
        C::V(text("a0eebc99-9c0b-4ef8-bb6d")),
        C::V(numeric("12345.67")),
        C::V(timestamp(1_709_210_096_789_012)),
        C::V(boolean(true)),
        C::V(jsonb("{\"k\": 123456, \"tag\": \"x\"}")),
        C::V(uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        C::V(date(19_782)),
        C::V(float8(0.25)),
    ]);
    stream_event(&t, Op::Insert, (None, Some(r)), (1, 2, 0x30), None)
}

#[test]
#[ignore]
fn throughput() {
    let t = orders(ReplicaIdentity::Full);
    let row = order("NEW", "19.90", 1_705_307_400);
    let insert = stream_event(
        &t,
        Op::Insert,
        (None, Some(row.clone())),
        (1, 2, 0x30),
        None,
    );
    let update = stream_event(
        &t,
        Op::Update,
        (Some(row.clone()), Some(row)),
        (1, 2, 0x30),
        None,
    );
    let n = 2_000_000;
    let wide = wide_insert();
    for (name, ev) in [
        ("insert", &insert),
        ("update", &update),
        ("bench_wide insert", &wide),
    ] {
        let avro = rate(&mut format(), ev, n);
        let mut dbz = DebeziumJson::new(DebeziumOptions::default());
        let json = rate(&mut dbz, ev, n);
        println!(
            "{name}: dts_avro {:.0} events/s, debezium_json {:.0} events/s",
            avro, json
        );
    }
}
