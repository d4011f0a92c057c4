//! Conformance with another tool, through the whole pipeline: every rtcstats dump in
//! `../shared/fixtures/rtcstats-dumps/dumps` (relative to the repository root) is imported exactly
//! as `callscope import --direct` does (converted, validated, written as batch records onto an
//! embedded bus), the processor consumes it until every conference is closed and every file is
//! flushed, and the processor's Parquet tables (`fabrics`, plus `user_quality` for the browser and
//! `stats_samples` for one Firefox quirk) are compared per peer connection with
//! `expected/<name>.json`, the features jitsi/rtcstats-server's extractor computed from the same
//! dump (`features.aggregates.PC_n`). The fixtures live outside this repository; when the folder
//! is absent the test says so and returns.
//!
//! Tolerances and every difference of definition are in `docs/quality.md` ("Conformance with
//! rtcstats-server"); the constants below are those tolerances.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, TimestampMillisecondType};
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, DEAD_LETTER_TOPIC, INGEST_TOPIC};
use callscope_processor::checkpoint::Checkpoint;
use callscope_processor::writer::Store;
use callscope_processor::{Metrics, ProcessorConfig};
use callscope_schemas::{Envelope, Origin, Payload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use super::convert::{self, Conversion};

const APP: &str = "conformance";
/// Session duration: within max(1 s, 5 %).
const DURATION_ABS_MS: f64 = 1_000.0;
const DURATION_REL: f64 = 0.05;
/// Packet counts: within max(2 packets, 0.5 %).
const PACKETS_ABS: f64 = 2.0;
const PACKETS_REL: f64 = 0.005;
/// Loss percentages: 0.011 points (they round to two decimals).
const PCT_ABS: f64 = 0.011;

/// `../shared/fixtures/rtcstats-dumps` from the repository root, resolved when the test runs
/// (not when it is compiled: a shared build cache may have compiled it in another checkout).
fn fixtures() -> PathBuf {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    root.join("../shared/fixtures/rtcstats-dumps")
}

/// rtcstats-server's loss percentage: lost / total × 100, two decimals, 0 unless 0 < lost < total.
fn their_pct(lost: f64, total: f64) -> f64 {
    if total > 0.0 && lost > 0.0 && lost < total {
        (lost / total * 10_000.0).round() / 100.0
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

// ---------------------------------------------------------------------------------------------
// Reading the processor's tables
// ---------------------------------------------------------------------------------------------

/// Every `.parquet` file under `dir`, skipping hidden and `_` entries as readers do.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if name.ends_with(".parquet") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn batches(out: &Path, table: &str) -> Vec<RecordBatch> {
    parquet_files(&out.join(table))
        .into_iter()
        .flat_map(|file| {
            let f = std::fs::File::open(&file).expect("parquet file");
            ParquetRecordBatchReaderBuilder::try_new(f)
                .expect("parquet metadata")
                .build()
                .expect("parquet reader")
                .map(|b| b.expect("record batch"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Typed access to the cells of one row of a batch, by column name.
struct RowRef<'a> {
    batch: &'a RecordBatch,
    i: usize,
}

impl RowRef<'_> {
    fn col(&self, name: &str) -> &dyn Array {
        self.batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .as_ref()
    }
    fn str(&self, name: &str) -> Option<String> {
        let a = self.col(name).as_any().downcast_ref::<StringArray>()?;
        a.is_valid(self.i).then(|| a.value(self.i).to_owned())
    }
    fn i64(&self, name: &str) -> Option<i64> {
        let c = self.col(name);
        if !c.is_valid(self.i) {
            return None;
        }
        match c.data_type() {
            DataType::Int64 => c
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.value(self.i)),
            DataType::Int32 => c
                .as_any()
                .downcast_ref::<Int32Array>()
                .map(|a| i64::from(a.value(self.i))),
            DataType::Timestamp(..) => {
                Some(c.as_primitive::<TimestampMillisecondType>().value(self.i))
            }
            t => panic!("{name}: {t} is not an integer"),
        }
    }
    fn f64(&self, name: &str) -> Option<f64> {
        let a = self.col(name).as_any().downcast_ref::<Float64Array>()?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }
    fn bool(&self, name: &str) -> Option<bool> {
        let a = self.col(name).as_any().downcast_ref::<BooleanArray>()?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }
}

fn rows(batches: &[RecordBatch]) -> impl Iterator<Item = RowRef<'_>> {
    batches
        .iter()
        .flat_map(|batch| (0..batch.num_rows()).map(move |i| RowRef { batch, i }))
}

/// One `fabrics` row: what the processor says about one peer connection.
#[derive(Debug, Default)]
struct Fabric {
    created_at: Option<i64>,
    setup_at: Option<i64>,
    terminated_at: Option<i64>,
    dropped_at: Option<i64>,
    outcome: String,
    dropped: bool,
    relayed: Option<bool>,
    remote_endpoint_type: Option<String>,
    ice_restarts: i64,
    disruptions: i64,
    recovered_disruptions: Option<i64>,
    duration_ms: Option<i64>,
    packets_received: f64,
    packets_received_lost: f64,
    packets_sent: f64,
    packets_sent_lost: f64,
    received_loss_pct: Option<f64>,
    sent_loss_pct: Option<f64>,
}

fn read_fabric(r: &RowRef<'_>) -> Fabric {
    let count = |name: &str| r.i64(name).unwrap_or(0) as f64;
    Fabric {
        created_at: r.i64("created_at"),
        setup_at: r.i64("setup_at"),
        terminated_at: r.i64("terminated_at"),
        dropped_at: r.i64("dropped_at"),
        outcome: r.str("outcome").unwrap_or_default(),
        dropped: r.bool("dropped").unwrap_or(false),
        relayed: r.bool("relayed"),
        remote_endpoint_type: r.str("remote_endpoint_type"),
        ice_restarts: r.i64("ice_restarts").unwrap_or(0),
        disruptions: r.i64("disruptions").unwrap_or(0),
        recovered_disruptions: r.i64("recovered_disruptions"),
        duration_ms: r.i64("duration_ms"),
        packets_received: count("packets_received"),
        packets_received_lost: count("packets_received_lost"),
        packets_sent: count("packets_sent"),
        packets_sent_lost: count("packets_sent_lost"),
        received_loss_pct: r.f64("received_loss_pct"),
        sent_loss_pct: r.f64("sent_loss_pct"),
    }
}

/// What the processor wrote for one imported dump.
struct Output {
    /// connection id → its fabric rows (one expected).
    fabrics: BTreeMap<String, Vec<Fabric>>,
    segments: Vec<i64>,
    browser: Option<String>,
    /// connection id → Σ over SSRCs of the last `remote-inbound-rtp.packetsReceived` (Firefox).
    remote_inbound_received: BTreeMap<String, f64>,
}

fn read_output(out: &Path, conference_id: &str) -> Output {
    let mut fabrics: BTreeMap<String, Vec<Fabric>> = BTreeMap::new();
    let fabric_batches = batches(out, "fabrics");
    for r in rows(&fabric_batches) {
        if r.str("conference_id").as_deref() == Some(conference_id) {
            let pc = r.str("connection_id").unwrap_or_default();
            fabrics.entry(pc).or_default().push(read_fabric(&r));
        }
    }
    let conference_batches = batches(out, "conferences");
    let segments = rows(&conference_batches)
        .filter(|r| r.str("conference_id").as_deref() == Some(conference_id))
        .filter_map(|r| r.i64("segment"))
        .collect();
    let user_batches = batches(out, "user_quality");
    let browser = rows(&user_batches)
        .filter(|r| r.str("conference_id").as_deref() == Some(conference_id))
        .find_map(|r| r.str("browser"));
    // (pc, ssrc) → (sample time, packetsReceived) of the latest remote-inbound-rtp report.
    let mut last: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let sample_batches = batches(out, "stats_samples");
    for r in rows(&sample_batches) {
        if r.str("conference_id").as_deref() != Some(conference_id)
            || r.str("report_type").as_deref() != Some("remote-inbound-rtp")
        {
            continue;
        }
        let (Some(pc), Some(ssrc), Some(ts), Some(received)) = (
            r.str("connection_id"),
            r.i64("ssrc"),
            r.i64("sample_ts"),
            r.i64("packets_received"),
        ) else {
            continue;
        };
        let slot = last.entry((pc, ssrc)).or_insert((ts, received));
        if ts >= slot.0 {
            *slot = (ts, received);
        }
    }
    let mut remote_inbound_received: BTreeMap<String, f64> = BTreeMap::new();
    for ((pc, _), (_, received)) in last {
        *remote_inbound_received.entry(pc).or_default() += received as f64;
    }
    Output {
        fabrics,
        segments,
        browser,
        remote_inbound_received,
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline: import --direct onto an embedded bus, then the processor
// ---------------------------------------------------------------------------------------------

/// Imports one dump into a fresh embedded bus as `callscope import --direct` does, runs the
/// processor until every conference is closed and flushed, and returns the tables' directory.
/// `end_ms` is the dump's latest event time.
async fn import_and_process(path: &Path, dir: &Path, end_ms: f64) -> super::Report {
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.join("bus/bus.redb"))).expect("bus");
    bus.ensure_topics(&[(INGEST_TOPIC, 1), (DEAD_LETTER_TOPIC, 1)])
        .await
        .expect("topics");
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    let sink = super::Sink::Bus {
        app_id: APP.to_owned(),
        producer: shared.producer().expect("producer"),
        _bus: Arc::clone(&shared),
    };
    let args = super::ImportArgs {
        files: vec![path.to_owned()],
        url: String::new(),
        app_id: Some(APP.to_owned()),
        app_secret: None,
        direct: true,
        conference_id: None,
        dry_run: false,
        quiet: true,
    };
    let mut report = super::Report::default();
    super::import_file(path, &args, &sink, &mut report)
        .await
        .expect("import");

    // The processor closes a conference on its partition's event clock (the dump's time, as the
    // import keeps it): one message an hour after the dump, of another conference and of a kind
    // that opens none, moves the clock past every timeout and grace period.
    let super::Sink::Bus { producer, .. } = &sink else {
        unreachable!("a bus sink");
    };
    let payload: Payload =
        serde_json::from_value(serde_json::json!({"kind": "user_alive", "data": {}}))
            .expect("user_alive");
    let mut clock = Envelope::new(
        APP,
        "conformance-clock",
        end_ms as i64 + 3_600_000,
        Origin::Import,
        payload,
    );
    clock.user_id = Some("clock".to_owned());
    assert_eq!(
        super::write_record(producer.as_ref(), &[clock])
            .await
            .expect("clock record"),
        None
    );
    producer
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let last_offset = bus.end_offsets(INGEST_TOPIC).expect("end offsets")[0] - 1;

    let out = dir.join("tables");
    let config = ProcessorConfig {
        output: out.to_string_lossy().into_owned(),
        flush_interval_ms: 100,
        ..ProcessorConfig::default()
    };
    let metrics = Metrics::new().expect("metrics");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(callscope_processor::run(
        Arc::clone(&shared),
        config,
        metrics.clone(),
        shutdown,
    ));
    let store = Store::Local { root: out.clone() };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(!task.is_finished(), "the processor stopped early");
        let cp = Checkpoint::load(&store, INGEST_TOPIC, 0)
            .await
            .expect("checkpoint");
        let flushed =
            cp.flushed_through_offset.is_some_and(|f| f >= last_offset) && cp.pending.is_none();
        if flushed && metrics.open_conferences.get() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the processor did not finish (open conferences {}, checkpoint {:?})",
            path.display(),
            metrics.open_conferences.get(),
            cp.flushed_through_offset
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the processor stops")
        .expect("processor task")
        .expect("processor run");
    assert_eq!(metrics.dead_letters.get(), 0, "dead letters");
    report
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// Checks one PC's fabric row against rtcstats-server's aggregates; returns the mismatches.
fn compare(
    pc: &str,
    ours: &Fabric,
    remote_inbound_received: f64,
    theirs: &Value,
    firefox: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("{pc}: {what}"));
        }
    };

    if let Some(failed) = theirs.get("connectionFailed").and_then(Value::as_bool) {
        let ours_failed = ours.outcome == "failed" || ours.dropped;
        check(
            failed == ours_failed,
            format!(
                "connectionFailed {failed}, our outcome {} dropped {}",
                ours.outcome, ours.dropped
            ),
        );
    }

    if let Some(reconnects) = num(theirs, &["iceReconnects"]) {
        let low = ours.recovered_disruptions.unwrap_or(0) as f64;
        let high = (ours.disruptions + ours.ice_restarts) as f64;
        check(
            (low..=high).contains(&reconnects),
            format!(
                "iceReconnects {reconnects} outside [{low}, {high}] (recovered disruptions, disruptions + ICE restarts)"
            ),
        );
    }

    if let Some(duration) = num(theirs, &["pcSessionDurationMs"]) {
        if duration == 0.0 {
            check(
                ours.setup_at.is_none(),
                format!(
                    "pcSessionDurationMs 0 (never connected) but set up at {:?}",
                    ours.setup_at
                ),
            );
        } else {
            let tolerance = DURATION_ABS_MS.max(DURATION_REL * duration);
            match (ours.setup_at, ours.dropped_at.or(ours.terminated_at)) {
                (Some(setup), Some(end)) => {
                    let connected = (end - setup) as f64;
                    check(
                        (connected - duration).abs() <= tolerance,
                        format!(
                            "pcSessionDurationMs {duration}, ours setup_at → dropped_at/terminated_at {connected} (±{tolerance})"
                        ),
                    );
                    if ours.dropped_at.is_none()
                        && let (Some(created), Some(life)) = (ours.created_at, ours.duration_ms)
                    {
                        let widened = tolerance + (setup - created) as f64;
                        check(
                            (life as f64 - duration).abs() <= widened,
                            format!(
                                "pcSessionDurationMs {duration}, our duration_ms {life} (±{widened}, the setup delay added)"
                            ),
                        );
                    }
                }
                other => check(
                    false,
                    format!("pcSessionDurationMs {duration} but our setup/end is {other:?}"),
                ),
            }
        }
    }

    if let Some(relay) = theirs
        .get("candidatePairData")
        .and_then(|c| c.get("isUsingRelay"))
        .and_then(Value::as_bool)
    {
        check(
            ours.relayed == Some(relay),
            format!("isUsingRelay {relay}, our relayed {:?}", ours.relayed),
        );
    }

    if let Some(p2p) = theirs.get("isP2P").and_then(Value::as_bool) {
        let want = if p2p { "peer" } else { "server" };
        check(
            ours.remote_endpoint_type.as_deref() == Some(want),
            format!(
                "isP2P {p2p}, our remote_endpoint_type {:?}",
                ours.remote_endpoint_type
            ),
        );
    }

    if let Some(agg) = theirs.get("trackAggregates") {
        // Their definitions on our totals (docs/quality.md): Firefox's remote-inbound-rtp
        // reports count as received for them, and they see nothing sent.
        let (received, received_lost, sent) = if firefox {
            (
                ours.packets_received + remote_inbound_received,
                ours.packets_received_lost + ours.packets_sent_lost,
                0.0,
            )
        } else {
            (
                ours.packets_received,
                ours.packets_received_lost,
                ours.packets_sent,
            )
        };
        let counts = [
            ("totalPacketsReceived", received),
            ("totalReceivedPacketsLost", received_lost),
            ("totalPacketsSent", sent),
            ("totalSentPacketsLost", ours.packets_sent_lost),
        ];
        for (field, ours_value) in counts {
            if let Some(theirs_value) = num(agg, &[field]) {
                check(
                    within(ours_value, theirs_value, PACKETS_ABS, PACKETS_REL),
                    format!("{field} {theirs_value}, ours {ours_value}"),
                );
            }
        }
        if let Some(theirs_pct) = num(agg, &["receivedPacketsLostPct"]) {
            let recomputed = their_pct(received_lost, received);
            check(
                within(recomputed, theirs_pct, PCT_ABS, 0.0),
                format!(
                    "receivedPacketsLostPct {theirs_pct}, their formula on our totals {recomputed}"
                ),
            );
            if !firefox {
                // Ours is lost / (received + lost): theirs scaled by received / expected.
                let ours_pct = ours.received_loss_pct.unwrap_or(0.0);
                let expected = ours.packets_received + ours.packets_received_lost;
                let scaled = if expected > 0.0 {
                    theirs_pct * ours.packets_received / expected
                } else {
                    0.0
                };
                check(
                    within(ours_pct, scaled, PCT_ABS, 0.0) && ours_pct <= theirs_pct + PCT_ABS,
                    format!(
                        "receivedPacketsLostPct {theirs_pct}, our received_loss_pct {ours_pct} (want {scaled})"
                    ),
                );
            }
        }
        if let Some(theirs_pct) = num(agg, &["sentPacketsLostPct"]) {
            // Same definition (lost / sent) where they see the sent packets.
            let ours_pct = if firefox {
                their_pct(ours.packets_sent_lost, 0.0)
            } else {
                ours.sent_loss_pct.unwrap_or(0.0)
            };
            check(
                within(ours_pct, theirs_pct, PCT_ABS, 0.0),
                format!("sentPacketsLostPct {theirs_pct}, our sent_loss_pct {ours_pct}"),
            );
        }
    }
    problems
}

/// Every event the converter makes must pass ingest's validation.
fn validate_all(name: &str, c: &Conversion) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, e) in c.events.iter().enumerate() {
        let checked = e
            .batch_item()
            .map_err(|err| err.to_string())
            .and_then(|item| item.payload(i).map_err(|err| err.to_string()))
            .and_then(|payload| {
                let mut env = Envelope::new(
                    APP,
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

fn expected_aggregates(root: &Path, name: &str) -> Option<serde_json::Map<String, Value>> {
    let path = root.join("expected").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).ok()?;
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value = match value {
        Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
        other => other,
    };
    value
        .get("features")
        .and_then(|f| f.get("aggregates"))
        .and_then(Value::as_object)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcstats_dumps_through_the_processor_match_rtcstats_server() {
    let root = fixtures();
    let dumps_dir = root.join("dumps");
    let Ok(listing) = std::fs::read_dir(&dumps_dir) else {
        eprintln!(
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
        let conversion = convert::convert(
            &String::from_utf8_lossy(&std::fs::read(path).expect("dump")),
            &convert::fallback_user_id_for(path),
        );
        problems.extend(validate_all(&name, &conversion));

        let dir = tempfile::tempdir().expect("tempdir");
        let end_ms = conversion
            .events
            .iter()
            .map(|e| e.timestamp_ms)
            .fold(0.0, f64::max);
        let report = import_and_process(path, dir.path(), end_ms).await;
        let mut note = |what: String| problems.push(format!("{name}: {what}"));
        if report.invalid_events > 0 || !report.refused.is_empty() {
            note(format!(
                "import: {} invalid events, refused {:?}",
                report.invalid_events, report.refused
            ));
        }
        let conference_id = convert::conference_id_for(path);
        let out = read_output(&dir.path().join("tables"), &conference_id);
        println!(
            "{name}: {} lines, {} events, conference {conference_id} segments {:?}, browser {:?}",
            conversion.lines,
            conversion.events.len(),
            out.segments,
            out.browser
        );
        // Segments are not compared: the processor closes a conference silent for its
        // timeout, and a dump may be silent that long before its first connection (a failed
        // getUserMedia 46 s before the call in chrome-standard-pc-failed). Each PC must still be
        // one fabric, in one segment.
        if out.segments.is_empty() {
            note("the processor wrote no conference row".to_owned());
        }

        let Some(aggregates) = expected_aggregates(&root, &name) else {
            println!("  no expected/{name}.json with features.aggregates: not compared");
            continue;
        };
        let firefox = out.browser.as_deref() == Some("Firefox");
        for (pc, theirs) in &aggregates {
            let fabrics = out.fabrics.get(pc).map(Vec::as_slice).unwrap_or_default();
            let [ours] = fabrics else {
                note(format!(
                    "{pc}: one fabrics row expected, the processor wrote {}",
                    fabrics.len()
                ));
                continue;
            };
            let remote_received = out.remote_inbound_received.get(pc).copied().unwrap_or(0.0);
            println!(
                "  {pc}: outcome {} dropped {} | failed {:?} | reconnects [{:?}, {}+{}] vs {:?} | \
                 session {:?} vs {:?} | relay {:?} vs {:?} | recv {}(+{} remote)/{} lost vs {:?}/{:?} | \
                 sent {}/{} lost vs {:?}/{:?} | loss% {:?}/{:?} vs {:?}/{:?}",
                ours.outcome,
                ours.dropped,
                theirs.get("connectionFailed"),
                ours.recovered_disruptions,
                ours.disruptions,
                ours.ice_restarts,
                num(theirs, &["iceReconnects"]),
                ours.setup_at
                    .zip(ours.dropped_at.or(ours.terminated_at))
                    .map(|(s, e)| e - s),
                num(theirs, &["pcSessionDurationMs"]),
                ours.relayed,
                theirs
                    .get("candidatePairData")
                    .and_then(|c| c.get("isUsingRelay")),
                ours.packets_received,
                remote_received,
                ours.packets_received_lost,
                num(theirs, &["trackAggregates", "totalPacketsReceived"]),
                num(theirs, &["trackAggregates", "totalReceivedPacketsLost"]),
                ours.packets_sent,
                ours.packets_sent_lost,
                num(theirs, &["trackAggregates", "totalPacketsSent"]),
                num(theirs, &["trackAggregates", "totalSentPacketsLost"]),
                ours.received_loss_pct,
                ours.sent_loss_pct,
                num(theirs, &["trackAggregates", "receivedPacketsLostPct"]),
                num(theirs, &["trackAggregates", "sentPacketsLostPct"]),
            );
            for p in compare(pc, ours, remote_received, theirs, firefox) {
                note(p);
            }
            compared += 1;
        }
    }
    println!(
        "{} dumps imported and processed, {compared} peer connections compared",
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
    assert!(within(101.0, 100.0, PACKETS_ABS, PACKETS_REL));
    assert!(!within(103.0, 100.0, PACKETS_ABS, PACKETS_REL));
}
