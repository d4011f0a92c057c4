//! The query service's Prometheus metrics: one place defines every name (`callscope_query_*`).

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub request_duration: HistogramVec,
    pub requests: IntCounterVec,
    pub rows_scanned: IntCounter,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
}

/// Every metric name this service exports; the deployment's alerts and dashboards are checked against it.
pub const METRIC_NAMES: &[&str] = &[
    "callscope_query_request_duration_seconds",
    "callscope_query_requests_total",
    "callscope_query_rows_scanned_total",
    "callscope_query_cache_hits_total",
    "callscope_query_cache_misses_total",
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        // Dashboard answers should take tens of milliseconds; analyst SQL may run to the timeout.
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "callscope_query_request_duration_seconds",
                "HTTP request latency by endpoint",
            )
            .buckets(buckets),
            &["endpoint"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "callscope_query_requests_total",
                "HTTP requests by endpoint and status",
            ),
            &["endpoint", "status"],
        )?;
        let rows_scanned = IntCounter::new(
            "callscope_query_rows_scanned_total",
            "rows produced by the Parquet scans of every executed query",
        )?;
        let cache_hits = IntCounter::new(
            "callscope_query_cache_hits_total",
            "dashboard answers served from the response cache",
        )?;
        let cache_misses = IntCounter::new(
            "callscope_query_cache_misses_total",
            "dashboard requests the response cache could not answer",
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(rows_scanned.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        Ok(Self {
            registry,
            request_duration,
            requests,
            rows_scanned,
            cache_hits,
            cache_misses,
        })
    }

    pub fn render(&self) -> String {
        use prometheus::Encoder as _;
        let mut out = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exported_name_is_listed() {
        let metrics = Metrics::new().unwrap();
        metrics
            .request_duration
            .with_label_values(&["e"])
            .observe(0.01);
        metrics.requests.with_label_values(&["e", "200"]).inc();
        let mut names: Vec<String> = metrics
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        names.sort();
        let mut listed: Vec<String> = METRIC_NAMES.iter().map(|s| (*s).to_owned()).collect();
        listed.sort();
        assert_eq!(names, listed);
    }
}
