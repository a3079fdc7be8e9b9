//! The project facade: the one entry the CLI, the training controller, the demo and the
//! simulator call to train and pre-label, whatever the project holds. It asks the catalog
//! (`ml::catalog`) which family serves a label set, computes the cached embeddings a family
//! needs first, applies the family's thread policy, and runs the shared training job:
//! gather the human labels, stratified hold-out split (fixed seed, recorded), fit with progress
//! and cancel, evaluate the new model and the active one on the same hold-out, write the
//! weights atomically, register the version, activate it when not worse (or when told to).

use std::path::PathBuf;

use super::backbone::{BackboneChoice, BackboneNet};
use super::calibration;
use super::catalog::{self, ImageMode};
use super::family::{models_dir, Activation, ModelFamily, TrainReport};
use super::image_pipeline::{run_pipelined, DEFAULT_BATCH};
use super::metrics::Metrics;
use super::split::stratified_split;
use super::train::{self, TrainConfig};
use crate::domain::{ModelInfo, RunStatus, TaskKind};
use crate::jobs::{is_cancelled_error, JobCtx};
use crate::store::models::NewModel;
use crate::store::predictions::NewPrediction;
use crate::store::Store;

/// Train a new model version of `label_set` (image classes: `mode`, else the project's
/// setting) on the project's human labels. Embeddings first when the family reads them. Does
/// not pre-label; call [`prelabel`] after an activation.
pub fn train(
    store: &mut Store,
    label_set: &str,
    mode: Option<ImageMode>,
    cfg: &TrainConfig,
    activation: Activation,
    ctx: &JobCtx,
) -> anyhow::Result<TrainReport> {
    let info = catalog::for_set(store, label_set, mode)?;
    let family = info.build(store)?;
    if info.needs_embeddings {
        embed_missing(store, ctx)?;
    }
    if info.single_thread_cpu {
        single_thread_on_cpu(super::device::best_device(), || {
            run_training(store, family.as_ref(), cfg, activation, ctx)
        })
    } else {
        run_training(store, family.as_ref(), cfg, activation, ctx)
    }
}

/// What pre-labelling did for one label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prelabelled {
    pub label_set: String,
    /// Items predicted now (items the model had predicted before are skipped).
    pub items: usize,
    /// The model's version.
    pub version: i64,
}

/// Total items predicted over the label sets.
pub fn predicted(done: &[Prelabelled]) -> usize {
    done.iter().map(|p| p.items).sum()
}

/// Pre-label the project: image embeddings first (they also feed the diverse queue and the
/// near-duplicates), then for each label set the active model (or the model its family
/// bootstraps, e.g. the field-type base model) over every item it has not predicted yet. A
/// set without a model is skipped (the queue then falls back to the diverse cold start).
pub fn prelabel(store: &mut Store, ctx: &JobCtx) -> anyhow::Result<Vec<Prelabelled>> {
    let kind = store.project()?.kind;
    if kind == TaskKind::Image {
        embed_missing(store, ctx)?;
    }
    let mut out = Vec::new();
    for set in catalog::label_sets(kind) {
        let model = match store.active_model(set)? {
            Some(m) => m,
            None => {
                let fam = catalog::for_set(store, set, None)?.build(store)?;
                match fam.bootstrap(store, ctx)? {
                    Some(m) => m,
                    None => continue,
                }
            }
        };
        let fam = catalog::by_kind(&model.kind)?.build(store)?;
        ctx.set_message(format!("pre-labelling {set} with v{}", model.version));
        let items = prelabel_with(store, fam.as_ref(), Some(&model), ctx)?;
        out.push(Prelabelled {
            label_set: set.to_string(),
            items,
            version: model.version,
        });
    }
    Ok(out)
}

/// Run `f` with one intra-op thread when `device` is the CPU (families whose steps are tiny
/// matrix products, see `FamilyInfo::single_thread_cpu`). Other devices are left as they are.
pub fn single_thread_on_cpu<T>(device: tch::Device, f: impl FnOnce() -> T) -> T {
    if device != tch::Device::Cpu {
        return f();
    }
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let out = f();
    tch::set_num_threads(threads);
    out
}

/// Compute and cache the embedding of every usable image that has none, for each backbone
/// of the project's choice. Images that cannot be decoded any more get an item error.
/// Returns how many embeddings were computed.
pub fn embed_missing(store: &mut Store, ctx: &JobCtx) -> anyhow::Result<usize> {
    let mut n = 0;
    for &net in BackboneChoice::of_project(store)?.nets() {
        n += embed_missing_with(store, net, ctx)?;
    }
    Ok(n)
}

/// [`embed_missing`] for one backbone.
pub fn embed_missing_with(
    store: &mut Store,
    net: BackboneNet,
    ctx: &JobCtx,
) -> anyhow::Result<usize> {
    let todo: Vec<(i64, PathBuf)> = store
        .images_missing_embedding(net.id())?
        .into_iter()
        .map(|(id, p)| (id, PathBuf::from(p)))
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    let model = net.load(super::device::best_device())?;
    ctx.set_message(format!("embedding {} images ({})", todo.len(), net.id()));
    ctx.set_total(todo.len() as u64);
    ctx.set_done(0);
    let mut n = 0;
    let errors = run_pipelined(&todo, &net.input_spec(), DEFAULT_BATCH, ctx, |ids, xs| {
        let emb = model.features(xs)?.to_device(tch::Device::Cpu);
        let rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&emb)?;
        store.put_embeddings(net.id(), &ids.iter().copied().zip(rows).collect::<Vec<_>>())?;
        n += ids.len();
        Ok(())
    })?;
    for (id, e) in errors {
        store.set_item_error(id, Some(&e))?;
    }
    Ok(n)
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
        // The same data and options give the same model (initial weights, dropout, order).
        tch::manual_seed(cfg.seed as i64);
        let task = family.prepare(store, &items, &used, parent)?;
        let mut last_log = std::time::Instant::now();
        let on_epoch = |s: &train::EpochStat, total: usize| {
            if s.epoch == 1 || last_log.elapsed().as_millis() > 200 || s.epoch == total {
                last_log = std::time::Instant::now();
                let _ = store.training_progress(
                    run_id,
                    s.epoch as f64 / total as f64,
                    &serde_json::to_string(s).unwrap_or_default(),
                );
            }
        };
        let epochs = train::solve_or_fit(task.as_ref(), &targets, &train_idx, cfg, ctx, on_epoch)?;
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
        let mut metrics = Metrics::compute(&used, &truth, &pred);
        // Calibrated confidence: the temperature that makes the hold-out's scores mean what
        // they say, its ECE, and the bulk-accept threshold (not on the training data).
        if !hold_idx.is_empty() {
            metrics.calibration = Some(calibration::calibrate(&probs, &truth));
        }
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
        // A model solved to convergence is refitted on every label (train + hold-out, warm
        // from the evaluated solution) before it is saved: the suggestions use all the
        // lead's labels, the metrics and calibration stay those of the held-out evaluation.
        if !hold_idx.is_empty() {
            let all: Vec<usize> = (0..targets.len()).collect();
            if let Some(r) = task.solve(&targets, &all, cfg, ctx, &mut |_, _| {}) {
                r?;
            }
        }
        // Write weights atomically, then register.
        let version_hint = store.models(&set)?.len() + 1;
        let dir = models_dir(store);
        let file = dir.join(format!(
            "{set}-v{version_hint}-run{run_id}.{}",
            family.file_extension()
        ));
        let mut spec = family.save(task.as_ref(), &file)?;
        if let (Some(c), Some(obj)) = (&metrics.calibration, spec.as_object_mut()) {
            obj.insert("temperature".into(), serde_json::json!(c.temperature));
        }
        let mut full_metrics = metrics.to_json();
        full_metrics["epochs"] = serde_json::to_value(&epochs)?;
        let model = store.register_model_file(
            &file,
            NewModel {
                label_set: set.clone(),
                kind: family.kind().to_string(),
                parent_id: parent.map(|p| p.id),
                training_run_id: Some(run_id),
                labels: used.clone(),
                spec,
                metrics: Some(full_metrics),
                weights_path: None,
                weights_sha256: None,
            },
        )?;
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
    super::catalog::by_kind(&model.kind)?
        .build(store)?
        .predict(store, model, items, &eval)
}

/// Pre-label with `model` (default: the active model) every candidate item that has no
/// prediction from it yet. Returns how many items were predicted.
pub fn prelabel_with(
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
    // Scores as calibrated on the hold-out (the shown percentage means what it says).
    let temperature = model.spec.get("temperature").and_then(|t| t.as_f64());
    ctx.set_total(todo.len() as u64);
    ctx.set_done(0);
    let mut n = 0;
    for chunk in todo.chunks(512) {
        ctx.check()?;
        let probs = family.predict(store, &model, chunk, &JobCtx::new("predict"))?;
        let probs: Vec<Vec<f32>> = match temperature {
            Some(t) => probs
                .iter()
                .map(|p| calibration::apply_temperature(p, t))
                .collect(),
            None => probs,
        };
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
