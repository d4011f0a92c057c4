//! Ingest against the real Kafka broker started by `scripts/test`: what a 2xx acknowledged is on the
//! topic, keyed by conference.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use actix_web::test;
use callscope_bus::Bus;
use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_ingest::IngestConfig;
use common::*;
use serde_json::{Value, json};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test, which starts a real broker")
    })
}

#[actix_web::test]
async fn kafka_acknowledged_requests_are_on_the_topic_keyed_by_conference() {
    let bus = KafkaBus::new(KafkaConfig::new(brokers()));
    bus.ensure_topics(&[(callscope_bus::INGEST_TOPIC, 4)])
        .await
        .unwrap();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    // Unique conference ids: the topic is shared with other tests of this run.
    let run = std::process::id();
    let mut expected = Vec::new();
    for c in 0..3 {
        let conference = format!("kafka-ingest-{run}-{c}");
        let body = json!({"events": [
            {"kind": "user_alive", "data": {}},
            {"kind": "dominant_speaker", "data": {}}
        ]});
        let resp = test::call_service(
            &app,
            test::TestRequest::post()
                .uri(&format!("/v1/apps/{APP_A}/conferences/{conference}/batch"))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .set_json(&body)
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["msg"], "2 events accepted");
        expected.push(conference);
    }
    let mut consumer = bus
        .consumer(
            &format!("ingest-kafka-test-{run}"),
            &[callscope_bus::INGEST_TOPIC],
        )
        .unwrap();
    let mut found = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while found.len() < expected.len() {
        let event = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .expect("records within 60 s")
            .unwrap();
        if let callscope_bus::ConsumerEvent::Message(m) = event {
            let key = String::from_utf8(m.key.clone().unwrap_or_default()).unwrap();
            let Some(conference) = key.strip_prefix(&format!("{APP_A}/")) else {
                continue;
            };
            if !expected.iter().any(|c| c == conference) {
                continue;
            }
            let envelopes = callscope_schemas::decode_record(&m.payload).unwrap();
            assert_eq!(envelopes.len(), 2);
            assert!(
                envelopes
                    .iter()
                    .all(|e| e.conference_id == conference && e.user_id.as_deref() == Some(USER))
            );
            assert!(
                found.insert(conference.to_owned(), m.offset).is_none(),
                "each batch once"
            );
        }
    }
}
