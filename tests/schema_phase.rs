//! The schema phase against real PostgreSQL and the real broker: a schema-only task publishes
//! one `CREATE TABLE` per table (types, NOT NULL, defaults, primary and unique keys) to the DDL
//! topic in Debezium JSON and Canal JSON, with the names messages carry (name mapping and
//! capitalisation), and completes; a task whose schema phase is done does not publish again
//! when restarted; DDL on a selected table during the full phase fails the task naming it, as
//! soon as that table is read.

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
    fn mapped_task(db: &TestDb, format: &str, phases: &[&str]) -> (TaskSetup, String) {
        let setup = TaskSetup::new(
            &db.url,
            "schema",
            &["public.orders", "public.items"],
            phases,
        );
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
        for format in ["debezium_json", "canal_json"] {
            let (setup, ddl) = mapped_task(&db, format, &["schema"]);
            let (code, err) = run_to_end(&setup.path, &setup.data(), LIMIT);
            assert_eq!(code, 0, "{format}: {err}");
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
            // A second run of the completed task publishes nothing more.
            let (code, err) = run_to_end(&setup.path, &setup.data(), LIMIT);
            assert_eq!(code, 0, "{format}: {err}");
            let again = consume_all(&ddl, Duration::from_secs(1), Duration::from_secs(10));
            assert_eq!(again.len(), 2, "{format}: {again:?}");
        }
        db.cleanup().await;
    }

    #[tokio::test]
    async fn a_restart_after_the_schema_phase_does_not_publish_it_again() {
        let db = TestDb::create("schema_restart").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let phases = ["schema", "full", "incremental"];
        let (setup, ddl) = mapped_task(&db, "debezium_json", &phases);
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
        let (setup, _) = mapped_task(&db, "canal_json", &["schema"]);
        // The schema phase waits 5 s between reading the definitions and checking them.
        let failpoints = format!("{}=sleep(5000)", tributary::failpoint::SOURCE_SCHEMA_PHASE);
        let run = Proc::from_child(
            tributary()
                .args(["run", "--task"])
                .arg(&setup.path)
                .arg("--data-dir")
                .arg(setup.data())
                .env("FAILPOINTS", failpoints)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        // The slot exists once the first start is done: the schema phase runs next.
        wait_for("the first start", LIMIT, || async {
            db.task_slot(&setup.task).await.is_some()
        })
        .await;
        db.client
            .batch_execute("ALTER TABLE items ADD COLUMN note text")
            .await
            .unwrap();
        let (code, err) = run.wait_exit(LIMIT);
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains("table public.items changed during the schema phase"),
            "{err}"
        );
        db.cleanup().await;
    }
}
