//! Serialisation throughput on one core, Canal JSON beside Debezium JSON on the same events
//! (a ten-column row of common types, inserts and full-image updates). A measurement, not a
//! check: `cargo test --release --lib format::canal::tests::bench -- --ignored --nocapture`.

use std::time::Instant;

use super::*;
use crate::format::debezium::{DebeziumJson, DebeziumOptions, FixedClock};

const EVENTS: usize = 200_000;

fn wide() -> Arc<TableSchema> {
    table(
        7,
        "bench_wide",
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
        ReplicaIdentity::Full,
    )
}

fn wide_row(id: i64) -> Row {
    row(vec![
        C::V(int8(id)),
        C::V(text("a typical name, with some words")),
        C::V(int4(42)),
        C::V(numeric("12345.67")),
        C::V(timestamp(1_709_210_096_789_012)),
        C::V(boolean(true)),
        C::V(jsonb(r#"{"a": [1, 2.5], "s": "x"}"#)),
        C::V(uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        C::V(vec![0xde, 0xad, 0xbe, 0xef]),
        C::V(date(19_782)),
    ])
}

/// Events per second `fmt` encodes `events` at, round robin, and the mean value size.
fn rate(fmt: &mut dyn Format, events: &[ChangeEvent]) -> (f64, usize) {
    let mut out = EncodedBatch::default();
    let (start, mut bytes) = (Instant::now(), 0);
    for i in 0..EVENTS {
        out.clear();
        fmt.encode(&events[i % events.len()], &mut out).unwrap();
        bytes += out.records()[0].value.len();
    }
    (
        EVENTS as f64 / start.elapsed().as_secs_f64(),
        bytes / EVENTS,
    )
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn encode_throughput() {
    let t = wide();
    let inserts: Vec<ChangeEvent> = (0..64)
        .map(|id| stream(&t, Op::Insert, None, Some(wide_row(id)), T0))
        .collect();
    let updates: Vec<ChangeEvent> = (0..64)
        .map(|id| stream(&t, Op::Update, Some(wide_row(id)), Some(wide_row(id)), T0))
        .collect();
    let clock = ManualClock::default();
    let mut canal = encoder(CanalOptions::default(), routing("", ""), &clock);
    let opts = DebeziumOptions::default();
    let mut debezium = DebeziumJson::with_clock(opts, Box::new(FixedClock(0)));
    for (name, events) in [("insert", &inserts), ("update", &updates)] {
        for (format, fmt) in [
            ("canal_json", &mut canal as &mut dyn Format),
            ("debezium_json", &mut debezium),
        ] {
            rate(fmt, events);
            let (r, size) = rate(fmt, events);
            println!("{format}_{name}_events_per_s={r:.0} {format}_{name}_value_bytes={size}");
        }
    }
}
