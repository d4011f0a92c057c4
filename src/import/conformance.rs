//! Conformance with another tool: every rtcstats dump in `../shared/fixtures/rtcstats-dumps/dumps`
//! is converted, every event is validated as ingest would, and where `expected/<name>.json` exists
//! (the features jitsi/rtcstats-server's extractor computed from the same dump) each of its peer
//! connections (`features.aggregates.PC_n`) is compared with what our events say. The fixtures live
//! outside this repository; when the folder is absent the test says so and passes.
//!
//! # Tolerances and differences of definition
//!
//! (The developers' reference for `docs/quality.md`.) "They" is rtcstats-server, "we" the events
//! `callscope import` produces (what the processor sees).
//!
//! - `connectionFailed` — exact. They: the PC's connection state (`onconnectionstatechange`) was
//!   `failed` at least once, before or after connecting, recovered or not. We: the PC has a
//!   `fabric_setup_failed` (ICE or connection state `failed` before ever connecting) or a
//!   `fabric_dropped` (`failed` after having connected). Same PCs; we additionally count an ICE
//!   state `failed` that is not mirrored by the connection state (browsers without
//!   `connectionState`).
//! - `iceReconnects` — a range. They: the number of connection states `connected` after the first,
//!   i.e. re-entries into `connected` whatever caused them. We: `ice_status` `iceDisruptionStart`
//!   (ICE connected/completed → disconnected) and `iceRestarted`, and `iceDisruptionEnd` when a
//!   disruption recovers. A disruption that never recovers (the PC drops or closes) counts for us
//!   and not for them; an ICE restart during which the connection state stays `connected` counts
//!   for us only. So we require `iceDisruptionEnd ≤ iceReconnects ≤ iceDisruptionStart +
//!   iceRestarted`, and, exactly, their count recomputed from our `fabric_state_change`
//!   (`connectionState` → `connected`) events. Our disruptions come from the ICE state and, when
//!   the ICE lines do not show one, from the connection state (connected → disconnected →
//!   connected), counted once when both report it.
//! - `pcSessionDurationMs` — within max(1 s, 5 %). They: from the first connection state
//!   `connected` (ICE and DTLS done) to the timestamp of the PC's last line *in file order*
//!   (whatever its method), 0 when it never connected. We: the fabric lives from `fabric_created`
//!   (`create`) to `fabric_terminated` (`close`, else the latest line time of the dump), and is
//!   set up at the first ICE `connected`/`completed`. Two consequences: our lifetime includes the
//!   setup delay (0.15 to 1.9 s in the six dumps), and a PC whose last line is out of order ends
//!   earlier for them: `chrome-standard-pc-failed` PC_0 ends with an `onconnectionstatechange
//!   failed` line stamped 45 s before the stats lines above it, so they report 14.2 s for a PC
//!   that sent stats for 60 s; we keep it alive until the end of the dump but mark the failure
//!   with a `fabric_dropped` at that time. Compared: (first `fabric_dropped`, else
//!   `fabric_terminated`) − `fabric_setup` against theirs within max(1 s, 5 %); for PCs that did
//!   not drop also `fabric_terminated` − `fabric_created`, within the same tolerance widened by
//!   the setup delay; a PC with 0 must not have a `fabric_setup`.
//! - `candidatePairData.isUsingRelay` — exact. Both: whether the local or remote candidate of the
//!   selected pair (standard: `transport.selectedCandidatePairId`; Firefox: the pair flagged
//!   `selected`; legacy Chrome: the `googCandidatePair` with `googActiveConnection`) is a relay.
//!   We look at the PC's last `stats_sample`; they keep the last pair they saw.
//! - Packets per direction (`totalPacketsReceived`, `totalReceivedPacketsLost`,
//!   `totalPacketsSent`, `totalSentPacketsLost`) — within max(2 packets, 0.5 %); exact on the six
//!   given dumps. Both take the last value of each cumulative counter per SSRC and add them up per
//!   PC. We: received = Σ `inbound-rtp.packetsReceived`, received lost = Σ
//!   `inbound-rtp.packetsLost`, sent = Σ `outbound-rtp.packetsSent`, sent lost = Σ
//!   `remote-inbound-rtp.packetsLost` (legacy Chrome: `ssrc_*_recv` and `ssrc_*_send`, whose
//!   `packetsLost` is the remote's report). They: "received" is any report with a non-zero
//!   `packetsReceived`, no `packetsSent` and an `ssrc`, and for Firefox "sent" is read from
//!   `remote-inbound-rtp`. For Chrome that is the same set of reports; for Firefox, whose
//!   `remote-inbound-rtp` carries `packetsReceived` (how much of OUR stream the remote got), their
//!   received totals also hold our outgoing streams as the remote saw them, and their sent total is
//!   0 because Firefox's `remote-inbound-rtp` has no `packetsSent`. For Firefox dumps we therefore
//!   compare their received with ours + Σ `remote-inbound-rtp.packetsReceived` (lost likewise),
//!   and check that their sent is 0 (ours is the real outbound-rtp count). They never drop a
//!   report that vanished from a later getstats, we do; the per-SSRC last values are the same
//!   because the counters are cumulative.
//! - Loss % (`receivedPacketsLostPct`, `sentPacketsLostPct`) — within 0.011 points. They: lost /
//!   received × 100, rounded to 2 decimals, 0 unless 0 < lost < received. We: lost / (received +
//!   lost) × 100, the share of the packets that should have arrived (RFC 3550's fraction lost),
//!   always slightly lower. We check their formula on our totals (the rounding is the tolerance)
//!   and that ours is not above theirs.
//! - `isP2P` (bonus) — exact where they know it: Jitsi's `constraints` line (`rtcStatsSFUP2P`)
//!   gives `remoteEndpointType` `peer`/`server` on our `fabric_created`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use callscope_schemas::enums::{EndpointType, IceEventType, StateChangeType};
use callscope_schemas::events::StatsReport;
use callscope_schemas::{Envelope, Origin, Payload};
use serde_json::Value;

use super::convert::{self, Conversion};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/rtcstats-dumps"
);

/// What our events say about one peer connection.
#[derive(Debug, Default)]
struct PcFacts {
    created: Option<f64>,
    setup: Option<f64>,
    setup_failed: bool,
    dropped_at: Option<f64>,
    terminated: Option<f64>,
    /// Connection state changes to `connected` (from our `fabric_state_change` events).
    connection_connected: u64,
    disruption_starts: u64,
    disruption_ends: u64,
    restarts: u64,
    endpoint: Option<EndpointType>,
    last_stats: Vec<StatsReport>,
    /// SSRC → last (packetsReceived, packetsLost) of local inbound streams.
    inbound: BTreeMap<String, (f64, f64)>,
    /// SSRC → last packetsSent of local outbound streams.
    outbound: BTreeMap<String, f64>,
    /// SSRC → last (packetsLost, packetsReceived) the remote reported for our outbound streams.
    remote_inbound: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Totals {
    received: f64,
    received_lost: f64,
    sent: f64,
    sent_lost: f64,
}

impl PcFacts {
    fn totals(&self) -> Totals {
        // Folded from +0.0: an empty f64 `sum()` is -0.0, which prints as "-0".
        let add = |a: f64, b: f64| a + b;
        Totals {
            received: self.inbound.values().map(|v| v.0).fold(0.0, add),
            received_lost: self.inbound.values().map(|v| v.1).fold(0.0, add),
            sent: self.outbound.values().copied().fold(0.0, add),
            sent_lost: self.remote_inbound.values().map(|v| v.0).fold(0.0, add),
        }
    }
}

fn ssrc_key(r: &StatsReport) -> Option<String> {
    match r.other.get("ssrc")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn facts(c: &Conversion) -> BTreeMap<String, PcFacts> {
    let mut pcs: BTreeMap<String, PcFacts> = BTreeMap::new();
    for e in &c.events {
        let Some(pc) = e.payload.connection_id() else {
            continue;
        };
        let f = pcs.entry(pc.to_owned()).or_default();
        let t = e.timestamp_ms;
        match &e.payload {
            Payload::FabricCreated(x) => {
                f.created.get_or_insert(t);
                f.endpoint = x.remote_endpoint_type;
            }
            Payload::FabricSetup(_) => {
                f.setup.get_or_insert(t);
            }
            Payload::FabricSetupFailed(_) => f.setup_failed = true,
            Payload::FabricDropped(_) => {
                f.dropped_at.get_or_insert(t);
            }
            Payload::FabricTerminated(_) => f.terminated = Some(t),
            Payload::FabricStateChange(x)
                if x.changed_state == StateChangeType::ConnectionState
                    && x.new_state == "connected" =>
            {
                f.connection_connected += 1;
            }
            Payload::IceStatus(s) => match s.event_type {
                IceEventType::IceDisruptionStart => f.disruption_starts += 1,
                IceEventType::IceDisruptionEnd => f.disruption_ends += 1,
                IceEventType::IceRestarted => f.restarts += 1,
                _ => {}
            },
            Payload::StatsSample(s) => {
                let mut inbound: BTreeMap<String, (f64, f64)> = BTreeMap::new();
                for r in &s.stats {
                    let Some(ssrc) = ssrc_key(r) else { continue };
                    let n = |k: &str| r.number(k).unwrap_or(0.0);
                    match convert::stream_direction(&r.id, &r.r#type, &r.other) {
                        Some(true) => {
                            let slot = inbound.entry(ssrc).or_default();
                            slot.0 = slot.0.max(n("packetsReceived"));
                            slot.1 = slot.1.max(n("packetsLost"));
                        }
                        Some(false) => {
                            f.outbound.insert(ssrc.clone(), n("packetsSent"));
                            if r.r#type == "ssrc" {
                                f.remote_inbound
                                    .insert(ssrc, (n("packetsLost"), n("packetsReceived")));
                            }
                        }
                        None if r.r#type == "remote-inbound-rtp" => {
                            f.remote_inbound
                                .insert(ssrc, (n("packetsLost"), n("packetsReceived")));
                        }
                        None => {}
                    }
                }
                f.inbound.extend(inbound);
                f.last_stats.clone_from(&s.stats);
            }
            _ => {}
        }
    }
    pcs
}

fn flag(r: &StatsReport, key: &str) -> Option<bool> {
    match r.other.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_relay(candidate_type: Option<&str>) -> bool {
    matches!(candidate_type, Some("relay" | "relayed" | "turn"))
}

/// Whether the selected candidate pair of a sample goes through a TURN relay.
fn uses_relay(stats: &[StatsReport]) -> Option<bool> {
    let by_id: HashMap<&str, &StatsReport> = stats.iter().map(|r| (r.id.as_str(), r)).collect();
    let pair = stats
        .iter()
        .filter(|r| r.r#type == "transport")
        .find_map(|t| t.text("selectedCandidatePairId"))
        .and_then(|id| by_id.get(id).copied())
        .or_else(|| {
            stats
                .iter()
                .find(|r| r.r#type == "candidate-pair" && flag(r, "selected") == Some(true))
        })
        .or_else(|| {
            stats.iter().find(|r| {
                r.r#type == "candidate-pair"
                    && flag(r, "nominated") == Some(true)
                    && r.text("state") == Some("succeeded")
            })
        });
    if let Some(pair) = pair {
        let candidate_type = |key: &str| {
            pair.text(key)
                .and_then(|id| by_id.get(id))
                .and_then(|c| c.text("candidateType"))
        };
        let (local, remote) = (
            candidate_type("localCandidateId"),
            candidate_type("remoteCandidateId"),
        );
        return (local.is_some() || remote.is_some()).then(|| is_relay(local) || is_relay(remote));
    }
    let legacy = stats.iter().find(|r| {
        r.r#type == "googCandidatePair" && flag(r, "googActiveConnection") == Some(true)
    })?;
    Some(
        is_relay(legacy.text("googLocalCandidateType"))
            || is_relay(legacy.text("googRemoteCandidateType")),
    )
}

/// rtcstats-server's loss percentage: lost / total × 100, two decimals, 0 unless 0 < lost < total.
fn their_pct(lost: f64, total: f64) -> f64 {
    if total > 0.0 && lost > 0.0 && lost < total {
        (lost / total * 10_000.0).round() / 100.0
    } else {
        0.0
    }
}

/// Ours: lost out of the packets that should have arrived.
fn our_pct(lost: f64, received: f64) -> f64 {
    let expected = received + lost;
    if expected > 0.0 && lost > 0.0 {
        lost / expected * 100.0
    } else {
        0.0
    }
}

fn within(ours: f64, theirs: f64, absolute: f64, relative: f64) -> bool {
    (ours - theirs).abs() <= absolute.max(relative * theirs.abs())
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_f64()
}

/// Checks one PC against rtcstats-server's aggregates; returns the mismatches.
fn compare(name: &str, pc: &str, ours: &PcFacts, theirs: &Value, firefox: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("{name} {pc}: {what}"));
        }
    };

    if let Some(failed) = theirs.get("connectionFailed").and_then(Value::as_bool) {
        let ours_failed = ours.setup_failed || ours.dropped_at.is_some();
        check(
            failed == ours_failed,
            format!(
                "connectionFailed {failed}, we have setup_failed={} dropped={}",
                ours.setup_failed,
                ours.dropped_at.is_some()
            ),
        );
    }

    if let Some(reconnects) = num(theirs, &["iceReconnects"]) {
        // Their exact definition, on our fabric_state_change events: the data is all there.
        let reentries = ours.connection_connected.saturating_sub(1) as f64;
        check(
            reentries == reconnects,
            format!(
                "iceReconnects {reconnects}, our connection state re-entries into connected {reentries}"
            ),
        );
        let low = ours.disruption_ends as f64;
        let high = (ours.disruption_starts + ours.restarts) as f64;
        check(
            (low..=high).contains(&reconnects),
            format!(
                "iceReconnects {reconnects} outside [{low}, {high}] (disruption ends, disruption starts + restarts)"
            ),
        );
    }

    if let Some(duration) = num(theirs, &["pcSessionDurationMs"]) {
        if duration == 0.0 {
            check(
                ours.setup.is_none(),
                "pcSessionDurationMs 0 (never connected) but we have a fabric_setup".to_owned(),
            );
        } else {
            let tolerance = 1_000f64.max(0.05 * duration);
            match (ours.setup, ours.dropped_at.or(ours.terminated)) {
                (Some(setup), Some(end)) => {
                    let connected = end - setup;
                    check(
                        (connected - duration).abs() <= tolerance,
                        format!(
                            "pcSessionDurationMs {duration}, ours setup→end {connected} (±{tolerance})"
                        ),
                    );
                    if ours.dropped_at.is_none()
                        && let (Some(created), Some(terminated)) = (ours.created, ours.terminated)
                    {
                        let life = terminated - created;
                        let widened = tolerance + (setup - created);
                        check(
                            (life - duration).abs() <= widened,
                            format!(
                                "pcSessionDurationMs {duration}, ours terminated − created {life} (±{widened})"
                            ),
                        );
                    }
                }
                _ => check(
                    false,
                    format!("pcSessionDurationMs {duration} but we have no fabric_setup and end"),
                ),
            }
        }
    }

    if let Some(relay) = theirs
        .get("candidatePairData")
        .and_then(|c| c.get("isUsingRelay"))
        .and_then(Value::as_bool)
    {
        let ours_relay = uses_relay(&ours.last_stats);
        check(
            ours_relay == Some(relay),
            format!("isUsingRelay {relay}, ours from the last sample {ours_relay:?}"),
        );
    }

    if let Some(p2p) = theirs.get("isP2P").and_then(Value::as_bool) {
        let want = if p2p {
            EndpointType::Peer
        } else {
            EndpointType::Server
        };
        check(
            ours.endpoint == Some(want),
            format!("isP2P {p2p}, our remoteEndpointType {:?}", ours.endpoint),
        );
    }

    if let Some(agg) = theirs.get("trackAggregates") {
        let t = ours.totals();
        let (remote_received, remote_lost): (f64, f64) = ours
            .remote_inbound
            .values()
            .fold((0.0, 0.0), |(r, l), v| (r + v.1, l + v.0));
        // Their definitions on our data (see the module documentation).
        let (received, received_lost) = if firefox {
            (t.received + remote_received, t.received_lost + remote_lost)
        } else {
            (t.received, t.received_lost)
        };
        let counts = [
            ("totalPacketsReceived", received),
            ("totalReceivedPacketsLost", received_lost),
            ("totalPacketsSent", if firefox { 0.0 } else { t.sent }),
            ("totalSentPacketsLost", t.sent_lost),
        ];
        for (field, ours_value) in counts {
            if let Some(theirs_value) = num(agg, &[field]) {
                check(
                    within(ours_value, theirs_value, 2.0, 0.005),
                    format!("{field} {theirs_value}, ours {ours_value}"),
                );
            }
        }
        let pcts = [
            (
                "receivedPacketsLostPct",
                received_lost,
                received,
                t.received_lost,
                t.received,
            ),
            (
                "sentPacketsLostPct",
                t.sent_lost,
                if firefox { 0.0 } else { t.sent },
                t.sent_lost,
                t.sent,
            ),
        ];
        for (field, lost, total, native_lost, native_received) in pcts {
            if let Some(theirs_pct) = num(agg, &[field]) {
                let recomputed = their_pct(lost, total);
                check(
                    within(recomputed, theirs_pct, 0.011, 0.0),
                    format!("{field} {theirs_pct}, their formula on our totals {recomputed}"),
                );
                if !firefox {
                    let native = our_pct(native_lost, native_received);
                    check(
                        native <= theirs_pct + 0.011,
                        format!(
                            "{field} {theirs_pct}, ours lost/(received+lost) {native} is higher"
                        ),
                    );
                }
            }
        }
    }
    problems
}

fn validate_all(name: &str, c: &Conversion) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, e) in c.events.iter().enumerate() {
        let checked = e
            .batch_item()
            .map_err(|err| err.to_string())
            .and_then(|item| item.payload(i).map_err(|err| err.to_string()))
            .and_then(|payload| {
                let mut env = Envelope::new(
                    "conformance",
                    format!("import-{name}"),
                    e.timestamp_ms as i64,
                    Origin::Import,
                    payload,
                );
                env.user_id = Some(c.user_id.clone());
                env.uc_id = Some("uc".to_owned());
                env.validate().map_err(|err| err.to_string())
            });
        if let Err(why) = checked {
            problems.push(format!("{name}:{}: {} invalid: {why}", e.line, e.kind()));
        }
    }
    problems
}

#[test]
fn rtcstats_dumps_match_rtcstats_server_features() {
    let root = Path::new(FIXTURES);
    let dumps_dir = root.join("dumps");
    let Ok(listing) = std::fs::read_dir(&dumps_dir) else {
        println!(
            "skipped: {} is absent (the rtcstats fixtures live outside this repository)",
            dumps_dir.display()
        );
        return;
    };
    let mut paths: Vec<_> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no dumps in {}", dumps_dir.display());

    let mut problems = Vec::new();
    let mut compared = 0;
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let conversion = convert::convert(
            &String::from_utf8_lossy(&bytes),
            &convert::fallback_user_id_for(path),
        );
        println!(
            "{name}: {} lines, {} events, {} malformed, user {:?}",
            conversion.lines,
            conversion.events.len(),
            conversion.errors.len(),
            conversion.user_id
        );
        problems.extend(validate_all(&name, &conversion));

        let expected_path = root.join("expected").join(format!("{name}.json"));
        let Ok(expected_text) = std::fs::read_to_string(&expected_path) else {
            println!("  no expected/{name}.json: not compared");
            continue;
        };
        let expected: Value = serde_json::from_str(&expected_text)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected = match &expected {
            Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        let Some(aggregates) = expected
            .get("features")
            .and_then(|f| f.get("aggregates"))
            .and_then(Value::as_object)
        else {
            println!("  expected/{name}.json has no features.aggregates: not compared");
            continue;
        };
        let firefox = conversion.events.first().is_some_and(|e| {
            matches!(&e.payload, Payload::UserJoined(j) if j.endpoint_info.name.as_deref() == Some("Firefox"))
        });
        let ours = facts(&conversion);
        for (pc, theirs) in aggregates {
            let Some(facts) = ours.get(pc) else {
                problems.push(format!(
                    "{name} {pc}: in expected but we have no such fabric"
                ));
                continue;
            };
            let t = facts.totals();
            println!(
                "  {pc}: failed={}/{:?} duration={:?}/{:?} relay={:?}/{:?} recv={}/{:?} lost={}/{:?} sent={}/{:?} sentLost={}/{:?}",
                facts.setup_failed || facts.dropped_at.is_some(),
                theirs.get("connectionFailed"),
                facts
                    .setup
                    .zip(facts.dropped_at.or(facts.terminated))
                    .map(|(s, e)| e - s),
                num(theirs, &["pcSessionDurationMs"]),
                uses_relay(&facts.last_stats),
                theirs
                    .get("candidatePairData")
                    .and_then(|c| c.get("isUsingRelay")),
                t.received,
                num(theirs, &["trackAggregates", "totalPacketsReceived"]),
                t.received_lost,
                num(theirs, &["trackAggregates", "totalReceivedPacketsLost"]),
                t.sent,
                num(theirs, &["trackAggregates", "totalPacketsSent"]),
                t.sent_lost,
                num(theirs, &["trackAggregates", "totalSentPacketsLost"]),
            );
            problems.extend(compare(&name, pc, facts, theirs, firefox));
            compared += 1;
        }
    }
    println!(
        "{} dumps converted, {compared} peer connections compared",
        paths.len()
    );
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn loss_percentages() {
    assert_eq!(their_pct(36.0, 5008.0), 0.72);
    assert_eq!(their_pct(0.0, 10.0), 0.0);
    assert_eq!(
        their_pct(10.0, 10.0),
        0.0,
        "their guard: lost must be below total"
    );
    assert!((our_pct(36.0, 5008.0) - 0.7137).abs() < 1e-4);
    assert!(within(101.0, 100.0, 2.0, 0.005));
    assert!(!within(103.0, 100.0, 2.0, 0.005));
}
