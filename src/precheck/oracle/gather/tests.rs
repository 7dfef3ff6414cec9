//! The Oracle precheck of a task, run on the scripted database: each item's status and line,
//! and the SQL the session was sent.

use super::*;
use crate::precheck::Status;
use crate::source::oracle::session::script::ScriptSession;
use crate::source::oracle::session::sql;
use crate::source::oracle::table::{OraColumn, OraTable, OraType};

const TASK: &str = r#"
name = "erp"
[source]
kind = "oracle"
host = "db.example.com"
service_name = "ORCLPDB1"
user = "C##TRIBUTARY"
password = "secret"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
[objects]
tables = ["SHOP.*"]
[migration]
phases = ["full", "incremental"]
"#;

fn spec(phases: &str) -> TaskSpec {
    let text = TASK.replace(
        "phases = [\"full\", \"incremental\"]",
        &format!("phases = {phases}"),
    );
    TaskSpec::parse(&text).unwrap()
}

fn full_and_incremental() -> TaskSpec {
    spec("[\"full\", \"incremental\"]")
}

fn dict(name: &str, keyed: bool) -> DictTable {
    let id = OraColumn {
        name: "ID".into(),
        ty: OraType::Number {
            precision: Some(10),
            scale: Some(0),
        },
        nullable: !keyed,
        is_key: keyed,
    };
    DictTable {
        table: OraTable {
            owner: "SHOP".into(),
            name: name.into(),
            object_id: 1000 + name.len() as u32,
            columns: vec![id],
        },
        estimated_rows: 0,
    }
}

/// Two keyed tables of SHOP, and a table of another owner the task does not select.
fn database() -> ScriptSession {
    let other = DictTable {
        table: OraTable {
            owner: "HR".into(),
            ..dict("EMPLOYEES", true).table
        },
        estimated_rows: 0,
    };
    ScriptSession::new()
        .table(dict("ORDERS", true), Vec::new())
        .table(dict("ITEMS", true), Vec::new())
        .table(other, Vec::new())
}

async fn report(db: &ScriptSession, spec: &TaskSpec) -> Report {
    run_oracle(spec, db, &Context::default()).await
}

/// The item's line, after checking its status and that it is one line.
fn expect(r: &Report, name: &str, status: Status) -> String {
    let item = r.items.iter().find(|i| i.name == name).unwrap_or_else(|| {
        panic!("no item {name} in {:?}", r.items);
    });
    let line = item.line();
    assert_eq!(item.status, status, "{line}");
    assert!(!line.contains('\n'), "{line}");
    line
}

#[tokio::test]
async fn a_well_configured_database_passes_every_item_and_is_sent_the_fact_queries() {
    let db = database();
    let r = report(&db, &full_and_incremental()).await;
    let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "source_connect",
            "archivelog",
            "supplemental_logging",
            "logminer_privileges",
            "archive_retention",
            "undo_retention",
            "table_name_length",
            "table_keys",
            "selection",
            "table_count",
        ]
    );
    for i in &r.items {
        assert_eq!(i.status, Status::Pass, "{}", i.line());
    }
    assert!(r.may_start && r.refusal().is_none());
    let line = expect(&r, "source_connect", Status::Pass);
    assert!(
        line.contains("db.example.com:1521/ORCLPDB1 as C##TRIBUTARY: Oracle 19.0.0.0.0"),
        "{line}"
    );
    let line = expect(&r, "selection", Status::Pass);
    assert!(
        line.ends_with("2 table(s) selected: SHOP.ITEMS, SHOP.ORDERS"),
        "{line}"
    );
    let owners = vec!["SHOP".to_owned()];
    let mut sent: Vec<String> = sql::database_facts().into_iter().map(|(_, q)| q).collect();
    sent.extend([sql::columns(&owners, None), sql::keys(&owners, None)]);
    sent.extend(sql::table_facts(&owners).into_iter().map(|(_, q)| q));
    assert_eq!(db.calls(), sent);
    assert_eq!(db.connects(), 1);
}

#[tokio::test]
async fn a_pdbs_tables_are_read_in_the_pdb_and_the_database_facts_in_the_root() {
    let db = database();
    let spec = TaskSpec::parse(&TASK.replace(
        "password = \"secret\"",
        "password = \"secret\"\npdb = \"PDB1\"",
    ))
    .unwrap();
    let r = report(&db, &spec).await;
    assert!(r.may_start, "{:?}", r.refusal());
    let owners = vec!["SHOP".to_owned()];
    let mut sent: Vec<String> = sql::database_facts().into_iter().map(|(_, q)| q).collect();
    sent.extend([
        sql::set_container("PDB1"),
        sql::columns(&owners, None),
        sql::keys(&owners, None),
    ]);
    sent.extend(sql::table_facts(&owners).into_iter().map(|(_, q)| q));
    assert_eq!(db.calls(), sent);
}

#[tokio::test]
async fn noarchivelog_fails_with_the_statements() {
    let db = database().log_mode("NOARCHIVELOG");
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "archivelog", Status::Fail);
    assert!(
        line.contains("NOARCHIVELOG mode") && line.contains("ALTER DATABASE ARCHIVELOG;"),
        "{line}"
    );
    assert!(!r.may_start);
}

#[tokio::test]
async fn a_table_without_all_columns_logging_fails_with_its_alter_table() {
    let db = database().without_all_columns_logging("SHOP", "ITEMS");
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "supplemental_logging", Status::Fail);
    assert!(
        line.contains("1 table(s) do not log ALL COLUMNS (SHOP.ITEMS)")
            && line.contains(
                "ALTER TABLE \"SHOP\".\"ITEMS\" ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;"
            )
            && !line.contains("ORDERS"),
        "{line}"
    );
    // Database-wide ALL COLUMNS logging covers it.
    let db = database()
        .without_all_columns_logging("SHOP", "ITEMS")
        .facts_with(|f| f.supplemental_all = "YES".into());
    let r = report(&db, &full_and_incremental()).await;
    expect(&r, "supplemental_logging", Status::Pass);
}

#[tokio::test]
async fn a_missing_privilege_fails_naming_it() {
    let db = database().without_privileges(&["LOGMINING"]);
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "logminer_privileges", Status::Fail);
    assert!(
        line.contains("the user lacks LOGMINING:") && line.contains("grants.sql"),
        "{line}"
    );
}

#[tokio::test]
async fn archived_log_retention_follows_the_phases() {
    let hours = |h: u64| Some(h * 3600);
    let incremental_only = spec("[\"incremental\"]");
    let db = database().archived_logs_reach(hours(12));
    let r = report(&db, &incremental_only).await;
    let line = expect(&r, "archive_retention", Status::Warn);
    assert!(
        line.contains("go back only 12h") && line.contains("more than 24 hours"),
        "{line}"
    );
    assert!(!r.may_start);
    let db = database().archived_logs_reach(hours(72));
    expect(
        &report(&db, &incremental_only).await,
        "archive_retention",
        Status::Pass,
    );
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "archive_retention", Status::Warn);
    assert!(
        line.contains("go back only 3days") && line.contains("at least 7 days"),
        "{line}"
    );
    // The task file accepts the warning.
    let accepting = TaskSpec::parse(&format!(
        "{TASK}[precheck]\naccept_warnings = [\"archive_retention\"]\n"
    ))
    .unwrap();
    let r = report(&db, &accepting).await;
    assert!(r.may_start, "{:?}", r.refusal());
    // A full-only task mines nothing.
    let r = report(&db, &spec("[\"full\"]")).await;
    let line = expect(&r, "archive_retention", Status::Pass);
    assert!(line.contains("no incremental phase"), "{line}");
}

#[tokio::test]
async fn undo_retention_below_the_full_loads_time_warns() {
    // 100 GiB at 20 MiB/s: about 85 minutes, against an hour of undo.
    let db = database()
        .segment_bytes("SHOP", "ORDERS", 100 << 30)
        .undo_retention(3600);
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "undo_retention", Status::Warn);
    assert!(
        line.contains("UNDO_RETENTION = 3600 s")
            && line.contains("ORA-01555")
            && line.contains("ALTER SYSTEM SET UNDO_RETENTION"),
        "{line}"
    );
    let db = database()
        .segment_bytes("SHOP", "ORDERS", 100 << 30)
        .undo_retention(6 * 3600);
    let r = report(&db, &full_and_incremental()).await;
    expect(&r, "undo_retention", Status::Pass);
}

#[tokio::test]
async fn a_31_byte_name_fails_on_12_1_only() {
    let long = "ORDER_LINES_ARCHIVED_BEFORE_Y20";
    assert_eq!(long.len(), 31);
    let db = database()
        .table(dict(long, true), Vec::new())
        .version("12.1.0.2.0");
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "table_name_length", Status::Fail);
    assert!(
        line.contains("LogMiner on 12.1") && line.contains(&format!("SHOP.{long}")),
        "{line}"
    );
    let db = database()
        .table(dict(long, true), Vec::new())
        .version("12.2.0.1.0");
    let r = report(&db, &full_and_incremental()).await;
    expect(&r, "table_name_length", Status::Pass);
}

#[tokio::test]
async fn a_keyless_table_warns() {
    let db = database().table(dict("AUDIT_LOG", false), Vec::new());
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "table_keys", Status::Warn);
    assert!(
        line.contains("1 table(s) without a primary key") && line.contains("(SHOP.AUDIT_LOG)"),
        "{line}"
    );
}

#[tokio::test]
async fn more_than_1000_tables_warns() {
    let mut db = ScriptSession::new();
    for i in 0..1001 {
        db = db.table(dict(&format!("T{i:04}"), true), Vec::new());
    }
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "table_count", Status::Warn);
    assert!(
        line.contains(
            "1001 tables selected, more than 1000: every start reads each one's dictionary rows"
        ),
        "{line}"
    );
    let line = expect(&r, "selection", Status::Pass);
    assert!(line.contains("1001 table(s) selected") && line.contains("and 996 more"));
}

/// A connector whose database cannot be reached.
struct Unreachable;

impl Connector for Unreachable {
    type Session = ScriptSession;

    async fn connect(&self) -> Result<ScriptSession, SessionError> {
        Err(SessionError::Connection(
            "cannot connect to database (CONNECTION_ID=x): ORA-12514: listener does not currently know of service requested".into(),
        ))
    }
}

#[tokio::test]
async fn an_unreachable_database_is_one_failed_item_naming_the_server() {
    let r = run_oracle(&full_and_incremental(), &Unreachable, &Context::default()).await;
    assert_eq!(r.items.len(), 1, "{:?}", r.items);
    let line = expect(&r, "source_connect", Status::Fail);
    assert!(
        line.contains("connecting to db.example.com:1521/ORCLPDB1 as C##TRIBUTARY failed")
            && line.contains("ORA-12514")
            && line.contains("source.service_name"),
        "{line}"
    );
    assert!(!r.may_start);
}

#[tokio::test]
async fn a_fact_the_user_cannot_read_fails_the_connection_item() {
    let db = database();
    db.fail_next(
        sql::FACT_LOG_MODE,
        SessionError::Database {
            code: 942,
            message: "table or view does not exist".into(),
        },
    );
    let r = report(&db, &full_and_incremental()).await;
    assert_eq!(r.items.len(), 1, "{:?}", r.items);
    let line = expect(&r, "source_connect", Status::Fail);
    assert!(
        line.contains("reading the precheck's facts failed: ORA-00942")
            && line.contains("grants.sql"),
        "{line}"
    );
}

#[tokio::test]
async fn a_selection_of_no_visible_table_fails() {
    let db = ScriptSession::new();
    let r = report(&db, &full_and_incremental()).await;
    let line = expect(&r, "selection", Status::Fail);
    assert!(
        line.contains("selects no table among owner(s) SHOP"),
        "{line}"
    );
}

#[test]
fn versions_read_as_major_and_minor() {
    assert_eq!(parse_version("19.0.0.0.0"), Some((19, 0)));
    assert_eq!(parse_version("12.1.0.2.0"), Some((12, 1)));
    assert_eq!(parse_version("Release 23.4.0.24.05"), Some((23, 4)));
    assert_eq!(parse_version(""), None);
    assert_eq!(parse_version("x.y"), None);
}

#[cfg(not(feature = "oracle"))]
#[tokio::test]
async fn a_build_without_the_oracle_client_says_how_to_get_one() {
    let r = crate::precheck::run(&full_and_incremental(), &Context::new_task()).await;
    assert_eq!(r.items.len(), 1, "{:?}", r.items);
    let line = expect(&r, "source_connect", Status::Fail);
    assert!(
        line.contains("no Oracle client") && line.contains("--features oracle"),
        "{line}"
    );
}
