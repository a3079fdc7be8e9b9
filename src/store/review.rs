//! Numbers the review screen shows: progress of a label set (labelled / total) and one
//! annotator's decisions since a moment (today), with their accept rate.

use super::db::Exec;
use super::{Result, Store};

/// Progress of one label set as one annotator sees it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReviewStats {
    /// Items the set applies to (images, or fields, or pages), without read errors.
    pub total: i64,
    /// Of those, items with a current human label.
    pub labeled: i64,
    /// Label-setting decisions (accept + correct) of the annotator since `since`.
    pub today: i64,
    /// The annotator's accepts since `since`.
    pub accepts: i64,
    /// The annotator's corrections since `since`.
    pub corrects: i64,
}

impl ReviewStats {
    /// Share of decisions that confirmed the machine (None before the first decision).
    pub fn accept_rate(&self) -> Option<f64> {
        let n = self.accepts + self.corrects;
        (n > 0).then(|| self.accepts as f64 / n as f64)
    }
}

impl Store {
    /// Progress of `set` and `annotator`'s decisions since `since` (an RFC 3339 UTC time,
    /// compared as text like every timestamp in the store). Undone decisions do not count.
    pub fn review_stats(&self, set: &str, annotator: &str, since: &str) -> Result<ReviewStats> {
        let set_id = self.label_set_id(set)?;
        let target: String = self
            .db()
            .one("SELECT target FROM label_sets WHERE id = ?1", &[&set_id])?;
        let (total, labeled): (i64, i64) = self.db().query_row(
            "SELECT COUNT(*),
                    (SELECT COUNT(*) FROM item_labels l JOIN items i ON i.id = l.item_id
                      WHERE i.kind = ?1 AND l.label_set_id = ?2)
             FROM items WHERE kind = ?1 AND error IS NULL",
            &[&target, &set_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (accepts, corrects): (i64, i64) = self.db().query_row(
            "SELECT COALESCE(SUM(CASE WHEN d.action = 'accept' THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN d.action = 'correct' THEN 1 ELSE 0 END), 0)
             FROM decisions d
             WHERE d.label_set_id = ?1 AND d.annotator = ?2 AND d.decided_at >= ?3
               AND d.action IN ('accept', 'correct')
               AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')",
            &[&set_id, &annotator, &since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(ReviewStats {
            total,
            labeled,
            today: accepts + corrects,
            accepts,
            corrects,
        })
    }
}
