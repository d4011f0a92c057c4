//! The processor end to end on the embedded bus and a local output directory: the scripted
//! conference in, Parquet out, read back by the parquet crate and by pyarrow/DuckDB; poison
//! records; recovery of an unfinished flush; a stop and restart mid-stream.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use std::path::Path;
use std::sync::Arc;

use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_bus::{
    Bus, ConsumerEvent, DEAD_LETTER_REASON_HEADER, DEAD_LETTER_TOPIC, INGEST_TOPIC,
};
use callscope_processor::checkpoint::{Checkpoint, Pending};
use callscope_processor::writer::Store;
use callscope_processor::{EndOffsets, Metrics, ProcessorConfig};
use callscope_schemas::encode_record;
use callscope_schemas::{Envelope, Origin, Payload};
use common::scenario::{self, APP, T0};
use common::{Env, all_tables, run_python, table_rows, wait_for};
use serde_json::json;
use tokio::sync::watch;

/// An envelope of conference `conf` received at `received` that opens no segment: it moves
/// its partition's event clock, closing what has timed out.
fn clock(conf: &str, received: i64) -> Vec<Envelope> {
    let payload: Payload =
        serde_json::from_value(json!({"kind": "user_alive", "data": {}})).unwrap();
    vec![Envelope::new(APP, conf, received, Origin::Rest, payload)]
}

/// The scripted conference, an idle one that times out, and a clock record 200 s later.
fn scripted_input() -> Vec<Vec<Envelope>> {
    let mut records = scenario::idle_records("conf-idle", T0);
    records.extend(scenario::records("conf-main", T0));
    records.push(clock("conf-clock", T0 + 200_000));
    records
}

fn value<'a>(rows: &'a [String], filter: &str, column: &str) -> &'a str {
    let row = rows
        .iter()
        .find(|r| r.contains(filter))
        .unwrap_or_else(|| panic!("no row with {filter}"));
    let key = format!("|{column}=");
    let start = row
        .find(&key)
        .unwrap_or_else(|| panic!("no column {column}"))
        + key.len();
    let rest = &row[start..];
    &rest[..rest.find('|').unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_conference_to_parquet_read_by_parquet_and_pyarrow() {
    let env = Env::new(1).await;
    let input = scripted_input();
    env.produce(&input).await;
    let running = env.start(env.config());
    wait_for(30, "every record flushed", || env.all_flushed()).await;
    wait_for(10, "both conferences closed", || async {
        running.metrics.open_conferences.get() == 0
    })
    .await;
    let files = running
        .metrics
        .files_written
        .with_label_values(&["conferences"])
        .get();
    let rows = running
        .metrics
        .rows_written
        .with_label_values(&["conferences"])
        .get();
    running.stop().await;
    // The segments closed in one flush share a file.
    assert_eq!(rows, 2, "one conferences row per closed segment");
    assert!((1..=2).contains(&files), "{files} conferences files");
    check_scripted_output(&env.out(), &input);
}

/// The same on a real Apache Kafka broker (`KAFKA_BROKERS`, started by `scripts/test`): a fresh
/// topic, the processor in its own consumer group, lag from the broker's watermarks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_scripted_conference_to_parquet_read_by_parquet_and_pyarrow() {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test (it starts a real broker), or export KAFKA_BROKERS=host:port")
    });
    let bus = KafkaBus::new(KafkaConfig::new(brokers));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let topic = format!("callscope.test.pipeline.{}.{stamp}", std::process::id());
    bus.ensure_topics(&[(topic.as_str(), 1), (DEAD_LETTER_TOPIC, 1)])
        .await
        .unwrap();
    let input = scripted_input();
    let producer = bus.producer().unwrap();
    for record in &input {
        let key = record[0].bus_key();
        producer
            .send(&topic, key.as_bytes(), &encode_record(record).unwrap(), &[])
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tables");
    let config = ProcessorConfig {
        output: out.to_string_lossy().into_owned(),
        flush_interval_ms: 100,
        topic: topic.clone(),
        consumer_group: format!("{topic}.processor"),
        ..ProcessorConfig::default()
    };
    let metrics = Metrics::new().unwrap();
    let watermarks = bus.watermarks(Duration::from_secs(5)).unwrap();
    let end_offsets: EndOffsets = Arc::new(move |t: &str| watermarks.end_offsets(t));
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(callscope_processor::run_with_lag(
        Arc::new(bus.clone()),
        Some(end_offsets),
        config,
        metrics.clone(),
        shutdown,
    ));
    let last = i64::try_from(input.len()).unwrap() - 1;
    let store = Store::Local { root: out.clone() };
    wait_for(90, "every record flushed", || async {
        Checkpoint::load(&store, &topic, 0)
            .await
            .unwrap()
            .flushed_through_offset
            .is_some_and(|f| f >= last)
    })
    .await;
    wait_for(10, "both conferences closed", || async {
        metrics.open_conferences.get() == 0
    })
    .await;
    let files = metrics
        .files_written
        .with_label_values(&["conferences"])
        .get();
    let rows = metrics
        .rows_written
        .with_label_values(&["conferences"])
        .get();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("processor did not stop")
        .unwrap()
        .unwrap();
    assert_eq!(rows, 2, "one conferences row per closed segment");
    assert!((1..=2).contains(&files), "{files} conferences files");
    check_scripted_output(&out, &input);
}

/// The tables of the scripted input, read by the parquet crate, pyarrow and DuckDB, against
/// values worked out by hand.
fn check_scripted_output(out: &Path, input: &[Vec<Envelope>]) {
    let tables = all_tables(out);
    let envelopes: usize = input.iter().map(Vec::len).sum();
    assert_eq!(tables["events"].len(), envelopes);
    assert_eq!(tables["conferences"].len(), 2);
    assert_eq!(
        tables["fabrics"].len(),
        5,
        "4 in the main conference, 1 idle"
    );
    assert_eq!(tables["errors"].len(), 2);
    assert_eq!(tables["feedback"].len(), 2);
    // alice 4 × 4 reports, bob 2 × 1, dave 1 × 1.
    assert_eq!(tables["stats_samples"].len(), 19);
    assert_eq!(tables["track_quality"].len(), 6);
    // 3 participants (alice, bob, carol) + dave and erin? erin never reported: only dave.
    assert_eq!(tables["user_quality"].len(), 4);

    let conf = &tables["conferences"];
    assert!(
        conf[0].starts_with("app_id=740123|date=2023-11-14|"),
        "{}",
        conf[0]
    );
    assert_eq!(
        value(conf, "conference_id=conf-main", "setup_status"),
        "partially_failed"
    );
    assert_eq!(
        value(conf, "conference_id=conf-main", "setup_delay_median_ms"),
        "850.0"
    );
    assert_eq!(
        value(conf, "conference_id=conf-main", "end_reason"),
        "all_left"
    );
    assert_eq!(
        value(conf, "conference_id=conf-idle", "end_reason"),
        "timeout"
    );
    let fabrics = &tables["fabrics"];
    assert_eq!(
        value(fabrics, "connection_id=pc-ab", "setup_delay_ms"),
        "850.0"
    );
    assert_eq!(
        value(fabrics, "connection_id=pc-ca", "failure_category"),
        "ice_nat"
    );

    // The same values through an independent reader: pyarrow's Hive-partitioned dataset, and
    // DuckDB's read_parquet for the counts.
    let script = r#"
import json, sys
import pyarrow as pa, pyarrow.dataset as ds, pyarrow.compute as pc
import duckdb
root = sys.argv[1]
part = ds.partitioning(pa.schema([("app_id", pa.string()), ("date", pa.string())]), flavor="hive")
def table(name):
    return ds.dataset(f"{root}/{name}", format="parquet", partitioning=part).to_table()
conf = {r["conference_id"]: r for r in table("conferences").to_pylist()}
main = conf["conf-main"]
tq = table("track_quality").to_pylist()
lossy = [r for r in tq if r["track_id"] == "IT-A1" and not r["after_gap"]][0]
users = {r["user_id"]: r for r in table("user_quality").to_pylist()}
fabrics = {r["connection_id"]: r for r in table("fabrics").to_pylist()}
events = table("events")
duck = duckdb.connect()
print(json.dumps({
  "app_id": main["app_id"], "date": main["date"],
  "users": main["users"], "fabrics": main["fabrics"], "setup_status": main["setup_status"],
  "delay_mean": main["setup_delay_mean_ms"], "delay_median": main["setup_delay_median_ms"],
  "duration_ms": main["duration_ms"], "mean_mos": main["mean_mos"],
  "worst_user": main["worst_user_id"], "worst_user_mos": main["worst_user_mos"],
  "feedback_mean": main["feedback_mean"], "relay_share": main["relay_share"],
  "browsers": main["browsers"], "failures": dict(main["failures_by_reason"]),
  "loss_pct": lossy["loss_pct"], "bitrate_bps": lossy["bitrate_bps"], "mos": lossy["mos"],
  "band": lossy["band"], "associated": lossy["associated_user_id"],
  "bob_mos": users["bob"]["mean_mos"], "bob_measured_ms": users["bob"]["measured_ms"],
  "pc_ab_delay": fabrics["pc-ab"]["setup_delay_ms"], "pc_ab_relayed": fabrics["pc-ab"]["relayed"],
  "idle_end_reason": conf["conf-idle"]["end_reason"],
  "events": events.num_rows,
  "offsets": sorted(events.column("bus_offset").to_pylist())[:3],
  "duck_events": duck.execute(f"select count(*) from read_parquet('{root}/events/**/*.parquet', hive_partitioning=true)").fetchone()[0],
  "duck_tq": duck.execute(f"select count(*) from read_parquet('{root}/track_quality/**/*.parquet', hive_partitioning=true) where app_id = '740123'").fetchone()[0],
}))
"#;
    let got = run_python(script, &[out.to_str().unwrap()]);
    let f = |k: &str| got[k].as_f64().unwrap_or_else(|| panic!("{k}: {}", got[k]));
    let close =
        |k: &str, want: f64| assert!((f(k) - want).abs() < 1e-6, "{k}: got {}, want {want}", f(k));
    assert_eq!(got["app_id"], "740123");
    assert_eq!(got["date"], "2023-11-14");
    assert_eq!(
        (got["users"].as_i64(), got["fabrics"].as_i64()),
        (Some(3), Some(4))
    );
    assert_eq!(got["setup_status"], "partially_failed");
    // (600 + 850 + 1200) / 3 and the middle value.
    close("delay_mean", 2650.0 / 3.0);
    close("delay_median", 850.0);
    // first fabric created (received 1 050) → carol left (received 51 050).
    assert_eq!(got["duration_ms"], 50_000);
    // See the state tests for the E-model arithmetic.
    let mos_lossy = 1.0 + 0.035 * 76.32 + 7e-6 * 76.32 * 16.32 * 23.68;
    let mos_clean = 1.0 + 0.035 * 91.52 + 7e-6 * 91.52 * 31.52 * 8.48;
    let mos_carol = 1.0 + 0.035 * 91.76 + 7e-6 * 91.76 * 31.76 * 8.24;
    close("mean_mos", (mos_lossy + mos_clean + mos_carol) / 3.0);
    close("worst_user_mos", (mos_lossy + mos_clean) / 2.0);
    assert_eq!(got["worst_user"], "bob");
    close("feedback_mean", 3.0);
    close("relay_share", 0.5);
    assert_eq!(got["browsers"], json!(["Chrome", "Firefox", "Safari"]));
    assert_eq!(got["failures"], json!({"IceConnectionFailure": 1}));
    // 100 · 50 / 1050 and 8 · 1 250 000 / 10.
    close("loss_pct", 4.761_904_761_9);
    close("bitrate_bps", 1_000_000.0);
    close("mos", 3.877_661_108);
    assert_eq!(got["band"], "fair");
    assert_eq!(got["associated"], "bob");
    close("bob_mos", (mos_lossy + mos_clean) / 2.0);
    assert_eq!(got["bob_measured_ms"], 20_000);
    close("pc_ab_delay", 850.0);
    assert_eq!(got["pc_ab_relayed"], true);
    assert_eq!(got["idle_end_reason"], "timeout");
    assert_eq!(got["events"], envelopes);
    assert_eq!(got["offsets"], json!([0, 1, 2]));
    assert_eq!(got["duck_events"], envelopes);
    assert_eq!(got["duck_tq"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_record_goes_to_the_dead_letter_topic_and_the_partition_moves_on() {
    let env = Env::new(1).await;
    let good = scenario::records("conf-p", T0);
    env.produce(&good[..1]).await;
    env.produce_raw("740123/conf-p", b"this is not json {")
        .await;
    env.produce(&good[1..2]).await;
    let running = env.start(env.config());
    wait_for(30, "all three offsets flushed", || env.all_flushed()).await;
    assert_eq!(running.metrics.dead_letters.get(), 1);
    assert_eq!(running.metrics.messages.get(), 3);
    running.stop().await;

    let events = table_rows(&env.out(), "events");
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().any(|r| r.ends_with("|bus_offset=2")),
        "the record after the poison one"
    );

    let mut reader = env
        .bus
        .consumer("dlq-reader", &[DEAD_LETTER_TOPIC])
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let ConsumerEvent::Message(m) = reader.next().await.unwrap() {
                return m;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(message.payload, b"this is not json {");
    assert_eq!(message.key.as_deref(), Some(&b"740123/conf-p"[..]));
    let reason =
        String::from_utf8(message.header(DEAD_LETTER_REASON_HEADER).unwrap().to_vec()).unwrap();
    assert!(reason.starts_with("malformed envelope"), "{reason}");
    drop(reader);

    // The open conference holds the commit at offset 0, so a restart replays the poison
    // record; it is already dead-lettered (its offset is flushed) and is not sent again.
    let again = env.start(env.config());
    wait_for(30, "the replay", || async {
        again.metrics.messages.get() == 3
    })
    .await;
    assert_eq!(again.metrics.dead_letters.get(), 0);
    again.stop().await;
    assert_eq!(
        table_rows(&env.out(), "events").len(),
        2,
        "no row written twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_an_unfinished_flush_are_deleted_on_start() {
    let env = Env::new(1).await;
    let store = Store::Local { root: env.out() };
    let leftover =
        "events/app_id=1/date=2024-01-01/p0-o00000000000000000005-00000000000000000009.parquet";
    let durable =
        "events/app_id=1/date=2024-01-01/p0-o00000000000000000000-00000000000000000004.parquet";
    store
        .put(leftover, b"half written".to_vec().into())
        .await
        .unwrap();
    store
        .put(durable, b"from an earlier flush".to_vec().into())
        .await
        .unwrap();
    let temp = env.out().join("events/app_id=1/date=2024-01-01/.p0-o00000000000000000005-00000000000000000009.parquet.tmp");
    std::fs::write(&temp, b"x").unwrap();
    let mut cp = Checkpoint::empty(INGEST_TOPIC, 0);
    cp.flushed_through_offset = Some(4);
    cp.pending = Some(Pending {
        range: Some((5, 9)),
        files: vec![
            leftover.to_owned(),
            "errors/app_id=1/date=2024-01-01/never-written.parquet".to_owned(),
        ],
    });
    cp.save(&store).await.unwrap();

    let running = env.start(env.config());
    wait_for(20, "the pending files deleted", || async {
        !env.out().join(leftover).exists() && env.checkpoint(0).await.pending.is_none()
    })
    .await;
    running.stop().await;
    assert!(!temp.exists(), "its temporary file too");
    assert!(
        env.out().join(durable).exists(),
        "files of finished flushes stay"
    );
    assert_eq!(env.checkpoint(0).await.flushed_through_offset, Some(4));
}

/// Conference ids whose records land on partition `p` of `n`.
fn conference_on(p: i32, n: i32, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|c| callscope_bus::partition_for_key(format!("{APP}/{c}").as_bytes(), n) == p)
        .unwrap()
}

/// Two partitions: on each a scripted conference; on partition 0 also an idle conference that
/// times out, late data for it, and clocks that close everything at the end.
/// An integration progress record of ingest received at `at`.
fn progress(at: i64) -> Envelope {
    let mut env =
        callscope_schemas::examples::envelope(callscope_schemas::EventKind::IntegrationProgress);
    env.app_id = scenario::APP.to_owned();
    env.conference_id = callscope_schemas::integration::INTEGRATION_CONFERENCE_ID.to_owned();
    env.received_at_ms = at;
    env
}

fn restart_input() -> (Vec<Vec<Envelope>>, Vec<Vec<Envelope>>) {
    let a = conference_on(0, 2, "a");
    let b = conference_on(1, 2, "b");
    let idle = conference_on(0, 2, "idle");
    let main_a = scenario::records(&a, T0);
    let main_b = scenario::records(&b, T0 + 5_000);
    let mut records = Vec::new();
    records.extend(scenario::idle_records(&idle, T0).into_iter().take(2));
    // Interleave the two conferences record by record, the idle one in the first few.
    for (i, (ra, rb)) in main_a.iter().zip(&main_b).enumerate() {
        records.push(ra.clone());
        records.push(rb.clone());
        if i == 3 {
            records.extend(scenario::idle_records(&idle, T0).into_iter().skip(2));
        }
    }
    // Integration progress records of ingest, one before the stop and one after.
    records.insert(3, vec![progress(T0 + 1_000)]);
    // Late data for the idle conference: segment 1.
    records.push(scenario::idle_records(&idle, T0 + 45_000)[3].clone());
    records.push(vec![progress(T0 + 60_000)]);
    records.push(clock(&conference_on(0, 2, "clock"), T0 + 300_000));
    records.push(clock(&conference_on(1, 2, "clock"), T0 + 300_000));
    // Stop after main_a's stats at 20 s: every conference is still open then.
    let cut = records
        .iter()
        .position(|r| r[0].conference_id == a && r[0].client_ts_ms == Some(T0 + 20_000))
        .unwrap()
        + 1;
    let rest = records.split_off(cut);
    (records, rest)
}

/// Runs until everything is flushed and closed; returns the number of records processed.
async fn run_to_the_end(env: &Env) -> u64 {
    let running = env.start(env.config());
    wait_for(30, "every record flushed", || env.all_flushed()).await;
    wait_for(10, "every conference closed", || async {
        running.metrics.open_conferences.get() == 0
    })
    .await;
    let messages = running.metrics.messages.get();
    running.stop().await;
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_restart_mid_stream_gives_the_same_tables_as_one_run() {
    let (first, rest) = restart_input();

    // Uninterrupted.
    let whole = Env::new(2).await;
    whole.produce(&first).await;
    whole.produce(&rest).await;
    run_to_the_end(&whole).await;
    let want = all_tables(&whole.out());

    // Interrupted: the first part, some flushes, a stop with conferences open, the rest.
    let env = Env::new(2).await;
    env.produce(&first).await;
    let running = env.start(env.config());
    wait_for(30, "the first part flushed", || env.all_flushed()).await;
    let open = running.metrics.open_conferences.get();
    running.stop().await;
    assert!(
        open >= 2,
        "both scripted conferences open at the stop ({open})"
    );
    let before = all_tables(&env.out());
    assert!(
        !before["events"].is_empty(),
        "rows were written before the stop"
    );
    assert!(before["conferences"].is_empty());
    for p in 0..2 {
        assert!(
            env.checkpoint(p).await.flushed_through_offset.is_some(),
            "partition {p} flushed"
        );
    }
    env.produce(&rest).await;
    let processed = run_to_the_end(&env).await;
    assert!(
        processed > rest.len() as u64,
        "the restart replayed the open conferences' records ({processed} of {} new)",
        rest.len()
    );
    let got = all_tables(&env.out());

    let counts = |t: &BTreeMap<&'static str, Vec<String>>| {
        t.iter()
            .map(|(k, v)| (*k, v.len()))
            .collect::<Vec<(&'static str, usize)>>()
    };
    assert_eq!(counts(&got), counts(&want));
    for (table, rows) in &want {
        assert!(!rows.is_empty(), "{table} has rows");
        assert_eq!(&got[table], rows, "{table} differs");
    }
    // The idle conference closed by timeout, and its late data became segment 1.
    let segments: Vec<&String> = want["conferences"]
        .iter()
        .filter(|r| r.contains("conference_id=idle"))
        .collect();
    assert_eq!(segments.len(), 2);
    assert!(segments.iter().any(|r| r.contains("|segment=1|")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_partition_closes_idle_conferences_on_the_wall_clock() {
    let env = Env::new(1).await;
    env.produce(&scenario::idle_records("conf-quiet", T0)).await;
    let config = callscope_processor::ProcessorConfig {
        conference_timeout_ms: 1_000,
        ..env.config()
    };
    let running = env.start(config);
    wait_for(20, "the idle conference closed", || async {
        !table_rows(&env.out(), "conferences").is_empty()
    })
    .await;
    running.stop().await;
    let rows = table_rows(&env.out(), "conferences");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("|end_reason=timeout|"), "{}", rows[0]);
    // The end is the last message, not the moment the timer fired.
    assert!(
        rows[0].contains(&format!("|end_time={}|", T0 + 2_050)),
        "{}",
        rows[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_open_conferences_the_next_to_expire_is_evicted() {
    let env = Env::new(1).await;
    env.produce(&scenario::idle_records("conf-1", T0)).await;
    env.produce(&scenario::idle_records("conf-2", T0 + 1_000))
        .await;
    let config = callscope_processor::ProcessorConfig {
        max_open_conferences: 1,
        ..env.config()
    };
    let running = env.start(config);
    wait_for(20, "every record flushed", || env.all_flushed()).await;
    assert_eq!(running.metrics.open_conferences.get(), 1);
    running.stop().await;
    let rows = table_rows(&env.out(), "conferences");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("|conference_id=conf-1|"), "{}", rows[0]);
    assert!(rows[0].contains("|end_reason=evicted|"), "{}", rows[0]);
}
