//! The offline outbox of a team project's workstation: a small local SQLite file
//! (`<team cache>/outbox-<annotator>.sqlite`) where each decision is written, durably, before it
//! is sent to the server. While the server is unreachable decisions wait there ("N waiting to
//! be sent", never shown as saved); each carries its client id, so sending it again after a
//! lost acknowledgement records it once. Closing the app keeps them for the next start.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::{Result, Store, StoreError};
use crate::domain::NewDecision;

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// Open (or create) an outbox file.
    pub fn open(path: &Path) -> Result<Outbox> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|source| StoreError::Io {
                path: d.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap_or_default();
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS outbox (
                 seq       INTEGER PRIMARY KEY,
                 client_id TEXT NOT NULL UNIQUE,
                 decision  TEXT NOT NULL,
                 queued_at TEXT NOT NULL
             );",
        )?;
        Ok(Outbox {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The outbox of `annotator` on a team project (None for project files, which write
    /// locally and need none).
    pub fn for_team(store: &Store, annotator: &str) -> Result<Option<Outbox>> {
        if !store.is_team() {
            return Ok(None);
        }
        // Readable, and distinct for names that clean up alike (张三 and 李四 both become "__").
        let tag = &blake3::hash(annotator.as_bytes()).to_hex()[..8];
        let p = store.base_dir().join(format!(
            "outbox-{}-{tag}.sqlite",
            super::location::safe_component(annotator)
        ));
        Outbox::open(&p).map(Some)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keep a decision (durably) until it is sent; returns its client id.
    pub fn push(&self, d: &NewDecision) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.conn.execute(
            "INSERT INTO outbox (client_id, decision, queued_at) VALUES (?1, ?2, ?3)",
            params![
                id,
                serde_json::to_string(d).expect("decisions serialize"),
                super::now()
            ],
        )?;
        Ok(id)
    }

    /// What waits, oldest first: (client id, decision).
    pub fn pending(&self) -> Result<Vec<(String, NewDecision)>> {
        let mut st = self
            .conn
            .prepare("SELECT client_id, decision FROM outbox ORDER BY seq")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, json) = r?;
            let d: NewDecision = serde_json::from_str(&json)
                .map_err(|e| StoreError::Invalid(format!("outbox entry {id}: {e}")))?;
            out.push((id, d));
        }
        Ok(out)
    }

    /// Forget a decision the server acknowledged (or refused for good).
    pub fn remove(&self, client_id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM outbox WHERE client_id = ?1", [client_id])?;
        Ok(())
    }

    pub fn len(&self) -> Result<usize> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// What sending the outbox did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drained {
    /// (decision id, item id) of each decision the server acknowledged.
    pub saved: Vec<(i64, i64)>,
    /// Decisions the server refused for good (e.g. the item is leased to someone else now):
    /// (item id, reason).
    pub refused: Vec<(i64, String)>,
    /// Still waiting (the server is unreachable).
    pub waiting: usize,
    /// Why the rest waits.
    pub offline: Option<String>,
}

impl Store {
    /// Send what waits in `outbox`, in order, each exactly once. Stops at the first
    /// unreachable error (the rest keeps waiting); other errors refuse that one decision.
    pub fn drain_outbox(&mut self, outbox: &Outbox) -> Result<Drained> {
        let mut out = Drained::default();
        for (cid, d) in outbox.pending()? {
            match self.record_decision_once(&d, &cid) {
                Ok(id) => {
                    outbox.remove(&cid)?;
                    out.saved.push((id, d.item_id));
                }
                Err(e) if e.is_unreachable() => {
                    out.offline = Some(crate::review::error_chain(&e));
                    break;
                }
                Err(e) => {
                    outbox.remove(&cid)?;
                    out.refused
                        .push((d.item_id, crate::review::error_chain(&e)));
                }
            }
        }
        out.waiting = outbox.len()?;
        Ok(out)
    }
}
