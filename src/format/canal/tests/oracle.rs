//! Oracle events: `database` is the owner (part A, "Canal JSON"), `table` the table as the
//! source stores it, `es` the commit time; full-load rows `INIT`. Canal JSON prints no SCN or
//! transaction id, so nothing here depends on the Oracle position beyond the snapshot lane.

use super::*;
use crate::format::origin::testing::{emp, snapshot as ora_snapshot, stream as ora_stream};
use crate::format::origin::testing::{hr_emp, COMMIT_US};

fn oracle_value(ev: &ChangeEvent) -> serde_json::Value {
    let clock = ManualClock::default();
    at_ms(&clock, 1_705_307_401_000);
    let routing = Arc::new(Routing::plain("ORCL", None));
    let mut fmt = encoder(CanalOptions::default(), routing, &clock);
    fmt.set_sequence(5);
    serde_json::from_str(&value(&encode(&mut fmt, ev)[0])).unwrap()
}

#[test]
fn the_database_member_is_the_owner() {
    let v = oracle_value(&ora_stream(Op::Insert, None, Some(emp(42, "Ann"))));
    assert_eq!(v["database"], "HR");
    assert_eq!(v["table"], "EMP");
    assert_eq!(v["es"], COMMIT_US / 1000);
    assert_eq!(
        (v["id"].clone(), v["type"].clone()),
        (5.into(), "INSERT".into())
    );
    assert_eq!(v["data"][0]["ID"], "42");
    assert_eq!(v["pkNames"][0], "ID");
    assert_eq!(hr_emp().schema, "HR");
}

#[test]
fn a_full_load_row_is_init_numbered_by_its_row() {
    let v = oracle_value(&ora_snapshot(emp(1, "Bo"), 7));
    assert_eq!(
        (v["database"].clone(), v["type"].clone()),
        ("HR".into(), "INIT".into())
    );
    assert_eq!(v["id"], 7);
}
