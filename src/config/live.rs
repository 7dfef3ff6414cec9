//! PLACEHOLDER (owned by the PostgreSQL helper's branch, which replaces this file): which
//! settings of a running task may change. Only the throttles, the retry windows and the
//! labels may; everything else shapes slots, publications, topics or records already written.

use super::{ConfigError, TaskSpec};

impl TaskSpec {
    /// Whether `new` differs from `self` only in live-changeable settings
    /// (`migration.snapshot_rows_per_second`, `migration.stream_events_per_second`, `retry.*`,
    /// `labels`); otherwise names the first field that cannot change.
    pub fn check_live_update(&self, new: &TaskSpec) -> Result<(), ConfigError> {
        let (a, b) = (self, new);
        let fixed: [(&'static str, bool); 11] = [
            ("name", a.name == b.name),
            ("source.url", a.source.url == b.source.url),
            ("objects.tables", a.objects.tables == b.objects.tables),
            (
                "objects.replica_identity_full",
                a.objects.replica_identity_full == b.objects.replica_identity_full,
            ),
            (
                "objects.insert_only",
                a.objects.insert_only == b.objects.insert_only,
            ),
            ("migration.phases", a.migration.phases == b.migration.phases),
            ("sharding", a.sharding == b.sharding),
            (
                "destination.bootstrap_servers",
                a.destination.bootstrap_servers == b.destination.bootstrap_servers,
            ),
            (
                "destination.topic",
                a.destination.topic == b.destination.topic,
            ),
            (
                "destination.format",
                a.destination.format == b.destination.format,
            ),
            ("destination.acks", a.destination.acks == b.destination.acks),
        ];
        match fixed.iter().find(|(_, same)| !same) {
            None => Ok(()),
            Some((field, _)) => Err(ConfigError::Invalid {
                field,
                constraint: "cannot change on a running task (only the migration throttles, retry.* and labels can): delete the task and create it again".into(),
            }),
        }
    }
}
