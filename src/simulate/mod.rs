//! The simulator: replays an annotator who knows the truth, to show how much work the machine
//! saves and to compare queue strategies. Each round takes the queue's next `batch` items,
//! "accepts" when the active model's suggestion is right and "corrects" otherwise (a label
//! with no suggestion counts as a correction), retrains, pre-labels again and measures the
//! accuracy of the suggestions on the items not yet labelled. The curve goes to a CSV and a
//! PNG plot.

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
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            batch: 50,
            strategy: Strategy::Uncertain,
            max_labels: None,
            train: TrainConfig {
                holdout: 0.1,
                ..Default::default()
            },
            mode: None,
            seed: 42,
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
    store: &Store,
    truth: &HashMap<i64, String>,
    labelled: &std::collections::HashSet<i64>,
) -> anyhow::Result<(Option<f64>, Option<i64>)> {
    let Some(model) = store.active_model(sets::CLASS)? else {
        return Ok((None, None));
    };
    let preds: HashMap<i64, String> = store
        .predictions_of_model(sets::CLASS, Some(model.id))?
        .into_iter()
        .map(|p| (p.item_id, p.label))
        .collect();
    let (mut n, mut ok) = (0usize, 0usize);
    for (id, t) in truth {
        if labelled.contains(id) {
            continue;
        }
        n += 1;
        if preds.get(id) == Some(t) {
            ok += 1;
        }
    }
    Ok(((n > 0).then(|| ok as f64 / n as f64), Some(model.version)))
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
    ctx.set_message("embeddings");
    project::prelabel(store, &JobCtx::new("embed"))?;
    let mut labelled: std::collections::HashSet<i64> = store
        .current_labels(sets::CLASS)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| truth.contains_key(id))
        .collect();
    let limit = opts.max_labels.unwrap_or(truth.len()).min(truth.len());
    let (mut corrections, mut accepted, mut done) = (0usize, 0usize, 0usize);
    let mut points = Vec::new();
    let (acc, version) = accuracy_rest(store, truth, &labelled)?;
    points.push(SimPoint {
        round: 0,
        labels: 0,
        corrections: 0,
        accepted: 0,
        rest: truth.len() - labelled.len(),
        accuracy_rest: acc,
        model_version: version,
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
        .filter(|id| truth.contains_key(id) && !labelled.contains(id))
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
            project::prelabel(store, &JobCtx::new("prelabel"))?;
        }
        let (acc, version) = accuracy_rest(store, truth, &labelled)?;
        points.push(SimPoint {
            round,
            labels: done,
            corrections,
            accepted,
            rest: truth.len() - labelled.len(),
            accuracy_rest: acc,
            model_version: version,
        });
        ctx.set_done(done as u64);
    }
    Ok(points)
}

/// Write the curve as CSV: `round,labels,accuracy_rest,corrections,accepted,rest,model_version`.
pub fn write_csv(points: &[SimPoint], path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "round",
        "labels",
        "accuracy_rest",
        "corrections",
        "accepted",
        "rest",
        "model_version",
    ])?;
    for p in points {
        w.write_record([
            p.round.to_string(),
            p.labels.to_string(),
            p.accuracy_rest
                .map(|a| format!("{a:.4}"))
                .unwrap_or_default(),
            p.corrections.to_string(),
            p.accepted.to_string(),
            p.rest.to_string(),
            p.model_version.map(|v| v.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

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

/// Draw the curve as a PNG (no text; the CSV has the numbers): x = labels so far, y = 0..1.
/// Blue: accuracy of the suggestions on the rest. Red: share of labels that needed a
/// correction so far. Light grid lines every 10% and every tenth of the x range.
pub fn write_plot(points: &[SimPoint], path: &Path) -> anyhow::Result<()> {
    let (w, h, m) = (800u32, 480u32, 40i64);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let max_x = points.iter().map(|p| p.labels).max().unwrap_or(1).max(1) as f64;
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
    let acc: Vec<(i64, i64)> = points
        .iter()
        .filter_map(|p| p.accuracy_rest.map(|a| (px(p.labels as f64), py(a))))
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
    for (pts, c) in [(acc, [31u8, 119, 180]), (corr, [214, 39, 40])] {
        for pair in pts.windows(2) {
            line(&mut img, pair[0], pair[1], c, 1);
        }
        for p in pts {
            line(&mut img, p, p, c, 3);
        }
    }
    crate::fsutil::write_atomic(path, |tmp| img.save(tmp))
}
