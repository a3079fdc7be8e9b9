//! Row `duplicates`: near-duplicate search on clustered synthetic 1280-d embeddings
//! (`synth::near_duplicate_embeddings`: 50 classes, one item in five a noisy copy of an earlier
//! one, pair similarities on both sides of the 0.95 threshold):
//! - on 20k embeddings in memory: the HNSW index (`similarity::pairs_index`) next to the exact
//!   all-pairs block products (`similarity::pairs_exact`), and the index's recall of the exact
//!   pairs;
//! - on 100k (`--items`): the whole search job as `yuxuan duplicates` runs it (embeddings read
//!   from the project, `Search::Auto`, grouping), target < 60 s.

use std::time::Instant;

use super::synth::{build_image_project, near_duplicate_embeddings, SynthSpec};
use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::jobs::JobCtx;
use crate::ml::similarity::{
    near_duplicates, pairs_exact, pairs_index, recall, Embeddings, DEFAULT_THRESHOLD,
};

/// Embeddings of the exact-vs-index comparison.
pub const COMPARE_ITEMS: usize = 20_000;
/// Recall of the exact pairs the index must reach.
pub const RECALL_TARGET: f64 = 0.95;
/// Seconds the search may take at 100k embeddings.
pub const LARGE_TARGET_S: f64 = 60.0;
const DIM: usize = 1280;

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let large = cfg.items.max(100);
    let small = COMPARE_ITEMS.min(large);
    let ctx = JobCtx::new("bench-dups");

    let (rows, _) = near_duplicate_embeddings(small, DIM, cfg.seed);
    let e = Embeddings::from_rows(rows)?;
    let t = Instant::now();
    let exact = pairs_exact(&e, DEFAULT_THRESHOLD, &ctx)?;
    let exact_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let index = pairs_index(&e, DEFAULT_THRESHOLD, &ctx)?;
    let index_s = t.elapsed().as_secs_f64();
    let rec = recall(&exact, &index);
    drop(e);

    // The large project: items, then their embeddings in chunks.
    let tmp = tempfile::Builder::new()
        .prefix("bench-dups")
        .tempdir_in(&cfg.dir)?;
    let t = Instant::now();
    let (mut store, _) = build_image_project(
        &tmp.path().join("dups.yuxuan"),
        &SynthSpec {
            items: large,
            predictions: false,
            seed: cfg.seed,
            ..Default::default()
        },
    )?;
    let (rows, copies) = near_duplicate_embeddings(large, DIM, cfg.seed);
    for chunk in rows.chunks(5_000) {
        store.put_embeddings(crate::ml::backbone::BACKBONE_ID, chunk)?;
    }
    drop(rows);
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = near_duplicates(
        &store,
        crate::ml::backbone::BACKBONE_ID,
        DEFAULT_THRESHOLD,
        &ctx,
    )?;
    let large_s = t.elapsed().as_secs_f64();

    Ok(Measured {
        metrics: vec![
            Metric::new(format!("index search ({small} embeddings)"), index_s, "s").reference(
                format!("exact all pairs ({small})"),
                exact_s,
                "s",
            ),
            Metric::new(
                format!("index recall of the exact pairs ({small})"),
                rec,
                "",
            )
            .target(Target::at_least(RECALL_TARGET)),
            Metric::new(
                format!(
                    "search job, {} ({large} embeddings)",
                    report.search.as_str()
                ),
                large_s,
                "s",
            )
            .target(Target::below(LARGE_TARGET_S))
            .reference(
                format!("exact at {small} x ({large}/{small})² (n², estimated)"),
                exact_s * (large as f64 / small as f64).powi(2),
                "s",
            ),
            Metric::new(format!("pairs found ({large})"), report.pairs as f64, ""),
        ],
        notes: vec![
            format!(
                "{DIM}-d synthetic clustered embeddings, threshold {DEFAULT_THRESHOLD}; {small}: \
                 {} exact pairs, the index found {} of them ({} pairs in all)",
                exact.len(),
                (rec * exact.len() as f64).round(),
                index.len()
            ),
            format!(
                "{large}: {copies} near copies, {} groups; the job includes reading the \
                 embeddings from SQLite; project built in {build_s:.1} s",
                report.groups.len()
            ),
            format!(
                "index: HNSW (instant-distance, M 32, ef_construction 32, {} neighbours per item, \
                 fixed seed) of the vectors on their top {} principal axes, candidates checked \
                 on the full vectors, on {} rayon threads; {} torch threads for the exact products; \
                 `Search::Auto` is exact up to {} items",
                crate::ml::similarity::INDEX_NEIGHBOURS,
                crate::ml::similarity::INDEX_DIM,
                rayon::current_num_threads(),
                tch::get_num_threads(),
                crate::ml::similarity::EXACT_MAX_ITEMS
            ),
        ],
    }
    .into())
}
