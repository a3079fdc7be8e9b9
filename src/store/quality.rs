//! Team quality control in the store: the overlap setting (N annotators for a share of the
//! items), gold items (the lead's known answers, mixed into every annotator's queue), and
//! every annotator's current answer per item (what agreement is computed from).
//!
//! Which items overlap is a fixed function of the item id (the `item_need` view, a hash), so
//! items imported later take part and every backend agrees without storing a list.

use super::db::{Backend, Exec};
use super::{now, Result, Store, StoreError};
use crate::domain::NewDecision;

/// Project settings.
pub const OVERLAP_FRACTION: &str = "overlap_fraction";
pub const OVERLAP_ANNOTATORS: &str = "overlap_annotators";
pub const GOLD_RATE: &str = "gold_rate";
pub const GOLD_THRESHOLD: &str = "gold_threshold";
/// Share of an annotator's queue that is gold checks, unless the project says otherwise.
pub const DEFAULT_GOLD_RATE: f64 = 0.05;
/// Gold accuracy under which an annotator is flagged to the lead.
pub const DEFAULT_GOLD_THRESHOLD: f64 = 0.8;

/// "N annotators for a fraction F of the items" (`0.1x3`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Overlap {
    pub fraction: f64,
    pub annotators: i64,
}

impl Overlap {
    /// Parse `FxN` (`0.1x3`, `10%x3`).
    pub fn parse(s: &str) -> std::result::Result<Overlap, String> {
        let bad = || {
            format!("--overlap {s:?}: expected FRACTIONxN, e.g. 0.1x3 (10 % of the items, 3 annotators each)")
        };
        let (f, n) = s.trim().split_once(['x', 'X', '×']).ok_or_else(bad)?;
        let f = f.trim();
        let fraction: f64 = match f.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
            None => f.parse().map_err(|_| bad())?,
        };
        let annotators: i64 = n.trim().parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(format!(
                "--overlap {s:?}: the fraction must be between 0 and 1"
            ));
        }
        if annotators < 2 && fraction > 0.0 {
            return Err(format!(
                "--overlap {s:?}: overlap items need at least 2 annotators"
            ));
        }
        Ok(Overlap {
            fraction,
            annotators,
        })
    }
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} % of the items × {} annotators",
            self.fraction * 100.0,
            self.annotators
        )
    }
}

/// One annotator's current answer on an item (a flag has no label).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Annotation {
    pub decision_id: i64,
    pub item_id: i64,
    pub annotator: String,
    pub label: Option<String>,
    pub flagged: bool,
}

impl Store {
    /// The project's overlap setting (None: every item is labelled once).
    pub fn overlap(&self) -> Result<Option<Overlap>> {
        let f = self.setting(OVERLAP_FRACTION)?.and_then(|v| v.as_f64());
        let n = self.setting(OVERLAP_ANNOTATORS)?.and_then(|v| v.as_i64());
        Ok(match (f, n) {
            (Some(fraction), Some(annotators)) if fraction > 0.0 && annotators > 1 => {
                Some(Overlap {
                    fraction,
                    annotators,
                })
            }
            _ => None,
        })
    }

    /// Set (or with a zero fraction, end) the overlap: it applies to the items not yet
    /// answered by enough annotators, from the next lease on.
    pub fn set_overlap(&self, o: Overlap) -> Result<()> {
        self.set_setting(OVERLAP_FRACTION, serde_json::json!(o.fraction))?;
        self.set_setting(OVERLAP_ANNOTATORS, serde_json::json!(o.annotators))
    }

    /// Items that need more than one annotator, with how many.
    pub fn overlap_items(&self) -> Result<Vec<(i64, i64)>> {
        self.db().query(
            "SELECT item_id, need FROM item_need WHERE need > 1 ORDER BY item_id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn setting_f64(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self
            .setting(key)?
            .and_then(|v| v.as_f64())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .unwrap_or(default))
    }

    /// Share of an annotator's queue that is gold checks.
    pub fn gold_rate(&self) -> Result<f64> {
        self.setting_f64(GOLD_RATE, DEFAULT_GOLD_RATE)
    }

    /// Gold accuracy under which an annotator is flagged to the lead.
    pub fn gold_threshold(&self) -> Result<f64> {
        self.setting_f64(GOLD_THRESHOLD, DEFAULT_GOLD_THRESHOLD)
    }

    /// Mark items as gold with their known label (the lead's answer): stored in `gold`, and
    /// recorded as the lead's review decision, so the item's final label is the known one.
    /// Items already gold get the new answer. Returns how many were marked.
    pub fn add_gold(&mut self, set: &str, answers: &[(i64, String)], lead: &str) -> Result<usize> {
        let set_id = self.label_set_id(set)?;
        for (_, label) in answers {
            if !self.has_label(set, label)? {
                return Err(StoreError::UnknownLabel {
                    set: set.to_string(),
                    label: label.clone(),
                });
            }
        }
        let decisions: Vec<NewDecision> = answers
            .iter()
            .map(|(item_id, label)| NewDecision::review(*item_id, set, label, lead))
            .collect();
        let when = now();
        self.write(|tx| {
            for (item_id, label) in answers {
                tx.execute(
                    "INSERT INTO gold (item_id, label_set_id, label, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (item_id, label_set_id) DO UPDATE SET label = excluded.label,
                        added_by = excluded.added_by, added_at = excluded.added_at",
                    &[item_id, &set_id, label, &lead, &when],
                )?;
            }
            Ok(())
        })?;
        self.record_decisions(&decisions)?;
        self.gold_seen.set(None);
        Ok(answers.len())
    }

    /// Stop using items as gold checks (their review decisions stay in the history).
    pub fn remove_gold(&self, set: &str, items: &[i64]) -> Result<usize> {
        let set_id = self.label_set_id(set)?;
        self.gold_seen.set(None);
        let mut n = 0;
        for id in items {
            n += self.db().execute(
                "DELETE FROM gold WHERE item_id = ?1 AND label_set_id = ?2",
                &[id, &set_id],
            )? as usize;
        }
        Ok(n)
    }

    /// The gold answers of a set (leads only: annotators of a team project are refused).
    pub fn gold(&self, set: &str) -> Result<Vec<(i64, String)>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT item_id, label FROM gold WHERE label_set_id = ?1 ORDER BY item_id",
            &[&set_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Gold items of a set `annotator` has not answered yet (ids only: what their queue mixes
    /// in; an annotator of a team project can ask this, never for the answers).
    pub fn gold_open(&self, set: &str, annotator: &str) -> Result<Vec<i64>> {
        let set_id = self.label_set_id(set)?;
        let sql = format!(
            "SELECT o.id FROM {} o ORDER BY o.id",
            open_gold_sql(self.backend(), "?1", "?2")
        );
        self.db().column(&sql, &[&set_id, &annotator])
    }

    /// The gold check `annotator` should get next, if one is due: their gold answers would
    /// fall under the project's rate of their answers otherwise. Counted from their own
    /// answers, so the rate holds however many items the rest of the team takes from the
    /// shared queue. Each annotator meets the open gold items in an order of their own.
    pub fn gold_due(&self, set: &str, annotator: &str) -> Result<Option<i64>> {
        // One round trip (it runs after every answer): the open gold ids, this annotator's
        // answers and gold answers so far, and the rate.
        let set_id = self.label_set_id(set)?;
        if !self.has_gold_cached(set_id)? {
            return Ok(None);
        }
        let b = self.backend();
        let gold = super::leases::gold_sql(b, "x.item_id", "?2");
        let ids = match b {
            Backend::Postgres => "string_agg(o.id::text, ',')",
            Backend::Sqlite => "group_concat(o.id)",
        };
        let open = format!("SELECT {ids} FROM {} o", open_gold_sql(b, "?2", "?1"));
        let (open, answers, checks): (Option<String>, i64, i64) = self.db().query_row(
            &format!(
                "SELECT ({open}),
                        (SELECT COUNT(*) FROM claims x WHERE x.annotator = ?1 AND x.label_set_id = ?2),
                        (SELECT COALESCE(SUM(CASE WHEN {gold} THEN 1 ELSE 0 END), 0) FROM claims x
                          WHERE x.annotator = ?1 AND x.label_set_id = ?2)"
            ),
            &[&annotator, &set_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let Some(open) = open.filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        let rate = self.gold_rate()?;
        // One check per 1/rate answers, the first after a stretch of regular work (never the
        // very first item, which would give it away).
        if rate <= 0.0 || checks as f64 >= (rate * (answers + 1) as f64).floor() {
            return Ok(None);
        }
        let key = |id: &i64| {
            annotator
                .bytes()
                .chain(id.to_le_bytes())
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
                })
        };
        Ok(open
            .split(',')
            .filter_map(|x| x.parse::<i64>().ok())
            .min_by_key(key))
    }

    /// Every annotator's current answer in a set (one per annotator and item), by item.
    pub fn annotations(&self, set: &str) -> Result<Vec<Annotation>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT id, item_id, annotator, label, action FROM annotations WHERE label_set_id = ?1
             ORDER BY item_id, id",
            &[&set_id],
            row_to_annotation,
        )
    }

    /// `annotator`'s own current label of an item (what their queue shows them: never the
    /// others' answers or a gold answer).
    pub fn my_answer(&self, item_id: i64, set: &str, annotator: &str) -> Result<Option<String>> {
        let set_id = self.label_set_id(set)?;
        Ok(self
            .db()
            .query_opt(
                "SELECT d.label FROM decisions d
                 WHERE d.item_id = ?1 AND d.label_set_id = ?2 AND d.annotator = ?3
                   AND d.action IN ('accept', 'correct', 'flag')
                   AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
                 ORDER BY d.id DESC LIMIT 1",
                &[&item_id, &set_id, &annotator],
                |r| r.get::<Option<String>>(0),
            )?
            .flatten())
    }

    /// The current answers on one item (the review screen shows them to the lead).
    pub fn annotations_of_item(&self, item_id: i64, set: &str) -> Result<Vec<Annotation>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT id, item_id, annotator, label, action FROM annotations
             WHERE item_id = ?1 AND label_set_id = ?2 ORDER BY id",
            &[&item_id, &set_id],
            row_to_annotation,
        )
    }
}

impl Store {
    /// Whether label set `set_id` has gold items, read at most every `GOLD_RECHECK` per
    /// connection (most projects have none; gold added by the lead shows up within that).
    fn has_gold_cached(&self, set_id: i64) -> Result<bool> {
        if let Some((at, sid, has)) = self.gold_seen.get() {
            if sid == set_id && at.elapsed() < GOLD_RECHECK {
                return Ok(has);
            }
        }
        let sql = match self.backend() {
            Backend::Postgres => "SELECT EXISTS (SELECT 1 FROM yuxuan_gold_items(?1))",
            Backend::Sqlite => "SELECT EXISTS (SELECT 1 FROM gold WHERE label_set_id = ?1)",
        };
        let has: bool = self.db().one(sql, &[&set_id])?;
        self.gold_seen
            .set(Some((std::time::Instant::now(), set_id, has)));
        Ok(has)
    }
}

/// How long a connection trusts its answer to "does this set have gold items?".
const GOLD_RECHECK: std::time::Duration = std::time::Duration::from_secs(20);

/// SQL: the gold items of set `set` annotator `ann` has not answered, as a subquery with one
/// column `id` (on PostgreSQL a server function: ids only, the answers stay closed).
fn open_gold_sql(b: Backend, set: &str, ann: &str) -> String {
    match b {
        Backend::Postgres => format!("(SELECT g AS id FROM yuxuan_gold_open({set}, {ann}) g)"),
        Backend::Sqlite => format!(
            "(SELECT g.item_id AS id FROM gold g WHERE g.label_set_id = {set}
               AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = g.item_id AND c.annotator = {ann}))"
        ),
    }
}

fn row_to_annotation(r: &super::db::Row) -> Result<Annotation> {
    let action: String = r.get(4)?;
    Ok(Annotation {
        decision_id: r.get(0)?,
        item_id: r.get(1)?,
        annotator: r.get(2)?,
        label: r.get(3)?,
        flagged: action == "flag",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_parses() {
        assert_eq!(
            Overlap::parse("0.1x3").unwrap(),
            Overlap {
                fraction: 0.1,
                annotators: 3
            }
        );
        assert_eq!(Overlap::parse("25%x2").unwrap().fraction, 0.25);
        assert!(Overlap::parse("1.5x3").is_err());
        assert!(Overlap::parse("0.1x1").is_err());
        assert!(Overlap::parse("0.1").is_err());
    }
}
