//! Floor queries: the cheapest SQL over the same rows as a real query, used by the benchmarks
//! as same-run references (a bare index scan next to the queue query, a bare primary-key
//! lookup next to loading the next item).

use rusqlite::OptionalExtension;

use super::{Result, Store};
use crate::domain::ItemKind;

impl Store {
    /// Ids of the items of a kind, in id order (a bare index scan).
    pub fn item_ids(&self, kind: ItemKind) -> Result<Vec<i64>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT id FROM items WHERE kind = ?1 ORDER BY id")?;
        let rows = st.query_map([kind.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether an item exists (a bare primary-key lookup).
    pub fn item_exists(&self, id: i64) -> Result<bool> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT 1 FROM items WHERE id = ?1")?;
        Ok(st.query_row([id], |_| Ok(())).optional()?.is_some())
    }
}
