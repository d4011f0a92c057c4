//! Acknowledged messages survive a broker crash, and a send made while the broker is down completes once
//! it is back, exactly once. This test kills the broker that `scripts/test` started (its directory is in
//! `KAFKA_DIR`), so it lives in a test binary of its own: cargo runs test binaries one after another, so no
//! other test sees the broker go away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_bus::{Bus, ConsumerEvent};

fn broker_control(action: &str) {
    let dir = std::env::var("KAFKA_DIR").unwrap_or_else(|_| {
        panic!(
            "KAFKA_DIR is not set: run scripts/test, which starts a broker this test may restart"
        )
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .arg(&dir)
        .status()
        .expect("run scripts/kafka.sh");
    assert!(status.success(), "scripts/kafka.sh {action} {dir} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_acknowledged_sends_survive_broker_crash() {
    let brokers = std::env::var("KAFKA_BROKERS")
        .unwrap_or_else(|_| panic!("KAFKA_BROKERS is not set: run scripts/test"));
    let mut config = KafkaConfig::new(brokers);
    config.session_timeout = Duration::from_secs(6);
    config.delivery_timeout = Duration::from_secs(120);
    let bus = KafkaBus::new(config);
    let topic = format!("test.broker-crash.{}", std::process::id());
    bus.ensure_topics(&[(&topic, 2)]).await.expect("topic");
    let producer = bus.producer().expect("producer");
    for i in 0..100 {
        producer
            .send(
                &topic,
                format!("k{}", i % 5).as_bytes(),
                format!("{i}").as_bytes(),
                &[],
            )
            .await
            .expect("acknowledged");
    }

    broker_control("kill");
    // A send made while the broker is down is not acknowledged until the broker is back.
    let during = {
        let producer = Arc::clone(&producer);
        let topic = topic.clone();
        tokio::spawn(async move { producer.send(&topic, b"k0", b"during-outage", &[]).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !during.is_finished(),
        "a send cannot be acknowledged while the broker is down"
    );
    broker_control("resume");
    during
        .await
        .expect("task")
        .expect("the send completes once the broker is back");

    let mut consumer = bus
        .consumer(
            &format!("test.broker-crash-group.{}", std::process::id()),
            &[&topic],
        )
        .expect("consumer");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while got.len() < 101 {
        let event = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .expect("all messages within 90 s")
            .expect("consumer");
        if let ConsumerEvent::Message(m) = event {
            got.push(String::from_utf8(m.payload).expect("utf-8"));
        }
    }
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(
        distinct.len(),
        101,
        "no duplicates: the idempotent producer wrote each message once"
    );
    assert!(got.contains(&"during-outage".to_owned()));
    for i in 0..100 {
        assert!(distinct.contains(&i.to_string()), "message {i} was lost");
    }
    // Nothing beyond the 101 is there.
    let extra = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(ConsumerEvent::Message(m)) = consumer.next().await {
                return m;
            }
        }
    })
    .await;
    assert!(extra.is_err(), "unexpected extra message: {extra:?}");
}
