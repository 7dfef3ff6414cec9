//! SQL_REDO parser throughput on one core: a mix of recorded-shape LogMiner rows (INSERTs,
//! UPDATEs with an ALL COLUMNS before image, DELETEs) of a 12-column table with the common
//! Oracle types, parsed repeatedly by one `RedoParser` into typed row images. Prints rows/s;
//! the goal is the parser never being the bottleneck (issue 9: above 200k rows/s). Run by
//! `scripts/bench.sh` (release build):
//! `cargo test --release --test oracle_redo_bench -- --ignored --nocapture`.

use std::time::Instant;

use tributary::source::oracle::redo::RedoParser;
use tributary::source::oracle::table::{OraColumn, OraTable, OraType};

fn col(name: &str, ty: OraType, is_key: bool) -> OraColumn {
    OraColumn {
        name: name.into(),
        ty,
        nullable: !is_key,
        is_key,
    }
}

fn orders() -> OraTable {
    let num = |p, s| OraType::Number {
        precision: Some(p),
        scale: Some(s),
    };
    let vc = |n| OraType::Varchar2 {
        length: n,
        chars: false,
    };
    OraTable {
        owner: "SHOP".into(),
        name: "ORDERS".into(),
        object_id: 73_456,
        columns: vec![
            col("ID", num(12, 0), true),
            col("CUSTOMER_ID", num(10, 0), false),
            col("STATUS", vc(16), false),
            col("AMOUNT", num(12, 2), false),
            col(
                "CURRENCY",
                OraType::Char {
                    length: 3,
                    chars: false,
                },
                false,
            ),
            col("NOTE", vc(400), false),
            col("CREATED", OraType::Date, false),
            col("UPDATED", OraType::Timestamp { fsp: 6 }, false),
            col("SHIPPED", OraType::TimestampTz { fsp: 6 }, false),
            col("WEIGHT", OraType::BinaryDouble, false),
            col("TOKEN", OraType::Raw { length: 16 }, false),
            col("NAME_NLS", OraType::NVarchar2 { length: 100 }, false),
        ],
    }
}

/// The rows as LogMiner prints them under the pinned NLS formats, one of each shape per order.
fn rows(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n * 3);
    for i in 0..n {
        let id = 1_000_000 + i;
        let ins = format!(
            r#"insert into "SHOP"."ORDERS"("ID","CUSTOMER_ID","STATUS","AMOUNT","CURRENCY","NOTE","CREATED","UPDATED","SHIPPED","WEIGHT","TOKEN","NAME_NLS") values ('{id}','{c}','NEW','{a}.{f:02}','EUR','leave at the door, it''s fine',TO_DATE('2024-01-15 08:30:00', 'YYYY-MM-DD HH24:MI:SS'),TO_TIMESTAMP('2024-01-15 08:30:00.123456'),NULL,'1.25E+000',HEXTORAW('00112233445566778899aabbccddeeff'),UNISTR('M\00FCller'));"#,
            c = i % 9973,
            a = i % 5000,
            f = i % 100,
        );
        let upd = format!(
            r#"update "SHOP"."ORDERS" set "STATUS" = 'PAID', "UPDATED" = TO_TIMESTAMP('2024-01-15 08:31:00.654321') where "ID" = '{id}' and "CUSTOMER_ID" = '{c}' and "STATUS" = 'NEW' and "AMOUNT" = '{a}.{f:02}' and "CURRENCY" = 'EUR' and "NOTE" = 'leave at the door, it''s fine' and "CREATED" = TO_DATE('2024-01-15 08:30:00', 'YYYY-MM-DD HH24:MI:SS') and "UPDATED" = TO_TIMESTAMP('2024-01-15 08:30:00.123456') and "SHIPPED" IS NULL and "WEIGHT" = '1.25E+000' and "TOKEN" = HEXTORAW('00112233445566778899aabbccddeeff') and "NAME_NLS" = UNISTR('M\00FCller') and ROWID = 'AAAR3sAAEAAAACXAAA';"#,
            c = i % 9973,
            a = i % 5000,
            f = i % 100,
        );
        let del = format!(
            r#"delete from "SHOP"."ORDERS" where "ID" = '{id}' and "CUSTOMER_ID" = '{c}' and "STATUS" = 'PAID' and "AMOUNT" = '{a}.{f:02}' and "CURRENCY" = 'EUR' and "NOTE" IS NULL and "CREATED" = TO_DATE('2024-01-15 08:30:00', 'YYYY-MM-DD HH24:MI:SS') and "UPDATED" = TO_TIMESTAMP('2024-01-15 08:31:00.654321') and "SHIPPED" = TO_TIMESTAMP_TZ('2024-01-16 09:00:00.000000 +01:00') and "WEIGHT" = '1.25E+000' and "TOKEN" = HEXTORAW('00112233445566778899aabbccddeeff') and "NAME_NLS" = UNISTR('M\00FCller') and ROWID = 'AAAR3sAAEAAAACXAAA';"#,
            c = i % 9973,
            a = i % 5000,
            f = i % 100,
        );
        out.extend([ins, upd, del]);
    }
    out
}

#[test]
#[ignore = "benchmark: run by scripts/bench.sh"]
fn sql_redo_parser_throughput() {
    let table = orders();
    let rows = rows(1_000);
    let rounds: usize = std::env::var("BENCH_REDO_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut parser = RedoParser::new();
    // Every row parses, and a warm-up round.
    let mut cells = 0usize;
    for sql in &rows {
        let c = parser.parse(&table, sql).unwrap_or_else(|e| panic!("{e}"));
        cells += c.after.map_or(0, |r| r.cells.len()) + c.before.map_or(0, |r| r.cells.len());
    }
    assert!(cells > 0);
    let bytes: usize = rows.iter().map(String::len).sum();
    let start = Instant::now();
    let mut n = 0u64;
    for _ in 0..rounds {
        for sql in &rows {
            let c = parser.parse(&table, sql).expect("parsed once already");
            std::hint::black_box(&c);
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    let mb = (bytes * rounds) as f64 / secs / 1e6;
    println!(
        "oracle_redo_parser rows={n} secs={secs:.3} rows_per_sec={rate:.0} sql_mb_per_sec={mb:.1} (1/3 each INSERT, UPDATE with full before image, DELETE; 12 columns)"
    );
}
