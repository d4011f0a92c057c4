//! The versioned envelope: the one message format on the bus (`callscope.ingest.v1`).
//!
//! Ingest wraps every accepted event in an [`Envelope`] carrying what the payload cannot be
//! trusted to say itself (the authenticated app and user, the server receive time, where it
//! came from) and produces it keyed by [`Envelope::bus_key`], so one conference stays on one
//! partition, in order. The processor decodes with [`Envelope::from_slice`], which refuses a
//! newer schema version instead of misreading it: a consumer that meets one must stop or
//! dead-letter, never guess.
//!
//! JSON form:
//! `{"v":1,"app_id":"..","conference_id":"..","uc_id":"..","user_id":"..","received_at_ms":..,
//! "client_ts_ms":..,"origin":"js_sdk","request_origin":"https://..","payload":{"kind":"..","data":{..}}}`.
//! `kind` is written before `data`, which lets serde decode the payload without buffering it.

use serde::{Deserialize, Serialize};

use crate::enums::string_enum;
use crate::events::{
    AppLog, BridgeAlive, BridgeStatus, DeviceList, DominantSpeaker, FabricCreated, FabricDropped,
    FabricHold, FabricResume, FabricSetup, FabricSetupFailed, FabricStateChange, FabricTerminated,
    FabricTransportChange, IceStatus, MediaAction, MediaPipeline, ReportError, Sdp, SsrcMap,
    StatsSample, SystemStatus, UserAlive, UserDetails, UserFeedback, UserJoined, UserLeft,
};
use crate::integration::IntegrationProgress;

/// The envelope schema version this build writes and the highest it reads.
///
/// Bump it when a change would make an older consumer misread a message (a renamed or
/// re-typed field, a changed unit). Adding an optional field or a new kind does not need a
/// bump: older consumers ignore unknown fields and dead-letter unknown kinds.
pub const SCHEMA_VERSION: u16 = 1;

/// Prefix of the synthetic conference ID under which app-level reports (bridge status and
/// keep-alive, system status sent outside a conference) travel, see [`app_level_conference_id`].
pub const APP_LEVEL_CONFERENCE_PREFIX: &str = "_app:";

/// The `conference_id` for a report that belongs to no conference, e.g.
/// `/v1/apps/{appID}/stats/bridge/status`.
///
/// Keying such reports by their reporter keeps each bridge's stream ordered on one partition,
/// and the prefix lets the processor route them away from conference state.
#[must_use]
pub fn app_level_conference_id(reporter_id: &str) -> String {
    format!("{APP_LEVEL_CONFERENCE_PREFIX}{reporter_id}")
}

string_enum! {
    /// Which door an event came in through; kept so that synthetic and imported traffic can
    /// always be excluded from real analytics.
    pub enum Origin as "origin" {
        /// The browser SDK (callstats.js API), batch endpoint.
        JsSdk = "js_sdk",
        /// The callstats v1 REST API (native SDKs, bridges).
        Rest = "rest",
        /// `callscope import` of rtcstats dumps.
        Import = "import",
        /// `callscope simulate`.
        Simulate = "simulate",
    }
}

/// One accepted event and its server-side context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Schema version, [`SCHEMA_VERSION`] when written by this build.
    pub v: u16,
    pub app_id: String,
    pub conference_id: String,
    /// The per-user-per-conference ID that user joined returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uc_id: Option<String>,
    /// The authenticated user (the token's userID, the REST `localID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Server receive time, unix ms: the clock all ordering and windowing uses, since client
    /// clocks cannot be trusted.
    pub received_at_ms: i64,
    /// The client's own timestamp for the event, unix ms, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ts_ms: Option<i64>,
    pub origin: Origin,
    /// The HTTP `Origin` header of the request, kept for audits of origin whitelisting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_origin: Option<String>,
    /// The client's `batchID` of the JS SDK batch this event came in: a batch retried after a
    /// lost answer carries the same one, and the processor applies it only once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    pub payload: Payload,
}

/// Why bytes from the bus are not a usable [`Envelope`]. Each variant is a reason to
/// dead-letter the message, never to stop the partition.
#[derive(Debug, thiserror::Error)]
#[must_use]
pub enum DecodeError {
    /// Not JSON, or JSON that does not match the envelope or its payload.
    #[error("malformed envelope: {0}")]
    Json(#[source] serde_json::Error),
    /// Written by a newer (or invalid) schema version that this build cannot read safely.
    #[error(
        "unsupported envelope schema version {version}: this build reads versions 1 to {supported}; \
         upgrade the consumer before replaying this message"
    )]
    UnsupportedVersion { version: u16, supported: u16 },
    /// A payload kind this build does not know, e.g. from a newer producer.
    #[error("unknown payload kind {kind:?}")]
    UnknownKind { kind: String },
}

impl Envelope {
    /// Wraps a payload with the current schema version.
    #[must_use]
    pub fn new(
        app_id: impl Into<String>,
        conference_id: impl Into<String>,
        received_at_ms: i64,
        origin: Origin,
        payload: impl Into<Payload>,
    ) -> Self {
        Envelope {
            v: SCHEMA_VERSION,
            app_id: app_id.into(),
            conference_id: conference_id.into(),
            uc_id: None,
            user_id: None,
            received_at_ms,
            client_ts_ms: None,
            origin,
            request_origin: None,
            batch_id: None,
            payload: payload.into(),
        }
    }

    /// The payload kind.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }

    /// The bus message key, `"{app_id}/{conference_id}"`: one conference, one partition, in
    /// order. App IDs cannot contain `/` (see [`crate::validate`]), so the key is unambiguous.
    #[must_use]
    pub fn bus_key(&self) -> String {
        format!("{}/{}", self.app_id, self.conference_id)
    }

    /// JSON bytes for the bus.
    ///
    /// Serialization of these types cannot fail (all map keys are strings, no custom
    /// serializer errors, non-finite floats become `null` and are refused by validation), so
    /// this returns bytes directly; [`Envelope::try_to_vec`] exposes the theoretical error.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        match self.try_to_vec() {
            Ok(bytes) => bytes,
            Err(err) => {
                // Unreachable by construction (see above); an empty message is refused by every
                // consumer and lands in the dead-letter topic with a reason, so it is not lost
                // silently even if this ever changed.
                debug_assert!(false, "envelope serialization failed: {err}");
                Vec::new()
            }
        }
    }

    /// JSON bytes for the bus, with the serializer's error.
    pub fn try_to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Decodes bytes from the bus, refusing versions newer than [`SCHEMA_VERSION`] and unknown
    /// kinds with errors that say so.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        match json_from_bytes::<Envelope>(bytes) {
            Ok(envelope) => {
                check_version(envelope.v)?;
                Ok(envelope)
            }
            Err(err) => Err(classify(bytes, err)),
        }
    }

    /// Runs every validation rule of [`crate::validate`] on the envelope and its payload.
    pub fn validate(&self) -> Result<(), crate::ValidationError> {
        crate::validate::Validate::validate(self)
    }
}

/// `serde_json::from_slice`, with the UTF-8 check done once for the whole input: parsing from a
/// `&str` does not check each string again, which was 8 % of decoding a sample. Input that is not
/// UTF-8 goes to `from_slice`, whose error says where.
pub(crate) fn json_from_bytes<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

fn check_version(v: u16) -> Result<(), DecodeError> {
    if (1..=SCHEMA_VERSION).contains(&v) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion {
            version: v,
            supported: SCHEMA_VERSION,
        })
    }
}

/// Explains a failed decode: a newer version or an unknown kind is reported as such (even when
/// the rest of the message would not parse either, since a newer version may change anything),
/// everything else as malformed JSON with serde's message.
fn classify(bytes: &[u8], err: serde_json::Error) -> DecodeError {
    #[derive(Deserialize)]
    struct Probe {
        v: u16,
        #[serde(default)]
        payload: Option<ProbePayload>,
    }
    #[derive(Deserialize)]
    struct ProbePayload {
        #[serde(default)]
        kind: Option<String>,
    }

    let Ok(probe) = serde_json::from_slice::<Probe>(bytes) else {
        return DecodeError::Json(err);
    };
    if let Err(version_error) = check_version(probe.v) {
        return version_error;
    }
    match probe.payload.and_then(|p| p.kind) {
        Some(kind) if kind.parse::<EventKind>().is_err() => DecodeError::UnknownKind { kind },
        _ => DecodeError::Json(err),
    }
}

/// Declares [`Payload`], [`EventKind`] and their mappings from one list, so a kind can never
/// exist in one and not the other.
macro_rules! payloads {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $kind:literal, )+) => {
        /// The event itself, tagged by kind: `{"kind": "fabric_setup", "data": {...}}`.
        ///
        /// Variants are boxed so an envelope stays small to move around whatever it carries.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "data")]
        pub enum Payload {
            $( $(#[$doc])* #[serde(rename = $kind)] $variant(Box<$ty>), )+
        }

        string_enum! {
            /// The payload kind, as written in `payload.kind` and in the `events.kind` column.
            pub enum EventKind as "kind" {
                $( $(#[$doc])* $variant = $kind, )+
            }
        }

        impl Payload {
            /// The kind of this payload.
            #[must_use]
            pub fn kind(&self) -> EventKind {
                match self {
                    $( Payload::$variant(_) => EventKind::$variant, )+
                }
            }

            /// The payload's `data` alone, as JSON: the `events.payload_json` column, without
            /// the kind that has a column of its own.
            pub fn data_json(&self) -> Result<String, serde_json::Error> {
                match self {
                    $( Payload::$variant(event) => serde_json::to_string(&**event), )+
                }
            }
        }

        $(
            impl From<$ty> for Payload {
                fn from(event: $ty) -> Self {
                    Payload::$variant(Box::new(event))
                }
            }
        )+
    };
}

payloads! {
    /// A user joined a conference (creates its ucID).
    UserJoined(UserJoined) = "user_joined",
    /// Periodic presence of a user.
    UserAlive(UserAlive) = "user_alive",
    /// A user left the conference.
    UserLeft(UserLeft) = "user_left",
    /// A display name for the user.
    UserDetails(UserDetails) = "user_details",
    /// `addNewFabric()`: a PeerConnection is being established.
    FabricCreated(FabricCreated) = "fabric_created",
    /// A PeerConnection connected.
    FabricSetup(FabricSetup) = "fabric_setup",
    /// A PeerConnection failed to connect.
    FabricSetupFailed(FabricSetupFailed) = "fabric_setup_failed",
    /// A PeerConnection was closed.
    FabricTerminated(FabricTerminated) = "fabric_terminated",
    /// Media put on hold.
    FabricHold(FabricHold) = "fabric_hold",
    /// Media resumed after a hold.
    FabricResume(FabricResume) = "fabric_resume",
    /// A signaling/ICE/connection state changed.
    FabricStateChange(FabricStateChange) = "fabric_state_change",
    /// The selected candidate pair changed.
    FabricTransportChange(FabricTransportChange) = "fabric_transport_change",
    /// An established PeerConnection failed for good.
    FabricDropped(FabricDropped) = "fabric_dropped",
    /// An ICE state transition (disruption, restart, failure).
    IceStatus(IceStatus) = "ice_status",
    /// Mute/unmute, video pause/resume, screen share start/stop.
    MediaAction(MediaAction) = "media_action",
    /// Media playback started, suspended or stalled.
    MediaPipeline(MediaPipeline) = "media_pipeline",
    /// Connected or active media devices.
    DeviceList(DeviceList) = "device_list",
    /// The sender is the dominant speaker.
    DominantSpeaker(DominantSpeaker) = "dominant_speaker",
    /// SSRC → user association.
    SsrcMap(SsrcMap) = "ssrc_map",
    /// User rating of the call.
    Feedback(UserFeedback) = "feedback",
    /// `reportError()`: a WebRTC API call failed.
    ReportError(ReportError) = "report_error",
    /// An application log line.
    AppLog(AppLog) = "app_log",
    /// Local/remote SDP of a fabric.
    Sdp(Sdp) = "sdp",
    /// A getStats snapshot of one fabric.
    StatsSample(StatsSample) = "stats_sample",
    /// Endpoint CPU/memory/battery.
    SystemStatus(SystemStatus) = "system_status",
    /// SFU/bridge health and traffic.
    BridgeStatus(BridgeStatus) = "bridge_status",
    /// SFU/bridge keep-alive.
    BridgeAlive(BridgeAlive) = "bridge_alive",
    /// Integration progress counts, written by ingest itself, never accepted from a client.
    IntegrationProgress(IntegrationProgress) = "integration_progress",
}

impl Payload {
    /// The PeerConnection the event is about, for the `events.connection_id` column.
    #[must_use]
    pub fn connection_id(&self) -> Option<&str> {
        match self {
            Payload::FabricCreated(e) => Some(&e.connection_id),
            Payload::FabricSetup(e) => Some(&e.connection_id),
            Payload::FabricSetupFailed(e) => e.connection_id.as_deref(),
            Payload::FabricTerminated(e) => Some(&e.connection_id),
            Payload::FabricHold(e) => Some(&e.connection_id),
            Payload::FabricResume(e) => Some(&e.connection_id),
            Payload::FabricStateChange(e) => Some(&e.connection_id),
            Payload::FabricTransportChange(e) => Some(&e.connection_id),
            Payload::FabricDropped(e) => Some(&e.connection_id),
            Payload::IceStatus(e) => Some(&e.connection_id),
            Payload::MediaAction(e) => e.connection_id.as_deref(),
            Payload::MediaPipeline(e) => e.connection_id.as_deref(),
            Payload::DominantSpeaker(e) => e.connection_id.as_deref(),
            Payload::SsrcMap(e) => Some(&e.connection_id),
            Payload::ReportError(e) => e.connection_id.as_deref(),
            Payload::AppLog(e) => e.connection_id.as_deref(),
            Payload::Sdp(e) => Some(&e.connection_id),
            Payload::StatsSample(e) => Some(&e.connection_id),
            Payload::UserJoined(_)
            | Payload::UserAlive(_)
            | Payload::UserLeft(_)
            | Payload::UserDetails(_)
            | Payload::DeviceList(_)
            | Payload::Feedback(_)
            | Payload::SystemStatus(_)
            | Payload::BridgeStatus(_)
            | Payload::BridgeAlive(_)
            | Payload::IntegrationProgress(_) => None,
        }
    }

    /// The remote user the event is about, for the `events.remote_user_id` column.
    #[must_use]
    pub fn remote_id(&self) -> Option<&str> {
        match self {
            Payload::FabricCreated(e) => Some(&e.remote_id),
            Payload::FabricSetup(e) => Some(&e.remote_id),
            Payload::FabricSetupFailed(e) => e.remote_id.as_deref(),
            Payload::FabricTerminated(e) => Some(&e.remote_id),
            Payload::FabricHold(e) => Some(&e.remote_id),
            Payload::FabricResume(e) => Some(&e.remote_id),
            Payload::FabricStateChange(e) => Some(&e.remote_id),
            Payload::FabricTransportChange(e) => Some(&e.remote_id),
            Payload::FabricDropped(e) => Some(&e.remote_id),
            Payload::IceStatus(e) => Some(&e.remote_id),
            Payload::MediaAction(e) => e.remote_id.as_deref(),
            Payload::MediaPipeline(e) => e.remote_id.as_deref(),
            Payload::DominantSpeaker(e) => e.remote_id.as_deref(),
            Payload::SsrcMap(e) => Some(&e.remote_id),
            Payload::Feedback(e) => e.remote_id.as_deref().or(e.feedback.remote_id.as_deref()),
            Payload::ReportError(e) => e.remote_id.as_deref(),
            Payload::Sdp(e) => Some(&e.remote_id),
            Payload::StatsSample(e) => Some(&e.remote_id),
            Payload::UserJoined(_)
            | Payload::UserAlive(_)
            | Payload::UserLeft(_)
            | Payload::UserDetails(_)
            | Payload::DeviceList(_)
            | Payload::AppLog(_)
            | Payload::SystemStatus(_)
            | Payload::BridgeStatus(_)
            | Payload::BridgeAlive(_)
            | Payload::IntegrationProgress(_) => None,
        }
    }

    /// The sub-type within the kind (`eventType`, `reason`, ...), for the `events.event_type`
    /// column, so timelines can be filtered without parsing `payload_json`.
    #[must_use]
    pub fn event_type(&self) -> Option<&'static str> {
        match self {
            Payload::FabricSetupFailed(e) => Some(e.reason.as_str()),
            Payload::FabricStateChange(e) => Some(e.changed_state.as_str()),
            Payload::FabricTransportChange(e) => e.relay_type.map(|r| r.as_str()),
            Payload::IceStatus(e) => Some(e.event_type.as_str()),
            Payload::MediaAction(e) => Some(e.event_type.as_str()),
            Payload::MediaPipeline(e) => Some(e.event_type.as_str()),
            Payload::DeviceList(e) => Some(e.event_type.as_str()),
            Payload::ReportError(e) => Some(e.web_rtc_function.as_str()),
            Payload::AppLog(e) => Some(e.level.as_str()),
            _ => None,
        }
    }

    /// The common REST header fields of the payload.
    #[must_use]
    pub fn common(&self) -> &crate::events::CommonFields {
        match self {
            Payload::UserJoined(e) => &e.common,
            Payload::UserAlive(e) => &e.common,
            Payload::UserLeft(e) => &e.common,
            Payload::UserDetails(e) => &e.common,
            Payload::FabricCreated(e) => &e.common,
            Payload::FabricSetup(e) => &e.common,
            Payload::FabricSetupFailed(e) => &e.common,
            Payload::FabricTerminated(e) => &e.common,
            Payload::FabricHold(e) => &e.common,
            Payload::FabricResume(e) => &e.common,
            Payload::FabricStateChange(e) => &e.common,
            Payload::FabricTransportChange(e) => &e.common,
            Payload::FabricDropped(e) => &e.common,
            Payload::IceStatus(e) => &e.common,
            Payload::MediaAction(e) => &e.common,
            Payload::MediaPipeline(e) => &e.common,
            Payload::DeviceList(e) => &e.common,
            Payload::DominantSpeaker(e) => &e.common,
            Payload::SsrcMap(e) => &e.common,
            Payload::Feedback(e) => &e.common,
            Payload::ReportError(e) => &e.common,
            Payload::AppLog(e) => &e.common,
            Payload::Sdp(e) => &e.common,
            Payload::StatsSample(e) => &e.common,
            Payload::SystemStatus(e) => &e.common,
            Payload::BridgeStatus(e) => &e.common,
            Payload::BridgeAlive(e) => &e.common,
            Payload::IntegrationProgress(e) => &e.common,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_record, examples};

    #[test]
    fn every_kind_round_trips_through_bytes() {
        for &kind in EventKind::ALL {
            let env = examples::envelope(kind);
            assert_eq!(env.kind(), kind);
            let bytes = env.to_vec();
            let back = Envelope::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{kind}: {e}\n{}", String::from_utf8_lossy(&bytes)));
            assert_eq!(back, env, "{kind} changed in a round trip");
            // The serialized form names the kind as `payload.kind`, identical to `as_str`.
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["payload"]["kind"], kind.as_str());
            assert_eq!(json["v"], SCHEMA_VERSION);
        }
    }

    #[test]
    fn kinds_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(kind.as_str()), "duplicate kind {kind}");
            assert!(
                kind.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{kind} is not snake_case"
            );
        }
        assert_eq!(EventKind::ALL.len(), 28);
    }

    #[test]
    fn bus_key_is_app_slash_conference() {
        let env = examples::envelope(EventKind::UserAlive);
        assert_eq!(
            env.bus_key(),
            format!("{}/{}", env.app_id, env.conference_id)
        );
        assert_eq!(env.bus_key(), "740123/conf-42");
    }

    #[test]
    fn version_99_is_refused_naming_the_version() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&examples::envelope(EventKind::UserAlive).to_vec()).unwrap();
        json["v"] = 99.into();
        let err = Envelope::from_slice(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::UnsupportedVersion {
                    version: 99,
                    supported: 1
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("version 99"), "{msg}");
        assert!(msg.contains("versions 1 to 1"), "{msg}");
    }

    #[test]
    fn newer_version_is_refused_even_when_its_payload_is_unreadable() {
        let bytes = br#"{"v":2,"app_id":"1","payload":{"kind":"hologram","data":7}}"#;
        let err = Envelope::from_slice(bytes).unwrap_err();
        assert!(
            matches!(err, DecodeError::UnsupportedVersion { version: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn version_zero_is_refused() {
        let mut env = examples::envelope(EventKind::UserAlive);
        env.v = 0;
        let err = Envelope::from_slice(&env.to_vec()).unwrap_err();
        assert!(
            matches!(err, DecodeError::UnsupportedVersion { version: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_the_position_and_valid_ones_read_as_before() {
        let good = examples::envelope(EventKind::StatsSample).to_vec();
        assert_eq!(
            Envelope::from_slice(&good).unwrap(),
            serde_json::from_slice::<Envelope>(&good).unwrap()
        );
        let text = String::from_utf8(good).unwrap();
        let at = text.find("\"app_id\":\"").unwrap() + "\"app_id\":\"".len();
        let mut bad = text.into_bytes();
        bad[at] = 0xff;
        let err = Envelope::from_slice(&bad).unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{err:?}");
        assert!(err.to_string().contains("column"), "{err}");
        assert!(decode_record(&[b"[".as_slice(), &bad, b"]"].concat()).is_err());
    }

    #[test]
    fn unknown_kind_is_refused_by_name() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&examples::envelope(EventKind::UserAlive).to_vec()).unwrap();
        json["payload"]["kind"] = "hologram_call".into();
        let err = Envelope::from_slice(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(
            matches!(&err, DecodeError::UnknownKind { kind } if kind == "hologram_call"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "unknown payload kind \"hologram_call\"");
    }

    #[test]
    fn bad_json_is_malformed() {
        for bytes in [&b"not json"[..], b"", b"{\"v\":1}", b"[1,2]"] {
            let err = Envelope::from_slice(bytes).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "{err:?}");
            assert!(err.to_string().starts_with("malformed envelope: "));
        }
    }

    #[test]
    fn known_kind_with_bad_data_is_malformed_not_unknown() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&examples::envelope(EventKind::FabricSetupFailed).to_vec())
                .unwrap();
        json["payload"]["data"]["reason"] = "Cosmic rays".into();
        let err = Envelope::from_slice(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{err:?}");
        assert!(err.to_string().contains("Cosmic rays"), "{err}");
    }

    #[test]
    fn data_before_kind_is_still_read() {
        let bytes = br#"{"v":1,"app_id":"1","conference_id":"c","received_at_ms":5,"origin":"rest",
            "payload":{"data":{"localID":"u"},"kind":"user_alive"}}"#;
        let env = Envelope::from_slice(bytes).unwrap();
        assert_eq!(env.kind(), EventKind::UserAlive);
    }

    #[test]
    fn data_json_is_the_data_member() {
        for &kind in EventKind::ALL {
            let payload = examples::payload(kind);
            let whole = serde_json::to_value(&payload).unwrap();
            let data: serde_json::Value =
                serde_json::from_str(&payload.data_json().unwrap()).unwrap();
            assert_eq!(data, whole["data"], "{kind}");
        }
    }

    #[test]
    fn app_level_conference_ids_are_prefixed() {
        assert_eq!(app_level_conference_id("jvb-1"), "_app:jvb-1");
    }

    #[test]
    fn origin_serializes_snake_case() {
        let names: Vec<_> = Origin::ALL
            .iter()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        assert_eq!(
            names,
            ["\"js_sdk\"", "\"rest\"", "\"import\"", "\"simulate\""]
        );
    }

    #[test]
    fn payload_accessors_cover_fabric_events() {
        let env = examples::envelope(EventKind::IceStatus);
        assert_eq!(env.payload.connection_id(), Some("pc-1"));
        assert_eq!(env.payload.remote_id(), Some("bob"));
        assert_eq!(env.payload.event_type(), Some("iceDisruptionStart"));
        assert_eq!(env.payload.common().local_id.as_deref(), Some("alice"));
    }
}
