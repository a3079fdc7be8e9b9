//! All integration tests in one binary (one link of tch instead of one per file).

mod common;

mod backbones;
mod bench;
mod crawl;
mod exchange;
mod faults;
mod forms;
mod images;
mod quality;
mod store;
mod suspects;
mod team;
mod ui;
