//! A sink that discards records and acknowledges them at once: the measuring sink of the
//! benchmark, which shows what the source and format cost without a broker.

use std::future::Future;

use super::{Record, Sink, SinkError, TopicPlan};

/// Counts what it is given and acknowledges everything immediately.
#[derive(Debug, Default)]
pub struct NullSink {
    next_seq: u64,
    pub records: u64,
    pub bytes: u64,
}

impl Sink for NullSink {
    fn kind(&self) -> &'static str {
        "null"
    }

    async fn prepare_topics(&mut self, _topics: &[TopicPlan]) -> Result<Vec<String>, SinkError> {
        Ok(Vec::new())
    }

    async fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> Result<std::collections::HashMap<String, i32>, SinkError> {
        // One partition each: there is no broker to ask.
        Ok(topics.iter().map(|t| (t.clone(), 1)).collect())
    }

    async fn missing_topics(&mut self, _topics: &[String]) -> Result<Vec<String>, SinkError> {
        Ok(Vec::new())
    }

    async fn delete_topics(&mut self, _topics: &[String]) -> Result<(), SinkError> {
        Ok(())
    }

    async fn send(&mut self, record: &Record<'_>, seq: u64) -> Result<(), SinkError> {
        self.records += 1;
        self.bytes +=
            record.value.map_or(0, |v| v.len()) as u64 + record.key.map_or(0, |k| k.len()) as u64;
        self.next_seq = seq + 1;
        Ok(())
    }

    fn durable_watermark(&self) -> u64 {
        self.next_seq
    }

    fn check(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn progressed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
