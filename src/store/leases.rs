//! Leases: in a team, each annotator's next items come from the server. An item is leased to
//! one annotator at a time; nobody else is given a leased item until the lease expires
//! (project setting `lease_minutes`, default 10), so the items of a crashed or closed app come
//! back. A decision on an item ends its lease. Times are the database's clock.
//!
//! PostgreSQL takes the candidates' rows with `FOR UPDATE SKIP LOCKED` (annotators asking at
//! the same moment never wait for each other) and `INSERT … ON CONFLICT DO UPDATE … WHERE
//! expired`, which re-checks the newest lease row, so an item is never leased twice. SQLite
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

/// `expires_ms` of a decided item's lease row: it is never leased again (until an undo takes
/// its label away), and a decision on it by anyone (a review) is allowed.
pub const DONE_MS: i64 = i64::MAX;

/// In a decision's transaction: mark the item decided by `annotator`. Refused (`Conflict`)
/// when another annotator holds a live lease on it: their lease was taken after this
/// annotator's expired, so the item is theirs now. The lease row is the one both sides write,
/// so a decision and a concurrent lease are serialized by it and never both win.
pub(crate) fn claim_decided_tx(
    tx: &super::Tx<'_>,
    item_id: i64,
    set_id: i64,
    annotator: &str,
) -> Result<()> {
    let now = now_ms_sql(tx.backend());
    let got: Option<i64> = tx.query_opt(
        &format!(
            "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (item_id) DO UPDATE SET annotator = excluded.annotator, expires_ms = excluded.expires_ms
             WHERE leases.annotator = excluded.annotator OR leases.expires_ms <= {now} OR leases.expires_ms = ?4
             RETURNING item_id"
        ),
        &[&item_id, &set_id, &annotator, &DONE_MS],
        |r| r.get(0),
    )?;
    if got.is_none() {
        let holder: String = tx
            .query_opt(
                "SELECT annotator FROM leases WHERE item_id = ?1",
                &[&item_id],
                |r| r.get(0),
            )?
            .unwrap_or_default();
        return Err(super::StoreError::Conflict(format!(
            "item {item_id} is leased to {holder} now (this lease had expired); the decision was not recorded"
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
        let mut got: Vec<i64> = match backend {
            Backend::Postgres => {
                let list = candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "WITH want AS (
                        SELECT c.id, c.ord FROM unnest(string_to_array(?1, ',')::bigint[]) WITH ORDINALITY AS c(id, ord)
                     ), free AS (
                        SELECT i.id FROM items i JOIN want w ON w.id = i.id
                        WHERE NOT EXISTS (SELECT 1 FROM item_labels l WHERE l.item_id = i.id AND l.label_set_id = ?2)
                          AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.item_id = i.id
                                          AND x.expires_ms > {now} AND x.annotator <> ?3)
                        ORDER BY w.ord LIMIT ?4
                        FOR UPDATE OF i SKIP LOCKED
                     )
                     INSERT INTO leases (item_id, label_set_id, annotator, expires_ms)
                     SELECT id, ?2, ?3, {now} + ?5 FROM free
                     ON CONFLICT (item_id) DO UPDATE
                        SET annotator = excluded.annotator, label_set_id = excluded.label_set_id,
                            expires_ms = excluded.expires_ms
                        WHERE leases.expires_ms <= {now} OR leases.annotator = excluded.annotator
                     RETURNING item_id",
                    now = NOW_MS_PG
                );
                self.write(|tx| tx.column(&sql, &[&list, &set_id, &annotator, &(n as i64), &ttl]))?
            }
            Backend::Sqlite => {
                let now = now_ms_sql(backend);
                let sql = format!(
                    "INSERT INTO leases (item_id, label_set_id, annotator, expires_ms)
                     SELECT i.id, ?2, ?3, {now} + ?4 FROM items i
                     WHERE i.id = ?1
                       AND NOT EXISTS (SELECT 1 FROM item_labels l WHERE l.item_id = i.id AND l.label_set_id = ?2)
                     ON CONFLICT (item_id) DO UPDATE
                        SET annotator = excluded.annotator, label_set_id = excluded.label_set_id,
                            expires_ms = excluded.expires_ms
                        WHERE leases.expires_ms <= {now} OR leases.annotator = excluded.annotator
                     RETURNING item_id"
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

    /// Items someone other than `annotator` holds an unexpired lease on (queues skip them).
    pub fn leased_by_others(&self, annotator: &str) -> Result<HashSet<i64>> {
        let now = now_ms_sql(self.backend());
        Ok(self
            .db()
            .column::<i64>(
                &format!(
                    "SELECT item_id FROM leases WHERE annotator <> ?1 AND expires_ms > {now} AND expires_ms < ?2"
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
