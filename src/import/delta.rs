//! Undoing the getStats delta compression of rtcstats dumps. Pure: no I/O.
//!
//! The rtcstats client sends, for every `getstats` of a peer connection, only what changed since
//! the previous one of the same peer connection:
//! - a member missing from a report object means "unchanged";
//! - a report object missing from the payload means the report is gone (the browser no longer
//!   returns it: a stopped stream, a pruned candidate pair); the rtcstats v3 format says the same
//!   explicitly with `null`;
//! - the newest report timestamp is moved to the payload's top-level `timestamp` and every report
//!   carrying that time gets `timestamp: 0` (relative to it); a report whose `timestamp` is missing
//!   kept its previous time (v3: took the top-level time).
//!
//! [`decompress`] turns one such payload, with the previous full reports, into the full reports of
//! this sample with absolute unix-millisecond timestamps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Times below this (ms) are not unix epoch times (they would be before March 1973): such a
/// value is an offset from a reference time, never a date.
pub const ABSOLUTE_MS_FLOOR: f64 = 1e11;

/// The full getStats reports of one peer connection, by report id. Each report holds `type` (when
/// the browser sent one), an absolute `timestamp` (unix ms) and every other member; never `id`.
pub type Reports = BTreeMap<String, Map<String, Value>>;

/// What a report without a `timestamp` member means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingTimestamp {
    /// The classic rtcstats client: the timestamp did not change since the previous sample.
    #[default]
    Unchanged,
    /// The rtcstats v3 format: the report has the sample's (top-level) timestamp.
    SampleTime,
}

/// A number, also when sent as a numeric string (some clients stringify every member).
pub fn number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

/// A JSON number for a time in ms, written as an integer when it is one.
pub fn time_value(ms: f64) -> Value {
    if ms.fract() == 0.0 && ms.abs() < 9.0e15 {
        Value::from(ms as i64)
    } else {
        serde_json::Number::from_f64(ms).map_or(Value::Null, Value::Number)
    }
}

/// The time of a sample: its top-level `timestamp` when that is a unix time, else the time of the
/// dump line that carried it.
pub fn sample_time(delta: &Map<String, Value>, line_time_ms: f64) -> f64 {
    delta
        .get("timestamp")
        .and_then(number)
        .filter(|t| *t >= ABSOLUTE_MS_FLOOR)
        .unwrap_or(line_time_ms)
}

/// Applies one delta-compressed getstats payload to the previous full reports of the same peer
/// connection and returns the full reports of this sample.
///
/// Reports absent from `delta` (or `null` in it) are dropped; members absent from a report keep
/// their previous value; nested objects (e.g. `qualityLimitationDurations`) are merged member by
/// member. Timestamps become absolute: `0` or any small value is an offset from the sample time.
pub fn decompress(
    previous: &Reports,
    delta: &Map<String, Value>,
    line_time_ms: f64,
    missing: MissingTimestamp,
) -> Reports {
    let sample_ts = sample_time(delta, line_time_ms);
    let mut out = Reports::new();
    for (id, value) in delta {
        let Value::Object(changes) = value else {
            // The top-level `timestamp`, a `null` (removed in v3) or junk: no report.
            continue;
        };
        let before = previous.get(id);
        let mut report = before.cloned().unwrap_or_default();
        for (name, new) in changes {
            if name == "timestamp" || name == "id" {
                continue;
            }
            match (report.get_mut(name), new) {
                (Some(Value::Object(old)), Value::Object(new)) => {
                    for (k, v) in new {
                        old.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    report.insert(name.clone(), new.clone());
                }
            }
        }
        let own = changes.get("timestamp").and_then(number);
        let previous_ts = before.and_then(|r| r.get("timestamp")).and_then(number);
        let ts = match (own, missing, previous_ts) {
            (Some(t), _, _) if t.abs() < ABSOLUTE_MS_FLOOR => sample_ts + t,
            (Some(t), _, _) => t,
            (None, MissingTimestamp::Unchanged, Some(p)) => p,
            (None, _, _) => sample_ts,
        };
        let ts = if ts.is_finite() && ts >= 0.0 {
            ts
        } else {
            sample_ts
        };
        report.insert("timestamp".to_owned(), time_value(ts));
        out.insert(id.clone(), report);
    }
    out
}

/// The payload of a getstats line as an id → report object map: the id-keyed object every
/// rtcstats client writes, or an array of reports carrying their `id` (older clients).
pub fn as_report_map(payload: &Value) -> Option<Map<String, Value>> {
    match payload {
        Value::Object(map) => Some(map.clone()),
        Value::Array(items) => {
            let mut map = Map::new();
            for item in items {
                let id = match item.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => continue,
                };
                map.insert(id, item.clone());
            }
            Some(map)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn first(delta: Value, line_time: f64) -> Reports {
        decompress(
            &Reports::new(),
            &obj(delta),
            line_time,
            MissingTimestamp::Unchanged,
        )
    }

    #[test]
    fn a_missing_key_means_unchanged() {
        let one = first(
            json!({
                "IT01": {"timestamp": 0, "type": "inbound-rtp", "ssrc": 7, "packetsReceived": 10, "packetsLost": 1},
                "timestamp": 1_600_000_000_000i64
            }),
            1_600_000_000_005.0,
        );
        let two = decompress(
            &one,
            &obj(json!({
                "IT01": {"timestamp": 0, "packetsReceived": 25},
                "timestamp": 1_600_000_002_000i64
            })),
            1_600_000_002_004.0,
            MissingTimestamp::Unchanged,
        );
        let r = &two["IT01"];
        assert_eq!(r["type"], "inbound-rtp", "type kept from the first sample");
        assert_eq!(r["ssrc"], 7);
        assert_eq!(r["packetsReceived"], 25, "changed member taken");
        assert_eq!(r["packetsLost"], 1, "missing member unchanged");
        assert_eq!(r["timestamp"], 1_600_000_002_000i64);
        assert!(!r.contains_key("id"));
    }

    #[test]
    fn a_report_missing_from_a_later_sample_is_dropped() {
        let one = first(
            json!({
                "A": {"timestamp": 0, "type": "codec", "mimeType": "audio/opus"},
                "B": {"timestamp": 0, "type": "outbound-rtp", "packetsSent": 5},
                "timestamp": 1_600_000_000_000i64
            }),
            0.0,
        );
        assert_eq!(one.len(), 2);
        let two = decompress(
            &one,
            &obj(
                json!({"B": {"timestamp": 0, "packetsSent": 9}, "timestamp": 1_600_000_001_000i64}),
            ),
            0.0,
            MissingTimestamp::Unchanged,
        );
        assert_eq!(two.keys().collect::<Vec<_>>(), ["B"]);
        assert_eq!(two["B"]["packetsSent"], 9);
        // A v3 `null` removes the report too.
        let three = decompress(
            &two,
            &obj(json!({"B": null, "timestamp": 1_600_000_002_000i64})),
            0.0,
            MissingTimestamp::SampleTime,
        );
        assert!(three.is_empty());
    }

    #[test]
    fn timestamps_become_absolute() {
        let one = first(
            json!({
                "now": {"timestamp": 0, "type": "candidate-pair"},
                "older": {"timestamp": 1_600_000_000_500i64, "type": "remote-inbound-rtp"},
                "offset": {"timestamp": -250, "type": "transport"},
                "timestamp": 1_600_000_001_000i64
            }),
            1_600_000_001_009.0,
        );
        assert_eq!(one["now"]["timestamp"], 1_600_000_001_000i64);
        assert_eq!(one["older"]["timestamp"], 1_600_000_000_500i64);
        assert_eq!(one["offset"]["timestamp"], 1_600_000_000_750i64);
        // No timestamp: unchanged (classic) or the sample time (v3).
        let delta = obj(json!({"older": {}, "now": {}, "timestamp": 1_600_000_003_000i64}));
        let classic = decompress(&one, &delta, 0.0, MissingTimestamp::Unchanged);
        assert_eq!(classic["older"]["timestamp"], 1_600_000_000_500i64);
        let v3 = decompress(&one, &delta, 0.0, MissingTimestamp::SampleTime);
        assert_eq!(v3["older"]["timestamp"], 1_600_000_003_000i64);
        // Without a top-level time the line time is the sample time.
        let bare = first(
            json!({"x": {"timestamp": 0, "type": "codec"}}),
            1_600_000_009_000.0,
        );
        assert_eq!(bare["x"]["timestamp"], 1_600_000_009_000i64);
    }

    #[test]
    fn nested_objects_merge_and_arrays_are_replaced() {
        let one = first(
            json!({"o": {"timestamp": 0, "type": "outbound-rtp",
                   "qualityLimitationDurations": {"none": 1.0, "cpu": 0.0}, "trackIds": ["a"]}}),
            1_600_000_000_000.0,
        );
        let two = decompress(
            &one,
            &obj(json!({"o": {"qualityLimitationDurations": {"cpu": 2.5}, "trackIds": ["b"]}})),
            1_600_000_001_000.0,
            MissingTimestamp::Unchanged,
        );
        assert_eq!(
            two["o"]["qualityLimitationDurations"],
            json!({"none": 1.0, "cpu": 2.5})
        );
        assert_eq!(two["o"]["trackIds"], json!(["b"]));
    }

    #[test]
    fn array_payloads_are_keyed_by_id() {
        let map = as_report_map(
            &json!([{"id": "a", "type": "codec"}, {"type": "no-id"}, {"id": 5, "type": "x"}]),
        )
        .expect("array");
        assert_eq!(map.keys().collect::<Vec<_>>(), ["5", "a"]);
        assert!(as_report_map(&json!("nope")).is_none());
    }
}
