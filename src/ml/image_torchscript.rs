//! Bring your own model: a TorchScript image classifier (`torch.jit.trace/script`) registered
//! with its label list and input spec (size, mean/std). It pre-labels directly (pixels in,
//! logits out) and fine-tunes from its own weights with `TrainableCModule` (tch-rs'
//! `examples/jit-train`). Model files are copied into the project's models folder atomically.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tch::{nn, CModule, Device, Kind, Tensor, TrainableCModule};

use super::backbone::{self, InputSpec};
use super::family::{self, ModelFamily};
use super::image_pipeline::{run_pipelined, DEFAULT_BATCH};
use super::train::TrainTask;
use crate::domain::{sets, ModelInfo, NewLabel};
use crate::jobs::JobCtx;
use crate::store::models::NewModel;
use crate::store::Store;

/// `models.kind` of this family.
pub const KIND: &str = super::family::ModelKind::TorchScript.as_str();

/// Memory budget for decoded training inputs kept between epochs.
const CACHE_BYTES: usize = 1 << 30;

/// The spec recorded with a TorchScript model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TorchScriptSpec {
    #[serde(flatten)]
    pub input: InputSpec,
    /// The model's own output labels, in output order.
    pub outputs: Vec<String>,
    /// Where the user's file came from.
    pub source: Option<String>,
}

impl TorchScriptSpec {
    fn of(model: &ModelInfo) -> anyhow::Result<TorchScriptSpec> {
        serde_json::from_value(model.spec.clone())
            .map_err(|e| anyhow::anyhow!("model v{}: bad TorchScript spec: {e}", model.version))
    }
    /// Output columns of `labels` (each must be one of the model's outputs).
    fn columns(&self, labels: &[String]) -> anyhow::Result<Vec<i64>> {
        labels
            .iter()
            .map(|l| {
                self.outputs
                    .iter()
                    .position(|o| o == l)
                    .map(|p| p as i64)
                    .ok_or_else(|| {
                        anyhow::anyhow!("label {l:?} is not an output of the TorchScript model")
                    })
            })
            .collect()
    }
}

/// Register a TorchScript classifier: check it loads and gives one logit per label at the
/// given input size, copy it into the project, add missing labels, record and activate it.
pub fn register(
    store: &mut Store,
    file: &Path,
    labels: &[String],
    input: &InputSpec,
    activate: bool,
) -> anyhow::Result<ModelInfo> {
    anyhow::ensure!(labels.len() >= 2, "a classifier needs at least 2 labels");
    anyhow::ensure!(input.size >= 8, "input size {} is too small", input.size);
    let m = CModule::load_on_device(file, Device::Cpu).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a loadable TorchScript module: {e}",
            file.display()
        )
    })?;
    let probe = Tensor::zeros(
        [1, 3, input.size as i64, input.size as i64],
        (Kind::Float, Device::Cpu),
    );
    let out = tch::no_grad(|| m.forward_ts(&[probe])).map_err(|e| {
        anyhow::anyhow!(
            "running {} on a {}x{} input failed: {e}",
            file.display(),
            input.size,
            input.size
        )
    })?;
    anyhow::ensure!(
        out.size() == vec![1, labels.len() as i64],
        "the model outputs shape {:?} for one image, but {} labels were given",
        out.size(),
        labels.len()
    );
    let existing: Vec<String> = store
        .labels(sets::CLASS)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let new: Vec<NewLabel> = labels
        .iter()
        .filter(|l| !existing.contains(l))
        .map(|l| NewLabel::named(l.clone()))
        .collect();
    store.add_labels(sets::CLASS, &new)?;
    let spec = TorchScriptSpec {
        input: input.clone(),
        outputs: labels.to_vec(),
        source: Some(file.to_string_lossy().into_owned()),
    };
    family::register_copy(
        store,
        file,
        "registered.pt",
        NewModel {
            label_set: sets::CLASS.to_string(),
            kind: KIND.to_string(),
            parent_id: None,
            training_run_id: None,
            labels: labels.to_vec(),
            spec: serde_json::to_value(&spec)?,
            metrics: None,
            weights_path: None,
            weights_sha256: None,
        },
        activate,
    )
}

/// TorchScript classifiers: predict from pixels; fine-tune from `base` (the registered model
/// or a later fine-tuned version).
#[derive(Debug, Clone, Default)]
pub struct TorchScriptFamily {
    /// The model fine-tuning starts from when the active model is not one of this family.
    pub base: Option<ModelInfo>,
}

/// A TorchScript module being fine-tuned on human labels.
pub struct TorchScriptTask {
    vs: nn::VarStore,
    module: RefCell<TrainableCModule>,
    train_mode: RefCell<bool>,
    paths: Vec<PathBuf>,
    input: InputSpec,
    columns: Tensor,
    spec: TorchScriptSpec,
    cache: RefCell<Vec<Option<Vec<f32>>>>,
    cached_bytes: RefCell<usize>,
}

impl TorchScriptTask {
    fn inputs(&self, idx: &[usize]) -> anyhow::Result<Tensor> {
        let missing: Vec<usize> = {
            let cache = self.cache.borrow();
            idx.iter()
                .copied()
                .filter(|&i| cache[i].is_none())
                .collect()
        };
        let (paths, input) = (&self.paths, &self.input);
        let decoded: Vec<(usize, Result<Vec<f32>, String>)> = missing
            .par_iter()
            .map(|&i| {
                (
                    i,
                    backbone::load_input(&paths[i], input).map_err(|e| e.to_string()),
                )
            })
            .collect();
        let mut fresh = std::collections::HashMap::new();
        for (i, r) in decoded {
            let v = r.map_err(|e| anyhow::anyhow!("{}: {e}", self.paths[i].display()))?;
            fresh.insert(i, v);
        }
        let mut data = Vec::with_capacity(idx.len());
        let mut cache = self.cache.borrow_mut();
        let mut bytes = self.cached_bytes.borrow_mut();
        for &i in idx {
            if let Some(v) = &cache[i] {
                data.push(v.clone());
            } else {
                let v = fresh.get(&i).cloned().unwrap_or_default();
                if *bytes + v.len() * 4 <= CACHE_BYTES {
                    *bytes += v.len() * 4;
                    cache[i] = Some(v.clone());
                }
                data.push(v);
            }
        }
        Ok(backbone::batch_tensor(&data, self.input.size).to_device(self.vs.device()))
    }
}

impl TrainTask for TorchScriptTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        if *self.train_mode.borrow() != train {
            let mut m = self.module.borrow_mut();
            if train {
                m.f_set_train()?;
            } else {
                m.f_set_eval()?;
            }
            *self.train_mode.borrow_mut() = train;
        }
        let xs = self.inputs(idx)?;
        let logits = self.module.borrow().forward_ts(&[xs])?;
        Ok(logits.index_select(1, &self.columns.to_device(logits.device())))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    /// TorchScript out: the fine-tuned module (same graph, new weights), written atomically.
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::fsutil::write_atomic(path, |tmp| self.module.borrow().save(tmp))
    }
    fn spec(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.spec).ok()
    }
}

impl ModelFamily for TorchScriptFamily {
    fn label_set(&self) -> &str {
        sets::CLASS
    }
    fn kind(&self) -> &str {
        KIND
    }

    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let base = parent.or(self.base.as_ref()).ok_or_else(|| {
            anyhow::anyhow!(
                "no TorchScript model to fine-tune from: register one with `yuxuan register-model`"
            )
        })?;
        let spec = TorchScriptSpec::of(base)?;
        let columns = Tensor::from_slice(&spec.columns(labels)?);
        let w = family::weights_path(store, base)
            .ok_or_else(|| anyhow::anyhow!("model v{} has no file", base.version))?;
        let vs = nn::VarStore::new(super::device::best_device());
        let mut module = TrainableCModule::load(&w, vs.root())
            .map_err(|e| anyhow::anyhow!("loading TorchScript model {}: {e}", w.display()))?;
        module.f_set_train()?;
        let paths = store
            .source_paths(items)?
            .into_iter()
            .zip(items)
            .map(|(p, id)| {
                p.map(PathBuf::from)
                    .ok_or_else(|| anyhow::anyhow!("no item {id}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Box::new(TorchScriptTask {
            vs,
            module: RefCell::new(module),
            train_mode: RefCell::new(true),
            cache: RefCell::new(vec![None; paths.len()]),
            cached_bytes: RefCell::new(0),
            paths,
            input: spec.input.clone(),
            columns,
            spec,
        }))
    }

    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let spec = TorchScriptSpec::of(model)?;
        let columns = Tensor::from_slice(&spec.columns(&model.labels)?);
        let w = family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model v{} has no file", model.version))?;
        let device = super::device::best_device();
        let mut m = CModule::load_on_device(&w, device)
            .map_err(|e| anyhow::anyhow!("loading TorchScript model {}: {e}", w.display()))?;
        m.f_set_eval()?;
        let paths: Vec<(i64, PathBuf)> = store
            .source_paths(items)?
            .into_iter()
            .zip(items)
            .map(|(p, &id)| (id, PathBuf::from(p.unwrap_or_default())))
            .collect();
        let mut rows: std::collections::HashMap<i64, Vec<f32>> = std::collections::HashMap::new();
        let _g = tch::no_grad_guard();
        let errors = run_pipelined(&paths, &spec.input, DEFAULT_BATCH, ctx, |ids, xs| {
            let logits = m.forward_ts(&[xs.to_device(device)])?;
            let p = logits
                .index_select(1, &columns.to_device(device))
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            for (id, r) in ids.iter().zip(Vec::<Vec<f32>>::try_from(&p)?) {
                rows.insert(*id, r);
            }
            Ok(())
        })?;
        if let Some((id, e)) = errors.first() {
            anyhow::bail!("item {id} could not be decoded: {e}");
        }
        items
            .iter()
            .map(|id| {
                rows.remove(id)
                    .ok_or_else(|| anyhow::anyhow!("no prediction for item {id}"))
            })
            .collect()
    }

    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        task.save(path)?;
        Ok(serde_json::to_value(task.spec().unwrap_or_default())?)
    }

    fn file_extension(&self) -> &'static str {
        "pt"
    }

    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        Ok(store
            .usable_images()?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }
}
