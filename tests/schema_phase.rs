//! The schema phase against real PostgreSQL and the real broker: a schema-only task publishes
//! one `CREATE TABLE` per table (types, NOT NULL, defaults, primary and unique keys) to the DDL
//! topic in Debezium JSON and Canal JSON, with the names messages carry (name mapping and
//! capitalisation), and completes, creating nothing on the source (no slot, publication, event
//! trigger or replica identity), so it also runs on a `wal_level=replica` server as a role
//! without REPLICATION; a task whose schema phase is done does not publish again when
//! restarted; DDL on a selected table during the schema or full phase fails the task naming
//! it, as soon as that table is read.

mod support;

mod serial {
    use std::time::Duration;

    use serde_json::Value;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    const SCHEMA: &str = "
        CREATE TABLE orders (id bigint PRIMARY KEY, code varchar(20) NOT NULL UNIQUE,
            status text DEFAULT 'new', amount numeric(10,2));
        CREATE TABLE items (sku text PRIMARY KEY, qty int DEFAULT 1);";

    const ORDERS_SQL: &str = "CREATE TABLE \"PUBLIC\".\"purchases\" (\"ID\" bigint NOT NULL, \"CODE\" character varying(20) NOT NULL, \"state\" text DEFAULT 'new'::text, \"AMOUNT\" numeric(10,2), PRIMARY KEY (\"ID\"), UNIQUE (\"CODE\"))";
    const ITEMS_SQL: &str = "CREATE TABLE \"PUBLIC\".\"ITEMS\" (\"SKU\" text NOT NULL, \"QTY\" integer DEFAULT 1, PRIMARY KEY (\"SKU\"))";

    /// A task over `orders` (mapped to `purchases`, `status` to `state`) and `items`, upper
    /// case names, DDL to its own topic; returns the setup and the DDL topic.
    fn mapped_task(url: &str, format: &str, phases: &[&str]) -> (TaskSetup, String) {
        let setup = TaskSetup::new(url, "schema", &["public.orders", "public.items"], phases);
        let ddl = format!("{}-ddl", setup.task);
        let text = std::fs::read_to_string(&setup.path)
            .unwrap()
            .replace(
                "format = \"debezium_json\"",
                &format!("format = \"{format}\"\ncapitalisation = \"upper\"\nddl_topic = \"{ddl}\""),
            )
            .replace(
                "\n[migration]\n",
                "\n[objects.table.\"public.orders\"]\nname = \"purchases\"\ncolumns = { status = \"state\" }\n[migration]\n",
            );
        std::fs::write(&setup.path, text).unwrap();
        (setup, ddl)
    }

    /// Records every DDL command run in `db` from now on (`created`'s last part): an event
    /// trigger of the test's own, so a publication created and dropped, or a replica identity
    /// set and restored, between two looks is still seen.
    async fn record_ddl(db: &TestDb) {
        db.client
            .batch_execute(
                "CREATE TABLE test_ddl_log (tag text, object text);
                 CREATE FUNCTION test_log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     INSERT INTO test_ddl_log SELECT command_tag, object_identity
                     FROM pg_event_trigger_ddl_commands();
                 END $$;
                 CREATE EVENT TRIGGER test_log_ddl ON ddl_command_end EXECUTE FUNCTION test_log_ddl();",
            )
            .await
            .unwrap();
    }

    /// What exists in `db` that a task created: slots, publications, event triggers (other
    /// than `record_ddl`'s), and the DDL `record_ddl` saw.
    async fn created(db: &TestDb) -> Vec<String> {
        let (slots, pubs) = db.replication_objects().await;
        let mut all: Vec<String> = slots.into_iter().map(|s| format!("slot {s}")).collect();
        all.extend(pubs.into_iter().map(|p| format!("publication {p}")));
        let rows = db
            .client
            .query(
                "SELECT 'event trigger ' || evtname FROM pg_event_trigger WHERE evtname <> 'test_log_ddl' \
                 UNION ALL SELECT 'ddl ' || tag || ' ' || coalesce(object, '') FROM test_ddl_log",
                &[],
            )
            .await
            .unwrap();
        all.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        all
    }

    /// Runs `setup`'s task to its end (bounded) and checks that it created nothing on the
    /// source (`created`, with `record_ddl` called first: the DDL log keeps a publication or a
    /// trigger function created and dropped meanwhile), that it succeeds, and that its
    /// checkpoint is completed and planned nothing on the source (a first start records every
    /// object, a slot included, before creating it, so a slot made and dropped would show).
    async fn run_creating_nothing(db: &TestDb, setup: &TaskSetup) {
        let run = setup.spawn();
        let (code, err) = run.wait_exit(LIMIT);
        let found = created(db).await;
        assert!(
            found.is_empty(),
            "the task created {found:?}; stderr:\n{err}"
        );
        assert_eq!(code, 0, "{err}");
        let cp = checkpoint(&setup.data(), &setup.task).await;
        assert!(cp.completed && cp.schema_done, "{cp:?}");
        assert!(cp.pg_slot().is_none(), "{cp:?}");
        let planned = cp.planned.as_ref().map(|p| p.source.clone());
        assert!(planned.unwrap_or_default().is_empty(), "{cp:?}");
    }

    /// The DDL statement a message carries, in either format.
    fn statement(v: &Value) -> &str {
        v.get("ddl")
            .or_else(|| v.get("sql"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_schema_only_task_publishes_one_create_table_per_table_and_completes() {
        let db = TestDb::create("schema_only").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        record_ddl(&db).await;
        for format in ["debezium_json", "canal_json"] {
            let (setup, ddl) = mapped_task(&db.url, format, &["schema"]);
            run_creating_nothing(&db, &setup).await;
            let msgs = consume_until(&ddl, |m| m.len() >= 2);
            let sql: Vec<&str> = values(&msgs).into_iter().map(statement).collect();
            assert_eq!(sql, [ORDERS_SQL, ITEMS_SQL], "{format}");
            let first = msgs[0].value.as_ref().unwrap();
            match format {
                "canal_json" => {
                    assert_eq!(first["type"], "DDL");
                    assert_eq!(first["isDdl"], true);
                }
                _ => {
                    let change = &first["tableChanges"][0];
                    assert_eq!(change["type"], "CREATE");
                    assert_eq!(change["table"]["primaryKeyColumnNames"][0], "ID");
                    assert_eq!(first["schemaName"], "PUBLIC");
                }
            }
            // A second run of the completed task publishes nothing more (and creates nothing).
            run_creating_nothing(&db, &setup).await;
            let again = consume_all(&ddl, Duration::from_secs(1), Duration::from_secs(10));
            assert_eq!(again.len(), 2, "{format}: {again:?}");
        }
        db.cleanup().await;
    }

    /// On a `wal_level=replica` server (no logical slot can exist there), as a login role that
    /// is neither a superuser nor has REPLICATION, a schema-only task passes its precheck,
    /// publishes its statements and completes.
    #[tokio::test]
    async fn a_schema_only_task_runs_on_a_replica_server_without_replication_privilege() {
        let db = TestDb::create_on(&pg_replica_url(), "schema_replica").await;
        let level: String = db
            .client
            .query_one("SHOW wal_level", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(level, "replica");
        db.client.batch_execute(SCHEMA).await.unwrap();
        record_ddl(&db).await;
        let role = unique("schema_role");
        db.client
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER NOREPLICATION"
            ))
            .await
            .unwrap();
        let url = db
            .url
            .replacen("tributary:tributary@", &format!("{role}:pw@"), 1);
        assert_ne!(url, db.url);
        let (setup, ddl) = mapped_task(&url, "debezium_json", &["schema"]);
        run_creating_nothing(&db, &setup).await;
        let msgs = consume_until(&ddl, |m| m.len() >= 2);
        let sql: Vec<&str> = values(&msgs).into_iter().map(statement).collect();
        assert_eq!(sql, [ORDERS_SQL, ITEMS_SQL]);
        let admin = connect(&pg_replica_url()).await;
        db.cleanup().await;
        admin
            .batch_execute(&format!("DROP ROLE {role}"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_restart_after_the_schema_phase_does_not_publish_it_again() {
        let db = TestDb::create("schema_restart").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let phases = ["schema", "full", "incremental"];
        let (setup, ddl) = mapped_task(&db.url, "debezium_json", &phases);
        let mut run = setup.spawn();
        run.wait_stream_active(&db, &setup.task, LIMIT).await;
        consume_until(&ddl, |m| m.len() >= 2);
        run.sigkill();
        assert!(checkpoint(&setup.data(), &setup.task).await.schema_done);
        let mut run = setup.spawn();
        run.wait_stream_active(&db, &setup.task, LIMIT).await;
        db.client
            .batch_execute("INSERT INTO items VALUES ('after-restart', 2)")
            .await
            .unwrap();
        let topic = format!("{}.PUBLIC.ITEMS", setup.task);
        let rows = consume_until(&topic, |m| {
            values(m)
                .iter()
                .any(|v| v["after"]["SKU"] == "after-restart")
        });
        assert!(values(&rows)
            .iter()
            .any(|v| v["after"]["SKU"] == "after-restart"));
        let msgs = consume_all(&ddl, Duration::from_secs(1), Duration::from_secs(10));
        let sql: Vec<&str> = values(&msgs).into_iter().map(statement).collect();
        assert_eq!(sql, [ORDERS_SQL, ITEMS_SQL]);
        run.sigterm();
        run.wait_exit(LIMIT);
        db.cleanup().await;
    }

    #[tokio::test]
    async fn ddl_on_a_selected_table_during_the_full_phase_fails_the_task_naming_it() {
        let db = TestDb::create("schema_ddl").await;
        db.client
            .batch_execute(
                "CREATE TABLE big (id int PRIMARY KEY, v text);
                 INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 60000) g;
                 CREATE TABLE small (id int PRIMARY KEY);
                 INSERT INTO small SELECT generate_series(1, 5);
                 CREATE TABLE later (id int PRIMARY KEY);
                 INSERT INTO later SELECT generate_series(1, 100);",
            )
            .await
            .unwrap();
        let tables = ["public.big", "public.small", "public.later"];
        let setup = TaskSetup::new(&db.url, "ddl_full", &tables, &["full"]);
        add_to_section(&setup.path, "migration", "snapshot_rows_per_second = 5000");
        add_to_section(&setup.path, "source", "snapshot_connections = 1");
        let run = setup.spawn();
        // The snapshot reads `big` (slowly), then `small`, then `later`: change `small` while
        // `big` is read.
        wait_for("the snapshot to read table big", LIMIT, || async {
            let rows = db
                .client
                .query(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%big%'",
                    &[&db.name],
                )
                .await
                .unwrap();
            !rows.is_empty()
        })
        .await;
        db.client
            .batch_execute("ALTER TABLE small ADD COLUMN note text")
            .await
            .unwrap();
        let (code, err) = run.wait_exit(LIMIT);
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains("table public.small changed during the full phase"),
            "{err}"
        );
        // Found once `small` was read: `later` was never read.
        let later = consume_all(&setup.topic("public.later"), Duration::from_secs(1), LIMIT);
        assert!(later.is_empty(), "{} rows of later", later.len());
        db.cleanup().await;
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn ddl_on_a_selected_table_during_the_schema_phase_fails_the_task_naming_it() {
        let db = TestDb::create("schema_ddl_schema").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let (setup, _) = mapped_task(&db.url, "canal_json", &["schema"]);
        // The schema phase is held between reading the definitions and checking them until
        // the test writes to the FIFO `release` and closes it.
        let release = setup.data().with_file_name("release");
        let held = setup.data().with_file_name("release.held");
        let made = std::process::Command::new("mkfifo")
            .arg(&release)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo {}", release.display());
        let failpoints = format!(
            "{}=return({})",
            tributary::failpoint::SOURCE_SCHEMA_PHASE,
            release.display()
        );
        let run = spawn_run_failing(&setup.path, &setup.data(), &failpoints);
        wait_until("the schema phase to be held", LIMIT, || held.exists()).await;
        db.client
            .batch_execute("ALTER TABLE items ADD COLUMN note text")
            .await
            .unwrap();
        std::fs::write(&release, b"").unwrap();
        let (code, err) = run.wait_exit(LIMIT);
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains("table public.items changed during the schema phase"),
            "{err}"
        );
        assert_eq!(db.replication_objects().await, (vec![], vec![]));
        db.cleanup().await;
    }
}
