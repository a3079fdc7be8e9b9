//! Queue queries: candidate items of a label set with their prediction margin/score, filtered.
//! Ordering strategies that need more than SQL (diverse, random) live in `crate::queue`.

use super::db::{Exec, Row};
use super::{Result, Store};
use crate::queue::{Filter, QueueSpec, Strategy};

/// p: the prediction shown for item i (the active model's ?3, else the newest of any model),
/// l: its current label in set ?2.
const SHOWN_PREDICTION: &str = "LEFT JOIN predictions p ON p.id = (
        SELECT p2.id FROM predictions p2 WHERE p2.item_id = i.id AND p2.label_set_id = ?2
        ORDER BY (p2.model_id IS NOT DISTINCT FROM ?3) DESC, p2.id DESC LIMIT 1)
    LEFT JOIN item_labels l ON l.item_id = i.id AND l.label_set_id = ?2";

/// Per label: unlabelled items whose shown prediction is that label, with a score of at
/// least the threshold, and in all (the bulk-accept picker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfidentCount {
    pub label: String,
    pub confident: i64,
    pub predicted: i64,
    /// The surest suggestion's score, in millionths (ties between labels go to the surer).
    pub best_ppm: i64,
    /// Sum of `1 - score` over the confident ones, in millionths: how many of them are
    /// expected wrong (the scores are calibrated on the model's hold-out).
    pub expected_wrong_ppm: i64,
}

impl ConfidentCount {
    /// Confident suggestions expected wrong.
    pub fn expected_wrong(&self) -> f64 {
        self.expected_wrong_ppm as f64 / 1e6
    }
}

/// One queue candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub item_id: i64,
    /// Top-1 score of the active model's prediction (None: not predicted).
    pub score: Option<f64>,
    pub margin: Option<f64>,
}

impl Store {
    /// Candidates of a queue in SQL order (file order, or by margin/score for the
    /// uncertain/confident strategies). Predictions are the active model's, or the newest.
    pub fn queue_candidates(&self, spec: &QueueSpec) -> Result<Vec<Candidate>> {
        let set_id = self.label_set_id(&spec.label_set)?;
        let target: String = self
            .db()
            .one("SELECT target FROM label_sets WHERE id = ?1", &[&set_id])?;
        let active: Option<i64> = self.active_model(&spec.label_set)?.map(|m| m.id);
        let pred = SHOWN_PREDICTION;
        let b = self.backend();
        let open_to_me;
        let review;
        let filter = match &spec.filter {
            Filter::Unlabeled if spec.annotator.is_some() => {
                // ?4: the annotator. Gold checks come when due (`Store::gold_due`).
                open_to_me = format!(
                    "i.error IS NULL AND {}",
                    super::leases::open_regular_sql(b, "i.id", "?2", "?4"),
                );
                open_to_me.as_str()
            }
            Filter::Unlabeled => "i.error IS NULL AND l.item_id IS NULL",
            Filter::Review => {
                // Gold items are left out: their final label is known, disagreeing there is
                // what the gold accuracy measures.
                review = format!(
                    "i.error IS NULL AND NOT {gold} AND ({flagged} OR {split}) AND NOT EXISTS (
                        SELECT 1 FROM reviews r WHERE r.item_id = i.id AND r.label_set_id = ?2
                          AND r.id > (SELECT MAX(a.id) FROM annotations a WHERE a.item_id = i.id AND a.label_set_id = ?2))",
                    flagged = "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.label_set_id = ?2 AND a.action = 'flag')",
                    split = "(SELECT COUNT(DISTINCT a.label) FROM annotations a WHERE a.item_id = i.id AND a.label_set_id = ?2) >= 2",
                    gold = super::leases::gold_sql(b, "i.id", "?2"),
                );
                review.as_str()
            }
            Filter::PredictedAs(_) => "i.error IS NULL AND l.item_id IS NULL AND p.label = ?4",
            Filter::Disagreements => {
                "l.item_id IS NOT NULL AND p.label IS NOT NULL AND p.label != l.label"
            }
            Filter::Suspects => {
                "l.item_id IS NOT NULL AND EXISTS (SELECT 1 FROM suspects s
                    WHERE s.item_id = i.id AND s.decision_id = l.decision_id
                      AND s.run_id = (SELECT MAX(r.id) FROM suspect_runs r WHERE r.label_set_id = ?2))"
            }
            Filter::Errors => "i.error IS NOT NULL",
            Filter::All => "TRUE",
        };
        let order = match spec.strategy {
            _ if spec.filter == Filter::Suspects => {
                "(SELECT s.rank FROM suspects s WHERE s.item_id = i.id
                    AND s.run_id = (SELECT MAX(r.id) FROM suspect_runs r WHERE r.label_set_id = ?2)), i.id"
            }
            Strategy::Uncertain => "p.margin IS NULL, p.margin ASC, i.id",
            Strategy::Confident => "p.score IS NULL, p.score DESC, i.id",
            _ => "i.id",
        };
        let sql = format!(
            "SELECT i.id, p.score, p.margin FROM items i {pred} WHERE i.kind = ?1 AND {filter} ORDER BY {order}"
        );
        let label = match &spec.filter {
            Filter::PredictedAs(l) => l.clone(),
            _ => String::new(),
        };
        if let (Some(who), Filter::Unlabeled) = (&spec.annotator, &spec.filter) {
            self.db()
                .query(&sql, &[&target, &set_id, &active, who], row)
        } else if matches!(spec.filter, Filter::PredictedAs(_)) {
            self.db()
                .query(&sql, &[&target, &set_id, &active, &label], row)
        } else {
            self.db().query(&sql, &[&target, &set_id, &active], row)
        }
    }
}

/// Largest item id the index-scan queue handles with a flat table of flags (one byte per id;
/// sparser ids take the full query).
const FAST_MAX_ID: i64 = 64 << 20;

impl Store {
    /// The queue of unlabelled items (the project's view, no annotator) from index scans,
    /// without a per-item subquery or a sort: the items of the set's kind (`items_kind`), the
    /// few with an error (`items_errors`), the labelled ones (`item_labels_label`), and for the
    /// uncertain/confident orders the active model's predictions already in margin/score order
    /// (`predictions_queue_margin`/`_score`, migration 0007). The same ids in the same order
    /// as [`Store::queue_candidates`]; `None` where that query is needed: another filter, an
    /// annotator's queue, no active model, or an item whose shown prediction is not the active
    /// model's (it has none: then the newest of another model, or nothing, orders it).
    pub fn queue_fast(&self, spec: &QueueSpec) -> Result<Option<Vec<i64>>> {
        if spec.filter != Filter::Unlabeled || spec.annotator.is_some() {
            return Ok(None);
        }
        let order = match spec.strategy {
            Strategy::Uncertain => Some("margin, item_id"),
            Strategy::Confident => Some("score DESC, item_id"),
            Strategy::FileOrder | Strategy::Random => None,
            Strategy::Diverse => return Ok(None),
        };
        let active = match order {
            Some(_) => match self.active_model(&spec.label_set)? {
                Some(m) => Some(m.id),
                None => return Ok(None),
            },
            None => None,
        };
        let set_id = self.label_set_id(&spec.label_set)?;
        let target: String = self
            .db()
            .one("SELECT target FROM label_sets WHERE id = ?1", &[&set_id])?;
        // Two index seeks (`items_kind`) for items of other kinds, one count of the kind's.
        let (n_kind, other_kinds, max_id): (i64, i64, i64) = self.db().query_row(
            "SELECT (SELECT COUNT(*) FROM items WHERE kind = ?1),
                    (SELECT COUNT(*) FROM (SELECT 1 FROM items WHERE kind < ?1 OR kind > ?1 LIMIT 1) o),
                    (SELECT COALESCE(MAX(id), 0) FROM items)",
            &[&target],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if n_kind == 0 {
            return Ok(Some(Vec::new()));
        }
        if max_id > FAST_MAX_ID {
            return Ok(None);
        }
        // Per item id: 1 = a candidate not yet placed, 0 = not one (or placed).
        let mut open = vec![0u8; max_id as usize + 1];
        // Every item of the project is of the set's kind (an image project): no need to list
        // them, the active model's predictions name them (checked by the count below).
        let single_kind = other_kinds == 0 && order.is_some();
        if single_kind {
            open.fill(1);
        } else {
            for id in self.db().column::<i64>(
                "SELECT id FROM items WHERE kind = ?1 ORDER BY id",
                &[&target],
            )? {
                if let Some(o) = usize::try_from(id).ok().and_then(|i| open.get_mut(i)) {
                    *o = 1;
                }
            }
        }
        let mut closed = 0i64;
        let mut close = |id: i64| {
            if let Some(o) = usize::try_from(id).ok().and_then(|i| open.get_mut(i)) {
                closed += i64::from(*o);
                *o = 0;
            }
        };
        for id in self.db().column::<i64>(
            "SELECT id FROM items WHERE kind = ?1 AND error IS NOT NULL",
            &[&target],
        )? {
            close(id);
        }
        for id in self.db().column::<i64>(
            "SELECT item_id FROM item_labels WHERE label_set_id = ?1",
            &[&set_id],
        )? {
            close(id);
        }
        let mut out = Vec::new();
        match (order, active) {
            (Some(order), Some(model)) => {
                // Candidates: the items of the kind, less those in error or labelled.
                let count = if single_kind {
                    n_kind - closed
                } else {
                    open.iter().map(|&o| i64::from(o)).sum()
                };
                out.reserve(count.max(0) as usize);
                self.db().for_each_row(
                    &format!(
                        "SELECT item_id FROM predictions WHERE label_set_id = ?1 AND model_id = ?2 \
                         ORDER BY {order}"
                    ),
                    &[&set_id, &model],
                    &mut |r| {
                        let id: i64 = r.get(0)?;
                        if let Some(o) = usize::try_from(id).ok().and_then(|i| open.get_mut(i)) {
                            if *o == 1 {
                                *o = 0;
                                out.push(id);
                            }
                        }
                        Ok(())
                    },
                )?;
                if out.len() as i64 != count {
                    return Ok(None); // someone's shown prediction is not the active model's
                }
            }
            _ => out.extend(
                open.iter()
                    .enumerate()
                    .filter(|(_, &o)| o == 1)
                    .map(|(id, _)| id as i64),
            ),
        }
        Ok(Some(out))
    }
}

impl Store {
    /// Unlabelled items per predicted label, and those at or above `min_score`, by label.
    pub fn confident_counts(&self, set: &str, min_score: f64) -> Result<Vec<ConfidentCount>> {
        let set_id = self.label_set_id(set)?;
        let target: String = self
            .db()
            .one("SELECT target FROM label_sets WHERE id = ?1", &[&set_id])?;
        let active: Option<i64> = self.active_model(set)?.map(|m| m.id);
        self.db().query(
            &format!(
                "SELECT p.label, SUM(CASE WHEN p.score >= ?4 THEN 1 ELSE 0 END), COUNT(*),
                        CAST(MAX(p.score) * 1000000 AS BIGINT),
                        CAST(SUM(CASE WHEN p.score >= ?4 THEN 1.0 - p.score ELSE 0.0 END) * 1000000 AS BIGINT)
                 FROM items i {SHOWN_PREDICTION}
                 WHERE i.kind = ?1 AND i.error IS NULL AND l.item_id IS NULL AND p.label IS NOT NULL
                 GROUP BY p.label ORDER BY p.label"
            ),
            &[&target, &set_id, &active, &min_score],
            |r| {
                Ok(ConfidentCount {
                    label: r.get(0)?,
                    confident: r.get(1)?,
                    predicted: r.get(2)?,
                    best_ppm: r.get(3)?,
                    expected_wrong_ppm: r.get(4)?,
                })
            },
        )
    }
}

fn row(r: &Row) -> Result<Candidate> {
    Ok(Candidate {
        item_id: r.get(0)?,
        score: r.get(1)?,
        margin: r.get(2)?,
    })
}
