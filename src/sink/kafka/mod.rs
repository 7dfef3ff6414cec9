//! Kafka sink (rdkafka): idempotent producer with ordered delivery tracking.
