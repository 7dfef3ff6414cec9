//! Oracle-positioned events: the `source` block and its schema as Debezium 3.6's Oracle
//! connector writes them, the XID as the transaction id, and the schema-change record's
//! connector.

use crate::event::{ChangeEvent, Op};
use crate::format::debezium::{Connector, DebeziumJson, DebeziumOptions, FixedClock};
use crate::format::origin::testing::*;
use crate::format::{EncodedBatch, Format};
use crate::source::SchemaChange;

fn opts() -> DebeziumOptions {
    DebeziumOptions {
        topic_prefix: "ora".into(),
        database: "ORCL".into(),
        version: "3.6.3.Final".into(),
        connector: Connector::Oracle,
        ..DebeziumOptions::default()
    }
}

fn format(opts: DebeziumOptions) -> DebeziumJson {
    DebeziumJson::with_clock(opts, Box::new(FixedClock(1_705_307_401_000_000_000)))
}

/// The value of the first record `ev` gives.
fn value(opts: DebeziumOptions, ev: &ChangeEvent) -> String {
    let mut out = EncodedBatch::default();
    format(opts).encode(ev, &mut out).unwrap();
    String::from_utf8(out.records()[0].value.clone()).unwrap()
}

/// `"source":{…}` of a value.
fn source(value: &str) -> &str {
    let start = value.find("\"source\":").unwrap();
    let end = value[start..].find("},").unwrap();
    &value[start..=start + end]
}

const HEAD: &str = "\"source\":{\"version\":\"3.6.3.Final\",\"connector\":\"oracle\",\
    \"name\":\"ora\",\"ts_ms\":1705307400123,";

#[test]
fn a_stream_change_carries_the_oracle_source_block() {
    let v = value(opts(), &stream(Op::Insert, None, Some(emp(42, "Ann"))));
    let want = format!(
        "{HEAD}\"snapshot\":\"false\",\"db\":\"ORCL\",\"sequence\":null,\
         \"ts_us\":1705307400123456,\"ts_ns\":1705307400123456000,\"schema\":\"HR\",\
         \"table\":\"EMP\",\"txId\":\"7.3.411499\",\"scn\":\"14589063118700\",\
         \"commit_scn\":\"14589063118712\",\"lcr_position\":null,\"rs_id\":null,\"ssn\":null,\
         \"redo_thread\":null,\"user_name\":null,\"redo_sql\":null,\"row_id\":null,\
         \"commit_ts_ms\":1705307400123,\"start_scn\":null,\"start_ts_ms\":null,\"txSeq\":3}}"
    );
    assert_eq!(source(&v), want);
    assert!(v.starts_with("{\"before\":null,\"after\":{\"ID\":42,\"NAME\":\"Ann\"},"));
    assert!(v.contains(",\"transaction\":null,\"op\":\"c\","));
}

#[test]
fn a_snapshot_row_has_the_snapshot_scn_and_no_transaction() {
    let v = value(opts(), &snapshot(emp(1, "Bo"), 0));
    let want = format!(
        "{HEAD}\"snapshot\":\"true\",\"db\":\"ORCL\",\"sequence\":null,\
         \"ts_us\":1705307400123456,\"ts_ns\":1705307400123456000,\"schema\":\"HR\",\
         \"table\":\"EMP\",\"txId\":null,\"scn\":\"14589063000000\",\"commit_scn\":null,\
         \"lcr_position\":null,\"rs_id\":null,\"ssn\":0,\"redo_thread\":null,\
         \"user_name\":null,\"redo_sql\":null,\"row_id\":null,\"commit_ts_ms\":null,\
         \"start_scn\":null,\"start_ts_ms\":null,\"txSeq\":null}}"
    );
    assert_eq!(source(&v), want);
    assert!(v.contains(",\"op\":\"r\","));
}

#[test]
fn the_transaction_block_names_the_xid() {
    let o = DebeziumOptions {
        provide_transaction_metadata: true,
        ..opts()
    };
    let v = value(o, &stream(Op::Insert, None, Some(emp(42, "Ann"))));
    assert!(
        v.contains(
            ",\"transaction\":{\"id\":\"7.3.411499\",\"total_order\":1,\"data_collection_order\":1},"
        ),
        "{v}"
    );
}

/// The names of a Connect struct schema's fields, in order.
fn field_names(schema: &serde_json::Value) -> Vec<String> {
    schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_source_schema_is_the_oracle_connectors_and_matches_the_payload() {
    let o = DebeziumOptions {
        schemas_enable: true,
        ..opts()
    };
    let v: serde_json::Value =
        serde_json::from_str(&value(o, &stream(Op::Update, None, Some(emp(42, "Ann"))))).unwrap();
    let schema = &v["schema"]["fields"][2];
    assert_eq!(schema["name"], "io.debezium.connector.oracle.Source");
    assert_eq!(schema["version"], 1);
    let names = field_names(schema);
    let want = "version connector name ts_ms snapshot db sequence ts_us ts_ns schema table txId \
                scn commit_scn lcr_position rs_id ssn redo_thread user_name redo_sql row_id \
                commit_ts_ms start_scn start_ts_ms txSeq";
    assert_eq!(names.join(" "), want);
    let payload: Vec<&String> = v["payload"]["source"].as_object().unwrap().keys().collect();
    assert_eq!(payload.len(), names.len());
    let types: Vec<&str> = schema["fields"].as_array().unwrap()[11..]
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    let want = "string string string string string int64 int32 string string string int64 \
                string int64 int64";
    assert_eq!(types.join(" "), want);
}

#[test]
fn the_schema_change_record_names_the_oracle_connector() {
    let sql = "ALTER TABLE HR.EMP ADD (NOTE VARCHAR2(10))";
    let change = SchemaChange {
        table: hr_emp(),
        previous: Some(hr_emp()),
        at: None,
        ddl: Some(sql.into()),
    };
    let mut out = EncodedBatch::default();
    format(opts()).schema_change(&change, &mut out).unwrap();
    let v = String::from_utf8(out.records()[0].value.clone()).unwrap();
    assert!(
        v.starts_with(
            "{\"source\":{\"version\":\"3.6.3.Final\",\"connector\":\"oracle\",\"name\":\"ora\","
        ),
        "{v}"
    );
    assert!(
        v.contains("\"id\":\"\\\"ORCL\\\".\\\"HR\\\".\\\"EMP\\\"\""),
        "{v}"
    );
}

#[test]
fn postgresql_is_the_default_connector() {
    assert_eq!(DebeziumOptions::default().connector, Connector::Postgresql);
    assert_eq!(Connector::of_source("oracle"), Connector::Oracle);
    assert_eq!(Connector::of_source("postgresql"), Connector::Postgresql);
}

#[test]
fn an_oracle_source_chooses_the_oracle_connector_through_build() {
    let task = crate::route::tests_support::spec("format = \"debezium_json\"", "");
    let info = crate::source::SourceInfo {
        kind: "oracle",
        database: "ORCL".into(),
        server_version: "19.0.0.0.0".into(),
        tables: vec![hr_emp()],
        server_point: None,
    };
    let routing = std::sync::Arc::new(crate::route::Routing::new(&task));
    let labels = crate::metrics::ShardLabels::new("shop", 0);
    let mut f = crate::format::build(&task, &info, &labels, &routing).unwrap();
    let mut out = EncodedBatch::default();
    f.encode(&stream(Op::Insert, None, Some(emp(42, "Ann"))), &mut out)
        .unwrap();
    let v = String::from_utf8(out.records()[0].value.clone()).unwrap();
    assert!(
        v.contains("\"connector\":\"oracle\",\"name\":\"shop\","),
        "{v}"
    );
    assert!(v.contains("\"db\":\"ORCL\",\"sequence\":null,"), "{v}");
    assert!(
        v.contains("\"txId\":\"7.3.411499\",\"scn\":\"14589063118700\","),
        "{v}"
    );
}
