//! The box editor of one object image, egui-free: events in (select, relabel, delete, draw,
//! adjust, nudge, undo, redo, finish), state and box decisions out. Geometry is always in
//! image pixels; the screen's zoom and pan are the UI's one transform. Every edit becomes one
//! [`NewBoxDecision`] that the session commits before it shows as saved; undo appends an undo
//! row (the store cancels the annotator's newest box decision on the image) and the editor
//! restores the box as it was.

use crate::domain::{sets, BBox, BoxAction, BoxPrediction, CurrentBox, NewBoxDecision};

/// Proposals below this score are hidden by default (ultralytics' default threshold).
pub const DEFAULT_HIDE_BELOW: f64 = 0.25;
/// Nudge step in image pixels (Shift: ten times).
pub const NUDGE_PX: f64 = 1.0;
/// Smallest side of a drawn or adjusted box, image pixels.
pub const MIN_SIDE_PX: f64 = 2.0;

/// A box on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct EditBox {
    pub uid: String,
    pub label: String,
    pub bbox: BBox,
    /// The detector's score for a proposed box.
    pub score: Option<f64>,
    /// Whether some decision of this session or an earlier one covers it (an undecided
    /// proposal is accepted when the image is finished).
    pub decided: bool,
}

/// What the editor asks the session to do.
#[derive(Debug, Clone, PartialEq)]
pub enum BoxOutcome {
    /// Commit this box decision.
    Record(NewBoxDecision),
    /// Undo the annotator's newest box decision on this image.
    Undo,
    /// Nothing to commit.
    None,
}

/// An edit the annotator can undo: the box before it (None: it did not exist) and the
/// decision that made it.
#[derive(Debug, Clone, PartialEq)]
struct Edit {
    before: Option<EditBox>,
    decision: NewBoxDecision,
}

/// An event of the box editor.
#[derive(Debug, Clone, PartialEq)]
pub enum BoxEvent {
    SelectNext,
    SelectPrev,
    Select(Option<usize>),
    /// Relabel the selected box (or, right after a draw, the drawn one).
    Relabel(String),
    /// Remove the selected box.
    Delete,
    /// A new box with this label (None: the last label used, else the first label).
    Draw(BBox, Option<String>),
    /// New geometry of box `index`.
    Adjust(usize, BBox),
    /// Move the selected box by (dx, dy) image pixels.
    Nudge(f64, f64),
    Undo,
    Redo,
}

/// The editor of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxEditor {
    pub item_id: i64,
    pub label_set: String,
    pub annotator: String,
    /// Image size in pixels (boxes are clipped to it).
    pub width: f64,
    pub height: f64,
    pub boxes: Vec<EditBox>,
    pub selected: Option<usize>,
    /// Proposals below this score are hidden (and not accepted by finishing the image).
    pub hide_below: f64,
    /// The label of the newest draw or relabel: the default of the next draw.
    pub last_label: Option<String>,
    /// The default labels, in hotkey order.
    pub labels: Vec<String>,
    history: Vec<Edit>,
    redo: Vec<Edit>,
    /// Edits made in this session on this image (the finish decision is a correct when > 0).
    pub edits: usize,
    /// Milliseconds spent since the previous decision (set by the session before an event).
    pub ms_spent: i64,
}

/// What the worker loads about an object image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoxesView {
    /// The image's current boxes (from its decisions).
    pub current: Vec<CurrentBox>,
    /// Boxes some decision names (their proposals are not shown again).
    pub decided_uids: Vec<String>,
    /// The detector's proposals, best first.
    pub proposals: Vec<BoxPrediction>,
}

impl BoxEditor {
    /// The editor of an image: its current boxes when it has decisions, and the proposals no
    /// decision has touched yet.
    pub fn new(
        item_id: i64,
        size: (f64, f64),
        view: &BoxesView,
        labels: Vec<String>,
        annotator: &str,
        hide_below: f64,
    ) -> BoxEditor {
        let (current, decided_uids, proposals) =
            (&view.current, &view.decided_uids, &view.proposals);
        let mut boxes: Vec<EditBox> = current
            .iter()
            .map(|c| EditBox {
                uid: c.box_uid.clone(),
                label: c.label.clone(),
                bbox: c.bbox,
                score: proposals
                    .iter()
                    .find(|p| p.uid() == c.box_uid)
                    .map(|p| p.score),
                decided: true,
            })
            .collect();
        for p in proposals {
            let uid = p.uid();
            if decided_uids.contains(&uid) {
                continue;
            }
            boxes.push(EditBox {
                uid,
                label: p.label.clone(),
                bbox: p.bbox,
                score: Some(p.score),
                decided: false,
            });
        }
        BoxEditor {
            item_id,
            label_set: sets::OBJECT.to_string(),
            annotator: annotator.to_string(),
            width: size.0,
            height: size.1,
            boxes,
            selected: None,
            hide_below,
            last_label: None,
            labels,
            history: Vec::new(),
            redo: Vec::new(),
            edits: 0,
            ms_spent: 0,
        }
    }

    /// Whether box `i` is shown (decided boxes always; proposals at or above the threshold).
    pub fn visible(&self, i: usize) -> bool {
        self.boxes
            .get(i)
            .is_some_and(|b| b.decided || b.score.unwrap_or(1.0) >= self.hide_below)
    }

    /// Indices of the shown boxes, in list order.
    pub fn shown(&self) -> Vec<usize> {
        (0..self.boxes.len()).filter(|&i| self.visible(i)).collect()
    }

    /// The shown box under an image point, the smallest first (small boxes stay clickable
    /// inside big ones).
    pub fn hit(&self, x: f64, y: f64) -> Option<usize> {
        self.shown()
            .into_iter()
            .filter(|&i| {
                let b = &self.boxes[i].bbox;
                x >= b.x && x <= b.x2() && y >= b.y && y <= b.y2()
            })
            .min_by(|&a, &b| {
                self.boxes[a]
                    .bbox
                    .area()
                    .total_cmp(&self.boxes[b].bbox.area())
            })
    }

    fn decision(&self, uid: &str, action: BoxAction, b: Option<&EditBox>) -> NewBoxDecision {
        NewBoxDecision {
            item_id: self.item_id,
            label_set: self.label_set.clone(),
            box_uid: uid.to_string(),
            action,
            label: b.map(|b| b.label.clone()),
            bbox: b.map(|b| b.bbox),
            score: b.and_then(|b| b.score),
            annotator: self.annotator.clone(),
            ms_spent: self.ms_spent,
        }
    }

    fn fit(&self, b: BBox) -> Option<BBox> {
        let b = b.clipped(self.width, self.height);
        (b.w >= MIN_SIDE_PX && b.h >= MIN_SIDE_PX).then_some(b)
    }

    /// Apply one edit: the box at `index` becomes `after` (None: deleted; index ==
    /// boxes.len(): a new box).
    fn commit(&mut self, index: usize, after: Option<EditBox>, action: BoxAction) -> BoxOutcome {
        let before = self.boxes.get(index).cloned();
        let uid = after
            .as_ref()
            .map(|b| b.uid.clone())
            .or_else(|| before.as_ref().map(|b| b.uid.clone()))
            .expect("an edit names a box");
        let decision = self.decision(&uid, action, after.as_ref());
        match after {
            Some(mut b) => {
                b.decided = true;
                if index < self.boxes.len() {
                    self.boxes[index] = b;
                } else {
                    self.boxes.push(b);
                }
                self.selected = Some(index);
            }
            None => {
                self.boxes.remove(index);
                self.selected = match self.shown().len() {
                    0 => None,
                    _ => Some(index.min(self.boxes.len() - 1)),
                }
                .filter(|&i| self.visible(i));
            }
        }
        self.history.push(Edit {
            before,
            decision: decision.clone(),
        });
        self.redo.clear();
        self.edits += 1;
        BoxOutcome::Record(decision)
    }

    fn step_selection(&mut self, forward: bool) {
        let shown = self.shown();
        if shown.is_empty() {
            self.selected = None;
            return;
        }
        let pos = self
            .selected
            .and_then(|s| shown.iter().position(|&i| i == s));
        let next = match (pos, forward) {
            (None, true) => 0,
            (None, false) => shown.len() - 1,
            (Some(p), true) => (p + 1) % shown.len(),
            (Some(p), false) => (p + shown.len() - 1) % shown.len(),
        };
        self.selected = Some(shown[next]);
    }

    /// Apply an event; the outcome is what to commit.
    pub fn apply(&mut self, ev: BoxEvent) -> BoxOutcome {
        match ev {
            BoxEvent::SelectNext => {
                self.step_selection(true);
                BoxOutcome::None
            }
            BoxEvent::SelectPrev => {
                self.step_selection(false);
                BoxOutcome::None
            }
            BoxEvent::Select(i) => {
                self.selected = i.filter(|&i| self.visible(i));
                BoxOutcome::None
            }
            BoxEvent::Relabel(label) => {
                let Some(i) = self.selected else {
                    return BoxOutcome::None;
                };
                self.last_label = Some(label.clone());
                let b = &self.boxes[i];
                if b.label == label && b.decided {
                    return BoxOutcome::None;
                }
                let action = if b.label == label {
                    BoxAction::Accept
                } else {
                    BoxAction::Relabel
                };
                let mut after = b.clone();
                after.label = label;
                self.commit(i, Some(after), action)
            }
            BoxEvent::Delete => {
                let Some(i) = self.selected else {
                    return BoxOutcome::None;
                };
                self.commit(i, None, BoxAction::Delete)
            }
            BoxEvent::Draw(bbox, label) => {
                let Some(bbox) = self.fit(bbox) else {
                    return BoxOutcome::None;
                };
                let label = label
                    .or_else(|| self.last_label.clone())
                    .or_else(|| self.labels.first().cloned());
                let Some(label) = label else {
                    return BoxOutcome::None;
                };
                let uid = format!("d{}", uuid::Uuid::new_v4().simple());
                let b = EditBox {
                    uid,
                    label,
                    bbox,
                    score: None,
                    decided: true,
                };
                let n = self.boxes.len();
                self.commit(n, Some(b), BoxAction::Draw)
            }
            BoxEvent::Adjust(i, bbox) => {
                let (Some(b), Some(bbox)) = (self.boxes.get(i), self.fit(bbox)) else {
                    return BoxOutcome::None;
                };
                if b.bbox == bbox {
                    return BoxOutcome::None;
                }
                let mut after = b.clone();
                after.bbox = bbox;
                self.commit(i, Some(after), BoxAction::Adjust)
            }
            BoxEvent::Nudge(dx, dy) => {
                let Some(i) = self.selected else {
                    return BoxOutcome::None;
                };
                let b = self.boxes[i].bbox;
                let x = (b.x + dx).clamp(0.0, (self.width - b.w).max(0.0));
                let y = (b.y + dy).clamp(0.0, (self.height - b.h).max(0.0));
                self.apply(BoxEvent::Adjust(i, BBox::new(x, y, b.w, b.h)))
            }
            BoxEvent::Undo => {
                let Some(edit) = self.history.pop() else {
                    return BoxOutcome::None;
                };
                let uid = &edit.decision.box_uid;
                let at = self.boxes.iter().position(|b| &b.uid == uid);
                match (at, edit.before.clone()) {
                    (Some(i), Some(b)) => self.boxes[i] = b,
                    (Some(i), None) => {
                        self.boxes.remove(i);
                    }
                    (None, Some(b)) => self.boxes.push(b),
                    (None, None) => {}
                }
                self.selected = self.boxes.iter().position(|b| &b.uid == uid);
                self.edits = self.edits.saturating_sub(1);
                self.redo.push(edit);
                BoxOutcome::Undo
            }
            BoxEvent::Redo => {
                let Some(edit) = self.redo.pop() else {
                    return BoxOutcome::None;
                };
                let uid = edit.decision.box_uid.clone();
                let at = self.boxes.iter().position(|b| b.uid == uid);
                let before = at.map(|i| self.boxes[i].clone());
                match edit.decision.action {
                    BoxAction::Delete => {
                        if let Some(i) = at {
                            self.boxes.remove(i);
                        }
                        self.selected = None;
                    }
                    _ => {
                        let b = EditBox {
                            uid: uid.clone(),
                            label: edit.decision.label.clone().unwrap_or_default(),
                            bbox: edit.decision.bbox.unwrap_or(BBox::new(0.0, 0.0, 0.0, 0.0)),
                            score: edit.decision.score,
                            decided: true,
                        };
                        match at {
                            Some(i) => self.boxes[i] = b,
                            None => self.boxes.push(b),
                        }
                        self.selected = self.boxes.iter().position(|b| b.uid == uid);
                    }
                }
                let mut decision = edit.decision;
                decision.ms_spent = self.ms_spent;
                self.history.push(Edit {
                    before,
                    decision: decision.clone(),
                });
                self.edits += 1;
                BoxOutcome::Record(decision)
            }
        }
    }

    /// Whether an edit of this session on the image can be undone.
    pub fn can_undo(&self) -> bool {
        !self.history.is_empty()
    }
    /// Whether an undone edit can be made again.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Finishing the image as shown: an accept for every shown proposal no decision covers.
    pub fn finish(&mut self) -> Vec<NewBoxDecision> {
        let mut out = Vec::new();
        for i in self.shown() {
            if !self.boxes[i].decided {
                let b = self.boxes[i].clone();
                out.push(self.decision(&b.uid, BoxAction::Accept, Some(&b)));
                self.boxes[i].decided = true;
            }
        }
        out
    }

    /// The boxes the image will have once finished (decided ones and shown proposals).
    pub fn result(&self) -> Vec<&EditBox> {
        self.shown().into_iter().map(|i| &self.boxes[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(id: i64, label: &str, score: f64, b: BBox) -> BoxPrediction {
        BoxPrediction {
            id,
            item_id: 1,
            detector: "yolo11n".into(),
            label: label.into(),
            score,
            bbox: b,
        }
    }

    fn editor() -> BoxEditor {
        let view = BoxesView {
            proposals: vec![
                proposal(10, "person", 0.9, BBox::new(10.0, 10.0, 100.0, 200.0)),
                proposal(11, "car", 0.5, BBox::new(300.0, 300.0, 80.0, 40.0)),
                proposal(12, "car", 0.1, BBox::new(0.0, 0.0, 5.0, 5.0)),
            ],
            ..Default::default()
        };
        BoxEditor::new(
            1,
            (640.0, 480.0),
            &view,
            vec!["person".into(), "car".into()],
            "ann",
            0.25,
        )
    }

    #[test]
    fn low_scores_are_hidden_and_finishing_accepts_the_shown_proposals() {
        let mut e = editor();
        assert_eq!(e.shown(), vec![0, 1]);
        let acc = e.finish();
        assert_eq!(acc.len(), 2);
        assert!(acc.iter().all(|d| d.action == BoxAction::Accept));
        assert_eq!(acc[0].box_uid, "p10");
        assert!(
            e.finish().is_empty(),
            "a second finish accepts nothing again"
        );
    }

    #[test]
    fn relabel_delete_draw_and_undo_redo_restore_the_boxes() {
        let mut e = editor();
        e.apply(BoxEvent::SelectNext);
        assert_eq!(e.selected, Some(0));
        e.apply(BoxEvent::SelectNext);
        let BoxOutcome::Record(d) = e.apply(BoxEvent::Relabel("person".into())) else {
            panic!("a relabel records a decision")
        };
        assert_eq!((d.action, d.box_uid.as_str()), (BoxAction::Relabel, "p11"));
        assert_eq!(e.boxes[1].label, "person");
        let BoxOutcome::Record(d) = e.apply(BoxEvent::Delete) else {
            panic!()
        };
        assert_eq!(d.action, BoxAction::Delete);
        assert_eq!(e.shown().len(), 1);
        assert_eq!(e.apply(BoxEvent::Undo), BoxOutcome::Undo);
        assert_eq!(e.shown().len(), 2);
        assert_eq!(
            e.boxes.iter().find(|b| b.uid == "p11").unwrap().label,
            "person"
        );
        let BoxOutcome::Record(d) = e.apply(BoxEvent::Redo) else {
            panic!()
        };
        assert_eq!(d.action, BoxAction::Delete);
        assert_eq!(e.shown().len(), 1);
        // Draw: the last label used, clipped to the image; too small a box draws nothing.
        let BoxOutcome::Record(d) =
            e.apply(BoxEvent::Draw(BBox::new(600.0, 400.0, 100.0, 100.0), None))
        else {
            panic!()
        };
        assert_eq!(d.action, BoxAction::Draw);
        assert_eq!(d.label.as_deref(), Some("person"));
        assert_eq!(d.bbox, Some(BBox::new(600.0, 400.0, 40.0, 80.0)));
        assert_eq!(
            e.apply(BoxEvent::Draw(BBox::new(5.0, 5.0, 1.0, 1.0), None)),
            BoxOutcome::None
        );
    }

    #[test]
    fn nudges_stay_inside_the_image_and_small_boxes_win_the_click() {
        let mut e = editor();
        e.hide_below = 0.0;
        e.apply(BoxEvent::Select(Some(0)));
        let BoxOutcome::Record(d) = e.apply(BoxEvent::Nudge(-50.0, 0.0)) else {
            panic!()
        };
        assert_eq!(d.bbox.unwrap().x, 0.0);
        assert_eq!(d.action, BoxAction::Adjust);
        assert_eq!(
            e.hit(2.0, 2.0),
            Some(2),
            "the 5 px box inside the person box"
        );
    }
}
