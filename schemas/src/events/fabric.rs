//! Fabric (PeerConnection) lifecycle and ICE events: what establishment time, setup outcome,
//! relay usage and disruptions are computed from.

use serde::{Deserialize, Serialize};

use super::{CommonFields, IceCandidate, IceCandidatePair};
use crate::enums::{
    EndpointType, FabricSetupFailureReason, FabricUsage, IceConnectionState, IceEventType,
    RelayType, StateChangeType, TransmissionDirection,
};
use crate::serde_util::opt_object_or_singleton;

/// `addNewFabric()` of callstats.js: a PeerConnection started being monitored.
///
/// Its timestamp is the start of the establishment time ("fabric setup delay =
/// ts(fabricSetup) − ts(addNewFabric)"), so it is an event of its own rather than a field of
/// fabricSetup. The REST API has no equivalent; REST clients report `delay` on setup instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricCreated {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The user at the other end (`remoteUserID`).
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    /// Identifies this PeerConnection for its whole life.
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    pub fabric_usage: FabricUsage,
    /// `fabricAttributes.remoteEndpointType`; callstats' default is `peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_endpoint_type: Option<EndpointType>,
    /// `fabricAttributes.fabricTransmissionDirection`; callstats' default is `sendrecv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_transmission_direction: Option<TransmissionDirection>,
    /// An application label for the connection, shown on the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_label: Option<String>,
}

/// fabricSetup (`eventType: fabricSetup` on `.../events/fabric`, or `.../events/fabric/setup`):
/// the PeerConnection connected.
///
/// All delays are milliseconds. `delay` is what callstats clients reported (join → connected);
/// the breakdown fields let the processor split establishment time into ICE gathering, ICE
/// connectivity and DTLS where the client measured them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricSetup {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    /// Total setup time as callstats clients measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// ICE gathering state new → complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_gathering_delay: Option<f64>,
    /// ICE connection state new → connected/completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_connectivity_delay: Option<f64>,
    /// DTLS transport connecting → connected (callscope SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtls_setup_delay: Option<f64>,
    /// addNewFabric → connectionState connected, measured on the client (callscope SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_setup_delay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_transmission_direction: Option<TransmissionDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_endpoint_type: Option<EndpointType>,
    /// Swagger `localCandidates` (items in the `iceCandidatesObj` pair shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_candidates: Vec<IceCandidatePair>,
    /// Swagger `remoteCandidates` (items in the `iceCandidatesObj` pair shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_candidates: Vec<IceCandidatePair>,
    /// Official SDKs: the gathered local candidates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_ice_candidates: Vec<IceCandidate>,
    /// Official SDKs: the remote candidates received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ice_candidates: Vec<IceCandidate>,
    /// Official SDKs: every checked pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_candidate_pairs: Vec<IceCandidatePair>,
    /// Which of `iceCandidatePairs` carried media.
    #[serde(
        rename = "selectedCandidatePairID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub selected_candidate_pair_id: Option<String>,
    /// The selected pair, summarized by the client (candidate types, protocol, relay protocol):
    /// the one thing relay share and NAT breakdowns need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_candidate_pair: Option<IceCandidatePair>,
}

/// fabricSetupFailed: the PeerConnection could not be established.
///
/// The official Android SDK sends neither `remoteID` nor `connectionID`, hence optional; such a
/// failure is attributed to the user, not to a fabric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricSetupFailed {
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
    pub reason: FabricSetupFailureReason,
    /// Error name (e.g. a DOMException name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Time from the start of establishment to the failure, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// How far ICE got before the failure: gathering time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_gathering_delay: Option<f64>,
    /// How far ICE got before the failure: connectivity checks time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_connectivity_delay: Option<f64>,
    /// The candidates that were tried: what explains an ICE failure (no relay, no srflx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_candidates: Vec<IceCandidatePair>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_candidates: Vec<IceCandidatePair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_transmission_direction: Option<TransmissionDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_endpoint_type: Option<EndpointType>,
}

/// fabricTerminated: the PeerConnection was closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricTerminated {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    /// Why, when the client knows (`beforeunload`, `hangup`, ...); free text, summarized in
    /// `conferences.termination_reasons`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// fabricHold (`.../events/fabric/actions`, or `sendFabricEvent(fabricHold)`): media paused
/// with the connection kept; the processor excludes held time from quality averages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FabricHold {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
}

/// fabricResume: the end of a hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FabricResume {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
}

/// `.../events/fabric/statechange`: a signaling, ICE or connection state changed.
///
/// The state names stay strings: their vocabulary depends on `changedState`, and new browser
/// states should not make old events unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricStateChange {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    pub prev_state: String,
    pub new_state: String,
    pub changed_state: StateChangeType,
}

/// `.../events/fabric/transportchange`: the selected candidate pair changed (network switch,
/// ICE restart, TURN fallback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricTransportChange {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    #[serde(
        default,
        deserialize_with = "opt_object_or_singleton",
        skip_serializing_if = "Option::is_none"
    )]
    pub curr_ice_candidate_pair: Option<IceCandidatePair>,
    #[serde(
        default,
        deserialize_with = "opt_object_or_singleton",
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_ice_candidate_pair: Option<IceCandidatePair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curr_ice_connection_state: Option<IceConnectionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_ice_connection_state: Option<IceConnectionState>,
    /// How long the switch took, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_type: Option<RelayType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_ice_candidates: Vec<IceCandidate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ice_candidates: Vec<IceCandidate>,
}

/// `.../events/fabric/status` (official SDKs' "fabric dropped"): an established connection
/// failed for good, the "dropped call" of the callstats dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricDropped {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    #[serde(
        default,
        deserialize_with = "opt_object_or_singleton",
        skip_serializing_if = "Option::is_none"
    )]
    pub curr_ice_candidate_pair: Option<IceCandidatePair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curr_ice_connection_state: Option<IceConnectionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_ice_connection_state: Option<IceConnectionState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
}

/// `.../events/ice/status`: an ICE connection state transition worth counting (disruptions,
/// restarts, failures).
///
/// The Swagger names the states `curr/prevIceCandidateState`; the official SDKs send
/// `curr/prevIceConnectionState`. Both are read, the Swagger spelling is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceStatus {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    pub event_type: IceEventType,
    #[serde(
        default,
        deserialize_with = "opt_object_or_singleton",
        skip_serializing_if = "Option::is_none"
    )]
    pub curr_ice_candidate_pair: Option<IceCandidatePair>,
    #[serde(
        default,
        deserialize_with = "opt_object_or_singleton",
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_ice_candidate_pair: Option<IceCandidatePair>,
    #[serde(
        rename = "currIceCandidateState",
        alias = "currIceConnectionState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub curr_ice_connection_state: Option<IceConnectionState>,
    #[serde(
        rename = "prevIceCandidateState",
        alias = "prevIceConnectionState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_ice_connection_state: Option<IceConnectionState>,
    /// Duration of what ended (e.g. a disruption), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_ice_candidates: Vec<IceCandidate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ice_candidates: Vec<IceCandidate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_candidate_pairs: Vec<IceCandidatePair>,
}
