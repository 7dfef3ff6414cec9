//! Assembler tests on `V$LOGMNR_CONTENTS`-shaped rows written from Oracle's documented columns
//! and SQL_REDO renderings (Oracle Database Utilities, "Using LogMiner to Analyze Redo Log
//! Files": `insert into "HR"."JOBS"("JOB_ID",...) values (...)`, `update ... where ... and
//! ROWID = '...'`), with RS_IDs ` 0x<seq>.<block>.<offset> ` and SSNs as LogMiner shows them.

use super::*;
use crate::source::oracle::logminer::op;

/// A scripted redo stream: each row gets the next SCN and redo block.
struct Redo {
    scn: u64,
    seq: u32,
    block: u32,
}

fn xid(usn: u64, slot: u64, sqn: u64) -> Xid {
    Xid((usn << 48) | (slot << 32) | sqn)
}

fn rowid(n: u32) -> String {
    format!("AAAR3sAAEAAAACX{:03X}", n % 4096)
}

impl Redo {
    fn new(scn: u64) -> Redo {
        Redo {
            scn,
            seq: 0x12,
            block: 0x1a00,
        }
    }

    fn row(&mut self, xid: Xid, code: i32) -> LogMinerRow {
        self.scn += 1;
        self.block += 1;
        LogMinerRow {
            scn: Scn(self.scn),
            xid,
            operation_code: code,
            rs_id: format!(" 0x{:06x}.{:08x}.0010 ", self.seq, self.block),
            ssn: 0,
            timestamp_ms: 1_700_000_000_000 + self.scn as i64,
            ..LogMinerRow::default()
        }
    }

    /// The next row at the same SCN as the previous one.
    fn same_scn(&mut self, xid: Xid, code: i32) -> LogMinerRow {
        self.scn -= 1;
        self.row(xid, code)
    }

    /// A log switch: the next rows are in the next log sequence.
    fn switch(&mut self) {
        self.seq += 1;
        self.block = 2;
    }

    fn start(&mut self, x: Xid) -> LogMinerRow {
        self.row(x, op::START)
    }
    fn commit(&mut self, x: Xid) -> LogMinerRow {
        self.row(x, op::COMMIT)
    }
    fn rollback(&mut self, x: Xid) -> LogMinerRow {
        LogMinerRow {
            rollback: true,
            ..self.row(x, op::ROLLBACK)
        }
    }

    fn dml(&mut self, x: Xid, code: i32, n: u32, sql: String) -> LogMinerRow {
        LogMinerRow {
            seg_owner: Some("HR".into()),
            table_name: Some("EMP".into()),
            row_id: Some(rowid(n)),
            sql_redo: Some(sql),
            ..self.row(x, code)
        }
    }
    fn insert(&mut self, x: Xid, n: u32) -> LogMinerRow {
        let sql = format!("insert into \"HR\".\"EMP\"(\"ID\",\"NAME\") values ('{n}','name {n}');");
        self.dml(x, op::INSERT, n, sql)
    }
    fn update(&mut self, x: Xid, n: u32, to: &str) -> LogMinerRow {
        let sql = format!(
            "update \"HR\".\"EMP\" set \"NAME\" = '{to}' where \"ID\" = '{n}' and ROWID = '{}';",
            rowid(n)
        );
        self.dml(x, op::UPDATE, n, sql)
    }
    /// The undo row of an INSERT of row `n` (ROLLBACK = 1: a DELETE of the inserted row).
    fn undo_insert(&mut self, x: Xid, n: u32) -> LogMinerRow {
        let sql = format!("delete from \"HR\".\"EMP\" where ROWID = '{}';", rowid(n));
        LogMinerRow {
            rollback: true,
            ..self.dml(x, op::DELETE, n, sql)
        }
    }
    /// The undo row of an UPDATE of row `n` (ROLLBACK = 1: an UPDATE back to `from`).
    fn undo_update(&mut self, x: Xid, n: u32, from: &str) -> LogMinerRow {
        LogMinerRow {
            rollback: true,
            ..self.update(x, n, from)
        }
    }
}

fn config(dir: &Path) -> AssemblerConfig {
    AssemblerConfig {
        emit_after: Scn(0),
        skip_through: None,
        memory_budget: 64 << 20,
        spill_dir: dir.join("spill"),
    }
}

struct Out {
    xid: Xid,
    commit_scn: Scn,
    restart_scn: Scn,
    events: Vec<Event>,
}

fn run(asm: &mut Assembler, rows: impl IntoIterator<Item = LogMinerRow>) -> Vec<Out> {
    let mut out = Vec::new();
    for row in rows {
        if let Some(c) = asm.push(row).unwrap() {
            out.push(Out {
                xid: c.xid,
                commit_scn: c.commit_scn,
                restart_scn: c.restart_scn,
                events: c.events.map(Result::unwrap).collect(),
            });
        }
    }
    out
}

fn sql(e: &Event) -> &str {
    e.row.sql_redo.as_deref().unwrap()
}

fn positions_increase(out: &[Out]) {
    let all: Vec<StreamPosition> = out
        .iter()
        .flat_map(|o| o.events.iter().map(|e| e.position))
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
}

#[test]
fn interleaved_transactions_come_out_whole_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    let (t1, t2) = (xid(3, 14, 2718), xid(7, 2, 99));
    let mut r = Redo::new(1000);
    let rows = vec![
        r.start(t1),
        r.start(t2),
        r.insert(t1, 1),
        r.insert(t2, 2),
        r.update(t1, 1, "Ann"),
        r.commit(t2),
        r.insert(t1, 3),
        r.commit(t1),
    ];
    let out = run(&mut asm, rows.clone());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].xid, t2);
    assert_eq!(out[0].events.len(), 1);
    assert_eq!(out[0].events[0].row, rows[3]);
    assert_eq!(out[1].xid, t1);
    let t1_rows: Vec<_> = out[1].events.iter().map(|e| e.row.clone()).collect();
    assert_eq!(
        t1_rows,
        vec![rows[2].clone(), rows[4].clone(), rows[6].clone()]
    );
    let indexes: Vec<u32> = out[1].events.iter().map(|e| e.position.index()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    match out[1].events[2].position {
        StreamPosition::Oracle {
            commit_scn,
            redo,
            xid,
            ..
        } => {
            assert_eq!(commit_scn, rows[7].scn);
            assert_eq!(redo, redo_position(&rows[7].rs_id, 0));
            assert_eq!(xid, t1);
        }
        p => panic!("{p:?}"),
    }
    positions_increase(&out);
    assert_eq!(asm.open_transactions(), 0);
    assert_eq!(asm.buffered_bytes(), 0);
}

#[test]
fn a_rolled_back_transaction_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    let (t1, t2) = (xid(1, 1, 1), xid(2, 2, 2));
    let mut r = Redo::new(10);
    let rows = vec![
        r.start(t1),
        r.insert(t1, 1),
        r.start(t2),
        r.insert(t2, 2),
        r.update(t1, 1, "x"),
        r.rollback(t1),
        r.commit(t2),
    ];
    let out = run(&mut asm, rows.clone());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].xid, t2);
    assert_eq!(out[0].events[0].row, rows[3]);
    assert_eq!((asm.open_transactions(), asm.buffered_bytes()), (0, 0));
}

#[test]
fn rollback_to_savepoint_drops_only_the_undone_changes() {
    // In memory, and spilled from the first row (the undo then works on the file).
    for budget in [64 << 20, 1] {
        savepoint_scenario(budget);
        undo_in_the_middle_then_at_the_tail(budget);
    }
}

fn undo_in_the_middle_then_at_the_tail(budget: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_budget = budget;
    let mut asm = Assembler::new(cfg).unwrap();
    let t = xid(6, 6, 6);
    let mut r = Redo::new(100);
    let (i1, i2, i3) = (r.insert(t, 1), r.insert(t, 2), r.insert(t, 3));
    let (undo2, undo3) = (r.undo_insert(t, 2), r.undo_insert(t, 3));
    let i4 = r.insert(t, 4);
    let out = run(
        &mut asm,
        [i1.clone(), i2, i3, undo2, undo3, i4.clone(), r.commit(t)],
    );
    let got: Vec<_> = out[0].events.iter().map(|e| e.row.clone()).collect();
    assert_eq!(got, vec![i1, i4], "budget {budget}");
    assert_eq!(asm.spilled_transactions(), u64::from(budget == 1));
}

fn savepoint_scenario(budget: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_budget = budget;
    let mut asm = Assembler::new(cfg).unwrap();
    let t = xid(5, 5, 5);
    let mut r = Redo::new(100);
    let (s, i1, i2, u1) = (
        r.start(t),
        r.insert(t, 1),
        r.insert(t, 2),
        r.update(t, 1, "b"),
    );
    // SAVEPOINT a; then two changes, then ROLLBACK TO a: undo rows newest first.
    let (i3, u2) = (r.insert(t, 3), r.update(t, 2, "c"));
    let (undo_u2, undo_i3) = (r.undo_update(t, 2, "name 2"), r.undo_insert(t, 3));
    // A failed statement: its change to row 1 is undone, the earlier change to row 1 stays.
    let (u1_again, undo_u1_again) = (r.update(t, 1, "z"), r.undo_update(t, 1, "b"));
    let i4 = r.insert(t, 4);
    let rows = vec![
        s,
        i1.clone(),
        i2.clone(),
        u1.clone(),
        i3,
        u2,
        undo_u2,
        undo_i3,
        u1_again,
        undo_u1_again,
        i4.clone(),
        r.commit(t),
    ];
    let out = run(&mut asm, rows);
    let got: Vec<_> = out[0].events.iter().map(|e| e.row.clone()).collect();
    assert_eq!(got, vec![i1, i2, u1, i4]);
    let indexes: Vec<u32> = out[0].events.iter().map(|e| e.position.index()).collect();
    assert_eq!(indexes, [0, 1, 2, 3], "indexes count emitted events only");
    assert_eq!(asm.unmatched_undo_rows(), 0);
}

#[test]
fn transactions_committing_at_one_scn_come_out_in_commit_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    // Transaction ids in the opposite order of their commits.
    let (a, b, c) = (xid(9, 0, 1), xid(5, 0, 1), xid(1, 0, 1));
    let mut r = Redo::new(500);
    let mut rows = vec![];
    for (n, x) in [a, b, c].into_iter().enumerate() {
        rows.push(r.start(x));
        rows.push(r.insert(x, n as u32));
    }
    rows.push(r.commit(a));
    rows.push(r.same_scn(b, op::COMMIT));
    rows.push(r.same_scn(c, op::COMMIT));
    let out = run(&mut asm, rows);
    let order: Vec<Xid> = out.iter().map(|o| o.xid).collect();
    assert_eq!(order, [a, b, c]);
    assert!(out.iter().all(|o| o.commit_scn == out[0].commit_scn));
    positions_increase(&out);
}

#[test]
fn a_transaction_open_across_the_snapshot_scn_is_emitted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.emit_after = Scn(100);
    let mut asm = Assembler::new(cfg).unwrap();
    let (open, before, after) = (xid(1, 0, 1), xid(2, 0, 1), xid(3, 0, 1));
    let mut r = Redo::new(90);
    let rows = vec![
        r.start(open),        // 91
        r.insert(open, 1),    // 92
        r.start(before),      // 93
        r.insert(before, 2),  // 94
        r.commit(before),     // 95: in the snapshot
        r.insert(open, 3),    // 96
        r.row(open, 0),       // 97: an INTERNAL row, not buffered
        r.same_scn(after, 6), // 97
    ];
    let mut out = run(&mut asm, rows);
    assert!(out.is_empty());
    r.scn = 100;
    out.extend(run(
        &mut asm,
        vec![r.commit(open), r.insert(after, 4), r.commit(after)],
    ));
    let got: Vec<(Xid, usize)> = out.iter().map(|o| (o.xid, o.events.len())).collect();
    assert_eq!(got, [(open, 2), (after, 1)]);
    assert_eq!(
        out[0].events[0].row.scn,
        Scn(92),
        "the change before S is in"
    );
}

#[test]
fn a_transaction_spanning_a_log_switch() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    let (t, u) = (xid(4, 4, 4), xid(6, 6, 6));
    let mut r = Redo::new(7000);
    let mut rows = vec![r.start(t), r.insert(t, 1), r.start(u), r.insert(u, 9)];
    r.switch();
    rows.extend([r.insert(t, 2), r.commit(u)]);
    r.switch();
    rows.extend([r.update(t, 1, "y"), r.commit(t)]);
    let out = run(&mut asm, rows.clone());
    assert_eq!(out.iter().map(|o| o.xid).collect::<Vec<_>>(), [u, t]);
    let got: Vec<_> = out[1].events.iter().map(|e| e.row.clone()).collect();
    assert_eq!(got, vec![rows[1].clone(), rows[4].clone(), rows[6].clone()]);
    let commit_redo = redo_position(&rows[7].rs_id, 0);
    assert_eq!(
        commit_redo >> 80,
        0x14,
        "the commit is in the second log after the start"
    );
    positions_increase(&out);
}

#[test]
fn csf_pieces_are_joined_into_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    let (t, u) = (xid(1, 2, 3), xid(3, 2, 1));
    let mut r = Redo::new(40);
    let whole = r.insert(t, 1);
    let text = whole.sql_redo.clone().unwrap();
    let (p1, rest) = text.split_at(10);
    let (p2, p3) = rest.split_at(15);
    let piece = |s: &str, csf: bool| LogMinerRow {
        sql_redo: Some(s.to_owned()),
        csf,
        ..whole.clone()
    };
    let rows = vec![
        r.start(t),
        r.start(u),
        piece(p1, true),
        piece(p2, true),
        r.insert(u, 2), // another transaction's row between the pieces
        piece(p3, false),
        r.commit(u),
        r.commit(t),
    ];
    let out = run(&mut asm, rows);
    assert_eq!(out[1].events.len(), 1);
    assert_eq!(out[1].events[0].row, whole);
    assert_eq!(sql(&out[1].events[0]), text);

    // A continuation that is not one fails with both places named.
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    asm.push(piece(p1, true)).unwrap();
    let wrong = LogMinerRow {
        ssn: 7,
        ..piece(p2, false)
    };
    let err = asm.push(wrong).unwrap_err();
    assert!(
        matches!(err, AssembleError::BrokenContinuation { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("SSN 7"), "{err}");
}

/// Rows of three transactions, one open across the others.
fn three_transactions() -> Vec<LogMinerRow> {
    let (a, b, c) = (xid(1, 0, 1), xid(2, 0, 1), xid(3, 0, 1));
    let mut r = Redo::new(200);
    vec![
        r.start(a),
        r.insert(a, 1),
        r.start(b),
        r.insert(b, 2),
        r.insert(a, 3),
        r.insert(b, 4),
        r.start(c),
        r.insert(c, 5),
        r.commit(b),
        r.insert(a, 6),
        r.insert(c, 7),
        r.commit(a),
        r.insert(c, 8),
        r.commit(c),
    ]
}

#[test]
fn resume_mid_transaction_neither_skips_nor_reemits() {
    let dir = tempfile::tempdir().unwrap();
    let rows = three_transactions();
    let first = run(
        &mut Assembler::new(config(dir.path())).unwrap(),
        rows.clone(),
    );
    let all: Vec<(StreamPosition, Scn, LogMinerRow)> = first
        .iter()
        .flat_map(|o| {
            o.events
                .iter()
                .map(|e| (e.position, o.restart_scn, e.row.clone()))
        })
        .collect();
    assert_eq!(all.len(), 8);
    // Every event in turn as the last durable one: mine again from its restart SCN.
    for k in 0..all.len() {
        let (checkpoint, restart_scn, _) = &all[k];
        let mut cfg = config(dir.path());
        cfg.skip_through = Some(*checkpoint);
        let mut asm = Assembler::new(cfg).unwrap();
        let replay = rows.iter().filter(|r| r.scn >= *restart_scn).cloned();
        let again: Vec<(StreamPosition, LogMinerRow)> = run(&mut asm, replay)
            .into_iter()
            .flat_map(|o| o.events.into_iter().map(|e| (e.position, e.row)))
            .collect();
        let expected: Vec<(StreamPosition, LogMinerRow)> = all[k + 1..]
            .iter()
            .map(|(p, _, r)| (*p, r.clone()))
            .collect();
        assert_eq!(again, expected, "resumed after event {k}");
    }
    // Mid-transaction: transaction a (the second out) emits only the rest.
    let a_second = first[1].events[1].position;
    let mut cfg = config(dir.path());
    cfg.skip_through = Some(a_second);
    let again = run(&mut Assembler::new(cfg).unwrap(), rows);
    assert_eq!(again[0].xid, first[1].xid);
    let idx: Vec<u32> = again[0].events.iter().map(|e| e.position.index()).collect();
    assert_eq!(idx, [2]);
}

#[test]
fn restart_scn_is_the_oldest_open_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(config(dir.path())).unwrap();
    let (a, b, c) = (xid(1, 0, 1), xid(2, 0, 1), xid(3, 0, 1));
    let mut r = Redo::new(10);
    run(&mut asm, [r.start(a), r.insert(a, 1), r.start(b)]); // a at 11, b at 13
    assert_eq!(asm.restart_scn(Scn(13)), Scn(11));
    let out = run(&mut asm, [r.insert(b, 2), r.commit(a)]);
    assert_eq!(
        out[0].restart_scn,
        Scn(11),
        "a checkpoint inside a covers a"
    );
    assert_eq!(asm.restart_scn(Scn(15)), Scn(13));
    // First seen mid-way: START_SCN when LogMiner has it, else the row's SCN.
    let mid = LogMinerRow {
        start_scn: Some(Scn(3)),
        ..r.insert(c, 3)
    };
    run(&mut asm, [mid]);
    assert_eq!(asm.restart_scn(Scn(16)), Scn(3));
    run(&mut asm, [r.commit(b), r.rollback(c)]);
    assert_eq!(asm.restart_scn(Scn(18)), Scn(18));
    let d = xid(4, 0, 1);
    run(&mut asm, [r.update(d, 4, "q")]);
    assert_eq!(asm.restart_scn(Scn(19)), Scn(19));
}

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir.join("spill"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn a_large_transaction_spills_within_the_budget_and_streams_back() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 4096;
    let mut cfg = config(dir.path());
    cfg.memory_budget = budget;
    let mut asm = Assembler::new(cfg).unwrap();
    let (big, small) = (xid(8, 8, 8), xid(9, 9, 9));
    let mut r = Redo::new(1);
    let mut expected = Vec::new();
    let mut max_cost = 0;
    let mut check = |asm: &mut Assembler, row: LogMinerRow| {
        max_cost = max_cost.max(row_cost(&row));
        let c = asm.push(row).unwrap();
        assert!(
            asm.buffered_bytes() <= budget + max_cost,
            "{}",
            asm.buffered_bytes()
        );
        c
    };
    check(&mut asm, r.start(big));
    check(&mut asm, r.start(small));
    for n in 0..100_000u32 {
        let row = r.insert(big, n);
        expected.push(row.clone());
        check(&mut asm, row);
        if n % 1000 == 999 {
            // A failed statement's change, undone at once (the file's tail is cut) ...
            check(&mut asm, r.update(big, n, "failed"));
            check(&mut asm, r.undo_update(big, n, "before"));
        }
        if n % 5000 == 4999 {
            // ... and one undoing an older change (the file keeps it, marked undone).
            check(&mut asm, r.undo_insert(big, n - 1));
            // (ROW_IDs repeat every 4096 rows: the newest with that id is the one undone.)
            let undone = rowid(n - 1);
            let i = expected
                .iter()
                .rposition(|e| e.row_id.as_deref() == Some(&*undone))
                .unwrap();
            assert_eq!(i, expected.len() - 2);
            expected.remove(i);
        }
        if n % 10_000 == 0 {
            check(&mut asm, r.insert(small, n));
        }
    }
    assert_eq!(asm.spilled_transactions(), 1);
    let path = asm.spill_path(big).expect("spilled");
    assert!(path.exists());
    let small_out = check(&mut asm, r.commit(small)).unwrap();
    assert!(!small_out.spilled);
    assert_eq!(small_out.events.count(), 10);
    let c = check(&mut asm, r.commit(big)).unwrap();
    assert!(c.spilled);
    let mut got = 0usize;
    for (i, e) in c.events.enumerate() {
        let e = e.unwrap();
        assert_eq!(e.row, expected[i], "event {i}");
        assert_eq!(e.position.index(), i as u32);
        got += 1;
    }
    assert_eq!(got, expected.len());
    assert!(!path.exists(), "the spill file is deleted once read");
    assert!(spill_files(dir.path()).is_empty());
    assert_eq!(asm.buffered_bytes(), 0);
}

#[test]
fn rolling_back_a_spilled_transaction_deletes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_budget = 4096;
    let mut asm = Assembler::new(cfg).unwrap();
    let t = xid(1, 1, 1);
    let mut r = Redo::new(1);
    run(&mut asm, [r.start(t)]);
    run(
        &mut asm,
        (0..200).map(|n| r.insert(t, n)).collect::<Vec<_>>(),
    );
    let path = asm.spill_path(t).expect("spilled");
    assert!(path.exists());
    run(&mut asm, [r.rollback(t)]);
    assert!(!path.exists());
    assert!(spill_files(dir.path()).is_empty());
    assert_eq!((asm.open_transactions(), asm.buffered_bytes()), (0, 0));

    // A committed transaction dropped unread deletes its file too.
    run(&mut asm, [r.start(t)]);
    run(
        &mut asm,
        (0..200).map(|n| r.insert(t, n)).collect::<Vec<_>>(),
    );
    let c = asm.push(r.commit(t)).unwrap().unwrap();
    assert!(c.spilled);
    drop(c);
    assert!(spill_files(dir.path()).is_empty());
}

#[test]
fn stale_spill_files_are_deleted_at_start_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("spill")).unwrap();
    fs::write(dir.path().join("spill/0000-1.spill"), b"old").unwrap();
    fs::write(dir.path().join("spill/keep.txt"), b"not ours").unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_budget = 1;
    let mut asm = Assembler::new(cfg).unwrap();
    assert_eq!(spill_files(dir.path()).len(), 1);
    // The spill directory vanishes: the error names the file and the fix.
    fs::remove_dir_all(dir.path().join("spill")).unwrap();
    let mut r = Redo::new(1);
    let t = xid(1, 1, 1);
    let err = asm.push(r.insert(t, 1)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(".spill: create failed"), "{text}");
    assert!(text.contains("fix: give the spill directory"), "{text}");
}

#[test]
fn spill_records_round_trip() {
    let row = LogMinerRow {
        scn: Scn(u64::MAX - 1),
        start_scn: Some(Scn(5)),
        commit_scn: None,
        xid: xid(65535, 65535, u32::MAX as u64),
        operation_code: op::LOB_WRITE,
        seg_owner: Some("ÜSER".into()),
        table_name: None,
        row_id: Some(rowid(1)),
        sql_redo: Some("x := 'é''';".into()),
        rollback: true,
        rs_id: " 0x000001.00000002.0003 ".into(),
        ssn: 9,
        csf: true,
        info: Some(String::new()),
        timestamp_ms: -1,
    };
    let mut buf = Vec::new();
    spill::encode(&row, &mut buf);
    assert_eq!(spill::decode(&buf), Some(row));
    assert_eq!(spill::decode(&buf[..buf.len() - 1]), None);
}
