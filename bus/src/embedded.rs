//! The embedded bus: a durable, partitioned, offset-addressed log in one redb file, for `callscope up`.
//!
//! One writer thread owns every write (appends, topic creation, commits) and groups what is queued into one
//! fsynced transaction, so a send is acknowledged only once it is on disk, and many concurrent sends share
//! one fsync. Consumers read committed snapshots. Differences from Kafka, by design: a consumer group has at
//! most one live member (one process serves it), and a topic that is written to before it was created is
//! created with the default partition count, as a broker with `auto.create.topics.enable` would.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    Bus, BusError, Consumer, ConsumerEvent, Delivery, Message, Producer, TopicPartition,
    partition_for_key,
};

/// (topic, partition, offset) → encoded record.
const LOG: TableDefinition<'_, (&str, u32, u64), &[u8]> = TableDefinition::new("log");
/// topic → partition count.
const TOPICS: TableDefinition<'_, &str, u32> = TableDefinition::new("topics");
/// (group, topic, partition) → next offset to read.
const COMMITS: TableDefinition<'_, (&str, &str, u32), u64> = TableDefinition::new("commits");

const RECORD_FORMAT: u8 = 1;

/// Settings of the embedded log.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The redb file. Its directory is created if missing.
    pub path: PathBuf,
    /// Partitions of a topic created implicitly by a send or a subscription.
    pub default_partitions: i32,
    /// Sends, commits and topic creations waiting for the writer; more fail with `QueueFull`.
    pub queue_capacity: usize,
    /// Largest key + payload accepted by a send.
    pub max_message_bytes: usize,
    /// Most requests grouped into one transaction (one fsync).
    pub max_batch: usize,
    /// Most messages a consumer reads from disk at a time.
    pub read_batch: usize,
}

impl EmbeddedConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            default_partitions: 8,
            queue_capacity: 10_000,
            max_message_bytes: 1_000_000,
            max_batch: 1_000,
            read_batch: 500,
        }
    }
}

enum Request {
    Append {
        topic: String,
        key: Vec<u8>,
        payload: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
        reply: oneshot::Sender<Result<Delivery, BusError>>,
    },
    EnsureTopic {
        topic: String,
        partitions: i32,
        reply: oneshot::Sender<Result<(), BusError>>,
    },
    Commit {
        group: String,
        offsets: Vec<(TopicPartition, i64)>,
        reply: oneshot::Sender<Result<(), BusError>>,
    },
}

struct Shared {
    db: Arc<Database>,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    appended: watch::Receiver<u64>,
    live_groups: Mutex<HashSet<String>>,
    config: EmbeddedConfig,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has finished what is queued; joining releases the file.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Shared {
    async fn submit(&self, request: Request) -> Result<(), BusError> {
        let sender = self.requests.as_ref().ok_or(BusError::Closed)?;
        sender.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BusError::QueueFull {
                capacity: self.config.queue_capacity,
            },
            mpsc::error::TrySendError::Closed(_) => BusError::Closed,
        })
    }
}

/// The embedded implementation of [`Bus`]. Clones share one open log.
#[derive(Clone)]
pub struct EmbeddedBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBus")
            .field("path", &self.shared.config.path)
            .finish_non_exhaustive()
    }
}

fn storage<E: std::fmt::Display>(error: E) -> BusError {
    BusError::Storage(error.to_string())
}

impl EmbeddedBus {
    /// Opens (or creates) the log at `config.path`. Everything acknowledged before a crash is there.
    pub fn open(config: EmbeddedConfig) -> Result<Self, BusError> {
        if config.queue_capacity == 0 || config.max_batch == 0 || config.read_batch == 0 {
            return Err(BusError::Config(
                "queue_capacity, max_batch and read_batch must be at least 1".to_owned(),
            ));
        }
        if config.default_partitions < 1 {
            return Err(BusError::Config(
                "default_partitions must be at least 1".to_owned(),
            ));
        }
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let db = Arc::new(Database::create(&config.path).map_err(storage)?);
        {
            let txn = db.begin_write().map_err(storage)?;
            txn.open_table(LOG).map_err(storage)?;
            txn.open_table(TOPICS).map_err(storage)?;
            txn.open_table(COMMITS).map_err(storage)?;
            txn.commit().map_err(storage)?;
        }
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let (appended_tx, appended_rx) = watch::channel(0u64);
        let writer = Writer {
            db: Arc::clone(&db),
            next_offsets: HashMap::new(),
            default_partitions: config.default_partitions,
            max_batch: config.max_batch,
            appended: appended_tx,
        };
        let handle = std::thread::Builder::new()
            .name("callscope-log-writer".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(storage)?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                requests: Some(tx),
                writer: Some(handle),
                appended: appended_rx,
                live_groups: Mutex::new(HashSet::new()),
                config,
            }),
        })
    }

    /// The next offset to be written to each partition of `topic` (its high watermark).
    pub fn end_offsets(&self, topic: &str) -> Result<Vec<i64>, BusError> {
        let txn = self.shared.db.begin_read().map_err(storage)?;
        let topics = txn.open_table(TOPICS).map_err(storage)?;
        let log = txn.open_table(LOG).map_err(storage)?;
        let partitions = topics
            .get(topic)
            .map_err(storage)?
            .ok_or_else(|| BusError::UnknownTopic(topic.to_owned()))?
            .value();
        (0..partitions)
            .map(|p| next_offset(&log, topic, p))
            .map(|r| r.and_then(to_i64))
            .collect()
    }
}

fn to_i64(offset: u64) -> Result<i64, BusError> {
    i64::try_from(offset).map_err(storage)
}

fn next_offset(
    log: &impl ReadableTable<(&'static str, u32, u64), &'static [u8]>,
    topic: &str,
    partition: u32,
) -> Result<u64, BusError> {
    let last = log
        .range((topic, partition, 0u64)..=(topic, partition, u64::MAX))
        .map_err(storage)?
        .next_back()
        .transpose()
        .map_err(storage)?;
    Ok(last.map_or(0, |(key, _)| key.value().2 + 1))
}

struct Writer {
    db: Arc<Database>,
    /// (topic, partition) → next offset; loaded from disk the first time a partition is written.
    next_offsets: HashMap<(String, u32), u64>,
    default_partitions: i32,
    max_batch: usize,
    appended: watch::Sender<u64>,
}

/// What a request will be answered once its transaction commits.
enum Outcome {
    Appended(oneshot::Sender<Result<Delivery, BusError>>, Delivery),
    Done(oneshot::Sender<Result<(), BusError>>),
    Failed(Reply, BusError),
}

enum Reply {
    Append(oneshot::Sender<Result<Delivery, BusError>>),
    Unit(oneshot::Sender<Result<(), BusError>>),
}

impl Reply {
    fn send_err(self, error: BusError) {
        match self {
            Reply::Append(tx) => {
                let _ = tx.send(Err(error));
            }
            Reply::Unit(tx) => {
                let _ = tx.send(Err(error));
            }
        }
    }
}

impl Writer {
    fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = requests.blocking_recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.write_batch(&mut batch);
        }
    }

    fn write_batch(&mut self, batch: &mut Vec<Request>) {
        let mut staged_offsets = self.next_offsets.clone();
        let result = self.stage(batch, &mut staged_offsets);
        match result {
            Ok(outcomes) => {
                self.next_offsets = staged_offsets;
                let appended = outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Appended(..) | Outcome::Done(_)));
                for outcome in outcomes {
                    match outcome {
                        Outcome::Appended(tx, delivery) => {
                            let _ = tx.send(Ok(delivery));
                        }
                        Outcome::Done(tx) => {
                            let _ = tx.send(Ok(()));
                        }
                        Outcome::Failed(reply, error) => reply.send_err(error),
                    }
                }
                if appended {
                    self.appended.send_modify(|n| *n += 1);
                }
            }
            Err((replies, error)) => {
                tracing::error!(%error, "embedded log write failed; the batch was not acknowledged");
                for reply in replies {
                    reply.send_err(BusError::Storage(error.to_string()));
                }
            }
        }
    }

    /// Writes the batch in one transaction. On failure nothing of it is visible and every request is
    /// answered with the error.
    #[allow(clippy::type_complexity)]
    fn stage(
        &self,
        batch: &mut Vec<Request>,
        offsets: &mut HashMap<(String, u32), u64>,
    ) -> Result<Vec<Outcome>, (Vec<Reply>, BusError)> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let txn = match self.db.begin_write() {
            Ok(txn) => txn,
            Err(e) => return Err((replies_of(batch.drain(..)), storage(e))),
        };
        let staged: Result<(), BusError> = (|| {
            let mut log = txn.open_table(LOG).map_err(storage)?;
            let mut topics = txn.open_table(TOPICS).map_err(storage)?;
            let mut commits = txn.open_table(COMMITS).map_err(storage)?;
            for request in batch.drain(..) {
                match request {
                    Request::EnsureTopic {
                        topic,
                        partitions,
                        reply,
                    } => {
                        let count = u32::try_from(partitions).unwrap_or(0);
                        if count == 0 {
                            outcomes.push(Outcome::Failed(
                                Reply::Unit(reply),
                                BusError::Config(format!(
                                    "topic {topic:?} needs at least one partition"
                                )),
                            ));
                            continue;
                        }
                        if topics.get(topic.as_str()).map_err(storage)?.is_none() {
                            topics.insert(topic.as_str(), count).map_err(storage)?;
                        }
                        outcomes.push(Outcome::Done(reply));
                    }
                    Request::Append {
                        topic,
                        key,
                        payload,
                        headers,
                        reply,
                    } => {
                        let existing = topics
                            .get(topic.as_str())
                            .map_err(storage)?
                            .map(|v| v.value());
                        let count = match existing {
                            Some(count) => count,
                            None => {
                                let count = u32::try_from(self.default_partitions).unwrap_or(1);
                                topics.insert(topic.as_str(), count).map_err(storage)?;
                                count
                            }
                        };
                        let partition = partition_for_key(&key, i32::try_from(count).unwrap_or(1));
                        let p = u32::try_from(partition).unwrap_or(0);
                        let slot = (topic.clone(), p);
                        let offset = match offsets.get(&slot) {
                            Some(next) => *next,
                            None => next_offset(&log, &topic, p)?,
                        };
                        let record = encode_record(now_ms(), &key, &headers, &payload);
                        log.insert((topic.as_str(), p, offset), record.as_slice())
                            .map_err(storage)?;
                        offsets.insert(slot, offset + 1);
                        outcomes.push(Outcome::Appended(
                            reply,
                            Delivery {
                                partition,
                                offset: to_i64(offset)?,
                            },
                        ));
                    }
                    Request::Commit {
                        group,
                        offsets: to_commit,
                        reply,
                    } => {
                        for (tp, next) in to_commit {
                            let p = u32::try_from(tp.partition).unwrap_or(0);
                            let next = u64::try_from(next).unwrap_or(0);
                            commits
                                .insert((group.as_str(), tp.topic.as_str(), p), next)
                                .map_err(storage)?;
                        }
                        outcomes.push(Outcome::Done(reply));
                    }
                }
            }
            Ok(())
        })();
        let committed = staged.and_then(|()| txn.commit().map_err(storage));
        match committed {
            Ok(()) => Ok(outcomes),
            Err(error) => {
                let replies = outcomes
                    .into_iter()
                    .map(|o| match o {
                        Outcome::Appended(tx, _) => Reply::Append(tx),
                        Outcome::Done(tx) => Reply::Unit(tx),
                        Outcome::Failed(reply, _) => reply,
                    })
                    .chain(replies_of(batch.drain(..)))
                    .collect();
                Err((replies, error))
            }
        }
    }
}

fn replies_of(requests: impl Iterator<Item = Request>) -> Vec<Reply> {
    requests
        .map(|r| match r {
            Request::Append { reply, .. } => Reply::Append(reply),
            Request::EnsureTopic { reply, .. } | Request::Commit { reply, .. } => {
                Reply::Unit(reply)
            }
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `[format u8][timestamp i64][key len u32][key][header count u16]([name len u16][name][value len u32][value])*[payload]`
fn encode_record(
    timestamp_ms: i64,
    key: &[u8],
    headers: &[(String, Vec<u8>)],
    payload: &[u8],
) -> Vec<u8> {
    let headers_len: usize = headers.iter().map(|(n, v)| 6 + n.len() + v.len()).sum();
    let mut out = Vec::with_capacity(1 + 8 + 4 + key.len() + 2 + headers_len + payload.len());
    out.push(RECORD_FORMAT);
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    // Lengths were bounded by `send` (max_message_bytes, header limits), so they fit their fields.
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(
        &u16::try_from(headers.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    for (name, value) in headers {
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(payload);
    out
}

struct RecordParts {
    timestamp_ms: i64,
    key: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    payload: Vec<u8>,
}

/// Reads fields off the front of a record, refusing to read past its end.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BusError> {
        if self.rest.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BusError> {
        self.take(N)?.try_into().map_err(|_| corrupt())
    }
}

fn corrupt() -> BusError {
    BusError::Storage("corrupt record in embedded log".to_owned())
}

fn decode_record(bytes: &[u8]) -> Result<RecordParts, BusError> {
    let mut cursor = Cursor { rest: bytes };
    if cursor.array::<1>()? != [RECORD_FORMAT] {
        return Err(corrupt());
    }
    let timestamp_ms = i64::from_le_bytes(cursor.array()?);
    let key_len = u32::from_le_bytes(cursor.array()?);
    let key = cursor.take(key_len as usize)?.to_vec();
    let count = u16::from_le_bytes(cursor.array()?);
    let mut headers = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let name_len = u16::from_le_bytes(cursor.array()?);
        let name = String::from_utf8(cursor.take(usize::from(name_len))?.to_vec())
            .map_err(|_| corrupt())?;
        let value_len = u32::from_le_bytes(cursor.array()?);
        headers.push((name, cursor.take(value_len as usize)?.to_vec()));
    }
    Ok(RecordParts {
        timestamp_ms,
        key,
        headers,
        payload: cursor.rest.to_vec(),
    })
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), BusError> {
        for (topic, partitions) in topics {
            let (reply, done) = oneshot::channel();
            self.shared
                .submit(Request::EnsureTopic {
                    topic: (*topic).to_owned(),
                    partitions: *partitions,
                    reply,
                })
                .await?;
            done.await.map_err(|_| BusError::Closed)??;
        }
        Ok(())
    }

    fn producer(&self) -> Result<Arc<dyn Producer>, BusError> {
        Ok(Arc::new(EmbeddedProducer {
            shared: Arc::clone(&self.shared),
        }))
    }

    fn consumer(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>, BusError> {
        let mut live = self
            .shared
            .live_groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !live.insert(group.to_owned()) {
            return Err(BusError::GroupBusy {
                group: group.to_owned(),
            });
        }
        drop(live);
        Ok(Box::new(EmbeddedConsumer {
            shared: Arc::clone(&self.shared),
            appended: self.shared.appended.clone(),
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            positions: BTreeMap::new(),
            buffer: VecDeque::new(),
            start: 0,
        }))
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

/// Producer of the embedded log.
pub struct EmbeddedProducer {
    shared: Arc<Shared>,
}

#[async_trait]
impl Producer for EmbeddedProducer {
    async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivery, BusError> {
        let size = key.len() + payload.len();
        let max = self.shared.config.max_message_bytes;
        if size > max
            || headers.len() > usize::from(u16::MAX)
            || headers.iter().any(|(n, _)| n.len() > usize::from(u16::MAX))
        {
            return Err(BusError::TooLarge { size, max });
        }
        let (reply, delivered) = oneshot::channel();
        self.shared
            .submit(Request::Append {
                topic: topic.to_owned(),
                key: key.to_vec(),
                payload: payload.to_vec(),
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
                    .collect(),
                reply,
            })
            .await?;
        delivered.await.map_err(|_| BusError::Closed)?
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), BusError> {
        // Every send waits for its own fsync, so nothing acknowledged is ever pending.
        Ok(())
    }

    async fn ready(&self, _timeout: Duration) -> Result<(), BusError> {
        match &self.shared.requests {
            Some(sender) if !sender.is_closed() => Ok(()),
            _ => Err(BusError::Closed),
        }
    }
}

/// Consumer of the embedded log: owns every partition of its topics.
pub struct EmbeddedConsumer {
    shared: Arc<Shared>,
    appended: watch::Receiver<u64>,
    group: String,
    topics: Vec<String>,
    /// Owned partitions → next offset to read.
    positions: BTreeMap<TopicPartition, i64>,
    buffer: VecDeque<Message>,
    /// Rotates which partition is read first, so one busy partition cannot starve the others.
    start: usize,
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        self.shared
            .live_groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.group);
    }
}

/// What one read of the log found.
struct ReadResult {
    new_partitions: Vec<(TopicPartition, i64)>,
    messages: Vec<Message>,
}

impl EmbeddedConsumer {
    fn read(
        db: &Database,
        group: &str,
        topics: &[String],
        positions: &BTreeMap<TopicPartition, i64>,
        start: usize,
        budget: usize,
    ) -> Result<ReadResult, BusError> {
        let txn = db.begin_read().map_err(storage)?;
        let topic_table = txn.open_table(TOPICS).map_err(storage)?;
        let commits = txn.open_table(COMMITS).map_err(storage)?;
        let log = txn.open_table(LOG).map_err(storage)?;
        let mut new_partitions = Vec::new();
        for topic in topics {
            let Some(count) = topic_table.get(topic.as_str()).map_err(storage)? else {
                continue;
            };
            for p in 0..count.value() {
                let tp = TopicPartition::new(topic.clone(), i32::try_from(p).map_err(storage)?);
                if !positions.contains_key(&tp) {
                    let committed = commits
                        .get((group, topic.as_str(), p))
                        .map_err(storage)?
                        .map_or(0, |v| v.value());
                    new_partitions.push((tp, to_i64(committed)?));
                }
            }
        }
        let mut all: Vec<(TopicPartition, i64)> = positions
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .chain(new_partitions.iter().cloned())
            .collect();
        if !all.is_empty() {
            let shift = start % all.len();
            all.rotate_left(shift);
        }
        let mut messages = Vec::new();
        let per_partition = (budget / all.len().max(1)).max(1);
        for (tp, from) in all {
            let p = u32::try_from(tp.partition).map_err(storage)?;
            let from = u64::try_from(from).unwrap_or(0);
            let range = log
                .range((tp.topic.as_str(), p, from)..=(tp.topic.as_str(), p, u64::MAX))
                .map_err(storage)?;
            for entry in range.take(per_partition) {
                let (key, value) = entry.map_err(storage)?;
                let parts = decode_record(value.value())?;
                messages.push(Message {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: to_i64(key.value().2)?,
                    key: Some(parts.key),
                    payload: parts.payload,
                    timestamp_ms: Some(parts.timestamp_ms),
                    headers: parts.headers,
                });
            }
        }
        Ok(ReadResult {
            new_partitions,
            messages,
        })
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn next(&mut self) -> Result<ConsumerEvent, BusError> {
        loop {
            if let Some(message) = self.buffer.pop_front() {
                self.positions
                    .insert(message.topic_partition(), message.offset + 1);
                return Ok(ConsumerEvent::Message(message));
            }
            // Mark the current write generation as seen before reading, so a write that lands after the
            // read still wakes us.
            self.appended.borrow_and_update();
            let shared = Arc::clone(&self.shared);
            let group = self.group.clone();
            let topics = self.topics.clone();
            let positions = self.positions.clone();
            let start = self.start;
            let budget = self.shared.config.read_batch;
            let result = tokio::task::spawn_blocking(move || {
                Self::read(&shared.db, &group, &topics, &positions, start, budget)
            })
            .await
            .map_err(|_| BusError::Closed)??;
            self.start = self.start.wrapping_add(1);
            if !result.new_partitions.is_empty() {
                let assigned: Vec<TopicPartition> = result
                    .new_partitions
                    .iter()
                    .map(|(tp, _)| tp.clone())
                    .collect();
                self.positions.extend(result.new_partitions);
                // Messages of the new partitions are read again after the assignment is reported.
                return Ok(ConsumerEvent::Assigned(assigned));
            }
            if result.messages.is_empty() {
                if self.appended.changed().await.is_err() {
                    return Err(BusError::Closed);
                }
                continue;
            }
            self.buffer.extend(result.messages);
        }
    }

    async fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<(), BusError> {
        let owned: Vec<(TopicPartition, i64)> = offsets
            .iter()
            .filter(|(tp, _)| self.positions.contains_key(tp))
            .cloned()
            .collect();
        if owned.is_empty() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        self.shared
            .submit(Request::Commit {
                group: self.group.clone(),
                offsets: owned,
                reply,
            })
            .await?;
        done.await.map_err(|_| BusError::Closed)?
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_encoding_round_trips() {
        let headers = vec![
            ("a".to_owned(), b"1".to_vec()),
            ("reason".to_owned(), Vec::new()),
        ];
        let bytes = encode_record(42, b"app/conf", &headers, b"{\"x\":1}");
        let parts = decode_record(&bytes).expect("decodes");
        assert_eq!(parts.timestamp_ms, 42);
        assert_eq!(parts.key, b"app/conf");
        assert_eq!(parts.headers, headers);
        assert_eq!(parts.payload, b"{\"x\":1}");
    }

    #[test]
    fn truncated_records_are_refused_not_panicked_on() {
        let bytes = encode_record(1, b"k", &[("h".to_owned(), b"v".to_vec())], b"p");
        for cut in 0..bytes.len() - 1 {
            // Cutting inside the header section must fail; cutting the payload only shortens it.
            let _ = decode_record(&bytes[..cut]);
        }
        assert!(decode_record(&[]).is_err());
        assert!(decode_record(&[9]).is_err());
        assert!(decode_record(&bytes[..12]).is_err());
    }
}
