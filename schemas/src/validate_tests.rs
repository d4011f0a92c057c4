//! One refusal test per validation rule: each starts from a valid example, breaks exactly one
//! thing and expects a refusal naming that field.

use super::*;
use crate::envelope::{EventKind, Payload};
use crate::examples;

/// `&mut` to the payload struct of an example envelope.
macro_rules! inner {
    ($env:ident, $variant:ident) => {
        match &mut $env.payload {
            Payload::$variant(p) => &mut **p,
            other => panic!("example has kind {}", other.kind()),
        }
    };
}

/// Declares a test: take the example of `$kind`, apply `$mutate`, expect `$field` refused.
macro_rules! refuses {
    ($name:ident, $kind:ident, $field:expr, |$env:ident| $mutate:expr) => {
        #[test]
        fn $name() {
            #[allow(unused_mut)]
            let mut $env = examples::envelope(EventKind::$kind);
            $mutate;
            expect_refusal(&$env, &$field);
        }
    };
}

#[track_caller]
fn expect_refusal(env: &Envelope, field: &str) {
    let err = match env.validate() {
        Ok(()) => panic!("expected {field} to be refused"),
        Err(e) => e,
    };
    assert_eq!(err.field, field, "wrong field refused: {err}");
    assert!(!err.reason.is_empty());
    assert!(
        err.to_string().starts_with(&format!("{field}: ")),
        "Display must name the field: {err}"
    );
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

#[test]
fn every_example_is_valid() {
    for env in examples::all_envelopes() {
        if let Err(e) = env.validate() {
            panic!("example {} is invalid: {e}", env.kind());
        }
    }
}

#[test]
fn limits_are_inclusive() {
    let mut env = examples::envelope(EventKind::UserJoined);
    env.conference_id = long(CONFERENCE_ID_MAX_BYTES);
    env.user_id = Some(long(USER_ID_MAX_BYTES));
    env.app_id = "9".repeat(APP_ID_MAX_BYTES);
    // 30 characters but 60 bytes: the app version limit counts characters.
    inner!(env, UserJoined).endpoint_info.app_version = Some("é".repeat(APP_VERSION_MAX_CHARS));
    env.validate().unwrap();
}

// --- envelope ------------------------------------------------------------------------------

refuses!(version_other_than_current, UserAlive, "v", |e| e.v = 2);
refuses!(app_id_empty, UserAlive, "appID", |e| e.app_id.clear());
refuses!(app_id_too_long, UserAlive, "appID", |e| e.app_id =
    "1".repeat(APP_ID_MAX_BYTES + 1));
refuses!(app_id_with_slash, UserAlive, "appID", |e| e.app_id =
    "12/34".into());
refuses!(app_id_non_ascii, UserAlive, "appID", |e| e.app_id =
    "äpp".into());
refuses!(conference_id_empty, UserAlive, "conferenceID", |e| e
    .conference_id
    .clear());
refuses!(
    conference_id_over_256_bytes,
    UserAlive,
    "conferenceID",
    |e| {
        // 129 two-byte characters: 258 bytes.
        e.conference_id = "é".repeat(129)
    }
);
refuses!(conference_id_control_char, UserAlive, "conferenceID", |e| {
    e.conference_id = "conf\n42".into()
});
refuses!(uc_id_empty, UserAlive, "ucID", |e| e.uc_id =
    Some(String::new()));
refuses!(uc_id_too_long, UserAlive, "ucID", |e| e.uc_id =
    Some(long(UC_ID_MAX_BYTES + 1)));
refuses!(user_id_missing, UserAlive, "userID", |e| e.user_id = None);
refuses!(user_id_empty, UserAlive, "userID", |e| e.user_id =
    Some(String::new()));
refuses!(user_id_over_128_bytes, UserAlive, "userID", |e| {
    e.user_id = Some(long(USER_ID_MAX_BYTES + 1))
});
refuses!(received_at_negative, UserAlive, "received_at_ms", |e| e
    .received_at_ms =
    -1);
refuses!(client_ts_negative, UserAlive, "client_ts_ms", |e| e
    .client_ts_ms =
    Some(-5));
refuses!(request_origin_too_long, UserAlive, "request_origin", |e| {
    e.request_origin = Some(long(REQUEST_ORIGIN_MAX_BYTES + 1))
});

// --- common header -------------------------------------------------------------------------

refuses!(local_id_too_long, UserAlive, "localID", |e| {
    inner!(e, UserAlive).common.local_id = Some(long(USER_ID_MAX_BYTES + 1))
});
refuses!(local_id_empty, UserAlive, "localID", |e| {
    inner!(e, UserAlive).common.local_id = Some(String::new())
});
refuses!(device_id_too_long, UserLeft, "deviceID", |e| {
    inner!(e, UserLeft).common.device_id = Some(long(ID_MAX_BYTES + 1))
});
refuses!(origin_id_too_long, BridgeAlive, "originID", |e| {
    inner!(e, BridgeAlive).common.origin_id = Some(long(ID_MAX_BYTES + 1))
});
refuses!(client_timestamp_negative, UserAlive, "timestamp", |e| {
    inner!(e, UserAlive).common.timestamp = Some(-1.0)
});
refuses!(client_timestamp_nan, UserAlive, "timestamp", |e| {
    inner!(e, UserAlive).common.timestamp = Some(f64::NAN)
});

// --- user ----------------------------------------------------------------------------------

refuses!(
    app_version_over_30_chars,
    UserJoined,
    "endpointInfo.appVersion",
    |e| { inner!(e, UserJoined).endpoint_info.app_version = Some(long(APP_VERSION_MAX_CHARS + 1)) }
);

#[test]
fn endpoint_info_text_fields_are_bounded() {
    type Setter = fn(&mut crate::events::EndpointInfo, String);
    let cases: [(&str, Setter); 7] = [
        ("endpointInfo.type", |e, v| e.r#type = Some(v)),
        ("endpointInfo.os", |e, v| e.os = Some(v)),
        ("endpointInfo.osVersion", |e, v| e.os_version = Some(v)),
        ("endpointInfo.name", |e, v| e.name = Some(v)),
        ("endpointInfo.version", |e, v| e.version = Some(v)),
        ("endpointInfo.buildName", |e, v| e.build_name = Some(v)),
        ("endpointInfo.buildVersion", |e, v| {
            e.build_version = Some(v)
        }),
    ];
    for (field, set) in cases {
        let mut env = examples::envelope(EventKind::UserJoined);
        set(
            &mut inner!(env, UserJoined).endpoint_info,
            long(SHORT_TEXT_MAX_BYTES + 1),
        );
        expect_refusal(&env, field);
    }
}

refuses!(site_id_too_long, UserJoined, "siteID", |e| {
    inner!(e, UserJoined).site_id = Some(long(SITE_ID_MAX_BYTES + 1))
});

#[test]
fn additional_ids_are_bounded() {
    type Setter = fn(&mut crate::events::AdditionalIds, String);
    let cases: [(&str, Setter); 9] = [
        ("additionalIDs.customerID", |a, v| a.customer_id = Some(v)),
        ("additionalIDs.tenantID", |a, v| a.tenant_id = Some(v)),
        ("additionalIDs.productName", |a, v| a.product_name = Some(v)),
        ("additionalIDs.meetingsName", |a, v| {
            a.meetings_name = Some(v)
        }),
        ("additionalIDs.serverName", |a, v| a.server_name = Some(v)),
        ("additionalIDs.pbxID", |a, v| a.pbx_id = Some(v)),
        ("additionalIDs.pbxExtensionID", |a, v| {
            a.pbx_extension_id = Some(v)
        }),
        ("additionalIDs.fqExtensionID", |a, v| {
            a.fq_extension_id = Some(v)
        }),
        ("additionalIDs.sessionID", |a, v| a.session_id = Some(v)),
    ];
    for (field, set) in cases {
        let mut env = examples::envelope(EventKind::UserJoined);
        let ids = inner!(env, UserJoined)
            .additional_ids
            .get_or_insert_with(Default::default);
        set(ids, long(ADDITIONAL_ID_MAX_BYTES + 1));
        expect_refusal(&env, field);
    }
}

refuses!(
    user_name_over_128_chars,
    UserJoined,
    "userInfo.userName",
    |e| {
        inner!(e, UserJoined).user_info.as_mut().unwrap().user_name =
            Some(long(USER_INFO_MAX_CHARS + 1))
    }
);
refuses!(
    alias_name_over_128_chars,
    UserJoined,
    "userInfo.aliasName",
    |e| {
        inner!(e, UserJoined).user_info.as_mut().unwrap().alias_name =
            Some(long(USER_INFO_MAX_CHARS + 1))
    }
);
refuses!(
    login_id_over_128_chars,
    UserJoined,
    "userInfo.loginID",
    |e| {
        inner!(e, UserJoined).user_info.as_mut().unwrap().login_id =
            Some(long(USER_INFO_MAX_CHARS + 1))
    }
);
refuses!(user_details_name_empty, UserDetails, "userName", |e| {
    inner!(e, UserDetails).user_name.clear()
});
refuses!(user_details_name_too_long, UserDetails, "userName", |e| {
    inner!(e, UserDetails).user_name = long(USER_INFO_MAX_CHARS + 1)
});

// --- fabric --------------------------------------------------------------------------------

refuses!(remote_id_empty, FabricCreated, "remoteID", |e| {
    inner!(e, FabricCreated).remote_id.clear()
});
refuses!(remote_id_over_128_bytes, FabricHold, "remoteID", |e| {
    inner!(e, FabricHold).remote_id = long(USER_ID_MAX_BYTES + 1)
});
refuses!(connection_id_empty, FabricResume, "connectionID", |e| {
    inner!(e, FabricResume).connection_id.clear()
});
refuses!(connection_id_too_long, FabricCreated, "connectionID", |e| {
    inner!(e, FabricCreated).connection_id = long(ID_MAX_BYTES + 1)
});
refuses!(
    connection_label_too_long,
    FabricCreated,
    "connectionLabel",
    |e| { inner!(e, FabricCreated).connection_label = Some(long(SHORT_TEXT_MAX_BYTES + 1)) }
);
refuses!(setup_delay_negative, FabricSetup, "delay", |e| {
    inner!(e, FabricSetup).delay = Some(-3.0)
});
refuses!(
    ice_gathering_delay_infinite,
    FabricSetup,
    "iceGatheringDelay",
    |e| { inner!(e, FabricSetup).ice_gathering_delay = Some(f64::INFINITY) }
);
refuses!(
    ice_connectivity_delay_nan,
    FabricSetup,
    "iceConnectivityDelay",
    |e| { inner!(e, FabricSetup).ice_connectivity_delay = Some(f64::NAN) }
);
refuses!(dtls_delay_negative, FabricSetup, "dtlsSetupDelay", |e| {
    inner!(e, FabricSetup).dtls_setup_delay = Some(-0.5)
});
refuses!(
    total_setup_delay_negative,
    FabricSetup,
    "totalSetupDelay",
    |e| { inner!(e, FabricSetup).total_setup_delay = Some(-1.0) }
);
refuses!(
    too_many_local_candidates,
    FabricSetup,
    "localIceCandidates",
    |e| {
        let s = inner!(e, FabricSetup);
        s.local_ice_candidates = vec![s.local_ice_candidates[0].clone(); ICE_CANDIDATES_MAX + 1]
    }
);
refuses!(
    candidate_url_too_long,
    FabricSetup,
    "localIceCandidates[0].url",
    |e| {
        inner!(e, FabricSetup).local_ice_candidates[0].url = Some(long(SHORT_TEXT_MAX_BYTES + 1))
    }
);
refuses!(
    too_many_candidate_pairs,
    FabricSetup,
    "iceCandidatePairs",
    |e| {
        let s = inner!(e, FabricSetup);
        s.ice_candidate_pairs = vec![s.ice_candidate_pairs[0].clone(); ICE_CANDIDATES_MAX + 1]
    }
);
refuses!(
    pair_id_too_long,
    FabricSetup,
    "iceCandidatePairs[0].candidateID",
    |e| {
        inner!(e, FabricSetup).ice_candidate_pairs[0].candidate_id = Some(long(ID_MAX_BYTES + 1))
    }
);
refuses!(
    swagger_candidates_bounded,
    FabricSetup,
    "remoteCandidates[0].state",
    |e| {
        inner!(e, FabricSetup).remote_candidates = vec![IceCandidatePair {
            state: Some(long(SHORT_TEXT_MAX_BYTES + 1)),
            ..IceCandidatePair::default()
        }]
    }
);
refuses!(
    selected_pair_id_empty,
    FabricSetup,
    "selectedCandidatePairID",
    |e| { inner!(e, FabricSetup).selected_candidate_pair_id = Some(String::new()) }
);
refuses!(
    selected_pair_priority_nan,
    FabricSetup,
    "selectedCandidatePair.priority",
    |e| {
        inner!(e, FabricSetup)
            .selected_candidate_pair
            .as_mut()
            .unwrap()
            .priority = Some(f64::NAN)
    }
);
refuses!(failure_message_over_8k, FabricSetupFailed, "message", |e| {
    inner!(e, FabricSetupFailed).message = Some(long(ERROR_MESSAGE_MAX_BYTES + 1))
});
refuses!(failure_stack_over_32k, FabricSetupFailed, "stack", |e| {
    inner!(e, FabricSetupFailed).stack = Some(long(ERROR_STACK_MAX_BYTES + 1))
});
refuses!(failure_name_too_long, FabricSetupFailed, "name", |e| {
    inner!(e, FabricSetupFailed).name = Some(long(SHORT_TEXT_MAX_BYTES + 1))
});
refuses!(failure_delay_negative, FabricSetupFailed, "delay", |e| {
    inner!(e, FabricSetupFailed).delay = Some(-1.0)
});
refuses!(
    failure_ice_gathering_delay_negative,
    FabricSetupFailed,
    "iceGatheringDelay",
    |e| { inner!(e, FabricSetupFailed).ice_gathering_delay = Some(-1.0) }
);
refuses!(
    failure_ice_connectivity_delay_nan,
    FabricSetupFailed,
    "iceConnectivityDelay",
    |e| { inner!(e, FabricSetupFailed).ice_connectivity_delay = Some(f64::NAN) }
);
refuses!(
    failure_candidates_checked,
    FabricSetupFailed,
    "localCandidates[0].candidateID",
    |e| { inner!(e, FabricSetupFailed).local_candidates[0].candidate_id = Some(String::new()) }
);
refuses!(
    failure_connection_id_empty,
    FabricSetupFailed,
    "connectionID",
    |e| { inner!(e, FabricSetupFailed).connection_id = Some(String::new()) }
);
refuses!(
    termination_reason_too_long,
    FabricTerminated,
    "reason",
    |e| { inner!(e, FabricTerminated).reason = Some(long(SHORT_TEXT_MAX_BYTES + 1)) }
);
refuses!(prev_state_empty, FabricStateChange, "prevState", |e| {
    inner!(e, FabricStateChange).prev_state.clear()
});
refuses!(new_state_too_long, FabricStateChange, "newState", |e| {
    inner!(e, FabricStateChange).new_state = long(SHORT_TEXT_MAX_BYTES + 1)
});
refuses!(
    transport_change_delay_negative,
    FabricTransportChange,
    "delay",
    |e| { inner!(e, FabricTransportChange).delay = Some(-1.0) }
);
refuses!(
    transport_change_pair_checked,
    FabricTransportChange,
    "prevIceCandidatePair.localAddress",
    |e| {
        inner!(e, FabricTransportChange)
            .prev_ice_candidate_pair
            .as_mut()
            .unwrap()
            .local_address = Some(long(SHORT_TEXT_MAX_BYTES + 1))
    }
);
refuses!(dropped_delay_nan, FabricDropped, "delay", |e| {
    inner!(e, FabricDropped).delay = Some(f64::NAN)
});
refuses!(
    dropped_pair_checked,
    FabricDropped,
    "currIceCandidatePair.remoteCandidateId",
    |e| {
        inner!(e, FabricDropped)
            .curr_ice_candidate_pair
            .as_mut()
            .unwrap()
            .remote_candidate_id = Some(String::new())
    }
);
refuses!(ice_status_delay_negative, IceStatus, "delay", |e| {
    inner!(e, IceStatus).delay = Some(-10.0)
});
refuses!(
    ice_status_pair_checked,
    IceStatus,
    "currIceCandidatePair.remoteAddress",
    |e| {
        inner!(e, IceStatus)
            .curr_ice_candidate_pair
            .as_mut()
            .unwrap()
            .remote_address = Some(long(SHORT_TEXT_MAX_BYTES + 1))
    }
);
refuses!(
    ice_status_connection_id_empty,
    IceStatus,
    "connectionID",
    |e| { inner!(e, IceStatus).connection_id.clear() }
);

// --- media ---------------------------------------------------------------------------------

refuses!(remote_id_list_too_long, MediaAction, "remoteIDList", |e| {
    inner!(e, MediaAction).remote_id_list = vec!["bob".into(); REMOTE_ID_LIST_MAX + 1]
});
refuses!(
    remote_id_list_entry_empty,
    MediaAction,
    "remoteIDList[1]",
    |e| { inner!(e, MediaAction).remote_id_list[1].clear() }
);
refuses!(
    media_device_id_too_long,
    MediaAction,
    "mediaDeviceID",
    |e| { inner!(e, MediaAction).media_device_id = Some(long(ID_MAX_BYTES + 1)) }
);
refuses!(media_action_ssrc_too_long, MediaAction, "ssrc", |e| {
    inner!(e, MediaAction).ssrc = Some(long(SSRC_MAX_BYTES + 1))
});
refuses!(pipeline_ssrc_empty, MediaPipeline, "ssrc", |e| {
    inner!(e, MediaPipeline).ssrc = Some(String::new())
});
refuses!(device_list_over_64, DeviceList, "mediaDeviceList", |e| {
    let d = inner!(e, DeviceList);
    d.media_device_list = vec![d.media_device_list[0].clone(); DEVICE_LIST_MAX + 1]
});
refuses!(
    device_label_too_long,
    DeviceList,
    "mediaDeviceList[1].label",
    |e| { inner!(e, DeviceList).media_device_list[1].label = Some(long(SHORT_TEXT_MAX_BYTES + 1)) }
);
refuses!(
    device_id_empty,
    DeviceList,
    "mediaDeviceList[0].mediaDeviceID",
    |e| { inner!(e, DeviceList).media_device_list[0].media_device_id = Some(String::new()) }
);
refuses!(
    dominant_speaker_remote_empty,
    DominantSpeaker,
    "remoteID",
    |e| { inner!(e, DominantSpeaker).remote_id = Some(String::new()) }
);

// --- SSRC map ------------------------------------------------------------------------------

refuses!(ssrc_map_over_256_entries, SsrcMap, "ssrcData", |e| {
    let m = inner!(e, SsrcMap);
    m.ssrc_data = vec![m.ssrc_data[0].clone(); SSRC_MAP_MAX_ENTRIES + 1]
});
refuses!(
    usage_label_over_20_bytes,
    SsrcMap,
    "ssrcData[0].usageLabel",
    |e| { inner!(e, SsrcMap).ssrc_data[0].usage_label = Some(long(USAGE_LABEL_MAX_BYTES + 1)) }
);
refuses!(ssrc_empty, SsrcMap, "ssrcData[1].ssrc", |e| {
    inner!(e, SsrcMap).ssrc_data[1].ssrc.clear()
});
refuses!(ssrc_user_id_too_long, SsrcMap, "ssrcData[0].userID", |e| {
    inner!(e, SsrcMap).ssrc_data[0].user_id = Some(long(USER_ID_MAX_BYTES + 1))
});
refuses!(ssrc_msid_too_long, SsrcMap, "ssrcData[0].msid", |e| {
    inner!(e, SsrcMap).ssrc_data[0].msid = Some(long(SHORT_TEXT_MAX_BYTES + 1))
});
refuses!(
    ssrc_start_time_negative,
    SsrcMap,
    "ssrcData[0].localStartTime",
    |e| { inner!(e, SsrcMap).ssrc_data[0].local_start_time = Some(-1.0) }
);

// --- feedback ------------------------------------------------------------------------------

refuses!(
    feedback_overall_missing,
    Feedback,
    "feedback.overallRating",
    |e| { inner!(e, Feedback).feedback.overall_rating = None }
);
refuses!(
    feedback_overall_zero,
    Feedback,
    "feedback.overallRating",
    |e| { inner!(e, Feedback).feedback.overall_rating = Some(0) }
);
refuses!(
    feedback_overall_six,
    Feedback,
    "feedback.overallRating",
    |e| { inner!(e, Feedback).feedback.overall_rating = Some(6) }
);
refuses!(
    feedback_audio_out_of_range,
    Feedback,
    "feedback.audioQualityRating",
    |e| { inner!(e, Feedback).feedback.audio_quality_rating = Some(-2) }
);
refuses!(
    feedback_video_out_of_range,
    Feedback,
    "feedback.videoQualityRating",
    |e| { inner!(e, Feedback).feedback.video_quality_rating = Some(10) }
);
refuses!(
    feedback_screen_out_of_range,
    Feedback,
    "feedback.screenQualityRating",
    |e| { inner!(e, Feedback).feedback.screen_quality_rating = Some(0) }
);
refuses!(
    feedback_comment_over_2000_bytes,
    Feedback,
    "feedback.comments",
    |e| { inner!(e, Feedback).feedback.comments = Some(long(FEEDBACK_COMMENT_MAX_BYTES + 1)) }
);
refuses!(feedback_remote_id_empty, Feedback, "remoteID", |e| {
    inner!(e, Feedback).remote_id = Some(String::new())
});

#[test]
fn every_rating_in_range_is_accepted() {
    for r in RATING_MIN..=RATING_MAX {
        let mut env = examples::envelope(EventKind::Feedback);
        let fb = &mut inner!(env, Feedback).feedback;
        fb.overall_rating = Some(r);
        fb.audio_quality_rating = Some(r);
        env.validate().unwrap();
    }
}

// --- errors, logs, SDP ---------------------------------------------------------------------

refuses!(error_message_over_8k, ReportError, "message", |e| {
    inner!(e, ReportError).message = Some(long(ERROR_MESSAGE_MAX_BYTES + 1))
});
refuses!(error_stack_over_32k, ReportError, "stack", |e| {
    inner!(e, ReportError).stack = Some(long(ERROR_STACK_MAX_BYTES + 1))
});
refuses!(error_name_too_long, ReportError, "name", |e| {
    inner!(e, ReportError).name = Some(long(SHORT_TEXT_MAX_BYTES + 1))
});
refuses!(
    dom_error_message_over_8k,
    ReportError,
    "domError.message",
    |e| {
        inner!(e, ReportError).dom_error.as_mut().unwrap().message =
            Some(long(ERROR_MESSAGE_MAX_BYTES + 1))
    }
);
refuses!(
    dom_error_constraint_too_long,
    ReportError,
    "domError.constraintName",
    |e| {
        inner!(e, ReportError)
            .dom_error
            .as_mut()
            .unwrap()
            .constraint_name = Some(long(SHORT_TEXT_MAX_BYTES + 1))
    }
);
refuses!(error_local_sdp_over_64k, ReportError, "localSDP", |e| {
    inner!(e, ReportError).local_sdp = Some(long(SDP_MAX_BYTES + 1))
});
refuses!(
    error_connection_id_empty,
    ReportError,
    "connectionID",
    |e| { inner!(e, ReportError).connection_id = Some(String::new()) }
);
refuses!(app_log_over_8k, AppLog, "message", |e| {
    inner!(e, AppLog).message = long(APP_LOG_MESSAGE_MAX_BYTES + 1)
});
refuses!(
    app_log_connection_id_too_long,
    AppLog,
    "connectionID",
    |e| { inner!(e, AppLog).connection_id = Some(long(ID_MAX_BYTES + 1)) }
);
refuses!(local_sdp_over_64k, Sdp, "localSDP", |e| {
    inner!(e, Sdp).local_sdp = Some(long(SDP_MAX_BYTES + 1))
});
refuses!(remote_sdp_over_64k, Sdp, "remoteSDP", |e| {
    inner!(e, Sdp).remote_sdp = Some(long(SDP_MAX_BYTES + 1))
});

// --- stats ---------------------------------------------------------------------------------

refuses!(stats_over_1000_reports, StatsSample, "stats", |e| {
    let s = inner!(e, StatsSample);
    s.stats = vec![s.stats[0].clone(); STATS_REPORTS_MAX + 1]
});
refuses!(stats_report_id_empty, StatsSample, "stats[0].id", |e| {
    inner!(e, StatsSample).stats[0].id.clear()
});
refuses!(stats_report_id_over_256, StatsSample, "stats[2].id", |e| {
    inner!(e, StatsSample).stats[2].id = long(STATS_REPORT_ID_MAX_BYTES + 1)
});
refuses!(stats_report_type_empty, StatsSample, "stats[1].type", |e| {
    inner!(e, StatsSample).stats[1].r#type.clear()
});
refuses!(
    stats_report_type_too_long,
    StatsSample,
    "stats[1].type",
    |e| { inner!(e, StatsSample).stats[1].r#type = long(STATS_REPORT_TYPE_MAX_BYTES + 1) }
);
refuses!(
    stats_timestamp_nan,
    StatsSample,
    "stats[3].timestamp",
    |e| { inner!(e, StatsSample).stats[3].timestamp = f64::NAN }
);
refuses!(
    stats_timestamp_infinite,
    StatsSample,
    "stats[0].timestamp",
    |e| { inner!(e, StatsSample).stats[0].timestamp = f64::NEG_INFINITY }
);
refuses!(
    stats_timestamp_negative,
    StatsSample,
    "stats[1].timestamp",
    |e| { inner!(e, StatsSample).stats[1].timestamp = -1.0 }
);
refuses!(
    stats_connection_id_empty,
    StatsSample,
    "connectionID",
    |e| { inner!(e, StatsSample).connection_id.clear() }
);
refuses!(
    wifi_timestamp_negative,
    StatsSample,
    "wifiStats.timestamp",
    |e| {
        inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
            timestamp: Some(-1.0),
            ..Default::default()
        })
    }
);
refuses!(wifi_rssi_nan, StatsSample, "wifiStats.rssi", |e| {
    inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
        rssi: Some(f64::NAN),
        ..Default::default()
    })
});
refuses!(wifi_signal_infinite, StatsSample, "wifiStats.signal", |e| {
    inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
        signal: Some(f64::INFINITY),
        ..Default::default()
    })
});
refuses!(wifi_noise_nan, StatsSample, "wifiStats.noise", |e| {
    inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
        noise: Some(f64::NAN),
        ..Default::default()
    })
});
refuses!(
    wifi_interface_too_long,
    StatsSample,
    "wifiStats.interface",
    |e| {
        inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
            interface: Some(long(SHORT_TEXT_MAX_BYTES + 1)),
            ..Default::default()
        })
    }
);
refuses!(
    wifi_addresses_too_many,
    StatsSample,
    "wifiStats.addresses",
    |e| {
        inner!(e, StatsSample).wifi_stats = Some(crate::events::WifiStats {
            addresses: vec!["10.0.0.1".into(); ICE_CANDIDATES_MAX + 1],
            ..Default::default()
        })
    }
);

#[test]
fn negative_wifi_levels_are_valid() {
    let mut env = examples::envelope(EventKind::StatsSample);
    inner!(env, StatsSample).wifi_stats = Some(crate::events::WifiStats {
        rssi: Some(-61.0),
        noise: Some(-90.0),
        ..Default::default()
    });
    env.validate().unwrap();
}

// --- system --------------------------------------------------------------------------------

#[test]
fn system_status_values_are_finite_and_non_negative() {
    type Setter = fn(&mut crate::events::SystemStats, f64);
    let cases: [(&str, Setter); 5] = [
        ("statusStats.cpuUsage", |s, v| s.cpu_usage = Some(v)),
        ("statusStats.batteryLevel", |s, v| s.battery_level = Some(v)),
        ("statusStats.memoryUsage", |s, v| s.memory_usage = Some(v)),
        ("statusStats.totalMemory", |s, v| s.total_memory = Some(v)),
        ("statusStats.threadCount", |s, v| s.thread_count = Some(v)),
    ];
    for (field, set) in cases {
        for bad in [-1.0, f64::NAN] {
            let mut env = examples::envelope(EventKind::SystemStatus);
            set(&mut inner!(env, SystemStatus).status_stats, bad);
            expect_refusal(&env, field);
        }
    }
}

#[test]
fn bridge_status_values_are_finite_and_non_negative() {
    type Setter = fn(&mut crate::events::BridgeStatus, f64);
    let cases: [(&str, Setter); 18] = [
        ("cpuUsage", |s, v| s.cpu_usage = Some(v)),
        ("batteryLevel", |s, v| s.battery_level = Some(v)),
        ("memoryUsage", |s, v| s.memory_usage = Some(v)),
        ("totalMemory", |s, v| s.total_memory = Some(v)),
        ("threadCount", |s, v| s.thread_count = Some(v)),
        ("intervalSentBytes", |s, v| s.interval_sent_bytes = Some(v)),
        ("intervalReceivedBytes", |s, v| {
            s.interval_received_bytes = Some(v)
        }),
        ("intervalRtpFractionLoss", |s, v| {
            s.interval_rtp_fraction_loss = Some(v)
        }),
        ("totalRtpLostPackets", |s, v| {
            s.total_rtp_lost_packets = Some(v)
        }),
        ("intervalAverageRtt", |s, v| {
            s.interval_average_rtt = Some(v)
        }),
        ("intervalAverageJitter", |s, v| {
            s.interval_average_jitter = Some(v)
        }),
        ("intervalDownloadBitrate", |s, v| {
            s.interval_download_bitrate = Some(v)
        }),
        ("intervalUploadBitrate", |s, v| {
            s.interval_upload_bitrate = Some(v)
        }),
        ("audioFabricCount", |s, v| s.audio_fabric_count = Some(v)),
        ("videoFabricCount", |s, v| s.video_fabric_count = Some(v)),
        ("conferenceCount", |s, v| s.conference_count = Some(v)),
        ("participantsCount", |s, v| s.participants_count = Some(v)),
        ("measurementInterval", |s, v| {
            s.measurement_interval = Some(v)
        }),
    ];
    for (field, set) in cases {
        for bad in [-0.1, f64::INFINITY] {
            let mut env = examples::envelope(EventKind::BridgeStatus);
            set(inner!(env, BridgeStatus), bad);
            expect_refusal(&env, field);
        }
    }
}
