//! callscope wire types: the contract between the SDKs, `ingest`, the bus, `processor` and `query`.
//!
//! Everything that crosses a process boundary is defined here once, so the services cannot drift
//! apart: the callstats.js and callstats v1 REST request bodies ([`events`], [`rest`]), the
//! versioned Kafka [`envelope`], the callstats enums ([`enums`]), the validation rules and their
//! limits ([`validate`], [`limits`]) and the Arrow schemas of every Parquet table ([`tables`]).
//!
//! The crate does no I/O on purpose: it is linked into the browser-facing ingest path, the
//! processor and the query engine alike, and it must stay cheap to build and trivially testable.
//!
//! Conventions that hold across modules:
//! - JSON field names are the ones callstats documented (`conferenceID`, `remoteID`,
//!   `endpointInfo.appVersion`), so an existing callstats client works unchanged; where SDKs
//!   historically spelled a field differently, the other spelling is accepted as a serde alias
//!   and the documented one is written back.
//! - Closed value sets are Rust enums that refuse unknown values; fields the docs leave open
//!   (state names, device kinds, endpoint type strings) stay `String`.
//! - Unknown getStats members are kept verbatim ([`events::StatsReport::other`]), because quality
//!   formulas change and a replay must be able to recompute them from what was received.

pub mod batch;
pub mod enums;
pub mod envelope;
pub mod events;
pub mod examples;
pub mod integration;
pub mod lake_files;
pub mod limits;
pub mod rest;
mod serde_util;
pub mod storage;
pub mod tables;
pub mod validate;

pub use batch::{BatchItem, BatchRequest, BodyError, decode_record, encode_record};
pub use envelope::{DecodeError, Envelope, EventKind, Origin, Payload, SCHEMA_VERSION};
pub use validate::{Validate, ValidationError};
