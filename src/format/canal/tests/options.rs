//! The message variants beyond part B's examples, written out by hand: TRUNCATE, explicit
//! nulls, UPDATE and DELETE without a full old image, values not sent, names after mapping and
//! capitalisation, the `database` option, the sequence of ids, and errors.

use super::*;
use crate::config::TaskSpec;
use crate::format::PartitionChoice;
use crate::metrics::ShardLabels;
use crate::source::{SchemaChange, SourceInfo};

const TYPES: &str =
    r#""mysqlType":{"id":"bigint","status":"varchar","amount":"numeric","updated_at":"timestamp"}"#;
const SQL_TYPES: &str = r#""sqlType":{"id":-5,"status":12,"amount":3,"updated_at":93}"#;

fn plain(clock: &ManualClock) -> CanalJson {
    encoder(CanalOptions::default(), routing("", ""), clock)
}

#[test]
fn truncate_is_a_ddl_message_on_the_tables_topic_and_partition() {
    let t = orders(ReplicaIdentity::Full);
    let clock = ManualClock::default();
    let r = routing("partition_policy = \"hash_table\"", "");
    let mut fmt = encoder(CanalOptions::default(), r.clone(), &clock);
    fmt.set_sequence(9);
    at_ms(&clock, 1_705_307_800_001);
    let recs = encode(&mut fmt, &stream(&t, Op::Truncate, None, None, T0 + 400));
    assert_eq!(recs.len(), 1);
    assert_eq!(
        value(&recs[0]),
        r#"{"database":"public","es":1705307800000,"id":9,"isDdl":true,"sql":"TRUNCATE TABLE public.orders","table":"orders","ts":1705307800001,"type":"DDL"}"#
    );
    assert_eq!(
        recs[0].topic, "shop.public.orders",
        "the table's topic, not the DDL topic"
    );
    assert_eq!(recs[0].key(), None);
    let table_hash = crate::route::java_string_hash("public.orders");
    assert_eq!(recs[0].partition, PartitionChoice::Hash(table_hash));
    assert_eq!(fmt.sequence(), 10, "a TRUNCATE takes a stream id");
}

#[test]
fn explicit_nulls_write_every_member_as_official_canal_does() {
    let clock = ManualClock::default();
    let opts = CanalOptions {
        explicit_nulls: true,
        ..CanalOptions::default()
    };
    let mut fmt = encoder(opts, routing("", ""), &clock);
    at_ms(&clock, 5);
    let keyless = {
        let mut t = (*orders(ReplicaIdentity::Default)).clone();
        t.columns[0].is_key = false;
        Arc::new(t)
    };
    let mut row = order(1, "x", "0.00", 0);
    row.cells[1] = crate::event::Cell::Null;
    let ins = encode(&mut fmt, &stream(&keyless, Op::Insert, None, Some(row), 0));
    assert_eq!(
        value(&ins[0]),
        format!(
            r#"{{"data":[{{"id":"1","status":null,"amount":"0.00","updated_at":"1970-01-01 00:00:00"}}],"database":"public","es":0,"gtid":null,"id":0,"isDdl":false,{TYPES},"old":null,"pkNames":null,"sql":"",{SQL_TYPES},"table":"orders","ts":5,"type":"INSERT"}}"#
        )
    );
    assert_eq!(ins[0].key(), None, "no key columns: a null key");
    let trunc = encode(&mut fmt, &stream(&keyless, Op::Truncate, None, None, 0));
    assert_eq!(
        value(&trunc[0]),
        r#"{"data":null,"database":"public","es":0,"gtid":null,"id":1,"isDdl":true,"mysqlType":null,"old":null,"pkNames":null,"sql":"TRUNCATE TABLE public.orders","sqlType":null,"table":"orders","ts":5,"type":"DDL"}"#
    );
}

#[test]
fn sql_null_is_null_inside_rows_and_unsent_values_are_left_out() {
    let clock = ManualClock::default();
    let mut fmt = plain(&clock);
    let t = orders(ReplicaIdentity::Full);
    let row = crate::format::debezium::tests::pgbin::row(vec![
        C::V(int8(7)),
        C::Null,
        C::Unchanged,
        C::V(timestamp(0)),
    ]);
    let before = order(7, "old", "1.00", 0);
    let recs = encode(
        &mut fmt,
        &stream(&t, Op::Update, Some(before), Some(row), 0),
    );
    assert!(
        value(&recs[0]).starts_with(
            r#"{"data":[{"id":"7","status":null,"updated_at":"1970-01-01 00:00:00"}],"#
        ),
        "{}",
        value(&recs[0])
    );
    assert!(value(&recs[0]).contains(
        r#""old":[{"id":"7","status":"old","amount":"1.00","updated_at":"1970-01-01 00:00:00"}]"#
    ));
}

#[test]
fn without_a_full_old_image_update_has_no_old_and_delete_holds_the_key() {
    let clock = ManualClock::default();
    let mut fmt = plain(&clock);
    let t = orders(ReplicaIdentity::Default);
    at_ms(&clock, 2);
    // A key change under DEFAULT: PostgreSQL sends the old key, the other columns as null.
    let old_key =
        crate::format::debezium::tests::pgbin::row(vec![C::V(int8(1)), C::Null, C::Null, C::Null]);
    let upd = stream(
        &t,
        Op::Update,
        Some(old_key.clone()),
        Some(order(2, "b", "2.50", 60)),
        1,
    );
    assert_eq!(
        value(&encode(&mut fmt, &upd)[0]),
        format!(
            r#"{{"data":[{{"id":"2","status":"b","amount":"2.50","updated_at":"1970-01-01 00:01:00"}}],"database":"public","es":1000,"id":0,"isDdl":false,{TYPES},"pkNames":["id"],"sql":"",{SQL_TYPES},"table":"orders","ts":2,"type":"UPDATE"}}"#
        )
    );
    let del = encode(&mut fmt, &stream(&t, Op::Delete, Some(old_key), None, 1));
    assert_eq!(
        value(&del[0]),
        format!(
            r#"{{"data":[{{"id":"1"}}],"database":"public","es":1000,"id":1,"isDdl":false,{TYPES},"pkNames":["id"],"sql":"",{SQL_TYPES},"table":"orders","ts":2,"type":"DELETE"}}"#
        )
    );
    assert_eq!(del[0].key(), Some(&b"{\"id\":\"1\"}"[..]));
}

#[test]
fn names_in_messages_are_mapped_and_capitalised() {
    let clock = ManualClock::default();
    let r = routing(
        "capitalisation = \"upper\"",
        "[objects.table.\"public.orders\"]\nname = \"Orders_V2\"\ncolumns = { status = \"State\" }\n",
    );
    let mut fmt = encoder(CanalOptions::default(), r, &clock);
    let t = orders(ReplicaIdentity::Full);
    let recs = encode(
        &mut fmt,
        &stream(&t, Op::Insert, None, Some(order(3, "n", "1.00", 0)), 0),
    );
    assert_eq!(
        value(&recs[0]),
        r#"{"data":[{"ID":"3","State":"n","AMOUNT":"1.00","UPDATED_AT":"1970-01-01 00:00:00"}],"database":"PUBLIC","es":0,"id":0,"isDdl":false,"mysqlType":{"ID":"bigint","State":"varchar","AMOUNT":"numeric","UPDATED_AT":"timestamp"},"pkNames":["ID"],"sql":"","sqlType":{"ID":-5,"State":12,"AMOUNT":3,"UPDATED_AT":93},"table":"Orders_V2","ts":0,"type":"INSERT"}"#
    );
    assert_eq!(recs[0].key(), Some(&b"{\"ID\":\"3\"}"[..]));
    assert_eq!(recs[0].topic, "shop.PUBLIC.Orders_V2");
    let trunc = encode(&mut fmt, &stream(&t, Op::Truncate, None, None, 0));
    assert!(value(&trunc[0]).contains(r#""sql":"TRUNCATE TABLE PUBLIC.Orders_V2""#));
}

#[test]
fn the_database_option_names_the_source_database_through_build() {
    let text = "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/appdb\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\nformat = \"canal_json\"\n\
         capitalisation = \"upper\"\n[destination.canal_json]\ndatabase = \"database\"\n\
         explicit_nulls = false\n[objects]\ntables = [\"public.*\"]\n";
    let spec = TaskSpec::parse(text).unwrap();
    let info = SourceInfo {
        kind: "postgresql",
        database: "appdb".into(),
        server_version: "15.4".into(),
        tables: vec![],
        server_point: None,
    };
    let r = Arc::new(Routing::new(&spec));
    let clock = ManualClock::default();
    let mut fmt = crate::format::build_with_clock(
        &spec,
        &info,
        &ShardLabels::default(),
        &r,
        Box::new(clock.clone()),
    )
    .unwrap();
    let t = orders(ReplicaIdentity::Full);
    let mut out = EncodedBatch::default();
    let ev = snapshot(&t, order(1, "a", "1.00", 0), 0, 0);
    fmt.encode(&ev, &mut out).unwrap();
    let v = value(&out.records()[0]);
    assert!(
        v.contains(r#""database":"APPDB","es":0,"id":0,"#),
        "the database's name, capitalised: {v}"
    );
}

#[test]
fn stream_ids_count_messages_and_snapshot_ids_are_row_indices() {
    let clock = ManualClock::default();
    let mut fmt = plain(&clock);
    let t = orders(ReplicaIdentity::Full);
    let id = |recs: &[EncodedRecord]| {
        let v: serde_json::Value = serde_json::from_slice(&recs[0].value).unwrap();
        v["id"].as_u64().unwrap()
    };
    assert_eq!(
        id(&encode(
            &mut fmt,
            &snapshot(&t, order(1, "a", "1.00", 0), 0, 0)
        )),
        0
    );
    assert_eq!(
        id(&encode(
            &mut fmt,
            &snapshot(&t, order(2, "a", "1.00", 0), 1, 0)
        )),
        1
    );
    let ins = |n| stream(&t, Op::Insert, None, Some(order(n, "a", "1.00", 0)), 0);
    assert_eq!(
        id(&encode(&mut fmt, &ins(3))),
        0,
        "the stream lane starts at its sequence"
    );
    assert_eq!(id(&encode(&mut fmt, &ins(4))), 1);
    assert_eq!(
        id(&encode(
            &mut fmt,
            &snapshot(&t, order(5, "a", "1.00", 0), 2, 0)
        )),
        2
    );
    assert_eq!(fmt.sequence(), 2);
    fmt.set_sequence(41);
    assert_eq!(
        id(&encode(&mut fmt, &ins(6))),
        41,
        "restored from a checkpoint"
    );
    // A schema change without a statement writes nothing and takes no id.
    let change = SchemaChange {
        table: t.clone(),
        previous: None,
        at: None,
        ddl: None,
    };
    let mut out = EncodedBatch::default();
    fmt.schema_change(&change, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(fmt.sequence(), 42);
}

#[test]
fn a_bad_value_names_table_and_column_and_takes_no_id() {
    let clock = ManualClock::default();
    let mut fmt = plain(&clock);
    let t = orders(ReplicaIdentity::Full);
    let bad = crate::format::debezium::tests::pgbin::row(vec![
        C::V(int8(1)),
        C::V(text("ok")),
        C::V(vec![0, 1]),
        C::V(timestamp(0)),
    ]);
    let mut out = EncodedBatch::default();
    let err = fmt
        .encode(&stream(&t, Op::Insert, None, Some(bad), 0), &mut out)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("table public.orders, column amount"),
        "{err}"
    );
    assert!(out.is_empty(), "nothing left behind");
    assert_eq!(fmt.sequence(), 0);
}

#[test]
fn control_characters_and_quotes_are_escaped_as_fastjson2_does() {
    let clock = ManualClock::default();
    let mut fmt = plain(&clock);
    let t = orders(ReplicaIdentity::Full);
    let recs = encode(
        &mut fmt,
        &stream(
            &t,
            Op::Insert,
            None,
            Some(order(1, "a\"\\\n\u{1}\u{1f}ü", "1.00", 0)),
            0,
        ),
    );
    assert!(value(&recs[0]).contains(r#""status":"a\"\\\n\u0001\u001fü""#));
}
