//! The callstats v1 REST API surface: which path carries which body, and the response bodies.
//!
//! [`ROUTES`] lists every event path callstats clients used, with actix-compatible path
//! templates (`{appID}` style), so ingest can register them from this table and nothing else;
//! [`RestEndpoint::decode`] turns a request body into the [`Payload`] the envelope carries. The
//! table includes the paths the official SDKs used besides the Swagger's (`/events/fabric/setup`,
//! `/events/media`, `/stats/system`, the bridge paths), because "change the base URL" must work
//! for them too.

use serde::{Deserialize, Serialize};

use crate::enums::{AuthErrorAction, ResponseStatus};
use crate::envelope::Payload;
use crate::events::*;
use crate::validate::ValidationError;

/// The kind of request a REST path takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestEndpoint {
    UserJoined,
    UserAlive,
    UserLeft,
    UserDetails,
    DeviceList,
    MediaAction,
    MediaPipeline,
    /// `.../events/fabric`: setup, setup failed or terminated, by `eventType`.
    Fabric,
    FabricSetup,
    FabricSetupFailed,
    FabricTerminated,
    /// `.../events/fabric/actions`: hold or resume, by `eventType`.
    FabricAction,
    FabricDropped,
    FabricStateChange,
    FabricTransportChange,
    IceStatus,
    Feedback,
    DominantSpeaker,
    SsrcMap,
    Sdp,
    AppLog,
    Stats,
    SystemStatus,
    BridgeStatus,
    BridgeAlive,
}

/// What a path identifies besides the app, which decides how ingest fills the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestScope {
    /// `{appID}` only: app-level reports, see [`crate::envelope::app_level_conference_id`].
    App,
    /// `{appID}/conferences/{confID}`: user joined, which creates the ucID.
    Conference,
    /// `{appID}/conferences/{confID}/{ucID}`: everything a joined user sends.
    Session,
}

/// One REST path and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestRoute {
    /// Path template relative to the host, with `{appID}`, `{confID}`, `{ucID}` placeholders.
    pub path: &'static str,
    pub endpoint: RestEndpoint,
    /// Whether the path is in the Swagger (`true`) or only used by official SDKs.
    pub in_swagger: bool,
}

macro_rules! routes {
    ($( ($prefix:ident, $suffix:literal, $endpoint:ident, $swagger:literal) ),+ $(,)?) => {
        /// Every POST path of the callstats v1 REST API that carries an event.
        pub const ROUTES: &[RestRoute] = &[
            $( RestRoute {
                path: routes!(@path $prefix, $suffix),
                endpoint: RestEndpoint::$endpoint,
                in_swagger: $swagger,
            }, )+
        ];
    };
    (@path SESSION, $suffix:literal) => { concat!("/v1/apps/{appID}/conferences/{confID}/{ucID}", $suffix) };
    (@path CONFERENCE, $suffix:literal) => { concat!("/v1/apps/{appID}/conferences/{confID}", $suffix) };
    (@path APP, $suffix:literal) => { concat!("/v1/apps/{appID}", $suffix) };
}

routes![
    (CONFERENCE, "", UserJoined, true),
    (SESSION, "/events/user/alive", UserAlive, true),
    (SESSION, "/events/user/left", UserLeft, true),
    (SESSION, "/events/userdetails", UserDetails, false),
    (SESSION, "/events/devices/list", DeviceList, true),
    (SESSION, "/events/media/actions", MediaAction, true),
    (SESSION, "/events/media/pipeline", MediaPipeline, true),
    (SESSION, "/events/media", MediaPipeline, false),
    (SESSION, "/events/fabric", Fabric, true),
    (SESSION, "/events/fabric/setup", FabricSetup, false),
    (
        SESSION,
        "/events/fabric/setupfailed",
        FabricSetupFailed,
        false
    ),
    (
        SESSION,
        "/events/fabric/terminated",
        FabricTerminated,
        false
    ),
    (SESSION, "/events/fabric/actions", FabricAction, false),
    (SESSION, "/events/fabric/status", FabricDropped, false),
    (
        SESSION,
        "/events/fabric/statechange",
        FabricStateChange,
        true
    ),
    (
        SESSION,
        "/events/fabric/transportchange",
        FabricTransportChange,
        true
    ),
    (SESSION, "/events/ice/status", IceStatus, true),
    (SESSION, "/events/feedback", Feedback, true),
    (SESSION, "/events/dominantspeaker", DominantSpeaker, true),
    (SESSION, "/events/ssrcmap", SsrcMap, true),
    (SESSION, "/events/sdp", Sdp, true),
    (SESSION, "/events/app/logs", AppLog, false),
    (SESSION, "/stats", Stats, true),
    (SESSION, "/system/status", SystemStatus, true),
    (SESSION, "/stats/system", SystemStatus, false),
    (APP, "/stats/system", SystemStatus, false),
    (APP, "/stats/bridge/status", BridgeStatus, false),
    (APP, "/stats/bridge/alive", BridgeAlive, false),
];

/// `POST /authenticate` (form-encoded, not an event; handled by ingest's auth module).
pub const AUTHENTICATE_PATH: &str = "/authenticate";

impl RestRoute {
    /// What the path identifies, from its placeholders.
    #[must_use]
    pub fn scope(&self) -> RestScope {
        if self.path.contains("{ucID}") {
            RestScope::Session
        } else if self.path.contains("{confID}") {
            RestScope::Conference
        } else {
            RestScope::App
        }
    }
}

/// The body of `.../events/fabric`, dispatched on `eventType`.
#[derive(Deserialize)]
#[serde(tag = "eventType")]
enum FabricBody {
    #[serde(rename = "fabricSetup")]
    Setup(Box<FabricSetup>),
    #[serde(rename = "fabricSetupFailed")]
    SetupFailed(Box<FabricSetupFailed>),
    #[serde(rename = "fabricTerminated")]
    Terminated(Box<FabricTerminated>),
}

/// The body of `.../events/fabric/actions`, dispatched on `eventType`.
#[derive(Deserialize)]
#[serde(tag = "eventType")]
enum FabricActionBody {
    #[serde(rename = "fabricHold")]
    Hold(FabricHold),
    #[serde(rename = "fabricResume")]
    Resume(FabricResume),
}

impl RestEndpoint {
    /// Parses a JSON request body of this endpoint into the payload to put on the bus.
    ///
    /// serde's message names the offending field for missing fields and unknown enum values;
    /// ingest should answer it as 422 (the callstats status for "invalid request body").
    pub fn decode(self, body: &[u8]) -> Result<Payload, serde_json::Error> {
        self.decode_body(body).map_err(|e| e.source)
    }

    /// Like [`RestEndpoint::decode`], and names where in the body the problem is
    /// (`feedback.overallRating`), so ingest can answer 422 naming the field.
    pub fn decode_body(self, body: &[u8]) -> Result<Payload, crate::batch::BodyError> {
        use crate::batch::decode_json as json;
        Ok(match self {
            RestEndpoint::UserJoined => json::<UserJoined>(body)?.into(),
            RestEndpoint::UserAlive => json::<UserAlive>(body)?.into(),
            RestEndpoint::UserLeft => json::<UserLeft>(body)?.into(),
            RestEndpoint::UserDetails => json::<UserDetails>(body)?.into(),
            RestEndpoint::DeviceList => json::<DeviceList>(body)?.into(),
            RestEndpoint::MediaAction => json::<MediaAction>(body)?.into(),
            RestEndpoint::MediaPipeline => json::<MediaPipeline>(body)?.into(),
            RestEndpoint::Fabric => match json::<FabricBody>(body)? {
                FabricBody::Setup(e) => Payload::FabricSetup(e),
                FabricBody::SetupFailed(e) => Payload::FabricSetupFailed(e),
                FabricBody::Terminated(e) => Payload::FabricTerminated(e),
            },
            RestEndpoint::FabricSetup => json::<FabricSetup>(body)?.into(),
            RestEndpoint::FabricSetupFailed => json::<FabricSetupFailed>(body)?.into(),
            RestEndpoint::FabricTerminated => json::<FabricTerminated>(body)?.into(),
            RestEndpoint::FabricAction => match json::<FabricActionBody>(body)? {
                FabricActionBody::Hold(e) => e.into(),
                FabricActionBody::Resume(e) => e.into(),
            },
            RestEndpoint::FabricDropped => json::<FabricDropped>(body)?.into(),
            RestEndpoint::FabricStateChange => json::<FabricStateChange>(body)?.into(),
            RestEndpoint::FabricTransportChange => json::<FabricTransportChange>(body)?.into(),
            RestEndpoint::IceStatus => json::<IceStatus>(body)?.into(),
            RestEndpoint::Feedback => json::<UserFeedback>(body)?.into(),
            RestEndpoint::DominantSpeaker => json::<DominantSpeaker>(body)?.into(),
            RestEndpoint::SsrcMap => json::<SsrcMap>(body)?.into(),
            RestEndpoint::Sdp => json::<Sdp>(body)?.into(),
            RestEndpoint::AppLog => json::<AppLog>(body)?.into(),
            RestEndpoint::Stats => json::<StatsSample>(body)?.into(),
            RestEndpoint::SystemStatus => json::<SystemStatus>(body)?.into(),
            RestEndpoint::BridgeStatus => json::<BridgeStatus>(body)?.into(),
            RestEndpoint::BridgeAlive => json::<BridgeAlive>(body)?.into(),
        })
    }
}

/// Finds the route of a path template, e.g. from an actix match pattern.
#[must_use]
pub fn route(path_template: &str) -> Option<&'static RestRoute> {
    ROUTES.iter().find(|r| r.path == path_template)
}

// ---------------------------------------------------------------------------------------------
// Response bodies
// ---------------------------------------------------------------------------------------------

/// 200 of every event endpoint (`successResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    /// Always `success`.
    pub status: ResponseStatus,
    pub msg: String,
}

/// 200 of user joined (`ucIDResponse`): the ucID the client puts in every later path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UcIdResponse {
    /// Always `success`.
    pub status: ResponseStatus,
    #[serde(rename = "ucID", default, skip_serializing_if = "Option::is_none")]
    pub uc_id: Option<String>,
}

/// 4xx/5xx body of every event endpoint (`invalidRequest`, `invalidRequestBody`, ...).
///
/// callstats sent `{status: "error", msg}`; we add the refused field and the reason as separate
/// members (SPEC: "a JSON body naming the field and the reason"), which old clients ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always `error`.
    pub status: ResponseStatus,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorResponse {
    /// An error without a specific field (auth, overload).
    #[must_use]
    pub fn new(msg: impl Into<String>) -> Self {
        ErrorResponse {
            status: ResponseStatus::Error,
            msg: msg.into(),
            field: None,
            reason: None,
        }
    }
}

impl From<&ValidationError> for ErrorResponse {
    fn from(e: &ValidationError) -> Self {
        ErrorResponse {
            status: ResponseStatus::Error,
            msg: e.to_string(),
            field: Some(e.field.clone()),
            reason: Some(e.reason.clone()),
        }
    }
}

/// 200 of `POST /authenticate` (`AccessToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenResponse {
    pub access_token: String,
    /// Seconds.
    pub expires_in: u64,
    /// Always `bearer`.
    pub token_type: String,
}

/// 400/500 of `POST /authenticate` (`AuthenticationError`), with the callstats error actions
/// that tell the client whether to retry, get a new token or give up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthErrorResponse {
    /// OAuth 2 error code, e.g. `invalid_request`, `invalid_grant`.
    pub error: String,
    /// Human readable reason.
    #[serde(
        rename = "errorReason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_reason: Option<String>,
    #[serde(
        rename = "urn:x-callstats:auth:errorActions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub error_actions: Vec<AuthErrorActionItem>,
}

/// One suggested action of an authentication error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthErrorActionItem {
    pub action: AuthErrorAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<AuthRetryParams>,
}

/// Parameters of a `RETRY` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRetryParams {
    /// Milliseconds to wait before retrying.
    pub timeout: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::envelope::EventKind;

    #[test]
    fn routes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert(r.path), "duplicate route {}", r.path);
            assert!(r.path.starts_with("/v1/apps/{appID}"), "{}", r.path);
            assert_eq!(route(r.path), Some(r));
        }
        assert_eq!(
            route("/v1/apps/{appID}/conferences/{confID}").map(|r| r.scope()),
            Some(RestScope::Conference)
        );
        assert_eq!(
            route("/v1/apps/{appID}/stats/bridge/alive").map(|r| r.scope()),
            Some(RestScope::App)
        );
        assert_eq!(
            route("/v1/apps/{appID}/conferences/{confID}/{ucID}/stats").map(|r| r.scope()),
            Some(RestScope::Session)
        );
    }

    #[test]
    fn fabric_body_dispatches_on_event_type() {
        let body = |event_type: &str| {
            serde_json::to_vec(&json!({
                "localID": "a", "deviceID": "d", "timestamp": 1, "remoteID": "b",
                "connectionID": "c", "eventType": event_type, "reason": "TransportFailure"
            }))
            .unwrap()
        };
        let kinds: Vec<_> = ["fabricSetup", "fabricSetupFailed", "fabricTerminated"]
            .iter()
            .map(|t| RestEndpoint::Fabric.decode(&body(t)).unwrap().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::FabricSetup,
                EventKind::FabricSetupFailed,
                EventKind::FabricTerminated
            ]
        );
        let err = RestEndpoint::Fabric
            .decode(&body("fabricExploded"))
            .unwrap_err();
        assert!(err.to_string().contains("fabricExploded"), "{err}");
    }

    #[test]
    fn fabric_actions_dispatch_on_event_type() {
        let body = br#"{"localID":"a","deviceID":"d","timestamp":1,"remoteID":"b","connectionID":"c","eventType":"fabricResume"}"#;
        assert_eq!(
            RestEndpoint::FabricAction.decode(body).unwrap().kind(),
            EventKind::FabricResume
        );
    }

    #[test]
    fn missing_required_field_is_named() {
        let err = RestEndpoint::FabricStateChange
            .decode(br#"{"localID":"a","remoteID":"b","connectionID":"c","prevState":"new","changedState":"iceConnectionState"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("newState"), "{err}");
    }

    #[test]
    fn native_sdk_system_status_is_normalized() {
        let p = RestEndpoint::SystemStatus
            .decode(br#"{"localID":"a","deviceID":"d","timestamp":1,"cpuLevel":40,"batteryLevel":90,"memoryUsage":300,"memoryAvailable":2048,"threadCount":12}"#)
            .unwrap();
        let Payload::SystemStatus(s) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            s.status_stats,
            SystemStats {
                cpu_usage: Some(40.0),
                battery_level: Some(90.0),
                memory_usage: Some(300.0),
                total_memory: Some(2048.0),
                thread_count: Some(12.0),
            }
        );
        let written = serde_json::to_value(&*s).unwrap();
        assert_eq!(written["statusStats"]["totalMemory"], 2048.0);
        assert!(written.get("cpuLevel").is_none());
    }

    #[test]
    fn candidate_pair_in_a_list_is_accepted_but_two_are_refused() {
        let one = br#"{"remoteID":"b","connectionID":"c","eventType":"iceDisruptionStart",
            "currIceCandidatePair":[{"id":"4","localCandidateId":"1","remoteCandidateId":"2","state":"frozen","priority":1,"nominated":true}],
            "currIceConnectionState":"disconnected","prevIceConnectionState":"completed"}"#;
        let Payload::IceStatus(s) = RestEndpoint::IceStatus.decode(one).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.curr_ice_candidate_pair
                .as_ref()
                .and_then(|p| p.candidate_id.as_deref()),
            Some("4")
        );
        assert_eq!(
            s.prev_ice_connection_state,
            Some(crate::enums::IceConnectionState::Completed)
        );
        let two = br#"{"remoteID":"b","connectionID":"c","eventType":"iceFailed",
            "currIceCandidatePair":[{"id":"4"},{"id":"5"}]}"#;
        assert!(RestEndpoint::IceStatus.decode(two).is_err());
    }

    #[test]
    fn js_sdk_spellings_are_read() {
        let fb = RestEndpoint::Feedback
            .decode(br#"{"localID":"a","feedback":{"overall":4,"audio":5,"comment":"ok"}}"#)
            .unwrap();
        let Payload::Feedback(f) = fb else { panic!() };
        assert_eq!(f.feedback.overall_rating, Some(4));
        assert_eq!(f.feedback.audio_quality_rating, Some(5));
        assert_eq!(f.feedback.comments.as_deref(), Some("ok"));

        let dl = RestEndpoint::DeviceList
            .decode(br#"{"eventType":"activeDeviceList","deviceList":[{"deviceId":"x","kind":"audioinput","label":"Mic","groupId":"g"}]}"#)
            .unwrap();
        let Payload::DeviceList(d) = dl else { panic!() };
        assert_eq!(d.media_device_list[0].media_device_id.as_deref(), Some("x"));
        assert_eq!(d.media_device_list[0].group_id.as_deref(), Some("g"));

        let ma = RestEndpoint::MediaAction
            .decode(br#"{"eventType":"audioUnmute","ssrc":12345}"#)
            .unwrap();
        let Payload::MediaAction(m) = ma else {
            panic!()
        };
        assert_eq!(m.ssrc.as_deref(), Some("12345"));
        assert_eq!(m.event_type, crate::enums::MediaActionType::AudioUnmute);
    }

    #[test]
    fn error_response_names_field_and_reason() {
        let e = ValidationError::new("conferenceID", "must not be empty");
        let body = serde_json::to_value(ErrorResponse::from(&e)).unwrap();
        assert_eq!(
            body,
            json!({"status": "error", "msg": "conferenceID: must not be empty",
                   "field": "conferenceID", "reason": "must not be empty"})
        );
    }
}
