//! Row `head-finetune`: the product's image head (`ml::image_head`) trained through the shared
//! `ml::family::run_training` (split, fit, evaluation, atomic save, registration, activation),
//! so the row measures the training job end to end. Also a small test family for
//! `yuxuan debug-train` (a linear head on any backbone's cached embeddings, with a per-batch
//! delay so fault tests can kill a job surely mid-epoch).
//!
//! The row trains on N (10k by default) labelled items with cached 1280-d embeddings (the size
//! of MobileNetV2's pooled features) and compares the job's wall time with a bare tch loop that
//! does the same optimizer steps on tensors already in memory, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use tch::nn::{self, Module};
use tch::{Device, Tensor};

use super::synth::{build_image_project, SynthSpec};
use super::{BenchConfig, Measured, Metric, RowOutcome, Target};
use crate::domain::{ItemKind, ModelInfo};
use crate::jobs::JobCtx;
use crate::ml::backbone::BACKBONE_ID;
use crate::ml::family::{self, Activation, ModelFamily};
use crate::ml::image_head::{self, embedding_matrix, ImageHeadFamily};
use crate::ml::train::{self, TrainConfig, TrainTask};
use crate::store::Store;

/// The product's target for a head fine-tune on 10k cached embeddings (CPU), in seconds.
pub const TARGET_S: f64 = 10.0;

/// A linear head over cached embeddings of `backbone` for the `class` label set.
#[derive(Debug, Clone)]
pub struct EmbeddingHeadFamily {
    pub backbone: String,
    pub device: Device,
    /// Sleep this long in every training batch (fault tests: a job that is surely mid-epoch).
    pub batch_delay: Duration,
}

impl EmbeddingHeadFamily {
    pub fn new(backbone: impl Into<String>, device: Device) -> Self {
        EmbeddingHeadFamily {
            backbone: backbone.into(),
            device,
            batch_delay: Duration::ZERO,
        }
    }

    fn features(&self, store: &Store, items: &[i64]) -> anyhow::Result<(Tensor, i64)> {
        let mut flat = Vec::new();
        let mut dim = None;
        for &id in items {
            let v = store.embedding(id, &self.backbone)?.ok_or_else(|| {
                anyhow::anyhow!("item {id} has no cached {} embedding", self.backbone)
            })?;
            anyhow::ensure!(
                *dim.get_or_insert(v.len()) == v.len(),
                "item {id}: embedding of dimension {} among ones of {}",
                v.len(),
                dim.unwrap_or(0)
            );
            flat.extend(v);
        }
        let dim = dim.unwrap_or(0) as i64;
        anyhow::ensure!(dim > 0, "no embeddings to train on");
        Ok((
            Tensor::from_slice(&flat)
                .view([items.len() as i64, dim])
                .to(self.device),
            dim,
        ))
    }
}

/// The head as a trainable task: features in memory, a linear layer.
pub struct HeadTask {
    vs: nn::VarStore,
    lin: nn::Linear,
    x: Tensor,
    delay: Duration,
}

impl HeadTask {
    fn new(x: Tensor, dim: i64, classes: i64, device: Device, delay: Duration) -> HeadTask {
        let vs = nn::VarStore::new(device);
        let lin = nn::linear(vs.root() / "fc", dim, classes, Default::default());
        HeadTask { vs, lin, x, delay }
    }
}

impl TrainTask for HeadTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        if train && !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to(self.x.device());
        Ok(self.lin.forward(&self.x.index_select(0, &i)))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

impl ModelFamily for EmbeddingHeadFamily {
    fn label_set(&self) -> &str {
        "class"
    }
    fn kind(&self) -> &str {
        "embedding-linear-head"
    }
    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let (x, dim) = self.features(store, items)?;
        let mut task = HeadTask::new(x, dim, labels.len() as i64, self.device, self.batch_delay);
        if let Some(p) = parent.and_then(|p| family::weights_path(store, p)) {
            task.vs.load(&p)?;
        }
        Ok(Box::new(task))
    }
    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        _ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let path = family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model has no weights file"))?;
        let (x, dim) = self.features(store, items)?;
        let mut task = HeadTask::new(
            x,
            dim,
            model.labels.len() as i64,
            self.device,
            Duration::ZERO,
        );
        task.vs.load(&path)?;
        let idx: Vec<usize> = (0..items.len()).collect();
        train::predict_proba(&task, &idx, 512)
    }
    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        train::save_var_store_atomic(task.var_store(), path)?;
        Ok(serde_json::json!({ "backbone": self.backbone, "head": "linear" }))
    }
    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        let with = store.embedded_item_ids(&self.backbone)?;
        Ok(store
            .item_ids(ItemKind::Image)?
            .into_iter()
            .filter(|i| with.contains(i))
            .collect())
    }
}

/// The device a row asked for: `cpu`, `cuda` (error when absent) or `auto`.
pub fn device_of(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => {
            crate::ml::device::load_cuda();
            anyhow::ensure!(
                tch::Cuda::is_available(),
                "--device cuda: LibTorch sees no CUDA device"
            );
            Ok(Device::Cuda(0))
        }
        "auto" => Ok(crate::ml::device::best_device()),
        other => anyhow::bail!("unknown device {other:?} (cpu, cuda, auto)"),
    }
}

/// The same optimizer steps as the job (same head, optimizer, batches and epochs) on tensors
/// already in memory: no store, no job, no evaluation. Seconds.
/// The product head's solver (L-BFGS logistic regression, zero start) on tensors already in
/// memory, with its features: no SQLite, no split, no evaluation, no save.
fn bare_solve(x: &Tensor, y: &Tensor, n_train: usize, classes: i64) -> anyhow::Result<f64> {
    let t = Instant::now();
    let n = n_train as i64;
    let x = x.narrow(0, 0, n);
    let norm = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    let x = &x / norm * image_head::FEATURE_NORM;
    let y = y.narrow(0, 0, n);
    let lambda = 1.0 / (image_head::C * n_train as f64);
    let _solution = image_head::fit_logistic(
        &x,
        &y,
        classes,
        lambda,
        image_head::MAX_ITER,
        None,
        &JobCtx::new("bare"),
        &mut |_, _| {},
    )?;
    Ok(t.elapsed().as_secs_f64())
}

/// A synthetic project in a temp dir under `cfg.dir`: `n` items, all labelled with one of
/// `classes` and with class-separable cached `dim`-d embeddings of the product's backbone
/// (the head and duplicates rows). Keep the dir alive while the store is used.
pub(super) fn embedded_project(
    cfg: &BenchConfig,
    name: &str,
    n: usize,
    classes: usize,
    dim: usize,
) -> anyhow::Result<(tempfile::TempDir, Store, super::synth::SynthProject)> {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("bench-{name}"))
        .tempdir_in(&cfg.dir)?;
    let (store, synth) = build_image_project(
        &tmp.path().join(format!("{name}.yuxuan")),
        &SynthSpec {
            items: n,
            labels: classes,
            labelled: 1.0,
            predictions: false,
            embedding_dim: dim,
            seed: cfg.seed,
            backbone: BACKBONE_ID.into(),
        },
    )?;
    Ok((tmp, store, synth))
}

/// The row.
pub fn run_row(cfg: &BenchConfig) -> anyhow::Result<RowOutcome> {
    let device = device_of(&cfg.device)?;
    let n = cfg.train_items.max(20);
    let classes = 10;
    let dim = 1280;
    let t_build = Instant::now();
    let (_tmp, mut store, synth) = embedded_project(cfg, "head", n, classes, dim)?;
    let build_s = t_build.elapsed().as_secs_f64();
    let fam = ImageHeadFamily::default();
    let tcfg = TrainConfig::default();

    let t = Instant::now();
    let report = crate::ml::project::run_training(
        &mut store,
        &fam,
        &tcfg,
        Activation::IfNotWorse,
        &JobCtx::new("bench-train"),
    )?;
    let job_s = t.elapsed().as_secs_f64();

    // Reference: the same steps on in-memory tensors.
    let ids: Vec<i64> = synth.labelled.iter().map(|(i, _)| *i).collect();
    let x = embedding_matrix(&store, BACKBONE_ID, &ids, device)?;
    let y = Tensor::from_slice(
        &synth
            .labelled
            .iter()
            .map(|(_, t)| *t as i64)
            .collect::<Vec<_>>(),
    )
    .to(device);
    let bare_s = bare_solve(&x, &y, report.n_train, classes as i64)?;

    Ok(Measured {
        metrics: vec![
            Metric::new("train job wall time", job_s, "s")
                .target(Target::below(TARGET_S))
                .reference("bare solver on tensors in memory", bare_s, "s"),
            Metric::new("hold-out accuracy", report.metrics.accuracy, ""),
        ],
        notes: vec![
            format!(
                "{n} labelled items, {classes} classes, cached {dim}-d embeddings (synthetic, class-separable; \
                 project built in {build_s:.1} s); {} train / {} hold-out",
                report.n_train, report.n_holdout
            ),
            format!(
                "family: the product's image head (ml::image_head, logistic regression by L-BFGS on L2-scaled embeddings, {} iterations) through ml::project::run_training, \
                 device {device:?}; the job includes loading embeddings from SQLite, evaluation, calibration, atomic save and \
                 registration; the reference runs the same solver on the tensors in memory",
                report.epochs.len()
            ),
        ],
    }
    .into())
}
