//! All integration tests in one binary (one link of tch instead of one per file).

mod common;

mod bench;
mod exchange;
mod faults;
mod store;
mod images;
mod ui;
mod forms;
