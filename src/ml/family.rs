//! The training job shared by every model family (image head, TorchScript classifier, backbone
//! fine-tune, form field model, page industry model): gather the human labels, stratified
//! hold-out split (fixed seed, recorded), fit with progress and cancel, evaluate the new model
//! and the active one on the same hold-out, write the weights atomically, register the version,
//! activate it when not worse (or when told to). A family only says how to build, evaluate and
//! save its model; pre-labelling runs through [`prelabel`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::split::stratified_split;
use super::train::{self, EpochStat, TrainConfig, TrainTask};
use crate::domain::{ModelInfo, RunStatus};
use crate::jobs::{is_cancelled_error, JobCtx};
use crate::store::models::NewModel;
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// A model family: how to build, run and save one kind of classifier.
pub trait ModelFamily {
    /// The label set it predicts (`class`, `field_type`, `industry`).
    fn label_set(&self) -> &str;
    /// Recorded in `models.kind` (e.g. `image-head`, `torchscript`, `field-mlp`).
    fn kind(&self) -> &str;
    /// A trainable task over `items` (examples in this order) for `labels`, starting from
    /// `parent`'s weights when given (fine-tuning continues from the active model).
    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>>;
    /// Class probabilities of a registered model for `items` (columns in `model.labels` order).
    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>>;
    /// Save the trained task to `path` (atomically); returns the spec JSON to record.
    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value>;
    /// Items this family pre-labels (e.g. all images, all fields of non-error pages).
    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>>;
    /// Batch size for `n_train` examples when the config leaves it to the family
    /// (`TrainConfig::batch_size == 0`).
    fn default_batch_size(&self, _n_train: usize) -> usize {
        train::DEFAULT_BATCH
    }
    /// Extension of the model files it writes.
    fn file_extension(&self) -> &'static str {
        "safetensors"
    }
    /// A model to register and activate when the project has no active model yet, so that
    /// pre-labelling works with zero labels (e.g. the field-type base model trained on
    /// Formasaurus). Default: none.
    fn bootstrap(&self, _store: &mut Store, _ctx: &JobCtx) -> anyhow::Result<Option<ModelInfo>> {
        Ok(None)
    }
}

/// When a trained model becomes active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// When it is not worse than the active model on the same hold-out.
    #[default]
    IfNotWorse,
    /// Always (the lead said so).
    Always,
    /// Never: register only; the lead activates later.
    Never,
}

/// What a training job produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub run_id: i64,
    pub model: ModelInfo,
    pub metrics: Metrics,
    /// The previously active model's metrics on the same hold-out.
    pub active_metrics: Option<Metrics>,
    pub active_model_id: Option<i64>,
    pub activated: bool,
    pub epochs: Vec<EpochStat>,
    pub n_train: usize,
    pub n_holdout: usize,
}

/// Directory of a project's model files (`<project file>.models/`; team projects: the cache).
pub fn models_dir(store: &Store) -> PathBuf {
    store.models_dir()
}

/// A model's weights as a local file (team projects fetch the stored weights once).
pub fn weights_path(store: &Store, model: &ModelInfo) -> Option<PathBuf> {
    match store.model_weights_file(model) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("yuxuan: weights of model {}: {e}", model.id);
            None
        }
    }
}

/// Train a new model version of `family` on the project's human labels.
pub fn run_training(
    store: &mut Store,
    family: &dyn ModelFamily,
    cfg: &TrainConfig,
    activation: Activation,
    ctx: &JobCtx,
) -> anyhow::Result<TrainReport> {
    let set = family.label_set().to_string();
    // One training per label set of a team project at a time, wherever it was started (the
    // lock ends with its connection, so a killed trainer does not block the next one).
    let _team_lock = store
        .try_team_lock(&format!("train:{set}"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "another training of {set:?} is running on this team project (started elsewhere); \
             wait for it to finish, or see its progress with `yuxuan models`"
            )
        })?;
    let labelled = store.current_labels(&set)?;
    let label_names: Vec<String> = store.labels(&set)?.into_iter().map(|l| l.name).collect();
    // Only labels that occur are trained; the model's label list is recorded with it.
    let mut used: Vec<String> = label_names
        .iter()
        .filter(|n| labelled.iter().any(|(_, l)| l == *n))
        .cloned()
        .collect();
    if used.len() < 2 {
        anyhow::bail!(
            "training needs human labels of at least 2 classes in {set:?}; found {} labelled items in {} class(es)",
            labelled.len(),
            used.len()
        );
    }
    used.sort_by_key(|n| label_names.iter().position(|x| x == n));
    let items: Vec<i64> = labelled.iter().map(|(i, _)| *i).collect();
    let targets: Vec<usize> = labelled
        .iter()
        .map(|(_, l)| used.iter().position(|u| u == l).expect("label in used"))
        .collect();
    let (train_idx, hold_idx) = stratified_split(&targets, cfg.holdout, cfg.seed);
    let cfg = &cfg.for_family(family.default_batch_size(train_idx.len()));
    let params = serde_json::json!({
        "config": cfg, "activation": activation, "kind": family.kind(), "labels": used,
        "n_train": train_idx.len(), "n_holdout": hold_idx.len(), "split_seed": cfg.seed,
        "owner": crate::store::recovery::Owner::current().to_json(),
    });
    let run_id = store.start_training_run(&set, &params)?;
    let active = store.active_model(&set)?;
    let result = (|| -> anyhow::Result<TrainReport> {
        ctx.set_message("preparing");
        let parent = active
            .as_ref()
            .filter(|m| m.kind == family.kind() && m.labels == used);
        let task = family.prepare(store, &items, &used, parent)?;
        let mut last_log = std::time::Instant::now();
        let epochs = train::fit(task.as_ref(), &targets, &train_idx, cfg, ctx, |s, total| {
            if s.epoch == 1 || last_log.elapsed().as_millis() > 200 || s.epoch == total {
                last_log = std::time::Instant::now();
                let _ = store.training_progress(
                    run_id,
                    s.epoch as f64 / total as f64,
                    &serde_json::to_string(s).unwrap_or_default(),
                );
            }
        })?;
        ctx.check()?;
        // Evaluate the new model and the active one on the same hold-out.
        let eval_idx: Vec<usize> = if hold_idx.is_empty() {
            train_idx.clone()
        } else {
            hold_idx.clone()
        };
        let probs = train::predict_proba(task.as_ref(), &eval_idx, 256)?;
        let truth: Vec<usize> = eval_idx.iter().map(|&i| targets[i]).collect();
        let pred: Vec<usize> = probs.iter().map(|p| train::argmax(p)).collect();
        let metrics = Metrics::compute(&used, &truth, &pred);
        let active_metrics = match &active {
            Some(m) => {
                let hold_items: Vec<i64> = eval_idx.iter().map(|&i| items[i]).collect();
                match active_family_predict(store, family, m, &hold_items, ctx) {
                    Ok(p) => {
                        let pred: Vec<usize> = p
                            .iter()
                            .map(|row| {
                                let name = &m.labels[train::argmax(row)];
                                used.iter().position(|u| u == name).unwrap_or(usize::MAX)
                            })
                            .collect();
                        Some(Metrics::compute(&used, &truth, &pred))
                    }
                    Err(_) => None,
                }
            }
            None => None,
        };
        ctx.check()?;
        // Write weights atomically, then register.
        let version_hint = store.models(&set)?.len() + 1;
        let dir = models_dir(store);
        let file = dir.join(format!(
            "{set}-v{version_hint}-run{run_id}.{}",
            family.file_extension()
        ));
        let spec = family.save(task.as_ref(), &file)?;
        let sha = crate::assets::file_checksum(&file)?;
        let rel = store.relative_path(&file);
        let mut full_metrics = metrics.to_json();
        full_metrics["epochs"] = serde_json::to_value(&epochs)?;
        let model = store.add_model(&NewModel {
            label_set: set.clone(),
            kind: family.kind().to_string(),
            parent_id: parent.map(|p| p.id),
            training_run_id: Some(run_id),
            labels: used.clone(),
            spec,
            metrics: Some(full_metrics),
            weights_path: Some(rel),
            weights_sha256: Some(sha),
        })?;
        let activated = match activation {
            Activation::Always => true,
            Activation::Never => false,
            Activation::IfNotWorse => train::not_worse(&metrics, active_metrics.as_ref()),
        };
        if activated {
            store.activate_model(model.id)?;
        }
        let model = store.model(model.id)?.unwrap_or(model);
        Ok(TrainReport {
            run_id,
            model,
            metrics,
            active_metrics,
            active_model_id: active.as_ref().map(|m| m.id),
            activated,
            epochs,
            n_train: train_idx.len(),
            n_holdout: hold_idx.len(),
        })
    })();
    match &result {
        Ok(r) => store.finish_training_run(
            run_id,
            RunStatus::Succeeded,
            Some(&r.metrics.to_json()),
            None,
        )?,
        Err(e) if is_cancelled_error(e) => {
            store.finish_training_run(run_id, RunStatus::Cancelled, None, None)?
        }
        Err(e) => {
            store.finish_training_run(run_id, RunStatus::Failed, None, Some(&format!("{e:#}")))?
        }
    }
    result
}

fn active_family_predict(
    store: &Store,
    family: &dyn ModelFamily,
    model: &ModelInfo,
    items: &[i64],
    ctx: &JobCtx,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let eval = JobCtx::new(format!("{}-eval", ctx.snapshot().name));
    if model.kind == family.kind() {
        return family.predict(store, model, items, &eval);
    }
    // The lead switched modes (e.g. head -> backbone fine-tune): the active model is scored by
    // the family that can run it, so the comparison on the same hold-out is still shown.
    super::registry::image_family_for_kind(&model.kind)?.predict(store, model, items, &eval)
}

/// Pre-label with `model` (default: the active model) every candidate item that has no
/// prediction from it yet. Returns how many items were predicted.
pub fn prelabel(
    store: &mut Store,
    family: &dyn ModelFamily,
    model: Option<&ModelInfo>,
    ctx: &JobCtx,
) -> anyhow::Result<usize> {
    let set = family.label_set().to_string();
    let model = match model {
        Some(m) => m.clone(),
        None => match store.active_model(&set)? {
            Some(m) => m,
            None => family.bootstrap(store, ctx)?.ok_or_else(|| {
                anyhow::anyhow!("no active model for {set:?}: train one or register one first")
            })?,
        },
    };
    let done = store.predicted_item_ids(&set, Some(model.id))?;
    let todo: Vec<i64> = family
        .candidate_items(store)?
        .into_iter()
        .filter(|i| !done.contains(i))
        .collect();
    // Suggestions are always labels of the project's set (see `train::top_k_within`).
    let allowed: std::collections::HashSet<String> =
        store.labels(&set)?.into_iter().map(|l| l.name).collect();
    if !allowed.is_empty() && !model.labels.iter().any(|l| allowed.contains(l)) {
        anyhow::bail!(
            "model v{} predicts none of the project's {set:?} labels (model labels: {})",
            model.version,
            model.labels.join(", ")
        );
    }
    ctx.set_total(todo.len() as u64);
    ctx.set_done(0);
    let mut n = 0;
    for chunk in todo.chunks(512) {
        ctx.check()?;
        let probs = family.predict(store, &model, chunk, &JobCtx::new("predict"))?;
        let preds: Vec<NewPrediction> = chunk
            .iter()
            .zip(&probs)
            .map(|(&item_id, p)| NewPrediction {
                item_id,
                top: if allowed.is_empty() {
                    train::top_k(&model.labels, p, 5)
                } else {
                    train::top_k_within(&model.labels, p, 5, &allowed).unwrap_or_default()
                },
            })
            .collect();
        n += store.put_predictions(&set, Some(model.id), &preds)?;
        ctx.inc(chunk.len() as u64);
    }
    Ok(n)
}
