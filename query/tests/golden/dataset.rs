//! The golden tests' scripted dataset: two conferences of app `740123` as bus records. Every
//! number is chosen so that the expected answers can be worked out by hand; `README.md` beside
//! this file does the arithmetic.
//!
//! Each event from a user carries the client time `t0 + t` and is received 50 ms later
//! (`received_at = t0 + t + 50`). One bus partition, so a record's bus offset is its index in
//! [`records`] (the envelopes of a batch record share it).
//!
//! Conference A, `golden-a`, t0 = [`T0`] = 2023-11-14T22:13:20Z (the processor's own scripted
//! three-party call, `processor/tests/common/scenario.rs`, copied so that a change there cannot
//! silently change these answers):
//! - alice (Chrome 120, macOS, app 2.1, site hq), bob (Firefox 121, Windows, app 2.1, site hq),
//!   carol (Safari 17, iOS, app 2.0, site hq) join at 0, 100, 200;
//! - alice `pc-ab` → bob: created 1000, setup 1850 (delay 850), TURN over UDP; ICE
//!   disconnected 25 000 → connected 27 000;
//! - alice `pc-ac` → carol: created 1000, setup 2200 (delay 1200), host ↔ srflx (direct);
//! - bob `pc-ba` → alice: created 1100, setup 1700 (delay 600), no pair;
//! - carol `pc-ca` → alice: created 1200, reportError iceConnectionFailure 6100,
//!   fabricSetupFailed IceConnectionFailure 6200;
//! - bob maps ssrc 5001 to carol at 9000;
//! - alice's stats of `pc-ab` at 10 000, 20 000, 30 000 (counters reset), 40 000; bob's stats of
//!   `pc-ba` at 10 000, 20 000;
//! - hang-ups at 50 000 (alice, both), 50 500 (bob); carol leaves at 51 000; feedback alice 2
//!   at 52 000, carol 4 ("fine") at 53 000.
//!
//! Conference B, `golden-b`, t0 = [`T0`] + 1 h = 2023-11-14T23:13:20Z:
//! - dave (Chrome 121, Linux, app 2.2, site hq) joins at 0, erin (Chrome 121, Android, app 2.2,
//!   site remote) at 100;
//! - dave `pc-de` → erin: created 500, setup 900 (delay 400), host ↔ host over UDP (direct);
//! - erin `pc-ed` → dave: created 600, setup 1600 (delay 1000), relay ↔ srflx, relay protocol
//!   TCP (`turn/tcp`);
//! - dave's stats of `pc-de` at 10 000 and 20 000: inbound audio ssrc 3001 and inbound video
//!   ssrc 3002 from erin, candidate pair RTT 50 ms:
//!   - audio: received 1000 → 2900, lost 0 → 100, bytes 100 000 → 400 000, jitter 5 ms,
//!     jitter buffer 10 s/250 → 50 s/1250 (40 ms per emitted sample);
//!   - video: received 1000 → 2500, lost 0, bytes 1 000 000 → 2 875 000, frames decoded
//!     300 → 600, 1280×720;
//! - hang-ups at 30 000 (dave) and 30 500 (erin); feedback dave 5 at 31 000;
//! - a clock record (an app-level `user_alive` of `golden-clock`, origin REST) received at
//!   t0 + 200 000 moves the partition's event clock past both conferences' close deadlines.

#![allow(dead_code, clippy::too_many_arguments)]

use callscope_schemas::{Envelope, Origin, Payload};
use serde_json::{Value, json};

pub const APP: &str = "740123";
/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
/// Conference B's t0: one hour later.
pub const T0_B: i64 = T0 + 3_600_000;

/// One envelope from `user` at client time `t0 + t`, received 50 ms later.
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
    (name, version, os, app, site): (&str, &str, &str, &str, &str),
) -> Envelope {
    ev(
        conf,
        user,
        t0,
        t,
        "user_joined",
        json!({"endpointInfo": {"type": "browser", "name": name, "version": version, "os": os,
               "appVersion": app}, "siteID": site}),
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
    (remote, pc): (&str, &str),
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

fn created(conf: &str, user: &str, t0: i64, t: i64, remote: &str, pc: &str) -> Envelope {
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
}

/// alice's getStats of `pc-ab`: (packets received, lost, bytes received, jitter-buffer delay
/// s, emitted, packets sent, bytes sent).
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

/// dave's getStats of `pc-de`: audio (received, lost, bytes, jitter-buffer delay s, emitted),
/// video (received, bytes, frames decoded).
fn dave_stats(
    conf: &str,
    t0: i64,
    t: i64,
    a: (i64, i64, i64, f64, i64),
    v: (i64, i64, i64),
) -> Envelope {
    let ts = (t0 + t) as f64;
    fabric(
        conf,
        "dave",
        t0,
        t,
        "stats_sample",
        "erin",
        "pc-de",
        json!({"stats": [
            {"id": "IT-D1", "type": "inbound-rtp", "timestamp": ts, "ssrc": 3001, "kind": "audio",
             "packetsReceived": a.0, "packetsLost": a.1, "bytesReceived": a.2, "jitter": 0.005,
             "jitterBufferDelay": a.3, "jitterBufferEmittedCount": a.4},
            {"id": "IT-D2", "type": "inbound-rtp", "timestamp": ts, "ssrc": 3002, "kind": "video",
             "packetsReceived": v.0, "packetsLost": 0, "bytesReceived": v.1, "jitter": 0.0,
             "framesDecoded": v.2, "frameWidth": 1280, "frameHeight": 720},
            {"id": "CP2", "type": "candidate-pair", "timestamp": ts, "state": "succeeded",
             "nominated": true, "currentRoundTripTime": 0.05, "localCandidateId": "L2",
             "remoteCandidateId": "R2"}
        ]}),
    )
}

/// Conference A as bus records.
pub fn conference_a(conf: &str, t0: i64) -> Vec<Vec<Envelope>> {
    let turn_pair = json!({"selectedCandidatePair": {"localCandidateType": "relay",
        "remoteCandidateType": "srflx", "protocol": "udp", "relayProtocol": "udp"},
        "iceGatheringDelay": 120.0, "dtlsSetupDelay": 30.0});
    let host_pair = json!({"selectedCandidatePair": {"localCandidateType": "host",
        "remoteCandidateType": "srflx", "protocol": "udp"}});
    let ab = ("bob", "pc-ab");
    vec![
        vec![joined(
            conf,
            "alice",
            t0,
            0,
            ("Chrome", "120", "macOS", "2.1", "hq"),
        )],
        vec![joined(
            conf,
            "bob",
            t0,
            100,
            ("Firefox", "121", "Windows", "2.1", "hq"),
        )],
        vec![joined(
            conf,
            "carol",
            t0,
            200,
            ("Safari", "17", "iOS", "2.0", "hq"),
        )],
        vec![
            created(conf, "alice", t0, 1000, "bob", "pc-ab"),
            created(conf, "alice", t0, 1000, "carol", "pc-ac"),
        ],
        vec![created(conf, "bob", t0, 1100, "alice", "pc-ba")],
        vec![ice(conf, "alice", t0, 1100, ab, "new", "checking")],
        vec![created(conf, "carol", t0, 1200, "alice", "pc-ca")],
        vec![ice(
            conf,
            "carol",
            t0,
            1300,
            ("alice", "pc-ca"),
            "new",
            "checking",
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
        vec![ice(conf, "alice", t0, 1800, ab, "checking", "connected")],
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
            ab,
            "connected",
            "disconnected",
        )],
        vec![ice(
            conf,
            "alice",
            t0,
            27_000,
            ab,
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
            json!({"feedback": {"overallRating": 4, "comments": "fine"}}),
        )],
    ]
}

/// Conference B as bus records.
pub fn conference_b(conf: &str, t0: i64) -> Vec<Vec<Envelope>> {
    let direct = json!({"selectedCandidatePair": {"localCandidateType": "host",
        "remoteCandidateType": "host", "protocol": "udp"}});
    let turn_tcp = json!({"selectedCandidatePair": {"localCandidateType": "relay",
        "remoteCandidateType": "srflx", "protocol": "udp", "relayProtocol": "tcp"}});
    vec![
        vec![joined(
            conf,
            "dave",
            t0,
            0,
            ("Chrome", "121", "Linux", "2.2", "hq"),
        )],
        vec![joined(
            conf,
            "erin",
            t0,
            100,
            ("Chrome", "121", "Android", "2.2", "remote"),
        )],
        vec![created(conf, "dave", t0, 500, "erin", "pc-de")],
        vec![created(conf, "erin", t0, 600, "dave", "pc-ed")],
        vec![fabric(
            conf,
            "dave",
            t0,
            900,
            "fabric_setup",
            "erin",
            "pc-de",
            direct,
        )],
        vec![fabric(
            conf,
            "erin",
            t0,
            1600,
            "fabric_setup",
            "dave",
            "pc-ed",
            turn_tcp,
        )],
        vec![dave_stats(
            conf,
            t0,
            10_000,
            (1000, 0, 100_000, 10.0, 250),
            (1000, 1_000_000, 300),
        )],
        vec![dave_stats(
            conf,
            t0,
            20_000,
            (2900, 100, 400_000, 50.0, 1250),
            (2500, 2_875_000, 600),
        )],
        vec![fabric(
            conf,
            "dave",
            t0,
            30_000,
            "fabric_terminated",
            "erin",
            "pc-de",
            json!({"reason": "hangup"}),
        )],
        vec![fabric(
            conf,
            "erin",
            t0,
            30_500,
            "fabric_terminated",
            "dave",
            "pc-ed",
            json!({"reason": "hangup"}),
        )],
        vec![ev(
            conf,
            "dave",
            t0,
            31_000,
            "feedback",
            json!({"feedback": {"overallRating": 5}}),
        )],
    ]
}

/// Everything, in bus order: A, B, then the clock record.
pub fn records() -> Vec<Vec<Envelope>> {
    let mut records = conference_a("golden-a", T0);
    records.extend(conference_b("golden-b", T0_B));
    let payload: Payload =
        serde_json::from_value(json!({"kind": "user_alive", "data": {}})).expect("user_alive");
    records.push(vec![Envelope::new(
        APP,
        "golden-clock",
        T0_B + 200_000,
        Origin::Rest,
        payload,
    )]);
    records
}
