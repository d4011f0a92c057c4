//! The callstats "special events": dominant speaker, SSRC map, feedback, errors, logs, SDP.

use serde::{Deserialize, Serialize};

use super::CommonFields;
use crate::enums::{
    AppLogLevel, AppLogMessageType, MediaType, ReportType, StreamType, WebRtcFunction,
};
use crate::serde_util::string_or_number;

/// `.../events/dominantspeaker`, and `sendFabricEvent(dominantSpeaker)`: the sender reports
/// that it is the dominant speaker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DominantSpeaker {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(
        rename = "connectionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
}

/// `.../events/ssrcmap`, and `associateMstWithUserID()`: which user each SSRC of a fabric
/// belongs to. Without it every stream of an SFU connection would be attributed to the SFU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsrcMap {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    #[serde(default)]
    pub ssrc_data: Vec<SsrcInfo>,
}

/// `ssrcInfoObj`, extended with the `associateMstWithUserID()` arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsrcInfo {
    /// The SSRC as a decimal string; a JSON number is accepted too.
    #[serde(deserialize_with = "string_or_number")]
    pub ssrc: String,
    /// The user whose media this SSRC carries.
    #[serde(rename = "userID", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_type: Option<StreamType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_type: Option<ReportType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mslabel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `MediaStreamTrack.id`, so getStats reports that carry no SSRC can be mapped as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_identifier: Option<String>,
    /// `associateMstWithUserID(usageLabel)`: front-camera, screen, mic, ... (≤ 20 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_label: Option<String>,
    /// `associateMstWithUserID(associatedVideoTag)`: the DOM id of the rendering element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_video_tag: Option<String>,
    /// When the stream started, client clock (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_start_time: Option<f64>,
}

/// `.../events/feedback`, and `sendUserFeedback()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserFeedback {
    #[serde(flatten)]
    pub common: CommonFields,
    /// Set when the feedback is about one connection rather than the whole conference.
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub feedback: FeedbackRatings,
}

/// The `feedback` object. REST names are written; the callstats.js names (`overall`, `audio`,
/// `video`, `screen`, `comment`) are read as aliases.
///
/// Ratings are kept as plain integers so that an out-of-range value reaches validation, which
/// names the field, instead of failing deserialization with a less helpful message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRatings {
    /// Required, 1..=5 (mean opinion score).
    #[serde(alias = "overall", default, skip_serializing_if = "Option::is_none")]
    pub overall_rating: Option<i64>,
    #[serde(alias = "audio", default, skip_serializing_if = "Option::is_none")]
    pub audio_quality_rating: Option<i64>,
    #[serde(alias = "video", default, skip_serializing_if = "Option::is_none")]
    pub video_quality_rating: Option<i64>,
    /// callstats.js `screen`; not in the REST API.
    #[serde(alias = "screen", default, skip_serializing_if = "Option::is_none")]
    pub screen_quality_rating: Option<i64>,
    #[serde(alias = "comment", default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    /// The official SDKs put `remoteID` inside the feedback object.
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
}

/// `reportError()` of callstats.js: a WebRTC API call failed (or an application log line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportError {
    #[serde(flatten)]
    pub common: CommonFields,
    /// Absent for getUserMedia errors, which happen before any PeerConnection exists.
    #[serde(
        rename = "connectionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(rename = "webRTCFunction", alias = "webRTCFunctions")]
    pub web_rtc_function: WebRtcFunction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The DOMError/DOMException as given to the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dom_error: Option<DomError>,
    /// Local SDP at the time of the error, when the application chose to send it.
    #[serde(rename = "localSDP", default, skip_serializing_if = "Option::is_none")]
    pub local_sdp: Option<String>,
    #[serde(rename = "remoteSDP", default, skip_serializing_if = "Option::is_none")]
    pub remote_sdp: Option<String>,
}

/// The fields callstats kept of a DOMError (it stripped everything else).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// `OverconstrainedError.constraint`, as callstats named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint_name: Option<String>,
    /// Legacy numeric `DOMException.code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
}

/// `.../events/app/logs` (official SDKs): an application log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppLog {
    #[serde(flatten)]
    pub common: CommonFields,
    pub level: AppLogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<AppLogMessageType>,
    #[serde(
        rename = "connectionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
}

/// `.../events/sdp`: the current local and/or remote SDP of a fabric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sdp {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    #[serde(rename = "localSDP", default, skip_serializing_if = "Option::is_none")]
    pub local_sdp: Option<String>,
    #[serde(rename = "remoteSDP", default, skip_serializing_if = "Option::is_none")]
    pub remote_sdp: Option<String>,
}
