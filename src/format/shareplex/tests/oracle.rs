//! Oracle-positioned events: `scn` the commit SCN in decimal and `trans` the XID
//! `usn.slot.sqn`, from the events' positions; `rowid` and `userid` null (the events carry
//! neither); `table` `OWNER.TABLE`.

use std::sync::Arc;

use super::*;
use crate::event::Op;
use crate::format::origin::testing::*;
use crate::position::{Scn, StreamPosition};
use crate::source::SchemaChange;

fn oracle_format() -> (SharePlexJson, ManualClock) {
    let clock = ManualClock::default();
    let routing = Arc::new(Routing::plain("ORCL", None));
    let opts = SharePlexOptions::default();
    let f = SharePlexJson::new(routing, opts, Box::new(clock.clone())).unwrap();
    (f, clock)
}

/// The Oracle source's `TxMeta` of transaction `XID` (its Lsn fields hold SCNs).
fn oracle_tx() -> TxMeta {
    TxMeta {
        xid: XID.0,
        commit_time_us: COMMIT_US,
        commit_lsn: Lsn(COMMIT_SCN),
    }
}

#[test]
fn a_held_transaction_carries_the_commit_scn_and_the_xid() {
    let (mut f, clock) = oracle_format();
    let ev = stream(Op::Insert, None, Some(emp(42, "Ann")));
    let records = run_tx(&mut f, &clock, oracle_tx(), &[ev], 1_705_307_401, 16);
    assert_eq!(
        value(&records[0]),
        r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"ins","scn":"14589063118712","rowid":null,"trans":"7.3.411499","seq":1,"size":1,"table":"HR.EMP","idx":"1/1","posttime":"2024-01-15T08:30:01"},"data":{"ID":"42","NAME":"Ann"}}"#
    );
}

#[test]
fn a_snapshot_row_has_the_snapshot_scn_and_no_transaction() {
    let (mut f, clock) = oracle_format();
    clock.set(1_705_307_401_000_000_000);
    let mut out = EncodedBatch::default();
    f.encode(&snapshot(emp(1, "Bo"), 0), &mut out).unwrap();
    assert_eq!(
        value(&out.records()[0]),
        r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"ins","scn":"14589063000000","rowid":null,"trans":null,"seq":1,"size":1,"table":"HR.EMP","idx":"1/1","posttime":"2024-01-15T08:30:01"},"data":{"ID":"1","NAME":"Bo"}}"#
    );
}

#[test]
fn a_ddl_message_takes_the_scn_and_xid_of_its_position() {
    let (mut f, clock) = oracle_format();
    clock.set(1_705_307_401_000_000_000);
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
    let want = r#""scn":"14589063118712","rowid":null,"trans":"7.3.411499","#;
    // Outside a transaction and inside one (whose TxMeta alone would give a decimal `trans`).
    let mut out = EncodedBatch::default();
    f.schema_change(&change, &mut out).unwrap();
    assert!(
        value(&out.records()[0]).contains(want),
        "{}",
        value(&out.records()[0])
    );
    out.clear();
    f.begin(&oracle_tx(), &mut out).unwrap();
    f.schema_change(&change, &mut out).unwrap();
    let v = value(&out.records()[0]);
    assert!(v.contains(want), "{v}");
    assert!(v.starts_with(r#"{"meta":{"time":"2024-01-15T08:30:00","userid":null,"op":"ddl","#));
}
