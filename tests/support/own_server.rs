//! A PostgreSQL server of a test's own, for server-wide settings the shared servers must keep.

use std::path::{Path, PathBuf};

use super::free_port;

/// A PostgreSQL 15 server of the test's own, for settings the shared servers must keep
/// (`max_slot_wal_keep_size`, one slot, one WAL sender) and a physical standby's walsender:
/// initdb'd in a temporary directory, stopped (immediate) and removed when dropped.
pub struct OwnServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub bin: PathBuf,
}

impl OwnServer {
    const BIN: &'static str = "/usr/lib/postgresql/15/bin";

    /// The server process runs as `postgres` when the test runs as root (it refuses root).
    pub fn command(&self, program: &str) -> std::process::Command {
        as_postgres(&self.bin.join(program))
    }

    pub fn start(settings: &[&str]) -> OwnServer {
        let dir = tempfile::tempdir().unwrap();
        let server = OwnServer {
            port: free_port(),
            bin: PathBuf::from(Self::BIN),
            dir,
        };
        let data = server.dir.path().join("data");
        let _ = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(server.dir.path())
            .status();
        let init = server
            .command("initdb")
            .args(["-U", "tributary", "--auth=trust", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c wal_level=logical -c fsync=off",
            server.port,
            server.dir.path().display()
        );
        for s in settings {
            options.push_str(&format!(" -c {s}"));
        }
        let log = server.dir.path().join("log");
        let started = server
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(&log)
            .args(["-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "{}{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        server
    }

    /// The postmaster and its children (to stop the whole server with SIGSTOP).
    pub fn pids(&self) -> Vec<u32> {
        let pid_file = self.dir.path().join("data/postmaster.pid");
        let postmaster: u32 = std::fs::read_to_string(pid_file)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let children = std::process::Command::new("pgrep")
            .args(["-P", &postmaster.to_string()])
            .output()
            .unwrap();
        let mut pids: Vec<u32> = String::from_utf8_lossy(&children.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.push(postmaster);
        pids
    }

    pub fn url(&self) -> String {
        format!("postgres://tributary@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

pub fn as_postgres(program: &Path) -> std::process::Command {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

/// A commit a synchronous standby holds: on a server started with
/// `synchronous_standby_names` naming a standby that never connects, runs `sql` with
/// `synchronous_commit = on` in a session of its own and returns once the commit waits for
/// the standby (in the WAL, not visible yet), with the session's pid (`pg_cancel_backend`
/// ends the wait and makes the commit visible) and the statement's task.
pub async fn held_commit(
    url: &str,
    admin: &tokio_postgres::Client,
    sql: &str,
) -> (
    i32,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let stuck = super::connect(url).await;
    let pid: i32 = stuck
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let sql = format!("SET synchronous_commit = on; {sql}");
    let commit = tokio::spawn(async move { stuck.batch_execute(&sql).await });
    let waiting = "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'SyncRep'";
    super::wait_for(
        "the commit waiting for the standby",
        std::time::Duration::from_secs(90),
        || async { admin.query(waiting, &[&pid]).await.unwrap().len() == 1 },
    )
    .await;
    (pid, commit)
}
