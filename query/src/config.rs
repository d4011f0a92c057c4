//! The query service's configuration: one typed struct, filled by the binary from defaults < file <
//! environment (`CALLSCOPE__QUERY__*`) < flags.

use std::net::SocketAddr;
use std::time::Duration;

use callscope_ingest::registry::Secret;
use callscope_schemas::storage::S3Config;
use serde::{Deserialize, Serialize};

/// Shortest admin key accepted: it reads every app's data, so it must not be guessable.
pub const MIN_ADMIN_KEY_LEN: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Address the HTTP API and the dashboard listen on.
    pub listen: SocketAddr,
    /// Where the Parquet tables live: a local directory, or `s3://bucket/prefix` (credentials,
    /// region and endpoint from the usual `AWS_*` environment variables, overridden by `s3`).
    pub lake: String,
    /// S3 endpoint, region and plain-HTTP settings, as the processor's `s3`.
    pub s3: S3Config,
    /// Operator key that may read any app with `?app_id=`. `Secret` keeps it out of `Debug`
    /// output, so it never reaches a log line.
    pub admin_key: Option<Secret>,
    pub limits: QueryLimits,
    /// Worker threads of the HTTP server (0: one per core).
    pub workers: usize,
    /// Threads of the query runtime that runs DataFusion plans, kept apart from the HTTP workers
    /// so a heavy scan never stalls request handling (0: one per core).
    pub query_threads: usize,
    /// `/api/v1/live`: a conference is live when it had an event this recently, seconds.
    pub live_window_secs: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            lake: "./data/lake".to_owned(),
            s3: S3Config::default(),
            admin_key: None,
            limits: QueryLimits::default(),
            workers: 0,
            query_threads: 0,
            live_window_secs: 120,
        }
    }
}

/// What one request may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLimits {
    /// Most rows one SQL answer (or one list in a dashboard answer) carries; more are cut off and
    /// the answer says it was truncated.
    pub max_result_rows: usize,
    /// Longest a request may run its queries, milliseconds; then it is cancelled (504).
    pub timeout_ms: u64,
    /// Memory all running queries may hold together (a DataFusion memory pool); a query that
    /// needs more fails instead of taking the process down.
    pub memory_limit_bytes: usize,
    /// How long a dashboard answer is reused for the same app and URL, milliseconds: polling
    /// dashboards then cost one scan per TTL, not one per viewer (0 disables the cache).
    pub cache_ttl_ms: u64,
    /// Most answers the cache holds.
    pub cache_max_entries: usize,
    /// Largest SQL request body, bytes.
    pub max_sql_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_result_rows: 10_000,
            timeout_ms: 10_000,
            memory_limit_bytes: 512 << 20,
            cache_ttl_ms: 2_000,
            cache_max_entries: 1_024,
            max_sql_bytes: 64 << 10,
        }
    }
}

impl QueryLimits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = QueryConfig::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.limits.max_result_rows, 10_000);
        assert_eq!(c.limits.timeout_ms, 10_000);
        assert_eq!(c.limits.memory_limit_bytes, 512 * 1024 * 1024);
        assert_eq!(c.limits.cache_ttl_ms, 2_000);
        assert!(c.admin_key.is_none());
    }

    #[test]
    fn partial_config_keeps_defaults_and_unknown_fields_are_refused() {
        let c: QueryConfig = serde_json::from_str(r#"{"limits": {"timeout_ms": 5}}"#).unwrap();
        assert_eq!(c.limits.timeout_ms, 5);
        assert_eq!(c.limits.max_result_rows, 10_000);
        assert!(serde_json::from_str::<QueryConfig>(r#"{"nope": 1}"#).is_err());
        assert!(serde_json::from_str::<QueryConfig>(r#"{"limits": {"nope": 1}}"#).is_err());
    }

    #[test]
    fn admin_key_is_not_in_debug_output() {
        let c = QueryConfig {
            admin_key: Some(Secret::new("very-secret-admin-key-0123456789")),
            ..QueryConfig::default()
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
