//! Task kinds as one catalog: what a project labels (image classes, H5 form fields, objects
//! in images; later text lines, polygons) is one module here and one row of [`KINDS`]. A row
//! says how the kind is stored (its project id and label sets), what `import` reads, which
//! review screen shows its items, whether images are embedded by a backbone, its UI text, and
//! how a new project of the kind is set up. The CLI (`new`, `import`, `prelabel`, `train`),
//! the start screen, the review session, exchange and simulate read this table instead of
//! matching on the kind (as `ml::catalog` does for model families).

use crate::domain::{ItemKind, NewLabel, TaskKind};

pub mod classes;
pub mod forms;
pub mod objects;

/// What `yuxuan import` reads for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Image files (decoded, deduplicated, EXIF applied).
    Images,
    /// Saved H5 pages (fields extracted).
    Pages,
}

/// The review screen that shows a kind's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewScreen {
    /// One image, one class.
    Class,
    /// A page with its fields, one field at a time.
    Form,
    /// One image with its boxes.
    Boxes,
}

/// One row of the catalog.
pub struct KindSpec {
    pub kind: TaskKind,
    /// Other spellings `--kind` accepts.
    pub aliases: &'static [&'static str],
    /// Short UI name (English; the UI translates it).
    pub title: &'static str,
    /// One line for `yuxuan new --help` and the start screen.
    pub description: &'static str,
    /// The label sets of a new project (name, the item kind they label), in order.
    pub label_sets: &'static [(&'static str, ItemKind)],
    /// The set an annotator reviews and `--labels` fills.
    pub main_set: &'static str,
    /// The items that decisions of the main set are about.
    pub labelled_item: ItemKind,
    pub source: Source,
    pub review: ReviewScreen,
    /// Whether images are embedded by the project's backbone (the backbone setting applies).
    pub uses_backbone: bool,
    /// What a new project starts with beyond its empty label sets: labels per set and project
    /// settings, from what the user gave (an error names what is wrong with it). Pure: the
    /// store applies it in the transaction that creates the project.
    pub new_project: fn(&NewProject) -> Result<ProjectStart, String>,
}

/// Labels and settings a new project starts with.
#[derive(Debug, Clone, Default)]
pub struct ProjectStart {
    pub labels: Vec<(&'static str, Vec<NewLabel>)>,
    pub settings: Vec<(&'static str, serde_json::Value)>,
}

impl std::fmt::Debug for KindSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindSpec")
            .field("kind", &self.kind)
            .finish()
    }
}

/// Every kind yuxuan labels.
pub static KINDS: [&KindSpec; 3] = [&classes::SPEC, &forms::SPEC, &objects::SPEC];

/// The row of a kind.
pub fn spec(kind: TaskKind) -> &'static KindSpec {
    KINDS
        .iter()
        .find(|s| s.kind == kind)
        .expect("every task kind has a catalog row")
}

/// The kind whose id or alias is `s`.
pub fn parse(s: &str) -> Option<TaskKind> {
    KINDS
        .iter()
        .find(|k| k.kind.as_str() == s || k.aliases.contains(&s))
        .map(|k| k.kind)
}

/// The ids `--kind` accepts.
pub fn ids() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind.as_str()).collect()
}

/// What a user gives when creating a project (CLI `new` or the start screen).
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    /// Labels of the main set, in hotkey order. Object labels may name the detector class
    /// they start from: `pedestrian=person`.
    pub labels: Vec<String>,
    /// Image kinds that embed: the backbone setting's value (`None`: left unset).
    pub backbone: Option<&'static str>,
    /// Objects: the detector that pre-labels (`None`: the default, YOLO11n when installed).
    pub detector: Option<String>,
}

/// The main set's labels from plain names (empty names dropped).
pub fn plain_labels(names: &[String]) -> Vec<NewLabel> {
    names
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(NewLabel::named)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_and_its_ids_round_trip() {
        for k in KINDS {
            assert!(std::ptr::eq(spec(k.kind), k));
            assert_eq!(parse(k.kind.as_str()), Some(k.kind));
            assert_eq!(TaskKind::parse(k.kind.as_str()), Some(k.kind));
            for a in k.aliases {
                assert_eq!(parse(a), Some(k.kind));
            }
            assert!(k.label_sets.iter().any(|(s, _)| *s == k.main_set));
        }
        let mut ids = ids();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), KINDS.len());
    }
}
