//! Pure data types shared by every layer: projects, label sets, items, decisions, predictions,
//! models and training runs. No I/O here.

use serde::{Deserialize, Serialize};

/// What a project labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Image classification.
    Image,
    /// H5 form pages: field types (per field) and industry (per page).
    Form,
    /// Objects in images: boxes with a label each.
    Objects,
}

impl TaskKind {
    /// The id stored in the project and taken by `--kind`. Everything else about a kind is
    /// its row of the task-kind catalog (`kinds::spec`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Image => "image",
            TaskKind::Form => "form",
            TaskKind::Objects => "objects",
        }
    }
    /// This kind's row of the task-kind catalog.
    pub fn spec(self) -> &'static crate::kinds::KindSpec {
        crate::kinds::spec(self)
    }
    /// The kind stored as `s` (`kinds::parse` also takes the aliases).
    pub fn parse(s: &str) -> Option<TaskKind> {
        [TaskKind::Image, TaskKind::Form, TaskKind::Objects]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectInfo {
    pub name: String,
    pub kind: TaskKind,
    pub created_at: String,
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// Well-known label set names.
pub mod sets {
    /// Image classes.
    pub const CLASS: &str = "class";
    /// Form field types.
    pub const FIELD_TYPE: &str = "field_type";
    /// Page industries.
    pub const INDUSTRY: &str = "industry";
    /// Object labels (one per box).
    pub const OBJECT: &str = "object";
}

/// An axis-aligned box in image pixels: the top-left corner and the size (COCO's `bbox`
/// convention), on the image as shown (EXIF orientation applied). Every box of the product
/// (detections, decisions, imports, exports) is this; formats convert at their edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl BBox {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> BBox {
        BBox { x, y, w, h }
    }
    /// From two corners (any order).
    pub fn from_corners(x1: f64, y1: f64, x2: f64, y2: f64) -> BBox {
        BBox {
            x: x1.min(x2),
            y: y1.min(y2),
            w: (x2 - x1).abs(),
            h: (y2 - y1).abs(),
        }
    }
    pub fn x2(&self) -> f64 {
        self.x + self.w
    }
    pub fn y2(&self) -> f64 {
        self.y + self.h
    }
    pub fn area(&self) -> f64 {
        self.w.max(0.0) * self.h.max(0.0)
    }
    /// Intersection over union (0 when either box is empty).
    pub fn iou(&self, other: &BBox) -> f64 {
        let iw = (self.x2().min(other.x2()) - self.x.max(other.x)).max(0.0);
        let ih = (self.y2().min(other.y2()) - self.y.max(other.y)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    /// The box clipped to an image of `width` x `height` pixels.
    pub fn clipped(&self, width: f64, height: f64) -> BBox {
        let x1 = self.x.clamp(0.0, width);
        let y1 = self.y.clamp(0.0, height);
        let x2 = self.x2().clamp(0.0, width);
        let y2 = self.y2().clamp(0.0, height);
        BBox::from_corners(x1, y1, x2, y2)
    }
    /// Finite, with a positive width and height.
    pub fn is_valid(&self) -> bool {
        [self.x, self.y, self.w, self.h]
            .iter()
            .all(|v| v.is_finite())
            && self.w > 0.0
            && self.h > 0.0
    }
}

/// Greedy matching of boxes: `a` in priority order (e.g. by score), each taking the unmatched
/// box of `b` with the highest IoU at or above `min_iou`, whatever its label. Returns, per box
/// of `a`, the index of its match in `b`.
pub fn match_boxes(a: &[BBox], b: &[BBox], min_iou: f64) -> Vec<Option<usize>> {
    let mut taken = vec![false; b.len()];
    a.iter()
        .map(|x| {
            let best = b
                .iter()
                .enumerate()
                .filter(|(j, _)| !taken[*j])
                .map(|(j, y)| (j, x.iou(y)))
                .filter(|(_, iou)| *iou >= min_iou)
                .max_by(|p, q| p.1.total_cmp(&q.1).then(q.0.cmp(&p.0)));
            best.map(|(j, _)| {
                taken[j] = true;
                j
            })
        })
        .collect()
}

/// What an annotator did to one box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxAction {
    /// Kept as shown.
    Accept,
    /// Another label, same geometry.
    Relabel,
    /// New geometry (and possibly label).
    Adjust,
    /// Removed.
    Delete,
    /// A new box.
    Draw,
    /// Cancels an earlier box decision (`supersedes`).
    Undo,
}

impl BoxAction {
    pub const ALL: [BoxAction; 6] = [
        BoxAction::Accept,
        BoxAction::Relabel,
        BoxAction::Adjust,
        BoxAction::Delete,
        BoxAction::Draw,
        BoxAction::Undo,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            BoxAction::Accept => "accept",
            BoxAction::Relabel => "relabel",
            BoxAction::Adjust => "adjust",
            BoxAction::Delete => "delete",
            BoxAction::Draw => "draw",
            BoxAction::Undo => "undo",
        }
    }
    pub fn parse(s: &str) -> Option<BoxAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
    /// Whether the decision leaves a box with a label and geometry.
    pub fn keeps_box(self) -> bool {
        !matches!(self, BoxAction::Delete | BoxAction::Undo)
    }
}

/// A box a model proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxPrediction {
    pub id: i64,
    pub item_id: i64,
    /// The detector that proposed it (`yolo11n`, a registered model's name).
    pub detector: String,
    pub label: String,
    pub score: f64,
    pub bbox: BBox,
}

impl BoxPrediction {
    /// The id of the box within its image, as its decisions name it.
    pub fn uid(&self) -> String {
        format!("p{}", self.id)
    }
}

/// A box decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBoxDecision {
    pub item_id: i64,
    pub label_set: String,
    /// The box within its image: `p<prediction id>` or a drawn box's own id.
    pub box_uid: String,
    pub action: BoxAction,
    /// The box's label after the action (None for delete and undo).
    pub label: Option<String>,
    /// The box's geometry after the action, image pixels (None for delete and undo).
    pub bbox: Option<BBox>,
    /// The shown prediction's score, when the box was proposed.
    pub score: Option<f64>,
    pub annotator: String,
    pub ms_spent: i64,
}

/// A recorded box decision.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxDecision {
    pub id: i64,
    pub item_id: i64,
    pub box_uid: String,
    pub action: BoxAction,
    pub label: Option<String>,
    pub bbox: Option<BBox>,
    pub score: Option<f64>,
    pub annotator: String,
    pub ms_spent: i64,
    pub decided_at: String,
    pub supersedes: Option<i64>,
}

/// A box of an image as its decisions leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentBox {
    pub box_uid: String,
    pub label: String,
    pub bbox: BBox,
    pub decision_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: i64,
    pub name: String,
    /// Human-readable name (e.g. bilingual "手机号 phone"); falls back to `name`.
    pub display_name: Option<String>,
    pub position: i64,
    pub hotkey: Option<String>,
    pub color: Option<String>,
    pub parent: Option<String>,
}

impl Label {
    pub fn shown(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// A label to add to a set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewLabel {
    pub name: String,
    pub display_name: Option<String>,
    pub color: Option<String>,
    pub parent: Option<String>,
}

impl NewLabel {
    pub fn named(name: impl Into<String>) -> Self {
        NewLabel {
            name: name.into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Image,
    Page,
    Field,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Image => "image",
            ItemKind::Page => "page",
            ItemKind::Field => "field",
        }
    }
    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "image" => Some(ItemKind::Image),
            "page" => Some(ItemKind::Page),
            "field" => Some(ItemKind::Field),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: i64,
    pub kind: ItemKind,
    pub parent_id: Option<i64>,
    pub form_id: Option<i64>,
    pub source_path: String,
    pub content_hash: Option<String>,
    pub size_bytes: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub position: i64,
    pub meta: serde_json::Value,
    pub error: Option<String>,
    pub added_at: String,
}

/// An item to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewItem {
    pub kind: ItemKind,
    pub parent_id: Option<i64>,
    pub form_id: Option<i64>,
    pub source_path: String,
    pub content_hash: Option<String>,
    pub size_bytes: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub position: i64,
    pub meta: serde_json::Value,
    pub error: Option<String>,
}

impl NewItem {
    pub fn new(kind: ItemKind, source_path: impl Into<String>) -> Self {
        NewItem {
            kind,
            parent_id: None,
            form_id: None,
            source_path: source_path.into(),
            content_hash: None,
            size_bytes: None,
            width: None,
            height: None,
            position: 0,
            meta: serde_json::Value::Object(Default::default()),
            error: None,
        }
    }
}

/// What an annotator did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Confirmed the machine's suggestion.
    Accept,
    /// Picked another label than the suggestion (or labelled with no suggestion).
    Correct,
    /// Said the suggestion is wrong without picking a label yet.
    Reject,
    /// Moved on without deciding.
    Skip,
    /// Cancelled an earlier decision (named in `supersedes`).
    Undo,
    /// A lead's final label (the review queue): it wins over every annotator's label.
    Review,
    /// "Not sure": the annotator hands the item to the review queue (no label).
    Flag,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Correct => "correct",
            Action::Reject => "reject",
            Action::Skip => "skip",
            Action::Undo => "undo",
            Action::Review => "review",
            Action::Flag => "flag",
        }
    }
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "accept" => Some(Action::Accept),
            "correct" => Some(Action::Correct),
            "reject" => Some(Action::Reject),
            "skip" => Some(Action::Skip),
            "undo" => Some(Action::Undo),
            "review" => Some(Action::Review),
            "flag" => Some(Action::Flag),
            _ => None,
        }
    }
    /// Whether this action sets the item's label.
    pub fn sets_label(self) -> bool {
        matches!(self, Action::Accept | Action::Correct | Action::Review)
    }
    /// Whether this action is an annotator's answer for the item (it takes the annotator's
    /// slot on it: they are not given the item again).
    pub fn answers(self) -> bool {
        matches!(self, Action::Accept | Action::Correct | Action::Flag)
    }
}

/// A decision to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDecision {
    pub item_id: i64,
    pub label_set: String,
    pub label: Option<String>,
    pub annotator: String,
    pub action: Action,
    pub ms_spent: i64,
    pub prediction_id: Option<i64>,
}

impl NewDecision {
    /// A lead's final label for an item (the review queue, gold answers).
    pub fn review(item_id: i64, set: &str, label: &str, lead: &str) -> NewDecision {
        NewDecision {
            item_id,
            label_set: set.to_string(),
            label: Some(label.to_string()),
            annotator: lead.to_string(),
            action: Action::Review,
            ms_spent: 0,
            prediction_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: i64,
    pub item_id: i64,
    pub label_set: String,
    pub label: Option<String>,
    pub annotator: String,
    pub action: Action,
    pub ms_spent: i64,
    pub decided_at: String,
    pub prediction_id: Option<i64>,
    pub supersedes: Option<i64>,
}

/// A model's suggestion for an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub id: i64,
    pub item_id: i64,
    pub model_id: Option<i64>,
    pub label: String,
    pub score: f64,
    /// top-1 score minus top-2 score (small = uncertain).
    pub margin: f64,
    /// Top-k (label, score), best first.
    pub top: Vec<(String, f64)>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: i64,
    pub label_set: String,
    pub version: i64,
    pub kind: String,
    pub parent_id: Option<i64>,
    pub training_run_id: Option<i64>,
    pub labels: Vec<String>,
    pub spec: serde_json::Value,
    pub metrics: Option<serde_json::Value>,
    pub weights_path: Option<String>,
    pub weights_sha256: Option<String>,
    pub active: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "running" => Some(RunStatus::Running),
            "succeeded" => Some(RunStatus::Succeeded),
            "failed" => Some(RunStatus::Failed),
            "cancelled" => Some(RunStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRun {
    pub id: i64,
    pub label_set: String,
    pub params: serde_json::Value,
    pub status: RunStatus,
    pub progress: f64,
    pub log: String,
    pub error: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// One form field as extracted from an H5 page: everything a human would read to know what the
/// field asks for. Stored as the field item's `meta` JSON; the field-type model reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldRecord {
    /// `input`, `select`, `textarea`, `button`, or `textbox` (contenteditable / role=textbox).
    pub tag: String,
    /// The `type` attribute (inputs, buttons), lower-cased.
    pub input_type: Option<String>,
    pub name: Option<String>,
    pub id: Option<String>,
    /// Text of `<label for=id>` or of the wrapping `<label>`.
    pub label: Option<String>,
    /// aria-label, or the text of the aria-labelledby elements.
    pub aria_label: Option<String>,
    pub placeholder: Option<String>,
    pub title: Option<String>,
    pub autocomplete: Option<String>,
    pub pattern: Option<String>,
    pub maxlength: Option<i64>,
    pub required: bool,
    /// `value` of buttons / submit inputs, or the text of a button.
    pub value: Option<String>,
    /// Option texts of a select (or radio/checkbox group labels).
    pub options: Vec<String>,
    /// The nearest preceding visible text (also across table cells and sibling divs).
    pub preceding_text: Option<String>,
    /// The nearest heading above the field.
    pub heading: Option<String>,
    /// Index of the form (or container group) in the page.
    pub form_index: usize,
    /// A CSS-like path of the nearest container, for highlighting the field in the page.
    pub container: String,
    /// Position of the field in page order.
    pub position: usize,
    /// Index of the enclosing `<form>` among the page's `<form>` elements (None for bare fields).
    pub form_element_index: Option<usize>,
}

impl FieldRecord {
    /// The texts of the field, most telling first (for display and for the model).
    pub fn texts(&self) -> Vec<&str> {
        [
            &self.label,
            &self.aria_label,
            &self.placeholder,
            &self.preceding_text,
            &self.title,
            &self.value,
        ]
        .into_iter()
        .filter_map(|t| t.as_deref())
        .filter(|t| !t.trim().is_empty())
        .collect()
    }

    /// The best one-line description of the field.
    pub fn caption(&self) -> String {
        // A button says what it is itself ("免费领取"); the text before it belongs to others.
        let is_button = self.tag == "button"
            || matches!(
                self.input_type.as_deref(),
                Some("submit" | "button" | "reset" | "image")
            );
        if is_button {
            if let Some(v) = self.value.as_deref().filter(|v| !v.trim().is_empty()) {
                return v.to_string();
            }
        }
        self.texts()
            .first()
            .map(|s| s.to_string())
            .or_else(|| self.name.clone())
            .or_else(|| self.id.clone())
            .unwrap_or_else(|| format!("<{}>", self.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_button_is_captioned_by_its_own_text_an_input_by_its_label() {
        let button = FieldRecord {
            tag: "button".into(),
            input_type: Some("submit".into()),
            preceding_text: Some("我已阅读并同意《投保须知》".into()),
            value: Some("免费领取".into()),
            ..Default::default()
        };
        assert_eq!(button.caption(), "免费领取");
        let input = FieldRecord {
            tag: "input".into(),
            input_type: Some("tel".into()),
            preceding_text: Some("联系电话".into()),
            value: Some("138".into()),
            ..Default::default()
        };
        assert_eq!(input.caption(), "联系电话");
    }
}
