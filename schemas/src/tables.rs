//! Arrow schemas of every Parquet table (SPEC section 4).
//!
//! The processor builds its record batches against these schemas and the query service
//! registers its tables with them, so both sides fail loudly at build or registration time
//! instead of disagreeing about a column.
//!
//! Conventions:
//! - Column names are snake_case; times are `Timestamp(Millisecond, "UTC")` named `*_at`,
//!   `*_time` or `*_start`/`*_end`; durations are `*_ms`; raw getStats values keep their W3C
//!   unit with a suffix (`jitter_s`); enumerated values are the `as_str()` of the enums in
//!   [`crate::enums`].
//! - Every table ends with the Hive partition columns `app_id`, `date` (`YYYY-MM-DD`, UTC, of
//!   the row's main time): they are last because that is where a partitioned listing table puts
//!   them, so [`file_schema`] (what is stored inside each file) is a prefix of the table schema.
//! - Identifiers that may be unknown are nullable; counters that start at zero are not.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Table names, as used in paths (`<root>/<table>/app_id=../date=../*.parquet`) and in SQL.
pub const CONFERENCES: &str = "conferences";
pub const FABRICS: &str = "fabrics";
pub const TRACK_QUALITY: &str = "track_quality";
pub const USER_QUALITY: &str = "user_quality";
pub const EVENTS: &str = "events";
pub const STATS_SAMPLES: &str = "stats_samples";
pub const ERRORS: &str = "errors";
pub const FEEDBACK: &str = "feedback";
pub const INTEGRATION: &str = "integration";

/// Hive partition columns, in path order; the last columns of every table schema.
pub const PARTITION_COLUMNS: [&str; 2] = ["app_id", "date"];

/// Every table with its schema.
#[must_use]
pub fn all_tables() -> Vec<(&'static str, SchemaRef)> {
    vec![
        (CONFERENCES, conferences_schema()),
        (FABRICS, fabrics_schema()),
        (TRACK_QUALITY, track_quality_schema()),
        (USER_QUALITY, user_quality_schema()),
        (EVENTS, events_schema()),
        (STATS_SAMPLES, stats_samples_schema()),
        (ERRORS, errors_schema()),
        (FEEDBACK, feedback_schema()),
        (INTEGRATION, integration_schema()),
    ]
}

/// The schema of a table by name.
#[must_use]
pub fn schema(table: &str) -> Option<SchemaRef> {
    all_tables()
        .into_iter()
        .find_map(|(name, schema)| (name == table).then_some(schema))
}

/// The columns to sort each file by (ENGINEERING: by conference, then time), so that the
/// writer and the query planner (`WITH ORDER`) agree.
#[must_use]
pub fn sort_key(table: &str) -> &'static [&'static str] {
    match table {
        CONFERENCES => &["conference_id", "segment"],
        FABRICS => &["conference_id", "segment", "connection_id"],
        TRACK_QUALITY => &["conference_id", "interval_start", "connection_id", "ssrc"],
        USER_QUALITY => &["conference_id", "segment", "user_id"],
        EVENTS | ERRORS | FEEDBACK => &["conference_id", "received_at"],
        STATS_SAMPLES => &["conference_id", "connection_id", "sample_ts"],
        INTEGRATION => &["item", "window_end"],
        _ => &[],
    }
}

/// The schema stored inside a Parquet file: the table schema without the partition columns,
/// whose values live in the directory names.
#[must_use]
pub fn file_schema(table_schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<_> = table_schema
        .fields()
        .iter()
        .filter(|f| !PARTITION_COLUMNS.contains(&f.name().as_str()))
        .cloned()
        .collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        table_schema.metadata().clone(),
    ))
}

/// The timestamp type of every time column.
#[must_use]
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// `Map<Utf8, Int64>` laid out exactly as arrow's `MapBuilder` builds it by default
/// (`entries` / `keys` / `values`), so batches built with the default builder match.
#[must_use]
pub fn count_map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", DataType::Int64, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

/// `List<Utf8>` laid out as arrow's `ListBuilder` builds it by default (nullable `item`).
#[must_use]
pub fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

// Column constructors; `n` = nullable, `nn` = not null.
fn ts(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp_type(), nullable)
}
fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn int32(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int32, nullable)
}
fn int64(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}
fn float(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}
fn boolean(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Boolean, nullable)
}
fn strings(name: &str) -> Field {
    Field::new(name, string_list_type(), true)
}
fn counts(name: &str) -> Field {
    Field::new(name, count_map_type(), true)
}

const N: bool = true;
const NN: bool = false;

fn table(mut fields: Vec<Field>) -> SchemaRef {
    fields.push(text("app_id", NN));
    fields.push(text("date", NN));
    Arc::new(Schema::new(fields))
}

/// One row per conference segment (callstats splits a conference whose data pauses for more
/// than the idle timeout; late data starts segment n+1), written when the segment closes. A
/// conference in progress has no row yet: it shows through the per-message tables (`events`,
/// `stats_samples`, `track_quality`) and the query service's live endpoint.
#[must_use]
pub fn conferences_schema() -> SchemaRef {
    table(vec![
        text("conference_id", NN),
        int32("segment", NN),
        ts("start_time", NN),
        ts("end_time", N),
        int64("duration_ms", N),
        // ConferenceEndReason
        text("end_reason", N),
        // Newest received_at covered by this row: makes rewrites of a live row ordered.
        ts("last_event_at", NN),
        int32("users", NN),
        int32("fabrics", NN),
        int32("fabrics_setup", NN),
        int32("fabrics_failed", NN),
        // SetupStatus; null while no fabric has finished establishing
        text("setup_status", N),
        float("setup_delay_min_ms"),
        float("setup_delay_max_ms"),
        float("setup_delay_mean_ms"),
        float("setup_delay_median_ms"),
        // FabricSetupFailureReason -> fabrics that failed with it
        counts("failures_by_reason"),
        // termination reason -> fabrics terminated with it ("timeout" when none was sent)
        counts("termination_reasons"),
        // time-weighted over the conference
        float("mean_mos"),
        float("worst_user_mos"),
        text("worst_user_id", N),
        float("mean_video_score"),
        float("worst_user_video_score"),
        float("feedback_mean"),
        int32("feedback_count", NN),
        // share (0..1) of set-up fabrics whose selected pair went through TURN
        float("relay_share"),
        strings("browsers"),
        strings("os"),
        strings("app_versions"),
        strings("site_ids"),
    ])
}

/// One row per PeerConnection: its establishment and its life.
#[must_use]
pub fn fabrics_schema() -> SchemaRef {
    table(vec![
        text("conference_id", NN),
        int32("segment", NN),
        text("connection_id", NN),
        text("user_id", NN),
        text("uc_id", N),
        text("remote_user_id", N),
        // FabricUsage, EndpointType, TransmissionDirection
        text("fabric_usage", N),
        text("remote_endpoint_type", N),
        text("transmission_direction", N),
        ts("created_at", N),
        ts("setup_at", N),
        ts("failed_at", N),
        ts("terminated_at", N),
        // created_at -> setup_at (or failed_at), else the client-reported delay
        float("setup_delay_ms"),
        float("ice_gathering_ms"),
        float("ice_connectivity_ms"),
        float("dtls_ms"),
        // FabricOutcome
        text("outcome", NN),
        // FabricSetupFailureReason, FailureCategory, WebRtcFunction
        text("failure_reason", N),
        text("failure_category", N),
        text("failed_function", N),
        boolean("relayed", N),
        // RelayProtocol / RelayType of the selected pair
        text("relay_protocol", N),
        // CandidateType, TransportProtocol of the selected pair
        text("local_candidate_type", N),
        text("remote_candidate_type", N),
        text("transport_protocol", N),
        int32("ice_restarts", NN),
        int32("disruptions", NN),
        float("disrupted_ms"),
        int32("transport_changes", NN),
        // an established connection failed for good (fabric dropped / iceFailed after setup)
        boolean("dropped", NN),
        text("terminated_reason", N),
        int64("duration_ms", N),
        ts("last_event_at", NN),
        // Added after the first release: nullable, so files written before them still read.
        // when an established connection was lost for good (fabric dropped)
        ts("dropped_at", N),
        // disruptions that recovered (ICE back to connected/completed)
        int32("recovered_disruptions", N),
        // last value of each stream's cumulative RTP counter, summed over the connection's
        // streams: inbound-rtp packetsReceived / packetsLost, outbound-rtp packetsSent,
        // remote-inbound-rtp packetsLost (the remote's report on what we sent)
        int64("packets_received", N),
        int64("packets_received_lost", N),
        int64("packets_sent", N),
        int64("packets_sent_lost", N),
        // 100 · received lost / (received + received lost); 100 · sent lost / sent
        float("received_loss_pct"),
        float("sent_loss_pct"),
    ])
}

/// One row per track (SSRC) per interval: the interval metrics of
/// `reference/quality-algorithms.md` section 3, and the scores derived from them.
#[must_use]
pub fn track_quality_schema() -> SchemaRef {
    table(vec![
        text("conference_id", NN),
        int32("segment", NN),
        text("connection_id", NN),
        // the reporting user
        text("user_id", NN),
        text("uc_id", N),
        // the other end of the fabric
        text("remote_user_id", N),
        // whose media this is, from the SSRC map (default: local for outbound, remote for inbound)
        text("associated_user_id", N),
        int64("ssrc", NN),
        // getStats id or trackIdentifier
        text("track_id", N),
        // "audio" | "video"
        text("media_kind", NN),
        // StreamType: "inbound" | "outbound"
        text("direction", NN),
        text("usage_label", N),
        // codec mimeType
        text("codec", N),
        ts("interval_start", NN),
        ts("interval_end", NN),
        // the previous sample was more than 3 intervals earlier or counters reset
        boolean("after_gap", NN),
        int64("packets_sent", N),
        int64("packets_received", N),
        int64("packets_lost", N),
        float("loss_pct"),
        float("jitter_ms"),
        float("rtt_ms"),
        float("bitrate_bps"),
        float("frame_rate"),
        int32("width", N),
        int32("height", N),
        float("freeze_ms"),
        float("concealed_ms"),
        // audio: E-model MOS 1..4.5; video: 1..5 (docs/quality.md)
        float("mos"),
        float("video_score"),
        // QualityBand
        text("band", N),
    ])
}

/// One row per user per conference segment: the user's experience, time-weighted.
#[must_use]
pub fn user_quality_schema() -> SchemaRef {
    table(vec![
        text("conference_id", NN),
        int32("segment", NN),
        text("user_id", NN),
        text("uc_id", N),
        // endpointInfo of the join
        text("endpoint_type", N),
        text("browser", N),
        text("browser_version", N),
        text("os", N),
        text("os_version", N),
        text("app_version", N),
        text("site_id", N),
        ts("joined_at", N),
        ts("left_at", N),
        int64("duration_ms", N),
        // time covered by the user's scored track_quality intervals, each instant once (audio
        // and video, or two receivers, over the same 10 s count 10 s)
        int64("measured_ms", NN),
        float("mean_mos"),
        float("mean_video_score"),
        float("mean_loss_pct"),
        float("mean_jitter_ms"),
        float("mean_rtt_ms"),
        // audio + video: the mean bitrate of the user's media as one receiver gets it
        float("mean_bitrate_bps"),
        float("mean_audio_bitrate_bps"),
        float("mean_video_bitrate_bps"),
        ts("worst_interval_start", N),
        float("worst_interval_mos"),
        float("worst_interval_video_score"),
        // share (0..1) of measured time in each QualityBand
        float("share_excellent"),
        float("share_good"),
        float("share_fair"),
        float("share_poor"),
        float("share_bad"),
        int32("feedback_overall", N),
    ])
}

/// Every accepted event, flattened: the conference timeline and the replay source of truth
/// for anything the other tables do not cover.
#[must_use]
pub fn events_schema() -> SchemaRef {
    table(vec![
        ts("received_at", NN),
        ts("client_ts", N),
        // EventKind
        text("kind", NN),
        // Payload::event_type(): eventType, reason, webRTCFunction, ...
        text("event_type", N),
        // Origin
        text("origin", NN),
        int32("schema_version", NN),
        text("conference_id", NN),
        text("uc_id", N),
        text("user_id", N),
        text("connection_id", N),
        text("remote_user_id", N),
        // the envelope payload's `data`, as JSON; for a stats sample without its reports, which
        // are its `stats_samples` rows (same conference_id, user_id, connection_id, received_at),
        // and with `statsReports`, their number
        text("payload_json", NN),
        // where the envelope was read from: a unique key that makes replays idempotent
        int32("bus_partition", N),
        int64("bus_offset", N),
    ])
}

/// Key getStats members, one row per report of each stats sample; members without a column
/// are kept in `other_json`.
#[must_use]
pub fn stats_samples_schema() -> SchemaRef {
    table(vec![
        ts("received_at", NN),
        // the report's own timestamp
        ts("sample_ts", NN),
        text("conference_id", NN),
        text("uc_id", N),
        text("user_id", NN),
        text("remote_user_id", N),
        text("connection_id", NN),
        text("report_id", NN),
        text("report_type", NN),
        int64("ssrc", N),
        text("kind", N),
        text("mid", N),
        text("track_identifier", N),
        text("codec_id", N),
        text("mime_type", N),
        int64("packets_sent", N),
        int64("packets_received", N),
        int64("packets_lost", N),
        int64("bytes_sent", N),
        int64("bytes_received", N),
        float("jitter_s"),
        float("fraction_lost"),
        float("round_trip_time_s"),
        float("total_round_trip_time_s"),
        int64("round_trip_time_measurements", N),
        float("frames_per_second"),
        int32("frame_width", N),
        int32("frame_height", N),
        int64("frames_encoded", N),
        int64("frames_decoded", N),
        int64("frames_dropped", N),
        int64("freeze_count", N),
        float("total_freezes_duration_s"),
        int64("concealed_samples", N),
        int64("total_samples_received", N),
        float("audio_level"),
        float("jitter_buffer_delay_s"),
        int64("jitter_buffer_emitted_count", N),
        text("quality_limitation_reason", N),
        float("target_bitrate"),
        // candidate-pair / transport / candidate reports
        text("state", N),
        boolean("nominated", N),
        float("current_round_trip_time_s"),
        float("available_outgoing_bitrate"),
        text("local_candidate_id", N),
        text("remote_candidate_id", N),
        text("selected_candidate_pair_id", N),
        text("candidate_type", N),
        text("protocol", N),
        text("relay_protocol", N),
        // every other member of the report, as a JSON object
        text("other_json", N),
    ])
}

/// Setup failures and reported errors: what the failure dashboards group by.
#[must_use]
pub fn errors_schema() -> SchemaRef {
    table(vec![
        ts("received_at", NN),
        ts("client_ts", N),
        text("conference_id", NN),
        text("uc_id", N),
        text("user_id", N),
        text("connection_id", N),
        text("remote_user_id", N),
        // EventKind that carried it: report_error, fabric_setup_failed, fabric_dropped, ...
        text("kind", NN),
        // WebRtcFunction
        text("webrtc_function", N),
        // FabricSetupFailureReason, FailureCategory
        text("failure_reason", N),
        text("failure_category", N),
        text("error_name", N),
        text("error_message", N),
        text("error_stack", N),
        text("constraint_name", N),
        boolean("has_local_sdp", NN),
        boolean("has_remote_sdp", NN),
    ])
}

/// User feedback, one row per submission.
#[must_use]
pub fn feedback_schema() -> SchemaRef {
    table(vec![
        ts("received_at", NN),
        ts("client_ts", N),
        text("conference_id", NN),
        text("uc_id", N),
        text("user_id", NN),
        text("remote_user_id", N),
        int32("overall", NN),
        int32("audio", N),
        int32("video", N),
        int32("screen", N),
        text("comment", N),
    ])
}

/// Integration progress (`crate::integration`): one row per checklist item per ingest interval in
/// which the item was seen, accepted or refused. Summed by the query service.
#[must_use]
pub fn integration_schema() -> SchemaRef {
    table(vec![
        ts("window_start", NN),
        ts("window_end", NN),
        // IntegrationItem::id
        text("item", NN),
        int64("accepted", NN),
        int64("refused", NN),
        ts("last_seen", N),
        ts("last_refused", N),
        text("last_error", N),
        text("last_field", N),
        int32("last_status", N),
        int32("bus_partition", N),
        int64("bus_offset", N),
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn is_snake_case(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !s.ends_with('_')
            && !s.contains("__")
    }

    #[test]
    fn every_spec_table_is_present_once() {
        let names: Vec<_> = all_tables().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "conferences",
                "fabrics",
                "track_quality",
                "user_quality",
                "events",
                "stats_samples",
                "errors",
                "feedback",
                "integration"
            ]
        );
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.iter().all(|n| is_snake_case(n)));
    }

    #[test]
    fn every_table_ends_with_partition_columns() {
        for (name, schema) in all_tables() {
            let fields = schema.fields();
            let tail: Vec<_> = fields[fields.len() - 2..]
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            assert_eq!(tail, PARTITION_COLUMNS, "{name}");
            for col in PARTITION_COLUMNS {
                let f = schema.field_with_name(col).unwrap();
                assert_eq!(f.data_type(), &DataType::Utf8, "{name}.{col}");
                assert!(!f.is_nullable(), "{name}.{col}");
            }
            let file = file_schema(&schema);
            assert_eq!(file.fields().len(), fields.len() - 2);
            assert!(file.field_with_name("app_id").is_err());
            assert_eq!(file.fields()[..], fields[..fields.len() - 2]);
        }
    }

    #[test]
    fn field_names_are_unique_snake_case() {
        for (name, schema) in all_tables() {
            let mut seen = HashSet::new();
            for f in schema.fields() {
                assert!(
                    is_snake_case(f.name()),
                    "{name}.{} is not snake_case",
                    f.name()
                );
                assert!(
                    seen.insert(f.name().clone()),
                    "{name}.{} is duplicated",
                    f.name()
                );
            }
        }
    }

    #[test]
    fn time_columns_are_utc_milliseconds() {
        for (name, schema) in all_tables() {
            for f in schema.fields() {
                if let DataType::Timestamp(unit, tz) = f.data_type() {
                    assert_eq!(*unit, TimeUnit::Millisecond, "{name}.{}", f.name());
                    assert_eq!(tz.as_deref(), Some("UTC"), "{name}.{}", f.name());
                }
                let n = f.name();
                if n.ends_with("_at") || n.ends_with("_time") || n.ends_with("_ts") {
                    assert_eq!(f.data_type(), &timestamp_type(), "{name}.{n}");
                }
                if n.ends_with("_ms") {
                    assert!(
                        matches!(f.data_type(), DataType::Int64 | DataType::Float64),
                        "{name}.{n}"
                    );
                }
            }
        }
    }

    #[test]
    fn sort_keys_name_existing_columns() {
        for (name, schema) in all_tables() {
            let key = sort_key(name);
            assert!(!key.is_empty(), "{name}");
            for col in key {
                assert!(schema.field_with_name(col).is_ok(), "{name}.{col}");
            }
        }
        assert!(sort_key("nope").is_empty());
    }

    #[test]
    fn conferences_has_the_spec_summary_columns() {
        let s = conferences_schema();
        for col in [
            "start_time",
            "end_time",
            "duration_ms",
            "users",
            "fabrics",
            "setup_status",
            "setup_delay_min_ms",
            "setup_delay_max_ms",
            "setup_delay_mean_ms",
            "setup_delay_median_ms",
            "failures_by_reason",
            "termination_reasons",
            "mean_mos",
            "worst_user_mos",
            "mean_video_score",
            "feedback_mean",
            "feedback_count",
            "relay_share",
            "browsers",
            "os",
            "app_versions",
        ] {
            assert!(s.field_with_name(col).is_ok(), "conferences.{col}");
        }
        assert_eq!(
            s.field_with_name("browsers").unwrap().data_type(),
            &string_list_type()
        );
        assert_eq!(
            s.field_with_name("failures_by_reason").unwrap().data_type(),
            &count_map_type()
        );
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(schema(EVENTS), Some(events_schema()));
        assert!(schema("nope").is_none());
        assert!(events_schema().field_with_name("payload_json").is_ok());
    }
}
