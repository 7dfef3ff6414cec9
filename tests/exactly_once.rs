//! Exactly-once delivery end to end (issue 11): `tributary run` with
//! `destination.delivery = "exactly_once"` against librdkafka's mock cluster in a process of
//! its own (`support::mock_kafka`), real PostgreSQL, and the sequence verifier of the fault
//! tests (`support::seqs`): a `read_committed` consumer must see every change once.
//!
//! The mock cluster hides no aborted transaction from `read_committed` consumers, so the
//! crashes here fall where no transaction is open with records in it: right after a Kafka
//! commit, before the store holds its checkpoint, the window exactly-once exists for. A broker
//! without transactions (tansu) is refused before anything is created.

mod support;

use support::cluster::{Load, LIMIT};
use support::mock_kafka::MockKafka;
use support::seqs::*;
use support::*;

/// A run of `seqs`, task `task`, that delivers exactly once to the brokers at `servers`.
fn exactly_once_task(db: &TestDb, task: &str, servers: &str) -> TaskSetup {
    task_delivering(db, task, servers, "exactly_once")
}

/// A run of `seqs`, task `task`, delivering as `delivery` says to the brokers at `servers`.
fn task_delivering(db: &TestDb, task: &str, servers: &str, delivery: &str) -> TaskSetup {
    let dir = tempfile::tempdir().unwrap();
    let task = task.to_owned();
    let phases = ["full", "incremental"];
    let path = task_file(
        dir.path(),
        &task,
        &db.url,
        servers,
        &["public.seqs"],
        &phases,
        "",
    );
    // Short transactions: many commits in a short test.
    let lines = match delivery {
        "exactly_once" => "delivery = \"exactly_once\"\ntransaction_interval = \"100ms\"",
        _ => "delivery = \"at_least_once\"",
    };
    add_to_section(&path, "destination", lines);
    TaskSetup { dir, task, path }
}

/// Broker faults of the mock cluster under writes, as `delivery` delivers: broker 2 down while
/// 150 statements run, then up; five produce requests failing with `request_timed_out`, then
/// two EndTxn with `coordinator_not_available`. All are retried by the producer (idempotent,
/// and the transaction's commit waits for them), so no transaction is aborted.
async fn under_broker_faults(delivery: &str) -> Verdict {
    let task = unique("faults_mock");
    let mut mock = MockKafka::start(3, &[&format!("{task}.public.seqs:3")]);
    let db = seq_table("faults_mock").await;
    let setup = task_delivering(&db, &task, &mock.servers, delivery);
    let mut run = setup.spawn();
    run.wait_stream_active(&db, &setup.task, LIMIT).await;
    let writes = Load::start(&db, statement);
    writes.wait_more(150).await;
    mock.fault("down 2");
    writes.wait_more(150).await;
    mock.fault("up 2");
    mock.fault("errors Produce request_timed_out 5");
    writes.wait_more(150).await;
    if delivery == "exactly_once" {
        mock.fault("errors EndTxn coordinator_not_available 2");
    }
    writes.wait_more(150).await;
    writes.stop().await;
    let v = settled(&db, &setup.topic("public.seqs"), &mock.servers).await;
    end_run(run, db).await;
    v
}

/// One at a time: each drives a run under a steady write load.
mod serial {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mock_broker_faults_lose_nothing_at_least_once() {
        let v = under_broker_faults("at_least_once").await;
        judged("mock cluster broker faults, at least once", &v);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mock_broker_faults_double_nothing_exactly_once() {
        let v = under_broker_faults("exactly_once").await;
        judged("mock cluster broker faults, exactly once", &v);
        assert_eq!(v.duplicated, 0, "{v:?}");
    }

    /// The run is held right after its 31st Kafka commit (snapshot and stream under way),
    /// before the checkpoint timer saves that commit's checkpoint, and SIGKILLed there. The
    /// next run takes the checkpoint committed to Kafka, which is newer than the stored one:
    /// the records of that last transaction are not sent again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
    async fn a_kill_between_a_kafka_commit_and_its_save_doubles_nothing() {
        let task = unique("eo_kill");
        let mock = MockKafka::start(3, &[&format!("{task}.public.seqs")]);
        let db = seq_table("eo_kill").await;
        let setup = exactly_once_task(&db, &task, &mock.servers);
        let (release, held) = fifo(setup.dir.path());
        let point = format!("runner.commit_held=30*off->return({})", release.display());
        let mut run = spawn_run_failing(&setup.path, &setup.data(), &point);
        let writes = Load::start(&db, statement);
        wait_until("the run held right after a Kafka commit", LIMIT, || {
            held.exists()
        })
        .await;
        run.sigkill();
        writes.wait_more(100).await;
        let mut again = setup.spawn();
        again.wait_stream_active(&db, &setup.task, LIMIT).await;
        writes.wait_more(150).await;
        writes.stop().await;
        let v = settled(&db, &setup.topic("public.seqs"), &mock.servers).await;
        judged("killed between a Kafka commit and its save", &v);
        assert_eq!(v.duplicated, 0, "exactly once: {v:?}");
        let log = again.stderr_so_far();
        assert!(
            log.contains("newer than the stored one"),
            "the restart resumed from the committed checkpoint:\n{log}"
        );
        end_run(again, db).await;
    }

    /// tansu offers InitProducerId but no EndTxn: the start is refused in one line before a
    /// slot, a topic or the checkpoint topic exists, and the precheck fails the item; the
    /// mock cluster passes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_without_transactions_is_refused_before_anything_is_created() {
        let db = seq_table("eo_tansu").await;
        let setup = exactly_once_task(&db, &unique("eo_tansu"), &kafka());
        let (code, err) = run_to_end(&setup.path, &setup.data(), LIMIT);
        assert_ne!(code, 0, "{err}");
        let line = error_line(&err);
        assert!(
            line.contains("EndTxn") && line.contains("delivery = \"at_least_once\""),
            "{line}"
        );
        assert_eq!(db.task_slot(&setup.task).await, None, "no slot");
        assert!(task_topics(&setup.task).is_empty(), "no topic");
        let precheck = |path: &std::path::Path| precheck_item(path, "kafka_transactions");
        let (code, item) = precheck(&setup.path);
        assert_eq!(code, Some(1), "{item}");
        assert_eq!(item["status"], "fail", "{item}");
        assert!(item["found"].as_str().unwrap().contains("EndTxn"), "{item}");
        let mock = MockKafka::start(1, &[]);
        let on_mock = exactly_once_task(&db, &unique("eo_mock"), &mock.servers);
        let (_, item) = precheck(&on_mock.path);
        assert_eq!(item["status"], "pass", "{item}");
        db.cleanup().await;
    }

    /// Without a crash, a read_committed consumer sees the snapshot and the stream once, in
    /// many transactions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_delivers_the_snapshot_and_the_stream_once_in_transactions() {
        let task = unique("eo_run");
        let mock = MockKafka::start(3, &[&format!("{task}.public.seqs")]);
        let db = seq_rows(TestDb::create("eo_run").await, 5_000).await;
        let setup = exactly_once_task(&db, &task, &mock.servers);
        add_to_section(&setup.path, "source", "snapshot_chunk_rows = 500");
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut run = spawn_run_with(&setup.path, &setup.data(), &["--metrics-addr", &metrics]);
        let writes = Load::start(&db, statement);
        run.wait_stream_active(&db, &setup.task, LIMIT).await;
        writes.wait_more(300).await;
        writes.stop().await;
        let v = settled(&db, &setup.topic("public.seqs"), &mock.servers).await;
        judged("exactly once without a crash", &v);
        assert_eq!(v.duplicated, 0, "{v:?}");
        let commits = scrape(&metrics)
            .and_then(|s| {
                metric(
                    &s,
                    "tributary_sink_transactions_committed_total",
                    &setup.task,
                )
            })
            .unwrap_or(0.0);
        assert!(commits >= 5.0, "committed in many transactions: {commits}");
        end_run(run, db).await;
    }
}
