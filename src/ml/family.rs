//! What a model family is (the trait every family in `ml::catalog` implements, and the ones
//! benches and tests bring) and what a training produced. A family only says how to build,
//! evaluate and save its model; the training job and pre-labelling that run it live in
//! `ml::project`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::train::{self, EpochStat, TrainTask};
use crate::domain::ModelInfo;
use crate::jobs::JobCtx;
use crate::store::Store;

/// `models.kind` of the catalog's families (stored as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Linear head on cached backbone embeddings.
    ImageHead,
    /// The last backbone blocks and a head.
    ImageFinetune,
    /// A registered TorchScript classifier (and its fine-tuned versions).
    TorchScript,
    /// Form field types from field texts.
    FieldMlp,
    /// Page industry from the page's texts.
    PageMlp,
}

impl ModelKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelKind::ImageHead => "image-head",
            ModelKind::ImageFinetune => "image-finetune",
            ModelKind::TorchScript => "torchscript",
            ModelKind::FieldMlp => "field-mlp",
            ModelKind::PageMlp => "page-mlp",
        }
    }
    pub const ALL: [ModelKind; 5] = [
        ModelKind::ImageHead,
        ModelKind::ImageFinetune,
        ModelKind::TorchScript,
        ModelKind::FieldMlp,
        ModelKind::PageMlp,
    ];
    pub fn parse(s: &str) -> Option<ModelKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A model family: how to build, run and save one kind of classifier.
pub trait ModelFamily {
    /// The label set it predicts (`class`, `field_type`, `industry`).
    fn label_set(&self) -> &str;
    /// Recorded in `models.kind` (e.g. `image-head`, `torchscript`, `field-mlp`).
    fn kind(&self) -> &str;
    /// A trainable task over `items` (examples in this order) for `labels`, starting from
    /// `parent`'s weights when given (fine-tuning continues from the active model).
    fn prepare(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
        parent: Option<&ModelInfo>,
    ) -> anyhow::Result<Box<dyn TrainTask>>;
    /// A task like [`ModelFamily::prepare`] that starts from nothing the project's labels
    /// shaped (no parent, not the active model): out-of-fold predictions must come from a
    /// model that never saw the item's label. Default: `prepare` without a parent.
    fn prepare_unseen(
        &self,
        store: &Store,
        items: &[i64],
        labels: &[String],
    ) -> anyhow::Result<Box<dyn TrainTask>> {
        self.prepare(store, items, labels, None)
    }
    /// Class probabilities of a registered model for `items` (columns in `model.labels` order).
    fn predict(
        &self,
        store: &Store,
        model: &ModelInfo,
        items: &[i64],
        ctx: &JobCtx,
    ) -> anyhow::Result<Vec<Vec<f32>>>;
    /// Save the trained task to `path` (atomically); returns the spec JSON to record.
    fn save(&self, task: &dyn TrainTask, path: &Path) -> anyhow::Result<serde_json::Value>;
    /// Items this family pre-labels (e.g. all images, all fields of non-error pages).
    fn candidate_items(&self, store: &Store) -> anyhow::Result<Vec<i64>>;
    /// Batch size for `n_train` examples when the config leaves it to the family
    /// (`TrainConfig::batch_size == 0`).
    fn default_batch_size(&self, _n_train: usize) -> usize {
        train::DEFAULT_BATCH
    }
    /// Extension of the model files it writes.
    fn file_extension(&self) -> &'static str {
        "safetensors"
    }
    /// The k-nearest-neighbour graph of the items it predicts, when it has one (the image
    /// head's, over the cached embeddings): the suspect-label check blends the labels of
    /// each item's neighbours with its out-of-fold prediction. Default: none.
    fn neighbour_graph(
        &self,
        _store: &Store,
    ) -> anyhow::Result<Option<std::sync::Arc<super::propagation::Graph>>> {
        Ok(None)
    }
    /// A model to register and activate when the project has no active model yet, so that
    /// pre-labelling works with zero labels (e.g. the field-type base model trained on
    /// Formasaurus). Default: none.
    fn bootstrap(&self, _store: &mut Store, _ctx: &JobCtx) -> anyhow::Result<Option<ModelInfo>> {
        Ok(None)
    }
}

/// When a trained model becomes active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// When it is not worse than the active model on the same hold-out.
    #[default]
    IfNotWorse,
    /// Always (the lead said so).
    Always,
    /// Never: register only; the lead activates later.
    Never,
}

/// What a training job produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub run_id: i64,
    pub model: ModelInfo,
    pub metrics: Metrics,
    /// The previously active model's metrics on the same hold-out.
    pub active_metrics: Option<Metrics>,
    pub active_model_id: Option<i64>,
    pub activated: bool,
    pub epochs: Vec<EpochStat>,
    pub n_train: usize,
    pub n_holdout: usize,
}

/// Register a user's own model file as the next version of `m.label_set`: the file is copied
/// into the project's models as `<set>-v<N>-<suffix>` (atomically), registered with its
/// checksum, and activated when asked. The one path `register-model` takes for any family.
pub fn register_copy(
    store: &mut Store,
    file: &Path,
    suffix: &str,
    m: crate::store::models::NewModel,
    activate: bool,
) -> anyhow::Result<ModelInfo> {
    let n = store.models(&m.label_set)?.len() + 1;
    let dst = models_dir(store).join(format!("{}-v{n}-{suffix}", m.label_set));
    crate::fsutil::copy_atomic(file, &dst)?;
    let model = store.register_model_file(&dst, m)?;
    if activate {
        store.activate_model(model.id)?;
    }
    Ok(store.model(model.id)?.unwrap_or(model))
}

/// Directory of a project's model files (`<project file>.models/`; team projects: the cache).
pub fn models_dir(store: &Store) -> PathBuf {
    store.models_dir()
}

/// A model's weights as a local file (team projects fetch the stored weights once).
pub fn weights_path(store: &Store, model: &ModelInfo) -> Option<PathBuf> {
    match store.model_weights_file(model) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("yuxuan: weights of model {}: {e}", model.id);
            None
        }
    }
}
