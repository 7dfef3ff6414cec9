//! The fault matrix of one `tributary run` (issue 11): {PostgreSQL, the broker, the run itself}
//! × {stopped, cut or killed} × {chunked snapshot, stream, DDL, large transaction}, each case
//! under continuous writes to a table whose keys carry a sequence column (`support::seqs`),
//! read back and compared with the table row by row: nothing lost, every key at the table's
//! value. The workers and the leader of a cluster are `tests/cluster.rs`'s.
//!
//! The faults:
//! - PostgreSQL (a server of the test's own, behind a proxy): stopped is SIGSTOP of the
//!   postmaster and every backend until the run has sent it something, then SIGCONT; cut is
//!   every connection cut.
//! - The broker (a tansu of the test's own, behind a proxy): stopped is SIGSTOP while the
//!   application commits `WRITES_DURING_STOP` statements;
//!   cut is every producer connection cut twice.
//! - The run: stopped is SIGSTOP while the application commits `WRITES_DURING_STOP`
//!   statements; killed is SIGKILL, then a new run on the same
//!   data directory.
//!
//! The suite runs every case (about 20 s each); `scripts/soak.sh` runs them again with the
//! random soak for the README's table.

mod support;

use std::net::SocketAddr;

use support::cluster::{Load, LIMIT};
use support::own_server::OwnServer;
use support::proxy::{upstream_of, OwnTansu, Proxy};
use support::seqs::*;
use support::*;

/// Statements the application commits while the broker or the run is stopped.
const WRITES_DURING_STOP: i64 = 600;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Postgres,
    Broker,
    Run,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// SIGSTOP, then SIGCONT.
    Stop,
    /// Connections cut (PostgreSQL, broker); SIGKILL and a new run (the run).
    Cut,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Work {
    /// A 30,000-row table read in chunks of 100 beside the stream.
    Snapshot,
    Stream,
    /// A column added just before the fault.
    Ddl,
    /// A 30,000-change transaction committed just before the fault.
    LargeTx,
}

/// The services of one case: which are the case's own, and the run.
struct Rig {
    db: TestDb,
    server: Option<OwnServer>,
    pg_proxy: Option<Proxy>,
    kafka_proxy: Option<Proxy>,
    tansu: Option<OwnTansu>,
    servers: String,
    setup: TaskSetup,
    run: Proc,
}

fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

impl Rig {
    async fn start(target: Target, work: Work, prefix: &str) -> Rig {
        let server = (target == Target::Postgres).then(|| OwnServer::start(&[]));
        let db = match &server {
            Some(s) => TestDb::create_on(&s.url(), prefix).await,
            None => TestDb::create(prefix).await,
        };
        let rows = if work == Work::Snapshot { 30_000 } else { KEYS };
        let db = seq_rows(db, rows).await;
        let mut url = db.url.clone();
        let pg_proxy = match target {
            Target::Postgres => {
                let upstream = upstream_of(&db.url);
                let proxy = Proxy::start(upstream).await;
                url = url.replacen(&upstream.to_string(), &proxy.addr().to_string(), 1);
                Some(proxy)
            }
            _ => None,
        };
        let (kafka_proxy, tansu, servers) = match target {
            Target::Broker => {
                let addr = free_addr();
                let proxy = Proxy::start(addr).await;
                let tansu = OwnTansu::start(addr, proxy.addr());
                let servers = proxy.addr().to_string();
                (Some(proxy), Some(tansu), servers)
            }
            _ => (None, None, kafka()),
        };
        let dir = tempfile::tempdir().unwrap();
        let task = unique(prefix);
        let path = task_file(
            dir.path(),
            &task,
            &url,
            &servers,
            &["public.seqs"],
            &["full", "incremental"],
            "",
        );
        let mut source = String::from("receive_timeout = \"3s\"");
        if work == Work::Snapshot {
            source.push_str("\nsnapshot_chunk_rows = 100\nsnapshot_connections = 2");
        }
        add_to_section(&path, "source", &source);
        let setup = TaskSetup { dir, task, path };
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut run = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &metrics]);
        match work {
            Work::Snapshot => snapshot_under_way(&metrics, &setup.task).await,
            _ => {
                run.wait_stream_active(&db, &setup.task, LIMIT).await;
            }
        }
        Rig {
            db,
            server,
            pg_proxy,
            kafka_proxy,
            tansu,
            servers,
            setup,
            run,
        }
    }
}

/// Waits until the run has sent rows of its chunked snapshot and not finished it.
async fn snapshot_under_way(metrics: &str, task: &str) {
    wait_until("the chunked snapshot under way", LIMIT, || {
        scrape(metrics).is_some_and(|m| {
            let rows = metric(&m, "tributary_snapshot_rows", task).unwrap_or(0.0);
            rows > 0.0 && metric(&m, "tributary_snapshot_complete", task) == Some(0.0)
        })
    })
    .await;
}

/// Cuts every connection through `proxy` and waits until the run connected again.
async fn cut(proxy: &Proxy, run: &Proc) {
    let before = proxy.accepted();
    proxy.cut();
    let again = || proxy.accepted() > before;
    wait_until_or("the run to connect again", LIMIT, again, || {
        run.stderr_so_far()
    })
    .await;
}

/// Injects `fault` into `target`. A stop lasts until the run has sent the stopped server
/// something it cannot answer (PostgreSQL), or until the application has committed
/// `WRITES_DURING_STOP` statements meanwhile (the broker, the run).
async fn inject(rig: &mut Rig, target: Target, fault: Fault, writes: &Load) {
    match (target, fault) {
        (Target::Postgres, Fault::Stop) => {
            let pids = rig.server.as_ref().expect("an own server").pids();
            let proxy = rig.pg_proxy.as_ref().expect("a proxy");
            pids.iter().for_each(|p| send_signal(*p, "STOP"));
            // Everything the run sends from here on waits unanswered.
            let before = proxy.sent();
            let run = &rig.run;
            let waiting = || proxy.sent() > before;
            wait_until_or(
                "the run to send to the stopped server",
                LIMIT,
                waiting,
                || run.stderr_so_far(),
            )
            .await;
            pids.iter().rev().for_each(|p| send_signal(*p, "CONT"));
        }
        (Target::Postgres, Fault::Cut) => {
            cut(rig.pg_proxy.as_ref().expect("a proxy"), &rig.run).await;
        }
        (Target::Broker, Fault::Stop) => {
            let pid = rig.tansu.as_ref().expect("an own broker").pid();
            send_signal(pid, "STOP");
            writes.wait_more(WRITES_DURING_STOP).await;
            send_signal(pid, "CONT");
        }
        (Target::Broker, Fault::Cut) => {
            for _ in 0..2 {
                cut(rig.kafka_proxy.as_ref().expect("a proxy"), &rig.run).await;
            }
        }
        (Target::Run, Fault::Stop) => {
            send_signal(rig.run.id(), "STOP");
            writes.wait_more(WRITES_DURING_STOP).await;
            send_signal(rig.run.id(), "CONT");
        }
        (Target::Run, Fault::Cut) => {
            rig.run.sigkill();
            rig.run = rig.setup.spawn();
        }
    }
}

/// Brings the case's work to where the fault belongs.
async fn prepare(rig: &Rig, work: Work, writes: &Load) {
    match work {
        Work::Snapshot => {}
        Work::Stream => writes.wait_more(150).await,
        Work::Ddl => {
            writes.wait_more(100).await;
            rig.db
                .client
                .batch_execute("ALTER TABLE seqs ADD COLUMN note text NOT NULL DEFAULT 'x'")
                .await
                .unwrap();
            writes.wait_more(20).await;
        }
        Work::LargeTx => {
            writes.wait_more(100).await;
            let update = format!("UPDATE seqs SET seq = seq + 1 WHERE id <= {KEYS};");
            let big = format!("BEGIN;{}COMMIT;", update.repeat(300));
            rig.db.client.batch_execute(&big).await.unwrap();
        }
    }
}

/// One case: the rig, writes, the work brought to its point, the fault, more writes, and the
/// topic read back against the table.
async fn case(target: Target, fault: Fault, work: Work) {
    let name = format!("{target:?} {fault:?} {work:?}").to_lowercase();
    let prefix = format!("mx_{}", name.replace(' ', "_"));
    let mut rig = Rig::start(target, work, &prefix).await;
    let writes = Load::start(&rig.db, statement);
    prepare(&rig, work, &writes).await;
    inject(&mut rig, target, fault, &writes).await;
    writes.wait_more(150).await;
    writes.stop().await;
    let v = settled(&rig.db, &rig.setup.topic("public.seqs"), &rig.servers).await;
    eprintln!("matrix | {name} | {v:?}");
    if work == Work::Snapshot {
        // A chunk read again supersedes the changes of its keys between the stream's position
        // and its snapshot (the group's filter, DBLog's rule): the rows carry their values, the
        // verifier counts those changes as gaps.
        assert!(v.keys >= 30_000 && v.stale == 0, "{name}: {v:?}");
    } else {
        judged(&name, &v);
    }
    let Rig { db, run, .. } = rig;
    end_run(run, db).await;
}

/// One at a time: each drives a run under a steady write load.
mod serial {
    use super::*;

    macro_rules! cases {
        ($($name:ident: $target:ident $fault:ident $work:ident;)*) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                case(Target::$target, Fault::$fault, Work::$work).await;
            }
        )*};
    }

    cases! {
        postgres_stopped_mid_snapshot: Postgres Stop Snapshot;
        postgres_stopped_mid_stream: Postgres Stop Stream;
        postgres_stopped_after_ddl: Postgres Stop Ddl;
        postgres_stopped_in_a_large_transaction: Postgres Stop LargeTx;
        postgres_cut_mid_snapshot: Postgres Cut Snapshot;
        postgres_cut_mid_stream: Postgres Cut Stream;
        postgres_cut_after_ddl: Postgres Cut Ddl;
        postgres_cut_in_a_large_transaction: Postgres Cut LargeTx;
        broker_stopped_mid_snapshot: Broker Stop Snapshot;
        broker_stopped_mid_stream: Broker Stop Stream;
        broker_stopped_after_ddl: Broker Stop Ddl;
        broker_stopped_in_a_large_transaction: Broker Stop LargeTx;
        broker_cut_mid_snapshot: Broker Cut Snapshot;
        broker_cut_mid_stream: Broker Cut Stream;
        broker_cut_after_ddl: Broker Cut Ddl;
        broker_cut_in_a_large_transaction: Broker Cut LargeTx;
        run_stopped_mid_snapshot: Run Stop Snapshot;
        run_stopped_mid_stream: Run Stop Stream;
        run_stopped_after_ddl: Run Stop Ddl;
        run_stopped_in_a_large_transaction: Run Stop LargeTx;
        run_killed_mid_snapshot: Run Cut Snapshot;
        run_killed_mid_stream: Run Cut Stream;
        run_killed_after_ddl: Run Cut Ddl;
        run_killed_in_a_large_transaction: Run Cut LargeTx;
    }
}
