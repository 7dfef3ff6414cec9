//! Row filters against real PostgreSQL and the broker (Canal JSON messages): the evaluator agrees with PostgreSQL
//! value by value; a task with two filtered tables (one filter in the publication, one
//! evaluated by tributary under REPLICA IDENTITY FULL) migrates exactly the matching rows in
//! the snapshot and the stream, UPDATEs moving rows into and out of the filters included, while
//! the application's own UPDATEs keep working; bad filters fail the task at creation with one
//! line, leaving nothing behind.

mod support;

use std::collections::BTreeSet;

use futures::StreamExt;
use support::*;
use tributary::config::{TableSelection, TableSelector};
use tributary::filter::RowFilter;
use tributary::source::postgres::catalog::{selected_tables, TypeCache};
use tributary::source::postgres::copy_binary::CopyBinaryParser;

/// The rows of `v` the comparison runs on: edge values of every type filters compare.
const VALUES: &str = r#"
CREATE TABLE v (id int PRIMARY KEY, i int, b bigint, n numeric, r real, d double precision,
  t text COLLATE "und-x-icu", c char(4), vc varchar(10), dt date, ts timestamp, tz timestamptz,
  u uuid, f bool);
INSERT INTO v VALUES
 (1, 5, 9007199254740993, 0.30000000000000000001, 0.1, 0.1, 'abc', 'ab', 'mango', '2024-02-29',
  '2024-01-01 12:00', '2024-01-01 00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
 (2, -1, -9223372036854775808, 0.3, 0.5, 'NaN', 'B', 'ab  ', 'apple', 'infinity', 'infinity',
  '2023-12-31 23:59:59.999999+00', '00000000-0000-0000-0000-000000000001', false),
 (3, 2147483647, 2, 'NaN', 'NaN', 'Infinity', 'a_b-c', 'abc', 'Zebra', '1999-12-31',
  '1970-01-01', '-infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff', NULL),
 (4, 0, 3, -0.50001, '-0', 0.30000000000000004, 'café', 'b', 'm', '2024-12-31',
  '2024-01-01 11:59:59.999999', '2024-01-01 02:00:00+02', '80000000-0000-0000-0000-000000000000', true),
 (5, 1, NULL, 'Infinity', 'Infinity', '-0', 'z', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, 3, 4, 100000000000000000000.49, 1e30, -1e300, 'é', 'abcd', 'a\b', '2000-01-01',
  '2024-01-01 12:00:00.000001', 'infinity', NULL, false),
 (8, 2, 5, '-Infinity', -3.5, 1e300, '', '', '', '1970-01-01', '-infinity',
  '2024-06-30 12:00:00-07', NULL, true),
 (9, 4, 6, 1.5, 2.25, 2.25, 'a\_b', 'a%', 'a%b', '2024-01-01', '2024-01-01', '2024-01-01 00:00:01+00',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', NULL),
 (10, 6, 7, 0.1, 0.3, 0.3, 'a%', 'ABC', 'Mango', '2024-03-01', '2000-01-01', '2000-01-01 00:00+14',
  NULL, false);
"#;

/// Filters and whether PostgreSQL reading the text as written must agree too (it does not
/// where the text orders strings: the column's ICU collation is not the C collation every
/// filter compares text with).
const FILTERS: &[(&str, bool)] = &[
    ("i = 5", true),
    ("i <> 5", true),
    ("i < 0", true),
    ("i >= 2147483647", true),
    ("i IN (1, 5, NULL)", true),
    ("i NOT IN (1, 5)", true),
    ("i NOT IN (1, NULL)", true),
    ("i BETWEEN -1 AND 2", true),
    ("i NOT BETWEEN -1 AND 2", true),
    ("i BETWEEN 1 AND NULL", true),
    ("i IS NULL", true),
    ("i IS NOT NULL", true),
    ("b > 9007199254740992", true),
    ("b = -9223372036854775808", true),
    ("b < 2.5", true),
    ("b >= '4'", true),
    ("n = 0.3", true),
    ("n > 0.3", true),
    ("n < -0.5", true),
    ("n = 'NaN'", true),
    ("n > 'Infinity'", true),
    ("n < 100000000000000000000.5", true),
    ("n = 1.50", true),
    ("n BETWEEN 0.1 AND 0.30000000000000000001", true),
    ("n > -1e300", true),
    ("i < n", true),
    ("r = 0.1", true),
    ("r > 0.1", true),
    ("d = 0.1", true),
    ("d = 0.3", true),
    ("d > 'Infinity'", true),
    ("d = 'NaN'", true),
    ("r < d", true),
    ("d = 0", true),
    ("r = 2.25 AND d = 2.25", true),
    ("t = 'abc'", true),
    ("t < 'a'", false),
    ("t > 'z'", false),
    ("t BETWEEN 'A' AND 'Z'", false),
    ("t LIKE 'a%'", true),
    ("t LIKE 'a\\_b%'", true),
    ("t LIKE 'a\\\\_b'", true),
    ("t LIKE 'a!%' ESCAPE '!'", true),
    ("t NOT LIKE '%é%'", true),
    ("t LIKE 'caf_'", true),
    ("t LIKE ''", true),
    ("c = 'ab'", true),
    ("c = 'ab  '", true),
    ("c LIKE 'ab%'", true),
    ("c LIKE 'ab'", true),
    ("c < 'b'", true),
    ("vc >= 'm'", true),
    ("vc = 'a\\b'", true),
    ("dt < '2000-01-01'", true),
    ("dt = 'infinity'", true),
    ("dt BETWEEN DATE '2024-01-01' AND '2024-12-31'", true),
    ("ts >= '2024-01-01 12:00'", true),
    ("ts < 'infinity'", true),
    ("ts > '-infinity'", true),
    ("tz = '2024-01-01 02:00:00+02'", true),
    ("tz < '2024-01-01'", true),
    ("tz > '-infinity'", true),
    ("tz >= '2024-06-30 19:00:00Z'", true),
    ("tz < TIMESTAMPTZ '2000-01-01 00:00:00+14:00'", true),
    ("u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", true),
    ("u > '80000000-0000-0000-0000-000000000000'", true),
    ("f", true),
    ("NOT f", true),
    ("f = false", true),
    ("f IS NOT NULL AND NOT f", true),
    ("(i > 3 OR t IS NULL) AND NOT (n < 0 OR f)", true),
    ("i = 1 OR i = 2 AND n > 0", true),
    ("NOT i = 1 AND b > 0", true),
];

/// Every filter selects the same rows whether tributary evaluates it on the rows (as COPY
/// sends them, binary) or PostgreSQL runs its rendered SQL; and, where the text means the same
/// to PostgreSQL, the same rows as PostgreSQL running the text as written.
#[tokio::test]
async fn the_evaluator_agrees_with_postgresql_value_by_value() {
    let db = TestDb::create("filter_eval").await;
    db.client.batch_execute(VALUES).await.unwrap();
    db.client
        .batch_execute("SET TimeZone = 'UTC'")
        .await
        .unwrap();
    let selection = TableSelection {
        include: vec![TableSelector::parse("public.v").unwrap()],
        replica_identity_full: vec![],
        insert_only: vec![],
    };
    let tables = selected_tables(&db.client, &selection, &mut TypeCache::new())
        .await
        .unwrap();
    let table = tables[0].schema.clone();
    let rows = copy_rows(&db.client, "COPY v TO STDOUT (FORMAT binary)").await;
    assert_eq!(rows.len(), 10);
    let ids_of = |sql: String| {
        let client = &db.client;
        async move {
            client
                .query(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| r.get::<_, i32>(0))
                .collect::<BTreeSet<i32>>()
        }
    };
    let mut selective = 0;
    for (text, as_written) in FILTERS {
        let f = RowFilter::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .bind(&table)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let ours: BTreeSet<i32> = rows
            .iter()
            .filter(|(_, r)| f.matches(r).unwrap())
            .map(|(id, _)| *id)
            .collect();
        let rendered = ids_of(format!("SELECT id FROM v WHERE {}", f.sql())).await;
        assert_eq!(ours, rendered, "{text} (rendered as {})", f.sql());
        let raw = ids_of(format!("SELECT id FROM v WHERE {text}")).await;
        if *as_written {
            assert_eq!(ours, raw, "{text} as PostgreSQL reads the text");
        } else {
            assert_ne!(
                ours, raw,
                "{text}: the column's ICU order should differ from C"
            );
        }
        if !ours.is_empty() && ours.len() < rows.len() {
            selective += 1;
        }
    }
    assert!(
        selective > FILTERS.len() * 3 / 4,
        "most filters should select some rows but not all ({selective} of {})",
        FILTERS.len()
    );
    db.cleanup().await;
}

/// `(id, row)` for each row `query` (a binary COPY starting with the `id` column) returns.
async fn copy_rows(
    client: &tokio_postgres::Client,
    query: &str,
) -> Vec<(i32, tributary::event::Row)> {
    let stream = client.copy_out(query).await.unwrap();
    futures::pin_mut!(stream);
    let mut parser = CopyBinaryParser::new();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        parser.push(chunk.unwrap());
        while let Some(row) = parser.next_row().unwrap() {
            let id = row.bytes(row.cells[0]).unwrap();
            out.push((i32::from_be_bytes(id.try_into().unwrap()), row));
        }
    }
    out
}

mod serial {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use serde_json::Value;

    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    /// `orders` is filtered on its key (the filter goes into the publication); `accounts` on
    /// non-key columns (tributary sets REPLICA IDENTITY FULL and evaluates it).
    const FILTERS: &str = "replica_identity_full = [\"public.accounts\"]\n\
        [objects.table.\"public.orders\"]\nfilter = \"id < 50\"\n\
        [objects.table.\"public.accounts\"]\nfilter = \"status IN ('active', 'vip') AND balance >= 100\"\n";
    const ORDERS_WHERE: &str = "id < 50";
    const ACCOUNTS_WHERE: &str = "status IN ('active', 'vip') AND balance >= 100";

    /// `id → note` of the rows of `table` matching `filter`, as the database has them.
    async fn expected(db: &TestDb, table: &str, filter: &str) -> BTreeMap<i64, Value> {
        db.client
            .query(
                &format!("SELECT id::bigint, note FROM {table} WHERE {filter}"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), Value::from(r.get::<_, Option<String>>(1))))
            .collect()
    }

    /// A Canal JSON message's row (`data[0]`: the new row, or the deleted one) and its id.
    fn canal_row(v: &Value) -> (&Value, i64) {
        let row = &v["data"][0];
        let id = row["id"].as_str().and_then(|i| i.parse().ok());
        (row, id.unwrap_or_else(|| panic!("no id in {v}")))
    }

    /// `id → note` of the table a Canal consumer rebuilds from the messages (an UPDATE's
    /// `data` is the whole new row).
    fn rebuilt(msgs: &[Msg]) -> BTreeMap<i64, Value> {
        let mut state = BTreeMap::new();
        for v in values(msgs) {
            let (row, id) = canal_row(v);
            match v["type"].as_str().unwrap() {
                "INIT" | "INSERT" | "UPDATE" => {
                    state.insert(id, row["note"].clone());
                }
                "DELETE" => {
                    state.remove(&id);
                }
                other => panic!("unexpected message type {other}: {v}"),
            }
        }
        state
    }

    /// Ids of the snapshot's messages.
    fn snapshot_ids(msgs: &[Msg]) -> BTreeSet<i64> {
        values(msgs)
            .iter()
            .filter(|v| v["type"] == "INIT")
            .map(|v| canal_row(v).1)
            .collect()
    }

    /// The stream's messages as (type, id), in order.
    fn stream_ops(msgs: &[Msg]) -> Vec<(String, i64)> {
        values(msgs)
            .iter()
            .filter(|v| v["type"] != "INIT")
            .map(|v| (v["type"].as_str().unwrap().to_owned(), canal_row(v).1))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filtered_tables_carry_exactly_the_matching_rows_in_snapshot_and_stream() {
        let db = TestDb::create("filtered").await;
        db.client
            .batch_execute(
                "CREATE TABLE orders (id int PRIMARY KEY, region text, amount int, note text);
                 INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, g * 10, 'seed'
                   FROM generate_series(2, 100, 2) g;
                 CREATE TABLE accounts (id int PRIMARY KEY, status text, balance int, note text);
                 INSERT INTO accounts SELECT g,
                   (ARRAY['active', 'vip', 'closed', NULL])[g % 4 + 1],
                   (ARRAY[50, 100, 150, NULL])[(g / 4) % 4 + 1], 'seed'
                   FROM generate_series(1, 40) g;",
            )
            .await
            .unwrap();
        let initial_orders = expected(&db, "orders", ORDERS_WHERE).await;
        let initial_accounts = expected(&db, "accounts", ACCOUNTS_WHERE).await;
        assert!(initial_orders.len() == 24 && !initial_accounts.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let task = unique("filtered");
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.orders", "public.accounts"],
            &["full", "incremental"],
            FILTERS,
        );
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("format = \"debezium_json\"", "format = \"canal_json\""),
        )
        .unwrap();
        let mut child = spawn_run(&path, &dir.path().join("data"));
        child.wait_stream_active(&db, &task, LIMIT).await;

        tracing::info!(
            "the key filter is in the publication; the other one is not, and accounts is FULL"
        );
        let filters: BTreeMap<String, Option<String>> = db
            .client
            .query(
                "SELECT tablename::text, rowfilter FROM pg_publication_tables",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(filters.len(), 2, "{filters:?}");
        assert_eq!(
            filters["orders"].as_deref(),
            Some("(id < 50)"),
            "{filters:?}"
        );
        assert_eq!(filters["accounts"], None, "{filters:?}");
        let identity: String = db
            .client
            .query_one(
                "SELECT relreplident::text FROM pg_class WHERE oid = 'accounts'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(identity, "f");

        tracing::info!("the application's UPDATEs of columns outside the filters succeed");
        db.client
            .batch_execute(
                "UPDATE orders SET note = 'outside the filter' WHERE id IN (4, 80);
                 UPDATE accounts SET note = 'outside the filter' WHERE id IN (1, 2, 8);",
            )
            .await
            .expect("UPDATE of a published, filtered table");

        tracing::info!("rows move into and out of the filters, and are inserted and deleted");
        db.client
            .batch_execute(
                "INSERT INTO orders VALUES (1, 'eu', 1, 'new in'), (101, 'eu', 1, 'new out');
                 UPDATE orders SET id = 49, note = 'moved in' WHERE id = 90;
                 UPDATE orders SET id = 91, note = 'moved out' WHERE id = 10;
                 UPDATE orders SET amount = 0 WHERE id IN (12, 82);
                 DELETE FROM orders WHERE id IN (6, 84);
                 INSERT INTO accounts VALUES (41, 'vip', 500, 'new in'), (42, 'closed', 50, 'new out');
                 UPDATE accounts SET status = 'active', note = 'moved in'
                   WHERE status = 'closed' AND balance >= 100;
                 UPDATE accounts SET balance = 10, note = 'moved out'
                   WHERE id IN (SELECT id FROM accounts WHERE status = 'vip' AND balance >= 100 AND id < 41 LIMIT 2);
                 UPDATE accounts SET balance = NULL, note = 'moved out by NULL'
                   WHERE id IN (SELECT id FROM accounts WHERE status = 'active' AND balance >= 100 LIMIT 1);
                 DELETE FROM accounts WHERE id IN (SELECT id FROM accounts WHERE status = 'closed' LIMIT 2);
                 DELETE FROM accounts WHERE id IN (SELECT id FROM accounts WHERE status = 'vip' AND balance >= 100 AND id < 41 LIMIT 1);",
            )
            .await
            .unwrap();
        let want_orders = expected(&db, "orders", ORDERS_WHERE).await;
        let want_accounts = expected(&db, "accounts", ACCOUNTS_WHERE).await;
        let orders_topic = format!("{task}.public.orders");
        let accounts_topic = format!("{task}.public.accounts");
        let orders = consume_until(&orders_topic, |m| rebuilt(m) == want_orders);
        let accounts = consume_until(&accounts_topic, |m| rebuilt(m) == want_accounts);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");

        tracing::info!("the snapshot read only the matching rows");
        assert_eq!(
            snapshot_ids(&orders),
            initial_orders.keys().copied().collect()
        );
        assert_eq!(
            snapshot_ids(&accounts),
            initial_accounts.keys().copied().collect()
        );
        tracing::info!("the stream: moves became inserts and deletes; rows outside never appear");
        assert_eq!(rebuilt(&orders), want_orders);
        assert_eq!(rebuilt(&accounts), want_accounts);
        let ops = stream_ops(&orders);
        for want in [
            ("UPDATE", 4),
            ("INSERT", 1),
            ("INSERT", 49),
            ("DELETE", 10),
            ("UPDATE", 12),
            ("DELETE", 6),
        ] {
            assert!(
                ops.contains(&(want.0.to_owned(), want.1)),
                "{want:?} missing from {ops:?}"
            );
        }
        assert!(
            ops.iter().all(|(_, id)| *id < 50),
            "orders outside the filter streamed: {ops:?}"
        );
        let ops = stream_ops(&accounts);
        assert!(ops.contains(&("UPDATE".into(), 8)), "{ops:?}");
        assert!(ops.contains(&("INSERT".into(), 41)), "{ops:?}");
        assert!(!ops.iter().any(|(_, id)| *id == 42), "{ops:?}");
        for v in values(&accounts).iter().filter(|v| v["type"] != "INIT") {
            // An UPDATE's old row (`old`, whole under FULL) matched the filter too.
            let (row, _) = canal_row(v);
            let old = &v["old"][0];
            assert_eq!(v["type"] == "UPDATE", !old.is_null(), "{v}");
            for image in [row, old].into_iter().filter(|i| !i.is_null()) {
                let status = image["status"].as_str();
                let balance = image["balance"].as_str();
                let balance: i64 = balance.map_or(i64::MIN, |b| b.parse().unwrap());
                assert!(
                    matches!(status, Some("active" | "vip")) && balance >= 100,
                    "a row outside the filter was streamed: {v}"
                );
            }
        }
        let moved_in = values(&accounts)
            .iter()
            .filter(|v| v["type"] == "INSERT" && v["data"][0]["note"] == "moved in")
            .count();
        assert!(moved_in > 0, "{ops:?}");
        // Three rows moved out, one deleted: four deletes; deletes of rows outside dropped.
        assert_eq!(
            ops.iter().filter(|(op, _)| op == "DELETE").count(),
            4,
            "{ops:?}"
        );
        db.cleanup().await;
    }

    /// Every topic name on the broker.
    fn topics() -> BTreeSet<String> {
        use rdkafka::config::ClientConfig;
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .create()
            .unwrap();
        let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
        md.topics().iter().map(|t| t.name().to_owned()).collect()
    }

    /// Runs a task whose `orders` table has `filter`: it must fail at once with one error
    /// line, and leave no slot, publication or topic. Returns the line.
    async fn refused(db: &TestDb, filter: &str, extra: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let task = unique("badfilter");
        let objects = format!(
            "{extra}\n[objects.table.\"public.orders\"]\nfilter = {}\n",
            toml_string(filter)
        );
        let path = task_file(
            dir.path(),
            &task,
            &db.url,
            &kafka(),
            &["public.orders"],
            &["full", "incremental"],
            &objects,
        );
        let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
        assert_ne!(code, 0, "must fail; stderr:\n{err}");
        let line = error_line(&err);
        let (slots, pubs) = db.replication_objects().await;
        assert!(
            slots.is_empty() && pubs.is_empty(),
            "left: {slots:?} {pubs:?}"
        );
        let left: Vec<String> = topics()
            .into_iter()
            .filter(|t| t.starts_with(&task))
            .collect();
        assert!(left.is_empty(), "topics left: {left:?}");
        line
    }

    fn toml_string(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    #[tokio::test]
    async fn bad_filters_fail_the_task_at_creation_and_create_nothing() {
        let db = TestDb::create("badfilter").await;
        db.client
            .batch_execute(
                "CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric, doc jsonb);
                 INSERT INTO orders VALUES (1, 'new', 10, '{}')",
            )
            .await
            .unwrap();
        let cases = [
            (
                "status =",
                "",
                "objects.table.filter: public.orders: cannot parse \"status =\"",
            ),
            (
                "id = 1; DROP TABLE orders",
                "",
                "cannot parse \"id = 1; DROP TABLE orders\"",
            ),
            (
                "lower(status) = 'new'",
                "",
                "cannot use \"lower(status) = 'new'\": function lower() is not supported",
            ),
            (
                "id IN (SELECT id FROM orders)",
                "",
                "cannot use \"id IN (SELECT id FROM orders)\": subqueries are not supported",
            ),
            ("nope = 1", "", "column \"nope\" does not exist"),
            (
                "doc = '{}'",
                "",
                "has type jsonb, which filters do not compare",
            ),
            ("total = 'abc'", "", "\"abc\" is not a number"),
            (
                "status = 'new'",
                "",
                "\"status\" outside the replica identity's key (\"id\")",
            ),
        ];
        for (filter, extra, want) in cases {
            let line = refused(&db, filter, extra).await;
            assert!(
                line.contains(want) && line.contains("public.orders"),
                "{filter}: {line}"
            );
        }
        tracing::info!(
            "the same non-key filter with REPLICA IDENTITY FULL or insert-only is accepted"
        );
        let ok = "status = 'new'";
        for extra in [
            "replica_identity_full = [\"public.orders\"]",
            "insert_only = [\"public.orders\"]",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let task = unique("okfilter");
            let objects = format!(
                "{extra}\n[objects.table.\"public.orders\"]\nfilter = {}\n",
                toml_string(ok)
            );
            let path = task_file(
                dir.path(),
                &task,
                &db.url,
                &kafka(),
                &["public.orders"],
                &["full"],
                &objects,
            );
            let (code, err) = run_to_end(&path, &dir.path().join("data"), LIMIT);
            assert_eq!(code, 0, "{extra}: {err}");
            let msgs = consume_all(
                &format!("{task}.public.orders"),
                Duration::from_millis(500),
                Duration::from_secs(20),
            );
            assert_eq!(values(&msgs).len(), 1, "{extra}");
        }
        db.cleanup().await;
    }
}
