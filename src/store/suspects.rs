//! Suspect-label runs: what `ml::suspects` found, kept for the review queue ("Suspect
//! labels"), Insights and `yuxuan suspects --list`. A run replaces nothing: the newest run of a
//! label set is the one shown; each suspect carries the decision whose label was checked, so
//! it leaves the queue as soon as that label is reviewed, corrected or undone.

use super::db::Exec;
use super::{now, Result, Store};

/// One label found suspect.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuspectRow {
    pub item_id: i64,
    /// 1 = the most likely wrong.
    pub rank: i64,
    pub given: String,
    pub suggested: String,
    /// The out-of-fold probability of the given label (its label-quality score).
    pub score: f64,
    /// The out-of-fold probability of the suggested label.
    pub suggested_score: f64,
    /// The decision that set the checked label.
    pub decision_id: i64,
}

/// A run of the finder.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspectRun {
    pub id: i64,
    pub label_set: String,
    pub params: serde_json::Value,
    pub summary: serde_json::Value,
    pub created_at: String,
}

/// A current label, the decision that set it and who made that decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelOrigin {
    pub item_id: i64,
    pub label: String,
    pub decision_id: i64,
    pub annotator: String,
}

impl Store {
    /// The current labels of `set` with their deciding decision and its annotator, by item.
    pub fn label_origins(&self, set: &str) -> Result<Vec<LabelOrigin>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT l.item_id, l.label, l.decision_id, d.annotator FROM item_labels l
             JOIN decisions d ON d.id = l.decision_id
             WHERE l.label_set_id = ?1 ORDER BY l.item_id",
            &[&set_id],
            |r| {
                Ok(LabelOrigin {
                    item_id: r.get(0)?,
                    label: r.get(1)?,
                    decision_id: r.get(2)?,
                    annotator: r.get(3)?,
                })
            },
        )
    }

    /// Record a run and its suspects in one transaction; returns the run's id.
    pub fn save_suspect_run(
        &mut self,
        set: &str,
        params: &serde_json::Value,
        summary: &serde_json::Value,
        rows: &[SuspectRow],
    ) -> Result<i64> {
        let set_id = self.label_set_id(set)?;
        self.write(|tx| {
            let id: i64 = tx.one(
                "INSERT INTO suspect_runs (label_set_id, params_json, summary_json, created_at)
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
                &[&set_id, &params.to_string(), &summary.to_string(), &now()],
            )?;
            for r in rows {
                tx.execute(
                    "INSERT INTO suspects (run_id, item_id, rank, given, suggested, score, suggested_score, decision_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    &[
                        &id,
                        &r.item_id,
                        &r.rank,
                        &r.given,
                        &r.suggested,
                        &r.score,
                        &r.suggested_score,
                        &r.decision_id,
                    ],
                )?;
            }
            Ok(id)
        })
    }

    /// The newest run of `set`, if the finder ever ran.
    pub fn latest_suspect_run(&self, set: &str) -> Result<Option<SuspectRun>> {
        let set_id = self.label_set_id(set)?;
        let row: Option<(i64, String, String, String)> = self.db().query_opt(
            "SELECT id, params_json, summary_json, created_at FROM suspect_runs
             WHERE label_set_id = ?1 ORDER BY id DESC LIMIT 1",
            &[&set_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        Ok(row.map(|(id, p, s, created_at)| SuspectRun {
            id,
            label_set: set.to_string(),
            params: serde_json::from_str(&p).unwrap_or_default(),
            summary: serde_json::from_str(&s).unwrap_or_default(),
            created_at,
        }))
    }

    /// The suspects of a run, by rank; `open_only`: those whose checked label is still the
    /// current one (not reviewed, corrected or undone since).
    pub fn suspects_of_run(&self, run_id: i64, open_only: bool) -> Result<Vec<SuspectRow>> {
        let filter = if open_only {
            "AND EXISTS (SELECT 1 FROM item_labels l JOIN suspect_runs r ON r.id = s.run_id
                         WHERE l.item_id = s.item_id AND l.label_set_id = r.label_set_id
                           AND l.decision_id = s.decision_id)"
        } else {
            ""
        };
        self.db().query(
            &format!(
                "SELECT item_id, rank, given, suggested, score, suggested_score, decision_id
                 FROM suspects s WHERE run_id = ?1 {filter} ORDER BY rank"
            ),
            &[&run_id],
            row_to_suspect,
        )
    }

    /// The newest run's finding about `item_id`'s label in `set`, while that label is still
    /// the one checked.
    pub fn open_suspect(&self, item_id: i64, set: &str) -> Result<Option<SuspectRow>> {
        let set_id = self.label_set_id(set)?;
        self.db().query_opt(
            "SELECT s.item_id, s.rank, s.given, s.suggested, s.score, s.suggested_score, s.decision_id
             FROM suspects s JOIN item_labels l
               ON l.item_id = s.item_id AND l.label_set_id = ?2 AND l.decision_id = s.decision_id
             WHERE s.item_id = ?1
               AND s.run_id = (SELECT MAX(r.id) FROM suspect_runs r WHERE r.label_set_id = ?2)",
            &[&item_id, &set_id],
            row_to_suspect,
        )
    }
}

fn row_to_suspect(r: &super::db::Row) -> Result<SuspectRow> {
    Ok(SuspectRow {
        item_id: r.get(0)?,
        rank: r.get(1)?,
        given: r.get(2)?,
        suggested: r.get(3)?,
        score: r.get(4)?,
        suggested_score: r.get(5)?,
        decision_id: r.get(6)?,
    })
}
