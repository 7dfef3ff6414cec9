use std::sync::Arc;

use super::*;
use crate::event::{SnapshotMark, TxMeta};
use crate::position::{Lsn, Position, StreamPosition};
use crate::route::tests_support::{row, spec, table};

fn event(t: &Arc<TableSchema>, op: Op, before: Option<Row>, after: Option<Row>) -> ChangeEvent {
    ChangeEvent {
        position: Position::Stream(StreamPosition::pg(Lsn(100), 0)),
        op,
        table: t.clone(),
        tx: TxMeta::default(),
        lsn: Lsn(90),
        last_commit_lsn: None,
        snapshot: SnapshotMark::None,
        before,
        after,
    }
}

#[test]
fn operations_not_migrated_are_dropped_but_snapshot_rows_pass() {
    let objects = "[objects.table.\"public.t\"]\noperations = [\"insert\"]";
    let mut gate = Gate::new(Arc::new(Routing::new(&spec("", objects))));
    let t = table(1, "t", &[("id", true)]);
    let r = || Some(row(&[Some("1")]));
    assert!(matches!(
        gate.admit(event(&t, Op::Insert, None, r())).unwrap(),
        Admitted::One(_)
    ));
    for op in [Op::Update, Op::Delete, Op::Truncate] {
        assert!(
            matches!(
                gate.admit(event(&t, op, r(), r())).unwrap(),
                Admitted::Dropped
            ),
            "{op:?}"
        );
    }
    assert!(matches!(
        gate.admit(event(&t, Op::Read, None, r())).unwrap(),
        Admitted::One(_)
    ));
    assert!(!gate.migrates_ddl(&t).unwrap());
    let other = table(2, "u", &[("id", true)]);
    assert!(gate.migrates_ddl(&other).unwrap());
}

#[test]
fn a_key_change_under_hash_key_is_a_delete_then_an_insert() {
    let t = table(1, "t", &[("id", true), ("v", false)]);
    let mut gate = Gate::new(Arc::new(Routing::new(&spec(
        "partition_policy = \"hash_key\"",
        "",
    ))));
    let moved = event(
        &t,
        Op::Update,
        Some(row(&[Some("1"), None])),
        Some(row(&[Some("2"), Some("x")])),
    );
    match gate.admit(moved).unwrap() {
        Admitted::Split(pair) => {
            let (d, i) = *pair;
            assert_eq!((d.op, i.op), (Op::Delete, Op::Insert));
            assert!(d.after.is_none() && d.before.is_some());
            assert!(i.before.is_none() && i.after.is_some());
        }
        other => panic!("{other:?}"),
    }
    let same_key = event(
        &t,
        Op::Update,
        Some(row(&[Some("1"), Some("a")])),
        Some(row(&[Some("1"), Some("b")])),
    );
    assert!(matches!(gate.admit(same_key).unwrap(), Admitted::One(_)));
    let no_old = event(&t, Op::Update, None, Some(row(&[Some("1"), Some("b")])));
    assert!(matches!(gate.admit(no_old).unwrap(), Admitted::One(_)));
    // Without hash_key a key change stays one UPDATE (the format handles it).
    let mut plain = Gate::new(Arc::new(Routing::new(&spec("", ""))));
    let moved = event(
        &t,
        Op::Update,
        Some(row(&[Some("1"), None])),
        Some(row(&[Some("2"), Some("x")])),
    );
    assert!(matches!(plain.admit(moved).unwrap(), Admitted::One(_)));
}
