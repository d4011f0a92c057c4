//! What a simulated conference sends, decided in advance from a seed: the same seed gives the same events
//! with the same values, whatever the machine or the server's answers. No I/O here.
//!
//! Counters behave like Chrome's getStats: cumulative per RTP stream, packets and bytes growing with the
//! send rate, `packetsLost` growing with the profile's loss, jitter in seconds, RTT on remote-inbound-rtp
//! and the candidate pair, frames and freezes on video, concealed samples on audio.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// A network condition a participant's connections suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    Good,
    Lossy,
    HighRtt,
    Relayed,
    FailingSetup,
    FlappingIce,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    /// Share of packets lost.
    pub loss: f64,
    pub rtt_ms: f64,
    pub jitter_ms: f64,
    pub relayed: bool,
    /// Share of fabrics whose setup fails (ICE).
    pub setup_failure: f64,
    /// An ICE disruption in the middle of the call.
    pub flapping: bool,
    /// Base setup delay, ms.
    pub setup_ms: f64,
    pub video_bps: f64,
}

impl Profile {
    pub fn network(self) -> Network {
        let good = Network {
            loss: 0.001,
            rtt_ms: 30.0,
            jitter_ms: 3.0,
            relayed: false,
            setup_failure: 0.0,
            flapping: false,
            setup_ms: 450.0,
            video_bps: 1_500_000.0,
        };
        match self {
            Profile::Good => good,
            Profile::Lossy => Network {
                loss: 0.06,
                jitter_ms: 25.0,
                rtt_ms: 90.0,
                video_bps: 600_000.0,
                ..good
            },
            Profile::HighRtt => Network {
                rtt_ms: 420.0,
                jitter_ms: 12.0,
                setup_ms: 1_400.0,
                ..good
            },
            Profile::Relayed => Network {
                relayed: true,
                rtt_ms: 120.0,
                setup_ms: 1_100.0,
                ..good
            },
            Profile::FailingSetup => Network {
                setup_failure: 0.5,
                setup_ms: 900.0,
                ..good
            },
            Profile::FlappingIce => Network {
                flapping: true,
                loss: 0.02,
                ..good
            },
        }
    }
}

/// The shape of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub seed: u64,
    pub participants: usize,
    pub duration_ms: u64,
    pub stats_interval_ms: u64,
    pub profiles: Vec<Profile>,
}

/// One batch a participant sends at `at_ms` after the conference started.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub at_ms: u64,
    pub user: usize,
    /// `(kind, client offset ms, data)`; the client timestamp is the conference start plus the offset.
    pub events: Vec<(&'static str, u64, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConferencePlan {
    pub conference_id: String,
    pub users: Vec<String>,
    pub profile: Profile,
    /// In sending order.
    pub batches: Vec<Batch>,
}

#[cfg(test)]
impl ConferencePlan {
    pub fn count(&self, kind: &str) -> usize {
        self.batches
            .iter()
            .flat_map(|b| &b.events)
            .filter(|(k, _, _)| *k == kind)
            .count()
    }
}

struct Stream {
    ssrc: u32,
    video: bool,
    packets: u64,
    bytes: u64,
    lost: u64,
    frames: u64,
    freezes: u64,
    freeze_s: f64,
    concealed: u64,
    samples: u64,
    jb_delay_s: f64,
    jb_emitted: u64,
}

impl Stream {
    fn new(ssrc: u32, video: bool) -> Self {
        Self {
            ssrc,
            video,
            packets: 0,
            bytes: 0,
            lost: 0,
            frames: 0,
            freezes: 0,
            freeze_s: 0.0,
            concealed: 0,
            samples: 0,
            jb_delay_s: 0.0,
            jb_emitted: 0,
        }
    }

    /// Advances the counters by `dt_s` seconds of media.
    fn advance(&mut self, dt_s: f64, net: &Network, rng: &mut ChaCha8Rng) {
        let (pps, bps) = if self.video {
            (net.video_bps / 9_600.0, net.video_bps)
        } else {
            (50.0, 32_000.0)
        };
        let sent = (pps * dt_s).round() as u64;
        let lost = ((sent as f64) * net.loss * rng.gen_range(0.5..1.5)).round() as u64;
        self.packets += sent - lost.min(sent);
        self.lost += lost.min(sent);
        self.bytes += (bps * dt_s / 8.0 * rng.gen_range(0.9..1.1)) as u64;
        if self.video {
            self.frames += (30.0 * dt_s) as u64;
            if net.loss > 0.03 && rng.gen_bool(0.5) {
                self.freezes += 1;
                self.freeze_s += rng.gen_range(0.3..1.5);
            }
        } else {
            let samples = (48_000.0 * dt_s) as u64;
            self.samples += samples;
            self.concealed += (samples as f64 * net.loss * 2.0) as u64;
        }
        let emitted = (pps * dt_s) as u64;
        self.jb_emitted += emitted;
        self.jb_delay_s += emitted as f64 * (net.jitter_ms * 2.0 + 20.0) / 1000.0;
    }
}

fn ssrc_for(rng: &mut ChaCha8Rng) -> u32 {
    rng.gen_range(1_000_000..4_000_000_000)
}

struct Fabric {
    local: usize,
    remote: usize,
    connection_id: String,
    created_ms: u64,
    /// None: setup failed.
    setup_ms: Option<u64>,
    out_audio: Stream,
    out_video: Stream,
    in_audio: Stream,
    in_video: Stream,
}

fn candidate_type(net: &Network) -> &'static str {
    if net.relayed { "relay" } else { "srflx" }
}

fn stats_reports(
    f: &Fabric,
    t_ms: u64,
    start_ms: u64,
    net: &Network,
    rng: &mut ChaCha8Rng,
) -> Vec<Value> {
    let ts = (start_ms + t_ms) as f64;
    let rtt_s = net.rtt_ms * rng.gen_range(0.9..1.1) / 1000.0;
    let jitter_s = net.jitter_ms * rng.gen_range(0.8..1.2) / 1000.0;
    let inbound = |s: &Stream| {
        let mut r = json!({
            "id": format!("IT01{}{}", if s.video { 'V' } else { 'A' }, s.ssrc),
            "type": "inbound-rtp", "timestamp": ts, "ssrc": s.ssrc, "kind": if s.video { "video" } else { "audio" },
            "packetsReceived": s.packets, "packetsLost": s.lost, "bytesReceived": s.bytes, "jitter": jitter_s,
            "jitterBufferDelay": s.jb_delay_s, "jitterBufferEmittedCount": s.jb_emitted,
            "codecId": if s.video { "CIT01_96" } else { "CIT01_111" }, "transportId": "T01",
        });
        if s.video {
            r["framesDecoded"] = s.frames.into();
            r["framesReceived"] = s.frames.into();
            r["framesPerSecond"] = 30.into();
            r["frameWidth"] = (if net.loss > 0.03 { 640 } else { 1280 }).into();
            r["frameHeight"] = (if net.loss > 0.03 { 360 } else { 720 }).into();
            r["freezeCount"] = s.freezes.into();
            r["totalFreezesDuration"] = s.freeze_s.into();
        } else {
            r["concealedSamples"] = s.concealed.into();
            r["totalSamplesReceived"] = s.samples.into();
            r["audioLevel"] = 0.05.into();
        }
        r
    };
    let outbound = |s: &Stream| {
        let mut r = json!({
            "id": format!("OT01{}{}", if s.video { 'V' } else { 'A' }, s.ssrc),
            "type": "outbound-rtp", "timestamp": ts, "ssrc": s.ssrc, "kind": if s.video { "video" } else { "audio" },
            "packetsSent": s.packets + s.lost, "bytesSent": s.bytes, "transportId": "T01",
            "codecId": if s.video { "COT01_96" } else { "COT01_111" }, "mediaSourceId": if s.video { "SV1" } else { "SA1" },
        });
        if s.video {
            r["framesEncoded"] = s.frames.into();
            r["framesSent"] = s.frames.into();
            r["frameWidth"] = 1280.into();
            r["frameHeight"] = 720.into();
            r["framesPerSecond"] = 30.into();
            r["qualityLimitationReason"] = "none".into();
        }
        r
    };
    let remote_inbound = |s: &Stream| {
        json!({
            "id": format!("RI01{}{}", if s.video { 'V' } else { 'A' }, s.ssrc),
            "type": "remote-inbound-rtp", "timestamp": ts, "ssrc": s.ssrc, "kind": if s.video { "video" } else { "audio" },
            "packetsLost": s.lost, "fractionLost": net.loss, "roundTripTime": rtt_s, "jitter": jitter_s,
            "localId": format!("OT01{}{}", if s.video { 'V' } else { 'A' }, s.ssrc),
        })
    };
    let ctype = candidate_type(net);
    let mut reports = vec![
        outbound(&f.out_audio),
        outbound(&f.out_video),
        remote_inbound(&f.out_audio),
        remote_inbound(&f.out_video),
        inbound(&f.in_audio),
        inbound(&f.in_video),
        json!({
            "id": "CP01", "type": "candidate-pair", "timestamp": ts, "transportId": "T01",
            "localCandidateId": "LC01", "remoteCandidateId": "RC01", "state": "succeeded", "nominated": true,
            "currentRoundTripTime": rtt_s, "availableOutgoingBitrate": net.video_bps * 1.5,
            "bytesSent": f.out_audio.bytes + f.out_video.bytes, "bytesReceived": f.in_audio.bytes + f.in_video.bytes,
        }),
        json!({"id": "LC01", "type": "local-candidate", "timestamp": ts, "candidateType": ctype, "protocol": "udp",
               "relayProtocol": if net.relayed { Value::from("udp") } else { Value::Null }, "networkType": "wifi"}),
        json!({"id": "RC01", "type": "remote-candidate", "timestamp": ts, "candidateType": ctype, "protocol": "udp"}),
        json!({"id": "T01", "type": "transport", "timestamp": ts, "selectedCandidatePairId": "CP01", "dtlsState": "connected"}),
    ];
    // Chrome leaves out members it has no value for; so do we.
    for r in &mut reports {
        if let Some(o) = r.as_object_mut() {
            o.retain(|_, v| !v.is_null());
        }
    }
    reports
}

/// Plans conference number `index` of a run.
pub fn plan(shape: &Shape, index: usize, start_ms: u64) -> ConferencePlan {
    let mut rng = ChaCha8Rng::seed_from_u64(
        shape
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(index as u64),
    );
    let profile = shape.profiles[index % shape.profiles.len().max(1)];
    let net = profile.network();
    let n = shape.participants.max(2);
    let users: Vec<String> = (0..n)
        .map(|i| format!("sim-{}-{index}-{i}", shape.seed))
        .collect();
    let conference_id = format!("sim-{}-{index:06}", shape.seed);
    let mut events: Vec<(u64, usize, &'static str, Value)> = Vec::new();
    let joined: Vec<u64> = (0..n as u64)
        .map(|i| i * 200 + rng.gen_range(0..100))
        .collect();
    let browsers = [
        ("Chrome", "131.0"),
        ("Firefox", "133.0"),
        ("Safari", "18.1"),
    ];
    let systems = [
        ("Windows", "10"),
        ("Mac OS X", "14.6"),
        ("Linux", "6.1"),
        ("Android", "14"),
    ];
    for (i, at) in joined.iter().enumerate() {
        let (browser, version) = browsers[rng.gen_range(0..browsers.len())];
        let (os, os_version) = systems[rng.gen_range(0..systems.len())];
        events.push((*at, i, "user_joined", json!({"endpointInfo": {"type": "browser", "os": os, "osVersion": os_version, "buildName": browser, "buildVersion": version, "appVersion": "sim-1.0"}})));
    }
    let mut fabrics = Vec::new();
    for local in 0..n {
        for remote in 0..n {
            if local == remote {
                continue;
            }
            let created = joined[local].max(joined[remote]) + 100 + rng.gen_range(0..50);
            let fails = rng.gen_bool(net.setup_failure.clamp(0.0, 1.0));
            let delay = (net.setup_ms * rng.gen_range(0.7..1.4)) as u64;
            fabrics.push(Fabric {
                local,
                remote,
                connection_id: format!("pc-{local}-{remote}"),
                created_ms: created,
                setup_ms: if fails { None } else { Some(created + delay) },
                out_audio: Stream::new(ssrc_for(&mut rng), false),
                out_video: Stream::new(ssrc_for(&mut rng), true),
                in_audio: Stream::new(ssrc_for(&mut rng), false),
                in_video: Stream::new(ssrc_for(&mut rng), true),
            });
        }
    }
    let end = shape.duration_ms.max(shape.stats_interval_ms * 2);
    for f in &mut fabrics {
        let remote_id = users[f.remote].clone();
        events.push((f.created_ms, f.local, "fabric_created", json!({"remoteID": remote_id, "connectionID": f.connection_id, "fabricUsage": "multiplex", "remoteEndpointType": "peer", "fabricTransmissionDirection": "sendrecv"})));
        let ssrc_data = json!([
            {"ssrc": f.out_audio.ssrc.to_string(), "userID": users[f.local], "streamType": "outbound", "reportType": "local", "mediaType": "audio", "usageLabel": "mic"},
            {"ssrc": f.out_video.ssrc.to_string(), "userID": users[f.local], "streamType": "outbound", "reportType": "local", "mediaType": "video", "usageLabel": "camera"},
            {"ssrc": f.in_audio.ssrc.to_string(), "userID": remote_id, "streamType": "inbound", "reportType": "remote", "mediaType": "audio", "usageLabel": "mic"},
            {"ssrc": f.in_video.ssrc.to_string(), "userID": remote_id, "streamType": "inbound", "reportType": "remote", "mediaType": "video", "usageLabel": "camera"},
        ]);
        events.push((
            f.created_ms + 20,
            f.local,
            "ssrc_map",
            json!({"remoteID": remote_id, "connectionID": f.connection_id, "ssrcData": ssrc_data}),
        ));
        let Some(setup) = f.setup_ms else {
            let delay = 10_000 + rng.gen_range(0..2_000);
            events.push((f.created_ms + delay, f.local, "fabric_setup_failed", json!({"remoteID": remote_id, "connectionID": f.connection_id, "reason": "IceConnectionFailure", "name": "IceConnectionFailure", "message": "ICE failed, add a TURN server", "delay": delay})));
            events.push((f.created_ms + delay + 50, f.local, "fabric_terminated", json!({"remoteID": remote_id, "connectionID": f.connection_id, "reason": "setupFailed"})));
            continue;
        };
        let delay = setup - f.created_ms;
        let gathering = delay / 5;
        events.push((setup, f.local, "fabric_setup", json!({
            "remoteID": remote_id, "connectionID": f.connection_id, "delay": delay, "iceGatheringDelay": gathering,
            "iceConnectivityDelay": delay - gathering, "fabricTransmissionDirection": "sendrecv", "remoteEndpointType": "peer",
            "selectedCandidatePairID": "CP01",
            "iceCandidatePairs": [{"candidateID": "CP01", "localCandidateType": candidate_type(&net), "remoteCandidateType": candidate_type(&net), "protocol": "udp", "state": "succeeded", "nominated": true}],
        })));
        if net.flapping {
            let start = setup + (end - setup) / 2;
            events.push((start, f.local, "ice_status", json!({"remoteID": remote_id, "connectionID": f.connection_id, "eventType": "iceDisruptionStart", "currIceCandidateState": "disconnected", "prevIceCandidateState": "connected"})));
            events.push((start + 3_000, f.local, "ice_status", json!({"remoteID": remote_id, "connectionID": f.connection_id, "eventType": "iceDisruptionEnd", "currIceCandidateState": "connected", "prevIceCandidateState": "disconnected", "delay": 3000})));
        }
        let mut t = setup;
        loop {
            let next = t + shape.stats_interval_ms;
            if next > end {
                break;
            }
            let dt = (next - t) as f64 / 1000.0;
            for s in [
                &mut f.out_audio,
                &mut f.out_video,
                &mut f.in_audio,
                &mut f.in_video,
            ] {
                s.advance(dt, &net, &mut rng);
            }
            let stats = stats_reports(f, next, start_ms, &net, &mut rng);
            events.push((
                next,
                f.local,
                "stats_sample",
                json!({"remoteID": remote_id, "connectionID": f.connection_id, "stats": stats}),
            ));
            t = next;
        }
        events.push((
            end,
            f.local,
            "fabric_terminated",
            json!({"remoteID": remote_id, "connectionID": f.connection_id, "reason": "hangup"}),
        ));
    }
    for (i, _) in users.iter().enumerate() {
        let rating = match profile {
            Profile::Good | Profile::Relayed => rng.gen_range(4..=5),
            Profile::HighRtt | Profile::FlappingIce => rng.gen_range(3..=4),
            Profile::Lossy | Profile::FailingSetup => rng.gen_range(1..=3),
        };
        events.push((end + 10, i, "feedback", json!({"feedback": {"overallRating": rating, "audioQualityRating": rating, "videoQualityRating": rating}})));
        events.push((end + 100, i, "user_left", json!({})));
    }
    // Stable order: by time, then user, then the order planned.
    events.sort_by_key(|(at, user, _, _)| (*at, *user));
    let mut batches: Vec<Batch> = Vec::new();
    for (at, user, kind, data) in events {
        // A participant's SDK sends what it gathered in one tick as one batch.
        let tick = at / shape.stats_interval_ms.max(1);
        match batches.last_mut() {
            Some(b) if b.user == user && b.at_ms / shape.stats_interval_ms.max(1) == tick => {
                b.events.push((kind, at, data))
            }
            _ => batches.push(Batch {
                at_ms: at,
                user,
                events: vec![(kind, at, data)],
            }),
        }
    }
    ConferencePlan {
        conference_id,
        users,
        profile,
        batches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(profiles: Vec<Profile>) -> Shape {
        Shape {
            seed: 7,
            participants: 3,
            duration_ms: 60_000,
            stats_interval_ms: 10_000,
            profiles,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_conference() {
        let a = plan(&shape(vec![Profile::Lossy]), 3, 1_000);
        let b = plan(&shape(vec![Profile::Lossy]), 3, 1_000);
        assert_eq!(a, b);
        let c = plan(
            &Shape {
                seed: 8,
                ..shape(vec![Profile::Lossy])
            },
            3,
            1_000,
        );
        assert_ne!(a.batches, c.batches);
    }

    #[test]
    fn a_mesh_of_three_has_six_fabrics_each_set_up_sampled_and_terminated() {
        let p = plan(&shape(vec![Profile::Good]), 0, 0);
        assert_eq!(p.users.len(), 3);
        assert_eq!(p.count("user_joined"), 3);
        assert_eq!(p.count("fabric_created"), 6);
        assert_eq!(p.count("fabric_setup"), 6);
        assert_eq!(p.count("fabric_terminated"), 6);
        assert_eq!(p.count("feedback"), 3);
        // Setup within the first ~1.3 s, then one sample every 10 s up to 60 s: 5 per fabric.
        assert_eq!(p.count("stats_sample"), 30);
    }

    #[test]
    fn counters_only_grow_and_loss_follows_the_profile() {
        let p = plan(&shape(vec![Profile::Lossy]), 0, 0);
        let mut last: std::collections::HashMap<String, (f64, f64)> = Default::default();
        let (mut received, mut lost) = (0.0, 0.0);
        for (kind, _, data) in p.batches.iter().flat_map(|b| &b.events) {
            if *kind != "stats_sample" {
                continue;
            }
            for r in data["stats"].as_array().unwrap() {
                if r["type"] == "inbound-rtp" {
                    let key = format!("{}{}", data["connectionID"], r["id"]);
                    let now = (
                        r["packetsReceived"].as_f64().unwrap(),
                        r["packetsLost"].as_f64().unwrap(),
                    );
                    let before = last.insert(key, now).unwrap_or((0.0, 0.0));
                    assert!(
                        now.0 >= before.0 && now.1 >= before.1,
                        "cumulative counters never go down"
                    );
                    received += now.0 - before.0;
                    lost += now.1 - before.1;
                }
            }
        }
        let loss = lost / (received + lost);
        assert!(
            (0.03..0.09).contains(&loss),
            "lossy profile loses about 6 %: {loss}"
        );
    }

    #[test]
    fn failing_setup_fails_some_fabrics_and_samples_none_of_them() {
        let p = plan(&shape(vec![Profile::FailingSetup]), 0, 0);
        let failed = p.count("fabric_setup_failed");
        assert!(failed > 0 && failed < 6, "{failed}");
        assert_eq!(p.count("fabric_setup") + failed, 6);
        assert_eq!(p.count("stats_sample"), 5 * p.count("fabric_setup"));
    }

    #[test]
    fn a_sample_is_about_two_kilobytes() {
        let p = plan(&shape(vec![Profile::Good]), 0, 1_764_000_000_000);
        let (_, _, sample) = p
            .batches
            .iter()
            .flat_map(|b| &b.events)
            .find(|(k, _, _)| *k == "stats_sample")
            .unwrap();
        let size = serde_json::to_vec(sample).unwrap().len();
        assert!((1_500..3_500).contains(&size), "{size} bytes");
    }
}
