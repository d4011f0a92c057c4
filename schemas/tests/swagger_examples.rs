//! The callstats REST Swagger file, read at test time, against our types.
//!
//! The Swagger has no request examples (its only `example` values are in `AccessToken` and
//! `AuthenticationError`), so example bodies are generated from its `definitions`: for every
//! event path, one body with only the required members and one body per enum value with every
//! member, each enum cycling through all its documented values. Each body must
//!  1. decode through the route ingest uses ([`rest::route`] + [`RestEndpoint::decode`]),
//!  2. come back out with every member it went in with (nothing silently dropped), and
//!  3. pass validation inside an envelope.
//!
//! Response definitions are checked the same way against our response types.

use std::path::{Path, PathBuf};

use callscope_schemas::envelope::{Envelope, EventKind, Origin, Payload};
use callscope_schemas::rest::{
    self, AccessTokenResponse, AuthErrorResponse, ErrorResponse, RestEndpoint, SuccessResponse,
    UcIdResponse,
};
use serde_json::{Map, Value, json};

fn swagger_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/callstats-rest-api.swagger.json")
}

/// The Swagger document, or `None` (with a message) when the shared directory is absent.
fn load_swagger() -> Option<Value> {
    let path = swagger_path();
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the Swagger file is valid JSON")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: ../shared not present ({})", path.display());
            None
        }
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

struct Generator<'a> {
    doc: &'a Value,
}

impl<'a> Generator<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/definitions/").expect("local $ref");
                &self.doc["definitions"][name]
            }
            None => schema,
        }
    }

    /// The longest enum reachable from `schema`: how many full bodies cover every value.
    fn max_enum_len(&self, schema: &'a Value) -> usize {
        let schema = self.resolve(schema);
        let own = schema
            .get("enum")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .map_or(0, |p| {
                p.values().map(|s| self.max_enum_len(s)).max().unwrap_or(0)
            });
        let items = schema.get("items").map_or(0, |s| self.max_enum_len(s));
        own.max(props).max(items)
    }

    /// An example value for `schema`, found under the member `name`. `variant` selects enum
    /// values; `full` includes optional members.
    fn example(&self, schema: &'a Value, name: &str, variant: usize, full: bool) -> Value {
        let schema = self.resolve(schema);
        if let Some(example) = schema.get("example") {
            return example.clone();
        }
        if let Some(default) = schema.get("default") {
            return default.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return values[variant % values.len()].clone();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") | None => {
                let mut out = Map::new();
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (prop, prop_schema) in props {
                        if full || required.contains(&prop.as_str()) {
                            // Only the top level is minimal: nested objects (list items above
                            // all) are generated in full, see `ssrc_entries_need_an_ssrc`.
                            out.insert(
                                prop.clone(),
                                self.example(prop_schema, prop, variant, true),
                            );
                        }
                    }
                }
                Value::Object(out)
            }
            Some("array") => {
                if name == "urn:x-callstats:auth:errorActions" {
                    // Items are untyped in the Swagger; these are the documented actions.
                    return json!([{"action": "RETRY", "params": {"timeout": 5000}},
                                  {"action": "GET_NEW_TOKEN"}]);
                }
                Value::Array(vec![self.example(&schema["items"], name, variant, full)])
            }
            Some("string") => match name {
                // Open strings in the Swagger that we type as ICE connection states.
                "currIceCandidateState" => json!("disconnected"),
                "prevIceCandidateState" => json!("connected"),
                _ => json!(format!("example-{name}")),
            },
            Some("number") => match name {
                "timestamp" => json!(1_700_000_000_000_u64),
                _ => json!(12.5),
            },
            Some("integer") => match name {
                n if n.ends_with("Rating") => json!(4),
                n if n.ends_with("Port") => json!(3478),
                _ => json!(3),
            },
            Some("boolean") => json!(true),
            Some(other) => panic!("unhandled Swagger type {other} at {name}"),
        }
    }

    /// Bodies for one definition: required-only, then one full body per enum value.
    fn bodies(&self, schema: &'a Value) -> Vec<Value> {
        let mut out = vec![self.example(schema, "", 0, false)];
        let n = self.max_enum_len(schema).max(1);
        out.extend((0..n).map(|i| self.example(schema, "", i, true)));
        out
    }
}

/// Every leaf of `expected` must be at the same path in `actual` (numbers compared as f64).
fn assert_contains(expected: &Value, actual: &Value, path: &str, skip: &[&str]) {
    if skip.contains(&path) {
        return;
    }
    match expected {
        Value::Object(map) => {
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let Some(a) = actual.get(k) else {
                    if skip.contains(&child.as_str()) {
                        continue;
                    }
                    panic!("{child} was dropped; got {actual}");
                };
                assert_contains(v, a, &child, skip);
            }
        }
        Value::Array(items) => {
            let actual_items = actual
                .as_array()
                .unwrap_or_else(|| panic!("{path}: not an array in {actual}"));
            assert_eq!(items.len(), actual_items.len(), "{path}: length changed");
            for (i, (e, a)) in items.iter().zip(actual_items).enumerate() {
                assert_contains(e, a, &format!("{path}[{i}]"), skip);
            }
        }
        Value::Number(n) => {
            assert_eq!(n.as_f64(), actual.as_f64(), "{path}: number changed");
        }
        leaf => assert_eq!(leaf, actual, "{path}: value changed"),
    }
}

/// The kind each single-kind endpoint must produce.
fn expected_kind(endpoint: RestEndpoint, body: &Value) -> EventKind {
    match endpoint {
        RestEndpoint::UserJoined => EventKind::UserJoined,
        RestEndpoint::UserAlive => EventKind::UserAlive,
        RestEndpoint::UserLeft => EventKind::UserLeft,
        RestEndpoint::DeviceList => EventKind::DeviceList,
        RestEndpoint::MediaAction => EventKind::MediaAction,
        RestEndpoint::MediaPipeline => EventKind::MediaPipeline,
        RestEndpoint::Fabric => match body["eventType"].as_str() {
            Some("fabricSetup") => EventKind::FabricSetup,
            Some("fabricSetupFailed") => EventKind::FabricSetupFailed,
            Some("fabricTerminated") => EventKind::FabricTerminated,
            other => panic!("unexpected fabric eventType {other:?}"),
        },
        RestEndpoint::IceStatus => EventKind::IceStatus,
        RestEndpoint::Feedback => EventKind::Feedback,
        RestEndpoint::DominantSpeaker => EventKind::DominantSpeaker,
        RestEndpoint::FabricTransportChange => EventKind::FabricTransportChange,
        RestEndpoint::FabricStateChange => EventKind::FabricStateChange,
        RestEndpoint::SsrcMap => EventKind::SsrcMap,
        RestEndpoint::Sdp => EventKind::Sdp,
        RestEndpoint::Stats => EventKind::StatsSample,
        RestEndpoint::SystemStatus => EventKind::SystemStatus,
        other => panic!("{other:?} is not a Swagger endpoint"),
    }
}

#[test]
fn swagger_request_bodies_decode_keep_every_member_and_validate() {
    let Some(doc) = load_swagger() else { return };
    let generator = Generator { doc: &doc };
    let paths = doc["paths"].as_object().expect("paths");
    let mut bodies_checked = 0;
    let mut paths_checked = 0;

    for (path, ops) in paths {
        if path == rest::AUTHENTICATE_PATH {
            continue; // form-encoded token exchange, covered by the response test below
        }
        let route = rest::route(path).unwrap_or_else(|| panic!("no route for Swagger path {path}"));
        assert!(
            route.in_swagger,
            "{path} should be marked as a Swagger route"
        );
        let params = ops["post"]["parameters"].as_array().expect("parameters");
        let body_schema = &params
            .iter()
            .find(|p| p["in"] == "body")
            .unwrap_or_else(|| panic!("{path} has no body parameter"))["schema"];

        for body in generator.bodies(body_schema) {
            let bytes = serde_json::to_vec(&body).unwrap();
            let payload = route
                .endpoint
                .decode(&bytes)
                .unwrap_or_else(|e| panic!("{path}: {e}\nbody: {body}"));
            assert_eq!(
                payload.kind(),
                expected_kind(route.endpoint, &body),
                "{path}"
            );

            // Nothing the client sent is lost in decoding.
            let written = serde_json::to_value(&payload).unwrap();
            let data = &written["data"];
            match route.endpoint {
                // `fabricBody` is the union of three events: eventType became the kind, and
                // members that do not belong to that event are not kept (a setup has no
                // failure reason; a termination has no setup delays or candidates).
                RestEndpoint::Fabric => {
                    let skip: &[&str] = match body["eventType"].as_str() {
                        Some("fabricSetup") => &["eventType", "reason"],
                        Some("fabricTerminated") => &[
                            "eventType",
                            "reason",
                            "delay",
                            "iceGatheringDelay",
                            "iceConnectivityDelay",
                            "localCandidates",
                            "remoteCandidates",
                        ],
                        _ => &["eventType"],
                    };
                    assert_contains(&body, data, "", skip);
                }
                // The grouped stats object is normalized into one array of reports.
                RestEndpoint::Stats => {
                    assert_contains(&body, data, "", &["stats"]);
                    let groups = body["stats"].as_object().unwrap();
                    let n: usize = groups
                        .values()
                        .filter_map(Value::as_array)
                        .map(Vec::len)
                        .sum();
                    let Payload::StatsSample(s) = &payload else {
                        unreachable!()
                    };
                    assert_eq!(s.stats.len(), n, "{path}: every grouped report is kept");
                    let group_ts = groups.get("timestamp").and_then(Value::as_f64);
                    let body_ts = body["timestamp"].as_f64();
                    for r in &s.stats {
                        assert_eq!(Some(r.timestamp), group_ts.or(body_ts), "{path}");
                        assert!(!r.id.is_empty() && !r.r#type.is_empty(), "{path}");
                    }
                }
                _ => assert_contains(&body, data, "", &[]),
            }

            // And it is acceptable: the envelope ingest would build passes every rule.
            let mut env = Envelope::new(
                "740123",
                "conf-42",
                1_700_000_000_000,
                Origin::Rest,
                payload,
            );
            env.uc_id = Some("uc-1".into());
            env.user_id = Some("example-localID".into());
            match env.validate() {
                Ok(()) => {}
                // The Swagger does not require `feedback`, callstats.js requires `overall`:
                // a rating-less feedback is refused, naming the field.
                Err(e)
                    if route.endpoint == RestEndpoint::Feedback
                        && body.get("feedback").is_none()
                        && e.field == "feedback.overallRating" => {}
                Err(e) => panic!("{path}: generated body refused: {e}\nbody: {body}"),
            }
            bodies_checked += 1;
        }
        paths_checked += 1;
    }

    println!(
        "swagger: {bodies_checked} generated request bodies over {paths_checked} event paths decoded, \
         kept every member and validated"
    );
    assert_eq!(
        paths_checked, 16,
        "every event path of the Swagger is covered"
    );
    assert!(
        bodies_checked >= 40,
        "only {bodies_checked} bodies were checked"
    );
}

#[test]
fn swagger_response_examples_match_our_response_types() {
    let Some(doc) = load_swagger() else { return };
    let generator = Generator { doc: &doc };
    let defs = &doc["definitions"];
    let mut checked = 0;

    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str, body: &Value) {
        let parsed: T = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}\nbody: {body}"));
        assert_contains(body, &serde_json::to_value(&parsed).unwrap(), "", &[]);
    }

    round_trip::<SuccessResponse>(
        "successResponse",
        &generator.example(&defs["successResponse"], "", 0, true),
    );
    checked += 1;
    round_trip::<UcIdResponse>(
        "ucIDResponse",
        &generator.example(&defs["ucIDResponse"], "", 0, true),
    );
    checked += 1;
    for name in [
        "invalidRequest",
        "unauthorizedRequest",
        "invalidRequestBody",
        "internalServerResponse",
        "serviceUnavailableResponse",
    ] {
        let body = generator.example(&defs[name], "", 0, true);
        assert_eq!(body["status"], "error", "{name}");
        round_trip::<ErrorResponse>(name, &body);
        checked += 1;
    }

    // The only literal examples of the Swagger.
    let token = generator.example(&defs["AccessToken"], "", 0, true);
    let parsed: AccessTokenResponse = serde_json::from_value(token.clone()).unwrap();
    assert_eq!(
        parsed,
        AccessTokenResponse {
            access_token: "-064b-4a76-8a2d-d686ec773992".into(),
            expires_in: 3600,
            token_type: "bearer".into(),
        }
    );
    assert_eq!(serde_json::to_value(&parsed).unwrap(), token);
    checked += 1;
    let auth_error = generator.example(&defs["AuthenticationError"], "", 0, true);
    assert_eq!(auth_error["error"], "invalid_request");
    round_trip::<AuthErrorResponse>("AuthenticationError", &auth_error);
    checked += 1;

    println!("swagger: {checked} response definitions match our response types");
    assert_eq!(checked, 9);
}

/// Deviation from the Swagger, on purpose: `ssrcInfoObj` lists no required member, but an SSRC
/// map entry without an SSRC maps nothing (callstats.js: the SSRC "MUST not be null or empty").
#[test]
fn ssrc_entries_need_an_ssrc() {
    let body = br#"{"localID":"a","deviceID":"d","timestamp":1,"remoteID":"b","connectionID":"c",
        "ssrcData":[{"userID":"bob","streamType":"inbound"}]}"#;
    let err = RestEndpoint::SsrcMap.decode(body).unwrap_err();
    assert!(err.to_string().contains("missing field `ssrc`"), "{err}");
}
