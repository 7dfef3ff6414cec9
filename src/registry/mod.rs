//! The Confluent Schema Registry client, for DTS Avro with `[destination.schema_registry]`.
//!
//! With a registry, a DTS Avro message value is framed the Confluent way (magic byte 0, then the
//! schema id as 4 big-endian bytes, then the datum), and the schema must be registered under the
//! topic's `<topic>-value` subject before the topic's first message (FORMATS.md part A, "DTS
//! Avro"). DTS Avro has one fixed schema, the `Record` type of `spec/avro/Record.avsc`, not one
//! per table, so [`register_record_schema`] registers that one schema under every mapped topic
//! and returns its one id:
//!
//! ```text
//!  for each <topic>-value:   POST /subjects/{s}                     already there? → its id
//!                            └ 404 40403 (subject holds others)
//!                              POST /compatibility/subjects/{s}/versions/latest → not compatible? → error
//!                            POST /subjects/{s}/versions            → {"id": N}
//!  every subject gives the same N (a registry's ids are global), else an error
//! ```
//!
//! Errors are classified where the HTTP status is known ([`RegistryError::class`]): an unreachable
//! registry or a 5xx answer is transient (the task retries), refused credentials, an incompatible
//! subject or a rejected schema are definite and name the setting or the subject to fix.
//!
//! The API is Confluent's (<https://docs.confluent.io/platform/current/schema-registry/develop/api.html>).
//! No registry server can be installed on the project's machines, so the tests serve recorded
//! Confluent API exchanges from a small in-test HTTP(S) server (`tests/`).

mod client;
mod connect;
mod error;
mod record;
#[cfg(test)]
mod tests;

pub use client::{Compatibility, Lookup, RegistryClient};
pub use connect::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};
pub use error::RegistryError;
pub use record::RECORD_SCHEMA;

use crate::config::SchemaRegistrySpec;

/// The subject a topic's message values are registered under (Confluent's default
/// `TopicNameStrategy`).
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// Registers the DTS Avro `Record` schema ([`RECORD_SCHEMA`]) under `<topic>-value` for each
/// topic, checking the subject's compatibility first where the subject already holds other
/// schemas, and returns the schema's id. A topic named twice is registered once.
///
/// Contract: on `Ok(id)`, every topic's subject holds the schema under that one id, so every
/// message of the task can carry it. Safe to call again (after a restart or a retry): a schema
/// already registered is looked up, not registered twice. Errors: see [`RegistryError::class`].
pub async fn register_record_schema(
    spec: &SchemaRegistrySpec,
    topics: &[String],
) -> Result<u32, RegistryError> {
    let client = RegistryClient::new(spec)?;
    let mut first: Option<(u32, String)> = None;
    let mut done: Vec<&str> = Vec::with_capacity(topics.len());
    for topic in topics {
        if done.contains(&topic.as_str()) {
            continue;
        }
        done.push(topic);
        let subject = value_subject(topic);
        let id = client.ensure_registered(&subject, RECORD_SCHEMA).await?;
        match &first {
            None => first = Some((id, subject)),
            Some((first_id, first_subject)) if *first_id != id => {
                return Err(RegistryError::IdMismatch {
                    first: *first_id,
                    first_subject: first_subject.clone(),
                    other: id,
                    other_subject: subject,
                });
            }
            Some(_) => {}
        }
    }
    first.map(|(id, _)| id).ok_or(RegistryError::NoTopic)
}
