//! Figures for README and BENCHMARKS.md (run by `scripts/bench.sh`, ignored in the test
//! suite): failover time from SIGKILL of a shard's owner to the first event its new owner
//! produced, with the events re-sent after the move, five times; and the snapshot throughput
//! of one four-shard task on three workers against the same task in `tributary run`; and the
//! same four-shard snapshot on one worker and on three, with the CPU seconds each took.

mod support;

mod serial {
    use std::collections::HashMap;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};

    use super::support::cluster::*;
    use super::support::*;

    /// (CreateTime ms, id) of every message of `topic` up to its end when called.
    fn stamped_ids(topic: &str) -> Vec<(i64, i64)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka())
            .set("group.id", unique("bench"))
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let (_, end) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .unwrap();
        let (mut out, start) = (Vec::new(), Instant::now());
        let mut next = 0;
        while next < end && start.elapsed() < LIMIT {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                next = m.offset() + 1;
                let key: serde_json::Value =
                    serde_json::from_slice(m.key().unwrap_or(b"null")).unwrap_or_default();
                if let (Some(t), Some(id)) = (m.timestamp().to_millis(), key["id"].as_i64()) {
                    out.push((t, id));
                }
            }
        }
        out
    }

    /// Messages whose id came before (re-sent rows).
    fn duplicates(msgs: &[(i64, i64)]) -> u32 {
        let mut seen: HashMap<i64, u32> = HashMap::new();
        for (_, id) in msgs {
            *seen.entry(*id).or_default() += 1;
        }
        seen.values().map(|n| n - 1).sum()
    }

    fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: scripts/bench.sh runs it"]
    async fn failover_time_and_resent_events() {
        let db = four_tables("clb_fail").await;
        let mut c = Cluster::start(3);
        let task = unique("clbf");
        // Default settings: the default checkpoint interval (1 s) and lease (3 s).
        let path = task_toml(c.dir.path(), &task, &db, "", "");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("checkpoint_interval = \"200ms\"\n", "");
        std::fs::write(&path, text).unwrap();
        c.create_task(&path);
        wait_streaming(&c, &task, 4);
        let ins = Load::inserts(&db);
        let (mut takeovers, mut resent) = (Vec::new(), Vec::new());
        for round in 0..5 {
            ins.wait_more(300).await;
            let (shard, victim) = c
                .owners(&task)
                .into_iter()
                .find_map(|(s, o)| Some((s, o?)))
                .unwrap();
            let topic = format!("{task}.{}", TABLES[shard as usize]);
            let before = duplicates(&stamped_ids(&topic));
            let vi = c.index(victim);
            let killed = now_ms();
            c.kill(vi);
            c.wait("the shard's new owner", LIMIT, |c| {
                c.owners(&task)
                    .iter()
                    .all(|(_, o)| o.is_some_and(|o| o != victim))
            });
            wait_streaming(&c, &task, 4);
            ins.wait_more(300).await;
            let msgs = stamped_ids(&topic);
            let first_new = msgs
                .iter()
                .filter(|(t, _)| *t >= killed)
                .map(|(t, _)| *t)
                .min()
                .unwrap();
            let dup = duplicates(&msgs) - before;
            takeovers.push(first_new - killed);
            resent.push(dup);
            eprintln!("round {round}: shard {shard} of node {victim}: first event of the new owner {} ms after SIGKILL, {dup} events re-sent", first_new - killed);
            c.spawn(vi);
            c.wait_ready(3, LIMIT);
        }
        ins.stop().await;
        takeovers.sort();
        println!(
            "FAILOVER median_ms={} max_ms={} resent={:?}",
            takeovers[takeovers.len() / 2],
            takeovers.last().unwrap(),
            resent
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: scripts/bench.sh runs it"]
    async fn four_shards_on_three_workers_against_tributary_run() {
        let rows: i64 = std::env::var("BENCH_CLUSTER_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(250_000);
        let db = four_tables("clb_tp").await;
        for t in TABLES {
            db.client
                .batch_execute(&format!(
                    "INSERT INTO {t} SELECT g, 1 FROM generate_series({}, {}) g",
                    SEED + 1,
                    SEED + rows
                ))
                .await
                .unwrap();
        }
        let total = 4 * (rows + SEED);
        let c = Cluster::start(3);
        let task = unique("clbt");
        let start = Instant::now();
        c.create_task(&task_toml(c.dir.path(), &task, &db, "", ""));
        wait_streaming(&c, &task, 4);
        let cluster_s = start.elapsed().as_secs_f64();
        let single = unique("clbr");
        let path = task_toml(c.dir.path(), &single, &db, "", "");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("sharding = \"table\"\n", "");
        std::fs::write(&path, text).unwrap();
        let start = Instant::now();
        let mut run = spawn_run(&path, &c.dir.path().join("run-data"));
        run.wait_stream_active(&db, &single, Duration::from_secs(600))
            .await;
        let run_s = start.elapsed().as_secs_f64();
        run.sigterm();
        let _ = run.wait_exit(LIMIT);
        println!(
            "CLUSTER_SNAPSHOT rows={total} cluster_rows_per_s={:.0} run_rows_per_s={:.0} ratio={:.2}",
            total as f64 / cluster_s,
            total as f64 / run_s,
            run_s / cluster_s
        );
        db.cleanup().await;
    }

    /// User plus system CPU seconds of process `pid` (every thread), and with `children` of
    /// its ended and reaped children too; 0 once it is gone.
    fn cpu_secs(pid: u32, children: bool) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        // Fields after the command's closing parenthesis: state is the first, utime the 12th.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<f64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        let ticks = f[11] + f[12] + if children { f[13] + f[14] } else { 0.0 };
        ticks / clock_ticks()
    }

    /// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless built otherwise).
    fn clock_ticks() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    }

    /// CPU seconds of the PostgreSQL cluster `db` runs on: its postmaster, every ended backend
    /// it reaped, and every live child (the server must be on this machine).
    async fn postgres_cpu_secs(db: &TestDb) -> f64 {
        let backend: i32 = db
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).unwrap_or_default();
        let Some(postmaster) = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            return 0.0;
        };
        let mut total = cpu_secs(postmaster, true);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                total += cpu_secs(pid, false);
            }
        }
        total
    }

    /// The broker's CPU seconds, when scripts/bench.sh names its process.
    fn broker_cpu_secs() -> f64 {
        std::env::var("TRIBUTARY_BENCH_BROKER_PID")
            .ok()
            .and_then(|p| p.parse().ok())
            .map_or(0.0, |pid| cpu_secs(pid, false))
    }

    /// Snapshot seconds of one four-shard task on a fresh cluster of `workers`, and the CPU
    /// seconds (workers, PostgreSQL, broker) spent from the task's creation until every shard
    /// streams.
    async fn snapshot_on(db: &TestDb, workers: u64, shards: usize) -> (f64, [f64; 3]) {
        let c = Cluster::start(workers);
        let task = unique(&format!("clbs{workers}"));
        let path = task_toml(c.dir.path(), &task, db, "", "");
        if shards == 1 {
            let text = std::fs::read_to_string(&path).unwrap();
            let one = text.replace("sharding = \"table\"", "sharding = \"none\"");
            std::fs::write(&path, one).unwrap();
            add_to_section(&path, "source", "snapshot_lanes = 2");
        }
        let procs: Vec<u32> = c
            .workers
            .iter()
            .filter_map(|w| w.proc.as_ref().map(|p| p.id()))
            .collect();
        let tributary = || procs.iter().map(|p| cpu_secs(*p, false)).sum::<f64>();
        let before = [tributary(), postgres_cpu_secs(db).await, broker_cpu_secs()];
        let start = Instant::now();
        c.create_task(&path);
        wait_streaming(&c, &task, shards);
        let secs = start.elapsed().as_secs_f64();
        let after = [tributary(), postgres_cpu_secs(db).await, broker_cpu_secs()];
        let cpu = [0, 1, 2].map(|i| after[i] - before[i]);
        // The task's slots go with the cluster's processes: drop them so no WAL is held.
        c.ctl(c.any_live(), &["task", "delete", &task]);
        (secs, cpu)
    }

    /// The task of `shards` shards on one worker, then on three: prints `tag` and the figures.
    async fn one_against_three(tag: &str, prefix: &str, shards: usize) {
        let rows: i64 = std::env::var("BENCH_CLUSTER_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(250_000);
        let db = four_tables_of(prefix, rows).await;
        let total = (4 * rows) as f64;
        let (one, cpu1) = snapshot_on(&db, 1, shards).await;
        let (three, cpu3) = snapshot_on(&db, 3, shards).await;
        println!(
            "{tag} rows={total} one_worker_rows_per_s={:.0} three_workers_rows_per_s={:.0} ratio={:.2} \
             one_cpu_tributary_s={:.2} one_cpu_postgres_s={:.2} one_cpu_broker_s={:.2} \
             three_cpu_tributary_s={:.2} three_cpu_postgres_s={:.2} three_cpu_broker_s={:.2}",
            total / one,
            total / three,
            one / three,
            cpu1[0],
            cpu1[1],
            cpu1[2],
            cpu3[0],
            cpu3[1],
            cpu3[2]
        );
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: scripts/bench.sh runs it"]
    async fn snapshot_scaling_from_one_to_three_workers() {
        one_against_three("CLUSTER_SCALING", "clb_scale", 4).await;
    }

    /// One shard over the four tables: on three workers each chunk group is read by the owner
    /// and the two others as lanes (`source.snapshot_lanes`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark: scripts/bench.sh runs it"]
    async fn one_shard_snapshot_from_one_to_three_workers_with_lanes() {
        one_against_three("CLUSTER_LANES", "clb_lanes", 1).await;
    }
}
