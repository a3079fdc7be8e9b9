//! The image inference pipeline: decoding on worker threads (rayon) overlapped with batched
//! inference (CUDA when present), cancellable, with progress. Used to compute the backbone
//! embeddings once per item (`ml::project::embed_missing`) and by the models that read
//! pixels (TorchScript, fine-tuned backbone).

use std::path::PathBuf;

use rayon::prelude::*;
use tch::Tensor;

use super::backbone::{self, InputSpec};
use crate::jobs::JobCtx;

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
