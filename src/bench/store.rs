//! Row `decision-latency`: the time `Store::record_decision` takes to commit one decision
//! durably (WAL, synchronous=FULL, its own transaction), p50/p99 over N decisions, next to the
//! bare cost of the same disk: a small write + fdatasync of a file in the same directory,
//! measured in the same run. The product cannot be faster than the second figure.

use std::io::Write;
use std::time::Instant;

use super::synth::{build_image_project, SynthSpec};
use super::{BenchConfig, Latency, Measured, Metric, RowOutcome, Target};
use crate::domain::{Action, NewDecision};

/// The product's target for the p99 commit latency, in ms.
pub const P99_TARGET_MS: f64 = 2.0;

/// Decisions committed before measuring (page cache, prepared statements).
const WARMUP: usize = 20;

/// Commit latencies, in seconds, of `n` decisions on a fresh project in `dir`.
pub fn decision_latencies(dir: &std::path::Path, n: usize, seed: u64) -> anyhow::Result<Vec<f64>> {
    let tmp = tempfile::Builder::new()
        .prefix("bench-decisions")
        .tempdir_in(dir)?;
    let spec = SynthSpec {
        items: 1000,
        labels: 10,
        labelled: 0.0,
        predictions: true,
        embedding_dim: 0,
        seed,
        ..Default::default()
    };
    let (mut store, p) = build_image_project(&tmp.path().join("decisions.yuxuan"), &spec)?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..(n + WARMUP) {
        let d = NewDecision {
            item_id: (i % 1000) as i64 + 1,
            label_set: "class".into(),
            label: Some(p.labels[i % p.labels.len()].clone()),
            annotator: "bench".into(),
            action: if i % 3 == 0 {
                Action::Correct
            } else {
                Action::Accept
            },
            ms_spent: 700,
            prediction_id: None,
        };
        let t = Instant::now();
        store.record_decision(&d)?;
        let dt = t.elapsed().as_secs_f64();
        if i >= WARMUP {
            samples.push(dt);
        }
    }
    // The numbers only count if everything is there and the file is sound.
    anyhow::ensure!(
        store.decision_count()? as usize == n + WARMUP,
        "decisions missing after the run"
    );
    anyhow::ensure!(
        store.integrity_check()? == "ok",
        "integrity_check failed after the run"
    );
    Ok(samples)
}

/// Latencies, in seconds, of writing 128 bytes and `fdatasync` on a file in `dir`.
pub fn fsync_latencies(dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut f = tempfile::Builder::new()
        .prefix("bench-fsync")
        .tempfile_in(dir)?;
    let buf = [7u8; 128];
    let mut samples = Vec::with_capacity(n);
    for i in 0..(n + WARMUP) {
        let t = Instant::now();
        f.write_all(&buf)?;
        f.as_file().sync_data()?;
        if i >= WARMUP {
            samples.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(samples)
}

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let n = cfg.decisions.max(1);
    let t0 = Instant::now();
    let lat = Latency::of_seconds(&decision_latencies(&cfg.dir, n, cfg.seed)?);
    let wall = t0.elapsed().as_secs_f64();
    let n_ref = n.min(2000);
    let disk = Latency::of_seconds(&fsync_latencies(&cfg.dir, n_ref)?);
    Ok(Measured {
        metrics: vec![
            Metric::new("commit p50", lat.p50, "ms").reference("write+fdatasync p50", disk.p50, "ms"),
            Metric::new("commit p99", lat.p99, "ms")
                .target(Target::below(P99_TARGET_MS))
                .reference("write+fdatasync p99", disk.p99, "ms"),
            Metric::new("commit max", lat.max, "ms").reference("write+fdatasync max", disk.max, "ms"),
            Metric::new("decisions/s (sequential)", 1000.0 / lat.mean, "1/s"),
        ],
        notes: vec![
            format!(
                "{n} decisions via Store::record_decision, each its own IMMEDIATE transaction, WAL + \
                 synchronous=FULL, after {WARMUP} warm-up; integrity_check ok and all rows present afterwards"
            ),
            format!("reference: {n_ref} x (write 128 B + fdatasync) on a file in the same directory"),
            format!("decision loop wall time {wall:.1} s"),
        ],
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_commits_everything() {
        let dir = tempfile::tempdir().unwrap();
        let s = decision_latencies(dir.path(), 30, 3).unwrap();
        assert_eq!(s.len(), 30);
        assert!(s.iter().all(|x| *x > 0.0));
        assert_eq!(fsync_latencies(dir.path(), 5).unwrap().len(), 5);
        // Scratch files are removed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
