//! `[throttle]`: DTS's speed limits of a task, per phase, all changeable on a running task.
//!
//! ```toml
//! [throttle.full]          # the snapshot
//! source_qps = 20          # queries to the source per second (one per table read)
//! rows_per_second = 10000  # snapshot rows
//! mb_per_second = 0.5      # MB (1,000,000 bytes) of encoded records handed to Kafka
//! [throttle.incremental]   # the stream
//! rows_per_second = 5000   # change events
//! mb_per_second = 2
//! ```
//! The older `migration.snapshot_rows_per_second` and `migration.stream_events_per_second`
//! stay accepted as aliases of the two `rows_per_second`. Every limit is the whole task's: a
//! cluster gives each of the task's shards an equal share (`crate::pipeline::throttle`).

use serde::{Deserialize, Serialize};

use super::{ConfigError, MigrationSpec};

/// Bytes in the MB of `mb_per_second` (decimal, as DTS and network rates count).
pub const BYTES_PER_MB: f64 = 1_000_000.0;

/// `[throttle]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    #[serde(default)]
    pub full: FullThrottle,
    #[serde(default)]
    pub incremental: IncrementalThrottle,
}

/// `[throttle.full]`: the snapshot's limits (absent: unlimited).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FullThrottle {
    pub source_qps: Option<i64>,
    pub rows_per_second: Option<i64>,
    pub mb_per_second: Option<f64>,
}

/// `[throttle.incremental]`: the stream's limits (absent: unlimited).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalThrottle {
    pub rows_per_second: Option<i64>,
    pub mb_per_second: Option<f64>,
}

/// The limits in force once aliases are resolved, in units per second (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottleRates {
    pub full_queries: Option<f64>,
    pub full_rows: Option<f64>,
    pub full_bytes: Option<f64>,
    pub incremental_rows: Option<f64>,
    pub incremental_bytes: Option<f64>,
}

impl ThrottleRates {
    /// The limits of `spec` in force.
    pub fn of(spec: &super::TaskSpec) -> ThrottleRates {
        spec.throttle.rates(&spec.migration)
    }

    /// One shard's share when the task runs as `shards` shards: each limit divided evenly
    /// (shards differ in size, but an even split never lets the task exceed its limit).
    pub fn share(self, shards: u64) -> ThrottleRates {
        let n = shards.max(1) as f64;
        let part = |r: Option<f64>| r.map(|r| r / n);
        ThrottleRates {
            full_queries: part(self.full_queries),
            full_rows: part(self.full_rows),
            full_bytes: part(self.full_bytes),
            incremental_rows: part(self.incremental_rows),
            incremental_bytes: part(self.incremental_bytes),
        }
    }
}

impl ThrottleSpec {
    /// The limits in force: the new keys, else their `migration.*` aliases.
    pub fn rates(&self, migration: &MigrationSpec) -> ThrottleRates {
        let rows = |v: Option<i64>, alias: Option<i64>| v.or(alias).map(|r| r as f64);
        let bytes = |mb: Option<f64>| mb.map(|m| m * BYTES_PER_MB);
        ThrottleRates {
            full_queries: self.full.source_qps.map(|q| q as f64),
            full_rows: rows(
                self.full.rows_per_second,
                migration.snapshot_rows_per_second,
            ),
            full_bytes: bytes(self.full.mb_per_second),
            incremental_rows: rows(
                self.incremental.rows_per_second,
                migration.stream_events_per_second,
            ),
            incremental_bytes: bytes(self.incremental.mb_per_second),
        }
    }

    /// Refuses a limit of 0 or less, and an alias that contradicts its new key.
    pub fn validate(&self, migration: &MigrationSpec) -> Result<(), ConfigError> {
        let (f, i) = (&self.full, &self.incremental);
        for (field, v) in [
            ("throttle.full.source_qps", f.source_qps),
            ("throttle.full.rows_per_second", f.rows_per_second),
            ("throttle.incremental.rows_per_second", i.rows_per_second),
            (
                "migration.snapshot_rows_per_second",
                migration.snapshot_rows_per_second,
            ),
            (
                "migration.stream_events_per_second",
                migration.stream_events_per_second,
            ),
        ] {
            positive(field, v.map(|v| v as f64), "a whole number, e.g. 1000")?;
        }
        for (field, v) in [
            ("throttle.full.mb_per_second", f.mb_per_second),
            ("throttle.incremental.mb_per_second", i.mb_per_second),
        ] {
            positive(field, v, "MB (1,000,000 bytes) per second, e.g. 0.5 or 20")?;
        }
        agree(
            "migration.snapshot_rows_per_second",
            migration.snapshot_rows_per_second,
            "throttle.full.rows_per_second",
            f.rows_per_second,
        )?;
        agree(
            "migration.stream_events_per_second",
            migration.stream_events_per_second,
            "throttle.incremental.rows_per_second",
            i.rows_per_second,
        )
    }
}

fn positive(field: &'static str, v: Option<f64>, example: &str) -> Result<(), ConfigError> {
    match v {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(ConfigError::Invalid {
            field,
            constraint: format!(
                "{v} is no limit: give more than 0 ({example}), or leave the key out for no limit"
            ),
        }),
        _ => Ok(()),
    }
}

fn agree(
    alias: &'static str,
    a: Option<i64>,
    key: &'static str,
    k: Option<i64>,
) -> Result<(), ConfigError> {
    match (a, k) {
        (Some(a), Some(k)) if a != k => Err(ConfigError::Invalid {
            field: alias,
            constraint: format!(
                "is an alias of {key}, which says {k} (this says {a}): keep only {key}"
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::TaskSpec;

    const BASE: &str = "name = \"t\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n\
        [destination]\nkind = \"kafka\"\nbootstrap_servers = \"b:9092\"\n[objects]\ntables = [\"public.t\"]\n";

    fn parse(extra: &str) -> Result<TaskSpec, String> {
        TaskSpec::parse(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_limit_parses_in_its_unit_per_second() {
        let t = parse(
            "[throttle.full]\nsource_qps = 20\nrows_per_second = 1000\nmb_per_second = 0.5\n\
             [throttle.incremental]\nrows_per_second = 300\nmb_per_second = 2\n",
        )
        .unwrap();
        let r = t.throttle.rates(&t.migration);
        assert_eq!(r.full_queries, Some(20.0));
        assert_eq!(r.full_rows, Some(1000.0));
        assert_eq!(r.full_bytes, Some(500_000.0));
        assert_eq!(r.incremental_rows, Some(300.0));
        assert_eq!(r.incremental_bytes, Some(2_000_000.0));
        let none = parse("").unwrap();
        assert_eq!(
            none.throttle.rates(&none.migration),
            super::ThrottleRates::default()
        );
    }

    #[test]
    fn the_migration_keys_are_aliases_of_rows_per_second() {
        let t =
            parse("[migration]\nsnapshot_rows_per_second = 70\nstream_events_per_second = 80\n")
                .unwrap();
        let r = t.throttle.rates(&t.migration);
        assert_eq!((r.full_rows, r.incremental_rows), (Some(70.0), Some(80.0)));
        let same = parse(
            "[migration]\nstream_events_per_second = 80\n[throttle.incremental]\nrows_per_second = 80\n",
        )
        .unwrap();
        assert_eq!(
            same.throttle.rates(&same.migration).incremental_rows,
            Some(80.0)
        );
        let e = parse(
            "[migration]\nstream_events_per_second = 80\n[throttle.incremental]\nrows_per_second = 90\n",
        )
        .unwrap_err();
        assert_eq!(e, "invalid task setting migration.stream_events_per_second: is an alias of throttle.incremental.rows_per_second, which says 90 (this says 80): keep only throttle.incremental.rows_per_second");
        let e = parse(
            "[migration]\nsnapshot_rows_per_second = 1\n[throttle.full]\nrows_per_second = 2\n",
        )
        .unwrap_err();
        assert!(e.contains("throttle.full.rows_per_second"), "{e}");
    }

    #[test]
    fn zero_negative_or_unknown_limits_are_refused_in_one_line() {
        for (extra, field) in [
            (
                "[throttle.full]\nrows_per_second = 0\n",
                "throttle.full.rows_per_second",
            ),
            (
                "[throttle.full]\nsource_qps = -3\n",
                "throttle.full.source_qps",
            ),
            (
                "[throttle.incremental]\nmb_per_second = -0.5\n",
                "throttle.incremental.mb_per_second",
            ),
            (
                "[throttle.full]\nmb_per_second = nan\n",
                "throttle.full.mb_per_second",
            ),
            (
                "[migration]\nstream_events_per_second = 0\n",
                "migration.stream_events_per_second",
            ),
            ("[throttle.incremental]\nsource_qps = 5\n", "source_qps"),
            ("[throttle.full]\nrows_per_sec = 5\n", "rows_per_sec"),
            ("[throttle]\nrows_per_second = 5\n", "rows_per_second"),
        ] {
            let e = parse(extra).unwrap_err();
            assert!(e.contains(field) && !e.contains('\n'), "{extra}: {e}");
        }
        let e = parse("[throttle.full]\nrows_per_second = 0\n").unwrap_err();
        assert!(
            e.contains("more than 0") && e.contains("leave the key out"),
            "{e}"
        );
    }
}
