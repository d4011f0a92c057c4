//! User media events: mute/pause/screen share, playback pipeline, device lists.

use serde::{Deserialize, Serialize};

use super::CommonFields;
use crate::enums::{DeviceListEventType, MediaActionType, MediaPipelineEventType, MediaType};
use crate::serde_util::opt_string_or_number;

/// `.../events/media/actions`, and `sendFabricEvent()` with a mute/pause/screen-share value:
/// the user changed what it sends. The processor uses these to tell "muted" from "no audio".
///
/// The Swagger requires `mediaDeviceID` and `remoteIDList`; callstats.js has neither, so they
/// are optional here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaAction {
    #[serde(flatten)]
    pub common: CommonFields,
    pub event_type: MediaActionType,
    #[serde(
        rename = "mediaDeviceID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_device_id: Option<String>,
    /// The remote users affected.
    #[serde(
        rename = "remoteIDList",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub remote_id_list: Vec<String>,
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(
        rename = "connectionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
    /// The affected SSRC (Jitsi passes it with screenShareStart).
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssrc: Option<String>,
}

/// `.../events/media/pipeline` (official SDKs: `.../events/media`): rendering started,
/// was suspended or stalled, or media flows one way only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaPipeline {
    #[serde(flatten)]
    pub common: CommonFields,
    pub event_type: MediaPipelineEventType,
    /// Required by the Swagger, nullable in the official SDKs.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssrc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(rename = "remoteID", default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    #[serde(
        rename = "connectionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_id: Option<String>,
}

/// `.../events/devices/list`, and `sendFabricEvent(activeDeviceList, {deviceList})`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    #[serde(flatten)]
    pub common: CommonFields,
    pub event_type: DeviceListEventType,
    #[serde(alias = "deviceList", default)]
    pub media_device_list: Vec<MediaDevice>,
}

/// One `MediaDeviceInfo`. The REST spelling (`mediaDeviceID`, `groupID`) is written; the
/// browser spelling (`deviceId`, `groupId`) that callstats.js forwarded is read too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaDevice {
    /// Required by the Swagger but absent from the iOS SDK's device objects.
    #[serde(
        rename = "mediaDeviceID",
        alias = "deviceId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_device_id: Option<String>,
    /// `audioinput`, `audiooutput`, `videoinput`; open, as browsers may add kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(
        rename = "groupID",
        alias = "groupId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id: Option<String>,
}
