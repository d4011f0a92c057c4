//! Helpers of the processor's integration tests: an embedded bus in a temporary directory, a
//! processor running in the background, and readers of the Parquet output.

#![allow(dead_code, clippy::unwrap_used)]

pub mod scenario;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::{Bus, INGEST_TOPIC};
use callscope_processor::checkpoint::Checkpoint;
use callscope_processor::writer::Store;
use callscope_processor::{Metrics, ProcessorConfig, ProcessorError};
use callscope_schemas::{Envelope, encode_record};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An embedded bus and an output directory, both temporary.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub bus: EmbeddedBus,
}

impl Env {
    pub async fn new(partitions: i32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path().join("bus/bus.redb"))).unwrap();
        bus.ensure_topics(&[
            (INGEST_TOPIC, partitions),
            (callscope_bus::DEAD_LETTER_TOPIC, 1),
        ])
        .await
        .unwrap();
        Self { dir, bus }
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("tables")
    }

    pub fn config(&self) -> ProcessorConfig {
        ProcessorConfig {
            output: self.out().to_string_lossy().into_owned(),
            flush_interval_ms: 100,
            ..ProcessorConfig::default()
        }
    }

    /// Produces records in order, each keyed by its first envelope's conference.
    pub async fn produce(&self, records: &[Vec<Envelope>]) {
        let producer = self.bus.producer().unwrap();
        for record in records {
            let key = record[0].bus_key();
            let bytes = encode_record(record).unwrap();
            producer
                .send(INGEST_TOPIC, key.as_bytes(), &bytes, &[])
                .await
                .unwrap();
        }
    }

    pub async fn produce_raw(&self, key: &str, payload: &[u8]) {
        let producer = self.bus.producer().unwrap();
        producer
            .send(INGEST_TOPIC, key.as_bytes(), payload, &[])
            .await
            .unwrap();
    }

    /// Starts `run()` in the background.
    pub fn start(&self, config: ProcessorConfig) -> Running {
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

    /// The last offset of each partition of the ingest topic (-1 when empty).
    pub fn last_offsets(&self) -> Vec<i64> {
        self.bus
            .end_offsets(INGEST_TOPIC)
            .unwrap()
            .into_iter()
            .map(|end| end - 1)
            .collect()
    }

    pub async fn checkpoint(&self, partition: i32) -> Checkpoint {
        let store = Store::Local { root: self.out() };
        Checkpoint::load(&store, INGEST_TOPIC, partition)
            .await
            .unwrap()
    }

    /// True once every non-empty partition is flushed through its last offset.
    pub async fn all_flushed(&self) -> bool {
        for (p, last) in self.last_offsets().into_iter().enumerate() {
            if last < 0 {
                continue;
            }
            let cp = self.checkpoint(p as i32).await;
            if cp.flushed_through_offset.is_none_or(|f| f < last) || cp.pending.is_some() {
                return false;
            }
        }
        true
    }
}

pub struct Running {
    pub task: JoinHandle<Result<(), ProcessorError>>,
    pub stop: watch::Sender<bool>,
    pub metrics: Metrics,
}

impl Running {
    /// Asks the processor to stop and waits for it to flush, commit and return.
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("processor did not stop")
            .unwrap()
            .unwrap();
    }
}

/// Polls `cond` every 50 ms until it holds, failing after `secs` seconds.
pub async fn wait_for<F, Fut>(secs: u64, what: &str, mut cond: F)
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

/// Every `.parquet` file under `dir`, recursively, skipping hidden and `_` entries as readers do
/// and the files a compacted file replaces (`callscope_schemas::lake_files::visible`).
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut here = Vec::new();
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if name.ends_with(".parquet") {
            here.push((name, path));
        }
    }
    let names: Vec<&str> = here.iter().map(|(n, _)| n.as_str()).collect();
    let shown = callscope_schemas::lake_files::visible(&names);
    out.extend(
        here.iter()
            .zip(shown)
            .filter(|(_, shown)| *shown)
            .map(|((_, p), _)| p.clone()),
    );
    out.sort();
    out
}

/// Every row of a table, as `app_id=..|date=..|column=value|...` strings, sorted: a form in
/// which two outputs can be compared row for row whatever their file layout.
pub fn table_rows(out: &Path, table: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for file in parquet_files(&out.join(table)) {
        let rel = file
            .strip_prefix(out.join(table))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let partition: String = rel
            .split('/')
            .filter(|s| s.contains('='))
            .collect::<Vec<_>>()
            .join("|");
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            let options = FormatOptions::default();
            // Timestamps as integers: displaying a named time zone needs chrono-tz.
            let columns: Vec<arrow::array::ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    arrow::datatypes::DataType::Timestamp(..) => {
                        arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).unwrap()
                    }
                    _ => c.clone(),
                })
                .collect();
            let formatters: Vec<ArrayFormatter<'_>> = columns
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for i in 0..batch.num_rows() {
                let mut row = partition.clone();
                for (field, f) in schema.fields().iter().zip(&formatters) {
                    row.push_str(&format!("|{}={}", field.name(), f.value(i)));
                }
                rows.push(row);
            }
        }
    }
    rows.sort();
    rows
}

/// Rows of every table.
pub fn all_tables(out: &Path) -> BTreeMap<&'static str, Vec<String>> {
    callscope_schemas::tables::all_tables()
        .into_iter()
        .map(|(name, _)| (name, table_rows(out, name)))
        .collect()
}

/// The Python with pyarrow and duckdb: `$CALLSCOPE_PYTHON`, else the venv scripts/setup makes.
pub fn python() -> PathBuf {
    let path = std::env::var_os("CALLSCOPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/callscope/venv/bin/python"));
    assert!(
        path.exists(),
        "no Python with pyarrow at {} (set CALLSCOPE_PYTHON, or run scripts/setup to create the venv)",
        path.display()
    );
    path
}

/// Runs an inline Python script with `args` and parses what it prints as JSON.
pub fn run_python(script: &str, args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
