//! Tables added to a running task, and a table read again, while the application writes on:
//! through the cluster's admin API (`ctl task add-tables`, `ctl task resnapshot`) and through
//! the task file of `tributary run`. The consumer's view ends equal to each table, row by row.
//!
//! Real PostgreSQL and tansu (`scripts/test.sh`); a keyed table is read in chunks beside the
//! stream, a keyless one (REPLICA IDENTITY FULL) under a fresh exported snapshot once the
//! stream reaches it.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::cluster::{Cluster, Load, LIMIT};
use support::*;

/// Rows each table starts with.
const ROWS: i64 = 3000;

/// `items` and `other` (keyed) and `notes` (no key, REPLICA IDENTITY FULL), `ROWS` rows each.
async fn three_tables(prefix: &str) -> TestDb {
    let db = TestDb::create(prefix).await;
    db.client
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
             CREATE TABLE other (id bigint PRIMARY KEY, v int NOT NULL);
             CREATE TABLE notes (n bigint NOT NULL, v int NOT NULL);
             ALTER TABLE notes REPLICA IDENTITY FULL;
             INSERT INTO items SELECT g, 0 FROM generate_series(1, {ROWS}) g;
             INSERT INTO other SELECT g, 0 FROM generate_series(1, {ROWS}) g;
             INSERT INTO notes SELECT g, 0 FROM generate_series(1, {ROWS}) g;"
        ))
        .await
        .unwrap();
    db
}

/// The `i`-th write: keys spread over the whole table, so chunks not read yet and chunks
/// already read both change.
fn statement(i: i64) -> String {
    let table = if i % 2 == 0 { "items" } else { "other" };
    let key = (i * 7919) % (ROWS + 500) + 1;
    match i % 6 {
        0 | 1 => format!("UPDATE {table} SET v = v + 1 WHERE id = {key}"),
        2 => format!("DELETE FROM {table} WHERE id = {key}"),
        3 => format!(
            "INSERT INTO {table} VALUES ({key}, {i}) ON CONFLICT (id) DO UPDATE SET v = excluded.v"
        ),
        4 => format!(
            "UPDATE {table} SET id = {} WHERE id = {key} AND NOT EXISTS (SELECT 1 FROM {table} WHERE id = {})",
            key + ROWS + 1000,
            key + ROWS + 1000
        ),
        _ => format!("INSERT INTO notes VALUES ({}, {i})", ROWS + 1 + i),
    }
}

/// A keyed table as `id → v`.
async fn table_state(db: &TestDb, table: &str) -> BTreeMap<i64, i64> {
    db.client
        .query(&format!("SELECT id, v FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0), i64::from(r.get::<_, i32>(1))))
        .collect()
}

/// The consumer's view of a keyed table's topic (Debezium envelope) as `id → v`.
fn consumed_state(msgs: &[Msg]) -> BTreeMap<i64, i64> {
    replay(msgs)
        .values()
        .filter_map(|after| Some((after["id"].as_i64()?, after["v"].as_i64()?)))
        .collect()
}

/// Reads `topic` until the consumer's view equals `table` (bounded), then asserts it.
async fn assert_equal(db: &TestDb, table: &str, topic: &str) -> Vec<Msg> {
    let want = table_state(db, table).await;
    let msgs = consume_until(topic, |m| consumed_state(m) == want);
    let got = consumed_state(&msgs);
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(k) != Some(v))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(k))
        .take(5)
        .collect();
    assert!(
        got == want,
        "{table}: the consumer holds {} rows, the table {}; differing e.g. {missing:?}, extra e.g. {extra:?}",
        got.len(),
        want.len()
    );
    msgs
}

/// Every row of the keyless `notes` reached its topic (inserts only: each row at least once).
async fn assert_notes(db: &TestDb, topic: &str) {
    let want: BTreeSet<i64> = db
        .client
        .query("SELECT n FROM notes", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ns = |msgs: &[Msg]| -> BTreeSet<i64> {
        values(msgs)
            .iter()
            .filter_map(|v| v["after"]["n"].as_i64())
            .collect()
    };
    let got = ns(&consume_until(topic, |m| ns(m).is_superset(&want)));
    let missing: Vec<&i64> = want.difference(&got).take(10).collect();
    assert!(missing.is_empty(), "notes: rows missing, e.g. {missing:?}");
}

/// Snapshot reads (`op = r`) in a topic.
fn reads(msgs: &[Msg]) -> usize {
    values(msgs).iter().filter(|v| v["op"] == "r").count()
}

/// A task over `items`; `top` adds top-level settings (e.g. its sharding).
fn cluster_task(c: &Cluster, task: &str, db: &TestDb, top: &str) -> std::path::PathBuf {
    let text = format!(
        "name = {task:?}\n{top}\n[source]\nkind = \"postgres\"\nurl = {:?}\nstatus_interval = \"1s\"\n\
         snapshot_chunk_rows = 200\nsnapshot_connections = 2\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\n\
         [objects]\ntables = [\"public.items\"]\n\
         [migration]\nphases = [\"full\", \"incremental\"]\ncheckpoint_interval = \"200ms\"\n",
        db.url,
        kafka()
    );
    let path = c.dir.path().join(format!("{task}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn ctl_ok(c: &Cluster, args: &[&str]) -> String {
    let out = c.ctl(0, args);
    assert!(
        out.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ctl's one error line for a call that must fail.
fn ctl_err(c: &Cluster, args: &[&str]) -> String {
    let out = c.ctl(0, args);
    assert!(!out.status.success(), "ctl {args:?} must fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_owned()
}

/// Waits until the run read its snapshot (`complete`) or says it still waits for transactions;
/// it must be the latter.
async fn still_waiting(child: &Proc, complete: &dyn Fn() -> bool, what: &str) {
    wait_until("the snapshot read, or the run still waiting", LIMIT, || {
        complete()
            || child
                .stderr_so_far()
                .contains("still waiting for transactions")
    })
    .await;
    assert!(!complete(), "{what}");
}

/// One at a time: each drives a cluster or a run under a steady write load.
mod serial {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_added_to_a_running_task_under_load_are_captured_completely_without_a_restart() {
        let db = three_tables("addt").await;
        let c = Cluster::start(1);
        let task = unique("addt");
        c.create_task(&cluster_task(&c, &task, &db, ""));
        support::cluster::wait_streaming(&c, &task, 1);
        let epoch = |c: &Cluster| c.task(&task)["shards"][0]["epoch"].as_u64();
        let before = epoch(&c);
        let (slot, _) = db.task_slot(&task).await.expect("the task's slot");
        let walsender = db.walsender_pid(&slot).await;
        assert!(walsender.is_some(), "a walsender streams from {slot}");
        let writes = Load::start(&db, statement);
        writes.wait_more(300).await;
        tracing::info!("other and notes are added while the application writes");
        ctl_ok(
            &c,
            &["task", "add-tables", &task, "public.other", "public.notes"],
        );
        let spec = c.task(&task)["spec_toml"].as_str().unwrap_or("").to_owned();
        assert!(
            spec.contains("public.other") && spec.contains("public.notes"),
            "{spec}"
        );
        writes.wait_more(1500).await;
        support::cluster::wait_streaming(&c, &task, 1);
        writes.wait_more(300).await;
        writes.stop().await;
        let other = assert_equal(&db, "other", &format!("{task}.public.other")).await;
        assert!(
            reads(&other) >= ROWS as usize / 2,
            "other's snapshot was read"
        );
        assert_notes(&db, &format!("{task}.public.notes")).await;
        assert_equal(&db, "items", &format!("{task}.public.items")).await;
        assert_eq!(
            db.walsender_pid(&slot).await,
            walsender,
            "the shard adopted the tables in the same replication session (no restart)"
        );
        assert_eq!(epoch(&c), before, "the shard kept its epoch");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_read_again_under_load_end_equal_without_a_restart() {
        let db = three_tables("resnap").await;
        let c = Cluster::start(1);
        let task = unique("resnap");
        c.create_task(&cluster_task(&c, &task, &db, ""));
        ctl_ok(&c, &["task", "add-tables", &task, "public.notes"]);
        let (items, notes) = (
            format!("{task}.public.items"),
            format!("{task}.public.notes"),
        );
        let before = reads(&consume_until(&items, |m| reads(m) >= ROWS as usize));
        let notes_before = reads(&consume_until(&notes, |m| reads(m) >= ROWS as usize));
        support::cluster::wait_streaming(&c, &task, 1);
        let epoch = |c: &Cluster| c.task(&task)["shards"][0]["epoch"].as_u64();
        let epoch_before = epoch(&c);
        let (slot, _) = db.task_slot(&task).await.expect("the task's slot");
        let walsender = db.walsender_pid(&slot).await;
        assert!(walsender.is_some(), "a walsender streams from {slot}");
        let writes = Load::start(&db, statement);
        writes.wait_more(300).await;
        ctl_ok(&c, &["task", "resnapshot", &task, "public.items"]);
        ctl_ok(&c, &["task", "resnapshot", &task, "public.notes"]);
        let rows_now = table_state(&db, "items").await.len();
        // Chunks read under load: the rows read again reach the topic while writes go on.
        consume_until(&items, |m| reads(m) >= before + rows_now / 2);
        writes.wait_more(300).await;
        writes.stop().await;
        let msgs = assert_equal(&db, "items", &items).await;
        assert!(
            reads(&msgs) >= before + rows_now / 2,
            "items was read again: {} reads, {before} before",
            reads(&msgs)
        );
        assert_notes(&db, &notes).await;
        let again = consume_until(&notes, |m| reads(m) >= notes_before + ROWS as usize);
        assert!(
            reads(&again) >= notes_before + ROWS as usize,
            "notes (keyless) was read again: {} reads, {notes_before} before",
            reads(&again)
        );
        assert_eq!(
            db.walsender_pid(&slot).await,
            walsender,
            "the tables were read again in the same replication session (no restart)"
        );
        assert_eq!(epoch(&c), epoch_before, "the shard kept its epoch");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_add_tables_and_resnapshot_calls_get_one_line_and_change_nothing() {
        let db = three_tables("addbad").await;
        let c = Cluster::start(1);
        let task = unique("addbad");
        c.create_task(&cluster_task(&c, &task, &db, ""));
        support::cluster::wait_streaming(&c, &task, 1);
        let spec = || c.task(&task)["spec_toml"].as_str().unwrap_or("").to_owned();
        let before = spec();
        let cases: [(&[&str], &str); 5] = [
            (&["task", "add-tables", &task, "public.nowhere"], "nowhere"),
            (
                &["task", "add-tables", &task, "public.items"],
                "already selects",
            ),
            (
                &["task", "add-tables", "no_such_task", "public.other"],
                "no task named",
            ),
            (
                &["task", "resnapshot", &task, "public.other"],
                "does not capture",
            ),
            (&["task", "resnapshot", &task, "items"], "schema.table"),
        ];
        for (args, says) in cases {
            let line = ctl_err(&c, args);
            assert!(line.contains(says), "{args:?}: {line}");
        }
        assert_eq!(spec(), before, "nothing changed");
        let published = db.published_tables().await;
        assert!(
            !published
                .iter()
                .any(|t| t.contains("other") || t.contains("nowhere")),
            "{published:?}"
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_added_to_the_task_file_is_captured_when_run_starts_again() {
        let db = three_tables("addrun").await;
        let setup = TaskSetup::new(
            &db.url,
            "addrun",
            &["public.items"],
            &["full", "incremental"],
        );
        add_to_section(&setup.path, "source", "snapshot_chunk_rows = 200");
        let writes = Load::start(&db, statement);
        {
            let mut child = setup.spawn();
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            writes.wait_more(200).await;
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
        }
        tracing::info!("other is added to the task file while the application writes on");
        let text = std::fs::read_to_string(&setup.path).unwrap();
        let changed = text.replacen(
            "tables = [\"public.items\"]",
            "tables = [\"public.items\", \"public.other\"]",
            1,
        );
        assert_ne!(text, changed);
        std::fs::write(&setup.path, changed).unwrap();
        writes.wait_more(200).await;
        let mut child = setup.spawn();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        writes.wait_more(500).await;
        writes.stop().await;
        assert_equal(&db, "other", &setup.topic("public.other")).await;
        assert_equal(&db, "items", &setup.topic("public.items")).await;
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        tracing::info!("removing a table is refused with one line");
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(&setup.path, text.replacen("\"public.items\", ", "", 1)).unwrap();
        let (code, err) = setup.spawn().wait_exit(LIMIT);
        assert_eq!(code, 1, "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains("removed") && lines[0].contains("public.items"),
            "{}",
            lines[0]
        );
        db.cleanup().await;
    }

    /// A commit in the WAL before the table joins the publication, but still invisible (it waits
    /// for a synchronous standby that never connects, on a PostgreSQL of the test's own), is
    /// never streamed for the table: its row must come from the chunks. The added table's chunks
    /// wait until it has ended, so they hold it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_added_tables_chunks_wait_for_commits_made_before_it_was_published() {
        let server = support::own_server::OwnServer::start(&[
            "synchronous_standby_names=never_connects",
            "synchronous_commit=local",
        ]);
        let admin = connect(&server.url()).await;
        let db = TestDb::create_on(&server.url(), "addsync").await;
        db.client
            .batch_execute(
                "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
                 CREATE TABLE other (id bigint PRIMARY KEY, v int NOT NULL);
                 INSERT INTO items SELECT g, 0 FROM generate_series(1, 500) g;
                 INSERT INTO other SELECT g, 0 FROM generate_series(1, 500) g;",
            )
            .await
            .unwrap();
        let setup = TaskSetup::new(
            &db.url,
            "addsync",
            &["public.items"],
            &["full", "incremental"],
        );
        add_to_section(&setup.path, "source", "snapshot_chunk_rows = 100");
        {
            let mut child = setup.spawn();
            child.wait_stream_active(&db, &setup.task, LIMIT).await;
            child.sigterm();
            let (code, err) = child.wait_exit(LIMIT);
            assert_eq!(code, 0, "{err}");
        }
        tracing::info!("an update of other commits in the WAL and stays invisible");
        let (pid, commit) = support::own_server::held_commit(
            &db.url,
            &admin,
            "UPDATE other SET v = 42 WHERE id = 7",
        )
        .await;
        tracing::info!("other is added; the run must not read it while the update is invisible");
        let text = std::fs::read_to_string(&setup.path).unwrap();
        std::fs::write(
            &setup.path,
            text.replacen(
                "tables = [\"public.items\"]",
                "tables = [\"public.items\", \"public.other\"]",
                1,
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        let complete = || {
            scrape(&addr)
                .and_then(|s| metric(&s, "tributary_snapshot_complete", &setup.task))
                .is_some_and(|v| v == 1.0)
        };
        // Without the wait the 500 rows are read within a second; with it, the run says it still
        // waits after five.
        still_waiting(
            &child,
            &complete,
            "other was read while a commit to it was invisible",
        )
        .await;
        tracing::info!("the run is killed during its wait, and started again");
        child.sigkill();
        let _ = child.wait_exit(LIMIT);
        let mut child = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &addr]);
        // Published already, so nothing is added this time; the start still waits.
        let cut =
            "after a start cut during the wait, other was read while a commit to it was invisible";
        still_waiting(&child, &complete, cut).await;
        admin
            .query("SELECT pg_cancel_backend($1)", &[&pid])
            .await
            .unwrap();
        let _ = commit.await.unwrap();
        child.wait_stream_active(&db, &setup.task, LIMIT).await;
        let msgs = assert_equal(&db, "other", &setup.topic("public.other")).await;
        assert_eq!(consumed_state(&msgs)[&7], 42);
        child.sigterm();
        let (code, err) = child.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        db.cleanup().await;
    }

    /// A commit in the WAL that a synchronous standby holds invisible is streamed before the
    /// table is asked to be read again: the read waits until it is visible, or its chunk
    /// would hold the row as it was before, after the stream's newer change.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_table_read_again_waits_for_a_streamed_commit_still_invisible() {
        let server = support::own_server::OwnServer::start(&[
            "synchronous_standby_names=never_connects",
            "synchronous_commit=local",
        ]);
        let admin = connect(&server.url()).await;
        let db = TestDb::create_on(&server.url(), "resync").await;
        db.client
            .batch_execute(
                "CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL);
                 INSERT INTO items SELECT g, 0 FROM generate_series(1, 500) g;",
            )
            .await
            .unwrap();
        let c = Cluster::start(1);
        let task = unique("resync");
        c.create_task(&cluster_task(&c, &task, &db, ""));
        support::cluster::wait_streaming(&c, &task, 1);
        let topic = format!("{task}.public.items");
        let once = reads(&consume_until(&topic, |m| reads(m) >= 500));
        let (pid, commit) = support::own_server::held_commit(
            &db.url,
            &admin,
            "UPDATE items SET v = 42 WHERE id = 7",
        )
        .await;
        let streamed = consume_until(&topic, |m| consumed_state(m).get(&7) == Some(&42));
        assert_eq!(consumed_state(&streamed).get(&7), Some(&42), "streamed");
        ctl_ok(&c, &["task", "resnapshot", &task, "public.items"]);
        // Without the wait the 500 rows are read again within a second, id 7 as it was.
        let idle = std::time::Duration::from_secs(5);
        let meanwhile = consume_all(&topic, idle, idle * 2);
        assert_eq!(
            reads(&meanwhile),
            once,
            "items was read again while a commit the stream passed on was invisible"
        );
        admin
            .query("SELECT pg_cancel_backend($1)", &[&pid])
            .await
            .unwrap();
        let _ = commit.await.unwrap();
        let msgs = assert_equal(&db, "items", &topic).await;
        assert_eq!(consumed_state(&msgs)[&7], 42);
        assert!(reads(&msgs) >= once + 500, "read again once visible");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_table_sharding_an_added_table_gets_a_shard_of_its_own_and_nothing_restarts() {
        let db = three_tables("addshard").await;
        let c = Cluster::start(1);
        let task = unique("addshard");
        c.create_task(&cluster_task(&c, &task, &db, "sharding = \"table\""));
        support::cluster::wait_streaming(&c, &task, 1);
        let epoch = |c: &Cluster| c.task(&task)["shards"][0]["epoch"].as_u64();
        let before = epoch(&c);
        let writes = Load::start(&db, statement);
        writes.wait_more(300).await;
        ctl_ok(&c, &["task", "add-tables", &task, "public.other"]);
        support::cluster::wait_streaming(&c, &task, 2);
        writes.wait_more(300).await;
        writes.stop().await;
        assert_equal(&db, "other", &format!("{task}.public.other")).await;
        assert_equal(&db, "items", &format!("{task}.public.items")).await;
        assert_eq!(epoch(&c), before, "the items shard was not restarted");
        db.cleanup().await;
    }
}
