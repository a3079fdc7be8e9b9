//! yuxuan (预选): the machine preselects, the human decides.
//!
//! See ARCHITECTURE.md for the module map and the data flow.

pub mod assets;
pub mod bench;
pub mod crawl;
pub mod demo;
pub mod domain;
pub mod exchange;
pub mod fsutil;
pub mod ingest;
pub mod jobs;
pub mod kinds;
pub mod ml;
pub mod pgserver;
pub mod presets;
pub mod queue;
pub mod review;
pub mod simulate;
pub mod store;
pub mod taxonomy;
pub mod ui;
