//! Benchmarks (not tests): they print numbers.

pub mod prelabel;
