//! The ingest service's configuration: one typed struct, filled by the binary from defaults < file <
//! environment (`CALLSCOPE__INGEST__*`) < flags.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Limits;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Largest request body accepted (413 above). A batch of 50 samples of about 2 KB is 100 KB; 1 MiB
    /// leaves room for SDP bodies and large getStats reports, and matches the bus message limit.
    pub max_body_bytes: usize,
    /// Requests per second per app.
    pub rate_per_app: u32,
    /// Requests per second per token.
    pub rate_per_token: u32,
    /// Burst allowance, in seconds of the rate.
    pub rate_burst_seconds: u32,
    /// Access token lifetime, seconds (callstats: 2 hours).
    pub token_ttl_secs: u64,
    /// Handshake challenge lifetime, seconds.
    pub challenge_ttl_secs: u64,
    /// Retry-After sent with 503 when the bus is unavailable or its queue is full, seconds.
    pub retry_after_secs: u64,
    /// Longest wait for the bus to acknowledge a write before answering 503, milliseconds.
    pub bus_timeout_ms: u64,
    /// Most events and samples in one batch request.
    pub max_batch_items: usize,
    /// Worker threads of the HTTP server (0: one per core).
    pub workers: usize,
    /// How often the integration progress counts are written to the bus, milliseconds.
    pub progress_interval_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1 << 20,
            rate_per_app: limits.per_app_per_second,
            rate_per_token: limits.per_token_per_second,
            rate_burst_seconds: limits.burst_seconds,
            token_ttl_secs: 2 * 3600,
            challenge_ttl_secs: 30,
            retry_after_secs: 2,
            bus_timeout_ms: 10_000,
            max_batch_items: 500,
            workers: 0,
            progress_interval_ms: 1_000,
        }
    }
}

impl IngestConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            per_app_per_second: self.rate_per_app,
            per_token_per_second: self.rate_per_token,
            burst_seconds: self.rate_burst_seconds,
        }
    }

    pub fn bus_timeout(&self) -> Duration {
        Duration::from_millis(self.bus_timeout_ms)
    }
}
