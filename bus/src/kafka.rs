//! The Kafka bus, through rdkafka (librdkafka).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::{Bus, BusError, Consumer, ConsumerEvent, Delivery, Message, Producer, TopicPartition};

/// Kafka connection and client settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`
    pub brokers: String,
    pub client_id: String,
    /// Most messages in the producer queue before a send fails with `QueueFull` (librdkafka
    /// `queue.buffering.max.messages`).
    pub producer_queue_messages: usize,
    /// How long librdkafka keeps trying to deliver a message before the send fails (`message.timeout.ms`).
    pub delivery_timeout: Duration,
    /// Largest message accepted by `send`; must not exceed the broker's `message.max.bytes`.
    pub max_message_bytes: usize,
    /// How long a silent consumer keeps its partitions (`session.timeout.ms`).
    pub session_timeout: Duration,
    /// Replication factor for topics created by `ensure_topics`.
    pub replication_factor: i32,
    /// Extra librdkafka properties (security settings, for example), applied last.
    pub extra: Vec<(String, String)>,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: "callscope".to_owned(),
            producer_queue_messages: 100_000,
            delivery_timeout: Duration::from_secs(30),
            max_message_bytes: 1_000_000,
            session_timeout: Duration::from_secs(10),
            replication_factor: 1,
            extra: Vec::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        config
    }

    fn apply_extra(&self, config: &mut ClientConfig) {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
    }
}

/// Error codes after which retrying the same request cannot succeed.
pub(crate) fn is_fatal_code(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fatal
            | RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidConfig
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::UnsupportedVersion
    )
}

/// The Kafka implementation of [`Bus`].
#[derive(Debug, Clone)]
pub struct KafkaBus {
    config: KafkaConfig,
}

impl KafkaBus {
    pub fn new(config: KafkaConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// A client that reads the end offsets (high watermarks) of topics, for consumer lag. It
    /// joins no group and reads no message; create it once and keep it, each call reuses its
    /// broker connections. Its calls block (up to `timeout` per partition): run them on a
    /// blocking thread.
    pub fn watermarks(&self, timeout: Duration) -> Result<KafkaWatermarks, BusError> {
        let mut config = self.config.base();
        config.set("enable.partition.eof", "false");
        self.config.apply_extra(&mut config);
        Ok(KafkaWatermarks {
            client: Arc::new(config.create()?),
            timeout,
        })
    }
}

/// Reads high watermarks: see [`KafkaBus::watermarks`].
#[derive(Clone)]
pub struct KafkaWatermarks {
    client: Arc<BaseConsumer>,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaWatermarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaWatermarks")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KafkaWatermarks {
    /// The end offset (high watermark: the offset the next message will get) of every
    /// partition of `topic`, indexed by partition id, as `EmbeddedBus::end_offsets` gives them.
    /// Blocks: metadata, then one `ListOffsets` request per partition, each within the timeout.
    pub fn end_offsets(&self, topic: &str) -> Result<Vec<i64>, BusError> {
        let metadata = self.client.fetch_metadata(Some(topic), self.timeout)?;
        let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(BusError::UnknownTopic(topic.to_owned()));
        };
        if let Some(error) = meta.error() {
            let code = RDKafkaErrorCode::from(error);
            if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                return Err(BusError::UnknownTopic(topic.to_owned()));
            }
            return Err(BusError::Kafka(KafkaError::MetadataFetch(code)));
        }
        let count = meta
            .partitions()
            .iter()
            .filter_map(|p| usize::try_from(p.id()).ok())
            .map(|id| id + 1)
            .max()
            .unwrap_or(0);
        let mut ends = vec![0; count];
        for partition in meta.partitions() {
            let (_low, high) = self
                .client
                .fetch_watermarks(topic, partition.id(), self.timeout)?;
            if let Some(slot) = usize::try_from(partition.id())
                .ok()
                .and_then(|i| ends.get_mut(i))
            {
                *slot = high.max(0);
            }
        }
        Ok(ends)
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), BusError> {
        let mut config = self.config.base();
        self.config.apply_extra(&mut config);
        let admin: AdminClient<DefaultClientContext> = config.create()?;
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| {
                NewTopic::new(
                    name,
                    *partitions,
                    TopicReplication::Fixed(self.config.replication_factor),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics(new_topics.iter(), &options).await?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, "kafka topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Kafka(KafkaError::AdminOp(code))).inspect_err(|_| {
                        tracing::error!(topic = %name, error = %code, "kafka topic creation failed");
                    });
                }
            }
        }
        Ok(())
    }

    fn producer(&self) -> Result<Arc<dyn Producer>, BusError> {
        Ok(Arc::new(KafkaProducer::new(&self.config)?))
    }

    fn consumer(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(KafkaConsumer::new(&self.config, group, topics)?))
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}

/// An idempotent producer with `acks=all`: a send completes when every in-sync replica has the message.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: FutureProducer,
    capacity: usize,
    max_message_bytes: usize,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    pub fn new(config: &KafkaConfig) -> Result<Self, BusError> {
        if config.producer_queue_messages == 0 {
            return Err(BusError::Config(
                "producer_queue_messages must be at least 1".to_owned(),
            ));
        }
        let mut client = config.base();
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set(
                "queue.buffering.max.messages",
                config.producer_queue_messages.to_string(),
            )
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .set("message.max.bytes", config.max_message_bytes.to_string())
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        config.apply_extra(&mut client);
        Ok(Self {
            inner: client.create()?,
            capacity: config.producer_queue_messages,
            max_message_bytes: config.max_message_bytes,
        })
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivery, BusError> {
        let size = key.len() + payload.len();
        if size > self.max_message_bytes {
            return Err(BusError::TooLarge {
                size,
                max: self.max_message_bytes,
            });
        }
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                owned = owned.insert(Header {
                    key: name,
                    value: Some(*value),
                });
            }
            record = record.headers(owned);
        }
        // `send_result` enqueues without waiting for room: a full queue is reported to the caller at once.
        let pending = match self.inner.send_result(record) {
            Ok(pending) => pending,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(BusError::QueueFull {
                    capacity: self.capacity,
                });
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {
                return Err(BusError::TooLarge {
                    size,
                    max: self.max_message_bytes,
                });
            }
            Err((error, _)) => return Err(error.into()),
        };
        match pending.await {
            Ok(Ok(delivery)) => Ok(Delivery {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((KafkaError::MessageProduction(code), _))) if !is_fatal_code(code) => {
                Err(BusError::NotAcknowledged(code.to_string()))
            }
            Ok(Err((error, _))) => Err(error.into()),
            Err(_canceled) => Err(BusError::Closed),
        }
    }

    async fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush(timeout))
            .await
            .map_err(|_| BusError::Closed)??;
        Ok(())
    }

    async fn ready(&self, timeout: Duration) -> Result<(), BusError> {
        let inner = self.inner.clone();
        let metadata =
            tokio::task::spawn_blocking(move || inner.client().fetch_metadata(None, timeout))
                .await
                .map_err(|_| BusError::Closed)??;
        if metadata.brokers().is_empty() {
            return Err(BusError::NotAcknowledged(
                "no broker in cluster metadata".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Forwards rebalances from librdkafka's callbacks to [`KafkaConsumer::next`].
struct RebalanceContext {
    events: mpsc::UnboundedSender<ConsumerEvent>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            // A send fails only when the consumer is gone, and then nobody is left to tell.
            let _ = self
                .events
                .send(ConsumerEvent::Revoked(partitions_of(list)));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let _ = self
                    .events
                    .send(ConsumerEvent::Assigned(partitions_of(list)));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(%error, "kafka rebalance failed"),
        }
    }
}

fn partitions_of(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

/// A consumer in a group that never commits on its own: only [`Consumer::commit`] moves its offsets.
pub struct KafkaConsumer {
    inner: Arc<StreamConsumer<RebalanceContext>>,
    events: mpsc::UnboundedReceiver<ConsumerEvent>,
    /// Messages read while an assignment change was still to be reported; they follow it.
    held: VecDeque<Message>,
    assignment: BTreeSet<TopicPartition>,
    group: String,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group)
            .field("assignment", &self.assignment)
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    pub fn new(config: &KafkaConfig, group: &str, topics: &[&str]) -> Result<Self, BusError> {
        let mut client = config.base();
        client
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (config.session_timeout.as_millis() / 3)
                    .max(100)
                    .to_string(),
            );
        config.apply_extra(&mut client);
        let (tx, rx) = mpsc::unbounded_channel();
        let inner: StreamConsumer<RebalanceContext> =
            client.create_with_context(RebalanceContext { events: tx })?;
        inner.subscribe(topics)?;
        Ok(Self {
            inner: Arc::new(inner),
            events: rx,
            held: VecDeque::new(),
            assignment: BTreeSet::new(),
            group: group.to_owned(),
        })
    }

    fn apply(&mut self, event: &ConsumerEvent) {
        match event {
            ConsumerEvent::Assigned(list) => {
                tracing::info!(group = %self.group, partitions = ?list, "kafka partitions assigned");
                self.assignment.extend(list.iter().cloned());
            }
            ConsumerEvent::Revoked(list) => {
                tracing::info!(group = %self.group, partitions = ?list, "kafka partitions revoked");
                for tp in list {
                    self.assignment.remove(tp);
                }
                self.held.retain(|m| !list.contains(&m.topic_partition()));
            }
            ConsumerEvent::Message(_) => {}
        }
    }
}

fn owned(message: &BorrowedMessage<'_>) -> Message {
    Message {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis(),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn next(&mut self) -> Result<ConsumerEvent, BusError> {
        loop {
            if let Ok(event) = self.events.try_recv() {
                self.apply(&event);
                return Ok(event);
            }
            if let Some(message) = self.held.pop_front() {
                return Ok(ConsumerEvent::Message(message));
            }
            let inner = Arc::clone(&self.inner);
            tokio::select! {
                biased;
                event = self.events.recv() => {
                    let event = event.ok_or(BusError::Closed)?;
                    self.apply(&event);
                    return Ok(event);
                }
                received = inner.recv() => {
                    let message = owned(&received?);
                    // Rebalance callbacks run inside `recv`: report them before the messages that follow.
                    self.held.push_back(message);
                }
            }
        }
    }

    async fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<(), BusError> {
        let mut list = TopicPartitionList::new();
        for (tp, next_offset) in offsets {
            if !self.assignment.contains(tp) {
                tracing::debug!(partition = %tp, "commit skipped: partition no longer owned");
                continue;
            }
            list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next_offset))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.commit(&list, CommitMode::Sync))
            .await
            .map_err(|_| BusError::Closed)??;
        Ok(())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.iter().cloned().collect()
    }
}
