#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Compaction end to end: the real processor writes many small files (embedded bus, two
//! partitions, one conference per flush), compacts them, and three readers, the query
//! service's lake (DataFusion through `VisibleFiles`), pyarrow and DuckDB (each reading the
//! files the rule of `callscope_schemas::lake_files` selects), see every row exactly once
//! before, during (inputs and merged files side by side, the processor killed there) and after
//! compaction, and after a second-level compaction of new files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, INGEST_TOPIC, partition_for_key};
use callscope_processor::checkpoint::Checkpoint;
use callscope_processor::writer::Store;
use callscope_processor::{CompactionConfig, Metrics, ProcessorConfig};
use callscope_query::lake::Lake;
use callscope_schemas::{Envelope, Origin, Payload, encode_record};
use serde_json::{Value, json};
use tokio::sync::watch;

const APP: &str = "740123";
/// 2023-11-14T22:13:20Z; every conference below starts that day.
const T0: i64 = 1_700_000_000_000;
/// Tables this data fills: per conference 8 events, 1 feedback, and at its close 1
/// conference, 1 fabric and 2 user_quality rows (alice, bob).
const TABLES: [(&str, usize); 5] = [
    ("events", 8),
    ("feedback", 1),
    ("conferences", 1),
    ("fabrics", 1),
    ("user_quality", 2),
];

fn ev(conf: &str, user: &str, t0: i64, t: i64, kind: &str, data: Value) -> Vec<Envelope> {
    let payload: Payload = serde_json::from_value(json!({ "kind": kind, "data": data }))
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    vec![Envelope {
        uc_id: Some(format!("uc-{user}")),
        user_id: Some(user.to_owned()),
        client_ts_ms: Some(t0 + t),
        ..Envelope::new(APP, conf, t0 + t + 50, Origin::JsSdk, payload)
    }]
}

/// A two-party conference in 8 envelopes that ends (everyone left) at its last one.
fn conference(conf: &str, t0: i64) -> Vec<Vec<Envelope>> {
    let joined = |user: &str, t: i64| {
        ev(
            conf,
            user,
            t0,
            t,
            "user_joined",
            json!({"endpointInfo": {"type": "browser", "name": "Chrome", "version": "120",
                   "os": "Linux", "appVersion": "1.0"}}),
        )
    };
    let pc = |t: i64, kind: &str, extra: Value| {
        let mut data = json!({"remoteID": "bob", "connectionID": "pc-ab"});
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        ev(conf, "alice", t0, t, kind, data)
    };
    vec![
        joined("alice", 0),
        joined("bob", 100),
        pc(1000, "fabric_created", json!({"fabricUsage": "multiplex"})),
        pc(1500, "fabric_setup", json!({})),
        ev(
            conf,
            "alice",
            t0,
            2000,
            "feedback",
            json!({"feedback": {"overallRating": 4}}),
        ),
        pc(3000, "fabric_terminated", json!({"reason": "hangup"})),
        ev(conf, "alice", t0, 3100, "user_left", json!({})),
        ev(conf, "bob", t0, 3200, "user_left", json!({})),
    ]
}

/// `n` conference names for each of the two partitions, interleaved p0, p1, p0, ...
fn names(n: usize, tag: &str) -> Vec<String> {
    let mut by_partition: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut i = 0;
    while by_partition.iter().any(|v| v.len() < n) {
        let name = format!("{tag}-{i}");
        let p = partition_for_key(format!("{APP}/{name}").as_bytes(), 2) as usize;
        if by_partition[p].len() < n {
            by_partition[p].push(name);
        }
        i += 1;
    }
    let [a, b] = by_partition;
    a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect()
}

struct Env {
    dir: tempfile::TempDir,
    bus: EmbeddedBus,
}

struct Running {
    task: tokio::task::JoinHandle<Result<(), callscope_processor::ProcessorError>>,
    stop: watch::Sender<bool>,
    metrics: Metrics,
}

impl Env {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path().join("bus/bus.redb"))).unwrap();
        bus.ensure_topics(&[(INGEST_TOPIC, 2), (callscope_bus::DEAD_LETTER_TOPIC, 1)])
            .await
            .unwrap();
        Self { dir, bus }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn start(&self, compaction: CompactionConfig) -> Running {
        let config = ProcessorConfig {
            output: self.lake().to_string_lossy().into_owned(),
            flush_interval_ms: 50,
            close_grace_ms: 0,
            compaction,
            ..ProcessorConfig::default()
        };
        let metrics = Metrics::new().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let bus: Arc<dyn Bus> = Arc::new(self.bus.clone());
        let task = tokio::spawn(callscope_processor::run_with_lag(
            bus,
            Some(callscope_processor::embedded_end_offsets(self.bus.clone())),
            config,
            metrics.clone(),
            shutdown,
        ));
        Running {
            task,
            stop,
            metrics,
        }
    }

    /// Produces one conference and waits until every partition is flushed through it.
    async fn conference_in_its_own_flush(&self, conf: &str, t0: i64) {
        // One bus record (a batch of the 8 envelopes), so one flush holds all of it.
        let record: Vec<Envelope> = conference(conf, t0).into_iter().flatten().collect();
        self.bus
            .producer()
            .unwrap()
            .send(
                INGEST_TOPIC,
                record[0].bus_key().as_bytes(),
                &encode_record(&record).unwrap(),
                &[],
            )
            .await
            .unwrap();
        let ends = self.bus.end_offsets(INGEST_TOPIC).unwrap();
        let store = Store::Local { root: self.lake() };
        wait_for(30, "the conference flushed", || async {
            for (p, end) in ends.iter().enumerate() {
                let cp = Checkpoint::load(&store, INGEST_TOPIC, p as i32)
                    .await
                    .unwrap();
                if *end > 0 && cp.flushed_through_offset.is_none_or(|f| f < end - 1) {
                    return false;
                }
            }
            true
        })
        .await;
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("processor did not stop")
            .unwrap()
            .unwrap();
    }

    /// A crash: the task is dropped where it is, nothing flushed or cleaned up.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn wait_for<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `.parquet` files (hidden ones excluded) of each table directory, by directory.
fn files_by_dir(lake: &Path) -> BTreeMap<String, Vec<String>> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, Vec<String>>, lake: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if entry.path().is_dir() {
                walk(&entry.path(), out, lake);
            } else if name.ends_with(".parquet") {
                let rel = dir
                    .strip_prefix(lake)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.entry(rel).or_default().push(name);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(lake, &mut out, lake);
    for names in out.values_mut() {
        names.sort();
    }
    out
}

/// Every row of each table through the query service's lake, as sorted JSON lines.
async fn lake_rows(lake: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let lake = Lake::open(&lake.to_string_lossy(), &Default::default(), 1 << 28, 2).unwrap();
    let ctx = lake.session_for(APP).unwrap();
    let mut out = BTreeMap::new();
    for (table, _) in TABLES {
        let batches = ctx
            .sql(&format!("SELECT * FROM {table}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        let mut rows: Vec<String> = text.lines().map(str::to_owned).collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// The rule in Python (as docs/processor.md gives it), then pyarrow and DuckDB over the files
/// it selects: per table, the sorted rows (pyarrow) and the row count (DuckDB), plus the row
/// count of a naive reader of every file.
const PY_READERS: &str = r#"
import json, os, re, sys
import pyarrow.parquet as pq
import duckdb

NAME = re.compile(r'^p(\d+)-(o|c)(\d+)(?:-(\d+))?(?:-e\d+)?(-compacted)?\.parquet$')

def coverage(name):
    m = NAME.match(name)
    if not m:
        return None
    p, kind, lo, hi, compacted = m.groups()
    if compacted and hi is None:
        return None
    if kind == 'c' and not compacted:
        hi = None  # a summary file: its one opening offset
    lo = int(lo); hi = int(hi) if hi is not None else lo
    return (int(p), kind, lo, hi, bool(compacted))

def visible(names):
    cov = {n: coverage(n) for n in names}
    comp = [(n, c) for n, c in cov.items() if c and c[4]]
    def hidden(n):
        c = cov[n]
        return c is not None and any(
            m != n and k[0] == c[0] and k[1] == c[1] and k[2] <= c[2] and c[3] <= k[3]
            for m, k in comp)
    return [n for n in names if not hidden(n)]

lake, tables = sys.argv[1], sys.argv[2].split(',')
out = {}
for table in tables:
    chosen, everything = [], []
    for d, _, files in os.walk(os.path.join(lake, table)):
        names = sorted(f for f in files if f.endswith('.parquet') and not f.startswith('.'))
        everything += [os.path.join(d, f) for f in names]
        chosen += [os.path.join(d, f) for f in visible(names)]
    rows = []
    for f in chosen:
        for r in pq.read_table(f).to_pylist():
            rows.append(json.dumps(r, sort_keys=True, default=str))
    rows.sort()
    con = duckdb.connect()
    duck = con.execute('SELECT count(*) FROM read_parquet(?)', [chosen]).fetchone()[0]
    naive = con.execute('SELECT count(*) FROM read_parquet(?)', [everything]).fetchone()[0]
    out[table] = {'rows': rows, 'duckdb': duck, 'naive': naive}
print(json.dumps(out))
"#;

fn python() -> PathBuf {
    let path = std::env::var_os("CALLSCOPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/callscope/venv/bin/python"));
    assert!(
        path.exists(),
        "no Python with pyarrow at {} (set CALLSCOPE_PYTHON, or run scripts/setup)",
        path.display()
    );
    path
}

fn py_rows(lake: &Path) -> Value {
    let tables: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(PY_READERS)
        .arg(lake)
        .arg(tables.join(","))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Checks that every reader sees `conferences` conferences' rows once: the lake's rows equal
/// `want_lake` (when given) and number per-conference × conferences; pyarrow's likewise; DuckDB
/// counts them. Returns (lake rows, pyarrow rows, naive counts).
async fn check_readers(
    lake: &Path,
    conferences: usize,
) -> (
    BTreeMap<&'static str, Vec<String>>,
    BTreeMap<String, Value>,
    BTreeMap<String, u64>,
) {
    let rows = lake_rows(lake).await;
    let py = py_rows(lake);
    let mut py_rows_by_table = BTreeMap::new();
    let mut naive = BTreeMap::new();
    for (table, per_conference) in TABLES {
        let want = per_conference * conferences;
        assert_eq!(rows[table].len(), want, "lake rows of {table}");
        let distinct: std::collections::BTreeSet<&String> = rows[table].iter().collect();
        assert_eq!(distinct.len(), want, "lake: a row of {table} twice");
        assert_eq!(
            py[table]["rows"].as_array().unwrap().len(),
            want,
            "pyarrow rows of {table}"
        );
        assert_eq!(py[table]["duckdb"], want as u64, "DuckDB count of {table}");
        py_rows_by_table.insert(table.to_owned(), py[table]["rows"].clone());
        naive.insert(table.to_owned(), py[table]["naive"].as_u64().unwrap());
    }
    (rows, py_rows_by_table, naive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_never_shows_a_row_twice_or_misses_one() {
    let env = Env::new().await;
    let lake = env.lake();
    let off = CompactionConfig {
        enabled: false,
        ..CompactionConfig::default()
    };

    // 12 conferences, 6 per partition, each in a flush of its own: 6 small files per table
    // directory and partition.
    let running = env.start(off.clone());
    let first = names(6, "c");
    for (k, conf) in first.iter().enumerate() {
        env.conference_in_its_own_flush(conf, T0 + k as i64 * 60_000)
            .await;
    }
    running.stop().await;
    let dirs = files_by_dir(&lake);
    let table_dirs: Vec<&String> = dirs.keys().collect();
    assert_eq!(
        table_dirs,
        vec![
            "conferences/app_id=740123/date=2023-11-14",
            "events/app_id=740123/date=2023-11-14",
            "fabrics/app_id=740123/date=2023-11-14",
            "feedback/app_id=740123/date=2023-11-14",
            "user_quality/app_id=740123/date=2023-11-14",
        ]
    );
    for (dir, names) in &dirs {
        assert_eq!(names.len(), 12, "{dir}: one file per conference");
        assert!(names.iter().all(|n| !n.contains("compacted")));
    }

    // Before.
    let (before, py_before, naive) = check_readers(&lake, 12).await;
    assert_naive(&naive, 12);

    // During: compaction merges, the inputs stay (grace of a day); the processor is killed
    // there, between the merged write and the deletion of the inputs.
    let running = env.start(keep_inputs_config());
    wait_for(60, "a compaction pass", || async {
        running.metrics.compaction_runs.get() >= 1
    })
    .await;
    let files = |action: &str| {
        running
            .metrics
            .compaction_files
            .with_label_values(&[action])
            .get()
    };
    // 5 directories × 2 partitions: 10 merged files of 6 inputs each; nothing deleted yet.
    assert_eq!(
        (files("written"), files("merged"), files("deleted")),
        (10, 60, 0)
    );
    running.kill().await;
    // A crash in the middle of writing a compacted file leaves its temporary file behind.
    let events_dir = lake.join("events/app_id=740123/date=2023-11-14");
    std::fs::write(
        events_dir.join(".p0-o00000000000000000000-00000000000000000099-compacted.parquet.tmp"),
        b"torn",
    )
    .unwrap();
    let dirs = files_by_dir(&lake);
    for (dir, names) in &dirs {
        assert_eq!(names.len(), 14, "{dir}: 12 inputs and 2 merged files");
        let merged: Vec<&String> = names.iter().filter(|n| n.contains("compacted")).collect();
        assert_eq!(merged.len(), 2, "{dir}");
        assert!(merged[0].starts_with("p0-") && merged[1].starts_with("p1-"));
    }
    let (during, py_during, naive) = check_readers(&lake, 12).await;
    assert_eq!(during, before);
    assert_eq!(py_during, py_before);
    // A reader that ignores the rule would read everything twice now.
    assert_naive(&naive, 24);

    // After: restarted with no grace, the next pass deletes the 60 hidden inputs.
    let no_grace = CompactionConfig {
        grace_ms: 0,
        ..keep_inputs_config()
    };
    let running = env.start(no_grace.clone());
    wait_for(60, "the hidden inputs deleted", || async {
        running
            .metrics
            .compaction_files
            .with_label_values(&["deleted"])
            .get()
            == 60
    })
    .await;
    for (dir, names) in &files_by_dir(&lake) {
        assert_eq!(names.len(), 2, "{dir}: {names:?}");
    }
    let (after, py_after, _) = check_readers(&lake, 12).await;
    assert_eq!(after, before);
    assert_eq!(py_after, py_before);

    // Six more conferences (three per partition) while it runs: with the merged file, four
    // files per directory and partition, merged again into a file covering the first.
    let second = names(3, "d");
    for (k, conf) in second.iter().enumerate() {
        env.conference_in_its_own_flush(conf, T0 + (12 + k as i64) * 60_000)
            .await;
    }
    wait_for(
        60,
        "the second-level compaction and its clean-up",
        || async {
            files_by_dir(&lake).values().all(|names| {
                names.len() == 2 && names.iter().all(|n| n.ends_with("-compacted.parquet"))
            })
        },
    )
    .await;
    running.stop().await;
    let (final_rows, _, naive) = check_readers(&lake, 18).await;
    assert_naive(&naive, 18);
    for (table, rows) in &before {
        assert!(
            rows.iter().all(|r| final_rows[table].contains(r)),
            "{table}: a row of the first 12 conferences is gone"
        );
    }
}

/// The row counts of a reader of every file equal `conferences` × rows per conference.
fn assert_naive(naive: &BTreeMap<String, u64>, conferences: usize) {
    for (table, per_conference) in TABLES {
        assert_eq!(
            naive[table],
            (conferences * per_conference) as u64,
            "naive reader, {table}"
        );
    }
}

fn keep_inputs_config() -> CompactionConfig {
    CompactionConfig {
        enabled: true,
        interval_ms: 1,
        min_files: 4,
        target_bytes: 64 * 1024 * 1024,
        grace_ms: 86_400_000,
    }
}
