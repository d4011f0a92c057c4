//! The callscope message bus: one interface, two implementations.
//!
//! - [`kafka::KafkaBus`]: Apache Kafka through rdkafka, for clusters.
//! - [`embedded::EmbeddedBus`]: a durable on-disk log (redb) for `callscope up` on one machine.
//!
//! Both give the same guarantees, written down in `docs/bus.md` and checked by one conformance suite
//! (`bus/tests/conformance`):
//! - a send completes only once the write is durable (Kafka: acknowledged by all in-sync replicas with an
//!   idempotent producer; embedded: fsynced), and a full producer queue is an error, never unbounded memory;
//! - messages with one key land in one partition and are read in the order they were acknowledged;
//! - a consumer commits only the offsets it is told are durable downstream; after a crash it resumes from the
//!   last commit, so everything not committed is delivered again (at least once);
//! - a message the consumer cannot decode goes to the dead-letter topic with the reason, and the partition
//!   moves on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod dead_letter;
pub mod embedded;
pub mod kafka;

pub use dead_letter::{DEAD_LETTER_REASON_HEADER, DeadLetter};

/// The topic every accepted event and stats sample is written to, keyed by `appID/conferenceID`.
pub const INGEST_TOPIC: &str = "callscope.ingest.v1";
/// Where consumers put the messages they could not decode, with the reason in a header.
pub const DEAD_LETTER_TOPIC: &str = "callscope.ingest.v1.dlq";

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Where an acknowledged message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// A message as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Broker (or log) append time, unix milliseconds.
    pub timestamp_ms: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }

    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// What a consumer sees: messages, and changes to the partitions it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    Message(Message),
    /// These partitions are now read by this consumer, from their committed offsets.
    Assigned(Vec<TopicPartition>),
    /// These partitions were taken away (a rebalance): state built from them that is not durable yet must be
    /// dropped; the new owner reads again from the last commit.
    Revoked(Vec<TopicPartition>),
}

/// Errors of the bus. `is_retriable` tells a caller (ingest answering 503, a consumer loop) whether trying
/// again later can succeed.
#[must_use]
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("producer queue is full ({capacity} messages in flight); retry later")]
    QueueFull { capacity: usize },
    #[error("message of {size} bytes exceeds the bus limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("delivery not acknowledged: {0}")]
    NotAcknowledged(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("embedded log storage: {0}")]
    Storage(String),
    #[error("embedded log: consumer group {group:?} already has a live member in this process")]
    GroupBusy { group: String },
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("invalid bus configuration: {0}")]
    Config(String),
    #[error("the bus is shut down")]
    Closed,
}

impl BusError {
    pub fn is_retriable(&self) -> bool {
        match self {
            BusError::QueueFull { .. } | BusError::NotAcknowledged(_) => true,
            BusError::Kafka(e) => e
                .rdkafka_error_code()
                .is_none_or(|code| !kafka::is_fatal_code(code)),
            BusError::Storage(_)
            | BusError::TooLarge { .. }
            | BusError::GroupBusy { .. }
            | BusError::UnknownTopic(_)
            | BusError::Config(_)
            | BusError::Closed => false,
        }
    }
}

/// Writes messages. Implementations are cheap to share (`Arc<dyn Producer>`).
#[async_trait]
pub trait Producer: Send + Sync {
    /// Writes one message and completes only when it is durable. Fails fast with [`BusError::QueueFull`]
    /// when too many sends are in flight, instead of queueing without bound.
    async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivery, BusError>;

    /// Waits until every send in flight is acknowledged or failed.
    async fn flush(&self, timeout: Duration) -> Result<(), BusError>;

    /// Whether the bus can take writes now (Kafka: the cluster answers a metadata request within
    /// `timeout`). Readiness probes use it.
    async fn ready(&self, timeout: Duration) -> Result<(), BusError>;
}

/// Reads the partitions of its topics assigned to it, each in order.
#[async_trait]
pub trait Consumer: Send {
    /// The next message or assignment change. Waits while there is nothing to read.
    async fn next(&mut self) -> Result<ConsumerEvent, BusError>;

    /// Records `next_offset` (the offset of the first message NOT yet durable downstream, as in Kafka) for
    /// each partition. Commits for partitions this consumer no longer owns are skipped: the new owner is
    /// reading them again.
    async fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<(), BusError>;

    /// The partitions this consumer owns now.
    fn assignment(&self) -> Vec<TopicPartition>;
}

/// A message bus: creates topics, producers and consumers.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Creates the topics that do not exist yet, with the given number of partitions.
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), BusError>;
    fn producer(&self) -> Result<Arc<dyn Producer>, BusError>;
    fn consumer(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>, BusError>;
    /// A short name for logs and metrics: `kafka` or `embedded`.
    fn name(&self) -> &'static str;
}

/// The partition for a key: stable across processes and versions, so one conference always lands in one
/// partition of the embedded log.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    // FNV-1a: tiny, deterministic, and good enough to spread `appID/conferenceID` keys.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let n = u32::try_from(partitions.max(1)).unwrap_or(1);
    i32::try_from(hash % n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_key_is_stable_and_in_range() {
        // FNV-1a of "a" is 0xe40c292c, worked out from the algorithm's definition.
        assert_eq!(
            partition_for_key(b"a", 1_000_000_007),
            (0xe40c_292c_u32 % 1_000_000_007) as i32
        );
        for n in 1..20 {
            for k in 0..100u32 {
                let p = partition_for_key(format!("app/{k}").as_bytes(), n);
                assert!((0..n).contains(&p));
            }
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }
}
