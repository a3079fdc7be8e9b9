//! The truth-knowing annotator of object images, as pure functions: which edits turn the
//! shown boxes into the true ones with the fewest actions, and AP50 of scored boxes. A shown
//! box is matched to a truth box greedily by score at IoU >= 0.5 (any label); matched with the
//! right label and IoU >= 0.75 it is accepted; a wrong label costs a relabel and IoU < 0.75 an
//! adjust (both: two edits); an unmatched shown box is deleted; an unmatched truth box drawn.
//! "Edits per truth box" is (relabels + adjusts + deletes + draws) / truth boxes: 1.0 is as
//! much work as drawing every box by hand with a label each.

use serde::Serialize;

use crate::domain::BBox;

/// IoU from which a shown box counts as the truth box it overlaps.
pub const MATCH_IOU: f64 = 0.5;
/// IoU from which a matched box is kept as shown (no adjust).
pub const KEEP_IOU: f64 = 0.75;

/// A box shown to the annotator (a proposal with its score, or any box with score 1.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub uid: String,
    pub label: String,
    pub score: f64,
    pub bbox: BBox,
}

/// A true box.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub label: String,
    pub bbox: BBox,
}

/// What the annotator does to one box.
#[derive(Debug, Clone, PartialEq)]
pub enum OracleAction {
    Accept {
        uid: String,
    },
    /// Relabel (and/or adjust) a shown box: the new label and geometry, and which edits.
    Fix {
        uid: String,
        label: String,
        bbox: BBox,
        relabel: bool,
        adjust: bool,
    },
    Delete {
        uid: String,
    },
    Draw {
        label: String,
        bbox: BBox,
    },
}

/// Edits by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Edits {
    pub accepts: usize,
    pub relabels: usize,
    pub adjusts: usize,
    pub deletes: usize,
    pub draws: usize,
}

impl Edits {
    /// The edits that cost work (accepts are free: one key for the whole image).
    pub fn total(&self) -> usize {
        self.relabels + self.adjusts + self.deletes + self.draws
    }
    pub fn add(&mut self, o: &Edits) {
        self.accepts += o.accepts;
        self.relabels += o.relabels;
        self.adjusts += o.adjusts;
        self.deletes += o.deletes;
        self.draws += o.draws;
    }
}

/// Greedy matching by score: for each shown box (best score first), the unmatched truth box
/// of highest IoU at or above `min_iou`, whatever its label. Returns, per shown box (in the
/// given order), the matched truth index.
pub fn greedy_match(shown: &[Shown], truth: &[Truth], min_iou: f64) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..shown.len()).collect();
    order.sort_by(|&a, &b| shown[b].score.total_cmp(&shown[a].score).then(a.cmp(&b)));
    let a: Vec<BBox> = order.iter().map(|&i| shown[i].bbox).collect();
    let b: Vec<BBox> = truth.iter().map(|t| t.bbox).collect();
    let m = crate::domain::match_boxes(&a, &b, min_iou);
    let mut out = vec![None; shown.len()];
    for (k, &i) in order.iter().enumerate() {
        out[i] = m[k];
    }
    out
}

/// The fewest edits that turn `shown` into `truth`, and the actions themselves.
pub fn oracle(shown: &[Shown], truth: &[Truth]) -> (Edits, Vec<OracleAction>) {
    let m = greedy_match(shown, truth, MATCH_IOU);
    let mut e = Edits::default();
    let mut actions = Vec::new();
    let mut used = vec![false; truth.len()];
    for (s, mj) in shown.iter().zip(&m) {
        match mj {
            Some(j) => {
                used[*j] = true;
                let t = &truth[*j];
                let relabel = s.label != t.label;
                let adjust = s.bbox.iou(&t.bbox) < KEEP_IOU;
                if !relabel && !adjust {
                    e.accepts += 1;
                    actions.push(OracleAction::Accept { uid: s.uid.clone() });
                } else {
                    e.relabels += relabel as usize;
                    e.adjusts += adjust as usize;
                    actions.push(OracleAction::Fix {
                        uid: s.uid.clone(),
                        label: t.label.clone(),
                        bbox: if adjust { t.bbox } else { s.bbox },
                        relabel,
                        adjust,
                    });
                }
            }
            None => {
                e.deletes += 1;
                actions.push(OracleAction::Delete { uid: s.uid.clone() });
            }
        }
    }
    for (t, u) in truth.iter().zip(used) {
        if !u {
            e.draws += 1;
            actions.push(OracleAction::Draw {
                label: t.label.clone(),
                bbox: t.bbox,
            });
        }
    }
    (e, actions)
}

/// AP at IoU 0.5 (COCO's 101-point interpolation), averaged over the labels that have truth
/// boxes; `images` are (scored boxes, truth boxes) per image. A label never predicted scores 0.
pub fn ap50(images: &[(Vec<Shown>, Vec<Truth>)]) -> f64 {
    let mut labels: Vec<&str> = images
        .iter()
        .flat_map(|(_, t)| t.iter().map(|t| t.label.as_str()))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.is_empty() {
        return 0.0;
    }
    let mut sum = 0.0;
    for label in &labels {
        let mut dets: Vec<(f64, bool)> = Vec::new();
        let mut n_truth = 0usize;
        for (shown, truth) in images {
            let s: Vec<Shown> = shown
                .iter()
                .filter(|s| s.label == *label)
                .cloned()
                .collect();
            let t: Vec<Truth> = truth
                .iter()
                .filter(|t| t.label == *label)
                .cloned()
                .collect();
            n_truth += t.len();
            let m = greedy_match(&s, &t, MATCH_IOU);
            dets.extend(s.iter().zip(m).map(|(s, m)| (s.score, m.is_some())));
        }
        dets.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut curve: Vec<(f64, f64)> = Vec::with_capacity(dets.len());
        for (_, ok) in &dets {
            if *ok {
                tp += 1
            } else {
                fp += 1
            }
            curve.push((tp as f64 / n_truth as f64, tp as f64 / (tp + fp) as f64));
        }
        // Precision made monotone from the right, then sampled at 101 recall points.
        for i in (0..curve.len().saturating_sub(1)).rev() {
            curve[i].1 = curve[i].1.max(curve[i + 1].1);
        }
        let mut ap = 0.0;
        for k in 0..=100 {
            let r = k as f64 / 100.0;
            let p = curve
                .iter()
                .find(|(rec, _)| *rec >= r - 1e-12)
                .map(|c| c.1)
                .unwrap_or(0.0);
            ap += p;
        }
        sum += ap / 101.0;
    }
    sum / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(uid: &str, label: &str, score: f64, b: (f64, f64, f64, f64)) -> Shown {
        Shown {
            uid: uid.into(),
            label: label.into(),
            score,
            bbox: BBox::new(b.0, b.1, b.2, b.3),
        }
    }
    fn t(label: &str, b: (f64, f64, f64, f64)) -> Truth {
        Truth {
            label: label.into(),
            bbox: BBox::new(b.0, b.1, b.2, b.3),
        }
    }

    #[test]
    fn the_oracle_accepts_fixes_deletes_and_draws() {
        let shown = vec![
            s("a", "person", 0.9, (0.0, 0.0, 100.0, 100.0)), // exact: accept
            s("b", "car", 0.8, (200.0, 0.0, 100.0, 100.0)),  // wrong label: relabel
            s("c", "person", 0.7, (400.0, 0.0, 100.0, 70.0)), // IoU 0.7: adjust
            s("d", "dog", 0.6, (900.0, 900.0, 10.0, 10.0)),  // nothing there: delete
        ];
        let truth = vec![
            t("person", (0.0, 0.0, 100.0, 100.0)),
            t("truck", (200.0, 0.0, 100.0, 100.0)),
            t("person", (400.0, 0.0, 100.0, 100.0)),
            t("cat", (600.0, 600.0, 50.0, 50.0)), // missed: draw
        ];
        let (e, actions) = oracle(&shown, &truth);
        assert_eq!(
            e,
            Edits {
                accepts: 1,
                relabels: 1,
                adjusts: 1,
                deletes: 1,
                draws: 1
            }
        );
        assert_eq!(e.total(), 4);
        assert_eq!(actions.len(), 5);
        // Nothing shown: every truth box is drawn (1.0 edit per truth box).
        let (e, _) = oracle(&[], &truth);
        assert_eq!(e.total(), truth.len());
    }

    #[test]
    fn greedy_matching_gives_the_truth_box_to_the_higher_score() {
        let shown = vec![
            s("low", "person", 0.3, (0.0, 0.0, 100.0, 100.0)),
            s("high", "person", 0.9, (5.0, 5.0, 100.0, 100.0)),
        ];
        let truth = vec![t("person", (0.0, 0.0, 100.0, 100.0))];
        assert_eq!(greedy_match(&shown, &truth, 0.5), vec![None, Some(0)]);
    }

    #[test]
    fn ap50_is_one_for_perfect_boxes_and_falls_with_a_false_positive_ranked_first() {
        let truth = vec![
            t("person", (0.0, 0.0, 10.0, 10.0)),
            t("car", (50.0, 50.0, 10.0, 10.0)),
        ];
        let perfect: Vec<Shown> = truth
            .iter()
            .enumerate()
            .map(|(i, t)| {
                s(
                    &i.to_string(),
                    &t.label,
                    0.9,
                    (t.bbox.x, t.bbox.y, t.bbox.w, t.bbox.h),
                )
            })
            .collect();
        assert!((ap50(&[(perfect.clone(), truth.clone())]) - 1.0).abs() < 1e-12);
        let mut worse = perfect;
        worse.push(s("fp", "person", 0.95, (80.0, 80.0, 10.0, 10.0)));
        let ap = ap50(&[(worse, truth)]);
        // person: precision 0.5 at every recall -> 0.5; car: 1.0 -> mean 0.75.
        assert!((ap - 0.75).abs() < 1e-9, "{ap}");
    }
}
