//! Near-duplicate and similar-image search on the cached backbone embeddings (the same vectors
//! the head trains on; nothing is recomputed). Cosine similarity of L2-normalised vectors,
//! computed as LibTorch matrix products in row blocks (so memory stays `block x n`), progress
//! per block and cancellable; pairs above a threshold are joined into groups (union-find).
//!
//! Byte-identical files never get here (import deduplicates by content hash): this finds
//! re-encodes, resizes, small crops, screenshots of the same thing, burst shots.

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
    /// Items with an embedding (the ones searched).
    pub items_searched: usize,
    /// Pairs at or above the threshold.
    pub pairs: usize,
    /// Largest groups first, then by first item id.
    pub groups: Vec<DuplicateGroup>,
}

/// The project's embeddings of `backbone` as (ids, L2-normalised `[n, dim]` tensor).
fn normalised(store: &Store, backbone: &str, device: Device) -> anyhow::Result<(Vec<i64>, Tensor)> {
    let rows = store.embeddings(backbone)?;
    let dim = rows.first().map(|(_, v)| v.len()).unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len());
    let mut flat = Vec::with_capacity(rows.len() * dim);
    for (id, v) in rows {
        anyhow::ensure!(
            v.len() == dim,
            "item {id}: {backbone} embedding of width {} among ones of {dim}",
            v.len()
        );
        ids.push(id);
        flat.extend(v);
    }
    let x = Tensor::from_slice(&flat)
        .view([ids.len() as i64, dim as i64])
        .to_device(device);
    let norm = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    Ok((ids, x / norm))
}

/// Groups of near-duplicate items: every pair with cosine similarity >= `threshold` joins
/// its two items' groups. Only groups of two or more items are returned.
pub fn near_duplicates(
    store: &Store,
    backbone: &str,
    threshold: f32,
    ctx: &JobCtx,
) -> anyhow::Result<DuplicateReport> {
    anyhow::ensure!(
        threshold > 0.0 && threshold <= 1.0,
        "similarity threshold must be in (0, 1], got {threshold}"
    );
    let _g = tch::no_grad_guard();
    ctx.set_message("loading embeddings");
    let device = super::device::best_device();
    let (ids, x) = normalised(store, backbone, device)?;
    let n = ids.len() as i64;
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
    let mut pairs = 0usize;
    ctx.set_total((n as u64).div_ceil(BLOCK as u64));
    ctx.set_done(0);
    ctx.set_message(format!("comparing {n} items"));
    let xt = x.transpose(0, 1);
    let mut start = 0i64;
    while start < n {
        ctx.check()?;
        let len = BLOCK.min(n - start);
        // Only pairs (i, j) with j > i: columns from `start` on, lower triangle masked.
        let sims = x
            .narrow(0, start, len)
            .matmul(&xt.narrow(1, start, n - start));
        let upper = Tensor::ones([len, n - start], (Kind::Bool, device)).triu(1);
        let hits = sims.ge(threshold as f64).logical_and(&upper).nonzero();
        let k = hits.size()[0];
        if pairs + k as usize > MAX_PAIRS {
            anyhow::bail!(
                "more than {MAX_PAIRS} pairs are at or above similarity {threshold}: that is \
                 similarity, not duplication; raise the threshold (default {DEFAULT_THRESHOLD})"
            );
        }
        if k > 0 {
            let values = sims
                .index(&[Some(hits.select(1, 0)), Some(hits.select(1, 1))])
                .to_device(Device::Cpu);
            let hits = hits.to_device(Device::Cpu);
            let hv: Vec<i64> = Vec::<i64>::try_from(hits.reshape([-1]))?;
            let sv: Vec<f32> = Vec::<f32>::try_from(values)?;
            for (pair, s) in hv.chunks_exact(2).zip(sv) {
                let (a, b) = ((start + pair[0]) as usize, (start + pair[1]) as usize);
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                let (la, lb) = (link[ra], link[rb]);
                let merged = (la.0.max(lb.0).max(s), la.1.min(lb.1).min(s));
                if ra != rb {
                    parent[rb] = ra;
                }
                link[ra] = merged;
                pairs += 1;
            }
        }
        start += len;
        ctx.inc(1);
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
    ctx.set_message(format!(
        "{} group(s) of near duplicates among {n} items",
        groups.len()
    ));
    Ok(DuplicateReport {
        backbone: backbone.to_string(),
        threshold,
        items_searched: ids.len(),
        pairs,
        groups,
    })
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
