//! Version-1 checkpoints, as the first release wrote them (PostgreSQL only), read and converted
//! to the current version so that a data directory on a user's disk resumes after an upgrade
//! with the same slot and without a new snapshot.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Checkpoint, PgSlotIdentity, SourceIdentity, TableProgress};
use crate::position::{Lsn, ResumeToken, StreamPosition};

#[derive(Deserialize)]
struct CheckpointV1 {
    incarnation: String,
    slot: Option<SlotV1>,
    started: bool,
    tables: BTreeMap<String, TableProgress>,
    stream: Option<StreamV1>,
    confirmed_lsn: Lsn,
    completed: bool,
    event_count: u64,
}

#[derive(Deserialize)]
struct SlotV1 {
    slot_name: String,
    /// Publication names joined by commas.
    publication: String,
    system_id: String,
    database: String,
    consistent_point: Lsn,
}

#[derive(Deserialize)]
struct StreamV1 {
    commit_lsn: Lsn,
    index: u32,
}

/// Converts a version-1 record. Its selection and sink were not recorded: the first start
/// after the upgrade adopts the task file's selection, and the sink counts as Kafka (the only
/// sink a user resumes).
pub(super) fn decode(bytes: &[u8]) -> Result<Checkpoint, serde_json::Error> {
    let v1: CheckpointV1 = serde_json::from_slice(bytes)?;
    let mut cp = Checkpoint::new(v1.incarnation);
    cp.source = v1.slot.map(|s| {
        SourceIdentity::Postgres(PgSlotIdentity {
            slot_name: s.slot_name,
            publications: s
                .publication
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            system_id: s.system_id,
            database: s.database,
            plugin: "pgoutput".into(),
            consistent_point: s.consistent_point,
            timeline: None,
        })
    });
    cp.started = v1.started;
    cp.tables = v1.tables;
    cp.stream = v1.stream.map(|s| StreamPosition::pg(s.commit_lsn, s.index));
    cp.resume = cp.source.is_some().then_some(ResumeToken::Pg {
        confirmed_lsn: v1.confirmed_lsn,
    });
    cp.completed = v1.completed;
    cp.event_count = v1.event_count;
    cp.sequence = 0;
    Ok(cp)
}

/// A checkpoint exactly as the first release's `tributary run` wrote it (taken from its data
/// directory after a SIGTERM mid-stream).
#[cfg(test)]
pub(super) const LANDED_V1: &str = include_str!("../../tests/fixtures/checkpoint-v1.json");

#[cfg(test)]
mod tests {
    use super::super::ShardKey;
    use super::*;

    #[test]
    fn the_first_releases_checkpoint_converts() {
        let key = ShardKey {
            task: "t".into(),
            shard: 0,
        };
        let cp = Checkpoint::decode(&key, LANDED_V1.as_bytes()).unwrap();
        assert_eq!(cp.version, Checkpoint::VERSION);
        let slot = cp.pg_slot().expect("the slot");
        assert!(slot.slot_name.starts_with("tributary_"), "{slot:?}");
        assert_eq!(slot.plugin, "pgoutput");
        assert!(!slot.publications.is_empty());
        assert!(cp.started);
        assert!(cp
            .tables
            .values()
            .all(|t| matches!(t, TableProgress::Done { .. })));
        let Some(ResumeToken::Pg { confirmed_lsn }) = cp.resume else {
            panic!("a PostgreSQL resume token: {cp:?}")
        };
        assert!(confirmed_lsn >= slot.consistent_point);
        assert!(cp.stream.is_some());
        assert_eq!(cp.sink, None);
        assert_eq!(cp.epoch, 0);
    }
}
