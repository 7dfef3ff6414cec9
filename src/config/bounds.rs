//! What may be in flight to Kafka: `destination.max_in_flight_bytes` bounds the bytes handed to
//! the sink and not yet acknowledged (with `max_in_flight_records`, the count), so memory stays
//! flat for any transaction and row size; `destination.max_value_bytes` is DTS's single-value
//! limit made configurable, checked by the runner before a record is produced.
//!
//! The value limit must not pass the producer's `message.max.bytes` (librdkafka would refuse
//! the record anyway, after the fact): by default it is the smaller of DTS's 256 MiB and that
//! limit, and a larger setting is refused when the task is loaded.

use serde::Deserializer;

use super::{ConfigError, DestinationSpec};

/// `max_in_flight_bytes` by default: 64 MiB, about 100k Debezium records of ~640 bytes, twice
/// `max_in_flight_records`' default worth, so the count bounds small rows and the bytes large
/// ones.
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: u64 = 64 << 20;
/// DTS's single-value limit.
pub const DTS_MAX_VALUE_BYTES: u64 = 256 << 20;
/// librdkafka's `message.max.bytes` when `destination.message_max_bytes` is not set.
pub const LIBRDKAFKA_MESSAGE_MAX_BYTES: u64 = 1_000_000;

/// The bounds a task runs with, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes (keys, values, headers) handed to the sink and not yet acknowledged, past which
    /// the runner waits; one record larger than this goes alone.
    pub max_in_flight_bytes: u64,
    /// The largest value the runner hands to the sink.
    pub max_value_bytes: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
            max_value_bytes: DTS_MAX_VALUE_BYTES.min(LIBRDKAFKA_MESSAGE_MAX_BYTES),
        }
    }
}

impl DestinationSpec {
    /// The producer's `message.max.bytes` as the task sets it.
    pub fn message_max_bytes_in_force(&self) -> u64 {
        self.message_max_bytes
            .map_or(LIBRDKAFKA_MESSAGE_MAX_BYTES, |b| b as u64)
    }

    /// The bounds in force (validated by `validate_bounds`).
    pub fn bounds(&self) -> Bounds {
        let producer = self.message_max_bytes_in_force();
        Bounds {
            max_in_flight_bytes: self
                .max_in_flight_bytes
                .unwrap_or(DEFAULT_MAX_IN_FLIGHT_BYTES),
            max_value_bytes: self
                .max_value_bytes
                .unwrap_or(DTS_MAX_VALUE_BYTES.min(producer)),
        }
    }
}

/// Refuses a zero bound and a value limit the producer would refuse.
pub(super) fn validate_bounds(d: &DestinationSpec) -> Result<(), ConfigError> {
    let invalid = |field, constraint: String| Err(ConfigError::Invalid { field, constraint });
    if d.max_in_flight_bytes == Some(0) {
        return invalid(
            "destination.max_in_flight_bytes",
            "must be more than 0, e.g. \"64MiB\" (the default)".into(),
        );
    }
    let producer = d.message_max_bytes_in_force();
    match d.max_value_bytes {
        Some(0) => invalid(
            "destination.max_value_bytes",
            "must be more than 0, e.g. \"1MiB\"".into(),
        ),
        Some(v) if v > producer => invalid(
            "destination.max_value_bytes",
            format!(
                "{v} is more than the producer's message.max.bytes ({producer}): raise \
                 destination.message_max_bytes to at least {v} (and the topic's \
                 max.message.bytes), or lower destination.max_value_bytes"
            ),
        ),
        _ => Ok(()),
    }
}

/// A size (`"64MiB"` or bytes), as `slot.max_retained_wal` takes.
pub(super) fn de_size_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    super::health::de_size(d).map(Some)
}

#[cfg(test)]
mod tests {
    use crate::config::TaskSpec;

    fn spec(destination: &str) -> Result<TaskSpec, String> {
        let text = format!(
            "name = \"b\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/d\"\n\
             [destination]\nkind = \"kafka\"\nbootstrap_servers = \"k:9092\"\n{destination}\n\
             [objects]\ntables = [\"public.t\"]\n"
        );
        TaskSpec::parse(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_producer_limit_up_to_dts_256_mib() {
        let b = spec("").unwrap().destination.bounds();
        assert_eq!(
            (b.max_in_flight_bytes, b.max_value_bytes),
            (64 << 20, 1_000_000)
        );
        let b = spec("message_max_bytes = 500000000")
            .unwrap()
            .destination
            .bounds();
        assert_eq!(b.max_value_bytes, 256 << 20);
        let b = spec("max_in_flight_bytes = \"8MiB\"\nmax_value_bytes = 2048")
            .unwrap()
            .destination
            .bounds();
        assert_eq!((b.max_in_flight_bytes, b.max_value_bytes), (8 << 20, 2048));
    }

    #[test]
    fn a_value_limit_over_the_producer_limit_is_refused_naming_the_fix() {
        let e = spec("max_value_bytes = \"2MiB\"").unwrap_err();
        assert!(
            e.contains("destination.max_value_bytes")
                && e.contains("2097152 is more than the producer's message.max.bytes (1000000)")
                && e.contains("raise destination.message_max_bytes to at least 2097152")
                && !e.contains('\n'),
            "{e}"
        );
        spec("max_value_bytes = \"2MiB\"\nmessage_max_bytes = 2097152").unwrap();
        let e = spec("max_in_flight_bytes = 0").unwrap_err();
        assert!(
            e.contains("destination.max_in_flight_bytes: must be more than 0"),
            "{e}"
        );
    }
}
