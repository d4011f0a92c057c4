//! The bus conformance suite against a real Apache Kafka broker. `scripts/test` starts one and exports
//! `KAFKA_BROKERS`; without it these tests fail and say so, they never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod conformance;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_bus::{Bus, ConsumerEvent};
use conformance::{Harness, WAIT, collect, commit_after};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test (it starts a real broker), or export KAFKA_BROKERS=host:port")
    })
}

fn config() -> KafkaConfig {
    let mut config = KafkaConfig::new(brokers());
    config.session_timeout = Duration::from_secs(6);
    config
}

struct Kafka {
    run: String,
    counter: AtomicUsize,
}

impl Kafka {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            run: format!("{}-{nanos}", std::process::id()),
            counter: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Harness for Kafka {
    async fn open(&self) -> Arc<dyn Bus> {
        Arc::new(KafkaBus::new(config()))
    }

    async fn open_with_queue(&self, capacity: usize) -> Arc<dyn Bus> {
        let mut config = config();
        config.producer_queue_messages = capacity;
        Arc::new(KafkaBus::new(config))
    }

    fn unique(&self, name: &str) -> String {
        format!(
            "test.{name}.{}.{}",
            self.run,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ordering_per_key() {
    conformance::ordering_per_key(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_redelivery_after_crash_before_commit() {
    conformance::redelivery_after_crash_before_commit(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_resume_from_committed_offset_after_restart() {
    conformance::resume_from_committed_offset_after_restart(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_poison_message_goes_to_dead_letter() {
    conformance::poison_message_goes_to_dead_letter(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_producer_backpressure_is_an_error() {
    conformance::producer_backpressure_is_an_error(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_acknowledged_sends_survive_restart() {
    conformance::acknowledged_sends_survive_restart(&Kafka::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_oversized_message_is_refused() {
    conformance::oversized_message_is_refused(&Kafka::new()).await;
}

/// When a second member joins, partitions move: the first member is told what it lost, each partition is
/// read by one member afterwards, and every message sent after the join is read (at least once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_rebalance_hands_partitions_over() {
    let h = Kafka::new();
    let bus = h.open().await;
    let topic = h.unique("rebalance");
    let group = h.unique("rebalance-group");
    bus.ensure_topics(&[(&topic, 2)]).await.expect("topic");
    let producer = bus.producer().expect("producer");
    let mut a = bus.consumer(&group, &[&topic]).expect("a");
    // Wait until `a` owns both partitions.
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.assignment().len() < 2 {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => panic!("a never got both partitions: {:?}", a.assignment()),
            event = a.next() => { event.expect("a"); }
        }
    }
    let mut b = bus.consumer(&group, &[&topic]).expect("b");
    // Both must poll for the group to rebalance; run until each owns one partition.
    let (a, b) = tokio::join!(
        async move {
            let mut revoked = false;
            let deadline = tokio::time::Instant::now() + WAIT;
            while !(revoked && a.assignment().len() == 1) {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => panic!("a was never revoked: {:?}", a.assignment()),
                    event = a.next() => if let ConsumerEvent::Revoked(_) = event.expect("a") { revoked = true; }
                }
            }
            a
        },
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            while b.assignment().len() != 1 {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => panic!("b never got a partition: {:?}", b.assignment()),
                    event = b.next() => { event.expect("b"); }
                }
            }
            b
        }
    );
    let (mut a, mut b) = (a, b);
    let owned_a = a.assignment();
    let owned_b = b.assignment();
    assert_ne!(owned_a, owned_b);
    // Keys chosen so both partitions receive messages.
    let mut sent = BTreeSet::new();
    for i in 0..40 {
        let d = producer
            .send(
                &topic,
                format!("key-{i}").as_bytes(),
                format!("{i}").as_bytes(),
                &[],
            )
            .await
            .expect("send");
        sent.insert((d.partition, i));
    }
    let for_a = sent
        .iter()
        .filter(|(p, _)| owned_a[0].partition == *p)
        .count();
    let for_b = sent.len() - for_a;
    assert!(
        for_a > 0 && for_b > 0,
        "40 keys should reach both partitions"
    );
    let (got_a, got_b) = tokio::join!(collect(a.as_mut(), for_a), collect(b.as_mut(), for_b));
    assert!(
        got_a.iter().all(|m| m.partition == owned_a[0].partition),
        "a reads only what it owns"
    );
    assert!(
        got_b.iter().all(|m| m.partition == owned_b[0].partition),
        "b reads only what it owns"
    );
    let mut read: BTreeSet<(i32, i32)> = BTreeSet::new();
    for m in got_a.iter().chain(&got_b) {
        read.insert((
            m.partition,
            String::from_utf8_lossy(&m.payload).parse().expect("n"),
        ));
    }
    assert_eq!(read, sent, "every message sent after the rebalance is read");
    a.commit(&commit_after(&got_a)).await.expect("commit a");
    b.commit(&commit_after(&got_b)).await.expect("commit b");
}
