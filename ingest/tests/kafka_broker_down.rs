//! With the broker down, ingest answers 503 with Retry-After and writes nothing; once the broker is back,
//! the retried request is accepted, and the topic holds exactly what was acknowledged. This test kills the
//! broker `scripts/test` started (`KAFKA_DIR`), so it is a test binary of its own: cargo runs test
//! binaries one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use actix_web::test;
use callscope_bus::Bus;
use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_ingest::IngestConfig;
use common::*;
use serde_json::json;

fn broker_control(action: &str) {
    let dir = std::env::var("KAFKA_DIR")
        .unwrap_or_else(|_| panic!("KAFKA_DIR is not set: run scripts/test"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .arg(&dir)
        .status()
        .expect("scripts/kafka.sh");
    assert!(status.success(), "scripts/kafka.sh {action} failed");
}

#[actix_web::test]
async fn kafka_broker_down_answers_503_and_loses_nothing() {
    let brokers = std::env::var("KAFKA_BROKERS")
        .unwrap_or_else(|_| panic!("KAFKA_BROKERS is not set: run scripts/test"));
    let topic = format!("test.ingest-broker-down.{}", std::process::id());
    let mut kafka = KafkaConfig::new(brokers);
    // The producer gives up on a message when ingest does, so a refused request is never written later.
    kafka.delivery_timeout = Duration::from_secs(3);
    let bus = KafkaBus::new(kafka);
    bus.ensure_topics(&[(&topic, 1)]).await.unwrap();
    let apps = apps();
    let config = IngestConfig {
        bus_timeout_ms: 3000,
        ..IngestConfig::default()
    };
    let state = state_on(
        &topic,
        apps.registry,
        bus.producer().unwrap(),
        config,
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let send = |n: u32| {
        test::TestRequest::post()
            .uri(&format!("/v1/apps/{APP_A}/conferences/down/batch"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(json!({"events": [{"kind": "app_log", "data": {"level": "info", "message": format!("m{n}"), "messageType": "text"}}]}))
            .to_request()
    };
    assert_eq!(test::call_service(&app, send(1)).await.status(), 200);

    broker_control("kill");
    let resp = test::call_service(&app, send(2)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get("Retry-After").unwrap(), "2");
    let resp = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(resp.status(), 503, "not ready while the broker is down");
    broker_control("resume");

    // The client retries what was refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = test::call_service(&app, send(2)).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "broker not back within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(test::call_service(&app, send(3)).await.status(), 200);

    let mut consumer = bus.consumer(&format!("{topic}.reader"), &[&topic]).unwrap();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while messages.len() < 3 {
        if let callscope_bus::ConsumerEvent::Message(m) =
            tokio::time::timeout_at(deadline, consumer.next())
                .await
                .expect("3 records")
                .unwrap()
        {
            let e = callscope_schemas::decode_record(&m.payload).unwrap();
            messages.push(
                serde_json::to_value(&e[0].payload).unwrap()["data"]["message"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        messages,
        vec!["m1", "m2", "m3"],
        "exactly the acknowledged requests, once each, in order"
    );
    let extra = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await;
    assert!(
        !matches!(extra, Ok(Ok(callscope_bus::ConsumerEvent::Message(_)))),
        "a refused request was written"
    );
}
