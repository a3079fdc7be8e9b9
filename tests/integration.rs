//! All integration tests in one binary (one link of tch instead of one per file).

mod common;

mod backbones;
mod bench;
mod box_formats;
mod crawl;
mod detector;
mod exchange;
mod faults;
mod forms;
mod images;
mod objects;
mod quality;
mod store;
mod suspects;
mod team;
mod ui;
