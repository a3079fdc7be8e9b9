//! The default image model: multinomial logistic regression on the cached backbone embeddings
//! (transfer learning: the backbone never runs during training), solved to convergence with
//! L-BFGS on the full batch, L2-regularised as scikit-learn's `LogisticRegression(C=1)` is.
//! With several backbones (`BackboneChoice::Both`) each one's features are L2-normalised and
//! put side by side. Deterministic: the same labels give the same model (zero start, or the
//! active model's weights when it predicts the same labels: a warm start that converges in a
//! few iterations after each batch of labels).
//!
//! The unlabelled images count too: label spreading over the embeddings' neighbour graph
//! (`ml::propagation`) is blended with the head's probabilities by a weight picked on the
//! hold-out at each training (recorded as `propagation` in the model's spec; 0 keeps the
//! plain head), so a few dozen labels already give good suggestions where the data has
//! clusters.
//!
//! Models of the first head (a linear layer trained with AdamW on raw MobileNetV2 features,
//! spec without `features`) still load and predict on the raw features they were trained on.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::backbone::{BackboneChoice, BackboneNet, BACKBONE_ID, EMBED_DIM};
use super::family::{self, ModelFamily};
use super::propagation::{self, Graph};
use super::train::{save_var_store_atomic, EpochStat, TrainConfig, TrainTask};
use crate::domain::{sets, ModelInfo};
use crate::jobs::JobCtx;
use crate::store::Store;

/// `models.kind` of this family.
pub const KIND: &str = super::family::ModelKind::ImageHead.as_str();

/// Inverse regularisation strength (scikit-learn's `C`): the loss is the mean cross-entropy
/// plus `||W||² / (2 C n)`.
pub const C: f64 = 1.0;
/// `C` of the out-of-fold heads that check labels (`ml::suspects`): stronger regularisation
/// learns less of the wrong labels it is trained on (measured: BENCHMARKS.md, "Suspect
/// labels").
pub const CHECK_C: f64 = 0.1;
/// Each backbone's features are scaled to this L2 norm before they are put side by side.
pub const FEATURE_NORM: f64 = 10.0;
/// L-BFGS iterations at most (scikit-learn's default is 100; a cold start on 5k items needs
/// ~150 to reach the tolerance).
pub const MAX_ITER: usize = 300;
/// Stop when the largest gradient component is below this.
pub const GRAD_TOL: f64 = 1e-5;
/// L-BFGS history length.
pub const HISTORY: usize = 10;

/// Logistic regression over cached embeddings.
#[derive(Debug, Clone)]
pub struct ImageHeadFamily {
    /// Feature key: backbone ids joined by `+` (see [`BackboneChoice::key`]).
    pub backbone: String,
    /// The last spreading (model id, graph, probabilities per graph row): one per
    /// pre-labelling pass, not one per chunk.
    spread: RefCell<Option<SpreadCache>>,
}

type SpreadCache = (i64, Arc<Graph>, Arc<Vec<Vec<f32>>>);
/// A graph and the spreading's probabilities per graph row.
type Spread = (Arc<Graph>, Arc<Vec<Vec<f32>>>);

impl Default for ImageHeadFamily {
    /// The head on MobileNetV2's features.
    fn default() -> Self {
        Self::on(BACKBONE_ID)
    }
}

impl ImageHeadFamily {
    /// The head on the project's backbone choice.
    pub fn for_project(store: &Store) -> anyhow::Result<ImageHeadFamily> {
        Ok(Self::on(&BackboneChoice::of_project(store)?.key()))
    }

    /// The head on features `key` (backbone ids joined by `+`).
    pub fn on(key: &str) -> ImageHeadFamily {
        ImageHeadFamily {
            backbone: key.to_string(),
            spread: RefCell::new(None),
        }
    }

    /// The neighbour graph of the project's candidate images (None: too few or too many).
    fn graph(&self, store: &Store) -> anyhow::Result<Option<Arc<Graph>>> {
        let cands = self.candidate_items(store)?;
        propagation::cached_graph(&store.location().display(), &self.backbone, &cands, |ids| {
            feature_matrix(
                store,
                &self.backbone,
                ids,
                Features::L2Scaled,
                super::device::best_device(),
            )
        })
    }
}

/// How features are built from the stored embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// Raw embeddings (the first head's models).
    Raw,
    /// Each backbone's embedding scaled to [`FEATURE_NORM`], side by side.
    L2Scaled,
}

/// Width of the features of a key (`a+b`: sum of the nets' widths).
pub fn feature_dim(key: &str) -> anyhow::Result<i64> {
    key.split('+')
        .map(|id| {
            BackboneNet::from_id(id)
                .map(|n| n.dim())
                .ok_or_else(|| anyhow::anyhow!("unknown backbone {id:?}"))
        })
        .sum()
}

/// Features of `items` as a `[n, dim]` tensor; every item must have each backbone's embedding.
pub fn feature_matrix(
    store: &Store,
    key: &str,
    items: &[i64],
    features: Features,
    device: Device,
) -> anyhow::Result<Tensor> {
    let mut blocks = Vec::new();
    for id in key.split('+') {
        let dim = BackboneNet::from_id(id)
            .map(|n| n.dim())
            .unwrap_or(EMBED_DIM);
        let x = embedding_matrix_of(store, id, items, dim)?;
        blocks.push(match features {
            Features::Raw => x,
            Features::L2Scaled => {
                let norm = x
                    .norm_scalaropt_dim(2, [1i64].as_slice(), true)
                    .clamp_min(1e-12);
                x / norm * FEATURE_NORM
            }
        });
    }
    let x = if blocks.len() == 1 {
        blocks.pop().expect("one block")
    } else {
        Tensor::cat(&blocks, 1)
    };
    Ok(x.to_device(device))
}

/// Embeddings of `items` of one backbone as a `[n, dim]` CPU tensor.
fn embedding_matrix_of(
    store: &Store,
    backbone: &str,
    items: &[i64],
    dim: i64,
) -> anyhow::Result<Tensor> {
    let rows = store.embeddings_for(backbone, items)?;
    let mut flat = Vec::with_capacity(items.len() * dim as usize);
    for (id, r) in items.iter().zip(rows) {
        let v = r.ok_or_else(|| {
            anyhow::anyhow!("item {id} has no {backbone} embedding yet (run `yuxuan prelabel` to compute embeddings)")
        })?;
        anyhow::ensure!(
            v.len() == dim as usize,
            "item {id}: embedding of width {} (expected {dim})",
            v.len()
        );
        flat.extend_from_slice(&v);
    }
    Ok(Tensor::from_slice(&flat).view([items.len() as i64, dim]))
}

/// Raw embeddings of one backbone as a `[n, 1280]` tensor (benches, the first head's models).
pub fn embedding_matrix(
    store: &Store,
    backbone: &str,
    items: &[i64],
    device: Device,
) -> anyhow::Result<Tensor> {
    feature_matrix(store, backbone, items, Features::Raw, device)
}

/// Fit multinomial logistic regression: minimise mean cross-entropy + `lambda/2 ||W||²` over
/// `x` (`[n, d]`) and class indices `y` (`[n]`, int64) with L-BFGS (two-loop recursion,
/// backtracking Armijo line search), from `init` (`(W [k, d], b [k])`) or zeros. Returns the
/// weights and one stat per iteration. Cancellable between iterations.
#[allow(clippy::too_many_arguments)]
pub fn fit_logistic(
    x: &Tensor,
    y: &Tensor,
    classes: i64,
    lambda: f64,
    max_iter: usize,
    init: Option<(Tensor, Tensor)>,
    ctx: &JobCtx,
    on_step: &mut dyn FnMut(&EpochStat, usize),
) -> anyhow::Result<(Tensor, Tensor, Vec<EpochStat>)> {
    let _g = tch::no_grad_guard();
    let (n, d) = (x.size()[0], x.size()[1]);
    let k = classes;
    let dev = x.device();
    let yoh = y.onehot(k).to_kind(Kind::Float);
    let nw = k * d;
    let f_grad = |p: &Tensor| -> (f64, Tensor) {
        let w = p.narrow(0, 0, nw).view([k, d]);
        let b = p.narrow(0, nw, k);
        let z = x.matmul(&w.tr()) + &b;
        let lse = z.logsumexp([-1i64].as_slice(), true);
        let loss = (&lse - (&z * &yoh).sum_dim_intlist([-1i64].as_slice(), true, Kind::Float))
            .mean(Kind::Float)
            + (&w * &w).sum(Kind::Float) * (0.5 * lambda);
        let g = ((z - lse).exp() - &yoh) / n as f64;
        let gw = g.tr().matmul(x) + &w * lambda;
        let gb = g.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        (
            loss.double_value(&[]),
            Tensor::cat(&[gw.flatten(0, -1), gb], 0),
        )
    };
    let mut p = match init {
        Some((w, b)) if w.size() == [k, d] && b.size() == [k] => {
            Tensor::cat(&[w.to_device(dev).flatten(0, -1), b.to_device(dev)], 0)
                .to_kind(Kind::Float)
        }
        _ => Tensor::zeros([nw + k], (Kind::Float, dev)),
    };
    let dot = |a: &Tensor, b: &Tensor| a.dot(b).double_value(&[]);
    let (mut f, mut g) = f_grad(&p);
    let mut hist: std::collections::VecDeque<(Tensor, Tensor, f64)> = Default::default();
    let mut stats = Vec::new();
    let t0 = std::time::Instant::now();
    ctx.set_total(max_iter as u64);
    ctx.set_done(0);
    for it in 1..=max_iter {
        ctx.check()?;
        if g.abs().max().double_value(&[]) < GRAD_TOL {
            break;
        }
        // Two-loop recursion: r = H g.
        let mut q = g.copy();
        let mut alphas = Vec::with_capacity(hist.len());
        for (s, yv, rho) in hist.iter().rev() {
            let a = rho * dot(s, &q);
            q -= yv * a;
            alphas.push(a);
        }
        let gamma = match hist.back() {
            Some((s, yv, _)) => dot(s, yv) / dot(yv, yv).max(1e-30),
            None => 1.0 / dot(&g, &g).sqrt().max(1e-30),
        };
        let mut r = q * gamma;
        for ((s, yv, rho), a) in hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(yv, &r);
            r += s * (a - b);
        }
        let mut dir = -r;
        let mut gtd = dot(&g, &dir);
        if gtd >= 0.0 {
            hist.clear();
            dir = -&g;
            gtd = -dot(&g, &g);
        }
        let mut t = 1.0;
        let (mut pn, mut fnew, mut gnew);
        loop {
            pn = &p + &dir * t;
            (fnew, gnew) = f_grad(&pn);
            if fnew <= f + 1e-4 * t * gtd || t < 1e-10 {
                break;
            }
            t *= 0.5;
        }
        if fnew > f {
            break; // no descent left at float precision
        }
        let s = &pn - &p;
        let yv = &gnew - &g;
        let sy = dot(&s, &yv);
        if sy > 1e-12 {
            hist.push_back((s, yv, 1.0 / sy));
            if hist.len() > HISTORY {
                hist.pop_front();
            }
        }
        let decrease = f - fnew;
        p = pn;
        f = fnew;
        g = gnew;
        let stat = EpochStat {
            epoch: it,
            loss: f,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_step(&stat, max_iter);
        stats.push(stat);
        ctx.inc(1);
        if decrease <= 1e-10 * f.abs().max(1.0) {
            break;
        }
    }
    let w = p.narrow(0, 0, nw).view([k, d]).copy();
    let b = p.narrow(0, nw, k).copy();
    ctx.set_message(format!(
        "converged in {} iterations, loss {f:.4}",
        stats.len()
    ));
    Ok((w, b, stats))
}

/// A head, the features it trains on, and the neighbour graph of all the project's images.
pub struct HeadTask {
    vs: nn::VarStore,
    lin: nn::Linear,
    x: Tensor,
    /// Labelled item ids, in the task's example order.
    items: Vec<i64>,
    graph: Option<Arc<Graph>>,
    /// Blend weight of the spreading, picked on the hold-out.
    weight: Cell<f64>,
    /// Spreading from the training split's labels, per graph row (for the hold-out's
    /// evaluation).
    spread_eval: RefCell<Option<Vec<Vec<f32>>>>,
    /// Inverse regularisation strength of the solve.
    c: f64,
}

impl HeadTask {
    /// Pick the blend weight on the examples not in `train_idx` (the hold-out): best accuracy,
    /// then lowest log-loss, then the smaller weight.
    fn pick_weight(&self, targets: &[usize], train_idx: &[usize]) -> anyhow::Result<()> {
        let Some(g) = &self.graph else { return Ok(()) };
        let in_train: std::collections::HashSet<usize> = train_idx.iter().copied().collect();
        let hold: Vec<usize> = (0..self.items.len())
            .filter(|i| !in_train.contains(i))
            .collect();
        if hold.len() < crate::ml::calibration::MIN_CALIBRATION_ITEMS {
            return Ok(());
        }
        let k = self.lin.ws.size()[0] as usize;
        let seeds: Vec<(i64, usize)> = train_idx
            .iter()
            .map(|&i| (self.items[i], targets[i]))
            .collect();
        let spread = g.spread(&seeds, k);
        let head = {
            let _g = tch::no_grad_guard();
            let i = Tensor::from_slice(&hold.iter().map(|&i| i as i64).collect::<Vec<_>>())
                .to_device(self.x.device());
            let p = self
                .lin
                .forward(&self.x.index_select(0, &i))
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            Vec::<Vec<f32>>::try_from(&p)?
        };
        let mut best = (f64::MIN, f64::MAX, 0.0);
        for w in propagation::WEIGHTS {
            let (mut ok, mut nll) = (0usize, 0.0f64);
            for (h, &i) in head.iter().zip(&hold) {
                let p = match g.row.get(&self.items[i]) {
                    Some(&r) => propagation::blend(h, &spread[r], w),
                    None => h.clone(),
                };
                ok += (super::train::argmax(&p) == targets[i]) as usize;
                nll -= (p[targets[i]].max(1e-9) as f64).ln();
            }
            let acc = ok as f64 / hold.len() as f64;
            if acc > best.0 + 1e-12 || ((acc - best.0).abs() <= 1e-12 && nll < best.1 - 1e-9) {
                best = (acc, nll, w);
            }
        }
        self.weight.set(best.2);
        *self.spread_eval.borrow_mut() = Some(spread);
        Ok(())
    }
}

impl TrainTask for HeadTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(self.x.device());
        let logits = self.lin.forward(&self.x.index_select(0, &i));
        let w = self.weight.get();
        let spread = self.spread_eval.borrow();
        match (&self.graph, spread.as_ref()) {
            (Some(g), Some(spread)) if !train && w > 0.0 => {
                // The blend as log-probabilities (softmax gives the blend back).
                let p = logits.softmax(-1, Kind::Float).to_device(Device::Cpu);
                let rows = Vec::<Vec<f32>>::try_from(&p)?;
                let mut flat = Vec::with_capacity(rows.len() * rows.first().map_or(0, Vec::len));
                for (row, &ix) in rows.iter().zip(idx) {
                    let b = match g.row.get(&self.items[ix]) {
                        Some(&r) => propagation::blend(row, &spread[r], w),
                        None => row.clone(),
                    };
                    flat.extend(b.into_iter().map(|v| v.max(1e-12).ln()));
                }
                Ok(Tensor::from_slice(&flat)
                    .view([rows.len() as i64, -1])
                    .to_device(self.x.device()))
            }
            _ => Ok(logits),
        }
    }
    fn spec(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "propagation": self.weight.get() }))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn solve(
        &self,
        targets: &[usize],
        train_idx: &[usize],
        _cfg: &TrainConfig,
        ctx: &JobCtx,
        on_step: &mut dyn FnMut(&EpochStat, usize),
    ) -> Option<anyhow::Result<Vec<EpochStat>>> {
        Some((|| {
            let dev = self.x.device();
            let i = Tensor::from_slice(&train_idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
                .to_device(dev);
            let x = self.x.index_select(0, &i);
            let y = Tensor::from_slice(
                &train_idx
                    .iter()
                    .map(|&i| targets[i] as i64)
                    .collect::<Vec<_>>(),
            )
            .to_device(dev);
            let k = self.lin.ws.size()[0];
            let lambda = 1.0 / (self.c * train_idx.len().max(1) as f64);
            let init = {
                let _g = tch::no_grad_guard();
                let b = self.lin.bs.as_ref().expect("head has a bias");
                Some((self.lin.ws.copy(), b.copy()))
            };
            let (w, b, stats) = fit_logistic(&x, &y, k, lambda, MAX_ITER, init, ctx, on_step)?;
            tch::no_grad(|| {
                let mut ws = self.lin.ws.shallow_clone();
                ws.copy_(&w);
                let mut bs = self
                    .lin
                    .bs
                    .as_ref()
                    .expect("head has a bias")
                    .shallow_clone();
                bs.copy_(&b);
            });
            // The first solve (on the training split) picks the spreading's weight on the
            // hold-out; the refit on every label keeps it.
            if train_idx.len() < self.items.len() {
                self.pick_weight(targets, train_idx)?;
            }
            Ok(stats)
        })())
    }
}

impl ImageHeadFamily {
    /// A head task on `items`, warm from `parent` when it is a head on the same features,
    /// solved with inverse regularisation `c`.
    fn task(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
        c: f64,
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        let device = super::device::best_device();
        let x = feature_matrix(store, &self.backbone, items, Features::L2Scaled, device)?;
        let dim = x.size()[1];
        let mut vs = nn::VarStore::new(device);
        let lin = head(&vs, dim, labels.len());
        // Zero start, or the active model's solution when it is a head on the same features.
        tch::no_grad(|| {
            let mut ws = lin.ws.shallow_clone();
            let _ = ws.zero_();
            if let Some(b) = &lin.bs {
                let _ = b.shallow_clone().zero_();
            }
        });
        if let Some(p) = parent.filter(|p| {
            features_of(p) == Features::L2Scaled
                && p.spec.get("backbone").and_then(|b| b.as_str()) == Some(&self.backbone)
        }) {
            if let Some(w) = family::weights_path(store, p) {
                vs.load(&w)
                    .map_err(|e| anyhow::anyhow!("loading parent model {}: {e}", w.display()))?;
            }
        }
        let graph = self.graph(store)?;
        Ok(Box::new(HeadTask {
            vs,
            lin,
            x,
            items: items.to_vec(),
            graph,
            weight: Cell::new(0.0),
            spread_eval: RefCell::new(None),
            c,
        }))
    }
}

impl ImageHeadFamily {
    /// Spreading of the project's current human labels over the graph, for `model`'s labels.
    /// Computed once per family instance and model: the project facade builds a family per
    /// pre-labelling pass, and `prelabel_with` asks per chunk (no re-read of the labels).
    fn spread_for(&self, store: &Store, model: &ModelInfo) -> anyhow::Result<Option<Spread>> {
        if let Some((id, g, s)) = self.spread.borrow().as_ref() {
            if *id == model.id {
                return Ok(Some((g.clone(), s.clone())));
            }
        }
        let labels = store.current_labels(sets::CLASS)?;
        let Some(g) = self.graph(store)? else {
            return Ok(None);
        };
        let seeds: Vec<(i64, usize)> = labels
            .iter()
            .filter_map(|(id, l)| model.labels.iter().position(|m| m == l).map(|c| (*id, c)))
            .collect();
        let s = Arc::new(g.spread(&seeds, model.labels.len()));
        *self.spread.borrow_mut() = Some((model.id, g.clone(), s.clone()));
        Ok(Some((g, s)))
    }
}

fn head(vs: &nn::VarStore, dim: i64, classes: usize) -> nn::Linear {
    nn::linear(vs.root() / "head", dim, classes as i64, Default::default())
}

/// How a registered head model's features are built: its spec's `features` (absent: the
/// first head, raw).
fn features_of(model: &ModelInfo) -> Features {
    match model.spec.get("features").and_then(|f| f.as_str()) {
        Some("l2-scaled") => Features::L2Scaled,
        _ => Features::Raw,
    }
}

impl ModelFamily for ImageHeadFamily {
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
        self.task(store, items, labels, parent, C)
    }

    fn prepare_unseen(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        self.task(store, items, labels, None, CHECK_C)
    }

    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        _ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let device = super::device::best_device();
        let key = model
            .spec
            .get("backbone")
            .and_then(|b| b.as_str())
            .unwrap_or(&self.backbone)
            .to_string();
        let features = features_of(model);
        let dim = match features {
            Features::Raw => EMBED_DIM,
            Features::L2Scaled => feature_dim(&key)?,
        };
        let mut vs = nn::VarStore::new(device);
        let lin = head(&vs, dim, model.labels.len());
        let w = family::weights_path(store, model)
            .ok_or_else(|| anyhow::anyhow!("model v{} has no weights", model.version))?;
        vs.load(&w)
            .map_err(|e| anyhow::anyhow!("loading model {}: {e}", w.display()))?;
        let _g = tch::no_grad_guard();
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(4096) {
            let x = feature_matrix(store, &key, chunk, features, device)?;
            let p = lin
                .forward(&x)
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            out.extend(Vec::<Vec<f32>>::try_from(&p)?);
        }
        let w = model
            .spec
            .get("propagation")
            .and_then(|w| w.as_f64())
            .unwrap_or(0.0);
        if w > 0.0 && key == self.backbone {
            if let Some((g, spread)) = self.spread_for(store, model)? {
                for (row, id) in out.iter_mut().zip(items) {
                    if let Some(&r) = g.row.get(id) {
                        *row = propagation::blend(row, &spread[r], w);
                    }
                }
            }
        }
        Ok(out)
    }

    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value> {
        save_var_store_atomic(task.var_store(), path)?;
        let mut spec = serde_json::json!({
            "backbone": self.backbone,
            "dim": feature_dim(&self.backbone)?,
            "head": "logistic-lbfgs",
            "features": "l2-scaled",
            "C": C,
        });
        if let (Some(extra), Some(obj)) = (task.spec(), spec.as_object_mut()) {
            if let Some(e) = extra.as_object() {
                obj.extend(e.clone());
            }
        }
        Ok(spec)
    }

    fn neighbour_graph(&self, store: &Store) -> anyhow::Result<Option<Arc<Graph>>> {
        self.graph(store)
    }

    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>> {
        // Images without every backbone's embedding (decode failed) are not candidates.
        let mut embedded: Option<std::collections::HashSet<i64>> = None;
        for id in self.backbone.split('+') {
            let e = store.embedded_item_ids(id)?;
            embedded = Some(match embedded {
                None => e,
                Some(prev) => prev.intersection(&e).copied().collect(),
            });
        }
        let embedded = embedded.unwrap_or_default();
        Ok(store
            .usable_images()?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| embedded.contains(id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_matches_the_logistic_regression_optimum() {
        // Three Gaussian blobs in 5-d; the optimum's gradient is ~0 and the fit is exact on
        // separable data; a warm start from the solution stops at once.
        tch::manual_seed(1);
        let n = 300;
        let centers = Tensor::from_slice(&[
            3.0f32, 0., 0., 0., 0., 0., 3., 0., 0., 0., 0., 0., 3., 0., 0.,
        ])
        .view([3, 5]);
        let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(3);
        let x = centers.index_select(0, &y) + Tensor::randn([n, 5], (Kind::Float, Device::Cpu));
        let ctx = JobCtx::new("t");
        let lambda = 1.0 / n as f64;
        let (w, b, stats) =
            fit_logistic(&x, &y, 3, lambda, 300, None, &ctx, &mut |_, _| {}).unwrap();
        assert!(
            stats.len() > 3 && stats.len() < 300,
            "{} iterations",
            stats.len()
        );
        assert!(stats.last().unwrap().loss < stats[0].loss);
        let pred = (x.matmul(&w.tr()) + &b).argmax(-1, false);
        let acc = pred
            .eq_tensor(&y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!(acc > 0.9, "accuracy {acc}");
        let (_, _, again) =
            fit_logistic(&x, &y, 3, lambda, 300, Some((w, b)), &ctx, &mut |_, _| {}).unwrap();
        assert!(
            again.len() <= 2,
            "warm start took {} iterations",
            again.len()
        );
    }
}
