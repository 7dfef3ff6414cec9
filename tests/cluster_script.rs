//! `scripts/cluster.sh` runs the example three-worker cluster of `cluster-config/` (the fixed
//! ports 7101–7103 and 7201–7203 of the README): start waits until the workers answer, status
//! shows a leader and three members, stop ends every worker.

mod support;

mod serial {
    use std::process::{Command, Output};

    fn script(arg: &str, dir: &std::path::Path) -> Output {
        Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .arg(arg)
            .env("TRIBUTARY_BIN", env!("CARGO_BIN_EXE_tributary"))
            .env("TRIBUTARY_CLUSTER_DIR", dir)
            .output()
            .unwrap()
    }

    fn text(o: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_example_cluster_starts_answers_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let start = script("start", dir.path());
        let started = text(&start);
        let stop_on_failure = Stop(dir.path());
        assert!(start.status.success(), "{started}");
        let ready = || {
            let o = Command::new(env!("CARGO_BIN_EXE_tributary"))
                .args([
                    "ctl",
                    "--server",
                    "127.0.0.1:7102",
                    "--json",
                    "cluster",
                    "status",
                ])
                .output()
                .unwrap();
            let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
            let members = s["members"].as_array().map_or(0, |m| {
                m.iter().filter(|m| m["lease_age_ms"].is_u64()).count()
            });
            s["leader"].as_u64().is_some() && members == 3
        };
        let limit = std::time::Duration::from_secs(60);
        super::support::wait_until("a leader and 3 registered workers", limit, ready).await;
        let status = script("status", dir.path());
        let shown = text(&status);
        assert!(
            status.status.success() && shown.contains("leader"),
            "{shown}"
        );
        for n in 1..=3 {
            assert!(shown.contains(&format!("node {n}: pid")), "{shown}");
            assert!(dir.path().join(format!("logs/node-{n}.log")).exists());
        }
        drop(stop_on_failure);
        let after = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["ctl", "--server", "127.0.0.1:7101", "cluster", "status"])
            .output()
            .unwrap();
        assert!(!after.status.success(), "stopped workers do not answer");
    }

    /// Stops the cluster when dropped (also when an assertion failed), so no worker is left.
    struct Stop<'a>(&'a std::path::Path);

    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let o = script("stop", self.0);
            assert!(
                o.status.success() || std::thread::panicking(),
                "{}",
                text(&o)
            );
        }
    }
}
