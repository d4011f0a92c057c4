//! Validation rules as code: what ingest must refuse before anything reaches the bus.
//!
//! Deserialization already refuses wrong types and unknown enum values; these rules cover what
//! types cannot say (lengths, ranges, required-by-meaning, finite numbers). The numbers live in
//! [`crate::limits`].
//!
//! [`ValidationError::field`] is a JSON path in the terms the client used: envelope IDs by their
//! callstats names (`appID`, `conferenceID`, `ucID`, `userID`, since ingest takes them from the
//! URL path and the token), payload fields relative to the request body
//! (`endpointInfo.appVersion`, `ssrcData[2].usageLabel`, `stats[17].timestamp`). Server-side
//! envelope fields use their envelope names (`received_at_ms`). The first violated rule is
//! reported: one precise message is more useful to an integrator than a list.

use crate::envelope::{Envelope, Payload, SCHEMA_VERSION};
use crate::events::*;
use crate::limits::*;

/// A value refused by a validation rule; ingest answers it as a 4xx naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
#[must_use]
pub struct ValidationError {
    /// JSON path of the offending value, e.g. `endpointInfo.appVersion`.
    pub field: String,
    /// Why it was refused, in lowercase prose.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Something that can be checked against the rules.
pub trait Validate {
    /// `Ok` when every rule holds, else the first violation.
    fn validate(&self) -> Result<(), ValidationError>;
}

// ---------------------------------------------------------------------------------------------
// Rule primitives: each returns the reason on failure; the caller attaches the field path, so
// that paths of list elements are only formatted when something is wrong.
// ---------------------------------------------------------------------------------------------

type Rule = Result<(), String>;

fn at(rule: Rule, field: &str) -> Result<(), ValidationError> {
    rule.map_err(|reason| ValidationError::new(field, reason))
}

fn at_with(rule: Rule, field: impl FnOnce() -> String) -> Result<(), ValidationError> {
    rule.map_err(|reason| ValidationError::new(field(), reason))
}

/// At most `max` bytes.
fn max_bytes(value: &str, max: usize) -> Rule {
    if value.len() > max {
        Err(format!("is {} bytes long, the limit is {max}", value.len()))
    } else {
        Ok(())
    }
}

/// At most `max` characters (callstats worded some limits in characters).
fn max_chars(value: &str, max: usize) -> Rule {
    let n = value.chars().count();
    if n > max {
        Err(format!("is {n} characters long, the limit is {max}"))
    } else {
        Ok(())
    }
}

/// A non-empty identifier of at most `max` bytes without control characters (which would
/// corrupt logs, CSV exports and partition paths).
fn id(value: &str, max: usize) -> Rule {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    max_bytes(value, max)?;
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

fn opt_id(value: Option<&str>, max: usize) -> Rule {
    value.map_or(Ok(()), |v| id(v, max))
}

fn opt_bytes(value: Option<&str>, max: usize) -> Rule {
    value.map_or(Ok(()), |v| max_bytes(v, max))
}

fn opt_chars(value: Option<&str>, max: usize) -> Rule {
    value.map_or(Ok(()), |v| max_chars(v, max))
}

/// A finite, non-negative measurement (delays, timestamps, counters, percentages).
fn non_negative(value: f64) -> Rule {
    if !value.is_finite() {
        Err("must be a finite number".to_owned())
    } else if value < 0.0 {
        Err(format!("must not be negative, got {value}"))
    } else {
        Ok(())
    }
}

fn opt_non_negative(value: Option<f64>) -> Rule {
    value.map_or(Ok(()), non_negative)
}

/// A finite number that may be negative (dBm levels).
fn opt_finite(value: Option<f64>) -> Rule {
    match value {
        Some(v) if !v.is_finite() => Err("must be a finite number".to_owned()),
        _ => Ok(()),
    }
}

fn max_entries(len: usize, max: usize) -> Rule {
    if len > max {
        Err(format!("has {len} entries, the limit is {max}"))
    } else {
        Ok(())
    }
}

fn rating(value: Option<i64>) -> Rule {
    match value {
        Some(r) if !(RATING_MIN..=RATING_MAX).contains(&r) => Err(format!(
            "must be between {RATING_MIN} and {RATING_MAX}, got {r}"
        )),
        _ => Ok(()),
    }
}

/// App IDs end up in the bus key and in partition directory names.
fn app_id(value: &str) -> Rule {
    id(value, APP_ID_MAX_BYTES)?;
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err("may only contain ASCII letters, digits, '-' and '_'".to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope and payload
// ---------------------------------------------------------------------------------------------

impl Validate for Envelope {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.v != SCHEMA_VERSION {
            return Err(ValidationError::new(
                "v",
                format!(
                    "schema version {} is not the version {SCHEMA_VERSION} this build writes",
                    self.v
                ),
            ));
        }
        at(app_id(&self.app_id), "appID")?;
        at(
            id(&self.conference_id, CONFERENCE_ID_MAX_BYTES),
            "conferenceID",
        )?;
        at(opt_id(self.uc_id.as_deref(), UC_ID_MAX_BYTES), "ucID")?;
        // Every kind is sent by someone: per-user quality, feedback and presence are
        // meaningless without the user, and bridges identify themselves as a user too.
        let user = self.user_id.as_deref().ok_or_else(|| {
            ValidationError::new("userID", "is required (the authenticated user)")
        })?;
        at(id(user, USER_ID_MAX_BYTES), "userID")?;
        if self.received_at_ms < 0 {
            return Err(ValidationError::new(
                "received_at_ms",
                "must not be negative",
            ));
        }
        if self.client_ts_ms.is_some_and(|t| t < 0) {
            return Err(ValidationError::new("client_ts_ms", "must not be negative"));
        }
        at(
            opt_bytes(self.request_origin.as_deref(), REQUEST_ORIGIN_MAX_BYTES),
            "request_origin",
        )?;
        at(opt_bytes(self.batch_id.as_deref(), ID_MAX_BYTES), "batchID")?;
        self.payload.validate()
    }
}

impl Validate for Payload {
    fn validate(&self) -> Result<(), ValidationError> {
        common(self.common())?;
        match self {
            Payload::UserJoined(e) => e.validate(),
            Payload::UserAlive(_) | Payload::UserLeft(_) | Payload::BridgeAlive(_) => Ok(()),
            Payload::IntegrationProgress(e) => e.validate(),
            Payload::UserDetails(e) => e.validate(),
            Payload::FabricCreated(e) => e.validate(),
            Payload::FabricSetup(e) => e.validate(),
            Payload::FabricSetupFailed(e) => e.validate(),
            Payload::FabricTerminated(e) => e.validate(),
            Payload::FabricHold(e) => fabric_ids(&e.remote_id, &e.connection_id),
            Payload::FabricResume(e) => fabric_ids(&e.remote_id, &e.connection_id),
            Payload::FabricStateChange(e) => e.validate(),
            Payload::FabricTransportChange(e) => e.validate(),
            Payload::FabricDropped(e) => e.validate(),
            Payload::IceStatus(e) => e.validate(),
            Payload::MediaAction(e) => e.validate(),
            Payload::MediaPipeline(e) => e.validate(),
            Payload::DeviceList(e) => e.validate(),
            Payload::DominantSpeaker(e) => e.validate(),
            Payload::SsrcMap(e) => e.validate(),
            Payload::Feedback(e) => e.validate(),
            Payload::ReportError(e) => e.validate(),
            Payload::AppLog(e) => e.validate(),
            Payload::Sdp(e) => e.validate(),
            Payload::StatsSample(e) => e.validate(),
            Payload::SystemStatus(e) => e.validate(),
            Payload::BridgeStatus(e) => e.validate(),
        }
    }
}

fn common(c: &CommonFields) -> Result<(), ValidationError> {
    at(opt_id(c.local_id.as_deref(), USER_ID_MAX_BYTES), "localID")?;
    at(opt_id(c.device_id.as_deref(), ID_MAX_BYTES), "deviceID")?;
    at(opt_id(c.origin_id.as_deref(), ID_MAX_BYTES), "originID")?;
    at(opt_non_negative(c.timestamp), "timestamp")
}

fn fabric_ids(remote_id: &str, connection_id: &str) -> Result<(), ValidationError> {
    at(id(remote_id, USER_ID_MAX_BYTES), "remoteID")?;
    at(id(connection_id, ID_MAX_BYTES), "connectionID")
}

fn opt_fabric_ids(
    remote_id: Option<&str>,
    connection_id: Option<&str>,
) -> Result<(), ValidationError> {
    at(opt_id(remote_id, USER_ID_MAX_BYTES), "remoteID")?;
    at(opt_id(connection_id, ID_MAX_BYTES), "connectionID")
}

fn pair(p: &IceCandidatePair, path: &str) -> Result<(), ValidationError> {
    let f = |name: &str| format!("{path}.{name}");
    at_with(opt_id(p.candidate_id.as_deref(), ID_MAX_BYTES), || {
        f("candidateID")
    })?;
    at_with(
        opt_bytes(p.local_address.as_deref(), SHORT_TEXT_MAX_BYTES),
        || f("localAddress"),
    )?;
    at_with(
        opt_bytes(p.remote_address.as_deref(), SHORT_TEXT_MAX_BYTES),
        || f("remoteAddress"),
    )?;
    at_with(
        opt_bytes(p.transport_type.as_deref(), SHORT_TEXT_MAX_BYTES),
        || f("transportType"),
    )?;
    at_with(
        opt_id(p.local_candidate_id.as_deref(), ID_MAX_BYTES),
        || f("localCandidateId"),
    )?;
    at_with(
        opt_id(p.remote_candidate_id.as_deref(), ID_MAX_BYTES),
        || f("remoteCandidateId"),
    )?;
    at_with(opt_bytes(p.state.as_deref(), SHORT_TEXT_MAX_BYTES), || {
        f("state")
    })?;
    at_with(opt_non_negative(p.priority), || f("priority"))
}

fn opt_pair(p: Option<&IceCandidatePair>, path: &str) -> Result<(), ValidationError> {
    p.map_or(Ok(()), |p| pair(p, path))
}

fn pairs(list: &[IceCandidatePair], path: &str) -> Result<(), ValidationError> {
    at(max_entries(list.len(), ICE_CANDIDATES_MAX), path)?;
    list.iter()
        .enumerate()
        .try_for_each(|(i, p)| pair(p, &format!("{path}[{i}]")))
}

fn candidates(list: &[IceCandidate], path: &str) -> Result<(), ValidationError> {
    at(max_entries(list.len(), ICE_CANDIDATES_MAX), path)?;
    for (i, c) in list.iter().enumerate() {
        let f = |name: &str| format!("{path}[{i}].{name}");
        at_with(opt_id(c.id.as_deref(), ID_MAX_BYTES), || f("id"))?;
        at_with(opt_bytes(c.r#type.as_deref(), SHORT_TEXT_MAX_BYTES), || {
            f("type")
        })?;
        at_with(opt_bytes(c.ip.as_deref(), SHORT_TEXT_MAX_BYTES), || f("ip"))?;
        at_with(
            opt_bytes(c.transport.as_deref(), SHORT_TEXT_MAX_BYTES),
            || f("transport"),
        )?;
        at_with(opt_bytes(c.url.as_deref(), SHORT_TEXT_MAX_BYTES), || {
            f("url")
        })?;
        at_with(
            opt_bytes(c.network_type.as_deref(), SHORT_TEXT_MAX_BYTES),
            || f("networkType"),
        )?;
    }
    Ok(())
}

impl Validate for UserJoined {
    fn validate(&self) -> Result<(), ValidationError> {
        let e = &self.endpoint_info;
        let short = |v: &Option<String>, field: &str| {
            at(opt_bytes(v.as_deref(), SHORT_TEXT_MAX_BYTES), field)
        };
        short(&e.r#type, "endpointInfo.type")?;
        short(&e.os, "endpointInfo.os")?;
        short(&e.os_version, "endpointInfo.osVersion")?;
        short(&e.name, "endpointInfo.name")?;
        short(&e.version, "endpointInfo.version")?;
        at(
            opt_chars(e.app_version.as_deref(), APP_VERSION_MAX_CHARS),
            "endpointInfo.appVersion",
        )?;
        short(&e.build_name, "endpointInfo.buildName")?;
        short(&e.build_version, "endpointInfo.buildVersion")?;
        at(
            opt_bytes(self.site_id.as_deref(), SITE_ID_MAX_BYTES),
            "siteID",
        )?;
        if let Some(ids) = &self.additional_ids {
            let ids_fields = [
                (&ids.customer_id, "additionalIDs.customerID"),
                (&ids.tenant_id, "additionalIDs.tenantID"),
                (&ids.product_name, "additionalIDs.productName"),
                (&ids.meetings_name, "additionalIDs.meetingsName"),
                (&ids.server_name, "additionalIDs.serverName"),
                (&ids.pbx_id, "additionalIDs.pbxID"),
                (&ids.pbx_extension_id, "additionalIDs.pbxExtensionID"),
                (&ids.fq_extension_id, "additionalIDs.fqExtensionID"),
                (&ids.session_id, "additionalIDs.sessionID"),
            ];
            for (value, field) in ids_fields {
                at(opt_bytes(value.as_deref(), ADDITIONAL_ID_MAX_BYTES), field)?;
            }
        }
        if let Some(u) = &self.user_info {
            at(
                opt_chars(u.user_name.as_deref(), USER_INFO_MAX_CHARS),
                "userInfo.userName",
            )?;
            at(
                opt_chars(u.alias_name.as_deref(), USER_INFO_MAX_CHARS),
                "userInfo.aliasName",
            )?;
            at(
                opt_chars(u.login_id.as_deref(), USER_INFO_MAX_CHARS),
                "userInfo.loginID",
            )?;
        }
        Ok(())
    }
}

impl Validate for UserDetails {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.user_name.is_empty() {
            return Err(ValidationError::new("userName", "must not be empty"));
        }
        at(max_chars(&self.user_name, USER_INFO_MAX_CHARS), "userName")
    }
}

impl Validate for FabricCreated {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(
            opt_bytes(self.connection_label.as_deref(), SHORT_TEXT_MAX_BYTES),
            "connectionLabel",
        )
    }
}

impl Validate for FabricSetup {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(opt_non_negative(self.delay), "delay")?;
        at(
            opt_non_negative(self.ice_gathering_delay),
            "iceGatheringDelay",
        )?;
        at(
            opt_non_negative(self.ice_connectivity_delay),
            "iceConnectivityDelay",
        )?;
        at(opt_non_negative(self.dtls_setup_delay), "dtlsSetupDelay")?;
        at(opt_non_negative(self.total_setup_delay), "totalSetupDelay")?;
        pairs(&self.local_candidates, "localCandidates")?;
        pairs(&self.remote_candidates, "remoteCandidates")?;
        candidates(&self.local_ice_candidates, "localIceCandidates")?;
        candidates(&self.remote_ice_candidates, "remoteIceCandidates")?;
        pairs(&self.ice_candidate_pairs, "iceCandidatePairs")?;
        at(
            opt_id(self.selected_candidate_pair_id.as_deref(), ID_MAX_BYTES),
            "selectedCandidatePairID",
        )?;
        opt_pair(
            self.selected_candidate_pair.as_ref(),
            "selectedCandidatePair",
        )
    }
}

/// Name, message and stack of an error, wherever they appear.
fn error_text(
    name: Option<&str>,
    message: Option<&str>,
    stack: Option<&str>,
    prefix: &str,
) -> Result<(), ValidationError> {
    at(
        opt_bytes(name, SHORT_TEXT_MAX_BYTES),
        &format!("{prefix}name"),
    )?;
    at(
        opt_bytes(message, ERROR_MESSAGE_MAX_BYTES),
        &format!("{prefix}message"),
    )?;
    at(
        opt_bytes(stack, ERROR_STACK_MAX_BYTES),
        &format!("{prefix}stack"),
    )
}

impl Validate for FabricSetupFailed {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_fabric_ids(self.remote_id.as_deref(), self.connection_id.as_deref())?;
        error_text(
            self.name.as_deref(),
            self.message.as_deref(),
            self.stack.as_deref(),
            "",
        )?;
        at(opt_non_negative(self.delay), "delay")?;
        at(
            opt_non_negative(self.ice_gathering_delay),
            "iceGatheringDelay",
        )?;
        at(
            opt_non_negative(self.ice_connectivity_delay),
            "iceConnectivityDelay",
        )?;
        pairs(&self.local_candidates, "localCandidates")?;
        pairs(&self.remote_candidates, "remoteCandidates")
    }
}

impl Validate for FabricTerminated {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(
            opt_bytes(self.reason.as_deref(), SHORT_TEXT_MAX_BYTES),
            "reason",
        )
    }
}

impl Validate for FabricStateChange {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(id(&self.prev_state, SHORT_TEXT_MAX_BYTES), "prevState")?;
        at(id(&self.new_state, SHORT_TEXT_MAX_BYTES), "newState")
    }
}

impl Validate for FabricTransportChange {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        opt_pair(
            self.curr_ice_candidate_pair.as_ref(),
            "currIceCandidatePair",
        )?;
        opt_pair(
            self.prev_ice_candidate_pair.as_ref(),
            "prevIceCandidatePair",
        )?;
        at(opt_non_negative(self.delay), "delay")?;
        candidates(&self.local_ice_candidates, "localIceCandidates")?;
        candidates(&self.remote_ice_candidates, "remoteIceCandidates")
    }
}

impl Validate for FabricDropped {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        opt_pair(
            self.curr_ice_candidate_pair.as_ref(),
            "currIceCandidatePair",
        )?;
        at(opt_non_negative(self.delay), "delay")
    }
}

impl Validate for IceStatus {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        opt_pair(
            self.curr_ice_candidate_pair.as_ref(),
            "currIceCandidatePair",
        )?;
        opt_pair(
            self.prev_ice_candidate_pair.as_ref(),
            "prevIceCandidatePair",
        )?;
        at(opt_non_negative(self.delay), "delay")?;
        candidates(&self.local_ice_candidates, "localIceCandidates")?;
        candidates(&self.remote_ice_candidates, "remoteIceCandidates")?;
        pairs(&self.ice_candidate_pairs, "iceCandidatePairs")
    }
}

impl Validate for MediaAction {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_fabric_ids(self.remote_id.as_deref(), self.connection_id.as_deref())?;
        at(
            opt_id(self.media_device_id.as_deref(), ID_MAX_BYTES),
            "mediaDeviceID",
        )?;
        at(
            max_entries(self.remote_id_list.len(), REMOTE_ID_LIST_MAX),
            "remoteIDList",
        )?;
        for (i, remote) in self.remote_id_list.iter().enumerate() {
            at_with(id(remote, USER_ID_MAX_BYTES), || {
                format!("remoteIDList[{i}]")
            })?;
        }
        at(opt_id(self.ssrc.as_deref(), SSRC_MAX_BYTES), "ssrc")
    }
}

impl Validate for MediaPipeline {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_fabric_ids(self.remote_id.as_deref(), self.connection_id.as_deref())?;
        at(opt_id(self.ssrc.as_deref(), SSRC_MAX_BYTES), "ssrc")
    }
}

impl Validate for DeviceList {
    fn validate(&self) -> Result<(), ValidationError> {
        at(
            max_entries(self.media_device_list.len(), DEVICE_LIST_MAX),
            "mediaDeviceList",
        )?;
        for (i, d) in self.media_device_list.iter().enumerate() {
            let f = |name: &str| format!("mediaDeviceList[{i}].{name}");
            at_with(opt_id(d.media_device_id.as_deref(), ID_MAX_BYTES), || {
                f("mediaDeviceID")
            })?;
            at_with(opt_bytes(d.kind.as_deref(), SHORT_TEXT_MAX_BYTES), || {
                f("kind")
            })?;
            at_with(opt_bytes(d.label.as_deref(), SHORT_TEXT_MAX_BYTES), || {
                f("label")
            })?;
            at_with(opt_id(d.group_id.as_deref(), ID_MAX_BYTES), || f("groupID"))?;
        }
        Ok(())
    }
}

impl Validate for DominantSpeaker {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_fabric_ids(self.remote_id.as_deref(), self.connection_id.as_deref())
    }
}

impl Validate for SsrcMap {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(
            max_entries(self.ssrc_data.len(), SSRC_MAP_MAX_ENTRIES),
            "ssrcData",
        )?;
        for (i, s) in self.ssrc_data.iter().enumerate() {
            let f = |name: &str| format!("ssrcData[{i}].{name}");
            at_with(id(&s.ssrc, SSRC_MAX_BYTES), || f("ssrc"))?;
            at_with(opt_id(s.user_id.as_deref(), USER_ID_MAX_BYTES), || {
                f("userID")
            })?;
            at_with(
                opt_bytes(s.usage_label.as_deref(), USAGE_LABEL_MAX_BYTES),
                || f("usageLabel"),
            )?;
            let short = [
                (&s.cname, "cname"),
                (&s.msid, "msid"),
                (&s.mslabel, "mslabel"),
                (&s.label, "label"),
                (&s.track_identifier, "trackIdentifier"),
                (&s.associated_video_tag, "associatedVideoTag"),
            ];
            for (value, name) in short {
                at_with(opt_bytes(value.as_deref(), SHORT_TEXT_MAX_BYTES), || {
                    f(name)
                })?;
            }
            at_with(opt_non_negative(s.local_start_time), || f("localStartTime"))?;
        }
        Ok(())
    }
}

impl Validate for UserFeedback {
    fn validate(&self) -> Result<(), ValidationError> {
        at(
            opt_id(self.remote_id.as_deref(), USER_ID_MAX_BYTES),
            "remoteID",
        )?;
        let fb = &self.feedback;
        if fb.overall_rating.is_none() {
            return Err(ValidationError::new(
                "feedback.overallRating",
                "is required",
            ));
        }
        at(rating(fb.overall_rating), "feedback.overallRating")?;
        at(
            rating(fb.audio_quality_rating),
            "feedback.audioQualityRating",
        )?;
        at(
            rating(fb.video_quality_rating),
            "feedback.videoQualityRating",
        )?;
        at(
            rating(fb.screen_quality_rating),
            "feedback.screenQualityRating",
        )?;
        at(
            opt_bytes(fb.comments.as_deref(), FEEDBACK_COMMENT_MAX_BYTES),
            "feedback.comments",
        )?;
        at(
            opt_id(fb.remote_id.as_deref(), USER_ID_MAX_BYTES),
            "feedback.remoteID",
        )
    }
}

impl Validate for ReportError {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_fabric_ids(self.remote_id.as_deref(), self.connection_id.as_deref())?;
        error_text(
            self.name.as_deref(),
            self.message.as_deref(),
            self.stack.as_deref(),
            "",
        )?;
        if let Some(d) = &self.dom_error {
            error_text(
                d.name.as_deref(),
                d.message.as_deref(),
                d.stack.as_deref(),
                "domError.",
            )?;
            at(
                opt_bytes(d.constraint_name.as_deref(), SHORT_TEXT_MAX_BYTES),
                "domError.constraintName",
            )?;
        }
        at(
            opt_bytes(self.local_sdp.as_deref(), SDP_MAX_BYTES),
            "localSDP",
        )?;
        at(
            opt_bytes(self.remote_sdp.as_deref(), SDP_MAX_BYTES),
            "remoteSDP",
        )
    }
}

impl Validate for AppLog {
    fn validate(&self) -> Result<(), ValidationError> {
        at(
            opt_id(self.connection_id.as_deref(), ID_MAX_BYTES),
            "connectionID",
        )?;
        at(
            max_bytes(&self.message, APP_LOG_MESSAGE_MAX_BYTES),
            "message",
        )
    }
}

impl Validate for Sdp {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(
            opt_bytes(self.local_sdp.as_deref(), SDP_MAX_BYTES),
            "localSDP",
        )?;
        at(
            opt_bytes(self.remote_sdp.as_deref(), SDP_MAX_BYTES),
            "remoteSDP",
        )
    }
}

impl Validate for StatsSample {
    fn validate(&self) -> Result<(), ValidationError> {
        fabric_ids(&self.remote_id, &self.connection_id)?;
        at(max_entries(self.stats.len(), STATS_REPORTS_MAX), "stats")?;
        for (i, r) in self.stats.iter().enumerate() {
            at_with(id(&r.id, STATS_REPORT_ID_MAX_BYTES), || {
                format!("stats[{i}].id")
            })?;
            at_with(id(&r.r#type, STATS_REPORT_TYPE_MAX_BYTES), || {
                format!("stats[{i}].type")
            })?;
            at_with(non_negative(r.timestamp), || {
                format!("stats[{i}].timestamp")
            })?;
        }
        if let Some(w) = &self.wifi_stats {
            at(opt_finite(w.signal), "wifiStats.signal")?;
            at(opt_finite(w.rssi), "wifiStats.rssi")?;
            at(opt_finite(w.noise), "wifiStats.noise")?;
            at(opt_non_negative(w.timestamp), "wifiStats.timestamp")?;
            at(
                opt_bytes(w.interface.as_deref(), SHORT_TEXT_MAX_BYTES),
                "wifiStats.interface",
            )?;
            at(
                max_entries(w.addresses.len(), ICE_CANDIDATES_MAX),
                "wifiStats.addresses",
            )?;
        }
        Ok(())
    }
}

impl Validate for SystemStatus {
    fn validate(&self) -> Result<(), ValidationError> {
        let s = &self.status_stats;
        at(opt_non_negative(s.cpu_usage), "statusStats.cpuUsage")?;
        at(
            opt_non_negative(s.battery_level),
            "statusStats.batteryLevel",
        )?;
        at(opt_non_negative(s.memory_usage), "statusStats.memoryUsage")?;
        at(opt_non_negative(s.total_memory), "statusStats.totalMemory")?;
        at(opt_non_negative(s.thread_count), "statusStats.threadCount")
    }
}

impl Validate for BridgeStatus {
    fn validate(&self) -> Result<(), ValidationError> {
        let fields = [
            (self.cpu_usage, "cpuUsage"),
            (self.battery_level, "batteryLevel"),
            (self.memory_usage, "memoryUsage"),
            (self.total_memory, "totalMemory"),
            (self.thread_count, "threadCount"),
            (self.interval_sent_bytes, "intervalSentBytes"),
            (self.interval_received_bytes, "intervalReceivedBytes"),
            (self.interval_rtp_fraction_loss, "intervalRtpFractionLoss"),
            (self.total_rtp_lost_packets, "totalRtpLostPackets"),
            (self.interval_average_rtt, "intervalAverageRtt"),
            (self.interval_average_jitter, "intervalAverageJitter"),
            (self.interval_download_bitrate, "intervalDownloadBitrate"),
            (self.interval_upload_bitrate, "intervalUploadBitrate"),
            (self.audio_fabric_count, "audioFabricCount"),
            (self.video_fabric_count, "videoFabricCount"),
            (self.conference_count, "conferenceCount"),
            (self.participants_count, "participantsCount"),
            (self.measurement_interval, "measurementInterval"),
        ];
        fields
            .into_iter()
            .try_for_each(|(value, field)| at(opt_non_negative(value), field))
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

impl Validate for crate::integration::IntegrationProgress {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.items.len() > crate::integration::MAX_ITEMS_PER_RECORD {
            return Err(ValidationError::new(
                "items",
                format!(
                    "{} items exceed the limit of {}",
                    self.items.len(),
                    crate::integration::MAX_ITEMS_PER_RECORD
                ),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            at(
                opt_bytes(item.error.as_deref(), ERROR_MESSAGE_MAX_BYTES),
                &format!("items[{i}].error"),
            )?;
            at(
                opt_bytes(item.field.as_deref(), SHORT_TEXT_MAX_BYTES),
                &format!("items[{i}].field"),
            )?;
        }
        Ok(())
    }
}
