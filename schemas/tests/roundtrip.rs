//! Round trips through the bus format: what goes into an envelope comes out identical,
//! including getStats members this version has no field for.

use callscope_schemas::envelope::{DecodeError, Envelope, EventKind, Origin, Payload};
use callscope_schemas::events::{
    AdditionalIds, CommonFields, EndpointInfo, StatsReport, StatsSample, UserInfo, UserJoined,
    WifiStats,
};
use callscope_schemas::examples;
use callscope_schemas::rest::RestEndpoint;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn round_trip(env: &Envelope) -> Envelope {
    let bytes = env.to_vec();
    Envelope::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&bytes)))
}

#[test]
fn every_payload_kind_round_trips() {
    let envelopes = examples::all_envelopes();
    assert_eq!(envelopes.len(), EventKind::ALL.len());
    for env in &envelopes {
        assert_eq!(&round_trip(env), env, "{}", env.kind());
    }
}

#[test]
fn minimal_envelopes_round_trip() {
    // No optional envelope field set: nothing is invented on the way back.
    for &kind in EventKind::ALL {
        let env = Envelope::new("1", "c", 0, Origin::Rest, examples::payload(kind));
        let json: Value = serde_json::from_slice(&env.to_vec()).unwrap();
        for absent in ["uc_id", "user_id", "client_ts_ms", "request_origin"] {
            assert!(
                json.get(absent).is_none(),
                "{kind}: {absent} written as {json}"
            );
        }
        assert_eq!(round_trip(&env), env);
    }
}

#[test]
fn unknown_getstats_fields_survive_the_bus() {
    let body = json!({
        "localID": "alice", "deviceID": "d", "timestamp": 1_700_000_000_000_u64,
        "remoteID": "bob", "connectionID": "pc-1",
        "stats": [{
            "id": "IT01V123", "type": "inbound-rtp", "timestamp": 1_700_000_000_000.5,
            "ssrc": 123, "kind": "video",
            "totalFreezesDuration": 1.25,
            "someFutureMetric": {"nested": [1, -2, 3.5, null, true, "x"]},
            "csioIntBRKbps": 812.4,
            "googLegacyThing": "kept"
        }]
    });
    let payload = RestEndpoint::Stats
        .decode(&serde_json::to_vec(&body).unwrap())
        .unwrap();
    let env = Envelope::new(
        "740123",
        "conf-42",
        1_700_000_000_100,
        Origin::Rest,
        payload,
    );
    let back = round_trip(&env);
    assert_eq!(back, env);

    let Payload::StatsSample(sample) = &back.payload else {
        panic!()
    };
    let report = &sample.stats[0];
    let sent = body["stats"][0].as_object().unwrap();
    for (key, value) in sent {
        match key.as_str() {
            "id" => assert_eq!(report.id, "IT01V123"),
            "type" => assert_eq!(report.r#type, "inbound-rtp"),
            "timestamp" => assert_eq!(report.timestamp, 1_700_000_000_000.5),
            _ => assert_eq!(report.other.get(key), Some(value), "{key} changed"),
        }
    }
    assert_eq!(report.other.len(), sent.len() - 3);
}

#[test]
fn decode_errors_are_distinct() {
    assert!(matches!(
        Envelope::from_slice(b"{"),
        Err(DecodeError::Json(_))
    ));
    let mut v: Value =
        serde_json::from_slice(&examples::envelope(EventKind::Sdp).to_vec()).unwrap();
    v["v"] = json!(99);
    let err = Envelope::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    v["v"] = json!(1);
    v["payload"]["kind"] = json!("telepathy");
    assert!(matches!(
        Envelope::from_slice(&serde_json::to_vec(&v).unwrap()),
        Err(DecodeError::UnknownKind { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// Floats that survive JSON exactly with serde_json's default (fast) float parser: at most 15
/// significant digits, like every timestamp and counter a browser produces.
fn nice_f64() -> impl Strategy<Value = f64> {
    (0u64..1_000_000_000_000_000, 0i32..4).prop_map(|(m, k)| m as f64 / 10f64.powi(k))
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        nice_f64().prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn members() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("[a-z][a-zA-Z0-9]{0,16}", json_value(), 0..8).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "type" | "timestamp"))
            .collect()
    })
}

fn report() -> impl Strategy<Value = StatsReport> {
    ("\\PC{1,32}", "[a-z-]{1,20}", nice_f64(), members()).prop_map(|(id, ty, timestamp, other)| {
        StatsReport {
            id,
            r#type: ty,
            timestamp,
            other: other.into(),
        }
    })
}

fn common() -> impl Strategy<Value = CommonFields> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        proptest::option::of(nice_f64()),
    )
        .prop_map(|(local_id, device_id, origin_id, timestamp)| CommonFields {
            local_id,
            device_id,
            origin_id,
            timestamp,
        })
}

fn stats_sample() -> impl Strategy<Value = StatsSample> {
    let wifi = (
        proptest::option::of(nice_f64()),
        proptest::option::of(nice_f64().prop_map(|v| -v)),
        opt_text(),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(timestamp, rssi, interface, addresses)| WifiStats {
            signal: None,
            rssi,
            timestamp,
            interface,
            noise: None,
            addresses,
        });
    (
        common(),
        text(),
        text(),
        proptest::collection::vec(report(), 0..12),
        proptest::option::of(wifi),
    )
        .prop_map(
            |(common, remote_id, connection_id, stats, wifi_stats)| StatsSample {
                common,
                remote_id,
                connection_id,
                stats,
                wifi_stats,
            },
        )
}

fn user_joined() -> impl Strategy<Value = UserJoined> {
    let endpoint = (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    )
        .prop_map(
            |(r#type, os, os_version, name, version, app_version, build_name, build_version)| {
                EndpointInfo {
                    r#type,
                    os,
                    os_version,
                    name,
                    version,
                    app_version,
                    build_name,
                    build_version,
                }
            },
        );
    let ids = proptest::option::of((opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
        |(customer_id, tenant_id, meetings_name, session_id)| AdditionalIds {
            customer_id,
            tenant_id,
            meetings_name,
            session_id,
            ..AdditionalIds::default()
        },
    ));
    let info = proptest::option::of((opt_text(), opt_text(), opt_text()).prop_map(
        |(user_name, alias_name, login_id)| UserInfo {
            user_name,
            alias_name,
            login_id,
        },
    ));
    (common(), endpoint, opt_text(), ids, info).prop_map(
        |(common, endpoint_info, site_id, additional_ids, user_info)| UserJoined {
            common,
            endpoint_info,
            site_id,
            additional_ids,
            user_info,
        },
    )
}

fn envelope_around(payload: Payload) -> impl Strategy<Value = Envelope> {
    (
        "[0-9]{1,10}",
        text(),
        opt_text(),
        opt_text(),
        any::<i64>(),
        proptest::option::of(any::<i64>()),
        proptest::sample::select(Origin::ALL),
        opt_text(),
    )
        .prop_map(
            move |(
                app_id,
                conference_id,
                uc_id,
                user_id,
                received_at_ms,
                client_ts_ms,
                origin,
                request_origin,
            )| {
                Envelope {
                    v: callscope_schemas::SCHEMA_VERSION,
                    app_id,
                    conference_id,
                    uc_id,
                    user_id,
                    received_at_ms,
                    client_ts_ms,
                    origin,
                    request_origin,
                    batch_id: None,
                    payload: payload.clone(),
                }
            },
        )
}

proptest! {
    #[test]
    fn stats_sample_round_trips(sample in stats_sample()) {
        let env = Envelope::new("740123", "conf", 1, Origin::JsSdk, sample.clone());
        let back = round_trip(&env);
        prop_assert_eq!(&back, &env);
        // The bare REST body form decodes to the same sample too.
        let body = serde_json::to_vec(&sample).unwrap();
        let Payload::StatsSample(decoded) = RestEndpoint::Stats.decode(&body).unwrap() else {
            panic!("not a stats sample")
        };
        prop_assert_eq!(*decoded, sample);
    }

    #[test]
    fn user_joined_round_trips(joined in user_joined()) {
        let env = Envelope::new("740123", "conf", 1, Origin::Rest, joined.clone());
        prop_assert_eq!(&round_trip(&env), &env);
        let body = serde_json::to_vec(&joined).unwrap();
        let Payload::UserJoined(decoded) = RestEndpoint::UserJoined.decode(&body).unwrap() else {
            panic!("not a user joined")
        };
        prop_assert_eq!(*decoded, joined);
    }

    #[test]
    fn envelope_headers_round_trip(
        env in proptest::sample::select(EventKind::ALL)
            .prop_flat_map(|k| envelope_around(examples::payload(k)))
    ) {
        prop_assert_eq!(&round_trip(&env), &env);
    }

    #[test]
    fn validation_never_panics_on_decoded_input(sample in stats_sample()) {
        let mut env = Envelope::new("740123", "conf", 1, Origin::JsSdk, sample);
        env.user_id = Some("alice".into());
        let _ = env.validate();
    }
}
