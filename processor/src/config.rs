//! Processor settings.
//!
//! Every field has a default, so `ProcessorConfig::default()` runs a processor that writes to
//! `./data/tables`; unknown fields are refused so a typo in a config file is an error, not a
//! silently ignored setting.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::quality::TrackerConfig;
use crate::state::StateConfig;

/// Where tables and checkpoints are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLocation {
    /// A local directory.
    Local(PathBuf),
    /// An S3-compatible bucket and key prefix (possibly empty).
    S3 { bucket: String, prefix: String },
}

/// The S3 client's settings, shared with the query service.
pub use callscope_schemas::storage::S3Config;

/// Metrics settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether the caller should serve `/metrics`; `run` always updates the registry.
    pub enabled: bool,
    /// Address for the caller's metrics endpoint.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:9101".to_owned(),
        }
    }
}

/// Compaction of small files (docs/processor.md, "Compaction").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// Whether the processor compacts the files of the partitions it owns.
    pub enabled: bool,
    /// How often a compaction pass runs (after a flush tick).
    pub interval_ms: u64,
    /// A run of consecutive small files of one directory and bus partition is merged once it
    /// has this many files (at least 2).
    pub min_files: usize,
    /// Files at least this large are left alone, and a merged file grows to at most about this
    /// size (the sum of its inputs' sizes).
    pub target_bytes: u64,
    /// Files replaced by a compacted file are deleted once it has existed this long, so a query
    /// that listed them before it appeared can still read them.
    pub grace_ms: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 300_000,
            min_files: 4,
            target_bytes: 64 * 1024 * 1024,
            grace_ms: 300_000,
        }
    }
}

impl CompactionConfig {
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

/// Processor settings (`[processor]` of the callscope config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    /// A local directory, or `s3://bucket/prefix`.
    pub output: String,
    pub s3: S3Config,
    /// The topic to read.
    pub topic: String,
    /// Consumer group; also names nothing on disk, so two groups writing one output would
    /// collide: give each its own output.
    pub consumer_group: String,
    /// Each partition's rows are flushed to Parquet this often (freshness).
    pub flush_interval_ms: u64,
    /// A conference with no message for this long (event time, and wall time once its
    /// partition is silent) is closed.
    pub conference_timeout_ms: u64,
    /// Event time a conference stays open after every participant left, for trailing events
    /// (feedback, final stats). 0 closes it at once.
    pub close_grace_ms: u64,
    /// How long a closed conference's segment number is remembered to number late data.
    pub late_window_ms: u64,
    /// A partition is flushed early once this many rows wait; bounds file size and memory.
    pub max_rows_per_file: usize,
    /// Most conferences kept in memory over all partitions; beyond it the one closest to its
    /// timeout is closed early with end reason `evicted`.
    pub max_open_conferences: usize,
    /// Expected getStats period; snapshots more than 3 periods apart are a gap.
    pub stats_period_ms: u64,
    /// Parquet row-group size, in rows.
    pub row_group_rows: usize,
    pub compaction: CompactionConfig,
    pub metrics: MetricsConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            output: "./data/tables".to_owned(),
            s3: S3Config::default(),
            topic: callscope_bus::INGEST_TOPIC.to_owned(),
            consumer_group: "callscope-processor".to_owned(),
            flush_interval_ms: 5_000,
            conference_timeout_ms: 30_000,
            close_grace_ms: 10_000,
            late_window_ms: 3_600_000,
            max_rows_per_file: 500_000,
            max_open_conferences: 100_000,
            stats_period_ms: 10_000,
            row_group_rows: 128 * 1024,
            compaction: CompactionConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid processor configuration: {0}")]
#[must_use]
pub struct ConfigError(pub String);

impl ProcessorConfig {
    /// Checks the values and parses the output location.
    pub fn output_location(&self) -> Result<OutputLocation, ConfigError> {
        let out = self.output.trim();
        if out.is_empty() {
            return Err(ConfigError("output must not be empty".to_owned()));
        }
        if let Some(rest) = out.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ConfigError(format!("output {out:?} names no bucket")));
            }
            return Ok(OutputLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if out.contains("://") {
            return Err(ConfigError(format!(
                "output {out:?}: only local directories and s3:// URLs are supported"
            )));
        }
        Ok(OutputLocation::Local(PathBuf::from(out)))
    }

    /// Checks every value; `run` calls it before doing anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.output_location()?;
        let positive = [
            ("flush_interval_ms", self.flush_interval_ms),
            ("conference_timeout_ms", self.conference_timeout_ms),
            ("stats_period_ms", self.stats_period_ms),
            ("max_rows_per_file", self.max_rows_per_file as u64),
            ("max_open_conferences", self.max_open_conferences as u64),
            ("row_group_rows", self.row_group_rows as u64),
            ("compaction.interval_ms", self.compaction.interval_ms),
            ("compaction.target_bytes", self.compaction.target_bytes),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be at least 1")));
            }
        }
        if self.compaction.min_files < 2 {
            return Err(ConfigError(
                "compaction.min_files must be at least 2".to_owned(),
            ));
        }
        if self.topic.is_empty() || self.consumer_group.is_empty() {
            return Err(ConfigError(
                "topic and consumer_group must not be empty".to_owned(),
            ));
        }
        // Times are added to unix milliseconds: keep them far from overflow.
        let limit = 365 * 24 * 3_600_000;
        for (name, value) in [
            ("conference_timeout_ms", self.conference_timeout_ms),
            ("close_grace_ms", self.close_grace_ms),
            ("late_window_ms", self.late_window_ms),
        ] {
            if value > limit {
                return Err(ConfigError(format!("{name} must be at most one year")));
            }
        }
        Ok(())
    }

    #[must_use]
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms.max(1))
    }

    #[must_use]
    pub fn conference_timeout(&self) -> Duration {
        Duration::from_millis(self.conference_timeout_ms)
    }

    /// The state machine's settings.
    #[must_use]
    pub fn state_config(&self) -> StateConfig {
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX / 4);
        StateConfig {
            conference_timeout_ms: ms(self.conference_timeout_ms),
            close_grace_ms: ms(self.close_grace_ms),
            late_window_ms: ms(self.late_window_ms),
            tracker: TrackerConfig::from_sample_period(self.stats_period_ms as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = ProcessorConfig::default();
        assert_eq!(c.consumer_group, "callscope-processor");
        assert_eq!(c.flush_interval_ms, 5_000);
        assert_eq!(c.conference_timeout_ms, 30_000);
        assert_eq!(c.topic, callscope_bus::INGEST_TOPIC);
        c.validate().unwrap();
        // 3 × the 10 s period.
        assert_eq!(c.state_config().tracker.max_gap_ms, 30_000.0);
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_fields_are_refused() {
        let c: ProcessorConfig = serde_json::from_str(
            r#"{"output": "s3://bucket/some/prefix/", "flush_interval_ms": 1000}"#,
        )
        .unwrap();
        assert_eq!(c.flush_interval_ms, 1000);
        assert_eq!(c.conference_timeout_ms, 30_000);
        assert_eq!(
            c.output_location().unwrap(),
            OutputLocation::S3 {
                bucket: "bucket".into(),
                prefix: "some/prefix".into()
            }
        );
        let err = serde_json::from_str::<ProcessorConfig>(r#"{"flush_interval": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = ProcessorConfig {
            output: "gs://x".into(),
            ..ProcessorConfig::default()
        };
        assert!(c.validate().is_err());
        c.output = "s3://".into();
        assert!(c.validate().is_err());
        c.output = "/tmp/x".into();
        assert_eq!(
            c.output_location().unwrap(),
            OutputLocation::Local("/tmp/x".into())
        );
        c.flush_interval_ms = 0;
        assert!(c.validate().is_err());
    }
}
