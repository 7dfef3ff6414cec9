//! SharePlex JSON end to end against real PostgreSQL and the broker: ONE transaction of 100,000
//! rows, held under a 1 MiB memory budget (so it spills to disk), read back with a Kafka
//! consumer: every message says `size` 100000 and `idx` "n/100000" in order, the rows equal
//! the database's, and the tributary process's peak RSS (VmHWM) stays far below what holding
//! the transaction would take, and the spill counter says the transaction went to disk. The peak
//! is printed (`--nocapture` shows it).

mod support;

mod serial {
    use std::time::{Duration, Instant};

    use rdkafka::message::Message;
    use serde_json::{json, Value};

    use super::support::*;

    const ROWS: u64 = 100_000;
    const LIMIT: Duration = Duration::from_secs(60);

    /// Reads `topic` (one partition) from the beginning and checks each message as it comes,
    /// until `ROWS` messages or the deadline; returns the values' total size in bytes.
    fn consume_and_check(topic: &str, xid: &str, rows: &[Value]) -> u64 {
        let consumer = partition_zero_consumer(topic);
        let (start, mut n, mut bytes) = (Instant::now(), 0u64, 0u64);
        let mut scn: Option<String> = None;
        while n < ROWS {
            assert!(
                start.elapsed() < LIMIT,
                "only {n} of {ROWS} messages within {LIMIT:?}"
            );
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.expect("consume");
            n += 1;
            let payload = m.payload().expect("a value");
            bytes += payload.len() as u64;
            let v: Value = serde_json::from_slice(payload).unwrap();
            check_message(&v, n, xid, &mut scn, &rows[n as usize - 1]);
            let k: Value = serde_json::from_slice(m.key().expect("a key")).unwrap();
            assert_eq!(k, json!({ "id": n.to_string() }));
        }
        bytes
    }

    /// Message `n` (1-based) of the transaction: its meta, and the row as the database has it.
    fn check_message(v: &Value, n: u64, xid: &str, scn: &mut Option<String>, row: &Value) {
        let meta = &v["meta"];
        assert_eq!(meta["op"], "ins", "message {n}: {v}");
        assert_eq!(meta["seq"], n, "message {n}: {v}");
        assert_eq!(meta["size"], ROWS, "message {n}: {v}");
        assert_eq!(meta["idx"], format!("{n}/{ROWS}"), "message {n}: {v}");
        assert_eq!(meta["trans"], xid);
        assert_eq!(meta["table"], "public.items");
        assert!(meta["userid"].is_null() && meta["rowid"].is_null());
        let s = meta["scn"].as_str().expect("scn as a string").to_owned();
        assert_eq!(scn.get_or_insert_with(|| s.clone()), &s, "one commit");
        assert_eq!(&v["data"], row, "message {n}");
    }

    /// The table's rows in id order, as SharePlex JSON `data` objects (text forms).
    async fn rows_in_db(db: &TestDb) -> Vec<Value> {
        let sql = "SELECT id::text, name, qty::text, note FROM items ORDER BY items.id";
        let rows = db.client.query(sql, &[]).await.unwrap();
        rows.iter()
            .map(|r| {
                let col = |i| r.get::<_, Option<String>>(i);
                json!({"id": col(0), "name": col(1), "qty": col(2), "note": col(3)})
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_of_100000_rows_is_numbered_without_being_held_in_memory() {
        let db = TestDb::create("spx").await;
        db.client
            .batch_execute(
                "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, note text)",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(&db.url, "spx", &["public.items"], &["incremental"]);
        let spill_dir = setup.dir.path().join("spill");
        std::fs::create_dir(&spill_dir).unwrap();
        let text = std::fs::read_to_string(&setup.path).unwrap().replace(
            "format = \"debezium_json\"",
            "format = \"shareplex_json\"\nmax_in_flight_records = 5000",
        );
        let text = format!(
            "{text}\n[destination.shareplex_json]\nmemory_budget_bytes = 1048576\nspill_dir = {:?}\n",
            spill_dir.display().to_string()
        );
        std::fs::write(&setup.path, text).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let pid = child.id();
        let baseline = peak_rss_kib(pid);

        let started = Instant::now();
        // Each row carries 200 bytes of text, so that the transaction's messages (about 45 MiB)
        // dwarf the process's fixed buffers (the replication socket's alone take up to 8 MiB).
        let xid: String = db
            .client
            .query_one(
                "WITH w AS (INSERT INTO items SELECT g, 'item ' || g, g % 100, repeat('x', 200) \
                 FROM generate_series(1, 100000) g RETURNING 1) \
                 SELECT txid_current()::text FROM w LIMIT 1",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let rows = rows_in_db(&db).await;
        assert_eq!(rows.len() as u64, ROWS);
        let topic = setup.topic("public.items");
        let bytes = tokio::task::spawn_blocking(move || consume_and_check(&topic, &xid, &rows))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let peak = peak_rss_kib(pid);
        let spilled = scrape(&addr).and_then(|s| {
            metric(
                &s,
                "tributary_format_spilled_transactions_total",
                &setup.task,
            )
        });

        println!(
            "shareplex_json: {ROWS} rows in one transaction ({} MiB of messages) written in {:.1} s; \
             tributary peak RSS {} MiB (VmHWM; {} MiB before the transaction), memory budget 1 MiB",
            bytes >> 20,
            elapsed.as_secs_f64(),
            peak >> 10,
            baseline >> 10
        );
        // Holding the transaction in memory takes about its messages' bytes on top of the
        // baseline (measured: +46 MiB for 45 MiB); spilled, the growth is the process's bounded
        // buffers (replication socket, source channel, producer queue: measured 11 to 16 MiB).
        let grew = (peak - baseline) * 1024;
        assert!(
            grew < bytes * 2 / 3,
            "peak RSS grew by {grew} bytes for a transaction of {bytes} bytes"
        );
        assert_eq!(spilled, Some(1.0), "the one transaction spilled to disk");
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            std::fs::read_dir(&spill_dir).unwrap().count(),
            0,
            "no spill file is left"
        );
        db.cleanup().await;
    }
}
