//! What the annotator sees next: ordering strategies and filters over a project's items.

use serde::{Deserialize, Serialize};

use crate::store::{Result, Store};

/// Ordering of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Smallest margin between the top-2 predictions first.
    #[default]
    Uncertain,
    /// Largest top-1 score first (for bulk accept).
    Confident,
    /// A diverse sample first (k-center on embeddings; cold start).
    Diverse,
    /// Shuffled with a fixed seed.
    Random,
    /// Import order.
    FileOrder,
}

impl Strategy {
    pub const ALL: [Strategy; 5] =
        [Strategy::Uncertain, Strategy::Confident, Strategy::Diverse, Strategy::Random, Strategy::FileOrder];
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
        Strategy::ALL.into_iter().find(|x| x.as_str() == s || x.as_str().replace('-', "_") == s)
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
    /// Human label differs from the model's prediction (label-error finder).
    Disagreements,
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
}

/// Item ids in queue order.
pub fn build(store: &Store, spec: &QueueSpec) -> Result<Vec<i64>> {
    let candidates = store.queue_candidates(spec)?;
    let mut ids: Vec<i64> = candidates.iter().map(|c| c.item_id).collect();
    if spec.strategy == Strategy::Random {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        ids.shuffle(&mut rand::rngs::StdRng::seed_from_u64(spec.seed));
    }
    Ok(ids)
}
