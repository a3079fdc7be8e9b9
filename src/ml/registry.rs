//! Which model family trains and pre-labels a label set of a project. The CLI (`train`,
//! `prelabel`) and the GUI's training screen ask here, so both run the same machinery.

use super::family::ModelFamily;
use crate::domain::{sets, TaskKind};
use crate::store::Store;

/// Project setting that picks the image mode: `head` (default), `finetune`, `torchscript`.
pub const IMAGE_MODE_SETTING: &str = "image_mode";

/// The family for `label_set` in this project, built from the project's settings (e.g. the
/// image mode: head on cached embeddings, TorchScript, backbone fine-tune).
pub fn family_for(store: &Store, label_set: &str) -> anyhow::Result<Box<dyn ModelFamily>> {
    let kind = store.project()?.kind;
    match (kind, label_set) {
        (TaskKind::Image, sets::CLASS) => {
            let mode = store
                .setting(IMAGE_MODE_SETTING)?
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "head".to_string());
            image_family_for_mode(store, &mode)
        }
        (TaskKind::Form, sets::FIELD_TYPE) => {
            Ok(Box::new(super::field_model::FieldTypeFamily::default()))
        }
        (TaskKind::Form, sets::INDUSTRY) => {
            Ok(Box::new(super::field_industry::IndustryFamily::default()))
        }
        _ => anyhow::bail!(
            "no model family for label set {label_set:?} in {} projects yet",
            kind.as_str()
        ),
    }
}

/// The image family of a training mode: `head`, `finetune` or `torchscript`.
pub fn image_family_for_mode(store: &Store, mode: &str) -> anyhow::Result<Box<dyn ModelFamily>> {
    match mode {
        "head" => Ok(Box::new(super::image_head::ImageHeadFamily::default())),
        "finetune" => Ok(Box::new(super::image_finetune::FinetuneFamily)),
        "torchscript" => {
            // Fine-tuning continues from the newest TorchScript version (the active one first).
            let models = store.models(sets::CLASS)?;
            let base = models
                .iter()
                .find(|m| m.active && m.kind == super::image_torchscript::KIND)
                .or_else(|| {
                    models
                        .iter()
                        .rev()
                        .find(|m| m.kind == super::image_torchscript::KIND)
                })
                .cloned();
            Ok(Box::new(super::image_torchscript::TorchScriptFamily {
                base,
            }))
        }
        other => {
            anyhow::bail!("unknown image mode {other:?} (expected head, finetune or torchscript)")
        }
    }
}

/// The image family that can run a registered model of `models.kind` = `kind`.
pub fn image_family_for_kind(kind: &str) -> anyhow::Result<Box<dyn ModelFamily>> {
    match kind {
        super::image_head::KIND => Ok(Box::new(super::image_head::ImageHeadFamily::default())),
        super::image_finetune::KIND => Ok(Box::new(super::image_finetune::FinetuneFamily)),
        super::image_torchscript::KIND => Ok(Box::new(
            super::image_torchscript::TorchScriptFamily::default(),
        )),
        other => anyhow::bail!("no image model family for model kind {other:?}"),
    }
}
