//! Which settings of a running task may change without restarting it: the rate limits
//! (`throttle.*` and their `migration.*` aliases), the retry windows and the labels. Anything
//! else (source, selection, sink, format, sharding...) is baked into the shard's slot,
//! publications, topics or checkpoint.

use super::{ConfigError, TaskSpec};

/// Paths (dotted, as in the task file) that an update may change on a running task. A path
/// ending in `.` covers everything under it.
const LIVE: [&str; 6] = [
    "throttle.",
    "migration.snapshot_rows_per_second",
    "migration.stream_events_per_second",
    "retry.",
    "labels.",
    "precheck.",
];

impl TaskSpec {
    /// The spec this shard of the task runs with: `tables` replaces `objects.tables`; the
    /// per-table options (`replica_identity_full`, `insert_only`) stay as they are, since they
    /// are selectors applied only where they match.
    pub fn for_shard(&self, tables: &[String]) -> TaskSpec {
        let mut spec = self.clone();
        spec.objects.tables = tables.to_vec();
        spec
    }

    /// Checks that `new` differs from this spec only in what may change on a running task;
    /// otherwise names the first field that differs.
    pub fn check_live_update(&self, new: &TaskSpec) -> Result<(), ConfigError> {
        if self == new {
            return Ok(());
        }
        let (old, new) = match (serde_json::to_value(self), serde_json::to_value(new)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(frozen("the task".into())),
        };
        match first_difference("", &old, &new) {
            Some(path) => Err(frozen(path)),
            None => Ok(()),
        }
    }
}

/// The task file `spec_toml` with `added` appended to `objects.tables`, everything else
/// (comments, order, secrets by reference) kept as written.
pub fn with_added_tables(spec_toml: &str, added: &[String]) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = spec_toml
        .parse()
        .map_err(|e| format!("the stored task file no longer parses: {e}"))?;
    let tables = doc
        .get_mut("objects")
        .and_then(|o| o.get_mut("tables"))
        .and_then(|t| t.as_array_mut())
        .ok_or("the stored task file has no objects.tables array")?;
    for t in added {
        tables.push(t.as_str());
    }
    Ok(doc.to_string())
}

fn frozen(path: String) -> ConfigError {
    ConfigError::Frozen { field: path }
}

fn is_live(path: &str) -> bool {
    LIVE.iter().any(|l| match l.strip_suffix('.') {
        Some(section) => path == section || path.starts_with(l),
        None => path == *l,
    })
}

/// The first dotted path (in key order) where `a` and `b` differ outside the live settings.
fn first_difference(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    if is_live(path) {
        return None;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let none = Value::Null;
                first_difference(&sub, x.get(k).unwrap_or(&none), y.get(k).unwrap_or(&none))
            })
        }
        _ => (a != b).then(|| path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "shop"
[source]
kind = "postgres"
url = "postgres://user@127.0.0.1:5432/shop"
[destination]
kind = "kafka"
bootstrap_servers = "127.0.0.1:9092"
[objects]
tables = ["public.orders", "inventory.*"]
insert_only = ["public.log"]
[migration]
snapshot_rows_per_second = 100
[labels]
team = "a"
"#;

    fn spec(extra: &str) -> TaskSpec {
        TaskSpec::parse(&format!("{BASE}{extra}")).unwrap()
    }

    #[test]
    fn rates_retry_windows_and_labels_may_change_on_a_running_task() {
        let old = spec("");
        let new = TaskSpec::parse(
            &BASE
                .replace(
                    "snapshot_rows_per_second = 100",
                    "stream_events_per_second = 5",
                )
                .replace("team = \"a\"", "team = \"b\"\nowner = \"c\""),
        )
        .unwrap();
        let new = TaskSpec {
            retry: crate::config::RetrySpec {
                other_window: std::time::Duration::from_secs(60),
                ..new.retry.clone()
            },
            ..new
        };
        old.check_live_update(&new).unwrap();
        old.check_live_update(&old.clone()).unwrap();
    }

    #[test]
    fn every_throttle_may_change_on_a_running_task() {
        let old = spec("[throttle.full]\nmb_per_second = 1\n");
        for extra in [
            "",
            "[throttle.full]\nrows_per_second = 100\nsource_qps = 3\nmb_per_second = 0.5\n",
            "[throttle.incremental]\nrows_per_second = 7\nmb_per_second = 2\n",
        ] {
            old.check_live_update(&spec(extra)).unwrap();
        }
    }

    #[test]
    fn anything_else_is_refused_naming_the_first_field_that_differs() {
        let old = spec("");
        for (from, to, field) in [
            (
                "127.0.0.1:9092",
                "127.0.0.1:9093",
                "destination.bootstrap_servers",
            ),
            ("\"inventory.*\"", "\"sales.*\"", "objects.tables"),
            (
                "[migration]",
                "[migration]\ncheckpoint_interval = \"2s\"",
                "migration.checkpoint_interval",
            ),
            (
                "name = \"shop\"",
                "name = \"shop\"\nsharding = \"table\"",
                "sharding",
            ),
            (
                "[destination]",
                "status_interval = \"1s\"\n[destination]",
                "source.status_interval",
            ),
        ] {
            let new = TaskSpec::parse(&BASE.replace(from, to)).unwrap();
            let e = old.check_live_update(&new).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
            assert!(e.contains("delete"), "{e}");
        }
    }

    #[test]
    fn a_shard_spec_selects_its_tables_and_keeps_the_per_table_options() {
        let s = spec("");
        let shard = s.for_shard(&["inventory.*".to_owned()]);
        assert_eq!(shard.objects.tables, vec!["inventory.*"]);
        assert_eq!(shard.objects.insert_only, s.objects.insert_only);
        assert_eq!(shard.name, s.name);
    }

    #[test]
    fn added_tables_join_the_file_as_written() {
        let text = format!("# the shop\n{BASE}");
        let new = with_added_tables(&text, &["public.b".into(), "sales.*".into()]).unwrap();
        assert!(new.starts_with("# the shop\n"), "{new}");
        let spec = TaskSpec::parse(&new).unwrap();
        let old = TaskSpec::parse(&text).unwrap();
        let mut want = old.objects.tables.clone();
        want.extend(["public.b".to_string(), "sales.*".to_string()]);
        assert_eq!(spec.objects.tables, want);
        assert_eq!(spec.for_shard(&old.objects.tables), old);
        assert!(with_added_tables("name = 1", &["public.b".into()]).is_err());
    }
}
