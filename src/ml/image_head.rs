//! The default image model: a linear head on the cached backbone embeddings (transfer learning
//! as in tch-rs' `examples/transfer-learning`). Trains in seconds on the CPU because the
//! backbone never runs during training; pre-labelling reads the embeddings too.

use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::backbone::{BACKBONE_ID, EMBED_DIM};
use super::family::{self, ModelFamily};
use super::train::{save_var_store_atomic, TrainTask};
use crate::domain::{sets, ModelInfo};
use crate::jobs::JobCtx;
use crate::store::Store;

/// `models.kind` of this family.
pub const KIND: &str = "image-head";

/// Linear head over cached embeddings.
#[derive(Debug, Clone)]
pub struct ImageHeadFamily {
    pub backbone: String,
}

impl ImageHeadFamily {
    /// The head on the project's backbone.
    pub fn for_project(store: &Store) -> anyhow::Result<ImageHeadFamily> {
        Ok(ImageHeadFamily {
            backbone: super::project::backbone_id(store)?.to_string(),
        })
    }
}

impl Default for ImageHeadFamily {
    fn default() -> Self {
        ImageHeadFamily {
            backbone: BACKBONE_ID.to_string(),
        }
    }
}

/// Dropout probability on the embeddings while training.
pub const DROPOUT: f64 = 0.2;
/// Rows of the dropout mask bank (see [`DropoutBank`]).
pub const MASK_BANK_ROWS: i64 = 2048;
/// Batch size of head training on large sets unless the lead picks one: the steps are tiny,
/// so fewer, larger batches pay (see [`ImageHeadFamily::default_batch_size`]).
pub const HEAD_BATCH_LARGE: usize = 128;
/// Train examples from which [`HEAD_BATCH_LARGE`] is used; smaller sets keep the shared
/// default (64) so that the first few hundred labels still get enough optimizer steps.
pub const HEAD_LARGE_FROM: usize = 4096;

/// Dropout whose masks are rows of a bank drawn once per training, picked at random per
/// example. Drawing a fresh Bernoulli mask for every `[batch, 1280]` input costs more than the
/// whole rest of a head step on the CPU (1.3 ms of 3.4 ms per batch of 64, one thread);
/// picking among 2048 pre-drawn masks costs an `index_select`. Each example still sees a
/// different random mask each epoch.
pub struct DropoutBank {
    masks: Tensor,
}

impl DropoutBank {
    /// `rows` masks of width `dim` keeping each unit with probability `1 - p`, scaled by
    /// `1 / (1 - p)` as inverted dropout is.
    pub fn new(rows: i64, dim: i64, p: f64, device: Device) -> Self {
        let keep = Tensor::rand([rows, dim], (Kind::Float, device)).ge(p);
        DropoutBank {
            masks: keep.to_kind(Kind::Float) / (1.0 - p),
        }
    }

    /// `x` (`[batch, dim]`) with one random bank row applied to each example.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let rows = Tensor::randint(
            self.masks.size()[0],
            [x.size()[0]],
            (Kind::Int64, x.device()),
        );
        x * self.masks.index_select(0, &rows)
    }
}

/// A head and the embeddings it trains on.
pub struct HeadTask {
    vs: nn::VarStore,
    lin: nn::Linear,
    x: Tensor,
    dropout: DropoutBank,
}

impl TrainTask for HeadTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(self.x.device());
        let x = self.x.index_select(0, &i);
        let x = if train { self.dropout.apply(&x) } else { x };
        Ok(self.lin.forward(&x))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

fn head(vs: &nn::VarStore, classes: usize) -> nn::Linear {
    nn::linear(
        vs.root() / "head",
        EMBED_DIM,
        classes as i64,
        Default::default(),
    )
}

/// Embeddings of `items` as a `[n, 1280]` tensor; every item must have one.
pub fn embedding_matrix(
    store: &Store,
    backbone: &str,
    items: &[i64],
    device: Device,
) -> anyhow::Result<Tensor> {
    let rows = store.embeddings_for(backbone, items)?;
    let mut flat = Vec::with_capacity(items.len() * EMBED_DIM as usize);
    for (id, r) in items.iter().zip(rows) {
        let v = r.ok_or_else(|| {
            anyhow::anyhow!("item {id} has no {backbone} embedding yet (run `yuxuan prelabel` to compute embeddings)")
        })?;
        anyhow::ensure!(
            v.len() == EMBED_DIM as usize,
            "item {id}: embedding of width {} (expected {EMBED_DIM})",
            v.len()
        );
        flat.extend_from_slice(&v);
    }
    Ok(Tensor::from_slice(&flat)
        .view([items.len() as i64, EMBED_DIM])
        .to_device(device))
}

impl ModelFamily for ImageHeadFamily {
    fn label_set(&self) -> &str {
        sets::CLASS
    }
    fn kind(&self) -> &str {
        KIND
    }
    fn default_batch_size(&self, n_train: usize) -> usize {
        if n_train >= HEAD_LARGE_FROM {
            HEAD_BATCH_LARGE
        } else {
            super::train::DEFAULT_BATCH
        }
    }

    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let device = super::device::best_device();
        let x = embedding_matrix(store, &self.backbone, items, device)?;
        let mut vs = nn::VarStore::new(device);
        let lin = head(&vs, labels.len());
        if let Some(p) = parent {
            if let Some(w) = family::weights_path(store, p) {
                vs.load(&w)
                    .map_err(|e| anyhow::anyhow!("loading parent model {}: {e}", w.display()))?;
            }
        }
        let dropout = DropoutBank::new(MASK_BANK_ROWS, EMBED_DIM, DROPOUT, device);
        Ok(Box::new(HeadTask {
            vs,
            lin,
            x,
            dropout,
        }))
    }

    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        _ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let device = super::device::best_device();
        let backbone = model
            .spec
            .get("backbone")
            .and_then(|b| b.as_str())
            .unwrap_or(&self.backbone)
            .to_string();
        let mut vs = nn::VarStore::new(device);
        let lin = head(&vs, model.labels.len());
        let w = family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model v{} has no weights", model.version))?;
        vs.load(&w)
            .map_err(|e| anyhow::anyhow!("loading model {}: {e}", w.display()))?;
        let _g = tch::no_grad_guard();
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(4096) {
            let x = embedding_matrix(store, &backbone, chunk, device)?;
            let p = lin
                .forward(&x)
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            out.extend(Vec::<Vec<f32>>::try_from(&p)?);
        }
        Ok(out)
    }

    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        save_var_store_atomic(task.var_store(), path)?;
        Ok(serde_json::json!({ "backbone": self.backbone, "dim": EMBED_DIM, "head": "linear" }))
    }

    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        // Images whose embedding could not be computed (decode failed) are not candidates.
        let embedded = store.embedded_item_ids(&self.backbone)?;
        Ok(store
            .usable_images()?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| embedded.contains(id))
            .collect())
    }
}
