//! Per-shard checkpoints: how far a shard's events are durable in the sink, and what its first
//! start created on the source.
//!
//! A checkpoint is written only from the sink's durable watermark, and the source is told a
//! position (PostgreSQL: standby status `flush`) only after the checkpoint holding it is saved.
//! The store is a trait: `tributary run` keeps checkpoints in sled under `--data-dir`; the
//! cluster keeps them in its replicated state. Saving is fenced by an assignment epoch, so a
//! worker that lost its shard can no longer move the shard's progress.
//!
//! Checkpoints are JSON with a `version`. Version 2 (this one) holds source-agnostic positions
//! and resume tokens; version 1 (PostgreSQL only, written by the first release) is still read
//! and converted (`v1`).

mod memory;
mod sled_store;
mod v1;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use memory::MemoryCheckpointStore;
pub use sled_store::SledCheckpointStore;

use crate::position::{Lsn, ResumeToken, Scn, StreamPosition};

/// Identifies one shard of one task (`tributary run` runs shard `0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShardKey {
    pub task: String,
    pub shard: u32,
}

impl std::fmt::Display for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {}, shard {}", self.task, self.shard)
    }
}

/// A kind of object a source creates on its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    ReplicationSlot,
    Publication,
    /// A table's replica identity as tributary set it (or relies on it), with the one it
    /// replaced: "dropping" it restores the previous one (`objects.replica_identity = "auto"`).
    ReplicaIdentity,
    /// The DDL capture's event trigger (`crate::source::postgres::ddl`).
    EventTrigger,
    /// A function tributary created (`schema.name`, no arguments): the DDL capture's.
    Function,
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectKind::ReplicationSlot => "replication slot",
            ObjectKind::Publication => "publication",
            ObjectKind::ReplicaIdentity => "replica identity",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::Function => "function",
        })
    }
}

/// One named object on the source server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    pub kind: ObjectKind,
    pub name: String,
}

/// A replica identity tributary set (or relies on) on a table, and the one it replaced
/// (`objects.replica_identity = "auto"`), kept as an `ObjectKind::ReplicaIdentity` object whose
/// name is this record as JSON. Identities are written `default`, `nothing`, `full` or
/// `index:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub schema: String,
    pub table: String,
    pub previous: String,
    pub set: String,
}

impl IdentityRecord {
    pub fn object(&self) -> SourceObject {
        SourceObject {
            kind: ObjectKind::ReplicaIdentity,
            name: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// The record an object holds, if it is one.
    pub fn of(o: &SourceObject) -> Option<IdentityRecord> {
        (o.kind == ObjectKind::ReplicaIdentity)
            .then(|| serde_json::from_str(&o.name).ok())
            .flatten()
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// A first start planned again (after an interrupted one) keeps the replica identity records
/// of the earlier plan: the earlier one saw the identities before tributary changed them.
pub fn keep_earlier_identities(plan: &mut Vec<SourceObject>, earlier: &[SourceObject]) {
    for old in earlier.iter().filter_map(IdentityRecord::of) {
        let same = |o: &SourceObject| {
            IdentityRecord::of(o).is_some_and(|r| r.schema == old.schema && r.table == old.table)
        };
        match plan.iter_mut().find(|o| same(o)) {
            Some(o) => *o = old.object(),
            None => plan.push(old.object()),
        }
    }
}

/// What a first start will create, recorded durably before anything is created, so that a
/// process killed at any moment leaves nothing the next start (or `release`) cannot find.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedObjects {
    pub source: Vec<SourceObject>,
    /// Topics that did not exist before the first start: it creates them.
    pub topics: Vec<String>,
}

/// The replication slot a PostgreSQL checkpoint belongs to. A checkpoint is only valid with
/// the same slot on the same server: a slot that is gone, belongs to another system or moved
/// past the checkpoint is detected instead of papered over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgSlotIdentity {
    pub slot_name: String,
    pub publications: Vec<String>,
    /// `IDENTIFY_SYSTEM`'s systemid.
    pub system_id: String,
    pub database: String,
    /// The output plugin (`pgoutput`).
    pub plugin: String,
    /// The slot's consistent point (the snapshot LSN of the first start).
    pub consistent_point: Lsn,
    /// The server timeline the stream last started on (`IDENTIFY_SYSTEM`): a resume on
    /// another one checks that the checkpoint lies before the point where they forked
    /// (`source::postgres::timeline`). Unknown in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<u32>,
}

/// The Oracle database a checkpoint belongs to and the SCNs its first start fixed. LogMiner
/// keeps nothing on the server, so this is all a resume verifies (the same DBID) and needs
/// (the snapshot SCN, the SCN mining started at).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleIdentity {
    /// `V$DATABASE.DBID`.
    pub dbid: u64,
    pub database: String,
    /// The SCN S the snapshot reads `AS OF`: transactions committing after it are streamed.
    pub snapshot_scn: Scn,
    /// Where mining starts when no stream position is durable yet: the oldest start SCN of
    /// the transactions open at S, else S.
    pub mining_start: Scn,
}

/// What a first start created on the source, as its server identifies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceIdentity {
    Postgres(PgSlotIdentity),
    Oracle(OracleIdentity),
}

/// How far the snapshot of one table got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableProgress {
    /// Not read yet.
    Pending,
    /// Cut while being read: `rows` rows (in read order) are durable.
    Partial { rows: u64 },
    /// Read in key-range chunks: every row up to key `after` (a row-constructor literal) is
    /// durable, `rows` in all; the read resumes after it.
    Chunked { after: String, rows: u64 },
    /// Every row is durable.
    Done { rows: u64 },
}

/// The requests in `asked` (table → latest request's number) newer than those `taken`.
pub fn rereads_due(
    taken: &BTreeMap<String, u64>,
    asked: &BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    asked
        .iter()
        .filter(|(t, n)| taken.get(*t).is_none_or(|k| k < *n))
        .map(|(t, n)| (t.clone(), *n))
        .collect()
}

/// A shard's durable progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version of this record (`VERSION` when written by this release).
    pub version: u16,
    /// A random id fixed when the task is first created here; part of the slot name, so a task
    /// deleted and created again never reuses a stale slot.
    pub incarnation: String,
    /// The assignment epoch of the worker that wrote it; a store refuses older epochs.
    #[serde(default)]
    pub epoch: u64,
    /// The sink kind whose acknowledgements this progress records (`kafka`, `null`): a run
    /// with another sink must not confirm positions on this checkpoint's slot.
    #[serde(default)]
    pub sink: Option<String>,
    /// The task's object selection at the first start (tables, per-table options), to refuse
    /// a changed selection instead of silently ignoring it.
    #[serde(default)]
    pub selection: Option<Vec<String>>,
    /// What the first start creates, recorded before it creates it.
    #[serde(default)]
    pub planned: Option<PlannedObjects>,
    /// What the first start created, once created.
    #[serde(default)]
    pub source: Option<SourceIdentity>,
    /// Every topic the task writes to (those of tables that appear later included).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Each topic's partition count when the task first wrote to it (recorded at the first
    /// start, or when a topic is first prepared): a later change is refused, since hashing keys
    /// over another count would move them (`crate::topic::check_partitions`).
    #[serde(default)]
    pub topic_partitions: BTreeMap<String, i32>,
    /// The first start completed its set-up: later errors are retried.
    pub started: bool,
    /// Per table (`schema.table`): snapshot progress.
    pub tables: BTreeMap<String, TableProgress>,
    /// The last stream event that is durable: events at or before it are skipped on resume.
    pub stream: Option<StreamPosition>,
    /// What the source may be told is no longer needed, and resumes from.
    pub resume: Option<ResumeToken>,
    /// The task finished (a full-only task after its snapshot).
    pub completed: bool,
    /// The schema phase's definitions are durable in the sink: a restart does not publish
    /// them again.
    #[serde(default)]
    pub schema_done: bool,
    /// Events made durable so far.
    pub event_count: u64,
    /// The format's stream message sequence after the last durable stream event (Canal JSON
    /// and DTS Avro `id`): restored at start so that a replay regenerates the same ids.
    #[serde(default)]
    pub sequence: u64,
    /// Requests to read a table again (`ctl task resnapshot`) that this progress took in, each
    /// table with its latest request's number (`TaskSpec::rereads`): a newer one is still to do.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rereads: BTreeMap<String, u64>,
    /// Exactly-once: how many Kafka transactions committed progress, this one's included. The
    /// copy committed to Kafka with a higher count is newer than this one (a crash fell between
    /// the commit and the save) and is taken at the next start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commits: u64,
    /// The chunked snapshot's groups read so far: a snapshot lane's committed range numbered
    /// higher belongs to a group this progress does not hold yet (exactly-once,
    /// `crate::source::SnapshotLanes::settle`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chunk_groups: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Checkpoint {
    pub const VERSION: u16 = 2;

    pub fn new(incarnation: String) -> Checkpoint {
        Checkpoint {
            version: Self::VERSION,
            incarnation,
            epoch: 0,
            sink: None,
            selection: None,
            planned: None,
            source: None,
            topics: Vec::new(),
            topic_partitions: BTreeMap::new(),
            started: false,
            tables: BTreeMap::new(),
            stream: None,
            resume: None,
            completed: false,
            schema_done: false,
            event_count: 0,
            sequence: 0,
            rereads: BTreeMap::new(),
            commits: 0,
            chunk_groups: 0,
        }
    }

    /// The requests of `spec` to read a table again that this progress has not taken in.
    pub fn rereads_due(&self, spec: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
        rereads_due(&self.rereads, spec)
    }

    /// Takes in requests to read tables again: each table named is unread from here on
    /// (`tables`, those the source still captures), and every request is recorded as taken.
    pub fn take_rereads(&mut self, requests: &[(String, u64)], tables: &[String]) {
        for t in tables {
            self.tables.insert(t.clone(), TableProgress::Pending);
        }
        for (t, n) in requests {
            let taken = self.rereads.entry(t.clone()).or_insert(0);
            *taken = (*taken).max(*n);
        }
    }

    /// Whether `next` would move progress backward: stream position or resume token.
    pub fn is_regressed_by(&self, next: &Checkpoint) -> bool {
        next.stream < self.stream || next.resume < self.resume
    }

    /// The PostgreSQL slot this checkpoint belongs to, if any.
    pub fn pg_slot(&self) -> Option<&PgSlotIdentity> {
        match &self.source {
            Some(SourceIdentity::Postgres(s)) => Some(s),
            _ => None,
        }
    }

    /// The Oracle database and SCNs this checkpoint belongs to, if any.
    pub fn oracle(&self) -> Option<&OracleIdentity> {
        match &self.source {
            Some(SourceIdentity::Oracle(o)) => Some(o),
            _ => None,
        }
    }

    /// Every object on the source this checkpoint knows of: what the first start planned and
    /// what it recorded as created.
    pub fn source_objects(&self) -> Vec<SourceObject> {
        let mut all: Vec<SourceObject> = self
            .planned
            .as_ref()
            .map(|p| p.source.clone())
            .unwrap_or_default();
        let recorded = match &self.source {
            Some(SourceIdentity::Postgres(id)) => {
                let mut v = vec![SourceObject {
                    kind: ObjectKind::ReplicationSlot,
                    name: id.slot_name.clone(),
                }];
                v.extend(id.publications.iter().map(|p| SourceObject {
                    kind: ObjectKind::Publication,
                    name: p.clone(),
                }));
                v
            }
            Some(SourceIdentity::Oracle(_)) | None => Vec::new(),
        };
        for o in recorded {
            if !all.contains(&o) {
                all.push(o);
            }
        }
        all
    }

    /// The replica identities this checkpoint records (`IdentityRecord`).
    pub fn identity_records(&self) -> Vec<IdentityRecord> {
        self.source_objects()
            .iter()
            .filter_map(IdentityRecord::of)
            .collect()
    }

    /// The server and database its source objects live on, once created.
    pub fn source_scope(&self) -> Option<(&str, &str)> {
        self.pg_slot()
            .map(|s| (s.system_id.as_str(), s.database.as_str()))
    }

    /// What a started task keeps on its source while it is stopped, for error messages.
    pub fn retained(&self) -> Option<String> {
        if !self.started || self.completed {
            return None;
        }
        self.pg_slot().map(|s| {
            format!(
                "replication slot {} keeps WAL on the server until the task resumes",
                s.slot_name
            )
        })
    }

    /// The JSON form stores write.
    pub fn encode(&self) -> Vec<u8> {
        // A checkpoint holds only strings, numbers, maps and enums: it always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads any version this release understands.
    pub fn decode(key: &ShardKey, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            task: key.task.clone(),
            shard: key.shard,
            reason,
        };
        #[derive(Deserialize)]
        struct Version {
            version: u16,
        }
        let v: Version = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        match v.version {
            1 => v1::decode(bytes).map_err(|e| corrupt(e.to_string())),
            Self::VERSION => serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string())),
            other => Err(corrupt(format!(
                "version {other} is newer than this tributary understands ({})",
                Self::VERSION
            ))),
        }
    }
}

/// The checkpoint store failed or refused a write.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint storage failed: {0}")]
    Storage(String),
    #[error("checkpoint for task {task}, shard {shard} is unreadable ({reason}): was it written by a newer tributary?")]
    Corrupt {
        task: String,
        shard: u32,
        reason: String,
    },
    #[error(
        "checkpoint for task {task}, shard {shard} would move backward: refused (this is a bug)"
    )]
    Regression { task: String, shard: u32 },
    #[error("task {task}, shard {shard} is now assigned at epoch {current}, so this worker (epoch {epoch}) may no longer save its progress: it stops the shard")]
    Fenced {
        task: String,
        shard: u32,
        epoch: u64,
        current: u64,
    },
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
}

/// Where checkpoints live.
///
/// Contract:
/// - `save` resolves only once the checkpoint is durable (fsynced, or committed by the
///   replicated state). It refuses a checkpoint whose stream position or resume token is
///   behind the stored one of the same incarnation (`Regression`), and one whose `epoch` is
///   older than the stored one (`Fenced`: the shard was assigned elsewhere since).
/// - `load` returns the last saved checkpoint, converted to the current version.
/// - Calls for different keys are independent; one store serves many shards and tasks.
pub trait CheckpointStore: Send + Sync {
    fn load<'a>(
        &'a self,
        key: &'a ShardKey,
    ) -> BoxFuture<'a, Result<Option<Checkpoint>, CheckpointError>>;
    fn save<'a>(
        &'a self,
        key: &'a ShardKey,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;
    fn delete<'a>(&'a self, key: &'a ShardKey) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Every checkpoint the store holds: what deletion reads to find other tasks' records of
    /// the same helper objects (a replica identity two tasks rely on). A store that cannot
    /// list returns none.
    fn all(&self) -> BoxFuture<'_, Result<Vec<(ShardKey, Checkpoint)>, CheckpointError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The check every store makes before it replaces `old` with `next`.
pub fn check_replace(
    key: &ShardKey,
    old: Option<&Checkpoint>,
    next: &Checkpoint,
) -> Result<(), CheckpointError> {
    let Some(old) = old else { return Ok(()) };
    if next.epoch < old.epoch {
        return Err(CheckpointError::Fenced {
            task: key.task.clone(),
            shard: key.shard,
            epoch: next.epoch,
            current: old.epoch,
        });
    }
    if old.incarnation == next.incarnation && old.is_regressed_by(next) {
        return Err(CheckpointError::Regression {
            task: key.task.clone(),
            shard: key.shard,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ShardKey {
        ShardKey {
            task: "shop".into(),
            shard: 0,
        }
    }

    #[test]
    fn older_epochs_are_fenced_and_progress_never_moves_backward() {
        let mut old = Checkpoint::new("a".into());
        old.epoch = 3;
        old.stream = Some(StreamPosition::pg(Lsn(100), 2));
        let mut next = old.clone();
        next.epoch = 2;
        assert!(matches!(
            check_replace(&key(), Some(&old), &next),
            Err(CheckpointError::Fenced {
                epoch: 2,
                current: 3,
                ..
            })
        ));
        next.epoch = 4;
        next.stream = Some(StreamPosition::pg(Lsn(100), 1));
        assert!(matches!(
            check_replace(&key(), Some(&old), &next),
            Err(CheckpointError::Regression { .. })
        ));
        next.incarnation = "b".into();
        assert!(check_replace(&key(), Some(&old), &next).is_ok());
    }

    #[test]
    fn a_new_plan_keeps_the_identities_an_interrupted_start_recorded() {
        let record = |table: &str, previous: &str, set: &str| IdentityRecord {
            schema: "public".into(),
            table: table.into(),
            previous: previous.into(),
            set: set.into(),
        };
        let slot = SourceObject {
            kind: ObjectKind::ReplicationSlot,
            name: "s".into(),
        };
        let earlier = vec![slot.clone(), record("a", "default", "full").object()];
        // The second plan sees `a` as the first start left it, and a new table `b`.
        let mut plan = vec![
            slot.clone(),
            record("a", "full", "full").object(),
            record("b", "default", "full").object(),
        ];
        keep_earlier_identities(&mut plan, &earlier);
        let records: Vec<IdentityRecord> = plan.iter().filter_map(IdentityRecord::of).collect();
        assert_eq!(
            records,
            [
                record("a", "default", "full"),
                record("b", "default", "full")
            ]
        );
        assert_eq!(plan[0], slot);
    }

    #[test]
    fn encode_decode_round_trips_and_refuses_newer_versions() {
        let mut cp = Checkpoint::new("abc".into());
        cp.stream = Some(StreamPosition::pg(Lsn(7), 1));
        cp.resume = Some(ResumeToken::Pg {
            confirmed_lsn: Lsn(9),
        });
        cp.planned = Some(PlannedObjects {
            source: vec![SourceObject {
                kind: ObjectKind::ReplicationSlot,
                name: "s".into(),
            }],
            topics: vec!["t".into()],
        });
        cp.topic_partitions.insert("t".into(), 3);
        assert_eq!(Checkpoint::decode(&key(), &cp.encode()).unwrap(), cp);
        // A checkpoint of a release that recorded no partition counts reads as none recorded.
        let older = String::from_utf8(cp.encode())
            .unwrap()
            .replace(",\"topic_partitions\":{\"t\":3}", "");
        assert!(!older.contains("topic_partitions"), "{older}");
        let read = Checkpoint::decode(&key(), older.as_bytes()).unwrap();
        assert!(read.topic_partitions.is_empty());
        let newer = String::from_utf8(cp.encode())
            .unwrap()
            .replace("\"version\":2", "\"version\":9");
        let e = Checkpoint::decode(&key(), newer.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("version 9"), "{e}");
    }
}
