//! The conformance suite every [`Bus`] implementation must pass, against real storage: the embedded log on
//! disk, and a real Kafka broker. Each case is a guarantee of `docs/bus.md`, named after it.

#![allow(dead_code)] // each test binary uses the cases that apply to its bus

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callscope_bus::{
    Bus, BusError, Consumer, ConsumerEvent, DEAD_LETTER_REASON_HEADER, DeadLetter, Message,
    TopicPartition,
};

/// How a test reaches a bus implementation.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The bus as a freshly started process sees it. Earlier instances must have been dropped: for the
    /// embedded log, this reopens the same file, which is how a restart is tested.
    async fn open(&self) -> Arc<dyn Bus>;
    /// A bus whose producer queue holds at most `capacity` messages.
    async fn open_with_queue(&self, capacity: usize) -> Arc<dyn Bus>;
    /// A topic or group name no other test uses.
    fn unique(&self, name: &str) -> String;
}

pub const WAIT: Duration = Duration::from_secs(60);

/// Reads until `n` messages arrived, skipping assignment changes; fails the test after `WAIT`.
pub async fn collect(consumer: &mut dyn Consumer, n: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < n {
        let event = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .unwrap_or_else(|_| {
                panic!("only {} of {n} messages arrived within {WAIT:?}", out.len())
            })
            .expect("consumer error");
        if let ConsumerEvent::Message(m) = event {
            out.push(m);
        }
    }
    out
}

/// Asserts that no message arrives for `quiet`.
pub async fn expect_no_message(consumer: &mut dyn Consumer, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Err(_) => return,
            Ok(Ok(ConsumerEvent::Message(m))) => panic!(
                "unexpected message {}[{}]@{}: {:?}",
                m.topic,
                m.partition,
                m.offset,
                String::from_utf8_lossy(&m.payload)
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("consumer error: {e}"),
        }
    }
}

fn text(m: &Message) -> String {
    String::from_utf8(m.payload.clone()).expect("utf-8 payload")
}

/// The offsets to commit after `messages` are all durable downstream: one past the last, per partition.
pub fn commit_after(messages: &[Message]) -> Vec<(TopicPartition, i64)> {
    let mut next: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for m in messages {
        let e = next.entry(m.topic_partition()).or_insert(0);
        *e = (*e).max(m.offset + 1);
    }
    next.into_iter().collect()
}

/// Messages with one key land in one partition and are read in the order they were acknowledged.
pub async fn ordering_per_key(h: &dyn Harness) {
    let bus = h.open().await;
    let topic = h.unique("ordering");
    bus.ensure_topics(&[(&topic, 4)]).await.expect("topic");
    let producer = bus.producer().expect("producer");
    let keys: Vec<String> = (0..6).map(|k| format!("app-1/conf-{k}")).collect();
    let per_key = 50;
    for seq in 0..per_key {
        for key in &keys {
            producer
                .send(
                    &topic,
                    key.as_bytes(),
                    format!("{key}#{seq}").as_bytes(),
                    &[],
                )
                .await
                .expect("send");
        }
    }
    let mut consumer = bus
        .consumer(&h.unique("ordering-group"), &[&topic])
        .expect("consumer");
    let messages = collect(consumer.as_mut(), keys.len() * per_key).await;
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut partition_of: BTreeMap<String, i32> = BTreeMap::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &messages {
        let (key, seq) = text(m)
            .rsplit_once('#')
            .map(|(k, s)| (k.to_owned(), s.parse::<usize>().expect("seq")))
            .expect("payload");
        assert_eq!(
            m.key.as_deref(),
            Some(key.as_bytes()),
            "key travels with the message"
        );
        assert_eq!(
            *partition_of.entry(key.clone()).or_insert(m.partition),
            m.partition,
            "key {key} split over partitions"
        );
        let last = last_offset.entry(m.partition).or_insert(-1);
        assert!(
            m.offset > *last,
            "offsets of partition {} go backwards",
            m.partition
        );
        *last = m.offset;
        seen.entry(key).or_default().push(seq);
    }
    for key in &keys {
        assert_eq!(
            seen[key],
            (0..per_key).collect::<Vec<_>>(),
            "order of key {key}"
        );
    }
    let partitions: BTreeSet<i32> = partition_of.values().copied().collect();
    assert!(
        partitions.len() > 1,
        "six keys over four partitions should use more than one: {partitions:?}"
    );
}

/// A consumer that stops before committing (a crash) leaves its messages to be delivered again, from the
/// last commit on.
pub async fn redelivery_after_crash_before_commit(h: &dyn Harness) {
    let topic = h.unique("redelivery");
    let group = h.unique("redelivery-group");
    {
        let bus = h.open().await;
        bus.ensure_topics(&[(&topic, 1)]).await.expect("topic");
        let producer = bus.producer().expect("producer");
        for i in 0..10 {
            producer
                .send(&topic, b"k", format!("m{i}").as_bytes(), &[])
                .await
                .expect("send");
        }
        let mut consumer = bus.consumer(&group, &[&topic]).expect("consumer");
        let messages = collect(consumer.as_mut(), 10).await;
        assert_eq!(
            messages.iter().map(text).collect::<Vec<_>>(),
            (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
        );
        // Only the first four became durable downstream before the crash.
        consumer
            .commit(&commit_after(&messages[..4]))
            .await
            .expect("commit");
    }
    let bus = h.open().await;
    let mut consumer = bus
        .consumer(&group, &[&topic])
        .expect("consumer after crash");
    let again = collect(consumer.as_mut(), 6).await;
    assert_eq!(
        again.iter().map(text).collect::<Vec<_>>(),
        (4..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(again[0].offset, 4);
    expect_no_message(consumer.as_mut(), Duration::from_secs(2)).await;
}

/// After a restart, a consumer resumes exactly at its committed offset: nothing committed comes back,
/// everything after it does.
pub async fn resume_from_committed_offset_after_restart(h: &dyn Harness) {
    let topic = h.unique("resume");
    let group = h.unique("resume-group");
    {
        let bus = h.open().await;
        bus.ensure_topics(&[(&topic, 2)]).await.expect("topic");
        let producer = bus.producer().expect("producer");
        for i in 0..6 {
            producer
                .send(
                    &topic,
                    format!("k{i}").as_bytes(),
                    format!("old{i}").as_bytes(),
                    &[],
                )
                .await
                .expect("send");
        }
        let mut consumer = bus.consumer(&group, &[&topic]).expect("consumer");
        let messages = collect(consumer.as_mut(), 6).await;
        consumer
            .commit(&commit_after(&messages))
            .await
            .expect("commit");
    }
    let bus = h.open().await;
    let producer = bus.producer().expect("producer");
    for i in 0..3 {
        producer
            .send(
                &topic,
                format!("k{i}").as_bytes(),
                format!("new{i}").as_bytes(),
                &[],
            )
            .await
            .expect("send");
    }
    let mut consumer = bus
        .consumer(&group, &[&topic])
        .expect("consumer after restart");
    let mut got: Vec<String> = collect(consumer.as_mut(), 3)
        .await
        .iter()
        .map(text)
        .collect();
    got.sort();
    assert_eq!(got, vec!["new0", "new1", "new2"]);
    expect_no_message(consumer.as_mut(), Duration::from_secs(2)).await;
}

/// A message that cannot be decoded goes to the dead-letter topic with the reason; the partition moves on,
/// and once committed it is not delivered again.
pub async fn poison_message_goes_to_dead_letter(h: &dyn Harness) {
    let bus = h.open().await;
    let topic = h.unique("poison");
    let dlq = h.unique("poison-dlq");
    let group = h.unique("poison-group");
    bus.ensure_topics(&[(&topic, 1), (&dlq, 1)])
        .await
        .expect("topics");
    let producer = bus.producer().expect("producer");
    for payload in [&b"{\"n\":1}"[..], b"\xffnot json", b"{\"n\":2}"] {
        producer
            .send(&topic, b"app/conf", payload, &[("origin", b"test")])
            .await
            .expect("send");
    }
    let dead_letter = DeadLetter::new(Arc::clone(&producer), dlq.clone());
    let mut consumer = bus.consumer(&group, &[&topic]).expect("consumer");
    let messages = collect(consumer.as_mut(), 3).await;
    let mut decoded = Vec::new();
    for m in &messages {
        match serde_json::from_slice::<serde_json::Value>(&m.payload) {
            Ok(v) => decoded.push(v["n"].as_i64().expect("n")),
            Err(e) => {
                dead_letter
                    .send(m, &format!("undecodable envelope: {e}"))
                    .await
                    .expect("dead-letter");
            }
        }
    }
    assert_eq!(
        decoded,
        vec![1, 2],
        "the messages around the poison one are processed"
    );
    consumer
        .commit(&commit_after(&messages))
        .await
        .expect("commit");

    let mut dlq_consumer = bus
        .consumer(&h.unique("poison-dlq-reader"), &[&dlq])
        .expect("dlq consumer");
    let dead = collect(dlq_consumer.as_mut(), 1).await;
    assert_eq!(
        dead[0].payload, b"\xffnot json",
        "the poison message is kept byte for byte"
    );
    assert_eq!(dead[0].key.as_deref(), Some(&b"app/conf"[..]));
    let reason = String::from_utf8(
        dead[0]
            .header(DEAD_LETTER_REASON_HEADER)
            .expect("reason header")
            .to_vec(),
    )
    .expect("utf-8");
    assert!(
        reason.starts_with("undecodable envelope: "),
        "reason: {reason}"
    );
    assert_eq!(
        dead[0].header("origin"),
        Some(&b"test"[..]),
        "original headers are kept"
    );
    let source = String::from_utf8(
        dead[0]
            .header("callscope.dlq.source")
            .expect("source")
            .to_vec(),
    )
    .expect("utf-8");
    assert_eq!(source, format!("{topic}[0]@1"));
    expect_no_message(dlq_consumer.as_mut(), Duration::from_secs(1)).await;
    drop(consumer);

    let mut again = bus.consumer(&group, &[&topic]).expect("consumer");
    expect_no_message(again.as_mut(), Duration::from_secs(2)).await;
}

/// A producer whose queue is full says so at once instead of holding messages without bound; what it
/// acknowledged is all there, and nothing it refused is.
pub async fn producer_backpressure_is_an_error(h: &dyn Harness) {
    let bus = h.open_with_queue(4).await;
    let topic = h.unique("backpressure");
    bus.ensure_topics(&[(&topic, 1)]).await.expect("topic");
    let producer = bus.producer().expect("producer");
    let sends = (0..2000).map(|i| {
        let producer = Arc::clone(&producer);
        let topic = topic.clone();
        async move {
            (
                i,
                producer
                    .send(&topic, b"k", format!("{i}").as_bytes(), &[])
                    .await,
            )
        }
    });
    let results = futures::future::join_all(sends).await;
    let mut acknowledged = BTreeSet::new();
    let mut refused = 0;
    for (i, result) in results {
        match result {
            Ok(_) => {
                acknowledged.insert(i.to_string());
            }
            Err(BusError::QueueFull { capacity }) => {
                assert_eq!(capacity, 4);
                refused += 1;
            }
            Err(other) => panic!("send {i}: unexpected error {other}"),
        }
    }
    assert!(
        refused > 0,
        "2000 sends at once through a queue of 4 must refuse some"
    );
    assert!(!acknowledged.is_empty(), "the queue admits some");
    let mut consumer = bus
        .consumer(&h.unique("backpressure-group"), &[&topic])
        .expect("consumer");
    let got: BTreeSet<String> = collect(consumer.as_mut(), acknowledged.len())
        .await
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        got, acknowledged,
        "exactly the acknowledged messages are in the log"
    );
    expect_no_message(consumer.as_mut(), Duration::from_secs(1)).await;
}

/// Every acknowledged send is still there after the bus is closed and opened again.
pub async fn acknowledged_sends_survive_restart(h: &dyn Harness) {
    let topic = h.unique("durable");
    let n = 200;
    {
        let bus = h.open().await;
        bus.ensure_topics(&[(&topic, 3)]).await.expect("topic");
        let producer = bus.producer().expect("producer");
        let sends = (0..n).map(|i| {
            let producer = Arc::clone(&producer);
            let topic = topic.clone();
            async move {
                producer
                    .send(
                        &topic,
                        format!("k{}", i % 7).as_bytes(),
                        format!("{i}").as_bytes(),
                        &[],
                    )
                    .await
            }
        });
        for result in futures::future::join_all(sends).await {
            result.expect("acknowledged");
        }
    }
    let bus = h.open().await;
    let mut consumer = bus
        .consumer(&h.unique("durable-group"), &[&topic])
        .expect("consumer");
    let got: BTreeSet<usize> = collect(consumer.as_mut(), n)
        .await
        .iter()
        .map(|m| text(m).parse().expect("n"))
        .collect();
    assert_eq!(got, (0..n).collect::<BTreeSet<_>>());
}

/// An oversized message is refused before it is written.
pub async fn oversized_message_is_refused(h: &dyn Harness) {
    let bus = h.open().await;
    let topic = h.unique("oversized");
    bus.ensure_topics(&[(&topic, 1)]).await.expect("topic");
    let producer = bus.producer().expect("producer");
    let big = vec![b'x'; 2_000_000];
    match producer.send(&topic, b"k", &big, &[]).await {
        Err(BusError::TooLarge { size, max }) => {
            assert_eq!(size, 2_000_001);
            assert_eq!(max, 1_000_000);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}
