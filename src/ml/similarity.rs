//! Near-duplicate and similar-image search on the cached backbone embeddings (the same vectors
//! the head trains on; nothing is recomputed). Cosine similarity of L2-normalised vectors.
//!
//! Two ways to find the pairs at or above a threshold, the same groups out of both:
//! - **exact**: all pairs, as LibTorch matrix products in row blocks (memory stays
//!   `block x n`); cost grows with n², right and fast enough for small projects;
//! - **index**: an HNSW graph (`instant-distance`, built on all cores with a fixed seed) of
//!   the vectors on their top 64 principal axes, asked for each item's nearest neighbours,
//!   every candidate pair checked on the full vectors; an item whose neighbours are *all* above the threshold
//!   (a group larger than the search width) gets its row computed exactly, so large groups lose
//!   no pairs. Recall against exact is measured by `yuxuan bench duplicates` and asserted on
//!   real emoji embeddings by a test.
//!
//! [`Search::Auto`] (what the app and the CLI use) is exact up to [`EXACT_MAX_ITEMS`]
//! embeddings, the index above. Pairs are joined into groups (union-find); progress per block
//! or per chunk of queries, cancellable.
//!
//! Byte-identical files never get here (import deduplicates by content hash): this finds
//! re-encodes, resizes, small crops, screenshots of the same thing, burst shots.

use rayon::prelude::*;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::jobs::JobCtx;
use crate::store::Store;

/// Default cosine threshold for "near duplicate" on MobileNetV2 features. Measured on
/// scikit-image's sample photos: `chelsea.png` resized to 60 % and re-encoded as JPEG scores
/// 0.980 with its original, the stereo pair `motorcycle_left/right` 0.969, the nearest other
/// photo 0.52. On 1,195 Noto emoji the nearest *other* emoji scores a median 0.87; the ones
/// above 0.95 are variants (skin tones, family members, arrow directions).
pub const DEFAULT_THRESHOLD: f32 = 0.95;

/// Rows per similarity block.
const BLOCK: i64 = 512;
/// Pairs above the threshold beyond which the search stops: at a threshold that low, "near
/// duplicate" means "similar" and the pairs would fill memory (every pair of a 100k project is
/// 5e9).
pub const MAX_PAIRS: usize = 5_000_000;
/// Up to this many embeddings [`Search::Auto`] compares all pairs (BENCHMARKS.md,
/// "duplicates": below it the exact products take about as long as building the index).
pub const EXACT_MAX_ITEMS: usize = 5_000;
/// Neighbours asked of the index per item (HNSW `ef` of the search).
pub const INDEX_NEIGHBOURS: usize = 24;
/// HNSW `ef` of the construction.
const INDEX_EF_CONSTRUCTION: usize = 32;
/// Seed of the index's layer assignment.
const INDEX_SEED: u64 = 0x5eed_d0b5;
/// Queries per progress step of the index search.
const QUERY_CHUNK: usize = 2048;

/// How the pairs are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Search {
    /// Exact up to [`EXACT_MAX_ITEMS`] embeddings, the index above.
    Auto,
    /// All pairs.
    Exact,
    /// The HNSW index.
    Index,
}

impl Search {
    /// What `Auto` means for `n` embeddings.
    pub fn resolve(self, n: usize) -> Search {
        match self {
            Search::Auto if n <= EXACT_MAX_ITEMS => Search::Exact,
            Search::Auto => Search::Index,
            s => s,
        }
    }
    pub fn parse(s: &str) -> Option<Search> {
        [Search::Auto, Search::Exact, Search::Index]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Search::Auto => "auto",
            Search::Exact => "exact",
            Search::Index => "index",
        }
    }
}

/// One item similar to a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub item_id: i64,
    pub similarity: f32,
}

/// Items linked by near-duplicate pairs (connected components).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateGroup {
    /// Members, by item id.
    pub items: Vec<i64>,
    /// The strongest pair similarity inside the group.
    pub max_similarity: f32,
    /// The weakest of the pairs that joined the group.
    pub min_similarity: f32,
}

impl DuplicateGroup {
    /// Whether the members carry different labels (`labels`: item -> current human label;
    /// unlabelled members do not count): then one of them is wrong.
    pub fn conflicting(&self, labels: &std::collections::HashMap<i64, String>) -> bool {
        let mut seen = self.items.iter().filter_map(|i| labels.get(i));
        match seen.next() {
            Some(first) => seen.any(|l| l != first),
            None => false,
        }
    }
}

/// What a near-duplicate search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateReport {
    pub backbone: String,
    pub threshold: f32,
    /// How the pairs were found (exact or index, never auto).
    pub search: Search,
    /// Items with an embedding (the ones searched).
    pub items_searched: usize,
    /// Pairs at or above the threshold.
    pub pairs: usize,
    /// Largest groups first, then by first item id.
    pub groups: Vec<DuplicateGroup>,
}

/// L2-normalised embeddings, one row per item, in one flat buffer.
#[derive(Debug, Clone, Default)]
pub struct Embeddings {
    pub ids: Vec<i64>,
    pub dim: usize,
    /// `ids.len() * dim` values, row-major.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// From (item id, vector) rows; every vector is scaled to unit length.
    pub fn from_rows(rows: Vec<(i64, Vec<f32>)>) -> anyhow::Result<Embeddings> {
        let dim = rows.first().map(|(_, v)| v.len()).unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len() * dim);
        for (id, v) in rows {
            anyhow::ensure!(
                v.len() == dim,
                "item {id}: embedding of width {} among ones of {dim}",
                v.len()
            );
            let norm = dot(&v, &v).sqrt().max(1e-12);
            ids.push(id);
            data.extend(v.iter().map(|x| x / norm));
        }
        Ok(Embeddings { ids, dim, data })
    }

    /// The project's embeddings of `backbone`.
    pub fn load(store: &Store, backbone: &str) -> anyhow::Result<Embeddings> {
        Embeddings::from_rows(store.embeddings(backbone)?)
            .map_err(|e| anyhow::anyhow!("{backbone}: {e}"))
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    fn tensor(&self, device: Device) -> Tensor {
        Tensor::from_slice(&self.data)
            .view([self.len() as i64, self.dim as i64])
            .to_device(device)
    }
}

/// A pair of rows (`a < b`, indices into [`Embeddings::ids`]) and their cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
    pub similarity: f32,
}

/// Dot product; AVX2 when the CPU has it (the index spends its time here).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { dot_avx2(a, b) };
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

/// Eight independent sums (so the compiler can keep them in one vector register).
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| x * y)
}

/// The sum of `f(a[i], b[i])` in eight independent lanes.
#[inline(always)]
fn lanes(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Copy) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(*x, *y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += f(x[k], y[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Squared Euclidean distance; AVX2 when the CPU has it.
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { sq_dist_avx2(a, b) };
    }
    sq_dist_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sq_dist_avx2(a: &[f32], b: &[f32]) -> f32 {
    sq_dist_lanes(a, b)
}

#[inline(always)]
fn sq_dist_lanes(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b, |x, y| (x - y) * (x - y))
}

fn too_many(threshold: f32) -> anyhow::Error {
    anyhow::anyhow!(
        "more than {MAX_PAIRS} pairs are at or above similarity {threshold}: that is \
         similarity, not duplication; raise the threshold (default {DEFAULT_THRESHOLD})"
    )
}

/// Every pair at or above `threshold`, by all-pairs block products (on the best device).
pub fn pairs_exact(e: &Embeddings, threshold: f32, ctx: &JobCtx) -> anyhow::Result<Vec<Pair>> {
    let rows: Vec<usize> = (0..e.len()).collect();
    pairs_of_rows(e, &rows, true, threshold, ctx)
}

/// The pairs at or above `threshold` of each of `rows` with every other row (`upper`: `rows`
/// is `0..n` and only pairs `(i, j > i)` are wanted). Progress: one step per block.
fn pairs_of_rows(
    e: &Embeddings,
    rows: &[usize],
    upper: bool,
    threshold: f32,
    ctx: &JobCtx,
) -> anyhow::Result<Vec<Pair>> {
    let _g = tch::no_grad_guard();
    let device = super::device::best_device();
    let x = e.tensor(device);
    let n = e.len() as i64;
    let xt = x.transpose(0, 1);
    let mut pairs = Vec::new();
    for block in rows.chunks(BLOCK as usize) {
        ctx.check()?;
        let start = block[0] as i64;
        let len = block.len() as i64;
        // Upper: only columns from `start` on, the lower triangle masked.
        let (q, cols_from) = if upper {
            (x.narrow(0, start, len), start)
        } else {
            let idx: Vec<i64> = block.iter().map(|&i| i as i64).collect();
            (
                x.index_select(0, &Tensor::from_slice(&idx).to_device(device)),
                0,
            )
        };
        let sims = q.matmul(&xt.narrow(1, cols_from, n - cols_from));
        let keep = if upper {
            Tensor::ones([len, n - start], (Kind::Bool, device)).triu(1)
        } else {
            // Not the row itself.
            let idx: Vec<i64> = block.iter().map(|&i| i as i64).collect();
            let own = Tensor::from_slice(&idx).to_device(device).unsqueeze(1);
            Tensor::arange(n, (Kind::Int64, device))
                .unsqueeze(0)
                .ne_tensor(&own)
        };
        let hits = sims.ge(threshold as f64).logical_and(&keep).nonzero();
        let k = hits.size()[0] as usize;
        if pairs.len() + k > MAX_PAIRS {
            return Err(too_many(threshold));
        }
        if k > 0 {
            let values = sims
                .index(&[Some(hits.select(1, 0)), Some(hits.select(1, 1))])
                .to_device(Device::Cpu);
            let hv: Vec<i64> = Vec::<i64>::try_from(hits.to_device(Device::Cpu).reshape([-1]))?;
            let sv: Vec<f32> = Vec::<f32>::try_from(values)?;
            for (p, s) in hv.chunks_exact(2).zip(sv) {
                let i = block[p[0] as usize] as u32;
                let j = (cols_from + p[1]) as u32;
                let (a, b) = (i.min(j), i.max(j));
                pairs.push(Pair {
                    a,
                    b,
                    similarity: s,
                });
            }
        }
        ctx.inc(1);
    }
    Ok(pairs)
}

/// Width the index compares vectors in: their coordinates on the top principal axes (of the
/// uncentred embeddings, so dot products are kept); every candidate pair is then checked on
/// the full vectors. 20x fewer operations per comparison at 1280-d.
pub const INDEX_DIM: usize = 64;
/// Rows sampled (an even stride) to find the principal axes.
const AXES_SAMPLE: usize = 10_000;

/// The top [`INDEX_DIM`] principal axes (of the uncentred rows, so dot products are kept) of
/// `sample` (`[s, d]`, CPU, d > INDEX_DIM), as a `[d, INDEX_DIM]` basis.
pub fn principal_axes(sample: &Tensor) -> Tensor {
    let _g = tch::no_grad_guard();
    let d = sample.size()[1];
    let gram = sample.transpose(0, 1).matmul(sample);
    // Eigenvalues ascending: the last INDEX_DIM eigenvectors are the top axes.
    let (_, vecs) = gram.linalg_eigh("L");
    vecs.narrow(1, d - INDEX_DIM as i64, INDEX_DIM as i64)
}

/// Row indices of an even-stride sample of at most [`AXES_SAMPLE`] of `n` rows.
pub fn axes_sample(n: usize) -> Vec<usize> {
    let s = AXES_SAMPLE.min(n);
    (0..s).map(|k| k * n / s.max(1)).collect()
}

/// The rows of `e` on their top [`INDEX_DIM`] principal axes, `(data, width)`; as they are
/// where `e` is narrower. Projected a block of rows at a time (no copy of the whole set).
fn reduced(e: &Embeddings) -> anyhow::Result<(Vec<f32>, usize)> {
    if e.dim <= INDEX_DIM {
        return Ok((e.data.clone(), e.dim));
    }
    let _g = tch::no_grad_guard();
    let rows_of = |idx: &[usize]| -> Tensor {
        let flat: Vec<f32> = idx.iter().flat_map(|&i| e.row(i).iter().copied()).collect();
        Tensor::from_slice(&flat).view([idx.len() as i64, e.dim as i64])
    };
    let basis = principal_axes(&rows_of(&axes_sample(e.len())));
    let mut out = Vec::with_capacity(e.len() * INDEX_DIM);
    let all: Vec<usize> = (0..e.len()).collect();
    for block in all.chunks(8192) {
        let y = rows_of(block).matmul(&basis).contiguous();
        out.extend(Vec::<f32>::try_from(y.reshape([-1]))?);
    }
    Ok((out, INDEX_DIM))
}

/// A reduced row as an HNSW point: squared Euclidean distance (for unit vectors in full width,
/// `2 - 2 cos`).
#[derive(Clone, Copy)]
struct Row<'a>(&'a [f32]);

impl instant_distance::Point for Row<'_> {
    fn distance(&self, other: &Self) -> f32 {
        sq_dist(self.0, other.0)
    }
}

/// Every row of `low` (`width` values each) asked of an HNSW index over all of them for its
/// `ef` nearest (by squared distance; the row itself among them): `visit(row, nearest rows)`,
/// in parallel, a chunk of queries per progress step, cancellable.
fn search_all<R: Send>(
    low: &[f32],
    width: usize,
    ef: usize,
    ctx: &JobCtx,
    visit: impl Fn(usize, &[u32]) -> R + Sync,
) -> anyhow::Result<Vec<R>> {
    let n = low.len() / width.max(1);
    let low_row = |i: usize| &low[i * width..(i + 1) * width];
    ctx.set_message(format!("indexing {n} items"));
    ctx.check()?;
    let points: Vec<Row> = (0..n).map(|i| Row(low_row(i))).collect();
    let (hnsw, pids) = instant_distance::Builder::default()
        .ef_construction(INDEX_EF_CONSTRUCTION.max(ef))
        .ef_search(ef)
        .seed(INDEX_SEED)
        .build_hnsw(points);
    // Index point -> row.
    let mut row_of = vec![0u32; n];
    for (row, pid) in pids.iter().enumerate() {
        row_of[pid.into_inner() as usize] = row as u32;
    }
    ctx.set_message(format!("searching {n} items"));
    ctx.set_total(n.div_ceil(QUERY_CHUNK) as u64);
    ctx.set_done(0);
    let mut out = Vec::with_capacity(n);
    let rows: Vec<usize> = (0..n).collect();
    for chunk in rows.chunks(QUERY_CHUNK) {
        ctx.check()?;
        let found: Vec<R> = chunk
            .par_iter()
            .map_init(
                || (instant_distance::Search::default(), Vec::with_capacity(ef)),
                |(search, near), &i| {
                    near.clear();
                    near.extend(
                        hnsw.search(&Row(low_row(i)), search)
                            .map(|item| row_of[item.pid.into_inner() as usize]),
                    );
                    visit(i, near)
                },
            )
            .collect();
        out.extend(found);
        ctx.inc(1);
    }
    Ok(out)
}

/// The pairs at or above `threshold` through the HNSW index: each item's
/// [`INDEX_NEIGHBOURS`] nearest; items whose nearest are all at or above the threshold get
/// their row computed exactly (`pairs_of_rows`).
pub fn pairs_index(e: &Embeddings, threshold: f32, ctx: &JobCtx) -> anyhow::Result<Vec<Pair>> {
    let n = e.len();
    if n < 2 {
        return Ok(Vec::new());
    }
    let (low, width) = reduced(e)?;
    let found = search_all(&low, width, INDEX_NEIGHBOURS, ctx, |i, near| {
        let mut out = Vec::new();
        let mut all_above = true;
        for &j in near.iter().filter(|&&j| j as usize != i) {
            // The exact product, not the index's: the same number as the exact path.
            let s = dot(e.row(i), e.row(j as usize));
            if s >= threshold {
                let i = i as u32;
                out.push(Pair {
                    a: i.min(j),
                    b: i.max(j),
                    similarity: s,
                });
            } else {
                all_above = false;
            }
        }
        (out, all_above && near.len() >= INDEX_NEIGHBOURS.min(n))
    })?;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut saturated: Vec<usize> = Vec::new();
    for (i, (p, full)) in found.into_iter().enumerate() {
        pairs.extend(p);
        if full {
            saturated.push(i);
        }
    }
    if pairs.len() > 2 * MAX_PAIRS {
        return Err(too_many(threshold));
    }
    if !saturated.is_empty() {
        ctx.set_message(format!(
            "{} items with more than {INDEX_NEIGHBOURS} near duplicates: exact rows",
            saturated.len()
        ));
        pairs.extend(pairs_of_rows(e, &saturated, false, threshold, ctx)?);
    }
    pairs.par_sort_unstable_by_key(|p| (p.a, p.b));
    pairs.dedup_by_key(|p| (p.a, p.b));
    if pairs.len() > MAX_PAIRS {
        return Err(too_many(threshold));
    }
    Ok(pairs)
}

/// Each row's `k` nearest other rows through the HNSW index over `low` (`width` values a
/// row, L2-normalised), with their cosine similarity, nearest first (fewer than `k` only where
/// the index returned fewer).
pub fn knn_index(
    low: &[f32],
    width: usize,
    k: usize,
    ctx: &JobCtx,
) -> anyhow::Result<Vec<Vec<(u32, f32)>>> {
    let ef = INDEX_NEIGHBOURS.max(2 * k);
    search_all(low, width, ef, ctx, |i, near| {
        let row = &low[i * width..(i + 1) * width];
        let mut v: Vec<(u32, f32)> = near
            .iter()
            .filter(|&&j| j as usize != i)
            .map(|&j| {
                (
                    j,
                    dot(row, &low[j as usize * width..(j as usize + 1) * width]),
                )
            })
            .collect();
        v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        v.truncate(k);
        v
    })
}

/// The pairs at or above `threshold`, found as `search` says.
pub fn pairs(
    e: &Embeddings,
    threshold: f32,
    search: Search,
    ctx: &JobCtx,
) -> anyhow::Result<Vec<Pair>> {
    anyhow::ensure!(
        threshold > 0.0 && threshold <= 1.0,
        "similarity threshold must be in (0, 1], got {threshold}"
    );
    match search.resolve(e.len()) {
        Search::Index => pairs_index(e, threshold, ctx),
        _ => {
            ctx.set_total((e.len() as u64).div_ceil(BLOCK as u64));
            ctx.set_done(0);
            ctx.set_message(format!("comparing {} items", e.len()));
            pairs_exact(e, threshold, ctx)
        }
    }
}

/// Groups (connected components of two or more items) of `pairs`, largest first, then by
/// first item id.
pub fn groups(ids: &[i64], pairs: &[Pair]) -> Vec<DuplicateGroup> {
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    // Per root: (max, min) similarity of the pairs that joined it.
    let mut link: Vec<(f32, f32)> = vec![(f32::MIN, f32::MAX); ids.len()];
    for p in pairs {
        let (ra, rb) = (
            find(&mut parent, p.a as usize),
            find(&mut parent, p.b as usize),
        );
        let (la, lb) = (link[ra], link[rb]);
        let s = p.similarity;
        if ra != rb {
            parent[rb] = ra;
        }
        link[ra] = (la.0.max(lb.0).max(s), la.1.min(lb.1).min(s));
    }
    let mut members: std::collections::BTreeMap<usize, Vec<i64>> = Default::default();
    for (i, &id) in ids.iter().enumerate() {
        let r = find(&mut parent, i);
        members.entry(r).or_default().push(id);
    }
    let mut groups: Vec<DuplicateGroup> = members
        .into_iter()
        .filter(|(_, m)| m.len() > 1)
        .map(|(r, mut items)| {
            items.sort_unstable();
            DuplicateGroup {
                items,
                max_similarity: link[r].0,
                min_similarity: link[r].1,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.items
            .len()
            .cmp(&a.items.len())
            .then(a.items[0].cmp(&b.items[0]))
    });
    groups
}

/// Groups of near-duplicate items: every pair with cosine similarity >= `threshold` joins
/// its two items' groups (exact on small projects, the index on large ones). Only groups of
/// two or more items are returned.
pub fn near_duplicates(
    store: &Store,
    backbone: &str,
    threshold: f32,
    ctx: &JobCtx,
) -> anyhow::Result<DuplicateReport> {
    near_duplicates_by(store, backbone, threshold, Search::Auto, ctx)
}

/// [`near_duplicates`], the pairs found as `search` says.
pub fn near_duplicates_by(
    store: &Store,
    backbone: &str,
    threshold: f32,
    search: Search,
    ctx: &JobCtx,
) -> anyhow::Result<DuplicateReport> {
    anyhow::ensure!(
        threshold > 0.0 && threshold <= 1.0,
        "similarity threshold must be in (0, 1], got {threshold}"
    );
    ctx.set_message("loading embeddings");
    let e = Embeddings::load(store, backbone)?;
    let search = search.resolve(e.len());
    let found = pairs(&e, threshold, search, ctx)?;
    let groups = groups(&e.ids, &found);
    ctx.set_message(format!(
        "{} group(s) of near duplicates among {} items",
        groups.len(),
        e.len()
    ));
    Ok(DuplicateReport {
        backbone: backbone.to_string(),
        threshold,
        search,
        items_searched: e.len(),
        pairs: found.len(),
        groups,
    })
}

/// Share of `truth`'s pairs that `found` has too (1 when `truth` is empty).
pub fn recall(truth: &[Pair], found: &[Pair]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let got: std::collections::HashSet<(u32, u32)> = found.iter().map(|p| (p.a, p.b)).collect();
    truth.iter().filter(|p| got.contains(&(p.a, p.b))).count() as f64 / truth.len() as f64
}

/// The project's embeddings of `backbone` as (ids, L2-normalised `[n, dim]` tensor).
fn normalised(store: &Store, backbone: &str, device: Device) -> anyhow::Result<(Vec<i64>, Tensor)> {
    let e = Embeddings::load(store, backbone)?;
    let x = e.tensor(device);
    Ok((e.ids, x))
}

/// The `k` items most similar to `item` (cosine similarity of embeddings), best first; the
/// item itself is left out.
pub fn similar_to(
    store: &Store,
    backbone: &str,
    item: i64,
    k: usize,
) -> anyhow::Result<Vec<Neighbour>> {
    let _g = tch::no_grad_guard();
    let device = super::device::best_device();
    let (ids, x) = normalised(store, backbone, device)?;
    let row = ids.iter().position(|&i| i == item).ok_or_else(|| {
        anyhow::anyhow!(
            "item {item} has no {backbone} embedding (run `yuxuan prelabel` to compute embeddings)"
        )
    })?;
    let sims = x
        .matmul(&x.get(row as i64).unsqueeze(1))
        .squeeze_dim(1)
        .to_device(Device::Cpu);
    let sims: Vec<f32> = Vec::<f32>::try_from(sims)?;
    let mut order: Vec<usize> = (0..ids.len()).filter(|&i| i != row).collect();
    order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(ids[a].cmp(&ids[b])));
    Ok(order
        .into_iter()
        .take(k)
        .map(|i| Neighbour {
            item_id: ids[i],
            similarity: sims[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `groups` clusters of `size` noisy copies of a random vector, plus `singles` loners.
    fn clustered(groups: usize, size: usize, singles: usize, dim: usize, seed: u64) -> Embeddings {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut id = 0;
        for g in 0..groups + singles {
            let base: Vec<f32> = (0..dim).map(|_| rng.random::<f32>() - 0.5).collect();
            for _ in 0..if g < groups { size } else { 1 } {
                id += 1;
                let v = base
                    .iter()
                    .map(|x| x + (rng.random::<f32>() - 0.5) * 0.05)
                    .collect();
                rows.push((id, v));
            }
        }
        Embeddings::from_rows(rows).unwrap()
    }

    #[test]
    fn dot_matches_the_plain_sum_at_any_width() {
        for n in [0, 1, 7, 8, 9, 1280, 1283] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-3, "{n}");
        }
    }

    #[test]
    fn index_and_exact_find_the_same_pairs_and_groups_larger_than_the_search_width() {
        // One group of 50 (more than INDEX_NEIGHBOURS: its rows are computed exactly), 40 of 3.
        let mut e = clustered(41, 3, 300, 48, 3);
        let big = clustered(1, 50, 0, 48, 4);
        let off = e.ids.len() as i64;
        e.ids.extend(big.ids.iter().map(|i| i + off));
        e.data.extend(big.data);
        let ctx = JobCtx::new("t");
        let exact = pairs(&e, 0.95, Search::Exact, &ctx).unwrap();
        let mut index = pairs(&e, 0.95, Search::Index, &ctx).unwrap();
        assert!(exact.len() >= 41 * 3 + 50 * 49 / 2, "{}", exact.len());
        assert_eq!(recall(&exact, &index), 1.0);
        let mut exact = exact;
        exact.sort_by_key(|p| (p.a, p.b));
        index.sort_by_key(|p| (p.a, p.b));
        assert_eq!(exact.len(), index.len());
        let members = |p: &[Pair]| -> Vec<Vec<i64>> {
            groups(&e.ids, p).into_iter().map(|g| g.items).collect()
        };
        assert_eq!(members(&exact), members(&index));
        assert_eq!(members(&index)[0].len(), 50);
        assert_eq!(members(&index).len(), 42);
    }

    #[test]
    fn auto_is_exact_for_small_projects() {
        assert_eq!(Search::Auto.resolve(EXACT_MAX_ITEMS), Search::Exact);
        assert_eq!(Search::Auto.resolve(EXACT_MAX_ITEMS + 1), Search::Index);
        assert_eq!(Search::Exact.resolve(1_000_000), Search::Exact);
    }
}
