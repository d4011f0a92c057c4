//! What every request shares.

use std::time::Duration;

use callscope_ingest::registry::Registry;

use crate::cache::ResponseCache;
use crate::config::{MIN_ADMIN_KEY_LEN, QueryConfig};
use crate::dashboard::Scope;
use crate::error::QueryError;
use crate::exec::QueryRuntime;
use crate::lake::Lake;
use crate::metrics::Metrics;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("opening the lake: {0}")]
    Lake(#[from] datafusion::error::DataFusionError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("starting the query runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

pub struct QueryState {
    pub config: QueryConfig,
    pub registry: Registry,
    pub lake: Lake,
    pub metrics: Metrics,
    pub cache: ResponseCache,
    pub runtime: QueryRuntime,
}

impl std::fmt::Debug for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryState")
            .field("lake", &self.lake)
            .finish_non_exhaustive()
    }
}

impl QueryState {
    pub fn new(config: QueryConfig, registry: Registry) -> Result<Self, StartError> {
        if let Some(key) = &config.admin_key
            && key.expose().len() < MIN_ADMIN_KEY_LEN
        {
            return Err(StartError::Config(format!(
                "admin_key must be at least {MIN_ADMIN_KEY_LEN} characters"
            )));
        }
        if config.limits.max_result_rows == 0 || config.limits.timeout_ms == 0 {
            return Err(StartError::Config(
                "limits.max_result_rows and limits.timeout_ms must be positive".to_owned(),
            ));
        }
        let threads = if config.query_threads > 0 {
            config.query_threads
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        };
        let lake = Lake::open(
            &config.lake,
            &config.s3,
            config.limits.memory_limit_bytes,
            threads,
        )?;
        let runtime = QueryRuntime::new(threads)?;
        let metrics = Metrics::new()?;
        let cache = ResponseCache::new(config.limits.cache_ttl(), config.limits.cache_max_entries);
        tracing::info!(
            lake = %lake.root(),
            admin_key = config.admin_key.is_some(),
            threads,
            "query service ready to serve"
        );
        Ok(Self {
            config,
            registry,
            lake,
            metrics,
            cache,
            runtime,
        })
    }

    /// The dashboard queries' view of one app.
    pub fn scope(&self, app_id: &str) -> Result<Scope, QueryError> {
        Ok(Scope {
            ctx: self
                .lake
                .session_for(app_id)
                .map_err(QueryError::from_internal)?,
            metrics: self.metrics.clone(),
            max_rows: self.config.limits.max_result_rows,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.config.limits.timeout()
    }
}
