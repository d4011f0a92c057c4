//! A valid, realistic example of every payload kind.
//!
//! Shared test data: this crate's tests round-trip and validate them, and other crates (the bus
//! conformance suite, processor and ingest tests, `callscope simulate`) can build on them
//! instead of hand-writing envelopes that drift from the schema. Every example passes
//! [`crate::Envelope::validate`].

use serde_json::{Map, Value, json};

use crate::enums::{
    AppLogLevel, AppLogMessageType, CandidateType, DeviceListEventType, EndpointType,
    FabricSetupFailureReason, FabricUsage, IceConnectionState, IceEventType, MediaActionType,
    MediaPipelineEventType, MediaType, RelayProtocol, RelayType, ReportType, StateChangeType,
    StreamType, TransmissionDirection, TransportProtocol, WebRtcFunction,
};
use crate::envelope::{Envelope, EventKind, Origin, Payload, SCHEMA_VERSION};
use crate::events::*;

/// App of every example.
pub const APP_ID: &str = "740123";
/// Conference of every example.
pub const CONFERENCE_ID: &str = "conf-42";
/// The sending user of every example.
pub const USER_ID: &str = "alice";
/// The remote user of every fabric example.
pub const REMOTE_ID: &str = "bob";
/// The PeerConnection of every fabric example.
pub const CONNECTION_ID: &str = "pc-1";
/// Server receive time of every example (2023-11-14T22:13:20Z).
pub const RECEIVED_AT_MS: i64 = 1_700_000_000_000;

/// An envelope around [`payload`]`(kind)`, as ingest would produce it from the JS SDK.
#[must_use]
pub fn envelope(kind: EventKind) -> Envelope {
    Envelope {
        v: SCHEMA_VERSION,
        app_id: APP_ID.to_owned(),
        conference_id: CONFERENCE_ID.to_owned(),
        uc_id: Some("uc-7f3a".to_owned()),
        user_id: Some(USER_ID.to_owned()),
        received_at_ms: RECEIVED_AT_MS,
        client_ts_ms: Some(RECEIVED_AT_MS - 120),
        origin: Origin::JsSdk,
        request_origin: Some("https://meet.example.com".to_owned()),
        batch_id: None,
        payload: payload(kind),
    }
}

/// Every kind's example envelope, in [`EventKind::ALL`] order.
#[must_use]
pub fn all_envelopes() -> Vec<Envelope> {
    EventKind::ALL.iter().map(|&k| envelope(k)).collect()
}

/// The common header an SDK would send.
#[must_use]
pub fn common() -> CommonFields {
    CommonFields {
        local_id: Some(USER_ID.to_owned()),
        device_id: Some("device-9b1c".to_owned()),
        origin_id: None,
        timestamp: Some((RECEIVED_AT_MS - 120) as f64),
    }
}

fn pair() -> IceCandidatePair {
    IceCandidatePair {
        candidate_id: Some("CPa1b2".to_owned()),
        local_address: Some("192.0.2.10".to_owned()),
        local_port: Some(54_321),
        local_candidate_type: Some(CandidateType::Srflx),
        remote_address: Some("198.51.100.7".to_owned()),
        remote_port: Some(3478),
        remote_candidate_type: Some(CandidateType::Relay),
        transport_type: None,
        protocol: Some(TransportProtocol::Udp),
        relay_protocol: Some(RelayProtocol::Udp),
        local_candidate_id: Some("Ia1".to_owned()),
        remote_candidate_id: Some("Ib2".to_owned()),
        state: Some("succeeded".to_owned()),
        priority: Some(1_686_052_607.0),
        nominated: Some(true),
    }
}

fn candidate() -> IceCandidate {
    IceCandidate {
        id: Some("Ia1".to_owned()),
        r#type: Some("local-candidate".to_owned()),
        ip: Some("192.0.2.10".to_owned()),
        port: Some(54_321),
        candidate_type: Some(CandidateType::Srflx),
        transport: None,
        protocol: Some(TransportProtocol::Udp),
        relay_protocol: None,
        url: Some("stun:stun.example.com:3478".to_owned()),
        network_type: Some("wifi".to_owned()),
    }
}

fn report(id: &str, ty: &str, members: Value) -> StatsReport {
    let other: Map<String, Value> = match members {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    StatsReport {
        id: id.to_owned(),
        r#type: ty.to_owned(),
        timestamp: (RECEIVED_AT_MS - 150) as f64 + 0.25,
        other: other.into(),
    }
}

/// A realistic stats sample: inbound audio, outbound video, remote-inbound, candidate pair.
#[must_use]
pub fn stats_sample() -> StatsSample {
    StatsSample {
        common: common(),
        remote_id: REMOTE_ID.to_owned(),
        connection_id: CONNECTION_ID.to_owned(),
        stats: vec![
            report(
                "IT01A1234",
                "inbound-rtp",
                json!({"ssrc": 1234, "kind": "audio", "packetsReceived": 4980, "packetsLost": 20,
                       "jitter": 0.012, "bytesReceived": 398_400, "concealedSamples": 960,
                       "totalSamplesReceived": 480_000, "codecId": "CIT01_111"}),
            ),
            report(
                "OT01V5678",
                "outbound-rtp",
                json!({"ssrc": 5678, "kind": "video", "packetsSent": 9100, "bytesSent": 7_340_000,
                       "framesPerSecond": 29.97, "frameWidth": 1280, "frameHeight": 720,
                       "qualityLimitationReason": "bandwidth"}),
            ),
            report(
                "RI01V5678",
                "remote-inbound-rtp",
                json!({"ssrc": 5678, "kind": "video", "packetsLost": 12, "roundTripTime": 0.084,
                       "fractionLost": 0.0039}),
            ),
            report(
                "CPa1b2",
                "candidate-pair",
                json!({"state": "succeeded", "nominated": true, "currentRoundTripTime": 0.081,
                       "localCandidateId": "Ia1", "remoteCandidateId": "Ib2"}),
            ),
        ],
        wifi_stats: None,
    }
}

/// A realistic user joined from a browser.
#[must_use]
pub fn user_joined() -> UserJoined {
    UserJoined {
        common: common(),
        endpoint_info: EndpointInfo {
            r#type: Some("browser".to_owned()),
            os: Some("Mac OS X".to_owned()),
            os_version: Some("14.1".to_owned()),
            name: Some("Chrome".to_owned()),
            version: Some("119.0.6045.159".to_owned()),
            app_version: Some("2.14.0".to_owned()),
            build_name: None,
            build_version: None,
        },
        site_id: Some("helsinki-hq".to_owned()),
        additional_ids: Some(AdditionalIds {
            customer_id: Some("walmart".to_owned()),
            tenant_id: Some("monster".to_owned()),
            product_name: Some("Jitsi".to_owned()),
            ..AdditionalIds::default()
        }),
        user_info: Some(UserInfo {
            user_name: Some("Clark Kent".to_owned()),
            alias_name: Some("superman".to_owned()),
            login_id: Some("superman@dc".to_owned()),
        }),
    }
}

/// A valid payload of the given kind.
#[must_use]
pub fn payload(kind: EventKind) -> Payload {
    let remote = || REMOTE_ID.to_owned();
    let conn = || CONNECTION_ID.to_owned();
    match kind {
        EventKind::UserJoined => user_joined().into(),
        EventKind::UserAlive => UserAlive { common: common() }.into(),
        EventKind::UserLeft => UserLeft { common: common() }.into(),
        EventKind::UserDetails => UserDetails {
            common: common(),
            user_name: "Alice Liddell".to_owned(),
        }
        .into(),
        EventKind::FabricCreated => FabricCreated {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            fabric_usage: FabricUsage::Multiplex,
            remote_endpoint_type: Some(EndpointType::Server),
            fabric_transmission_direction: Some(TransmissionDirection::SendRecv),
            connection_label: Some("main".to_owned()),
        }
        .into(),
        EventKind::FabricSetup => FabricSetup {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            delay: Some(812.0),
            ice_gathering_delay: Some(143.5),
            ice_connectivity_delay: Some(402.0),
            dtls_setup_delay: Some(96.0),
            total_setup_delay: Some(790.0),
            fabric_transmission_direction: Some(TransmissionDirection::SendRecv),
            remote_endpoint_type: Some(EndpointType::Server),
            local_candidates: Vec::new(),
            remote_candidates: Vec::new(),
            local_ice_candidates: vec![candidate()],
            remote_ice_candidates: Vec::new(),
            ice_candidate_pairs: vec![pair()],
            selected_candidate_pair_id: Some("CPa1b2".to_owned()),
            selected_candidate_pair: Some(pair()),
        }
        .into(),
        EventKind::FabricSetupFailed => FabricSetupFailed {
            common: common(),
            remote_id: Some(remote()),
            connection_id: Some(conn()),
            reason: FabricSetupFailureReason::IceConnectionFailure,
            name: Some("IceConnectionFailure".to_owned()),
            message: Some("ICE failed, add a TURN server".to_owned()),
            stack: None,
            delay: Some(30_012.0),
            ice_gathering_delay: Some(160.0),
            ice_connectivity_delay: None,
            local_candidates: vec![IceCandidatePair {
                candidate_id: Some("Ia1".to_owned()),
                local_candidate_type: Some(CandidateType::Host),
                ..IceCandidatePair::default()
            }],
            remote_candidates: Vec::new(),
            fabric_transmission_direction: Some(TransmissionDirection::SendRecv),
            remote_endpoint_type: Some(EndpointType::Peer),
        }
        .into(),
        EventKind::FabricTerminated => FabricTerminated {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            reason: Some("hangup".to_owned()),
        }
        .into(),
        EventKind::FabricHold => FabricHold {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
        }
        .into(),
        EventKind::FabricResume => FabricResume {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
        }
        .into(),
        EventKind::FabricStateChange => FabricStateChange {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            prev_state: "checking".to_owned(),
            new_state: "connected".to_owned(),
            changed_state: StateChangeType::IceConnectionState,
        }
        .into(),
        EventKind::FabricTransportChange => FabricTransportChange {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            curr_ice_candidate_pair: Some(pair()),
            prev_ice_candidate_pair: Some(IceCandidatePair {
                local_candidate_type: Some(CandidateType::Host),
                remote_candidate_type: Some(CandidateType::Host),
                ..IceCandidatePair::default()
            }),
            curr_ice_connection_state: Some(IceConnectionState::Connected),
            prev_ice_connection_state: Some(IceConnectionState::Disconnected),
            delay: Some(1_250.0),
            relay_type: Some(RelayType::TurnUdp),
            local_ice_candidates: Vec::new(),
            remote_ice_candidates: Vec::new(),
        }
        .into(),
        EventKind::FabricDropped => FabricDropped {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            curr_ice_candidate_pair: Some(pair()),
            curr_ice_connection_state: Some(IceConnectionState::Failed),
            prev_ice_connection_state: Some(IceConnectionState::Disconnected),
            delay: Some(15_000.0),
        }
        .into(),
        EventKind::IceStatus => IceStatus {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            event_type: IceEventType::IceDisruptionStart,
            curr_ice_candidate_pair: Some(pair()),
            prev_ice_candidate_pair: None,
            curr_ice_connection_state: Some(IceConnectionState::Disconnected),
            prev_ice_connection_state: Some(IceConnectionState::Connected),
            delay: None,
            local_ice_candidates: Vec::new(),
            remote_ice_candidates: Vec::new(),
            ice_candidate_pairs: Vec::new(),
        }
        .into(),
        EventKind::MediaAction => MediaAction {
            common: common(),
            event_type: MediaActionType::AudioMute,
            media_device_id: Some("mic-default".to_owned()),
            remote_id_list: vec![remote(), "carol".to_owned()],
            remote_id: None,
            connection_id: Some(conn()),
            ssrc: Some("1234".to_owned()),
        }
        .into(),
        EventKind::MediaPipeline => MediaPipeline {
            common: common(),
            event_type: MediaPipelineEventType::MediaPlaybackStalled,
            ssrc: Some("5678".to_owned()),
            media_type: Some(MediaType::Video),
            remote_id: Some(remote()),
            connection_id: Some(conn()),
        }
        .into(),
        EventKind::DeviceList => DeviceList {
            common: common(),
            event_type: DeviceListEventType::ActiveDeviceList,
            media_device_list: vec![
                MediaDevice {
                    media_device_id: Some("mic-default".to_owned()),
                    kind: Some("audioinput".to_owned()),
                    label: Some("MacBook Pro Microphone".to_owned()),
                    group_id: Some("g1".to_owned()),
                },
                MediaDevice {
                    media_device_id: Some("cam-1".to_owned()),
                    kind: Some("videoinput".to_owned()),
                    label: Some("FaceTime HD Camera".to_owned()),
                    group_id: Some("g2".to_owned()),
                },
            ],
        }
        .into(),
        EventKind::DominantSpeaker => DominantSpeaker {
            common: common(),
            remote_id: None,
            connection_id: Some(conn()),
        }
        .into(),
        EventKind::SsrcMap => SsrcMap {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            ssrc_data: vec![
                SsrcInfo {
                    ssrc: "1234".to_owned(),
                    user_id: Some(remote()),
                    cname: Some("c/bob".to_owned()),
                    stream_type: Some(StreamType::Inbound),
                    report_type: Some(ReportType::Remote),
                    media_type: Some(MediaType::Audio),
                    msid: Some("stream-b track-b-audio".to_owned()),
                    mslabel: Some("stream-b".to_owned()),
                    label: Some("track-b-audio".to_owned()),
                    track_identifier: Some("track-b-audio".to_owned()),
                    usage_label: Some("mic".to_owned()),
                    associated_video_tag: None,
                    local_start_time: Some((RECEIVED_AT_MS - 60_000) as f64),
                },
                SsrcInfo {
                    ssrc: "5678".to_owned(),
                    user_id: Some(USER_ID.to_owned()),
                    stream_type: Some(StreamType::Outbound),
                    report_type: Some(ReportType::Local),
                    media_type: Some(MediaType::Video),
                    usage_label: Some("front-camera".to_owned()),
                    associated_video_tag: Some("local-video".to_owned()),
                    ..SsrcInfo::default()
                },
            ],
        }
        .into(),
        EventKind::Feedback => UserFeedback {
            common: common(),
            remote_id: None,
            feedback: FeedbackRatings {
                overall_rating: Some(4),
                audio_quality_rating: Some(5),
                video_quality_rating: Some(3),
                screen_quality_rating: None,
                comments: Some("video froze twice".to_owned()),
                remote_id: None,
            },
        }
        .into(),
        EventKind::ReportError => ReportError {
            common: common(),
            connection_id: None,
            remote_id: None,
            web_rtc_function: WebRtcFunction::GetUserMedia,
            name: Some("NotAllowedError".to_owned()),
            message: Some("Permission denied".to_owned()),
            stack: None,
            dom_error: Some(DomError {
                name: Some("NotAllowedError".to_owned()),
                message: Some("Permission denied".to_owned()),
                stack: None,
                constraint_name: None,
                code: Some(0),
            }),
            local_sdp: None,
            remote_sdp: None,
        }
        .into(),
        EventKind::AppLog => AppLog {
            common: common(),
            level: AppLogLevel::Warn,
            message: "{\"event\":\"reconnect\",\"attempt\":2}".to_owned(),
            message_type: Some(AppLogMessageType::Json),
            connection_id: Some(conn()),
        }
        .into(),
        EventKind::Sdp => Sdp {
            common: common(),
            remote_id: remote(),
            connection_id: conn(),
            local_sdp: Some(
                "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned(),
            ),
            remote_sdp: None,
        }
        .into(),
        EventKind::StatsSample => stats_sample().into(),
        EventKind::SystemStatus => SystemStatus {
            common: common(),
            status_stats: SystemStats {
                cpu_usage: Some(37.5),
                battery_level: Some(81.0),
                memory_usage: Some(812.0),
                total_memory: Some(16_384.0),
                thread_count: Some(42.0),
            },
        }
        .into(),
        EventKind::BridgeStatus => BridgeStatus {
            common: common(),
            cpu_usage: Some(0.42),
            memory_usage: Some(2_048.0),
            total_memory: Some(8_192.0),
            thread_count: Some(211.0),
            interval_sent_bytes: Some(9.1e8),
            interval_received_bytes: Some(4.4e8),
            interval_rtp_fraction_loss: Some(0.004),
            total_rtp_lost_packets: Some(1_822.0),
            interval_average_rtt: Some(61.0),
            interval_average_jitter: Some(4.5),
            interval_download_bitrate: Some(117_000.0),
            interval_upload_bitrate: Some(243_000.0),
            audio_fabric_count: Some(48.0),
            video_fabric_count: Some(40.0),
            conference_count: Some(9.0),
            participants_count: Some(48.0),
            measurement_interval: Some(30_000.0),
            ..BridgeStatus::default()
        }
        .into(),
        EventKind::BridgeAlive => BridgeAlive { common: common() }.into(),
        EventKind::IntegrationProgress => crate::integration::IntegrationProgress {
            common: crate::events::CommonFields::default(),
            window_start_ms: 1_700_000_000_000,
            window_end_ms: 1_700_000_001_000,
            items: vec![crate::integration::ItemProgress {
                item: crate::integration::IntegrationItem::SendFabricEvent,
                accepted: 3,
                refused: 1,
                last_seen_ms: Some(1_700_000_000_400),
                last_refused_ms: Some(1_700_000_000_900),
                error: Some("events[0].data.eventType: unknown variant `fooBar`".to_owned()),
                field: Some("events[0].data.eventType".to_owned()),
                status: Some(422),
            }],
        }
        .into(),
    }
}
