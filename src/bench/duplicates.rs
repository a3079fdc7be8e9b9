//! Row `duplicates`: near-duplicate search (`ml::similarity::near_duplicates`) over the cached
//! embeddings of a synthetic project (the head row's size), next to the bare cost of the same
//! similarity products on a tensor already in memory.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::{BenchConfig, Measured, Metric, RowOutcome};
use crate::jobs::JobCtx;
use crate::ml::backbone::BACKBONE_ID;
use crate::ml::similarity::{near_duplicates, DEFAULT_THRESHOLD};

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let n = cfg.train_items.max(100);
    let dim = 1280;
    let (_tmp, store, _) = super::head::embedded_project(cfg, "dups", n, 10, dim)?;
    let t = Instant::now();
    let report = near_duplicates(
        &store,
        BACKBONE_ID,
        DEFAULT_THRESHOLD,
        &JobCtx::new("bench-dups"),
    )?;
    let job_s = t.elapsed().as_secs_f64();

    // Reference: the same block products alone (each block against the items from its first
    // row on, as the search does), on a normalised tensor already in memory.
    let x = Tensor::randn([n as i64, dim as i64], (Kind::Float, Device::Cpu));
    let x = &x / x.norm_scalaropt_dim(2, [1i64].as_slice(), true);
    let t = Instant::now();
    let _g = tch::no_grad_guard();
    let xt = x.transpose(0, 1);
    let (mut start, n) = (0i64, n as i64);
    while start < n {
        let len = 512.min(n - start);
        let s = x
            .narrow(0, start, len)
            .matmul(&xt.narrow(1, start, n - start));
        let _ = s
            .ge(DEFAULT_THRESHOLD as f64)
            .sum(Kind::Int64)
            .int64_value(&[]);
        start += len;
    }
    let bare_s = t.elapsed().as_secs_f64();
    Ok(Measured {
        metrics: vec![
            Metric::new("near-duplicate search", job_s, "s").reference(
                "bare block products",
                bare_s,
                "s",
            ),
            Metric::new("groups found", report.groups.len() as f64, ""),
        ],
        notes: vec![format!(
            "{n} cached {dim}-d embeddings (synthetic), threshold {DEFAULT_THRESHOLD}, \
             {} torch threads; the search includes reading the embeddings from SQLite. \
             Cost grows with n^2: ~100x this at 10x the items",
            tch::get_num_threads()
        )],
    }
    .into())
}
