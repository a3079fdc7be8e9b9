//! Which model family trains and pre-labels a label set of a project. The CLI (`train`,
//! `prelabel`) and the GUI's training screen ask here, so both run the same machinery.

use super::family::ModelFamily;
use crate::store::Store;

/// The family for `label_set` in this project, built from the project's settings (e.g. the
/// image mode: head on cached embeddings, TorchScript, backbone fine-tune).
pub fn family_for(store: &Store, label_set: &str) -> anyhow::Result<Box<dyn ModelFamily>> {
    let kind = store.project()?.kind;
    anyhow::bail!("no model family for label set {label_set:?} in {} projects yet", kind.as_str())
}
