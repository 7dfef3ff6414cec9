//! Golden tests: part B §1.8's records (the 175-byte INSERT byte for byte, the UPDATE, DELETE
//! and DDL examples), TRUNCATE, snapshot rows, REPLICA IDENTITY DEFAULT, name mapping and the
//! options, each decoded by Apache Avro's reader over `Record.avsc` and compared with
//! expectations written by hand.

use serde_json::json;

use super::items::*;
use super::reader::Reader;
use super::*;
use crate::format::dts_avro::{ObjectName, SourceType};
use crate::format::PartitionChoice;
use crate::route::tests_support::spec;
use crate::source::SchemaChange;

/// Part B §1.8's INSERT datum, byte for byte.
const INSERT_HEX: &str = "00d20f90b4a7da0c12302f3136423337343812302f3136423337303006373535060831342e3900021a7075626c69632e6f7264657273000214706b5f756b5f696e666f247b225052494d415259223a5b226964225d7d000408046964280c737461747573a6100c616d6f756e74c81a14757064617465645f6174b411000004080210043432040855544638064e4557060a31392e393008040c02d01f0202021e0210023c0200020000809defc3a163";

const T0: i64 = 1_705_307_400; // 2024-01-15 08:30:00 UTC

fn insert_event() -> ChangeEvent {
    stream_event(
        &orders(ReplicaIdentity::Full),
        Op::Insert,
        (None, Some(order("NEW", "19.90", T0))),
        (755, T0, 0x16B3748),
        Some(0x16B3700),
    )
}

fn update_event() -> ChangeEvent {
    stream_event(
        &orders(ReplicaIdentity::Full),
        Op::Update,
        (
            Some(order("NEW", "19.90", T0)),
            Some(order("PAID", "19.90", T0 + 60)),
        ),
        (756, T0 + 60, 0x16B3900),
        Some(0x16B3748),
    )
}

fn delete_event() -> ChangeEvent {
    stream_event(
        &orders(ReplicaIdentity::Full),
        Op::Delete,
        (Some(order("PAID", "19.90", T0 + 60)), None),
        (757, T0 + 120, 0x16B3980),
        Some(0x16B3900),
    )
}

fn head(id: i64, op: &str, (txid, ts, pos, safe): (&str, i64, &str, &str)) -> serde_json::Value {
    json!({"version": 0, "id": id, "sourceTimestamp": ts, "sourcePosition": pos,
           "safeSourcePosition": safe, "sourceTxid": txid,
           "source": {"sourceType": "PostgreSQL", "version": "14.9"},
           "operation": op, "objectName": {"string": "public.orders"}, "processTimestamps": null})
}

/// `head` plus the rest of a row record of `orders`.
fn order_record(
    id: i64,
    op: &str,
    meta: (&str, i64, &str, &str),
    before: serde_json::Value,
    after: serde_json::Value,
) -> serde_json::Value {
    let mut r = head(id, op, meta);
    let m = r.as_object_mut().unwrap();
    m.insert(
        "tags".into(),
        json!({"pk_uk_info": "{\"PRIMARY\":[\"id\"]}"}),
    );
    m.insert("fields".into(), order_fields());
    m.insert("beforeImages".into(), before);
    m.insert("afterImages".into(), after);
    m.insert("bornTimestamp".into(), json!(meta.1 * 1000));
    r
}

#[test]
fn the_insert_example_encodes_byte_for_byte() {
    let mut f = format();
    f.set_sequence(1001);
    let recs = encode(&mut f, &insert_event());
    assert_eq!(recs.len(), 1);
    let rec = &recs[0];
    assert_eq!(rec.value.len(), 175);
    assert_eq!(hex::encode(&rec.value), INSERT_HEX);
    assert_eq!(rec.topic, "appdb.public.orders");
    assert_eq!(rec.key(), Some(&br#"{"id":"42"}"#[..]));
    assert_eq!(rec.partition, PartitionChoice::Default);
    assert_eq!(f.sequence(), 1002);
    // Part B §1.8's rendering of the same datum, as Apache Avro decodes it.
    let want = order_record(
        1001,
        "INSERT",
        ("755", T0, "0/16B3748", "0/16B3700"),
        json!(null),
        order_items("NEW", 30),
    );
    assert_eq!(Reader::new().json(&rec.value), want);
}

#[test]
fn update_and_delete_carry_the_full_old_row_under_replica_identity_full() {
    let mut f = format();
    f.set_sequence(1002);
    let r = Reader::new();
    let update = encode(&mut f, &update_event());
    let want = order_record(
        1002,
        "UPDATE",
        ("756", T0 + 60, "0/16B3900", "0/16B3748"),
        order_items("NEW", 30),
        order_items("PAID", 31),
    );
    assert_eq!(r.json(&update[0].value), want);
    let delete = encode(&mut f, &delete_event());
    let want = order_record(
        1003,
        "DELETE",
        ("757", T0 + 120, "0/16B3980", "0/16B3900"),
        order_items("PAID", 31),
        json!(null),
    );
    assert_eq!(r.json(&delete[0].value), want);
    assert_eq!(delete[0].key(), Some(&br#"{"id":"42"}"#[..]));
    assert_eq!(f.sequence(), 1004);
}

#[test]
fn a_ddl_statement_is_a_ddl_record_on_the_ddl_topic() {
    let mut f = format_with(
        DtsAvroOptions::default(),
        Routing::new(&spec("ddl_topic = \"appdb.ddl\"", "")),
    );
    f.set_sequence(1004);
    let tx = TxMeta {
        xid: 758,
        commit_time_us: (T0 + 300) * US,
        commit_lsn: Lsn(0x16B3A00),
    };
    let mut out = EncodedBatch::default();
    f.begin(&tx, &mut out).unwrap();
    let change = SchemaChange {
        table: orders(ReplicaIdentity::Full),
        previous: None,
        at: Some(StreamPosition::pg(Lsn(0x16B3A00), 0)),
        ddl: Some("ALTER TABLE public.orders ADD COLUMN note text".into()),
    };
    f.schema_change(&change, &mut out).unwrap();
    let rec = &out.records()[0];
    assert_eq!(
        (rec.topic.as_str(), rec.key(), rec.partition),
        ("appdb.ddl", None, PartitionChoice::Fixed(0))
    );
    // Part B's DDL example, with part A's objectName for a statement on one table.
    let mut want = head(1004, "DDL", ("758", T0 + 300, "0/16B3A00", "0/16B3A00"));
    let m = want.as_object_mut().unwrap();
    m.insert("tags".into(), json!({}));
    m.insert("fields".into(), json!(null));
    m.insert("beforeImages".into(), json!(null));
    m.insert(
        "afterImages".into(),
        json!({"string": "ALTER TABLE public.orders ADD COLUMN note text"}),
    );
    m.insert("bornTimestamp".into(), json!((T0 + 300) * 1000));
    assert_eq!(Reader::new().json(&rec.value), want);
    assert_eq!(f.sequence(), 1005);
    // Without a statement a schema change writes nothing and takes no id.
    let mut quiet = EncodedBatch::default();
    let bare = SchemaChange {
        ddl: None,
        ..change
    };
    f.schema_change(&bare, &mut quiet).unwrap();
    assert!(quiet.is_empty());
    assert_eq!(f.sequence(), 1005);
}

#[test]
fn truncate_is_a_ddl_record_on_the_tables_topic_and_partition() {
    let ev = stream_event(
        &orders(ReplicaIdentity::Full),
        Op::Truncate,
        (None, None),
        (759, T0 + 400, 0x16B3B00),
        Some(0x16B3A00),
    );
    let r = Reader::new();
    for (policy, partition) in [
        ("", PartitionChoice::Default),
        (
            "partition_policy = \"hash_table\"",
            PartitionChoice::Hash(crate::route::java_string_hash("public.orders")),
        ),
        ("partition_policy = \"hash_key\"", PartitionChoice::Fixed(0)),
    ] {
        let mut f = format_with(DtsAvroOptions::default(), Routing::new(&spec(policy, "")));
        f.set_sequence(1005);
        let recs = encode(&mut f, &ev);
        assert_eq!(recs.len(), 1);
        let rec = &recs[0];
        assert_eq!(rec.topic, "shop.public.orders", "{policy}");
        assert_eq!((rec.key(), rec.partition), (None, partition), "{policy}");
        let mut want = head(1005, "DDL", ("759", T0 + 400, "0/16B3B00", "0/16B3A00"));
        let m = want.as_object_mut().unwrap();
        m.insert("tags".into(), json!({}));
        m.insert("fields".into(), json!(null));
        m.insert("beforeImages".into(), json!(null));
        m.insert(
            "afterImages".into(),
            json!({"string": "TRUNCATE TABLE public.orders"}),
        );
        m.insert("bornTimestamp".into(), json!((T0 + 400) * 1000));
        assert_eq!(r.json(&rec.value), want);
        assert_eq!(f.sequence(), 1006);
    }
}

#[test]
fn a_snapshot_row_is_an_insert_whose_id_is_its_index_in_the_tables_read() {
    let mut f = format();
    f.set_sequence(1001);
    let mut ev = insert_event();
    ev.op = Op::Read;
    ev.position = Position::Snapshot {
        snapshot: crate::position::LogPoint::Lsn(Lsn(0x16B0000)),
        row: 7,
    };
    ev.tx = TxMeta {
        xid: 750,
        commit_time_us: T0 * US - 1,
        commit_lsn: Lsn(0x16B0000),
    };
    ev.last_commit_lsn = None;
    let recs = encode(&mut f, &ev);
    // The snapshot started 1 µs before T0: seconds and milliseconds round down.
    let want = order_record(
        7,
        "INSERT",
        ("750", T0 - 1, "0/16B0000", "0/16B0000"),
        json!(null),
        order_items("NEW", 30),
    );
    let mut want = want;
    want["bornTimestamp"] = json!(T0 * 1000 - 1);
    assert_eq!(Reader::new().json(&recs[0].value), want);
    assert_eq!(f.sequence(), 1001, "snapshot rows take no stream id");
}

#[test]
fn without_a_full_old_image_unsent_values_are_none() {
    let t = orders(ReplicaIdentity::Default);
    let r = Reader::new();
    let mut f = format();
    // UPDATE under DEFAULT, key unchanged: no old tuple; status is an unchanged TOAST value.
    let mut after = order("x", "19.90", T0 + 60);
    after.cells[1] = crate::event::Cell::Unchanged;
    let ev = stream_event(
        &t,
        Op::Update,
        (None, Some(after)),
        (756, T0 + 60, 0x16B3900),
        None,
    );
    let v = r.json(&encode(&mut f, &ev)[0].value);
    assert_eq!(
        v["beforeImages"],
        json!({"array": [integer(8, "42"), none(), none(), none()]})
    );
    assert_eq!(
        v["afterImages"],
        json!({"array": [integer(8, "42"), none(), decimal("19.90", 4, 2),
                         datetime((2024, 1, 15), (8, 31, 0, 0))]})
    );
    assert_eq!(v["safeSourcePosition"], json!("0/16B3900"));
    // DELETE under DEFAULT: the old key tuple has NULL for the other columns; they are NONE.
    let key_tuple = row(vec![C::V(int8(42)), C::Null, C::Null, C::Null]);
    let ev = stream_event(
        &t,
        Op::Delete,
        (Some(key_tuple), None),
        (757, T0 + 120, 0x16B3980),
        Some(0x16B3900),
    );
    let rec = &encode(&mut f, &ev)[0];
    let v = r.json(&rec.value);
    assert_eq!(
        v["beforeImages"],
        json!({"array": [integer(8, "42"), none(), none(), none()]})
    );
    assert_eq!(v["afterImages"], json!(null));
    assert_eq!(rec.key(), Some(&br#"{"id":"42"}"#[..]));
    // A key change under DEFAULT: the old key from the old key tuple.
    let old_key = row(vec![C::V(int8(41)), C::Null, C::Null, C::Null]);
    let ev = stream_event(
        &t,
        Op::Update,
        (Some(old_key), Some(order("NEW", "19.90", T0))),
        (758, T0, 0x16B3A00),
        None,
    );
    let v = r.json(&encode(&mut f, &ev)[0].value);
    assert_eq!(
        v["beforeImages"],
        json!({"array": [integer(8, "41"), none(), none(), none()]})
    );
}

#[test]
fn mapped_names_are_in_object_name_fields_tags_statements_and_the_key() {
    let objects = "[objects.schema.public]\nname = \"app\"\n\
        [objects.table.\"public.orders\"]\nname = \"orders.v2\"\ncolumns = { status = \"state\" }\n";
    let routing = Routing::new(&spec(
        "capitalisation = \"upper\"\npartition_policy = \"hash_key\"",
        objects,
    ));
    let opts = DtsAvroOptions {
        object_name: ObjectName::DatabaseSchemaTable,
        source_type: SourceType::Ppas,
        ..DtsAvroOptions::default()
    };
    let mut f = format_with(opts, routing);
    let r = Reader::new();
    let rec = &encode(&mut f, &insert_event())[0];
    let v = r.json(&rec.value);
    assert_eq!(
        v["objectName"],
        json!({"string": "appdb.app.orders\\u002Ev2"})
    );
    assert_eq!(
        v["source"],
        json!({"sourceType": "PPAS", "version": "14.9"})
    );
    assert_eq!(
        v["fields"],
        json!({"array": [
            {"name": "ID", "dataTypeNumber": 20}, {"name": "state", "dataTypeNumber": 1043},
            {"name": "AMOUNT", "dataTypeNumber": 1700}, {"name": "UPDATED_AT", "dataTypeNumber": 1114}
        ]})
    );
    assert_eq!(v["tags"], json!({"pk_uk_info": "{\"PRIMARY\":[\"ID\"]}"}));
    assert_eq!(rec.key(), Some(&br#"{"ID":"42"}"#[..]));
    assert_eq!(
        rec.partition,
        PartitionChoice::Hash(crate::route::java_string_hash("42"))
    );
    let mut truncate = insert_event();
    truncate.op = Op::Truncate;
    truncate.after = None;
    let v = r.json(&encode(&mut f, &truncate)[0].value);
    assert_eq!(
        v["afterImages"],
        json!({"string": "TRUNCATE TABLE app.orders.v2"})
    );
    assert_eq!(
        v["objectName"],
        json!({"string": "appdb.app.orders\\u002Ev2"})
    );
}

#[test]
fn extra_tags_follow_the_key_tag_and_a_schema_id_frames_the_datum() {
    let plain = encode(&mut format(), &insert_event())[0].value.clone();
    let opts = DtsAvroOptions {
        extra_tags: true,
        confluent_schema_id: Some(0x0102_0304),
        ..DtsAvroOptions::default()
    };
    let mut f = format_with(opts, Routing::plain("appdb", None));
    let framed = &encode(&mut f, &insert_event())[0].value;
    assert_eq!(framed[..5], [0, 1, 2, 3, 4]);
    let v = Reader::new().json(&framed[5..]);
    assert_eq!(
        v["tags"],
        json!({"pk_uk_info": "{\"PRIMARY\":[\"id\"]}",
               "readerThroughoutTime": "1705307401234", "commitTimestamp": "1705307400"})
    );
    // On the wire the key tag comes first, then the clock's, then the commit time.
    let tags = b"\x06\x14pk_uk_info";
    let at = framed.windows(tags.len()).position(|w| w == tags);
    assert!(at.is_some(), "three entries, pk_uk_info first");
    let rest = &framed[at.unwrap() + tags.len()..];
    let reader = rest.windows(20).position(|w| w == b"readerThroughoutTime");
    let commit = rest.windows(15).position(|w| w == b"commitTimestamp");
    assert!(reader.unwrap() < commit.unwrap());
    // Everything else is the unframed record's.
    let mut without = v.clone();
    without["tags"] = json!({"pk_uk_info": "{\"PRIMARY\":[\"id\"]}"});
    assert_eq!(without, Reader::new().json(&plain));
}

#[test]
fn the_library_encodes_the_same_bytes() {
    let r = Reader::new();
    let mut f = format();
    let mut ddl = EncodedBatch::default();
    f.schema_change(
        &SchemaChange {
            table: orders(ReplicaIdentity::Full),
            previous: None,
            at: None,
            ddl: Some("DROP INDEX i".into()),
        },
        &mut ddl,
    )
    .unwrap();
    let mut values = vec![ddl.records()[0].value.clone()];
    for ev in [insert_event(), update_event(), delete_event()] {
        values.push(encode(&mut f, &ev)[0].value.clone());
    }
    for v in values {
        assert_eq!(r.encode(r.decode(&v)), v);
    }
}

#[test]
fn a_value_that_does_not_decode_names_table_and_column_and_leaves_nothing() {
    let mut f = format();
    f.set_sequence(5);
    let mut ev = insert_event();
    ev.after = Some(row(vec![
        C::V(vec![0, 42]),
        C::V(text("NEW")),
        C::V(numeric("1")),
        C::Null,
    ]));
    let mut out = EncodedBatch::default();
    let err = f.encode(&ev, &mut out).unwrap_err().to_string();
    assert!(err.contains("public.orders") && err.contains("id"), "{err}");
    assert!(out.is_empty());
    assert_eq!(f.sequence(), 5);
}

#[test]
fn the_task_file_chooses_the_format_and_its_options() {
    let dest = "format = \"dts_avro\"\n[destination.dts_avro]\nextra_tags = true\n\
                object_name = \"database_schema_table\"\nsource_type = \"PPAS\"";
    let task = spec(dest, "");
    let info = crate::source::SourceInfo {
        kind: "postgresql",
        database: "appdb".into(),
        server_version: "15.18".into(),
        tables: vec![orders(ReplicaIdentity::Full)],
        server_point: None,
    };
    let routing = Arc::new(Routing::new(&task));
    let labels = crate::metrics::ShardLabels::new("shop", 0);
    let mut f = crate::format::build(&task, &info, &labels, &routing).unwrap();
    let mut out = EncodedBatch::default();
    f.encode(&insert_event(), &mut out).unwrap();
    let v = Reader::new().json(&out.records()[0].value);
    assert_eq!(
        v["source"],
        json!({"sourceType": "PPAS", "version": "15.18"})
    );
    assert_eq!(v["objectName"], json!({"string": "appdb.public.orders"}));
    let now_ms = v["tags"]["readerThroughoutTime"].as_str().unwrap();
    assert!(
        now_ms.parse::<i64>().unwrap() > 1_700_000_000_000,
        "{now_ms}"
    );
    assert_eq!(v["tags"]["commitTimestamp"], json!(T0.to_string()));
    // partition_zero is the DTS formats' default policy.
    assert_eq!(out.records()[0].partition, PartitionChoice::Fixed(0));
}

#[test]
fn the_registered_standalone_schema_reads_the_same_records() {
    // What a consumer resolving the id from a schema registry reads with.
    let standalone = apache_avro::Schema::parse_str(crate::registry::RECORD_SCHEMA).unwrap();
    let r = Reader::new();
    let mut f = format();
    let mut values = Vec::new();
    for ev in [insert_event(), update_event(), delete_event()] {
        values.push(encode(&mut f, &ev)[0].value.clone());
    }
    for v in values {
        let mut rest = v.as_slice();
        let read = apache_avro::from_avro_datum(&standalone, &mut rest, None).unwrap();
        assert!(rest.is_empty());
        assert_eq!(read, r.decode(&v));
    }
}
