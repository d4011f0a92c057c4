#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The query service end to end over a small hand-built lake: two apps, a few conferences with
//! values chosen so that every expected number below can be worked out by hand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::web;
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, Int64Builder, ListBuilder,
    MapBuilder, RecordBatch, StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::DataType;
use callscope_ingest::registry::{Registry, Secret};
use callscope_query::{QueryConfig, QueryState, app};
use callscope_schemas::tables;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Building the lake

#[derive(Debug, Clone)]
enum V {
    S(&'static str),
    I(i64),
    F(f64),
    B(bool),
    T(i64),
    L(Vec<&'static str>),
    Mp(Vec<(&'static str, i64)>),
}
use V::*;

type Row = Vec<(&'static str, V)>;

/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200_000;
const H: i64 = 3_600_000;
const M: i64 = 60_000;
const DAY: &str = "2024-03-01";
const ADMIN: &str = "admin-key-for-tests-0123456789";

fn column(field: &arrow::datatypes::Field, rows: &[Row]) -> ArrayRef {
    let get = |r: &Row| {
        r.iter()
            .find(|(n, _)| *n == field.name())
            .map(|(_, v)| v.clone())
    };
    let nullable = field.is_nullable();
    fn bad<T>(field: &arrow::datatypes::Field, v: &V) -> T {
        panic!("{}: {v:?} does not fit {}", field.name(), field.data_type())
    }
    match field.data_type() {
        DataType::Utf8 => Arc::new(StringArray::from(
            rows.iter()
                .map(|r| match get(r) {
                    Some(S(s)) => Some(s.to_owned()),
                    Some(v) => bad(field, &v),
                    None => (!nullable).then(String::new),
                })
                .collect::<Vec<_>>(),
        )),
        DataType::Int32 => Arc::new(Int32Array::from(
            rows.iter()
                .map(|r| match get(r) {
                    Some(I(i)) => Some(i32::try_from(i).unwrap()),
                    Some(v) => bad(field, &v),
                    None => (!nullable).then_some(0),
                })
                .collect::<Vec<_>>(),
        )),
        DataType::Int64 => Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| match get(r) {
                    Some(I(i)) => Some(i),
                    Some(v) => bad(field, &v),
                    None => (!nullable).then_some(0),
                })
                .collect::<Vec<_>>(),
        )),
        DataType::Float64 => Arc::new(Float64Array::from(
            rows.iter()
                .map(|r| match get(r) {
                    Some(F(f)) => Some(f),
                    Some(v) => bad(field, &v),
                    None => None,
                })
                .collect::<Vec<_>>(),
        )),
        DataType::Boolean => Arc::new(BooleanArray::from(
            rows.iter()
                .map(|r| match get(r) {
                    Some(B(b)) => Some(b),
                    Some(v) => bad(field, &v),
                    None => (!nullable).then_some(false),
                })
                .collect::<Vec<_>>(),
        )),
        DataType::Timestamp(..) => Arc::new(
            TimestampMillisecondArray::from(
                rows.iter()
                    .map(|r| match get(r) {
                        Some(T(t)) => Some(t),
                        Some(v) => bad(field, &v),
                        None => (!nullable).then_some(0),
                    })
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        DataType::List(_) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in rows {
                match get(r) {
                    Some(L(items)) => {
                        for i in items {
                            b.values().append_value(i);
                        }
                        b.append(true);
                    }
                    Some(v) => bad(field, &v),
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Map(..) => {
            let mut b = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
            for r in rows {
                match get(r) {
                    Some(Mp(items)) => {
                        for (k, v) in items {
                            b.keys().append_value(k);
                            b.values().append_value(v);
                        }
                        b.append(true).unwrap();
                    }
                    Some(v) => bad(field, &v),
                    None => b.append(false).unwrap(),
                }
            }
            Arc::new(b.finish())
        }
        other => panic!("no test builder for {other}"),
    }
}

/// Writes `rows` as one zstd Parquet file of `table` in the Hive layout the processor uses.
fn write(root: &Path, table: &str, app: &str, date: &str, file: &str, rows: &[Row]) -> PathBuf {
    write_without(root, table, app, date, file, rows, &[])
}

/// [`write`], in the file schema without the columns `absent`: a file written before a
/// release added them.
fn write_without(
    root: &Path,
    table: &str,
    app: &str,
    date: &str,
    file: &str,
    rows: &[Row],
    absent: &[&str],
) -> PathBuf {
    let full = tables::file_schema(&tables::schema(table).unwrap());
    let schema = Arc::new(arrow::datatypes::Schema::new(
        full.fields()
            .iter()
            .filter(|f| !absent.contains(&f.name().as_str()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    for r in rows {
        for (name, _) in r {
            assert!(schema.field_with_name(name).is_ok(), "{table}.{name}");
        }
    }
    let columns = schema.fields().iter().map(|f| column(f, rows)).collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let dir = root
        .join(table)
        .join(format!("app_id={app}"))
        .join(format!("date={date}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn today(ms: i64) -> String {
    // Same civil-date arithmetic as the service, checked there by hand.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The lake:
///
/// App A, 2024-03-01 10:00–12:00 UTC:
/// - cA1 10:00 success, 2 users, 2 fabrics (delays 400 direct, 850 turn/udp), mean MOS 4.2, video 80;
/// - cA2 10:30 success, 2 users, 1 fabric (1200, turn/tcp), MOS 3.6, no video;
/// - cA3 11:15 failed, 2 users, 1 fabric failed (IceConnectionFailure), no quality;
/// - cA4 on 2024-03-02 01:00, partially failed (outside the main range);
/// - feedback 4 (10:20), 5 (10:25), 2 (11:20);
/// - users: alice Chrome 4.3, bob Firefox 4.1 (cA1), carol Chrome 3.6 (cA2), dave Safari (cA3).
///
/// App B: cB1 10:10 and a conference also called cA1 (9 users), values that would show if they
/// leaked: MOS 1.0, delays 99 999, browser Edge, feedback 1.
///
/// Live (today, relative to now): A's `live1` has events 5 s ago and no conference row; A's
/// `closed1` had events 10 s ago and a conference row through 3 s ago; B's `liveB` is live.
fn build_lake(root: &Path) {
    build_lake_at(root, T0);
}

/// [`build_lake`] with its day starting at `t0` instead of [`T0`] (the demo server shifts it near now).
fn build_lake_at(root: &Path, t0: i64) {
    let day = today(t0);
    let next_day = today(t0 + 24 * H);
    let a = "appA";
    let b = "appB";
    write(
        root,
        "conferences",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("conference_id", S("cA1")),
                ("start_time", T(t0 + 10 * H)),
                ("end_time", T(t0 + 10 * H + 20 * M)),
                ("duration_ms", I(20 * M)),
                ("end_reason", S("all_left")),
                ("last_event_at", T(t0 + 10 * H + 20 * M)),
                ("users", I(2)),
                ("fabrics", I(2)),
                ("fabrics_setup", I(2)),
                ("fabrics_failed", I(0)),
                ("setup_status", S("success")),
                ("setup_delay_min_ms", F(400.0)),
                ("setup_delay_max_ms", F(850.0)),
                ("setup_delay_mean_ms", F(625.0)),
                ("setup_delay_median_ms", F(625.0)),
                ("mean_mos", F(4.2)),
                ("worst_user_mos", F(4.1)),
                ("worst_user_id", S("bob")),
                ("mean_video_score", F(80.0)),
                ("feedback_mean", F(4.5)),
                ("feedback_count", I(2)),
                ("relay_share", F(0.5)),
                ("browsers", L(vec!["Chrome", "Firefox"])),
                ("termination_reasons", Mp(vec![("userLeft", 2)])),
            ],
            vec![
                ("conference_id", S("cA2")),
                ("start_time", T(t0 + 10 * H + 30 * M)),
                ("last_event_at", T(t0 + 10 * H + 50 * M)),
                ("users", I(2)),
                ("fabrics", I(1)),
                ("fabrics_setup", I(1)),
                ("setup_status", S("success")),
                ("setup_delay_max_ms", F(1200.0)),
                ("setup_delay_median_ms", F(1200.0)),
                ("mean_mos", F(3.6)),
                ("worst_user_mos", F(3.6)),
                ("worst_user_id", S("carol")),
                ("browsers", L(vec!["Chrome"])),
            ],
            vec![
                ("conference_id", S("cA3")),
                ("start_time", T(t0 + 11 * H + 15 * M)),
                ("last_event_at", T(t0 + 11 * H + 25 * M)),
                ("users", I(2)),
                ("fabrics", I(1)),
                ("fabrics_failed", I(1)),
                ("setup_status", S("failed")),
                ("failures_by_reason", Mp(vec![("IceConnectionFailure", 1)])),
                ("feedback_mean", F(2.0)),
                ("feedback_count", I(1)),
            ],
        ],
    );
    write(
        root,
        "conferences",
        a,
        &next_day,
        "part-0.parquet",
        &[vec![
            ("conference_id", S("cA4")),
            ("start_time", T(t0 + 25 * H)),
            ("last_event_at", T(t0 + 25 * H + 5 * M)),
            ("users", I(3)),
            ("fabrics", I(2)),
            ("fabrics_setup", I(1)),
            ("fabrics_failed", I(1)),
            ("setup_status", S("partially_failed")),
            ("setup_delay_max_ms", F(700.0)),
            ("mean_mos", F(3.0)),
            ("worst_user_mos", F(2.0)),
        ]],
    );
    write(
        root,
        "fabrics",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("conference_id", S("cA1")),
                ("connection_id", S("pc-a1")),
                ("user_id", S("alice")),
                ("remote_user_id", S("bob")),
                ("created_at", T(t0 + 10 * H)),
                ("setup_at", T(t0 + 10 * H + 400)),
                ("setup_delay_ms", F(400.0)),
                ("outcome", S("setup")),
                ("relayed", B(false)),
                ("last_event_at", T(t0 + 10 * H + 20 * M)),
            ],
            vec![
                ("conference_id", S("cA1")),
                ("connection_id", S("pc-b1")),
                ("user_id", S("bob")),
                ("remote_user_id", S("alice")),
                ("created_at", T(t0 + 10 * H + 1_000)),
                ("setup_delay_ms", F(850.0)),
                ("outcome", S("setup")),
                ("relayed", B(true)),
                ("relay_protocol", S("udp")),
                ("last_event_at", T(t0 + 10 * H + 20 * M)),
            ],
            vec![
                ("conference_id", S("cA2")),
                ("connection_id", S("pc-c1")),
                ("user_id", S("carol")),
                ("created_at", T(t0 + 10 * H + 30 * M)),
                ("setup_delay_ms", F(1200.0)),
                ("outcome", S("setup")),
                ("relayed", B(true)),
                ("relay_protocol", S("tcp")),
                ("last_event_at", T(t0 + 10 * H + 50 * M)),
            ],
            vec![
                ("conference_id", S("cA3")),
                ("connection_id", S("pc-d1")),
                ("user_id", S("dave")),
                ("created_at", T(t0 + 11 * H + 15 * M)),
                ("failed_at", T(t0 + 11 * H + 15 * M + 3_000)),
                ("setup_delay_ms", F(3000.0)),
                ("outcome", S("failed")),
                ("failure_reason", S("IceConnectionFailure")),
                ("failure_category", S("ice_nat")),
                ("last_event_at", T(t0 + 11 * H + 25 * M)),
            ],
        ],
    );
    write(
        root,
        "user_quality",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("conference_id", S("cA1")),
                ("user_id", S("alice")),
                ("browser", S("Chrome")),
                ("os", S("Windows")),
                ("app_version", S("1.0")),
                ("endpoint_type", S("browser")),
                ("joined_at", T(t0 + 10 * H)),
                ("mean_mos", F(4.3)),
                ("mean_video_score", F(82.0)),
            ],
            vec![
                ("conference_id", S("cA1")),
                ("user_id", S("bob")),
                ("browser", S("Firefox")),
                ("os", S("macOS")),
                ("app_version", S("1.0")),
                ("endpoint_type", S("browser")),
                ("joined_at", T(t0 + 10 * H + 1_000)),
                ("mean_mos", F(4.1)),
                ("mean_video_score", F(78.0)),
            ],
            vec![
                ("conference_id", S("cA2")),
                ("user_id", S("carol")),
                ("browser", S("Chrome")),
                ("os", S("macOS")),
                ("app_version", S("1.1")),
                ("endpoint_type", S("browser")),
                ("joined_at", T(t0 + 10 * H + 30 * M)),
                ("mean_mos", F(3.6)),
            ],
            vec![
                ("conference_id", S("cA3")),
                ("user_id", S("dave")),
                ("browser", S("Safari")),
                ("os", S("iOS")),
                ("endpoint_type", S("native")),
                ("joined_at", T(t0 + 11 * H + 15 * M)),
            ],
        ],
    );
    write(
        root,
        "track_quality",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("conference_id", S("cA1")),
                ("connection_id", S("pc-a1")),
                ("user_id", S("alice")),
                ("ssrc", I(11)),
                ("media_kind", S("audio")),
                ("direction", S("inbound")),
                ("associated_user_id", S("bob")),
                ("interval_start", T(t0 + 10 * H + M)),
                ("interval_end", T(t0 + 10 * H + M + 10_000)),
                ("mos", F(4.1)),
            ],
            vec![
                ("conference_id", S("cA1")),
                ("connection_id", S("pc-a1")),
                ("user_id", S("alice")),
                ("ssrc", I(11)),
                ("media_kind", S("audio")),
                ("direction", S("inbound")),
                ("associated_user_id", S("bob")),
                ("interval_start", T(t0 + 10 * H + M + 10_000)),
                ("interval_end", T(t0 + 10 * H + M + 20_000)),
                ("mos", F(4.3)),
            ],
            vec![
                ("conference_id", S("cA1")),
                ("connection_id", S("pc-b1")),
                ("user_id", S("bob")),
                ("ssrc", I(22)),
                ("media_kind", S("audio")),
                ("direction", S("inbound")),
                ("associated_user_id", S("alice")),
                ("interval_start", T(t0 + 10 * H + M)),
                ("interval_end", T(t0 + 10 * H + M + 10_000)),
                ("mos", F(3.9)),
            ],
        ],
    );
    write(
        root,
        "events",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("received_at", T(t0 + 10 * H)),
                ("kind", S("fabric_created")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("cA1")),
                ("user_id", S("alice")),
                ("connection_id", S("pc-a1")),
                ("payload_json", S("{}")),
                ("bus_partition", I(0)),
                ("bus_offset", I(1)),
            ],
            vec![
                ("received_at", T(t0 + 10 * H + 400)),
                ("kind", S("fabric_setup")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("cA1")),
                ("user_id", S("alice")),
                ("connection_id", S("pc-a1")),
                ("payload_json", S("{\"delay\":400}")),
                ("bus_partition", I(0)),
                ("bus_offset", I(2)),
            ],
            vec![
                ("received_at", T(t0 + 11 * H + 15 * M + 3_000)),
                ("kind", S("fabric_setup_failed")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("cA3")),
                ("user_id", S("dave")),
                ("payload_json", S("{}")),
                ("bus_partition", I(0)),
                ("bus_offset", I(3)),
            ],
        ],
    );
    write(
        root,
        "errors",
        a,
        &day,
        "part-0.parquet",
        &[vec![
            ("received_at", T(t0 + 11 * H + 15 * M + 3_000)),
            ("conference_id", S("cA3")),
            ("user_id", S("dave")),
            ("connection_id", S("pc-d1")),
            ("kind", S("fabric_setup_failed")),
            ("failure_reason", S("IceConnectionFailure")),
            ("failure_category", S("ice_nat")),
            ("error_message", S("ICE failed")),
        ]],
    );
    write(
        root,
        "feedback",
        a,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("received_at", T(t0 + 10 * H + 20 * M)),
                ("conference_id", S("cA1")),
                ("user_id", S("alice")),
                ("overall", I(4)),
            ],
            vec![
                ("received_at", T(t0 + 10 * H + 25 * M)),
                ("conference_id", S("cA1")),
                ("user_id", S("bob")),
                ("overall", I(5)),
                ("comment", S("fine")),
            ],
            vec![
                ("received_at", T(t0 + 11 * H + 20 * M)),
                ("conference_id", S("cA3")),
                ("user_id", S("dave")),
                ("overall", I(2)),
            ],
        ],
    );

    // App B: everything here would change A's numbers if it leaked.
    write(
        root,
        "conferences",
        b,
        &day,
        "part-0.parquet",
        &[
            vec![
                ("conference_id", S("cB1")),
                ("start_time", T(t0 + 10 * H + 10 * M)),
                ("last_event_at", T(t0 + 10 * H + 30 * M)),
                ("users", I(5)),
                ("fabrics", I(4)),
                ("setup_status", S("failed")),
                ("mean_mos", F(1.0)),
                ("worst_user_mos", F(1.0)),
                ("setup_delay_max_ms", F(99_999.0)),
            ],
            vec![
                ("conference_id", S("cA1")),
                ("start_time", T(t0 + 10 * H + 5 * M)),
                ("last_event_at", T(t0 + 10 * H + 30 * M)),
                ("users", I(9)),
                ("fabrics", I(9)),
                ("setup_status", S("failed")),
                ("mean_mos", F(1.0)),
            ],
        ],
    );
    write(
        root,
        "fabrics",
        b,
        &day,
        "part-0.parquet",
        &[vec![
            ("conference_id", S("cB1")),
            ("connection_id", S("pc-x")),
            ("user_id", S("mallory")),
            ("created_at", T(t0 + 10 * H + 10 * M)),
            ("setup_delay_ms", F(99_999.0)),
            ("outcome", S("setup")),
            ("relayed", B(true)),
            ("relay_protocol", S("tls")),
            ("last_event_at", T(t0 + 10 * H + 30 * M)),
        ]],
    );
    write(
        root,
        "user_quality",
        b,
        &day,
        "part-0.parquet",
        &[vec![
            ("conference_id", S("cB1")),
            ("user_id", S("mallory")),
            ("browser", S("Edge")),
            ("joined_at", T(t0 + 10 * H + 10 * M)),
            ("mean_mos", F(1.0)),
        ]],
    );
    write(
        root,
        "feedback",
        b,
        &day,
        "part-0.parquet",
        &[vec![
            ("received_at", T(t0 + 10 * H + 40 * M)),
            ("conference_id", S("cB1")),
            ("user_id", S("mallory")),
            ("overall", I(1)),
        ]],
    );
    write(
        root,
        "events",
        b,
        &day,
        "part-0.parquet",
        &[vec![
            ("received_at", T(t0 + 10 * H + 10 * M)),
            ("kind", S("fabric_created")),
            ("origin", S("js_sdk")),
            ("schema_version", I(1)),
            ("conference_id", S("cB1")),
            ("user_id", S("mallory")),
            ("payload_json", S("{}")),
        ]],
    );

    // Live conferences, relative to the wall clock.
    let n = now();
    let d = today(n);
    write(
        root,
        "events",
        a,
        &d,
        "live.parquet",
        &[
            vec![
                ("received_at", T(n - 5_000)),
                ("kind", S("fabric_created")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("live1")),
                ("user_id", S("u1")),
                ("connection_id", S("c1")),
                ("payload_json", S("{}")),
            ],
            vec![
                ("received_at", T(n - 4_000)),
                ("kind", S("fabric_created")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("live1")),
                ("user_id", S("u2")),
                ("connection_id", S("c2")),
                ("payload_json", S("{}")),
            ],
            vec![
                ("received_at", T(n - 10_000)),
                ("kind", S("fabric_created")),
                ("origin", S("js_sdk")),
                ("schema_version", I(1)),
                ("conference_id", S("closed1")),
                ("user_id", S("u3")),
                ("payload_json", S("{}")),
            ],
            vec![
                ("received_at", T(n - 2_000)),
                ("kind", S("system_status")),
                ("origin", S("rest")),
                ("schema_version", I(1)),
                ("conference_id", S("_app:bridge-1")),
                ("user_id", S("bridge-1")),
                ("payload_json", S("{}")),
            ],
        ],
    );
    write(
        root,
        "conferences",
        a,
        &d,
        "live.parquet",
        &[vec![
            ("conference_id", S("closed1")),
            ("start_time", T(n - 60_000)),
            ("last_event_at", T(n - 3_000)),
            ("users", I(1)),
            ("fabrics", I(0)),
        ]],
    );
    write(
        root,
        "events",
        b,
        &d,
        "live.parquet",
        &[vec![
            ("received_at", T(n - 1_000)),
            ("kind", S("fabric_created")),
            ("origin", S("js_sdk")),
            ("schema_version", I(1)),
            ("conference_id", S("liveB")),
            ("user_id", S("m")),
            ("payload_json", S("{}")),
        ]],
    );

    // Not complete files, and the processor's checkpoints: never read.
    let partial = root
        .join("conferences/app_id=appA")
        .join(format!("date={day}"))
        .join("part-9.parquet.tmp");
    std::fs::write(partial, b"not parquet yet").unwrap();
    std::fs::create_dir_all(root.join("_checkpoints")).unwrap();
    std::fs::write(root.join("_checkpoints/p0.parquet"), b"not parquet").unwrap();
}

// ---------------------------------------------------------------------------------------------
// The service under test

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key_a: String,
    key_b: String,
    state: web::Data<QueryState>,
}

fn fixture_with(adjust: impl FnOnce(&mut QueryConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    build_lake(&root);
    let registry = Registry::in_memory(Vec::new());
    registry.add("A", Some("appA")).unwrap();
    registry.add("B", Some("appB")).unwrap();
    let key_a = registry.add_query_key("appA").unwrap();
    let key_b = registry.add_query_key("appB").unwrap();
    let mut config = QueryConfig {
        lake: root.display().to_string(),
        admin_key: Some(Secret::new(ADMIN)),
        query_threads: 2,
        ..QueryConfig::default()
    };
    adjust(&mut config);
    let state = web::Data::new(QueryState::new(config, registry).unwrap());
    Fixture {
        _dir: dir,
        root,
        key_a,
        key_b,
        state,
    }
}

fn fixture() -> Fixture {
    fixture_with(|_| {})
}

struct Answer {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(f: &Fixture, req: TestRequest) -> Answer {
    let service = init_service(app(f.state.clone())).await;
    let response = call_service(&service, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(response).await;
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(f: &Fixture, key: Option<&str>, uri: &str) -> Answer {
    let mut req = TestRequest::get().uri(uri);
    if let Some(k) = key {
        req = req.insert_header(("Authorization", format!("Bearer {k}")));
    }
    send(f, req).await
}

async fn sql(f: &Fixture, key: &str, body: Value) -> Answer {
    sql_at(f, key, "/api/v1/sql", body).await
}

async fn sql_at(f: &Fixture, key: &str, uri: &str, body: Value) -> Answer {
    send(
        f,
        TestRequest::post()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {key}")))
            .set_json(body),
    )
    .await
}

fn range() -> String {
    format!("from={}&to={}", T0 + 10 * H, T0 + 12 * H)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

fn ids(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Authentication, per endpoint

const ENDPOINTS: &[&str] = &[
    "/api/v1/me",
    "/api/v1/overview",
    "/api/v1/breakdown/browser",
    "/api/v1/conferences",
    "/api/v1/conferences/cA1",
    "/api/v1/live",
    "/api/v1/integration",
];

#[actix_web::test]
async fn every_endpoint_refuses_a_missing_or_wrong_key() {
    let f = fixture();
    for path in ENDPOINTS {
        assert_eq!(get(&f, None, path).await.status, 401, "{path} without key");
        let wrong = get(&f, Some("csq_not_a_key"), path).await;
        assert_eq!(wrong.status, 401, "{path} with a wrong key");
        assert!(wrong.header("www-authenticate").is_some());
        let other = get(&f, Some(&f.key_a), &format!("{path}?app_id=appB")).await;
        assert_eq!(other.status, 403, "{path}: A's key asking for B");
    }
    let no_key = send(
        &f,
        TestRequest::post()
            .uri("/api/v1/sql")
            .set_json(json!({"sql": "SELECT 1"})),
    )
    .await;
    assert_eq!(no_key.status, 401);
    assert_eq!(
        sql(&f, "csq_wrong", json!({"sql": "SELECT 1"}))
            .await
            .status,
        401
    );
    let other = sql_at(
        &f,
        &f.key_a,
        "/api/v1/sql?app_id=appB",
        json!({"sql": "SELECT 1"}),
    )
    .await;
    assert_eq!(other.status, 403);
    // The admin key with the wrong case or a suffix is just a wrong key.
    assert_eq!(
        get(&f, Some(&ADMIN.to_uppercase()), "/api/v1/me?app_id=appB")
            .await
            .status,
        401
    );
}

#[actix_web::test]
async fn the_admin_key_reads_the_app_it_names() {
    let f = fixture();
    let me = get(&f, Some(ADMIN), "/api/v1/me?app_id=appB").await.json();
    assert_eq!(me, json!({"app_id": "appB", "admin": true}));
    let list = get(
        &f,
        Some(ADMIN),
        &format!("/api/v1/conferences?{}&app_id=appB", range()),
    )
    .await;
    assert_eq!(list.status, 200);
    assert_eq!(
        ids(&list.json()["conferences"], "conference_id"),
        ["cB1", "cA1"]
    );
    assert_eq!(
        get(&f, Some(ADMIN), "/api/v1/overview").await.status,
        400,
        "admin needs app_id"
    );
    assert_eq!(
        get(&f, Some(ADMIN), "/api/v1/overview?app_id=nope")
            .await
            .status,
        404
    );
    assert_eq!(
        get(&f, Some(&f.key_b), "/api/v1/me").await.json()["app_id"],
        "appB"
    );
}

// ---------------------------------------------------------------------------------------------
// Dashboard answers, worked out by hand

#[actix_web::test]
async fn overview_numbers_by_hand() {
    let f = fixture();
    let answer = get(
        &f,
        Some(&f.key_a),
        &format!("/api/v1/overview?{}&interval=1h", range()),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let o = answer.json();
    assert_eq!(o["interval_ms"], H);
    let t = &o["totals"];
    assert_eq!(t["conferences"], 3);
    assert_eq!(t["participants"], 6);
    assert_eq!(t["fabrics"], 4);
    assert_eq!(
        (
            t["setup_success"].clone(),
            t["setup_partial"].clone(),
            t["setup_failed"].clone()
        ),
        (json!(2), json!(0), json!(1))
    );
    assert!(close(&t["setup_success_rate"], 2.0 / 3.0));
    assert!(close(&t["setup_partial_rate"], 0.0));
    assert!(close(&t["setup_failure_rate"], 1.0 / 3.0));
    // Set-up fabrics' delays [400, 850, 1200]: p50 850; p95 = 850 + 0.9 * (1200 - 850) = 1165.
    assert!(close(&t["setup_delay_p50_ms"], 850.0));
    assert!(close(&t["setup_delay_p95_ms"], 1165.0), "{t}");
    // Mean of conference means: (4.2 + 3.6) / 2; video only cA1.
    assert!(close(&t["mean_mos"], 3.9));
    assert!(close(&t["mean_video_score"], 80.0));
    // Feedback 4, 5, 2.
    assert!(close(&t["feedback_mean"], 11.0 / 3.0));
    assert_eq!(t["feedback_count"], 3);

    let series = o["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let (ten, eleven) = (&series[0], &series[1]);
    assert_eq!(ten["t"], T0 + 10 * H);
    assert_eq!(ten["conferences"], 2);
    assert_eq!(ten["participants"], 4);
    assert!(close(&ten["setup_success_rate"], 1.0));
    assert!(close(&ten["setup_delay_p50_ms"], 850.0));
    assert!(close(&ten["feedback_mean"], 4.5));
    assert_eq!(eleven["t"], T0 + 11 * H);
    assert_eq!(eleven["conferences"], 1);
    assert!(close(&eleven["setup_failure_rate"], 1.0));
    assert!(eleven["setup_delay_p50_ms"].is_null());
    assert!(eleven["mean_mos"].is_null());
    assert!(close(&eleven["feedback_mean"], 2.0));

    // An empty range still has its buckets, with zero counts and null rates.
    let empty = get(
        &f,
        Some(&f.key_a),
        &format!("/api/v1/overview?from={}&to={}&interval=30m", T0, T0 + H),
    )
    .await
    .json();
    assert_eq!(empty["series"].as_array().unwrap().len(), 2);
    assert_eq!(empty["totals"]["conferences"], 0);
    assert!(empty["totals"]["setup_success_rate"].is_null());

    // The next day holds the partially failed cA4.
    let wide = get(
        &f,
        Some(&f.key_a),
        &format!(
            "/api/v1/overview?from={}&to={}&interval=1d",
            T0,
            T0 + 48 * H
        ),
    )
    .await
    .json();
    assert_eq!(wide["totals"]["conferences"], 4);
    assert!(close(&wide["totals"]["setup_partial_rate"], 0.25));
    assert_eq!(wide["series"][1]["conferences"], 1);
}

#[actix_web::test]
async fn bad_parameters_are_400() {
    let f = fixture();
    let k = Some(f.key_a.as_str());
    assert_eq!(
        get(&f, k, "/api/v1/overview?from=yesterday").await.status,
        400
    );
    assert_eq!(
        get(&f, k, "/api/v1/overview?from=10&to=5").await.status,
        400
    );
    assert_eq!(
        get(&f, k, &format!("/api/v1/overview?{}&interval=5s", range()))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&f, k, &format!("/api/v1/overview?{}&interval=1s", range()))
            .await
            .status,
        400
    );
    assert_eq!(
        get(&f, k, "/api/v1/overview?from=-30d&interval=1s")
            .await
            .status,
        400
    );
    assert_eq!(get(&f, k, "/api/v1/breakdown/country").await.status, 404);
    assert_eq!(
        get(&f, k, "/api/v1/conferences?sort=best").await.status,
        400
    );
    assert_eq!(get(&f, k, "/api/v1/conferences?limit=0").await.status, 400);
    assert_eq!(
        get(&f, k, "/api/v1/conferences?cursor=zzz").await.status,
        400
    );
    assert_eq!(get(&f, k, "/api/v1/live?window=0").await.status, 400);
}

#[actix_web::test]
async fn breakdowns_by_hand() {
    let f = fixture();
    let k = Some(f.key_a.as_str());
    let browsers = get(&f, k, &format!("/api/v1/breakdown/browser?{}", range()))
        .await
        .json();
    assert_eq!(browsers["unit"], "users");
    assert_eq!(browsers["total"], 4);
    let rows = &browsers["rows"];
    assert_eq!(ids(rows, "value"), ["Chrome", "Firefox", "Safari"]);
    assert_eq!(rows[0]["count"], 2);
    assert_eq!(rows[0]["conferences"], 2);
    assert!(close(&rows[0]["share"], 0.5));
    assert!(close(&rows[0]["mean_mos"], 3.95));
    assert!(close(&rows[1]["mean_mos"], 4.1));
    assert!(
        rows[2].get("mean_mos").is_none(),
        "no MOS: the field is left out"
    );

    let versions = get(&f, k, &format!("/api/v1/breakdown/app_version?{}", range()))
        .await
        .json();
    assert_eq!(ids(&versions["rows"], "value"), ["1.0", "1.1", "unknown"]);
    let os = get(&f, k, &format!("/api/v1/breakdown/os?{}", range()))
        .await
        .json();
    assert_eq!(ids(&os["rows"], "value"), ["macOS", "Windows", "iOS"]);
    let endpoints = get(
        &f,
        k,
        &format!("/api/v1/breakdown/endpoint_type?{}", range()),
    )
    .await
    .json();
    assert_eq!(ids(&endpoints["rows"], "value"), ["browser", "native"]);
    assert_eq!(endpoints["rows"][0]["count"], 3);

    let relay = get(&f, k, &format!("/api/v1/breakdown/relay_type?{}", range()))
        .await
        .json();
    assert_eq!(relay["unit"], "fabrics");
    assert_eq!(
        ids(&relay["rows"], "value"),
        ["direct", "turn/tcp", "turn/udp"]
    );
    assert!(close(&relay["rows"][0]["setup_delay_p50_ms"], 400.0));
    assert!(close(&relay["rows"][1]["setup_delay_p50_ms"], 1200.0));

    let failures = get(
        &f,
        k,
        &format!("/api/v1/breakdown/failure_reason?{}", range()),
    )
    .await
    .json();
    assert_eq!(
        failures["rows"],
        json!([{
            "value": "IceConnectionFailure", "count": 1, "share": 1.0, "conferences": 1, "failure_category": "ice_nat"
        }])
    );
}

#[actix_web::test]
async fn conference_list_sorts_and_pages() {
    let f = fixture();
    let k = Some(f.key_a.as_str());
    let list =
        |sort: &str, extra: &str| format!("/api/v1/conferences?{}&sort={sort}{extra}", range());
    let recent = get(&f, k, &list("recent", "")).await.json();
    assert_eq!(
        ids(&recent["conferences"], "conference_id"),
        ["cA3", "cA2", "cA1"]
    );
    assert!(recent["next_cursor"].is_null());
    let first = &recent["conferences"][2];
    assert_eq!(first["users"], 2);
    assert_eq!(first["start_time"], T0 + 10 * H);
    assert_eq!(first["browsers"], json!(["Chrome", "Firefox"]));
    assert!(first.get("sort_key").is_none());

    // Worst quality: 3.6 before 4.1, no MOS last.
    let worst = get(&f, k, &list("worst_quality", "")).await.json();
    assert_eq!(
        ids(&worst["conferences"], "conference_id"),
        ["cA2", "cA1", "cA3"]
    );
    let setup = get(&f, k, &list("longest_setup", "")).await.json();
    assert_eq!(
        ids(&setup["conferences"], "conference_id"),
        ["cA2", "cA1", "cA3"]
    );
    let failed = get(&f, k, &list("failed", "")).await.json();
    assert_eq!(ids(&failed["conferences"], "conference_id"), ["cA3"]);

    // Pages of one, following the cursor, give the same order with nothing repeated.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let extra = match &cursor {
            Some(c) => format!("&limit=1&cursor={c}"),
            None => "&limit=1".to_owned(),
        };
        let page = get(&f, k, &list("worst_quality", &extra)).await;
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        let page = page.json();
        seen.extend(ids(&page["conferences"], "conference_id"));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["cA2", "cA1", "cA3"]);
    // A cursor belongs to its sort.
    let page = get(&f, k, &list("worst_quality", "&limit=1")).await.json();
    let c = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        get(&f, k, &list("recent", &format!("&cursor={c}")))
            .await
            .status,
        400
    );
}

#[actix_web::test]
async fn one_conference_in_full() {
    let f = fixture();
    let answer = get(&f, Some(&f.key_a), "/api/v1/conferences/cA1").await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let c = answer.json();
    assert_eq!(c["conference_id"], "cA1");
    assert_eq!(
        c["segments"].as_array().unwrap().len(),
        1,
        "B's cA1 must not show"
    );
    assert_eq!(c["segments"][0]["users"], 2);
    assert_eq!(
        c["segments"][0]["termination_reasons"],
        json!({"userLeft": 2})
    );
    assert_eq!(ids(&c["participants"], "user_id"), ["alice", "bob"]);
    assert_eq!(ids(&c["fabrics"], "connection_id"), ["pc-a1", "pc-b1"]);
    assert_eq!(c["fabrics"][0]["setup_delay_ms"], 400.0);
    assert_eq!(c["fabrics"][0]["outcome"], "setup");
    let timeline = c["quality_timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["user_id"], "alice");
    let mos: Vec<f64> = timeline[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mos"].as_f64().unwrap())
        .collect();
    assert_eq!(mos, [4.1, 4.3]);
    assert_eq!(timeline[0]["points"][0]["interval_start"], T0 + 10 * H + M);
    assert_eq!(timeline[1]["user_id"], "bob");
    assert_eq!(
        ids(&c["events"], "kind"),
        ["fabric_created", "fabric_setup"]
    );
    assert!(c["events"][0].get("payload_json").is_none());
    assert_eq!(ids(&c["feedback"], "user_id"), ["alice", "bob"]);
    assert_eq!(c["errors"], json!([]));
    assert_eq!(c["truncated"], json!([]));

    let failed = get(&f, Some(&f.key_a), "/api/v1/conferences/cA3")
        .await
        .json();
    assert_eq!(failed["errors"][0]["error_message"], "ICE failed");
    assert_eq!(
        failed["fabrics"][0]["failure_reason"],
        "IceConnectionFailure"
    );

    // A live conference has no summary yet, but its events.
    let live = get(&f, Some(&f.key_a), "/api/v1/conferences/live1")
        .await
        .json();
    assert_eq!(live["segments"], json!([]));
    assert_eq!(live["events"].as_array().unwrap().len(), 2);

    // B's conference does not exist for A; B sees its own cA1.
    assert_eq!(
        get(&f, Some(&f.key_a), "/api/v1/conferences/cB1")
            .await
            .status,
        404
    );
    assert_eq!(
        get(&f, Some(&f.key_a), "/api/v1/conferences/nope")
            .await
            .status,
        404
    );
    let b = get(&f, Some(&f.key_b), "/api/v1/conferences/cA1")
        .await
        .json();
    assert_eq!(b["segments"][0]["users"], 9);
    assert_eq!(b["fabrics"], json!([]));
}

#[actix_web::test]
async fn live_conferences_are_the_ones_without_a_row_yet() {
    let f = fixture();
    let a = get(&f, Some(&f.key_a), "/api/v1/live").await.json();
    let conferences = a["conferences"].as_array().unwrap();
    assert_eq!(ids(&a["conferences"], "conference_id"), ["live1"]);
    assert_eq!(conferences[0]["events"], 2);
    assert_eq!(conferences[0]["users"], 2);
    assert_eq!(conferences[0]["connections"], 2);
    assert_eq!(
        conferences[0]["last_event_at"].as_i64().unwrap()
            - conferences[0]["first_event_at"].as_i64().unwrap(),
        1_000
    );
    let b = get(&f, Some(&f.key_b), "/api/v1/live").await.json();
    assert_eq!(ids(&b["conferences"], "conference_id"), ["liveB"]);
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation

#[actix_web::test]
async fn app_a_never_sees_app_b_rows_through_the_dashboard() {
    let f = fixture();
    let k = Some(f.key_a.as_str());
    let all = [
        format!("/api/v1/overview?{}", range()),
        format!("/api/v1/breakdown/browser?{}", range()),
        format!("/api/v1/breakdown/relay_type?{}", range()),
        format!("/api/v1/conferences?{}&sort=longest_setup", range()),
        "/api/v1/conferences/cA1".to_owned(),
        "/api/v1/live".to_owned(),
    ];
    for uri in all {
        let answer = get(&f, k, &uri).await;
        assert_eq!(answer.status, 200, "{uri}");
        let text = String::from_utf8_lossy(&answer.body);
        for leak in ["cB1", "mallory", "Edge", "99999", "liveB", "turn/tls"] {
            assert!(!text.contains(leak), "{uri} shows B's {leak}: {text}");
        }
    }
}

#[actix_web::test]
async fn sql_sees_only_the_callers_app() {
    let f = fixture();
    let rows = |a: &Answer| a.json()["rows"].clone();
    let q = |s: &str| json!({"sql": s});
    let all = sql(
        &f,
        &f.key_a,
        q("SELECT conference_id FROM conferences ORDER BY conference_id"),
    )
    .await;
    assert_eq!(all.status, 200, "{}", String::from_utf8_lossy(&all.body));
    assert_eq!(
        ids(&rows(&all), "conference_id"),
        ["cA1", "cA2", "cA3", "cA4", "closed1"]
    );

    for attempt in [
        "SELECT conference_id FROM conferences WHERE app_id = 'appB'",
        "SELECT conference_id FROM conferences WHERE app_id <> 'appA' OR app_id IS NULL",
        "SELECT conference_id FROM conferences WHERE 1 = 0 UNION ALL SELECT conference_id FROM conferences WHERE app_id = 'appB'",
        "SELECT conference_id FROM fabrics WHERE conference_id IN (SELECT conference_id FROM conferences WHERE app_id = 'appB')",
        "SELECT c.conference_id FROM conferences c JOIN user_quality u ON u.app_id <> c.app_id",
        "WITH b AS (SELECT * FROM datafusion.public.conferences WHERE app_id = 'appB') SELECT conference_id FROM b",
        "SELECT conference_id FROM (SELECT * FROM events) e WHERE e.conference_id = 'cB1'",
        "SELECT user_id AS conference_id FROM user_quality WHERE browser = 'Edge'",
    ] {
        let answer = sql(&f, &f.key_a, q(attempt)).await;
        assert_eq!(
            answer.status,
            200,
            "{attempt}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(rows(&answer), json!([]), "{attempt}");
    }
    let apps = sql(
        &f,
        &f.key_a,
        q("SELECT DISTINCT app_id FROM events UNION SELECT DISTINCT app_id FROM feedback"),
    )
    .await;
    assert_eq!(rows(&apps), json!([{"app_id": "appA"}]));
    let b = sql(
        &f,
        &f.key_b,
        q("SELECT conference_id FROM conferences ORDER BY conference_id"),
    )
    .await;
    assert_eq!(ids(&rows(&b), "conference_id"), ["cA1", "cB1"]);

    // No way around the views: other catalogs, the information schema, file paths.
    let file = f
        .root
        .join("conferences/app_id=appB")
        .join(format!("date={DAY}"))
        .join("part-0.parquet");
    for attempt in [
        "SELECT * FROM information_schema.tables".to_owned(),
        "SELECT * FROM information_schema.columns".to_owned(),
        format!("SELECT * FROM '{}'", file.display()),
        format!("SELECT * FROM \"{}\"", file.display()),
        "SELECT * FROM other.public.conferences".to_owned(),
        "SELECT * FROM read_parquet('x.parquet')".to_owned(),
    ] {
        let answer = sql(&f, &f.key_a, q(&attempt)).await;
        assert_eq!(
            answer.status,
            400,
            "{attempt}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(answer.json().get("rows").is_none());
    }
}

#[actix_web::test]
async fn every_refused_statement_kind_is_a_400_naming_why() {
    let f = fixture();
    for (statement, reason) in [
        ("CREATE TABLE t AS SELECT * FROM conferences", "ddl"),
        ("CREATE VIEW v AS SELECT 1", "ddl"),
        ("DROP TABLE conferences", "ddl"),
        ("INSERT INTO conferences SELECT * FROM conferences", "dml"),
        ("DELETE FROM conferences", "dml"),
        ("UPDATE conferences SET users = 0", "dml"),
        ("COPY conferences TO '/tmp/leak.parquet'", "copy"),
        ("COPY (SELECT 1) TO '/tmp/leak.csv'", "copy"),
        (
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp'",
            "external_table",
        ),
        ("SET datafusion.execution.target_partitions = 1", "set"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        (
            "SELECT * FROM read_parquet('/etc/passwd')",
            "table_function",
        ),
        (
            "SELECT * FROM read_csv('http://example.invalid/x.csv')",
            "table_function",
        ),
        ("EXPLAIN SELECT * FROM conferences", "explain"),
        ("SHOW TABLES", "show"),
        ("", "empty"),
    ] {
        let answer = sql(&f, &f.key_a, json!({"sql": statement})).await;
        assert_eq!(answer.status, 400, "{statement}");
        let body = answer.json();
        assert_eq!(body["error"], "refused", "{statement}: {body}");
        assert_eq!(body["reason"], reason, "{statement}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    // SELECT INTO creates a table: refused by the plan check.
    let into = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT * INTO t2 FROM conferences"}),
    )
    .await;
    assert_eq!(into.status, 400);
    // Not SQL at all, and an unknown column: 400 with DataFusion's message.
    let bad = sql(&f, &f.key_a, json!({"sql": "SELEC 1"})).await;
    assert_eq!(
        (bad.status.as_u16(), bad.json()["error"].clone()),
        (400, json!("sql"))
    );
    let unknown = sql(&f, &f.key_a, json!({"sql": "SELECT nope FROM conferences"})).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.json()["message"].as_str().unwrap().contains("nope"));
    let not_json = send(
        &f,
        TestRequest::post()
            .uri("/api/v1/sql")
            .insert_header(("Authorization", format!("Bearer {}", f.key_a)))
            .set_payload("SELECT 1"),
    )
    .await;
    assert_eq!(not_json.status, 400);
}

// ---------------------------------------------------------------------------------------------
// SQL answers: formats and limits

#[actix_web::test]
async fn sql_answers_in_json_csv_and_arrow() {
    let f = fixture();
    let query = "SELECT conference_id, users, mean_mos, start_time FROM conferences WHERE date = '2024-03-01' ORDER BY conference_id";
    let j = sql(&f, &f.key_a, json!({"sql": query, "format": "json"})).await;
    assert_eq!(j.status, 200);
    assert_eq!(j.header("content-type"), Some("application/json"));
    assert_eq!(j.header("x-callscope-truncated"), Some("false"));
    assert_eq!(j.header("x-callscope-row-count"), Some("3"));
    let body = j.json();
    assert_eq!(body["row_count"], 3);
    assert_eq!(body["truncated"], false);
    assert_eq!(
        ids(&body["columns"], "name"),
        ["conference_id", "users", "mean_mos", "start_time"]
    );
    assert_eq!(body["rows"][0]["conference_id"], "cA1");
    assert_eq!(body["rows"][0]["users"], 2);
    assert_eq!(body["rows"][0]["mean_mos"], 4.2);
    assert!(
        body["rows"][2]["mean_mos"].is_null(),
        "nulls are written out"
    );
    assert_eq!(body["rows"][0]["start_time"], "2024-03-01T10:00:00Z");

    let c = sql_at(
        &f,
        &f.key_a,
        "/api/v1/sql?format=csv",
        json!({"sql": query}),
    )
    .await;
    assert_eq!(c.status, 200);
    assert!(c.header("content-type").unwrap().starts_with("text/csv"));
    let text = String::from_utf8(c.body.to_vec()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("conference_id,users,mean_mos,start_time")
    );
    assert!(lines.next().unwrap().starts_with("cA1,2,4.2,"));
    assert_eq!(text.lines().count(), 4);
    let empty = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT conference_id FROM conferences WHERE users > 100", "format": "csv"}),
    )
    .await;
    assert_eq!(
        String::from_utf8(empty.body.to_vec()).unwrap().trim(),
        "conference_id"
    );
    let list = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT browsers FROM conferences", "format": "csv"}),
    )
    .await;
    assert_eq!(
        list.status,
        400,
        "lists do not fit CSV: {}",
        String::from_utf8_lossy(&list.body)
    );

    let a = sql(&f, &f.key_a, json!({"sql": query, "format": "arrow"})).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("application/vnd.apache.arrow.stream")
    );
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(a.body.to_vec()), None)
            .unwrap();
    let schema = reader.schema();
    assert_eq!(schema.field(0).name(), "conference_id");
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    let users = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(users.value(0), 2);

    let bad = sql(&f, &f.key_a, json!({"sql": query, "format": "xml"})).await;
    assert_eq!(bad.status, 400);
}

#[actix_web::test]
async fn sql_results_are_cut_at_the_row_limit_and_say_so() {
    let f = fixture_with(|c| c.limits.max_result_rows = 2);
    let answer = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT conference_id FROM conferences ORDER BY conference_id"}),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-callscope-truncated"), Some("true"));
    assert_eq!(answer.header("x-callscope-row-limit"), Some("2"));
    let body = answer.json();
    assert_eq!(body["truncated"], true);
    assert_eq!(ids(&body["rows"], "conference_id"), ["cA1", "cA2"]);
    // Exactly at the limit is not truncated.
    let exact = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT 1 AS x UNION ALL SELECT 2"}),
    )
    .await;
    assert_eq!(exact.json()["truncated"], false);
}

#[actix_web::test]
async fn a_query_past_the_time_limit_is_cancelled_with_504() {
    let f = fixture_with(|c| c.limits.timeout_ms = 200);
    let answer = sql(
        &f,
        &f.key_a,
        json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000)"}),
    )
    .await;
    assert_eq!(
        answer.status,
        504,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("200 ms")
    );
}

#[actix_web::test]
async fn a_query_past_the_memory_limit_fails_with_422() {
    let f = fixture_with(|c| c.limits.memory_limit_bytes = 4 << 20);
    let answer = sql(&f, &f.key_a, json!({"sql": "SELECT value % 3000000 AS k, count(*) AS n FROM generate_series(1, 6000000) GROUP BY 1 ORDER BY 1"})).await;
    assert_eq!(
        answer.status,
        422,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["error"], "memory_limit");
}

// ---------------------------------------------------------------------------------------------
// Freshness, cache, operations

#[actix_web::test]
async fn a_new_file_shows_up_in_the_next_request() {
    let f = fixture_with(|c| c.limits.cache_ttl_ms = 0);
    let count = |a: Answer| a.json()["rows"][0]["n"].as_i64().unwrap();
    let q = json!({"sql": "SELECT count(*) AS n FROM conferences"});
    assert_eq!(count(sql(&f, &f.key_a, q.clone()).await), 5);
    let list = format!("/api/v1/conferences?{}", range());
    assert_eq!(
        get(&f, Some(&f.key_a), &list).await.json()["conferences"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    write(
        &f.root,
        "conferences",
        "appA",
        DAY,
        "part-1.parquet",
        &[vec![
            ("conference_id", S("cA5")),
            ("start_time", T(T0 + 11 * H + 50 * M)),
            ("last_event_at", T(T0 + 11 * H + 55 * M)),
            ("users", I(1)),
            ("fabrics", I(1)),
        ]],
    );
    assert_eq!(count(sql(&f, &f.key_a, q).await), 6);
    let after = get(&f, Some(&f.key_a), &list).await.json();
    assert_eq!(
        ids(&after["conferences"], "conference_id"),
        ["cA5", "cA3", "cA2", "cA1"]
    );
}

#[actix_web::test]
async fn a_file_from_before_a_column_was_added_reads_it_as_null() {
    // `user_quality.mean_audio_bitrate_bps` and `mean_video_bitrate_bps` came after files
    // already written: such a file still answers, the new columns null, the others as written.
    let f = fixture_with(|c| c.limits.cache_ttl_ms = 0);
    write_without(
        &f.root,
        "user_quality",
        "appA",
        DAY,
        "part-old.parquet",
        &[vec![
            ("conference_id", S("cA1")),
            ("user_id", S("olduser")),
            ("measured_ms", I(20_000)),
            ("mean_bitrate_bps", F(870_000.0)),
        ]],
        &["mean_audio_bitrate_bps", "mean_video_bitrate_bps"],
    );
    let q = json!({"sql": "SELECT measured_ms, mean_bitrate_bps, mean_audio_bitrate_bps, \
        mean_video_bitrate_bps FROM user_quality WHERE user_id = 'olduser'"});
    let a = sql(&f, &f.key_a, q).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.json()["rows"],
        json!([{"measured_ms": 20_000, "mean_bitrate_bps": 870_000.0,
                "mean_audio_bitrate_bps": null, "mean_video_bitrate_bps": null}])
    );
    // The conference view reads every column of the user's row too.
    let conf = get(&f, Some(&f.key_a), "/api/v1/conferences/cA1").await;
    assert_eq!(conf.status, 200, "{:?}", conf.body);
    let old = conf.json()["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == "olduser")
        .cloned()
        .unwrap();
    assert_eq!(old["mean_video_bitrate_bps"], Value::Null);
    assert_eq!(old["measured_ms"], 20_000);
}

#[actix_web::test]
async fn integration_checklist_sums_the_rows_of_the_range_per_app() {
    let f = fixture_with(|c| c.limits.cache_ttl_ms = 0);
    // An empty lake part: no integration file yet, every line grey.
    let empty = get(&f, Some(&f.key_a), "/api/v1/integration").await;
    assert_eq!(empty.status, 200);
    let empty = empty.json();
    assert_eq!(
        (
            empty["green"].clone(),
            empty["amber"].clone(),
            empty["grey"].clone()
        ),
        (json!(0), json!(0), json!(20))
    );

    let now = now();
    let row =
        |item: &'static str, end: i64, accepted: i64, refused: i64, error: Option<&'static str>| {
            let mut r: Row = vec![
                ("window_start", T(end - 1_000)),
                ("window_end", T(end)),
                ("item", S(item)),
                ("accepted", I(accepted)),
                ("refused", I(refused)),
            ];
            if accepted > 0 {
                r.push(("last_seen", T(end - 500)));
            }
            if let Some(e) = error {
                r.push(("last_refused", T(end - 100)));
                r.push(("last_error", S(e)));
                r.push(("last_field", S("events[0].data.eventType")));
                r.push(("last_status", I(422)));
            }
            r
        };
    // A: two intervals of handshakes, two refused fabric events an hour apart, and a refusal
    // 30 days ago (outside the default 7 days).
    write(
        &f.root,
        "integration",
        "appA",
        &today(now),
        "part-0.parquet",
        &[
            row("initialize", now - 2 * H, 1, 0, None),
            row("initialize", now - H, 2, 0, None),
            row("send_fabric_event", now - 2 * H, 0, 1, Some("old error")),
            row("send_fabric_event", now - H, 0, 1, Some("new error")),
        ],
    );
    write(
        &f.root,
        "integration",
        "appA",
        &today(now - 30 * 24 * H),
        "part-0.parquet",
        &[row("stats", now - 30 * 24 * H, 0, 5, Some("a month ago"))],
    );
    // B: a refusal that must never show to A.
    write(
        &f.root,
        "integration",
        "appB",
        &today(now),
        "part-0.parquet",
        &[row("stats", now - H, 3, 1, Some("B-secret-error"))],
    );
    let a = get(&f, Some(&f.key_a), "/api/v1/integration").await.json();
    assert_eq!(
        (a["green"].clone(), a["amber"].clone(), a["grey"].clone()),
        (json!(1), json!(1), json!(18)),
        "{a}"
    );
    let line = |v: &Value, id: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["item"] == id)
            .unwrap()
            .clone()
    };
    let init = line(&a, "initialize");
    assert_eq!(
        (init["status"].clone(), init["accepted"].clone()),
        (json!("green"), json!(3))
    );
    assert_eq!(init["last_seen"], now - H - 500);
    let sfe = line(&a, "send_fabric_event");
    assert_eq!(
        (sfe["status"].clone(), sfe["refused"].clone()),
        (json!("amber"), json!(2))
    );
    let errors: Vec<&str> = sfe["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["new error", "old error"], "most recent first");
    assert_eq!(sfe["refusals"][0]["field"], "events[0].data.eventType");
    assert_eq!(sfe["refusals"][0]["status"], 422);
    assert!(sfe["fix"].as_str().unwrap().contains("fabricEvent"));
    // The month-old refusal is outside the default range; a 60-day range shows it.
    assert_eq!(line(&a, "stats")["status"], "grey");
    let wide = get(&f, Some(&f.key_a), "/api/v1/integration?from=-60d")
        .await
        .json();
    assert_eq!(line(&wide, "stats")["refused"], 5);
    let text = serde_json::to_string(&wide).unwrap();
    assert!(
        !text.contains("B-secret-error"),
        "A sees B's refusal: {text}"
    );
    let b = get(&f, Some(&f.key_b), "/api/v1/integration").await.json();
    let stats = line(&b, "stats");
    assert_eq!(
        (
            stats["status"].clone(),
            stats["accepted"].clone(),
            stats["refused"].clone()
        ),
        (json!("amber"), json!(3), json!(1))
    );
    assert_eq!(line(&b, "initialize")["status"], "grey");
}

#[actix_web::test]
async fn a_repeated_dashboard_request_is_a_cache_hit() {
    let f = fixture();
    let uri = format!("/api/v1/overview?{}", range());
    let first = get(&f, Some(&f.key_a), &uri).await;
    assert_eq!(first.header("x-callscope-cache"), Some("miss"));
    let second = get(&f, Some(&f.key_a), &uri).await;
    assert_eq!(second.header("x-callscope-cache"), Some("hit"));
    assert_eq!(first.body, second.body);
    // The same URL for another app is another entry.
    let b = get(&f, Some(&f.key_b), &uri).await;
    assert_eq!(b.header("x-callscope-cache"), Some("miss"));
    assert_ne!(b.body, first.body);
    let metrics = String::from_utf8(get(&f, None, "/metrics").await.body.to_vec()).unwrap();
    assert!(
        metrics.contains("callscope_query_cache_hits_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("callscope_query_cache_misses_total 2"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn metrics_health_and_the_dashboard_page() {
    let f = fixture();
    get(
        &f,
        Some(&f.key_a),
        &format!("/api/v1/conferences?{}", range()),
    )
    .await;
    get(&f, None, "/api/v1/live").await;
    let metrics = String::from_utf8(get(&f, None, "/metrics").await.body.to_vec()).unwrap();
    for name in callscope_query::METRIC_NAMES {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(
        metrics.contains(
            "callscope_query_requests_total{endpoint=\"/api/v1/conferences\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("callscope_query_requests_total{endpoint=\"/api/v1/live\",status=\"401\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "callscope_query_request_duration_seconds_bucket{endpoint=\"/api/v1/conferences\""
    ));
    let scanned = metrics
        .lines()
        .find_map(|l| l.strip_prefix("callscope_query_rows_scanned_total "))
        .unwrap();
    assert!(scanned.parse::<u64>().unwrap() >= 3, "{scanned}");

    assert_eq!(get(&f, None, "/healthz").await.status, 200);
    assert_eq!(get(&f, None, "/readyz").await.status, 200);
    let page = get(&f, None, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.contains("/static/uPlot.iife.min.js") && html.contains("/static/app.js"));
    for file in ["app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"] {
        let asset = get(&f, None, &format!("/static/{file}")).await;
        assert_eq!(asset.status, 200, "{file}");
        assert!(!asset.body.is_empty());
    }
    assert_eq!(get(&f, None, "/static/../Cargo.toml").await.status, 404);
}

#[test]
fn a_short_admin_key_is_refused_at_start() {
    let config = QueryConfig {
        admin_key: Some(Secret::new("short")),
        ..QueryConfig::default()
    };
    assert!(QueryState::new(config, Registry::in_memory(Vec::new())).is_err());
}

/// Not a test: serves the test lake, shifted to the last hours, for trying the dashboard in a
/// browser. `CALLSCOPE_DEMO_LISTEN=127.0.0.1:8081 cargo test -p callscope-query --test api --
/// --ignored serve_demo_lake --nocapture`, then sign in with the printed key.
#[actix_web::test]
#[ignore = "runs a server until killed"]
async fn serve_demo_lake() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let t0 = (now() / H) * H - 12 * H;
    build_lake_at(&root, t0);
    let registry = Registry::in_memory(Vec::new());
    registry.add("A", Some("appA")).unwrap();
    let key = registry.add_query_key("appA").unwrap();
    let config = QueryConfig {
        lake: root.display().to_string(),
        listen: std::env::var("CALLSCOPE_DEMO_LISTEN")
            .unwrap_or_else(|_| "127.0.0.1:8081".to_owned())
            .parse()
            .unwrap(),
        ..QueryConfig::default()
    };
    let state = web::Data::new(QueryState::new(config, registry).unwrap());
    println!("demo lake {} ; query key {key}", root.display());
    callscope_query::server(state).unwrap().await.unwrap();
}
