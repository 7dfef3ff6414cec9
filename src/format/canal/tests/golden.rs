//! Part B §2.4's examples (DTS Canal JSON, PostgreSQL source), byte for byte: the INSERT,
//! UPDATE (full before image), DELETE and DDL of the running example, and the full-load row,
//! with the clock set to each example's `ts` and the sequence to its `id`.

use super::*;
use crate::event::TxMeta;
use crate::format::PartitionChoice;
use crate::source::SchemaChange;

const INSERT: &str = r#"{"data":[{"id":"42","status":"NEW","amount":"19.90","updated_at":"2024-01-15 08:30:00"}],"database":"public","es":1705307400000,"id":1001,"isDdl":false,"mysqlType":{"id":"bigint","status":"varchar","amount":"numeric","updated_at":"timestamp"},"pkNames":["id"],"sql":"","sqlType":{"id":-5,"status":12,"amount":3,"updated_at":93},"table":"orders","ts":1705307400350,"type":"INSERT"}"#;
const UPDATE: &str = r#"{"data":[{"id":"42","status":"PAID","amount":"19.90","updated_at":"2024-01-15 08:31:00"}],"database":"public","es":1705307460000,"id":1002,"isDdl":false,"mysqlType":{"id":"bigint","status":"varchar","amount":"numeric","updated_at":"timestamp"},"old":[{"id":"42","status":"NEW","amount":"19.90","updated_at":"2024-01-15 08:30:00"}],"pkNames":["id"],"sql":"","sqlType":{"id":-5,"status":12,"amount":3,"updated_at":93},"table":"orders","ts":1705307460210,"type":"UPDATE"}"#;
const DELETE: &str = r#"{"data":[{"id":"42","status":"PAID","amount":"19.90","updated_at":"2024-01-15 08:31:00"}],"database":"public","es":1705307520000,"id":1003,"isDdl":false,"mysqlType":{"id":"bigint","status":"varchar","amount":"numeric","updated_at":"timestamp"},"pkNames":["id"],"sql":"","sqlType":{"id":-5,"status":12,"amount":3,"updated_at":93},"table":"orders","ts":1705307520130,"type":"DELETE"}"#;
const DDL: &str = r#"{"database":"public","es":1705307700000,"id":1004,"isDdl":true,"sql":"ALTER TABLE public.orders ADD COLUMN note text","table":"orders","ts":1705307700090,"type":"DDL"}"#;

fn new_row() -> Row {
    order(42, "NEW", "19.90", T0)
}

fn paid_row() -> Row {
    order(42, "PAID", "19.90", T0 + 60)
}

#[test]
fn insert_update_delete_and_ddl_match_the_spec() {
    let t = orders(ReplicaIdentity::Full);
    let clock = ManualClock::default();
    let mut fmt = encoder(CanalOptions::default(), routing("", ""), &clock);
    fmt.set_sequence(1001);

    at_ms(&clock, 1_705_307_400_350);
    let ins = encode(&mut fmt, &stream(&t, Op::Insert, None, Some(new_row()), T0));
    at_ms(&clock, 1_705_307_460_210);
    let upd = stream(&t, Op::Update, Some(new_row()), Some(paid_row()), T0 + 60);
    let upd = encode(&mut fmt, &upd);
    at_ms(&clock, 1_705_307_520_130);
    let del = encode(
        &mut fmt,
        &stream(&t, Op::Delete, Some(paid_row()), None, T0 + 120),
    );
    assert_eq!(value(&ins[0]), INSERT);
    assert_eq!(value(&upd[0]), UPDATE);
    assert_eq!(value(&del[0]), DELETE);
    for r in [&ins[0], &upd[0], &del[0]] {
        assert_eq!(r.topic, "shop.public.orders");
        assert_eq!(r.key(), Some(&b"{\"id\":\"42\"}"[..]));
        assert_eq!(r.partition, PartitionChoice::Fixed(0), "DTS default policy");
    }

    let ddl = ddl_records(&mut fmt, &clock);
    assert_eq!(ddl.len(), 1);
    assert_eq!(value(&ddl[0]), DDL);
    assert_eq!(
        ddl[0].topic, "shop",
        "the DDL topic defaults to the task name"
    );
    assert_eq!(ddl[0].key(), None);
    assert_eq!(ddl[0].partition, PartitionChoice::Fixed(0));
    assert_eq!(fmt.sequence(), 1005, "the next stream message's id");
}

/// The `ALTER TABLE … ADD COLUMN note text` schema change, in a transaction committed at
/// 08:35:00.
fn ddl_records(fmt: &mut CanalJson, clock: &ManualClock) -> Vec<EncodedRecord> {
    let old = orders(ReplicaIdentity::Full);
    let mut with_note = (*old).clone();
    with_note
        .columns
        .push(col("note", ty(25, "text", TypeKind::Text), -1, false));
    let change = SchemaChange {
        table: Arc::new(with_note),
        previous: Some(old),
        at: None,
        ddl: Some("ALTER TABLE public.orders ADD COLUMN note text".into()),
    };
    let tx = TxMeta {
        xid: 758,
        commit_time_us: (T0 + 300) * 1_000_000,
        commit_lsn: Lsn(0x16B_4000),
    };
    let mut out = EncodedBatch::default();
    fmt.begin(&tx, &mut out).unwrap();
    at_ms(clock, 1_705_307_700_090);
    fmt.schema_change(&change, &mut out).unwrap();
    fmt.commit(&tx, 0, &mut out).unwrap();
    out.records().to_vec()
}

#[test]
fn a_full_load_row_is_the_insert_with_type_init() {
    let t = orders(ReplicaIdentity::Full);
    let clock = ManualClock::default();
    let mut fmt = encoder(CanalOptions::default(), routing("", ""), &clock);
    fmt.set_sequence(7);
    at_ms(&clock, 1_705_307_400_350);
    let recs = encode(&mut fmt, &snapshot(&t, new_row(), 1001, T0));
    assert_eq!(
        value(&recs[0]),
        INSERT.replace("\"type\":\"INSERT\"", "\"type\":\"INIT\"")
    );
    assert_eq!(recs[0].key(), Some(&b"{\"id\":\"42\"}"[..]));
    assert_eq!(fmt.sequence(), 7, "snapshot rows do not take stream ids");
}
