//! Synthetic projects for the benchmarks: an image project of N items (no files behind them)
//! with an active model whose predictions cover every item, part of them human-labelled, and
//! optionally class-separable cached embeddings. Everything goes through the store API, so the
//! file looks like one the app made.

use std::path::Path;

use rand::{Rng, SeedableRng};

use crate::domain::{Action, ItemKind, NewDecision, NewItem, NewLabel, TaskKind};
use crate::store::models::NewModel;
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// What to put in a synthetic project.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub items: usize,
    pub labels: usize,
    /// Fraction of items with a human label (decisions of annotator "synth").
    pub labelled: f64,
    /// Register an active model and store its top-5 predictions for every item.
    pub predictions: bool,
    /// Cached embeddings of this dimension for labelled items, 0 = none.
    pub embedding_dim: usize,
    /// The backbone name the embeddings are stored under.
    pub backbone: String,
    pub seed: u64,
}

/// The default backbone name of synthetic embeddings.
pub const SYNTH_BACKBONE: &str = "synthetic";

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            items: 1000,
            labels: 10,
            labelled: 0.0,
            predictions: true,
            embedding_dim: 0,
            backbone: SYNTH_BACKBONE.into(),
            seed: 42,
        }
    }
}

/// What was built.
#[derive(Debug, Clone)]
pub struct SynthProject {
    pub labels: Vec<String>,
    pub model_id: Option<i64>,
    /// Item ids with a human label, and their label index.
    pub labelled: Vec<(i64, usize)>,
}

/// Label names of a synthetic project: `class00`, `class01`, ...
pub fn label_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class{i:02}")).collect()
}

/// Create `path` (must not exist) as described by `spec`.
pub fn build_image_project(path: &Path, spec: &SynthSpec) -> anyhow::Result<(Store, SynthProject)> {
    anyhow::ensure!(
        spec.labels >= 2,
        "a synthetic project needs at least 2 labels"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let mut store = Store::create(path, "bench", TaskKind::Image)?;
    let labels = label_names(spec.labels);
    store.add_labels(
        "class",
        &labels.iter().map(NewLabel::named).collect::<Vec<_>>(),
    )?;

    // Items, in chunks so memory stays flat at any size.
    let mut ids = Vec::with_capacity(spec.items);
    for start in (0..spec.items).step_by(10_000) {
        let end = (start + 10_000).min(spec.items);
        let batch: Vec<NewItem> = (start..end)
            .map(|i| {
                let mut it =
                    NewItem::new(ItemKind::Image, format!("/data/synthetic/img{i:07}.jpg"));
                it.content_hash = Some(format!("{:016x}{:016x}", spec.seed, i));
                it.size_bytes = Some(20_000 + (i as i64 % 5000));
                it.width = Some(640);
                it.height = Some(480);
                it
            })
            .collect();
        ids.extend(store.insert_items(&batch)?.into_iter().map(|r| r.id()));
    }

    // Each item's true class; the model is right ~85% of the time.
    let truth: Vec<usize> = ids
        .iter()
        .map(|_| rng.random_range(0..spec.labels))
        .collect();

    let model_id = if spec.predictions {
        let model = store.add_model(&NewModel {
            label_set: "class".into(),
            kind: "synthetic".into(),
            parent_id: None,
            training_run_id: None,
            labels: labels.clone(),
            spec: serde_json::json!({"synthetic": true}),
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        })?;
        store.activate_model(model.id)?;
        for (chunk_ids, chunk_truth) in ids.chunks(10_000).zip(truth.chunks(10_000)) {
            let preds: Vec<NewPrediction> = chunk_ids
                .iter()
                .zip(chunk_truth)
                .map(|(&item_id, &t)| {
                    let top1 = if rng.random_bool(0.85) {
                        t
                    } else {
                        rng.random_range(0..spec.labels)
                    };
                    let mut scores: Vec<f64> =
                        (0..spec.labels).map(|_| rng.random::<f64>()).collect();
                    scores[top1] += 2.0 + rng.random::<f64>() * 4.0;
                    let sum: f64 = scores.iter().sum();
                    let mut top: Vec<(String, f64)> = scores
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (labels[i].clone(), s / sum))
                        .collect();
                    top.sort_by(|a, b| b.1.total_cmp(&a.1));
                    top.truncate(5);
                    NewPrediction { item_id, top }
                })
                .collect();
            store.put_predictions("class", Some(model.id), &preds)?;
        }
        Some(model.id)
    } else {
        None
    };

    // Human labels for a fraction of the items, in one transaction per chunk.
    let n_labelled = ((spec.items as f64) * spec.labelled.clamp(0.0, 1.0)).round() as usize;
    let labelled: Vec<(i64, usize)> = ids
        .iter()
        .zip(&truth)
        .take(n_labelled)
        .map(|(&i, &t)| (i, t))
        .collect();
    for chunk in labelled.chunks(10_000) {
        let ds: Vec<NewDecision> = chunk
            .iter()
            .map(|&(item_id, t)| NewDecision {
                item_id,
                label_set: "class".into(),
                label: Some(labels[t].clone()),
                annotator: "synth".into(),
                action: Action::Correct,
                ms_spent: 900,
                prediction_id: None,
            })
            .collect();
        store.record_decisions(&ds)?;
    }

    if spec.embedding_dim > 0 {
        let centers = class_centers(spec.labels, spec.embedding_dim, &mut rng);
        for chunk in labelled.chunks(2_000) {
            let rows: Vec<(i64, Vec<f32>)> = chunk
                .iter()
                .map(|&(item_id, t)| (item_id, noisy(&centers[t], 1.0, &mut rng)))
                .collect();
            store.put_embeddings(&spec.backbone, &rows)?;
        }
    }

    Ok((
        store,
        SynthProject {
            labels,
            model_id,
            labelled,
        },
    ))
}

/// Random class centres (unit-variance coordinates, ReLU-like: non-negative, as MobileNet's
/// pooled features are).
pub fn class_centers(classes: usize, dim: usize, rng: &mut impl Rng) -> Vec<Vec<f32>> {
    (0..classes)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() * 2.0).collect())
        .collect()
}

/// `n` clustered embeddings of `dim` (item ids `1..=n`) with near duplicates among them:
/// 50 class centres (as [`class_centers`]), each item its centre plus noise of amplitude 1
/// (cosine ~0.8 to its class, ~0.6 to others), except one in five, a copy of an earlier item
/// plus noise of amplitude 0.2-1.2 (cosine ~0.99-0.88 to it: pairs on both sides of 0.95,
/// groups of a few items). Returns the rows and how many are copies.
pub fn near_duplicate_embeddings(n: usize, dim: usize, seed: u64) -> (Vec<(i64, Vec<f32>)>, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let centers = class_centers(50, dim, &mut rng);
    let mut rows: Vec<(i64, Vec<f32>)> = Vec::with_capacity(n);
    let mut copies = 0;
    for k in 0..n {
        let v = if k > 0 && rng.random_bool(0.2) {
            copies += 1;
            let of = rng.random_range(0..k);
            let amp = 0.2 + rng.random::<f32>();
            noisy(&rows[of].1, amp, &mut rng)
        } else {
            let c = rng.random_range(0..centers.len());
            noisy(&centers[c], 1.0, &mut rng)
        };
        rows.push((k as i64 + 1, v));
    }
    (rows, copies)
}

/// `center` plus uniform noise of amplitude `amp`, clamped at 0.
pub fn noisy(center: &[f32], amp: f32, rng: &mut impl Rng) -> Vec<f32> {
    center
        .iter()
        .map(|c| (c + (rng.random::<f32>() - 0.5) * 2.0 * amp).max(0.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_consistent_small_project() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SynthSpec {
            items: 300,
            labels: 4,
            labelled: 0.1,
            predictions: true,
            embedding_dim: 8,
            seed: 1,
            ..Default::default()
        };
        let (store, p) = build_image_project(&dir.path().join("s.yuxuan"), &spec).unwrap();
        let c = store.item_counts(ItemKind::Image, "class").unwrap();
        assert_eq!((c.total, c.labeled, c.predicted), (300, 30, 300));
        assert_eq!(p.labelled.len(), 30);
        assert_eq!(
            store.active_model("class").unwrap().map(|m| m.id),
            p.model_id
        );
        assert_eq!(store.embeddings(SYNTH_BACKBONE).unwrap().len(), 30);
        let pred = store.prediction(1, "class", p.model_id).unwrap().unwrap();
        assert!(pred.top.len() <= 5 && pred.margin >= 0.0);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
}
