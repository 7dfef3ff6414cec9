//! DDL capture end to end (real PostgreSQL 15, where the test user is a superuser, and the
//! broker): every migrated kind of statement reaches the DDL topic once, in order with the
//! rows around it; every skipped kind is logged with its reason and is absent; a column added
//! mid-stream is in the next events; a table created in a schema-level task is captured from
//! its first row; a broken or dropped capture never makes the user's DDL fail and is reported;
//! `release` drops exactly the task's helper objects.

mod support;

mod serial {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    /// A Canal JSON task over `tables`, everything (rows and DDL) in one single-partition
    /// topic so the order of all records is the order of the topic.
    fn canal_task(db: &TestDb, prefix: &str, tables: &[&str]) -> (TaskSetup, String) {
        let setup = TaskSetup::new(&db.url, prefix, tables, &["incremental"]);
        let topic = format!("{}_all", setup.task);
        let text = std::fs::read_to_string(&setup.path).unwrap().replace(
            "format = \"debezium_json\"",
            &format!("format = \"canal_json\"\ntopic = {topic:?}\npartitions = 1"),
        );
        std::fs::write(&setup.path, text).unwrap();
        (setup, topic)
    }

    /// Each record as one line: `DDL <sql>` or `<TYPE> <table> <row as JSON>`.
    fn lines(msgs: &[Msg]) -> Vec<String> {
        values(msgs)
            .iter()
            .map(|v| {
                if v["isDdl"] == json!(true) {
                    format!("DDL {}", v["sql"].as_str().unwrap())
                } else {
                    format!(
                        "{} {} {}",
                        v["type"].as_str().unwrap(),
                        v["table"].as_str().unwrap(),
                        v["data"][0]
                    )
                }
            })
            .collect()
    }

    async fn exec(db: &TestDb, sql: &str) {
        db.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrated_ddl_appears_once_in_order_and_skipped_ddl_is_logged() {
        let db = TestDb::create("ddlcap").await;
        exec(&db, "CREATE SCHEMA app; CREATE SCHEMA other; CREATE TABLE app.t (id int PRIMARY KEY, v int); CREATE TABLE other.x (id int PRIMARY KEY)").await;
        let (setup, topic) = canal_task(&db, "ddlcap", &["app.*"]);
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;

        // (statement, migrated as written?) in the order they run, one transaction each.
        let migrated = [
            "ALTER TABLE app.t ADD COLUMN c text",
            "CREATE TABLE app.n (id int PRIMARY KEY, s text)",
            "CREATE INDEX n_s ON app.n (s)",
            "CREATE VIEW app.v AS SELECT id FROM app.t",
            "ALTER VIEW app.v RENAME TO v2",
            "CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
            "CREATE PROCEDURE app.p() LANGUAGE sql AS $$ SELECT 1 $$",
            "ALTER PROCEDURE app.p() RENAME TO p2",
            "DROP PROCEDURE app.p2()",
            "DROP FUNCTION app.f()",
            "DROP VIEW app.v2",
            "DROP INDEX app.n_s",
            "ALTER TABLE app.n RENAME TO n2",
        ];
        exec(&db, "INSERT INTO app.t VALUES (1, 1)").await;
        exec(&db, migrated[0]).await;
        exec(&db, "INSERT INTO app.t VALUES (2, 2, 'two')").await;
        exec(&db, migrated[1]).await;
        exec(&db, "INSERT INTO app.n VALUES (1, 'first')").await;
        for sql in &migrated[2..] {
            exec(&db, sql).await;
        }
        exec(&db, "TRUNCATE app.n2").await;
        exec(&db, "DROP TABLE app.n2").await;
        // Skipped, each for its own reason.
        exec(&db, "CREATE VIEW app.w AS SELECT 1 AS one").await;
        exec(&db, "DROP VIEW app.w CASCADE").await;
        exec(
            &db,
            "DO $$ BEGIN EXECUTE 'ALTER TABLE app.t ADD COLUMN d int'; END $$",
        )
        .await;
        let mut session = connect(&db.url).await;
        let tx = session.transaction().await.unwrap();
        tx.batch_execute("ALTER TABLE app.t ADD COLUMN e int")
            .await
            .unwrap();
        tx.batch_execute("INSERT INTO app.t VALUES (3, 3, 'x', NULL, 5)")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        exec(&db, "ALTER TABLE other.x ADD COLUMN z int").await;
        exec(&db, "CREATE SEQUENCE app.s").await;
        exec(&db, "INSERT INTO app.t VALUES (99, 99)").await;

        let msgs = consume_until(&topic, |m| {
            lines(m).iter().any(|l| l.contains("\"id\":\"99\""))
        });
        let got = lines(&msgs);
        let mut want = vec![
            r#"INSERT t {"id":"1","v":"1"}"#.to_owned(),
            format!("DDL {}", migrated[0]),
            r#"INSERT t {"c":"two","id":"2","v":"2"}"#.to_owned(),
            format!("DDL {}", migrated[1]),
            r#"INSERT n {"id":"1","s":"first"}"#.to_owned(),
        ];
        want.extend(migrated[2..].iter().map(|s| format!("DDL {s}")));
        want.extend([
            "DDL TRUNCATE TABLE app.n2".to_owned(),
            "DDL DROP TABLE app.n2".to_owned(),
            "DDL CREATE VIEW app.w AS SELECT 1 AS one".to_owned(),
            r#"INSERT t {"c":"x","d":null,"e":"5","id":"3","v":"3"}"#.to_owned(),
            r#"INSERT t {"c":null,"d":null,"e":null,"id":"99","v":"99"}"#.to_owned(),
        ]);
        let normalise = |l: &String| -> String {
            // Canal keeps column order; compare rows as sorted JSON objects.
            match l.split_once(" {") {
                Some((head, row)) if !l.starts_with("DDL") => {
                    let v: Value = serde_json::from_str(&format!("{{{row}")).unwrap();
                    format!("{head} {}", serde_json::to_string(&v).unwrap())
                }
                _ => l.clone(),
            }
        };
        let got: Vec<String> = got.iter().map(normalise).collect();
        assert_eq!(got, want, "every record, in topic order");

        child.sigterm();
        let (_, stderr) = child.wait_exit(LIMIT);
        assert!(
            !stderr.contains("unreadable"),
            "every capture message read: {stderr}"
        );
        for (statement, reason) in [
            ("DROP VIEW app.w CASCADE", "CASCADE or RESTRICT"),
            ("DO $$", "run indirectly"),
            (
                "ALTER TABLE app.t ADD COLUMN e int",
                "its transaction also changes rows",
            ),
            (
                "ALTER TABLE other.x ADD COLUMN z int",
                "outside the task's selection",
            ),
            (
                "CREATE SEQUENCE app.s",
                "CREATE SEQUENCE statements are not migrated",
            ),
        ] {
            assert!(
                stderr.lines().any(|l| l.contains("DDL not migrated")
                    && l.contains(statement)
                    && l.contains(reason)),
                "a skip line for {statement:?} ({reason}) in:\n{stderr}"
            );
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broken_capture_never_fails_the_users_ddl_and_is_reported() {
        let db = TestDb::create("ddlbroken").await;
        exec(&db, "CREATE TABLE t (id int PRIMARY KEY)").await;
        let (setup, topic) = canal_task(&db, "ddlbroken", &["public.t"]);
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let function: String = db
            .client
            .query_one(
                // The capture's function (its sql_drop trigger is the task's only one).
                "SELECT p.oid::regprocedure::text FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid WHERE e.evtevent = 'sql_drop'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let scraped = |name: &str| scrape(&addr).and_then(|s| metric(&s, name, &setup.task));

        // DDL under session_replication_role = replica fires no event trigger (compared with
        // the table's description the stream last sent).
        exec(&db, "INSERT INTO t VALUES (0)").await;
        exec(&db, "SET session_replication_role = replica; ALTER TABLE t ADD COLUMN a int; RESET session_replication_role").await;
        exec(&db, "INSERT INTO t VALUES (1, 1)").await;
        wait_until("the uncaptured column change counted", LIMIT, || {
            scraped("tributary_ddl_uncaptured_changes_total") == Some(1.0)
        })
        .await;

        // A capture function that fails (its owner may not write WAL messages) only warns.
        let role = unique("ddl_owner");
        exec(&db, &format!("CREATE ROLE {role}; REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC; ALTER FUNCTION {function} OWNER TO {role}")).await;
        exec(&db, "ALTER TABLE t ADD COLUMN b int").await;
        exec(&db, "INSERT INTO t VALUES (2, 2, 2)").await;
        wait_until("the failed capture's column change counted", LIMIT, || {
            scraped("tributary_ddl_uncaptured_changes_total") == Some(2.0)
        })
        .await;

        // Dropping the function (and with it the triggers) does not fail DDL either, and the
        // task says the capture is lost.
        exec(&db, &format!("DROP FUNCTION {function} CASCADE")).await;
        exec(&db, "ALTER TABLE t ADD COLUMN c int").await;
        exec(&db, "INSERT INTO t VALUES (3, 3, 3, 3)").await;
        wait_until("the lost capture reported", LIMIT, || {
            scraped("tributary_ddl_capture_active") == Some(0.0)
        })
        .await;
        let msgs = consume_until(&topic, |m| {
            lines(m).iter().any(|l| l.contains("\"c\":\"3\""))
        });
        let got = lines(&msgs);
        assert!(got.iter().all(|l| !l.starts_with("DDL")), "no DDL: {got:?}");
        assert!(got.iter().any(|l| l.contains(r#""a":"1""#)), "{got:?}");
        assert!(got.iter().any(|l| l.contains(r#""b":"2""#)), "{got:?}");

        child.sigterm();
        let (_, stderr) = child.wait_exit(LIMIT);
        assert!(stderr.contains("DDL capture is lost"), "{stderr}");
        assert!(
            !stderr.contains("unreadable"),
            "every capture message read: {stderr}"
        );
        assert!(
            stderr.contains("columns changed with no captured DDL"),
            "{stderr}"
        );
        let admin = connect(&pg_url()).await;
        db.cleanup().await;
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn release_drops_exactly_the_helper_objects() {
        let db = TestDb::create("ddlrel").await;
        exec(
            &db,
            "CREATE TABLE t (id int PRIMARY KEY);
            CREATE FUNCTION mine() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
            CREATE EVENT TRIGGER mine_trigger ON ddl_command_end EXECUTE FUNCTION mine()",
        )
        .await;
        let setup = TaskSetup::new(&db.url, "ddlrel", &["public.t"], &["incremental"]);
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let triggers = || async {
            let rows = db
                .client
                .query(
                    "SELECT evtname::text, evtfoid::regproc::text FROM pg_event_trigger ORDER BY 1",
                    &[],
                )
                .await
                .unwrap();
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect::<Vec<_>>()
        };
        let before = triggers().await;
        assert_eq!(
            before.len(),
            4,
            "the task's three triggers (DDL capture, drops, tables created later) beside mine: {before:?}"
        );
        let prefix = format!("tributary_{}_", setup.task.to_ascii_lowercase());
        assert!(
            before
                .iter()
                .filter(|(n, _)| n.starts_with(&prefix))
                .count()
                == 3,
            "{before:?}"
        );
        child.sigterm();
        child.wait_exit(LIMIT);

        let out = tributary()
            .args(["release", "--task"])
            .arg(&setup.path)
            .arg("--data-dir")
            .arg(setup.data())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("dropped event trigger"), "{stdout}");
        assert!(stdout.contains("dropped function"), "{stdout}");
        assert_eq!(
            triggers().await,
            vec![("mine_trigger".to_owned(), "mine".to_owned())]
        );
        let functions: i64 = db
            .client
            .query_one(
                "SELECT count(*) FROM pg_proc WHERE proname LIKE 'tributary_%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(functions, 0, "the capture function is gone");
        let (slots, pubs) = db.replication_objects().await;
        assert!(slots.is_empty() && pubs.is_empty(), "{slots:?} {pubs:?}");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_superuser_the_task_runs_and_warns_that_capture_is_off() {
        let db = TestDb::create("ddlnosu").await;
        let role = unique("ddl_repl");
        exec(&db, &format!(
            "CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw'; GRANT CREATE ON DATABASE {} TO {role};
             CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t OWNER TO {role}",
            db.name
        ))
        .await;
        let url = db
            .url
            .replacen("tributary:tributary@", &format!("{role}:pw@"), 1);
        assert_ne!(url, db.url, "the test URL names the user");
        let setup = TaskSetup::new(&url, "ddlnosu", &["public.t"], &["incremental"]);
        // The precheck warns of the lost feature; the task accepts it.
        let text = std::fs::read_to_string(&setup.path).unwrap();
        let accept = "\n[precheck]\naccept_warnings = [\"privilege_superuser_features\"]\n";
        std::fs::write(&setup.path, text + accept).unwrap();
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        exec(&db, "INSERT INTO t VALUES (1)").await;
        let msgs = consume_until(&setup.topic("public.t"), |m| !m.is_empty());
        assert_eq!(msgs.len(), 1, "the task runs: {msgs:?}");
        let triggers: i64 = db
            .client
            .query_one("SELECT count(*) FROM pg_event_trigger", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(triggers, 0, "no capture without a superuser");
        child.sigterm();
        let (code, stderr) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("DDL capture is off: creating its event trigger needs a superuser"),
            "{stderr}"
        );
        assert!(
            stderr.contains("tables created later are joined only through a schema published whole, and get no replica identity"),
            "{stderr}"
        );
        let admin = connect(&pg_url()).await;
        db.cleanup().await;
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    }

    /// DDL made while the task is stopped is migrated when the stream replays it, and the
    /// replayed rows written before it (whose description is older than the catalog's) are
    /// not reported as an uncaptured change.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ddl_made_while_stopped_is_migrated_on_the_replay_without_a_false_report() {
        let db = TestDb::create("ddlstop").await;
        exec(&db, "CREATE TABLE t (id int PRIMARY KEY)").await;
        let (setup, topic) = canal_task(&db, "ddlstop", &["public.t"]);
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        exec(&db, "INSERT INTO t VALUES (1)").await;
        consume_until(&topic, |m| !m.is_empty());
        child.sigterm();
        child.wait_exit(LIMIT);
        exec(&db, "INSERT INTO t VALUES (2)").await;
        exec(&db, "ALTER TABLE t ADD COLUMN c int").await;
        exec(&db, "INSERT INTO t VALUES (3, 3)").await;
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let msgs = consume_until(&topic, |m| {
            lines(m).iter().any(|l| l.contains(r#""c":"3""#))
        });
        let got: Vec<String> = lines(&msgs).into_iter().skip(1).collect();
        assert_eq!(
            got,
            vec![
                r#"INSERT t {"id":"2"}"#.to_owned(),
                "DDL ALTER TABLE t ADD COLUMN c int".to_owned(),
                r#"INSERT t {"c":"3","id":"3"}"#.to_owned(),
            ]
        );
        child.sigterm();
        let (_, stderr) = child.wait_exit(LIMIT);
        assert!(!stderr.contains("no captured DDL"), "{stderr}");
        db.cleanup().await;
    }
}
