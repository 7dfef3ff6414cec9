//! The Kafka sink's settings from a task's destination section.

use super::TaskError;
use crate::config::{ConfigError, Delivery, TaskSpec};
use crate::sink::kafka::{Acks, KafkaSinkConfig, Transactional};

/// The Kafka sink's settings from the task's destination.
pub fn kafka_config(spec: &TaskSpec) -> Result<KafkaSinkConfig, TaskError> {
    let d = &spec.destination;
    let mut c = KafkaSinkConfig {
        bootstrap_servers: d.bootstrap_servers.clone(),
        ..KafkaSinkConfig::default()
    };
    c.acks = match d.acks.as_deref() {
        None | Some("all") | Some("-1") => Acks::All,
        Some("1") => Acks::One,
        Some("0") => Acks::Zero,
        Some(x) => {
            return Err(ConfigError::not_one_of("destination.acks", x, "all, 1 or 0").into())
        }
    };
    if let Some(v) = &d.compression {
        c.compression = v.clone();
    }
    c.create_topics = d.create_topics.unwrap_or(true);
    if let Some(v) = d.partitions {
        c.partitions = v;
    }
    if let Some(v) = d.replication_factor {
        c.replication_factor = v;
    }
    c.security_protocol = d.security_protocol.clone();
    c.sasl_mechanism = d.sasl_mechanism.clone();
    c.sasl_username = d.sasl_username.clone();
    c.sasl_password = match &d.sasl_password_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            ConfigError::not_one_of(
                "destination.sasl_password_env",
                var,
                "a set environment variable",
            )
        })?),
        None => d.sasl_password.clone(),
    };
    c.ssl_ca_location = d.ssl_ca_location.clone();
    c.ssl_certificate_location = d.ssl_certificate_location.clone();
    c.ssl_key_location = d.ssl_key_location.clone();
    c.properties = d.properties.clone();
    c.message_max_bytes = d.message_max_bytes;
    c.bounds = d.bounds();
    if let Some(v) = d.max_in_flight_records {
        c.max_in_flight_records = v;
    }
    c.validate()?;
    Ok(c)
}

/// The Kafka sink's settings for one shard of one task incarnation: with exactly-once
/// delivery, its transactional id `<cluster id>-<task>-<incarnation>-<shard>`, the same on
/// whichever worker runs the shard (a new owner's producer fences the old one) and never
/// reused by a task created again.
pub fn shard_kafka_config(
    spec: &TaskSpec,
    shard: u32,
    incarnation: &str,
) -> Result<KafkaSinkConfig, TaskError> {
    let mut c = kafka_config(spec)?;
    if spec.destination.delivery == Delivery::ExactlyOnce {
        let cluster = match spec.cluster_id.as_str() {
            "" => DEFAULT_CLUSTER_ID,
            id => id,
        };
        c.transactions = Some(Transactional {
            id: format!("{cluster}-{}-{incarnation}-{shard}", spec.name),
            checkpoint_topic: Transactional::DEFAULT_CHECKPOINT_TOPIC.to_owned(),
            timeout: Transactional::DEFAULT_TIMEOUT,
        });
        c.validate()?;
    }
    Ok(c)
}

/// The cluster id of `tributary run`, and of a worker whose node file names none.
pub const DEFAULT_CLUSTER_ID: &str = "tributary";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exactly_once_shard_is_named_by_cluster_task_incarnation_and_shard() {
        let text = "name = \"shop\"\n[source]\nkind = \"postgres\"\nurl = \"postgres://u@h/db\"\n[destination]\nkind = \"kafka\"\nbootstrap_servers = \"k:9092\"\ndelivery = \"exactly_once\"\n[objects]\ntables = [\"public.t\"]\n";
        let mut spec = TaskSpec::parse(text).unwrap();
        let t = shard_kafka_config(&spec, 3, "ab12cd34")
            .unwrap()
            .transactions
            .unwrap();
        assert_eq!(t.id, "tributary-shop-ab12cd34-3");
        assert_eq!(t.checkpoint_topic, "__tributary_checkpoints");
        spec.cluster_id = "east".into();
        let t = shard_kafka_config(&spec, 0, "ab12cd34")
            .unwrap()
            .transactions
            .unwrap();
        assert_eq!(t.id, "east-shop-ab12cd34-0");
        spec.destination.delivery = Delivery::AtLeastOnce;
        assert!(shard_kafka_config(&spec, 0, "x")
            .unwrap()
            .transactions
            .is_none());
    }
}
