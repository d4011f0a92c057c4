//! A scripted three-party conference, shared by the state unit tests (included with `#[path]`)
//! and the integration tests. Every number below is chosen so the expected values can be
//! worked out by hand; the tests that use it spell the arithmetic out.
//!
//! Times are offsets from `t0` in ms; each event's client time is `t0 + t` and ingest receives it
//! 50 ms later (`received_at_ms = t0 + t + 50`).
//!
//! - users: alice (Chrome 120 on macOS, app 2.1, site hq), bob (Firefox 121 on Windows, app
//!   2.1), carol (Safari 17 on iOS, app 2.0); joined at 0, 100, 200;
//! - fabrics:
//!   - alice `pc-ab` → bob: created 1000, ICE checking 1100, connected 1800, setup 1850
//!     (delay 850; reported gathering 120 ms, DTLS 30 ms), selected pair relay/udp (TURN);
//!     ICE disconnected 25 000, connected 27 000 (one disruption of 2 000 ms);
//!   - alice `pc-ac` → carol: created 1000, setup 2200 (delay 1200), pair host ↔ srflx;
//!   - bob `pc-ba` → alice: created 1100, setup 1700 (delay 600), no pair reported;
//!   - carol `pc-ca` → alice: created 1200, ICE checking 1300, reportError
//!     iceConnectionFailure 6100, fabricSetupFailed IceConnectionFailure 6200 (delay 5000);
//! - stats of alice `pc-ab` at 10 000, 20 000, 30 000, 40 000: inbound audio ssrc 1001
//!   (bob's voice), outbound audio ssrc 2001, candidate pair RTT 20 ms, codec audio/opus:
//!   - 10 000 → 20 000: 1000 packets received, 50 lost, 1 250 000 bytes, jitter 10 ms,
//!     jitter-buffer 40 ms per sample; `packetsReceived` sent as the string "2000" (iOS style);
//!   - 30 000: the counters restart (packetsReceived 100 < 2000): a reset, no interval;
//!   - 30 000 → 40 000: 500 received, 0 lost, 62 500 bytes, jitter 10 ms, buffer 40 ms;
//! - bob's ssrcmap on `pc-ba`: ssrc 5001 belongs to carol ("mic"), and bob's stats at 10 000
//!   and 20 000: 500 packets, 0 lost, 40 000 bytes, jitter 20 ms, buffer 40 ms, no RTT;
//! - 50 000: alice terminates `pc-ab` and `pc-ac` ("hangup"), bob `pc-ba` ("hangup"); 51 000:
//!   carol leaves: everyone is done; 52 000 / 53 000: alice rates 2, carol rates 4.
//!
//! The stats and the terminations of alice travel as one batch record per sample (see
//! [`records`]), as the JS SDK sends them.

// Test data builders: positional arguments read like the timeline above.
#![allow(dead_code, clippy::too_many_arguments, clippy::unwrap_used)]

use callscope_schemas::{Envelope, Origin, Payload};
use serde_json::{Value, json};

pub const APP: &str = "740123";
/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// One envelope from `user` at client time `t0 + t`.
pub fn ev(conference: &str, user: &str, t0: i64, t: i64, kind: &str, data: Value) -> Envelope {
    let payload: Payload = serde_json::from_value(json!({ "kind": kind, "data": data }))
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    Envelope {
        uc_id: Some(format!("uc-{user}")),
        user_id: Some(user.to_owned()),
        client_ts_ms: Some(t0 + t),
        ..Envelope::new(APP, conference, t0 + t + 50, Origin::JsSdk, payload)
    }
}

fn joined(
    conf: &str,
    user: &str,
    t0: i64,
    t: i64,
    name: &str,
    version: &str,
    os: &str,
    app: &str,
) -> Envelope {
    ev(
        conf,
        user,
        t0,
        t,
        "user_joined",
        json!({"endpointInfo": {"type": "browser", "name": name, "version": version, "os": os,
               "appVersion": app}, "siteID": "hq"}),
    )
}

fn fabric(
    conf: &str,
    user: &str,
    t0: i64,
    t: i64,
    kind: &str,
    remote: &str,
    pc: &str,
    extra: Value,
) -> Envelope {
    let mut data = json!({"remoteID": remote, "connectionID": pc});
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    ev(conf, user, t0, t, kind, data)
}

fn ice(
    conf: &str,
    user: &str,
    t0: i64,
    t: i64,
    remote: &str,
    pc: &str,
    prev: &str,
    new: &str,
) -> Envelope {
    fabric(
        conf,
        user,
        t0,
        t,
        "fabric_state_change",
        remote,
        pc,
        json!({"prevState": prev, "newState": new, "changedState": "iceConnectionState"}),
    )
}

/// alice's getStats of `pc-ab` at `t`: (packets received, packets lost, bytes received,
/// jitter-buffer delay s, emitted, packets sent, bytes sent).
fn alice_stats(conf: &str, t0: i64, t: i64, c: (Value, i64, i64, f64, i64, i64, i64)) -> Envelope {
    let ts = (t0 + t) as f64;
    fabric(
        conf,
        "alice",
        t0,
        t,
        "stats_sample",
        "bob",
        "pc-ab",
        json!({"stats": [
            {"id": "IT-A1", "type": "inbound-rtp", "timestamp": ts, "ssrc": 1001, "kind": "audio",
             "packetsReceived": c.0, "packetsLost": c.1, "bytesReceived": c.2, "jitter": 0.01,
             "jitterBufferDelay": c.3, "jitterBufferEmittedCount": c.4, "codecId": "CO-opus",
             "audioLevel": 0.25},
            {"id": "OT-A1", "type": "outbound-rtp", "timestamp": ts, "ssrc": 2001, "kind": "audio",
             "packetsSent": c.5, "bytesSent": c.6, "codecId": "CO-opus"},
            {"id": "CP1", "type": "candidate-pair", "timestamp": ts, "state": "succeeded",
             "nominated": true, "currentRoundTripTime": 0.02, "localCandidateId": "L1",
             "remoteCandidateId": "R1"},
            {"id": "CO-opus", "type": "codec", "timestamp": ts, "mimeType": "audio/opus",
             "clockRate": 48000}
        ]}),
    )
}

fn bob_stats(
    conf: &str,
    t0: i64,
    t: i64,
    recv: i64,
    bytes: i64,
    jbd: f64,
    emitted: i64,
) -> Envelope {
    fabric(
        conf,
        "bob",
        t0,
        t,
        "stats_sample",
        "alice",
        "pc-ba",
        json!({"stats": [
            {"id": "IT-B1", "type": "inbound-rtp", "timestamp": (t0 + t) as f64, "ssrc": 5001,
             "kind": "audio", "packetsReceived": recv, "packetsLost": 0, "bytesReceived": bytes,
             "jitter": 0.02, "jitterBufferDelay": jbd, "jitterBufferEmittedCount": emitted}
        ]}),
    )
}

/// The scripted conference as bus records: each inner vector is one record (one envelope, or a
/// batch).
pub fn records(conf: &str, t0: i64) -> Vec<Vec<Envelope>> {
    let turn_pair = json!({"selectedCandidatePair": {"localCandidateType": "relay",
        "remoteCandidateType": "srflx", "protocol": "udp", "relayProtocol": "udp"},
        "iceGatheringDelay": 120.0, "dtlsSetupDelay": 30.0});
    let host_pair = json!({"selectedCandidatePair": {"localCandidateType": "host",
        "remoteCandidateType": "srflx", "protocol": "udp"}});
    let created = |user: &str, t: i64, remote: &str, pc: &str| {
        fabric(
            conf,
            user,
            t0,
            t,
            "fabric_created",
            remote,
            pc,
            json!({"fabricUsage": "multiplex"}),
        )
    };
    vec![
        vec![joined(
            conf, "alice", t0, 0, "Chrome", "120", "macOS", "2.1",
        )],
        vec![joined(
            conf, "bob", t0, 100, "Firefox", "121", "Windows", "2.1",
        )],
        vec![joined(conf, "carol", t0, 200, "Safari", "17", "iOS", "2.0")],
        vec![
            created("alice", 1000, "bob", "pc-ab"),
            created("alice", 1000, "carol", "pc-ac"),
        ],
        vec![created("bob", 1100, "alice", "pc-ba")],
        vec![ice(
            conf, "alice", t0, 1100, "bob", "pc-ab", "new", "checking",
        )],
        vec![created("carol", 1200, "alice", "pc-ca")],
        vec![ice(
            conf, "carol", t0, 1300, "alice", "pc-ca", "new", "checking",
        )],
        vec![fabric(
            conf,
            "bob",
            t0,
            1700,
            "fabric_setup",
            "alice",
            "pc-ba",
            json!({}),
        )],
        vec![ice(
            conf,
            "alice",
            t0,
            1800,
            "bob",
            "pc-ab",
            "checking",
            "connected",
        )],
        vec![fabric(
            conf,
            "alice",
            t0,
            1850,
            "fabric_setup",
            "bob",
            "pc-ab",
            turn_pair,
        )],
        vec![fabric(
            conf,
            "alice",
            t0,
            2200,
            "fabric_setup",
            "carol",
            "pc-ac",
            host_pair,
        )],
        vec![ev(
            conf,
            "carol",
            t0,
            6100,
            "report_error",
            json!({"connectionID": "pc-ca", "remoteID": "alice",
                   "webRTCFunction": "iceConnectionFailure", "message": "ICE failed"}),
        )],
        vec![fabric(
            conf,
            "carol",
            t0,
            6200,
            "fabric_setup_failed",
            "alice",
            "pc-ca",
            json!({"reason": "IceConnectionFailure", "name": "IceConnectionFailure",
                   "message": "ICE failed, add a TURN server"}),
        )],
        vec![fabric(
            conf,
            "bob",
            t0,
            9000,
            "ssrc_map",
            "alice",
            "pc-ba",
            json!({"ssrcData": [{"ssrc": "5001", "userID": "carol", "usageLabel": "mic",
                                  "streamType": "inbound", "mediaType": "audio"}]}),
        )],
        vec![alice_stats(
            conf,
            t0,
            10_000,
            (json!(1000), 10, 100_000, 10.0, 250, 1000, 80_000),
        )],
        vec![bob_stats(conf, t0, 10_000, 0, 0, 0.0, 0)],
        vec![alice_stats(
            conf,
            t0,
            20_000,
            (json!("2000"), 60, 1_350_000, 50.0, 1250, 2000, 160_000),
        )],
        vec![bob_stats(conf, t0, 20_000, 500, 40_000, 12.0, 300)],
        vec![ice(
            conf,
            "alice",
            t0,
            25_000,
            "bob",
            "pc-ab",
            "connected",
            "disconnected",
        )],
        vec![ice(
            conf,
            "alice",
            t0,
            27_000,
            "bob",
            "pc-ab",
            "disconnected",
            "connected",
        )],
        vec![alice_stats(
            conf,
            t0,
            30_000,
            (json!(100), 0, 5_000, 1.0, 25, 3000, 240_000),
        )],
        vec![alice_stats(
            conf,
            t0,
            40_000,
            (json!(600), 0, 67_500, 21.0, 525, 4000, 320_000),
        )],
        vec![
            fabric(
                conf,
                "alice",
                t0,
                50_000,
                "fabric_terminated",
                "bob",
                "pc-ab",
                json!({"reason": "hangup"}),
            ),
            fabric(
                conf,
                "alice",
                t0,
                50_000,
                "fabric_terminated",
                "carol",
                "pc-ac",
                json!({"reason": "hangup"}),
            ),
        ],
        vec![fabric(
            conf,
            "bob",
            t0,
            50_500,
            "fabric_terminated",
            "alice",
            "pc-ba",
            json!({"reason": "hangup"}),
        )],
        vec![ev(conf, "carol", t0, 51_000, "user_left", json!({}))],
        vec![ev(
            conf,
            "alice",
            t0,
            52_000,
            "feedback",
            json!({"feedback": {"overallRating": 2}}),
        )],
        vec![ev(
            conf,
            "carol",
            t0,
            53_000,
            "feedback",
            json!({"feedback": {"overallRating": 4,
            "comments": "fine"}}),
        )],
    ]
}

/// All envelopes of [`records`], in order.
pub fn envelopes(conf: &str, t0: i64) -> Vec<Envelope> {
    records(conf, t0).into_iter().flatten().collect()
}

/// A two-party conference that never ends by itself: dave joins and sets up a fabric at
/// `t0 + 0..2000`, with one stats sample pair; it can only close by timeout.
pub fn idle_records(conf: &str, t0: i64) -> Vec<Vec<Envelope>> {
    vec![
        vec![ev(conf, "dave", t0, 0, "user_joined", json!({}))],
        vec![fabric(
            conf,
            "dave",
            t0,
            500,
            "fabric_created",
            "erin",
            "pc-de",
            json!({"fabricUsage": "audio"}),
        )],
        vec![fabric(
            conf,
            "dave",
            t0,
            1500,
            "fabric_setup",
            "erin",
            "pc-de",
            json!({}),
        )],
        vec![fabric(
            conf,
            "dave",
            t0,
            2000,
            "stats_sample",
            "erin",
            "pc-de",
            json!({"stats": [{"id": "IT-D1", "type": "inbound-rtp", "timestamp": (t0 + 2000) as f64,
                   "ssrc": 7, "kind": "audio", "packetsReceived": 10, "packetsLost": 0,
                   "bytesReceived": 1000}]}),
        )],
    ]
}
