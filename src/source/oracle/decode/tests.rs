//! The decoder on LogMiner rows of whole transactions: LOB and XMLType assembly, LONG and
//! UNSUPPORTED errors. Row shapes: SELECT_LOB_LOCATOR as in Debezium's `SelectLobParserTest`
//! (DBZ-2948), LOB_WRITE as Debezium's `LobWriteParser` reads it (`buf_c := '...';
//! dbms_lob.write(loc_c, <amount>, <1-based offset>, buf_c);`, BLOB `buf_b := HEXTORAW(...)`),
//! XML DOC BEGIN/WRITE as in Debezium's `XmlBeginParserTest` (DBZ-3605) / `XmlWriteParserTest`
//! and Oracle's Database Utilities ("Querying V$LOGMNR_CONTENTS Based on XMLType Columns and
//! Tables"); `dbms_lob.trim`/`erase` written from `DBMS_LOB`'s signatures (no public SQL_REDO
//! example found).

use proptest::prelude::*;

use super::*;
use crate::position::Xid;
use crate::source::oracle::table::OraColumn;
use crate::source::oracle::types::pg_column;
use crate::value::{decode, write_text, Value};

fn col(name: &str, ty: OraType, is_key: bool) -> OraColumn {
    OraColumn {
        name: name.into(),
        ty,
        nullable: !is_key,
        is_key,
    }
}

fn number() -> OraType {
    OraType::Number {
        precision: Some(10),
        scale: Some(0),
    }
}

/// `HR.DOCS(ID NUMBER PRIMARY KEY, NAME VARCHAR2(20), DOC CLOB, PIC BLOB)`.
fn docs() -> OraTable {
    OraTable {
        owner: "HR".into(),
        name: "DOCS".into(),
        object_id: 7,
        columns: vec![
            col("ID", number(), true),
            col(
                "NAME",
                OraType::Varchar2 {
                    length: 20,
                    chars: false,
                },
                false,
            ),
            col("DOC", OraType::Clob, false),
            col("PIC", OraType::Blob, false),
        ],
    }
}

fn longs() -> OraTable {
    OraTable {
        owner: "HR".into(),
        name: "NOTES".into(),
        object_id: 8,
        columns: vec![col("ID", number(), true), col("TXT", OraType::Long, false)],
    }
}

fn long_raws() -> OraTable {
    OraTable {
        owner: "HR".into(),
        name: "BINS".into(),
        object_id: 11,
        columns: vec![
            col("ID", number(), true),
            col("BIN", OraType::LongRaw, false),
        ],
    }
}

fn xmls() -> OraTable {
    OraTable {
        owner: "HR".into(),
        name: "XT".into(),
        object_id: 9,
        columns: vec![
            col("ID", number(), true),
            col("DATA", OraType::XmlType, false),
        ],
    }
}

fn plain() -> OraTable {
    OraTable {
        owner: "HR".into(),
        name: "PLAIN".into(),
        object_id: 10,
        columns: vec![col("ID", number(), true)],
    }
}

fn pos(index: u32) -> StreamPosition {
    StreamPosition::Oracle {
        commit_scn: Scn(500),
        redo: 1,
        xid: Xid(3),
        index,
    }
}

/// A row of operation `code` with `sql` (and `row_id`, when given).
fn row(code: i32, sql: &str, row_id: Option<&str>) -> LogMinerRow {
    LogMinerRow {
        scn: Scn(400),
        operation_code: code,
        sql_redo: Some(sql.into()),
        row_id: row_id.map(Into::into),
        ..LogMinerRow::default()
    }
}

const LOCATOR_HEAD: &str = "DECLARE \n loc_c CLOB; \n buf_c VARCHAR2(6174); \n loc_b BLOB; \n buf_b RAW(6174); \n loc_nc NCLOB; \n buf_nc NVARCHAR2(6174); \nBEGIN\n";

fn locator(column: &str, loc: &str, id: u32) -> String {
    format!(
        "{LOCATOR_HEAD} select \"{column}\" into {loc} from \"HR\".\"DOCS\" where \"ID\" = '{id}' and \"NAME\" = 'n{id}' for update;"
    )
}

fn clob_write(text: &str, amount: usize, offset: usize) -> String {
    format!(" buf_c := '{text}'; \n  dbms_lob.write(loc_c, {amount}, {offset}, buf_c);")
}

fn blob_write(hex: &str, offset: usize) -> String {
    let n = hex.len() / 2;
    format!(" buf_b := HEXTORAW('{hex}'); \n  dbms_lob.write(loc_b, {n}, {offset}, buf_b);")
}

fn insert(id: u32) -> String {
    format!(
        r#"insert into "HR"."DOCS"("ID","NAME","DOC","PIC") values ('{id}','n{id}',EMPTY_CLOB(),EMPTY_BLOB());"#
    )
}

/// Runs one transaction's rows through a decoder (each row's table is `t`) and returns what
/// it gives out, or the first error.
fn run(t: &OraTable, rows: Vec<LogMinerRow>) -> Result<Vec<Decoded>, DecodeError> {
    let mut d = Decoder::new(0);
    let mut out = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let event = Event {
            position: pos(i as u32),
            row,
        };
        d.push(Some(t), event, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// A change's position, op, and new image as PostgreSQL text (`?` unavailable).
fn show(t: &OraTable, d: &Decoded) -> (u32, Op, Vec<String>) {
    let Decoded::Change {
        position, change, ..
    } = d
    else {
        panic!("not a change: {d:?}");
    };
    let row = change.after.as_ref().expect("an after image");
    let cells = t
        .columns
        .iter()
        .zip(&row.cells)
        .map(|(oc, &cell)| {
            let pc = pg_column(oc);
            match decode(&pc, row, cell).unwrap() {
                Value::Null => "NULL".to_owned(),
                Value::Unavailable => "?".to_owned(),
                v => {
                    let mut s = String::new();
                    write_text(&pc.ty, &v, &mut s);
                    s
                }
            }
        })
        .collect();
    (position.index(), change.op, cells)
}

fn shown(t: &OraTable, out: &[Decoded]) -> Vec<(u32, Op, Vec<String>)> {
    out.iter().map(|d| show(t, d)).collect()
}

fn cells(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn interleaved_lob_writes_land_in_their_own_rows() {
    // Two rows inserted, then their LOBs written in turns; each change keeps its position.
    let t = docs();
    let (r1, r2) = (Some("AAAR1"), Some("AAAR2"));
    let rows = vec![
        row(op::INSERT, &insert(1), r1),
        row(op::INSERT, &insert(2), r2),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r1),
        row(op::LOB_WRITE, &clob_write("Hello ", 6, 1), r1),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 2), r2),
        row(op::LOB_WRITE, &clob_write("second", 6, 1), r2),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r1),
        row(op::LOB_WRITE, &clob_write("it''s me", 8, 7), r1),
        row(op::SELECT_LOB_LOCATOR, &locator("PIC", "loc_b", 2), r2),
        row(op::LOB_WRITE, &blob_write("CAFE", 1), r2),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(
        shown(&t, &out),
        [
            (0, Op::Insert, cells(&["1", "n1", "Hello it's me", "\\x"])),
            (1, Op::Insert, cells(&["2", "n2", "second", "\\xcafe"])),
        ]
    );
}

#[test]
fn clob_offsets_count_characters_not_bytes() {
    let t = docs();
    let r = Some("AAAR1");
    let rows = vec![
        row(op::INSERT, &insert(1), r),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r),
        row(op::LOB_WRITE, &clob_write("añb€x", 5, 1), r),
        // Character 3 is `b`, at byte 4 of the UTF-8.
        row(op::LOB_WRITE, &clob_write("ÜÜ", 2, 3), r),
        // Past the end: the gap is filled with spaces.
        row(op::LOB_WRITE, &clob_write("中", 1, 8), r),
        // NCLOB-style buffer: UNISTR.
        row(
            op::LOB_WRITE,
            "buf_c := UNISTR('\\00E9'); dbms_lob.write(loc_c, 1, 6, buf_c);",
            r,
        ),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(shown(&t, &out)[0].2[2], "añÜÜxé 中");
}

#[test]
fn blob_writes_trim_and_erase() {
    let t = docs();
    let r = Some("AAAR1");
    let rows = vec![
        row(op::INSERT, &insert(1), r),
        row(op::SELECT_LOB_LOCATOR, &locator("PIC", "loc_b", 1), r),
        row(op::LOB_WRITE, &blob_write("0001FF02", 1), r),
        // Offset 6 leaves byte 5 a zero filler.
        row(op::LOB_WRITE, &blob_write("ab", 6), r),
        row(op::LOB_TRIM, "dbms_lob.trim(loc_b, 5);", r),
        row(op::LOB_ERASE, "dbms_lob.erase(loc_b, 1, 2);", r),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r),
        row(op::LOB_WRITE, &clob_write("abcdef", 6, 1), r),
        row(op::LOB_TRIM, "dbms_lob.trim(loc_c, 3);", r),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(shown(&t, &out)[0].2[2..], ["abc", "\\x0000ff0200"]);
}

#[test]
fn a_lob_the_redo_does_not_write_stays_unavailable() {
    let t = docs();
    let r = Some("AAAR1");
    let update = r#"update "HR"."DOCS" set "NAME" = 'x' where "ID" = '1' and "NAME" = 'n1' and ROWID = 'AAAR1';"#;
    let rows = vec![
        row(op::UPDATE, update, r),
        // A locator alone writes nothing.
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(
        shown(&t, &out),
        [(0, Op::Update, cells(&["1", "x", "?", "?"]))]
    );
    // An inserted EMPTY_CLOB() with no writes is empty, not unavailable.
    let out = run(&t, vec![row(op::INSERT, &insert(1), r)]).unwrap();
    assert_eq!(shown(&t, &out)[0].2[2..], ["", "\\x"]);
}

#[test]
fn a_locator_without_its_change_is_an_update_of_its_own() {
    // The locator's row was not changed in this transaction (a `dbms_lob.write` of a selected
    // locator): an UPDATE at the locator's position, the key and the LOB only. Writes before
    // any locator (it was skipped on a resume) are dropped.
    let t = docs();
    let rows = vec![
        row(op::LOB_WRITE, &clob_write("lost", 4, 1), Some("AAAR9")),
        row(op::INSERT, &insert(2), Some("AAAR2")),
        row(
            op::SELECT_LOB_LOCATOR,
            &locator("DOC", "loc_c", 1),
            Some("AAAR1"),
        ),
        row(op::LOB_WRITE, &clob_write("new", 3, 1), Some("AAAR1")),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(
        shown(&t, &out),
        [
            (1, Op::Insert, cells(&["2", "n2", "", "\\x"])),
            (2, Op::Update, cells(&["1", "?", "new", "?"])),
        ]
    );
}

#[test]
fn writes_of_another_table_do_not_touch_the_open_lob() {
    // A LOB_WRITE of another table whose locator was skipped is dropped, not written into the
    // LOB open for this one.
    let (t, x) = (docs(), xmls());
    let mut d = Decoder::new(0);
    let mut out = Vec::new();
    let rows = [
        (&t, row(op::INSERT, &insert(1), Some("AAAR1"))),
        (
            &t,
            row(
                op::SELECT_LOB_LOCATOR,
                &locator("DOC", "loc_c", 1),
                Some("AAAR1"),
            ),
        ),
        (
            &x,
            row(op::LOB_WRITE, &clob_write("other", 5, 1), Some("AAAX1")),
        ),
        (
            &t,
            row(op::LOB_WRITE, &clob_write("mine", 4, 1), Some("AAAR1")),
        ),
    ];
    for (i, (table, r)) in rows.into_iter().enumerate() {
        let event = Event {
            position: pos(i as u32),
            row: r,
        };
        d.push(Some(table), event, &mut out).unwrap();
    }
    d.finish(&mut out).unwrap();
    assert_eq!(shown(&t, &out)[0].2[2], "mine");
}

#[test]
fn without_row_ids_the_locator_matches_by_key() {
    let t = docs();
    let rows = vec![
        row(op::INSERT, &insert(1), None),
        row(op::INSERT, &insert(2), None),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), None),
        row(op::LOB_WRITE, &clob_write("one", 3, 1), None),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(shown(&t, &out)[0].2[2], "one");
    assert_eq!(shown(&t, &out)[1].2[2], "");
}

#[test]
fn held_changes_go_out_before_a_change_of_another_table_and_in_order() {
    let (t, p) = (docs(), plain());
    let mut d = Decoder::new(0);
    let mut out = Vec::new();
    let ev = |i, r| Event {
        position: pos(i),
        row: r,
    };
    d.push(Some(&t), ev(0, row(op::INSERT, &insert(1), None)), &mut out)
        .unwrap();
    assert!(out.is_empty(), "held for its LOB rows");
    let other = r#"insert into "HR"."PLAIN"("ID") values ('5');"#;
    d.push(Some(&p), ev(1, row(op::INSERT, other, None)), &mut out)
        .unwrap();
    d.finish(&mut out).unwrap();
    let idx: Vec<u32> = out.iter().map(show_pos).collect();
    assert_eq!(idx, [0, 1]);
}

fn show_pos(d: &Decoded) -> u32 {
    match d {
        Decoded::Change { position, .. } | Decoded::Ddl { position, .. } => position.index(),
    }
}

#[test]
fn long_values_insert_but_an_update_of_a_long_fails() {
    let t = longs();
    let ins = r#"insert into "HR"."NOTES"("ID","TXT") values ('1','a long text');"#;
    let out = run(&t, vec![row(op::INSERT, ins, None)]).unwrap();
    assert_eq!(shown(&t, &out)[0].2, ["1", "a long text"]);
    // An update of another column of the table is fine.
    let upd = r#"update "HR"."NOTES" set "ID" = '2' where "ID" = '1';"#;
    run(&t, vec![row(op::UPDATE, upd, None)]).unwrap();
    let upd = r#"update "HR"."NOTES" set "TXT" = 'b' where "ID" = '1';"#;
    let e = run(&t, vec![row(op::UPDATE, upd, None)]).unwrap_err();
    assert!(matches!(e, DecodeError::LongUpdate { ref column, .. } if column == "TXT"));
    let msg = e.to_string();
    for part in [
        "at 500:0.0.3:0",
        "HR.NOTES",
        "TXT",
        "LONG updates cannot be captured by LogMiner-based migration",
        "ALTER TABLE HR.NOTES MODIFY (TXT CLOB)",
        "exclude the table",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert!(!msg.contains('\n'));
    // LogMiner may show the update as UNSUPPORTED.
    let mut r = row(op::UPDATE, "Unsupported", None);
    r.operation_code = op::UNSUPPORTED;
    r.sql_redo = None;
    let e = run(&t, vec![r]).unwrap_err();
    assert!(matches!(e, DecodeError::LongUpdate { .. }), "{e}");
    // LONG RAW likewise: bytes on insert, an error on update.
    let t = long_raws();
    let ins = r#"insert into "HR"."BINS"("ID","BIN") values ('1',HEXTORAW('0a0b'));"#;
    let out = run(&t, vec![row(op::INSERT, ins, None)]).unwrap();
    assert_eq!(shown(&t, &out)[0].2, ["1", "\\x0a0b"]);
    let upd = r#"update "HR"."BINS" set "BIN" = HEXTORAW('ff') where "ID" = '1';"#;
    let e = run(&t, vec![row(op::UPDATE, upd, None)]).unwrap_err();
    assert!(
        e.to_string().contains("HR.BINS sets its LONG column BIN"),
        "{e}"
    );
}

#[test]
fn unsupported_rows_of_captured_tables_fail_with_logminer_info() {
    let t = docs();
    let mut r = row(op::UNSUPPORTED, "Unsupported", Some("AAAR1"));
    r.info = Some("Unsupported Type".into());
    let e = run(&t, vec![r.clone()]).unwrap_err();
    let msg = e.to_string();
    for part in [
        "at 500:0.0.3:0 (SCN 400)",
        "HR.DOCS",
        "UNSUPPORTED: Unsupported Type",
        "ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS",
        "exclude the table",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    // Of a table the task does not capture: nothing.
    let mut d = Decoder::new(0);
    let mut out = Vec::new();
    let ev = Event {
        position: pos(0),
        row: r,
    };
    d.push(None, ev, &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn xml_documents_are_assembled_from_their_rows() {
    let t = xmls();
    let ins = r#"insert into "HR"."XT"("ID") values ('1');"#;
    // Debezium's XML DOC BEGIN form, then a quoted piece and a hex piece.
    let begin = r#"XML DOC BEGIN:  select "DATA" from "HR"."XT" where "ID" = '1'"#;
    let rows = vec![
        row(op::INSERT, ins, Some("AAAX1")),
        row(op::XML_DOC_BEGIN, begin, Some("AAAX1")),
        row(
            op::XML_DOC_WRITE,
            "XML_REDO := '<a>it''s ':9",
            Some("AAAX1"),
        ),
        row(
            op::XML_DOC_WRITE,
            "XML_REDO := HEXTORAW('c3843c2f613e'):6",
            Some("AAAX1"),
        ),
        row(op::XML_DOC_END, "", Some("AAAX1")),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(
        shown(&t, &out),
        [(0, Op::Insert, cells(&["1", "<a>it's Ä</a>"]))]
    );
    // Oracle's documented form: an update with XMLType(:1) and the data as the whole row.
    let begin = r#"update "HR"."XT" a set a."DATA" = XMLType(:1) where a."ID" = '1'"#;
    let rows = vec![
        row(op::INSERT, ins, None),
        row(op::XML_DOC_BEGIN, begin, None),
        row(op::XML_DOC_WRITE, "<b>", None),
        row(op::XML_DOC_WRITE, "</b>", None),
        row(op::XML_DOC_END, "", None),
    ];
    let out = run(&t, rows).unwrap();
    assert_eq!(shown(&t, &out)[0].2, ["1", "<b></b>"]);
    // XML_REDO := NULL: the document is NULL.
    let rows = vec![
        row(op::INSERT, ins, None),
        row(op::XML_DOC_BEGIN, begin, None),
        row(op::XML_DOC_WRITE, "XML_REDO := NULL", None),
    ];
    assert_eq!(shown(&t, &run(&t, rows).unwrap())[0].2, ["1", "NULL"]);
}

#[test]
fn bad_lob_rows_fail_with_the_table_and_position() {
    let t = docs();
    let r = Some("AAAR1");
    let rows = vec![
        row(op::INSERT, &insert(1), r),
        row(op::SELECT_LOB_LOCATOR, &locator("DOC", "loc_c", 1), r),
        row(
            op::LOB_WRITE,
            "buf_c := LOWER('x'); dbms_lob.write(loc_c, 1, 1, buf_c);",
            r,
        ),
    ];
    let e = run(&t, rows).unwrap_err();
    assert!(matches!(e, DecodeError::Lob { .. }), "{e}");
    assert!(e.to_string().contains("at 500:0.0.3:2"), "{e}");
    let rows = vec![row(
        op::SELECT_LOB_LOCATOR,
        "BEGIN select \"NOPE\" into loc_c from \"HR\".\"DOCS\" where \"ID\" = '1' for update;",
        r,
    )];
    assert!(matches!(run(&t, rows), Err(DecodeError::Redo { .. })));
}

const CODES: [i32; 11] = [
    op::INSERT,
    op::UPDATE,
    op::DELETE,
    op::SELECT_LOB_LOCATOR,
    op::LOB_WRITE,
    op::LOB_TRIM,
    op::LOB_ERASE,
    op::XML_DOC_BEGIN,
    op::XML_DOC_WRITE,
    op::XML_DOC_END,
    op::UNSUPPORTED,
];

proptest! {
    #[test]
    fn arbitrary_rows_never_panic(rows in prop::collection::vec((0usize..11, "\\PC*"), 1..6)) {
        let rows = rows.into_iter().map(|(c, s)| row(CODES[c], &s, None)).collect();
        let _ = run(&docs(), rows);
    }

    #[test]
    fn lob_like_rows_never_panic(rows in prop::collection::vec((0usize..11, "(DECLARE|BEGIN|END|select|into|loc_c|loc_b|from|\"HR\"|\\.|\"DOCS\"|\"DOC\"|\"PIC\"|\"ID\"|where|for update|buf_c|buf_b| := |'[a-zé0-9]{0,6}'|HEXTORAW\\('[0-9a-f]{0,6}'\\)|dbms_lob\\.(write|trim|erase)\\(|XML_REDO := |XML DOC BEGIN: |[0-9]{1,3}|,|\\)|;| = | )*"), 1..8)) {
        let rows = rows.into_iter().map(|(c, s)| row(CODES[c], &s, Some("AAAR1"))).collect();
        let _ = run(&docs(), rows);
    }
}
