//! The SQL_REDO parser on statements as LogMiner prints them. Sources: the statement shapes of
//! Oracle's LogMiner documentation (`V$LOGMNR_CONTENTS.SQL_REDO` examples: lower-case keywords,
//! quoted `"OWNER"."TABLE"`, where clauses ending in `ROWID = '...'`); Debezium's
//! `LogMinerDmlParserTest` (debezium-connector-oracle, marked "Debezium" below); the value
//! spellings dtle's LogMiner extractor handles (actiontech/dtle: `Inf`, `-Inf`, `Nan`,
//! `EMPTY_CLOB()`, `HEXTORAW`, `TO_DSINTERVAL`, `UNISTR(...) || ...`); the rest written from
//! Oracle's documented literal formats under the pinned NLS settings. Each value is checked
//! through the pipeline's own decoder (`crate::value::decode`) and text output
//! (`crate::value::write_text`), as a format would read it.

use proptest::prelude::*;

use super::*;
use crate::source::oracle::table::{OraColumn, OraType};
use crate::source::oracle::types::pg_column;
use crate::value::{decode, write_text};

fn col(name: &str, ty: OraType) -> OraColumn {
    OraColumn {
        name: name.into(),
        ty,
        nullable: true,
        is_key: false,
    }
}

fn table(owner: &str, name: &str, columns: Vec<OraColumn>) -> OraTable {
    OraTable {
        owner: owner.into(),
        name: name.into(),
        object_id: 74858,
        columns,
    }
}

fn emp() -> OraTable {
    let mut id = col(
        "ID",
        OraType::Number {
            precision: Some(10),
            scale: Some(0),
        },
    );
    id.is_key = true;
    table(
        "HR",
        "EMP",
        vec![
            id,
            col(
                "NAME",
                OraType::Varchar2 {
                    length: 40,
                    chars: true,
                },
            ),
            col("HIRED", OraType::Date),
        ],
    )
}

/// Each cell as its PostgreSQL text form; `NULL` and `?` (unavailable) for the others.
fn render(t: &OraTable, row: &Row) -> Vec<String> {
    assert_eq!(row.cells.len(), t.columns.len());
    t.columns
        .iter()
        .zip(&row.cells)
        .map(|(oc, &cell)| {
            let pc = pg_column(oc);
            let v = decode(&pc, row, cell)
                .unwrap_or_else(|e| panic!("column {}: {e} ({cell:?})", oc.name));
            match v {
                crate::value::Value::Null => "NULL".to_owned(),
                crate::value::Value::Unavailable => "?".to_owned(),
                v => {
                    let mut s = String::new();
                    write_text(&pc.ty, &v, &mut s);
                    s
                }
            }
        })
        .collect()
}

fn parse(t: &OraTable, sql: &str) -> RedoChange {
    RedoParser::new()
        .parse(t, sql)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn after(t: &OraTable, sql: &str) -> Vec<String> {
    render(t, parse(t, sql).after.as_ref().unwrap())
}

fn before(t: &OraTable, sql: &str) -> Vec<String> {
    render(t, parse(t, sql).before.as_ref().unwrap())
}

#[test]
fn insert_gives_the_after_image() {
    let t = emp();
    let sql = r#"insert into "HR"."EMP"("ID","NAME","HIRED") values ('1','Ann',TO_DATE('2024-01-01 23:59:59', 'YYYY-MM-DD HH24:MI:SS'));"#;
    let c = parse(&t, sql);
    assert_eq!(c.op, Op::Insert);
    assert!(c.before.is_none());
    assert_eq!(after(&t, sql), ["1", "Ann", "2024-01-01 23:59:59"]);
    assert!(matches!(c.after.unwrap().cells[1], Cell::Text { .. }));
}

#[test]
fn update_gives_where_as_before_and_where_plus_set_as_after() {
    let t = emp();
    let sql = r#"update "HR"."EMP" set "NAME" = 'Bob' where "ID" = '1' and "NAME" = 'Ann' and "HIRED" = TO_DATE('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and ROWID = 'AAASt5AAEAAAACXAAA';"#;
    let c = parse(&t, sql);
    assert_eq!(c.op, Op::Update);
    assert_eq!(before(&t, sql), ["1", "Ann", "2024-01-01 00:00:00"]);
    assert_eq!(after(&t, sql), ["1", "Bob", "2024-01-01 00:00:00"]);
    // Both images share one buffer.
    assert_eq!(
        c.before.unwrap().buf.as_ptr(),
        c.after.unwrap().buf.as_ptr()
    );
}

#[test]
fn update_with_key_only_logging_leaves_other_columns_unavailable() {
    let t = emp();
    let sql = r#"update "HR"."EMP" set "NAME" = 'Bob' where "ID" = '1' and ROWID = 'AAASt5AAEAAAACXAAA';"#;
    assert_eq!(before(&t, sql), ["1", "?", "?"]);
    assert_eq!(after(&t, sql), ["1", "Bob", "?"]);
}

#[test]
fn update_and_delete_without_where_are_read() {
    // Debezium DBZ-3235: LogMiner may print no where clause.
    let t = emp();
    let sql = r#"update "HR"."EMP" set "ID" = '1', "NAME" = NULL, "HIRED" = TO_DATE('2021-03-17 10:18:55', 'YYYY-MM-DD HH24:MI:SS');"#;
    assert_eq!(before(&t, sql), ["?", "?", "?"]);
    assert_eq!(after(&t, sql), ["1", "NULL", "2021-03-17 10:18:55"]);
    let sql = r#"delete from "HR"."EMP";"#;
    let c = parse(&t, sql);
    assert_eq!(c.op, Op::Delete);
    assert!(c.after.is_none());
    assert_eq!(before(&t, sql), ["?", "?", "?"]);
}

#[test]
fn delete_reads_is_null_and_skips_rowid() {
    let t = emp();
    let sql = r#"delete from "HR"."EMP" where "ID" = '1' and "NAME" IS NULL and "HIRED" IS NULL and ROWID = 'AAASt5AAEAAAACXAAA';"#;
    assert_eq!(before(&t, sql), ["1", "NULL", "NULL"]);
}

#[test]
fn debezium_insert_update_delete_shapes() {
    // Debezium LogMinerDmlParserTest testParsingInsert/Update/Delete (DBZ-3078): TO_TIMESTAMP
    // with an empty fraction, `Unsupported Type`, `= NULL` in a where clause, `IS NULL`.
    let t = table(
        "DEBEZIUM",
        "TEST",
        vec![
            col(
                "ID",
                OraType::Number {
                    precision: None,
                    scale: None,
                },
            ),
            col(
                "NAME",
                OraType::Varchar2 {
                    length: 100,
                    chars: false,
                },
            ),
            col("TS", OraType::Timestamp { fsp: 6 }),
            col("UT", OraType::Other("SDO_GEOMETRY".into())),
            col("DATE", OraType::Date),
            col(
                "C1",
                OraType::Varchar2 {
                    length: 10,
                    chars: false,
                },
            ),
            col(
                "IS",
                OraType::Varchar2 {
                    length: 10,
                    chars: false,
                },
            ),
            col(
                "UNUSED",
                OraType::Varchar2 {
                    length: 10,
                    chars: false,
                },
            ),
        ],
    );
    let sql = r#"insert into "DEBEZIUM"."TEST"("ID","NAME","TS","UT","DATE","C1") values ('1','Acme',TO_TIMESTAMP('2020-02-01 00:00:00.'),Unsupported Type,TO_DATE('2020-02-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS'),NULL);"#;
    assert_eq!(
        after(&t, sql),
        [
            "1",
            "Acme",
            "2020-02-01 00:00:00",
            "?",
            "2020-02-01 00:00:00",
            "NULL",
            "?",
            "?"
        ]
    );
    let sql = r#"update "DEBEZIUM"."TEST" set "NAME" = 'Bob', "TS" = TO_TIMESTAMP('2020-02-02 00:00:00.'), "UT" = Unsupported Type, "C1" = NULL where "ID" = '1' and "NAME" = 'Acme' and "TS" = TO_TIMESTAMP('2020-02-01 00:00:00.') and "UT" = Unsupported Type and "DATE" = TO_DATE('2020-02-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and "C1" = NULL and "IS" IS NULL;"#;
    assert_eq!(
        before(&t, sql),
        [
            "1",
            "Acme",
            "2020-02-01 00:00:00",
            "?",
            "2020-02-01 00:00:00",
            "NULL",
            "NULL",
            "?"
        ]
    );
    assert_eq!(
        after(&t, sql),
        [
            "1",
            "Bob",
            "2020-02-02 00:00:00",
            "?",
            "2020-02-01 00:00:00",
            "NULL",
            "NULL",
            "?"
        ]
    );
    // Debezium testNameWithWhitespaces (DBZ-3258): no semicolon, names with spaces and `#`.
    let t = table(
        "UNKNOWN",
        "OBJ# 74858",
        vec![col(
            "COL 1",
            OraType::Number {
                precision: None,
                scale: None,
            },
        )],
    );
    assert_eq!(
        after(
            &t,
            r#"insert into "UNKNOWN"."OBJ# 74858"("COL 1") values (1)"#
        ),
        ["1"]
    );
}

#[test]
fn quoted_identifiers_and_strings_undouble_their_quotes() {
    let t = table(
        "A\"B",
        "T\"\"",
        vec![
            col(
                "SAY \"HI\"",
                OraType::Varchar2 {
                    length: 40,
                    chars: true,
                },
            ),
            col("N", OraType::NVarchar2 { length: 40 }),
        ],
    );
    let sql = r#"insert into "A""B"."T"""""("SAY ""HI""","N") values ('it''s ''quoted''','naïve — 日本 😀');"#;
    assert_eq!(after(&t, sql), ["it's 'quoted'", "naïve — 日本 😀"]);
    let sql = r#"update "A""B"."T""""" set "N" = '''' where "SAY ""HI""" = 'x''' and "N" = 'a, b = c and d';"#;
    assert_eq!(before(&t, sql), ["x'", "a, b = c and d"]);
    assert_eq!(after(&t, sql), ["x'", "'"]);
}

#[test]
fn an_empty_string_is_null_but_the_word_null_in_quotes_is_text() {
    let t = emp();
    let sql = r#"insert into "HR"."EMP"("ID","NAME") values (2,'');"#;
    let c = parse(&t, sql);
    assert_eq!(c.after.as_ref().unwrap().cells[1], Cell::Null);
    assert_eq!(after(&t, sql), ["2", "NULL", "?"]);
    assert_eq!(
        after(
            &t,
            r#"insert into "HR"."EMP"("ID","NAME") values (2,'NULL');"#
        ),
        ["2", "NULL", "?"]
    );
    let c = parse(
        &t,
        r#"insert into "HR"."EMP"("ID","NAME") values (2,'NULL');"#,
    );
    assert!(matches!(
        c.after.unwrap().cells[1],
        Cell::Text { len: 4, .. }
    ));
}

fn numbers() -> OraTable {
    table(
        "S",
        "N",
        vec![
            col(
                "N",
                OraType::Number {
                    precision: None,
                    scale: None,
                },
            ),
            col(
                "P38",
                OraType::Number {
                    precision: Some(38),
                    scale: Some(0),
                },
            ),
            col(
                "NEG",
                OraType::Number {
                    precision: Some(6),
                    scale: Some(-2),
                },
            ),
            col(
                "F",
                OraType::Float {
                    binary_precision: 126,
                },
            ),
            col("BF", OraType::BinaryFloat),
            col("BD", OraType::BinaryDouble),
        ],
    )
}

#[test]
fn numbers_keep_sign_digits_and_scale() {
    let t = numbers();
    let sql = r#"insert into "S"."N"("N","P38","NEG","F","BF","BD") values ('-123.456','-99999999999999999999999999999999999999','123400',.5,'1.5','-2.25E+300');"#;
    assert_eq!(
        after(&t, sql),
        [
            "-123.456",
            "-99999999999999999999999999999999999999",
            "123400",
            "0.5",
            "1.5",
            "-2.25e+300"
        ]
    );
    let sql = r#"insert into "S"."N"("N","P38","NEG","F","BF","BD") values (1.0E+40,12345678901234567890123456789012345678,-100,-.0001,3.40282347E+038,4.9E-324);"#;
    assert_eq!(
        after(&t, sql),
        [
            "10000000000000000000000000000000000000000",
            "12345678901234567890123456789012345678",
            "-100",
            "-0.0001",
            "3.4028235e+38",
            "5e-324"
        ]
    );
}

#[test]
fn binary_float_specials() {
    let t = numbers();
    let sql = r#"insert into "S"."N"("BF","BD") values (Inf,-Inf);"#;
    assert_eq!(after(&t, sql)[4..], ["Infinity", "-Infinity"]);
    let sql = r#"update "S"."N" set "BF" = Nan where "BD" = Nan;"#;
    assert_eq!(after(&t, sql)[4..], ["NaN", "NaN"]);
    let sql = r#"insert into "S"."N"("BF") values (BINARY_FLOAT_INFINITY);"#;
    assert_eq!(after(&t, sql)[4], "Infinity");
}

fn times() -> OraTable {
    table(
        "S",
        "T",
        vec![
            col("D", OraType::Date),
            col("TS", OraType::Timestamp { fsp: 9 }),
            col("TZ", OraType::TimestampTz { fsp: 9 }),
            col("LTZ", OraType::TimestampLtz { fsp: 6 }),
            col("YM", OraType::IntervalYm { year_precision: 9 }),
            col(
                "DS",
                OraType::IntervalDs {
                    day_precision: 9,
                    fsp: 9,
                },
            ),
        ],
    )
}

#[test]
fn dates_timestamps_and_zones() {
    let t = times();
    let sql = r#"insert into "S"."T"("D","TS","TZ","LTZ") values (TO_DATE('1999-12-31 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),TO_TIMESTAMP('2024-02-29 10:11:12.123456789'),TO_TIMESTAMP_TZ('2024-03-15 10:11:12.500000000 +05:30'),TO_TIMESTAMP_TZ('2024-03-15 00:00:00.000000000 -08:00'));"#;
    assert_eq!(
        after(&t, sql)[..4],
        [
            "1999-12-31 23:59:59",
            "2024-02-29 10:11:12.123457",
            "2024-03-15 04:41:12.5+00",
            "2024-03-15 08:00:00+00"
        ]
    );
    // A LOCAL TIME ZONE value printed without a zone is in the database's zone.
    let sql = r#"insert into "S"."T"("LTZ") values (TO_TIMESTAMP('2024-03-15 02:00:00.000000'));"#;
    let c = RedoParser::new()
        .with_local_time_zone_offset(7200)
        .parse(&t, sql)
        .unwrap();
    assert_eq!(
        render(&t, c.after.as_ref().unwrap())[3],
        "2024-03-15 00:00:00+00"
    );
    // Julian AD 1-01-01 is the proleptic Gregorian 1 BC-12-30 PostgreSQL prints (temporal).
    let sql = r#"insert into "S"."T"("D") values (TO_DATE('0001-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS'));"#;
    assert_eq!(after(&t, sql)[0], "0001-12-30 00:00:00 BC");
    let sql = r#"insert into "S"."T"("D") values (TO_DATE('9999-12-31 23:59:59', 'YYYY-MM-DD HH24:MI:SS'));"#;
    assert_eq!(after(&t, sql)[0], "9999-12-31 23:59:59");
}

#[test]
fn bc_and_julian_dates_keep_the_day_they_name() {
    // Under `SYYYY` a BC year is signed and an AD year has a blank for its sign. Julian
    // 1000-01-01 is Gregorian 1000-01-06, Julian 44 BC-03-15 Gregorian 44 BC-03-13; Oracle's
    // first day, 4712 BC January 1 (Julian), is JDN 366: Gregorian 4713 BC-11-24 (JDN 0 is
    // Gregorian 4714 BC-11-24, and 4713 BC's February is a leap one).
    let t = times();
    let sql = r#"insert into "S"."T"("D","TS") values (TO_DATE(' 1000-01-01 10:00:00', 'SYYYY-MM-DD HH24:MI:SS'),TO_TIMESTAMP('-0044-03-15 12:00:00.000000000'));"#;
    assert_eq!(
        after(&t, sql)[..2],
        ["1000-01-06 10:00:00", "0044-03-13 12:00:00 BC"]
    );
    let sql = r#"insert into "S"."T"("D") values (TO_DATE('-4712-01-01 00:00:00', 'SYYYY-MM-DD HH24:MI:SS'));"#;
    assert_eq!(after(&t, sql)[0], "4713-11-24 00:00:00 BC");
    let e = err(
        &t,
        r#"insert into "S"."T"("D") values (TO_DATE('1582-10-10 00:00:00', 'SYYYY-MM-DD HH24:MI:SS'));"#,
    );
    assert!(e.to_string().contains("pinned NLS format"), "{e}");
}

#[test]
fn intervals_in_both_syntaxes() {
    let t = times();
    let sql = r#"insert into "S"."T"("YM","DS") values (TO_YMINTERVAL('+02-03'),TO_DSINTERVAL('+01 02:03:04.500000'));"#;
    assert_eq!(after(&t, sql)[4..], ["2 years 3 mons", "1 day 02:03:04.5"]);
    let sql = r#"insert into "S"."T"("YM","DS") values (INTERVAL '2-3' YEAR(2) TO MONTH,INTERVAL '1 2:3:4.5' DAY(2) TO SECOND(6));"#;
    assert_eq!(after(&t, sql)[4..], ["2 years 3 mons", "1 day 02:03:04.5"]);
    let sql = r#"update "S"."T" set "YM" = interval '-1-11' year to month where "DS" = INTERVAL '-0 0:0:0.000001' DAY TO SECOND;"#;
    assert_eq!(
        after(&t, sql)[4..],
        ["-1 years -11 mons", "-00:00:00.000001"]
    );
    // The qualifier must match the column's type.
    for bad in [
        r#"insert into "S"."T"("YM") values (INTERVAL '1 2:3:4' DAY TO SECOND);"#,
        r#"insert into "S"."T"("YM") values (INTERVAL '2' YEAR);"#,
        r#"insert into "S"."T"("DS") values (INTERVAL '1 2:3:4' DAY(2) TO MINUTE);"#,
    ] {
        err(&t, bad);
    }
}

#[test]
fn xmltype_values_inline_are_their_text() {
    let t = table("S", "X", vec![col("DOC", OraType::XmlType)]);
    let sql = r#"insert into "S"."X"("DOC") values (XMLType('<a x=''1''/>'));"#;
    assert_eq!(after(&t, sql), ["<a x='1'/>"]);
    let sql = r#"insert into "S"."X"("DOC") values ('<b/>');"#;
    assert_eq!(after(&t, sql), ["<b/>"]);
}

#[test]
fn intervals_in_postgres_text_form() {
    let t = times();
    let sql = r#"insert into "S"."T"("YM","DS") values (TO_YMINTERVAL('+000000001-02'),TO_DSINTERVAL('+000000001 02:03:04.500000000'));"#;
    assert_eq!(after(&t, sql)[4..], ["1 year 2 mons", "1 day 02:03:04.5"]);
    let sql = r#"insert into "S"."T"("YM","DS") values (TO_YMINTERVAL('-000000000-01'),TO_DSINTERVAL('-000000000 00:00:00.000001000'));"#;
    assert_eq!(after(&t, sql)[4..], ["-1 mons", "-00:00:00.000001"]);
}

#[test]
fn lobs_raws_and_unistr() {
    let t = table(
        "S",
        "L",
        vec![
            col("C", OraType::Clob),
            col("B", OraType::Blob),
            col("R", OraType::Raw { length: 16 }),
            col("NC", OraType::NClob),
            col("NV", OraType::NVarchar2 { length: 50 }),
        ],
    );
    let sql = r#"insert into "S"."L"("C","B","R","NV") values (EMPTY_CLOB(),EMPTY_BLOB(),HEXTORAW('DEADbeef00'),UNISTR('caf\00E9 ')||'and '||UNISTR('\D83D\DE00'));"#;
    let c = parse(&t, sql);
    assert_eq!(
        after(&t, sql),
        ["", "\\x", "\\xdeadbeef00", "?", "café and 😀"]
    );
    let cells = &c.after.as_ref().unwrap().cells;
    assert!(
        matches!(cells[0], Cell::Text { len: 0, .. }),
        "EMPTY_CLOB() is not NULL"
    );
    assert!(matches!(cells[2], Cell::Binary { len: 5, .. }));
    // Debezium DBZ-3367: parentheses inside a UNISTR argument.
    let sql = r#"update "S"."L" set "NV" = UNISTR('\963F\72F8\5C0F\706B\8F66\5BB6\5EAD\7968(\60CA\559C\FF09\FF082161\FF09') where "NV" IS NULL;"#;
    assert_eq!(after(&t, sql)[4], "阿狸小火车家庭票(惊喜）（2161）");
}

#[test]
fn keywords_and_whitespace_are_loose() {
    let t = emp();
    let sql = "INSERT INTO \"HR\".\"EMP\" (\"ID\" , \"NAME\")\n VALUES\n( 7 , 'x' ) ;  ";
    assert_eq!(after(&t, sql), ["7", "x", "?"]);
    let sql = "Update \"HR\".\"EMP\" SET \"NAME\"='y' WHERE \"ID\"=7 AND \"NAME\" is null";
    assert_eq!(before(&t, sql), ["7", "NULL", "?"]);
}

fn err(t: &OraTable, sql: &str) -> RedoError {
    RedoParser::new().parse(t, sql).expect_err(sql)
}

#[test]
fn errors_name_the_table_the_problem_and_the_sql() {
    let t = emp();
    let e = err(
        &t,
        r#"insert into "HR"."EMP"("ID","SALARY") values ('1','2');"#,
    );
    assert_eq!(e.problem, Problem::UnknownColumn("SALARY".into()));
    let msg = e.to_string();
    assert!(
        msg.starts_with("SQL_REDO of HR.EMP: no column \"SALARY\""),
        "{msg}"
    );
    assert!(msg.contains(r#""SALARY") values"#), "{msg}");
    let e = err(&t, r#"insert into "HR"."DEPT"("ID") values (1);"#);
    assert_eq!(e.problem, Problem::OtherTable("HR.DEPT".into()));
    let e = err(&t, "insert into \"HR\".\"EMP\"(\"ID\")\nvalues ('x1');");
    assert!(
        matches!(&e.problem, Problem::BadValue { column, reason: "not a number", .. } if column == "ID"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    let e = err(&t, r#"insert into "HR"."EMP"("ID","NAME") values (1);"#);
    assert_eq!(
        e.problem,
        Problem::ValueCount {
            columns: 2,
            values: 1
        }
    );
    let e = err(&t, r#"insert into "HR"."EMP"("ID") values (1,2);"#);
    assert_eq!(
        e.problem,
        Problem::ValueCount {
            columns: 1,
            values: 2
        }
    );
    assert_eq!(err(&t, "commit;").problem, Problem::NotDml);
    let e = err(
        &t,
        r#"update "HR"."EMP" set "HIRED" = TO_DATE('15-MAR-24', 'DD-MON-RR');"#,
    );
    assert!(e.to_string().contains("pinned NLS format"), "{e}");
    let sql = r#"update "HR"."EMP" set "NAME" = LOWER ('X');"#;
    let e = err(&t, sql);
    assert_eq!(e.problem, Problem::UnsupportedFunction("LOWER".into()));
    assert_eq!(e.at, sql.find("LOWER").unwrap());
    let e = err(&t, r#"delete from "HR"."EMP" where "ID" = 1 or "ID" = 2;"#);
    assert_eq!(e.problem, Problem::Expected("the end of the statement"));
    let long = format!(
        r#"update "HR"."EMP" set "NAME" = '{}' where "ID" = x;"#,
        "é".repeat(500)
    );
    let e = err(&t, &long);
    assert!(e.excerpt.chars().count() < 110, "{}", e.excerpt);
}

#[test]
fn the_parser_is_reusable_after_an_error() {
    let t = emp();
    let mut p = RedoParser::new();
    assert!(p
        .parse(&t, r#"insert into "HR"."EMP"("ID","NAME") values (1,'a'"#)
        .is_err());
    let c = p
        .parse(&t, r#"insert into "HR"."EMP"("ID","NAME") values (1,'a');"#)
        .unwrap();
    assert_eq!(render(&t, c.after.as_ref().unwrap()), ["1", "a", "?"]);
    assert_eq!(c.after.unwrap().buf.len(), 2);
}

fn all_types() -> OraTable {
    let mut cols = numbers().columns;
    cols.extend(times().columns);
    cols.push(col(
        "V",
        OraType::Varchar2 {
            length: 10,
            chars: false,
        },
    ));
    cols.push(col("R", OraType::Raw { length: 10 }));
    table("S", "A", cols)
}

const VALID: &[&str] = &[
    r#"insert into "S"."A"("N","BF","D","TZ","YM","DS","V","R") values ('-1.5',Inf,TO_DATE('2024-01-01 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),TO_TIMESTAMP_TZ('2024-03-15 10:11:12.5 +05:30'),TO_YMINTERVAL('+01-02'),TO_DSINTERVAL('+01 02:03:04.5'),UNISTR('\00E9')||'x''y',HEXTORAW('ab'));"#,
    r#"update "S"."A" set "V" = 'a', "N" = NULL where "N" = 1 and "V" IS NULL and ROWID = 'AAAS';"#,
    r#"delete from "S"."A" where "N" = '1' and "TS" = TO_TIMESTAMP('2020-02-01 00:00:00.') and ROWID = 'AAAS';"#,
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        let _ = RedoParser::new().parse(&all_types(), &s);
        let _ = RedoParser::new().parse_locator(&all_types(), &s);
        let _ = lob_buffer(&s, false);
        let _ = lob_buffer(&s, true);
    }

    #[test]
    fn sql_like_text_never_panics(s in "(insert into|update|delete from|\"S\"|\\.|\"A\"|\\(|\\)|\"N\"|\"V\"|\"D\"|\"R\"|\"TZ\"|\"DS\"|,|values|set|where|and| = |IS NULL|'[a-z0-9 .:+\\\\-]{0,12}'|''|NULL|[0-9.eE+-]{1,6}|TO_DATE|TO_TIMESTAMP_TZ|TO_DSINTERVAL|UNISTR|HEXTORAW|\\|\\||Inf|ROWID|;| |select|into|loc_c|from|for update|XMLType\\(:1\\)|a\\.)*") {
        let _ = RedoParser::new().parse(&all_types(), &s);
        let _ = RedoParser::new().parse_locator(&all_types(), &s);
    }

    #[test]
    fn cut_or_spliced_statements_never_panic(i in 0usize..3, cut in 0usize..400, ins in "\\PC{0,3}") {
        let sql = VALID[i];
        let mut at = cut.min(sql.len());
        while !sql.is_char_boundary(at) { at -= 1; }
        let _ = RedoParser::new().parse(&all_types(), &sql[..at]);
        let spliced = format!("{}{}{}", &sql[..at], ins, &sql[at..]);
        let _ = RedoParser::new().parse(&all_types(), &spliced);
    }
}

#[test]
fn the_property_test_statements_are_valid() {
    let t = all_types();
    for sql in VALID {
        parse(&t, sql);
    }
}
