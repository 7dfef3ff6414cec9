//! Topic checks, creation and deletion before streaming starts.
//!
//! Metadata is always fetched for all topics (never for one named topic), so that asking about
//! a missing topic can never auto-create it on a broker with `auto.create.topics.enable`.
//! librdkafka's metadata call blocks, so it runs on tokio's blocking pool, bounded by the
//! configured request timeout.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;

use super::config::KafkaSinkConfig;
use super::error::metadata_error;
use super::producer::{Shared, TracingContext};
use crate::sink::{SinkError, TopicPlan};

/// How often `wait_visible` asks again for a created topic.
const VISIBLE_POLL: Duration = Duration::from_millis(100);

/// Partition counts by topic name, as the cluster's metadata shows them.
type TopicPartitions = HashMap<String, usize>;

/// The admin side of the sink: metadata, create, delete.
pub(crate) struct TopicAdmin {
    client: Arc<AdminClient<TracingContext>>,
    /// The producer's shared state, for a refused login or TLS handshake it saw.
    shared: Arc<Shared>,
    servers: String,
    timeout: Duration,
    create: bool,
    /// Partitions of a created topic whose plan names none.
    partitions: i32,
    replication_factor: i32,
}

impl TopicAdmin {
    pub(crate) fn new(config: &KafkaSinkConfig, shared: Arc<Shared>) -> Result<Self, SinkError> {
        let client = AdminClient::from_config_and_context(&config.client_config(), TracingContext)
            .map_err(SinkError::Client)?;
        Ok(TopicAdmin {
            client: Arc::new(client),
            shared,
            servers: config.bootstrap_servers.clone(),
            timeout: config.request_timeout,
            create: config.create_topics,
            partitions: config.partitions,
            replication_factor: config.replication_factor,
        })
    }

    /// Those of `topics` that do not exist (nothing is created).
    pub(crate) async fn missing(&self, topics: &[String]) -> Result<Vec<String>, SinkError> {
        let existing = self.topics().await?;
        Ok(unique(topics)
            .filter(|t| !existing.contains_key(*t))
            .map(str::to_owned)
            .collect())
    }

    /// Makes sure `topics` exist, creating a missing one with its plan's partition count (else
    /// the sink's); returns those this call created.
    pub(crate) async fn prepare(&self, topics: &[TopicPlan]) -> Result<Vec<String>, SinkError> {
        let existing = self.topics().await?;
        let mut seen = HashSet::new();
        let missing: Vec<(&str, i32)> = topics
            .iter()
            .filter(|t| seen.insert(t.name.as_str()))
            .filter(|t| !existing.contains_key(&t.name))
            .map(|t| (t.name.as_str(), t.partitions.unwrap_or(self.partitions)))
            .collect();
        for t in topics {
            let (Some(want), Some(have)) = (t.partitions, existing.get(&t.name)) else {
                continue;
            };
            if usize::try_from(want).ok() != Some(*have) {
                tracing::warn!(topic = %t.name, partitions = have, configured = want, "the topic exists with another partition count than the task file gives: the existing count is used");
            }
        }
        let Some(&(first, partitions)) = missing.first() else {
            return Ok(Vec::new());
        };
        if !self.create {
            return Err(SinkError::MissingTopic {
                topic: first.to_owned(),
                partitions,
            });
        }
        let created = self.create(&missing).await?;
        let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
        self.wait_visible(&names).await?;
        Ok(created)
    }

    /// Deletes `topics`; topics already gone are not an error.
    pub(crate) async fn delete(&self, topics: &[String]) -> Result<(), SinkError> {
        if topics.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = unique(topics).collect();
        let results = self
            .client
            .delete_topics(&names, &self.options())
            .await
            .map_err(SinkError::Client)?;
        for result in results {
            check_result(result, "delete", RDKafkaErrorCode::UnknownTopicOrPartition)?;
        }
        Ok(())
    }

    /// Creates `missing` (name, partitions); a topic someone else created meanwhile is fine
    /// but not ours.
    async fn create(&self, missing: &[(&str, i32)]) -> Result<Vec<String>, SinkError> {
        let new_topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|(name, partitions)| {
                NewTopic::new(
                    name,
                    *partitions,
                    TopicReplication::Fixed(self.replication_factor),
                )
            })
            .collect();
        let results = self
            .client
            .create_topics(&new_topics, &self.options())
            .await
            .map_err(SinkError::Client)?;
        let mut created = Vec::new();
        for result in results {
            if let Some(name) =
                check_result(result, "create", RDKafkaErrorCode::TopicAlreadyExists)?
            {
                let partitions = missing.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
                tracing::info!(topic = %name, partitions, "created Kafka topic");
                created.push(name);
            }
        }
        Ok(created)
    }

    /// Creates the compacted one-partition `topic` (exactly-once delivery's checkpoint topic)
    /// unless it exists.
    pub(crate) async fn ensure_compacted(&self, topic: &str) -> Result<(), SinkError> {
        if self.missing(&[topic.to_owned()]).await?.is_empty() {
            return Ok(());
        }
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(self.replication_factor))
            .set("cleanup.policy", "compact");
        let results = self
            .client
            .create_topics(&[new], &self.options())
            .await
            .map_err(SinkError::Client)?;
        for result in results {
            check_result(result, "create", RDKafkaErrorCode::TopicAlreadyExists)?;
        }
        tracing::info!(%topic, "created the compacted checkpoint topic");
        self.wait_visible(&[topic]).await
    }

    /// Polls metadata until every topic shows partitions, within the request timeout.
    async fn wait_visible(&self, topics: &[&str]) -> Result<(), SinkError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let existing = self.topics().await?;
            let pending = topics
                .iter()
                .find(|t| existing.get(**t).is_none_or(|p| *p == 0));
            let Some(pending) = pending else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(SinkError::TopicAdmin {
                    topic: (*pending).to_owned(),
                    action: "see the created",
                    code: RDKafkaErrorCode::UnknownTopicOrPartition,
                });
            }
            tokio::time::sleep(VISIBLE_POLL).await;
        }
    }

    /// All topics the cluster reports without error, with their partition counts.
    pub(crate) async fn topics(&self) -> Result<TopicPartitions, SinkError> {
        let client = Arc::clone(&self.client);
        let timeout = self.timeout;
        let fetched = tokio::task::spawn_blocking(move || {
            let metadata = client.inner().fetch_metadata(None, timeout)?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_owned(), t.partitions().len()))
                .collect())
        })
        .await
        .map_err(|join| SinkError::Config(format!("metadata task failed: {join}")))?;
        fetched.map_err(|e| metadata_error(e, &self.servers, self.shared.refusal()))
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
    }
}

/// The topic name on success, `None` for the tolerated code, the error otherwise.
fn check_result(
    result: TopicResult,
    action: &'static str,
    tolerated: RDKafkaErrorCode,
) -> Result<Option<String>, SinkError> {
    match result {
        Ok(name) => Ok(Some(name)),
        Err((_, code)) if code == tolerated => Ok(None),
        Err((topic, code)) => Err(SinkError::TopicAdmin {
            topic,
            action,
            code,
        }),
    }
}

/// The names in `topics`, each once, in first-seen order.
fn unique(topics: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = std::collections::HashSet::new();
    topics
        .iter()
        .map(String::as_str)
        .filter(move |t| seen.insert(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keeps_first_seen_order() {
        let topics: Vec<String> = ["b", "a", "b", "c", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(unique(&topics).collect::<Vec<_>>(), ["b", "a", "c"]);
    }

    #[test]
    fn tolerated_codes_are_not_errors() {
        let ok = check_result(
            Err(("t".into(), RDKafkaErrorCode::TopicAlreadyExists)),
            "create",
            RDKafkaErrorCode::TopicAlreadyExists,
        );
        assert_eq!(ok.unwrap(), None);
        let err = check_result(
            Err(("t".into(), RDKafkaErrorCode::TopicAuthorizationFailed)),
            "create",
            RDKafkaErrorCode::TopicAlreadyExists,
        );
        assert!(matches!(
            err,
            Err(SinkError::TopicAdmin {
                action: "create",
                ..
            })
        ));
    }
}
