//! The Oracle source end to end against the scripted stand-in of the database (no Oracle can run
//! on this project's machines): the same `Source` the real thin-driver session runs behind,
//! through the shard runtime, the pipeline and the Debezium format into the real broker, with
//! checkpoints in a store that outlives a killed run. The stand-in answers every session call
//! (dictionary, flashback read, log list, ADD_LOGFILE, START_LOGMNR windows, contents) and
//! records the SQL, so the statements the source would send are asserted too.

mod support;

mod serial {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;
    use tokio::sync::watch;
    use tributary::checkpoint::{CheckpointStore, MemoryCheckpointStore, ShardKey, TableProgress};
    use tributary::config::TaskSpec;
    use tributary::metrics::ShardLabels;
    use tributary::pipeline::stats::Stats;
    use tributary::position::{Scn, StreamPosition};
    use tributary::sink::kafka::KafkaSink;
    use tributary::source::oracle::logminer::{op, LogMinerRow};
    use tributary::source::oracle::session::script::ScriptSession;
    use tributary::source::oracle::session::SessionError;
    use tributary::source::oracle::session::{sql, xid, DatabaseInfo, DictTable, OpenTransaction};
    use tributary::source::oracle::source::{releasing, OracleSource, OracleSourceOptions};
    use tributary::source::oracle::table::{OraColumn, OraTable, OraType};
    use tributary::task::{
        kafka_config, release, run_shard, Epoch, ShardRuntime, TaskError, TaskFailure, TaskOutcome,
    };

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(60);
    /// The snapshot SCN S: the stand-in's clock when the task first starts.
    const S: u64 = 1_000;

    fn emp() -> OraTable {
        let col = |name: &str, ty, is_key: bool| OraColumn {
            name: name.into(),
            ty,
            nullable: !is_key,
            is_key,
        };
        OraTable {
            owner: "HR".into(),
            name: "EMP".into(),
            object_id: 73_001,
            columns: vec![
                col(
                    "ID",
                    OraType::Number {
                        precision: Some(10),
                        scale: Some(0),
                    },
                    true,
                ),
                col(
                    "NAME",
                    OraType::Varchar2 {
                        length: 40,
                        chars: false,
                    },
                    false,
                ),
                col(
                    "SALARY",
                    OraType::Number {
                        precision: Some(8),
                        scale: Some(2),
                    },
                    false,
                ),
                col("HIRED", OraType::Date, false),
            ],
        }
    }

    fn text_row(values: [&str; 4]) -> Vec<Option<String>> {
        values
            .iter()
            .map(|v| (!v.is_empty()).then(|| v.to_string()))
            .collect()
    }

    /// A `V$LOGMNR_CONTENTS` row of transaction `x` at `scn`, in log sequence 10.
    fn lm(scn: u64, x: (u16, u16, u32), code: i32, redo: Option<&str>) -> LogMinerRow {
        let dml = !matches!(code, op::START | op::COMMIT | op::ROLLBACK);
        LogMinerRow {
            scn: Scn(scn),
            xid: xid(x.0, x.1, x.2),
            operation_code: code,
            seg_owner: dml.then(|| "HR".into()),
            table_name: dml.then(|| "EMP".into()),
            row_id: dml.then(|| format!("AAAR3sAAEAAAACX{scn:03}")),
            sql_redo: redo.map(str::to_owned),
            rs_id: format!(" 0x00000a.{scn:08x}.0010 "),
            timestamp_ms: 1_764_000_000_000 + scn as i64,
            ..LogMinerRow::default()
        }
    }

    fn insert(id: u32, name: &str, salary: &str) -> String {
        format!(
            "insert into \"HR\".\"EMP\"(\"ID\",\"NAME\",\"SALARY\",\"HIRED\") values ('{id}','{name}','{salary}',TO_DATE('2024-03-01 09:30:00', 'YYYY-MM-DD HH24:MI:SS'));"
        )
    }

    /// The database at S (three rows), a transaction open across S (it inserted ID 4 before S
    /// and commits after), one mined but committed before S (ID 3: in the snapshot already), and after S
    /// an update, a delete, a rolled-back transaction and a savepoint rolled back.
    fn database() -> ScriptSession {
        let hired = "2020-01-02 00:00:00";
        ScriptSession::new()
            .database_info(DatabaseInfo {
                dbid: 1_234_567_890,
                name: "ORCL".into(),
                version: "19.0.0.0.0".into(),
                time_zone_offset_secs: 0,
            })
            .table(
                DictTable {
                    table: emp(),
                    estimated_rows: 3,
                },
                vec![
                    text_row(["1", "Ann", "5000", hired]),
                    text_row(["2", "Bob", "4200.5", hired]),
                    text_row(["3", "Cy", "", hired]),
                ],
            )
            .log(10, 900, 100_000)
            .clock(&[S])
            .open_transaction(OpenTransaction {
                xid: xid(5, 1, 1),
                start_scn: Scn(990),
            })
            .rows([
                lm(990, (5, 1, 1), op::START, None),
                lm(992, (7, 3, 3), op::START, None),
                lm(993, (7, 3, 3), op::INSERT, Some(&insert(3, "Cy", "3000"))),
                lm(995, (5, 1, 1), op::INSERT, Some(&insert(4, "Dan", "4100.5"))),
                lm(998, (7, 3, 3), op::COMMIT, None),
                lm(1_001, (6, 2, 2), op::START, None),
                lm(1_002, (6, 2, 2), op::UPDATE, Some("update \"HR\".\"EMP\" set \"NAME\" = 'Ann B' where \"ID\" = '1' and \"NAME\" = 'Ann' and \"SALARY\" = '5000' and \"HIRED\" = TO_DATE('2020-01-02 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and ROWID = 'AAAR3sAAEAAAACXAAA';")),
                lm(1_003, (6, 2, 2), op::DELETE, Some("delete from \"HR\".\"EMP\" where \"ID\" = '2' and \"NAME\" = 'Bob' and \"SALARY\" = '4200.5' and \"HIRED\" = TO_DATE('2020-01-02 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and ROWID = 'AAAR3sAAEAAAACXAAB';")),
                lm(1_050, (5, 1, 1), op::COMMIT, None),
                lm(1_100, (6, 2, 2), op::COMMIT, None),
                lm(1_200, (8, 4, 4), op::START, None),
                lm(1_201, (8, 4, 4), op::INSERT, Some(&insert(9, "Rolled", "1"))),
                lm(1_210, (8, 4, 4), op::ROLLBACK, None),
                lm(1_220, (9, 5, 5), op::START, None),
                lm(1_221, (9, 5, 5), op::INSERT, Some(&insert(5, "Eve", "10"))),
                lm(1_222, (9, 5, 5), op::INSERT, Some(&insert(6, "Undone", "11"))),
                LogMinerRow {
                    rollback: true,
                    row_id: Some("AAAR3sAAEAAAACX1222".into()),
                    ..lm(1_223, (9, 5, 5), op::DELETE, Some("delete from \"HR\".\"EMP\" where \"ID\" = '6' and ROWID = 'AAAR3sAAEAAAACX1222';"))
                },
                lm(1_230, (9, 5, 5), op::COMMIT, None),
            ])
    }

    fn spec(name: &str, phases: &str) -> TaskSpec {
        TaskSpec::parse(&format!(
            "name = {name:?}\n[source]\nkind = \"oracle\"\nhost = \"db.example\"\n\
             service_name = \"ORCLPDB1\"\nuser = \"C##TRIBUTARY\"\npassword = \"x\"\n\
             logminer_window_min = 100\nlogminer_window_max = 10000\nlogminer_flush_delay = \"100ms\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\nformat = \"debezium_json\"\n\
             ddl_topic = \"{name}_ddl\"\n\
             [destination.debezium]\ndecimal_handling_mode = \"string\"\n\
             [objects]\ntables = [\"HR.*\"]\n\
             [migration]\nphases = [{phases}]\ncheckpoint_interval = \"100ms\"\n",
            kafka()
        ))
        .unwrap()
    }

    /// A full + incremental task writing Canal JSON into one topic, `source` added to the
    /// `[source]` settings.
    fn canal_spec(name: &str, topic: &str, source: &str) -> TaskSpec {
        TaskSpec::parse(&format!(
            "name = {name:?}\n[source]\nkind = \"oracle\"\nhost = \"db.example\"\n\
             service_name = \"ORCL\"\nuser = \"C##TRIBUTARY\"\npassword = \"x\"\n\
             logminer_flush_delay = \"100ms\"\n{source}\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\nformat = \"canal_json\"\n\
             topic = {topic:?}\npartitions = 1\n\
             [objects]\ntables = [\"HR.*\"]\n\
             [migration]\nphases = [\"full\", \"incremental\"]\ncheckpoint_interval = \"100ms\"\n",
            kafka()
        ))
        .unwrap()
    }

    /// `spec` started on `database()`, its snapshot read and the redo mined through SCN 1,300
    /// (the DELETE in `topic`): the stand-in, the store, the spill directory and the run.
    async fn started_past_1300(
        spec: &TaskSpec,
        topic: &str,
    ) -> (
        ScriptSession,
        Arc<MemoryCheckpointStore>,
        tempfile::TempDir,
        watch::Sender<bool>,
        tokio::task::JoinHandle<Result<TaskOutcome, TaskFailure>>,
    ) {
        let db = database();
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (stop, run) = start(spec, &db, store.clone(), spill.path());
        wait_started(&store, spec).await;
        db.advance_to(1_300);
        let deleted = |m: &[Msg]| values(m).iter().any(|v| v["type"] == "DELETE");
        consume_until(topic, deleted);
        (db, store, spill, stop, run)
    }

    /// Runs shard 0 of `spec` on the stand-in until `stop` is set.
    fn start(
        spec: &TaskSpec,
        db: &ScriptSession,
        store: Arc<MemoryCheckpointStore>,
        spill: &std::path::Path,
    ) -> (
        watch::Sender<bool>,
        tokio::task::JoinHandle<Result<TaskOutcome, TaskFailure>>,
    ) {
        let (stop, shutdown) = watch::channel(false);
        let rt = ShardRuntime {
            key: key(spec),
            epoch: Epoch::TakeOver,
            store,
            stats: Arc::new(Stats::default()),
            shutdown,
            until: None,
            status: None,
            limits: None,
            specs: None,
            spec: spec.clone(),
        };
        let (spec, db, spill) = (spec.clone(), db.clone(), spill.to_owned());
        let run = tokio::spawn(async move {
            let source = || -> Result<_, TaskError> {
                let mut opts = OracleSourceOptions::from_spec(&spec, 0)?;
                opts.poll = Duration::from_millis(20);
                opts.spill_dir = spill.clone();
                Ok(OracleSource::new(opts, db.clone()))
            };
            let sink = |labels: &ShardLabels, _: &str| -> Result<KafkaSink, TaskError> {
                Ok(KafkaSink::new(kafka_config(&spec)?, labels)?)
            };
            run_shard(rt, source, sink).await
        });
        (stop, run)
    }

    /// Waits until the first start is done: the snapshot SCN (the stand-in's clock) is fixed.
    async fn wait_started(store: &MemoryCheckpointStore, spec: &TaskSpec) {
        let k = key(spec);
        wait_for("the first start's checkpoint", LIMIT, || {
            let cp = store.get(&k);
            async move { cp.is_some_and(|cp| cp.started) }
        })
        .await;
    }

    fn key(spec: &TaskSpec) -> ShardKey {
        ShardKey {
            task: spec.name.clone(),
            shard: 0,
        }
    }

    /// `op` and the row image of each message, in topic order.
    fn ops(msgs: &[Msg]) -> Vec<(String, Value)> {
        values(msgs)
            .iter()
            .map(|v| {
                let op = v["op"].as_str().unwrap_or_default().to_owned();
                let image = if op == "d" { &v["before"] } else { &v["after"] };
                (op, image.clone())
            })
            .collect()
    }

    fn id_of(image: &Value) -> String {
        match &image["ID"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }

    /// The table after replaying the messages: ID → NAME.
    fn state(msgs: &[Msg]) -> BTreeMap<String, Value> {
        let mut rows = BTreeMap::new();
        for (op, image) in ops(msgs) {
            if op == "d" {
                rows.remove(&id_of(&image));
            } else {
                rows.insert(id_of(&image), image["NAME"].clone());
            }
        }
        rows
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_as_of_scn_then_mined_changes_reach_kafka_with_no_gap_and_no_overlap() {
        let name = unique("ora_e2e");
        let spec = spec(&name, "\"schema\", \"full\", \"incremental\"");
        let db = database();
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (stop, run) = start(&spec, &db, store.clone(), spill.path());
        // The snapshot is read at S; then the database's clock moves on and the redo is mined.
        let topic = format!("{name}.HR.EMP");
        consume_until(&topic, |m| values(m).len() >= 3);
        db.advance_to(1_300);
        let msgs = consume_until(&topic, |m| values(m).len() >= 7);
        let ops = ops(&msgs);
        let summary: Vec<(String, String)> =
            ops.iter().map(|(o, i)| (o.clone(), id_of(i))).collect();
        let ids = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(o, i)| (o.to_string(), i.to_string()))
                .collect()
        };
        // r 1..3 at S; then in commit order: the transaction open across S (ID 4, inserted
        // before S), the update and delete, the savepoint's surviving insert (ID 5). Not: ID 3
        // again (committed before S), ID 9 (rolled back), ID 6 (rolled back to a savepoint).
        assert_eq!(
            summary,
            ids(&[
                ("r", "1"),
                ("r", "2"),
                ("r", "3"),
                ("c", "4"),
                ("u", "1"),
                ("d", "2"),
                ("c", "5"),
            ]),
            "{ops:#?}"
        );
        assert_eq!(ops[4].1["NAME"], "Ann B");
        assert!(ops[2].1["SALARY"].is_null(), "{}", ops[2].1);
        let u = values(&msgs)[4];
        assert_eq!(u["before"]["NAME"], "Ann", "full before image: {u}");
        // Headers name the Oracle transaction and position (commit SCN, XID, index).
        let um = msgs
            .iter()
            .find(|m| m.value.as_ref().is_some_and(|v| v["op"] == "u"))
            .unwrap();
        assert_eq!(um.headers["tributary.tx"], "6.2.2", "{:?}", um.headers);
        assert_eq!(um.position(), "1100:6.2.2:0");
        // Everything is durable: the checkpoint holds the last event and a restart SCN past it.
        let k = key(&spec);
        wait_for("the last commit in the checkpoint", LIMIT, || {
            let cp = store.get(&k);
            async move {
                cp.is_some_and(|cp| {
                    matches!(cp.stream, Some(StreamPosition::Oracle { commit_scn, .. }) if commit_scn == Scn(1_230))
                })
            }
        })
        .await;
        let cp = store.get(&k).unwrap();
        assert_eq!(cp.tables["HR.EMP"], TableProgress::Done { rows: 3 });
        assert_eq!(cp.oracle().unwrap().snapshot_scn, Scn(S));
        assert_eq!(cp.oracle().unwrap().mining_start, Scn(990));
        // The statements the source sent: NLS pinned first, the flashback read at S, mining
        // from the open transaction's start SCN.
        let calls = db.calls();
        assert_eq!(calls[..4], sql::NLS.map(str::to_owned)[..]);
        assert!(
            calls.contains(&sql::read_table(&emp(), Scn(S))),
            "{calls:#?}"
        );
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("BEGIN DBMS_LOGMNR.START_LOGMNR(STARTSCN => 990,")),
            "{calls:#?}"
        );
        // The schema phase published the dictionary's definition, Oracle's types and key.
        let ddl = consume_until(&format!("{name}_ddl"), |m| !m.is_empty());
        let v = values(&ddl)[0];
        let statement = v["payload"]["ddl"]
            .as_str()
            .or(v["ddl"].as_str())
            .unwrap_or_default();
        assert_eq!(
            statement,
            "CREATE TABLE \"HR\".\"EMP\" (\"ID\" NUMBER(10,0) NOT NULL, \"NAME\" VARCHAR2(40 BYTE), \"SALARY\" NUMBER(8,2), \"HIRED\" DATE, PRIMARY KEY (\"ID\"))",
            "{v}"
        );
        stop.send(true).unwrap();
        let outcome = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        assert!(matches!(outcome, Ok(TaskOutcome::Stopped)), "{outcome:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_run_resumes_from_its_restart_scn_without_loss_or_duplicates_before_the_checkpoint(
    ) {
        let name = unique("ora_resume");
        let spec = spec(&name, "\"full\", \"incremental\"");
        let db = database();
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let topic = format!("{name}.HR.EMP");
        // A transaction open across the kill (ID 7: started at 1_400, committing after the
        // restart), and one committed meanwhile (ID 8 at 1_420): durable before the kill, but
        // at or after the restart SCN, so mined again and skipped by position.
        db.push_rows([
            lm(1_400, (10, 6, 6), op::START, None),
            lm(1_401, (10, 6, 6), op::INSERT, Some(&insert(7, "Gus", "70"))),
            lm(1_410, (12, 8, 8), op::START, None),
            lm(1_411, (12, 8, 8), op::INSERT, Some(&insert(8, "Hal", "80"))),
            lm(1_420, (12, 8, 8), op::COMMIT, None),
        ]);
        let (_stop, run) = start(&spec, &db, store.clone(), spill.path());
        consume_until(&topic, |m| values(m).len() >= 3);
        db.advance_to(1_300);
        consume_until(&topic, |m| values(m).len() >= 7);
        db.advance_to(1_450);
        let k = key(&spec);
        // ID 8's commit durable: its restart SCN is the start of ID 7's, still open.
        wait_for("ID 8's commit durable with restart SCN 1_400", LIMIT, || {
            let cp = store.get(&k);
            async move {
                cp.is_some_and(|cp| {
                    cp.resume.is_some_and(|r| r.as_u64() == 1_400)
                        && matches!(cp.stream, Some(StreamPosition::Oracle { commit_scn, .. }) if commit_scn == Scn(1_420))
                })
            }
        })
        .await;
        run.abort();
        let _ = run.await;
        let before = store.get(&k).unwrap();
        db.push_rows([
            lm(1_460, (10, 6, 6), op::COMMIT, None),
            lm(1_470, (11, 7, 7), op::START, None),
            lm(1_471, (11, 7, 7), op::UPDATE, Some("update \"HR\".\"EMP\" set \"NAME\" = 'Eve 2' where \"ID\" = '5' and ROWID = 'AAAR3sAAEAAAACX1221';")),
            lm(1_480, (11, 7, 7), op::COMMIT, None),
        ]);
        db.advance_to(1_500);
        db.clear_calls();
        let (stop, run) = start(&spec, &db, store.clone(), spill.path());
        let msgs = consume_until(&topic, |m| state(m).get("5") == Some(&Value::from("Eve 2")));
        let calls = db.calls();
        // No second flashback read: the table was done.
        assert!(!calls.iter().any(|c| c.contains("AS OF SCN")), "{calls:#?}");
        let restart = before.resume.unwrap().as_u64();
        assert!(
            calls
                .iter()
                .any(|c| c.contains(&format!("STARTSCN => {restart},"))),
            "mining resumes at the restart SCN {restart}: {calls:#?}"
        );
        // Every stream event once: nothing durable before the kill was sent again.
        let mut seen = BTreeSet::new();
        for m in msgs.iter().filter(|m| m.value.is_some()) {
            let p = m.position().to_owned();
            assert!(seen.insert(p.clone()), "duplicate position {p}");
        }
        let expected: BTreeMap<String, Value> = [
            ("1", "Ann B"),
            ("3", "Cy"),
            ("4", "Dan"),
            ("5", "Eve 2"),
            ("7", "Gus"),
            ("8", "Hal"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
        assert_eq!(state(&msgs), expected);
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await;
        let after = store.load(&k).await.unwrap().unwrap();
        assert!(after.resume >= before.resume && after.stream > before.stream);
        // Releasing the task needs no connection (LogMiner holds nothing): its topic and
        // checkpoint go.
        let source = releasing(&spec, 0).unwrap();
        let sink = |labels: &ShardLabels| -> Result<KafkaSink, TaskError> {
            Ok(KafkaSink::new(kafka_config(&spec)?, labels)?)
        };
        let report = release(&*store, &k, source, sink, true).await.unwrap();
        assert!(
            report.checkpoint_deleted && report.dropped.is_empty(),
            "{report:?}"
        );
        assert_eq!(report.topics_deleted, [topic]);
        assert!(store.load(&k).await.unwrap().is_none());
    }

    fn snapshot_too_old() -> SessionError {
        SessionError::Database {
            code: 1555,
            message:
                "snapshot too old: rollback segment number 7 with name \"_SYSSMU7$\" too small"
                    .into(),
        }
    }

    /// Issue 9: an ORA-01555 during the flashback read fails the table's read and it is read
    /// again from scratch; when the undo never holds S, the task fails naming UNDO_RETENTION.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_too_old_rereads_the_table_then_fails_naming_undo_retention() {
        let name = unique("ora_1555");
        let spec = spec(&name, "\"full\"");
        let db = database();
        db.fail_next("SELECT TO_CHAR", snapshot_too_old());
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (_stop, run) = start(&spec, &db, store.clone(), spill.path());
        let outcome = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        assert!(matches!(outcome, Ok(TaskOutcome::Completed)), "{outcome:?}");
        let reads = db
            .calls()
            .iter()
            .filter(|c| c.contains("AS OF SCN 1000"))
            .count();
        assert_eq!(reads, 2, "read once more after ORA-01555");
        let topic = format!("{name}.HR.EMP");
        let msgs = consume_until(&topic, |m| values(m).len() >= 3);
        assert_eq!(values(&msgs).len(), 3, "the failed read sent nothing");
        assert_eq!(
            store.get(&key(&spec)).unwrap().tables["HR.EMP"],
            TableProgress::Done { rows: 3 }
        );

        let name = unique("ora_1555_fail");
        let spec = self::spec(&name, "\"full\"");
        let db = database();
        for _ in 0..3 {
            db.fail_next("SELECT TO_CHAR", snapshot_too_old());
        }
        let store = Arc::new(MemoryCheckpointStore::new());
        let (_stop, run) = start(&spec, &db, store, spill.path());
        let outcome = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        let failure = outcome.expect_err("the task fails");
        let line = failure.error.to_string();
        assert!(
            line.contains("HR.EMP")
                && line.contains("AS OF SCN 1000")
                && line.contains("ORA-01555")
                && line.contains("UNDO_RETENTION")
                && !line.contains('\n'),
            "{line}"
        );
    }

    /// A checkpoint of another database is not resumed: the task fails saying so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_of_another_database_is_refused() {
        let name = unique("ora_otherdb");
        let spec = spec(&name, "\"incremental\"");
        let db = database();
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (stop, run) = start(&spec, &db, store.clone(), spill.path());
        wait_started(&store, &spec).await;
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();
        let other = database().database_info(DatabaseInfo {
            dbid: 42,
            name: "STAGE".into(),
            version: "19.0.0.0.0".into(),
            time_zone_offset_secs: 0,
        });
        let (_stop, run) = start(&spec, &other, store, spill.path());
        let outcome = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        let line = outcome.expect_err("refused").error.to_string();
        assert!(
            line.contains("ORCL (DBID 1234567890)") && line.contains("STAGE (DBID 42)"),
            "{line}"
        );
    }

    /// Issue 9 item 1: with `pdb`, a common user connected to the CDB's service reads the PDB's
    /// dictionary and tables in the PDB and mines in CDB$ROOT, only that PDB's rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pdb_is_read_in_the_pdb_and_mined_from_the_root() {
        let name = unique("ora_pdb");
        let text = format!(
            "name = {name:?}\n[source]\nkind = \"oracle\"\nhost = \"db.example\"\n\
             service_name = \"ORCLCDB\"\npdb = \"ORCLPDB1\"\nuser = \"C##TRIBUTARY\"\npassword = \"x\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\nformat = \"canal_json\"\n\
             [objects]\ntables = [\"HR.EMP\"]\n\
             [migration]\nphases = [\"full\", \"incremental\"]\ncheckpoint_interval = \"100ms\"\n",
            kafka()
        );
        let spec = TaskSpec::parse(&text).unwrap();
        let db = database();
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (stop, run) = start(&spec, &db, store, spill.path());
        let topic = format!("{name}.HR.EMP");
        consume_until(&topic, |m| values(m).len() >= 3);
        db.advance_to(1_300);
        consume_until(&topic, |m| values(m).len() >= 7);
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();
        let calls = db.calls();
        let at = |sql: &str| {
            calls
                .iter()
                .position(|c| c.starts_with(sql))
                .unwrap_or_else(|| panic!("{sql} in {calls:#?}"))
        };
        let into_pdb = at("ALTER SESSION SET CONTAINER = \"ORCLPDB1\"");
        let to_root = at("ALTER SESSION SET CONTAINER = \"CDB$ROOT\"");
        assert!(
            into_pdb < at("SELECT C.OWNER"),
            "dictionary in the PDB: {calls:#?}"
        );
        assert!(to_root < at("BEGIN DBMS_LOGMNR.START_LOGMNR"), "{calls:#?}");
        let read = at("SELECT TO_CHAR");
        assert_eq!(
            calls[read - 1],
            "ALTER SESSION SET CONTAINER = \"ORCLPDB1\"",
            "the reader's session enters the PDB first: {calls:#?}"
        );
        assert!(
            calls[at("SELECT SCN, START_SCN")].ends_with("AND SRC_CON_NAME = 'ORCLPDB1'"),
            "{calls:#?}"
        );
    }

    /// A DDL on a captured table is routed like PostgreSQL's captured DDL (a Canal JSON DDL
    /// record, in order with the rows), and the rows after it are read by the new definition.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ddl_is_migrated_in_order_and_later_rows_use_the_new_columns() {
        let name = unique("ora_ddl");
        let topic = format!("{name}_all");
        let spec = canal_spec(&name, &topic, "");
        let (db, _store, _spill, stop, run) = started_past_1300(&spec, &topic).await;
        // ALTER TABLE adds BONUS; the dictionary (online catalog) shows it from then on.
        db.redefine(DictTable {
            table: emp_with_bonus(),
            estimated_rows: 4,
        });
        let ddl = "ALTER TABLE \"HR\".\"EMP\" ADD (\"BONUS\" NUMBER)";
        db.push_rows([
            lm(1_400, (13, 1, 1), op::START, None),
            lm(1_401, (13, 1, 1), op::DDL, Some(ddl)),
            lm(1_402, (13, 1, 1), op::COMMIT, None),
            lm(1_410, (14, 1, 1), op::START, None),
            lm(1_411, (14, 1, 1), op::INSERT, Some("insert into \"HR\".\"EMP\"(\"ID\",\"NAME\",\"SALARY\",\"HIRED\",\"BONUS\") values ('10','Ida','1',NULL,'99');")),
            lm(1_420, (14, 1, 1), op::COMMIT, None),
        ]);
        db.advance_to(1_500);
        let bonus = |v: &Value| v["data"][0]["BONUS"] == "99";
        let msgs = consume_until(&topic, |m| values(m).iter().any(|v| bonus(v)));
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();
        let all = values(&msgs);
        let ddl_at = all
            .iter()
            .position(|v| v["isDdl"] == true)
            .expect("a DDL record");
        let row_at = all.iter().position(|v| bonus(v)).unwrap();
        assert_eq!(all[ddl_at]["sql"], ddl, "{}", all[ddl_at]);
        assert!(
            all[..ddl_at].iter().any(|v| v["type"] == "DELETE"),
            "after the earlier rows"
        );
        assert!(ddl_at < row_at, "the DDL before the row using its column");
        assert_eq!(all[row_at]["type"], "INSERT", "{}", all[row_at]);
        assert_eq!(all.iter().filter(|v| v["isDdl"] == true).count(), 1);
    }

    /// `HR.EMP` with a nullable NUMBER column `BONUS` added.
    fn emp_with_bonus() -> OraTable {
        let mut t = emp();
        t.columns.push(OraColumn {
            name: "BONUS".into(),
            ty: OraType::Number {
                precision: None,
                scale: None,
            },
            nullable: true,
            is_key: false,
        });
        t
    }

    /// With `logminer_dictionary = "redo_logs"`, a task resumed after two DDLs on a table (a
    /// column added, then dropped again while it was stopped) reads each mined row by the
    /// table's definition at the row's SCN: the dictionary views read `AS OF SCN` the resume
    /// point and each DDL's commit, LogMiner started on the redo-log dictionary it built.
    /// With the online catalog the same run fails at the row that has the dropped column.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resume_behind_two_ddls_reads_each_row_by_its_definition_at_its_scn() {
        let name = unique("ora_dict");
        let topic = format!("{name}_all");
        let spec = canal_spec(&name, &topic, "logminer_dictionary = \"redo_logs\"\n");
        let (db, store, spill, stop, run) = started_past_1300(&spec, &topic).await;
        let k = key(&spec);
        wait_for("mining past SCN 1,300 durable", LIMIT, || {
            let cp = store.get(&k);
            async move {
                cp.is_some_and(|cp| {
                    matches!(cp.resume, Some(tributary::position::ResumeToken::Oracle { restart_scn }) if restart_scn > Scn(1_300))
                })
            }
        })
        .await;
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();

        // While the task is stopped: BONUS is added (committed at 1,402), a row uses it, BONUS
        // is dropped (1,502), a row without it. The dictionary now shows EMP without BONUS.
        db.redefine_at(
            DictTable {
                table: emp_with_bonus(),
                estimated_rows: 4,
            },
            1_402,
        );
        db.redefine_at(
            DictTable {
                table: emp(),
                estimated_rows: 4,
            },
            1_502,
        );
        let add = "ALTER TABLE \"HR\".\"EMP\" ADD (\"BONUS\" NUMBER)";
        let drop = "ALTER TABLE \"HR\".\"EMP\" DROP COLUMN \"BONUS\"";
        db.push_rows([
            lm(1_400, (13, 1, 1), op::START, None),
            lm(1_401, (13, 1, 1), op::DDL, Some(add)),
            lm(1_402, (13, 1, 1), op::COMMIT, None),
            lm(1_410, (14, 1, 1), op::START, None),
            lm(1_411, (14, 1, 1), op::INSERT, Some("insert into \"HR\".\"EMP\"(\"ID\",\"NAME\",\"SALARY\",\"HIRED\",\"BONUS\") values ('10','Ida','1',NULL,'99');")),
            lm(1_420, (14, 1, 1), op::COMMIT, None),
            lm(1_500, (15, 1, 1), op::START, None),
            lm(1_501, (15, 1, 1), op::DDL, Some(drop)),
            lm(1_502, (15, 1, 1), op::COMMIT, None),
            lm(1_510, (16, 1, 1), op::START, None),
            lm(1_511, (16, 1, 1), op::INSERT, Some(&insert(11, "Jo", "2"))),
            lm(1_520, (16, 1, 1), op::COMMIT, None),
        ]);
        db.advance_to(1_600);
        db.clear_calls();
        let (stop, run) = start(&spec, &db, store.clone(), spill.path());
        let jo = |v: &Value| v["data"][0]["NAME"] == "Jo";
        let msgs = consume_until(&topic, |m| values(m).iter().any(|v| jo(v)));
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();
        let all = values(&msgs);
        let ddls: Vec<&Value> = all.iter().filter(|v| v["isDdl"] == true).copied().collect();
        assert_eq!(ddls.len(), 2, "{ddls:#?}");
        assert_eq!(
            (ddls[0]["sql"].as_str(), ddls[1]["sql"].as_str()),
            (Some(add), Some(drop))
        );
        let ida = all
            .iter()
            .find(|v| v["data"][0]["NAME"] == "Ida")
            .expect("the row written while BONUS existed");
        assert_eq!(ida["data"][0]["BONUS"], "99", "{ida}");
        let jo_msg = all.iter().find(|v| jo(v)).unwrap();
        assert!(jo_msg["data"][0].get("BONUS").is_none(), "{jo_msg}");
        let order: Vec<&str> = all
            .iter()
            .filter_map(|v| {
                if v["isDdl"] == true {
                    v["sql"].as_str()
                } else {
                    v["data"][0]["NAME"].as_str()
                }
            })
            .skip_while(|s| *s != add)
            .collect();
        assert_eq!(order, [add, "Ida", drop, "Jo"]);
        // The definitions were read as of the resume point and each DDL's commit, and LogMiner
        // rendered the rows with the dictionary it found in the redo.
        let calls = db.calls();
        let as_of: Vec<&str> = calls
            .iter()
            .filter(|c| c.starts_with("SELECT C.OWNER"))
            .filter_map(|c| c.split(" AS OF SCN ").nth(1))
            .map(|rest| rest.split(' ').next().unwrap())
            .collect();
        let resumed_at = as_of.first().copied().unwrap_or_default();
        assert!(resumed_at.parse::<u64>().unwrap() > 1_300, "{calls:#?}");
        assert_eq!(as_of[1..], ["1402", "1502"], "{calls:#?}");
        assert!(
            calls
                .iter()
                .any(|c| c
                    .contains("DBMS_LOGMNR.DICT_FROM_REDO_LOGS + DBMS_LOGMNR.DDL_DICT_TRACKING")),
            "{calls:#?}"
        );
        assert_eq!(
            db.dictionary_builds().len(),
            1,
            "built once, in the first run"
        );
    }

    /// A CLOB written after its row's INSERT (EMPTY_CLOB(), a locator, LOB_WRITE rows) reaches
    /// Kafka whole, in the INSERT's message (row shapes as Debezium's `SelectLobParserTest` and
    /// `LobWriteParser` read them).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clob_written_piecewise_arrives_whole_in_its_insert() {
        let name = unique("ora_lob");
        let spec = spec(&name, "\"incremental\"");
        let docs = OraTable {
            owner: "HR".into(),
            name: "DOCS".into(),
            object_id: 73_002,
            columns: vec![
                OraColumn {
                    name: "ID".into(),
                    ty: OraType::Number {
                        precision: None,
                        scale: None,
                    },
                    nullable: false,
                    is_key: true,
                },
                OraColumn {
                    name: "DOC".into(),
                    ty: OraType::Clob,
                    nullable: true,
                    is_key: false,
                },
            ],
        };
        let db = database().table(
            DictTable {
                table: docs,
                estimated_rows: 0,
            },
            Vec::new(),
        );
        let at = |scn: u64, code: i32, redo: &str| LogMinerRow {
            table_name: Some("DOCS".into()),
            row_id: Some("AAAR9xAAEAAAACXAAA".into()),
            ..lm(scn, (15, 1, 1), code, Some(redo))
        };
        let locator = "DECLARE \n loc_c CLOB; \n buf_c VARCHAR2(6174); \nBEGIN\n select \"DOC\" into loc_c from \"HR\".\"DOCS\" where \"ID\" = '1' for update;";
        db.push_rows([
            lm(1_400, (15, 1, 1), op::START, None),
            at(
                1_401,
                op::INSERT,
                "insert into \"HR\".\"DOCS\"(\"ID\",\"DOC\") values ('1',EMPTY_CLOB());",
            ),
            at(1_402, op::SELECT_LOB_LOCATOR, locator),
            at(
                1_403,
                op::LOB_WRITE,
                " buf_c := 'Hello, '; \n  dbms_lob.write(loc_c, 7, 1, buf_c);",
            ),
            at(
                1_404,
                op::LOB_WRITE,
                " buf_c := 'LOB ünïcode'; \n  dbms_lob.write(loc_c, 11, 8, buf_c);",
            ),
            lm(1_410, (15, 1, 1), op::COMMIT, None),
        ]);
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (stop, run) = start(&spec, &db, store.clone(), spill.path());
        wait_started(&store, &spec).await;
        db.advance_to(1_500);
        let msgs = consume_until(&format!("{name}.HR.DOCS"), |m| !values(m).is_empty());
        stop.send(true).unwrap();
        let _ = tokio::time::timeout(LIMIT, run).await.unwrap();
        let v = values(&msgs);
        assert_eq!(v.len(), 1, "one message: {v:?}");
        assert_eq!(v[0]["op"], "c");
        assert_eq!(v[0]["after"]["DOC"], "Hello, LOB ünïcode", "{}", v[0]);
    }

    /// README: the full load is resumable per table, and a table cut mid-way is read again
    /// from its start. The connection is lost after the first batch (511 rows sent) of 1,200; the retry
    /// reads the table again, and the checkpoint marks it done with all its rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_cut_mid_read_is_read_again_from_its_start() {
        let name = unique("ora_cut");
        let spec = spec(&name, "\"full\"");
        let hired = "2020-01-02 00:00:00";
        let rows: Vec<Vec<Option<String>>> = (1..=1_200)
            .map(|i| text_row([&i.to_string(), "n", "1", hired]))
            .collect();
        let db = ScriptSession::new()
            .table(
                DictTable {
                    table: emp(),
                    estimated_rows: 1_200,
                },
                rows,
            )
            .log(10, 900, 100_000)
            .clock(&[S]);
        let reset = SessionError::Connection("connection reset by peer".into());
        let cut = db.cut_next_read(1, reset);
        let store = Arc::new(MemoryCheckpointStore::new());
        let spill = tempfile::tempdir().unwrap();
        let (_stop, run) = start(&spec, &db, store.clone(), spill.path());
        // The first batch's rows are durable (the table partial in the checkpoint; its last
        // row is held back until the next says whether it ends the table), then the cut.
        let k = key(&spec);
        wait_for("511 rows durable", LIMIT, || {
            let cp = store.get(&k);
            async move {
                cp.is_some_and(|cp| {
                    cp.tables.get("HR.EMP") == Some(&TableProgress::Partial { rows: 511 })
                })
            }
        })
        .await;
        cut.notify_one();
        let outcome = tokio::time::timeout(LIMIT, run).await.unwrap().unwrap();
        assert!(matches!(outcome, Ok(TaskOutcome::Completed)), "{outcome:?}");
        let reads = db
            .calls()
            .iter()
            .filter(|c| c.contains("AS OF SCN"))
            .count();
        assert_eq!(reads, 2, "read again after the cut");
        let topic = format!("{name}.HR.EMP");
        let msgs = consume_until(&topic, |m| values(m).len() >= 1_711);
        let ids: BTreeSet<String> = values(&msgs).iter().map(|v| id_of(&v["after"])).collect();
        // The cut read's held 512th row is not sent (nor marked last): it is read again.
        assert_eq!(
            values(&msgs).len(),
            511 + 1_200,
            "the cut's durable rows, then the whole table"
        );
        assert_eq!(ids.len(), 1_200);
        let marked_last: Vec<String> = values(&msgs)
            .iter()
            .filter(|v| v["source"]["snapshot"] == "last_in_data_collection")
            .map(|v| id_of(&v["after"]))
            .collect();
        assert_eq!(marked_last, ["1200"], "only the table's real last row");
        assert_eq!(
            store.get(&key(&spec)).unwrap().tables["HR.EMP"],
            TableProgress::Done { rows: 1_200 }
        );
    }
}
