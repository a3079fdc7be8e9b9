//! Use of the unlabelled images: label spreading (Zhou et al. 2004, "Learning with local and
//! global consistency") over the k-nearest-neighbour graph of the cached embeddings. Every
//! image, labelled or not, is a node; the human labels spread along the graph, so clusters
//! that the linear head cannot yet separate from a few labels still get their neighbours'
//! label. The image head blends it with its own probabilities by a weight chosen on the
//! hold-out at each training (0 where spreading does not help: the plain head is kept).
//!
//! Up to [`EXACT_GRAPH_ITEMS`] images the graph is exact (blocked matrix products, `O(N² d)`,
//! seconds); above, each image's neighbours come from the HNSW index of the near-duplicate
//! search (`similarity::knn_index`) over the features' top principal axes, which are read a
//! block of images at a time, so a 100k-image project never holds its full feature matrix.
//! Either graph is cached per process. Above [`MAX_GRAPH_ITEMS`] spreading is skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tch::{Device, Kind, Tensor};

use super::similarity;
use crate::jobs::JobCtx;

/// Neighbours per image.
pub const K: usize = 10;
/// Images up to which the graph is exact.
pub const EXACT_GRAPH_ITEMS: usize = 30_000;
/// Images above which no graph is built (the index's build would take minutes).
pub const MAX_GRAPH_ITEMS: usize = 1_000_000;
/// Images whose features are read at once when the graph comes from the index.
const FEATURE_BLOCK: usize = 8192;
/// Spreading's `alpha` (share kept from the neighbours each step).
pub const ALPHA: f32 = 0.99;
/// Spreading steps.
pub const STEPS: usize = 20;
/// Edge weight = cosine similarity to this power (sharper neighbourhoods).
pub const GAMMA: i32 = 3;
/// Blend weights tried on the hold-out.
pub const WEIGHTS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The k-nearest-neighbour graph of a set of items.
#[derive(Debug)]
pub struct Graph {
    /// Item ids, row order.
    pub items: Vec<i64>,
    pub row: HashMap<i64, usize>,
    /// `K` neighbour rows per row.
    pub nbr: Vec<[u32; K]>,
    /// Row-normalised edge weights.
    pub w: Vec<[f32; K]>,
}

impl Graph {
    /// The graph of `items` over `x` (`[n, d]`, rows L2-normalised or not: cosine is used).
    pub fn build(items: Vec<i64>, x: &Tensor) -> anyhow::Result<Graph> {
        let _g = tch::no_grad_guard();
        let n = items.len();
        anyhow::ensure!(n > K, "a graph needs more than {K} items");
        let x = unit_rows(x);
        let mut nbr = Vec::with_capacity(n);
        let mut w = Vec::with_capacity(n);
        let block = 1024i64;
        let mut start = 0i64;
        while start < n as i64 {
            let len = block.min(n as i64 - start);
            let mut s = x.narrow(0, start, len).matmul(&x.tr());
            // No self-loops.
            let diag = Tensor::arange_start(start, start + len, (Kind::Int64, x.device()));
            let _ = s.index_put_(
                &[
                    Some(Tensor::arange(len, (Kind::Int64, x.device()))),
                    Some(diag),
                ],
                &Tensor::from(-2.0f32).to_device(x.device()),
                false,
            );
            let (vals, idx) = s.topk(K as i64, 1, true, true);
            let vals: Vec<f32> = Vec::<f32>::try_from(vals.to_device(Device::Cpu).flatten(0, -1))?;
            let idx: Vec<i64> = Vec::<i64>::try_from(idx.to_device(Device::Cpu).flatten(0, -1))?;
            for r in 0..len as usize {
                let near = (0..K).map(|j| (idx[r * K + j] as u32, vals[r * K + j]));
                let (nb, ww) = edges(start as u32 + r as u32, near);
                nbr.push(nb);
                w.push(ww);
            }
            start += len;
        }
        let row = items.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        Ok(Graph { items, row, nbr, w })
    }

    /// The graph of `items` through the HNSW index: `features(ids)` gives the features of some
    /// of them (`[ids.len(), d]`), asked for a sample (the principal axes) and then a block at
    /// a time; each row's neighbours are its nearest by cosine on the top axes.
    pub fn build_index(
        items: Vec<i64>,
        features: &dyn Fn(&[i64]) -> anyhow::Result<Tensor>,
        ctx: &JobCtx,
    ) -> anyhow::Result<Graph> {
        let _g = tch::no_grad_guard();
        let n = items.len();
        anyhow::ensure!(n > K, "a graph needs more than {K} items");
        let unit = |x: Tensor| unit_rows(&x.to_device(Device::Cpu));
        ctx.set_message(format!("principal axes of {n} images' features"));
        let sample: Vec<i64> = similarity::axes_sample(n)
            .into_iter()
            .map(|r| items[r])
            .collect();
        let sample = unit(features(&sample)?);
        let dim = sample.size()[1] as usize;
        let basis = (dim > similarity::INDEX_DIM).then(|| similarity::principal_axes(&sample));
        drop(sample);
        let width = dim.min(similarity::INDEX_DIM);
        let mut low = Vec::with_capacity(n * width);
        ctx.set_total(n.div_ceil(FEATURE_BLOCK) as u64);
        for block in items.chunks(FEATURE_BLOCK) {
            ctx.check()?;
            let x = unit(features(block)?);
            let y = match &basis {
                Some(b) => unit(x.matmul(b)),
                None => x,
            };
            low.extend(Vec::<f32>::try_from(y.contiguous().reshape([-1]))?);
            ctx.inc(1);
        }
        let knn = similarity::knn_index(&low, width, K, ctx)?;
        drop(low);
        let mut nbr = Vec::with_capacity(n);
        let mut w = Vec::with_capacity(n);
        for (r, near) in knn.into_iter().enumerate() {
            let (nb, ww) = edges(r as u32, near.into_iter());
            nbr.push(nb);
            w.push(ww);
        }
        let row = items.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        Ok(Graph { items, row, nbr, w })
    }

    /// Label spreading from `seeds` (item id, class index < `classes`): a probability row per
    /// graph row (uniform where nothing reached).
    pub fn spread(&self, seeds: &[(i64, usize)], classes: usize) -> Vec<Vec<f32>> {
        let n = self.items.len();
        let mut y0 = vec![0f32; n * classes];
        for &(id, c) in seeds {
            if let Some(&r) = self.row.get(&id) {
                if c < classes {
                    y0[r * classes + c] = 1.0;
                }
            }
        }
        let mut f = y0.clone();
        let mut next = vec![0f32; n * classes];
        for _ in 0..STEPS {
            for r in 0..n {
                let out = &mut next[r * classes..(r + 1) * classes];
                for c in 0..classes {
                    out[c] = (1.0 - ALPHA) * y0[r * classes + c];
                }
                for j in 0..K {
                    let (nb, wt) = (self.nbr[r][j] as usize, self.w[r][j] * ALPHA);
                    let src = &f[nb * classes..(nb + 1) * classes];
                    for c in 0..classes {
                        out[c] += wt * src[c];
                    }
                }
            }
            std::mem::swap(&mut f, &mut next);
        }
        (0..n)
            .map(|r| {
                let row = &f[r * classes..(r + 1) * classes];
                let s: f32 = row.iter().sum();
                if s > 1e-12 {
                    row.iter().map(|v| v / s).collect()
                } else {
                    vec![1.0 / classes as f32; classes]
                }
            })
            .collect()
    }
}

impl Graph {
    /// The labels of each item's labelled neighbours, weighted by the edges (the item's own
    /// label never counts: there are no self-loops): a probability row per item of
    /// `labels` (item id, class index < `classes`) with at least one labelled neighbour.
    pub fn neighbour_votes(
        &self,
        labels: &HashMap<i64, usize>,
        classes: usize,
    ) -> HashMap<i64, Vec<f32>> {
        let mut out = HashMap::with_capacity(labels.len());
        for &id in labels.keys() {
            let Some(&r) = self.row.get(&id) else {
                continue;
            };
            let mut v = vec![0f32; classes];
            let mut total = 0f32;
            for j in 0..K {
                let nb = self.items[self.nbr[r][j] as usize];
                if let Some(&c) = labels.get(&nb) {
                    if c < classes {
                        v[c] += self.w[r][j];
                        total += self.w[r][j];
                    }
                }
            }
            if total > 1e-12 {
                v.iter_mut().for_each(|x| *x /= total);
                out.insert(id, v);
            }
        }
        out
    }
}

/// Rows of `x` scaled to unit length, as float.
fn unit_rows(x: &Tensor) -> Tensor {
    let x = x.to_kind(Kind::Float);
    let norm = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}

/// Row `row`'s edges from its nearest `(row, cosine)`, nearest first: weight = cosine^GAMMA,
/// normalised to sum 1. Fewer than `K` neighbours: the rest point at the row itself with no
/// weight.
fn edges(row: u32, near: impl Iterator<Item = (u32, f32)>) -> ([u32; K], [f32; K]) {
    let mut nb = [row; K];
    let mut ww = [0f32; K];
    for (j, (c, s)) in near.take(K).enumerate() {
        nb[j] = c;
        ww[j] = s.max(0.0).powi(GAMMA);
    }
    let sum: f32 = ww.iter().sum();
    if sum > 0.0 {
        ww.iter_mut().for_each(|v| *v /= sum);
    }
    (nb, ww)
}

/// `(1 - w) * head + w * spread`.
pub fn blend(head: &[f32], spread: &[f32], w: f64) -> Vec<f32> {
    let w = w as f32;
    head.iter()
        .zip(spread)
        .map(|(h, s)| (1.0 - w) * h + w * s)
        .collect()
}

type CacheKey = (String, String, usize, i64);

fn cache() -> &'static Mutex<HashMap<CacheKey, Arc<Graph>>> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<CacheKey, Arc<Graph>>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The graph of `items` of a project (keyed by the project, the feature key and the item
/// set), built on a miss from `features(ids)` (exact up to [`EXACT_GRAPH_ITEMS`] items, through
/// the index above) and kept for the process (the app trains and pre-labels in one process;
/// the simulator retrains on the same items every round).
pub fn cached_graph(
    project: &str,
    key: &str,
    items: &[i64],
    features: impl Fn(&[i64]) -> anyhow::Result<Tensor>,
) -> anyhow::Result<Option<Arc<Graph>>> {
    if items.len() <= K || items.len() > MAX_GRAPH_ITEMS {
        return Ok(None);
    }
    // The item set by its size and a checksum of the ids.
    let sum = items
        .iter()
        .fold(0i64, |a, &i| a.wrapping_mul(1_000_003).wrapping_add(i));
    let k = (project.to_string(), key.to_string(), items.len(), sum);
    if let Some(g) = cache().lock().expect("graph cache").get(&k) {
        return Ok(Some(g.clone()));
    }
    let g = if items.len() <= EXACT_GRAPH_ITEMS {
        Graph::build(items.to_vec(), &features(items)?)?
    } else {
        Graph::build_index(items.to_vec(), &features, &JobCtx::new("neighbour graph"))?
    };
    let g = Arc::new(g);
    let mut c = cache().lock().expect("graph cache");
    if c.len() > 4 {
        c.clear();
    }
    c.insert(k, g.clone());
    Ok(Some(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_spread_within_clusters_not_across() {
        // Two tight clusters of 30 points each, one seed per cluster.
        tch::manual_seed(3);
        let a = Tensor::randn([30, 8], (Kind::Float, Device::Cpu)) * 0.05
            + Tensor::from_slice(&[1.0f32, 0., 0., 0., 0., 0., 0., 0.]);
        let b = Tensor::randn([30, 8], (Kind::Float, Device::Cpu)) * 0.05
            + Tensor::from_slice(&[0.0f32, 1., 0., 0., 0., 0., 0., 0.]);
        let x = Tensor::cat(&[a, b], 0);
        let items: Vec<i64> = (100..160).collect();
        let g = Graph::build(items, &x).unwrap();
        assert!(g
            .nbr
            .iter()
            .enumerate()
            .all(|(r, nb)| nb.iter().all(|&j| j as usize != r)));
        let p = g.spread(&[(100, 0), (159, 1)], 2);
        let right = (0..60).filter(|&r| (p[r][0] > p[r][1]) == (r < 30)).count();
        assert_eq!(right, 60, "{p:?}");
        let m = blend(&[1.0, 0.0], &[0.0, 1.0], 0.25);
        assert_eq!(m, vec![0.75, 0.25]);
    }
}
