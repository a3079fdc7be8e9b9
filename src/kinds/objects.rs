//! Objects in images: boxes with a label each, pre-labelled by a detector (YOLO11n, COCO-80,
//! by default), checked and corrected box by box. A project label that is a COCO class name
//! (spelled as COCO spells it: `dining table`, `cell phone`) takes the detector's boxes of that
//! class; `pedestrian=person` names the detector class a label starts from; other labels start
//! empty until learned.

use std::collections::BTreeMap;

use super::{KindSpec, NewProject, ProjectStart, ReviewScreen, Source};
use crate::domain::{sets, ItemKind, NewLabel, TaskKind};

pub static SPEC: KindSpec = KindSpec {
    kind: TaskKind::Objects,
    aliases: &["object", "boxes", "detection"],
    title: "Objects (boxes)",
    description: "boxes around the objects in images, a label per box",
    label_sets: &[(sets::OBJECT, ItemKind::Image)],
    main_set: sets::OBJECT,
    labelled_item: ItemKind::Image,
    source: Source::Images,
    review: ReviewScreen::Boxes,
    uses_backbone: false,
    new_project,
};

/// Project setting: the detector that pre-labels (`yolo11n`, `none`, or a registered model).
pub const DETECTOR_SETTING: &str = "detector";
/// Project setting: `{label: detector class}` for labels that start from another class name.
pub const SOURCES_SETTING: &str = "detector_classes";
/// The default detector.
pub const DEFAULT_DETECTOR: &str = "yolo11n";
/// No detector: the annotator draws every box.
pub const NO_DETECTOR: &str = "none";

/// The 80 COCO classes in the order COCO-trained detectors (YOLO) number them.
pub const COCO_CLASSES: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// A label as typed: `pedestrian=person` (a label and the detector class it starts from) or a
/// plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    pub name: String,
    pub source: Option<String>,
}

/// Parse `name[=detector class]`.
pub fn parse_label(s: &str) -> Result<LabelSpec, String> {
    let (name, source) = match s.split_once('=') {
        Some((n, c)) => (n.trim(), Some(c.trim())),
        None => (s.trim(), None),
    };
    if name.is_empty() {
        return Err(format!("label {s:?}: the name is empty"));
    }
    if source == Some("") {
        return Err(format!("label {s:?}: no detector class after '='"));
    }
    Ok(LabelSpec {
        name: name.to_string(),
        source: source.map(str::to_string),
    })
}

/// For each detector class, the project label its boxes become: a label named as the class,
/// or one whose source is the class. Classes no label takes are dropped.
pub fn class_map(
    labels: &[String],
    sources: &BTreeMap<String, String>,
    detector_classes: &[String],
) -> Vec<Option<String>> {
    detector_classes
        .iter()
        .map(|c| {
            labels
                .iter()
                .find(|l| sources.get(*l).map(String::as_str) == Some(c.as_str()))
                .or_else(|| labels.iter().find(|l| *l == c && !sources.contains_key(*l)))
                .cloned()
        })
        .collect()
}

/// The `{label: detector class}` map in a project's settings.
pub fn sources(settings: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    settings
        .get(SOURCES_SETTING)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The detector in a project's settings (the default when unset).
pub fn detector(settings: &serde_json::Map<String, serde_json::Value>) -> String {
    settings
        .get(DETECTOR_SETTING)
        .and_then(|v| v.as_str())
        .unwrap_or(DEFAULT_DETECTOR)
        .to_string()
}

fn new_project(new: &NewProject) -> Result<ProjectStart, String> {
    let detector = new.detector.as_deref().unwrap_or(DEFAULT_DETECTOR);
    let mut labels = Vec::new();
    let mut srcs = BTreeMap::new();
    for l in new.labels.iter().filter(|l| !l.trim().is_empty()) {
        let spec = parse_label(l)?;
        if let Some(src) = &spec.source {
            if detector == DEFAULT_DETECTOR && !COCO_CLASSES.contains(&src.as_str()) {
                return Err(format!(
                    "label {:?} starts from {src:?}, which is not one of the detector's 80 COCO \
                     classes (e.g. person, car, dining table, cell phone)",
                    spec.name
                ));
            }
            srcs.insert(spec.name.clone(), src.clone());
        }
        labels.push(NewLabel::named(spec.name));
    }
    let mut settings = vec![(DETECTOR_SETTING, serde_json::json!(detector))];
    if !srcs.is_empty() {
        settings.push((SOURCES_SETTING, serde_json::json!(srcs)));
    }
    Ok(ProjectStart {
        labels: vec![(sets::OBJECT, labels)],
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_and_without_a_source() {
        assert_eq!(
            parse_label("pedestrian=person").unwrap(),
            LabelSpec {
                name: "pedestrian".into(),
                source: Some("person".into())
            }
        );
        assert_eq!(parse_label(" dining table ").unwrap().name, "dining table");
        assert!(parse_label("=person").is_err());
        assert!(parse_label("x=").is_err());
    }

    #[test]
    fn detector_classes_map_to_labels_by_name_or_source() {
        let labels: Vec<String> = ["pedestrian", "car", "helmet"].map(String::from).to_vec();
        let srcs = BTreeMap::from([("pedestrian".to_string(), "person".to_string())]);
        let classes: Vec<String> = ["person", "bicycle", "car"].map(String::from).to_vec();
        assert_eq!(
            class_map(&labels, &srcs, &classes),
            vec![Some("pedestrian".into()), None, Some("car".into())]
        );
        assert_eq!(COCO_CLASSES.len(), 80);
    }
}
