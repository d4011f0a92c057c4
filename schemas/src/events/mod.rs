//! One struct per event kind of the callstats.js API and the callstats v1 REST API.
//!
//! Each struct deserializes the REST request body of its endpoint as callstats documented it and
//! as the official SDKs actually sent it (field spellings, optional fields, numbers sent as
//! strings); see [`crate::rest`] for the path → struct table. The JS SDK sends the same
//! structures, tagged by [`crate::EventKind`].
//!
//! Fields the Swagger marks required but that a shipped SDK omitted are `Option` here: refusing
//! a body an official SDK produced would break the drop-in promise. The envelope carries the
//! authoritative IDs (app, conference, ucID, user) taken from the path and the token, so
//! these payloads never need to repeat them.

mod fabric;
mod media;
mod members;
mod special;
mod stats;
mod system;
mod user;

pub use fabric::{
    FabricCreated, FabricDropped, FabricHold, FabricResume, FabricSetup, FabricSetupFailed,
    FabricStateChange, FabricTerminated, FabricTransportChange, IceStatus,
};
pub use media::{DeviceList, MediaAction, MediaDevice, MediaPipeline};
pub use special::{
    AppLog, DomError, DominantSpeaker, FeedbackRatings, ReportError, Sdp, SsrcInfo, SsrcMap,
    UserFeedback,
};
pub use stats::{Members, StatsReport, StatsSample, WifiStats};
pub use system::{BridgeAlive, BridgeStatus, SystemStats, SystemStatus};
pub use user::{
    AdditionalIds, EndpointInfo, UserAlive, UserDetails, UserInfo, UserJoined, UserLeft,
};

use serde::{Deserialize, Serialize};

use crate::enums::{CandidateType, RelayProtocol, TransportProtocol};

/// `CommonHeaderParams` of every REST body: who sent it, from which device, and when.
///
/// Flattened into every event so REST bodies deserialize as they are. All optional: the
/// envelope carries the authenticated user and the client timestamp, and JS SDK batches do not
/// repeat them per event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommonFields {
    /// The sending user (`localID`); ingest checks it against the token's user.
    #[serde(rename = "localID", default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// A stable identifier of the sending device or browser profile.
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Sent by the official native SDKs and the Java bridge SDK; meaning undocumented.
    #[serde(rename = "originID", default, skip_serializing_if = "Option::is_none")]
    pub origin_id: Option<String>,
    /// Client wall clock when the event happened, unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
}

/// An ICE candidate pair, in either of the two shapes callstats clients sent.
///
/// The Swagger's `iceCandidatesObj` describes the pair by its endpoints (`localAddress`,
/// `localCandidateType`, ...); the official SDKs send the getStats shape (`id`,
/// `localCandidateId`, `state`, `nominated`). Both are kept, all fields optional, so that
/// neither kind of client is refused and nothing is lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidatePair {
    /// Pair identifier (the getStats `id`).
    #[serde(
        rename = "candidateID",
        alias = "id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub candidate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_candidate_type: Option<CandidateType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidate_type: Option<CandidateType>,
    /// Free-form transport description (Swagger `transportType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// How the local side reaches its TURN server, when relayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<RelayProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_candidate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidate_id: Option<String>,
    /// ICE check state; open because SDKs disagree (`in-progress` vs `inprogress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A 64-bit ICE priority; kept as `f64` because browsers send it as a JS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominated: Option<bool>,
}

impl IceCandidatePair {
    /// Whether either side of the pair is a TURN relay, `None` when types are unknown.
    #[must_use]
    pub fn is_relayed(&self) -> Option<bool> {
        match (self.local_candidate_type, self.remote_candidate_type) {
            (None, None) => None,
            (l, r) => Some(
                l.is_some_and(CandidateType::is_relayed)
                    || r.is_some_and(CandidateType::is_relayed),
            ),
        }
    }
}

/// One ICE candidate as the official SDKs reported it (`localIceCandidates[]`), extended with
/// the W3C candidate fields our SDK reads from getStats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// getStats type, e.g. `local-candidate` (legacy: `localcandidate`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(
        alias = "address",
        alias = "ipAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ip: Option<String>,
    #[serde(alias = "portNumber", default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_type: Option<CandidateType>,
    /// Transport as the SDKs named it (`udp`, `tcp`); kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<RelayProtocol>,
    /// The STUN/TURN URL the candidate was obtained from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Chrome's `networkType` (wifi, cellular, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_type: Option<String>,
}
