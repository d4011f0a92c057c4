//! The callstats enumerations, spelled exactly as callstats documented them.
//!
//! Sources: `callstats-js-enums.md` (the callstats.js v3 enums), the v1 REST Swagger file
//! (`eventType`, `reason`, candidate and relay enums) and, where the Swagger is silent, the
//! official Android/iOS SDKs (log levels, message types, `iceGatheringState`). Each enum
//! serializes to exactly the documented string and refuses anything else, because a value the
//! processor does not understand would otherwise be counted in the wrong bucket without anyone
//! noticing. Historical spellings that real SDKs sent (`audioUnmute` for `audioUnMute`,
//! `mediaPlaybackStarted`) are accepted as aliases and written back in the documented form.
//!
//! The last section holds callscope's own value sets (setup status, fabric outcome, failure
//! category, quality band): they are column values of the Parquet tables, defined here so the
//! processor that writes them and the query service that filters on them agree.

use serde::{Deserialize, Serialize};

/// A string did not name any value of a closed enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} value {value:?}")]
#[must_use]
pub struct UnknownValue {
    /// The enum as callstats names it, e.g. `fabricUsage`.
    pub type_name: &'static str,
    /// The refused input.
    pub value: String,
}

/// Declares a closed string enum with its documented spelling, accepted aliases, `as_str`,
/// `ALL`, `Display` and `FromStr`, so the serde name and `as_str` can never disagree.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $type_name:literal {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $s:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $s $(, alias = $alias)*)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The documented spelling, identical to the serde form.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::enums::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s $(| $alias)* => Ok($name::$variant),)+
                    _ => Err($crate::enums::UnknownValue {
                        type_name: $type_name,
                        value: s.to_owned(),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

// ---------------------------------------------------------------------------------------------
// callstats.js v3 enums (callstats-js-enums.md)
// ---------------------------------------------------------------------------------------------

string_enum! {
    /// `callstats.fabricUsage`: what a PeerConnection carries. Used to split quality by media.
    pub enum FabricUsage as "fabricUsage" {
        /// Several media streams on one port; required when one PC carries audio and video.
        Multiplex = "multiplex",
        Audio = "audio",
        Video = "video",
        Screen = "screen",
        Data = "data",
        /// Media streams on different ports.
        Unbundled = "unbundled",
    }
}

string_enum! {
    /// `callstats.fabricEvent`, the argument of `sendFabricEvent()`.
    ///
    /// The SDK turns each value into its own event kind (see [`FabricEvent::event_kind`]); the
    /// deprecated `fabricSetup`/`fabricSetupFailed` values are not accepted because callstats.js
    /// generated those itself since v2.1/v3.10 and so does ours.
    pub enum FabricEvent as "fabricEvent" {
        FabricHold = "fabricHold",
        FabricResume = "fabricResume",
        AudioMute = "audioMute",
        AudioUnmute = "audioUnmute",
        VideoPause = "videoPause",
        VideoResume = "videoResume",
        FabricTerminated = "fabricTerminated",
        ScreenShareStart = "screenShareStart",
        ScreenShareStop = "screenShareStop",
        DominantSpeaker = "dominantSpeaker",
        ActiveDeviceList = "activeDeviceList",
    }
}

impl FabricEvent {
    /// The envelope kind this JS fabric event is stored as.
    #[must_use]
    pub const fn event_kind(self) -> crate::envelope::EventKind {
        use crate::envelope::EventKind;
        match self {
            FabricEvent::FabricHold => EventKind::FabricHold,
            FabricEvent::FabricResume => EventKind::FabricResume,
            FabricEvent::AudioMute
            | FabricEvent::AudioUnmute
            | FabricEvent::VideoPause
            | FabricEvent::VideoResume
            | FabricEvent::ScreenShareStart
            | FabricEvent::ScreenShareStop => EventKind::MediaAction,
            FabricEvent::FabricTerminated => EventKind::FabricTerminated,
            FabricEvent::DominantSpeaker => EventKind::DominantSpeaker,
            FabricEvent::ActiveDeviceList => EventKind::DeviceList,
        }
    }

    /// The REST media action this JS fabric event corresponds to, if it is one.
    #[must_use]
    pub const fn media_action(self) -> Option<MediaActionType> {
        match self {
            FabricEvent::AudioMute => Some(MediaActionType::AudioMute),
            FabricEvent::AudioUnmute => Some(MediaActionType::AudioUnmute),
            FabricEvent::VideoPause => Some(MediaActionType::VideoPause),
            FabricEvent::VideoResume => Some(MediaActionType::VideoResume),
            FabricEvent::ScreenShareStart => Some(MediaActionType::ScreenShareStart),
            FabricEvent::ScreenShareStop => Some(MediaActionType::ScreenShareStop),
            _ => None,
        }
    }
}

string_enum! {
    /// `callstats.webRTCFunctions`: which WebRTC call failed, the argument of `reportError()`.
    pub enum WebRtcFunction as "webRTCFunctions" {
        GetUserMedia = "getUserMedia",
        CreateOffer = "createOffer",
        CreateAnswer = "createAnswer",
        SetLocalDescription = "setLocalDescription",
        SetRemoteDescription = "setRemoteDescription",
        AddIceCandidate = "addIceCandidate",
        IceConnectionFailure = "iceConnectionFailure",
        SignalingError = "signalingError",
        /// An application log line; callstats did not count it as a failure, nor do we.
        ApplicationLog = "applicationLog",
    }
}

impl WebRtcFunction {
    /// The failure category a failed call falls into, `None` for application logs.
    #[must_use]
    pub const fn failure_category(self) -> Option<FailureCategory> {
        match self {
            WebRtcFunction::GetUserMedia => Some(FailureCategory::MediaSource),
            WebRtcFunction::CreateOffer | WebRtcFunction::CreateAnswer => {
                Some(FailureCategory::SdpGeneration)
            }
            // addIceCandidate fails on a malformed candidate or one applied before the remote
            // description: a signaling fault, not a connectivity one (as the processor counts it).
            WebRtcFunction::SetLocalDescription
            | WebRtcFunction::SetRemoteDescription
            | WebRtcFunction::AddIceCandidate
            | WebRtcFunction::SignalingError => Some(FailureCategory::Negotiation),
            WebRtcFunction::IceConnectionFailure => Some(FailureCategory::IceNat),
            WebRtcFunction::ApplicationLog => None,
        }
    }
}

string_enum! {
    /// `callstats.endpointType`: what the remote end of a fabric is.
    pub enum EndpointType as "endpointType" {
        /// A WebRTC client.
        Peer = "peer",
        /// A media server or middlebox (SFU, MCU, bridge).
        Server = "server",
    }
}

string_enum! {
    /// `callstats.transmissionDirection` of a fabric (callstats' spelling `receiveonly`, not
    /// the SDP's `recvonly`).
    pub enum TransmissionDirection as "transmissionDirection" {
        SendOnly = "sendonly",
        ReceiveOnly = "receiveonly",
        SendRecv = "sendrecv",
        Inactive = "inactive",
    }
}

string_enum! {
    /// `callstats.userIDType` (from the withdrawn `reportUserIDChange()`), kept for SDK parity.
    pub enum UserIdType as "userIDType" {
        Local = "local",
        Remote = "remote",
    }
}

string_enum! {
    /// `csStatus`, the first argument of the `csInitCallback`.
    pub enum CsStatus as "csStatus" {
        HttpError = "httpError",
        AuthError = "authError",
        Success = "success",
        TokenGenerationError = "tokenGenerationError",
    }
}

string_enum! {
    /// `callStatsAPIReturnStatus`, the `status` every callstats.js API call returns.
    pub enum CallStatsApiReturnStatus as "callStatsAPIReturnStatus" {
        Success = "success",
        Failure = "failure",
    }
}

// ---------------------------------------------------------------------------------------------
// callstats v1 REST enums (callstats-rest-api.swagger.json, plus the official native SDKs)
// ---------------------------------------------------------------------------------------------

string_enum! {
    /// `reason` of a fabricSetupFailed event: callstats' setup failure categories.
    ///
    /// `IceConnectionFailure` is not in the Swagger enum but the official Android SDK documents
    /// and sends it, and it is the most common failure of all.
    pub enum FabricSetupFailureReason as "fabricSetupFailed reason" {
        MediaConfigError = "MediaConfigError",
        MediaPermissionError = "MediaPermissionError",
        MediaDeviceError = "MediaDeviceError",
        NegotiationFailure = "NegotiationFailure",
        SdpGenerationError = "SDPGenerationError",
        TransportFailure = "TransportFailure",
        SignalingError = "SignalingError",
        IceConnectionFailure = "IceConnectionFailure",
    }
}

impl FabricSetupFailureReason {
    /// The dashboard category (callstats: media source, SDP generation, negotiation, ICE/NAT,
    /// transport) this reason is reported under.
    #[must_use]
    pub const fn category(self) -> FailureCategory {
        match self {
            FabricSetupFailureReason::MediaConfigError
            | FabricSetupFailureReason::MediaPermissionError
            | FabricSetupFailureReason::MediaDeviceError => FailureCategory::MediaSource,
            FabricSetupFailureReason::SdpGenerationError => FailureCategory::SdpGeneration,
            FabricSetupFailureReason::NegotiationFailure
            | FabricSetupFailureReason::SignalingError => FailureCategory::Negotiation,
            FabricSetupFailureReason::IceConnectionFailure => FailureCategory::IceNat,
            FabricSetupFailureReason::TransportFailure => FailureCategory::Transport,
        }
    }
}

string_enum! {
    /// `eventType` of `/events/ice/status`; the Swagger defines each by its ICE state transition.
    pub enum IceEventType as "ICE eventType" {
        /// connected/completed → disconnected.
        IceDisruptionStart = "iceDisruptionStart",
        /// disconnected → connected/completed.
        IceDisruptionEnd = "iceDisruptionEnd",
        /// any state → new.
        IceRestarted = "iceRestarted",
        /// checking → failed, or checking → disconnected → failed.
        IceFailed = "iceFailed",
        /// new/checking → closed.
        IceAborted = "iceAborted",
        /// closed from any state other than new/checking.
        IceTerminated = "iceTerminated",
        /// checking → disconnected.
        IceConnectionDisruptionStart = "iceConnectionDisruptionStart",
        /// disconnected → checking.
        IceConnectionDisruptionEnd = "iceConnectionDisruptionEnd",
    }
}

string_enum! {
    /// `RTCIceConnectionState` (W3C), the states the ICE events above move between.
    pub enum IceConnectionState as "iceConnectionState" {
        New = "new",
        Checking = "checking",
        Connected = "connected",
        Completed = "completed",
        Failed = "failed",
        Disconnected = "disconnected",
        Closed = "closed",
    }
}

string_enum! {
    /// `changedState` of `/events/fabric/statechange`.
    ///
    /// The Swagger lists the first two; the official SDKs also send `iceGatheringState` and
    /// `connectionState`, which our SDK needs to time the DTLS handshake.
    pub enum StateChangeType as "changedState" {
        SignalingState = "signalingState",
        IceConnectionState = "iceConnectionState",
        IceGatheringState = "iceGatheringState",
        ConnectionState = "connectionState",
    }
}

string_enum! {
    /// `eventType` of `/events/media/actions`. The Swagger spells `audioUnMute`; the SDKs and
    /// callstats.js send `audioUnmute`, accepted as an alias.
    pub enum MediaActionType as "media action eventType" {
        AudioMute = "audioMute",
        AudioUnmute = "audioUnMute" | "audioUnmute",
        VideoPause = "videoPause",
        VideoResume = "videoResume",
        ScreenShareStart = "screenShareStart",
        ScreenShareStop = "screenShareStop",
    }
}

string_enum! {
    /// `eventType` of `/events/media/pipeline`. `oneWayMedia` comes from the official SDKs;
    /// `mediaPlaybackStarted` is the spelling of the Swagger prose, accepted as an alias.
    pub enum MediaPipelineEventType as "media pipeline eventType" {
        MediaPlaybackStart = "mediaPlaybackStart" | "mediaPlaybackStarted",
        MediaPlaybackSuspended = "mediaPlaybackSuspended",
        MediaPlaybackStalled = "mediaPlaybackStalled",
        OneWayMedia = "oneWayMedia",
    }
}

string_enum! {
    /// `eventType` of `/events/devices/list`.
    pub enum DeviceListEventType as "device list eventType" {
        /// Every media device attached to the endpoint.
        ConnectedDeviceList = "connectedDeviceList",
        /// The devices in use in this conference.
        ActiveDeviceList = "activeDeviceList",
    }
}

string_enum! {
    /// `relayType` of `/events/fabric/transportchange`; the empty string means "not relayed".
    pub enum RelayType as "relayType" {
        TurnUdp = "turn/udp",
        TurnTcp = "turn/tcp",
        TurnTls = "turn/tls",
        NotRelayed = "",
    }
}

string_enum! {
    /// ICE candidate type. The Swagger lists the W3C names and the legacy (pre-standard Chrome,
    /// iOS) names side by side; both kinds of SDK sent them, so both are values here.
    pub enum CandidateType as "candidateType" {
        Host = "host",
        Srflx = "srflx",
        Prflx = "prflx",
        Relay = "relay",
        Stun = "stun",
        ServerReflexive = "serverreflexive",
        PeerReflexive = "peerreflexive",
        Turn = "turn",
        Relayed = "relayed",
        Local = "local",
    }
}

impl CandidateType {
    /// Whether media through this candidate goes via a TURN server, whichever naming was used.
    #[must_use]
    pub const fn is_relayed(self) -> bool {
        matches!(
            self,
            CandidateType::Relay | CandidateType::Turn | CandidateType::Relayed
        )
    }
}

string_enum! {
    /// Transport protocol of a candidate (`protocol` in the Swagger and in getStats).
    pub enum TransportProtocol as "protocol" {
        Tcp = "tcp",
        Udp = "udp",
    }
}

string_enum! {
    /// W3C `relayProtocol` of a relay candidate: how the client reaches its TURN server.
    pub enum RelayProtocol as "relayProtocol" {
        Udp = "udp",
        Tcp = "tcp",
        Tls = "tls",
    }
}

string_enum! {
    /// `streamType` of an SSRC map entry.
    pub enum StreamType as "streamType" {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

string_enum! {
    /// `reportType` of an SSRC map entry: whether the SSRC is described by the local or the
    /// remote SDP.
    pub enum ReportType as "reportType" {
        Local = "local",
        Remote = "remote",
    }
}

string_enum! {
    /// `mediaType` of an SSRC or a media pipeline event (the SDKs add `screen`).
    pub enum MediaType as "mediaType" {
        Audio = "audio",
        Video = "video",
        Screen = "screen",
    }
}

string_enum! {
    /// `level` of `/events/app/logs`. The official SDKs send lowercase; the upper-case spelling
    /// of the REST notes is accepted too.
    pub enum AppLogLevel as "log level" {
        Debug = "debug" | "DEBUG",
        Info = "info" | "INFO",
        Warn = "warn" | "WARN",
        Error = "error" | "ERROR",
        Fatal = "fatal" | "FATAL",
    }
}

string_enum! {
    /// `messageType` of `/events/app/logs`: how to render `message`.
    pub enum AppLogMessageType as "log messageType" {
        Text = "text" | "TEXT",
        Json = "json" | "JSON",
        /// A serialized DOMError (Android SDK).
        DomError = "domError",
    }
}

string_enum! {
    /// Authentication error actions (`urn:x-callstats:auth:errorActions[].action`): what a
    /// client should do after a failed `/authenticate`.
    pub enum AuthErrorAction as "auth error action" {
        /// Retry after `params.timeout` ms.
        Retry = "RETRY",
        /// Ask the origin server for a fresh JWT.
        GetNewToken = "GET_NEW_TOKEN",
        /// Give up and report the error to the application.
        ReportError = "REPORT_ERROR",
    }
}

string_enum! {
    /// `status` of every REST response body.
    pub enum ResponseStatus as "status" {
        Success = "success",
        Error = "error",
    }
}

// ---------------------------------------------------------------------------------------------
// callscope's own value sets (table column values)
// ---------------------------------------------------------------------------------------------

string_enum! {
    /// `conferences.setup_status`: the callstats conference outcome.
    pub enum SetupStatus as "setup_status" {
        /// Every fabric was set up.
        Success = "success",
        /// Some fabrics failed, others were set up ("some participants could not join").
        PartiallyFailed = "partially_failed",
        /// No fabric was set up.
        Failed = "failed",
    }
}

string_enum! {
    /// `fabrics.outcome`: how one PeerConnection's establishment ended.
    pub enum FabricOutcome as "outcome" {
        /// fabricSetup was reported.
        Setup = "setup",
        /// fabricSetupFailed (or an ICE failure before setup) was reported.
        Failed = "failed",
        /// Terminated while still establishing (callstats' "aborted").
        Aborted = "aborted",
        /// Neither yet: the fabric is still establishing, or its conference timed out first.
        Pending = "pending",
    }
}

string_enum! {
    /// `failure_category`: the callstats dashboard failure categories.
    pub enum FailureCategory as "failure_category" {
        /// No device, no permission, bad constraints.
        MediaSource = "media_source",
        /// createOffer/createAnswer failed.
        SdpGeneration = "sdp_generation",
        /// Applying or exchanging descriptions failed.
        Negotiation = "negotiation",
        /// ICE could not connect (NAT, firewall) or was aborted.
        IceNat = "ice_nat",
        /// The transport failed after setup.
        Transport = "transport",
    }
}

string_enum! {
    /// `band` of a quality score, best first. The names follow callstats' `qualityRating`
    /// (excellent 5 .. bad 1); the score thresholds are the processor's, documented with its
    /// formulas.
    pub enum QualityBand as "band" {
        Excellent = "excellent",
        Good = "good",
        Fair = "fair",
        Poor = "poor",
        Bad = "bad",
    }
}

string_enum! {
    /// `conferences.end_reason`: why the processor closed a conference.
    pub enum ConferenceEndReason as "end_reason" {
        /// Every participant terminated its fabrics or left.
        AllLeft = "all_left",
        /// Nothing arrived for the configured idle time (30 s by default, as callstats).
        Timeout = "timeout",
        /// Closed early to bound the processor's memory (`max_open_conferences`); data that
        /// follows starts the next segment.
        Evicted = "evicted",
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// Asserts that `T::ALL` is exactly the documented list, in order, that each value
    /// serializes to its documented string and back, and that `FromStr` agrees with serde.
    fn check<T>(all: &[T], documented: &[&str], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize + for<'de> Deserialize<'de> + FromStr,
        <T as FromStr>::Err: std::fmt::Debug,
    {
        let names: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        assert_eq!(
            names, documented,
            "variant list differs from the documentation"
        );
        for (value, doc) in all.iter().zip(documented) {
            let json = serde_json::to_string(value).unwrap();
            assert_eq!(json, format!("\"{doc}\""));
            let back: T = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *value);
            let parsed: T = doc.parse().unwrap();
            assert_eq!(parsed, *value);
        }
        for bad in ["", "nonsense", "AUDIO_", "42"] {
            if documented.contains(&bad) {
                continue;
            }
            let json = format!("\"{bad}\"");
            assert!(
                serde_json::from_str::<T>(&json).is_err(),
                "{bad:?} must be refused"
            );
            assert!(bad.parse::<T>().is_err());
        }
        assert!(
            serde_json::from_str::<T>("7").is_err(),
            "numbers must be refused"
        );
    }

    #[test]
    fn fabric_usage_is_documented() {
        check(
            FabricUsage::ALL,
            &["multiplex", "audio", "video", "screen", "data", "unbundled"],
            FabricUsage::as_str,
        );
    }

    #[test]
    fn fabric_event_is_documented() {
        check(
            FabricEvent::ALL,
            &[
                "fabricHold",
                "fabricResume",
                "audioMute",
                "audioUnmute",
                "videoPause",
                "videoResume",
                "fabricTerminated",
                "screenShareStart",
                "screenShareStop",
                "dominantSpeaker",
                "activeDeviceList",
            ],
            FabricEvent::as_str,
        );
        assert!("fabricSetup".parse::<FabricEvent>().is_err());
        assert!(serde_json::from_str::<FabricEvent>("\"fabricSetupFailed\"").is_err());
    }

    #[test]
    fn fabric_event_maps_to_event_kinds() {
        use crate::envelope::EventKind;
        assert_eq!(FabricEvent::FabricHold.event_kind(), EventKind::FabricHold);
        assert_eq!(
            FabricEvent::AudioUnmute.event_kind(),
            EventKind::MediaAction
        );
        assert_eq!(
            FabricEvent::AudioUnmute.media_action(),
            Some(MediaActionType::AudioUnmute)
        );
        assert_eq!(
            FabricEvent::ActiveDeviceList.event_kind(),
            EventKind::DeviceList
        );
        assert_eq!(FabricEvent::DominantSpeaker.media_action(), None);
        for e in FabricEvent::ALL {
            assert_eq!(
                e.media_action().is_some(),
                e.event_kind() == EventKind::MediaAction
            );
        }
    }

    #[test]
    fn webrtc_functions_are_documented() {
        check(
            WebRtcFunction::ALL,
            &[
                "getUserMedia",
                "createOffer",
                "createAnswer",
                "setLocalDescription",
                "setRemoteDescription",
                "addIceCandidate",
                "iceConnectionFailure",
                "signalingError",
                "applicationLog",
            ],
            WebRtcFunction::as_str,
        );
        assert_eq!(WebRtcFunction::ApplicationLog.failure_category(), None);
        assert_eq!(
            WebRtcFunction::GetUserMedia.failure_category(),
            Some(FailureCategory::MediaSource)
        );
        assert_eq!(
            WebRtcFunction::AddIceCandidate.failure_category(),
            Some(FailureCategory::Negotiation)
        );
        assert_eq!(
            WebRtcFunction::IceConnectionFailure.failure_category(),
            Some(FailureCategory::IceNat)
        );
    }

    #[test]
    fn endpoint_type_is_documented() {
        check(EndpointType::ALL, &["peer", "server"], EndpointType::as_str);
    }

    #[test]
    fn transmission_direction_is_documented() {
        check(
            TransmissionDirection::ALL,
            &["sendonly", "receiveonly", "sendrecv", "inactive"],
            TransmissionDirection::as_str,
        );
        assert!("recvonly".parse::<TransmissionDirection>().is_err());
    }

    #[test]
    fn js_status_enums_are_documented() {
        check(UserIdType::ALL, &["local", "remote"], UserIdType::as_str);
        check(
            CsStatus::ALL,
            &["httpError", "authError", "success", "tokenGenerationError"],
            CsStatus::as_str,
        );
        check(
            CallStatsApiReturnStatus::ALL,
            &["success", "failure"],
            CallStatsApiReturnStatus::as_str,
        );
    }

    #[test]
    fn setup_failure_reasons_are_documented() {
        check(
            FabricSetupFailureReason::ALL,
            &[
                "MediaConfigError",
                "MediaPermissionError",
                "MediaDeviceError",
                "NegotiationFailure",
                "SDPGenerationError",
                "TransportFailure",
                "SignalingError",
                "IceConnectionFailure",
            ],
            FabricSetupFailureReason::as_str,
        );
        assert!(
            "SdpGenerationError"
                .parse::<FabricSetupFailureReason>()
                .is_err()
        );
        assert_eq!(
            FabricSetupFailureReason::TransportFailure.category(),
            FailureCategory::Transport
        );
    }

    #[test]
    fn ice_enums_are_documented() {
        check(
            IceEventType::ALL,
            &[
                "iceDisruptionStart",
                "iceDisruptionEnd",
                "iceRestarted",
                "iceFailed",
                "iceAborted",
                "iceTerminated",
                "iceConnectionDisruptionStart",
                "iceConnectionDisruptionEnd",
            ],
            IceEventType::as_str,
        );
        check(
            IceConnectionState::ALL,
            &[
                "new",
                "checking",
                "connected",
                "completed",
                "failed",
                "disconnected",
                "closed",
            ],
            IceConnectionState::as_str,
        );
        check(
            StateChangeType::ALL,
            &[
                "signalingState",
                "iceConnectionState",
                "iceGatheringState",
                "connectionState",
            ],
            StateChangeType::as_str,
        );
    }

    #[test]
    fn media_enums_are_documented() {
        check(
            MediaActionType::ALL,
            &[
                "audioMute",
                "audioUnMute",
                "videoPause",
                "videoResume",
                "screenShareStart",
                "screenShareStop",
            ],
            MediaActionType::as_str,
        );
        // The SDK spelling is accepted and normalized to the documented one.
        let v: MediaActionType = serde_json::from_str("\"audioUnmute\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"audioUnMute\"");
        check(
            MediaPipelineEventType::ALL,
            &[
                "mediaPlaybackStart",
                "mediaPlaybackSuspended",
                "mediaPlaybackStalled",
                "oneWayMedia",
            ],
            MediaPipelineEventType::as_str,
        );
        let v: MediaPipelineEventType = serde_json::from_str("\"mediaPlaybackStarted\"").unwrap();
        assert_eq!(v, MediaPipelineEventType::MediaPlaybackStart);
        check(
            DeviceListEventType::ALL,
            &["connectedDeviceList", "activeDeviceList"],
            DeviceListEventType::as_str,
        );
        check(
            MediaType::ALL,
            &["audio", "video", "screen"],
            MediaType::as_str,
        );
        check(
            StreamType::ALL,
            &["inbound", "outbound"],
            StreamType::as_str,
        );
        check(ReportType::ALL, &["local", "remote"], ReportType::as_str);
    }

    #[test]
    fn transport_enums_are_documented() {
        check(
            RelayType::ALL,
            &["turn/udp", "turn/tcp", "turn/tls", ""],
            RelayType::as_str,
        );
        check(
            CandidateType::ALL,
            &[
                "host",
                "srflx",
                "prflx",
                "relay",
                "stun",
                "serverreflexive",
                "peerreflexive",
                "turn",
                "relayed",
                "local",
            ],
            CandidateType::as_str,
        );
        let relayed: Vec<_> = CandidateType::ALL
            .iter()
            .filter(|c| c.is_relayed())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(relayed, ["relay", "turn", "relayed"]);
        check(
            TransportProtocol::ALL,
            &["tcp", "udp"],
            TransportProtocol::as_str,
        );
        check(
            RelayProtocol::ALL,
            &["udp", "tcp", "tls"],
            RelayProtocol::as_str,
        );
    }

    #[test]
    fn log_enums_are_documented() {
        check(
            AppLogLevel::ALL,
            &["debug", "info", "warn", "error", "fatal"],
            AppLogLevel::as_str,
        );
        assert_eq!("FATAL".parse::<AppLogLevel>(), Ok(AppLogLevel::Fatal));
        check(
            AppLogMessageType::ALL,
            &["text", "json", "domError"],
            AppLogMessageType::as_str,
        );
    }

    #[test]
    fn rest_response_enums_are_documented() {
        check(
            AuthErrorAction::ALL,
            &["RETRY", "GET_NEW_TOKEN", "REPORT_ERROR"],
            AuthErrorAction::as_str,
        );
        check(
            ResponseStatus::ALL,
            &["success", "error"],
            ResponseStatus::as_str,
        );
    }

    #[test]
    fn callscope_value_sets_are_snake_case() {
        check(
            SetupStatus::ALL,
            &["success", "partially_failed", "failed"],
            SetupStatus::as_str,
        );
        check(
            FabricOutcome::ALL,
            &["setup", "failed", "aborted", "pending"],
            FabricOutcome::as_str,
        );
        check(
            FailureCategory::ALL,
            &[
                "media_source",
                "sdp_generation",
                "negotiation",
                "ice_nat",
                "transport",
            ],
            FailureCategory::as_str,
        );
        check(
            QualityBand::ALL,
            &["excellent", "good", "fair", "poor", "bad"],
            QualityBand::as_str,
        );
        check(
            ConferenceEndReason::ALL,
            &["all_left", "timeout", "evicted"],
            ConferenceEndReason::as_str,
        );
    }

    #[test]
    fn unknown_value_error_names_the_enum() {
        let err = "quadruplex".parse::<FabricUsage>().unwrap_err();
        assert_eq!(err.to_string(), "unknown fabricUsage value \"quadruplex\"");
    }
}
