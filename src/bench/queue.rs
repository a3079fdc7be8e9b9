//! Row `queue`: over a synthetic project of N items (100k by default) with an active model's
//! predictions on every item and 10% human-labelled:
//! - queue open: `Store::open` + `queue::build` (uncertain first, unlabeled), the time from
//!   "open project" to knowing the first item; reference: a bare index scan of the item ids;
//! - next item: what the review screen needs to show the next item (skip items labelled since
//!   the queue was built, load the item and the prediction shown), p50/p99 over 1,000 items
//!   with a decision committed between each (as an annotator does); reference: a bare
//!   primary-key lookup;
//! - the other strategies' build times (no target);
//! - peak RSS of the process during open + review (VmHWM, reset before opening).

use std::time::Instant;

use super::synth::{build_image_project, SynthSpec};
use super::{BenchConfig, Latency, Measured, Metric, RowOutcome, Target};
use crate::domain::{Action, ItemKind, NewDecision};
use crate::queue::{self, Filter, QueueSpec, Strategy};
use crate::store::Store;

pub const OPEN_TARGET_MS: f64 = 1000.0;
pub const NEXT_P99_TARGET_MS: f64 = 16.0;
pub const PEAK_RSS_TARGET_MIB: f64 = 500.0;

/// Items reviewed by the next-item measurement.
const REVIEWED: usize = 1000;

fn spec(strategy: Strategy) -> QueueSpec {
    QueueSpec {
        label_set: "class".into(),
        strategy,
        filter: Filter::Unlabeled,
        seed: 7,
        annotator: None,
    }
}

/// What the review screen loads to show an item: the item and the prediction shown.
fn show(store: &Store, id: i64, model: Option<i64>) -> anyhow::Result<bool> {
    if store.current_label(id, "class")?.is_some() {
        return Ok(false);
    }
    let item = store.item(id)?;
    let pred = store.prediction(id, "class", model)?;
    Ok(item.is_some() && pred.is_some())
}

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let n = cfg.items.max(10);
    let tmp = tempfile::Builder::new()
        .prefix("bench-queue")
        .tempdir_in(&cfg.dir)?;
    let path = tmp.path().join("queue.yuxuan");
    let t_build = Instant::now();
    let (store, synth) = build_image_project(
        &path,
        &SynthSpec {
            items: n,
            labels: 10,
            labelled: 0.1,
            predictions: true,
            embedding_dim: 0,
            seed: cfg.seed,
            ..Default::default()
        },
    )?;
    drop(store);
    let build_s = t_build.elapsed().as_secs_f64();
    let labels = synth.labels;

    let rss_reset = super::reset_peak_rss();
    let rss_before = super::rss_mib().unwrap_or(f64::NAN);

    // Open + build, three times on a fresh connection each; the median counts.
    let mut opens = Vec::new();
    let mut queue_len = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let store = Store::open(&path)?;
        let ids = queue::build(&store, &spec(Strategy::Uncertain))?;
        opens.push(t.elapsed().as_secs_f64());
        queue_len = ids.len();
    }
    let open = Latency::of_seconds(&opens);
    anyhow::ensure!(
        queue_len == n - synth.labelled.len(),
        "queue has {queue_len} items, expected the unlabeled ones"
    );

    let mut store = Store::open(&path)?;
    let t = Instant::now();
    let scanned = store.item_ids(ItemKind::Image)?.len();
    let scan_ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(scanned == n, "scan saw {scanned} items");

    let mut others = Vec::new();
    for s in [Strategy::Confident, Strategy::Random, Strategy::FileOrder] {
        let t = Instant::now();
        let ids = queue::build(&store, &spec(s))?;
        others.push((s, t.elapsed().as_secs_f64() * 1000.0, ids.len()));
    }

    // Review: next item (timed), then a decision (not timed; its own row measures it).
    let ids = queue::build(&store, &spec(Strategy::Uncertain))?;
    let model = store.active_model("class")?.map(|m| m.id);
    let mut next_samples = Vec::with_capacity(REVIEWED);
    let mut pk_samples = Vec::with_capacity(REVIEWED);
    let mut cursor = 0;
    while next_samples.len() < REVIEWED.min(ids.len()) && cursor < ids.len() {
        let t = Instant::now();
        let mut shown = None;
        while cursor < ids.len() {
            let id = ids[cursor];
            cursor += 1;
            if show(&store, id, model)? {
                shown = Some(id);
                break;
            }
        }
        next_samples.push(t.elapsed().as_secs_f64());
        let Some(id) = shown else { break };
        let t = Instant::now();
        anyhow::ensure!(store.item_exists(id)?, "item {id} vanished");
        pk_samples.push(t.elapsed().as_secs_f64());
        store.record_decision(&NewDecision {
            item_id: id,
            label_set: "class".into(),
            label: Some(labels[id as usize % labels.len()].clone()),
            annotator: "bench".into(),
            action: Action::Accept,
            ms_spent: 800,
            prediction_id: None,
        })?;
    }
    let next = Latency::of_seconds(&next_samples);
    let pk = Latency::of_seconds(&pk_samples);
    let peak = super::peak_rss_mib().unwrap_or(f64::NAN);

    let mut metrics = vec![
        Metric::new(
            "open + build queue (uncertain), median of 3",
            open.p50,
            "ms",
        )
        .target(Target::below(OPEN_TARGET_MS))
        .reference("bare scan of item ids", scan_ms, "ms"),
        Metric::new("next item p50", next.p50, "ms").reference("bare pk lookup p50", pk.p50, "ms"),
        Metric::new("next item p99", next.p99, "ms")
            .target(Target::below(NEXT_P99_TARGET_MS))
            .reference("bare pk lookup p99", pk.p99, "ms"),
    ];
    for (s, ms, _) in &others {
        metrics.push(Metric::new(
            format!("build queue ({})", s.as_str()),
            *ms,
            "ms",
        ));
    }
    metrics.push(
        Metric::new("peak RSS (VmHWM)", peak, "MiB")
            .target(Target::below(PEAK_RSS_TARGET_MIB))
            .reference("RSS before opening", rss_before, "MiB"),
    );
    let mut notes = vec![
        format!(
            "{n} image items, 10 labels, active model with top-5 predictions on every item, {} labelled \
             (queue of {queue_len} unlabeled); synthetic project built in {build_s:.1} s",
            synth.labelled.len()
        ),
        "warm OS page cache (the project was just written)".into(),
        format!(
            "next item = skip items labelled meanwhile + load item + prediction shown; {} items, a decision \
             committed after each",
            next.n
        ),
        format!("first open + build {:.0} ms, slowest {:.0} ms", opens[0] * 1000.0, open.max),
    ];
    if !rss_reset {
        notes.push(
            "peak RSS could not be reset (/proc/self/clear_refs): it includes earlier rows".into(),
        );
    } else {
        notes.push(
            "peak RSS reset just before opening; it is the whole process's (libtorch loaded)"
                .into(),
        );
    }
    Ok(Measured { metrics, notes }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_queue_row_measures_every_figure() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = BenchConfig {
            dir: dir.path().to_path_buf(),
            items: 400,
            ..Default::default()
        };
        let RowOutcome::Measured(m) = run_row(&cfg).unwrap() else {
            panic!("measured")
        };
        assert_eq!(m.metrics.len(), 7);
        assert!(
            m.metrics
                .iter()
                .all(|x| x.value.is_finite() && x.value >= 0.0),
            "{:?}",
            m.metrics
        );
        assert!(m.metrics.iter().filter(|x| x.target.is_some()).count() == 3);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "scratch project removed"
        );
    }
}
