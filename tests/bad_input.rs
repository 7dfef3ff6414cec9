//! Bad input gets a one-line error that names the problem and the fix, a non-zero exit, and
//! leaves no slot or publication behind.

mod support;

mod serial {
    use std::time::Duration;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(60);

    async fn nothing_left(db: &TestDb) {
        let (slots, pubs) = db.replication_objects().await;
        assert!(slots.is_empty(), "slots left behind: {slots:?}");
        assert!(pubs.is_empty(), "publications left behind: {pubs:?}");
    }

    async fn items(db: &TestDb) {
        db.client.batch_execute("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a')").await.unwrap();
    }

    fn run_fails(url: &str, kafka_addr: &str, tables: &[&str], extra: &str) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let task = task_file(
            dir.path(),
            &unique("bad"),
            url,
            kafka_addr,
            tables,
            &["full", "incremental"],
            extra,
        );
        let (code, err) = run_to_end(&task, &dir.path().join("data"), LIMIT);
        assert_ne!(code, 0, "must fail; stderr:\n{err}");
        (code, error_line(&err))
    }

    #[tokio::test]
    async fn malformed_task_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "name = \"x\"\n[source]\nkind = \"postgres\"\nurl = 5\n",
        )
        .unwrap();
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_eq!(code, 2);
        let line = error_line(&err);
        assert!(line.contains("bad.toml") && line.contains("line"), "{line}");
    }

    /// README, "Oracle source": a build without the `oracle` feature (the tests' build) reads
    /// an Oracle task and refuses it in one line naming the feature.
    #[tokio::test]
    async fn an_oracle_task_is_refused_by_a_build_without_the_oracle_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oracle.toml");
        std::fs::write(
            &path,
            "name = \"erp\"\n[source]\nkind = \"oracle\"\nhost = \"127.0.0.1\"\n\
             service_name = \"FREEPDB1\"\nuser = \"C##TRIBUTARY\"\npassword = \"x\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9\"\n\
             [objects]\ntables = [\"SHOP.*\"]\n",
        )
        .unwrap();
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_eq!(code, 2, "{err}");
        let line = error_line(&err);
        assert!(
            line.contains("no Oracle client") && line.contains("--features oracle"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn wrong_password() {
        let db = TestDb::create("badpw").await;
        items(&db).await;
        let url = db
            .url
            .replacen("tributary:tributary@", "tributary:wrong@", 1);
        let (_, line) = run_fails(&url, &kafka(), &["public.items"], "");
        assert!(
            line.contains("refused the login") && line.contains("password"),
            "{line}"
        );
        nothing_left(&db).await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn unreachable_host() {
        let (_, line) = run_fails(
            "postgres://tributary:tributary@127.0.0.1:1/postgres",
            &kafka(),
            &["public.items"],
            "",
        );
        assert!(
            line.contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn wal_level_not_logical() {
        let db = TestDb::create_on(&pg_replica_url(), "replica").await;
        items(&db).await;
        let (_, line) = run_fails(&db.url, &kafka(), &["public.items"], "");
        assert!(
            line.contains("wal_level=replica") && line.contains("wal_level = logical"),
            "{line}"
        );
        nothing_left(&db).await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn missing_table() {
        let db = TestDb::create("missing").await;
        items(&db).await;
        let (_, line) = run_fails(&db.url, &kafka(), &["public.items", "public.nope"], "");
        assert!(
            line.contains("public.nope") && line.contains("objects.tables"),
            "{line}"
        );
        nothing_left(&db).await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn broker_down_at_start() {
        let db = TestDb::create("nobroker").await;
        items(&db).await;
        let (_, line) = run_fails(&db.url, "127.0.0.1:1", &["public.items"], "");
        assert!(
            line.contains("Kafka") && line.contains("127.0.0.1:1"),
            "{line}"
        );
        nothing_left(&db).await;
        db.cleanup().await;
    }

    /// A task over `public.items` with `destination` lines in `[destination]` (a `format` there
    /// replaces the file's) and `objects` lines in `[objects]`: `tributary run` exits non-zero
    /// with one error line holding every one of `want`, and creates no slot, publication or
    /// topic.
    async fn refused_at_creation(destination: &str, objects: &str, want: &[&str]) {
        let db = TestDb::create("refused").await;
        items(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let name = unique("refused");
        let path = task_file(
            dir.path(),
            &name,
            &db.url,
            &kafka(),
            &["public.items"],
            &["full", "incremental"],
            objects,
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let text = if destination.contains("format = ") {
            text.replace("format = \"debezium_json\"\n", "")
        } else {
            text
        };
        std::fs::write(&path, text).unwrap();
        add_to_section(&path, "destination", destination);
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_ne!(code, 0, "must fail; stderr:\n{err}");
        let line = error_line(&err);
        for w in want {
            assert!(line.contains(w), "{w:?} missing from: {line}");
        }
        nothing_left(&db).await;
        assert_eq!(task_topics(&name), Vec::<String>::new(), "no topic created");
        db.cleanup().await;
    }

    #[tokio::test]
    async fn unknown_format() {
        refused_at_creation("format = \"avro_json\"", "", &["avro_json", "canal_json"]).await;
    }

    #[tokio::test]
    async fn key_column_that_does_not_exist() {
        refused_at_creation(
            "",
            "[objects.table.\"public.items\"]\nkey_columns = [\"nope\"]",
            &["public.items", "\"nope\" does not exist", "key_columns"],
        )
        .await;
    }

    #[tokio::test]
    async fn partitions_below_one() {
        refused_at_creation(
            "",
            "[objects.table.\"public.items\"]\npartitions = 0",
            &["objects.table.partitions", "public.items"],
        )
        .await;
        refused_at_creation("partitions = -2", "", &["destination.partitions"]).await;
    }

    #[tokio::test]
    async fn unknown_compression_and_acks() {
        refused_at_creation(
            "compression = \"brotli\"",
            "",
            &["destination.compression", "\"brotli\"", "lz4"],
        )
        .await;
        refused_at_creation(
            "acks = \"2\"",
            "",
            &["destination.acks", "\"2\"", "\"all\""],
        )
        .await;
    }

    /// `acks = "1"` and `"0"` are taken when set, with a warning at start that rows can be
    /// lost or doubled; the rows still arrive when nothing fails.
    #[tokio::test]
    async fn acks_one_and_zero_run_with_a_warning() {
        for (acks, warning) in [
            (
                "1",
                "destination.acks = \"1\" turns the idempotent producer off",
            ),
            (
                "0",
                "checkpoints record what was sent, not what the broker stored",
            ),
        ] {
            let db = TestDb::create("acks").await;
            items(&db).await;
            let dir = tempfile::tempdir().unwrap();
            let name = unique("acks");
            let path = task_file(
                dir.path(),
                &name,
                &db.url,
                &kafka(),
                &["public.items"],
                &["full", "incremental"],
                "",
            );
            add_to_section(&path, "destination", &format!("acks = {acks:?}"));
            let mut child = spawn_run(&path, &dir.path().join("data"));
            child.wait_stream_active(&db, &name, LIMIT).await;
            let msgs = consume_until(&format!("{name}.public.items"), |m| !m.is_empty());
            assert_eq!(msgs.len(), 1, "the snapshot row");
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
            assert!(
                err.contains(warning) && err.contains("rows can be lost"),
                "acks {acks}: the warning is expected:\n{err}"
            );
            db.cleanup().await;
        }
    }

    /// `ctl task create` against a one-node cluster refuses the same settings with one line,
    /// and no task, slot or publication is created.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ctl_create_refuses_the_same_settings() {
        let db = TestDb::create("ctlbad").await;
        items(&db).await;
        let c = super::support::cluster::Cluster::start(1);
        let dir = c.dir.path();
        let missing_key = "[objects.table.\"public.items\"]\nkey_columns = [\"nope\"]";
        for (i, (destination, objects, want)) in [
            ("compression = \"brotli\"", "", "destination.compression"),
            ("acks = \"2\"", "", "destination.acks"),
            (
                "",
                "[objects.table.\"public.items\"]\npartitions = 0",
                "objects.table.partitions",
            ),
            ("", missing_key, "key column \"nope\" does not exist"),
        ]
        .into_iter()
        .enumerate()
        {
            let path = task_file(
                dir,
                &format!("bad{i}"),
                &db.url,
                &kafka(),
                &["public.items"],
                &["full", "incremental"],
                objects,
            );
            add_to_section(&path, "destination", destination);
            let out = c.ctl(0, &["task", "create", path.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let line = error_line(&String::from_utf8_lossy(&out.stderr));
            assert!(line.contains(want), "{want:?} missing from: {line}");
        }
        let tasks = c.ctl_json(&["task", "list"]);
        assert_eq!(tasks.as_array().map(Vec::len), Some(0), "{tasks}");
        nothing_left(&db).await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn table_without_key_is_refused_then_migrated_with_the_option() {
        let db = TestDb::create("nokey").await;
        db.client
            .batch_execute(
                "CREATE TABLE logs (msg text, n int); INSERT INTO logs VALUES ('a', 1), ('b', 2)",
            )
            .await
            .unwrap();
        tracing::info!("refused, naming the fix");
        {
            let (_, line) = run_fails(&db.url, &kafka(), &["public.logs"], "");
            assert!(
                line.contains("public.logs") && line.contains("replica_identity_full"),
                "{line}"
            );
            nothing_left(&db).await;
        }
        tracing::info!("with replica_identity_full it is migrated with a null key and a warning");
        {
            let dir = tempfile::tempdir().unwrap();
            let name = unique("nokey");
            let extra = "replica_identity_full = [\"public.logs\"]";
            let task = task_file(
                dir.path(),
                &name,
                &db.url,
                &kafka(),
                &["public.logs"],
                &["full", "incremental"],
                extra,
            );
            let mut child = spawn_run(&task, &dir.path().join("data"));
            tracing::info!("once the stream runs, the application's UPDATE works and is streamed");
            child.wait_stream_active(&db, &name, LIMIT).await;
            db.client
                .batch_execute("UPDATE logs SET n = n + 10 WHERE msg = 'a'")
                .await
                .expect("UPDATE of the published table without a key");
            let topic = format!("{name}.public.logs");
            let msgs = consume_until(&topic, |m| {
                values(m)
                    .iter()
                    .any(|v| v["op"] == "u" && v["after"]["n"] == 11)
            });
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
            assert!(
                err.contains("REPLICA IDENTITY FULL"),
                "a warning is expected:\n{err}"
            );
            let ops: Vec<(&str, &serde_json::Value)> = values(&msgs)
                .iter()
                .map(|v| (v["op"].as_str().unwrap(), &v["after"]["n"]))
                .collect();
            assert_eq!(
                ops,
                [
                    ("r", &serde_json::json!(1)),
                    ("r", &serde_json::json!(2)),
                    ("u", &serde_json::json!(11))
                ],
                "the snapshot, then the update"
            );
            assert_eq!(
                values(&msgs)[2]["before"],
                serde_json::json!({"msg": "a", "n": 1}),
                "the old row under FULL"
            );
            assert!(msgs.iter().all(|m| m.key.is_none()), "null keys expected");
        }
        db.cleanup().await;
    }
}
