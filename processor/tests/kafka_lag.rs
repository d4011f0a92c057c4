//! The consumer lag gauge on a real Apache Kafka broker. `scripts/test` starts one and exports
//! `KAFKA_BROKERS`; without it this test fails and says so, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_bus::{
    Bus, BusError, Consumer, ConsumerEvent, DEAD_LETTER_TOPIC, Message, Producer, TopicPartition,
};
use callscope_processor::checkpoint::Checkpoint;
use callscope_processor::writer::Store;
use callscope_processor::{Metrics, ProcessorConfig};
use callscope_schemas::{Envelope, Origin, Payload, encode_record};
use common::wait_for;
use serde_json::json;
use tokio::sync::watch;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test (it starts a real broker), or export KAFKA_BROKERS=host:port")
    })
}

fn kafka() -> KafkaBus {
    let mut config = KafkaConfig::new(brokers());
    config.session_timeout = Duration::from_secs(6);
    KafkaBus::new(config)
}

/// A bus whose consumers hand out assignment changes at once but hold every message until the
/// gate opens: the processor owns its partitions and makes no progress on them.
struct GatedBus {
    inner: KafkaBus,
    gate: watch::Receiver<bool>,
}

#[async_trait]
impl Bus for GatedBus {
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), BusError> {
        self.inner.ensure_topics(topics).await
    }
    fn producer(&self) -> Result<Arc<dyn Producer>, BusError> {
        self.inner.producer()
    }
    fn consumer(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(GatedConsumer {
            inner: self.inner.consumer(group, topics)?,
            gate: self.gate.clone(),
            held: None,
        }))
    }
    fn name(&self) -> &'static str {
        "kafka"
    }
}

struct GatedConsumer {
    inner: Box<dyn Consumer>,
    gate: watch::Receiver<bool>,
    held: Option<Message>,
}

#[async_trait]
impl Consumer for GatedConsumer {
    // Cancel-safe, as the processor needs: a message read from Kafka is kept in `held` until
    // it is returned, and waiting on the gate loses nothing.
    async fn next(&mut self) -> Result<ConsumerEvent, BusError> {
        loop {
            if self.held.is_some() {
                self.gate
                    .wait_for(|open| *open)
                    .await
                    .map_err(|_| BusError::Closed)?;
                if let Some(message) = self.held.take() {
                    return Ok(ConsumerEvent::Message(message));
                }
            }
            match self.inner.next().await? {
                ConsumerEvent::Message(m) => self.held = Some(m),
                other => return Ok(other),
            }
        }
    }
    async fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<(), BusError> {
        self.inner.commit(offsets).await
    }
    fn assignment(&self) -> Vec<TopicPartition> {
        self.inner.assignment()
    }
}

/// The lag gauge of `partition`, `None` while the processor has never set it.
fn lag_of(metrics: &Metrics, partition: &str) -> Option<i64> {
    metrics
        .registry()
        .gather()
        .iter()
        .filter(|f| f.name() == "callscope_processor_consumer_lag_messages")
        .flat_map(|f| f.get_metric().iter())
        .find(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "partition" && l.value() == partition)
        })
        .map(|m| m.get_gauge().get_value() as i64)
}

/// An envelope that opens no conference segment (`user_alive`): one events row, nothing open.
fn alive(i: i64) -> Vec<Envelope> {
    let payload: Payload =
        serde_json::from_value(json!({"kind": "user_alive", "data": {}})).unwrap();
    vec![Envelope::new(
        "740123",
        "conf-lag",
        1_700_000_000_000 + i * 1000,
        Origin::Rest,
        payload,
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_consumer_lag_is_the_unread_messages_then_zero() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let topic = format!("test.lag.{}-{nanos}", std::process::id());
    let bus = kafka();
    bus.ensure_topics(&[(topic.as_str(), 1), (DEAD_LETTER_TOPIC, 1)])
        .await
        .unwrap();

    // 25 records on the topic's one partition, before any consumer exists.
    const N: i64 = 25;
    let producer = bus.producer().unwrap();
    for i in 0..N {
        let record = encode_record(&alive(i)).unwrap();
        let delivery = producer
            .send(&topic, b"740123/conf-lag", &record, &[])
            .await
            .unwrap();
        assert_eq!((delivery.partition, delivery.offset), (0, i));
    }
    let watermarks = bus.watermarks(Duration::from_secs(5)).unwrap();
    assert_eq!(watermarks.end_offsets(&topic).unwrap(), vec![N]);

    let out = tempfile::tempdir().unwrap();
    let config = ProcessorConfig {
        output: out.path().to_string_lossy().into_owned(),
        topic: topic.clone(),
        consumer_group: format!("{topic}.group"),
        flush_interval_ms: 100,
        ..ProcessorConfig::default()
    };
    let (open_gate, gate) = watch::channel(false);
    let gated: Arc<dyn Bus> = Arc::new(GatedBus {
        inner: bus.clone(),
        gate,
    });
    let metrics = Metrics::new().unwrap();
    let (stop, shutdown) = watch::channel(false);
    let end_offsets: callscope_processor::EndOffsets =
        Arc::new(move |topic: &str| watermarks.end_offsets(topic));
    let task = tokio::spawn(callscope_processor::run_with_lag(
        gated,
        Some(end_offsets),
        config,
        metrics.clone(),
        shutdown,
    ));

    // The partition is assigned, nothing is read: end offset 25 − position 0 (no commit yet).
    wait_for(60, "the lag gauge of partition 0 to be set", || async {
        lag_of(&metrics, "0").is_some()
    })
    .await;
    assert_eq!(lag_of(&metrics, "0"), Some(N));
    assert_eq!(metrics.messages.get(), 0);

    // Once the 25 records are processed and durable, end offset 25 − position 25.
    open_gate.send(true).unwrap();
    let store = Store::Local {
        root: out.path().to_path_buf(),
    };
    wait_for(60, "offset 24 to be flushed", || async {
        Checkpoint::load(&store, &topic, 0)
            .await
            .unwrap()
            .flushed_through_offset
            == Some(N - 1)
    })
    .await;
    wait_for(30, "the lag gauge to drop to 0", || async {
        lag_of(&metrics, "0") == Some(0)
    })
    .await;
    assert_eq!(metrics.messages.get(), 25);
    assert_eq!(
        metrics.rows_written.with_label_values(&["events"]).get(),
        25
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("processor did not stop")
        .unwrap()
        .unwrap();
}
