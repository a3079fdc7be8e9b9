//! Row `queue`: over synthetic projects of N items (100k by default) and 10 N (1M) with an active model's
//! predictions on every item and 10% human-labelled:
//! - queue open: `Store::open` + `queue::build` (uncertain first, unlabeled), the time from
//!   "open project" to knowing the first item; reference: a bare index scan of the item ids;
//! - next item: what the review screen needs to show the next item (skip items labelled since
//!   the queue was built, load the item and the prediction shown), p50/p99 over 1,000 items
//!   with a decision committed between each (as an annotator does); reference: a bare
//!   primary-key lookup;
//! - the other strategies' build times (no target);
//! - peak RSS of the process during open + review (VmHWM, reset before opening).
//!
//! The targets (open + build < 1 s, next item p99 < 16 ms, RSS < 600 MB) are the 1M project's.

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

/// Items of the large project, as a multiple of `--items` (1M at the default 100k).
pub const LARGE_FACTOR: usize = 10;
/// Peak RSS target of the large project: 600 MB.
pub const LARGE_PEAK_RSS_TARGET_MIB: f64 = 600e6 / 1048576.0;

/// What one project size measured.
struct Figures {
    n: usize,
    labelled: usize,
    queue_len: usize,
    build_s: f64,
    opens: Vec<f64>,
    open: Latency,
    scan_ms: f64,
    others: Vec<(Strategy, f64)>,
    next: Latency,
    pk: Latency,
    peak: f64,
    rss_before: f64,
    rss_reset: bool,
}

fn measure(cfg: &BenchConfig, n: usize) -> anyhow::Result<Figures> {
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
        anyhow::ensure!(
            ids.len() == queue_len,
            "{} queue: {}",
            s.as_str(),
            ids.len()
        );
        others.push((s, t.elapsed().as_secs_f64() * 1000.0));
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
    let peak = super::peak_rss_mib().unwrap_or(f64::NAN);
    Ok(Figures {
        n,
        labelled: synth.labelled.len(),
        queue_len,
        build_s,
        open,
        opens,
        scan_ms,
        others,
        next: Latency::of_seconds(&next_samples),
        pk: Latency::of_seconds(&pk_samples),
        peak,
        rss_before,
        rss_reset,
    })
}

/// The row: the figures at `--items` (100k), then at ten times that (1M), the targets on the
/// large project.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let n = cfg.items.max(10);
    let small = measure(cfg, n)?;
    let large = measure(cfg, n * LARGE_FACTOR)?;
    let mut metrics = Vec::new();
    let mut notes = Vec::new();
    for (f, big) in [(&small, false), (&large, true)] {
        let at = format!(" ({} items)", f.n);
        let target = |t: Target, m: Metric| if big { m.target(t) } else { m };
        metrics.push(target(
            Target::below(OPEN_TARGET_MS),
            Metric::new(
                format!("open + build queue (uncertain), median of 3{at}"),
                f.open.p50,
                "ms",
            )
            .reference("bare scan of item ids", f.scan_ms, "ms"),
        ));
        metrics.push(
            Metric::new(format!("next item p50{at}"), f.next.p50, "ms").reference(
                "bare pk lookup p50",
                f.pk.p50,
                "ms",
            ),
        );
        metrics.push(target(
            Target::below(NEXT_P99_TARGET_MS),
            Metric::new(format!("next item p99{at}"), f.next.p99, "ms").reference(
                "bare pk lookup p99",
                f.pk.p99,
                "ms",
            ),
        ));
        for (s, ms) in &f.others {
            metrics.push(Metric::new(
                format!("build queue ({}){at}", s.as_str()),
                *ms,
                "ms",
            ));
        }
        metrics.push(
            Metric::new(format!("peak RSS (VmHWM){at}"), f.peak, "MiB")
                .target(Target::below(if big {
                    LARGE_PEAK_RSS_TARGET_MIB
                } else {
                    PEAK_RSS_TARGET_MIB
                }))
                .reference("RSS before opening", f.rss_before, "MiB"),
        );
        notes.push(format!(
            "{} image items, 10 labels, active model with top-5 predictions on every item, {} labelled \
             (queue of {} unlabeled); synthetic project built in {:.1} s; first open + build {:.0} ms, \
             slowest {:.0} ms; next item over {} items",
            f.n,
            f.labelled,
            f.queue_len,
            f.build_s,
            f.opens[0] * 1000.0,
            f.open.max,
            f.next.n
        ));
        if !f.rss_reset {
            notes.push(
                "peak RSS could not be reset (/proc/self/clear_refs): it includes earlier work"
                    .into(),
            );
        }
    }
    notes.push(
        "warm OS page cache (the project was just written); next item = skip items labelled \
         meanwhile + load item + prediction shown, a decision committed after each; peak RSS \
         reset just before opening, the whole process's (libtorch loaded)"
            .into(),
    );
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
        assert_eq!(m.metrics.len(), 14);
        assert!(
            m.metrics
                .iter()
                .all(|x| x.value.is_finite() && x.value >= 0.0),
            "{:?}",
            m.metrics
        );
        // Targets: open, next p99 and RSS of the large project, and the small one's RSS.
        assert_eq!(m.metrics.iter().filter(|x| x.target.is_some()).count(), 4);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "scratch project removed"
        );
    }
}
