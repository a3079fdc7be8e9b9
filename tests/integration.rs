//! All integration tests in one binary (one link of tch instead of one per file).

mod common;

mod store;
mod images;
