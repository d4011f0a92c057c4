//! callscope query
