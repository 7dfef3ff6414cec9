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
        },
        memory_budget: 1 << 20,
        spill_dir: spill.to_owned(),
        poll: Duration::from_millis(5),
    }
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
    let filter = ContentsFilter {
        owners: vec!["HR".into()],
        ..ContentsFilter::default()
    };
    let miner = Miner::new(db.clone(), filter, opts.bounds, Scn(150));
    let start = StreamStart {
        mine_from: Scn(150),
        emit_after: Scn(150),
        skip_through: None,
    };
    let stream = OracleStream::new(miner, &opts, vec![table()], start, 0).unwrap();
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
    let filter = ContentsFilter {
        owners: vec!["HR".into()],
        ..ContentsFilter::default()
    };
    let miner = Miner::new(db, filter, opts.bounds, Scn(150));
    let start = StreamStart {
        mine_from: Scn(150),
        emit_after: Scn(150),
        skip_through: None,
    };
    let stream = metrics::with_local_recorder(&recorder, || {
        OracleStream::new(miner, &opts, vec![table()], start, 0).unwrap()
    });
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
