//! callscope processor

pub mod quality;
