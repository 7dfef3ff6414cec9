//! The admin API against real workers: bad input gets one clear line and changes nothing; a
//! throttle lowered on a running task is followed within seconds.

mod support;

mod serial {
    use std::time::{Duration, Instant};

    use super::support::cluster::*;
    use super::support::*;

    const LIMIT: Duration = Duration::from_secs(90);

    fn spec(
        dir: &std::path::Path,
        name: &str,
        url: &str,
        top: &str,
        migration: &str,
    ) -> std::path::PathBuf {
        let text = format!(
            "name = {name:?}\n{top}\n[source]\nkind = \"postgres\"\nurl = {url:?}\nstatus_interval = \"1s\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = {:?}\n[objects]\ntables = [\"public.items\"]\n\
             [migration]\ncheckpoint_interval = \"200ms\"\n{migration}\n",
            kafka()
        );
        let path = dir.join(format!("{name}-{}.toml", unique("f")));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn failed_line(out: &std::process::Output) -> String {
        assert_eq!(
            out.status.code(),
            Some(1),
            "stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        error_line(&String::from_utf8_lossy(&out.stderr))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_input_gets_one_clear_line_and_changes_nothing() {
        let db = TestDb::create("cl_bad").await;
        db.client
            .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, v int)")
            .await
            .unwrap();
        let token = "s3cret-token";
        // The worker reads the token from this variable; ctl (here and in the harness) from
        // TRIBUTARY_TOKEN.
        std::env::set_var("TRIBUTARY_TEST_ADMIN_TOKEN", token);
        std::env::set_var("TRIBUTARY_TOKEN", token);
        let c = Cluster::start_with(1, "[admin]\ntoken_env = \"TRIBUTARY_TEST_ADMIN_TOKEN\"");
        let with_token = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
                .args([
                    "ctl",
                    "--server",
                    &c.workers[0].admin,
                    "--json",
                    "--token",
                    token,
                ])
                .args(args)
                .output()
                .unwrap()
        };
        // The token is required and checked.
        let none = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["ctl", "--server", &c.workers[0].admin, "task", "list"])
            .env_remove("TRIBUTARY_TOKEN")
            .output()
            .unwrap();
        let line = failed_line(&none);
        assert!(line.contains("token"), "{line}");
        let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args([
                "ctl",
                "--server",
                &c.workers[0].admin,
                "--token",
                "nope",
                "task",
                "list",
            ])
            .output()
            .unwrap();
        assert!(failed_line(&wrong).contains("token"));
        // An unknown field, and contradictory retry windows.
        let dir = c.dir.path();
        let typo = spec(dir, "bad1", &db.url, "shardin = \"table\"", "");
        let line = failed_line(&with_token(&["task", "create", typo.to_str().unwrap()]));
        assert!(line.contains("shardin"), "{line}");
        let windows = spec(
            dir,
            "bad2",
            &db.url,
            "[retry]\nconnection_window = \"5m\"\nother_window = \"10m\"",
            "",
        );
        let line = failed_line(&with_token(&["task", "create", windows.to_str().unwrap()]));
        assert!(line.contains("retry.other_window"), "{line}");
        // Removing the last worker.
        let line = failed_line(&with_token(&["worker", "remove", "1"]));
        assert!(line.contains("last worker"), "{line}");
        // Nothing was created: no task, no slot.
        let list = with_token(&["task", "list"]);
        assert!(list.status.success());
        let tasks: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        assert_eq!(tasks.as_array().map(Vec::len), Some(0), "{tasks}");
        assert!(db.replication_objects().await.0.is_empty());
        // A node that is down.
        let down = format!("127.0.0.1:{}", free_port());
        let line = failed_line(&ctl_at(&down, &["cluster", "status"]));
        assert!(
            line.contains("cannot reach") && line.contains(&down),
            "{line}"
        );
        db.cleanup().await;
    }

    /// Stream events `task` reported so far.
    fn events(c: &Cluster, task: &str) -> u64 {
        c.task(task)["shards"]
            .as_array()
            .map(|a| a.iter().map(|s| s["events"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    }

    /// Events per second of `task` while it handles `n` more events (waited for, bounded).
    fn rate(c: &Cluster, task: &str, n: u64) -> f64 {
        let (e0, t0) = (events(c, task), Instant::now());
        c.wait("more events", LIMIT, |c| events(c, task) >= e0 + n);
        (events(c, task) - e0) as f64 / t0.elapsed().as_secs_f64()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lowered_throttle_is_followed_within_seconds() {
        let db = TestDb::create("cl_thr").await;
        db.client
            .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, v int)")
            .await
            .unwrap();
        let c = Cluster::start(1);
        let task = unique("clt");
        let fast = spec(
            c.dir.path(),
            &task,
            &db.url,
            "",
            "stream_events_per_second = 2000",
        );
        c.create_task(&fast);
        c.wait("streaming", LIMIT, |c| {
            c.shard_states(&task) == ["streaming"]
        });
        db.client
            .batch_execute("INSERT INTO items SELECT g, 0 FROM generate_series(1, 60000) g")
            .await
            .unwrap();
        let before = rate(&c, &task, 4000);
        assert!(
            before > 1000.0,
            "the first limit lets about 2000/s through: {before}"
        );
        let slow = spec(
            c.dir.path(),
            &task,
            &db.url,
            "",
            "stream_events_per_second = 200",
        );
        let out = c.ctl(0, &["task", "update", &task, slow.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Events already read at the old rate drain first; then the rate follows.
        let updated = Instant::now();
        let mut after = rate(&c, &task, 300);
        while after >= 400.0 && updated.elapsed() < Duration::from_secs(20) {
            after = rate(&c, &task, 300);
        }
        assert!(
            after < 400.0,
            "the lowered limit (200/s) is followed within seconds: {after}/s after {:?} (was {before}/s)",
            updated.elapsed()
        );
        let changed = spec(c.dir.path(), &task, &db.url, "sharding = \"table\"", "");
        let line = failed_line(&c.ctl(0, &["task", "update", &task, changed.to_str().unwrap()]));
        assert!(line.contains("sharding"), "{line}");
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_failing_before_its_first_start_fails_at_once_and_resumes_when_asked() {
        let db = TestDb::create("cl_fail").await;
        db.client
            .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, v int); INSERT INTO items VALUES (1, 1)")
            .await
            .unwrap();
        let c = Cluster::start(1);
        let task = unique("clf");
        let topic = format!("{task}.public.items");
        // Its topic is missing and the task may not create topics: the first start fails
        // (the precheck's warning about it is accepted).
        let path = spec(c.dir.path(), &task, &db.url, "", "");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("[objects]", "create_topics = false\n[objects]")
            + "\n[precheck]\naccept_warnings = [\"topics\"]\n";
        std::fs::write(&path, text).unwrap();
        c.create_task(&path);
        c.wait("the task to fail", LIMIT, |c| {
            c.shard_states(&task) == ["failed"]
        });
        let t = c.task(&task);
        let reason = t["shards"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            reason.contains(&topic) && reason.contains(&task),
            "the reason names task and topic: {reason}"
        );
        assert_eq!(
            t["shards"][0]["transient"], false,
            "a failed first start waits for the user"
        );
        assert_eq!(t["phase"], "failed");
        create_topic(&topic).await;
        let out = c.ctl(0, &["task", "resume", &task]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.wait("the resumed task to stream", LIMIT, |c| {
            c.shard_states(&task) == ["streaming"]
        });
        let msgs = consume_until(&topic, |m| !m.is_empty());
        assert_eq!(msgs.len(), 1);
        db.cleanup().await;
    }
}
