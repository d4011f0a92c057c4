//! How one PeerConnection's establishment went, from its event history.
//!
//! callstats times setup from `addNewFabric` ("Fabric setup delay = ts(fabricSetup) −
//! ts(addNewFabric)", likewise for fabricSetupFailed) and files failures under media source,
//! SDP generation, negotiation, ICE/NAT and transport after setup. The outcome rules are in
//! docs/quality.md, "Setup"; [`evaluate`] applies them to a [`FabricTimeline`].

use serde::{Deserialize, Serialize};

/// callstats' failure categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCategory {
    /// No device, no permission, unsatisfiable constraints.
    MediaSource,
    SdpGeneration,
    /// Applying or exchanging descriptions and candidates failed.
    Negotiation,
    /// ICE could not connect (NAT, firewall) or was aborted while checking.
    IceNat,
    /// The transport failed after the fabric was set up.
    #[serde(rename = "transport")]
    TransportAfterSetup,
}

impl FailureCategory {
    /// Same spelling as `callscope_schemas::enums::FailureCategory`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MediaSource => "media_source",
            Self::SdpGeneration => "sdp_generation",
            Self::Negotiation => "negotiation",
            Self::IceNat => "ice_nat",
            Self::TransportAfterSetup => "transport",
        }
    }
}

/// `reason` of fabricSetupFailed, as callstats spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureReason {
    MediaConfigError,
    MediaPermissionError,
    MediaDeviceError,
    NegotiationFailure,
    #[serde(rename = "SDPGenerationError")]
    SdpGenerationError,
    TransportFailure,
    SignalingError,
    IceConnectionFailure,
}

impl FailureReason {
    pub const ALL: [Self; 8] = [
        Self::MediaConfigError,
        Self::MediaPermissionError,
        Self::MediaDeviceError,
        Self::NegotiationFailure,
        Self::SdpGenerationError,
        Self::TransportFailure,
        Self::SignalingError,
        Self::IceConnectionFailure,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MediaConfigError => "MediaConfigError",
            Self::MediaPermissionError => "MediaPermissionError",
            Self::MediaDeviceError => "MediaDeviceError",
            Self::NegotiationFailure => "NegotiationFailure",
            Self::SdpGenerationError => "SDPGenerationError",
            Self::TransportFailure => "TransportFailure",
            Self::SignalingError => "SignalingError",
            Self::IceConnectionFailure => "IceConnectionFailure",
        }
    }

    /// The documented spelling only; anything else is `None` so the caller can count it.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    #[must_use]
    pub const fn category(self) -> FailureCategory {
        match self {
            Self::MediaConfigError | Self::MediaPermissionError | Self::MediaDeviceError => {
                FailureCategory::MediaSource
            }
            Self::SdpGenerationError => FailureCategory::SdpGeneration,
            Self::NegotiationFailure | Self::SignalingError => FailureCategory::Negotiation,
            Self::IceConnectionFailure => FailureCategory::IceNat,
            Self::TransportFailure => FailureCategory::TransportAfterSetup,
        }
    }
}

/// `webRTCFunctions` argument of `reportError()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebRtcFunction {
    GetUserMedia,
    CreateOffer,
    CreateAnswer,
    SetLocalDescription,
    SetRemoteDescription,
    AddIceCandidate,
    IceConnectionFailure,
    SignalingError,
    ApplicationLog,
    /// Sent by the runtime and the Amazon Connect shim, not in the documented enum.
    ApplicationError,
}

impl WebRtcFunction {
    pub const ALL: [Self; 10] = [
        Self::GetUserMedia,
        Self::CreateOffer,
        Self::CreateAnswer,
        Self::SetLocalDescription,
        Self::SetRemoteDescription,
        Self::AddIceCandidate,
        Self::IceConnectionFailure,
        Self::SignalingError,
        Self::ApplicationLog,
        Self::ApplicationError,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GetUserMedia => "getUserMedia",
            Self::CreateOffer => "createOffer",
            Self::CreateAnswer => "createAnswer",
            Self::SetLocalDescription => "setLocalDescription",
            Self::SetRemoteDescription => "setRemoteDescription",
            Self::AddIceCandidate => "addIceCandidate",
            Self::IceConnectionFailure => "iceConnectionFailure",
            Self::SignalingError => "signalingError",
            Self::ApplicationLog => "applicationLog",
            Self::ApplicationError => "applicationError",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The category a failure of this call falls into; `None` for application logs and
    /// errors, which callstats did not count as setup failures.
    ///
    /// `addIceCandidate` is negotiation: it fails on a malformed candidate or one applied
    /// before the remote description, a signaling fault, not a connectivity one.
    #[must_use]
    pub const fn category(self) -> Option<FailureCategory> {
        match self {
            Self::GetUserMedia => Some(FailureCategory::MediaSource),
            Self::CreateOffer | Self::CreateAnswer => Some(FailureCategory::SdpGeneration),
            Self::SetLocalDescription
            | Self::SetRemoteDescription
            | Self::AddIceCandidate
            | Self::SignalingError => Some(FailureCategory::Negotiation),
            Self::IceConnectionFailure => Some(FailureCategory::IceNat),
            Self::ApplicationLog | Self::ApplicationError => None,
        }
    }
}

/// `RTCIceConnectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IceState {
    New,
    Checking,
    Connected,
    Completed,
    Disconnected,
    Failed,
    Closed,
}

impl IceState {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(Self::New),
            "checking" => Some(Self::Checking),
            "connected" => Some(Self::Connected),
            "completed" => Some(Self::Completed),
            "disconnected" => Some(Self::Disconnected),
            "failed" => Some(Self::Failed),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    /// Connected or completed: media can flow.
    #[must_use]
    pub const fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::Completed)
    }
}

/// The ICE connection state entered at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IceTransition {
    pub at_ms: f64,
    pub state: IceState,
}

/// A `reportError()` call for this fabric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportedError {
    pub at_ms: f64,
    pub function: WebRtcFunction,
}

/// A fabricSetupFailed event; `reason` is `None` when absent or not a documented value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetupFailure {
    pub at_ms: f64,
    pub reason: Option<FailureReason>,
}

/// Durations the client put in its fabricSetup event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportedDelays {
    /// `delay`: the client's own fabricSetup − addNewFabric.
    pub delay_ms: Option<f64>,
    pub ice_gathering_ms: Option<f64>,
    pub ice_connectivity_ms: Option<f64>,
    pub dtls_ms: Option<f64>,
}

/// Everything known about one fabric's life; any order of events, any subset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FabricTimeline {
    /// addNewFabric.
    pub created_ms: Option<f64>,
    /// fabricSetup.
    pub setup_ms: Option<f64>,
    pub reported: ReportedDelays,
    pub setup_failures: Vec<SetupFailure>,
    pub errors: Vec<ReportedError>,
    pub ice: Vec<IceTransition>,
    /// Number of iceRestarted events, when the client sends them.
    pub reported_ice_restarts: Option<u32>,
    /// fabricTerminated (or the conference's end for this fabric).
    pub terminated_ms: Option<f64>,
}

/// How establishment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Set up, and not dropped.
    Success,
    /// Never set up: fabricSetupFailed, ICE failed, or a failed WebRTC call before termination.
    Failed,
    /// Terminated while ICE was still checking.
    Aborted,
    /// Set up, then disconnected or failed and not recovered before termination.
    Dropped,
    /// Terminated before ICE began checking, without any error: callstats' "missed"
    /// (an offer that was never answered).
    Missed,
    /// None of the above yet.
    Pending,
}

/// Setup phases; reported values win over values derived from the ICE history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupBreakdown {
    pub ice_gathering_ms: Option<f64>,
    /// Reported, else first `checking` → first `connected`/`completed`.
    pub ice_connectivity_ms: Option<f64>,
    pub dtls_ms: Option<f64>,
}

/// The verdict on one fabric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetupOutcome {
    pub outcome: Outcome,
    /// Success and Dropped: setup delay. Failed: failure delay (failure − creation).
    /// Otherwise `None`.
    pub delay_ms: Option<f64>,
    pub failure_category: Option<FailureCategory>,
    /// When the fabric was set up (fabricSetup, else first ICE connected).
    pub setup_at_ms: Option<f64>,
    pub breakdown: SetupBreakdown,
    pub ice_restarts: u32,
    /// connected/completed → disconnected/failed.
    pub disruptions: u32,
    /// Disruptions that ended back in connected/completed.
    pub recovered_disruptions: u32,
    /// Time spent disrupted, up to recovery, termination, or the last known transition.
    pub disrupted_ms: f64,
    /// A disruption is still open at the end of the history.
    pub disrupted_at_end: bool,
    /// Dropped: when the connection was lost for good (the start of the disruption still open
    /// at termination, else the first fabricSetupFailed after the last reconnect). Otherwise
    /// `None`.
    pub dropped_at_ms: Option<f64>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn nonneg(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// What the walk over the ICE history found.
#[derive(Debug, Default)]
struct IceWalk {
    first_checking: Option<f64>,
    first_connected: Option<f64>,
    /// ICE failed before the fabric was ever connected.
    failed_before_connect: Option<f64>,
    /// Last state before termination, `closed` excluded.
    last_state: Option<IceState>,
    /// Time of the last connected/completed transition.
    last_connected: Option<f64>,
    restarts: u32,
    disruptions: u32,
    recovered: u32,
    disrupted_ms: f64,
    disrupted_since: Option<f64>,
    last_at: Option<f64>,
}

fn walk_ice(transitions: &[IceTransition], setup_ms: Option<f64>, end_ms: Option<f64>) -> IceWalk {
    let mut sorted: Vec<IceTransition> = transitions
        .iter()
        .copied()
        .filter(|t| t.at_ms.is_finite() && end_ms.is_none_or(|end| t.at_ms <= end))
        .collect();
    sorted.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));

    let mut w = IceWalk::default();
    let mut prev: Option<IceState> = None;
    let mut ever_connected = false;
    for t in sorted {
        let at = t.at_ms;
        // fabricSetup means connected even when the statechange that said so is missing.
        if !ever_connected && setup_ms.is_some_and(|s| at >= s) {
            ever_connected = true;
        }
        if prev == Some(t.state) {
            continue;
        }
        // Swagger: iceRestarted is "any state → new"; a failed agent also only moves on
        // through a restart.
        let restarted = match (prev, t.state) {
            (Some(p), IceState::New) => p != IceState::New,
            (Some(IceState::Failed), s) => s != IceState::Closed,
            _ => false,
        };
        if restarted {
            w.restarts += 1;
        }
        match t.state {
            IceState::Checking => {
                w.first_checking.get_or_insert(at);
            }
            IceState::Connected | IceState::Completed => {
                w.first_connected.get_or_insert(at);
                w.last_connected = Some(at);
                ever_connected = true;
                if let Some(since) = w.disrupted_since.take() {
                    w.recovered += 1;
                    w.disrupted_ms += at - since;
                }
            }
            IceState::Disconnected | IceState::Failed => {
                if ever_connected {
                    if w.disrupted_since.is_none() {
                        w.disruptions += 1;
                        w.disrupted_since = Some(at);
                    }
                } else if t.state == IceState::Failed {
                    w.failed_before_connect.get_or_insert(at);
                }
            }
            IceState::New | IceState::Closed => {}
        }
        if t.state != IceState::Closed {
            w.last_state = Some(t.state);
        }
        prev = Some(t.state);
        w.last_at = Some(at);
    }
    // An open disruption lasts until termination, or as far as the history goes.
    if let Some(since) = w.disrupted_since {
        let until = end_ms.or(w.last_at).unwrap_or(since);
        w.disrupted_ms += (until - since).max(0.0);
    }
    w
}

/// Applies the outcome rules to one fabric's timeline.
#[must_use]
pub fn evaluate(t: &FabricTimeline) -> SetupOutcome {
    let created = finite(t.created_ms);
    // A closed ICE agent is a termination even if fabricTerminated never came.
    let closed_at = t
        .ice
        .iter()
        .filter(|i| i.state == IceState::Closed && i.at_ms.is_finite())
        .map(|i| i.at_ms)
        .min_by(f64::total_cmp);
    let terminated = finite(t.terminated_ms).or(closed_at);
    let setup_reported = finite(t.setup_ms);

    let ice = walk_ice(&t.ice, setup_reported, terminated);
    let setup_at = setup_reported.or(ice.first_connected);
    let before_end = |at: f64| terminated.is_none_or(|end| at <= end);
    let since_created = |at: f64| created.map(|c| at - c).filter(|d| *d >= 0.0);

    let breakdown = SetupBreakdown {
        ice_gathering_ms: nonneg(t.reported.ice_gathering_ms),
        ice_connectivity_ms: nonneg(t.reported.ice_connectivity_ms).or(
            match (ice.first_checking, ice.first_connected) {
                (Some(c), Some(k)) if k >= c => Some(k - c),
                _ => None,
            },
        ),
        dtls_ms: nonneg(t.reported.dtls_ms),
    };

    let mut failures: Vec<SetupFailure> = t
        .setup_failures
        .iter()
        .copied()
        .filter(|f| f.at_ms.is_finite() && before_end(f.at_ms))
        .collect();
    failures.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let mut errors: Vec<(f64, FailureCategory)> = t
        .errors
        .iter()
        .filter(|e| e.at_ms.is_finite() && before_end(e.at_ms))
        .filter_map(|e| e.function.category().map(|c| (e.at_ms, c)))
        .collect();
    errors.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut dropped_at = None;
    let (outcome, delay_ms, failure_category) = if let Some(setup) = setup_at {
        let delay = since_created(setup).or_else(|| nonneg(t.reported.delay_ms));
        // A setup failure after setup counts as a drop unless ICE reconnected after it.
        let late_failure_open = failures
            .iter()
            .any(|f| f.at_ms > setup && ice.last_connected.is_none_or(|c| c <= f.at_ms));
        let dropped = terminated.is_some() && (ice.disrupted_since.is_some() || late_failure_open);
        if dropped {
            dropped_at = ice.disrupted_since.or_else(|| {
                failures
                    .iter()
                    .find(|f| f.at_ms > setup && ice.last_connected.is_none_or(|c| c <= f.at_ms))
                    .map(|f| f.at_ms)
            });
            (
                Outcome::Dropped,
                delay,
                Some(FailureCategory::TransportAfterSetup),
            )
        } else {
            (Outcome::Success, delay, None)
        }
    } else if let Some(first) = failures.first() {
        // An explicit reason wins; without one, the earliest failed call or ICE explains it.
        let category = first
            .reason
            .map(FailureReason::category)
            .or_else(|| errors.first().map(|e| e.1))
            .or(ice.failed_before_connect.map(|_| FailureCategory::IceNat));
        (Outcome::Failed, since_created(first.at_ms), category)
    } else if let Some(at) = ice.failed_before_connect {
        // Earlier errors may explain why ICE had nothing to work with.
        let category = errors
            .first()
            .filter(|e| e.0 <= at)
            .map_or(FailureCategory::IceNat, |e| e.1);
        (Outcome::Failed, since_created(at), Some(category))
    } else if let (Some(_), Some((at, category))) = (terminated, errors.first()) {
        (Outcome::Failed, since_created(*at), Some(*category))
    } else if terminated.is_some() {
        match ice.last_state {
            Some(IceState::Checking | IceState::Disconnected) => {
                (Outcome::Aborted, None, Some(FailureCategory::IceNat))
            }
            _ => (Outcome::Missed, None, None),
        }
    } else {
        (Outcome::Pending, None, None)
    };

    SetupOutcome {
        outcome,
        delay_ms,
        failure_category,
        setup_at_ms: setup_at,
        breakdown,
        ice_restarts: t.reported_ice_restarts.unwrap_or(ice.restarts),
        disruptions: ice.disruptions,
        recovered_disruptions: ice.recovered,
        disrupted_ms: ice.disrupted_ms,
        disrupted_at_end: ice.disrupted_since.is_some(),
        dropped_at_ms: dropped_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ice(states: &[(f64, IceState)]) -> Vec<IceTransition> {
        states
            .iter()
            .map(|&(at_ms, state)| IceTransition { at_ms, state })
            .collect()
    }

    use IceState::{Checking, Closed, Completed, Connected, Disconnected, Failed, New};

    #[test]
    fn success_with_breakdown() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            setup_ms: Some(3_500.0),
            reported: ReportedDelays {
                ice_gathering_ms: Some(300.0),
                dtls_ms: Some(100.0),
                ..Default::default()
            },
            ice: ice(&[
                (1_200.0, Checking),
                (3_400.0, Connected),
                (3_600.0, Completed),
            ]),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Success);
        // 3 500 − 1 000
        assert_eq!(o.delay_ms, Some(2_500.0));
        assert_eq!(o.failure_category, None);
        // checking 1 200 → connected 3 400
        assert_eq!(o.breakdown.ice_connectivity_ms, Some(2_200.0));
        assert_eq!(o.breakdown.ice_gathering_ms, Some(300.0));
        assert_eq!(o.breakdown.dtls_ms, Some(100.0));
        assert_eq!((o.ice_restarts, o.disruptions), (0, 0));
    }

    #[test]
    fn ice_connected_stands_in_for_fabric_setup() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[(1_500.0, Checking), (2_750.0, Connected)]),
            ..Default::default()
        });
        assert_eq!(
            (o.outcome, o.delay_ms, o.setup_at_ms),
            (Outcome::Success, Some(1_750.0), Some(2_750.0))
        );
    }

    #[test]
    fn reported_delay_when_creation_is_unknown() {
        let o = evaluate(&FabricTimeline {
            setup_ms: Some(5_000.0),
            reported: ReportedDelays {
                delay_ms: Some(1_800.0),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!((o.outcome, o.delay_ms), (Outcome::Success, Some(1_800.0)));
    }

    #[test]
    fn failed_with_reason() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            setup_failures: vec![SetupFailure {
                at_ms: 1_500.0,
                reason: Some(FailureReason::MediaPermissionError),
            }],
            ..Default::default()
        });
        // 1 500 − 1 000
        assert_eq!(o.outcome, Outcome::Failed);
        assert_eq!(o.delay_ms, Some(500.0));
        assert_eq!(o.failure_category, Some(FailureCategory::MediaSource));
    }

    #[test]
    fn failed_without_reason_takes_the_earliest_error() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            setup_failures: vec![SetupFailure {
                at_ms: 9_000.0,
                reason: None,
            }],
            errors: vec![
                ReportedError {
                    at_ms: 1_400.0,
                    function: WebRtcFunction::SetRemoteDescription,
                },
                ReportedError {
                    at_ms: 1_200.0,
                    function: WebRtcFunction::ApplicationLog,
                },
                ReportedError {
                    at_ms: 1_300.0,
                    function: WebRtcFunction::CreateOffer,
                },
            ],
            ..Default::default()
        });
        assert_eq!(o.failure_category, Some(FailureCategory::SdpGeneration));
        assert_eq!(o.delay_ms, Some(8_000.0));
    }

    #[test]
    fn ice_failure_before_connect() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[
                (1_200.0, Checking),
                (6_200.0, Disconnected),
                (11_200.0, Failed),
            ]),
            ..Default::default()
        });
        // 11 200 − 1 000
        assert_eq!(
            (o.outcome, o.delay_ms, o.failure_category),
            (
                Outcome::Failed,
                Some(10_200.0),
                Some(FailureCategory::IceNat)
            )
        );
        // Not a disruption: it was never connected.
        assert_eq!(o.disruptions, 0);
    }

    #[test]
    fn failed_call_then_termination() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            errors: vec![ReportedError {
                at_ms: 1_300.0,
                function: WebRtcFunction::CreateAnswer,
            }],
            terminated_ms: Some(5_000.0),
            ..Default::default()
        });
        assert_eq!(
            (o.outcome, o.delay_ms, o.failure_category),
            (
                Outcome::Failed,
                Some(300.0),
                Some(FailureCategory::SdpGeneration)
            )
        );
    }

    #[test]
    fn errors_alone_do_not_fail_a_live_fabric() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            errors: vec![ReportedError {
                at_ms: 1_300.0,
                function: WebRtcFunction::AddIceCandidate,
            }],
            ice: ice(&[(1_200.0, Checking)]),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Pending);
    }

    #[test]
    fn aborted_while_checking() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[(1_100.0, New), (1_200.0, Checking), (4_000.0, Closed)]),
            ..Default::default()
        });
        // ICE closed counts as the termination.
        assert_eq!(
            (o.outcome, o.delay_ms, o.failure_category),
            (Outcome::Aborted, None, Some(FailureCategory::IceNat))
        );
    }

    #[test]
    fn missed_before_checking() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[(1_100.0, New)]),
            terminated_ms: Some(60_000.0),
            ..Default::default()
        });
        assert_eq!((o.outcome, o.failure_category), (Outcome::Missed, None));
        assert_eq!(
            evaluate(&FabricTimeline::default()).outcome,
            Outcome::Pending
        );
    }

    #[test]
    fn dropped_after_setup() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[
                (1_500.0, Checking),
                (2_000.0, Connected),
                (10_000.0, Disconnected),
                (25_000.0, Failed),
            ]),
            terminated_ms: Some(30_000.0),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Dropped);
        assert_eq!(
            o.failure_category,
            Some(FailureCategory::TransportAfterSetup)
        );
        // Set up at 2 000: 1 000 ms after creation.
        assert_eq!(o.delay_ms, Some(1_000.0));
        // One disruption (disconnected then failed), open from 10 000 to the end at 30 000.
        assert_eq!(
            (o.disruptions, o.recovered_disruptions, o.disrupted_ms),
            (1, 0, 20_000.0)
        );
        assert!(o.disrupted_at_end);
        // Lost for good when the last disruption began.
        assert_eq!(o.dropped_at_ms, Some(10_000.0));
    }

    #[test]
    fn disrupted_but_not_terminated_is_still_success() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[
                (2_000.0, Connected),
                (10_000.0, Disconnected),
                (12_000.0, Failed),
            ]),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Success);
        assert!(o.disrupted_at_end);
        assert_eq!(o.dropped_at_ms, None, "not dropped while not terminated");
        // Open disruption measured to the last known transition: 12 000 − 10 000.
        assert_eq!(o.disrupted_ms, 2_000.0);
    }

    #[test]
    fn recovered_disruptions_and_restart() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            // Unsorted on purpose.
            ice: ice(&[
                (13_000.0, Connected),
                (2_000.0, Connected),
                (10_000.0, Disconnected),
                (20_000.0, Disconnected),
                (21_000.0, New),
                (21_100.0, Checking),
                (22_000.0, Connected),
                (30_000.0, Closed),
            ]),
            terminated_ms: Some(30_000.0),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Success);
        // Disrupted 10 000–13 000 and 20 000–22 000: 3 000 + 2 000.
        assert_eq!(
            (o.disruptions, o.recovered_disruptions, o.disrupted_ms),
            (2, 2, 5_000.0)
        );
        assert_eq!(o.ice_restarts, 1);
        assert!(!o.disrupted_at_end);
    }

    #[test]
    fn restart_after_failure_then_success() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[
                (1_000.0, Checking),
                (11_000.0, Failed),
                (12_000.0, New),
                (12_100.0, Checking),
                (13_000.0, Connected),
            ]),
            ..Default::default()
        });
        // Connected at 13 000: 12 000 after creation; failed → new is one restart.
        assert_eq!(
            (o.outcome, o.delay_ms, o.ice_restarts),
            (Outcome::Success, Some(12_000.0), 1)
        );
        assert_eq!(o.failure_category, None);
        assert_eq!(o.breakdown.ice_connectivity_ms, Some(12_000.0));
        let reported = evaluate(&FabricTimeline {
            reported_ice_restarts: Some(3),
            ..FabricTimeline::default()
        });
        assert_eq!(reported.ice_restarts, 3);
    }

    #[test]
    fn transport_failure_after_setup_is_a_drop() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            setup_ms: Some(2_000.0),
            setup_failures: vec![SetupFailure {
                at_ms: 9_000.0,
                reason: Some(FailureReason::TransportFailure),
            }],
            terminated_ms: Some(10_000.0),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Dropped);
        assert_eq!(o.delay_ms, Some(1_000.0));
        // Reconnected after the failure: not a drop.
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            setup_ms: Some(2_000.0),
            setup_failures: vec![SetupFailure {
                at_ms: 9_000.0,
                reason: Some(FailureReason::TransportFailure),
            }],
            ice: ice(&[
                (2_000.0, Connected),
                (8_900.0, Disconnected),
                (9_500.0, Connected),
            ]),
            terminated_ms: Some(10_000.0),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Success);
    }

    #[test]
    fn events_after_termination_are_ignored() {
        let o = evaluate(&FabricTimeline {
            created_ms: Some(1_000.0),
            ice: ice(&[(1_200.0, Checking), (9_000.0, Connected)]),
            terminated_ms: Some(5_000.0),
            ..Default::default()
        });
        assert_eq!(o.outcome, Outcome::Aborted);
    }

    #[test]
    fn category_mappings() {
        use FailureCategory as C;
        let reasons = [
            ("MediaConfigError", C::MediaSource),
            ("MediaPermissionError", C::MediaSource),
            ("MediaDeviceError", C::MediaSource),
            ("SDPGenerationError", C::SdpGeneration),
            ("NegotiationFailure", C::Negotiation),
            ("SignalingError", C::Negotiation),
            ("IceConnectionFailure", C::IceNat),
            ("TransportFailure", C::TransportAfterSetup),
        ];
        for (s, c) in reasons {
            assert_eq!(
                FailureReason::parse(s).map(FailureReason::category),
                Some(c),
                "{s}"
            );
        }
        assert_eq!(FailureReason::parse("mediaConfigError"), None);
        let functions = [
            ("getUserMedia", Some(C::MediaSource)),
            ("createOffer", Some(C::SdpGeneration)),
            ("createAnswer", Some(C::SdpGeneration)),
            ("setLocalDescription", Some(C::Negotiation)),
            ("setRemoteDescription", Some(C::Negotiation)),
            ("addIceCandidate", Some(C::Negotiation)),
            ("signalingError", Some(C::Negotiation)),
            ("iceConnectionFailure", Some(C::IceNat)),
            ("applicationLog", None),
            ("applicationError", None),
        ];
        for (s, c) in functions {
            assert_eq!(
                WebRtcFunction::parse(s).map(WebRtcFunction::category),
                Some(c),
                "{s}"
            );
        }
        assert_eq!(C::TransportAfterSetup.as_str(), "transport");
        assert_eq!(IceState::parse("completed"), Some(Completed));
    }
}
