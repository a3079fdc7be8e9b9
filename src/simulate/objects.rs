//! The object simulator: replays, image by image, an annotator who knows the true boxes and
//! turns the shown proposals into them with the fewest edits (`boxes_oracle`), recording
//! every box decision and each image's finish through the store as the review screen does.
//! Per batch of images it reports the edits so far; the summary is **edits per truth box**
//! over the full pass (1.0 = drawing every box by hand) and AP50 of the stored proposals.
//! Run it on a copy of a project (the CLI does).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::boxes_oracle::{ap50, oracle, Edits, OracleAction, Shown, Truth};
use crate::domain::{sets, Action, BoxAction, NewBoxDecision, NewDecision};
use crate::jobs::JobCtx;
use crate::store::Store;

/// Options of an object simulation.
#[derive(Debug, Clone)]
pub struct ObjectSimOptions {
    /// Images per CSV row.
    pub batch: usize,
    /// Proposals below this score are not shown (the review screen's default).
    pub hide_below: f64,
    /// Stop after this many images.
    pub max_images: Option<usize>,
}

impl Default for ObjectSimOptions {
    fn default() -> Self {
        ObjectSimOptions {
            batch: 20,
            hide_below: crate::review::boxes::DEFAULT_HIDE_BELOW,
            max_images: None,
        }
    }
}

/// One CSV row: the pass so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObjectSimRow {
    pub images: usize,
    pub truth_boxes: usize,
    pub shown_boxes: usize,
    pub edits: usize,
    pub accepts: usize,
    pub relabels: usize,
    pub adjusts: usize,
    pub deletes: usize,
    pub draws: usize,
    pub edits_per_truth_box: f64,
}

/// The full pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectSimSummary {
    pub last: ObjectSimRow,
    /// AP at IoU 0.5 of every stored proposal (all scores) against the truth.
    pub ap50: f64,
}

fn to_decisions(item_id: i64, actions: &[OracleAction], annotator: &str) -> Vec<NewBoxDecision> {
    let d = |uid: String, action: BoxAction, label: Option<String>, bbox| NewBoxDecision {
        item_id,
        label_set: sets::OBJECT.to_string(),
        box_uid: uid,
        action,
        label,
        bbox,
        score: None,
        annotator: annotator.to_string(),
        ms_spent: 0,
    };
    let mut out = Vec::new();
    for (k, a) in actions.iter().enumerate() {
        match a {
            OracleAction::Accept { .. } => {}
            OracleAction::Fix {
                uid,
                label,
                bbox,
                adjust,
                ..
            } => {
                let action = if *adjust {
                    BoxAction::Adjust
                } else {
                    BoxAction::Relabel
                };
                out.push(d(uid.clone(), action, Some(label.clone()), Some(*bbox)));
            }
            OracleAction::Delete { uid } => out.push(d(uid.clone(), BoxAction::Delete, None, None)),
            OracleAction::Draw { label, bbox } => out.push(d(
                format!("d{item_id}-{k}"),
                BoxAction::Draw,
                Some(label.clone()),
                Some(*bbox),
            )),
        }
    }
    out
}

/// Replay the annotator over the images with truth (in item order), recording decisions as
/// `annotator`. The images must have been pre-labelled (images without proposals show none).
pub fn run(
    store: &mut Store,
    truth: &HashMap<i64, Vec<Truth>>,
    opts: &ObjectSimOptions,
    annotator: &str,
    ctx: &JobCtx,
) -> anyhow::Result<(Vec<ObjectSimRow>, ObjectSimSummary)> {
    anyhow::ensure!(opts.batch > 0, "batch must be at least 1");
    anyhow::ensure!(!truth.is_empty(), "no image of the project has true boxes");
    let mut ids: Vec<i64> = truth.keys().copied().collect();
    ids.sort_unstable();
    if let Some(m) = opts.max_images {
        ids.truncate(m);
    }
    // Labels the truth uses that the project lacks are added (the annotator would type them).
    let have: Vec<String> = store
        .labels(sets::OBJECT)?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut missing: Vec<String> = ids
        .iter()
        .flat_map(|id| truth[id].iter().map(|t| t.label.clone()))
        .filter(|l| !have.contains(l))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        let labels: Vec<_> = missing.iter().map(crate::domain::NewLabel::named).collect();
        store.add_labels(sets::OBJECT, &labels)?;
    }
    ctx.set_total(ids.len() as u64);
    ctx.set_done(0);
    let mut rows = Vec::new();
    let mut row = ObjectSimRow::default();
    let mut total = Edits::default();
    let mut for_ap = Vec::with_capacity(ids.len());
    for (n, id) in ids.iter().enumerate() {
        ctx.check()?;
        let t = &truth[id];
        let proposals = store.box_predictions(*id, sets::OBJECT)?;
        let all: Vec<Shown> = proposals
            .iter()
            .map(|p| Shown {
                uid: p.uid(),
                label: p.label.clone(),
                score: p.score,
                bbox: p.bbox,
            })
            .collect();
        let shown: Vec<Shown> = all
            .iter()
            .filter(|s| s.score >= opts.hide_below)
            .cloned()
            .collect();
        let (e, actions) = oracle(&shown, t);
        let mut decisions = to_decisions(*id, &actions, annotator);
        // What the review screen's Enter adds: an accept of every shown box left as shown.
        for a in &actions {
            if let OracleAction::Accept { uid } = a {
                let s = shown.iter().find(|s| &s.uid == uid).expect("shown");
                decisions.push(NewBoxDecision {
                    item_id: *id,
                    label_set: sets::OBJECT.to_string(),
                    box_uid: uid.clone(),
                    action: BoxAction::Accept,
                    label: Some(s.label.clone()),
                    bbox: Some(s.bbox),
                    score: Some(s.score),
                    annotator: annotator.to_string(),
                    ms_spent: 0,
                });
            }
        }
        let finish = NewDecision {
            item_id: *id,
            label_set: sets::OBJECT.to_string(),
            label: Some(crate::store::boxes::IMAGE_DONE.to_string()),
            annotator: annotator.to_string(),
            action: if e.total() == 0 {
                Action::Accept
            } else {
                Action::Correct
            },
            ms_spent: 0,
            prediction_id: None,
        };
        store.record_box_decisions(&decisions, Some(&finish))?;
        total.add(&e);
        row.images += 1;
        row.truth_boxes += t.len();
        row.shown_boxes += shown.len();
        for_ap.push((all, t.clone()));
        ctx.inc(1);
        if (n + 1) % opts.batch == 0 || n + 1 == ids.len() {
            row.accepts = total.accepts;
            row.relabels = total.relabels;
            row.adjusts = total.adjusts;
            row.deletes = total.deletes;
            row.draws = total.draws;
            row.edits = total.total();
            row.edits_per_truth_box = if row.truth_boxes > 0 {
                row.edits as f64 / row.truth_boxes as f64
            } else {
                0.0
            };
            rows.push(row.clone());
        }
    }
    let summary = ObjectSimSummary {
        last: row,
        ap50: ap50(&for_ap),
    };
    Ok((rows, summary))
}

/// Write the rows as CSV.
pub fn write_csv(rows: &[ObjectSimRow], path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}
