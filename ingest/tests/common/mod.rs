//! Shared set-up of the ingest HTTP tests: a registry with two apps, state around a real bus, and
//! helpers that authenticate through the HTTP handshake like a client would.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::{test, web};
use callscope_bus::{Bus, ConsumerEvent, INGEST_TOPIC, Message, Producer};
use callscope_ingest::auth::{AuthSettings, Authenticator, TokenKey};
use callscope_ingest::ratelimit::RateLimiter;
use callscope_ingest::registry::{Registry, Secret};
use callscope_ingest::{IngestConfig, Metrics, State, challenge_response};

pub const APP_A: &str = "740123";
pub const APP_B: &str = "740999";
pub const USER: &str = callscope_schemas::examples::USER_ID;

pub struct Apps {
    pub registry: Registry,
    pub secret_a: String,
    pub secret_b: String,
}

pub fn apps() -> Apps {
    let registry = Registry::in_memory(Vec::new());
    let a = registry.add("app a", Some(APP_A)).expect("app a");
    let b = registry.add("app b", Some(APP_B)).expect("app b");
    Apps {
        registry,
        secret_a: a.secret,
        secret_b: b.secret,
    }
}

pub fn keys() -> Vec<TokenKey> {
    vec![TokenKey {
        id: "test-key".into(),
        secret: Secret::new("test-server-key-0123456789abcdef"),
    }]
}

pub fn state(
    registry: Registry,
    producer: Arc<dyn Producer>,
    config: IngestConfig,
    token_ttl: Duration,
) -> web::Data<State> {
    state_on(INGEST_TOPIC, registry, producer, config, token_ttl)
}

pub fn state_on(
    topic: &str,
    registry: Registry,
    producer: Arc<dyn Producer>,
    config: IngestConfig,
    token_ttl: Duration,
) -> web::Data<State> {
    let mut settings = AuthSettings::new(keys());
    settings.token_ttl = token_ttl;
    web::Data::new(State {
        auth: Arc::new(Authenticator::new(settings, registry)),
        producer,
        topic: topic.to_owned(),
        limiter: RateLimiter::new(config.limits()),
        metrics: Metrics::new().expect("metrics"),
        config,
        progress: Arc::default(),
    })
}

/// The 4-way handshake over HTTP; returns the access token.
pub async fn handshake<S, B>(
    app: &S,
    app_id: &str,
    secret: &str,
    user: &str,
    origin: Option<&str>,
) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut req = test::TestRequest::post()
        .uri("/v1/auth/challenge")
        .set_json(serde_json::json!({"appID": app_id, "userID": user}));
    if let Some(o) = origin {
        req = req.insert_header(("Origin", o));
    }
    let resp = test::call_service(app, req.to_request()).await;
    assert_eq!(resp.status(), 200, "challenge");
    let body: serde_json::Value = test::read_body_json(resp).await;
    let challenge = body["challenge"].as_str().expect("challenge").to_owned();
    let mut req = test::TestRequest::post()
        .uri("/v1/auth/response")
        .set_json(serde_json::json!({"challenge": challenge, "response": challenge_response(secret, &challenge)}));
    if let Some(o) = origin {
        req = req.insert_header(("Origin", o));
    }
    let resp = test::call_service(app, req.to_request()).await;
    assert_eq!(resp.status(), 200, "response");
    let body: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    body["access_token"].as_str().expect("token").to_owned()
}

/// Reads every record of the ingest topic written so far (at least `n`, waiting up to 30 s).
pub async fn read_records(bus: &dyn Bus, group: &str, n: usize) -> Vec<Message> {
    let mut consumer = bus.consumer(group, &[INGEST_TOPIC]).expect("consumer");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Ok(ConsumerEvent::Message(m))) => out.push(m),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("consumer: {e}"),
            Err(_) => panic!("only {} of {n} records on the topic", out.len()),
        }
    }
    // Nothing more than expected.
    let extra = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Ok(ConsumerEvent::Message(m)) = consumer.next().await {
                return m;
            }
        }
    })
    .await;
    assert!(extra.is_err(), "unexpected extra record on the topic");
    out
}

/// An embedded bus in a temporary directory.
pub fn embedded() -> (tempfile::TempDir, callscope_bus::embedded::EmbeddedBus) {
    use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path().join("bus.redb"))).expect("bus");
    (dir, bus)
}

/// One batch item, as the JS SDK sends it.
pub fn item(kind: callscope_schemas::EventKind, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"kind": kind.as_str(), "timestamp": 1_700_000_000_123u64, "data": data})
}

/// The example body of a kind, as JSON.
pub fn example(kind: callscope_schemas::EventKind) -> serde_json::Value {
    serde_json::from_str(
        &callscope_schemas::examples::payload(kind)
            .data_json()
            .expect("example serializes"),
    )
    .expect("example is JSON")
}
