//! Golden messages: part B §3's INSERT, UPDATE and DELETE examples as a PostgreSQL source
//! writes them (upper-case names through `capitalisation = "upper"`, `userid`/`rowid` null,
//! `scn` the commit LSN, `trans` the xid), then TRUNCATE, DDL, snapshot rows, REPLICA IDENTITY
//! DEFAULT, name mapping and a transaction of several messages. Every expectation is written by
//! hand.

use std::sync::Arc;

use super::*;
use crate::event::{ChangeEvent, Op, Row, SnapshotMark};
use crate::format::debezium::tests::pgbin::*;
use crate::format::PartitionChoice;
use crate::position::{LogPoint, Position, StreamPosition};
use crate::schema::{ReplicaIdentity, TableSchema, TypeKind};
use crate::source::SchemaChange;

const UPPER: &str = "capitalisation = \"upper\"";
/// 2024-01-15T08:30:00Z.
const T0: i64 = 1_705_307_400;

fn orders(ri: ReplicaIdentity) -> Arc<TableSchema> {
    let status = col("status", ty(25, "text", TypeKind::Text), -1, false);
    part_b_orders(16_500, status, ri)
}

/// An `orders` row: id, status, amount, updated_at (seconds after T0).
fn order(id: i64, status: &str, amount: &str, at: i64) -> Row {
    part_b_order(id, status, amount, (T0 + at) * 1_000_000)
}

/// A stream event at index `index` of the transaction `meta`.
fn ev(
    t: &Arc<TableSchema>,
    op: Op,
    before: Option<Row>,
    after: Option<Row>,
    meta: TxMeta,
    index: u32,
) -> ChangeEvent {
    let mut e = event(t, op, before, after);
    e.tx = meta;
    e.position = Position::Stream(StreamPosition::pg(meta.commit_lsn, index));
    e
}

fn one(
    f: &mut SharePlexJson,
    clock: &ManualClock,
    meta: TxMeta,
    e: ChangeEvent,
    post: i64,
) -> EncodedRecord {
    let mut records = run_tx(f, clock, meta, &[e], post, 1024);
    assert_eq!(records.len(), 1);
    records.remove(0)
}

#[test]
fn insert_update_delete_as_part_b_shows_them() {
    let (mut f, clock) = format(UPPER, "");
    let t = orders(ReplicaIdentity::Full);
    let new = order(42, "NEW", "19.90", 0);
    let paid = order(42, "PAID", "19.90", 60);

    let m = tx(411_499, T0, 14_589_063_118_712);
    let ins = one(
        &mut f,
        &clock,
        m,
        ev(&t, Op::Insert, None, Some(new.clone()), m, 0),
        T0 + 1,
    );
    assert_eq!(
        value(&ins),
        r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"ins","scn":"14589063118712","rowid":null,"trans":"411499","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:30:01"},"data":{"ID":"42","STATUS":"NEW","AMOUNT":"19.90","UPDATED_AT":"2024-01-15 08:30:00"}}"#
    );
    assert_eq!(key(&ins), Some(r#"{"ID":"42"}"#));
    assert_eq!(ins.topic, "shop.PUBLIC.ORDERS");
    // DTS formats default to partition_zero.
    assert_eq!(ins.partition, PartitionChoice::Fixed(0));
    assert_eq!(ins.position, Some(StreamPosition::pg(m.commit_lsn, 0)));

    let m = tx(411_502, T0 + 60, 14_589_063_118_790);
    let upd = ev(&t, Op::Update, Some(new), Some(paid.clone()), m, 0);
    let upd = one(&mut f, &clock, m, upd, T0 + 61);
    assert_eq!(
        value(&upd),
        r#"{"meta":{"time":"2024-01-15T08:31:00","userid":null,"op":"upd","scn":"14589063118790","rowid":null,"trans":"411502","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:31:01"},"data":{"STATUS":"PAID","UPDATED_AT":"2024-01-15 08:31:00"},"key":{"ID":"42","STATUS":"NEW","UPDATED_AT":"2024-01-15 08:30:00"}}"#
    );
    assert_eq!(key(&upd), Some(r#"{"ID":"42"}"#));

    let m = tx(411_507, T0 + 120, 14_589_063_118_855);
    let del = one(
        &mut f,
        &clock,
        m,
        ev(&t, Op::Delete, Some(paid), None, m, 0),
        T0 + 121,
    );
    assert_eq!(
        value(&del),
        r#"{"meta":{"time":"2024-01-15T08:32:00","userid":null,"op":"del","scn":"14589063118855","rowid":null,"trans":"411507","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:32:01"},"data":{"ID":"42","STATUS":"PAID","AMOUNT":"19.90","UPDATED_AT":"2024-01-15 08:31:00"}}"#
    );
    assert_eq!(key(&del), Some(r#"{"ID":"42"}"#));
}

#[test]
fn a_transaction_numbers_its_messages_and_writes_them_in_slices() {
    let (mut f, clock) = format(UPPER, "");
    let t = orders(ReplicaIdentity::Full);
    let lines = table(
        16_501,
        "lines",
        vec![col("n", ty(23, "int4", TypeKind::Int4), -1, true)],
        ReplicaIdentity::Default,
    );
    let m = tx(7, T0, 1000);
    let events = vec![
        ev(&t, Op::Insert, None, Some(order(1, "A", "1.00", 0)), m, 0),
        ev(
            &lines,
            Op::Insert,
            None,
            Some(row(vec![C::V(int4(5))])),
            m,
            1,
        ),
        ev(&t, Op::Insert, None, Some(order(2, "B", "2.00", 0)), m, 2),
        ev(&t, Op::Truncate, None, None, m, 3),
        ev(
            &lines,
            Op::Delete,
            Some(row(vec![C::V(int4(5))])),
            None,
            m,
            4,
        ),
    ];
    let records = run_tx(&mut f, &clock, m, &events, T0 + 5, 2);
    let heads: Vec<String> = records
        .iter()
        .map(|r| {
            let v = value(r);
            let from = v.find("\"op\"").unwrap();
            let to = v.find(",\"posttime\"").unwrap();
            format!("{} {}", r.topic, &v[from..to])
        })
        .collect();
    assert_eq!(
        heads,
        [
            r#"shop.PUBLIC.ORDERS "op":"ins","scn":"1000","rowid":null,"trans":"7","seq":1,"size":5,"table":"PUBLIC.ORDERS","idx":"1/5""#,
            r#"shop.PUBLIC.LINES "op":"ins","scn":"1000","rowid":null,"trans":"7","seq":2,"size":5,"table":"PUBLIC.LINES","idx":"2/5""#,
            r#"shop.PUBLIC.ORDERS "op":"ins","scn":"1000","rowid":null,"trans":"7","seq":3,"size":5,"table":"PUBLIC.ORDERS","idx":"3/5""#,
            r#"shop.PUBLIC.ORDERS "op":"truncate","scn":"1000","rowid":null,"trans":"7","seq":4,"size":5,"table":"PUBLIC.ORDERS","idx":"4/5""#,
            r#"shop.PUBLIC.LINES "op":"del","scn":"1000","rowid":null,"trans":"7","seq":5,"size":5,"table":"PUBLIC.LINES","idx":"5/5""#,
        ]
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.position, Some(StreamPosition::pg(m.commit_lsn, i as u32)));
        assert!(value(r).contains(r#""posttime":"2024-01-15T08:30:05"}"#));
    }
    assert_eq!(key(&records[1]), Some(r#"{"N":"5"}"#));
    assert_eq!(key(&records[4]), Some(r#"{"N":"5"}"#));
    // A DEFAULT delete: the key columns PostgreSQL sent.
    assert!(value(&records[4]).ends_with(r#""data":{"N":"5"}}"#));
    // Nothing is left; the next transaction starts from seq 1.
    assert!(drain(&mut f, 10).is_empty());
    let m2 = tx(8, T0, 2000);
    let next = run_tx(&mut f, &clock, m2, &events[..1], T0, 10);
    assert!(value(&next[0]).contains(r#""seq":1,"size":1,"#));
}

#[test]
fn truncate_has_empty_data_a_null_key_and_the_table_partition() {
    let (mut f, clock) = format(&format!("{UPPER}\npartition_policy = \"hash_table\""), "");
    let t = orders(ReplicaIdentity::Full);
    let m = tx(411_510, T0, 14_589_063_119_001);
    let r = one(
        &mut f,
        &clock,
        m,
        ev(&t, Op::Truncate, None, None, m, 0),
        T0 + 1,
    );
    assert_eq!(
        value(&r),
        r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"truncate","scn":"14589063119001","rowid":null,"trans":"411510","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:30:01"},"data":{}}"#
    );
    assert_eq!(key(&r), None);
    assert_eq!(
        r.partition,
        PartitionChoice::Hash(crate::route::java_string_hash("PUBLIC.ORDERS"))
    );
}

#[test]
fn ddl_goes_to_the_ddl_topic_at_once_with_its_transaction() {
    let (mut f, clock) = format(&format!("{UPPER}\nddl_topic = \"shop-ddl\""), "");
    let t = orders(ReplicaIdentity::Full);
    let sql = "ALTER TABLE public.orders ADD COLUMN note text";
    let change = |at| SchemaChange {
        table: t.clone(),
        previous: None,
        at,
        ddl: Some(sql.to_owned()),
    };
    let m = tx(411_510, T0 + 300, 14_589_063_119_001);
    let mut out = EncodedBatch::default();
    f.begin(&m, &mut out).unwrap();
    clock.set((T0 + 301) * 1_000_000_000);
    let at = Some(StreamPosition::pg(m.commit_lsn, 0));
    f.schema_change(&change(at), &mut out).unwrap();
    let r = &out.records()[0];
    assert_eq!(
        value(r),
        r#"{"meta":{"time":"2024-01-15T08:35:00","userid":null,"op":"ddl","scn":"14589063119001","rowid":null,"trans":"411510","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:35:01"},"data":{"sql":"ALTER TABLE public.orders ADD COLUMN note text"}}"#
    );
    assert_eq!(
        (r.topic.as_str(), key(r), r.partition),
        ("shop-ddl", None, PartitionChoice::Fixed(0))
    );
    // The transaction's rows still follow, numbered without the DDL.
    f.encode(
        &ev(&t, Op::Insert, None, Some(order(1, "A", "1.00", 0)), m, 0),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 1, "the row is held");
    f.commit(&m, 1, &mut out).unwrap();
    let rows = drain(&mut f, 10);
    assert!(value(&rows[0]).contains(r#""seq":1,"size":1,"#));
    // Outside a transaction: no time or xid; scn from the position the change comes before.
    out.clear();
    f.schema_change(&change(at), &mut out).unwrap();
    assert!(value(&out.records()[0]).starts_with(
        r#"{"meta":{"time":null,"userid":null,"op":"ddl","scn":"14589063119001","rowid":null,"trans":null,"seq":1,"#
    ));
    // A description change without a statement writes nothing.
    out.clear();
    let mut quiet = change(at);
    quiet.ddl = None;
    f.schema_change(&quiet, &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn snapshot_rows_are_inserts_written_at_once() {
    let (mut f, clock) = format(UPPER, "");
    clock.set((T0 + 2) * 1_000_000_000 + 5);
    let t = orders(ReplicaIdentity::Full);
    let mut e = event(&t, Op::Read, None, Some(order(9, "OLD", "0.50", -86_400)));
    e.tx = tx(900, T0, 5_000);
    e.position = Position::Snapshot {
        snapshot: LogPoint::Lsn(Lsn(5_000)),
        row: 3,
    };
    e.snapshot = SnapshotMark::Middle;
    let mut out = EncodedBatch::default();
    f.encode(&e, &mut out).unwrap();
    let r = &out.records()[0];
    assert_eq!(
        value(r),
        r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"ins","scn":"5000","rowid":null,"trans":"900","seq":1,"size":1,"table":"PUBLIC.ORDERS","idx":"1/1","posttime":"2024-01-15T08:30:02"},"data":{"ID":"9","STATUS":"OLD","AMOUNT":"0.50","UPDATED_AT":"2024-01-14 08:30:00"}}"#
    );
    assert_eq!(key(r), Some(r#"{"ID":"9"}"#));
    assert_eq!(r.position, None, "the runner's own position header");
    assert!(!f.pending(&mut out, 10).unwrap());
}

#[test]
fn updates_without_a_full_before_image_carry_the_new_row_and_the_key() {
    let (mut f, clock) = format(UPPER, "");
    let t = table(
        16_502,
        "docs",
        vec![
            col("id", ty(20, "int8", TypeKind::Int8), -1, true),
            col("title", ty(25, "text", TypeKind::Text), -1, false),
            col("body", ty(25, "text", TypeKind::Text), -1, false),
        ],
        ReplicaIdentity::Default,
    );
    let m = tx(31, T0, 77);
    // The key did not change: no old image; `body` is unchanged TOAST (not sent).
    let after = row(vec![C::V(int8(5)), C::Null, C::Unchanged]);
    let same_key = ev(&t, Op::Update, None, Some(after), m, 0);
    // The key changed: PostgreSQL sends the old key (other columns null).
    let old_key = row(vec![C::V(int8(4)), C::Null, C::Null]);
    let new = row(vec![C::V(int8(6)), C::V(text("t")), C::V(text("b"))]);
    let moved = ev(&t, Op::Update, Some(old_key), Some(new), m, 1);
    let records = run_tx(&mut f, &clock, m, &[same_key, moved], T0, 10);
    let bodies: Vec<&str> = records
        .iter()
        .map(|r| &value(r)[value(r).find("},\"data\"").unwrap() + 2..])
        .collect();
    assert_eq!(
        bodies,
        [
            r#""data":{"ID":"5","TITLE":null},"key":{"ID":"5"}}"#,
            r#""data":{"ID":"6","TITLE":"t","BODY":"b"},"key":{"ID":"4"}}"#,
        ]
    );
    assert_eq!(key(&records[1]), Some(r#"{"ID":"6"}"#));
}

#[test]
fn full_updates_of_tables_without_a_key_carry_the_whole_old_row() {
    let (mut f, clock) = format("", "");
    let t = table(
        16_503,
        "log",
        vec![
            col("a", ty(23, "int4", TypeKind::Int4), -1, false),
            col("b", ty(25, "text", TypeKind::Text), -1, false),
        ],
        ReplicaIdentity::Full,
    );
    let m = tx(32, T0, 78);
    let before = row(vec![C::V(int4(1)), C::V(text("x"))]);
    let after = row(vec![C::V(int4(1)), C::Null]);
    let r = one(
        &mut f,
        &clock,
        m,
        ev(&t, Op::Update, Some(before), Some(after), m, 0),
        T0,
    );
    assert!(value(&r).ends_with(r#""data":{"b":null},"key":{"a":"1","b":"x"}}"#));
    assert_eq!(key(&r), None);
    assert_eq!(r.partition, PartitionChoice::Fixed(0));
}

#[test]
fn names_follow_the_mapping_and_capitalisation() {
    let objects = "[objects.schema.public]\nname = \"App\"\n\
        [objects.table.\"public.orders\"]\nname = \"Orders_V2\"\ntopic = \"orders-topic\"\n\
        columns = { status = \"State\" }\n";
    let (mut f, clock) = format("", objects);
    let t = orders(ReplicaIdentity::Full);
    let m = tx(1, T0, 1);
    let upd = ev(
        &t,
        Op::Update,
        Some(order(42, "NEW", "1.00", 0)),
        Some(order(42, "PAID", "1.00", 0)),
        m,
        0,
    );
    let r = one(&mut f, &clock, m, upd, T0);
    assert_eq!(r.topic, "orders-topic");
    assert!(
        value(&r).contains(r#""table":"App.Orders_V2","#),
        "{}",
        value(&r)
    );
    assert!(value(&r).ends_with(r#""data":{"State":"PAID"},"key":{"id":"42","State":"NEW"}}"#));
    assert_eq!(key(&r), Some(r#"{"id":"42"}"#));
    // Capitalisation changes the names that are not mapped; mapped names stay verbatim.
    let (mut f, clock) = format(UPPER, objects);
    let upd = ev(
        &t,
        Op::Update,
        Some(order(42, "NEW", "1.00", 0)),
        Some(order(42, "NEW", "2.00", 0)),
        m,
        0,
    );
    let r = one(&mut f, &clock, m, upd, T0);
    assert!(
        value(&r).contains(r#""table":"App.Orders_V2","#),
        "{}",
        value(&r)
    );
    assert!(value(&r).ends_with(r#""data":{"AMOUNT":"2.00"},"key":{"ID":"42","AMOUNT":"1.00"}}"#));
    assert_eq!(key(&r), Some(r#"{"ID":"42"}"#));
}

#[test]
fn an_event_that_fails_to_encode_leaves_nothing_behind() {
    let (mut f, clock) = format(UPPER, "");
    let t = orders(ReplicaIdentity::Full);
    let m = tx(3, T0, 3);
    let mut out = EncodedBatch::default();
    f.begin(&m, &mut out).unwrap();
    f.encode(
        &ev(&t, Op::Insert, None, Some(order(1, "A", "1.00", 0)), m, 0),
        &mut out,
    )
    .unwrap();
    // A numeric whose bytes are cut short.
    let bad = row(vec![C::V(int8(2)), C::Null, C::V(vec![0, 1]), C::Null]);
    let err = f
        .encode(&ev(&t, Op::Insert, None, Some(bad), m, 1), &mut out)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("table public.orders, column amount"),
        "{err}"
    );
    f.commit(&m, 2, &mut out).unwrap();
    clock.set(T0 * 1_000_000_000);
    let records = drain(&mut f, 10);
    assert_eq!(records.len(), 1);
    assert!(value(&records[0]).contains(r#""seq":1,"size":1,"#));
}
