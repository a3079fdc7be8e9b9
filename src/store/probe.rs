//! Floor queries: the cheapest SQL over the same rows as a real query, used by the benchmarks
//! as same-run references (a bare index scan next to the queue query, a bare primary-key
//! lookup next to loading the next item).

use super::db::Exec;
use super::{Result, Store};
use crate::domain::ItemKind;

impl Store {
    /// Ids of the items of a kind, in id order (a bare index scan).
    pub fn item_ids(&self, kind: ItemKind) -> Result<Vec<i64>> {
        self.db().column(
            "SELECT id FROM items WHERE kind = ?1 ORDER BY id",
            &[&kind.as_str()],
        )
    }

    /// Whether an item exists (a bare primary-key lookup).
    pub fn item_exists(&self, id: i64) -> Result<bool> {
        Ok(self
            .db()
            .query_opt("SELECT 1 FROM items WHERE id = ?1", &[&id], |_| Ok(()))?
            .is_some())
    }
}
