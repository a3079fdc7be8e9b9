//! What the annotator sees next: ordering strategies and filters over a project's items.
//!
//! SQL does the filtering and the margin/score orders (`Store::queue_candidates`); here are
//! the orders that need more: `random` (fixed seed) and `diverse` (greedy k-center on the
//! cached backbone embeddings, counting already labelled items as centres, so the first
//! labels of a cold start cover the data).

use serde::{Deserialize, Serialize};

use crate::store::{Result, Store};

/// Ordering of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Smallest margin between the top-2 predictions first (the model learns fastest; the
    /// annotator corrects most).
    Uncertain,
    /// Largest top-1 score first: the default. The items the model most likely gets right
    /// come first, the hard ones when the model has learnt from everything else; the fewest
    /// corrections over a full pass (BENCHMARKS.md, "Image pre-labels": 0.49-0.74x of the
    /// uncertain-first script's), and the order of bulk accept.
    #[default]
    Confident,
    /// A diverse sample first (k-center on embeddings; cold start).
    Diverse,
    /// Shuffled with a fixed seed.
    Random,
    /// Import order.
    FileOrder,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::Uncertain,
        Strategy::Confident,
        Strategy::Diverse,
        Strategy::Random,
        Strategy::FileOrder,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Uncertain => "uncertain",
            Strategy::Confident => "confident",
            Strategy::Diverse => "diverse",
            Strategy::Random => "random",
            Strategy::FileOrder => "file-order",
        }
    }
    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL
            .into_iter()
            .find(|x| x.as_str() == s || x.as_str().replace('-', "_") == s)
    }
}

/// Which items are in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "filter", content = "label")]
pub enum Filter {
    /// Items without a human label (and without an error).
    #[default]
    Unlabeled,
    /// Items whose current prediction is this label (unlabeled ones).
    PredictedAs(String),
    /// Human label differs from the model's prediction.
    Disagreements,
    /// Labels the newest suspect-label check found probably wrong (out-of-fold confident
    /// learning, `ml::suspects`), most likely wrong first, until each is reviewed. A lead's
    /// decision here is final (action `review`).
    Suspects,
    /// The review queue: items whose annotators disagree or that someone flagged ("not
    /// sure"), not reviewed since. A lead's decision here is final (action `review`).
    Review,
    /// Items that could not be read.
    Errors,
    /// Everything.
    All,
}

/// A queue request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QueueSpec {
    pub label_set: String,
    pub strategy: Strategy,
    pub filter: Filter,
    /// Seed of the random strategy.
    pub seed: u64,
    /// The queue as this annotator sees it (unlabelled items: those open to them, blind to
    /// the others' answers, with gold items mixed in). None: the project's view.
    #[serde(default)]
    pub annotator: Option<String>,
}

/// How many items the diverse strategy orders by k-center (the rest follow in file order).
pub const DIVERSE_PICKS: usize = 200;
/// At most this many candidates (an even stride over them) are considered by k-center, so
/// opening the queue stays fast on 100k items.
pub const DIVERSE_POOL: usize = 5000;
/// At most this many labelled items count as existing centres.
const DIVERSE_LABELED: usize = 2000;

/// Item ids in queue order.
pub fn build(store: &Store, spec: &QueueSpec) -> Result<Vec<i64>> {
    // The common queue (unlabelled, an active model's predictions on every item) from index
    // scans: a million items in well under a second (BENCHMARKS.md, "queue").
    if let Some(mut ids) = store.queue_fast(spec)? {
        if spec.strategy == Strategy::Random {
            shuffle(&mut ids, spec.seed);
        }
        return Ok(ids);
    }
    let candidates = store.queue_candidates(spec)?;
    let mut ids: Vec<i64> = candidates.iter().map(|c| c.item_id).collect();
    if spec.filter == Filter::Suspects {
        return Ok(ids); // the finder's rank, whatever the strategy
    }
    match spec.strategy {
        Strategy::Random => shuffle(&mut ids, spec.seed),
        // Cold start: nothing predicted yet, so margins and scores say nothing; a diverse
        // sample makes the first labels cover the data (and all classes, sooner).
        Strategy::Uncertain | Strategy::Confident
            if !ids.is_empty() && candidates.iter().all(|c| c.score.is_none()) =>
        {
            ids = diverse_for(store, spec, &ids)?;
        }
        Strategy::Diverse => ids = diverse_for(store, spec, &ids)?,
        _ => {}
    }
    Ok(ids)
}

fn shuffle(ids: &mut [i64], seed: u64) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    ids.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
}

/// `ids` in diverse order (k-center on the embeddings), the spec's labelled items as the
/// existing centres.
fn diverse_for(store: &Store, spec: &QueueSpec, ids: &[i64]) -> Result<Vec<i64>> {
    let labeled: Vec<i64> = store
        .current_labels(&spec.label_set)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    diverse_order(
        store,
        ids,
        &labeled,
        crate::ml::backbone::primary_embedding_id(store)?,
        DIVERSE_PICKS,
    )
}

fn stride_sample(ids: &[i64], max: usize) -> Vec<i64> {
    if ids.len() <= max {
        return ids.to_vec();
    }
    (0..max).map(|k| ids[k * ids.len() / max]).collect()
}

/// Greedy k-center (farthest-first traversal) over the embeddings of `ids`: the first `picks`
/// items each maximise the distance to everything picked or labelled before; the remaining
/// items follow in their given order, items without an embedding last.
pub fn diverse_order(
    store: &Store,
    ids: &[i64],
    labeled: &[i64],
    backbone: &str,
    picks: usize,
) -> Result<Vec<i64>> {
    use tch::{Kind, Tensor};
    let pool_ids = stride_sample(ids, DIVERSE_POOL);
    let pool_vecs = store.embeddings_for(backbone, &pool_ids)?;
    let (pool, vecs): (Vec<i64>, Vec<Vec<f32>>) = pool_ids
        .iter()
        .zip(pool_vecs)
        .filter_map(|(id, v)| v.map(|v| (*id, v)))
        .unzip();
    let dim = vecs.first().map(|v| v.len()).unwrap_or(0);
    if pool.is_empty() || dim == 0 || vecs.iter().any(|v| v.len() != dim) {
        return Ok(ids.to_vec());
    }
    let _g = tch::no_grad_guard();
    let flat: Vec<f32> = vecs.iter().flatten().copied().collect();
    let x = Tensor::from_slice(&flat).view([pool.len() as i64, dim as i64]);
    let sq = (&x * &x).sum_dim_intlist(Some([1i64].as_slice()), false, Kind::Float);
    // Squared distances of every pool item to the rows of `c`: |x|^2 - 2 x.c + |c|^2.
    let dist_to = |c: &Tensor| -> Tensor {
        let csq = (c * c).sum_dim_intlist(Some([1i64].as_slice()), false, Kind::Float);
        (sq.unsqueeze(1) - x.matmul(&c.transpose(0, 1)) * 2.0 + csq.unsqueeze(0)).clamp_min(0.0)
    };
    let lab_ids = stride_sample(labeled, DIVERSE_LABELED);
    let lab: Vec<f32> = store
        .embeddings_for(backbone, &lab_ids)?
        .into_iter()
        .flatten()
        .filter(|v| v.len() == dim)
        .flatten()
        .collect();
    let mut order = Vec::with_capacity(picks.min(pool.len()));
    let mut taken = std::collections::HashSet::new();
    let mut min_d = if lab.is_empty() {
        // Cold start: begin next to the centre of the data (a typical item, not an outlier).
        let mean = x.mean_dim(Some([0i64].as_slice()), true, Kind::Float);
        let first = dist_to(&mean)
            .squeeze_dim(1)
            .argmin(0, false)
            .int64_value(&[]);
        order.push(pool[first as usize]);
        taken.insert(pool[first as usize]);
        dist_to(&x.get(first).unsqueeze(0)).squeeze_dim(1)
    } else {
        let c = Tensor::from_slice(&lab).view([(lab.len() / dim) as i64, dim as i64]);
        dist_to(&c).min_dim(1, false).0
    };
    while order.len() < picks.min(pool.len()) {
        let next = min_d.argmax(0, false).int64_value(&[]) as usize;
        if taken.contains(&pool[next]) {
            break; // everything left coincides with a centre
        }
        order.push(pool[next]);
        taken.insert(pool[next]);
        let d = dist_to(&x.get(next as i64).unsqueeze(0)).squeeze_dim(1);
        min_d = min_d.minimum(&d);
    }
    // The rest in the given order; sampled items known to have no embedding go last.
    let pool_set: std::collections::HashSet<i64> = pool_ids.iter().copied().collect();
    let embedded: std::collections::HashSet<i64> = pool.iter().copied().collect();
    let no_embedding = |id: &i64| pool_set.contains(id) && !embedded.contains(id);
    order.extend(
        ids.iter()
            .copied()
            .filter(|id| !taken.contains(id) && !no_embedding(id)),
    );
    order.extend(
        ids.iter()
            .copied()
            .filter(|id| !taken.contains(id) && no_embedding(id)),
    );
    Ok(order)
}
