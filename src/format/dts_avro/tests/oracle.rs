//! Oracle-positioned events: `sourcePosition` the commit SCN in decimal, `sourceTxid` the XID
//! `usn.slot.sqn`, source type `Oracle` with the server version, `objectName` `OWNER.TABLE`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::reader::Reader;
use super::{encode, US};
use crate::event::{ChangeEvent, Op, TxMeta};
use crate::format::dts_avro::{DtsAvro, DtsAvroOptions, FixedClock, SourceType};
use crate::format::origin::testing::*;
use crate::format::{EncodedBatch, Format};
use crate::position::{Lsn, Scn, StreamPosition, Xid};
use crate::route::Routing;
use crate::source::SchemaChange;

const VERSION: &str = "Oracle Database 19c Enterprise Edition Release 19.0.0.0.0";

fn format() -> DtsAvro {
    let opts = DtsAvroOptions {
        source_type: SourceType::Oracle,
        server_version: VERSION.into(),
        database: "ORCL".into(),
        ..DtsAvroOptions::default()
    };
    let clock = FixedClock(1_705_307_401_234_567_891);
    DtsAvro::with_clock(
        opts,
        Arc::new(Routing::plain("ORCL", None)),
        Box::new(clock),
    )
}

/// The record's fields before its images, as the reader decodes them.
fn head(rec: &[u8]) -> Value {
    let v = Reader::new().plain(rec);
    let keys = [
        "sourceTimestamp",
        "sourcePosition",
        "safeSourcePosition",
        "sourceTxid",
        "source",
        "operation",
        "objectName",
    ];
    keys.iter().map(|k| (k.to_string(), v[k].clone())).collect()
}

fn want(op: &str, (pos, safe, txid): (&str, &str, &str)) -> Value {
    json!({"sourceTimestamp": COMMIT_US / US, "sourcePosition": pos,
           "safeSourcePosition": safe, "sourceTxid": txid,
           "source": {"sourceType": "Oracle", "version": VERSION},
           "operation": op, "objectName": "HR.EMP"})
}

#[test]
fn a_stream_change_carries_the_commit_scn_and_the_xid() {
    let ev = stream(Op::Insert, None, Some(emp(42, "Ann")));
    let rec = &encode(&mut format(), &ev)[0];
    let pos = ("14589063118712", "14589063118700", "7.3.411499");
    assert_eq!(head(&rec.value), want("INSERT", pos));
}

/// The change at `index` of transaction `xid` committed at `COMMIT_SCN`, its redo row at `scn`.
fn change(index: u32, scn: u64, xid: Xid) -> ChangeEvent {
    let mut ev = stream(Op::Update, Some(emp(1, "a")), Some(emp(1, "b")));
    ev.position = crate::position::Position::Stream(StreamPosition::Oracle {
        commit_scn: Scn(COMMIT_SCN),
        redo: 1,
        xid,
        index,
    });
    ev.lsn = Lsn(scn);
    ev
}

#[test]
fn the_safe_position_is_the_first_change_scn_of_the_transaction() {
    let mut f = format();
    let safe = |f: &mut DtsAvro, ev: &ChangeEvent| {
        head(&encode(f, ev)[0].value)["safeSourcePosition"].clone()
    };
    assert_eq!(safe(&mut f, &change(0, 500, XID)), "500");
    assert_eq!(safe(&mut f, &change(1, 600, XID)), "500");
    let next = Xid(XID.0 + 1);
    assert_eq!(
        safe(&mut f, &change(0, 650, next)),
        "650",
        "a new transaction"
    );
}

#[test]
fn a_snapshot_row_has_the_snapshot_scn_and_no_transaction() {
    let rec = &encode(&mut format(), &snapshot(emp(1, "Bo"), 7))[0];
    let pos = ("14589063000000", "14589063000000", "");
    assert_eq!(head(&rec.value), want("INSERT", pos));
    assert_eq!(Reader::new().plain(&rec.value)["id"], 7);
}

#[test]
fn a_ddl_record_takes_the_scn_and_xid_of_its_position() {
    let mut f = format();
    let mut out = EncodedBatch::default();
    let tx = TxMeta {
        xid: XID.0,
        commit_time_us: COMMIT_US,
        commit_lsn: Lsn(COMMIT_SCN),
    };
    f.begin(&tx, &mut out).unwrap();
    let change = SchemaChange {
        table: hr_emp(),
        previous: None,
        at: Some(StreamPosition::Oracle {
            commit_scn: Scn(COMMIT_SCN),
            redo: 1,
            xid: XID,
            index: 0,
        }),
        ddl: Some("ALTER TABLE HR.EMP ADD (NOTE VARCHAR2(10))".into()),
    };
    f.schema_change(&change, &mut out).unwrap();
    let pos = ("14589063118712", "14589063118712", "7.3.411499");
    assert_eq!(head(&out.records()[0].value), want("DDL", pos));
    // Without a position: the open transaction's commit SCN and XID, never an `X/Y` LSN.
    out.clear();
    let bare = SchemaChange { at: None, ..change };
    f.schema_change(&bare, &mut out).unwrap();
    assert_eq!(head(&out.records()[0].value), want("DDL", pos));
}
