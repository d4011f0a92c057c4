#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Integration progress counted by ingest: a partial integration over the real HTTP API and an
//! embedded bus, then the progress records read back from the bus.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::test;
use callscope_bus::Bus;
use callscope_ingest::IngestConfig;
use callscope_schemas::integration::{INTEGRATION_CONFERENCE_ID, ItemProgress};
use callscope_schemas::{EventKind, Payload};
use common::*;
use serde_json::{Value, json};

async fn post_batch<S, B>(app: &S, conf: &str, token: &str, events: Vec<Value>) -> (u16, Value)
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
            .uri(&format!("/v1/apps/{APP_A}/conferences/{conf}/batch"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(json!({ "events": events }))
            .to_request(),
    )
    .await;
    let status = resp.status().as_u16();
    let body: Value = test::read_body_json(resp).await;
    (status, body)
}

/// The progress records on the topic, by app, each app's items by id.
async fn progress(bus: &dyn Bus, n: usize) -> BTreeMap<String, BTreeMap<String, ItemProgress>> {
    let mut out: BTreeMap<String, BTreeMap<String, ItemProgress>> = BTreeMap::new();
    for record in read_records(bus, "progress-reader", n).await {
        for envelope in callscope_schemas::decode_record(&record.payload).unwrap() {
            if let Payload::IntegrationProgress(p) = &envelope.payload {
                assert_eq!(envelope.conference_id, INTEGRATION_CONFERENCE_ID);
                assert!(p.window_start_ms <= p.window_end_ms);
                let items = out.entry(envelope.app_id.clone()).or_default();
                for i in &p.items {
                    items.insert(i.item.id(), i.clone());
                }
            }
        }
    }
    out
}

#[actix_web::test]
async fn a_partial_integration_is_counted_with_its_refusal() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        IngestConfig::default(),
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state.clone())).await;
    // initialize
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;
    // addNewFabric: the join, then the fabric
    let mut joined = example(EventKind::UserJoined);
    joined["endpointInfo"]
        .as_object_mut()
        .unwrap()
        .remove("appVersion");
    let (status, body) = post_batch(
        &app,
        "room-1",
        &token,
        vec![
            item(EventKind::UserJoined, joined),
            item(EventKind::FabricCreated, example(EventKind::FabricCreated)),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // sendFabricEvent with a value that is not a fabricEvent
    let mut bad = example(EventKind::MediaAction);
    bad["eventType"] = "fooBar".into();
    let (status, body) = post_batch(
        &app,
        "room-1",
        &token,
        vec![item(EventKind::MediaAction, bad)],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "events[0].data.eventType");
    // A client cannot write progress records itself.
    let (status, body) = post_batch(
        &app,
        "room-1",
        &token,
        vec![item(
            EventKind::IntegrationProgress,
            example(EventKind::IntegrationProgress),
        )],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "events[0].kind");

    callscope_ingest::flush_progress(&state).await;
    // Records: the accepted batch, then one progress record for app A.
    let by_app = progress(&bus, 2).await;
    assert_eq!(by_app.keys().collect::<Vec<_>>(), vec![APP_A]);
    let a = &by_app[APP_A];
    assert_eq!(
        a.keys().map(String::as_str).collect::<Vec<_>>(),
        // Sorted by id.
        vec!["add_new_fabric", "initialize", "send_fabric_event"]
    );
    assert_eq!((a["initialize"].accepted, a["initialize"].refused), (1, 0));
    assert_eq!(
        (a["add_new_fabric"].accepted, a["add_new_fabric"].refused),
        (1, 0)
    );
    let sfe = &a["send_fabric_event"];
    // The progress record refusal is not counted: integration_progress belongs to no line.
    assert_eq!((sfe.accepted, sfe.refused), (0, 1));
    assert_eq!(sfe.status, Some(422));
    assert_eq!(sfe.field.as_deref(), Some("events[0].data.eventType"));
    let error = sfe.error.as_deref().unwrap();
    assert!(
        error.starts_with("events[0].data.eventType: ") && error.contains("fooBar"),
        "{error}"
    );
}

#[actix_web::test]
async fn refusals_are_counted_under_the_call_they_belong_to() {
    let (_dir, bus) = embedded();
    let apps = apps();
    let config = IngestConfig {
        progress_interval_ms: 60_000,
        ..IngestConfig::default()
    };
    let state = state(
        apps.registry,
        bus.producer().unwrap(),
        config,
        Duration::from_secs(7200),
    );
    let app = test::init_service(callscope_ingest::app(state.clone())).await;
    let token = handshake(&app, APP_A, &apps.secret_a, USER, None).await;

    // applicationVersion over 30 characters, on the join.
    let mut joined = example(EventKind::UserJoined);
    joined["endpointInfo"]["appVersion"] = "v".repeat(31).into();
    let (status, body) = post_batch(
        &app,
        "room-1",
        &token,
        vec![item(EventKind::UserJoined, joined)],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // A conferenceID over 256 bytes, on addNewFabric.
    let long_conf = "c".repeat(257);
    let (status, body) = post_batch(
        &app,
        &long_conf,
        &token,
        vec![item(
            EventKind::FabricCreated,
            example(EventKind::FabricCreated),
        )],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "conferenceID");
    // A bad origin: an authentication problem.
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri(&format!("/v1/apps/{APP_A}/conferences/room-1/batch"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Origin", "not an origin"))
            .set_json(json!({"events": [item(EventKind::UserAlive, json!({}))]}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 403);
    // Stats over REST with a body that is not JSON.
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri(&format!("/v1/apps/{APP_A}/conferences/room-1/uc-1/stats"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{not json")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    // An app that does not exist is not counted anywhere.
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/v1/apps/999999/conferences/room-1/batch")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_json(json!({"events": [item(EventKind::UserAlive, json!({}))]}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 404);

    callscope_ingest::flush_progress(&state).await;
    let by_app = progress(&bus, 1).await;
    assert_eq!(by_app.keys().collect::<Vec<_>>(), vec![APP_A]);
    let a = &by_app[APP_A];
    assert_eq!(
        a.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "add_new_fabric",
            "application_version",
            "initialize",
            "stats"
        ]
    );
    let av = &a["application_version"];
    assert_eq!((av.accepted, av.refused), (0, 1));
    assert_eq!(
        av.field.as_deref(),
        Some("events[0].data.endpointInfo.appVersion")
    );
    let anf = &a["add_new_fabric"];
    assert_eq!((anf.accepted, anf.refused), (0, 1));
    assert_eq!(anf.field.as_deref(), Some("conferenceID"));
    // The handshake succeeded once; the bad origin was refused once.
    let init = &a["initialize"];
    assert_eq!(
        (init.accepted, init.refused, init.status),
        (1, 1, Some(403))
    );
    let stats = &a["stats"];
    assert_eq!(
        (stats.accepted, stats.refused, stats.status),
        (0, 1, Some(400))
    );
}
