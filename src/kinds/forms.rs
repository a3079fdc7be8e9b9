//! H5 form pages: a type per field and an industry per page, from the bilingual taxonomy.

use super::{plain_labels, KindSpec, NewProject, ProjectStart, ReviewScreen, Source};
use crate::domain::{sets, ItemKind, TaskKind};

pub static SPEC: KindSpec = KindSpec {
    kind: TaskKind::Form,
    aliases: &["forms", "pages"],
    title: "Form pages",
    description: "H5 form pages: a type per field, an industry per page",
    label_sets: &[
        (sets::FIELD_TYPE, ItemKind::Field),
        (sets::INDUSTRY, ItemKind::Page),
    ],
    main_set: sets::FIELD_TYPE,
    labelled_item: ItemKind::Field,
    source: Source::Pages,
    review: ReviewScreen::Form,
    uses_backbone: false,
    new_project,
};

fn new_project(new: &NewProject) -> Result<ProjectStart, String> {
    // The default bilingual taxonomy after any labels the user gave.
    let mut types = plain_labels(&new.labels);
    types.extend(crate::taxonomy::default_field_types());
    Ok(ProjectStart {
        labels: vec![
            (sets::FIELD_TYPE, types),
            (sets::INDUSTRY, crate::taxonomy::default_industries()),
        ],
        settings: Vec::new(),
    })
}
