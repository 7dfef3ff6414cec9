//! End to end in Canal JSON: snapshot rows and streamed INSERT/UPDATE/DELETE/TRUNCATE from real
//! PostgreSQL through the real broker, read back with a Kafka consumer and compared row by row
//! with the database (values as PostgreSQL's output functions print them). One table has
//! REPLICA IDENTITY FULL (`old` carries the whole before image), one DEFAULT (no `old`; a
//! DELETE holds the key; unchanged TOAST values are left out). The task is SIGKILLed mid-stream
//! and restarted: every stream position keeps one `id` across the replay, and the ids of the
//! stream lane are consecutive (none repeated for two positions, none skipped).

mod support;

mod serial {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use rdkafka::message::{Headers, Message};
    use serde_json::{json, Value};

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);
    const ORDERS: i64 = 200;
    const NOTES: i64 = 50;
    /// Transactions the writer commits in all.
    const TXS: i64 = 240;

    const SCHEMA: &str = "
        CREATE TABLE orders (
            id bigint PRIMARY KEY, status varchar(16), amount numeric(10,2), updated_at timestamp,
            paid_at timestamptz, tags text[], blob bytea, flag bool, doc jsonb
        );
        ALTER TABLE orders REPLICA IDENTITY FULL;
        CREATE TABLE notes (id int PRIMARY KEY, n int NOT NULL, body text);
        CREATE TABLE logs (id int PRIMARY KEY, line text);";

    /// Rows before the task starts; `notes.body` is long and incompressible (stored out of
    /// line, so an UPDATE that leaves it alone does not send it).
    fn seed() -> String {
        format!(
            "INSERT INTO orders SELECT g, 'NEW', g * 1.25, timestamp '2024-01-15 08:30:00' + g * interval '1 s',
                 timestamptz '2024-01-15 08:30:00.5+02' + g * interval '1 ms', ARRAY['a' || g, 'b c'],
                 decode(lpad(to_hex(g), 4, '0'), 'hex'), g % 2 = 0, jsonb_build_object('g', g, 'q', 'x\"y')
             FROM generate_series(1, {ORDERS}) g;
             UPDATE orders SET status = NULL, tags = NULL WHERE id % 10 = 0;
             INSERT INTO notes SELECT g, 0, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 200) i)
             FROM generate_series(1, {NOTES}) g;
             INSERT INTO logs SELECT g, 'line ' || g FROM generate_series(1, 10) g;"
        )
    }

    /// The statements of transaction `n` (1-based): inserts, updates and deletes on every
    /// table, and a TRUNCATE of `logs` once.
    fn transaction(n: i64) -> String {
        let o = ORDERS + n;
        let mut sql = format!(
            "BEGIN; INSERT INTO orders VALUES ({o}, 'NEW', {n}.5, '2024-02-29 12:00:00', now(), '{{x,NULL}}', '\\x00', true, '{{}}');
             UPDATE orders SET status = 'PAID', amount = amount + 1, updated_at = updated_at + interval '1 min' WHERE id = {};
             DELETE FROM orders WHERE id = {};
             INSERT INTO logs VALUES ({}, E'tab\\there \"q\" ü');",
            n % ORDERS + 1,
            (n * 7) % ORDERS + 1,
            100 + n
        );
        if n % 4 == 0 {
            sql += &format!("UPDATE notes SET n = n + 1 WHERE id = {};", n % NOTES + 1);
        }
        if n % 40 == 0 {
            sql += &format!("DELETE FROM notes WHERE id = {};", n / 40);
        }
        if n == TXS / 2 {
            sql += "TRUNCATE logs;";
        }
        sql + "COMMIT;"
    }

    /// Commits the transactions after `from` until `TXS`; `done` counts them.
    async fn writer(url: String, from: i64, done: Arc<AtomicI64>) {
        let c = connect(&url).await;
        for n in from + 1..=TXS {
            c.batch_execute(&transaction(n)).await.unwrap();
            done.store(n, Ordering::Relaxed);
        }
    }

    /// One message as read, with its value's bytes as text (serde_json's `Value` sorts object
    /// members, so member order is checked on this).
    struct Got {
        msg: Msg,
        raw: String,
    }

    /// Every message of `topic` (partition 0: DTS's default policy) from the beginning, until
    /// it has been idle for a second (bounded).
    fn consume_raw(topic: &str) -> Vec<Got> {
        let consumer = partition_zero_consumer(topic);
        let (mut out, start) = (Vec::new(), std::time::Instant::now());
        let mut last = start;
        while start.elapsed() < LIMIT
            && last.elapsed() < Duration::from_secs(if out.is_empty() { 10 } else { 1 })
        {
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.expect("consume");
            let mut headers = HashMap::new();
            for h in m.headers().iter().flat_map(|h| h.iter()) {
                let v = String::from_utf8_lossy(h.value.unwrap_or(b"")).into_owned();
                headers.insert(h.key.to_owned(), v);
            }
            let raw = String::from_utf8(m.payload().expect("a value").to_vec()).unwrap();
            let json = |b: Option<&[u8]>| b.map(|b| serde_json::from_slice(b).unwrap());
            let msg = Msg {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                key: json(m.key()),
                value: Some(serde_json::from_str(&raw).unwrap()),
                headers,
                timestamp_ms: None,
                size: 0,
            };
            out.push(Got { msg, raw });
            last = std::time::Instant::now();
        }
        out
    }

    /// Reads `topic` until its messages rebuild `want` (bounded).
    fn consume_until_state(topic: &str, want: &BTreeMap<String, Value>) -> Vec<Got> {
        let start = std::time::Instant::now();
        loop {
            let got = consume_raw(topic);
            if replay(&got) == *want || start.elapsed() > LIMIT {
                return got;
            }
        }
    }

    /// What a Canal consumer must rebuild for `table`, from the database: id → row object of
    /// the text output forms (`format('%s', v)` calls the output function; NULL stays null).
    async fn db_state(db: &TestDb, table: &str, cols: &[&str]) -> BTreeMap<String, Value> {
        let members: Vec<String> = cols
            .iter()
            .map(|c| format!("'{c}', CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END"))
            .collect();
        db.client
            .batch_execute("SET TimeZone = 'UTC'")
            .await
            .unwrap();
        let sql = format!(
            "SELECT json_build_object({})::text FROM {table}",
            members.join(", ")
        );
        db.client
            .query(&sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let v: Value = serde_json::from_str(r.get(0)).unwrap();
                (v["id"].as_str().unwrap().to_owned(), v)
            })
            .collect()
    }

    /// Applies one topic's messages in order: rows by id, an UPDATE merged over the row (values
    /// not sent stay), a TRUNCATE empties the table.
    fn replay(msgs: &[Got]) -> BTreeMap<String, Value> {
        let mut state: BTreeMap<String, Value> = BTreeMap::new();
        for v in msgs.iter().filter_map(|g| g.msg.value.as_ref()) {
            let row = &v["data"][0];
            let id = || row["id"].as_str().unwrap().to_owned();
            match v["type"].as_str().unwrap() {
                "INIT" | "INSERT" => {
                    state.insert(id(), row.clone());
                }
                "UPDATE" => {
                    let entry = state.entry(id()).or_insert_with(|| json!({}));
                    for (k, x) in row.as_object().unwrap() {
                        entry[k] = x.clone();
                    }
                }
                "DELETE" => {
                    state.remove(&id());
                }
                "DDL" => {
                    assert!(v["sql"]
                        .as_str()
                        .unwrap()
                        .starts_with("TRUNCATE TABLE public."));
                    state.clear();
                }
                other => panic!("unexpected type {other}"),
            }
        }
        state
    }

    /// Every row message's key is `{"id":"<id>"}`, DDL messages have none; the top-level
    /// members are in alphabetical order, the row's in column order.
    fn check_keys_and_members(msgs: &[Got], cols: &[&str]) {
        for Got { msg: m, raw } in msgs {
            let v = m.value.as_ref().unwrap();
            let top: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(positions(raw, &top), sorted(positions(raw, &top)), "{raw}");
            if let Some(row) = v["data"][0].as_object() {
                let names: Vec<&str> = cols
                    .iter()
                    .copied()
                    .filter(|c| row.contains_key(*c))
                    .collect();
                let at: Vec<usize> = names
                    .iter()
                    .map(|c| {
                        raw.find(&format!("{{\"{c}\":"))
                            .or_else(|| raw.find(&format!(",\"{c}\":")))
                            .unwrap()
                    })
                    .collect();
                assert_eq!(at.clone(), sorted(at), "row members in column order: {raw}");
            }
            if v["isDdl"] == json!(true) {
                assert_eq!(m.key, None, "{v}");
            } else {
                assert_eq!(m.key, Some(json!({"id": v["data"][0]["id"]})), "{v}");
            }
        }
    }

    /// Where each top-level member name starts in `raw` (the first occurrence is the
    /// top-level one: `data` comes first and holds the column names, which are looked up after
    /// it).
    fn positions(raw: &str, names: &[&String]) -> Vec<usize> {
        let data_end = raw.find("],\"database\"").unwrap_or(0);
        names
            .iter()
            .map(|n| {
                let pat = format!("\"{n}\":");
                if n.as_str() == "data" {
                    return raw.find(&pat).unwrap();
                }
                data_end + raw[data_end..].find(&pat).unwrap()
            })
            .collect()
    }

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort();
        v
    }

    /// `<commit LSN>:<index>` as a sortable pair.
    fn stream_position(m: &Msg) -> Option<(u64, u32)> {
        let (lsn, index) = m.position().rsplit_once(':')?;
        let (hi, lo) = lsn.split_once('/')?;
        let lsn = (u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?;
        Some((lsn, index.parse().ok()?))
    }

    /// Stream ids: one per position, whatever was delivered twice, and consecutive from 0 in
    /// position order. Snapshot ids: each table's row indices. Returns the number of stream
    /// positions and of those delivered twice.
    fn check_ids(msgs: &[Got]) -> (u64, usize) {
        let mut by_position: BTreeMap<(u64, u32), Vec<u64>> = BTreeMap::new();
        let mut snapshot: HashMap<String, Vec<u64>> = HashMap::new();
        for Got { msg: m, .. } in msgs {
            let v = m.value.as_ref().unwrap();
            let id = v["id"].as_u64().unwrap();
            if v["type"] == json!("INIT") {
                snapshot.entry(m.topic.clone()).or_default().push(id);
            } else {
                let p = stream_position(m).unwrap_or_else(|| panic!("a position: {m:?}"));
                by_position.entry(p).or_default().push(id);
            }
        }
        let mut twice = 0;
        for (p, ids) in &by_position {
            assert!(
                ids.iter().all(|i| *i == ids[0]),
                "position {p:?} has ids {ids:?}"
            );
            twice += usize::from(ids.len() > 1);
        }
        let ids: Vec<u64> = by_position.values().map(|ids| ids[0]).collect();
        let want: Vec<u64> = (0..ids.len() as u64).collect();
        assert_eq!(ids, want, "stream ids are consecutive in position order");
        for (topic, mut ids) in snapshot {
            ids.sort();
            let want: Vec<u64> = (0..ids.len() as u64).collect();
            assert_eq!(ids, want, "{topic}: snapshot ids are the row indices");
        }
        (by_position.len() as u64, twice)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_and_stream_match_the_database_across_a_sigkill() {
        let db = TestDb::create("canal").await;
        db.client.batch_execute(SCHEMA).await.unwrap();
        db.client.batch_execute(&seed()).await.unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "canal",
            &["public.orders", "public.notes", "public.logs"],
            &["full", "incremental"],
        );
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replace("format = \"debezium_json\"", "format = \"canal_json\""),
        )
        .unwrap();
        add_to_section(&setup.path, "migration", "stream_events_per_second = 100");
        let topics = ["orders", "notes", "logs"].map(|t| setup.topic(&format!("public.{t}")));

        tracing::info!("snapshot, then a throttled stream under a writer; SIGKILL part-way");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        wait_snapshot_complete(&addr, &setup.task, LIMIT).await;
        let done = Arc::new(AtomicI64::new(0));
        let w = tokio::spawn(writer(db.url.clone(), 0, done.clone()));
        let snapshot_rows = (ORDERS + NOTES + 10) as f64;
        let durable = || {
            let series = scrape(&addr)?;
            metric(
                &series,
                "tributary_pipeline_records_durable_total",
                &setup.task,
            )
        };
        wait_until("stream messages durable", LIMIT, || {
            durable().is_some_and(|d| d >= snapshot_rows + 150.0)
        })
        .await;
        child.sigkill();
        let cp = checkpoint(&setup.data(), &setup.task).await;
        assert!(cp.sequence >= 150, "the sequence is checkpointed: {cp:?}");

        tracing::info!("restart unthrottled; the writer finishes; everything is confirmed");
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replace("stream_events_per_second = 100\n", ""),
        )
        .unwrap();
        let mut child = setup.spawn();
        let slot = child.wait_stream_active(&db, &setup.task, LIMIT).await;
        w.await.unwrap();
        assert_eq!(done.load(Ordering::Relaxed), TXS);
        let lsn = db.current_lsn().await;
        wait_for("every change confirmed", LIMIT, || async {
            db.confirmed_flush(&slot).await.is_some_and(|c| c >= lsn)
        })
        .await;

        let cols: [&[&str]; 3] = [
            &[
                "id",
                "status",
                "amount",
                "updated_at",
                "paid_at",
                "tags",
                "blob",
                "flag",
                "doc",
            ],
            &["id", "n", "body"],
            &["id", "line"],
        ];
        let mut all = Vec::new();
        for (topic, (table, cols)) in topics
            .iter()
            .zip(["orders", "notes", "logs"].iter().zip(cols))
        {
            let want = db_state(&db, table, cols).await;
            let msgs = consume_until_state(topic, &want);
            let got = replay(&msgs);
            assert_eq!(got.len(), want.len(), "{table}: rows");
            for (id, row) in &want {
                assert_eq!(got.get(id), Some(row), "{table}: row {id}");
            }
            check_keys_and_members(&msgs, cols);
            all.extend(msgs);
        }
        check_messages(&all);
        let (stream, twice) = check_ids(&all);
        tracing::info!(
            twice,
            stream,
            checkpointed = cp.sequence,
            "stream positions delivered twice after the kill"
        );
        assert!(
            cp.sequence < stream,
            "the kill came mid-stream: {} of {stream} ids checkpointed",
            cp.sequence
        );
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    /// Per-table message details: `old` with the whole before image under FULL and none under
    /// DEFAULT, key-only DELETEs and unsent TOAST values under DEFAULT, the type vocabulary.
    fn check_messages(msgs: &[Got]) {
        let all = || msgs.iter().filter_map(|g| g.msg.value.as_ref());
        let of = |table: &str, ty: &str| -> Vec<&Value> {
            all()
                .filter(|v| v["table"] == json!(table) && v["type"] == json!(ty))
                .collect()
        };
        let updates = of("orders", "UPDATE");
        assert!(!updates.is_empty());
        for v in &updates {
            let old = v["old"][0].as_object().expect("old under FULL");
            assert_eq!(old.len(), 9, "the whole before image: {v}");
            assert_eq!(v["data"][0]["id"], old["id"]);
            assert_eq!(v["database"], json!("public"));
            assert_eq!(v["pkNames"], json!(["id"]));
        }
        let types = r#""mysqlType":{"id":"bigint","status":"varchar","amount":"numeric","updated_at":"timestamp","paid_at":"timestamptz","tags":"text[]","blob":"bytea","flag":"boolean","doc":"jsonb"}"#;
        let codes = r#""sqlType":{"id":-5,"status":12,"amount":3,"updated_at":93,"paid_at":93,"tags":12,"blob":2004,"flag":-6,"doc":12}"#;
        for g in msgs
            .iter()
            .filter(|g| g.msg.topic.ends_with(".public.orders"))
        {
            if g.msg.value.as_ref().unwrap()["isDdl"] == json!(false) {
                assert!(g.raw.contains(types) && g.raw.contains(codes), "{}", g.raw);
            }
        }
        let notes = of("notes", "UPDATE");
        assert!(!notes.is_empty());
        for v in &notes {
            assert!(v.get("old").is_none(), "no old under DEFAULT: {v}");
            let data = v["data"][0].as_object().unwrap();
            assert!(!data.contains_key("body"), "unchanged TOAST left out: {v}");
        }
        for v in of("notes", "DELETE") {
            assert_eq!(v["data"][0].as_object().unwrap().len(), 1, "key only: {v}");
        }
        let truncates: Vec<&Value> = of("logs", "DDL");
        assert!(!truncates.is_empty(), "the TRUNCATE");
        for v in truncates {
            assert_eq!(v["sql"], json!("TRUNCATE TABLE public.logs"));
            assert_eq!(v["isDdl"], json!(true));
            assert!(v.get("data").is_none());
        }
        for v in all() {
            let (es, ts) = (v["es"].as_i64().unwrap(), v["ts"].as_i64().unwrap());
            assert!(
                es > 1_700_000_000_000 && es <= ts + 5_000,
                "es {es} ts {ts}"
            );
        }
    }
}
