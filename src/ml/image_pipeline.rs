//! The image inference pipeline: decoding on worker threads (rayon) overlapped with batched
//! inference (CUDA when present), cancellable, with progress. Used to compute the backbone
//! embeddings once per item (cached in the project) and by the models that read pixels
//! (TorchScript, fine-tuned backbone). [`prelabel_project`] is the one call the CLI and the UI
//! make after an import or an activation: missing embeddings, then the active model over every
//! item it has not predicted yet.

use std::path::PathBuf;

use rayon::prelude::*;
use tch::Tensor;

use super::backbone::{self, Backbone, InputSpec, BACKBONE_ID};
use super::family::{self, Activation, TrainReport};
use super::train::TrainConfig;
use crate::domain::sets;
use crate::jobs::JobCtx;
use crate::store::Store;

/// Images per inference batch.
pub const DEFAULT_BATCH: usize = 32;

/// One decoded batch on its way to the model.
struct Batch {
    ids: Vec<i64>,
    data: Vec<Vec<f32>>,
    errors: Vec<(i64, String)>,
}

/// Decode `items` (id, path) in batches on worker threads while `consume` runs the model on
/// the previous batch. `consume` gets the ids and the `[n, 3, S, S]` input of each batch.
/// Returns the items that could not be decoded, with the reason. Progress: one unit per item.
pub fn run_pipelined(
    items: &[(i64, PathBuf)],
    spec: &InputSpec,
    batch: usize,
    ctx: &JobCtx,
    mut consume: impl FnMut(&[i64], &Tensor) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<(i64, String)>> {
    let batch = batch.max(1);
    let (tx, rx) = crossbeam_channel::bounded::<Batch>(2);
    let mut errors = Vec::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let producer_ctx = ctx.clone();
        scope.spawn(move || {
            for chunk in items.chunks(batch) {
                if producer_ctx.is_cancelled() {
                    break;
                }
                let decoded: Vec<(i64, Result<Vec<f32>, String>)> = chunk
                    .par_iter()
                    .map(|(id, p)| {
                        (
                            *id,
                            backbone::load_input(p, spec).map_err(|e| e.to_string()),
                        )
                    })
                    .collect();
                let mut b = Batch {
                    ids: Vec::new(),
                    data: Vec::new(),
                    errors: Vec::new(),
                };
                for (id, r) in decoded {
                    match r {
                        Ok(v) => {
                            b.ids.push(id);
                            b.data.push(v);
                        }
                        Err(e) => b.errors.push((id, e)),
                    }
                }
                if tx.send(b).is_err() {
                    break; // the consumer stopped
                }
            }
        });
        for b in rx.iter() {
            ctx.check()?;
            if !b.ids.is_empty() {
                let xs = backbone::batch_tensor(&b.data, spec.size);
                consume(&b.ids, &xs)?;
            }
            ctx.inc((b.ids.len() + b.errors.len()) as u64);
            errors.extend(b.errors);
        }
        ctx.check()?;
        Ok(())
    })?;
    Ok(errors)
}

/// Compute and cache the backbone embedding of every usable image that has none. Images
/// that cannot be decoded any more get an item error. Returns how many were embedded.
pub fn embed_missing(store: &mut Store, ctx: &JobCtx) -> anyhow::Result<usize> {
    let todo: Vec<(i64, PathBuf)> = store
        .images_missing_embedding(BACKBONE_ID)?
        .into_iter()
        .map(|(id, p)| (id, PathBuf::from(p)))
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    let net = Backbone::load(super::device::best_device())?;
    ctx.set_message(format!("embedding {} images", todo.len()));
    ctx.set_total(todo.len() as u64);
    ctx.set_done(0);
    let mut n = 0;
    let errors = run_pipelined(
        &todo,
        &InputSpec::default(),
        DEFAULT_BATCH,
        ctx,
        |ids, xs| {
            let emb = net.embed(xs).to_device(tch::Device::Cpu);
            let rows: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&emb)?;
            store.put_embeddings(
                BACKBONE_ID,
                &ids.iter().copied().zip(rows).collect::<Vec<_>>(),
            )?;
            n += ids.len();
            Ok(())
        },
    )?;
    for (id, e) in errors {
        store.set_item_error(id, Some(&e))?;
    }
    Ok(n)
}

/// Embeddings first (when the image models need them), then the active model over every
/// usable image it has not predicted yet. Returns how many items were predicted (0 when there
/// is no active model yet: the queue then falls back to the diverse cold start).
pub fn prelabel_project(store: &mut Store, ctx: &JobCtx) -> anyhow::Result<usize> {
    embed_missing(store, ctx)?;
    let Some(model) = store.active_model(sets::CLASS)? else {
        return Ok(0);
    };
    let fam = super::registry::image_family_for_kind(&model.kind)?;
    ctx.set_message(format!("pre-labelling with v{}", model.version));
    family::prelabel(store, fam.as_ref(), Some(&model), ctx)
}

/// Train the project's image model (mode from the `image_mode` setting unless `mode` is
/// given): embeddings first, then the shared training job. Does not pre-label; call
/// [`prelabel_project`] after an activation.
pub fn train_project(
    store: &mut Store,
    mode: Option<&str>,
    cfg: &TrainConfig,
    activation: Activation,
    ctx: &JobCtx,
) -> anyhow::Result<TrainReport> {
    let fam = match mode {
        Some(m) => super::registry::image_family_for_mode(store, m)?,
        None => super::registry::family_for(store, sets::CLASS)?,
    };
    if fam.kind() != super::image_torchscript::KIND {
        embed_missing(store, ctx)?;
    }
    if fam.kind() == super::image_head::KIND {
        with_head_threads(super::device::best_device(), || {
            family::run_training(store, fam.as_ref(), cfg, activation, ctx)
        })
    } else {
        family::run_training(store, fam.as_ref(), cfg, activation, ctx)
    }
}

/// Run `f` (training of the image head) with one intra-op thread on the CPU. The head's steps
/// are tiny matrix products; LibTorch's thread-pool hand-offs dominate them: measured here, 2
/// threads make a step ~3x slower than 1. Other devices are left as they are.
pub fn with_head_threads<T>(device: tch::Device, f: impl FnOnce() -> T) -> T {
    if device != tch::Device::Cpu {
        return f();
    }
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let out = f();
    tch::set_num_threads(threads);
    out
}
