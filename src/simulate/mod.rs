//! The simulator: replays an annotator who knows the truth, to show how much work the machine
//! saves and to compare queue strategies and backbones. A fixed, stratified share of the truth
//! items (seeded) is held out and never shown: the learning curve is measured there
//! (accuracy, macro-F1, ECE of the shown scores, bulk-accept precision at the model's
//! calibrated threshold), not only on the not-yet-labelled rest (which flatters the
//! uncertain queue: it labels the hard items first). Each round takes the queue's next
//! `batch` items of the rest, "accepts" when the active model's suggestion is right and
//! "corrects" otherwise (no suggestion counts as a correction), retrains, pre-labels again.
//! Training is deterministic, so the same project, seed and options give the same CSV.

pub mod boxes_oracle;
pub mod objects;
pub mod team;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::domain::{sets, Action, NewDecision, NewLabel};
use crate::jobs::JobCtx;
use crate::ml::family::Activation;
use crate::ml::project;
use crate::ml::train::TrainConfig;
use crate::queue::{self, Filter, QueueSpec, Strategy};
use crate::store::Store;

/// The simulated annotator's name in `decisions`.
pub const SIM_ANNOTATOR: &str = "simulator";

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub batch: usize,
    pub strategy: Strategy,
    /// Stop after this many labels (None: until every item with a truth label is labelled).
    pub max_labels: Option<usize>,
    pub train: TrainConfig,
    /// Training mode (the project's by default).
    pub mode: Option<crate::ml::catalog::ImageMode>,
    pub seed: u64,
    /// Share of the truth items held out (never labelled) to measure the curve on.
    pub eval_holdout: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            batch: 50,
            strategy: Strategy::default(),
            max_labels: None,
            train: TrainConfig {
                holdout: 0.1,
                ..Default::default()
            },
            mode: None,
            seed: 42,
            eval_holdout: 0.2,
        }
    }
}

/// One point of the curve (after a round).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPoint {
    pub round: usize,
    /// Items labelled so far by the simulated annotator.
    pub labels: usize,
    /// Of those, how many needed a correction (suggestion wrong or missing).
    pub corrections: usize,
    /// Of those, how many were a one-key accept.
    pub accepted: usize,
    /// Items with a truth label not labelled yet.
    pub rest: usize,
    /// Accuracy of the active model's suggestions on the rest (None before the first model).
    pub accuracy_rest: Option<f64>,
    pub model_version: Option<i64>,
    /// The active model on the held-out items.
    pub holdout: HoldoutEval,
    /// Seconds the retraining of this round took (0 for round 0).
    pub train_seconds: f64,
}

/// The active model's numbers on the held-out items.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HoldoutEval {
    /// Accuracy and macro-F1 of the suggestions, ECE of their scores.
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub ece: Option<f64>,
    /// The model's bulk-accept threshold (calibrated on its own hold-out), and the precision
    /// and share of the held-out items it would accept.
    pub bulk_threshold: Option<f64>,
    pub bulk_precision: Option<f64>,
    pub bulk_share: Option<f64>,
}

/// The active model (its version) and its predictions (label, score) by item, read once per
/// round for both measurements.
type RoundPredictions = Option<(crate::domain::ModelInfo, HashMap<i64, (String, f64)>)>;

fn round_predictions(store: &Store) -> anyhow::Result<RoundPredictions> {
    let Some(model) = store.active_model(sets::CLASS)? else {
        return Ok(None);
    };
    let preds = store
        .predictions_of_model(sets::CLASS, Some(model.id))?
        .into_iter()
        .map(|p| (p.item_id, (p.label, p.score)))
        .collect();
    Ok(Some((model, preds)))
}

fn holdout_eval(
    round: &RoundPredictions,
    truth: &HashMap<i64, String>,
    held: &[i64],
) -> HoldoutEval {
    let Some((model, preds)) = round else {
        return HoldoutEval::default();
    };
    if held.is_empty() {
        return HoldoutEval::default();
    }
    let mut labels: Vec<String> = truth.values().cloned().collect();
    labels.sort();
    labels.dedup();
    let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(usize::MAX);
    let (mut t, mut p, mut scored) = (vec![], vec![], vec![]);
    for id in held {
        let truth_l = &truth[id];
        let (pl, s) = preds.get(id).cloned().unwrap_or_default();
        t.push(index(truth_l));
        p.push(index(&pl));
        scored.push((s, &pl == truth_l));
    }
    let m = crate::ml::metrics::Metrics::compute(&labels, &t, &p);
    let threshold = model
        .metrics
        .as_ref()
        .and_then(|x| x.pointer("/calibration/bulk_threshold"))
        .and_then(|v| v.as_f64());
    let (bp, bs) = match threshold {
        Some(th) => {
            let acc: Vec<bool> = scored
                .iter()
                .filter(|(s, _)| *s >= th)
                .map(|x| x.1)
                .collect();
            (
                (!acc.is_empty())
                    .then(|| acc.iter().filter(|&&ok| ok).count() as f64 / acc.len() as f64),
                Some(acc.len() as f64 / scored.len() as f64),
            )
        }
        None => (None, None),
    };
    HoldoutEval {
        accuracy: Some(m.accuracy),
        macro_f1: Some(m.macro_f1),
        ece: Some(crate::ml::calibration::ece_of(&scored)),
        bulk_threshold: threshold,
        bulk_precision: bp,
        bulk_share: bs,
    }
}

/// The truth items split into (labelled in the pass, held out): stratified by label, seeded.
pub fn split_truth(truth: &HashMap<i64, String>, holdout: f64, seed: u64) -> (Vec<i64>, Vec<i64>) {
    let mut ids: Vec<i64> = truth.keys().copied().collect();
    ids.sort();
    if holdout <= 0.0 {
        return (ids, vec![]);
    }
    let mut labels: Vec<&String> = truth.values().collect();
    labels.sort();
    labels.dedup();
    let targets: Vec<usize> = ids
        .iter()
        .map(|id| labels.iter().position(|l| *l == &truth[id]).expect("label"))
        .collect();
    let (a, b) = crate::ml::split::stratified_split(&targets, holdout, seed);
    let mut pass: Vec<i64> = a.into_iter().map(|i| ids[i]).collect();
    let mut held: Vec<i64> = b.into_iter().map(|i| ids[i]).collect();
    pass.sort();
    held.sort();
    (pass, held)
}

/// The numbers of a finished simulation (what `yuxuan simulate` prints at the end).
#[derive(Debug, Clone, Serialize)]
pub struct SimSummary {
    /// Items labelled in the pass, and how many needed a correction.
    pub labels: usize,
    pub corrections: usize,
    /// corrections / labels (labelling everything by hand: 1.0).
    pub corrections_ratio: f64,
    /// (labels, hold-out accuracy, hold-out macro-F1) at the first round with at least 100,
    /// 200 and 500 labels.
    pub at: Vec<(usize, Option<f64>, Option<f64>)>,
    pub final_accuracy: Option<f64>,
    pub final_macro_f1: Option<f64>,
    pub final_ece: Option<f64>,
    pub bulk_precision: Option<f64>,
    pub bulk_share: Option<f64>,
    pub mean_train_seconds: f64,
}

/// Summarise a curve.
pub fn summarize(points: &[SimPoint]) -> SimSummary {
    let last = points.last();
    let labels = last.map_or(0, |p| p.labels);
    let corrections = last.map_or(0, |p| p.corrections);
    let at = [100usize, 200, 500]
        .iter()
        .filter_map(|&n| {
            points
                .iter()
                .find(|p| p.labels >= n)
                .map(|p| (p.labels, p.holdout.accuracy, p.holdout.macro_f1))
        })
        .collect();
    let trained: Vec<f64> = points
        .iter()
        .filter(|p| p.round > 0)
        .map(|p| p.train_seconds)
        .collect();
    // The last point with a model evaluated.
    let ev = points.iter().rev().find(|p| p.holdout.accuracy.is_some());
    SimSummary {
        labels,
        corrections,
        corrections_ratio: corrections as f64 / labels.max(1) as f64,
        at,
        final_accuracy: ev.and_then(|p| p.holdout.accuracy),
        final_macro_f1: ev.and_then(|p| p.holdout.macro_f1),
        final_ece: ev.and_then(|p| p.holdout.ece),
        bulk_precision: ev.and_then(|p| p.holdout.bulk_precision),
        bulk_share: ev.and_then(|p| p.holdout.bulk_share),
        mean_train_seconds: trained.iter().sum::<f64>() / trained.len().max(1) as f64,
    }
}

/// Truth labels by item id, from `path -> label` (absolute paths as `read_labels_csv` gives).
pub fn truth_by_item(
    store: &Store,
    by_path: &HashMap<PathBuf, String>,
) -> anyhow::Result<HashMap<i64, String>> {
    // Matched on the recorded source paths (team projects read files from a cache).
    let mut out = HashMap::new();
    for it in store.items_of_kind(crate::domain::ItemKind::Image)? {
        if it.error.is_some() {
            continue;
        }
        if let Some(l) = by_path.get(Path::new(&it.source_path)) {
            out.insert(it.id, l.clone());
        }
    }
    Ok(out)
}

fn accuracy_rest(
    round: &RoundPredictions,
    truth: &HashMap<i64, String>,
    labelled: &std::collections::HashSet<i64>,
) -> (Option<f64>, Option<i64>) {
    let Some((model, preds)) = round else {
        return (None, None);
    };
    let (mut n, mut ok) = (0usize, 0usize);
    for (id, t) in truth {
        if labelled.contains(id) {
            continue;
        }
        n += 1;
        if preds.get(id).map(|p| &p.0) == Some(t) {
            ok += 1;
        }
    }
    ((n > 0).then(|| ok as f64 / n as f64), Some(model.version))
}

/// Run the simulation on `store` (it records decisions of [`SIM_ANNOTATOR`] and trains
/// models: run it on a copy of a project). `truth` maps item ids to their true labels.
pub fn run(
    store: &mut Store,
    truth: &HashMap<i64, String>,
    opts: &SimOptions,
    ctx: &JobCtx,
) -> anyhow::Result<Vec<SimPoint>> {
    anyhow::ensure!(opts.batch > 0, "batch must be at least 1");
    anyhow::ensure!(
        !truth.is_empty(),
        "no item of the project has a truth label"
    );
    let existing: Vec<String> = store
        .labels(sets::CLASS)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut missing: Vec<String> = truth
        .values()
        .filter(|l| !existing.contains(l))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    store.add_labels(
        sets::CLASS,
        &missing.into_iter().map(NewLabel::named).collect::<Vec<_>>(),
    )?;
    let full_truth = truth;
    ctx.set_message("embeddings");
    project::prelabel(store, &JobCtx::new("embed"))?;
    anyhow::ensure!(
        (0.0..0.9).contains(&opts.eval_holdout),
        "the held-out share must be in [0, 0.9)"
    );
    let (pass, held) = split_truth(truth, opts.eval_holdout, opts.seed);
    let held_set: std::collections::HashSet<i64> = held.iter().copied().collect();
    let pass_truth: HashMap<i64, String> = pass.iter().map(|id| (*id, truth[id].clone())).collect();
    let truth = &pass_truth;
    let mut labelled: std::collections::HashSet<i64> = store
        .current_labels(sets::CLASS)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| truth.contains_key(id))
        .collect();
    let limit = opts.max_labels.unwrap_or(truth.len()).min(truth.len());
    let (mut corrections, mut accepted, mut done) = (0usize, 0usize, 0usize);
    let mut points = Vec::new();
    let round0 = round_predictions(store)?;
    let (acc, version) = accuracy_rest(&round0, truth, &labelled);
    let ev = holdout_eval(&round0, full_truth, &held);
    points.push(SimPoint {
        round: 0,
        labels: 0,
        corrections: 0,
        accepted: 0,
        rest: truth.len() - labelled.len(),
        accuracy_rest: acc,
        model_version: version,
        holdout: ev,
        train_seconds: 0.0,
    });
    ctx.set_total(limit as u64);
    ctx.set_done(0);
    let spec = QueueSpec {
        label_set: sets::CLASS.to_string(),
        strategy: opts.strategy,
        filter: Filter::Unlabeled,
        seed: opts.seed,
        annotator: None,
    };
    let mut round = 0;
    while done < limit {
        ctx.check()?;
        round += 1;
        let active = store.active_model(sets::CLASS)?;
        let take = opts.batch.min(limit - done);
        let next: Vec<i64> = queue::build(
            store,
            &QueueSpec {
                seed: opts.seed + round as u64,
                annotator: None,
                ..spec.clone()
            },
        )?
        .into_iter()
        .filter(|id| truth.contains_key(id) && !labelled.contains(id) && !held_set.contains(id))
        .take(take)
        .collect();
        if next.is_empty() {
            break;
        }
        let mut decisions = Vec::with_capacity(next.len());
        for id in &next {
            let t = &truth[id];
            let pred = match &active {
                Some(m) => store
                    .prediction(*id, sets::CLASS, Some(m.id))?
                    .filter(|p| p.model_id == Some(m.id)),
                None => None,
            };
            let action = if pred.as_ref().is_some_and(|p| &p.label == t) {
                accepted += 1;
                Action::Accept
            } else {
                corrections += 1;
                Action::Correct
            };
            decisions.push(NewDecision {
                item_id: *id,
                label_set: sets::CLASS.to_string(),
                label: Some(t.clone()),
                annotator: SIM_ANNOTATOR.to_string(),
                action,
                ms_spent: 0,
                prediction_id: pred.map(|p| p.id),
            });
            labelled.insert(*id);
        }
        store.record_decisions(&decisions)?;
        done += next.len();
        let classes: std::collections::HashSet<&String> = store
            .current_labels(sets::CLASS)?
            .into_iter()
            .filter_map(|(id, _)| truth.get(&id))
            .collect();
        let t_train = std::time::Instant::now();
        if classes.len() >= 2 {
            ctx.set_message(format!(
                "round {round}: training on {} labels",
                labelled.len()
            ));
            project::train(
                store,
                sets::CLASS,
                opts.mode,
                &opts.train,
                Activation::Always,
                &JobCtx::new("train"),
            )?;
        }
        let train_seconds = t_train.elapsed().as_secs_f64();
        if classes.len() >= 2 {
            project::prelabel(store, &JobCtx::new("prelabel"))?;
        }
        let preds = round_predictions(store)?;
        let (acc, version) = accuracy_rest(&preds, truth, &labelled);
        let ev = holdout_eval(&preds, full_truth, &held);
        points.push(SimPoint {
            round,
            labels: done,
            corrections,
            accepted,
            rest: truth.len() - labelled.len(),
            accuracy_rest: acc,
            model_version: version,
            holdout: ev,
            train_seconds,
        });
        ctx.set_done(done as u64);
    }
    Ok(points)
}

/// One simulation of a comparison: its name (`strategy/backbone`) and its curve.
pub type NamedRun = (String, Vec<SimPoint>);

/// Write the curves as one CSV: `round,labels,accuracy_rest,corrections,accepted,rest,
/// model_version,holdout_accuracy,holdout_macro_f1,holdout_ece,bulk_threshold,bulk_precision,
/// bulk_share,train_seconds,config`.
pub fn write_csv(runs: &[NamedRun], path: &Path) -> anyhow::Result<()> {
    let f = |x: Option<f64>| x.map(|a| format!("{a:.4}")).unwrap_or_default();
    crate::fsutil::write_atomic(path, |tmp| -> anyhow::Result<()> {
        let mut w = csv::Writer::from_path(tmp)?;
        w.write_record([
            "round",
            "labels",
            "accuracy_rest",
            "corrections",
            "accepted",
            "rest",
            "model_version",
            "holdout_accuracy",
            "holdout_macro_f1",
            "holdout_ece",
            "bulk_threshold",
            "bulk_precision",
            "bulk_share",
            "train_seconds",
            "config",
        ])?;
        for (name, points) in runs {
            for p in points {
                w.write_record([
                    p.round.to_string(),
                    p.labels.to_string(),
                    f(p.accuracy_rest),
                    p.corrections.to_string(),
                    p.accepted.to_string(),
                    p.rest.to_string(),
                    p.model_version.map(|v| v.to_string()).unwrap_or_default(),
                    f(p.holdout.accuracy),
                    f(p.holdout.macro_f1),
                    f(p.holdout.ece),
                    f(p.holdout.bulk_threshold),
                    f(p.holdout.bulk_precision),
                    f(p.holdout.bulk_share),
                    format!("{:.3}", p.train_seconds),
                    name.clone(),
                ])?;
            }
        }
        w.flush()?;
        Ok(())
    })
}

/// Colours of the plot's runs, in order (also printed as the legend).
pub const RUN_COLOURS: [(&str, [u8; 3]); 10] = [
    ("red", [214, 39, 40]),
    ("blue", [31, 119, 180]),
    ("green", [44, 160, 44]),
    ("orange", [255, 127, 14]),
    ("purple", [148, 103, 189]),
    ("brown", [140, 86, 75]),
    ("pink", [227, 119, 194]),
    ("grey", [127, 127, 127]),
    ("olive", [188, 189, 34]),
    ("cyan", [23, 190, 207]),
];

/// Draw a straight line of `thick` extra pixels each side (clipped to the image).
fn line(img: &mut image::RgbImage, a: (i64, i64), b: (i64, i64), c: [u8; 3], thick: i64) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    for s in 0..=steps {
        let x = a.0 + (b.0 - a.0) * s / steps;
        let y = a.1 + (b.1 - a.1) * s / steps;
        for dx in -thick..=thick {
            for dy in -thick..=thick {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && px < w && py < h {
                    img.put_pixel(px as u32, py as u32, image::Rgb(c));
                }
            }
        }
    }
}

/// Draw the curves as a PNG (no text; the CSV has the numbers and the CLI prints the
/// legend): x = labels so far, y = 0..1. Per run (colours in [`RUN_COLOURS`] order): thick,
/// the share of labels that needed a correction so far; thin, the hold-out accuracy. Light
/// grid lines every 10% and every tenth of the x range.
pub fn write_plot(runs: &[NamedRun], path: &Path) -> anyhow::Result<()> {
    let (w, h, m) = (800u32, 480u32, 40i64);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let max_x = runs
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.labels))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let px = |x: f64| m + ((x / max_x) * (w as i64 - 2 * m) as f64) as i64;
    let py = |y: f64| (h as i64 - m) - ((y.clamp(0.0, 1.0)) * (h as i64 - 2 * m) as f64) as i64;
    for k in 0..=10 {
        let y = py(k as f64 / 10.0);
        line(&mut img, (m, y), (w as i64 - m, y), [225, 225, 225], 0);
        let x = px(max_x * k as f64 / 10.0);
        line(&mut img, (x, m), (x, h as i64 - m), [225, 225, 225], 0);
    }
    line(
        &mut img,
        (m, py(0.0)),
        (w as i64 - m, py(0.0)),
        [0, 0, 0],
        0,
    );
    line(&mut img, (m, py(0.0)), (m, py(1.0)), [0, 0, 0], 0);
    for (k, (_, points)) in runs.iter().enumerate() {
        let c = RUN_COLOURS[k % RUN_COLOURS.len()].1;
        let acc: Vec<(i64, i64)> = points
            .iter()
            .filter_map(|p| {
                p.holdout
                    .accuracy
                    .or(p.accuracy_rest)
                    .map(|a| (px(p.labels as f64), py(a)))
            })
            .collect();
        let corr: Vec<(i64, i64)> = points
            .iter()
            .filter(|p| p.labels > 0)
            .map(|p| {
                (
                    px(p.labels as f64),
                    py(p.corrections as f64 / p.labels as f64),
                )
            })
            .collect();
        for pair in acc.windows(2) {
            line(&mut img, pair[0], pair[1], c, 0);
        }
        for pair in corr.windows(2) {
            line(&mut img, pair[0], pair[1], c, 1);
        }
        for p in corr {
            line(&mut img, p, p, c, 2);
        }
    }
    crate::fsutil::write_atomic(path, |tmp| img.save(tmp))
}
