//! Integration progress: per app, which SDK and REST calls have been seen, how often, and why the
//! refused ones were refused (the seed's "integration progress" view).
//!
//! Ingest counts every request it can attribute to a registered app, accepted or refused, in a
//! bounded in-memory tally and writes one [`IntegrationProgress`] record per app and interval to
//! the bus (conference ID [`INTEGRATION_CONFERENCE_ID`]). The processor turns each item of it into
//! one row of the `integration` table; the query service sums the rows. Refused requests are
//! counted here although their data is never stored.
//!
//! What an accepted envelope counts for is decided here, once ([`items_for`]), so ingest and any
//! later reader agree.

use serde::{Deserialize, Serialize};

use crate::enums::{DeviceListEventType, FabricEvent, MediaActionType};
use crate::envelope::{EventKind, Payload};
use crate::events::CommonFields;

/// The `conference_id` of integration progress records; the `_app:` prefix keeps them out of
/// conference state.
pub const INTEGRATION_CONFERENCE_ID: &str = "_app:_integration";

/// Most items one record carries: the checklist is a closed set, so this only guards the decoder.
pub const MAX_ITEMS_PER_RECORD: usize = 64;

/// One line of the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrationItem {
    /// `initialize()`: the authentication handshake (or third-party token), and every request
    /// refused for its token or origin.
    Initialize,
    /// `addNewFabric()`.
    AddNewFabric,
    /// A fabric reported connected (`fabricSetup`) or failed to (`fabricSetupFailed`).
    FabricSetup,
    /// getStats samples arriving.
    Stats,
    /// `reportError()`.
    ReportError,
    /// `sendFabricEvent()`, any kind.
    SendFabricEvent,
    /// `sendFabricEvent()` with this `fabricEvent` (fabricTerminated has an item of its own).
    FabricEvent(FabricEvent),
    /// `associateMstWithUserID()` (the SSRC map).
    AssociateMst,
    /// `sendUserFeedback()`.
    Feedback,
    /// A fabric closed (`fabricTerminated`).
    FabricTerminated,
    /// `configParams.applicationVersion` (the endpoint's `appVersion`) sent with the join.
    ApplicationVersion,
}

impl IntegrationItem {
    /// Every item, in checklist order.
    #[must_use]
    pub fn checklist() -> Vec<IntegrationItem> {
        let mut items = vec![
            IntegrationItem::Initialize,
            IntegrationItem::AddNewFabric,
            IntegrationItem::FabricSetup,
            IntegrationItem::Stats,
            IntegrationItem::ReportError,
            IntegrationItem::SendFabricEvent,
        ];
        items.extend(
            FabricEvent::ALL
                .iter()
                .filter(|e| **e != FabricEvent::FabricTerminated)
                .map(|e| IntegrationItem::FabricEvent(*e)),
        );
        items.extend([
            IntegrationItem::AssociateMst,
            IntegrationItem::Feedback,
            IntegrationItem::FabricTerminated,
            IntegrationItem::ApplicationVersion,
        ]);
        items
    }

    /// The stable identifier used on the bus, in the table and in the API.
    #[must_use]
    pub fn id(self) -> String {
        match self {
            IntegrationItem::FabricEvent(e) => format!("fabric_event.{}", e.as_str()),
            other => other.fixed_id().to_owned(),
        }
    }

    fn fixed_id(self) -> &'static str {
        match self {
            IntegrationItem::Initialize => "initialize",
            IntegrationItem::AddNewFabric => "add_new_fabric",
            IntegrationItem::FabricSetup => "fabric_setup",
            IntegrationItem::Stats => "stats",
            IntegrationItem::ReportError => "report_error",
            IntegrationItem::SendFabricEvent => "send_fabric_event",
            IntegrationItem::FabricEvent(_) => "fabric_event",
            IntegrationItem::AssociateMst => "associate_mst_with_user_id",
            IntegrationItem::Feedback => "send_user_feedback",
            IntegrationItem::FabricTerminated => "fabric_terminated",
            IntegrationItem::ApplicationVersion => "application_version",
        }
    }

    /// Parses [`Self::id`].
    #[must_use]
    pub fn parse(id: &str) -> Option<IntegrationItem> {
        if let Some(event) = id.strip_prefix("fabric_event.") {
            return event
                .parse::<FabricEvent>()
                .ok()
                .filter(|e| *e != FabricEvent::FabricTerminated)
                .map(IntegrationItem::FabricEvent);
        }
        Self::checklist()
            .into_iter()
            .find(|item| !matches!(item, IntegrationItem::FabricEvent(_)) && item.fixed_id() == id)
    }

    /// What a developer calls it: the callstats.js API name.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            IntegrationItem::Initialize => "initialize() / authentication".to_owned(),
            IntegrationItem::AddNewFabric => "addNewFabric()".to_owned(),
            IntegrationItem::FabricSetup => "fabric setup reported".to_owned(),
            IntegrationItem::Stats => "stats flowing (getStats samples)".to_owned(),
            IntegrationItem::ReportError => "reportError()".to_owned(),
            IntegrationItem::SendFabricEvent => "sendFabricEvent()".to_owned(),
            IntegrationItem::FabricEvent(e) => format!("sendFabricEvent: {}", e.as_str()),
            IntegrationItem::AssociateMst => "associateMstWithUserID()".to_owned(),
            IntegrationItem::Feedback => "sendUserFeedback()".to_owned(),
            IntegrationItem::FabricTerminated => "fabricTerminated".to_owned(),
            IntegrationItem::ApplicationVersion => "configParams.applicationVersion set".to_owned(),
        }
    }

    /// The item a fabric event belongs to under `sendFabricEvent()`, if any.
    #[must_use]
    pub fn parent(self) -> Option<IntegrationItem> {
        match self {
            IntegrationItem::FabricEvent(_) => Some(IntegrationItem::SendFabricEvent),
            _ => None,
        }
    }

    /// One sentence on how to make an amber item green.
    #[must_use]
    pub fn fix_hint(self) -> &'static str {
        match self {
            IntegrationItem::Initialize => {
                "Check the AppID and AppSecret (or your token endpoint), and add the page's origin to the app's allowed origins."
            }
            IntegrationItem::AddNewFabric => {
                "Call addNewFabric(pc, remoteUserID, fabricUsage, conferenceID) right after creating the RTCPeerConnection, with a conferenceID of at most 256 bytes."
            }
            IntegrationItem::FabricSetup => {
                "Let the SDK watch the RTCPeerConnection you passed to addNewFabric; REST clients send fabric/setup with a valid connectionID."
            }
            IntegrationItem::Stats => {
                "Keep the RTCPeerConnection registered with addNewFabric open; REST clients send stats with getStats reports as the API describes them."
            }
            IntegrationItem::ReportError => {
                "Pass a value of callstats.webRTCFunctions and the DOMError you caught to reportError."
            }
            IntegrationItem::SendFabricEvent | IntegrationItem::FabricEvent(_) => {
                "Pass one of the callstats.fabricEvent values (for example fabricHold or audioMute) and a PeerConnection registered with addNewFabric."
            }
            IntegrationItem::AssociateMst => {
                "Pass the SSRC as a 32-bit unsigned integer and a usageLabel of at most 20 bytes."
            }
            IntegrationItem::Feedback => {
                "Send overallRating as an integer from 1 to 5 with the conferenceID of a call the user was in."
            }
            IntegrationItem::FabricTerminated => {
                "Send fabricTerminated (or close the RTCPeerConnection the SDK watches) for a PeerConnection registered with addNewFabric."
            }
            IntegrationItem::ApplicationVersion => {
                "Set configParams.applicationVersion in initialize to a string of at most 30 characters."
            }
        }
    }
}

impl std::fmt::Display for IntegrationItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

impl Serialize for IntegrationItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id())
    }
}

impl<'de> Deserialize<'de> for IntegrationItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        IntegrationItem::parse(&id)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown integration item {id:?}")))
    }
}

fn media_fabric_event(action: MediaActionType) -> Option<FabricEvent> {
    FabricEvent::ALL
        .iter()
        .copied()
        .find(|e| e.media_action() == Some(action))
}

/// The items an accepted payload counts for (none for kinds no checklist line is about, such as
/// state changes or keep-alives).
#[must_use]
pub fn items_for(payload: &Payload) -> Vec<IntegrationItem> {
    use IntegrationItem as I;
    match payload {
        Payload::UserJoined(j) if j.endpoint_info.app_version.is_some() => {
            vec![I::ApplicationVersion]
        }
        Payload::FabricCreated(_) => vec![I::AddNewFabric],
        Payload::FabricSetup(_) | Payload::FabricSetupFailed(_) => vec![I::FabricSetup],
        Payload::StatsSample(_) => vec![I::Stats],
        Payload::ReportError(_) => vec![I::ReportError],
        Payload::FabricHold(_) => vec![I::SendFabricEvent, I::FabricEvent(FabricEvent::FabricHold)],
        Payload::FabricResume(_) => {
            vec![
                I::SendFabricEvent,
                I::FabricEvent(FabricEvent::FabricResume),
            ]
        }
        Payload::DominantSpeaker(_) => vec![
            I::SendFabricEvent,
            I::FabricEvent(FabricEvent::DominantSpeaker),
        ],
        Payload::DeviceList(d) if d.event_type == DeviceListEventType::ActiveDeviceList => vec![
            I::SendFabricEvent,
            I::FabricEvent(FabricEvent::ActiveDeviceList),
        ],
        Payload::MediaAction(m) => match media_fabric_event(m.event_type) {
            Some(e) => vec![I::SendFabricEvent, I::FabricEvent(e)],
            None => vec![I::SendFabricEvent],
        },
        Payload::FabricTerminated(_) => vec![I::SendFabricEvent, I::FabricTerminated],
        Payload::SsrcMap(_) => vec![I::AssociateMst],
        Payload::Feedback(_) => vec![I::Feedback],
        _ => Vec::new(),
    }
}

/// The item a refused request of `kind` is counted under, when its payload could not be built;
/// `field` (the path the validation error named) refines it, e.g. an `appVersion` that is too
/// long makes a refused join an application-version problem.
#[must_use]
pub fn item_for_refusal(kind: Option<EventKind>, field: Option<&str>) -> Option<IntegrationItem> {
    use IntegrationItem as I;
    if field.is_some_and(|f| f.contains("appVersion") || f.contains("applicationVersion")) {
        return Some(I::ApplicationVersion);
    }
    match kind? {
        EventKind::FabricCreated => Some(I::AddNewFabric),
        EventKind::FabricSetup | EventKind::FabricSetupFailed => Some(I::FabricSetup),
        EventKind::StatsSample => Some(I::Stats),
        EventKind::ReportError => Some(I::ReportError),
        EventKind::FabricHold
        | EventKind::FabricResume
        | EventKind::DominantSpeaker
        | EventKind::DeviceList
        | EventKind::MediaAction => Some(I::SendFabricEvent),
        EventKind::FabricTerminated => Some(I::FabricTerminated),
        EventKind::SsrcMap => Some(I::AssociateMst),
        EventKind::Feedback => Some(I::Feedback),
        // A refused join is what the next call (addNewFabric) depends on.
        EventKind::UserJoined => Some(I::AddNewFabric),
        _ => None,
    }
}

/// Counts of one item over one interval of one ingest instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemProgress {
    pub item: IntegrationItem,
    pub accepted: u64,
    pub refused: u64,
    /// Last accepted, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<i64>,
    /// Last refused, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refused_ms: Option<i64>,
    /// The most recent refusal's error text, as the client was told it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The field the most recent refusal named, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The HTTP status of the most recent refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// `integration_progress`: what one ingest instance saw of one app over one interval. Written by
/// ingest only; clients cannot send it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationProgress {
    #[serde(flatten)]
    pub common: CommonFields,
    /// The interval, unix ms.
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub items: Vec<ItemProgress>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let list = IntegrationItem::checklist();
        // 6 fixed lines, 10 fabric events (11 minus fabricTerminated), 4 more lines.
        assert_eq!(list.len(), 20);
        let mut ids: Vec<String> = list.iter().map(|i| i.id()).collect();
        for (item, id) in list.iter().zip(&ids) {
            assert_eq!(IntegrationItem::parse(id), Some(*item), "{id}");
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        assert_eq!(
            IntegrationItem::parse("fabric_event.fabricTerminated"),
            None
        );
        assert_eq!(IntegrationItem::parse("fabric_event"), None);
        assert_eq!(IntegrationItem::parse("nope"), None);
        assert_eq!(
            IntegrationItem::FabricEvent(FabricEvent::AudioMute).id(),
            "fabric_event.audioMute"
        );
    }

    #[test]
    fn accepted_payloads_map_to_their_lines() {
        use IntegrationItem as I;
        let of = |kind: EventKind| items_for(&examples::payload(kind));
        assert_eq!(of(EventKind::FabricCreated), vec![I::AddNewFabric]);
        assert_eq!(of(EventKind::StatsSample), vec![I::Stats]);
        assert_eq!(
            of(EventKind::FabricTerminated),
            vec![I::SendFabricEvent, I::FabricTerminated]
        );
        assert_eq!(
            of(EventKind::FabricHold),
            vec![I::SendFabricEvent, I::FabricEvent(FabricEvent::FabricHold)]
        );
        assert!(of(EventKind::UserAlive).is_empty());
        assert!(of(EventKind::FabricStateChange).is_empty());
        let mut join = examples::payload(EventKind::UserJoined);
        if let Payload::UserJoined(j) = &mut join {
            j.endpoint_info.app_version = Some("1.2.3".to_owned());
        }
        assert_eq!(items_for(&join), vec![I::ApplicationVersion]);
        if let Payload::UserJoined(j) = &mut join {
            j.endpoint_info.app_version = None;
        }
        assert!(items_for(&join).is_empty());
    }

    #[test]
    fn refusals_map_by_kind_then_field() {
        use IntegrationItem as I;
        assert_eq!(
            item_for_refusal(
                Some(EventKind::MediaAction),
                Some("events[0].data.eventType")
            ),
            Some(I::SendFabricEvent)
        );
        assert_eq!(
            item_for_refusal(
                Some(EventKind::UserJoined),
                Some("events[0].data.endpointInfo.appVersion")
            ),
            Some(I::ApplicationVersion)
        );
        assert_eq!(
            item_for_refusal(Some(EventKind::UserJoined), None),
            Some(I::AddNewFabric)
        );
        assert_eq!(item_for_refusal(Some(EventKind::UserAlive), None), None);
        assert_eq!(item_for_refusal(None, None), None);
    }

    #[test]
    fn progress_serializes_item_ids() {
        let p = ItemProgress {
            item: IntegrationItem::FabricEvent(FabricEvent::AudioMute),
            accepted: 2,
            refused: 0,
            last_seen_ms: None,
            last_refused_ms: None,
            error: None,
            field: None,
            status: None,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"item":"fabric_event.audioMute","accepted":2,"refused":0}"#
        );
        let back: ItemProgress = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert!(
            serde_json::from_str::<ItemProgress>(r#"{"item":"x","accepted":0,"refused":0}"#)
                .is_err()
        );
    }
}
