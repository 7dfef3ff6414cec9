//! `objects.replica_identity = "auto"` against real PostgreSQL: tributary sets `USING INDEX` on
//! a table whose only key is a unique index on NOT NULL columns and FULL on a keyless table
//! (a table with a primary key keeps DEFAULT), records the previous identities in its
//! checkpoint and restores them on `tributary release`, except on a table whose identity
//! someone changed since, and on one another task relies on; an `ALTER TABLE` that waits past
//! `objects.replica_identity_lock_timeout` fails naming the PID that holds the table.

mod support;

mod serial {
    use std::time::Duration;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    const SCHEMA: &str = "
        CREATE TABLE uk (code text NOT NULL UNIQUE, v int);
        CREATE TABLE bare (v int);
        CREATE TABLE pk (id int PRIMARY KEY);
        CREATE TABLE other (code text NOT NULL, v int);
        CREATE UNIQUE INDEX other_code ON other (code);";

    /// `relreplident` and the identity index of the schema's tables, as `t:i:uk_code_key`.
    async fn identities(db: &TestDb) -> Vec<String> {
        identities_of(db, &["uk", "bare", "pk", "other"]).await
    }

    fn auto_task(db: &TestDb, prefix: &str, tables: &[&str]) -> TaskSetup {
        let setup = TaskSetup::new(&db.url, prefix, tables, &["incremental"]);
        add_to_section(&setup.path, "objects", "replica_identity = \"auto\"");
        setup
    }

    fn release(setup: &TaskSetup, data: &std::path::Path) -> String {
        let out = tributary()
            .args(["release", "--task"])
            .arg(&setup.path)
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        text
    }

    /// Runs the task until its stream is up, then stops it.
    async fn run_once(db: &TestDb, setup: &TaskSetup, data: &std::path::Path) {
        let mut run = spawn_run(&setup.path, data);
        run.wait_stream_active(db, &setup.task, LIMIT).await;
        run.sigterm();
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
    }

    #[tokio::test]
    async fn auto_sets_identities_and_release_restores_those_still_as_set() {
        let db = TestDb::create("ri_auto").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let tables = ["public.uk", "public.bare", "public.pk", "public.other"];
        db.client
            .batch_execute("INSERT INTO uk VALUES ('before', 1)")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "ri_auto", &tables, &["full", "incremental"]);
        add_to_section(&setup.path, "objects", "replica_identity = \"auto\"");
        let mut run = setup.spawn();
        run.wait_stream_active(&db, &setup.task, LIMIT).await;
        db.client
            .batch_execute("INSERT INTO uk VALUES ('after', 2)")
            .await
            .unwrap();
        // Snapshot and stream alike are keyed by the index tributary made the identity.
        let msgs = consume_until(&setup.topic("public.uk"), |m| m.len() >= 2);
        let keys: Vec<String> = msgs
            .iter()
            .filter_map(|m| m.key.as_ref().map(|k| k.to_string()))
            .collect();
        assert_eq!(keys, [r#"{"code":"before"}"#, r#"{"code":"after"}"#]);
        run.sigterm();
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            identities(&db).await,
            ["bare:f", "other:i:other_code", "pk:d", "uk:i:uk_code_key"]
        );
        let cp = checkpoint(&setup.data(), &setup.task).await;
        let recorded: Vec<String> = cp
            .identity_records()
            .iter()
            .map(|r| format!("{}:{}>{}", r.table, r.previous, r.set))
            .collect();
        assert_eq!(
            recorded,
            [
                "uk:default>index:uk_code_key",
                "bare:default>full",
                "other:default>index:other_code"
            ]
        );
        // Someone else changes `other` meanwhile: release leaves it alone.
        db.client
            .batch_execute("ALTER TABLE other REPLICA IDENTITY FULL")
            .await
            .unwrap();
        let out = release(&setup, &setup.data());
        assert!(out.contains("dropped replica identity"), "{out}");
        assert_eq!(identities(&db).await, ["bare:d", "other:f", "pk:d", "uk:d"]);
        db.cleanup().await;
    }

    #[tokio::test]
    async fn an_identity_another_task_relies_on_is_not_restored() {
        let db = TestDb::create("ri_shared").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = auto_task(&db, "ri_first", &["public.bare"]);
        let second = auto_task(&db, "ri_second", &["public.bare"]);
        run_once(&db, &first, &data).await;
        run_once(&db, &second, &data).await;
        assert_eq!(identities(&db).await[0], "bare:f");
        release(&first, &data);
        assert_eq!(
            identities(&db).await[0],
            "bare:f",
            "the second task relies on it"
        );
        db.cleanup().await;
    }

    #[tokio::test]
    async fn a_lock_held_past_the_timeout_fails_naming_the_blocking_pid() {
        let db = TestDb::create("ri_lock").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let holder = connect(&db.url).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE bare IN ACCESS SHARE MODE")
            .await
            .unwrap();
        let pid: i32 = holder
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let setup = auto_task(&db, "ri_lock", &["public.bare"]);
        add_to_section(
            &setup.path,
            "objects",
            "replica_identity_lock_timeout = \"1s\"",
        );
        let (code, err) = run_to_end(&setup.path, &setup.data(), LIMIT);
        assert_ne!(code, 0, "{err}");
        let line = error_line(&err);
        assert!(
            line.contains("table public.bare") && line.contains(&format!("PID(s) {pid}")),
            "{line}"
        );
        holder.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(identities(&db).await[0], "bare:d");
        db.cleanup().await;
    }

    #[tokio::test]
    async fn auto_sets_full_for_a_dts_format_and_for_a_row_filter() {
        let db = TestDb::create("ri_full").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let canal = auto_task(&db, "ri_canal", &["public.pk"]);
        let text = std::fs::read_to_string(&canal.path).unwrap();
        let text = text.replace("format = \"debezium_json\"", "format = \"canal_json\"");
        std::fs::write(&canal.path, text).unwrap();
        run_once(&db, &canal, &canal.data()).await;
        let filtered = auto_task(&db, "ri_filter", &["public.uk"]);
        let text = std::fs::read_to_string(&filtered.path).unwrap().replace(
            "\n[migration]\n",
            "\n[objects.table.\"public.uk\"]\nfilter = \"v > 0\"\n[migration]\n",
        );
        std::fs::write(&filtered.path, text).unwrap();
        run_once(&db, &filtered, &filtered.data()).await;
        let now = identities(&db).await;
        assert_eq!([now[2].as_str(), now[3].as_str()], ["pk:f", "uk:f"]);
        release(&canal, &canal.data());
        release(&filtered, &filtered.data());
        let now = identities(&db).await;
        assert_eq!([now[2].as_str(), now[3].as_str()], ["pk:d", "uk:d"]);
        db.cleanup().await;
    }

    /// In a cluster, `ctl task delete` restores what the task set, except what another task of
    /// the cluster relies on (its checkpoint in the replicated state records the table).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_task_deletion_restores_identities_no_other_task_records() {
        use super::support::cluster::{wait_streaming, Cluster};
        let db = TestDb::create("ri_cluster").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        let c = Cluster::start(1);
        let task = |name: &str, tables: &str| {
            let path = c.dir.path().join(format!("{name}.toml"));
            let text = format!(
                "name = {name:?}\n[source]\nkind = \"postgres\"\nurl = {:?}\nstatus_interval = \"1s\"\n\
                 [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\n\
                 [objects]\ntables = [{tables}]\nreplica_identity = \"auto\"\n\
                 [migration]\nphases = [\"incremental\"]\ncheckpoint_interval = \"200ms\"\n",
                db.url,
                kafka()
            );
            std::fs::write(&path, text).unwrap();
            c.create_task(&path);
        };
        let (gone, kept) = (unique("rig"), unique("rik"));
        task(&gone, "\"public.uk\", \"public.bare\"");
        wait_streaming(&c, &gone, 1);
        task(&kept, "\"public.bare\"");
        wait_streaming(&c, &kept, 1);
        assert_eq!(identities(&db).await[0], "bare:f");
        assert_eq!(identities(&db).await[3], "uk:i:uk_code_key");
        let out = c.ctl(0, &["task", "delete", &gone]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for("the deleted task's identity restored", LIMIT, || async {
            identities(&db).await[3] == "uk:d"
        })
        .await;
        assert_eq!(
            identities(&db).await[0],
            "bare:f",
            "the other task relies on it"
        );
        db.cleanup().await;
    }

    /// `relreplident` (and identity index) of the named tables, sorted, as `t:i:uk_code_key`.
    async fn identities_of(db: &TestDb, tables: &[&str]) -> Vec<String> {
        let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        let rows = db
            .client
            .query(
                "SELECT c.relname::text || ':' || c.relreplident::text || COALESCE(':' || (SELECT ic.relname::text \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                 WHERE i.indrelid = c.oid AND i.indisreplident), '') \
                 FROM pg_class c WHERE c.relname = ANY($1) ORDER BY 1",
                &[&names],
            )
            .await
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    #[tokio::test]
    async fn a_table_created_later_is_joined_with_its_identity_in_its_creating_transaction() {
        let db = TestDb::create("ri_later").await;
        db.client
            .batch_execute(
                "CREATE SCHEMA s; CREATE TABLE s.k (id int PRIMARY KEY);
                 CREATE TABLE later_0 (id int PRIMARY KEY);",
            )
            .await
            .unwrap();
        let setup = auto_task(&db, "ri_later", &["s.*", "public.later_*"]);
        let mut run = setup.spawn();
        run.wait_stream_active(&db, &setup.task, LIMIT).await;
        // One transaction creates, fills and changes the tables: without an identity set at
        // creation the UPDATE of the keyless table fails (its schema is published whole), and
        // without joining the glob's table in this transaction its rows are not captured.
        db.client
            .batch_execute(
                "BEGIN;
                 CREATE TABLE s.bare (v int);
                 INSERT INTO s.bare VALUES (1);
                 UPDATE s.bare SET v = 2;
                 CREATE TABLE later_uk (code text NOT NULL UNIQUE, v int);
                 INSERT INTO later_uk VALUES ('a', 1);
                 UPDATE later_uk SET v = 2;
                 CREATE TABLE unselected (v int);
                 COMMIT;
                 DELETE FROM s.bare;
                 UPDATE unselected SET v = 1;",
            )
            .await
            .unwrap();
        let bare = consume_until(&setup.topic("s.bare"), |m| m.len() >= 3);
        let ops: Vec<String> = values(&bare)
            .iter()
            .map(|v| format!("{} {} {}", v["op"], v["before"], v["after"]))
            .collect();
        assert_eq!(
            ops,
            [
                r#""c" null {"v":1}"#,
                r#""u" {"v":1} {"v":2}"#,
                r#""d" {"v":2} null"#
            ],
            "full before images from the first row"
        );
        let uk = consume_until(&setup.topic("public.later_uk"), |m| m.len() >= 2);
        let keys: Vec<String> = uk
            .iter()
            .filter_map(|m| m.key.as_ref().map(|k| k.to_string()))
            .collect();
        assert_eq!(keys, [r#"{"code":"a"}"#, r#"{"code":"a"}"#]);
        let published = db.published_tables().await;
        assert_eq!(published, ["bare", "k", "later_0", "later_uk"]);
        assert_eq!(
            identities_of(&db, &["bare", "later_uk", "unselected"]).await,
            ["bare:f", "later_uk:i:later_uk_code_key", "unselected:d"]
        );
        run.sigterm();
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        let cp = checkpoint(&setup.data(), &setup.task).await;
        let mut recorded: Vec<String> = cp
            .identity_records()
            .iter()
            .map(|r| format!("{}:{}>{}", r.qualified_name(), r.previous, r.set))
            .collect();
        recorded.sort();
        assert_eq!(
            recorded,
            [
                "public.later_uk:default>index:later_uk_code_key",
                "s.bare:default>full"
            ]
        );
        let out = release(&setup, &setup.data());
        assert!(out.contains("dropped replica identity"), "{out}");
        assert_eq!(
            identities_of(&db, &["bare", "later_uk"]).await,
            ["bare:d", "later_uk:d"]
        );
        db.cleanup().await;
    }
}
