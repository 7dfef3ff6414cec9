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

/// A fresh database for one test; dropped (with the test's slots) on `cleanup`.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub client: tokio_postgres::Client,
    admin_url: String,
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

    pub async fn cleanup(self) {
        let admin = connect(&self.admin_url).await;
        let _ = admin
            .execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", &[&self.name])
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = admin.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", &[&self.name]).await;
        let _ = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
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

/// The `tributary` binary under test.
pub fn tributary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tributary"));
    c.env("TRIBUTARY_LOG", "warn,tributary=info");
    c
}

/// A running `tributary` child; killed when dropped, so a failing test leaves no process.
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
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

    /// Waits (bounded) for the exit; returns the code and stderr.
    pub fn wait_exit(mut self, limit: Duration) -> (i32, String) {
        let mut child = self.child.take().expect("a child");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code().unwrap_or(-1), err);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tributary did not exit within {limit:?}");
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
    let child = tributary()
        .args(["run", "--task"])
        .arg(task)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tributary");
    Proc { child: Some(child) }
}

/// Runs `tributary run` to completion (bounded), returning (exit code, stderr).
pub fn run_to_end(task: &Path, data_dir: &Path, limit: Duration) -> (i32, String) {
    spawn_run(task, data_dir).wait_exit(limit)
}

fn send_signal(pid: u32, sig: &str) {
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
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", unique("test"))
        .set("enable.auto.commit", "false")
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
            let m = m.expect("consume");
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
            });
            last = Instant::now();
        }
    }
    out
}

/// Reads `topic` again and again until `done` holds for its messages (bounded: about a
/// minute); returns the last read.
pub fn consume_until(topic: &str, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
    let start = Instant::now();
    loop {
        let msgs = consume_all(topic, Duration::from_millis(700), Duration::from_secs(20));
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

/// Polls `f` until it returns true (bounded).
pub async fn wait_until<F: FnMut() -> bool>(what: &str, limit: Duration, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
