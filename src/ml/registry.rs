//! Which model family trains and pre-labels a label set of a project. The CLI (`train`,
//! `prelabel`) and the GUI's training screen ask here, so both run the same machinery.

use super::family::ModelFamily;
use crate::domain::{sets, TaskKind};
use crate::store::Store;

/// The family for `label_set` in this project, built from the project's settings (e.g. the
/// image mode: head on cached embeddings, TorchScript, backbone fine-tune).
pub fn family_for(store: &Store, label_set: &str) -> anyhow::Result<Box<dyn ModelFamily>> {
    let kind = store.project()?.kind;
    match (kind, label_set) {
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
