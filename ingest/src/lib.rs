//! callscope ingest
