//! The callscope processor: consumes the ingest topic, keeps per-conference state and writes
//! the Parquet tables of SPEC section 4, exactly once (docs/processor.md).
//!
//! - [`quality`]: the pure computation core (counters, E-model, video score, bands,
//!   aggregates, setup outcome), documented in docs/quality.md;
//! - [`state`]: per-partition conference state built from envelopes in order (pure);
//! - [`packets`]: per-connection packet totals per direction;
//! - [`rows`]: one struct per table and their conversion to Arrow;
//! - [`writer`]: Parquet encoding and the output store (local directory or S3);
//! - [`checkpoint`]: the per-partition checkpoint object;
//! - [`compaction`]: merging small files without a reader seeing a row twice or missing one;
//! - [`run()`]: the consumer loop and the flush protocol;
//! - [`config`], [`metrics`], [`error`].

pub mod checkpoint;
pub mod compaction;
pub mod config;
pub mod error;
pub mod metrics;
pub mod packets;
pub mod quality;
pub mod rows;
pub mod run;
pub mod state;
pub mod writer;

pub use config::{CompactionConfig, ConfigError, OutputLocation, ProcessorConfig};
pub use error::ProcessorError;
pub use metrics::{METRIC_NAMES, Metrics};
pub use run::{EndOffsets, embedded_end_offsets, run, run_with_lag};
