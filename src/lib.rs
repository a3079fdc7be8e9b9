//! yuxuan (预选): the machine preselects, the human decides.
//!
//! See ARCHITECTURE.md for the module map and the data flow.

pub mod assets;
pub mod bench;
pub mod domain;
pub mod exchange;
pub mod jobs;
pub mod ml;
pub mod store;
pub mod ingest;
pub mod queue;
pub mod bench;
pub mod review;
pub mod ui;
pub mod demo;
pub mod simulate;
pub mod presets;
pub mod taxonomy;
