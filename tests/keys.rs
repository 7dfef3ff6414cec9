//! Message keys follow the replica identity: the primary key under FULL (not every column),
//! the index's columns under USING INDEX, and, when the identity changes mid-stream, the
//! identity in force when each change was written.

mod support;

mod serial {
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(45);

    /// (key, op) of every message with a value.
    fn keys_and_ops(msgs: &[Msg]) -> Vec<(Value, String)> {
        msgs.iter()
            .filter_map(|m| {
                let op = m.value.as_ref()?["op"].as_str()?.to_owned();
                Some((m.key.clone().unwrap_or(Value::Null), op))
            })
            .collect()
    }

    /// Snapshot rows, then `changes` in the stream; returns every message of the table's topic
    /// once `expected` messages with a value are there.
    async fn snapshot_then_stream(
        db: &TestDb,
        prefix: &str,
        table: &str,
        changes: &str,
        expected: usize,
    ) -> Vec<Msg> {
        let setup = TaskSetup::new(
            &db.url,
            prefix,
            &[&format!("public.{table}")],
            &["full", "incremental"],
        );
        let mut child = setup.spawn();
        child.wait_stream_active(db, &setup.task, LIMIT).await;
        db.client.batch_execute(changes).await.unwrap();
        let msgs = consume_until(&setup.topic(&format!("public.{table}")), |m| {
            values(m).len() >= expected
        });
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            values(&msgs).len(),
            expected,
            "{:?}; tributary's log:\n{err}",
            keys_and_ops(&msgs)
        );
        msgs
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replica_identity_full_with_a_primary_key_is_keyed_by_the_primary_key() {
        let db = TestDb::create("keyfull").await;
        db.client
            .batch_execute(
                "CREATE TABLE f (id int PRIMARY KEY, code text NOT NULL, v int);
                 ALTER TABLE f REPLICA IDENTITY FULL;
                 INSERT INTO f VALUES (1, 'a', 0), (2, 'b', 0);",
            )
            .await
            .unwrap();
        let msgs = snapshot_then_stream(
            &db,
            "keyfull",
            "f",
            "INSERT INTO f VALUES (3, 'c', 0); UPDATE f SET v = 1 WHERE id = 1; DELETE FROM f WHERE id = 2;",
            5,
        )
        .await;
        assert_eq!(
            keys_and_ops(&msgs),
            vec![
                (json!({"id": 1}), "r".into()),
                (json!({"id": 2}), "r".into()),
                (json!({"id": 3}), "c".into()),
                (json!({"id": 1}), "u".into()),
                (json!({"id": 2}), "d".into()),
            ]
        );
        let tombstone = msgs
            .iter()
            .find(|m| m.value.is_none())
            .expect("a tombstone");
        assert_eq!(tombstone.key, Some(json!({"id": 2})));
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replica_identity_using_index_is_keyed_by_the_index_columns() {
        let db = TestDb::create("keyindex").await;
        db.client
            .batch_execute(
                "CREATE TABLE ix (id int PRIMARY KEY, code text NOT NULL, v int);
                 CREATE UNIQUE INDEX ix_code ON ix (code);
                 ALTER TABLE ix REPLICA IDENTITY USING INDEX ix_code;
                 INSERT INTO ix VALUES (1, 'a', 0), (2, 'b', 0);",
            )
            .await
            .unwrap();
        let msgs = snapshot_then_stream(
            &db,
            "keyindex",
            "ix",
            "INSERT INTO ix VALUES (3, 'c', 0); UPDATE ix SET v = 1 WHERE id = 1; DELETE FROM ix WHERE id = 2;",
            5,
        )
        .await;
        assert_eq!(
            keys_and_ops(&msgs),
            vec![
                (json!({"code": "a"}), "r".into()),
                (json!({"code": "b"}), "r".into()),
                (json!({"code": "c"}), "c".into()),
                (json!({"code": "a"}), "u".into()),
                (json!({"code": "b"}), "d".into()),
            ]
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_identity_changed_mid_stream_keys_each_change_by_the_identity_it_was_written_under(
    ) {
        let db = TestDb::create("keychanged").await;
        db.client
            .batch_execute(
                "CREATE TABLE m (id int PRIMARY KEY, code text NOT NULL, v int);
                 CREATE UNIQUE INDEX m_code ON m (code);
                 INSERT INTO m VALUES (1, 'a', 0);",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "keychanged",
            &["public.m"],
            &["full", "incremental"],
        );
        let topic = setup.topic("public.m");
        tracing::info!("while streaming: an update, the identity moves to the index, an update");
        {
            let mut child = setup.spawn();
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            db.client
                .batch_execute("UPDATE m SET v = 1 WHERE id = 1")
                .await
                .unwrap();
            consume_until(&topic, |m| values(m).len() >= 2);
            db.client
                .batch_execute(
                    "ALTER TABLE m REPLICA IDENTITY USING INDEX m_code; UPDATE m SET v = 2 WHERE id = 1",
                )
                .await
                .unwrap();
            consume_until(&topic, |m| values(m).len() >= 3);
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
        }
        tracing::info!(
            "while stopped: an update, the identity back to the primary key, an update; the \
             resumed stream reads both after the change, so today's catalog cannot tell them apart"
        );
        {
            db.client
                .batch_execute(
                    "UPDATE m SET v = 3 WHERE id = 1; ALTER TABLE m REPLICA IDENTITY DEFAULT; \
                     UPDATE m SET v = 4 WHERE id = 1",
                )
                .await
                .unwrap();
            let child = setup.spawn();
            let msgs = consume_until(&topic, |m| values(m).len() >= 5);
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
            let got: Vec<(Value, String, Value)> = msgs
                .iter()
                .filter_map(|m| {
                    let v = m.value.as_ref()?;
                    Some((
                        m.key.clone().unwrap_or(Value::Null),
                        v["op"].as_str()?.to_owned(),
                        v["after"]["v"].clone(),
                    ))
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    (json!({"id": 1}), "r".into(), json!(0)),
                    (json!({"id": 1}), "u".into(), json!(1)),
                    (json!({"code": "a"}), "u".into(), json!(2)),
                    (json!({"code": "a"}), "u".into(), json!(3)),
                    (json!({"id": 1}), "u".into(), json!(4)),
                ],
                "(key, op, after.v) of every message"
            );
        }
        db.cleanup().await;
    }
}
