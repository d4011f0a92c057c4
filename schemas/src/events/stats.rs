//! The stats sample: one getStats snapshot of one fabric.
//!
//! callstats clients sent getStats in three shapes: a plain array of reports (callstats.js, the
//! Android SDK), an object keyed by report id (`RTCStatsReport` serialized as a map, rtcstats
//! dumps) and the Swagger's grouped object (`{tracks: [], candidatePairs: [], ...,
//! timestamp}`); the iOS SDK sent every member as a string. All three are read and normalized
//! into one array of [`StatsReport`]s, which is the only shape written, so the processor has a
//! single form to handle.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::members::Members;
use super::members::{MemberKey, MemberName};

use super::CommonFields;
use crate::serde_util::{LenientF64, opt_string_or_number};

/// `.../{ucID}/stats` (`statsData`), and the JS SDK's periodic getStats upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StatsSampleWire")]
pub struct StatsSample {
    #[serde(flatten)]
    pub common: CommonFields,
    #[serde(rename = "remoteID")]
    pub remote_id: String,
    #[serde(rename = "connectionID")]
    pub connection_id: String,
    /// The getStats reports, in the order received.
    pub stats: Vec<StatsReport>,
    /// `attachWifiStatsHandler()` data, when the application provides it.
    #[serde(rename = "wifiStats", default, skip_serializing_if = "Option::is_none")]
    pub wifi_stats: Option<WifiStats>,
}

/// One `RTCStats` dictionary. `id`, `type` and `timestamp` (ms, the report's own clock) are
/// typed; every other member is kept as received in `other`, so fields this version does not
/// know survive to Kafka and Parquet and can be used by a later replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub id: String,
    #[serde(rename = "type")]
    pub r#type: String,
    pub timestamp: f64,
    #[serde(flatten)]
    pub other: Members,
}

impl StatsSample {
    /// The sample as JSON without its reports, which are stored one row each in
    /// `stats_samples`: the `events.payload_json` of a sample. `statsReports` gives their
    /// number. Writing the reports in both tables doubled what a sample cost to write and store.
    pub fn header_json(&self) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct Header<'a> {
            #[serde(flatten)]
            common: &'a CommonFields,
            #[serde(rename = "remoteID")]
            remote_id: &'a str,
            #[serde(rename = "connectionID")]
            connection_id: &'a str,
            #[serde(rename = "statsReports")]
            stats_reports: usize,
            #[serde(rename = "wifiStats", skip_serializing_if = "Option::is_none")]
            wifi_stats: Option<&'a WifiStats>,
        }
        serde_json::to_string(&Header {
            common: &self.common,
            remote_id: &self.remote_id,
            connection_id: &self.connection_id,
            stats_reports: self.stats.len(),
            wifi_stats: self.wifi_stats.as_ref(),
        })
    }
}

impl StatsReport {
    /// A numeric member, accepting the numeric strings the iOS SDK sent.
    #[must_use]
    pub fn number(&self, key: &str) -> Option<f64> {
        match self.other.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A string member.
    #[must_use]
    pub fn text(&self, key: &str) -> Option<&str> {
        self.other.get(key)?.as_str()
    }

    /// The report's SSRC, whether sent as a number or a string.
    #[must_use]
    pub fn ssrc(&self) -> Option<u32> {
        match self.other.get("ssrc")? {
            Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Wi-Fi link quality from `attachWifiStatsHandler()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WifiStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Input normalization
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct StatsSampleWire {
    #[serde(flatten)]
    common: CommonFields,
    #[serde(rename = "remoteID")]
    remote_id: String,
    #[serde(rename = "connectionID")]
    connection_id: String,
    stats: WireStats,
    #[serde(rename = "wifiStats", default)]
    wifi_stats: Option<WifiStats>,
}

/// A report as received: any of the three typed members may be missing or oddly typed.
struct ReportWire {
    id: Option<String>,
    r#type: Option<String>,
    timestamp: Option<LenientF64>,
    /// In arrival order; sorted once by [`Members::from_unsorted`].
    other: Vec<(MemberName, Value)>,
}

/// `id` as a string or an integer.
#[derive(Deserialize)]
#[serde(transparent)]
struct ReportId(#[serde(deserialize_with = "opt_string_or_number")] Option<String>);

// Written out rather than derived with `#[serde(flatten)]` on `other`: flatten buffers every
// member of every report in serde's intermediate `Content` before building the map, which made
// this the most expensive part of decoding a sample on the bus (docs/benchmarks.md).
impl<'de> Deserialize<'de> for ReportWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ReportWireVisitor)
    }
}

struct ReportWireVisitor;

impl<'de> Visitor<'de> for ReportWireVisitor {
    type Value = ReportWire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stats report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReportWire, A::Error> {
        use serde::de::Error;
        let mut report = ReportWire {
            id: None,
            r#type: None,
            timestamp: None,
            // Room for a typical report's members at once, instead of growing 4, 8, 16.
            other: Vec::with_capacity(16),
        };
        let (mut seen_id, mut seen_type, mut seen_ts) = (false, false, false);
        while let Some(MemberKey(key)) = map.next_key::<MemberKey>()? {
            let seen = match key.as_ref() {
                "id" => {
                    report.id = map.next_value::<ReportId>()?.0;
                    std::mem::replace(&mut seen_id, true)
                }
                "type" => {
                    report.r#type = map.next_value()?;
                    std::mem::replace(&mut seen_type, true)
                }
                "timestamp" => {
                    report.timestamp = map.next_value()?;
                    std::mem::replace(&mut seen_ts, true)
                }
                _ => {
                    let value: Value = map.next_value()?;
                    report.other.push((key, value));
                    continue;
                }
            };
            if seen {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
        }
        Ok(report)
    }
}

/// Where a report came from in the input, for defaults and error messages.
enum Position {
    /// `stats[i]`.
    Array(usize),
    /// `stats.<group>[i]` of the Swagger's grouped object.
    Group(&'static str, usize),
    /// `stats.<id>` of an id-keyed object.
    Key(String),
}

struct WireItem {
    position: Position,
    report: ReportWire,
}

struct WireStats {
    items: Vec<WireItem>,
    /// `stats.timestamp` of the grouped shape.
    timestamp: Option<f64>,
}

/// The Swagger's group names and the W3C type given to group members that carry none.
const GROUPS: &[(&str, &str)] = &[
    ("tracks", "track"),
    ("candidatePairs", "candidate-pair"),
    ("transports", "transport"),
    ("msts", "stream"),
    ("dataChannels", "data-channel"),
    ("codecs", "codec"),
];

impl<'de> Deserialize<'de> for WireStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireStatsVisitor)
    }
}

struct WireStatsVisitor;

impl<'de> Visitor<'de> for WireStatsVisitor {
    type Value = WireStats;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of stats reports or an object of reports")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireStats, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(report) = seq.next_element::<ReportWire>()? {
            let position = Position::Array(items.len());
            items.push(WireItem { position, report });
        }
        Ok(WireStats {
            items,
            timestamp: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireStats, A::Error> {
        let mut items = Vec::new();
        let mut timestamp = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "timestamp" {
                timestamp = map.next_value::<Option<LenientF64>>()?.map(|t| t.0);
            } else if let Some(&(group, _)) = GROUPS.iter().find(|(g, _)| *g == key) {
                let reports = map.next_value::<Vec<ReportWire>>()?;
                items.extend(reports.into_iter().enumerate().map(|(i, report)| WireItem {
                    position: Position::Group(group, i),
                    report,
                }));
            } else {
                let report = map.next_value::<ReportWire>()?;
                items.push(WireItem {
                    position: Position::Key(key),
                    report,
                });
            }
        }
        Ok(WireStats { items, timestamp })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Array(i) => write!(f, "stats[{i}]"),
            Position::Group(g, i) => write!(f, "stats.{g}[{i}]"),
            Position::Key(k) => write!(f, "stats.{k}"),
        }
    }
}

impl TryFrom<StatsSampleWire> for StatsSample {
    type Error = String;

    fn try_from(wire: StatsSampleWire) -> Result<Self, String> {
        let fallback_ts = wire.stats.timestamp.or(wire.common.timestamp);
        let stats = wire
            .stats
            .items
            .into_iter()
            .map(|item| normalize(item, fallback_ts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatsSample {
            common: wire.common,
            remote_id: wire.remote_id,
            connection_id: wire.connection_id,
            stats,
            wifi_stats: wire.wifi_stats,
        })
    }
}

/// Fills what older clients left out: the type from the Swagger group, the timestamp from the
/// group or the sample, and an id that stays stable across samples (type + SSRC when there is
/// one), because the processor pairs consecutive reports by id to compute deltas.
fn normalize(item: WireItem, fallback_ts: Option<f64>) -> Result<StatsReport, String> {
    let WireItem { position, report } = item;
    let group_type = match position {
        Position::Group(g, _) => GROUPS.iter().find(|(name, _)| *name == g).map(|(_, t)| *t),
        _ => None,
    };
    let r#type = match (report.r#type, group_type) {
        (Some(t), _) => t,
        (None, Some(t)) => t.to_owned(),
        (None, None) => return Err(format!("{position}: missing \"type\"")),
    };
    let timestamp = report
        .timestamp
        .map(|t| t.0)
        .or(fallback_ts)
        .ok_or_else(|| format!("{position}: missing \"timestamp\" and the sample has none"))?;
    let other = Members::from_unsorted(report.other);
    let id = match (report.id, &position) {
        (Some(id), _) => id,
        (None, Position::Key(key)) => key.clone(),
        (None, Position::Array(i) | Position::Group(_, i)) => match other.get("ssrc") {
            Some(Value::String(s)) => format!("{type}_{s}", type = r#type),
            Some(Value::Number(n)) => format!("{type}_{n}", type = r#type),
            _ => format!("{type}_{i}", type = r#type),
        },
    };
    Ok(StatsReport {
        id,
        r#type,
        timestamp,
        other,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample(stats: Value) -> Result<StatsSample, serde_json::Error> {
        serde_json::from_value(json!({
            "localID": "alice", "deviceID": "d1", "timestamp": 1000.0,
            "remoteID": "bob", "connectionID": "pc1", "stats": stats
        }))
    }

    #[test]
    fn array_form_keeps_unknown_members() {
        let s = sample(json!([{
            "id": "IT01V1", "type": "inbound-rtp", "timestamp": 1234.5,
            "ssrc": 1, "packetsLost": 3, "futureMetric": {"nested": [1, 2]}
        }]))
        .unwrap();
        let r = &s.stats[0];
        assert_eq!(
            (r.id.as_str(), r.r#type.as_str(), r.timestamp),
            ("IT01V1", "inbound-rtp", 1234.5)
        );
        assert_eq!(r.other["futureMetric"], json!({"nested": [1, 2]}));
        assert_eq!(r.number("packetsLost"), Some(3.0));
        assert_eq!(r.ssrc(), Some(1));
    }

    #[test]
    fn swagger_grouped_form_is_normalized() {
        let s = sample(json!({
            "tracks": [{"ssrc": "42", "bytesReceived": "10"}, {}],
            "candidatePairs": [{"id": "CP1", "state": "succeeded"}],
            "timestamp": 2000
        }))
        .unwrap();
        let ids: Vec<_> = s
            .stats
            .iter()
            .map(|r| (r.id.as_str(), r.r#type.as_str(), r.timestamp))
            .collect();
        // `json!` objects iterate in key order, so candidatePairs comes first here; from bytes,
        // reports keep the order they were sent in.
        assert_eq!(
            ids,
            [
                ("CP1", "candidate-pair", 2000.0),
                ("track_42", "track", 2000.0),
                ("track_1", "track", 2000.0)
            ]
        );
        assert_eq!(s.stats[1].number("bytesReceived"), Some(10.0));
    }

    #[test]
    fn id_keyed_form_and_ios_strings_are_accepted() {
        let s = sample(json!({
            "RTCCodec_0": {"type": "codec", "timestamp": "1500.25", "mimeType": "audio/opus"}
        }))
        .unwrap();
        assert_eq!(s.stats[0].id, "RTCCodec_0");
        assert_eq!(s.stats[0].timestamp, 1500.25);
        assert_eq!(s.stats[0].text("mimeType"), Some("audio/opus"));
    }

    #[test]
    fn sample_timestamp_is_the_last_fallback() {
        let s = sample(json!([{"id": "x", "type": "outbound"}])).unwrap();
        assert_eq!(s.stats[0].timestamp, 1000.0);
    }

    #[test]
    fn missing_type_is_refused_with_its_position() {
        let err = sample(json!([{"id": "x", "timestamp": 1}])).unwrap_err();
        assert!(
            err.to_string().contains("stats[0]: missing \"type\""),
            "{err}"
        );
    }

    #[test]
    fn non_numeric_timestamp_is_refused() {
        assert!(sample(json!([{"id": "x", "type": "codec", "timestamp": "soon"}])).is_err());
    }

    #[test]
    fn canonical_form_round_trips() {
        let s = sample(json!([{"id": "a", "type": "codec", "timestamp": 5, "clockRate": 48000}]))
            .unwrap();
        let back: StatsSample = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_report_member_given_twice_is_refused_and_a_numeric_id_is_read() {
        let twice = br#"{"localID":"a","deviceID":"d","timestamp":1,"remoteID":"b","connectionID":"c","stats":[{"id":"x","type":"codec","type":"codec","timestamp":1}]}"#;
        let err = serde_json::from_slice::<StatsSample>(twice).unwrap_err();
        assert!(err.to_string().contains("duplicate field `type`"), "{err}");
        let s = sample(json!([{"id": 12, "type": "codec", "timestamp": 1, "id2": null}])).unwrap();
        assert_eq!(s.stats[0].id, "12");
        assert_eq!(s.stats[0].other["id2"], Value::Null);
        assert!(sample(json!([[1, 2]])).is_err());
    }

    #[test]
    fn the_header_is_the_sample_without_its_reports() {
        let s = sample(json!([
            {"id": "a", "type": "codec", "timestamp": 5},
            {"id": "b", "type": "transport", "timestamp": 5}
        ]))
        .unwrap();
        let header: Value = serde_json::from_str(&s.header_json().unwrap()).unwrap();
        assert_eq!(
            header,
            json!({
                "localID": "alice", "deviceID": "d1", "timestamp": 1000.0,
                "remoteID": "bob", "connectionID": "pc1", "statsReports": 2
            })
        );
    }
}
