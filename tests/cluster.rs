//! The worker cluster end to end: three `tributary worker` processes on loopback, a task of
//! four table shards under continuous inserts, real PostgreSQL and broker. Workers are
//! SIGKILLed and SIGSTOPped; the consumer's view is compared with the database row by row,
//! and the replication slots before and after must be the same ones.

mod support;

mod serial {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::support::cluster::*;
    use super::support::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_owner_s_shards_resume_elsewhere_with_every_row_and_the_same_slots() {
        let (db, mut c, task) = streaming_task("cl_kill").await;
        let spread: BTreeSet<u64> = c.owners(&task).iter().filter_map(|(_, o)| *o).collect();
        assert_eq!(
            spread.len(),
            3,
            "4 shards spread over 3 workers: {:?}",
            c.owners(&task)
        );
        let slots = task_slots(&db, &task).await;
        assert_eq!(slots.len(), 4, "one slot per shard: {slots:?}");
        let ins = Load::inserts(&db);
        ins.wait_more(200).await;
        let victim = c.owners(&task).into_iter().find_map(|(_, o)| o).unwrap();
        let moved = owned_by(&c, &task, victim);
        c.kill(c.index(victim));
        let killed = Instant::now();
        c.wait("the victim's shards on other workers", LIMIT, |c| {
            c.owners(&task)
                .iter()
                .all(|(_, o)| o.is_some_and(|o| o != victim))
        });
        wait_streaming(&c, &task, 4);
        eprintln!(
            "shards {moved:?} of node {victim} streaming elsewhere {:?} after SIGKILL",
            killed.elapsed()
        );
        ins.wait_more(200).await;
        ins.stop().await;
        verify_every_row(&db, &task).await;
        assert_eq!(
            task_slots(&db, &task).await,
            slots,
            "the same slots, none new"
        );
        // Each worker serves the metrics of the shards it runs, labelled by task and shard.
        let new_owner = c
            .owners(&task)
            .into_iter()
            .find(|(s, _)| *s == 0)
            .and_then(|(_, o)| o)
            .unwrap();
        let series = scrape(&c.workers[c.index(new_owner)].metrics).expect("metrics served");
        let events = metric(&series, "tributary_stream_events_total", &task);
        assert!(
            events.is_some_and(|e| e > 0.0),
            "shard 0's stream events on node {new_owner}: {events:?}"
        );
        no_regression(&c);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_worker_loses_its_shards_saves_nothing_after_and_its_stale_writes_are_counted()
    {
        let (db, mut c, task) = streaming_task("cl_zombie").await;
        let updates = Load::updates(&db);
        let victim = c.owners(&task).into_iter().find_map(|(_, o)| o).unwrap();
        let vi = c.index(victim);
        let moved = owned_by(&c, &task, victim);
        updates.wait_more(100).await;
        c.stop_signal(vi, "STOP");
        let paused = Instant::now();
        c.wait("the paused worker's shards to move", LIMIT, |c| {
            c.owners(&task)
                .iter()
                .all(|(_, o)| o.is_some_and(|o| o != victim))
        });
        wait_streaming(&c, &task, 4);
        eprintln!(
            "shards {moved:?} moved {:?} after SIGSTOP",
            paused.elapsed()
        );
        // The new owners stream some updates before the old one wakes.
        updates.wait_more(200).await;
        let before_wake = std::fs::read_to_string(&c.workers[vi].log)
            .unwrap_or_default()
            .len();
        c.stop_signal(vi, "CONT");
        c.wait("the woken worker to stop its shards", LIMIT, |c| {
            let log = std::fs::read_to_string(&c.workers[vi].log).unwrap_or_default();
            let woken = &log[before_wake..];
            woken.contains("lease not renewed in time") || woken.contains("assigned elsewhere")
        });
        // Updates go on while the woken worker may still send what its producer held.
        updates.wait_more(200).await;
        let n = updates.stop().await;
        let log = std::fs::read_to_string(&c.workers[vi].log).unwrap_or_default();
        let woken = &log[before_wake..];
        // Woken, it stops its shards at once (its lease is gone by its own clock) before it
        // does anything else with them: no graceful stop, no release, no restart.
        let fenced = woken
            .find("lease not renewed in time")
            .expect("the woken worker fences itself");
        for early in ["released for its move", "shard stopped", "starting shard"] {
            assert!(
                !woken[..fenced].contains(early),
                "before fencing itself, the zombie logged {early:?}"
            );
        }
        let mut stale = 0;
        for t in TABLES {
            let topic = format!("{task}.{t}");
            let want: Vec<(i64, i32)> = db
                .client
                .query(
                    &format!("SELECT id, v FROM {t} WHERE id <= 20 ORDER BY id"),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let last = |msgs: &[Msg], id: i64| {
                msgs.iter()
                    .rev()
                    .find(|m| m.key.as_ref().and_then(|k| k["id"].as_i64()) == Some(id))
                    .and_then(|m| m.value.as_ref()?["after"]["v"].as_i64())
            };
            let seen = |msgs: &[Msg], id: i64, v: i32| {
                msgs.iter().any(|m| {
                    m.key.as_ref().and_then(|k| k["id"].as_i64()) == Some(id)
                        && m.value.as_ref().and_then(|x| x["after"]["v"].as_i64()) == Some(v as i64)
                })
            };
            let msgs = consume_until(&topic, |m| want.iter().all(|(id, v)| seen(m, *id, *v)));
            for (id, v) in &want {
                assert!(
                    seen(&msgs, *id, *v),
                    "{topic}: key {id} never carried its final value {v}: lost"
                );
                if last(&msgs, *id) != Some(*v as i64) {
                    stale += 1;
                }
            }
        }
        eprintln!("zombie: {n} updates, {stale} of 80 keys end with a stale write (README: at-least-once stale-write window)");
        no_regression(&c);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_worker_hands_its_shards_over_after_their_last_checkpoint() {
        let (db, c, task) = streaming_task("cl_remove").await;
        let slots = task_slots(&db, &task).await;
        let ins = Load::inserts(&db);
        ins.wait_more(100).await;
        let leaving = c
            .owners(&task)
            .into_iter()
            .filter_map(|(_, o)| o)
            .max()
            .unwrap();
        let moved = owned_by(&c, &task, leaving);
        let log_before = std::fs::read_to_string(&c.workers[c.index(leaving)].log)
            .unwrap()
            .len();
        let out = c.ctl(0, &["worker", "remove", &leaving.to_string()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_streaming(&c, &task, 4);
        assert!(owned_by(&c, &task, leaving).is_empty());
        let status = c.status().unwrap();
        let ids: Vec<u64> = status["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["node_id"].as_u64())
            .collect();
        assert!(!ids.contains(&leaving), "{status}");
        let log = std::fs::read_to_string(&c.workers[c.index(leaving)].log).unwrap();
        assert_eq!(
            log[log_before..].matches("released for its move").count(),
            moved.len(),
            "each of {moved:?} stopped after its last checkpoint and was released"
        );
        ins.wait_more(100).await;
        ins.stop().await;
        verify_every_row(&db, &task).await;
        assert_eq!(task_slots(&db, &task).await, slots);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_leader_dies_another_is_elected_and_every_node_answers() {
        let (db, mut c, task) = streaming_task("cl_leader").await;
        let leader = c.leader().unwrap();
        c.kill(c.index(leader));
        c.wait("a new leader", LIMIT, |c| {
            c.leader().is_some_and(|l| l != leader)
        });
        for (i, w) in c.workers.iter().enumerate() {
            let out = c.ctl(i, &["cluster", "status"]);
            if w.proc.is_some() {
                assert!(
                    out.status.success(),
                    "node {}: {}",
                    w.id,
                    String::from_utf8_lossy(&out.stderr)
                );
            } else {
                let line = error_line(&String::from_utf8_lossy(&out.stderr));
                assert!(
                    line.contains("cannot reach") && line.contains(&w.admin),
                    "{line}"
                );
                assert_eq!(out.status.code(), Some(1));
            }
        }
        let ins = Load::inserts(&db);
        ins.wait_more(300).await;
        ins.stop().await;
        wait_streaming(&c, &task, 4);
        verify_every_row(&db, &task).await;
        no_regression(&c);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_whole_cluster_restart_resumes_every_task_from_its_checkpoints() {
        let (db, mut c, task) = streaming_task("cl_restart").await;
        let slots = task_slots(&db, &task).await;
        for i in 0..3 {
            c.stop_signal(i, "TERM");
        }
        for i in 0..3 {
            if let Some(p) = c.workers[i].proc.take() {
                let (code, _) = p.wait_exit(LIMIT);
                let log = std::fs::read_to_string(&c.workers[i].log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                assert_eq!(
                    code,
                    0,
                    "a worker stops cleanly on SIGTERM; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        let ins = Load::inserts(&db);
        ins.wait_more(200).await;
        for i in 0..3 {
            c.spawn(i);
        }
        c.wait_ready(3, LIMIT);
        wait_streaming(&c, &task, 4);
        ins.wait_more(100).await;
        ins.stop().await;
        verify_every_row(&db, &task).await;
        assert_eq!(task_slots(&db, &task).await, slots);
        db.cleanup().await;
    }

    /// How many event triggers (DDL capture) task `task` has.
    async fn task_triggers(db: &TestDb, task: &str) -> usize {
        let prefix = format!("tributary_{}_", task.to_ascii_lowercase());
        db.client
            .query("SELECT evtname::text FROM pg_event_trigger", &[])
            .await
            .unwrap()
            .iter()
            .filter(|r| r.get::<_, String>(0).starts_with(&prefix))
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_task_drops_its_slots_and_publications_and_nothing_else() {
        let db = four_tables("cl_delete").await;
        let c = Cluster::start(3);
        let (gone, kept) = (unique("cld"), unique("clk"));
        c.create_task(&task_toml(c.dir.path(), &gone, &db, "", ""));
        let other = task_toml(c.dir.path(), &kept, &db, "", "")
            .display()
            .to_string();
        let text = std::fs::read_to_string(&other)
            .unwrap()
            .replace("sharding = \"table\"", "sharding = \"none\"");
        std::fs::write(&other, text).unwrap();
        c.create_task(Path::new(&other));
        wait_streaming(&c, &gone, 4);
        wait_streaming(&c, &kept, 1);
        let (_, pubs_before) = db.replication_objects().await;
        // DDL capture: two event triggers per task (created by shard 0 only), and one per
        // shard joining tables created later (4 shards and 1).
        assert_eq!(
            (
                task_triggers(&db, &gone).await,
                task_triggers(&db, &kept).await
            ),
            (6, 3)
        );
        let out = c.ctl(0, &["task", "delete", &gone]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            task_slots(&db, &gone).await.is_empty(),
            "the deleted task's slots are dropped"
        );
        assert_eq!(
            task_slots(&db, &kept).await.len(),
            1,
            "the other task's slot stays"
        );
        assert_eq!(
            (
                task_triggers(&db, &gone).await,
                task_triggers(&db, &kept).await
            ),
            (0, 3),
            "the deleted task's event triggers are dropped, the other's stay"
        );
        let (_, pubs) = db.replication_objects().await;
        let gone_l = gone.to_ascii_lowercase();
        assert!(pubs.iter().all(|p| !p.contains(&gone_l)), "{pubs:?}");
        assert_eq!(
            pubs.len(),
            pubs_before.iter().filter(|p| !p.contains(&gone_l)).count()
        );
        let list = c.ctl_json(&["task", "list"]);
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, vec![kept.as_str()]);
        let topic = format!("{gone}.public.t1");
        assert!(
            !consume_all(&topic, Duration::from_millis(500), Duration::from_secs(10)).is_empty(),
            "topics are kept"
        );
        db.cleanup().await;
    }

    /// Exactly-once in the cluster, against the mock cluster in a process of its own, under
    /// updates of fixed keys (each key's `v` a sequence), in transactions of a second:
    /// - a worker stopped with SIGTERM hands its shards over at a Kafka commit and joins again:
    ///   a `read_committed` consumer then sees every change of every table once;
    /// - the leader is SIGKILLed: its shards resume elsewhere from the checkpoint committed to
    ///   Kafka; nothing is lost, every key ends at its table value, and the tables it did not
    ///   run show no duplicate. The mock shows the records of a killed producer's open
    ///   transaction (it lists no aborted transactions; a real broker aborts them when the next
    ///   owner's producer fences it), so the killed leader's tables may: counted, printed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exactly_once_shards_move_on_a_stop_and_a_leader_kill_losing_and_doubling_nothing() {
        use super::support::mock_kafka::MockKafka;
        let task = unique("cl_eo");
        let topics: Vec<String> = TABLES.iter().map(|t| format!("{task}.{t}")).collect();
        let mock = MockKafka::start(3, &topics.iter().map(String::as_str).collect::<Vec<_>>());
        let db = four_tables("cl_eo").await;
        let mut c = Cluster::start(3);
        let path = task_toml(c.dir.path(), &task, &db, "", "");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            &format!("bootstrap_servers = {:?}", kafka()),
            &format!("bootstrap_servers = {:?}", mock.servers),
        );
        std::fs::write(&path, text).unwrap();
        add_to_section(
            &path,
            "destination",
            "delivery = \"exactly_once\"\ntransaction_interval = \"1s\"",
        );
        c.create_task(&path);
        wait_streaming(&c, &task, 4);
        // A graceful move and a return.
        let updates = Load::updates(&db);
        updates.wait_more(200).await;
        let leader = c.leader().expect("a leader");
        let stopped = c
            .owners(&task)
            .into_iter()
            .find_map(|(_, o)| o.filter(|o| *o != leader))
            .expect("a worker other than the leader runs a shard");
        let si = c.index(stopped);
        let p = c.workers[si].proc.take().unwrap();
        p.sigterm();
        let (code, _) = p.wait_exit(LIMIT);
        assert_eq!(code, 0, "node {stopped} stopped cleanly");
        c.wait("the stopped worker's shards elsewhere", LIMIT, |c| {
            c.owners(&task)
                .iter()
                .all(|(_, o)| o.is_some_and(|o| o != stopped))
        });
        wait_streaming(&c, &task, 4);
        updates.wait_more(200).await;
        c.spawn(si);
        c.wait_ready(3, LIMIT);
        wait_streaming(&c, &task, 4);
        updates.wait_more(100).await;
        updates.stop().await;
        for (table, v) in table_verdicts(&db, &task, &mock.servers).await {
            eprintln!("{table} after the stop: {v:?}");
            assert_eq!((v.lost, v.duplicated, v.stale), (0, 0, 0), "{table}: {v:?}");
        }
        // A leader killed.
        let updates = Load::updates(&db);
        updates.wait_more(100).await;
        let leader = c.leader().expect("a leader");
        let on_leader = tables_of(&c, &task, leader);
        c.kill(c.index(leader));
        c.wait("the killed leader's shards elsewhere", LIMIT, |c| {
            c.owners(&task)
                .iter()
                .all(|(_, o)| o.is_some_and(|o| o != leader))
        });
        wait_streaming(&c, &task, 4);
        updates.wait_more(200).await;
        updates.stop().await;
        assert!(on_leader.len() < TABLES.len(), "{on_leader:?}");
        for (table, v) in table_verdicts(&db, &task, &mock.servers).await {
            let killed = on_leader.contains(&table);
            eprintln!("{table} after the leader's kill (ran there: {killed}): {v:?}");
            assert!(v.lost == 0 && v.stale == 0, "{table}: {v:?}");
            assert!(killed || v.duplicated == 0, "{table}: {v:?}");
        }
        no_regression(&c);
        db.cleanup().await;
    }

    /// The tables of the shards worker `id` runs.
    fn tables_of(c: &Cluster, task: &str, id: u64) -> BTreeSet<String> {
        c.task(task)["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["owner"].as_u64() == Some(id))
            .flat_map(|s| s["tables"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }
}
