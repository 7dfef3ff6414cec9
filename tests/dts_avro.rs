//! DTS Avro end to end: a task with `format = "dts_avro"` reads a snapshot and streams an
//! INSERT, an UPDATE, a DELETE and a TRUNCATE into the broker; a real Kafka consumer reads the
//! raw values back, Apache Avro's reader decodes each against the canonical `Record.avsc`, and
//! every image is compared with the row as PostgreSQL itself renders it at that moment.

mod support;

mod serial {
    use std::collections::{BTreeMap, HashMap};
    use std::time::{Duration, Instant};

    use apache_avro::types::Value as Avro;
    use apache_avro::Schema;
    use rdkafka::message::{Headers, Message};
    use serde_json::{json, Value};
    use tributary::format::dts_avro::RECORD_AVSC;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(60);

    const DDL: &str = "
        CREATE TABLE orders (
            id bigint PRIMARY KEY, status varchar(16), amount numeric(10,2), updated_at timestamp,
            paid bool, info jsonb, blob bytea, at timestamptz
        );
        ALTER TABLE orders REPLICA IDENTITY FULL;
        INSERT INTO orders VALUES
          (1, 'NEW', 19.90, '2024-01-15 08:30:00', false, '{\"a\": [1, 2]}', '\\xdeadbeef',
           '2024-02-29 12:34:56.789012+05'),
          (2, NULL, -0.05, '1960-06-15 01:02:03.000004', true, 'null', '\\x', NULL);";

    /// Each row as the message's image items must hold it, rendered by PostgreSQL: the type
    /// mapping of docs/TYPE-MAPPING.md written as SQL.
    const IMAGE_SQL: &str = r#"
        WITH r AS (SELECT *, at AT TIME ZONE 'UTC' AS at_utc FROM orders)
        SELECT id, json_build_array(
          json_build_object('precision', 8, 'value', id::text),
          CASE WHEN status IS NOT NULL THEN json_build_object('charset', 'UTF8',
            'value', '\x' || encode(convert_to(status, 'UTF8'), 'hex')) END,
          json_build_object('value', amount::text,
            'precision', greatest(1, length(ltrim(replace(abs(amount)::text, '.', ''), '0'))),
            'scale', scale(amount)),
          json_build_object('year', extract(year from updated_at)::int,
            'month', extract(month from updated_at)::int, 'day', extract(day from updated_at)::int,
            'hour', extract(hour from updated_at)::int, 'minute', extract(minute from updated_at)::int,
            'second', floor(extract(second from updated_at))::int,
            'millis', (extract(microseconds from updated_at)::bigint % 1000000)::int),
          json_build_object('type', 'BOOL', 'value', CASE WHEN paid THEN 'true' ELSE 'false' END),
          json_build_object('type', 'JSON', 'value', info::text),
          json_build_object('type', 'BYTEA', 'value', '\x' || encode(blob, 'hex')),
          CASE WHEN NOT isfinite(at) THEN json_build_object('type', 'XTYPE', 'value', at::text)
            WHEN at IS NOT NULL THEN json_build_object('value', json_build_object(
            'year', extract(year from at_utc)::int, 'month', extract(month from at_utc)::int,
            'day', extract(day from at_utc)::int, 'hour', extract(hour from at_utc)::int,
            'minute', extract(minute from at_utc)::int,
            'second', floor(extract(second from at_utc))::int,
            'millis', (extract(microseconds from at_utc)::bigint % 1000000)::int),
            'timezone', '+00:00') END
        )::text FROM r ORDER BY id"#;

    /// The image items of every row, by id, as the database renders them now.
    async fn images(db: &TestDb) -> BTreeMap<i64, Value> {
        let rows = db.client.query(IMAGE_SQL, &[]).await.unwrap();
        rows.iter()
            .map(|r| (r.get(0), serde_json::from_str(r.get(1)).unwrap()))
            .collect()
    }

    /// One consumed message, raw.
    struct Raw {
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        partition: i32,
        headers: HashMap<String, String>,
    }

    /// Reads `topic` from the beginning until `n` messages are there (bounded by `LIMIT`).
    fn consume_raw(topic: &str, n: usize) -> Vec<Raw> {
        let consumer = partition_zero_consumer(topic);
        let start = Instant::now();
        let mut out = Vec::new();
        let mut next = 0;
        while out.len() < n && start.elapsed() < LIMIT {
            let Some(m) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let Ok(m) = m else {
                continue; // the topic may not exist yet
            };
            if m.offset() < next {
                continue; // read again after a reset to the beginning
            }
            next = m.offset() + 1;
            let mut headers = HashMap::new();
            if let Some(h) = m.headers() {
                for i in 0..h.count() {
                    let hd = h.get(i);
                    let v = String::from_utf8_lossy(hd.value.unwrap_or(b"")).into_owned();
                    headers.insert(hd.key.to_owned(), v);
                }
            }
            out.push(Raw {
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().expect("a value").to_vec(),
                partition: m.partition(),
                headers,
            });
        }
        out
    }

    /// `Record.avsc`: the `Record` type and the named types it refers to.
    fn schemata() -> Vec<Schema> {
        let types: Vec<Value> = serde_json::from_str(RECORD_AVSC).unwrap();
        let texts: Vec<String> = types.iter().map(Value::to_string).collect();
        Schema::parse_list(&texts).unwrap()
    }

    /// Decodes one value (every byte of it) as plain JSON: unions as their value, `bytes` as
    /// `\x<hex>`.
    fn decode(schemata: &[Schema], bytes: &[u8]) -> Value {
        let mut rest = bytes;
        let record = schemata.last().unwrap();
        let v = apache_avro::from_avro_datum_schemata(
            record,
            schemata.iter().collect(),
            &mut rest,
            None,
        )
        .unwrap_or_else(|e| panic!("not a Record ({e}): {}", hex::encode(bytes)));
        assert!(rest.is_empty(), "{} bytes after the Record", rest.len());
        plain(&v)
    }

    fn plain(v: &Avro) -> Value {
        match v {
            Avro::Union(_, inner) => plain(inner),
            Avro::Record(f) => {
                Value::Object(f.iter().map(|(k, x)| (k.clone(), plain(x))).collect())
            }
            Avro::Array(items) => Value::Array(items.iter().map(plain).collect()),
            Avro::Map(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
            Avro::Enum(_, s) | Avro::String(s) => json!(s),
            Avro::Bytes(b) => json!(format!("\\x{}", hex::encode(b))),
            Avro::Int(n) => json!(n),
            Avro::Long(n) => json!(n),
            Avro::Null => Value::Null,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_and_stream_decode_to_the_databases_rows() {
        let db = TestDb::create("dtsavro").await;
        db.client.batch_execute(DDL).await.unwrap();
        let version: String = db
            .client
            .query_one("SHOW server_version", &[])
            .await
            .unwrap()
            .get(0);
        let snapshot = images(&db).await;
        let setup = TaskSetup::new(
            &db.url,
            "dtsavro",
            &["public.orders"],
            &["full", "incremental"],
        );
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replace("format = \"debezium_json\"", "format = \"dts_avro\""),
        )
        .unwrap();
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;

        tracing::info!("an INSERT, an UPDATE, a DELETE and a TRUNCATE, each its own transaction");
        let mut xids = Vec::new();
        let mut states = Vec::new();
        for sql in [
            "INSERT INTO orders VALUES (3, 'ÜBER', 1234567.89, '2024-02-29 23:59:59.999999', true, '{}', '\\x00', 'infinity')",
            "UPDATE orders SET status = 'PAID', amount = 0, paid = true WHERE id = 1",
            "DELETE FROM orders WHERE id = 2",
            "TRUNCATE orders",
        ] {
            db.client.batch_execute("BEGIN").await.unwrap();
            let xid: String = db
                .client
                .query_one("SELECT (txid_current() % 4294967296)::text", &[])
                .await
                .unwrap()
                .get(0);
            db.client.batch_execute(sql).await.unwrap();
            db.client.batch_execute("COMMIT").await.unwrap();
            xids.push(xid);
            states.push(images(&db).await);
        }
        let msgs = consume_raw(&setup.topic("public.orders"), 6);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        let got: Vec<_> = msgs.iter().map(|m| &m.headers).collect();
        assert_eq!(
            msgs.len(),
            6,
            "2 snapshot rows, 3 changes, 1 TRUNCATE; got the messages with headers {got:?}; tributary's stderr:\n{err}"
        );

        let schemata = schemata();
        let records: Vec<Value> = msgs.iter().map(|m| decode(&schemata, &m.value)).collect();
        let fields: Vec<(&str, i64)> = vec![
            ("id", 20),
            ("status", 1043),
            ("amount", 1700),
            ("updated_at", 1114),
            ("paid", 16),
            ("info", 3802),
            ("blob", 17),
            ("at", 1184),
        ];
        let fields: Value = fields
            .iter()
            .map(|(n, t)| json!({"name": n, "dataTypeNumber": t}))
            .collect();
        for (m, r) in msgs.iter().zip(&records) {
            assert_eq!(m.partition, 0, "partition_zero is the DTS formats' default");
            assert!(m.headers.contains_key("tributary.position"));
            assert_eq!(r["version"], 0);
            assert_eq!(
                r["source"],
                json!({"sourceType": "PostgreSQL", "version": version})
            );
            assert_eq!(r["objectName"], "public.orders");
            assert_eq!(r["processTimestamps"], Value::Null);
            let lsn = r["sourcePosition"].as_str().unwrap();
            assert!(lsn.contains('/') && lsn != "0/0", "{lsn}");
            let ts = r["sourceTimestamp"].as_i64().unwrap();
            assert_eq!(r["bornTimestamp"].as_i64().unwrap() / 1000, ts);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!(
                (now - 600..=now).contains(&ts),
                "commit time {ts} is recent"
            );
        }
        let ops: Vec<&str> = records
            .iter()
            .map(|r| r["operation"].as_str().unwrap())
            .collect();
        assert_eq!(
            ops,
            ["INSERT", "INSERT", "INSERT", "UPDATE", "DELETE", "DDL"]
        );
        let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(
            ids,
            [0, 1, 0, 1, 2, 3],
            "snapshot rows by index; stream from 0"
        );
        let txids: Vec<&str> = records[2..]
            .iter()
            .map(|r| r["sourceTxid"].as_str().unwrap())
            .collect();
        assert_eq!(txids, xids.iter().map(String::as_str).collect::<Vec<_>>());

        tracing::info!("snapshot rows: the rows as they were");
        for (i, id) in [1i64, 2].iter().enumerate() {
            let r = &records[i];
            assert_eq!(r["fields"], fields);
            assert_eq!(r["tags"], json!({"pk_uk_info": "{\"PRIMARY\":[\"id\"]}"}));
            assert_eq!(r["beforeImages"], Value::Null);
            assert_eq!(r["afterImages"], snapshot[id], "snapshot row {id}");
            let key = format!("{{\"id\":\"{id}\"}}");
            assert_eq!(msgs[i].key.as_deref(), Some(key.as_bytes()));
        }
        tracing::info!("stream: each image is the row before / after its change");
        let (insert, update, delete, truncate) =
            (&records[2], &records[3], &records[4], &records[5]);
        assert_eq!(insert["beforeImages"], Value::Null);
        assert_eq!(insert["afterImages"], states[0][&3]);
        // 'infinity' has no DateTime: the image carries its text (docs/TYPE-MAPPING.md).
        assert_eq!(
            insert["afterImages"][7],
            json!({"type": "XTYPE", "value": "infinity"})
        );
        assert_eq!(update["beforeImages"], snapshot[&1]);
        assert_eq!(update["afterImages"], states[1][&1]);
        assert_eq!(
            update["afterImages"][2],
            json!({"value": "0.00", "precision": 1, "scale": 2})
        );
        assert_eq!(delete["beforeImages"], snapshot[&2]);
        assert_eq!(delete["afterImages"], Value::Null);
        assert_eq!(msgs[4].key.as_deref(), Some(&b"{\"id\":\"2\"}"[..]));
        assert_eq!(truncate["afterImages"], "TRUNCATE TABLE public.orders");
        assert_eq!(truncate["fields"], Value::Null);
        assert_eq!(truncate["tags"], json!({}));
        assert_eq!(msgs[5].key, None, "a DDL record has a null key");
        assert_eq!(
            update["safeSourcePosition"], insert["sourcePosition"],
            "the previous transaction's commit"
        );
        db.cleanup().await;
    }

    /// The schema phase in DTS Avro: a schema-only task writes each table's `CREATE TABLE` as a
    /// `DDL` record (the statement in `afterImages`) to the DDL topic, and completes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_only_task_writes_create_table_as_ddl_records() {
        let db = TestDb::create("dtsavro_schema").await;
        db.client.batch_execute(DDL).await.unwrap();
        let setup = TaskSetup::new(&db.url, "dtsavro_schema", &["public.orders"], &["schema"]);
        let ddl = format!("{}-ddl", setup.task);
        let text = std::fs::read_to_string(&setup.path).unwrap().replace(
            "format = \"debezium_json\"",
            &format!("format = \"dts_avro\"\nddl_topic = \"{ddl}\""),
        );
        std::fs::write(&setup.path, text).unwrap();
        let (code, err) = run_to_end(&setup.path, &setup.data(), LIMIT);
        assert_eq!(code, 0, "{err}");
        let raw = consume_raw(&ddl, 1);
        assert_eq!(raw.len(), 1);
        let v = decode(&schemata(), &raw[0].value);
        assert_eq!(v["operation"], "DDL");
        assert_eq!(
            v["afterImages"],
            "CREATE TABLE \"public\".\"orders\" (\"id\" bigint NOT NULL, \"status\" character varying(16), \"amount\" numeric(10,2), \"updated_at\" timestamp without time zone, \"paid\" boolean, \"info\" jsonb, \"blob\" bytea, \"at\" timestamp with time zone, PRIMARY KEY (\"id\"))"
        );
        db.cleanup().await;
    }
}
