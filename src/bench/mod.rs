//! Benchmarks that print numbers (`yuxuan bench`); one module per area.

pub mod export;
