//! The catalog of model families: one row per family says what it is (model kind, label set,
//! project kind, training mode, UI text), what it needs (cached embeddings, thread policy) and
//! how to build it. The CLI's `--mode`, the training screen's modes, the project facade
//! (`ml::project`) and "which family runs this registered model?" all read this one table
//! (as ripgrep's flags live in one table). A new family = its file + one row + translations.

use serde::{Deserialize, Serialize};

use super::family::ModelFamily;
use crate::domain::{sets, TaskKind};
use crate::store::Store;

pub use super::family::ModelKind;

/// How an image project trains its class model (project setting [`IMAGE_MODE_SETTING`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ImageMode {
    /// Linear head on the cached embeddings (fast, default).
    #[default]
    Head,
    /// The last backbone blocks and a head (slower; for the GPU).
    Finetune,
    /// Continue from the registered TorchScript model.
    Torchscript,
}

impl ImageMode {
    pub const ALL: [ImageMode; 3] = [ImageMode::Head, ImageMode::Finetune, ImageMode::Torchscript];
    pub const fn as_str(self) -> &'static str {
        match self {
            ImageMode::Head => "head",
            ImageMode::Finetune => "finetune",
            ImageMode::Torchscript => "torchscript",
        }
    }
    pub fn parse(s: &str) -> Option<ImageMode> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// The catalog row of this mode.
    pub fn family(self) -> &'static FamilyInfo {
        CATALOG
            .iter()
            .find(|f| f.mode == Some(self))
            .expect("every image mode has a catalog row")
    }
}

/// Project setting that picks the image mode (`head` when unset).
pub const IMAGE_MODE_SETTING: &str = "image_mode";

/// One family of the catalog.
pub struct FamilyInfo {
    pub kind: ModelKind,
    pub project: TaskKind,
    pub label_set: &'static str,
    /// The image training mode that picks this family (None: the only family of its set).
    pub mode: Option<ImageMode>,
    /// Short UI/CLI name (English; the UI translates it).
    pub title: &'static str,
    /// Whether training and pre-labelling read cached backbone embeddings (computed first).
    pub needs_embeddings: bool,
    /// Whether training runs with one intra-op thread on the CPU: tiny matrix products whose
    /// thread-pool hand-offs cost more than the work (measured: 2 threads ~3x slower).
    pub single_thread_cpu: bool,
    build: fn(&Store) -> anyhow::Result<Box<dyn ModelFamily>>,
}

impl std::fmt::Debug for FamilyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FamilyInfo")
            .field("kind", &self.kind)
            .field("label_set", &self.label_set)
            .finish()
    }
}

impl FamilyInfo {
    /// The family, built for this project (its settings, e.g. the backbone).
    pub fn build(&self, store: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
        (self.build)(store)
    }
}

fn head(store: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
    Ok(Box::new(super::image_head::ImageHeadFamily::for_project(
        store,
    )?))
}

fn finetune(_: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
    Ok(Box::new(super::image_finetune::FinetuneFamily))
}

fn torchscript(store: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
    // Fine-tuning continues from the newest TorchScript version (the active one first).
    let kind = ModelKind::TorchScript.as_str();
    let models = store.models(sets::CLASS)?;
    let base = models
        .iter()
        .find(|m| m.active && m.kind == kind)
        .or_else(|| models.iter().rev().find(|m| m.kind == kind))
        .cloned();
    Ok(Box::new(super::image_torchscript::TorchScriptFamily {
        base,
    }))
}

fn field_type(_: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
    Ok(Box::new(super::field_model::FieldTypeFamily::default()))
}

fn industry(_: &Store) -> anyhow::Result<Box<dyn ModelFamily>> {
    Ok(Box::new(super::field_industry::IndustryFamily::default()))
}

/// Every family yuxuan trains or runs.
pub static CATALOG: [FamilyInfo; 5] = [
    FamilyInfo {
        kind: ModelKind::ImageHead,
        project: TaskKind::Image,
        label_set: sets::CLASS,
        mode: Some(ImageMode::Head),
        title: "head on cached embeddings",
        needs_embeddings: true,
        single_thread_cpu: false,
        build: head,
    },
    FamilyInfo {
        kind: ModelKind::ImageFinetune,
        project: TaskKind::Image,
        label_set: sets::CLASS,
        mode: Some(ImageMode::Finetune),
        title: "fine-tune backbone",
        needs_embeddings: false,
        single_thread_cpu: false,
        build: finetune,
    },
    FamilyInfo {
        kind: ModelKind::TorchScript,
        project: TaskKind::Image,
        label_set: sets::CLASS,
        mode: Some(ImageMode::Torchscript),
        title: "TorchScript model",
        needs_embeddings: false,
        single_thread_cpu: false,
        build: torchscript,
    },
    FamilyInfo {
        kind: ModelKind::FieldMlp,
        project: TaskKind::Form,
        label_set: sets::FIELD_TYPE,
        mode: None,
        title: "field types from field texts",
        needs_embeddings: false,
        single_thread_cpu: false,
        build: field_type,
    },
    FamilyInfo {
        kind: ModelKind::PageMlp,
        project: TaskKind::Form,
        label_set: sets::INDUSTRY,
        mode: None,
        title: "page industry from page texts",
        needs_embeddings: false,
        single_thread_cpu: false,
        build: industry,
    },
];

/// The row of a registered model's `models.kind`.
pub fn by_kind(kind: &str) -> anyhow::Result<&'static FamilyInfo> {
    CATALOG
        .iter()
        .find(|f| f.kind.as_str() == kind)
        .ok_or_else(|| anyhow::anyhow!("no model family runs models of kind {kind:?}"))
}

/// The project's image mode (setting, else head).
pub fn image_mode(store: &Store) -> anyhow::Result<ImageMode> {
    let v = store.setting(IMAGE_MODE_SETTING)?;
    let Some(s) = v.as_ref().and_then(|v| v.as_str()) else {
        return Ok(ImageMode::default());
    };
    ImageMode::parse(s).ok_or_else(|| {
        anyhow::anyhow!("unknown image mode {s:?} in the project's settings (expected head, finetune or torchscript)")
    })
}

/// The row that trains `label_set` in this project: its kind and set, and for image classes
/// the `mode` given or the project's setting.
pub fn for_set(
    store: &Store,
    label_set: &str,
    mode: Option<ImageMode>,
) -> anyhow::Result<&'static FamilyInfo> {
    let kind = store.project()?.kind;
    if kind == TaskKind::Image && label_set == sets::CLASS {
        let mode = match mode {
            Some(m) => m,
            None => image_mode(store)?,
        };
        return Ok(mode.family());
    }
    CATALOG
        .iter()
        .find(|f| f.project == kind && f.label_set == label_set)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no model family for label set {label_set:?} in {} projects yet",
                kind.as_str()
            )
        })
}

/// The family whose out-of-fold predictions check a label set's labels (`ml::suspects`):
/// for images the head on cached embeddings whatever the training mode (k trainings of a
/// network would take k times as long), else the set's family.
pub fn out_of_fold_family(store: &Store, label_set: &str) -> anyhow::Result<&'static FamilyInfo> {
    if store.project()?.kind == TaskKind::Image && label_set == sets::CLASS {
        return Ok(ImageMode::Head.family());
    }
    for_set(store, label_set, None)
}

/// The label sets a project of `kind` has models for, in pre-labelling order.
pub fn label_sets(kind: TaskKind) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in CATALOG.iter().filter(|f| f.project == kind) {
        if !out.contains(&f.label_set) {
            out.push(f.label_set);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_modes_round_trip_and_every_mode_has_one_row() {
        for f in CATALOG.iter() {
            assert_eq!(ModelKind::parse(f.kind.as_str()), Some(f.kind));
            assert_eq!(by_kind(f.kind.as_str()).unwrap().kind, f.kind);
        }
        for m in ImageMode::ALL {
            assert_eq!(ImageMode::parse(m.as_str()), Some(m));
            assert_eq!(m.family().mode, Some(m));
            assert_eq!(CATALOG.iter().filter(|f| f.mode == Some(m)).count(), 1);
        }
        assert_eq!(label_sets(TaskKind::Image), vec![sets::CLASS]);
        assert_eq!(
            label_sets(TaskKind::Form),
            vec![sets::FIELD_TYPE, sets::INDUSTRY]
        );
        assert!(by_kind("nope").is_err());
    }
}
