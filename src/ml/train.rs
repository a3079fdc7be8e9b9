//! The training machinery shared by every model kind (image head, backbone fine-tune,
//! TorchScript, form field and page industry models): the epoch loop with progress, loss curve,
//! ETA and cancel; prediction over a set of examples; atomic model files; the "not worse"
//! activation rule. A model kind only says how to forward a batch of example indices.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

use crate::jobs::{Cancelled, JobCtx};

/// What a model kind provides to the shared loop.
pub trait TrainTask {
    /// Logits `[batch, classes]` for the examples `idx` (indices into the task's data).
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor>;
    /// The variables the optimizer updates.
    fn var_store(&self) -> &nn::VarStore;
    /// Write the trained model to `path` atomically (default: the VarStore as safetensors).
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_var_store_atomic(self.var_store(), path)
    }
    /// A spec the task knows better than its family (e.g. a TorchScript model's input spec).
    fn spec(&self) -> Option<serde_json::Value> {
        None
    }
    /// A model solved to convergence instead of the shared epoch loop (the image head's
    /// logistic regression, L-BFGS on the full batch): its iterations as epoch stats. None
    /// (the default): [`fit`] runs.
    fn solve(
        &self,
        _targets: &[usize],
        _train_idx: &[usize],
        _cfg: &TrainConfig,
        _ctx: &JobCtx,
        _on_step: &mut dyn FnMut(&EpochStat, usize),
    ) -> Option<anyhow::Result<Vec<EpochStat>>> {
        None
    }
}

/// Options the lead picks (UI/CLI), recorded with the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Examples per optimizer step; 0 = the model family's default (recorded resolved).
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Fraction of each class held out for evaluation.
    pub holdout: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 0,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            holdout: 0.2,
            seed: 42,
        }
    }
}

/// Batch size of a config that leaves it to a family without its own default.
pub const DEFAULT_BATCH: usize = 64;

impl TrainConfig {
    /// This config with `batch_size` resolved (0 -> `family_default`).
    pub fn for_family(&self, family_default: usize) -> TrainConfig {
        let mut c = self.clone();
        if c.batch_size == 0 {
            c.batch_size = family_default.max(1);
        }
        c
    }

    /// The batch size in effect (0 -> [`DEFAULT_BATCH`]).
    pub fn batch(&self) -> usize {
        if self.batch_size == 0 {
            DEFAULT_BATCH
        } else {
            self.batch_size
        }
    }
}

/// One epoch's numbers, for the live loss curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStat {
    pub epoch: usize,
    pub loss: f64,
    pub seconds: f64,
}

/// Train `task` on `train_idx` with targets `targets[i]` (class index of example i).
/// `on_epoch` sees each epoch's stats (the job writes them to the training run's log).
pub fn fit(
    task: &dyn TrainTask,
    targets: &[usize],
    train_idx: &[usize],
    cfg: &TrainConfig,
    ctx: &JobCtx,
    mut on_epoch: impl FnMut(&EpochStat, usize),
) -> anyhow::Result<Vec<EpochStat>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    anyhow::ensure!(!train_idx.is_empty(), "nothing to train on");
    let vs = task.var_store();
    let device = vs.device();
    let mut opt = nn::AdamW::default()
        .wd(cfg.weight_decay)
        .build(vs, cfg.learning_rate)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut order = train_idx.to_vec();
    let batch = cfg.batch();
    let batches_per_epoch = train_idx.len().div_ceil(batch);
    ctx.set_total((cfg.epochs * batches_per_epoch) as u64);
    ctx.set_done(0);
    let mut stats = Vec::with_capacity(cfg.epochs);
    let start = Instant::now();
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        let mut n = 0usize;
        for chunk in order.chunks(batch) {
            ctx.check().map_err(anyhow::Error::from)?;
            let logits = task.forward(chunk, true)?;
            let y =
                Tensor::from_slice(&chunk.iter().map(|&i| targets[i] as i64).collect::<Vec<_>>())
                    .to(device);
            let loss = logits.cross_entropy_for_logits(&y);
            opt.backward_step(&loss);
            sum += loss.double_value(&[]) * chunk.len() as f64;
            n += chunk.len();
            ctx.inc(1);
        }
        let stat = EpochStat {
            epoch,
            loss: sum / n.max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
        };
        ctx.set_message(format!(
            "epoch {epoch}/{} loss {:.4}",
            cfg.epochs, stat.loss
        ));
        on_epoch(&stat, cfg.epochs);
        stats.push(stat);
    }
    ctx.set_message(format!(
        "trained {} epochs in {:.1}s",
        cfg.epochs,
        start.elapsed().as_secs_f64()
    ));
    Ok(stats)
}

/// Train `task` on `train_idx`: its own solver when it has one ([`TrainTask::solve`]), else
/// the shared epoch loop ([`fit`]). `on_step` sees each iteration's or epoch's stats.
pub fn solve_or_fit(
    task: &dyn TrainTask,
    targets: &[usize],
    train_idx: &[usize],
    cfg: &TrainConfig,
    ctx: &JobCtx,
    mut on_step: impl FnMut(&EpochStat, usize),
) -> anyhow::Result<Vec<EpochStat>> {
    match task.solve(targets, train_idx, cfg, ctx, &mut on_step) {
        Some(r) => r,
        None => fit(task, targets, train_idx, cfg, ctx, on_step),
    }
}

/// Softmax probabilities `[n, classes]` for the examples `idx`, in batches, without gradients.
pub fn predict_proba(
    task: &dyn TrainTask,
    idx: &[usize],
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(batch_size.max(1)) {
        let p = task
            .forward(chunk, false)?
            .softmax(-1, Kind::Float)
            .to_device(tch::Device::Cpu);
        let rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&p)?;
        out.extend(rows);
    }
    Ok(out)
}

/// Index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// The top-k (label, score) of a probability row, best first.
pub fn top_k(labels: &[String], probs: &[f32], k: usize) -> Vec<(String, f64)> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    idx.into_iter()
        .take(k)
        .map(|i| (labels[i].clone(), probs[i] as f64))
        .collect()
}

/// The top-k (label, score) among the `allowed` labels only, scores renormalised over them,
/// best first. A model may know labels the project does not have (the form base model's whole
/// taxonomy, a registered TorchScript model's list): its suggestions must stay ones the
/// annotator can accept. `None` when no label of the model is allowed.
pub fn top_k_within(
    labels: &[String],
    probs: &[f32],
    k: usize,
    allowed: &std::collections::HashSet<String>,
) -> Option<Vec<(String, f64)>> {
    let keep: Vec<usize> = (0..labels.len().min(probs.len()))
        .filter(|&i| allowed.contains(&labels[i]))
        .collect();
    if keep.is_empty() {
        return None;
    }
    let total: f64 = keep.iter().map(|&i| probs[i] as f64).sum();
    let mut top: Vec<(String, f64)> = keep
        .into_iter()
        .map(|i| {
            let p = probs[i] as f64;
            (labels[i].clone(), if total > 0.0 { p / total } else { p })
        })
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(k);
    Some(top)
}

/// Save a VarStore so that a crash never leaves a half-written file at `path`: write a temp
/// file next to it (same extension, so safetensors is picked by extension), fsync, rename.
pub fn save_var_store_atomic(vs: &nn::VarStore, path: &Path) -> anyhow::Result<()> {
    crate::fsutil::write_atomic(path, |tmp| vs.save(tmp))
}

/// The activation rule: a new model replaces the active one when it is not worse on the same
/// hold-out (macro-F1 first, accuracy as tie-break), or when there is no active model.
pub fn not_worse(new: &super::metrics::Metrics, active: Option<&super::metrics::Metrics>) -> bool {
    match active {
        None => true,
        Some(a) => {
            new.macro_f1 + 1e-9 >= a.macro_f1
                || (new.macro_f1 + 0.005 >= a.macro_f1 && new.accuracy > a.accuracy)
        }
    }
}

/// Convert a cancelled training into its error (kept for callers that match on it).
pub fn cancelled() -> anyhow::Error {
    anyhow::Error::from(Cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::Module;

    struct Linear {
        vs: nn::VarStore,
        lin: nn::Linear,
        x: Tensor,
    }

    impl TrainTask for Linear {
        fn forward(&self, idx: &[usize], _train: bool) -> anyhow::Result<Tensor> {
            let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
            Ok(self.lin.forward(&self.x.index_select(0, &i)))
        }
        fn var_store(&self) -> &nn::VarStore {
            &self.vs
        }
    }

    #[test]
    fn top_k_within_keeps_only_allowed_labels_and_renormalises() {
        let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let probs = [0.5f32, 0.2, 0.2, 0.1];
        let allowed: std::collections::HashSet<String> =
            ["b", "c", "d"].map(String::from).into_iter().collect();
        let top = top_k_within(&labels, &probs, 2, &allowed).unwrap();
        assert_eq!(top.len(), 2);
        assert!(top.iter().all(|(l, _)| l != "a"));
        assert!((top[0].1 - 0.4).abs() < 1e-6, "{top:?}");
        assert_eq!(top_k_within(&labels, &probs, 2, &Default::default()), None);
    }

    #[test]
    fn fit_learns_a_separable_problem_and_saves_atomically() {
        tch::manual_seed(0);
        let n = 200;
        let xs: Vec<f32> = (0..n)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [1.0f32, 0.0]
                } else {
                    [0.0, 1.0]
                }
            })
            .collect();
        let targets: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let lin = nn::linear(vs.root() / "fc", 2, 2, Default::default());
        let task = Linear {
            vs,
            lin,
            x: Tensor::from_slice(&xs).view([n as i64, 2]),
        };
        let idx: Vec<usize> = (0..n).collect();
        let cfg = TrainConfig {
            epochs: 20,
            learning_rate: 0.05,
            ..Default::default()
        };
        let stats = fit(&task, &targets, &idx, &cfg, &JobCtx::new("t"), |_, _| {}).unwrap();
        assert!(stats.last().unwrap().loss < stats[0].loss);
        let probs = predict_proba(&task, &idx, 32).unwrap();
        let acc = probs
            .iter()
            .zip(&targets)
            .filter(|(p, &t)| argmax(p) == t)
            .count();
        assert_eq!(acc, n);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        save_var_store_atomic(task.var_store(), &path).unwrap();
        assert!(path.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
