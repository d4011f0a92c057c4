//! callscope processor
