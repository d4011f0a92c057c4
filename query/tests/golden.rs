#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden tests: a fixed scripted dataset (`golden/dataset.rs`) goes through the real processor
//! (embedded bus in a temporary directory, `callscope_processor::run_with_lag` until every record
//! is processed and both conferences are closed, then a clean stop that flushes everything), and
//! the query service's answers over that lake are compared with the checked-in JSON files in
//! `golden/`. The expected numbers were worked out by hand from the script, not copied from the
//! code's output: `golden/README.md` derives every one of them.
//!
//! The expected files are written by `golden/derive.py` (Python, formulas from the docs, never
//! the service's output). Comparison: every expected key present with an equal value (strings,
//! booleans, nulls equal; numbers within 1e-6; arrays of the same length and order); fields
//! beyond the expected ones are tolerated so that columns added to a table later do not break
//! the files. Nothing is normalised but `next_cursor`, an opaque token (only its presence is
//! compared). On a mismatch the actual answers are written to
//! `$CARGO_TARGET_TMPDIR/golden-actual/` for inspection; they must never be copied into
//! `golden/` without checking every number against the derivation.

#[path = "golden/dataset.rs"]
mod dataset;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::web;
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, INGEST_TOPIC};
use callscope_ingest::registry::Registry;
use callscope_processor::{Metrics, ProcessorConfig};
use callscope_query::{QueryConfig, QueryState, app};
use callscope_schemas::encode_record;
use serde_json::Value;
use tokio::sync::watch;

/// 2023-11-14T22:00:00Z and 2023-11-15T00:00:00Z: two one-hour buckets, A in the first, B in
/// the second.
const FROM: i64 = 1_699_999_200_000;
const TO: i64 = 1_700_006_400_000;

struct Lake {
    _dir: tempfile::TempDir,
    state: web::Data<QueryState>,
    key: String,
}

/// Runs the processor over the dataset into a fresh lake and opens the query service on it.
async fn processor_made_lake() -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path().join("bus/bus.redb"))).unwrap();
    bus.ensure_topics(&[(INGEST_TOPIC, 1), (callscope_bus::DEAD_LETTER_TOPIC, 1)])
        .await
        .unwrap();
    let records = dataset::records();
    let producer = bus.producer().unwrap();
    for record in &records {
        let key = record[0].bus_key();
        producer
            .send(
                INGEST_TOPIC,
                key.as_bytes(),
                &encode_record(record).unwrap(),
                &[],
            )
            .await
            .unwrap();
    }

    let lake = dir.path().join("lake");
    let config = ProcessorConfig {
        output: lake.to_string_lossy().into_owned(),
        flush_interval_ms: 100,
        ..ProcessorConfig::default()
    };
    let metrics = Metrics::new().unwrap();
    let (stop, shutdown) = watch::channel(false);
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    let task = tokio::spawn(callscope_processor::run_with_lag(
        shared,
        Some(callscope_processor::embedded_end_offsets(bus.clone())),
        config,
        metrics.clone(),
        shutdown,
    ));
    // Every record consumed, and both conferences closed (the clock record closes B); then a
    // stop flushes and fsyncs whatever is still in memory.
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics.messages.get() < records.len() as u64 || metrics.open_conferences.get() != 0 {
        assert!(
            Instant::now() < deadline,
            "processor did not consume the dataset"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("processor did not stop")
        .unwrap()
        .unwrap();
    assert_eq!(
        metrics
            .rows_written
            .with_label_values(&["conferences"])
            .get(),
        2,
        "one conferences row per closed segment"
    );

    let registry = Registry::in_memory(Vec::new());
    registry.add("golden", Some(dataset::APP)).unwrap();
    let key = registry.add_query_key(dataset::APP).unwrap();
    let config = QueryConfig {
        lake: lake.display().to_string(),
        query_threads: 2,
        ..QueryConfig::default()
    };
    let state = web::Data::new(QueryState::new(config, registry).unwrap());
    Lake {
        _dir: dir,
        state,
        key,
    }
}

async fn get(lake: &Lake, uri: &str) -> Value {
    let service = init_service(app(lake.state.clone())).await;
    let req = TestRequest::get()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {}", lake.key)))
        .to_request();
    let response = call_service(&service, req).await;
    let status = response.status();
    let body = read_body(response).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Differences between `want` and `got`, as `path: want … got …` lines.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (w.as_f64().unwrap(), g.as_f64().unwrap());
            if (w - g).abs() > 1e-6 {
                out.push(format!("{path}: want {w}, got {g}"));
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
            // Fields beyond the expected ones are tolerated: columns added to the tables later
            // (e.g. the fabrics packet counters still being added) must not break these files.
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!("{path}: want {} items, got {}", w.len(), g.len()));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: want {want}, got {got}")),
    }
}

/// `next_cursor` is an opaque token: only whether there is one is compared.
fn normalise(mut v: Value) -> Value {
    if let Some(c) = v.get_mut("next_cursor")
        && !c.is_null()
    {
        *c = Value::String("<cursor>".to_owned());
    }
    v
}

/// The requests of the golden files: (file, URI).
fn cases() -> Vec<(String, String)> {
    let range = format!("from={FROM}&to={TO}");
    let mut cases = vec![(
        "overview".to_owned(),
        format!("/api/v1/overview?{range}&interval=1h"),
    )];
    for d in [
        "browser",
        "os",
        "app_version",
        "endpoint_type",
        "relay_type",
        "failure_reason",
    ] {
        cases.push((
            format!("breakdown_{d}"),
            format!("/api/v1/breakdown/{d}?{range}"),
        ));
    }
    for s in ["recent", "worst_quality", "longest_setup", "failed"] {
        cases.push((
            format!("conferences_{s}"),
            format!("/api/v1/conferences?{range}&sort={s}"),
        ));
    }
    cases.push((
        "conferences_recent_page1".to_owned(),
        format!("/api/v1/conferences?{range}&sort=recent&limit=1"),
    ));
    for c in ["golden-a", "golden-b"] {
        cases.push((
            format!("conference_{c}"),
            format!("/api/v1/conferences/{c}"),
        ));
    }
    cases
}

#[actix_web::test]
async fn a_processor_made_lake_gives_the_golden_answers() {
    let lake = processor_made_lake().await;
    let actual_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-actual");
    let mut failures = Vec::new();
    for (name, uri) in cases() {
        let got = normalise(get(&lake, &uri).await);
        let file = golden_dir().join(format!("{name}.json"));
        let want: Value = match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
            Err(_) => Value::Null,
        };
        let mut out = Vec::new();
        diff(&name, &want, &got, &mut out);
        if !out.is_empty() {
            std::fs::create_dir_all(&actual_dir).unwrap();
            std::fs::write(
                actual_dir.join(format!("{name}.json")),
                serde_json::to_string_pretty(&got).unwrap(),
            )
            .unwrap();
            failures.push(format!("{uri}\n  {}", out.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "answers differ from tests/golden (actual answers in {}):\n{}",
        actual_dir.display(),
        failures.join("\n")
    );
}

/// The second page continues where the first ended: B (newest) then A.
#[actix_web::test]
async fn the_recent_list_pages_through_both_conferences() {
    let lake = processor_made_lake().await;
    let range = format!("from={FROM}&to={TO}");
    let first = get(&lake, &format!("/api/v1/conferences?{range}&limit=1")).await;
    assert_eq!(first["conferences"][0]["conference_id"], "golden-b");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = get(
        &lake,
        &format!("/api/v1/conferences?{range}&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["conferences"].as_array().unwrap().len(), 1);
    assert_eq!(second["conferences"][0]["conference_id"], "golden-a");
    assert!(second["next_cursor"].is_null());
}
