//! The processor's Prometheus metrics: one registry, every definition in this module.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric the processor exports, as named in its registry.
pub const METRIC_NAMES: &[&str] = &[
    "callscope_processor_messages_total",
    "callscope_processor_dead_letters_total",
    "callscope_processor_open_conferences",
    "callscope_processor_files_written_total",
    "callscope_processor_rows_written_total",
    "callscope_processor_flush_duration_seconds",
    "callscope_processor_consumer_lag_messages",
    "callscope_processor_compaction_runs_total",
    "callscope_processor_compaction_files_total",
];

/// Handles to the processor's metrics. Cheap to clone: every field shares its value with the
/// registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Bus records processed (decoded or dead-lettered), replays included.
    pub messages: IntCounter,
    pub dead_letters: IntCounter,
    /// Conferences held in memory, over all partitions.
    pub open_conferences: IntGauge,
    /// Parquet files written, by table.
    pub files_written: IntCounterVec,
    /// Rows written, by table.
    pub rows_written: IntCounterVec,
    /// Time of one partition flush (checkpoint, files, checkpoint, commit).
    pub flush_duration: Histogram,
    /// End offset − position, by partition (embedded end offsets or Kafka high watermarks).
    pub consumer_lag: IntGaugeVec,
    /// Compaction passes completed.
    pub compaction_runs: IntCounter,
    /// Files by compaction action: `merged` (inputs), `written` (compacted files), `deleted`
    /// (hidden inputs removed after the grace period).
    pub compaction_files: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let messages = IntCounter::new(
            "callscope_processor_messages_total",
            "Bus records processed, including dead-lettered ones and replays",
        )?;
        let dead_letters = IntCounter::new(
            "callscope_processor_dead_letters_total",
            "Undecodable records sent to the dead-letter topic",
        )?;
        let open_conferences = IntGauge::new(
            "callscope_processor_open_conferences",
            "Conference segments held in memory",
        )?;
        let files_written = IntCounterVec::new(
            Opts::new(
                "callscope_processor_files_written_total",
                "Parquet files written",
            ),
            &["table"],
        )?;
        let rows_written = IntCounterVec::new(
            Opts::new("callscope_processor_rows_written_total", "Rows written"),
            &["table"],
        )?;
        let flush_duration = Histogram::with_opts(
            HistogramOpts::new(
                "callscope_processor_flush_duration_seconds",
                "Duration of one partition flush: checkpoint, files, checkpoint, commit",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "callscope_processor_consumer_lag_messages",
                "Messages of a partition not yet read: end offset minus position",
            ),
            &["partition"],
        )?;
        let compaction_runs = IntCounter::new(
            "callscope_processor_compaction_runs_total",
            "Compaction passes completed",
        )?;
        let compaction_files = IntCounterVec::new(
            Opts::new(
                "callscope_processor_compaction_files_total",
                "Files merged (inputs), written (compacted) and deleted (after the grace period) by compaction",
            ),
            &["action"],
        )?;
        registry.register(Box::new(compaction_runs.clone()))?;
        registry.register(Box::new(compaction_files.clone()))?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(open_conferences.clone()))?;
        registry.register(Box::new(files_written.clone()))?;
        registry.register(Box::new(rows_written.clone()))?;
        registry.register(Box::new(flush_duration.clone()))?;
        registry.register(Box::new(consumer_lag.clone()))?;
        Ok(Self {
            registry,
            messages,
            dead_letters,
            open_conferences,
            files_written,
            rows_written,
            flush_duration,
            consumer_lag,
            compaction_runs,
            compaction_files,
        })
    }

    /// The registry, for a `/metrics` endpoint (`prometheus::TextEncoder`).
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_exports_exactly_the_listed_names() {
        let m = Metrics::new().unwrap();
        // Labelled metrics appear once a label value exists.
        m.files_written.with_label_values(&["events"]).inc();
        m.rows_written.with_label_values(&["events"]).inc_by(3);
        m.consumer_lag.with_label_values(&["0"]).set(0);
        m.compaction_files.with_label_values(&["merged"]).inc();
        m.flush_duration.observe(0.01);
        let mut names: Vec<String> = m
            .registry()
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = METRIC_NAMES.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(names, want);
    }
}
