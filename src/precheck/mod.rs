//! The precheck: what a task needs of its source and its broker, checked before anything is
//! created, so that a task that cannot run (or would run badly) is refused with every reason
//! at once instead of failing on the first one half-way through its first start.
//!
//! ```text
//!  TaskSpec ──► source items (source.rs: PostgreSQL settings, privileges, tables, names,
//!           │                 wal_disk.rs: pg_wal's free disk against the expected backlog)
//!           │   (an Oracle task: oracle.rs, the Oracle source's items judged from the
//!           │    dictionary facts its session gathers, oracle/gather.rs)
//!           └─► broker items (broker.rs: connection, topics, space)
//!                   │
//!                   ▼
//!  Report { items: [name, pass|warn|fail, found, fix] } ──► may_start(accepted warnings)
//! ```
//! A failed item blocks the start; a warning blocks it unless the task accepts that item
//! (`precheck.accept_warnings`, `--accept-warnings`). `tributary precheck`, the admin API's
//! `PrecheckTask`, `tributary run` (before a first start) and `CreateTask` all run it.

mod broker;
mod identity;
mod names;
pub mod oracle;
mod source;
mod tables;
mod wal_disk;

use serde::{Deserialize, Serialize};

use crate::config::{SourceKind, TaskSpec};

pub use identity::{has_usable_identity, judge_identity, IdentityFacts};
pub use names::Owned;

/// Every item, in the order reports list them.
pub const ITEMS: &[&str] = &[
    "source_connect",
    // The Oracle source's (`oracle`).
    "archivelog",
    "supplemental_logging",
    "logminer_privileges",
    "archive_retention",
    "undo_retention",
    "table_name_length",
    "table_keys",
    "wal_level",
    "privilege_replication",
    "replication_slots",
    "wal_senders",
    "max_slot_wal_keep_size",
    "idle_replication_slot_timeout",
    "long_transactions",
    "standbys",
    "slot_name_free",
    "publication_name_free",
    "partitioned_tables",
    "selection",
    "privilege_select",
    "privilege_ownership",
    "privilege_superuser_features",
    "replica_identity",
    "table_count",
    "wal_disk",
    "kafka_connect",
    "topics",
    "kafka_transactions",
    "broker_space",
];

/// How an item came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Pass, Status::Warn, Status::Fail]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One checked item: what was found and, unless it passed, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    pub status: Status,
    pub found: String,
    pub fix: String,
    /// A warning the task accepts (it does not block the start).
    #[serde(default)]
    pub accepted: bool,
}

impl Item {
    pub fn pass(name: &str, found: impl Into<String>) -> Item {
        Item::new(name, Status::Pass, found, "")
    }
    pub fn warn(name: &str, found: impl Into<String>, fix: impl Into<String>) -> Item {
        Item::new(name, Status::Warn, found, fix)
    }
    pub fn fail(name: &str, found: impl Into<String>, fix: impl Into<String>) -> Item {
        Item::new(name, Status::Fail, found, fix)
    }
    fn new(name: &str, status: Status, found: impl Into<String>, fix: impl Into<String>) -> Item {
        debug_assert!(ITEMS.contains(&name), "unknown precheck item {name}");
        Item {
            name: name.to_owned(),
            status,
            found: found.into(),
            fix: fix.into(),
            accepted: false,
        }
    }

    /// Whether it keeps the task from starting.
    pub fn blocks(&self) -> bool {
        match self.status {
            Status::Pass => false,
            Status::Warn => !self.accepted,
            Status::Fail => true,
        }
    }

    /// `name: found: fix`, one line.
    pub fn line(&self) -> String {
        let mut s = format!("{}: {}", self.name, self.found);
        if !self.fix.is_empty() {
            s.push_str(": ");
            s.push_str(&self.fix);
        }
        s
    }
}

/// The items of one precheck, in `ITEMS` order. Items that depend on something that failed
/// (the tables when the source is unreachable) are left out; the failed item says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub task: String,
    pub may_start: bool,
    pub items: Vec<Item>,
}

impl Report {
    /// Sorts `items` into `ITEMS` order, marks the accepted warnings and decides.
    pub fn new(task: &str, mut items: Vec<Item>, accepted: &[String]) -> Report {
        items.sort_by_key(|i| ITEMS.iter().position(|n| *n == i.name));
        for i in &mut items {
            i.accepted = i.status == Status::Warn && accepted.contains(&i.name);
        }
        Report {
            task: task.to_owned(),
            may_start: !items.iter().any(Item::blocks),
            items,
        }
    }

    /// The one line a refused start prints: every blocking item, and how to accept warnings.
    pub fn refusal(&self) -> Option<String> {
        let blocking: Vec<&Item> = self.items.iter().filter(|i| i.blocks()).collect();
        if blocking.is_empty() {
            return None;
        }
        let lines: Vec<String> = blocking.iter().map(|i| i.line()).collect();
        let warned: Vec<&str> = blocking
            .iter()
            .filter(|i| i.status == Status::Warn)
            .map(|i| i.name.as_str())
            .collect();
        let accept = if warned.is_empty() {
            String::new()
        } else {
            format!(
                " (to start despite the warnings, add precheck.accept_warnings = [{}] to the task file)",
                warned
                    .iter()
                    .map(|w| format!("{w:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Some(format!(
            "precheck refused the start: {}{accept}",
            lines.join("; ")
        ))
    }
}

/// What the precheck is run for, besides the task file.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Slot and publication names that are this task's own (its resumable state).
    pub owned: Owned,
    /// Check the broker too (false for `--sink null`).
    pub broker: bool,
    /// Warnings accepted on the command line, added to the task's own.
    pub accept_warnings: Vec<String>,
    /// `objects.replica_identity = "auto"`: tributary sets a usable identity itself (`run`
    /// also sets it from the task file).
    pub replica_identity_auto: bool,
    /// The task asks for DDL capture (event triggers; `run` also sets it for an incremental
    /// phase).
    pub ddl_capture: bool,
    /// A schema-only task (`run` sets it from the task file): it reads the catalog and creates
    /// nothing, so the items about slots, WAL, replication, publications and replica
    /// identities pass as not needed.
    pub catalog_only: bool,
}

impl Context {
    /// A new task's precheck, with the broker.
    pub fn new_task() -> Context {
        Context {
            broker: true,
            ..Context::default()
        }
    }
}

impl Owned {
    /// What a checkpoint of a first start that did not finish holds: the slot and
    /// publications it planned or created (the next start removes and creates them again).
    pub fn of_checkpoint(cp: &crate::checkpoint::Checkpoint) -> Owned {
        let mut names: Vec<String> = cp
            .planned
            .iter()
            .flat_map(|p| p.source.iter().map(|o| o.name.clone()))
            .collect();
        if let Some(slot) = cp.pg_slot() {
            names.push(slot.slot_name.clone());
            names.extend(slot.publications.iter().cloned());
        }
        Owned::Names(names)
    }
}

/// Runs every item against the task's source and broker: PostgreSQL's, or Oracle's
/// (`oracle::run_oracle` on the thin driver's sessions, in a build with feature `oracle`).
pub async fn run(spec: &TaskSpec, ctx: &Context) -> Report {
    match spec.source.kind {
        SourceKind::Postgres => run_postgres(spec, ctx).await,
        #[cfg(feature = "oracle")]
        SourceKind::Oracle => run_oracle(spec, ctx).await,
        #[cfg(not(feature = "oracle"))]
        SourceKind::Oracle => no_oracle_client(spec, ctx),
    }
}

#[cfg(feature = "oracle")]
async fn run_oracle(spec: &TaskSpec, ctx: &Context) -> Report {
    use crate::source::oracle::session::real::RealConnector;
    match crate::config::OracleConnect::from_spec(&spec.source) {
        Ok(c) => oracle::run_oracle(spec, &RealConnector(c), ctx).await,
        Err(e) => Report::new(
            &spec.name,
            vec![Item::fail(
                "source_connect",
                e.to_string(),
                "fix the task file's [source]",
            )],
            &accepted(spec, ctx),
        ),
    }
}

/// A build without the Oracle client cannot check an Oracle source.
#[cfg(not(feature = "oracle"))]
fn no_oracle_client(spec: &TaskSpec, ctx: &Context) -> Report {
    Report::new(
        &spec.name,
        vec![Item::fail(
            "source_connect",
            "this build of tributary has no Oracle client (cargo feature `oracle`), so the Oracle source cannot be checked",
            "build tributary with --features oracle (cargo build --release --features oracle) and run the precheck again",
        )],
        &accepted(spec, ctx),
    )
}

/// The warnings accepted by the task file and the context.
pub(crate) fn accepted(spec: &TaskSpec, ctx: &Context) -> Vec<String> {
    let mut accepted = spec.precheck.accept_warnings.clone();
    accepted.extend(ctx.accept_warnings.iter().cloned());
    accepted
}

async fn run_postgres(spec: &TaskSpec, ctx: &Context) -> Report {
    let auto = spec.objects.replica_identity == crate::config::ReplicaIdentityMode::Auto;
    // Every incremental task captures DDL through event triggers (`source::postgres::ddl`).
    let ddl = spec
        .migration
        .phases
        .contains(&crate::config::Phase::Incremental);
    let catalog_only = !spec.has_phase(crate::config::Phase::Full) && !ddl;
    let ctx = &Context {
        replica_identity_auto: ctx.replica_identity_auto || auto,
        ddl_capture: ctx.ddl_capture || ddl,
        catalog_only,
        ..ctx.clone()
    };
    let mut items = Vec::new();
    let sized = source::check(spec, ctx, &mut items).await;
    if ctx.broker {
        broker::check(spec, sized, &mut items).await;
    }
    Report::new(&spec.name, items, &accepted(spec, ctx))
}

/// What an item that a schema-only task does not need says.
pub(crate) const NOT_NEEDED: &str =
    "not needed: schema-only task (it reads the catalog and creates nothing on the source)";

/// `1.5 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_blocks_and_a_warning_blocks_unless_accepted() {
        let items = vec![
            Item::pass("wal_level", "logical"),
            Item::warn("max_slot_wal_keep_size", "10GB", "set -1"),
        ];
        let r = Report::new("t", items.clone(), &[]);
        assert!(!r.may_start);
        let line = r.refusal().unwrap();
        assert!(
            line.contains("max_slot_wal_keep_size: 10GB: set -1"),
            "{line}"
        );
        assert!(
            line.contains("accept_warnings = [\"max_slot_wal_keep_size\"]"),
            "{line}"
        );
        let r = Report::new("t", items.clone(), &["max_slot_wal_keep_size".into()]);
        assert!(r.may_start && r.refusal().is_none() && r.items[1].accepted);
        let mut failing = items;
        failing.push(Item::fail("wal_level", "replica", "set logical"));
        let r = Report::new("t", failing, &["wal_level".into()]);
        assert!(!r.may_start, "a failure cannot be accepted");
    }

    #[test]
    fn items_are_listed_in_the_documented_order() {
        let r = Report::new(
            "t",
            vec![
                Item::pass("topics", ""),
                Item::pass("source_connect", ""),
                Item::pass("wal_level", ""),
            ],
            &[],
        );
        let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["source_connect", "wal_level", "topics"]);
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(10 * 1024 * 1024 * 1024), "10.0 GiB");
    }
}
