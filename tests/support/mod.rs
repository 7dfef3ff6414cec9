//! Shared test support: real PostgreSQL and Kafka endpoints from the environment (started by
//! `scripts/test.sh`), a unique database and task per test, the `tributary` binary as a child
//! process (so tests can SIGKILL it), and a consumer that rebuilds table state from topics.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

pub mod cluster;
pub mod mock_kafka;
pub mod own_server;
pub mod proxy;
pub mod seqs;

/// Runs `sql` through `psql` on `url` (stopping at the first error); returns whether it
/// succeeded and what it printed on stderr (the server's WARNINGs, as a user sees them).
pub fn psql(url: &str, sql: &str) -> (bool, String) {
    let out = std::process::Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn pg_url() -> String {
    std::env::var("TRIBUTARY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://tributary:tributary@127.0.0.1:54321/postgres".into())
}

pub fn pg_replica_url() -> String {
    std::env::var("TRIBUTARY_TEST_PG_REPLICA_URL")
        .unwrap_or_else(|_| "postgres://tributary:tributary@127.0.0.1:54322/postgres".into())
}

pub fn kafka() -> String {
    std::env::var("TRIBUTARY_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{:x}_{}", nanos & 0xFFFF_FFFF, std::process::id())
}

/// Replaces the database of a URL.
pub fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{db}")
}

/// Connects with tokio-postgres (no TLS).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to test PostgreSQL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh database for one test; dropped (with the test's slots) on `cleanup`, or when the
/// `TestDb` is dropped without it (a failed test), so no slot keeps WAL on the shared server.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub client: tokio_postgres::Client,
    admin_url: String,
    cleaned: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime: clean up on a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

impl TestDb {
    pub async fn create(prefix: &str) -> TestDb {
        Self::create_on(&pg_url(), prefix).await
    }

    pub async fn create_on(admin_url: &str, prefix: &str) -> TestDb {
        let name = unique(prefix);
        let admin = connect(admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = with_db(admin_url, &name);
        let client = connect(&url).await;
        TestDb {
            name,
            url,
            client,
            admin_url: admin_url.to_owned(),
            cleaned: false,
        }
    }

    /// Slots and publications of this database.
    pub async fn replication_objects(&self) -> (Vec<String>, Vec<String>) {
        let slots = self
            .client
            .query("SELECT slot_name::text FROM pg_replication_slots WHERE database = current_database()", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let pubs = self
            .client
            .query("SELECT pubname::text FROM pg_publication", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        (slots, pubs)
    }

    /// The tables tributary's publications hold, by name, sorted.
    pub async fn published_tables(&self) -> Vec<String> {
        self.client
            .query(
                "SELECT DISTINCT tablename::text FROM pg_publication_tables WHERE pubname LIKE 'tributary%' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The task's slot (`tributary_<task>_<incarnation>_<shard>`, not a re-read's temporary
    /// one): its name and whether a walsender streams from it. A slot being created is active
    /// too (its walsender waits for a consistent point, and writes meanwhile land in the exported
    /// snapshot, not the stream): only a walsender past START_REPLICATION counts.
    pub async fn task_slot(&self, task: &str) -> Option<(String, bool)> {
        let prefix = format!("tributary_{}_", task.to_ascii_lowercase());
        let sql = "SELECT s.slot_name::text, EXISTS (SELECT 1 FROM pg_stat_replication r \
                   WHERE r.pid = s.active_pid AND r.state IN ('catchup', 'streaming')) \
                   FROM pg_replication_slots s WHERE s.database = current_database()";
        self.client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, bool>(1)))
            .find(|(name, _)| name.starts_with(&prefix) && !name.contains("_reread_"))
    }

    /// The PID of the walsender streaming from `slot`, if one does: the same PID means the
    /// same replication session (not restarted).
    pub async fn walsender_pid(&self, slot: &str) -> Option<i32> {
        self.client
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .and_then(|r| r.get(0))
    }

    /// The slot's `confirmed_flush_lsn`, as a number.
    pub async fn confirmed_flush(&self, slot: &str) -> Option<u64> {
        self.client
            .query_opt(
                "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .map(|l| l as u64)
    }

    /// The server's current WAL write position, as a number.
    pub async fn current_lsn(&self) -> u64 {
        self.client
            .query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[])
            .await
            .unwrap()
            .get::<_, i64>(0) as u64
    }

    pub async fn cleanup(mut self) {
        self.cleaned = true;
        drop_database(&self.admin_url, &self.name).await;
    }
}

/// Ends the walsenders of database `name`, drops its slots, then the database.
async fn drop_database(admin_url: &str, name: &str) {
    // Never panics: it also runs while a failed test unwinds.
    let Ok((admin, conn)) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await else {
        return;
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let _ = admin
        .execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", &[&name])
        .await;
    // A terminated walsender releases its slot a moment later.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let active: i64 = admin
            .query_one("SELECT count(*) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", &[&name])
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if active == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = admin.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", &[&name]).await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

/// Writes a task file and returns its path.
pub fn task_file(
    dir: &Path,
    name: &str,
    pg: &str,
    kafka: &str,
    tables: &[&str],
    phases: &[&str],
    extra: &str,
) -> PathBuf {
    let list = |v: &[&str]| {
        v.iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "name = {name:?}\n[source]\nkind = \"postgres\"\nurl = {pg:?}\nstatus_interval = \"1s\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = {kafka:?}\nformat = \"debezium_json\"\n\
         [objects]\ntables = [{}]\n{extra}\n[migration]\nphases = [{}]\ncheckpoint_interval = \"200ms\"\n",
        list(tables),
        list(phases)
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A task file in its own directory, with the data directory beside it.
pub struct TaskSetup {
    pub dir: tempfile::TempDir,
    pub task: String,
    pub path: PathBuf,
}

impl TaskSetup {
    /// A task named `<prefix>_<unique>` over `tables` of the database at `url`.
    pub fn new(url: &str, prefix: &str, tables: &[&str], phases: &[&str]) -> TaskSetup {
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(dir.path(), &task, url, &kafka(), tables, phases, "");
        TaskSetup { dir, task, path }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `tributary run` on this task.
    pub fn spawn(&self) -> Proc {
        spawn_run(&self.path, &self.data())
    }

    /// The topic of `schema.table` under the default naming.
    pub fn topic(&self, table: &str) -> String {
        format!("{}.{table}", self.task)
    }
}

/// The `tributary` binary under test: cargo's, or the copy `TRIBUTARY_TEST_BIN` names (a
/// target directory shared by several work trees can swap cargo's copy during a run).
pub fn tributary() -> Command {
    let bin = std::env::var("TRIBUTARY_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tributary").to_owned());
    let mut c = Command::new(bin);
    let log = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "warn,tributary=info".into());
    c.env("TRIBUTARY_LOG", log);
    c
}

/// A running `tributary` child; killed when dropped, so a failing test leaves no process. Its
/// stderr (when piped) is read all along by a thread, so a chatty process never blocks on a
/// full pipe.
pub struct Proc {
    child: Option<Child>,
    stderr: Option<std::thread::JoinHandle<()>>,
    /// What the process has written to stderr so far.
    written: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// Where a `tributary run` started by `spawn_run_with` serves its metrics.
    metrics: Option<String>,
}

impl Proc {
    pub fn from_child(mut child: Child) -> Proc {
        let written = std::sync::Arc::<std::sync::Mutex<Vec<u8>>>::default();
        let sink = written.clone();
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = e.read(&mut chunk) {
                    sink.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            })
        });
        Proc {
            child: Some(child),
            stderr,
            written,
            metrics: None,
        }
    }

    /// What the process has written to stderr so far (while it runs).
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().unwrap()).into_owned()
    }

    /// Everything the process wrote to stderr (once it has exited).
    fn take_stderr(&mut self) -> String {
        if let Some(t) = self.stderr.take() {
            let _ = t.join();
        }
        self.stderr_so_far()
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn sigterm(&self) {
        send_signal(self.id(), "TERM");
    }

    pub fn sigkill(&mut self) {
        send_signal(self.id(), "KILL");
        if let Some(c) = self.child.as_mut() {
            let _ = c.wait();
        }
    }

    /// Waits (bounded) until the task's slot exists and a walsender streams from it and, for a
    /// run started by `spawn_run_with`, its snapshot is sent (`tributary_snapshot_complete`: a
    /// chunked snapshot runs beside the stream), so a write from now on reaches the stream
    /// after every snapshot row. Fails with the process's stderr if it exits or the time runs
    /// out first. Returns the slot's name.
    pub async fn wait_stream_active(&mut self, db: &TestDb, task: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some((name, true)) = db.task_slot(task).await {
                let complete = self.metrics.as_deref().is_none_or(|addr| {
                    scrape(addr)
                        .and_then(|s| metric(&s, "tributary_snapshot_complete", task))
                        .is_some_and(|v| v == 1.0)
                });
                if complete {
                    return name;
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || start.elapsed() > limit {
                let slot = db.task_slot(task).await;
                let taken = Proc {
                    child: None,
                    stderr: None,
                    written: Default::default(),
                    metrics: None,
                };
                let (code, err) = std::mem::replace(self, taken).wait_exit(Duration::from_secs(0));
                panic!(
                    "the stream of task {task} did not start (exited: {exited}, code {code}, slot {slot:?}) within {limit:?}; stderr:\n{err}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) for the exit; returns the code and stderr.
    pub fn wait_exit(mut self, limit: Duration) -> (i32, String) {
        let mut child = self.child.take().expect("a child");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status.code().unwrap_or(-1), self.take_stderr());
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let status = child.wait().unwrap();
                let err = self.take_stderr();
                if limit.is_zero() {
                    return (status.code().unwrap_or(-1), err);
                }
                panic!("tributary did not exit within {limit:?}; stderr:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `tributary run` in the background.
pub fn spawn_run(task: &Path, data_dir: &Path) -> Proc {
    spawn_run_with(task, data_dir, &[])
}

/// Starts `tributary run` in the background with more options. It always serves metrics (on a
/// free port unless `extra` names `--metrics-addr`), so `wait_stream_active` can also wait for
/// the snapshot.
pub fn spawn_run_with(task: &Path, data_dir: &Path, extra: &[&str]) -> Proc {
    let given = extra
        .iter()
        .position(|a| *a == "--metrics-addr")
        .and_then(|i| extra.get(i + 1))
        .map(|a| a.to_string());
    let metrics = given
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()));
    let mut cmd = tributary();
    cmd.args(["run", "--task"])
        .arg(task)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra);
    if given.is_none() {
        cmd.args(["--metrics-addr", &metrics]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tributary");
    let mut proc = Proc::from_child(child);
    proc.metrics = Some(metrics);
    proc
}

/// Runs `tributary run` to completion (bounded), returning (exit code, stderr).
pub fn run_to_end(task: &Path, data_dir: &Path, limit: Duration) -> (i32, String) {
    spawn_run(task, data_dir).wait_exit(limit)
}

pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Value>,
    pub value: Option<Value>,
    pub headers: HashMap<String, String>,
    /// The record's timestamp (the producer's create time: when the sink handed it on), ms.
    pub timestamp_ms: Option<i64>,
    /// Key plus value bytes, as the throttle counts them.
    pub size: usize,
}

impl Msg {
    pub fn position(&self) -> &str {
        self.headers
            .get("tributary.position")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Reads every message of `topic` from the beginning until it has been idle for `idle`
/// (bounded by `limit`).
pub fn consume_all(topic: &str, idle: Duration, limit: Duration) -> Vec<Msg> {
    consume_all_from(&kafka(), topic, idle, limit)
}

/// `consume_all` from the brokers at `servers`.
pub fn consume_all_from(servers: &str, topic: &str, idle: Duration, limit: Duration) -> Vec<Msg> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique("test"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let parts = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if parts == 0 {
        return Vec::new();
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    // Each partition's next offset: a reset to the beginning reads messages again.
    let mut next: HashMap<i32, i64> = HashMap::new();
    let (start, mut last) = (Instant::now(), Instant::now());
    // The first fetch of a new consumer takes a while: idleness counts from the first message.
    let first_wait = limit.min(Duration::from_secs(10));
    while start.elapsed() < limit
        && if out.is_empty() {
            start.elapsed() < first_wait
        } else {
            last.elapsed() < idle
        }
    {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = match m {
                Ok(m) => m,
                // A dropped broker connection is reported and then re-established by
                // librdkafka itself: poll on.
                Err(rdkafka::error::KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::AllBrokersDown
                    | rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure,
                )) => continue,
                Err(e) => panic!("consume: {e:?}"),
            };
            let seen = next.entry(m.partition()).or_insert(0);
            if m.offset() < *seen {
                continue;
            }
            *seen = m.offset() + 1;
            let json =
                |b: Option<&[u8]>| b.map(|b| serde_json::from_slice(b).expect("JSON message"));
            let mut headers = HashMap::new();
            if let Some(h) = m.headers() {
                for i in 0..h.count() {
                    let hd = h.get(i);
                    headers.insert(
                        hd.key.to_owned(),
                        String::from_utf8_lossy(hd.value.unwrap_or(b"")).into_owned(),
                    );
                }
            }
            out.push(Msg {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                key: json(m.key()),
                value: json(m.payload()),
                headers,
                timestamp_ms: m.timestamp().to_millis(),
                size: m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len),
            });
            last = Instant::now();
        }
    }
    out
}

/// Reads `topic` again and again until `done` holds for its messages (bounded: about a
/// minute); returns the last read.
pub fn consume_until(topic: &str, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
    consume_until_from(&kafka(), topic, done)
}

/// `consume_until` from the brokers at `servers`.
pub fn consume_until_from(servers: &str, topic: &str, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
    let start = Instant::now();
    loop {
        let msgs = consume_all_from(
            servers,
            topic,
            Duration::from_millis(700),
            Duration::from_secs(20),
        );
        if done(&msgs) || start.elapsed() > Duration::from_secs(60) {
            return msgs;
        }
    }
}

/// Adds `lines` at the start of a task file's `[section]`.
pub fn add_to_section(path: &Path, section: &str, lines: &str) {
    let header = format!("[{section}]\n");
    let text =
        std::fs::read_to_string(path)
            .unwrap()
            .replacen(&header, &format!("{header}{lines}\n"), 1);
    std::fs::write(path, text).unwrap();
}

/// Applies Debezium messages in order to rebuild a table: key → after image.
pub fn replay(msgs: &[Msg]) -> BTreeMap<String, Value> {
    let mut state = BTreeMap::new();
    for m in msgs {
        let Some(v) = &m.value else { continue };
        let key = m.key.as_ref().map(|k| k.to_string()).unwrap_or_default();
        match v["op"].as_str() {
            Some("r") | Some("c") | Some("u") => {
                state.insert(key, v["after"].clone());
            }
            Some("d") => {
                state.remove(&key);
            }
            Some("t") => state.clear(),
            _ => {}
        }
    }
    state
}

/// The `items (id bigint, name text, qty int)` table as the Debezium consumer should rebuild it:
/// key JSON → after image.
pub async fn items_state(db: &TestDb) -> BTreeMap<String, Value> {
    db.client
        .query("SELECT id, name, qty FROM items", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let after = serde_json::json!({"id": id, "name": r.get::<_, Option<String>>(1), "qty": r.get::<_, Option<i32>>(2)});
            (serde_json::json!({ "id": id }).to_string(), after)
        })
        .collect()
}

/// Polls the async condition `f` until it returns true (bounded).
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The checkpoint a stopped run left in its data directory (the process must be gone: sled
/// locks the directory).
pub async fn checkpoint(data: &Path, task: &str) -> tributary::checkpoint::Checkpoint {
    use tributary::checkpoint::CheckpointStore;
    let store = tributary::checkpoint::SledCheckpointStore::open(data).unwrap();
    store
        .load(&tributary::checkpoint::ShardKey {
            task: task.into(),
            shard: 0,
        })
        .await
        .unwrap()
        .expect("a checkpoint")
}

/// The values of messages that carry one (tombstones left out).
pub fn values(msgs: &[Msg]) -> Vec<&Value> {
    msgs.iter().filter_map(|m| m.value.as_ref()).collect()
}

/// Polls `f` until it returns true (bounded).
pub async fn wait_until<F: FnMut() -> bool>(what: &str, limit: Duration, f: F) {
    wait_until_or(what, limit, f, String::new).await
}

/// `wait_until`, whose timeout also prints `context()` (a process's log, say).
pub async fn wait_until_or<F: FnMut() -> bool>(
    what: &str,
    limit: Duration,
    mut f: F,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops a run with SIGTERM (it must exit 0) and drops the test's database.
pub async fn end_run(child: Proc, db: TestDb) {
    child.sigterm();
    let (code, err) = child.wait_exit(Duration::from_secs(90));
    assert_eq!(code, 0, "{err}");
    db.cleanup().await;
}

/// `tributary run` on the task file `path` with data in `data` and fail points `failpoints`
/// (`FAILPOINTS`, built with `--features failpoints`), its stderr kept.
pub fn spawn_run_failing(path: &Path, data: &Path, failpoints: &str) -> Proc {
    Proc::from_child(
        tributary()
            .args(["run", "--task"])
            .arg(path)
            .arg("--data-dir")
            .arg(data)
            .env("FAILPOINTS", failpoints)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// One series of a Prometheus text exposition: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses Prometheus text (`name{k="v",...} value`; comments skipped).
pub fn parse_metrics(text: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        out.push(Series {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The value of `name` for task `task`, shard 0 (exactly those two labels).
pub fn metric(series: &[Series], name: &str, task: &str) -> Option<f64> {
    series
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == 2
                && s.labels.get("task").map(String::as_str) == Some(task)
                && s.labels.get("shard").map(String::as_str) == Some("0")
        })
        .map(|s| s.value)
}

/// Waits (bounded) until the run exporting metrics on `addr` has sent every snapshot row of
/// `task` (`tributary_snapshot_complete`): a chunked snapshot runs beside the stream, so an
/// active slot says nothing about it.
pub async fn wait_snapshot_complete(addr: &str, task: &str, limit: Duration) {
    wait_until("the snapshot complete", limit, || {
        scrape(addr)
            .and_then(|s| metric(&s, "tributary_snapshot_complete", task))
            .is_some_and(|v| v == 1.0)
    })
    .await;
}

/// `GET /metrics` from a running exporter (None while it does not answer).
pub fn scrape(addr: &str) -> Option<Vec<Series>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| parse_metrics(body))
        .or_else(|| {
            head.starts_with("HTTP/1.0 200")
                .then(|| parse_metrics(body))
        })
}

/// A TCP port on 127.0.0.1 that nothing listens on right now, never the
/// same twice in one test process, and below Linux's ephemeral range
/// (32768 up), so an outgoing connection cannot take it before the process
/// it was chosen for binds it. Asking the kernel for port 0 instead gave one
/// port to two nodes of a cluster test (a worker then refused to start).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each process starts at its own place, 97 ports from the process
    // started just before it, so parallel tests rarely meet.
    let start = (std::process::id().wrapping_mul(97) % u32::from(SPAN)) as u16;
    let _ = NEXT.compare_exchange(0, start.max(1), Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = LOW + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port in {LOW}..{}", LOW + SPAN)
}

/// The single `error:` line of a failed command (and no panic on its stderr).
pub fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one error line expected in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "a panic in:\n{stderr}");
    lines[0].to_owned()
}

/// Creates `topic` (one partition) on the test broker.
pub async fn create_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .create()
        .unwrap();
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let created = admin
        .create_topics(&[new], &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
}

/// A consumer of partition 0 of `topic` from the beginning (a group of its own, no commits):
/// the DTS formats' default partition.
pub fn partition_zero_consumer(topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", unique("p0"))
        .set("enable.auto.commit", "false")
        // A fetch the broker answers "out of range" (a topic being created) resets the
        // position: to the beginning, never past messages not read yet (readers skip offsets
        // they saw).
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    consumer
}

/// The raw values of partition 0 of `topic`, from the beginning, until `n` are there (bounded by
/// `limit`; a topic that does not exist yet is waited for).
pub fn partition_zero_values(topic: &str, n: usize, limit: Duration) -> Vec<Vec<u8>> {
    let consumer = partition_zero_consumer(topic);
    let start = Instant::now();
    let mut out = Vec::new();
    let mut next = 0;
    while out.len() < n && start.elapsed() < limit {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            if m.offset() >= next {
                next = m.offset() + 1;
                out.extend(m.payload().map(<[u8]>::to_vec));
            }
        }
    }
    out
}

/// Topics on the broker whose name starts with `prefix` (a task's topics all start with its
/// name under the default naming).
pub fn task_topics(prefix: &str) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .create()
        .unwrap();
    let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    md.topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|t| t.starts_with(prefix))
        .collect()
}

/// The process's peak resident set size so far, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// `tributary precheck --json` on the task file at `path`: its exit code and item `name`.
pub fn precheck_item(path: &Path, name: &str) -> (Option<i32>, Value) {
    let out = tributary()
        .args(["precheck", "--json", "--task"])
        .arg(path)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} item: {report}"));
    (out.status.code(), item)
}

/// A FIFO in `dir` a run holds at a fail point on (`return(PATH)`, `failpoint::hold`), and the
/// file the run writes once held there.
pub fn fifo(dir: &Path) -> (PathBuf, PathBuf) {
    let release = dir.join("release");
    let made = Command::new("mkfifo").arg(&release).status().unwrap();
    assert!(made.success(), "mkfifo {}", release.display());
    (release, dir.join("release.held"))
}
