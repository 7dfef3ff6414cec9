//! A real 3-worker cluster on loopback for tests: node files on free ports, `tributary worker`
//! processes (so tests can SIGKILL/SIGSTOP them), and `tributary ctl` against any node.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    connect, consume_until, free_port, kafka, send_signal, tributary, wait_until, Msg, Proc, TestDb,
};

/// One worker of a test cluster.
pub struct Worker {
    pub id: u64,
    pub admin: String,
    pub raft: String,
    /// Prometheus endpoint (`metrics_addr`).
    pub metrics: String,
    pub config: PathBuf,
    pub log: PathBuf,
    pub proc: Option<Proc>,
    /// SIGSTOPped: alive but not answering.
    pub stopped: bool,
}

/// A cluster of workers in a temporary directory; every process is killed on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub workers: Vec<Worker>,
    /// Environment every worker process starts with (e.g. `FAILPOINTS`).
    pub env: Vec<(String, String)>,
}

impl Cluster {
    /// Starts `n` workers and waits until they have a leader and all are registered.
    pub fn start(n: u64) -> Cluster {
        Self::start_with(n, "")
    }

    /// As `start`, with extra lines in every node file (e.g. a lease section).
    pub fn start_with(n: u64, extra: &str) -> Cluster {
        Self::start_env(n, extra, &[])
    }

    /// As `start_with`, every worker with `env` in its environment.
    pub fn start_env(n: u64, extra: &str, env: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let metrics: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let members: String = ports
            .iter()
            .enumerate()
            .map(|(i, (a, r))| {
                format!("[[initial_members]]\nnode_id = {}\nraft_addr = \"127.0.0.1:{r}\"\nadmin_addr = \"127.0.0.1:{a}\"\n", i + 1)
            })
            .collect();
        let workers = ports
            .iter()
            .enumerate()
            .map(|(i, (a, r))| {
                let id = i as u64 + 1;
                let config = dir.path().join(format!("node-{id}.toml"));
                let text = format!(
                    "node_id = {id}\nraft_addr = \"127.0.0.1:{r}\"\nadmin_addr = \"127.0.0.1:{a}\"\nmetrics_addr = \"127.0.0.1:{}\"\ndata_dir = {:?}\n{extra}\n{members}",
                    metrics[i],
                    dir.path().join(format!("node-{id}"))
                );
                std::fs::write(&config, text).unwrap();
                Worker {
                    id,
                    admin: format!("127.0.0.1:{a}"),
                    raft: format!("127.0.0.1:{r}"),
                    metrics: format!("127.0.0.1:{}", metrics[i]),
                    config,
                    log: dir.path().join(format!("node-{id}.log")),
                    proc: None,
                    stopped: false,
                }
            })
            .collect();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut c = Cluster { dir, workers, env };
        for i in 0..c.workers.len() {
            c.spawn(i);
        }
        c.wait_ready(n as usize, Duration::from_secs(60));
        c
    }

    /// Starts worker `i` (index, not id) again on its node file and data directory.
    pub fn spawn(&mut self, i: usize) {
        let w = &mut self.workers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&w.log)
            .unwrap();
        let child = tributary()
            .args(["worker", "--config"])
            .arg(&w.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        w.proc = Some(Proc::from_child(child));
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.workers[i].proc.take() {
            p.sigkill();
        }
    }

    pub fn stop_signal(&mut self, i: usize, sig: &str) {
        self.workers[i].stopped = sig == "STOP";
        if let Some(p) = &self.workers[i].proc {
            send_signal(p.id(), sig);
        }
    }

    /// Index of the worker with node id `id`.
    pub fn index(&self, id: u64) -> usize {
        self.workers.iter().position(|w| w.id == id).unwrap()
    }

    /// Runs `tributary ctl --server <worker i> --json <args>`.
    pub fn ctl(&self, i: usize, args: &[&str]) -> Output {
        ctl_at(&self.workers[i].admin, args)
    }

    /// `ctl --json` against the first live worker; panics with stderr on failure.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let i = self.any_live();
        let out = self.ctl(i, args);
        assert!(
            out.status.success(),
            "ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ctl {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn any_live(&self) -> usize {
        self.workers
            .iter()
            .position(|w| w.proc.is_some() && !w.stopped)
            .expect("a live worker")
    }

    /// Cluster status as JSON, or None while no leader answers.
    pub fn status(&self) -> Option<Value> {
        let out = self.ctl(self.any_live(), &["cluster", "status"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits until a leader is known and `n` workers are registered and not lost.
    pub fn wait_ready(&self, n: usize, limit: Duration) {
        self.wait("the cluster to be ready", limit, |c| {
            c.status()
                .is_some_and(|s| s["leader"].as_u64().unwrap_or(0) != 0 && live_members(&s) >= n)
        });
    }

    /// Polls `f` every 100 ms until it holds (bounded); on timeout prints the workers' logs.
    pub fn wait(&self, what: &str, limit: Duration, f: impl Fn(&Cluster) -> bool) {
        let start = Instant::now();
        while !f(self) {
            if start.elapsed() > limit {
                self.dump_logs();
                panic!("timed out after {limit:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn dump_logs(&self) {
        for w in &self.workers {
            let text = std::fs::read_to_string(&w.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("--- node {} log (last lines) ---", w.id);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }

    /// The leader's node id, if one answers.
    pub fn leader(&self) -> Option<u64> {
        self.status()
            .and_then(|s| s["leader"].as_u64())
            .filter(|l| *l != 0)
    }

    /// `task get` as JSON (Null while no leader answers, e.g. during an election).
    pub fn task(&self, name: &str) -> Value {
        let out = self.ctl(self.any_live(), &["task", "get", name]);
        if !out.status.success() {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Shard number → owner node id, from `task get`.
    pub fn owners(&self, name: &str) -> Vec<(u64, Option<u64>)> {
        self.task(name)["shards"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| (s["id"].as_u64().unwrap_or(0), s["owner"].as_u64()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Shard states (e.g. "streaming") from `task get`.
    pub fn shard_states(&self, name: &str) -> Vec<String> {
        self.task(name)["shards"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["state"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes a task file into the cluster's directory and creates it with `ctl task create`.
    pub fn create_task(&self, path: &Path) {
        let out = self.ctl(self.any_live(), &["task", "create", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "task create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Members that are registered and not lost in a `cluster status` answer.
pub fn live_members(status: &Value) -> usize {
    status["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| !m["lost"].as_bool().unwrap_or(false))
                .count()
        })
        .unwrap_or(0)
}

/// `tributary ctl --server addr --json args`.
pub fn ctl_at(addr: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["ctl", "--server", addr, "--json"])
        .args(args)
        .output()
        .unwrap()
}

pub const TABLES: [&str; 4] = ["public.t1", "public.t2", "public.t3", "public.t4"];
pub const SEED: i64 = 200;
pub const LIMIT: Duration = Duration::from_secs(90);

/// A database with four keyed tables of `SEED` rows each.
pub async fn four_tables(prefix: &str) -> TestDb {
    four_tables_of(prefix, SEED).await
}

/// A database with four keyed tables `(id bigint PRIMARY KEY, v int)` of `rows` rows each.
pub async fn four_tables_of(prefix: &str, rows: i64) -> TestDb {
    let db = TestDb::create(prefix).await;
    for t in TABLES {
        db.client
            .batch_execute(&format!(
                "CREATE TABLE {t} (id bigint PRIMARY KEY, v int NOT NULL DEFAULT 0);
                 INSERT INTO {t} SELECT g, 0 FROM generate_series(1, {rows}) g;"
            ))
            .await
            .unwrap();
    }
    db
}

/// A task file over the four tables, one shard per table.
pub fn task_toml(
    dir: &Path,
    name: &str,
    db: &TestDb,
    extra_top: &str,
    extra_migration: &str,
) -> PathBuf {
    let tables: Vec<String> = TABLES.iter().map(|t| format!("{t:?}")).collect();
    let text = format!(
        "name = {name:?}\nsharding = \"table\"\n{extra_top}\n[source]\nkind = \"postgres\"\nurl = {:?}\nstatus_interval = \"1s\"\n\
         [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\n\
         [objects]\ntables = [{}]\n[migration]\nphases = [\"full\", \"incremental\"]\ncheckpoint_interval = \"200ms\"\n{extra_migration}\n",
        db.url,
        kafka(),
        tables.join(", ")
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A steady write load on the four tables until stopped: INSERTs of new ids, or UPDATEs of
/// keys 1..=20. Statements go out at a fixed rate (`PACE`), like an application's traffic.
pub struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    done: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<()>,
}

/// One statement per 3 ms: about 330 changes per second over the four tables.
const PACE: Duration = Duration::from_millis(3);

impl Load {
    /// INSERTs of ids after the seed rows, round robin over the tables.
    pub fn inserts(db: &TestDb) -> Load {
        Self::start(db, |n| {
            let id = SEED + 1 + n;
            format!("INSERT INTO {} VALUES ({id}, 1)", TABLES[(id % 4) as usize])
        })
    }

    /// UPDATEs of keys 1..=20 of every table, round robin.
    pub fn updates(db: &TestDb) -> Load {
        Self::start(db, |n| {
            let id = (n / 4) % 20 + 1;
            format!(
                "UPDATE {} SET v = v + 1 WHERE id = {id}",
                TABLES[(n % 4) as usize]
            )
        })
    }

    /// The `n`-th statement `statement(n)`, one per `PACE`, until stopped.
    pub fn start(db: &TestDb, statement: fn(i64) -> String) -> Load {
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let done = Arc::new(AtomicI64::new(0));
        let (url, n) = (db.url.clone(), done.clone());
        let task = tokio::spawn(async move {
            let c = connect(&url).await;
            let mut pace = tokio::time::interval(PACE);
            while !*rx.borrow_and_update() {
                pace.tick().await;
                let i = n.load(Ordering::Relaxed);
                c.batch_execute(&statement(i)).await.unwrap();
                n.store(i + 1, Ordering::Relaxed);
            }
        });
        Load { stop, done, task }
    }

    /// Statements committed so far.
    pub fn count(&self) -> i64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits (bounded) until `more` statements beyond now are committed.
    pub async fn wait_more(&self, more: i64) {
        let target = self.count() + more;
        wait_until("more writes", LIMIT, || self.count() >= target).await;
    }

    /// Stops it; returns how many statements it committed.
    pub async fn stop(self) -> i64 {
        self.stop.send(true).unwrap();
        let done = self.done.clone();
        self.task.await.unwrap();
        done.load(Ordering::Relaxed)
    }
}

/// A database with the four tables, a 3-worker cluster, and a task of one shard per table
/// created on it and streaming; `prefix` names the database and the task.
pub async fn streaming_task(prefix: &str) -> (TestDb, Cluster, String) {
    let db = four_tables(prefix).await;
    let c = Cluster::start(3);
    let task = super::unique(prefix);
    c.create_task(&task_toml(c.dir.path(), &task, &db, "", ""));
    wait_streaming(&c, &task, 4);
    (db, c, task)
}

/// Every row of every table reaches its topic: the ids consumed equal the ids in the table.
pub async fn verify_every_row(db: &TestDb, task: &str) {
    for t in TABLES {
        let want: BTreeSet<i64> = db
            .client
            .query(&format!("SELECT id FROM {t}"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let topic = format!("{task}.{t}");
        let ids = |msgs: &[Msg]| -> BTreeSet<i64> {
            msgs.iter()
                .filter_map(|m| m.key.as_ref()?["id"].as_i64())
                .collect()
        };
        let msgs = consume_until(&topic, |m| ids(m).is_superset(&want));
        let got = ids(&msgs);
        let missing: Vec<&i64> = want.difference(&got).take(10).collect();
        assert!(
            missing.is_empty(),
            "{topic}: {} of {} rows missing, e.g. {missing:?}",
            want.len() - want.intersection(&got).count(),
            want.len()
        );
    }
}

/// The task's slots, sorted.
pub async fn task_slots(db: &TestDb, task: &str) -> Vec<String> {
    let mut s: Vec<String> = db
        .replication_objects()
        .await
        .0
        .into_iter()
        .filter(|s| s.starts_with(&format!("tributary_{}_", task.to_ascii_lowercase())))
        .collect();
    s.sort();
    s
}

/// Waits until every shard of `task` streams on a live worker.
pub fn wait_streaming(c: &Cluster, task: &str, shards: usize) {
    c.wait("every shard streaming", LIMIT, |c| {
        let states = c.shard_states(task);
        states.len() == shards && states.iter().all(|s| s == "streaming")
    });
}

/// Shards owned by worker `id`.
pub fn owned_by(c: &Cluster, task: &str, id: u64) -> Vec<u64> {
    c.owners(task)
        .into_iter()
        .filter(|(_, o)| *o == Some(id))
        .map(|(s, _)| s)
        .collect()
}

/// No worker's log says a checkpoint would have moved backwards.
pub fn no_regression(c: &Cluster) {
    for w in &c.workers {
        let log = std::fs::read_to_string(&w.log).unwrap_or_default();
        assert!(
            !log.contains("would move backward"),
            "node {} refused a backward checkpoint",
            w.id
        );
    }
}

/// Each table's sequence verdict (`support::seqs`, column `v`: `Load::updates` raises it by one)
/// once its topic on `servers` holds every key at its table value (bounded). Messages of a key
/// keep their order, so by then every change that will ever arrive has.
pub async fn table_verdicts(
    db: &TestDb,
    task: &str,
    servers: &str,
) -> Vec<(String, super::seqs::Verdict)> {
    use super::seqs::verdict_of;
    let mut out = Vec::new();
    for t in TABLES {
        let want: std::collections::BTreeMap<i64, i64> = db
            .client
            .query(&format!("SELECT id, v::bigint FROM {t}"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let msgs = super::consume_until_from(servers, &format!("{task}.{t}"), |m| {
            let keys: BTreeSet<i64> = super::values(m)
                .iter()
                .filter_map(|v| v["after"]["id"].as_i64())
                .collect();
            keys.len() >= want.len() && verdict_of(m, &want, "v").stale == 0
        });
        out.push((t.to_owned(), verdict_of(&msgs, &want, "v")));
    }
    out
}
