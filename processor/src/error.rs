//! The processor's errors.

use std::path::PathBuf;

use callscope_bus::BusError;

use crate::config::ConfigError;
use crate::rows::RowError;

/// Why the processor stopped. Every variant ends `run`: the state in memory may no longer
/// match what is durable, and a restart rebuilds it from the checkpoint and the bus.
#[derive(Debug, thiserror::Error)]
#[must_use]
pub enum ProcessorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("local file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("rows: {0}")]
    Rows(#[from] RowError),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("background task failed: {0}")]
    Task(String),
}

impl ProcessorError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProcessorError::Io {
            path: path.into(),
            source,
        }
    }
}
