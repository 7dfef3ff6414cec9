//! The stream's ordering of transactions that commit at one SCN (RAC: two redo threads).

use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::source::oracle::logminer::{op, LogMinerRow};
use crate::source::oracle::miner::WindowBounds;
use crate::source::oracle::session::script::ScriptSession;
use crate::source::oracle::session::{xid, ContentsFilter};
use crate::source::oracle::table::{OraColumn, OraTable, OraType};

fn table() -> Captured {
    let ora = OraTable {
        owner: "HR".into(),
        name: "T".into(),
        object_id: 7,
        columns: vec![OraColumn {
            name: "ID".into(),
            ty: OraType::Number {
                precision: None,
                scale: None,
            },
            nullable: false,
            is_key: true,
        }],
    };
    Captured {
        schema: Arc::new(table_schema(&ora)),
        ora: Arc::new(ora),
        estimated_rows: 0,
    }
}

fn opts(spill: &std::path::Path) -> OracleSourceOptions {
    let spec = crate::config::TaskSpec::parse(
        "name = \"t\"\n[source]\nkind = \"oracle\"\nhost = \"h\"\nservice_name = \"S\"\n\
         user = \"u\"\npassword = \"p\"\n[destination]\nkind = \"kafka\"\n\
         bootstrap_servers = \"127.0.0.1:9\"\n[objects]\ntables = [\"HR.*\"]\n",
    )
    .unwrap();
    OracleSourceOptions {
        task: "t".into(),
        shard: 0,
        selection: TableSelection::from_spec(&spec.objects).unwrap(),
        owners: vec!["HR".into()],
        pdb: None,
        schema: false,
        full: false,
        incremental: true,
        snapshot_connections: 1,
        bounds: WindowBounds {
            min: 1000,
            max: 1000,
            flush_delay: Duration::ZERO,
        },
        memory_budget: 1 << 20,
        spill_dir: spill.to_owned(),
        poll: Duration::from_millis(5),
        dictionary: LogMinerDictionary::OnlineCatalog,
    }
}

/// A stream over `HR` on `db`, mining from SCN 150 and emitting what commits after it.
fn stream_from_150(
    db: &ScriptSession,
    opts: &OracleSourceOptions,
    tables: Vec<Captured>,
) -> OracleStream<ScriptSession> {
    let filter = ContentsFilter {
        owners: vec!["HR".into()],
        ..ContentsFilter::default()
    };
    let miner =
        Miner::new(db.clone(), filter, opts.bounds, Scn(150)).with_dictionary(opts.dictionary);
    let start = StreamStart {
        mine_from: Scn(150),
        emit_after: Scn(150),
        skip_through: None,
    };
    OracleStream::new(miner, opts, tables, start, 0).unwrap()
}

/// A row of transaction `n` at `scn`, in log sequence `seq` of its thread.
fn row(n: u16, scn: u64, code: i32, seq: u32, redo: Option<&str>) -> LogMinerRow {
    let dml = code == op::INSERT;
    LogMinerRow {
        scn: Scn(scn),
        xid: xid(n, 0, 1),
        operation_code: code,
        seg_owner: dml.then(|| "HR".into()),
        table_name: dml.then(|| "T".into()),
        sql_redo: redo.map(str::to_owned),
        rs_id: format!(" 0x{seq:06x}.{scn:08x}.0010 "),
        ..LogMinerRow::default()
    }
}

#[tokio::test]
async fn commits_at_one_scn_leave_in_position_order_whatever_logminer_returns() {
    // Thread 2's COMMIT comes first in LogMiner's rows but its redo position (sequence 0x20)
    // is after thread 1's (0x10): the stream emits thread 1's transaction first.
    let ins = |id: u32| format!("insert into \"HR\".\"T\"(\"ID\") values ('{id}');");
    let db = ScriptSession::new()
        .thread_log(1, 0x10, 100, 10_000)
        .thread_log(2, 0x20, 100, 10_000)
        .clock(&[500])
        .rows([
            row(1, 200, op::START, 0x10, None),
            row(1, 201, op::INSERT, 0x10, Some(&ins(1))),
            row(2, 202, op::START, 0x20, None),
            row(2, 203, op::INSERT, 0x20, Some(&ins(2))),
            row(2, 300, op::COMMIT, 0x20, None),
            row(1, 300, op::COMMIT, 0x10, None),
        ]);
    let spill = tempfile::tempdir().unwrap();
    let opts = opts(spill.path());
    let stream = stream_from_150(&db, &opts, vec![table()]);
    let (tx, mut rx) = mpsc::channel(8);
    let run = tokio::spawn(async move { stream.run(&tx).await });
    let mut commits = Vec::new();
    let mut restarts = Vec::new();
    while commits.len() < 2 {
        for item in rx.recv().await.unwrap().unwrap() {
            if let SourceItem::Commit { last, resume, .. } = item {
                commits.push(last);
                restarts.push(resume);
            }
        }
    }
    run.abort();
    let xids: Vec<String> = commits
        .iter()
        .map(|p| match p {
            StreamPosition::Oracle { xid, .. } => xid.to_string(),
            StreamPosition::Pg { .. } => unreachable!(),
        })
        .collect();
    assert_eq!(xids, ["1.0.1", "2.0.1"]);
    assert!(commits[0] < commits[1], "{commits:?}");
    // Both carry the group's oldest restart SCN (thread 1's start, 200).
    let want = ResumeToken::Oracle {
        restart_scn: Scn(200),
    };
    assert_eq!(restarts, [want, want]);
}

#[tokio::test]
async fn a_transaction_past_the_memory_budget_spills_and_is_delivered_whole_with_its_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let ins = |id: u32| format!("insert into \"HR\".\"T\"(\"ID\") values ('{id}');");
    let mut rows = vec![row(1, 200, op::START, 0x10, None)];
    rows.extend((0..1_200).map(|i| row(1, 201 + i as u64, op::INSERT, 0x10, Some(&ins(i)))));
    rows.push(row(1, 2_000, op::COMMIT, 0x10, None));
    let db = ScriptSession::new()
        .log(0x10, 100, 10_000)
        .clock(&[2_100])
        .rows(rows);
    let spill = tempfile::tempdir().unwrap();
    let mut opts = opts(spill.path());
    opts.memory_budget = 4 * 1024;
    opts.task = "spill".into();
    let stream =
        metrics::with_local_recorder(&recorder, || stream_from_150(&db, &opts, vec![table()]));
    let (tx, mut rx) = mpsc::channel(8);
    let run = tokio::spawn(async move { stream.run(&tx).await });
    let mut indexes = Vec::new();
    let mut idle = false;
    let mut largest_batch = 0;
    while !idle {
        let batch = rx.recv().await.unwrap().unwrap();
        largest_batch = largest_batch.max(batch.len());
        for item in batch {
            match item {
                SourceItem::Event(e) => indexes.push(match e.position {
                    Position::Stream(p) => p.index(),
                    Position::Snapshot { .. } => unreachable!(),
                }),
                SourceItem::Idle { .. } => idle = true,
                _ => {}
            }
        }
    }
    run.abort();
    assert_eq!(indexes, (0..1_200).collect::<Vec<u32>>());
    // Sent while decoding, not held whole: no batch much past BATCH_ITEMS.
    assert!(largest_batch <= BATCH_ITEMS + 2, "{largest_batch}");
    let text = handle.render();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("task=\"spill\""))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(line("tributary_oracle_spilled_transactions_total"), "1");
    assert_eq!(line("tributary_oracle_open_transactions"), "0");
    assert_eq!(line("tributary_oracle_buffered_bytes"), "0");
    assert_eq!(line("tributary_oracle_mined_scn"), "2100");
    // The spill file is gone once the transaction was read.
    let left: Vec<_> = std::fs::read_dir(spill.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_spill_directory_and_budget_come_from_the_task() {
    let spec = crate::config::TaskSpec::parse(
        "name = \"t\"\n[source]\nkind = \"oracle\"\nhost = \"h\"\nservice_name = \"S\"\n\
         user = \"u\"\npassword = \"p\"\nlogminer_memory_budget = \"8MiB\"\n\
         logminer_spill_dir = \"/var/spill\"\n[destination]\nkind = \"kafka\"\n\
         bootstrap_servers = \"127.0.0.1:9\"\n[objects]\ntables = [\"HR.*\"]\n",
    )
    .unwrap();
    let opts = OracleSourceOptions::from_spec(&spec, 3).unwrap();
    assert_eq!(opts.spill_dir, std::path::Path::new("/var/spill/t-3"));
    assert_eq!(opts.memory_budget, 8 << 20);
}

/// `HR.T` with these columns after its key `ID` (all VARCHAR2(20)).
fn versioned(columns: &[&str]) -> DictTable {
    let mut t = table().ora.as_ref().clone();
    t.columns.extend(columns.iter().map(|c| OraColumn {
        name: (*c).into(),
        ty: OraType::Varchar2 {
            length: 20,
            chars: false,
        },
        nullable: true,
        is_key: false,
    }));
    DictTable {
        table: t,
        estimated_rows: 0,
    }
}

/// Mining lags behind two DDLs on `HR.T` (ADD AGE at SCN 300, DROP NAME at 400), with a row
/// before, between and after them; the dictionary already shows the newest definition. Returns
/// the column names of each emitted change's table, or the stream's error.
async fn mine_behind_two_ddls(
    dictionary: LogMinerDictionary,
) -> Result<Vec<Vec<String>>, OracleSourceError> {
    let ins = |cols: &str, vals: &str| format!("insert into \"HR\".\"T\"({cols}) values ({vals});");
    let ddl = |n: u16, scn: u64, text: &str| LogMinerRow {
        seg_owner: Some("HR".into()),
        table_name: Some("T".into()),
        ..row(n, scn, op::DDL, 0x10, Some(text))
    };
    let db = ScriptSession::new()
        .log(0x10, 100, 10_000)
        .clock(&[1_000])
        .table(versioned(&["NAME"]), Vec::new())
        .rows([
            row(1, 200, op::START, 0x10, None),
            row(
                1,
                201,
                op::INSERT,
                0x10,
                Some(&ins("\"ID\",\"NAME\"", "'1','a'")),
            ),
            row(1, 210, op::COMMIT, 0x10, None),
            row(2, 299, op::START, 0x10, None),
            ddl(
                2,
                300,
                "ALTER TABLE \"HR\".\"T\" ADD (\"AGE\" VARCHAR2(20))",
            ),
            row(2, 300, op::COMMIT, 0x10, None),
            row(3, 350, op::START, 0x10, None),
            row(
                3,
                351,
                op::INSERT,
                0x10,
                Some(&ins("\"ID\",\"NAME\",\"AGE\"", "'2','b','20'")),
            ),
            row(3, 360, op::COMMIT, 0x10, None),
            row(4, 399, op::START, 0x10, None),
            ddl(4, 400, "ALTER TABLE \"HR\".\"T\" DROP COLUMN \"NAME\""),
            row(4, 400, op::COMMIT, 0x10, None),
            row(5, 450, op::START, 0x10, None),
            row(
                5,
                451,
                op::INSERT,
                0x10,
                Some(&ins("\"ID\",\"AGE\"", "'3','30'")),
            ),
            row(5, 460, op::COMMIT, 0x10, None),
        ]);
    db.redefine_at(versioned(&["NAME", "AGE"]), 300);
    db.redefine_at(versioned(&["AGE"]), 400);
    let spill = tempfile::tempdir().unwrap();
    let mut opts = opts(spill.path());
    opts.dictionary = dictionary;
    // What the check read: the dictionary as it is now.
    let now = versioned(&["AGE"]);
    let checked = Captured {
        schema: Arc::new(table_schema(&now.table)),
        ora: Arc::new(now.table),
        estimated_rows: 0,
    };
    let stream = stream_from_150(&db, &opts, vec![checked]);
    let (tx, mut rx) = mpsc::channel(8);
    let run = tokio::spawn(async move { stream.run(&tx).await });
    let mut tables = Vec::new();
    while tables.len() < 3 {
        let Some(batch) = rx.recv().await else {
            return Err(run.await.unwrap().unwrap_err());
        };
        for item in batch.unwrap() {
            if let SourceItem::Event(e) = item {
                tables.push(e.table.columns.iter().map(|c| c.name.clone()).collect());
            }
        }
    }
    run.abort();
    // The dictionary views were read as of the mining start and as of each DDL's commit.
    let calls = db.calls();
    let as_of: Vec<&str> = calls
        .iter()
        .filter(|c| c.starts_with("SELECT C.OWNER"))
        .filter_map(|c| c.split(" AS OF SCN ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    if dictionary == LogMinerDictionary::RedoLogs {
        assert_eq!(as_of, ["150", "300", "400"], "{calls:#?}");
    } else {
        assert!(as_of.is_empty(), "{calls:#?}");
    }
    Ok(tables)
}

#[tokio::test]
async fn with_the_redo_log_dictionary_each_row_is_read_by_its_definition_at_its_scn() {
    let tables = mine_behind_two_ddls(LogMinerDictionary::RedoLogs)
        .await
        .unwrap();
    assert_eq!(
        tables,
        [
            vec!["ID", "NAME"],
            vec!["ID", "NAME", "AGE"],
            vec!["ID", "AGE"]
        ]
    );
}

#[tokio::test]
async fn with_the_online_catalog_a_row_older_than_a_ddl_fails_naming_its_column() {
    // The documented limit of the online catalog: the current definition has no NAME.
    let e = mine_behind_two_ddls(LogMinerDictionary::OnlineCatalog)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NAME"), "{e}");
}

/// A redo-log-dictionary stream over one insert into `HR.T(ID)`, the first dictionary read
/// failing with `error`: the first emitted item batch's events, or the stream's error, and
/// the dictionary reads sent.
async fn first_read_fails(error: SessionError) -> (Result<usize, OracleSourceError>, Vec<String>) {
    let ins = "insert into \"HR\".\"T\"(\"ID\") values ('1');";
    let db = ScriptSession::new()
        .log(0x10, 100, 10_000)
        .clock(&[1_000])
        .table(
            DictTable {
                table: table().ora.as_ref().clone(),
                estimated_rows: 0,
            },
            Vec::new(),
        )
        .rows([
            row(1, 200, op::START, 0x10, None),
            row(1, 201, op::INSERT, 0x10, Some(ins)),
            row(1, 210, op::COMMIT, 0x10, None),
        ]);
    db.fail_next("SELECT C.OWNER", error);
    let spill = tempfile::tempdir().unwrap();
    let mut opts = opts(spill.path());
    opts.dictionary = LogMinerDictionary::RedoLogs;
    let stream = stream_from_150(&db, &opts, vec![table()]);
    let (tx, mut rx) = mpsc::channel(8);
    let run = tokio::spawn(async move { stream.run(&tx).await });
    let result = match rx.recv().await {
        Some(batch) => Ok(batch
            .unwrap()
            .iter()
            .filter(|i| matches!(i, SourceItem::Event(_)))
            .count()),
        None => Err(run.await.unwrap().unwrap_err()),
    };
    let reads = db
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("SELECT C.OWNER"))
        .collect();
    (result, reads)
}

#[tokio::test]
async fn a_dictionary_the_undo_no_longer_reaches_is_read_as_it_is_now() {
    let (events, reads) = first_read_fails(SessionError::Database {
        code: 1555,
        message: "snapshot too old: rollback segment number 9 with name \"_SYSSMU9$\" too small"
            .into(),
    })
    .await;
    assert_eq!(events.unwrap(), 1);
    assert_eq!(reads.len(), 2, "{reads:#?}");
    assert!(reads[0].contains(" AS OF SCN 150 "), "{}", reads[0]);
    assert!(!reads[1].contains(" AS OF SCN "), "{}", reads[1]);
}

#[tokio::test]
async fn any_other_dictionary_error_stops_the_stream_naming_the_read() {
    let (events, reads) = first_read_fails(SessionError::Database {
        code: 1031,
        message: "insufficient privileges".into(),
    })
    .await;
    let e = events.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("the dictionary read at the mining start: ORA-01031"),
        "{e}"
    );
    assert_eq!(
        crate::source::SourceError::from(e).class,
        crate::source::ErrorClass::Definite
    );
    assert_eq!(reads.len(), 1);
}
