//! The `wal_disk` item: the free space of pg_wal's file system against the WAL the task's slot
//! is expected to hold back (the backlog), where the free space can be read.
//!
//! ```text
//!  data_directory ──► exists here? ──► global/pg_control's system identifier = the server's?
//!                                                   │ yes
//!                                                   ▼
//!                          statvfs(<data_directory>/pg_wal, symlink followed) = free
//!  WAL rate (pg_stat_wal) × (snapshot's expected length | one hour's stop) = backlog
//!                                                   │
//!                                                   ▼
//!                          verdict: free < backlog ? warn : pass   (never fail)
//! ```
//! PostgreSQL reports no free disk space over SQL, so the space is read from the file system
//! itself, and only when the server runs on the machine running the precheck. Elsewhere, or
//! when something on the way is not readable, the item passes with "not compared" and names
//! what it found. The backlog is an estimate: the mean WAL rate since `pg_stat_wal` was last
//! reset (PostgreSQL 14+; else two samples of the WAL position a second apart) times the time
//! the slot holds WAL back, which is the snapshot's expected length at [`SNAPSHOT_THROUGHPUT`]
//! for a task with a full phase, else [`STOP`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::Client;

use super::{bytes, Item};

/// The snapshot throughput assumed when estimating how long a snapshot holds WAL back: a
/// conservative 20 MiB/s (a slower snapshot holds more WAL; tributary's snapshot is faster
/// than this on the machines measured, so the backlog errs high).
pub const SNAPSHOT_THROUGHPUT: u64 = 20 * 1024 * 1024;

/// The stop an incremental-only task is assumed to weather: one hour of WAL.
pub const STOP: Duration = Duration::from_secs(3600);

/// How long the WAL position is sampled when `pg_stat_wal` cannot give the rate.
const SAMPLE: Duration = Duration::from_secs(1);

const N: &str = "wal_disk";

/// pg_wal's file system as read on this machine.
#[derive(Debug)]
struct Free {
    /// Bytes available to an unprivileged user (the server's own user).
    bytes: u64,
    /// pg_wal, its symlink followed.
    wal: PathBuf,
}

/// The item: `source` is the selected tables' size (when readable), `full` whether the task
/// has a full phase (a snapshot).
pub async fn check(client: &Client, source: Option<u64>, full: bool, version_num: i32) -> Item {
    let held = held(client).await;
    let free = match local_free(client).await {
        Ok(f) => f,
        Err(why) => {
            return Item::pass(
                N,
                format!("not compared: {why}; {held}; check the free space of pg_wal's file system yourself"),
            )
        }
    };
    let (per_second, rate) = match wal_rate(client, version_num).await {
        Ok(r) => r,
        Err(why) => {
            return Item::pass(
                N,
                format!(
                    "not compared: {} free on pg_wal's file system ({}), but {why}, so the expected backlog cannot be estimated; {held}",
                    bytes(free.bytes),
                    free.wal.display()
                ),
            )
        }
    };
    let (backlog, how) = backlog(per_second, &rate, source, full);
    let mut item = verdict(free.bytes, backlog, &how);
    item.found
        .push_str(&format!("; {held}, in {}", free.wal.display()));
    item
}

/// Warns when `free` is below `backlog`, passes otherwise; `how` says how the backlog was
/// estimated. Never fails: the backlog is an estimate.
pub fn verdict(free: u64, backlog: u64, how: &str) -> Item {
    if free < backlog {
        Item::warn(
            N,
            format!(
                "{} free on pg_wal's file system, less than the expected backlog of {} ({how})",
                bytes(free),
                bytes(backlog)
            ),
            "free space on pg_wal's file system, set max_slot_wal_keep_size (the slot is then invalidated before the disk fills), or accept the warning (precheck.accept_warnings = [\"wal_disk\"])",
        )
    } else {
        Item::pass(
            N,
            format!(
                "{} free on pg_wal's file system, room for the expected backlog of {} ({how})",
                bytes(free),
                bytes(backlog)
            ),
        )
    }
}

/// The expected backlog in bytes and how it was estimated: `per_second` (described by
/// `rate`) times the snapshot's expected length when the task has a full phase and the
/// tables' size is known, else times [`STOP`].
fn backlog(per_second: f64, rate: &str, source: Option<u64>, full: bool) -> (u64, String) {
    let stop = STOP.as_secs_f64();
    let (secs, span) = match (full, source) {
        (true, Some(size)) => {
            let secs = size as f64 / SNAPSHOT_THROUGHPUT as f64;
            (
                secs,
                format!(
                    "the snapshot's expected {} (the selected tables' {} at an assumed {}/s)",
                    length(secs),
                    bytes(size),
                    bytes(SNAPSHOT_THROUGHPUT)
                ),
            )
        }
        (true, None) => (
            stop,
            format!(
                "{} (the selected tables' size is not readable, so the snapshot's length is unknown)",
                length(stop)
            ),
        ),
        (false, _) => (
            stop,
            format!(
                "an assumed stop of {} (an incremental-only task's slot holds WAL back while the task is stopped)",
                length(stop)
            ),
        ),
    };
    let backlog = (per_second.max(0.0) * secs).ceil() as u64;
    (backlog, format!("WAL at {rate} for {span}"))
}

/// `5m 3s` in whole seconds, rounded up; `under 1s` below a second.
fn length(secs: f64) -> String {
    if secs < 1.0 {
        return "under 1s".into();
    }
    humantime::format_duration(Duration::from_secs(secs.ceil() as u64)).to_string()
}

/// pg_wal's size now, or why it is not readable.
async fn held(client: &Client) -> String {
    match client
        .query_one(
            "SELECT coalesce(sum(size), 0)::int8 FROM pg_ls_waldir()",
            &[],
        )
        .await
    {
        Ok(r) => format!(
            "pg_wal holds {} now",
            bytes(r.get::<_, i64>(0).max(0) as u64)
        ),
        Err(_) => {
            "pg_wal's size is not readable by the task's user (pg_ls_waldir needs pg_monitor)"
                .into()
        }
    }
}

/// The server's error message, or the error.
fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

/// pg_wal's free space when the server's data directory is on this machine; else why not.
async fn local_free(client: &Client) -> Result<Free, String> {
    let dir: String = client
        .query_one("SELECT current_setting('data_directory')", &[])
        .await
        .map_err(|e| {
            format!(
                "the server's data_directory is not readable by the task's user (it needs superuser or pg_read_all_settings: {}), so its free disk space cannot be looked for on this machine",
                message(&e)
            )
        })?
        .get(0);
    let id: i64 = client
        .query_one("SELECT system_identifier FROM pg_control_system()", &[])
        .await
        .map_err(|e| {
            format!(
                "the server's system identifier is not readable (pg_control_system(): {}), so it cannot be told whether data_directory {dir} on this machine is the server's",
                message(&e)
            )
        })?
        .get(0);
    let dir = PathBuf::from(dir);
    tokio::task::spawn_blocking(move || local(&dir, id as u64))
        .await
        .map_err(|e| format!("reading the free disk space failed: {e}"))?
}

/// pg_wal's free space when `dir` exists here and its `global/pg_control` holds the system
/// identifier `server`; else why it is not compared.
fn local(dir: &Path, server: u64) -> Result<Free, String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("the server's data_directory {shown} is not a directory on this machine, so the server runs elsewhere")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the server's data_directory {shown} does not exist on this machine, so the server runs elsewhere and its free disk space cannot be read from here"))
        }
        Err(e) => return Err(format!("the server's data_directory {shown} is not readable on this machine ({e})")),
    }
    let control = dir.join("global").join("pg_control");
    let mut head = [0u8; 8];
    std::fs::File::open(&control)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| {
            format!(
                "{} is not readable on this machine ({e}), so it cannot be told whether data_directory {shown} is the server's",
                control.display()
            )
        })?;
    // pg_control starts with the system identifier, in the byte order of the machine that
    // wrote it: this one's, when it is the server's.
    let here = u64::from_ne_bytes(head);
    if here != server {
        return Err(format!("data_directory {shown} exists on this machine but belongs to another server (system identifier {here} in its pg_control, {server} on the server), so the server runs elsewhere"));
    }
    let wal = dir.join("pg_wal");
    let wal = std::fs::canonicalize(&wal)
        .map_err(|e| format!("{} is not readable on this machine ({e})", wal.display()))?;
    let bytes = fs2::available_space(&wal).map_err(|e| {
        format!(
            "the free space of {}'s file system is not readable ({e})",
            wal.display()
        )
    })?;
    Ok(Free { bytes, wal })
}

/// The WAL rate in bytes per second and its description: the mean since `pg_stat_wal`'s reset
/// (PostgreSQL 14+), else the WAL position sampled [`SAMPLE`] apart; else why not.
async fn wal_rate(client: &Client, version_num: i32) -> Result<(f64, String), String> {
    if version_num >= 140000 {
        let row = client
            .query_one(
                "SELECT wal_bytes::float8, extract(epoch FROM now() - stats_reset)::float8 \
                 FROM pg_stat_wal",
                &[],
            )
            .await;
        if let Ok(r) = row {
            let written: f64 = r.get(0);
            let since: Option<f64> = r.get(1);
            if let Some(since) = since.filter(|s| *s >= 1.0) {
                let rate = written / since;
                return Ok((
                    rate,
                    format!(
                        "{}/s (pg_stat_wal: {} written in the {} since its last reset)",
                        bytes(rate.ceil() as u64),
                        bytes(written.max(0.0) as u64),
                        length(since)
                    ),
                ));
            }
        }
    }
    let unreadable = |e: tokio_postgres::Error| {
        format!(
            "the WAL rate is not readable (pg_stat_wal needs PostgreSQL 14 and a reset time; pg_current_wal_lsn(): {})",
            message(&e)
        )
    };
    let first: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(unreadable)?
        .get(0);
    tokio::time::sleep(SAMPLE).await;
    let written: f64 = client
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8",
            &[&first],
        )
        .await
        .map_err(unreadable)?
        .get(0);
    let rate = written.max(0.0) / SAMPLE.as_secs_f64();
    Ok((
        rate,
        format!(
            "{}/s (the WAL position sampled {} apart)",
            bytes(rate.ceil() as u64),
            length(SAMPLE.as_secs_f64())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precheck::Status;

    #[test]
    fn less_free_space_than_the_backlog_warns_and_more_passes() {
        let gib = 1024 * 1024 * 1024;
        let low = verdict(gib, 2 * gib, "WAL at 1 MiB/s for 1h");
        assert_eq!(low.status, Status::Warn, "{low:?}");
        assert!(
            low.found.contains("1.0 GiB free")
                && low.found.contains("expected backlog of 2.0 GiB")
                && low.found.contains("WAL at 1 MiB/s for 1h"),
            "{}",
            low.found
        );
        assert!(
            low.fix.contains("max_slot_wal_keep_size") && low.fix.contains("accept_warnings"),
            "{}",
            low.fix
        );
        let high = verdict(2 * gib, gib, "WAL at 1 MiB/s for 1h");
        assert_eq!(high.status, Status::Pass, "{high:?}");
        assert!(
            high.found.contains("2.0 GiB free") && high.found.contains("backlog of 1.0 GiB"),
            "{}",
            high.found
        );
        assert_eq!(verdict(gib, gib, "").status, Status::Pass);
    }

    #[test]
    fn the_backlog_is_the_snapshot_s_length_or_an_hour_s_stop() {
        let mib = 1024.0 * 1024.0;
        // 2 GiB of tables at 20 MiB/s: 102.4 s of WAL at 1 MiB/s.
        let (b, how) = backlog(mib, "1.0 MiB/s", Some(2 << 30), true);
        assert_eq!(b, (102.4 * mib).ceil() as u64);
        assert!(
            how.contains("snapshot's expected 1m 43s")
                && how.contains("2.0 GiB at an assumed 20.0 MiB/s"),
            "{how}"
        );
        let (b, how) = backlog(mib, "1.0 MiB/s", Some(2 << 30), false);
        assert_eq!(b, 3600 * 1024 * 1024);
        assert!(
            how.contains("stop of 1h") && how.contains("incremental-only"),
            "{how}"
        );
        let (b, how) = backlog(mib, "1.0 MiB/s", None, true);
        assert_eq!(b, 3600 * 1024 * 1024);
        assert!(how.contains("size is not readable"), "{how}");
    }

    #[test]
    fn a_data_directory_elsewhere_or_of_another_server_is_not_compared() {
        let dir = tempfile::tempdir().unwrap();
        let missing = local(&dir.path().join("nowhere"), 7).unwrap_err();
        assert!(
            missing.contains("does not exist on this machine"),
            "{missing}"
        );
        std::fs::create_dir_all(dir.path().join("global")).unwrap();
        std::fs::create_dir_all(dir.path().join("pg_wal")).unwrap();
        let mut control = 42u64.to_ne_bytes().to_vec();
        control.resize(8192, 0);
        std::fs::write(dir.path().join("global").join("pg_control"), control).unwrap();
        let other = local(dir.path(), 7).unwrap_err();
        assert!(
            other.contains("another server") && other.contains("42") && other.contains('7'),
            "{other}"
        );
        let same = local(dir.path(), 42).unwrap();
        assert!(same.bytes > 0 && same.wal.ends_with("pg_wal"), "{same:?}");
    }
}
