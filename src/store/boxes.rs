//! Objects: the boxes a detector proposed for an image (`box_predictions`), every decision on
//! a box (`box_decisions`, append-only; undo appends a row naming the one it cancels), and the
//! current boxes of each image (`item_boxes`, maintained by a trigger on both backends from
//! migration 0008). An image is finished by an ordinary decision on its item (the object set's
//! [`IMAGE_DONE`] label) written in the same transaction as its last box decisions.

use super::db::{Exec, Row, Tx};
use super::{now, Result, Store, StoreError};
use crate::domain::{
    Action, BBox, BoxAction, BoxDecision, BoxPrediction, CurrentBox, NewBoxDecision, NewDecision,
};

/// The label of an object image's item decision: "its boxes are as decided".
pub const IMAGE_DONE: &str = "boxes";

/// A proposed box to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBoxPrediction {
    pub label: String,
    pub score: f64,
    pub bbox: BBox,
}

const DECISION_COLS: &str = "d.id, d.item_id, d.box_uid, d.action, d.label, d.x, d.y, d.w, d.h, \
                             d.score, d.annotator, d.ms_spent, d.decided_at, d.supersedes";

fn row_to_box_decision(r: &Row) -> Result<BoxDecision> {
    let action: String = r.get(3)?;
    let geo: [Option<f64>; 4] = [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
    let bbox = match geo {
        [Some(x), Some(y), Some(w), Some(h)] => Some(BBox::new(x, y, w, h)),
        _ => None,
    };
    Ok(BoxDecision {
        id: r.get(0)?,
        item_id: r.get(1)?,
        box_uid: r.get(2)?,
        action: BoxAction::parse(&action)
            .ok_or_else(|| StoreError::Invalid(format!("box action {action:?}")))?,
        label: r.get(4)?,
        bbox,
        score: r.get(9)?,
        annotator: r.get(10)?,
        ms_spent: r.get(11)?,
        decided_at: r.get(12)?,
        supersedes: r.get(13)?,
    })
}

fn check(d: &NewBoxDecision) -> Result<()> {
    if d.box_uid.trim().is_empty() {
        return Err(StoreError::Invalid(
            "a box decision needs the box's id".into(),
        ));
    }
    if d.action.keeps_box() {
        let ok_label = d.label.as_deref().is_some_and(|l| !l.trim().is_empty());
        let ok_box = d.bbox.is_some_and(|b| b.is_valid());
        if !ok_label || !ok_box {
            return Err(StoreError::Invalid(format!(
                "a box {} needs a label and a box of positive size (got {:?}, {:?})",
                d.action.as_str(),
                d.label,
                d.bbox
            )));
        }
    }
    Ok(())
}

fn insert_box_decision(
    tx: &Tx<'_>,
    set_id: i64,
    d: &NewBoxDecision,
    supersedes: Option<i64>,
) -> Result<i64> {
    let b = d.bbox;
    tx.one(
        "INSERT INTO box_decisions (item_id, label_set_id, box_uid, action, label, x, y, w, h, score,
                                    annotator, ms_spent, decided_at, supersedes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
        &[
            &d.item_id,
            &set_id,
            &d.box_uid,
            &d.action.as_str(),
            &d.label,
            &b.map(|b| b.x),
            &b.map(|b| b.y),
            &b.map(|b| b.w),
            &b.map(|b| b.h),
            &d.score,
            &d.annotator,
            &d.ms_spent.max(0),
            &now(),
            &supersedes,
        ],
    )
}

impl Store {
    /// Replace the proposed boxes of some images (each image's earlier proposals go), in one
    /// transaction; each image also gets an ordinary prediction row whose score is its mean box
    /// score and whose margin its lowest (the queue orders images by them; an image with no
    /// box scores 1.0: nothing to check).
    pub fn put_box_predictions(
        &mut self,
        set: &str,
        detector: &str,
        model_id: Option<i64>,
        images: &[(i64, Vec<NewBoxPrediction>)],
    ) -> Result<usize> {
        let set_id = self.label_set_id(set)?;
        let t = now();
        self.write(|tx| {
            let mut n = 0;
            for (item_id, boxes) in images {
                tx.execute(
                    "DELETE FROM box_predictions WHERE item_id = ?1 AND label_set_id = ?2",
                    &[item_id, &set_id],
                )?;
                for b in boxes {
                    if !b.bbox.is_valid() || !b.score.is_finite() {
                        return Err(StoreError::Invalid(format!(
                            "image {item_id}: a proposed box must have a positive size and a score: {b:?}"
                        )));
                    }
                    tx.execute(
                        "INSERT INTO box_predictions (item_id, label_set_id, model_id, detector, label, score, x, y, w, h, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        &[
                            item_id, &set_id, &model_id, &detector, &b.label, &b.score, &b.bbox.x,
                            &b.bbox.y, &b.bbox.w, &b.bbox.h, &t,
                        ],
                    )?;
                    n += 1;
                }
                let scores: Vec<f64> = boxes.iter().map(|b| b.score).collect();
                let mean = if scores.is_empty() {
                    1.0
                } else {
                    scores.iter().sum::<f64>() / scores.len() as f64
                };
                let min = scores.iter().copied().fold(1.0f64, f64::min);
                let top: Vec<(String, f64)> =
                    boxes.iter().map(|b| (b.label.clone(), b.score)).collect();
                tx.execute(
                    "DELETE FROM predictions WHERE item_id = ?1 AND label_set_id = ?2 AND model_id IS NOT DISTINCT FROM ?3",
                    &[item_id, &set_id, &model_id],
                )?;
                tx.execute(
                    "INSERT INTO predictions (item_id, label_set_id, model_id, label, score, margin, top_json, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    &[
                        item_id,
                        &set_id,
                        &model_id,
                        &format!("{} boxes", boxes.len()),
                        &mean,
                        &min,
                        &serde_json::to_string(&top).expect("serializable"),
                        &t,
                    ],
                )?;
            }
            Ok(n)
        })
    }

    /// The proposed boxes of an image, best score first.
    pub fn box_predictions(&self, item_id: i64, set: &str) -> Result<Vec<BoxPrediction>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT id, item_id, detector, label, score, x, y, w, h FROM box_predictions
             WHERE item_id = ?1 AND label_set_id = ?2 ORDER BY score DESC, id",
            &[&item_id, &set_id],
            |r| {
                Ok(BoxPrediction {
                    id: r.get(0)?,
                    item_id: r.get(1)?,
                    detector: r.get(2)?,
                    label: r.get(3)?,
                    score: r.get(4)?,
                    bbox: BBox::new(r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?),
                })
            },
        )
    }

    /// Ids of the images a detector has looked at (`model_id` None: the default detector),
    /// with or without boxes found.
    pub fn items_with_box_predictions(&self, set: &str, model_id: Option<i64>) -> Result<Vec<i64>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT item_id FROM predictions
             WHERE label_set_id = ?1 AND model_id IS NOT DISTINCT FROM ?2 ORDER BY item_id",
            &[&set_id, &model_id],
            |r| r.get(0),
        )
    }

    /// Record box decisions, and optionally the decision that finishes their image, in one
    /// durable transaction: all or none. Returns the box decisions' ids.
    pub fn record_box_decisions(
        &mut self,
        ds: &[NewBoxDecision],
        finish: Option<&NewDecision>,
    ) -> Result<Vec<i64>> {
        for d in ds {
            check(d)?;
            if d.action == BoxAction::Undo {
                return Err(StoreError::Invalid(
                    "an undo names the decision it cancels: use undo_box_decision".into(),
                ));
            }
        }
        let mut set_ids = Vec::with_capacity(ds.len());
        for d in ds {
            set_ids.push(self.label_set_id(&d.label_set)?);
        }
        if let Some(f) = finish {
            if f.action != Action::Accept && f.action != Action::Correct {
                return Err(StoreError::Invalid(
                    "an object image is finished by an accept or a correct".into(),
                ));
            }
        }
        let ids = self.write(|tx| {
            let mut ids = Vec::with_capacity(ds.len());
            for (d, set_id) in ds.iter().zip(&set_ids) {
                ids.push(insert_box_decision(tx, *set_id, d, None)?);
            }
            Ok(ids)
        })?;
        if let Some(f) = finish {
            // Its own transaction right after (leases and claims live there); a crash between
            // the two leaves the boxes decided and the image open, shown again as decided.
            self.record_decision(f)?;
        }
        Ok(ids)
    }

    /// Cancel one box decision (an undo row; the box returns to what its earlier decisions
    /// left, or to the proposal it was). Returns the undone decision.
    pub fn undo_box_decision(&mut self, decision_id: i64, annotator: &str) -> Result<BoxDecision> {
        let d = self
            .box_decision(decision_id)?
            .ok_or(StoreError::NothingTo("undo"))?;
        if d.action == BoxAction::Undo {
            return Err(StoreError::Invalid(
                "an undo is not undone: redo records the decision again".into(),
            ));
        }
        let set_id: i64 = self.db().one(
            "SELECT label_set_id FROM box_decisions WHERE id = ?1",
            &[&decision_id],
        )?;
        self.write(|tx| {
            let undone: bool = tx.one(
                "SELECT EXISTS(SELECT 1 FROM box_decisions WHERE supersedes = ?1 AND action = 'undo')",
                &[&decision_id],
            )?;
            if undone {
                return Err(StoreError::NothingTo("undo"));
            }
            let u = NewBoxDecision {
                item_id: d.item_id,
                label_set: String::new(),
                box_uid: d.box_uid.clone(),
                action: BoxAction::Undo,
                label: None,
                bbox: None,
                score: None,
                annotator: annotator.to_string(),
                ms_spent: 0,
            };
            insert_box_decision(tx, set_id, &u, Some(decision_id))
        })?;
        Ok(d)
    }

    /// Undo `annotator`'s newest box decision on an image that no undo cancelled yet.
    pub fn undo_last_box_decision(&mut self, item_id: i64, annotator: &str) -> Result<BoxDecision> {
        let target: Option<i64> = self.db().query_opt(
            "SELECT d.id FROM box_decisions d
             WHERE d.item_id = ?1 AND d.annotator = ?2 AND d.action <> 'undo'
               AND NOT EXISTS (SELECT 1 FROM box_decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
             ORDER BY d.id DESC LIMIT 1",
            &[&item_id, &annotator],
            |r| r.get(0),
        )?;
        let target = target.ok_or(StoreError::NothingTo("undo"))?;
        self.undo_box_decision(target, annotator)
    }

    /// The ids of the boxes of an image that some decision names.
    pub fn decided_box_uids(&self, item_id: i64) -> Result<Vec<String>> {
        self.db().query(
            "SELECT DISTINCT box_uid FROM box_decisions WHERE item_id = ?1",
            &[&item_id],
            |r| r.get(0),
        )
    }

    /// One box decision.
    pub fn box_decision(&self, id: i64) -> Result<Option<BoxDecision>> {
        self.db().query_opt(
            &format!("SELECT {DECISION_COLS} FROM box_decisions d WHERE d.id = ?1"),
            &[&id],
            row_to_box_decision,
        )
    }

    /// Every box decision of an image, oldest first.
    pub fn box_decisions_for_item(&self, item_id: i64) -> Result<Vec<BoxDecision>> {
        self.db().query(
            &format!(
                "SELECT {DECISION_COLS} FROM box_decisions d WHERE d.item_id = ?1 ORDER BY d.id"
            ),
            &[&item_id],
            row_to_box_decision,
        )
    }

    /// Every box decision of the project, oldest first (simulate, insights).
    pub fn all_box_decisions(&self) -> Result<Vec<BoxDecision>> {
        self.db().query(
            &format!("SELECT {DECISION_COLS} FROM box_decisions d ORDER BY d.id"),
            &[],
            row_to_box_decision,
        )
    }

    /// The current boxes of an image.
    pub fn item_boxes(&self, item_id: i64, set: &str) -> Result<Vec<CurrentBox>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT box_uid, label, x, y, w, h, decision_id FROM item_boxes
             WHERE item_id = ?1 AND label_set_id = ?2 ORDER BY decision_id",
            &[&item_id, &set_id],
            |r| {
                Ok(CurrentBox {
                    box_uid: r.get(0)?,
                    label: r.get(1)?,
                    bbox: BBox::new(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                    decision_id: r.get(6)?,
                })
            },
        )
    }

    /// The current boxes of every image of a set: (item id, box), by item.
    pub fn all_item_boxes(&self, set: &str) -> Result<Vec<(i64, CurrentBox)>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT item_id, box_uid, label, x, y, w, h, decision_id FROM item_boxes
             WHERE label_set_id = ?1 ORDER BY item_id, decision_id",
            &[&set_id],
            |r| {
                Ok((
                    r.get(0)?,
                    CurrentBox {
                        box_uid: r.get(1)?,
                        label: r.get(2)?,
                        bbox: BBox::new(r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
                        decision_id: r.get(7)?,
                    },
                ))
            },
        )
    }

    /// Each annotator's current boxes of each image (their own decisions: per box, their
    /// newest that no undo cancelled, unless a delete): (item, annotator, label, box). What
    /// overlap images are compared on.
    pub fn annotator_boxes(&self, set: &str) -> Result<Vec<(i64, String, String, BBox)>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT d.item_id, d.annotator, d.label, d.x, d.y, d.w, d.h FROM box_decisions d
             WHERE d.label_set_id = ?1 AND d.action NOT IN ('undo', 'delete')
               AND NOT EXISTS (SELECT 1 FROM box_decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
               AND NOT EXISTS (
                   SELECT 1 FROM box_decisions n
                   WHERE n.item_id = d.item_id AND n.annotator = d.annotator AND n.box_uid = d.box_uid
                     AND n.id > d.id AND n.action <> 'undo'
                     AND NOT EXISTS (SELECT 1 FROM box_decisions u2 WHERE u2.supersedes = n.id AND u2.action = 'undo'))
             ORDER BY d.item_id, d.annotator, d.id",
            &[&set_id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    BBox::new(r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
                ))
            },
        )
    }

    /// Boxes per label over the current boxes of a set, most first.
    pub fn box_counts(&self, set: &str) -> Result<Vec<(String, i64)>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT label, COUNT(*) FROM item_boxes WHERE label_set_id = ?1
             GROUP BY label ORDER BY COUNT(*) DESC, label",
            &[&set_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
