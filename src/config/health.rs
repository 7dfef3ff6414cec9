//! `[heartbeat]` and `[slot]`: the settings that keep a task's replication slot moving and
//! watched (`crate::source::postgres::health`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `slot.max_retained_wal`'s default: 10 GiB.
pub const DEFAULT_MAX_RETAINED_WAL: u64 = 10 << 30;

/// The heartbeat: a transactional logical message written every `interval`, read back from
/// the stream for end-to-end latency; it also moves the slot on an idle database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSpec {
    /// `false` turns the heartbeat off.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for HeartbeatSpec {
    fn default() -> Self {
        HeartbeatSpec {
            enabled: true,
            interval: default_interval(),
        }
    }
}

impl HeartbeatSpec {
    /// The interval when the heartbeat is on (`enabled` and an interval above 0).
    pub fn every(&self) -> Option<Duration> {
        (self.enabled && !self.interval.is_zero()).then_some(self.interval)
    }
}

fn yes() -> bool {
    true
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}

/// Slot safety.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// WAL the slot may retain before a warning (`"10GiB"`, `"512MiB"`, or bytes).
    #[serde(
        default = "default_max_retained_wal",
        deserialize_with = "de_size",
        serialize_with = "ser_size"
    )]
    pub max_retained_wal: u64,
}

impl Default for SlotSpec {
    fn default() -> Self {
        SlotSpec {
            max_retained_wal: DEFAULT_MAX_RETAINED_WAL,
        }
    }
}

fn default_max_retained_wal() -> u64 {
    DEFAULT_MAX_RETAINED_WAL
}

/// Parses `"10GiB"`, `"512 MiB"`, `"64kB"` (powers of 1024, as PostgreSQL's own sizes) or a
/// plain byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as \"10GiB\" or \"512MiB\""))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kb" | "kib" => 10,
        "mb" | "mib" => 20,
        "gb" | "gib" => 30,
        "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeText {
    Bytes(u64),
    Text(String),
}

pub(super) fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match SizeText::deserialize(d)? {
        SizeText::Bytes(n) => Ok(n),
        SizeText::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

fn ser_size<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(*v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1XB").unwrap_err().contains("unknown unit"));
    }
}
