//! Leases: in a team, each annotator's next items come from the server. An item is leased to
//! as many annotators at a time as it needs (one; N for the overlap share of the items, each
//! annotator once; everyone for gold items); nobody else is given it until a lease expires
//! (project setting `lease_minutes`, default 10), so the items of a crashed or closed app come
//! back. A decision on an item ends its lease. Times are the database's clock.
//!
//! PostgreSQL takes a per-item transaction lock (advisory: annotators have no UPDATE right on
//! items) on the candidates, skipping those another annotator holds this instant, and counts
//! the item's holders again after the lock, so an item never has more holders than it needs;
//! a decision takes the same lock (waiting) before anything else. SQLite
//! serializes writers, so the same statements in one IMMEDIATE transaction suffice.

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

/// `expires_ms` of a decided item's lease row: the annotator's permanent claim (they are not
/// given the item again, until an undo takes their answer away).
pub const DONE_MS: i64 = i64::MAX;

/// PostgreSQL: the transaction's lock on one item of this project (an advisory lock: it needs
/// no privilege, so annotators take it too). `try_`: the non-waiting form, true when taken.
fn item_lock_pg(item: &str, try_: bool) -> String {
    format!(
        "pg_{}advisory_xact_lock(hashtext(current_schema()), ({item} % 2147483647)::int)",
        if try_ { "try_" } else { "" }
    )
}

/// SQL: whether item `item` is gold in label set `set` (annotators of a team project cannot
/// read the gold table; a server function answers for the id alone).
pub(crate) fn gold_sql(b: Backend, item: &str, set: &str) -> String {
    match b {
        // The gold ids once per statement (an init plan), not a function call per row.
        Backend::Postgres => {
            format!("({item} = ANY (ARRAY(SELECT yuxuan_gold_items({set}))))")
        }
        Backend::Sqlite => format!(
            "EXISTS (SELECT 1 FROM gold g WHERE g.item_id = {item} AND g.label_set_id = {set})"
        ),
    }
}

/// SQL: whether item `item` (with its `item_need` row `need`) is open to annotator `ann` in
/// set `set`: they have not answered it, and it is gold (everyone answers those), or it has no
/// current label and fewer other annotators hold it (live lease or answer) than it needs.
pub(crate) fn open_sql(b: Backend, item: &str, need: &str, set: &str, ann: &str) -> String {
    let now = now_ms_sql(b);
    let gold = gold_sql(b, item, set);
    format!(
        "(NOT EXISTS (SELECT 1 FROM leases m WHERE m.item_id = {item} AND m.annotator = {ann} AND m.expires_ms = {DONE_MS})
          AND ({gold}
               OR (NOT EXISTS (SELECT 1 FROM item_labels l WHERE l.item_id = {item} AND l.label_set_id = {set})
                   AND (SELECT COUNT(*) FROM leases x WHERE x.item_id = {item} AND x.annotator <> {ann}
                        AND x.expires_ms > {now}) < {need})))"
    )
}

/// In a decision's transaction: mark the item answered by `annotator` (their claim). Refused
/// (`Conflict`) when the item's slots are taken and another annotator is working on it now:
/// their lease was taken after this annotator's expired, so the item is theirs. Items whose
/// slots are all answered stay open to corrections. PostgreSQL takes the item's lock first,
/// as leasing does, so a decision and a concurrent lease are serialized and never both win.
pub(crate) fn claim_decided_tx(
    tx: &super::Tx<'_>,
    item_id: i64,
    set_id: i64,
    annotator: &str,
) -> Result<()> {
    let b = tx.backend();
    if b == Backend::Postgres {
        tx.execute(
            &format!("SELECT {}", item_lock_pg("?1", false)),
            &[&item_id],
        )?;
    }
    let now = now_ms_sql(b);
    let gold = gold_sql(b, "?1", "?2");
    // The claim, unless refused: the slots are taken and someone else holds the item now.
    let claimed: Option<i64> = tx.query_opt(
        &format!(
            "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms)
             SELECT ?1, ?2, ?3, ?4
             WHERE EXISTS (SELECT 1 FROM leases m WHERE m.item_id = ?1 AND m.annotator = ?3 AND m.expires_ms > {now})
                OR {gold}
                OR (SELECT COUNT(*) FROM leases x WHERE x.item_id = ?1 AND x.annotator <> ?3 AND x.expires_ms > {now})
                   < COALESCE((SELECT need FROM item_need WHERE item_id = ?1), 1)
                OR NOT EXISTS (SELECT 1 FROM leases x WHERE x.item_id = ?1 AND x.annotator <> ?3
                               AND x.expires_ms > {now} AND x.expires_ms < ?4)
             ON CONFLICT (item_id, annotator) DO UPDATE
                SET expires_ms = excluded.expires_ms, label_set_id = excluded.label_set_id
             RETURNING item_id"
        ),
        &[&item_id, &set_id, &annotator, &DONE_MS],
        |r| r.get(0),
    )?;
    if claimed.is_none() {
        let holder: Option<String> = tx.one(
            &format!(
                "SELECT MIN(x.annotator) FROM leases x WHERE x.item_id = ?1 AND x.annotator <> ?2
                 AND x.expires_ms > {now} AND x.expires_ms < ?3"
            ),
            &[&item_id, &annotator, &DONE_MS],
        )?;
        return Err(super::StoreError::Conflict(format!(
            "item {item_id} is leased to {} now (this lease had expired); the decision was not recorded",
            holder.unwrap_or_default()
        )));
    }
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
    /// items without a current label whose lease is free, expired or already this
    /// annotator's (renewed). Returns the leased ids in candidate order.
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
        let upsert = format!(
            "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms)
             SELECT i.id, ?2, ?3, {now} + ?4 FROM items i JOIN item_need n ON n.item_id = i.id
             WHERE i.id = ?1 AND {open}
             ON CONFLICT (item_id, annotator) DO UPDATE
                SET label_set_id = excluded.label_set_id, expires_ms = excluded.expires_ms
                WHERE leases.expires_ms < {DONE_MS}
             RETURNING item_id",
            now = now_ms_sql(backend),
            open = open_sql(backend, "i.id", "n.need", "?2", "?3"),
        );
        let mut got: Vec<i64> = match backend {
            Backend::Postgres => {
                // First lock up to n open candidates (annotators asking at the same moment
                // skip each other's), then lease them in a second statement: its fresh
                // snapshot sees every lease committed before the locks were granted. No sort
                // above the lock: rows are locked in candidate order and only until n are
                // taken (a sort would lock every candidate first).
                let list = candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let lock = format!(
                    "SELECT c.id FROM (
                        SELECT i.id, w.ord FROM items i
                        JOIN unnest(string_to_array(?1, ',')::bigint[]) WITH ORDINALITY AS w(id, ord) ON w.id = i.id
                        JOIN item_need n ON n.item_id = i.id
                        WHERE {open}
                        ORDER BY w.ord OFFSET 0
                     ) c
                     WHERE {lock}
                     LIMIT ?4",
                    open = open_sql(backend, "i.id", "n.need", "?2", "?3"),
                    lock = item_lock_pg("c.id", true),
                );
                let upsert_all = format!(
                    "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms)
                     SELECT i.id, ?2, ?3, {now} + ?4 FROM items i
                     JOIN unnest(string_to_array(?1, ',')::bigint[]) AS w(id) ON w.id = i.id
                     JOIN item_need n ON n.item_id = i.id
                     WHERE {open}
                     ON CONFLICT (item_id, annotator) DO UPDATE
                        SET label_set_id = excluded.label_set_id, expires_ms = excluded.expires_ms
                        WHERE leases.expires_ms < {DONE_MS}
                     RETURNING item_id",
                    now = NOW_MS_PG,
                    open = open_sql(backend, "i.id", "n.need", "?2", "?3"),
                );
                self.write(|tx| {
                    let locked: Vec<i64> =
                        tx.column(&lock, &[&list, &set_id, &annotator, &(n as i64)])?;
                    if locked.is_empty() {
                        return Ok(vec![]);
                    }
                    let locked = locked
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(",");
                    tx.column(&upsert_all, &[&locked, &set_id, &annotator, &ttl])
                })?
            }
            Backend::Sqlite => self.write(|tx| {
                let mut out = Vec::new();
                for id in candidates {
                    if out.len() >= n {
                        break;
                    }
                    if let Some(x) =
                        tx.query_opt(&upsert, &[id, &set_id, &annotator, &ttl], |r| r.get(0))?
                    {
                        out.push(x);
                    }
                }
                Ok(out)
            })?,
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
            "UPDATE leases SET expires_ms = {now} + ?3 WHERE item_id = ?1 AND annotator = ?2 AND expires_ms < {DONE_MS}"
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
                "DELETE FROM leases WHERE annotator = ?1 AND expires_ms < ?2",
                &[&annotator, &DONE_MS],
            )? as usize),
            Some(ids) => {
                let mut n = 0;
                for id in ids {
                    n += self.db().execute(
                        "DELETE FROM leases WHERE item_id = ?1 AND annotator = ?2 AND expires_ms < ?3",
                        &[id, &annotator, &DONE_MS],
                    )? as usize;
                }
                Ok(n)
            }
        }
    }

    /// Items other annotators are working on whose slots are all taken (queues skip them): a
    /// live lease of someone else, and as many holders as the item needs.
    pub fn leased_by_others(&self, annotator: &str) -> Result<HashSet<i64>> {
        let now = now_ms_sql(self.backend());
        Ok(self
            .db()
            .column::<i64>(
                &format!(
                    "SELECT DISTINCT x.item_id FROM leases x JOIN item_need n ON n.item_id = x.item_id
                     WHERE x.annotator <> ?1 AND x.expires_ms > {now} AND x.expires_ms < ?2
                       AND (SELECT COUNT(*) FROM leases y WHERE y.item_id = x.item_id AND y.annotator <> ?1
                            AND y.expires_ms > {now}) >= n.need"
                ),
                &[&annotator, &DONE_MS],
            )?
            .into_iter()
            .collect())
    }

    /// This annotator's unexpired leases, oldest first.
    pub fn my_leases(&self, annotator: &str) -> Result<Vec<i64>> {
        let now = now_ms_sql(self.backend());
        self.db().column(
            &format!(
                "SELECT item_id FROM leases WHERE annotator = ?1 AND expires_ms > {now} AND expires_ms < ?2 ORDER BY expires_ms, item_id"
            ),
            &[&annotator, &DONE_MS],
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
