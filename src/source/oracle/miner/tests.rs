//! The miner against the scripted stand-in: the exact LogMiner calls of each window, log
//! switches, missing logs, window sizing and error classes.

use std::time::Duration;

use super::*;
use crate::config::LogMinerDictionary::{OnlineCatalog, RedoLogs};
use crate::source::oracle::logminer::op;
use crate::source::oracle::session::script::{ScriptLog, ScriptSession};
use crate::source::oracle::session::{sql, xid, OpenTransaction};

fn filter() -> ContentsFilter {
    ContentsFilter {
        owners: vec!["HR".into()],
        ..ContentsFilter::default()
    }
}

fn row(scn: u64, code: i32, owner: Option<&str>) -> LogMinerRow {
    LogMinerRow {
        scn: Scn(scn),
        xid: xid(1, 2, 3),
        operation_code: code,
        seg_owner: owner.map(str::to_owned),
        table_name: owner.map(|_| "EMP".to_owned()),
        rs_id: " 0x00000a.00000002.0010 ".into(),
        ..LogMinerRow::default()
    }
}

fn log(thread: u16, sequence: u64, first: u64, next: u64) -> ScriptLog {
    ScriptLog {
        thread,
        sequence,
        first: Scn(first),
        next: Scn(next),
    }
}

/// Logs 5 to 8 of thread 1 (SCNs 100 to 9,000), the clock at 450.
fn four_logs() -> ScriptSession {
    ScriptSession::new()
        .log(5, 100, 200)
        .log(6, 200, 300)
        .log(7, 300, 400)
        .log(8, 400, 9_000)
        .clock(&[450])
}

fn bounds(min: u64, max: u64) -> WindowBounds {
    WindowBounds {
        min,
        max,
        flush_delay: Duration::ZERO,
    }
}

/// The statements of one window that added `names` (in order) and mined `[start, end]`.
fn window_calls(names: &[String], start: u64, end: u64) -> Vec<String> {
    let mut calls = vec![sql::CURRENT_SCN.to_owned(), sql::logs(Scn(start), Scn(end))];
    for (i, n) in names.iter().enumerate() {
        calls.push(sql::add_logfile(n, i == 0));
    }
    calls.push(sql::start_logmnr(Scn(start), Scn(end), OnlineCatalog));
    calls.push(sql::contents(&filter()));
    calls.push(sql::END_LOGMNR.to_owned());
    calls
}

#[tokio::test]
async fn windows_send_the_exact_logminer_calls_in_order_with_nls_pinned_first() {
    let db = ScriptSession::new()
        .log(10, 1_000, 5_000)
        .log(11, 5_000, 9_000)
        .clock(&[3_000])
        .rows([
            row(1_600, op::START, None),
            row(1_601, op::INSERT, Some("HR")),
            row(1_601, op::INSERT, Some("SCOTT")),
            row(1_602, op::COMMIT, None),
            row(2_700, op::DELETE, Some("HR")),
        ]);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 4_000), Scn(1_500));
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(1_500), Scn(2_500)));
    let codes: Vec<i32> = w.rows.iter().map(|r| r.operation_code).collect();
    assert_eq!(
        codes,
        [op::START, op::INSERT, op::COMMIT],
        "SCOTT's row filtered out"
    );
    let online = log(1, 10, 1_000, 5_000).online_name();
    let mut expected: Vec<String> = sql::NLS.iter().map(|s| s.to_string()).collect();
    expected.extend(window_calls(std::slice::from_ref(&online), 1_500, 2_500));
    assert_eq!(db.calls(), expected);

    // Full and quiet: the window doubles, but the database's SCN bounds this one.
    db.clear_calls();
    assert_eq!(miner.window(), 2_000);
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(2_501), Scn(3_000)));
    assert_eq!(w.rows.len(), 1);
    assert_eq!(db.calls(), window_calls(&[online], 2_501, 3_000));
    assert_eq!(
        miner.window(),
        2_000,
        "a window cut by the current SCN does not grow"
    );

    // Caught up: one SCN query, no LogMiner session, NLS not sent again.
    db.clear_calls();
    assert_eq!(miner.next_window().await.unwrap(), None);
    assert_eq!(db.calls(), [sql::CURRENT_SCN]);
    assert_eq!(miner.next_scn(), Scn(3_001));
}

#[tokio::test]
async fn a_log_switch_is_picked_up_by_the_next_window() {
    let db = ScriptSession::new()
        .log(10, 1_000, 5_000)
        .log(11, 5_000, 90_000)
        .clock(&[3_000]);
    let mut miner = Miner::new(db.clone(), filter(), bounds(2_000, 2_000), Scn(1_000));
    let w = miner.next_window().await.unwrap().unwrap();
    let seq10 = log(1, 10, 1_000, 5_000);
    let seq11 = log(1, 11, 5_000, 90_000);
    assert_eq!(w.logs.len(), 1);
    assert!(!w.logs[0].archived);
    assert_eq!(
        w.logs[0].next_scn,
        crate::source::oracle::session::INFINITE_SCN
    );

    // The database passes SCN 5,000: sequence 10 is archived, 11 is the current log.
    db.advance_to(6_000);
    db.clear_calls();
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(3_001), Scn(5_001)));
    assert_eq!(
        db.calls(),
        window_calls(&[seq10.archived_name(), seq11.online_name()], 3_001, 5_001),
        "the archived copy of 10 is preferred to its online log"
    );
    assert!(w.logs[0].archived && !w.logs[1].archived);
}

#[tokio::test]
async fn a_deleted_archived_log_fails_definitely_naming_its_sequence_and_the_retention() {
    let db = four_logs();
    db.delete_archived(5);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 1_000), Scn(150));
    let e = miner.next_window().await.unwrap_err();
    assert!(
        matches!(
            e,
            MinerError::MissingLog {
                thread: 1,
                sequence: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Definite);
    let text = e.to_string();
    for part in [
        "sequence 5",
        "ORA-01284",
        "ORA-00308",
        "24 hours",
        "7 days",
        "full load",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(!text.contains('\n'), "{text}");
    let last = db.calls().pop().unwrap();
    assert_eq!(
        last,
        sql::add_logfile(&log(1, 5, 100, 200).archived_name(), true)
    );
    let se = e.into_source_error();
    assert_eq!(se.class(), ErrorClass::Definite);
}

#[tokio::test]
async fn a_purged_archived_log_is_found_missing_before_logminer_starts() {
    // Gone from the catalog too: the oldest log listed starts after the window.
    let db = four_logs();
    db.purge_archived(5);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 1_000), Scn(150));
    let e = miner.next_window().await.unwrap_err();
    assert!(
        matches!(e, MinerError::MissingLog { sequence: 5, .. }),
        "{e:?}"
    );
    assert!(!db.calls().iter().any(|c| c.contains("DBMS_LOGMNR")));

    // A hole in the middle of the window's logs.
    let db = ScriptSession::new()
        .log(5, 100, 200)
        .log(6, 200, 300)
        .log(7, 300, 400)
        .log(8, 400, 500)
        .log(9, 500, 9_000)
        .clock(&[550]);
    db.purge_archived(6);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 1_000), Scn(150));
    let e = miner.next_window().await.unwrap_err();
    assert!(
        matches!(e, MinerError::MissingLog { sequence: 6, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("between sequence 5 and 7"), "{e}");
}

#[tokio::test]
async fn logminer_reporting_a_missing_logfile_is_definite() {
    let db = ScriptSession::new().log(1, 1, 90_000).clock(&[500]);
    db.fail_next(
        "BEGIN DBMS_LOGMNR.START_LOGMNR",
        SessionError::Database {
            code: 1291,
            message: "missing logfile".into(),
        },
    );
    let mut miner = Miner::new(db, filter(), bounds(100, 100), Scn(10));
    let e = miner.next_window().await.unwrap_err();
    assert!(matches!(e, MinerError::MissingRange { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Definite);
    assert!(e.to_string().contains("ORA-01291"), "{e}");
}

#[tokio::test]
async fn windows_grow_when_quiet_and_shrink_when_large() {
    let mut rows: Vec<LogMinerRow> = (0..=LARGE_ROWS as u64)
        .map(|i| row(7_100 + i % 100, op::INSERT, Some("HR")))
        .collect();
    rows.sort_by_key(|r| r.scn);
    let db = ScriptSession::new()
        .log(1, 1, 10_000_000)
        .clock(&[1_000_000])
        .rows(rows);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 8_000), Scn(1));
    let mut spans = Vec::new();
    for _ in 0..5 {
        let w = miner.next_window().await.unwrap().unwrap();
        spans.push((w.start.0, w.end.0, w.rows.len(), miner.window()));
    }
    assert_eq!(
        spans,
        [
            (1, 1_001, 0, 2_000),
            (1_002, 3_002, 0, 4_000),
            (3_003, 7_003, 0, 8_000),
            (7_004, 15_004, LARGE_ROWS + 1, 4_000),
            (15_005, 19_005, 0, 8_000),
        ]
    );
    for _ in 0..3 {
        miner.next_window().await.unwrap().unwrap();
    }
    assert_eq!(miner.window(), 8_000, "never past the upper bound");
    let starts = db
        .calls()
        .iter()
        .filter(|c| c.starts_with("BEGIN DBMS_LOGMNR.START_LOGMNR"))
        .count();
    assert_eq!(starts, 8);
    let nls = db.calls().iter().filter(|c| c.contains("NLS_")).count();
    assert_eq!(nls, 4, "NLS pinned once per session");
}

#[tokio::test]
async fn errors_are_classified() {
    let db = ScriptSession::new().log(1, 1, 90_000).clock(&[500]);
    db.fail_next(
        "SELECT CURRENT_SCN",
        SessionError::Connection("connection reset by peer".into()),
    );
    let mut miner = Miner::new(db.clone(), filter(), bounds(100, 100), Scn(10));
    let e = miner.next_window().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(e.into_source_error().is_connection());

    db.fail_next(
        "SELECT SCN",
        SessionError::Database {
            code: 3113,
            message: "end-of-file on communication channel".into(),
        },
    );
    let e = miner.next_window().await.unwrap_err();
    assert!(matches!(e, MinerError::Connection { .. }), "{e:?}");

    db.fail_next(
        "BEGIN DBMS_LOGMNR.ADD_LOGFILE",
        SessionError::Database {
            code: 1031,
            message: "insufficient privileges".into(),
        },
    );
    let e = miner.next_window().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Definite);
    assert!(e.to_string().contains("GRANT"), "{e}");

    // A failed read ends the LogMiner session; the next window mines the same SCNs.
    db.clear_calls();
    db.fail_next(
        "SELECT SCN",
        SessionError::Database {
            code: 4030,
            message: "out of process memory".into(),
        },
    );
    let e = miner.next_window().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(db.calls().last().map(String::as_str), Some(sql::END_LOGMNR));
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(10), Scn(110)));
}

#[tokio::test]
async fn mining_starts_at_the_oldest_transaction_open_at_the_snapshot() {
    let mut db = ScriptSession::new()
        .open_transaction(OpenTransaction {
            xid: xid(3, 4, 5),
            start_scn: Scn(900),
        })
        .open_transaction(OpenTransaction {
            xid: xid(6, 7, 8),
            start_scn: Scn(950),
        })
        .open_transaction(OpenTransaction {
            xid: xid(9, 1, 1),
            start_scn: Scn(1_200),
        });
    assert_eq!(mining_start(&mut db, Scn(1_000)).await.unwrap(), Scn(900));
    assert_eq!(mining_start(&mut db, Scn(800)).await.unwrap(), Scn(800));
    assert_eq!(
        db.calls(),
        [
            sql::open_transactions(Scn(1_000)),
            sql::open_transactions(Scn(800))
        ]
    );
}

#[test]
fn logs_are_chosen_per_thread_archived_first() {
    let f = |thread, sequence, first, next, archived| LogFile {
        name: format!("{thread}_{sequence}_{archived}"),
        thread,
        sequence,
        first_scn: Scn(first),
        next_scn: Scn(next),
        archived,
    };
    let chosen = choose_logs(
        vec![
            f(2, 4, 150, 400, false),
            f(1, 8, 100, 300, false),
            f(1, 8, 100, 300, true),
            f(1, 9, 300, 900, false),
            f(2, 4, 150, 400, true),
        ],
        Scn(120),
    );
    // Thread 2's sequence 4 starts after 120: its sequence 3 is missing.
    assert!(matches!(
        chosen,
        Err(MinerError::MissingLog {
            thread: 2,
            sequence: 3,
            ..
        })
    ));
    let chosen = choose_logs(
        vec![
            f(2, 4, 100, 400, false),
            f(1, 9, 300, 900, false),
            f(1, 8, 100, 300, false),
            f(1, 8, 100, 300, true),
        ],
        Scn(120),
    )
    .unwrap();
    let names: Vec<&str> = chosen.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["1_8_true", "1_9_false", "2_4_false"]);
}

#[tokio::test]
async fn the_stand_in_answers_out_of_order_calls_as_oracle_does() {
    let mut db = ScriptSession::new().log(1, 1, 90_000).clock(&[500]);
    let e = db
        .start_logmnr(Scn(1), Scn(10), OnlineCatalog)
        .await
        .unwrap_err();
    assert_eq!(e.ora_code(), Some(1292));
    let e = db.contents(&filter()).await.unwrap_err();
    assert_eq!(e.ora_code(), Some(1306));
    db.add_logfile(&log(1, 1, 1, 90_000).online_name(), true)
        .await
        .unwrap();
    db.start_logmnr(Scn(1), Scn(10), OnlineCatalog)
        .await
        .unwrap();
    let e = db.add_logfile("/nowhere.arc", false).await.unwrap_err();
    assert_eq!(e.ora_code(), Some(1284));
}

#[tokio::test]
async fn with_no_dictionary_in_the_redo_one_is_built_archived_and_used_from_the_next_window() {
    let db = ScriptSession::new()
        .log(10, 1_000, 5_000)
        .log(11, 5_000, 9_000)
        .clock(&[3_000]);
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 1_000), Scn(1_500))
        .with_dictionary(RedoLogs);
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(1_500), Scn(2_500)));
    // None found: a build, the current log archived, and this window on the online catalog.
    let mut expected: Vec<String> = sql::NLS.iter().map(|s| s.to_string()).collect();
    expected.extend([
        sql::CURRENT_SCN.to_owned(),
        sql::dictionary_logs(Scn(1_500)),
        sql::CURRENT_SCN.to_owned(),
        sql::BUILD_DICTIONARY.to_owned(),
        sql::ARCHIVE_LOG_CURRENT.to_owned(),
        sql::logs(Scn(1_500), Scn(2_500)),
        sql::add_logfile(&log(1, 10, 1_000, 3_001).archived_name(), true),
        sql::start_logmnr(Scn(1_500), Scn(2_500), OnlineCatalog),
        sql::contents(&filter()),
        sql::END_LOGMNR.to_owned(),
    ]);
    assert_eq!(db.calls(), expected);
    assert_eq!(db.dictionary_builds(), [(1, 10)]);

    // The next window starts after the build's log began: mined from the dictionary log on,
    // with the redo-log dictionary and DDL tracking, and no second build.
    db.clear_calls();
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(2_501), Scn(3_001)));
    let names: Vec<&str> = w.logs.iter().map(|l| l.name.as_str()).collect();
    let archived10 = log(1, 10, 1_000, 3_001).archived_name();
    let online11 = log(1, 11, 3_001, 9_000).online_name();
    assert_eq!(names, [archived10.as_str(), online11.as_str()]);
    let calls = db.calls();
    assert!(
        calls.contains(&sql::logs(Scn(1_000), Scn(3_001))),
        "the logs listed from the dictionary's first log: {calls:#?}"
    );
    assert!(
        calls.contains(&sql::start_logmnr(Scn(2_501), Scn(3_001), RedoLogs)),
        "{calls:#?}"
    );
    assert!(sql::start_logmnr(Scn(1), Scn(2), RedoLogs)
        .contains("OPTIONS => DBMS_LOGMNR.DICT_FROM_REDO_LOGS + DBMS_LOGMNR.DDL_DICT_TRACKING"));
    assert!(
        !calls.iter().any(|c| c == sql::BUILD_DICTIONARY),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn a_dictionary_far_behind_the_window_is_rebuilt_once() {
    // Twelve logs of 100 SCNs; the only dictionary is in the first.
    let mut db = ScriptSession::new().dictionary_in(1, 1);
    for seq in 1..=12 {
        db = db.log(seq, seq * 100, (seq + 1) * 100);
    }
    let db = db.log(13, 1_300, 90_000).clock(&[1_500]);
    let mut miner =
        Miner::new(db.clone(), filter(), bounds(50, 50), Scn(1_150)).with_dictionary(RedoLogs);
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!(
        w.logs.first().map(|l| l.sequence),
        Some(1),
        "from the dictionary"
    );
    let calls = db.calls();
    assert!(
        calls.contains(&sql::start_logmnr(Scn(1_150), Scn(1_200), RedoLogs)),
        "{calls:#?}"
    );
    // Ten whole logs lie before the window: a new dictionary is written (not forced into an
    // archived log: it is used once mining reaches it).
    let builds = calls.iter().filter(|c| *c == sql::BUILD_DICTIONARY).count();
    assert_eq!(builds, 1, "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c == sql::ARCHIVE_LOG_CURRENT),
        "{calls:#?}"
    );
    assert_eq!(db.dictionary_builds(), [(1, 1), (1, 13)]);
    // Still behind the new build: the old dictionary serves, and no build is added.
    db.clear_calls();
    miner.next_window().await.unwrap().unwrap();
    let calls = db.calls();
    assert!(
        !calls.iter().any(|c| c == sql::BUILD_DICTIONARY),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn without_the_archive_privilege_mining_goes_on_with_the_online_catalog() {
    let db = ScriptSession::new()
        .log(10, 1_000, 5_000)
        .log(11, 5_000, 90_000)
        .clock(&[3_000]);
    db.fail_next(
        sql::ARCHIVE_LOG_CURRENT,
        SessionError::Database {
            code: 1031,
            message: "insufficient privileges".into(),
        },
    );
    let mut miner = Miner::new(db.clone(), filter(), bounds(1_000, 1_000), Scn(1_500))
        .with_dictionary(RedoLogs);
    miner.next_window().await.unwrap().unwrap();
    miner.next_window().await.unwrap().unwrap();
    let calls = db.calls();
    let starts: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("BEGIN DBMS_LOGMNR.START_LOGMNR"))
        .collect();
    assert!(
        starts
            .iter()
            .all(|c| c.contains("DICT_FROM_ONLINE_CATALOG")),
        "the build is not archived yet: {starts:#?}"
    );
    let builds = calls.iter().filter(|c| *c == sql::BUILD_DICTIONARY).count();
    assert_eq!(builds, 1, "one build waits for its log switch: {calls:#?}");
    // The log holding the build switches and is archived: the next window uses it.
    db.advance_to(6_000);
    db.clear_calls();
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!(
        w.logs.first().map(|l| l.sequence),
        Some(10),
        "from the build's log"
    );
    assert!(
        db.calls()
            .contains(&sql::start_logmnr(w.start, w.end, RedoLogs)),
        "{:#?}",
        db.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn a_window_ends_below_an_scn_read_at_least_the_flush_delay_ago() {
    let db = ScriptSession::new().log(10, 1_000, 90_000).clock(&[3_000]);
    let delayed = WindowBounds {
        flush_delay: Duration::from_secs(5),
        ..bounds(10_000, 10_000)
    };
    let mut miner = Miner::new(db.clone(), filter(), delayed, Scn(1_500));
    // No reading is 5 s old yet: nothing is mined (the redo below 3,000 may still be in the
    // log buffer).
    assert_eq!(miner.next_window().await.unwrap(), None);
    tokio::time::advance(Duration::from_secs(2)).await;
    db.advance_to(3_400);
    // The log writer writes a change made at SCN 2,500 only now: it is still mined.
    db.push_rows([row(2_500, op::INSERT, Some("HR"))]);
    assert_eq!(miner.next_window().await.unwrap(), None);
    // The 3,000 reading is 5 s old: mined up to just below it, not to the current 4,000.
    tokio::time::advance(Duration::from_secs(3)).await;
    db.advance_to(4_000);
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(1_500), Scn(2_999)));
    assert_eq!(
        w.rows.iter().map(|r| r.scn).collect::<Vec<_>>(),
        [Scn(2_500)]
    );
    assert!(
        db.calls()
            .contains(&sql::start_logmnr(Scn(1_500), Scn(2_999), OnlineCatalog)),
        "{:#?}",
        db.calls()
    );
    // Then the 3,400 reading settles.
    tokio::time::advance(Duration::from_secs(2)).await;
    let w = miner.next_window().await.unwrap().unwrap();
    assert_eq!((w.start, w.end), (Scn(3_000), Scn(3_399)));
    assert_eq!(miner.next_window().await.unwrap(), None, "caught up");
}
