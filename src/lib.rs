//! yuxuan (预选): the machine preselects, the human decides.
//!
//! See ARCHITECTURE.md for the module map and the data flow.

pub mod assets;
pub mod domain;
pub mod jobs;
pub mod ml;
pub mod store;
pub mod ingest;
pub mod queue;
pub mod presets;
pub mod taxonomy;
