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

mod filters {
    use super::*;
    use crate::config::TaskSpec;
    use crate::schema::ReplicaIdentity;

    /// A task selecting `tables` with `objects`.
    fn task(tables: &str, objects: &str) -> Gate {
        let text = format!(
            "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n\
             [objects]\ntables = [{tables}]\n{objects}"
        );
        Gate::new(Arc::new(Routing::new(&TaskSpec::parse(&text).unwrap())))
    }

    fn with_identity(t: &Arc<TableSchema>, ri: ReplicaIdentity) -> Arc<TableSchema> {
        let mut t = (**t).clone();
        t.replica_identity = ri;
        Arc::new(t)
    }

    fn r(id: &str, v: Option<&str>) -> Option<Row> {
        Some(row(&[Some(id), v]))
    }

    /// The op and images of what the gate let through (`None`: dropped).
    fn through(gate: &mut Gate, ev: ChangeEvent) -> Option<(Op, Option<Row>, Option<Row>)> {
        match gate.admit(ev).unwrap() {
            Admitted::Dropped => None,
            Admitted::One(e) => Some((e.op, e.before, e.after)),
            Admitted::Split(_) => panic!("no split expected"),
        }
    }

    const FILTER: &str = "[objects.table.\"public.t\"]\nfilter = \"v = 'in'\"";

    #[test]
    fn updates_moving_rows_in_and_out_become_inserts_and_deletes() {
        let t = with_identity(
            &table(1, "t", &[("id", true), ("v", false)]),
            ReplicaIdentity::Full,
        );
        let mut gate = task("\"public.*\"", FILTER);
        let mut ev = |op, b, a| through(&mut gate, event(&t, op, b, a));
        assert_eq!(
            ev(Op::Insert, None, r("1", Some("in"))),
            Some((Op::Insert, None, r("1", Some("in"))))
        );
        assert_eq!(ev(Op::Insert, None, r("1", Some("out"))), None);
        assert_eq!(
            ev(Op::Insert, None, r("1", None)),
            None,
            "NULL is not a match"
        );
        assert_eq!(
            ev(Op::Update, r("1", Some("in")), r("1", Some("in"))),
            Some((Op::Update, r("1", Some("in")), r("1", Some("in"))))
        );
        assert_eq!(
            ev(Op::Update, r("1", Some("out")), r("1", Some("in"))),
            Some((Op::Insert, None, r("1", Some("in")))),
            "moved into the filter: an INSERT of the new row"
        );
        assert_eq!(
            ev(Op::Update, r("1", Some("in")), r("1", Some("out"))),
            Some((Op::Delete, r("1", Some("in")), None)),
            "moved out of the filter: a DELETE of the old row"
        );
        assert_eq!(ev(Op::Update, r("1", Some("out")), r("1", None)), None);
        assert_eq!(
            ev(Op::Delete, r("1", Some("in")), None),
            Some((Op::Delete, r("1", Some("in")), None))
        );
        assert_eq!(ev(Op::Delete, r("1", Some("out")), None), None);
        // Snapshot rows were filtered by the snapshot's query; TRUNCATE has no row.
        assert!(ev(Op::Read, None, r("1", Some("out"))).is_some());
        assert!(ev(Op::Truncate, None, None).is_some());
    }

    #[test]
    fn a_key_only_filter_reads_the_key_from_the_new_row_when_it_did_not_change() {
        let t = table(1, "t", &[("id", true), ("v", false)]);
        let objects = "[objects.table.\"public.t\"]\nfilter = \"id >= 'b'\"";
        let mut gate = task("\"public.*\"", objects);
        let mut ev = |op, b, a| through(&mut gate, event(&t, op, b, a));
        assert_eq!(
            ev(Op::Update, None, r("c", Some("x"))),
            Some((Op::Update, None, r("c", Some("x"))))
        );
        assert_eq!(ev(Op::Update, None, r("a", Some("x"))), None);
        // A key change: the old key row (other columns NULL) says the row was in.
        assert_eq!(
            ev(Op::Update, r("c", None), r("a", Some("x"))),
            Some((Op::Delete, r("c", None), None))
        );
        assert_eq!(
            ev(Op::Delete, r("c", None), None),
            Some((Op::Delete, r("c", None), None))
        );
    }

    #[test]
    fn the_application_operation_is_checked_before_the_filter() {
        let t = with_identity(
            &table(1, "t", &[("id", true), ("v", false)]),
            ReplicaIdentity::Full,
        );
        let objects = format!("{FILTER}\noperations = [\"insert\"]");
        let mut gate = task("\"public.*\"", &objects);
        let moved_in = event(&t, Op::Update, r("1", Some("out")), r("1", Some("in")));
        assert_eq!(through(&mut gate, moved_in), None);
    }

    #[test]
    fn an_old_row_without_the_filter_columns_stops_the_task_with_the_fix() {
        // The table's identity went back to DEFAULT after the start: UPDATEs now arrive
        // without the old value of `v`.
        let t = table(1, "t", &[("id", true), ("v", false)]);
        let objects = format!("replica_identity_full = [\"public.t\"]\n{FILTER}");
        let mut gate = task("\"public.*\"", &objects);
        let ev = event(&t, Op::Update, None, r("1", Some("in")));
        let e = gate.admit(ev).unwrap_err().to_string();
        assert!(
            e.contains("table public.t")
                && e.contains("no complete old row")
                && e.contains("REPLICA IDENTITY FULL"),
            "{e}"
        );
        // A filter held by the publication lets such a row pass: PostgreSQL applied it.
        let keyed = "[objects.table.\"public.t\"]\nfilter = \"id = '1'\"";
        let mut gate = task("\"public.t\"", keyed);
        let route = gate.router.get(&t).unwrap();
        let f = route.filter.as_ref().unwrap();
        assert_eq!(f.placement, Placement::Publication);
        let toasted = Row {
            cells: vec![Cell::Unchanged, Cell::Null],
            ..Row::default()
        };
        let ev = event(&t, Op::Update, None, Some(toasted));
        assert!(matches!(gate.admit(ev).unwrap(), Admitted::One(_)));
    }

    #[test]
    fn a_filter_that_cannot_be_applied_is_refused_when_routes_are_checked() {
        let t = table(1, "t", &[("id", true), ("v", false)]);
        let routing = {
            let text = format!(
                "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
                 [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n\
                 [objects]\ntables = [\"public.t\"]\n{FILTER}"
            );
            Routing::new(&TaskSpec::parse(&text).unwrap())
        };
        let e = routing.check(&[t]).unwrap_err().to_string();
        assert!(
            e.contains("public.t")
                && e.contains("filter \"v = 'in'\" cannot be applied")
                && e.contains("objects.replica_identity_full"),
            "{e}"
        );
    }
}
