//! Human decisions: appended history, never updated or deleted (triggers refuse it on both
//! backends). `item_labels` holds the current label per item and label set, maintained by a
//! trigger in the same transaction (migration 0004: reviews win, overlap items take the
//! majority of their annotators).
//!
//! Undo appends an `undo` row that supersedes the decision it cancels and restores the label
//! the item had before; redo appends a fresh copy of the undone decision. Both work across
//! items and sessions because the history is in the database.

use super::db::{Exec, Row, Tx};
use super::{now, Result, Store, StoreError};
use crate::domain::{Action, Decision, NewDecision};

const COLS: &str =
    "d.id, d.item_id, s.name, d.label, d.annotator, d.action, d.ms_spent, d.decided_at, \
                    d.prediction_id, d.supersedes";

fn row_to_decision(r: &Row) -> Result<Decision> {
    let action: String = r.get(5)?;
    Ok(Decision {
        id: r.get(0)?,
        item_id: r.get(1)?,
        label_set: r.get(2)?,
        label: r.get(3)?,
        annotator: r.get(4)?,
        action: Action::parse(&action).unwrap_or(Action::Skip),
        ms_spent: r.get(6)?,
        decided_at: r.get(7)?,
        prediction_id: r.get(8)?,
        supersedes: r.get(9)?,
    })
}

/// After an undo: the current label follows by itself (a trigger on `decisions` maintains
/// `item_labels`, on the server for team projects). Here the claim side: when the undone
/// decision was the annotator's answer and they have none left on the item, their claim goes,
/// so the item is open again (to them, and to the team when it needs more answers).
fn after_undo(tx: &Tx<'_>, undone: &Decision, set_id: i64) -> Result<()> {
    if undone.action == Action::Review {
        return super::leases::reviewed_tx(tx, undone.item_id, set_id, &undone.annotator, -1);
    }
    if !undone.action.answers() {
        return Ok(());
    }
    let still: bool = tx.one(
        "SELECT EXISTS(SELECT 1 FROM decisions d WHERE d.item_id = ?1 AND d.label_set_id = ?2 AND d.annotator = ?3
             AND d.action IN ('accept', 'correct', 'flag')
             AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo'))",
        &[&undone.item_id, &set_id, &undone.annotator],
    )?;
    if !still {
        super::leases::unclaim_tx(tx, undone.item_id, &undone.annotator)?;
    }
    Ok(())
}

fn insert_decision(
    tx: &Tx<'_>,
    set_id: i64,
    d: &NewDecision,
    supersedes: Option<i64>,
    client_id: Option<&str>,
    decided_at: Option<&str>,
) -> Result<i64> {
    // The claim first: it writes the item's lease row, which serializes this decision with
    // any lease of the item and refuses it when someone else holds the item now.
    if d.action.answers() {
        super::leases::claim_answered_tx(tx, d.item_id, set_id, &d.annotator)?;
    } else if matches!(d.action, Action::Skip | Action::Reject) {
        // A skip or reject gives the item back to the team.
        super::leases::give_back_tx(tx, d.item_id, &d.annotator)?;
    } else if d.action == Action::Review {
        super::leases::reviewed_tx(tx, d.item_id, set_id, &d.annotator, 1)?;
    }
    let id = tx.one(
        "INSERT INTO decisions (item_id, label_set_id, label, annotator, action, ms_spent, decided_at, prediction_id, supersedes, client_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        &[
            &d.item_id,
            &set_id,
            &d.label,
            &d.annotator,
            &d.action.as_str(),
            &d.ms_spent.max(0),
            &decided_at.map(str::to_string).unwrap_or_else(now),
            &d.prediction_id,
            &supersedes,
            &client_id,
        ],
    )?;
    Ok(id)
}

impl Store {
    /// Record one decision in its own durable transaction. When this returns `Ok`, the
    /// decision is on disk (WAL + synchronous=FULL) and may be reported as saved.
    pub fn record_decision(&mut self, d: &NewDecision) -> Result<i64> {
        self.record_decisions(std::slice::from_ref(d))
            .map(|ids| ids[0])
    }

    /// Record several decisions in one transaction (bulk accept, imports): all or none.
    pub fn record_decisions(&mut self, ds: &[NewDecision]) -> Result<Vec<i64>> {
        let none = vec![None; ds.len()];
        self.record_decisions_with_ids(ds, &none, &none)
    }

    /// Record decisions made in another tool (imports): each with the time it was made there
    /// (`times`, RFC 3339 UTC; None: now) and that tool's id of it (`client_ids`: sending the
    /// same id again records nothing). One transaction.
    pub fn record_imported_decisions(
        &mut self,
        ds: &[NewDecision],
        times: &[Option<String>],
        client_ids: &[Option<String>],
    ) -> Result<Vec<i64>> {
        if times.len() != ds.len() || client_ids.len() != ds.len() {
            return Err(StoreError::Invalid(
                "one time and one client id per imported decision".into(),
            ));
        }
        self.record_decisions_with_ids(ds, client_ids, times)
    }

    /// The client id of the decision that set an item's current label, if it has one.
    pub fn current_label_client_id(&self, item_id: i64, set: &str) -> Result<Option<String>> {
        let set_id = self.label_set_id(set)?;
        Ok(self
            .db()
            .query_opt(
                "SELECT d.client_id FROM item_labels l JOIN decisions d ON d.id = l.decision_id
                 WHERE l.item_id = ?1 AND l.label_set_id = ?2",
                &[&item_id, &set_id],
                |r| r.get::<Option<String>>(0),
            )?
            .flatten())
    }

    /// Record a decision under a client-chosen id (a UUID): sending the same id again records
    /// nothing and returns the id of the decision already stored, so an outbox that never saw
    /// the acknowledgement can resend safely (exactly once).
    pub fn record_decision_once(&mut self, d: &NewDecision, client_id: &str) -> Result<i64> {
        self.record_decisions_with_ids(
            std::slice::from_ref(d),
            &[Some(client_id.to_string())],
            &[None],
        )
        .map(|ids| ids[0])
    }

    /// The decision stored under a client id, if any.
    pub fn decision_by_client_id(&self, client_id: &str) -> Result<Option<i64>> {
        self.db().query_opt(
            "SELECT id FROM decisions WHERE client_id = ?1",
            &[&client_id],
            |r| r.get(0),
        )
    }

    fn record_decisions_with_ids(
        &mut self,
        ds: &[NewDecision],
        client_ids: &[Option<String>],
        times: &[Option<String>],
    ) -> Result<Vec<i64>> {
        if ds.is_empty() {
            return Ok(vec![]);
        }
        let mut checked = Vec::with_capacity(ds.len());
        for d in ds {
            let set_id = self.label_set_id(&d.label_set)?;
            if d.action == Action::Undo {
                return Err(StoreError::Invalid(
                    "use Store::undo to undo a decision".into(),
                ));
            }
            if d.action.sets_label() {
                let Some(label) = &d.label else {
                    return Err(StoreError::Invalid(format!(
                        "a decision with action {} needs a label",
                        d.action.as_str()
                    )));
                };
                // An object image's own decision says "its boxes are as decided" (the boxes
                // carry the labels).
                let image_done =
                    d.label_set == crate::domain::sets::OBJECT && label == super::boxes::IMAGE_DONE;
                if !image_done && !self.has_label(&d.label_set, label)? {
                    return Err(StoreError::UnknownLabel {
                        set: d.label_set.clone(),
                        label: label.clone(),
                    });
                }
            }
            checked.push(set_id);
        }
        self.write(|tx| {
            let mut ids = Vec::with_capacity(ds.len());
            for (((d, set_id), cid), at) in ds.iter().zip(checked).zip(client_ids).zip(times) {
                if let Some(cid) = cid {
                    let seen: Option<i64> = tx.query_opt(
                        "SELECT id FROM decisions WHERE client_id = ?1",
                        &[cid],
                        |r| r.get(0),
                    )?;
                    if let Some(id) = seen {
                        ids.push(id);
                        continue;
                    }
                }
                let exists: bool = tx.one(
                    "SELECT EXISTS(SELECT 1 FROM items WHERE id = ?1)",
                    &[&d.item_id],
                )?;
                if !exists {
                    return Err(StoreError::UnknownItem(d.item_id));
                }
                ids.push(insert_decision(
                    tx,
                    set_id,
                    d,
                    None,
                    cid.as_deref(),
                    at.as_deref(),
                )?);
            }
            Ok(ids)
        })
    }

    /// Undo the newest not-yet-undone decision of `annotator` (any item, any session).
    /// Returns the undone decision.
    pub fn undo(&mut self, annotator: &str) -> Result<Decision> {
        let target: Option<i64> = self.db().query_opt(
                "SELECT d.id FROM decisions d
                 WHERE d.annotator = ?1 AND d.action != 'undo'
                   AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.supersedes = d.id AND u.action = 'undo')
                 ORDER BY d.id DESC LIMIT 1",
                &[&annotator],
                |r| r.get(0),
            )?;
        let target = target.ok_or(StoreError::NothingTo("undo"))?;
        self.undo_decision(target, annotator)
    }

    /// Undo a specific decision.
    pub fn undo_decision(&mut self, decision_id: i64, annotator: &str) -> Result<Decision> {
        let d = self
            .decision(decision_id)?
            .ok_or(StoreError::NothingTo("undo"))?;
        if d.action == Action::Undo {
            return Err(StoreError::Invalid(
                "an undo cannot be undone; use redo".into(),
            ));
        }
        let set_id = self.label_set_id(&d.label_set)?;
        self.write(|tx| {
            let already: bool = tx.one(
                "SELECT EXISTS(SELECT 1 FROM decisions WHERE supersedes = ?1 AND action = 'undo')",
                &[&decision_id],
            )?;
            if already {
                return Err(StoreError::NothingTo("undo"));
            }
            let undo = NewDecision {
                item_id: d.item_id,
                label_set: d.label_set.clone(),
                label: d.label.clone(),
                annotator: annotator.to_string(),
                action: Action::Undo,
                ms_spent: 0,
                prediction_id: None,
            };
            insert_decision(tx, set_id, &undo, Some(decision_id), None, None)?;
            after_undo(tx, &d, set_id)
        })?;
        Ok(d)
    }

    /// Redo the decision most recently undone by `annotator`, if nothing was decided by them
    /// since (a new decision truncates the redo tail, as in every editor). Returns the new row.
    pub fn redo(&mut self, annotator: &str) -> Result<Decision> {
        let last: Option<(String, Option<i64>)> = self.db().query_opt(
            "SELECT action, supersedes FROM decisions WHERE annotator = ?1 ORDER BY id DESC LIMIT 1",
            &[&annotator],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let target = match last {
            Some((a, Some(t))) if a == "undo" => t,
            _ => return Err(StoreError::NothingTo("redo")),
        };
        let d = self
            .decision(target)?
            .ok_or(StoreError::NothingTo("redo"))?;
        let copy = NewDecision {
            item_id: d.item_id,
            label_set: d.label_set.clone(),
            label: d.label.clone(),
            annotator: annotator.to_string(),
            action: d.action,
            ms_spent: d.ms_spent,
            prediction_id: d.prediction_id,
        };
        let set_id = self.label_set_id(&d.label_set)?;
        let id = self.write(|tx| insert_decision(tx, set_id, &copy, None, None, None))?;
        self.decision(id)?.ok_or(StoreError::NothingTo("redo"))
    }

    pub fn decision(&self, id: i64) -> Result<Option<Decision>> {
        self.db().query_opt(
            &format!("SELECT {COLS} FROM decisions d JOIN label_sets s ON s.id = d.label_set_id WHERE d.id = ?1"),
            &[&id],
            row_to_decision,
        )
    }

    /// Full history of an item, oldest first.
    pub fn decisions_for_item(&self, item_id: i64) -> Result<Vec<Decision>> {
        self.db().query(
            &format!("SELECT {COLS} FROM decisions d JOIN label_sets s ON s.id = d.label_set_id WHERE d.item_id = ?1 ORDER BY d.id"),
            &[&item_id],
            row_to_decision,
        )
    }

    /// All decisions, oldest first (for insights and audits).
    pub fn all_decisions(&self) -> Result<Vec<Decision>> {
        self.db().query(
            &format!("SELECT {COLS} FROM decisions d JOIN label_sets s ON s.id = d.label_set_id ORDER BY d.id"),
            &[],
            row_to_decision,
        )
    }

    /// Current human label of an item in a set.
    pub fn current_label(&self, item_id: i64, set: &str) -> Result<Option<String>> {
        let set_id = self.label_set_id(set)?;
        self.db().query_opt(
            "SELECT label FROM item_labels WHERE item_id = ?1 AND label_set_id = ?2",
            &[&item_id, &set_id],
            |r| r.get(0),
        )
    }

    /// All current human labels of a set: (item id, label), by item id.
    pub fn current_labels(&self, set: &str) -> Result<Vec<(i64, String)>> {
        let set_id = self.label_set_id(set)?;
        self.db().query(
            "SELECT item_id, label FROM item_labels WHERE label_set_id = ?1 ORDER BY item_id",
            &[&set_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Number of decisions recorded (all actions, undo rows included).
    pub fn decision_count(&self) -> Result<i64> {
        self.db().one("SELECT COUNT(*) FROM decisions", &[])
    }
}
