//! The ingest HTTP API against a real bus (the embedded log on disk): every endpoint's acceptance, every
//! refusal, and that what a 2xx acknowledged is on the topic, keyed by conference.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix_web::test;
use callscope_bus::Bus;
use callscope_ingest::IngestConfig;
use callscope_schemas::rest::{ROUTES, RestEndpoint, RestScope};
use callscope_schemas::{EventKind, examples};
use common::*;
use serde_json::{Value, json};

/// The example body an SDK would send to a route.
fn body_for(endpoint: RestEndpoint) -> Value {
    let (kind, event_type) = match endpoint {
        RestEndpoint::UserJoined => (EventKind::UserJoined, None),
        RestEndpoint::UserAlive => (EventKind::UserAlive, None),
        RestEndpoint::UserLeft => (EventKind::UserLeft, None),
        RestEndpoint::UserDetails => (EventKind::UserDetails, None),
        RestEndpoint::DeviceList => (EventKind::DeviceList, None),
        RestEndpoint::MediaAction => (EventKind::MediaAction, None),
        RestEndpoint::MediaPipeline => (EventKind::MediaPipeline, None),
        RestEndpoint::Fabric => (EventKind::FabricSetup, Some("fabricSetup")),
        RestEndpoint::FabricSetup => (EventKind::FabricSetup, None),
        RestEndpoint::FabricSetupFailed => (EventKind::FabricSetupFailed, None),
        RestEndpoint::FabricTerminated => (EventKind::FabricTerminated, None),
        RestEndpoint::FabricAction => (EventKind::FabricHold, Some("fabricHold")),
        RestEndpoint::FabricDropped => (EventKind::FabricDropped, None),
        RestEndpoint::FabricStateChange => (EventKind::FabricStateChange, None),
        RestEndpoint::FabricTransportChange => (EventKind::FabricTransportChange, None),
        RestEndpoint::IceStatus => (EventKind::IceStatus, None),
        RestEndpoint::Feedback => (EventKind::Feedback, None),
        RestEndpoint::DominantSpeaker => (EventKind::DominantSpeaker, None),
        RestEndpoint::SsrcMap => (EventKind::SsrcMap, None),
        RestEndpoint::Sdp => (EventKind::Sdp, None),
        RestEndpoint::AppLog => (EventKind::AppLog, None),
        RestEndpoint::Stats => (EventKind::StatsSample, None),
        RestEndpoint::SystemStatus => (EventKind::SystemStatus, None),
        RestEndpoint::BridgeStatus => (EventKind::BridgeStatus, None),
        RestEndpoint::BridgeAlive => (EventKind::BridgeAlive, None),
    };
    let mut body: Value =
        serde_json::from_str(&examples::payload(kind).data_json().expect("json")).expect("value");
    if let Some(t) = event_type {
        body["eventType"] = t.into();
    }
    body
}

fn path_for(template: &str, app: &str, conf: &str, uc: &str) -> String {
    template
        .replace("{appID}", app)
        .replace("{confID}", conf)
        .replace("{ucID}", uc)
}

#[actix_web::test]
async fn every_rest_route_accepts_its_body_and_the_record_is_on_the_topic() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state.clone())).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    for route in ROUTES {
        let uri = path_for(route.path, APP_A, "conf-1", "uc-7");
        let req = test::TestRequest::post()
            .uri(&uri)
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(body_for(route.endpoint))
            .to_request();
        let resp = test::call_service(&app, req).await;
        let status = resp.status();
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(status, 200, "{uri}: {body}");
        assert_eq!(body["status"], "success", "{uri}");
        if route.scope() == RestScope::Conference {
            assert_eq!(
                body["ucID"].as_str().map(str::len),
                Some(32),
                "user joined returns a ucID"
            );
        }
    }
    let records = read_records(&bus, "reader", ROUTES.len()).await;
    // Records of different conferences sit on different partitions, so they are matched by key, not order.
    let app_level = ROUTES
        .iter()
        .filter(|r| r.scope() == RestScope::App)
        .count();
    let mut seen_app_level = 0;
    for record in &records {
        let envelopes = callscope_schemas::decode_record(&record.payload).expect("decodes");
        assert_eq!(envelopes.len(), 1);
        let e = &envelopes[0];
        assert_eq!(e.app_id, APP_A);
        assert_eq!(e.user_id.as_deref(), Some(USER));
        assert_eq!(e.origin, callscope_schemas::Origin::Rest);
        assert_eq!(
            record.key.as_deref(),
            Some(format!("{APP_A}/{}", e.conference_id).as_bytes())
        );
        if e.conference_id == format!("_app:{USER}") {
            seen_app_level += 1;
            assert_eq!(e.uc_id, None);
        } else {
            assert_eq!(e.conference_id, "conf-1");
            match e.kind() {
                EventKind::UserJoined => assert_eq!(e.uc_id.as_ref().map(String::len), Some(32)),
                _ => assert_eq!(e.uc_id.as_deref(), Some("uc-7"), "{:?}", e.kind()),
            }
        }
        assert!(e.received_at_ms > 1_700_000_000_000);
    }
    assert_eq!(seen_app_level, app_level);
    // The same conference always lands on one partition.
    let partitions: std::collections::BTreeSet<i32> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(format!("{APP_A}/conf-1").as_bytes()))
        .map(|r| r.partition)
        .collect();
    assert_eq!(partitions.len(), 1);
    let metrics = state.metrics.render();
    assert!(
        metrics.contains("callscope_ingest_events_total{kind=\"stats_sample\"}"),
        "{metrics}"
    );
}

fn batch_body(events: Vec<Value>) -> Value {
    json!({"batchID": "b-1", "events": events})
}

#[actix_web::test]
async fn a_batch_is_one_record_and_all_or_nothing() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let good = batch_body(vec![
        item(EventKind::FabricCreated, example(EventKind::FabricCreated)),
        item(EventKind::StatsSample, example(EventKind::StatsSample)),
        item(EventKind::Feedback, example(EventKind::Feedback)),
    ]);
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri(&format!("/v1/apps/{APP_A}/conferences/room-1/batch"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(&good)
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["msg"], "3 events accepted");
    let uc_id = body["ucID"].as_str().unwrap().to_owned();

    let mut bad_feedback = example(EventKind::Feedback);
    bad_feedback["feedback"]["overallRating"] = 6.into();
    let bad = batch_body(vec![
        item(EventKind::UserAlive, example(EventKind::UserAlive)),
        item(EventKind::Feedback, bad_feedback),
    ]);
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri(&format!("/v1/apps/{APP_A}/conferences/room-1/batch"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(&bad)
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 422);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(
        body["field"], "events[1].data.feedback.overallRating",
        "{body}"
    );

    let records = read_records(&bus, "reader", 1).await;
    let envelopes = callscope_schemas::decode_record(&records[0].payload).unwrap();
    assert_eq!(
        envelopes.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        vec![
            EventKind::FabricCreated,
            EventKind::StatsSample,
            EventKind::Feedback
        ]
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e.uc_id.as_deref() == Some(uc_id.as_str())
                && e.origin == callscope_schemas::Origin::JsSdk)
    );
    assert_eq!(envelopes[0].client_ts_ms, Some(1_700_000_000_123));
    // The batchID travels with every event, so the processor can drop a retried copy.
    assert!(
        envelopes
            .iter()
            .all(|e| e.batch_id.as_deref() == Some("b-1"))
    );
}

/// `navigator.sendBeacon` sends text/plain and cannot set headers: the token rides in the query.
#[actix_web::test]
async fn a_beacon_batch_with_the_token_in_the_query_is_accepted() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let body = serde_json::to_vec(&batch_body(vec![item(
        EventKind::FabricTerminated,
        example(EventKind::FabricTerminated),
    )]))
    .unwrap();
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri(&format!(
                "/v1/apps/{APP_A}/conferences/room-1/batch?access_token={token}"
            ))
            .insert_header(("Content-Type", "text/plain;charset=UTF-8"))
            .set_payload(body)
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let records = read_records(&bus, "reader", 1).await;
    assert_eq!(
        callscope_schemas::decode_record(&records[0].payload).unwrap()[0].kind(),
        EventKind::FabricTerminated
    );
}

struct Refusal {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

async fn post<S, B>(
    app: &S,
    uri: &str,
    token: Option<&str>,
    origin: Option<&str>,
    body: Vec<u8>,
) -> Refusal
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let mut req = test::TestRequest::post()
        .uri(uri)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body);
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    if let Some(o) = origin {
        req = req.insert_header(("Origin", o));
    }
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = test::read_body(resp).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Refusal {
        status,
        body,
        retry_after,
    }
}

fn alive() -> Vec<u8> {
    serde_json::to_vec(&example(EventKind::UserAlive)).unwrap()
}

#[actix_web::test]
async fn refusals_have_the_right_status_and_name_what_is_wrong() {
    let (_dir, bus) = embedded();
    let apps = apps();
    apps.registry
        .add_origin(APP_B, "https://call.example")
        .unwrap();
    let config = IngestConfig {
        max_body_bytes: 4096,
        ..IngestConfig::default()
    };
    let state = state(
        apps.registry.clone(),
        bus.producer().unwrap(),
        config.clone(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token_a = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let session = format!("/v1/apps/{APP_A}/conferences/c1/uc1/events/user/alive");

    // Unknown app: 404.
    let r = post(
        &app,
        "/v1/apps/404404/conferences/c1/uc1/events/user/alive",
        Some(&token_a),
        None,
        alive(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["status"], "error");
    // No token, garbage token, token of app A on app B: 401.
    assert_eq!(post(&app, &session, None, None, alive()).await.status, 401);
    assert_eq!(
        post(&app, &session, Some("not-a-token"), None, alive())
            .await
            .status,
        401
    );
    let r = post(
        &app,
        &format!("/v1/apps/{APP_B}/conferences/c1/uc1/events/user/alive"),
        Some(&token_a),
        None,
        alive(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["msg"], "token was issued for another app");
    // Expired token: issued by a twin whose tokens live 0 s, same server keys.
    let expired_state = common::state(
        apps.registry.clone(),
        bus.producer().unwrap(),
        config.clone(),
        Duration::ZERO,
    );
    let twin = test::init_service(callscope_ingest::app(expired_state)).await;
    let expired = handshake_any_ttl(&twin, &apps.secret_a).await;
    let r = post(&app, &session, Some(&expired), None, alive()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["msg"], "token expired");
    // Origin not whitelisted: 403.
    let r = post(
        &app,
        &format!("/v1/apps/{APP_B}/conferences/c1/uc1/events/user/alive"),
        Some(&token_a),
        Some("https://evil.example"),
        alive(),
    )
    .await;
    assert_eq!(r.status, 403);
    // Body too large: 413.
    let r = post(&app, &session, Some(&token_a), None, vec![b' '; 5000]).await;
    assert_eq!(r.status, 413);
    // Not JSON: 400. Wrong shape: 422 naming the field.
    assert_eq!(
        post(&app, &session, Some(&token_a), None, b"{oops".to_vec())
            .await
            .status,
        400
    );
    let mut feedback = example(EventKind::Feedback);
    feedback["feedback"]["overallRating"] = 0.into();
    let r = post(
        &app,
        &format!("/v1/apps/{APP_A}/conferences/c1/uc1/events/feedback"),
        Some(&token_a),
        None,
        serde_json::to_vec(&feedback).unwrap(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["field"], "feedback.overallRating", "{}", r.body);
    // Field limits: conferenceID over 256 bytes, applicationVersion over 30 characters.
    let long_conf = "c".repeat(257);
    let r = post(
        &app,
        &format!("/v1/apps/{APP_A}/conferences/{long_conf}/uc1/events/user/alive"),
        Some(&token_a),
        None,
        alive(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["field"], "conferenceID");
    let mut joined = example(EventKind::UserJoined);
    joined["endpointInfo"]["appVersion"] = "v".repeat(31).into();
    let r = post(
        &app,
        &format!("/v1/apps/{APP_A}/conferences/c1"),
        Some(&token_a),
        None,
        serde_json::to_vec(&joined).unwrap(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["field"], "endpointInfo.appVersion", "{}", r.body);
    // localID must be the authenticated user.
    let mut other_user = example(EventKind::UserAlive);
    other_user["localID"] = "mallory".into();
    let r = post(
        &app,
        &session,
        Some(&token_a),
        None,
        serde_json::to_vec(&other_user).unwrap(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["field"], "localID");
    // Nothing refused reached the topic.
    let mut consumer = bus
        .consumer("reader", &[callscope_bus::INGEST_TOPIC])
        .unwrap();
    let nothing = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Ok(callscope_bus::ConsumerEvent::Message(m)) = consumer.next().await {
                return m;
            }
        }
    })
    .await;
    assert!(nothing.is_err(), "a refused request was written");
}

async fn handshake_any_ttl<S, B>(app: &S, secret: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = test::call_service(
        app,
        test::TestRequest::post()
            .uri("/v1/auth/challenge")
            .set_json(json!({"appID": APP_A, "userID": USER}))
            .to_request(),
    )
    .await;
    let body: Value = test::read_body_json(resp).await;
    let challenge = body["challenge"].as_str().unwrap().to_owned();
    let resp = test::call_service(
        app,
        test::TestRequest::post()
            .uri("/v1/auth/response")
            .set_json(json!({"challenge": challenge, "response": callscope_ingest::challenge_response(secret, &challenge)}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = test::read_body_json(resp).await;
    body["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn rate_limits_answer_429_with_retry_after() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let config = IngestConfig {
        rate_per_token: 1,
        rate_burst_seconds: 1,
        ..IngestConfig::default()
    };
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        config,
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let session = format!("/v1/apps/{APP_A}/conferences/c1/uc1/events/user/alive");
    assert_eq!(
        post(&app, &session, Some(&token), None, alive())
            .await
            .status,
        200
    );
    let r = post(&app, &session, Some(&token), None, alive()).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert_eq!(r.body["msg"], "rate limit of this token exceeded");
}

#[actix_web::test]
async fn an_unreachable_bus_answers_503_with_retry_after() {
    // A real Kafka producer pointed at a closed port: nothing will ever acknowledge.
    let mut kafka = callscope_bus::kafka::KafkaConfig::new("127.0.0.1:9");
    kafka.delivery_timeout = Duration::from_millis(1500);
    let producer: Arc<dyn callscope_bus::Producer> =
        Arc::new(callscope_bus::kafka::KafkaProducer::new(&kafka).unwrap());
    let apps = apps();
    let config = IngestConfig {
        bus_timeout_ms: 1500,
        ..IngestConfig::default()
    };
    let state = state(apps.registry, producer, config, Duration::from_secs(7200));
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    let r = post(
        &app,
        &format!("/v1/apps/{APP_A}/conferences/c1/uc1/events/user/alive"),
        Some(&token),
        None,
        alive(),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after.as_deref(), Some("2"));
    let resp = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(resp.status(), 503);
}

#[actix_web::test]
async fn handshake_refusals_over_http() {
    let (_dir, bus) = embedded();
    let apps = apps();
    apps.registry
        .add_origin(APP_B, "https://call.example")
        .unwrap();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    // Unknown app at the challenge: 404.
    let r = post(
        &app,
        "/v1/auth/challenge",
        None,
        None,
        serde_json::to_vec(&json!({"appID": "1", "userID": USER})).unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    // Wrong origin at the challenge: 403; the right one passes.
    let body = serde_json::to_vec(&json!({"appID": APP_B, "userID": USER})).unwrap();
    assert_eq!(
        post(
            &app,
            "/v1/auth/challenge",
            None,
            Some("https://evil.example"),
            body.clone()
        )
        .await
        .status,
        403
    );
    handshake(
        &app,
        APP_B,
        &apps.secret_b,
        USER,
        Some("https://call.example"),
    )
    .await;
    // Wrong secret, then a replayed challenge: 401.
    let r = post(
        &app,
        "/v1/auth/challenge",
        None,
        None,
        serde_json::to_vec(&json!({"appID": APP_A, "userID": USER})).unwrap(),
    )
    .await;
    let challenge = r.body["challenge"].as_str().unwrap().to_owned();
    let wrong = json!({"challenge": challenge, "response": callscope_ingest::challenge_response("wrong", &challenge)});
    let r = post(
        &app,
        "/v1/auth/response",
        None,
        None,
        serde_json::to_vec(&wrong).unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["msg"], "challenge response does not match");
    let right = json!({"challenge": challenge, "response": callscope_ingest::challenge_response(&apps.secret_a, &challenge)});
    assert_eq!(
        post(
            &app,
            "/v1/auth/response",
            None,
            None,
            serde_json::to_vec(&right).unwrap()
        )
        .await
        .status,
        200
    );
    let r = post(
        &app,
        "/v1/auth/response",
        None,
        None,
        serde_json::to_vec(&right).unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["msg"], "challenge already used");
    // The secret never appears in a response or the metrics.
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(!metrics.contains(&apps.secret_a));
    assert!(
        metrics.contains("callscope_ingest_refusals_total{reason=\"auth\"}"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn third_party_authenticate_form() {
    let (_dir, bus) = embedded();
    let apps = apps();
    apps.registry
        .add_jwt_key(
            APP_A,
            "key-1",
            callscope_ingest::registry::JwtAlgorithm::HS256,
            "origin-server-secret-0123456789",
        )
        .unwrap();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sign = |secret: &str, exp: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"appID": APP_A, "userID": USER, "keyID": "key-1", "exp": exp, "nbf": now - 300}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let form = |code: &str| {
        format!("grant_type=authorization_code&code={code}&client_id={USER}%40{APP_A}").into_bytes()
    };
    let send = |body: Vec<u8>| {
        test::TestRequest::post()
            .uri("/authenticate")
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(body)
            .to_request()
    };
    let resp = test::call_service(
        &app,
        send(form(&sign("origin-server-secret-0123456789", now + 300))),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let r = post(
        &app,
        &format!("/v1/apps/{APP_A}/conferences/c1/uc1/events/user/alive"),
        Some(&token),
        None,
        alive(),
    )
    .await;
    assert_eq!(r.status, 200, "the exchanged token is accepted");

    let resp = test::call_service(
        &app,
        send(form(&sign("not-the-registered-secret-0123", now + 300))),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["urn:x-callstats:auth:errorActions"][0]["action"],
        "GET_NEW_TOKEN"
    );
    let resp = test::call_service(
        &app,
        send(form(&sign("origin-server-secret-0123456789", now - 3600))),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["errorReason"], "INVALID_TOKEN: token expired (exp)");
    let resp = test::call_service(&app, send(b"grant_type=password".to_vec())).await;
    assert_eq!(resp.status(), 400);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(
        body["urn:x-callstats:auth:errorActions"][0]["action"],
        "REPORT_ERROR"
    );
}

#[actix_web::test]
async fn cors_preflight_follows_the_app_whitelist() {
    let (_dir, bus) = embedded();
    let apps = apps();
    apps.registry
        .add_origin(APP_A, "https://call.example")
        .unwrap();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let preflight = |origin: &'static str| {
        test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(&format!("/v1/apps/{APP_A}/conferences/c1/batch"))
            .insert_header(("Origin", origin))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .insert_header((
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ))
            .to_request()
    };
    let resp = test::call_service(&app, preflight("https://call.example")).await;
    assert!(resp.status().is_success());
    assert_eq!(
        resp.headers().get("access-control-allow-origin").unwrap(),
        "https://call.example"
    );
    let resp = test::call_service(&app, preflight("https://evil.example")).await;
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "no CORS grant for a foreign origin"
    );
}

#[actix_web::test]
async fn health_and_metrics() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(resp.status(), 200);
    let resp = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(resp.status(), 200);
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        text.contains("callscope_ingest_requests_total{route=\"/readyz\",status=\"200\"} 1"),
        "{text}"
    );
}

/// Every data route refuses a request without a token (401), with another app's token (401), and from an
/// origin the app does not allow (403); every auth route refuses bad credentials.
#[actix_web::test]
async fn every_route_refuses_missing_or_foreign_credentials() {
    let (_dir, bus) = embedded();
    let apps = apps();
    apps.registry
        .add_origin(APP_A, "https://call.example")
        .unwrap();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state)).await;
    let token_b = handshake(&app, APP_B, &apps.secret_b, USER, None).await;
    let token_a = handshake(
        &app,
        APP_A,
        &apps.secret_a,
        USER,
        Some("https://call.example"),
    )
    .await;
    let mut paths: Vec<String> = ROUTES
        .iter()
        .map(|r| path_for(r.path, APP_A, "c1", "u1"))
        .collect();
    paths.push(format!("/v1/apps/{APP_A}/conferences/c1/batch"));
    for uri in &paths {
        let body = alive();
        assert_eq!(
            post(&app, uri, None, None, body.clone()).await.status,
            401,
            "{uri} without a token"
        );
        assert_eq!(
            post(&app, uri, Some(&token_b), None, body.clone())
                .await
                .status,
            401,
            "{uri} with app B's token"
        );
        assert_eq!(
            post(
                &app,
                uri,
                Some(&token_a),
                Some("https://evil.example"),
                body
            )
            .await
            .status,
            403,
            "{uri} from a foreign origin"
        );
    }
    let bad = |v: Value| serde_json::to_vec(&v).unwrap();
    assert_eq!(
        post(
            &app,
            "/v1/auth/challenge",
            None,
            None,
            bad(json!({"appID": "nope", "userID": USER}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        post(
            &app,
            "/v1/auth/response",
            None,
            None,
            bad(json!({"challenge": "x.y.z", "response": "00"}))
        )
        .await
        .status,
        401
    );
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/authenticate")
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(format!(
                "grant_type=authorization_code&code=x.y.z&client_id={USER}%40{APP_A}"
            ))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
}
