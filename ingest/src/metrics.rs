//! The ingest service's Prometheus metrics: one place defines every name (`callscope_ingest_*`).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub bus_write_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub events: IntCounterVec,
    pub refusals: IntCounterVec,
}

/// Every metric name this service exports; the deployment's alerts and dashboards are checked against it.
pub const METRIC_NAMES: &[&str] = &[
    "callscope_ingest_requests_total",
    "callscope_ingest_request_duration_seconds",
    "callscope_ingest_bus_write_duration_seconds",
    "callscope_ingest_requests_in_flight",
    "callscope_ingest_events_total",
    "callscope_ingest_refusals_total",
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "callscope_ingest_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency_buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "callscope_ingest_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(latency_buckets.clone()),
            &["route"],
        )?;
        let bus_write_duration = HistogramVec::new(
            HistogramOpts::new(
                "callscope_ingest_bus_write_duration_seconds",
                "time from handing a message to the bus to its acknowledgement, by outcome",
            )
            .buckets(latency_buckets),
            &["outcome"],
        )?;
        let in_flight = IntGauge::new(
            "callscope_ingest_requests_in_flight",
            "HTTP requests being served",
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "callscope_ingest_events_total",
                "events and samples acknowledged by the bus, by kind",
            ),
            &["kind"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "callscope_ingest_refusals_total",
                "requests refused, by reason (auth, validation, rate, overload, ...)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(bus_write_duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        Ok(Self {
            registry,
            requests,
            request_duration,
            bus_write_duration,
            in_flight,
            events,
            refusals,
        })
    }

    pub fn render(&self) -> String {
        use prometheus::Encoder as _;
        let mut out = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut out).is_err() {
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
        metrics.requests.with_label_values(&["r", "200"]).inc();
        metrics
            .request_duration
            .with_label_values(&["r"])
            .observe(0.01);
        metrics
            .bus_write_duration
            .with_label_values(&["ok"])
            .observe(0.01);
        metrics.events.with_label_values(&["k"]).inc();
        metrics.refusals.with_label_values(&["auth"]).inc();
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
