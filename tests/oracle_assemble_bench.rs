//! Oracle transaction assembler throughput on one core (issue 9, "Measure and report"): LogMiner
//! rows (START, DML with Oracle-rendered SQL_REDO of about 200 bytes, COMMIT) pushed through
//! `Assembler::push` and every committed event read back, in two shapes:
//! - `memory`: 4 transactions interleaved at a time, 20 changes each, nothing spilled;
//! - `spill`: one transaction of all the rows under a 1 MiB budget, so it is written to its
//!   spill file and streamed back at commit.
//!
//! Rows are built before the clock starts. Prints `ORACLE_ASSEMBLE shape=... rows=...
//! rows_per_s=...`. Run by `scripts/bench.sh` (release); BENCH_ORACLE_ROWS sets the row count
//! (default 1,000,000).

use std::time::Instant;

use tributary::position::{Scn, Xid};
use tributary::source::oracle::assemble::{Assembler, AssemblerConfig};
use tributary::source::oracle::logminer::{op, LogMinerRow};

fn row(scn: u64, xid: Xid, code: i32, n: u64) -> LogMinerRow {
    let row_id = format!("AAAR3sAAEAAAACX{:03X}", n % 4096);
    let sql_redo = (code == op::INSERT).then(|| {
        format!(
            "insert into \"HR\".\"EMPLOYEES\"(\"ID\",\"NAME\",\"SALARY\",\"HIRED\",\"NOTE\") \
             values ('{n}','employee number {n}','{}.50',TO_DATE('2024-03-01 10:11:12', \
             'YYYY-MM-DD HH24:MI:SS'),'a note of some length');",
            n % 100_000
        )
    });
    LogMinerRow {
        scn: Scn(scn),
        xid,
        operation_code: code,
        seg_owner: sql_redo.as_ref().map(|_| "HR".to_owned()),
        table_name: sql_redo.as_ref().map(|_| "EMPLOYEES".to_owned()),
        row_id: sql_redo.as_ref().map(|_| row_id),
        sql_redo,
        rs_id: format!(
            " 0x{:06x}.{:08x}.0010 ",
            0x12 + scn / 1_000_000,
            scn % 1_000_000
        ),
        timestamp_ms: scn as i64,
        ..LogMinerRow::default()
    }
}

/// Interleaved transactions of `per_tx` changes, `width` open at a time.
fn interleaved(total: u64, per_tx: u64, width: u64) -> Vec<LogMinerRow> {
    let mut rows = Vec::with_capacity(total as usize * 11 / 10);
    let (mut scn, mut n, mut tx) = (1u64, 0u64, 0u64);
    while n < total {
        let xids: Vec<Xid> = (0..width).map(|i| Xid(tx + i + 1)).collect();
        tx += width;
        for &x in &xids {
            rows.push(row(scn, x, op::START, 0));
            scn += 1;
        }
        for _ in 0..per_tx {
            for &x in &xids {
                rows.push(row(scn, x, op::INSERT, n));
                scn += 1;
                n += 1;
            }
        }
        for &x in &xids {
            rows.push(row(scn, x, op::COMMIT, 0));
            scn += 1;
        }
    }
    rows
}

fn measure(shape: &str, rows: Vec<LogMinerRow>, budget: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut asm = Assembler::new(AssemblerConfig {
        emit_after: Scn(0),
        skip_through: None,
        memory_budget: budget,
        spill_dir: dir.path().join("spill"),
    })
    .unwrap();
    let pushed = rows.len();
    let t = Instant::now();
    let (mut events, mut bytes) = (0u64, 0usize);
    for r in rows {
        if let Some(c) = asm.push(r).unwrap() {
            for e in c.events {
                let e = e.unwrap();
                bytes += e.row.sql_redo.map_or(0, |s| s.len());
                events += 1;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let per_s = (pushed as f64 / secs) as u64;
    println!(
        "ORACLE_ASSEMBLE shape={shape} rows={pushed} events={events} rows_per_s={per_s} \
         spilled_transactions={}",
        asm.spilled_transactions()
    );
    eprintln!(
        "{shape}: {pushed} rows ({events} events, {} MB of SQL_REDO) in {secs:.2} s",
        bytes / 1_000_000
    );
    assert_eq!(asm.open_transactions(), 0);
}

#[test]
#[ignore = "benchmark: run by scripts/bench.sh"]
fn oracle_assembler_throughput() {
    let total: u64 = std::env::var("BENCH_ORACLE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    measure("memory", interleaved(total, 20, 4), 256 << 20);
    measure("spill", interleaved(total, total, 1), 1 << 20);
}
