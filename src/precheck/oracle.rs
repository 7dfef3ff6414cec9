//! The Oracle source's precheck items, judged from facts read from the data dictionary and the
//! dynamic views (`OracleSession::database_facts` and `table_facts`, one query each in
//! `session::sql::database_facts` and `sql::table_facts`) and the selected tables. Each item names what was found and how to fix it, the fix printing the
//! statements to run:
//!
//! - `archivelog`: LogMiner reads archived redo; NOARCHIVELOG overwrites it (fail).
//! - `supplemental_logging`: database-level minimal logging, plus ALL COLUMNS logging of every
//!   captured table (or database-wide): with key-only logging an UPDATE's redo holds only the
//!   changed and key columns, and every format's images would be partial (fail).
//! - `logminer_privileges`: what `scripts/oracle/grants.sql` grants (fail, naming each missing).
//! - `archive_retention`: how far back archived logs are still there, against DTS's rule: more
//!   than 24 hours for an incremental-only task, at least 7 days with a full phase (warn).
//! - `undo_retention`: `UNDO_RETENTION` against the full load's expected length: a flashback
//!   read older than the undo fails with ORA-01555 (warn).
//! - `table_name_length`: LogMiner on 12.1 does not support names longer than 30 bytes (fail).
//! - `table_keys`: tables without the key the source uses (the primary key, else an enabled
//!   unique key on NOT NULL columns, `dictionary::build`'s rule) (warn: keyless messages).
//!
//! A task without an incremental phase mines nothing, so `archivelog`, `supplemental_logging`
//! and `archive_retention` pass as not needed for it. `gather::run_oracle` runs them for an
//! Oracle task (`crate::precheck::run` dispatches there: `tributary precheck`, `ctl task
//! precheck`, every caller), with `source_connect`, `selection` and `table_count` (more than
//! 1,000 tables, the item PostgreSQL tasks have too).

pub mod gather;

use std::time::Duration;

use super::{bytes, Item};

pub use gather::{facts_of, gather, parse_version, run_oracle, Gathered};

/// The system privileges and roles the LogMiner user needs (`scripts/oracle/grants.sql`).
pub const NEEDED_PRIVILEGES: &[&str] = &[
    "CREATE SESSION",
    "LOGMINING",
    "SELECT ANY TRANSACTION",
    "FLASHBACK ANY TABLE",
    "SELECT ANY TABLE",
    "SELECT ANY DICTIONARY",
    "EXECUTE_CATALOG_ROLE",
];

/// The snapshot throughput assumed for the full load's expected length (as `wal_disk`).
pub const FULL_LOAD_THROUGHPUT: u64 = 20 * 1024 * 1024;

/// One captured table as the items need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OraTableFacts {
    pub owner: String,
    pub name: String,
    /// `ALL COLUMNS` supplemental logging is on for the table.
    pub all_columns_logged: bool,
    /// The key the source uses: the primary key, else an enabled unique key on NOT NULL
    /// columns (`dictionary::build`).
    pub has_key: bool,
    /// The table's segment size in bytes, if read.
    pub bytes: Option<u64>,
}

impl OraTableFacts {
    fn qualified(&self) -> String {
        format!("{}.{}", self.owner, self.name)
    }
}

/// What the items judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleFacts {
    /// Major and minor release, e.g. (12, 1), (19, 0).
    pub version: (u32, u32),
    /// `V$DATABASE.LOG_MODE`.
    pub log_mode: String,
    /// `SUPPLEMENTAL_LOG_DATA_MIN` is YES or IMPLICIT.
    pub supplemental_min: bool,
    /// `SUPPLEMENTAL_LOG_DATA_ALL` is YES (every table logs all columns).
    pub supplemental_all: bool,
    /// The privileges and roles the session holds (upper case).
    pub privileges: Vec<String>,
    /// How far back archived logs are still on disk (`None`: none archived yet).
    pub archived_logs_reach: Option<Duration>,
    /// `UNDO_RETENTION`.
    pub undo_retention: Duration,
    /// The task has a full phase (a flashback read) and an incremental one.
    pub full: bool,
    pub incremental: bool,
    pub tables: Vec<OraTableFacts>,
}

/// Every Oracle item, in report order.
pub fn check(f: &OracleFacts) -> Vec<Item> {
    let mined = |item: Item| {
        if f.incremental {
            item
        } else {
            Item::pass(&item.name, NOT_MINED)
        }
    };
    vec![
        mined(archivelog(&f.log_mode)),
        mined(supplemental_logging(f)),
        privileges(&f.privileges),
        mined(archive_retention(f.archived_logs_reach, f.full)),
        undo_retention(f),
        table_name_length(f.version, &f.tables),
        table_keys(&f.tables),
    ]
}

/// What the redo items say for a task without an incremental phase.
const NOT_MINED: &str = "not needed: no incremental phase (no redo is mined)";

fn archivelog(log_mode: &str) -> Item {
    const N: &str = "archivelog";
    if log_mode.eq_ignore_ascii_case("ARCHIVELOG") {
        return Item::pass(N, "the database runs in ARCHIVELOG mode");
    }
    Item::fail(
        N,
        format!("the database runs in {log_mode} mode: redo is overwritten without being archived, so LogMiner loses what it has not read"),
        "as SYSDBA: SHUTDOWN IMMEDIATE; STARTUP MOUNT; ALTER DATABASE ARCHIVELOG; ALTER DATABASE OPEN;",
    )
}

fn supplemental_logging(f: &OracleFacts) -> Item {
    const N: &str = "supplemental_logging";
    let missing: Vec<&OraTableFacts> = if f.supplemental_all {
        Vec::new()
    } else {
        f.tables.iter().filter(|t| !t.all_columns_logged).collect()
    };
    if f.supplemental_min && missing.is_empty() {
        let how = if f.supplemental_all {
            "database-wide ALL COLUMNS"
        } else {
            "ALL COLUMNS on every captured table"
        };
        return Item::pass(N, format!("minimal supplemental logging, and {how}"));
    }
    let mut found = Vec::new();
    let mut fix = Vec::new();
    if !f.supplemental_min {
        found.push("database-level minimal supplemental logging is off".to_owned());
        fix.push("ALTER DATABASE ADD SUPPLEMENTAL LOG DATA;".to_owned());
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|t| t.qualified()).collect();
        found.push(format!(
            "{} table(s) do not log ALL COLUMNS ({}): an UPDATE's redo would hold only the changed and key columns, so every format's images would be partial",
            names.len(),
            names.join(", ")
        ));
        fix.extend(missing.iter().map(|t| {
            format!(
                "ALTER TABLE \"{}\".\"{}\" ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;",
                t.owner, t.name
            )
        }));
    }
    Item::fail(N, found.join("; "), fix.join(" "))
}

fn privileges(held: &[String]) -> Item {
    const N: &str = "logminer_privileges";
    let missing: Vec<&str> = NEEDED_PRIVILEGES
        .iter()
        .copied()
        .filter(|p| !held.iter().any(|h| h.eq_ignore_ascii_case(p)))
        .collect();
    if missing.is_empty() {
        return Item::pass(
            N,
            "the user holds every privilege LogMiner and the flashback read need",
        );
    }
    Item::fail(
        N,
        format!("the user lacks {}", missing.join(", ")),
        "run scripts/oracle/grants.sql as SYSDBA (README, \"Oracle source\"), or grant the missing ones",
    )
}

fn archive_retention(reach: Option<Duration>, full: bool) -> Item {
    const N: &str = "archive_retention";
    let (need, why) = if full {
        (Duration::from_secs(7 * 86_400), "at least 7 days for a task with a full phase (the snapshot and the catch-up after it must find every log)")
    } else {
        (Duration::from_secs(24 * 3600), "more than 24 hours for an incremental-only task (a stop longer than the retention cannot resume)")
    };
    let shown =
        |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs())).to_string();
    match reach {
        Some(r) if r >= need => Item::pass(
            N,
            format!("archived logs go back {}: {why}", shown(r)),
        ),
        Some(r) => Item::warn(
            N,
            format!("archived logs go back only {}; DTS's rule asks {why}", shown(r)),
            format!("keep archived logs for {} (RMAN: CONFIGURE ARCHIVELOG DELETION POLICY / the backup job's deletion), or accept the warning", shown(need)),
        ),
        None => Item::warn(
            N,
            format!("no archived log yet, so their retention cannot be seen; the rule asks {why}"),
            format!("make sure archived logs are kept for {}, or accept the warning", shown(need)),
        ),
    }
}

fn undo_retention(f: &OracleFacts) -> Item {
    const N: &str = "undo_retention";
    if !f.full {
        return Item::pass(N, "not needed: no full phase (no flashback read)");
    }
    let size: u64 = f.tables.iter().filter_map(|t| t.bytes).sum();
    let expected = Duration::from_secs(size / FULL_LOAD_THROUGHPUT + 1);
    let shown = |d: Duration| humantime::format_duration(d).to_string();
    let found = format!(
        "UNDO_RETENTION = {} s; the full load of {} is expected to take about {} (at an assumed {}/s)",
        f.undo_retention.as_secs(),
        bytes(size),
        shown(expected),
        bytes(FULL_LOAD_THROUGHPUT)
    );
    if f.undo_retention >= expected {
        return Item::pass(N, found);
    }
    Item::warn(
        N,
        format!("{found}: a flashback read older than the undo fails with ORA-01555 and the table is read again"),
        format!(
            "ALTER SYSTEM SET UNDO_RETENTION = {}; (and size the undo tablespace for it), or accept the warning",
            expected.as_secs().max(900) * 2
        ),
    )
}

fn table_name_length(version: (u32, u32), tables: &[OraTableFacts]) -> Item {
    const N: &str = "table_name_length";
    if version >= (12, 2) {
        return Item::pass(N, "names up to 128 bytes are mined (12.2 and later)");
    }
    let long: Vec<String> = tables
        .iter()
        .filter(|t| t.name.len() > 30 || t.owner.len() > 30)
        .map(OraTableFacts::qualified)
        .collect();
    if long.is_empty() {
        return Item::pass(N, "every name fits LogMiner's 30 bytes on 12.1");
    }
    Item::fail(
        N,
        format!(
            "LogMiner on {}.{} does not mine names longer than 30 bytes: {}",
            version.0,
            version.1,
            long.join(", ")
        ),
        "rename the tables (or their owners) to 30 bytes or fewer, or leave them out of objects.tables",
    )
}

fn table_keys(tables: &[OraTableFacts]) -> Item {
    const N: &str = "table_keys";
    let keyless: Vec<String> = tables
        .iter()
        .filter(|t| !t.has_key)
        .map(OraTableFacts::qualified)
        .collect();
    if keyless.is_empty() {
        return Item::pass(
            N,
            "every table has a primary key or a unique key on NOT NULL columns",
        );
    }
    Item::warn(
        N,
        format!(
            "{} table(s) without a primary key or a unique key on NOT NULL columns ({}): their messages carry no key, and an UPDATE or DELETE is matched by every column",
            keyless.len(),
            keyless.join(", ")
        ),
        "add a primary key (or objects.table.<t>.key_columns), or accept the warning",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precheck::Status;

    fn table(name: &str, logged: bool, key: bool) -> OraTableFacts {
        OraTableFacts {
            owner: "SHOP".into(),
            name: name.into(),
            all_columns_logged: logged,
            has_key: key,
            bytes: Some(1 << 30),
        }
    }

    fn good() -> OracleFacts {
        OracleFacts {
            version: (19, 0),
            log_mode: "ARCHIVELOG".into(),
            supplemental_min: true,
            supplemental_all: false,
            privileges: NEEDED_PRIVILEGES.iter().map(|p| p.to_string()).collect(),
            archived_logs_reach: Some(Duration::from_secs(8 * 86_400)),
            undo_retention: Duration::from_secs(3600),
            full: true,
            incremental: true,
            tables: vec![table("ORDERS", true, true)],
        }
    }

    fn status(items: &[Item], name: &str) -> (Status, String) {
        let i = items.iter().find(|i| i.name == name).unwrap();
        (i.status, format!("{} | {}", i.found, i.fix))
    }

    #[test]
    fn a_prepared_database_passes_every_item() {
        let items = check(&good());
        for i in &items {
            assert_eq!(i.status, Status::Pass, "{}: {}", i.name, i.found);
        }
        assert_eq!(items.len(), 7);
    }

    #[test]
    fn noarchivelog_and_missing_logging_fail_with_the_statements() {
        let mut f = good();
        f.log_mode = "NOARCHIVELOG".into();
        f.supplemental_min = false;
        f.tables.push(table("ITEMS", false, true));
        let items = check(&f);
        let (s, text) = status(&items, "archivelog");
        assert_eq!(s, Status::Fail);
        assert!(text.contains("ALTER DATABASE ARCHIVELOG"), "{text}");
        let (s, text) = status(&items, "supplemental_logging");
        assert_eq!(s, Status::Fail);
        assert!(
            text.contains("ALTER DATABASE ADD SUPPLEMENTAL LOG DATA;")
                && text.contains(
                    "ALTER TABLE \"SHOP\".\"ITEMS\" ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;"
                )
                && !text.contains("\"ORDERS\""),
            "{text}"
        );
        f.supplemental_min = true;
        f.supplemental_all = true;
        assert_eq!(status(&check(&f), "supplemental_logging").0, Status::Pass);
    }

    #[test]
    fn missing_privileges_are_named() {
        let mut f = good();
        f.privileges
            .retain(|p| p != "LOGMINING" && p != "FLASHBACK ANY TABLE");
        let (s, text) = status(&check(&f), "logminer_privileges");
        assert_eq!(s, Status::Fail);
        assert!(text.contains("LOGMINING, FLASHBACK ANY TABLE"), "{text}");
        assert!(text.contains("grants.sql"), "{text}");
    }

    #[test]
    fn archive_retention_follows_the_dts_rule() {
        let day = Duration::from_secs(86_400);
        assert_eq!(archive_retention(Some(day * 7), true).status, Status::Pass);
        assert_eq!(archive_retention(Some(day * 6), true).status, Status::Warn);
        assert_eq!(archive_retention(Some(day * 2), false).status, Status::Pass);
        assert_eq!(archive_retention(Some(day / 2), false).status, Status::Warn);
        assert_eq!(archive_retention(None, false).status, Status::Warn);
    }

    #[test]
    fn undo_retention_shorter_than_the_full_load_warns() {
        let mut f = good();
        f.tables[0].bytes = Some(100 << 30); // 100 GiB: about 85 minutes at 20 MiB/s
        let (s, text) = status(&check(&f), "undo_retention");
        assert_eq!(s, Status::Warn, "{text}");
        assert!(text.contains("ORA-01555") && text.contains("ALTER SYSTEM SET UNDO_RETENTION"));
        f.undo_retention = Duration::from_secs(6 * 3600);
        assert_eq!(status(&check(&f), "undo_retention").0, Status::Pass);
        f.full = false;
        assert_eq!(status(&check(&f), "undo_retention").0, Status::Pass);
    }

    #[test]
    fn long_names_fail_only_on_12_1_and_keyless_tables_warn() {
        let mut f = good();
        f.tables
            .push(table("A_TABLE_NAME_LONGER_THAN_THIRTY_BYTES", true, false));
        assert_eq!(status(&check(&f), "table_name_length").0, Status::Pass);
        f.version = (12, 1);
        let (s, text) = status(&check(&f), "table_name_length");
        assert_eq!(s, Status::Fail);
        assert!(
            text.contains("A_TABLE_NAME_LONGER_THAN_THIRTY_BYTES"),
            "{text}"
        );
        let (s, text) = status(&check(&f), "table_keys");
        assert_eq!(s, Status::Warn);
        assert!(text.contains("1 table(s)"), "{text}");
    }

    #[test]
    fn the_readme_lists_the_grant_script_which_grants_every_needed_privilege() {
        let readme = include_str!("../../README.md");
        let script = include_str!("../../scripts/oracle/grants.sql");
        for line in script
            .lines()
            .filter(|l| l.starts_with("GRANT ") || l.starts_with("CREATE USER"))
        {
            assert!(readme.contains(line), "README lacks {line:?}");
        }
        for p in NEEDED_PRIVILEGES {
            assert!(
                script
                    .lines()
                    .any(|l| l.starts_with("GRANT ") && l.contains(p)),
                "grants.sql does not grant {p}"
            );
        }
    }
}
