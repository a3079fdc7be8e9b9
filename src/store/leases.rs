//! Leases and claims: in a team, each annotator's next items come from the server.
//!
//! - A **lease** (one row per item) says who is looking at the item now: nobody else is given
//!   it until the lease is given back or expires (project setting `lease_minutes`, default 10),
//!   so the items of a crashed or closed app come back. The row also counts the slots the
//!   item has filled: **answers** so far (and a lead's review, which closes it).
//! - A **claim** (one row per item and annotator) says who answered it (accept, correct or
//!   flag): they are not given it again, until an undo takes their answer away.
//!
//! An item is open to an annotator when they have not answered it, nobody else holds it now,
//! and it is gold (everyone answers those) or it has fewer answers than it needs (1; N for
//! the overlap share). Every lease and every answer writes the item's lease
//! row (`INSERT … ON CONFLICT (item_id) DO UPDATE … WHERE`, re-checked on the newest row
//! version), so a lease and a decision, or two leases, are serialized by that row and an item
//! never gets more answers than it needs. One statement per lease, as in the first version,
//! with no row lock on `items` (annotators may not update items). SQLite serializes writers,
//! so the same statements in one IMMEDIATE transaction suffice. Times are the database's clock.

use std::collections::HashSet;

use super::db::{Backend, Exec};
use super::{Result, Store};

/// Project setting: lease length in minutes.
pub const LEASE_MINUTES: &str = "lease_minutes";
/// The default lease length.
pub const DEFAULT_LEASE_MINUTES: f64 = 10.0;

const NOW_MS_PG: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
const NOW_MS_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

fn now_ms_sql(b: Backend) -> &'static str {
    match b {
        Backend::Postgres => NOW_MS_PG,
        Backend::Sqlite => NOW_MS_SQLITE,
    }
}

/// SQL: whether item `item` is gold in label set `set` (annotators of a team project cannot
/// read the gold table; a server function gives the ids alone, once per statement).
pub(crate) fn gold_sql(b: Backend, item: &str, set: &str) -> String {
    match b {
        Backend::Postgres => {
            format!("({item} = ANY (ARRAY(SELECT yuxuan_gold_items({set}))))")
        }
        Backend::Sqlite => format!(
            "EXISTS (SELECT 1 FROM gold g WHERE g.item_id = {item} AND g.label_set_id = {set})"
        ),
    }
}

/// SQL: how many answers item `item` needs (the `item_need` view: overlap share or 1).
fn need_sql(item: &str) -> String {
    format!("(SELECT need FROM item_need WHERE item_id = {item})")
}

/// SQL: item `item` is free for annotator `ann`: they have not answered it and nobody else
/// holds it now.
fn free_sql(b: Backend, item: &str, ann: &str) -> String {
    let now = now_ms_sql(b);
    format!(
        "NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = {item} AND c.annotator = {ann})
         AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.item_id = {item} AND x.annotator <> {ann}
                         AND x.expires_ms > {now})"
    )
}

/// SQL: item `item` has fewer answers (and reviews) than it needs; no lease row: none yet.
fn slots_left_sql(item: &str) -> String {
    format!(
        "COALESCE((SELECT x.answers FROM leases x WHERE x.item_id = {item}), 0) < {}",
        need_sql(item)
    )
}

/// SQL: item `item` is open to annotator `ann` in set `set` (see the module doc): free for
/// them, and gold or with slots left. Scalar subqueries only (index probes per candidate, a
/// cheap plan).
pub(crate) fn open_sql(b: Backend, item: &str, set: &str, ann: &str) -> String {
    let (free, slots, gold) = (
        free_sql(b, item, ann),
        slots_left_sql(item),
        gold_sql(b, item, set),
    );
    format!("({free} AND ({slots} OR {gold}))")
}

/// SQL: a regular (not gold) item open to `ann`: their queue (gold checks come when due).
pub(crate) fn open_regular_sql(b: Backend, item: &str, set: &str, ann: &str) -> String {
    let (free, slots, gold) = (
        free_sql(b, item, ann),
        slots_left_sql(item),
        gold_sql(b, item, set),
    );
    format!("({free} AND {slots} AND NOT {gold})")
}

/// In a review's transaction (`by` = 1) or its undo's (`by` = -1): the lead's final label
/// fills the item's slots (it is not given to annotators again; gold items still are).
pub(crate) fn reviewed_tx(
    tx: &super::Tx<'_>,
    item_id: i64,
    set_id: i64,
    lead: &str,
    by: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms, answers)
         VALUES (?1, ?2, ?3, 0, CASE WHEN CAST(?4 AS BIGINT) > 0 THEN CAST(?4 AS BIGINT) ELSE 0 END)
         ON CONFLICT (item_id) DO UPDATE SET answers =
            CASE WHEN leases.answers + CAST(?4 AS BIGINT) < 0 THEN 0 ELSE leases.answers + CAST(?4 AS BIGINT) END",
        &[&item_id, &set_id, &lead, &by],
    )?;
    Ok(())
}

/// In a decision's transaction: `annotator` answered the item. Refused (`Conflict`) when
/// someone else holds it now: their lease was taken after this annotator's expired, so the
/// item is theirs. Otherwise the lease is given back, the answer counted on the item's lease
/// row (once per annotator) and the claim recorded.
pub(crate) fn claim_answered_tx(
    tx: &super::Tx<'_>,
    item_id: i64,
    set_id: i64,
    annotator: &str,
) -> Result<()> {
    let b = tx.backend();
    let now = now_ms_sql(b);
    let new_answer =
        "CASE WHEN EXISTS (SELECT 1 FROM claims c WHERE c.item_id = ?1 AND c.annotator = ?3) THEN 0 ELSE 1 END";
    let upsert = format!(
        "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms, answers)
         VALUES (?1, ?2, ?3, 0, {new_answer})
         ON CONFLICT (item_id) DO UPDATE
            SET annotator = excluded.annotator, label_set_id = excluded.label_set_id,
                expires_ms = 0, answers = leases.answers + {new_answer}
            WHERE leases.annotator = excluded.annotator OR leases.expires_ms <= {now}
         RETURNING item_id"
    );
    let claim = "INSERT INTO claims (item_id, label_set_id, annotator)";
    let took: Option<i64> = match b {
        // One round trip: the claim rides along when the lease row was taken.
        Backend::Postgres => tx.query_opt(
            &format!(
                "WITH took AS ({upsert}), c AS (
                    {claim} SELECT item_id, ?2, ?3 FROM took ON CONFLICT (item_id, annotator) DO NOTHING
                 )
                 SELECT item_id FROM took"
            ),
            &[&item_id, &set_id, &annotator],
            |r| r.get(0),
        )?,
        Backend::Sqlite => {
            let took = tx.query_opt(&upsert, &[&item_id, &set_id, &annotator], |r| r.get(0))?;
            if took.is_some() {
                tx.execute(
                    &format!("{claim} VALUES (?1, ?2, ?3) ON CONFLICT (item_id, annotator) DO NOTHING"),
                    &[&item_id, &set_id, &annotator],
                )?;
            }
            took
        }
    };
    if took.is_none() {
        let holder: Option<String> = tx.query_opt(
            "SELECT annotator FROM leases WHERE item_id = ?1",
            &[&item_id],
            |r| r.get(0),
        )?;
        return Err(super::StoreError::Conflict(format!(
            "item {item_id} is leased to {} now (this lease had expired); the decision was not recorded",
            holder.unwrap_or_default()
        )));
    }
    Ok(())
}

/// In an undo's transaction: `annotator` has no answer on the item any more; their claim goes
/// and the item's answer count with it, so it is open again.
pub(crate) fn unclaim_tx(tx: &super::Tx<'_>, item_id: i64, annotator: &str) -> Result<()> {
    let gone = tx.execute(
        "DELETE FROM claims WHERE item_id = ?1 AND annotator = ?2",
        &[&item_id, &annotator],
    )?;
    if gone > 0 {
        tx.execute(
            "UPDATE leases SET answers = answers - 1 WHERE item_id = ?1 AND answers > 0",
            &[&item_id],
        )?;
    }
    Ok(())
}

/// In a skip's or reject's transaction: the annotator gives the item back to the team.
pub(crate) fn give_back_tx(tx: &super::Tx<'_>, item_id: i64, annotator: &str) -> Result<()> {
    tx.execute(
        "UPDATE leases SET expires_ms = 0 WHERE item_id = ?1 AND annotator = ?2",
        &[&item_id, &annotator],
    )?;
    Ok(())
}

/// Labelled items of a set: mine (this annotator's decisions) and the team's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TeamProgress {
    pub mine: i64,
    pub team: i64,
    pub total: i64,
}

impl Store {
    /// The project's lease length in milliseconds.
    pub fn lease_ms(&self) -> Result<i64> {
        let min = self
            .setting(LEASE_MINUTES)?
            .and_then(|v| v.as_f64())
            .filter(|m| *m > 0.0)
            .unwrap_or(DEFAULT_LEASE_MINUTES);
        Ok((min * 60_000.0).round().max(1.0) as i64)
    }

    /// Lease up to `n` of `candidates` (tried in order) to `annotator` in label set `set`:
    /// items open to them, or already theirs (renewed). Returns the leased ids in candidate
    /// order.
    pub fn lease_items(
        &mut self,
        set: &str,
        annotator: &str,
        candidates: &[i64],
        n: usize,
    ) -> Result<Vec<i64>> {
        if n == 0 || candidates.is_empty() {
            return Ok(vec![]);
        }
        let set_id = self.label_set_id(set)?;
        let ttl = self.lease_ms()?;
        let backend = self.backend();
        let now = now_ms_sql(backend);
        // Taking an existing row re-checks, on its newest version, that nobody else holds it
        // now and that its answers are still fewer than it needs (or that it is gold).
        let on_conflict = format!(
            "ON CONFLICT (item_id) DO UPDATE
                SET annotator = excluded.annotator, label_set_id = excluded.label_set_id,
                    expires_ms = excluded.expires_ms
                WHERE (leases.annotator = excluded.annotator OR leases.expires_ms <= {now})
                  AND (leases.answers < {need} OR {gold})
             RETURNING item_id",
            need = need_sql("leases.item_id"),
            gold = gold_sql(backend, "leases.item_id", "?2"),
        );
        let mut got: Vec<i64> = match backend {
            Backend::Postgres => {
                let list = candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "WITH free AS (
                        SELECT i.id FROM unnest(string_to_array(?1, ',')::bigint[]) WITH ORDINALITY AS w(id, ord)
                        JOIN items i ON i.id = w.id
                        WHERE {open}
                        ORDER BY w.ord LIMIT ?4
                     )
                     INSERT INTO leases (item_id, label_set_id, annotator, expires_ms, answers)
                     SELECT id, ?2, ?3, {now} + ?5, 0 FROM free
                     {on_conflict}",
                    open = open_sql(backend, "i.id", "?2", "?3"),
                );
                self.write(|tx| tx.column(&sql, &[&list, &set_id, &annotator, &(n as i64), &ttl]))?
            }
            Backend::Sqlite => {
                let sql = format!(
                    "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms, answers)
                     SELECT i.id, ?2, ?3, {now} + ?4, 0 FROM items i
                     WHERE i.id = ?1 AND {open}
                     {on_conflict}",
                    open = open_sql(backend, "i.id", "?2", "?3"),
                );
                self.write(|tx| {
                    let mut out = Vec::new();
                    for id in candidates {
                        if out.len() >= n {
                            break;
                        }
                        if let Some(x) =
                            tx.query_opt(&sql, &[id, &set_id, &annotator, &ttl], |r| r.get(0))?
                        {
                            out.push(x);
                        }
                    }
                    Ok(out)
                })?
            }
        };
        let pos: std::collections::HashMap<i64, usize> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i))
            .collect();
        got.sort_by_key(|id| pos.get(id).copied().unwrap_or(usize::MAX));
        Ok(got)
    }

    /// Extend this annotator's leases on `ids` (the app does it while an item is on screen).
    pub fn renew_leases(&self, annotator: &str, ids: &[i64]) -> Result<usize> {
        let ttl = self.lease_ms()?;
        let now = now_ms_sql(self.backend());
        let sql = format!(
            "UPDATE leases SET expires_ms = {now} + ?3 WHERE item_id = ?1 AND annotator = ?2 AND expires_ms > 0"
        );
        let mut n = 0;
        for id in ids {
            n += self.db().execute(&sql, &[id, &annotator, &ttl])? as usize;
        }
        Ok(n)
    }

    /// Give back this annotator's leases (all of them, or those on `ids`).
    pub fn release_leases(&self, annotator: &str, ids: Option<&[i64]>) -> Result<usize> {
        match ids {
            None => Ok(self.db().execute(
                "UPDATE leases SET expires_ms = 0 WHERE annotator = ?1 AND expires_ms > 0",
                &[&annotator],
            )? as usize),
            Some(ids) => {
                let mut n = 0;
                for id in ids {
                    n += self.db().execute(
                        "UPDATE leases SET expires_ms = 0 WHERE item_id = ?1 AND annotator = ?2 AND expires_ms > 0",
                        &[id, &annotator],
                    )? as usize;
                }
                Ok(n)
            }
        }
    }

    /// Items someone other than `annotator` holds now (queues skip them).
    pub fn leased_by_others(&self, annotator: &str) -> Result<HashSet<i64>> {
        let now = now_ms_sql(self.backend());
        Ok(self
            .db()
            .column::<i64>(
                &format!("SELECT item_id FROM leases WHERE annotator <> ?1 AND expires_ms > {now}"),
                &[&annotator],
            )?
            .into_iter()
            .collect())
    }

    /// This annotator's unexpired leases, oldest first.
    pub fn my_leases(&self, annotator: &str) -> Result<Vec<i64>> {
        let now = now_ms_sql(self.backend());
        self.db().column(
            &format!(
                "SELECT item_id FROM leases WHERE annotator = ?1 AND expires_ms > {now} ORDER BY expires_ms, item_id"
            ),
            &[&annotator],
        )
    }

    /// "me / team" progress of a set: items whose current label was set by `annotator`, items
    /// labelled by anyone, items the set applies to (without read errors).
    pub fn team_progress(&self, set: &str, annotator: &str) -> Result<TeamProgress> {
        let set_id = self.label_set_id(set)?;
        self.db().query_row(
            "SELECT (SELECT COUNT(*) FROM item_labels l JOIN decisions d ON d.id = l.decision_id
                      WHERE l.label_set_id = ?1 AND d.annotator = ?2),
                    (SELECT COUNT(*) FROM item_labels l WHERE l.label_set_id = ?1),
                    (SELECT COUNT(*) FROM items i JOIN label_sets s ON s.id = ?1
                      WHERE i.kind = s.target AND i.error IS NULL)",
            &[&set_id, &annotator],
            |r| {
                Ok(TeamProgress {
                    mine: r.get(0)?,
                    team: r.get(1)?,
                    total: r.get(2)?,
                })
            },
        )
    }
}
