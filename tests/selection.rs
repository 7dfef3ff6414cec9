//! Which rows go where: an inheritance parent holds only its own rows, a partitioned table's
//! partitions go to its root's topic, tables are read in the order the task lists them, a
//! changed selection is refused at restart, and a keyless table created later under
//! `schema.*` is warned about on its first change.

mod support;

mod serial {
    use std::collections::{BTreeMap, HashSet};
    use std::time::Duration;

    use serde_json::Value;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(45);

    /// `(key JSON, after image)` of `sql`'s rows, as `replay` rebuilds them; `sql` selects a
    /// JSON object of the key columns and one of the whole row.
    async fn table_state(db: &TestDb, sql: &str) -> BTreeMap<String, Value> {
        db.client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let key: Value = serde_json::from_str(r.get::<_, &str>(0)).unwrap();
                let row: Value = serde_json::from_str(r.get::<_, &str>(1)).unwrap();
                (key.to_string(), row)
            })
            .collect()
    }

    /// No position is delivered twice, over all `msgs`.
    fn positions_unique(msgs: &[Msg]) {
        let mut seen = HashSet::new();
        for m in msgs.iter().filter(|m| m.value.is_some()) {
            assert!(
                seen.insert(m.position().to_owned()),
                "position {} delivered twice",
                m.position()
            );
        }
    }

    fn ids(msgs: &[Msg]) -> Vec<i64> {
        values(msgs)
            .iter()
            .filter_map(|v| {
                let image = if v["op"] == "d" {
                    &v["before"]
                } else {
                    &v["after"]
                };
                image["id"].as_i64()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_inheritance_parent_holds_only_its_own_rows_and_each_child_its_own() {
        let db = TestDb::create("inherit").await;
        db.client
            .batch_execute(
                "CREATE TABLE p (id int PRIMARY KEY, v text);
                 CREATE TABLE c (PRIMARY KEY (id)) INHERITS (p);
                 CREATE TABLE c2 (PRIMARY KEY (id)) INHERITS (p);
                 INSERT INTO p VALUES (1, 'p1'), (2, 'p2');
                 INSERT INTO c VALUES (101, 'c101'), (102, 'c102');
                 INSERT INTO c2 VALUES (201, 'not selected');",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "inherit",
            &["public.p", "public.c"],
            &["full", "incremental"],
        );
        let (topic_p, topic_c, topic_c2) = (
            setup.topic("public.p"),
            setup.topic("public.c"),
            setup.topic("public.c2"),
        );
        let mut child = setup.spawn();
        tracing::info!("the stream changes parent and children, some through the parent");
        {
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            db.client
                .batch_execute(
                    "INSERT INTO p VALUES (3, 'p3');
                     INSERT INTO c VALUES (103, 'c103');
                     INSERT INTO c2 VALUES (202, 'not selected');
                     UPDATE p SET v = v || '!';
                     DELETE FROM p WHERE id IN (2, 102, 202);",
                )
                .await
                .unwrap();
        }
        tracing::info!("each topic rebuilds its own table: the parent without its children's rows");
        let (p, c) = {
            let own = |t: &str| {
                format!("SELECT json_build_object('id', id)::text, row_to_json(x)::text FROM ONLY {t} x")
            };
            let (want_p, want_c) = (
                table_state(&db, &own("p")).await,
                table_state(&db, &own("c")).await,
            );
            assert_eq!(want_p.len(), 2);
            let p = consume_until(&topic_p, |m| replay(m) == want_p);
            let c = consume_until(&topic_c, |m| replay(m) == want_c);
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
            assert!(
                err.contains("inheritance children that are not selected")
                    && err.contains("public.c2"),
                "the unselected child is named:\n{err}"
            );
            assert_eq!(replay(&p), want_p);
            assert_eq!(replay(&c), want_c);
            (p, c)
        };
        tracing::info!("no row is in the wrong topic or twice; the unselected child nowhere");
        {
            assert!(ids(&p).iter().all(|id| *id < 100), "{:?}", ids(&p));
            assert!(
                ids(&c).iter().all(|id| (100..200).contains(id)),
                "{:?}",
                ids(&c)
            );
            assert_eq!(
                values(&p).iter().filter(|v| v["op"] == "r").count(),
                2,
                "the parent's own snapshot rows"
            );
            positions_unique(&[p.clone(), c.clone()].concat());
            let cp = checkpoint(&setup.data(), &setup.task).await;
            assert!(!cp.topics.contains(&topic_c2), "{:?}", cp.topics);
            assert!(consume_all(
                &topic_c2,
                Duration::from_millis(500),
                Duration::from_secs(3)
            )
            .is_empty());
        }
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partitioned_table_selected_by_its_root_has_every_partitions_rows_in_its_topic() {
        let db = TestDb::create("partroot").await;
        db.client
            .batch_execute(
                "CREATE TABLE pt (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
                 CREATE TABLE pt_a PARTITION OF pt FOR VALUES IN ('a');
                 CREATE TABLE pt_b PARTITION OF pt FOR VALUES IN ('b');
                 INSERT INTO pt VALUES (1, 'a', 'x'), (2, 'b', 'y');",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "partroot",
            &["public.pt"],
            &["full", "incremental"],
        );
        let topic = setup.topic("public.pt");
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        db.client
            .batch_execute(
                "INSERT INTO pt VALUES (3, 'a', 'z'), (4, 'b', 'z'); UPDATE pt SET v = 'w' WHERE id = 2;",
            )
            .await
            .unwrap();
        let want = table_state(
            &db,
            "SELECT json_build_object('id', id, 'region', region)::text, row_to_json(x)::text FROM pt x",
        )
        .await;
        let msgs = consume_until(&topic, |m| replay(m) == want);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(replay(&msgs), want);
        let ops: Vec<&str> = values(&msgs)
            .iter()
            .filter_map(|v| v["op"].as_str())
            .collect();
        assert_eq!(
            ops,
            ["r", "r", "c", "c", "u"],
            "both partitions' rows, snapshot and stream"
        );
        positions_unique(&msgs);
        let cp = checkpoint(&setup.data(), &setup.task).await;
        assert_eq!(cp.topics, vec![topic], "no topic per partition");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_are_snapshotted_in_the_order_the_task_lists_them() {
        let db = TestDb::create("order").await;
        db.client
            .batch_execute(
                "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 1500);
                 CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b SELECT generate_series(1, 1500);",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "order", &["public.b", "public.a"], &["full"]);
        let topic = format!("{}.all", setup.task);
        add_to_section(&setup.path, "destination", &format!("topic = {topic:?}"));
        // One connection reads one table after the other (more start them in this order).
        add_to_section(&setup.path, "source", "snapshot_connections = 1");
        let (code, err) = setup.spawn().wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        let msgs = consume_until(&topic, |m| m.len() >= 3000);
        assert_eq!(msgs.len(), 3000);
        assert!(
            msgs.iter().all(|m| m.partition == 0),
            "one partition: offsets order it"
        );
        let offsets = |table: &str| -> Vec<i64> {
            msgs.iter()
                .filter(|m| m.value.as_ref().unwrap()["source"]["table"] == table)
                .map(|m| m.offset)
                .collect()
        };
        let (b, a) = (offsets("b"), offsets("a"));
        assert_eq!((b.len(), a.len()), (1500, 1500));
        assert!(
            b.iter().max() < a.iter().min(),
            "every row of b (listed first) before any of a"
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_keyless_table_created_later_under_a_schema_selector_is_warned_about_on_its_first_insert(
    ) {
        let db = TestDb::create("keyless").await;
        db.client
            .batch_execute("CREATE SCHEMA s; CREATE TABLE s.k (id int PRIMARY KEY);")
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "keyless", &["s.*"], &["full", "incremental"]);
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        db.client
            .batch_execute("CREATE TABLE s.nokey (v text); INSERT INTO s.nokey VALUES ('x');")
            .await
            .unwrap();
        db.client
            .batch_execute("INSERT INTO s.nokey VALUES ('y');")
            .await
            .unwrap();
        let msgs = consume_until(&setup.topic("s.nokey"), |m| m.len() >= 2);
        assert_eq!(msgs.len(), 2);
        assert!(msgs.iter().all(|m| m.key.is_none()), "no key");
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        let warnings: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("no primary key"))
            .collect();
        assert_eq!(
            warnings.len(),
            1,
            "one warning, on the first insert:\n{err}"
        );
        assert!(warnings[0].contains("s.nokey"), "{}", warnings[0]);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_created_later_under_a_glob_is_captured_from_its_first_row_unless_keyless() {
        let db = TestDb::create("globlater").await;
        db.client
            .batch_execute(
                "CREATE TABLE later_0 (id int PRIMARY KEY); CREATE TABLE later_log0 (msg text);",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "globlater", &["public.later_*"], &["incremental"]);
        add_to_section(
            &setup.path,
            "objects",
            "insert_only = [\"public.later_log*\"]",
        );
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        db.client
            .batch_execute(
                "BEGIN;
                 CREATE TABLE later_pk (id int PRIMARY KEY);
                 INSERT INTO later_pk VALUES (1);
                 COMMIT;
                 UPDATE later_pk SET id = 2;
                 CREATE TABLE later_log1 (msg text);
                 INSERT INTO later_log1 VALUES ('first');
                 UPDATE later_log1 SET msg = 'not published';",
            )
            .await
            .unwrap();
        // An insert-only table created later joins the insert-only publication, keyless or not.
        let logs = consume_until(&setup.topic("public.later_log1"), |m| !m.is_empty());
        assert_eq!(logs.len(), 1, "the insert only");
        // The session creating a keyless table is told it is left out; its UPDATE works.
        let (ok, warned) = psql(
            &db.url,
            "CREATE TABLE later_bare (v int); INSERT INTO later_bare VALUES (1); UPDATE later_bare SET v = 2",
        );
        assert!(ok, "a keyless table is not published under keep: {warned}");
        assert!(
            warned.contains("WARNING")
                && warned.contains("later_bare created later has no primary key"),
            "{warned}"
        );
        let msgs = consume_until(&setup.topic("public.later_pk"), |m| m.len() >= 3);
        let ops: Vec<String> = values(&msgs)
            .iter()
            .map(|v| v["op"].as_str().unwrap_or("?").to_owned())
            .collect();
        assert_eq!(
            ops,
            ["c", "d", "c"],
            "from the row inserted with the CREATE"
        );
        let published = db.published_tables().await;
        assert_eq!(
            published,
            ["later_0", "later_log0", "later_log1", "later_pk"]
        );
        // A join that fails (its function's owner may not change the publication) only warns:
        // the user's CREATE TABLE succeeds, the table is not joined.
        let role = unique("join_owner");
        let function: String = db
            .client
            .query_one(
                "SELECT p.oid::regprocedure::text FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid \
                 WHERE e.evtname LIKE '%join%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        db.client
            .batch_execute(&format!(
                "CREATE ROLE {role}; ALTER FUNCTION {function} OWNER TO {role}"
            ))
            .await
            .unwrap();
        let (ok, warned) = psql(
            &db.url,
            "CREATE TABLE later_broken (id int PRIMARY KEY); INSERT INTO later_broken VALUES (1)",
        );
        assert!(ok, "the user's DDL never fails: {warned}");
        assert!(
            warned.contains("WARNING")
                && warned.contains("later_broken created later is not captured"),
            "{warned}"
        );
        assert_eq!(
            db.published_tables().await,
            ["later_0", "later_log0", "later_log1", "later_pk"]
        );
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
        let admin = connect(&pg_url()).await;
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {role}"))
            .await;
    }
}
