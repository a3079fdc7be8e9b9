//! Backbone fine-tune mode: MobileNetV2's last blocks plus a linear head are trained on the
//! human labels; the frozen prefix (blocks 0..[`FROZEN_BLOCKS`]) runs once per labelled image
//! and its output is kept in memory for all epochs. Slower than the head mode (pixels must be
//! decoded and the prefix run), better on data far from ImageNet; meant for the GPU.

use std::path::{Path, PathBuf};

use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

use super::backbone::{self, InputSpec, EMBED_DIM, N_BLOCKS};
use super::family::{self, ModelFamily};
use super::image_pipeline::{run_pipelined, DEFAULT_BATCH};
use super::train::TrainTask;
use crate::domain::{sets, ModelInfo};
use crate::jobs::JobCtx;
use crate::store::Store;

/// `models.kind` of this family.
pub const KIND: &str = super::family::ModelKind::ImageFinetune.as_str();
/// Blocks that stay frozen; blocks 17 (320 channels) and 18 (1280) are trained.
pub const FROZEN_BLOCKS: usize = 17;

/// Fine-tune the last MobileNetV2 blocks and a head.
#[derive(Debug, Clone, Default)]
pub struct FinetuneFamily;

struct Net {
    vs: nn::VarStore,
    blocks: Vec<Box<dyn ModuleT>>,
    head: nn::Linear,
}

fn build(device: Device, classes: usize, from: Option<&Path>) -> anyhow::Result<Net> {
    let mut vs = nn::VarStore::new(device);
    let blocks = backbone::feature_blocks(&vs.root());
    let head = nn::linear(
        vs.root() / "head",
        EMBED_DIM,
        classes as i64,
        Default::default(),
    );
    let pretrained = crate::assets::mobilenet_weights();
    anyhow::ensure!(
        pretrained.is_file(),
        "MobileNetV2 weights not found at {}; {}",
        pretrained.display(),
        crate::assets::SETUP_HINT
    );
    vs.load_partial(&pretrained)?;
    if let Some(w) = from {
        vs.load(w)
            .map_err(|e| anyhow::anyhow!("loading model {}: {e}", w.display()))?;
    }
    // Only the last blocks and the head learn. Batch-norm running statistics are buffers, never
    // parameters: cuDNN refuses a running_mean that requires grad (CPU silently accepts it).
    for (name, t) in vs.variables() {
        let is_buffer = name.ends_with("running_mean")
            || name.ends_with("running_var")
            || name.ends_with("num_batches_tracked");
        let trainable = !is_buffer
            && (name.starts_with("head.")
                || (FROZEN_BLOCKS..N_BLOCKS).any(|b| name.starts_with(&format!("features.{b}."))));
        let mut t = t;
        let _ = t.requires_grad_(trainable);
    }
    Ok(Net { vs, blocks, head })
}

/// The trainable part over cached prefix outputs.
pub struct FinetuneTask {
    net: Net,
    prefix: Tensor,
}

impl TrainTask for FinetuneTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(self.prefix.device());
        let x = self.prefix.index_select(0, &i);
        let f = backbone::pool(&backbone::run_blocks(
            &self.net.blocks,
            FROZEN_BLOCKS..N_BLOCKS,
            &x,
            train,
        ));
        Ok(self.net.head.forward(&f.dropout(0.2, train)))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.net.vs
    }
}

fn item_paths(store: &Store, items: &[i64]) -> anyhow::Result<Vec<(i64, PathBuf)>> {
    Ok(store
        .source_paths(items)?
        .into_iter()
        .zip(items)
        .map(|(p, &id)| (id, PathBuf::from(p.unwrap_or_default())))
        .collect())
}

impl ModelFamily for FinetuneFamily {
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
        let device = super::device::best_device();
        let from = parent.and_then(|p| family::weights_path(store, p));
        let net = build(device, labels.len(), from.as_deref())?;
        let paths = item_paths(store, items)?;
        let mut parts: Vec<(i64, Tensor)> = Vec::with_capacity(items.len());
        let ctx = JobCtx::new("finetune-prefix");
        let errors = run_pipelined(
            &paths,
            &InputSpec::default(),
            DEFAULT_BATCH,
            &ctx,
            |ids, xs| {
                let _g = tch::no_grad_guard();
                let p = backbone::run_blocks(
                    &net.blocks,
                    0..FROZEN_BLOCKS,
                    &xs.to_device(device),
                    false,
                );
                for (k, id) in ids.iter().enumerate() {
                    parts.push((*id, p.get(k as i64)));
                }
                Ok(())
            },
        )?;
        if let Some((id, e)) = errors.first() {
            anyhow::bail!("labelled item {id} could not be decoded: {e}");
        }
        let by_id: std::collections::HashMap<i64, Tensor> = parts.into_iter().collect();
        let ordered: Vec<Tensor> = items.iter().map(|id| by_id[id].shallow_clone()).collect();
        let prefix = Tensor::stack(&ordered, 0);
        Ok(Box::new(FinetuneTask { net, prefix }))
    }

    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let device = super::device::best_device();
        let w = family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model v{} has no weights", model.version))?;
        let net = build(device, model.labels.len(), Some(&w))?;
        let paths = item_paths(store, items)?;
        let mut rows = std::collections::HashMap::new();
        let errors = run_pipelined(
            &paths,
            &InputSpec::default(),
            DEFAULT_BATCH,
            ctx,
            |ids, xs| {
                let _g = tch::no_grad_guard();
                let f = backbone::pool(&backbone::run_blocks(
                    &net.blocks,
                    0..N_BLOCKS,
                    &xs.to_device(device),
                    false,
                ));
                let p = net
                    .head
                    .forward(&f)
                    .softmax(-1, Kind::Float)
                    .to_device(Device::Cpu);
                for (id, r) in ids.iter().zip(Vec::<Vec<f32>>::try_from(&p)?) {
                    rows.insert(*id, r);
                }
                Ok(())
            },
        )?;
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
        Ok(
            serde_json::json!({ "backbone": "mobilenet_v2", "frozen_blocks": FROZEN_BLOCKS, "input": InputSpec::default() }),
        )
    }

    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        Ok(store
            .usable_images()?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }
}
