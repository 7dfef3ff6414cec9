//! The task file's `[precheck]` table: which warnings of the precheck the task accepts, and
//! how long a transaction must run before the precheck reports it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// A transaction open this long delays the slot's creation noticeably and holds WAL: one
/// minute is far past an OLTP transaction and short of a batch job's.
pub const DEFAULT_LONG_TRANSACTION: Duration = Duration::from_secs(60);

/// `[precheck]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrecheckSpec {
    /// Precheck items whose warning does not block the start (item names, e.g.
    /// `"max_slot_wal_keep_size"`). A failed item blocks whatever this says.
    #[serde(default)]
    pub accept_warnings: Vec<String>,
    /// Transactions open longer than this are reported (`long_transactions`).
    #[serde(default = "default_long_transaction", with = "humantime_serde")]
    pub long_transaction: Duration,
}

impl Default for PrecheckSpec {
    fn default() -> Self {
        PrecheckSpec {
            accept_warnings: Vec::new(),
            long_transaction: DEFAULT_LONG_TRANSACTION,
        }
    }
}

const fn default_long_transaction() -> Duration {
    DEFAULT_LONG_TRANSACTION
}

impl PrecheckSpec {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_item_names("precheck.accept_warnings", &self.accept_warnings)?;
        if self.long_transaction.is_zero() {
            return Err(ConfigError::Invalid {
                field: "precheck.long_transaction",
                constraint: "must be longer than 0, e.g. \"1m\"".into(),
            });
        }
        Ok(())
    }
}

/// Every name in `names` is a precheck item's; otherwise the error names the valid ones.
pub fn check_item_names(field: &'static str, names: &[String]) -> Result<(), ConfigError> {
    match names
        .iter()
        .find(|n| !crate::precheck::ITEMS.contains(&n.as_str()))
    {
        Some(n) => Err(ConfigError::Invalid {
            field,
            constraint: format!(
                "{n:?} is not a precheck item: name one of {}",
                crate::precheck::ITEMS.join(", ")
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_items_and_a_zero_threshold_are_refused() {
        check_item_names("f", &["wal_level".into(), "topics".into()]).unwrap();
        let e = check_item_names("f", &["wal_levle".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"wal_levle\" is not a precheck item") && e.contains("wal_level,"),
            "{e}"
        );
        let zero = PrecheckSpec {
            long_transaction: Duration::ZERO,
            ..PrecheckSpec::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("precheck.long_transaction"));
    }
}
