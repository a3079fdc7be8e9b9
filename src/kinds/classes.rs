//! Image classes: one label per image (the first kind yuxuan had).

use super::{plain_labels, KindSpec, NewProject, ProjectStart, ReviewScreen, Source};
use crate::domain::{sets, ItemKind, TaskKind};

pub static SPEC: KindSpec = KindSpec {
    kind: TaskKind::Image,
    aliases: &["images", "classes"],
    title: "Images",
    description: "one class per image",
    label_sets: &[(sets::CLASS, ItemKind::Image)],
    main_set: sets::CLASS,
    labelled_item: ItemKind::Image,
    source: Source::Images,
    review: ReviewScreen::Class,
    uses_backbone: true,
    new_project,
};

fn new_project(new: &NewProject) -> Result<ProjectStart, String> {
    let mut start = ProjectStart {
        labels: vec![(sets::CLASS, plain_labels(&new.labels))],
        ..Default::default()
    };
    if let Some(b) = new.backbone {
        // ml::backbone::BACKBONE_SETTING (kinds sit below ml).
        start
            .settings
            .push(("image_backbone", serde_json::json!(b)));
    }
    Ok(start)
}
